#pragma once
// forward internals shared by forward.cpp (the query loop, single-flight,
// health, metrics) and transport.cpp (UDP, pipelined TCP and TLS exchanges).
// Includes Asio: only the forward TUs include this header.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "plugins/forward/forward.hpp"
#include "core/tap.hpp"
#include "core/worker_local.hpp"

namespace dnscore::plugins::forward {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// ---- metrics (plugins/forward/metrics.hpp) ----
enum ProtoIndex { kProtoUdp = 0, kProtoTcp = 1, kProtoTls = 2 };

// One upstream address's `to` label, resolved once at setup.
struct ProxyMetrics {
    int to = -1;  // metrics::kOverflow past metrics::kMaxTo addresses
    void observe(int worker, int rcode, Clock::duration d) const;
    void conn(int worker, ProtoIndex p, bool hit) const;
    void healthcheck_failure() const;  // any thread (probes)
};
// Never freed: the series outlive reloads, as CoreDNS's do.
ProxyMetrics& proxy_metrics(const std::string& to);

// ---- upstreams ----
struct Upstream {
    UpstreamSpec spec;
    ProxyMetrics* metrics = nullptr;
    std::atomic<uint32_t> fails{0};       // consecutive failed health probes
    std::atomic<bool> probing{false};     // a probe loop is running
    asio::ip::udp::endpoint udp_ep;
    asio::ip::tcp::endpoint tcp_ep;
};

// Small fast PRNG (xoshiro256**), one per worker; seeded from the OS.
struct Rng {
    uint64_t s[4];
    Rng();
    uint64_t next();
    static uint64_t call(void* self) { return static_cast<Rng*>(self)->next(); }
};

// ---- per-worker transport state ----
struct Waiter {
    explicit Waiter(asio::io_context& io) : timer(io) {}
    uint16_t id = 0;
    asio::steady_timer timer;
    bool done = false;        // a reply was copied into out
    bool failed = false;      // the connection failed (err says why)
    bool peer_closed = false; // EOF from the peer
    std::string err;
    uint8_t* out = nullptr;
    size_t cap = 0;
    size_t len = 0;
};

// One TCP or TLS connection carrying several queries at once (RFC 7766
// pipelining): replies are matched to waiters by message ID.
struct StreamConn : std::enable_shared_from_this<StreamConn> {
    StreamConn(asio::io_context& io, asio::ssl::context* tls_ctx);
    asio::ip::tcp::socket& lowest() { return tls ? tls->next_layer() : *plain; }
    void enqueue(const uint8_t* msg, size_t len);
    void start_write();
    void fail_all(const std::string& err, bool peer_closed);
    void close();
    Waiter* take_waiter(uint16_t id);
    bool has_id(uint16_t id) const;

    enum class State { connecting, open, closed } state = State::connecting;
    std::optional<asio::ip::tcp::socket> plain;
    std::optional<asio::ssl::stream<asio::ip::tcp::socket>> tls;
    std::vector<Waiter*> waiting;
    std::vector<uint8_t> outq, wbuf, rbuf;
    bool writing = false;
    bool used = false;           // carried an exchange before (a reuse is a cache hit)
    Clock::time_point last_used;
    std::string addr_text;       // "L->R" once connected, for error texts
    std::string proto;           // "tcp" (Go's net error prefix)
};

struct UdpSocket {
    std::unique_ptr<asio::ip::udp::socket> sock;
    Clock::time_point used;
    uint32_t uses = 0;
};

struct UpstreamPool {
    std::vector<UdpSocket> udp_idle;                 // most recently used at the back
    std::vector<std::shared_ptr<StreamConn>> conns;  // pipelined TCP/TLS connections
};

struct Flight {
    std::vector<std::unique_ptr<OwnedQuery>> followers;
};

struct WorkerState {
    WorkerState(asio::io_context& io, int index, size_t upstreams) : io(io), index(index), pools(upstreams) {}
    asio::io_context& io;
    int index;
    Rng rng;
    std::vector<UpstreamPool> pools;
    std::unordered_map<std::string, Flight*> flights;
    bool stopped = false;
    void close_all();
};

// Created by its worker with the state inside, so a scrape or a shutdown
// that sees the slot (WorkerLocal publishes it with release) sees the state.
struct WorkerSlot {
    WorkerSlot(asio::io_context& io, int index, size_t upstreams)
        : state(std::make_shared<WorkerState>(io, index, upstreams)) {}
    const std::shared_ptr<WorkerState> state;
};

// ---- the shared core of one forward instance ----
struct Core {
    Options opts;
    std::vector<std::unique_ptr<Upstream>> upstreams;
    std::unique_ptr<asio::ssl::context> tls_ctx;  // for tls:// upstreams
    std::atomic<uint32_t> robin{0};
    std::atomic<int64_t> concurrent{0};
    std::atomic<bool> stopped{false};
    WorkerLocal<WorkerSlot> workers;
    std::vector<ForwarderTap*> taps;  // the block's dnstap plugins (CoreDNS tapPlugins)

    bool down(const Upstream& u) const {
        return opts.max_fails != 0 && u.fails.load(std::memory_order_relaxed) > opts.max_fails;
    }
};

// Result of one exchange with one upstream.
struct Outcome {
    bool ok = false;
    size_t len = 0;            // reply length in the output buffer
    bool cached_closed = false;  // pooled connection found closed by the peer: retry
    std::string err;           // Go-style network error text
};

// Per-try exchanges on the worker's io_context. `msg` carries the upstream
// ID already; the reply goes to out[0..cap).
asio::awaitable<Outcome> udp_exchange(std::shared_ptr<WorkerState> ws, std::shared_ptr<Core> core,
                                      size_t ui, const uint8_t* msg, size_t len, uint8_t* out,
                                      size_t cap, size_t bufsize, Clock::time_point deadline);
asio::awaitable<Outcome> stream_exchange(std::shared_ptr<WorkerState> ws, std::shared_ptr<Core> core,
                                         size_t ui, const uint8_t* msg, size_t len, uint8_t* out,
                                         size_t cap, Clock::time_point deadline);
// One health probe (NS for the health-check domain), on any io_context.
asio::awaitable<Outcome> probe_exchange(asio::io_context& io, std::shared_ptr<Core> core, size_t ui);

// Go's net error wording for a Boost error code ("i/o timeout", "connection refused").
std::string net_error_text(const boost::system::error_code& ec);

}  // namespace dnscore::plugins::forward
