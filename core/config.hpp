#pragma once
// The immutable configuration snapshot built from a Corefile: server blocks
// with their plugin chains, grouped into listeners with a zone table each.
// Workers read it without locks; a reload builds a new one.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/plugin.hpp"
#include "core/wire/wire.hpp"
#include "core/zones.hpp"

namespace boost::asio::ssl {
class context;
}

namespace dnscore {

class Host;  // the running process as plugins see it (core/host.hpp)

// The `tls` plugin's certificate, key and CA as PEM text with its client-auth
// policy (Go's ClientAuthType order: nocert, request, require,
// verify_if_given, require_and_verify): grpc:// hands them to gRPC's own TLS,
// which cannot take an OpenSSL context.
struct TlsPem {
    std::string cert, key, ca;
    int client_auth = 0;
};

// One server block: its keys share the plugin instances.
struct Block {
    std::string file;                 // Corefile the block came from
    std::vector<std::string> keys;    // normalised "dns://zone:port"
    std::vector<std::string> zones;   // zones of the keys ("example.org.")
    std::vector<std::string> ports;   // port of each key (parallel to zones)
    std::vector<std::string> transports;  // transport of each key (parallel to zones)
    std::string transport = "dns";
    // From the `tls` plugin: the server context (certificate, key, client
    // auth) for tls:// keys, built at setup on the control thread.
    std::shared_ptr<boost::asio::ssl::context> tls;
    std::shared_ptr<const TlsPem> tls_pem;  // the same configuration as text (grpc://)
    std::vector<std::string> bind_hosts;  // from `bind`; empty = all addresses
    bool has_bind = false;                // `bind` present (may have excepted everything)
    std::vector<std::shared_ptr<Plugin>> plugins;  // chain, in directive order
    std::vector<Plugin*> chain;           // raw view of `plugins` for the hot path
    bool any_class = false;               // chain has forward/chaos: non-IN classes pass
    bool debug = false;                   // `debug`: [DEBUG] lines, no recovery from exceptions
    // `timeouts` (0 = not set): the TCP timeouts of the listeners this block is on.
    std::chrono::nanoseconds read_timeout{0}, write_timeout{0}, idle_timeout{0};
};

// One zone of one block on one listener.
struct Site {
    const Block* block = nullptr;
    std::string zone;                     // "example.org."
    uint8_t zone_wire[wire::kMaxNameLen];
    size_t zone_wire_len = 0;
    std::string server;                   // metrics `server` label, "dns://:53"
};

// One listening address (transport + host + port) with its zone table.
struct Listener {
    std::string transport = "dns";
    std::string host;   // "" = wildcard
    std::string port;
    std::string label;  // "dns://:53", "dns://127.0.0.1:53", "dns://[::1]:53"
    // tls:// only: the context new connections handshake with (the first of
    // its blocks' `tls` configurations). nullptr = plain DNS over TCP, as
    // CoreDNS serves a tls:// block without the tls plugin.
    std::shared_ptr<boost::asio::ssl::context> tls;
    std::shared_ptr<const TlsPem> tls_pem;  // grpc://: the same, as text; nullptr = no TLS
    std::vector<Site> sites;
    ZoneSet zones;  // the sites' zones, index i = sites[i]
    bool any_class = false;
    // TCP timeouts: CoreDNS's defaults, or the last `timeouts` of the blocks
    // on this listener (as dnsserver.NewServer): first read, between
    // queries, and for a write that makes no progress.
    std::chrono::nanoseconds read_timeout = std::chrono::seconds(3);
    std::chrono::nanoseconds idle_timeout = std::chrono::seconds(10);
    std::chrono::nanoseconds write_timeout = std::chrono::seconds(5);

    // Longest-suffix zone match (spec B.3 step 8), DS to the parent. nullptr =
    // REFUSED.
    const Site* route(const wire::QueryInfo& q) const;
};

using Hook = std::function<void(Host&)>;

struct ServerSet {
    std::string corefile_path;  // as given, for messages and reload
    std::vector<std::shared_ptr<Block>> blocks;
    std::vector<Listener> listeners;
    // Lifecycle hooks registered by plugin setup (CoreDNS OnStartup/OnShutdown).
    std::vector<Hook> on_startup;         // after listeners open (start and every reload)
    std::vector<Hook> on_shutdown;        // before this configuration stops (reload or exit)
    std::vector<Hook> on_first_startup;   // only when the process starts, not on reload
    std::vector<Hook> on_final_shutdown;  // only when the process exits
};

}  // namespace dnscore
