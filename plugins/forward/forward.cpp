// forward: the per-query loop of CoreDNS 1.12 (plugin/forward/forward.go),
// single-flight of identical misses, health probes and metrics.
#include "plugins/forward/forward.hpp"

#include <sys/random.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <mutex>

#include "parser/parser.hpp"
#include "plugins/forward/internal.hpp"
#include "core/log.hpp"
#include "core/metadata.hpp"
#include "plugins/forward/metrics.hpp"
#include "core/host.hpp"
#include "core/memory_budget.hpp"

namespace dnscore::plugins::forward {

using asio::awaitable;
constexpr std::string_view kName = "forward";

// ---------------------------------------------------------------- Rng
Rng::Rng() {
    if (getrandom(s, sizeof s, 0) != sizeof s) {
        const uint64_t t = uint64_t(Clock::now().time_since_epoch().count());
        s[0] = t ^ 0x9E3779B97F4A7C15ull;
        s[1] = t * 0xBF58476D1CE4E5B9ull + 1;
        s[2] = uint64_t(reinterpret_cast<uintptr_t>(this));
        s[3] = 0x94D049BB133111EBull;
    }
    if ((s[0] | s[1] | s[2] | s[3]) == 0) s[0] = 1;
}
uint64_t Rng::next() {
    auto rotl = [](uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

// ---------------------------------------------------------------- policy
void upstream_order(Policy p, size_t n, uint64_t (*rnd)(void*), void* ctx, std::atomic<uint32_t>& robin,
                    uint8_t* order) {
    for (size_t i = 0; i < n; ++i) order[i] = uint8_t(i);
    if (n <= 1) return;
    switch (p) {
        case Policy::sequential:
            return;
        case Policy::round_robin: {
            // [p_i, p_0 .. p_{i-1}, p_{i+1} ..] (CoreDNS roundRobin.List, not a rotation)
            const uint32_t i = (robin.fetch_add(1, std::memory_order_relaxed) + 1) % uint32_t(n);
            order[0] = uint8_t(i);
            size_t k = 1;
            for (size_t j = 0; j < n; ++j)
                if (j != i) order[k++] = uint8_t(j);
            return;
        }
        case Policy::random:
            if (n == 2) {
                if (rnd(ctx) % 2 == 0) std::swap(order[0], order[1]);
                return;
            }
            for (size_t i = n - 1; i > 0; --i) std::swap(order[i], order[rnd(ctx) % (i + 1)]);
            return;
    }
}

// ---------------------------------------------------------------- metrics
metrics::Families::Families() : rcode({"rcode"}, 24) {
    char scratch[16];
    for (unsigned rc = 0; rc < 24; ++rc) rcode.intern({wire::rcode_name(rc, scratch)});
}

metrics::Families& metrics::families() {
    static Families* f = [] {
        auto* f = new Families;  // never destroyed: workers may count during exit
        export_families({&f->request_duration, &f->healthcheck_failures, &f->conn_cache_hits,
                         &f->conn_cache_misses});
        return f;
    }();
    return *f;
}

void metrics::export_own_families() {
    // Not a CoreDNS family, so not shown from the start like CoreDNS's: a
    // scrape without forward configured matches CoreDNS's exactly.
    static const bool done = (export_families({&families().singleflight_shared, &families().shed, &families().tls_resumed}), true);
    (void)done;
}

namespace {
// The forward families exist from process start, whatever the Corefile (C.7.2).
const bool g_exported = (metrics::families(), true);

std::mutex g_proxy_mu;
}  // namespace

ProxyMetrics& proxy_metrics(const std::string& to) {
    static std::array<ProxyMetrics, metrics::kMaxTo + 1> handles;  // [kMaxTo]: overflow
    const int i = metrics::families().to.intern({to});
    std::lock_guard lk(g_proxy_mu);
    ProxyMetrics& h = handles[i == metrics::kOverflow ? metrics::kMaxTo : size_t(i)];
    if (h.to != i) h.to = i;  // first use only: before any worker sees the handle
    return h;
}

void ProxyMetrics::observe(int worker, int rcode, Clock::duration d) const {
    metrics::families().request_duration.observe(worker, {to, rcode}, std::chrono::duration<double>(d).count());
}

void ProxyMetrics::conn(int worker, ProtoIndex p, bool hit) const {
    auto& f = metrics::families();
    (hit ? f.conn_cache_hits : f.conn_cache_misses).inc(worker, {to, int(p)});
}

void ProxyMetrics::healthcheck_failure() const { metrics::families().healthcheck_failures.inc_any({to}); }

// ---------------------------------------------------------------- health
namespace {

awaitable<void> probe_loop(std::shared_ptr<Core> core, size_t ui, asio::io_context* io) {
    Upstream& up = *core->upstreams[ui];
    // CoreDNS: probe until one succeeds; each failure counts and waits the interval.
    while (!core->stopped.load()) {
        Outcome r = co_await probe_exchange(*io, core, ui);
        if (r.ok) {
            up.fails.store(0);
            break;
        }
        up.metrics->healthcheck_failure();
        up.fails.fetch_add(1);
        asio::steady_timer t(*io);
        t.expires_after(core->opts.hc_interval);
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    up.probing.store(false);
}

void start_probe(const std::shared_ptr<Core>& core, size_t ui, Host& rt) {
    Upstream& up = *core->upstreams[ui];
    if (up.probing.exchange(true)) return;  // already running
    asio::co_spawn(rt.control(), probe_loop(core, ui, &rt.control()), [core, ui](std::exception_ptr e) {
        if (!e) return;
        core->upstreams[ui]->probing.store(false);
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            log::emit(log::Level::error, kName, std::string("health check failed: ") + x.what());
        }
    });
}

// ---------------------------------------------------------------- per query
bool upstream_tcp_for(const Core& core, const Query& q) {
    if (core.opts.force_tcp) return true;
    if (core.opts.prefer_udp) return false;
    return q.tcp();
}

// Single-flight: the fields that make two misses interchangeable. The hash
// is the cache's when a cache computed it (name, type, DO, CD); otherwise
// FNV-1a over the same fields. Only ever compared with the full key.
uint64_t flight_hash(const Query& q) {
    if (q.cache_hash_set) return q.cache_hash;
    uint64_t h = 0xcbf29ce484222325ull;
    auto mix = [&h](uint8_t b) { h = (h ^ b) * 0x100000001b3ull; };
    for (size_t i = 0; i < q.info.name_len; ++i) mix(q.info.name[i]);
    mix(uint8_t(q.info.qtype >> 8));
    mix(uint8_t(q.info.qtype));
    mix(uint8_t((q.info.do_bit() ? 1 : 0) | (q.info.cd_bit() ? 2 : 0)));
    return h;
}

bool same_flight(const Exchange& leader, const Query& q, bool upstream_tcp) {
    const wire::QueryInfo& a = leader.q->info;
    const wire::QueryInfo& b = q.info;
    return leader.upstream_tcp == upstream_tcp && a.name_len == b.name_len && a.qtype == b.qtype &&
           a.qclass == b.qclass && a.do_bit() == b.do_bit() && a.cd_bit() == b.cd_bit() &&
           (a.flags & wire::kRD) == (b.flags & wire::kRD) && a.opcode == b.opcode &&
           std::memcmp(a.name, b.name, a.name_len) == 0;
}

// Gives a follower the leader's outcome: the same reply (with its own ID and
// question spelling), the same failure, or the same hand-off.
void share_outcome(const Query& leader, Step step, bool mismatch, OwnedQuery& f) {
    f.ensure_reply_buffer();
    if (const auto up = metadata::find(leader, "forward/upstream")) metadata::set(f, "forward/upstream", *up);
    if (step == Step::next) return;
    if (!leader.written) {
        f.fail(leader.rcode, leader.error, leader.error_plugin);
        return;
    }
    if (mismatch) {
        // A question-mismatch FORMERR is built from each client's request.
        const size_t n = wire::build_header_reply(f.req, f.info, wire::kFormErr, true, false, f.resp, f.resp_cap);
        f.set_written(n, kName);
        return;
    }
    if (!f.write_reply(leader.resp, leader.resp_len, kName)) {
        f.fail(wire::kServFail, "plugin/forward: reply does not fit", kName);
        return;
    }
    wire::set_id(f.resp, f.info.id);
    // Same name up to case: restore this client's spelling (0x20).
    size_t nlen = 0;
    const size_t end = wire::read_name(f.resp, f.resp_len, wire::kHeaderLen, nullptr, nullptr);
    nlen = end > wire::kHeaderLen ? end - wire::kHeaderLen : 0;
    if (wire::qdcount(f.resp) == 1 && nlen == f.info.name_len)
        std::memcpy(f.resp + wire::kHeaderLen, f.req + f.info.qname_off, nlen);
    // Same layout as the leader's reply: its view holds for this copy too.
    if (const wire::ReplyView* v = leader.current_reply()) f.adopt_reply(*v);
}

bool next_is_forward(const Query& q) {
    const Plugin* next = next_plugin(q);
    return next && next->name() == kName;
}

// Gives back what the record counted against the in-flight bounds.
void uncount(Exchange& ex) {
    if (ex.client_bucket >= 0) ex.core->client_pending[size_t(ex.client_bucket)].fetch_sub(1, std::memory_order_relaxed);
    if (ex.holds_pending) ex.core->pending.fetch_sub(1, std::memory_order_relaxed);
    if (ex.holds_background) ex.core->background_pending->fetch_sub(1, std::memory_order_relaxed);
    if (ex.budget_bytes) MemoryBudget::process().release_inflight(ex.budget_bytes);
    ex.client_bucket = -1;
    ex.holds_pending = false;
    ex.holds_background = false;
    ex.budget_bytes = 0;
}

// The leader is done: every follower gets its outcome, then all go on
// through the chain (followers first, in arrival order, as before).
void finish(WorkerState& ws, Exchange& ex, Step step, bool mismatch) {
    ws.flights.erase(ex);
    uncount(ex);
    std::unique_ptr<OwnedQuery> q = std::move(ex.q);
    Exchange* f = ex.followers;
    ws.exchanges.release(&ex);
    while (f) {
        Exchange* after = f->follower_next;
        uncount(*f);
        std::unique_ptr<OwnedQuery> fq = std::move(f->q);
        ws.exchanges.release(f);
        share_outcome(*q, step, mismatch, *fq);
        resume(std::move(fq), step);
        f = after;
    }
    resume(std::move(q), step);
}

void fail_exchange(WorkerState& ws, Exchange& ex, std::string err) {
    Query& q = *ex.q;
    wire::set_id(q.req, ex.client_id);
    q.fail(wire::kServFail, std::move(err), kName);
    finish(ws, ex, Step::done, false);
}

void start_try(Core& core, WorkerState& ws, Exchange& ex);

// CoreDNS's loop over upstreams: the next one in policy order (skipping the
// down ones) gets a try, until the deadline.
void advance(Core& core, WorkerState& ws, Exchange& ex) {
    Query& q = *ex.q;
    const size_t n = ex.n;
    while (Clock::now() < ex.deadline && !ws.stopped) {
        if (ex.next >= n) {
            ex.next = 0;
            ex.fails = 0;
        }
        size_t ui = ex.order[ex.next++];
        if (core.down(*core.upstreams[ui])) {
            ++ex.fails;
            if (ex.fails < n) continue;
            metrics::healthcheck_broken().inc(ws.index);
            if (core.opts.failfast_all_unhealthy) break;
            ui = size_t(ws.rng.next() % n);  // health checking may be broken: any upstream
        }
        // CoreDNS sets this before each proxy it tries (the last one stays).
        metadata::set(q, "forward/upstream", core.upstreams[ui]->spec.to);
        ex.ui = uint8_t(ui);
        ex.tcp = upstream_tcp_for(core, q);
        ex.retries = 0;
        start_try(core, ws, ex);
        return;
    }
    fail_exchange(ws, ex, ex.upstream_err.empty() ? "no healthy proxies" : std::move(ex.upstream_err));
}

// A TCP or TLS try: pipelined connections stay coroutine-based.
awaitable<void> stream_try(std::shared_ptr<Core> core, std::shared_ptr<WorkerState> ws, Exchange* ex) {
    OwnedQuery& q = *ex->q;
    Outcome r;
    std::string fatal;
    try {
        r = co_await stream_exchange(ws, core, ex->ui, q, ex->deadline);
    } catch (const std::exception& e) {
        fatal = std::string("plugin/forward: ") + e.what();
    }
    if (!fatal.empty()) {
        fail_exchange(*ws, *ex, std::move(fatal));
        co_return;
    }
    try_done(*core, *ws, *ex, std::move(r));
}

void log_task_error(std::exception_ptr e) {
    if (!e) return;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        log::emit(log::Level::error, kName, std::string("query task failed: ") + x.what());
    }
}

void start_try(Core& core, WorkerState& ws, Exchange& ex) {
    OwnedQuery& q = *ex.q;
    ex.try_start = Clock::now();
    // A fresh random upstream ID; the client's is restored when the try ends.
    wire::set_id(q.req, uint16_t(ws.rng.next()));
    if (ex.tcp || core.upstreams[ex.ui]->spec.tls) {
        asio::co_spawn(ws.io, stream_try(core.self.lock(), core.workers.find(ws.index)->state, &ex),
                       log_task_error);
        return;
    }
    ex.bufsize = uint16_t(std::max<size_t>(q.info.udp_size(q.tcp()), 512));
    std::string err;
    if (udp_start(core, ws, ex, err)) return;
    // Nothing was sent: the failure comes back through the loop, so a tight
    // retry (refused, unreachable) does not grow the stack.
    asio::post(ws.io, [core = core.self.lock(), wsp = &ws, exp = &ex, err = std::move(err)]() mutable {
        Outcome r;
        r.err = std::move(err);
        try_done(*core, *wsp, *exp, std::move(r));
    });
}

void try_done_or_throw(Core& core, WorkerState& ws, Exchange& ex, Outcome& r) {
    Query& q = *ex.q;
    Upstream& up = *core.upstreams[ex.ui];
    if (r.ok) {
        // Something miekg cannot unpack is an error, not a reply. The view
        // made here is the one cache and log use later (no second walk).
        if (!q.parse_reply(r.len).ok()) {
            r.ok = false;
            r.err = "dns: overflow unpacking uint16";
        } else {
            up.metrics->observe(ws.index, wire::rcode(q.resp), Clock::now() - ex.try_start);
        }
    }
    if (r.cached_closed && ex.retries < 16) {  // the peer closed a pooled connection: again at once
        ++ex.retries;
        start_try(core, ws, ex);
        return;
    }
    if (r.ok && (wire::flags(q.resp) & wire::kTC) && !ex.tcp && core.opts.prefer_udp) {
        ex.tcp = true;  // truncated over UDP with prefer_udp: again over TCP
        ++ex.retries;
        start_try(core, ws, ex);
        return;
    }
    wire::set_id(q.req, ex.client_id);
    for (ForwarderTap* t : core.taps)
        t->tap_forwarder(q, reinterpret_cast<const sockaddr*>(&up.spec.addr), ex.tcp, ex.tap_start,
                         r.ok ? q.resp : nullptr, r.ok ? r.len : 0);
    if (!r.ok) {
        ex.upstream_err = std::move(r.err);
        if (core.opts.max_fails != 0) start_probe(core.self.lock(), ex.ui, q.worker->host());
        if (ex.fails < ex.n) {
            advance(core, ws, ex);
            return;
        }
        fail_exchange(ws, ex, std::move(ex.upstream_err));
        return;
    }
    // CoreDNS checks request.Match (name and type); dnscore's forward has
    // also required the same class from the start, and keeps it.
    if (!q.pending_reply(r.len).answers(q.info, /*check_class=*/true)) {
        q.reply_changed();  // the FORMERR below replaces what was parsed
        const size_t len = wire::build_header_reply(q.req, q.info, wire::kFormErr, true, false, q.resp, q.resp_cap);
        q.set_written(len, kName);
        finish(ws, ex, Step::done, true);
        return;
    }
    const int rc = wire::rcode(q.resp);
    for (int nr : core.opts.next_rcodes) {
        if (nr == rc && next_is_forward(q)) {
            finish(ws, ex, Step::next, false);
            return;
        }
    }
    wire::set_id(q.resp, ex.client_id);
    q.set_written(r.len, kName);
    finish(ws, ex, Step::done, false);
}

std::unique_ptr<asio::ssl::context> make_tls_context(const Options& o) {
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    ctx->set_verify_mode(asio::ssl::verify_peer);
    boost::system::error_code ec;
    const auto& a = o.tls_args;
    // `tls CA`, `tls CERT KEY`, `tls CERT KEY CA` (plugin/pkg/tls NewTLSConfigFromArgs).
    if (a.size() == 1 || a.size() == 3) {
        const std::string& ca = a.size() == 1 ? a[0] : a[2];
        ctx->load_verify_file(ca, ec);
        if (ec) throw parser::ConfigError("error reading " + ca + ": " + net_error_text(ec));
    } else {
        ctx->set_default_verify_paths(ec);
    }
    if (a.size() >= 2) {
        ctx->use_certificate_chain_file(a[0], ec);
        if (!ec) ctx->use_private_key_file(a[1], asio::ssl::context::pem, ec);
        if (ec) throw parser::ConfigError("could not load TLS cert: " + net_error_text(ec));
    }
    enable_tls_resumption(*ctx);
    return ctx;
}

}  // namespace

void try_done(Core& core, WorkerState& ws, Exchange& ex, Outcome r) {
    try {
        try_done_or_throw(core, ws, ex, r);
    } catch (const std::exception& e) {
        fail_exchange(ws, ex, std::string("plugin/forward: ") + e.what());
    }
}

// ---------------------------------------------------------------- bounds
size_t exchange_bytes(const OwnedQuery& q) {
    return kExchangeBytes + (q.req_len > OwnedQuery::kInlineRequest ? q.req_len : 0);
}

DerivedBounds derived_bounds(uint64_t inflight_bytes) {
    DerivedBounds d;
    d.max_pending = int64_t(inflight_bytes / kExchangeBytes);
    if (d.max_pending > 0) d.max_pending_per_client = std::max<int64_t>(1, d.max_pending / kPerClientShare);
    return d;
}

namespace {
// The per-client counts of the derived bound: one set for the process, as
// the budget is the process's (never destroyed: exchanges may end at exit).
struct ProcessClientCounts {
    std::atomic<uint32_t> buckets[Core::kClientBuckets] = {};
    uint64_t seed = Rng().next();
};
ProcessClientCounts& process_client_counts() {
    static ProcessClientCounts* c = new ProcessClientCounts;
    return *c;
}

// Background refreshes in flight for the whole process (derived bounds).
std::atomic<int64_t>& process_background_pending() {
    static std::atomic<int64_t>* n = new std::atomic<int64_t>(0);
    return *n;
}

// The bounds in force: the Corefile's, else the budget's, else none.
void choose_bounds(Core& core) {
    const Options& o = core.opts;
    const DerivedBounds d = derived_bounds(MemoryBudget::process().inflight_limit());
    if (o.max_pending_set) {
        core.max_pending = o.max_pending;
        core.max_pending_error = o.max_pending_error;
    } else if (d.max_pending > 0) {
        core.max_pending = d.max_pending;
        core.pending_in_budget = true;
        core.max_pending_error = "plugin/forward: pending upstream queries exceeded maximum " + std::to_string(d.max_pending);
    }
    if (o.max_pending_per_client_set) {
        core.max_pending_per_client = o.max_pending_per_client;
        core.max_pending_per_client_error = o.max_pending_per_client_error;
        if (core.max_pending_per_client > 0) {
            core.own_client_pending.reset(new std::atomic<uint32_t>[Core::kClientBuckets]);
            for (size_t i = 0; i < Core::kClientBuckets; ++i) core.own_client_pending[i].store(0);
            core.client_pending = core.own_client_pending.get();
            core.client_seed = Rng().next();
        }
    } else if (d.max_pending_per_client > 0) {
        core.max_pending_per_client = d.max_pending_per_client;
        core.max_pending_per_client_error =
            "plugin/forward: pending queries of the client exceeded maximum " + std::to_string(d.max_pending_per_client);
        core.client_pending = process_client_counts().buckets;
        core.client_seed = process_client_counts().seed;
    }
    if (core.max_pending > 0) {
        core.max_background = std::max<int64_t>(1, core.max_pending / kBackgroundShare);
        core.max_background_error =
            "plugin/forward: background refreshes exceeded maximum " + std::to_string(core.max_background);
        if (core.pending_in_budget) core.background_pending = &process_background_pending();
    }
}
}  // namespace

// ---------------------------------------------------------------- Forward
Forward::Forward(Options opts, bool /*validate_only*/) : core_(std::make_shared<Core>()) {
    core_->self = core_;
    core_->opts = std::move(opts);
    choose_bounds(*core_);
    bool any_tls = false;
    for (const auto& spec : core_->opts.upstreams) {
        auto u = std::make_unique<Upstream>();
        u->spec = spec;
        u->metrics = &proxy_metrics(spec.to);
        const auto* sa = reinterpret_cast<const sockaddr*>(&spec.addr);
        if (sa->sa_family == AF_INET) {
            const auto* a = reinterpret_cast<const sockaddr_in*>(sa);
            asio::ip::address_v4::bytes_type b;
            std::memcpy(b.data(), &a->sin_addr, 4);
            u->udp_ep = {asio::ip::address_v4(b), ntohs(a->sin_port)};
        } else {
            const auto* a = reinterpret_cast<const sockaddr_in6*>(sa);
            asio::ip::address_v6::bytes_type b;
            std::memcpy(b.data(), &a->sin6_addr, 16);
            u->udp_ep = {asio::ip::address_v6(b, a->sin6_scope_id), ntohs(a->sin6_port)};
        }
        u->tcp_ep = {u->udp_ep.address(), u->udp_ep.port()};
        any_tls = any_tls || spec.tls;
        core_->upstreams.push_back(std::move(u));
    }
    // Certificates are read at setup so -validate reports their errors; no
    // socket is opened and no probe starts until a query fails.
    if (any_tls || core_->opts.has_tls_option) core_->tls_ctx = make_tls_context(core_->opts);
}

Forward::~Forward() { core_->stopped.store(true); }

const Options& Forward::options() const { return core_->opts; }

Forward::PendingBounds Forward::pending_bounds() const {
    const Core& c = *core_;
    return {c.max_pending, c.max_pending_per_client, c.pending_in_budget,
            c.client_pending != nullptr && c.own_client_pending == nullptr, c.max_background};
}

void Forward::set_taps(std::vector<ForwarderTap*> taps) { core_->taps = std::move(taps); }

void Forward::on_startup() { core_->stopped.store(false); }

void Forward::on_shutdown(Host& rt) {
    core_->stopped.store(true);
    // Each worker closes its own sockets (Asio objects stay single-threaded).
    rt.post_to_workers([core = core_](int worker) {
        if (const WorkerSlot* s = core->workers.find(worker)) s->state->close_all();
    });
}

bool Forward::matches(const uint8_t* name, size_t len) const {
    const auto& o = core_->opts;
    if (!wire::is_subdomain(name, len, o.from_wire.data(), o.from_wire.size())) return false;
    if (len == o.from_wire.size()) return true;  // FROM itself is never excepted
    return o.except_wire.matches(name, len) == ZoneSet::npos;
}

// Marks, in the query's plugin scratch, that this forward holds a
// max_concurrent slot (released in response()).
constexpr uint64_t kHoldsSlot = 1;

Step Forward::query(Query& q) {
    if (!matches(q.info.name, q.info.name_len)) return Step::next;
    if (core_->opts.max_concurrent > 0) {
        const int64_t count = core_->concurrent.fetch_add(1, std::memory_order_relaxed) + 1;
        if (count > core_->opts.max_concurrent) {
            core_->concurrent.fetch_sub(1, std::memory_order_relaxed);
            metrics::max_concurrent_rejects().inc(q.worker->index());
            q.fail(wire::kRefused, core_->opts.max_concurrent_error, kName);
            return Step::done;
        }
        q.data() = kHoldsSlot;
    }
    return Step::async;
}

void Forward::response(Query& q) {
    if (q.data() == kHoldsSlot) {
        core_->concurrent.fetch_sub(1, std::memory_order_relaxed);
        q.data() = 0;
    }
}

namespace {
// A query refused by a bound on in-flight work: SERVFAIL at once, unless a
// cache above has an expired answer for it (Query::shed).
void shed(std::unique_ptr<OwnedQuery> q, metrics::ShedReason why, std::string_view err) {
    metrics::families().shed.inc(q->worker->index(), {int(why)});
    q->fail(wire::kServFail, std::string(err), kName);
    q->shed = true;
    resume(std::move(q), Step::done);
}

size_t client_bucket_of(const Core& core, const Endpoint& client) {
    const uint8_t* ip = client.ip_bytes();
    const size_t len = client.is_v4() ? 4 : 16;
    uint64_t h = core.client_seed;
    for (size_t i = 0; i < len; ++i) h = (h ^ ip[i]) * 0x100000001b3ull;
    h ^= h >> 29;
    return size_t(h) & (Core::kClientBuckets - 1);
}
}  // namespace

void Forward::query_async(std::unique_ptr<OwnedQuery> q) {
    Core& core = *core_;
    // Until a reply comes, the exchange holds no reply buffer (a
    // black-holed upstream keeps it waiting for the whole deadline).
    q->release_reply_buffer();
    const int wi = q->worker->index();
    WorkerState& ws = *core.workers.get(wi, *q->worker, wi, core.upstreams.size()).state;
    // Refreshes first take their own share: past it they are not done (the
    // cache keeps its entry), and they never queue behind or crowd out the
    // clients' queries.
    bool counts_background = false;
    if (q->background && core.max_background > 0) {
        if (core.background_pending->fetch_add(1, std::memory_order_relaxed) >= core.max_background) {
            core.background_pending->fetch_sub(1, std::memory_order_relaxed);
            shed(std::move(q), metrics::kShedBackground, core.max_background_error);
            return;
        }
        counts_background = true;
    }
    int client_bucket = -1;
    if (core.max_pending_per_client > 0) {
        const size_t b = client_bucket_of(core, q->client);
        if (core.client_pending[b].fetch_add(1, std::memory_order_relaxed) >= core.max_pending_per_client) {
            core.client_pending[b].fetch_sub(1, std::memory_order_relaxed);
            if (counts_background) core.background_pending->fetch_sub(1, std::memory_order_relaxed);
            shed(std::move(q), metrics::kShedPerClient, core.max_pending_per_client_error);
            return;
        }
        client_bucket = int(b);
    }
    auto give_back_bucket = [&] {
        if (client_bucket >= 0) core.client_pending[size_t(client_bucket)].fetch_sub(1, std::memory_order_relaxed);
        if (counts_background) core.background_pending->fetch_sub(1, std::memory_order_relaxed);
    };
    // The derived max_pending: the exchange's bytes against the budget.
    uint32_t budget_bytes = 0;
    if (core.pending_in_budget) {
        budget_bytes = uint32_t(exchange_bytes(*q));
        if (!MemoryBudget::process().try_charge_inflight(budget_bytes)) {
            give_back_bucket();
            shed(std::move(q), metrics::kShedMaxPending, core.max_pending_error);
            return;
        }
    }
    const bool upstream_tcp = upstream_tcp_for(core, *q);
    const uint64_t hash = flight_hash(*q);
    Exchange* leader = ws.flights.find(hash, [&](const Exchange& l) { return same_flight(l, *q, upstream_tcp); });
    Exchange* ex = ws.exchanges.acquire(&core);
    if (!ex) {
        give_back_bucket();
        if (budget_bytes) MemoryBudget::process().release_inflight(budget_bytes);
        shed(std::move(q), metrics::kShedWorkerLimit, "plugin/forward: too many exchanges in flight");
        return;
    }
    ex->q = std::move(q);
    ex->client_bucket = client_bucket;
    ex->holds_background = counts_background;
    ex->budget_bytes = budget_bytes;
    if (leader) {
        // An identical query is already upstream on this worker: wait for it.
        (leader->followers_tail ? leader->followers_tail->follower_next : leader->followers) = ex;
        leader->followers_tail = ex;
        metrics::families().singleflight_shared.inc(wi);
        return;
    }
    if (core.max_pending > 0 && !core.pending_in_budget) {
        if (core.pending.fetch_add(1, std::memory_order_relaxed) >= core.max_pending) {
            core.pending.fetch_sub(1, std::memory_order_relaxed);
            uncount(*ex);
            std::unique_ptr<OwnedQuery> back = std::move(ex->q);
            ws.exchanges.release(ex);
            shed(std::move(back), metrics::kShedMaxPending, core.max_pending_error);
            return;
        }
        ex->holds_pending = true;
    }
    Query& oq = *ex->q;
    ex->flight_hash = hash;
    ex->upstream_tcp = upstream_tcp;
    ex->client_id = oq.info.id;
    if (!core.taps.empty()) clock_gettime(CLOCK_REALTIME, &ex->tap_start);
    ex->deadline = Clock::now() + kDeadline;
    ex->n = uint8_t(core.upstreams.size());
    upstream_order(core.opts.policy, ex->n, &Rng::call, &ws.rng, core.robin, ex->order);
    ws.flights.insert(*ex);
    try {
        advance(core, ws, *ex);
    } catch (const std::exception& e) {
        fail_exchange(ws, *ex, std::string("plugin/forward: ") + e.what());
    }
}

}  // namespace dnscore::plugins::forward
