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

// CoreDNS's log.D: on while any block of the served configuration has the
// `debug` plugin (process-wide, as CoreDNS: its README says one block turns
// it on globally); the runtime sets it when it applies a configuration.
void set_debug(bool on);
bool debug_enabled();

// CoreDNS log.Debugf: "[DEBUG] msg" only when debug is on. When it is off
// this is one relaxed load: nothing is formatted.
template <class... A>
void debug(fmt::format_string<A...> f, A&&... a) {
    if (debug_enabled()) emit(Level::debug, {}, fmt::format(f, std::forward<A>(a)...));
}

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
    // CoreDNS clog.P.Debugf: "[DEBUG] plugin/NAME: msg" when debug is on.
    template <class... A>
    void debug(fmt::format_string<A...> f, A&&... a) const {
        if (debug_enabled()) emit(Level::debug, plugin, fmt::format(f, std::forward<A>(a)...));
    }
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
