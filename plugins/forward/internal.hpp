#pragma once
// forward internals shared by forward.cpp (the query loop, single-flight,
// health, metrics) and transport.cpp (UDP, pipelined TCP and TLS exchanges).
// Includes Asio: only the forward TUs include this header.
#include <sys/socket.h>

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
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "plugins/forward/flight_table.hpp"
#include "plugins/forward/forward.hpp"
#include "plugins/forward/slab.hpp"
#include "plugins/forward/timer_wheel.hpp"
#include "core/host.hpp"
#include "core/query.hpp"
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
// The latest TLS session a tls:// upstream gave, resumed by the next
// connection to it (any worker; taken once per connection, off the query path).
struct TlsSessionSlot {
    std::mutex mu;
    SSL_SESSION* latest = nullptr;
    TlsSessionSlot() = default;
    TlsSessionSlot(const TlsSessionSlot&) = delete;
    TlsSessionSlot& operator=(const TlsSessionSlot&) = delete;
    ~TlsSessionSlot() {
        if (latest) SSL_SESSION_free(latest);
    }
};

struct Upstream {
    UpstreamSpec spec;
    ProxyMetrics* metrics = nullptr;
    std::atomic<uint32_t> fails{0};       // consecutive failed health probes
    std::atomic<bool> probing{false};     // a probe loop is running
    asio::ip::udp::endpoint udp_ep;
    asio::ip::tcp::endpoint tcp_ep;
    TlsSessionSlot tls_session;  // tls:// only
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
    OwnedQuery* out = nullptr;  // the reply is copied into its buffer (taken then)
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

struct Exchange;

// UDP to an upstream: per worker, kLiveUdpSockets connected sockets on
// kernel-chosen ports, one picked at random per try; each carries at most
// kUdpMaxUses exchanges in its life (several at once, told apart by their
// random IDs), then is retired: it takes no new exchange and is closed when
// the last one waiting on it ends; the next try opens a fresh socket on a new
// ephemeral port. A socket idle for `expire` is replaced the same way.
constexpr size_t kLiveUdpSockets = 4;
constexpr size_t kUdpMaxUses = 64;

struct UdpSock {
    explicit UdpSock(asio::io_context& io) : sock(io) {}
    asio::ip::udp::socket sock;
    uint32_t gen = 0;      // bumped at each open: handlers of an earlier socket see a mismatch
    bool reading = false;  // a read wait is armed
    bool retired = false;  // takes no new exchange; closed once none waits
    uint32_t uses = 0;
    Clock::time_point used;
    PendingIds<Exchange, kUdpMaxUses> pending;  // by upstream ID
};

struct UpstreamPool {
    std::array<UdpSock*, kLiveUdpSockets> live{};    // null: opened by the next try that picks it
    std::vector<std::shared_ptr<StreamConn>> conns;  // pipelined TCP/TLS connections
};

// One forwarded miss (or a follower waiting on an identical one), from the
// worker's slab. A leader runs CoreDNS's loop over upstreams as callbacks:
// advance() picks the next upstream and starts a try, try_done() takes its
// outcome. The node is the try's deadline in the worker's wheel.
struct Exchange : WheelNode {
    explicit Exchange(Core* core) : core(core) {}
    Core* core;
    std::unique_ptr<OwnedQuery> q;
    int client_bucket = -1;     // counted in Core::client_pending (max_pending_per_client)
    bool holds_pending = false;  // counted in Core::pending (max_pending)
    bool holds_background = false;  // counted in *Core::background_pending (max_background)
    uint32_t budget_bytes = 0;   // charged to the memory budget's in-flight share (derived max_pending)
    // single-flight: the leader is in WorkerState::flights; its followers
    // hang off it through follower_next.
    uint64_t flight_hash = 0;
    Exchange* flight_next = nullptr;
    Exchange* followers = nullptr;  // in arrival order
    Exchange* followers_tail = nullptr;
    Exchange* follower_next = nullptr;
    bool upstream_tcp = false;  // part of the single-flight key
    // the query loop
    Clock::time_point deadline;
    Clock::time_point try_start;
    timespec tap_start{};
    uint16_t client_id = 0;
    uint8_t order[kMaxUpstreams] = {};
    uint8_t n = 0, next = 0, fails = 0;
    uint8_t ui = 0;
    bool tcp = false;
    uint8_t retries = 0;
    std::string upstream_err;  // the last try's error (SSO-sized or on the error path only)
    // the UDP try in flight
    UdpSock* sock = nullptr;
    uint16_t upstream_id = 0;
    uint16_t bufsize = 512;
};

// What one waiting exchange holds (its OwnedQuery and record, with room for
// their allocator headers and table slots), charged against the memory
// budget's in-flight share when no max_pending is set; a request longer
// than OwnedQuery::kInlineRequest adds its own bytes. Its reply buffer is
// taken only when the reply arrives (core/query.hpp).
constexpr size_t kExchangeBytes = sizeof(OwnedQuery) + sizeof(Exchange) + 64;
size_t exchange_bytes(const OwnedQuery& q);

// The bounds a forward takes from the process's memory budget when the
// Corefile sets none (README "max_pending"): max_pending is the number of
// exchanges whose bytes fill the budget's in-flight share, counted across
// every forward of the process; max_pending_per_client 1/kPerClientShare of
// it. Both 0 without a budget (inflight_bytes 0).
constexpr int64_t kPerClientShare = 8;
// Background refreshes (cache prefetch, stale refresh) may hold at most
// 1/kBackgroundShare of max_pending, set or derived.
constexpr int64_t kBackgroundShare = 8;
struct DerivedBounds {
    int64_t max_pending = 0;
    int64_t max_pending_per_client = 0;
};
DerivedBounds derived_bounds(uint64_t inflight_bytes);

struct WorkerState {
    // Exchanges in flight per worker are bounded: past this, a miss fails at once.
    static constexpr size_t kMaxExchanges = 65536;
    static constexpr auto kWheelTick = std::chrono::milliseconds(8);

    // Upstream replies read per recvmmsg call.
    static constexpr size_t kUpstreamBatch = 16;

    WorkerState(WorkerHost& host, int index, size_t upstreams)
        : host(host), io(host.io()), index(index), pools(upstreams), wheel(kWheelTick, Clock::now()), wheel_timer(io),
          exchanges(kMaxExchanges), rbuf(new uint8_t[kUpstreamBatch * wire::kMaxMessage]) {
        // Connected sockets: no source address; the kernel writes only msg_len.
        for (size_t i = 0; i < kUpstreamBatch; ++i) {
            riov[i] = {rbuf.get() + i * wire::kMaxMessage, wire::kMaxMessage};
            rmh[i] = mmsghdr{};
            rmh[i].msg_hdr.msg_iov = &riov[i];
            rmh[i].msg_hdr.msg_iovlen = 1;
        }
    }
    WorkerState(const WorkerState&) = delete;
    WorkerState& operator=(const WorkerState&) = delete;
    WorkerHost& host;
    asio::io_context& io;
    int index;
    Rng rng;
    std::vector<UpstreamPool> pools;
    std::vector<std::unique_ptr<UdpSock>> udp_socks;  // every record made (grows to the high-water mark)
    std::vector<UdpSock*> udp_free;                   // closed records to reuse
    TimerWheel wheel;
    asio::steady_timer wheel_timer;
    bool wheel_armed = false;
    Clock::time_point wheel_armed_at;
    Slab<Exchange> exchanges;
    FlightTable<Exchange> flights;
    std::unique_ptr<uint8_t[]> rbuf;  // datagrams read from upstream sockets (pages untouched stay unallocated)
    iovec riov[kUpstreamBatch];
    mmsghdr rmh[kUpstreamBatch];
    bool stopped = false;
    void close_all();
};

// Created by its worker with the state inside, so a scrape or a shutdown
// that sees the slot (WorkerLocal publishes it with release) sees the state.
struct WorkerSlot {
    WorkerSlot(WorkerHost& host, int index, size_t upstreams)
        : state(std::make_shared<WorkerState>(host, index, upstreams)) {}
    const std::shared_ptr<WorkerState> state;
};

// ---- the shared core of one forward instance ----
struct Core {
    Options opts;
    std::vector<std::unique_ptr<Upstream>> upstreams;
    std::unique_ptr<asio::ssl::context> tls_ctx;  // for tls:// upstreams
    std::atomic<uint32_t> robin{0};
    std::atomic<int64_t> concurrent{0};
    // Bounded in-flight work (dnscore extensions, README "max_pending"):
    // upstream exchanges in flight, and queries waiting per client address,
    // counted in kClientBuckets buckets by a seeded hash of the address.
    // Each bound is the Corefile's (counted for this forward), else derived
    // from the memory budget (counted for the whole process), else none (0).
    static constexpr size_t kClientBuckets = 4096;
    int64_t max_pending = 0;
    std::string max_pending_error;
    // The derived max_pending: every waiting exchange (single-flight
    // followers too: each holds the same bytes) charges exchange_bytes() to
    // the budget's in-flight share instead of counting in `pending`.
    bool pending_in_budget = false;
    std::atomic<int64_t> pending{0};
    int64_t max_pending_per_client = 0;
    std::string max_pending_per_client_error;
    std::atomic<uint32_t>* client_pending = nullptr;  // own_client_pending's, or the process's (derived)
    std::unique_ptr<std::atomic<uint32_t>[]> own_client_pending;
    uint64_t client_seed = 0;
    // Background refreshes (Query::background: cache prefetch and stale
    // refresh) waiting here, at most an eighth of max_pending (set or
    // derived; none without it), so refreshes never take the share of
    // clients' queries. Counted like max_pending: for this forward when
    // written, for the process when derived.
    int64_t max_background = 0;
    std::string max_background_error;
    std::atomic<int64_t> own_background_pending{0};
    std::atomic<int64_t>* background_pending = &own_background_pending;
    std::atomic<bool> stopped{false};
    std::weak_ptr<Core> self;  // for handlers that must not keep the core alive
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

// Starts exchange.q's request (its upstream ID set) as a UDP try to
// upstream exchange.ui; the outcome comes later through try_done(). False
// (with err set) if it could not be sent.
bool udp_start(Core& core, WorkerState& ws, Exchange& ex, std::string& err);
// Ends the UDP try of `ex` (a timeout or shutdown): it stops waiting for a reply.
void udp_abandon(WorkerState& ws, Exchange& ex);
// The read timeout text of the UDP try of `ex` ("read udp L->R: i/o timeout").
std::string udp_timeout_text(const Core& core, const Exchange& ex);
// Called by the UDP transport with a try's outcome (forward.cpp).
void try_done(Core& core, WorkerState& ws, Exchange& ex, Outcome r);
// Closes the worker's live UDP sockets idle past `expire`; the time to look
// again while any remains.
std::optional<Clock::time_point> udp_close_idle(Core& core, WorkerState& ws, Clock::time_point now);
// Makes the worker's wheel timer fire by `at` (a deadline just scheduled).
void arm_wheel(Core& core, WorkerState& ws, Clock::time_point at);

// Sends q's request; the reply is copied into q's reply buffer, which is
// taken only when the reply arrives.
asio::awaitable<Outcome> stream_exchange(std::shared_ptr<WorkerState> ws, std::shared_ptr<Core> core,
                                         size_t ui, OwnedQuery& q, Clock::time_point deadline);
// One health probe (NS for the health-check domain), on any io_context.
asio::awaitable<Outcome> probe_exchange(asio::io_context& io, std::shared_ptr<Core> core, size_t ui);

// Connects an open UDP socket to `ep`, never to itself (transport.cpp).
void connect_udp_not_self(asio::ip::udp::socket& s, const asio::ip::udp::endpoint& ep,
                          boost::system::error_code& ec);
// Makes connections made with `ctx` resume their upstream's latest TLS session.
void enable_tls_resumption(asio::ssl::context& ctx);

// Go's net error wording for a Boost error code ("i/o timeout", "connection refused").
std::string net_error_text(const boost::system::error_code& ec);

}  // namespace dnscore::plugins::forward
