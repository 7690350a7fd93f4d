// timeouts: the TCP read/write/idle timeouts of the listeners a block is on
// (CoreDNS plugin/timeouts). No handler: the loader copies the block's values
// to its listeners (corefile/loader.cpp), the worker applies them to each TCP
// connection (server/worker.cpp).
#include <chrono>

#include "corefile/setup.hpp"
#include "parser/gostd.hpp"
#include "parser/parser.hpp"

namespace dnscore::plugins {

namespace {
parser::ConfigError wrapped(const parser::ConfigError& e) {
    // CoreDNS wraps in plugin.Error inside parseTimeouts, and setup again.
    return parser::ConfigError(std::string("plugin/timeouts: ") + e.what());
}

// CoreDNS plugin/pkg/durations.NewDurationFromArg: a bare integer is seconds.
std::chrono::nanoseconds duration_arg(const parser::Dispenser& d, const std::string& arg) {
    std::string text = arg;
    try {
        gostd::atoi(arg);
        text += "s";
    } catch (const std::invalid_argument&) {
    }
    try {
        return gostd::parse_duration(text);
    } catch (const std::invalid_argument&) {
        throw d.err("failed to parse duration '" + text + "'");
    }
}
}  // namespace

void setup_timeouts(corefile::SetupContext& c) {
    auto& d = c.d;
    while (d.next()) {
        if (!d.remaining_args().empty()) throw wrapped(d.arg_err());
        int given = 0;
        while (d.next_block()) {
            const std::string option = d.val();
            const auto args = d.remaining_args();
            if (args.size() != 1) throw d.arg_err();
            const auto timeout = duration_arg(d, args[0]);
            if (timeout < std::chrono::seconds(1) || timeout > std::chrono::hours(24))
                throw d.err("timeout provided '" + gostd::format_duration(timeout) +
                            "' needs to be between 1 second and 24 hours");
            if (option == "read") c.block.read_timeout = timeout;
            else if (option == "write") c.block.write_timeout = timeout;
            else if (option == "idle") c.block.idle_timeout = timeout;
            else throw d.err("unknown option: '" + option + "'");
            ++given;
        }
        if (given == 0) throw wrapped(d.err("timeouts block with no timeouts specified"));
    }
}

}  // namespace dnscore::plugins
