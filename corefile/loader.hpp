#pragma once
// Corefile text -> immutable ServerSet: parse, normalise keys, run every
// plugin's setup in directive order, group blocks into listeners, validate.
// All or nothing: any error throws parser::ConfigError with CoreDNS's text.
#include <memory>
#include <string>
#include <string_view>

#include "core/host.hpp"
#include "corefile/setup.hpp"
#include "core/config.hpp"

namespace dnscore::corefile {

// CoreDNS's built-in default: `.:PORT { whoami log }`.
std::string default_corefile(const std::string& port);

std::shared_ptr<ServerSet> load(std::string_view text, const std::string& file,
                                const LoadOptions& opts);

// Reads the Corefile source as CoreDNS does (-conf PATH, "stdin", or
// ./Corefile falling back to the default). Sets `text`, `file` for load().
using CorefileSource = ConfigSource;
CorefileSource read_corefile(const std::string& conf_flag, const std::string& dns_port);

}  // namespace dnscore::corefile
