#pragma once
// CoreDNS-style log lines on stdout: "[LEVEL] plugin/NAME: message", no
// timestamp. Each line goes out in one write(2) so lines from several
// threads never interleave.
#include <fmt/format.h>

#include <string_view>

namespace dnscore::log {

enum class Level { debug, info, warning, error, fatal };

// Writes `line` plus a newline to stdout in one system call.
void write_line(std::string_view line);
// "[LEVEL] " + (plugin.empty() ? "" : "plugin/" + plugin + ": ") + msg
void emit(Level level, std::string_view plugin, std::string_view msg);
std::string_view level_name(Level level);

// Enabled by the `debug` plugin.
void set_debug(bool on);
bool debug_enabled();

template <class... A>
void info(fmt::format_string<A...> f, A&&... a) {
    emit(Level::info, {}, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
void warning(fmt::format_string<A...> f, A&&... a) {
    emit(Level::warning, {}, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
void error(fmt::format_string<A...> f, A&&... a) {
    emit(Level::error, {}, fmt::format(f, std::forward<A>(a)...));
}

// Logger of one plugin: prefixes "plugin/NAME: ".
struct PluginLog {
    std::string_view plugin;
    template <class... A>
    void info(fmt::format_string<A...> f, A&&... a) const {
        emit(Level::info, plugin, fmt::format(f, std::forward<A>(a)...));
    }
    template <class... A>
    void warning(fmt::format_string<A...> f, A&&... a) const {
        emit(Level::warning, plugin, fmt::format(f, std::forward<A>(a)...));
    }
    template <class... A>
    void error(fmt::format_string<A...> f, A&&... a) const {
        emit(Level::error, plugin, fmt::format(f, std::forward<A>(a)...));
    }
    template <class... A>
    void fatal(fmt::format_string<A...> f, A&&... a) const {
        emit(Level::fatal, plugin, fmt::format(f, std::forward<A>(a)...));
    }
};

}  // namespace dnscore::log
