#pragma once
// Corefile text -> immutable ServerSet: parse, normalise keys, run every
// plugin's setup in directive order, group blocks into listeners, validate.
// All or nothing: any error throws parser::ConfigError with CoreDNS's text.
#include <memory>
#include <string>
#include <string_view>

#include "corefile/setup.hpp"
#include "server/config.hpp"

namespace dnscore::corefile {

// CoreDNS's built-in default: `.:PORT { whoami log }`.
std::string default_corefile(const std::string& port);

std::shared_ptr<ServerSet> load(std::string_view text, const std::string& file,
                                const LoadOptions& opts);

// Hooks an embedding program (node-cache's networking) adds to every
// configuration load() builds (not with validate_only): `first_startup` to
// on_first_startup (once, after the listeners opened), `final_shutdown` to
// on_final_shutdown (graceful stop and fatal exits, before the listeners
// close). Set once, before the Runtime runs.
void set_process_hooks(Hook first_startup, Hook final_shutdown);

// Reads the Corefile source as CoreDNS does (-conf PATH, "stdin", or
// ./Corefile falling back to the default). Sets `text`, `file` for load().
struct CorefileSource {
    std::string text;
    std::string file;
};
CorefileSource read_corefile(const std::string& conf_flag, const std::string& dns_port);

}  // namespace dnscore::corefile
