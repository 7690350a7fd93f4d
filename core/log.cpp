#include "core/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>

namespace dnscore::log {

namespace {
std::atomic<bool> g_debug{false};
}

void write_line(std::string_view line) {
    // One buffer, one write: atomic for lines up to PIPE_BUF on pipes.
    thread_local std::string buf;
    buf.assign(line);
    buf.push_back('\n');
    const char* p = buf.data();
    size_t left = buf.size();
    while (left > 0) {
        const ssize_t n = ::write(STDOUT_FILENO, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;
        }
        p += n;
        left -= size_t(n);
    }
}

std::string_view level_name(Level level) {
    switch (level) {
    case Level::debug: return "DEBUG";
    case Level::info: return "INFO";
    case Level::warning: return "WARNING";
    case Level::error: return "ERROR";
    case Level::fatal: return "FATAL";
    }
    return "INFO";
}

void emit(Level level, std::string_view plugin, std::string_view msg) {
    if (level == Level::debug && !debug_enabled()) return;
    thread_local std::string line;
    line.clear();
    line.push_back('[');
    line.append(level_name(level));
    line.append("] ");
    if (!plugin.empty()) {
        line.append("plugin/");
        line.append(plugin);
        line.append(": ");
    }
    line.append(msg);
    write_line(line);
}

void set_debug(bool on) { g_debug.store(on, std::memory_order_relaxed); }
bool debug_enabled() { return g_debug.load(std::memory_order_relaxed); }

}  // namespace dnscore::log
