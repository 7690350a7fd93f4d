#include "corefile/setup.hpp"
#include "parser/gostd.hpp"
#include "parser/parser.hpp"
#include "plugins/bufsize/bufsize.hpp"

namespace dnscore::plugins {

namespace {
// CoreDNS parse() wraps its errors in plugin.Error and setup wraps them
// again: the text says "plugin/bufsize: " twice.
parser::ConfigError arg_error(const corefile::SetupContext& c) {
    return parser::ConfigError(std::string("plugin/bufsize: ") + c.d.arg_err().what());
}

// Value from dnsflagday.net/2020; 512..4096 per RFC 6891. Only the first
// `bufsize` line of a block counts (CoreDNS's parse returns there).
uint16_t parse_bufsize(corefile::SetupContext& c) {
    constexpr int kDefault = 1232;
    if (!c.d.next()) throw arg_error(c);
    const auto args = c.d.remaining_args();
    if (args.empty()) return kDefault;
    if (args.size() > 1) throw arg_error(c);
    long long v = 0;
    try {
        v = gostd::atoi(args[0]);
    } catch (const std::invalid_argument&) {
        throw arg_error(c);
    }
    if (v < 512 || v > 4096) throw arg_error(c);
    return uint16_t(v);
}
}  // namespace

void setup_bufsize(corefile::SetupContext& c) {
    c.add_plugin(std::make_shared<Bufsize>(parse_bufsize(c)));
}

}  // namespace dnscore::plugins
