#pragma once
// What a plugin's setup function gets: its directive's tokens (a caddy-style
// Dispenser), the server block being built and the whole configuration.
#include <memory>
#include <string>
#include <vector>

#include "parser/dispenser.hpp"
#include "core/config.hpp"

namespace dnscore::corefile {

struct LoadOptions {
    std::string dns_port = "53";  // -dns.port / -p
    bool validate_only = false;   // -validate: set up everything, open nothing
    // dlopen the module of every grpc:// or quic:// listener
    // (core/transport_module.hpp) and fail the load when one cannot be
    // loaded: the binaries (start, reload, -validate). Tests and fuzzers that
    // only check a configuration leave it off.
    bool load_transport_modules = false;
};

struct SetupContext {
    parser::Dispenser& d;      // every occurrence of the directive in this block
    Block& block;
    ServerSet& set;
    const LoadOptions& opts;
    std::string directive;

    void add_plugin(std::shared_ptr<Plugin> p);

    // CoreDNS plugin.ErrOnce: "this plugin can only be used once per Server
    // Block". Setup loops over occurrences and throws this at the second.
    static parser::ConfigError once_error();

    // Zones given as plugin arguments, normalised (CIDR -> reverse zones);
    // falls back to the block's zones when `args` is empty.
    std::vector<std::string> zones_or_block(const std::vector<std::string>& args) const;
};

using SetupFn = void (*)(SetupContext&);

struct Directive {
    const char* name;
    SetupFn setup;
};

}  // namespace dnscore::corefile
