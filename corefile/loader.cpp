#include "corefile/loader.hpp"

#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <iterator>
#include <set>

#include "corefile/address.hpp"
#include "corefile/directives.hpp"
#include "parser/parser.hpp"
#include "core/file.hpp"
#include "core/net.hpp"
#include "core/transport_module.hpp"

namespace dnscore::corefile {

using parser::ConfigError;

void SetupContext::add_plugin(std::shared_ptr<Plugin> p) {
    block.chain.push_back(p.get());
    block.plugins.push_back(std::move(p));
    if (block.chain.size() > kMaxChain)
        throw ConfigError("too many plugins in one server block (at most " +
                          std::to_string(kMaxChain) + ")");
}

parser::ConfigError SetupContext::once_error() {
    return ConfigError("this plugin can only be used once per Server Block");
}

std::vector<std::string> SetupContext::zones_or_block(const std::vector<std::string>& args) const {
    if (args.empty()) return block.zones;
    std::vector<std::string> out;
    for (const auto& a : args) {
        auto z = normalize_zone(a);
        out.insert(out.end(), z.begin(), z.end());
    }
    return out;
}

std::string default_corefile(const std::string& port) {
    return ".:" + port + " {\nwhoami\nlog\n}\n";
}

namespace {

// "dns://:53", "dns://127.0.0.1:53", "dns://[::1]:53" (Go's net.JoinHostPort).
std::string listener_label(const std::string& transport, const std::string& host,
                           const std::string& port) {
    return transport + "://" + net::join_host_port(host, port);
}

std::string zone_addr_text(const std::string& transport, const std::string& zone,
                           const std::string& port, const std::string& address) {
    std::string s = transport + "://" + zone + ":" + port;
    if (!address.empty()) s += " on " + address;
    return s;
}

void build_listeners(ServerSet& set) {
    struct Key {
        std::string transport, zone, port, address;
        bool operator<(const Key& o) const {
            return std::tie(transport, zone, port, address) <
                   std::tie(o.transport, o.zone, o.port, o.address);
        }
    };
    std::set<Key> seen;
    for (const auto& block : set.blocks) {
        std::vector<std::string> hosts = block->has_bind ? block->bind_hosts
                                                         : std::vector<std::string>{""};
        for (size_t zi = 0; zi < block->zones.size(); ++zi) {
            const std::string& zone = block->zones[zi];
            const std::string& port = block->ports[zi];
            for (const auto& host : hosts) {
                const std::string& transport = block->transports[zi];
                Key k{transport, zone, port, host};
                if (seen.count(k))
                    throw ConfigError("cannot serve " +
                                      zone_addr_text(k.transport, zone, k.port, host) +
                                      " - it is already defined");
                // A bound and a wildcard config for the same zone and port overlap.
                for (const auto& other : seen) {
                    if (other.transport == k.transport && other.zone == k.zone &&
                        other.port == k.port && (other.address.empty() != k.address.empty()))
                        throw ConfigError(
                            "cannot serve " + zone_addr_text(k.transport, zone, k.port, host) +
                            " - zone overlap listener capacity with " +
                            zone_addr_text(other.transport, other.zone, other.port, other.address));
                }
                seen.insert(k);

                const std::string label = listener_label(transport, host, port);
                auto it = std::find_if(set.listeners.begin(), set.listeners.end(),
                                       [&](const Listener& l) { return l.label == label; });
                if (it == set.listeners.end()) {
                    Listener l;
                    l.transport = transport;
                    l.host = host;
                    l.port = port;
                    l.label = label;
                    set.listeners.push_back(std::move(l));
                    it = std::prev(set.listeners.end());
                }
                Site s;
                s.block = block.get();
                s.zone = zone;
                s.zone_wire_len = wire::text_to_name(zone, s.zone_wire);
                s.server = label;
                it->sites.push_back(std::move(s));
                it->zones.add(zone);
                it->any_class = it->any_class || block->any_class;
                if (block->read_timeout.count()) it->read_timeout = block->read_timeout;
                if (block->write_timeout.count()) it->write_timeout = block->write_timeout;
                if (block->idle_timeout.count()) it->idle_timeout = block->idle_timeout;
                if ((transport == "tls" || transport == "https") && !it->tls) it->tls = block->tls;
                if ((transport == "grpc" || transport == "quic") && !it->tls_pem) it->tls_pem = block->tls_pem;
            }
        }
    }
    // QUIC has no clear-text mode: CoreDNS's quic.Listen fails without the
    // tls plugin's configuration, with quic-go's text.
    for (const auto& l : set.listeners)
        if (l.transport == "quic" && !l.tls_pem) throw ConfigError("quic: tls.Config not set");
}

}  // namespace

std::shared_ptr<ServerSet> load(std::string_view text, const std::string& file,
                                const LoadOptions& opts) {
    parser::ParseOptions popts;
    popts.valid_directives = directive_names();
    auto blocks = parser::parse(text, file, popts);
    std::string effective_file = file;
    if (blocks.empty()) {
        // CoreDNS falls back to its default when the Corefile yields no server block.
        blocks = parser::parse(default_corefile(opts.dns_port), "Corefile", popts);
    }

    auto set = std::make_shared<ServerSet>();
    set->corefile_path = file;

    // Keys (spec A.6): normalise; CIDR keys may add zones.
    // The first key of each transport served by a module, for its error.
    std::vector<std::pair<std::string, parser::Token>> module_keys;
    for (const auto& sb : blocks) {
        auto block = std::make_shared<Block>();
        block->file = file;
        for (size_t k = 0; k < sb.keys.size(); ++k) {
            const std::string& key = sb.keys[k];
            std::vector<ZoneAddr> zas;
            try {
                zas = normalize_key(key, opts.dns_port);
            } catch (const ConfigError& e) {
                throw ConfigError(std::string("error inspecting server blocks: ") + e.what());
            }
            for (const auto& za : zas) {
                if (za.transport != "dns" && za.transport != "tls" && za.transport != "https" &&
                    za.transport != "grpc" && za.transport != "quic")
                    throw ConfigError("error inspecting server blocks: transport '" + za.transport +
                                      "' is not supported by dnscore (only dns://, tls://, https://, grpc:// and "
                                      "quic://): " +
                                      key);
                if (transport_needs_module(za.transport) && k < sb.key_tokens.size() &&
                    std::none_of(module_keys.begin(), module_keys.end(),
                                 [&](const auto& m) { return m.first == za.transport; }))
                    module_keys.emplace_back(za.transport, sb.key_tokens[k]);
                if (block->transports.empty()) block->transport = za.transport;
                block->transports.push_back(za.transport);
                block->ports.push_back(za.port);
                block->keys.push_back(za.str());
                block->zones.push_back(za.zone);
            }
        }
        set->blocks.push_back(block);
    }

    // Setup in directive order, then block order (spec A.5).
    for (const auto& dir : directives()) {
        for (size_t i = 0; i < blocks.size(); ++i) {
            auto it = blocks[i].tokens.find(dir.name);
            if (it == blocks[i].tokens.end()) continue;
            parser::Dispenser d(it->second);
            SetupContext ctx{d, *set->blocks[i], *set, opts, dir.name};
            try {
                dir.setup(ctx);
            } catch (const ConfigError& e) {
                throw ConfigError(std::string("plugin/") + dir.name + ": " + e.what());
            } catch (const std::invalid_argument& e) {
                throw ConfigError(std::string("plugin/") + dir.name + ": " + e.what());
            }
        }
    }
    for (auto& block : set->blocks) {
        for (auto* p : block->chain)
            if (p->name() == "forward" || p->name() == "chaos") block->any_class = true;
    }
    build_listeners(*set);
    // Last, so that configuration errors come first as in CoreDNS (where
    // these transports are always built in).
    if (opts.load_transport_modules) {
        for (const auto& [transport, tok] : module_keys) {
            const std::string why = load_transport_module(transport);
            if (!why.empty())
                throw ConfigError(tok.file + ":" + std::to_string(tok.line) + " - Error during setup: " + transport +
                                  ":// is served by a module that could not be loaded: " + why);
        }
    }
    return set;
}

CorefileSource read_corefile(const std::string& conf_flag, const std::string& dns_port) {
    CorefileSource src;
    if (conf_flag == "stdin") {
        src.text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
        src.file = "stdin";
        return src;
    }
    const std::string path = conf_flag.empty() ? "Corefile" : conf_flag;
    FileError err;
    auto text = read_file(path, &err);
    if (!text && err.at_open) {
        if (conf_flag.empty()) {
            src.text = default_corefile(dns_port);
            src.file = "Corefile";
            return src;
        }
        throw ConfigError("loading Caddyfile via flag: open " + path + ": no such file or directory");
    }
    src.text = text.value_or("");  // opens but does not read (a directory): empty
    src.file = path;
    return src;
}

}  // namespace dnscore::corefile
