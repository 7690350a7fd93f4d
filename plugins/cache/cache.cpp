#include "plugins/cache/cache.hpp"

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>

#include "core/config.hpp"
#include "core/metrics.hpp"
#include "core/host.hpp"

namespace dnscore::plugins::cache {

namespace {

// plugin_data[pos] of an exchange: what response() has to do.
enum : uint64_t {
    kPass = 0,     // not under the cache's zones
    kMiss = 1,     // classify, store, re-TTL and send
    kRefresh = 2,  // background refresh (prefetch / stale): store only
    kVerify = 3,   // serve_stale verify: use the reply if it is usable, else the stale entry
    kStateMask = 3,
    kInheritHits = 4,  // refresh: carry the old entry's hit count (upper 32 bits)
};


// RFC 8767 section 4: stale answers carry a TTL of 30 s.
constexpr uint32_t kRfc8767StaleTtl = 30;

int64_t clamp_ttl(int64_t ttl, int64_t min, int64_t max) {
    // CoreDNS computeTTL: min first, then max (max wins when min > max).
    if (ttl < min) ttl = min;
    if (ttl > max) ttl = max;
    return ttl;
}

std::vector<uint8_t> zone_wire(const std::string& z) {
    uint8_t buf[wire::kMaxNameLen + 1];
    size_t n = wire::text_to_name(z, buf);
    if (n == 0) {
        buf[0] = 0;
        n = 1;
    }
    for (size_t i = 0; i < n; ++i)
        if (buf[i] >= 'A' && buf[i] <= 'Z') buf[i] = uint8_t(buf[i] + 32);
    return std::vector<uint8_t>(buf, buf + n);
}

std::string join(const std::vector<std::string>& v, const char* sep) {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) {
        if (i) out += sep;
        out += v[i];
    }
    return out;
}

std::mutex g_registry_mu;
std::map<std::string, std::weak_ptr<Stores>>& registry() {
    static std::map<std::string, std::weak_ptr<Stores>> m;
    return m;
}

}  // namespace

std::string Config::canonical() const {
    std::string s;
    auto add = [&](const std::string& k, const std::string& v) { s += k + "=" + v + ";"; };
    add("zones", join(zones, ","));
    add("pcap", std::to_string(pcap));
    add("ncap", std::to_string(ncap));
    add("pttl", std::to_string(pttl_s));
    add("minpttl", std::to_string(minpttl_s));
    add("nttl", std::to_string(nttl_s));
    add("minnttl", std::to_string(minnttl_s));
    add("failttl", std::to_string(failttl_ns));
    add("prefetch", std::to_string(prefetch) + "/" + std::to_string(prefetch_window_ns) + "/" +
                        std::to_string(percentage));
    add("stale", std::to_string(stale_up_to_ns) + (verify_stale ? "/verify" : "/immediate"));
    add("pexcept", join(pexcept, ","));
    add("nexcept", join(nexcept, ","));
    add("keepttl", keepttl ? "1" : "0");
    if (rfc_max_stale_ns > 0)
        add("rfc8767", std::to_string(rfc_max_stale_ns) + "/" + std::to_string(rfc_client_timeout_ns) + "/" +
                           std::to_string(rfc_recheck_ns));
    return s;
}

std::shared_ptr<Stores> shared_stores(const std::string& id, long long pcap, long long ncap) {
    std::lock_guard<std::mutex> lock(g_registry_mu);
    auto& m = registry();
    for (auto it = m.begin(); it != m.end();) {  // forget released stores
        if (it->second.expired()) it = m.erase(it);
        else ++it;
    }
    if (auto s = m[id].lock()) return s;
    auto s = std::make_shared<Stores>(pcap, ncap);
    m[id] = s;
    return s;
}

void for_each_stores(const std::function<void(const std::string& id, Stores&)>& fn) {
    // Holders taken under the lock, visited outside it: fn may be slow.
    std::vector<std::pair<std::string, std::shared_ptr<Stores>>> live;
    {
        std::lock_guard<std::mutex> lock(g_registry_mu);
        for (auto& [id, weak] : registry())
            if (auto s = weak.lock()) live.emplace_back(id, std::move(s));
    }
    for (auto& [id, s] : live) fn(id, *s);
}

std::shared_ptr<Stores> find_stores(const std::string& id) {
    std::lock_guard<std::mutex> lock(g_registry_mu);
    auto it = registry().find(id);
    return it == registry().end() ? nullptr : it->second.lock();
}

// ---- the plugin ----

Cache::Cache(Config cfg, std::shared_ptr<Stores> stores, const Clock& clock)
    : cfg_(std::move(cfg)), stores_(std::move(stores)), clock_(clock), seed_(process_seed()) {
    for (const auto& z : cfg_.zones) zones_wire_.add_wire(zone_wire(z));
    for (const auto& z : cfg_.pexcept) pexcept_wire_.add_wire(zone_wire(z));
    for (const auto& z : cfg_.nexcept) nexcept_wire_.add_wire(zone_wire(z));
    zones_label_ = join(cfg_.zones, ",");
    stale_window_s_ = std::max(cfg_.stale_up_to_ns, cfg_.rfc_max_stale_ns) / kSecond;
    metrics_ = std::make_unique<metrics::Families>(zones_label_, [this](const metrics::GaugeFunc::Emit& emit) {
        const auto& servers = metrics_->server;
        for (size_t i = 0; i < servers.size(); ++i) {
            emit({*servers.values(i), "denial"}, double(stores_->denial.size()));
            emit({*servers.values(i), "success"}, double(stores_->success.size()));
        }
    }, [this](const metrics::GaugeFunc::Emit& emit) {
        const auto& servers = metrics_->server;
        for (size_t i = 0; i < servers.size(); ++i) {
            emit({*servers.values(i), "denial"}, double(stores_->denial.bytes()));
            emit({*servers.values(i), "success"}, double(stores_->success.bytes()));
        }
    });
}

Cache::~Cache() {
    if (metrics_handle_) metrics::Registry::global().remove(metrics_handle_);
}

bool Cache::under(const ZoneSet& zones, const uint8_t* name, size_t len) const {
    return zones.matches(name, len) != ZoneSet::npos;
}

Key Cache::key_of(Query& q) const {
    if (!q.cache_hash_set) {
        q.cache_hash = key_hash(seed_, q.info.name, q.info.name_len, q.info.qtype, q.info.do_bit(), q.info.cd_bit());
        q.cache_hash_set = true;
    }
    return key_with_hash(q.info, q.cache_hash);
}

bool Cache::in_zones(const wire::QueryInfo& q) const { return under(zones_wire_, q.name, q.name_len); }

Cache::Counters& Cache::counters(const Query& q) {
    SiteCounters& sc = counters_.get(q.worker ? q.worker->index() : 0);
    const void* site = q.site;
    if (site && site == sc.site) return sc.c;
    // A site not seen last on this worker: its `server` label index (a scan;
    // interned under a lock on first sight).
    const std::string_view label = q.site ? std::string_view(q.site->server) : std::string_view();
    int i = metrics_->server.find({label});
    if (i == metrics::kOverflow) i = metrics_->server.intern({label});
    sc.site = site;
    sc.c = Counters{q.worker ? q.worker->index() : 0, i};
    return sc.c;
}

void Cache::write_hit(Query& q, const Entry& e, uint32_t ttl, bool stale) {
    using namespace wire;
    const size_t n = e.msg_len;
    const size_t qlen = size_t(q.info.question_end) - kHeaderLen;
    uint8_t* r = q.resp;
    std::memcpy(r, e.msg(), n);
    set_id(r, q.info.id);
    const bool ad = e.ad && (q.info.do_bit() || (q.info.flags & kAD));
    // CoreDNS toMsg builds on SetReply: RD and CD only for opcode QUERY.
    set_flags(r, uint16_t(kQR | (q.info.opcode & 0x0f) << 11 | kAA | reply_rd_cd(q.info) |
                          (e.ra ? kRA : 0) | (ad ? kAD : 0) | (e.rcode & 0x0f)));
    // The question as the client wrote it (0x20 case, its class).
    std::memcpy(r + kHeaderLen, q.req + kHeaderLen, qlen);
    const uint8_t* offs = e.ttl_offsets();
    for (size_t i = 0; i < e.ttl_count; ++i) {
        uint16_t off;
        std::memcpy(&off, offs + 2 * i, 2);
        wr32(r + off, ttl);
    }
    // Beyond CoreDNS: a stale answer says so (RFC 8914 EDE 3) to EDNS clients.
    const size_t len = stale ? add_ede(r, n, q.resp_cap, q.req, q.info, 3) : n;
    q.set_written(len, name());
}

Cache::Lookup Cache::lookup(Query& q, const Key& k, Counters& c, bool write, uint32_t* prefetch_hits) {
    const int64_t now = clock_.now_ns();
    const int64_t stale_s = stale_window_s_;
    const size_t qlen = size_t(q.info.question_end) - wire::kHeaderLen;
    Lookup result = Lookup::miss;
    auto use = [&](Entry& e) {
        const int64_t ttl = e.remaining(now);
        if (!(ttl > 0 || (stale_s > 0 && -ttl < stale_s))) return false;
        if (e.msg_len > q.resp_cap || size_t(e.name_len) + 4 != qlen) return false;
        const bool stale = ttl < 0;
        if (stale && cfg_.rfc_max_stale_ns > 0) {
            // RFC 8767: ask the upstream first, unless it failed for this
            // entry within the failure-recheck time.
            if (e.stale_recheck_ns <= now) {
                result = Lookup::stale_refresh;
                return true;
            }
            if (write) write_hit(q, e, kRfc8767StaleTtl, true);
            result = Lookup::stale;
            return true;
        }
        if (!stale && cfg_.prefetch > 0) {
            // CoreDNS freq.Update: the window restarts when it is older than DURATION.
            if (e.freq_last_ns < now - cfg_.prefetch_window_ns) {
                e.freq_last_ns = now;
                e.freq_hits = 1;
            } else {
                ++e.freq_hits;
            }
            const int64_t threshold = (int64_t(cfg_.percentage) * int64_t(e.ttl_s) + 99) / 100;
            if (e.freq_hits >= uint64_t(cfg_.prefetch) && ttl <= threshold) *prefetch_hits = e.freq_hits;
        } else if (stale) {
            *prefetch_hits = e.freq_hits;
        }
        if (write) {
            uint32_t shown = stale ? 0u : uint32_t(ttl);
            if (cfg_.keepttl) shown = e.ttl_s;
            write_hit(q, e, shown, stale);
        }
        result = stale ? Lookup::stale : Lookup::fresh;
        return true;
    };
    metrics_->requests.inc(c.worker, {c.server});
    if (stores_->denial.visit(k, use)) {
        metrics_->hits.inc(c.worker, {c.server, metrics::kDenial});
    } else if (stores_->success.visit(k, use)) {
        metrics_->hits.inc(c.worker, {c.server, metrics::kSuccess});
    } else {
        metrics_->misses.inc(c.worker, {c.server});
    }
    return result;
}

Step Cache::query(Query& q) {
    uint64_t& state = q.data();
    if (!in_zones(q.info)) {
        state = kPass;
        return Step::next;
    }
    Counters& c = counters(q);
    const Key k = key_of(q);
    uint32_t prefetch_hits = 0;
    const bool verify = cfg_.verify_stale;
    // With verify the stale entry is only written if the refresh fails, so
    // do not write it yet; a fresh hit under verify is written right away.
    const Lookup r = lookup(q, k, c, true, &prefetch_hits);
    switch (r) {
        case Lookup::miss:
            state = kMiss;
            return Step::next;
        case Lookup::stale_refresh:
            state = kMiss;  // until the race says otherwise (query_async)
            return Step::async;
        case Lookup::stale:
            if (cfg_.rfc_max_stale_ns > 0) {  // within the failure-recheck time
                metrics_->served_stale.inc(c.worker, {c.server});
                metrics_->stale_outcomes.inc(c.worker, {c.server, metrics::kStaleRecheck});
                return Step::done;
            }
            if (verify) {
                q.clear_reply();
                state = kVerify;
                return Step::next;
            }
            metrics_->served_stale.inc(c.worker, {c.server});
            start_refresh(q, prefetch_hits);
            return Step::done;
        case Lookup::fresh:
            if (prefetch_hits) start_refresh(q, prefetch_hits);
            return Step::done;
    }
    return Step::done;
}

void Cache::start_refresh(Query& q, uint32_t inherit_hits) {
    Counters& c = counters(q);
    metrics_->prefetch.inc(c.worker, {c.server});
    if (!q.site) return;  // no chain to run (unit tests without a Site)
    // The refresh runs only the plugins below this one, over "TCP" (no
    // truncation), and its reply goes nowhere but into the store.
    run_below(q, kRefresh | kInheritHits | (uint64_t(inherit_hits) << 32));
}

void Cache::store_reply(Query& q, const wire::ReplyView& reply, ReplyType t, int64_t duration_ns,
                        Counters& c) {
    const bool success = t == ReplyType::no_error || t == ReplyType::delegation;
    const bool denial = t == ReplyType::name_error || t == ReplyType::no_data || t == ReplyType::server_error;
    if (!success && !denial) return;
    if (under(success ? pexcept_wire_ : nexcept_wire_, q.info.name, q.info.name_len)) return;
    const Key k = key_of(q);
    Entry e;
    if (!make_entry(reply, k, clock_.now_ns(), uint32_t(duration_ns / kSecond), e)) return;
    Store& s = success ? stores_->success : stores_->denial;
    switch (s.insert(std::move(e))) {
        case Store::Insert::stored: break;
        case Store::Insert::evicted:
            metrics_->evictions.inc(c.worker, {c.server, success ? metrics::kSuccess : metrics::kDenial});
            break;
        case Store::Insert::busy: break;
        case Store::Insert::no_room: break;  // memory budget used up (store.hpp)
    }
}

int64_t Cache::classify_and_store(Query& q, Counters& c) {
    if (!q.written || q.resp_len < wire::kHeaderLen) return -1;

    // One walk of the reply (usually made by forward already) answers
    // everything below.
    wire::ReplyView& reply = q.reply();
    const ReplyType t = reply.typify(clock_.wall_s());
    const bool has_key = !(wire::flags(q.resp) & wire::kTC) && t != ReplyType::other_error &&
                         t != ReplyType::meta && t != ReplyType::update;
    const int64_t msg_ttl = reply.minimal_ttl(t);
    int64_t duration_ns;
    if (t == ReplyType::name_error || t == ReplyType::no_data)
        duration_ns = clamp_ttl(msg_ttl, cfg_.minnttl_s, cfg_.nttl_s) * kSecond;
    else if (t == ReplyType::server_error)
        duration_ns = cfg_.failttl_ns;
    else
        duration_ns = clamp_ttl(msg_ttl, cfg_.minpttl_s, cfg_.pttl_s) * kSecond;

    // Upstream EDNS never reaches the client through the cache; the
    // finisher attaches the client's own OPT.
    q.resp_len = reply.strip_opt(q.resp);
    if (has_key && duration_ns > 0) {
        // CoreDNS 1.12 request.Match: name and type, not the class.
        if (reply.answers(q.info, false)) store_reply(q, reply, t, duration_ns, c);
        else metrics_->drops.inc(c.worker, {c.server});
    }
    return duration_ns;
}

void Cache::response(Query& q) {
    const uint64_t data = q.data();
    const uint64_t state = data & kStateMask;
    if (state == kPass) return;
    // CoreDNS's cache hands everything below it a ResponseWriter of its own,
    // and the metrics plugin labels a reply with the first plugin on the
    // write's call stack: a reply written below the cache (a miss, a stale
    // verify) counts as plugin="cache", as its hits do.
    if (state != kRefresh && q.written) q.writer = name();
    Counters& c = counters(q);
    if (state == kVerify) {
        const bool usable = q.written && q.resp_len >= wire::kHeaderLen &&
                            (wire::rcode(q.resp) == wire::kNoError || wire::rcode(q.resp) == wire::kNXDomain);
        if (!usable) {
            // The refresh failed: serve the stale entry (CoreDNS ignores the
            // refresh's error, so nothing is logged for it).
            const bool shed = q.shed;
            if (write_expired(q, cfg_.stale_up_to_ns / kSecond)) {
                metrics_->served_stale.inc(c.worker, {c.server});
                if (shed) metrics_->shed_stale.inc(c.worker, {c.server});
                q.error.clear();
                q.error_plugin = {};
            }
            return;
        }
    }
    if (state == kMiss && !q.written && q.shed) {
        // Refused below by a bound on in-flight work (it never asked
        // upstream): an expired entry, as serve_stale would answer it, beats
        // the SERVFAIL. Not stored again.
        if (write_expired(q, shed_window_s())) {
            metrics_->served_stale.inc(c.worker, {c.server});
            metrics_->shed_stale.inc(c.worker, {c.server});
            q.error.clear();
            q.error_plugin = {};
        }
        return;
    }
    const int64_t duration_ns = classify_and_store(q, c);
    if (duration_ns < 0) return;
    if (state == kRefresh) {
        if ((data & kInheritHits) && (data >> 32)) {
            // CoreDNS doPrefetch: the new item keeps the old hit count.
            const Key k = key_of(q);
            const int64_t now = clock_.now_ns();
            auto reset = [&](Entry& e) {
                e.freq_last_ns = now;
                e.freq_hits = uint32_t(data >> 32);
                return true;
            };
            if (!stores_->denial.visit(k, reset)) stores_->success.visit(k, reset);
        }
        return;
    }
    // Every record leaves with the computed TTL, on the miss path too.
    q.reply().set_all_ttls(q.resp, uint32_t(duration_ns / kSecond));
    if (!q.info.do_bit() && !(q.info.flags & wire::kAD)) wire::set_flag(q.resp, wire::kAD, false);
}

// ---- RFC 8767 stale mode ----

// One query for an expired entry: the upstream's answer races the
// client-response timer. Lives on the query's worker thread.
struct Cache::StaleRace {
    std::unique_ptr<OwnedQuery> client;  // null once answered
    std::unique_ptr<boost::asio::steady_timer> timer;
    std::shared_ptr<const void> keepalive;  // this plugin's configuration, while the timer may fire
};

void Cache::query_async(std::unique_ptr<OwnedQuery> q) {
    auto race = std::make_shared<StaleRace>();
    Query& ref = *q;
    race->keepalive = q->keepalive;
    race->client = std::move(q);
    if (ref.worker) {
        race->timer = std::make_unique<boost::asio::steady_timer>(
            ref.worker->io(), std::chrono::nanoseconds(cfg_.rfc_client_timeout_ns));
        race->timer->async_wait([this, race](const boost::system::error_code& ec) {
            if (ec || !race->client) return;
            // The client waited long enough: the stale entry now; the
            // upstream's answer, when it comes, only refreshes the store.
            std::unique_ptr<OwnedQuery> client = std::move(race->client);
            if (!write_stale(*client)) {
                race->client = std::move(client);  // evicted meanwhile: wait for the upstream
                return;
            }
            Counters& c = counters(*client);
            metrics_->served_stale.inc(c.worker, {c.server});
            metrics_->stale_outcomes.inc(c.worker, {c.server, metrics::kStaleClientTimeout});
            client->data() = kPass;
            resume(std::move(client), Step::done);
        });
    }
    // The callback may run before run_below returns (a synchronous
    // failure): nothing below touches `ref` after the call.
    run_below(ref, [this, race](OwnedQuery& sub) { finish_race(race, &sub); });
}

void Cache::finish_race(const std::shared_ptr<StaleRace>& race, OwnedQuery* sub) {
    if (race->timer) race->timer->cancel();
    const bool usable = sub->written && sub->resp_len >= wire::kHeaderLen &&
                        (wire::rcode(sub->resp) == wire::kNoError || wire::rcode(sub->resp) == wire::kNXDomain);
    Counters& c = counters(*sub);
    if (!race->client) {
        // Answered stale already: the late answer refreshes the entry, a
        // late failure starts the failure-recheck time.
        if (usable) classify_and_store(*sub, c);
        else mark_failed(*sub);
        return;
    }
    std::unique_ptr<OwnedQuery> client = std::move(race->client);
    if (usable && sub->resp_len <= client->resp_cap) {
        // In time: the fresh answer, stored and re-TTLed by response() as a miss.
        std::memcpy(client->resp, sub->resp, sub->resp_len);
        client->set_written(sub->resp_len, sub->writer);
        client->data() = kMiss;
        metrics_->stale_outcomes.inc(c.worker, {c.server, metrics::kStaleRefreshed});
        resume(std::move(client), Step::done);
        return;
    }
    mark_failed(*sub);
    if (write_stale(*client)) {
        metrics_->served_stale.inc(c.worker, {c.server});
        if (sub->shed) metrics_->shed_stale.inc(c.worker, {c.server});
        metrics_->stale_outcomes.inc(c.worker, {c.server, metrics::kStaleUpstreamFailed});
        client->data() = kPass;
        resume(std::move(client), Step::done);
        return;
    }
    // No entry left to answer with: the upstream's outcome, as a miss.
    if (sub->written && sub->resp_len <= client->resp_cap) {
        std::memcpy(client->resp, sub->resp, sub->resp_len);
        client->set_written(sub->resp_len, sub->writer);
    } else {
        client->fail(sub->rcode, sub->error, sub->error_plugin);
    }
    client->data() = kMiss;
    resume(std::move(client), Step::done);
}

bool Cache::write_stale(Query& q) {
    const Key k = key_of(q);
    const int64_t now = clock_.now_ns();
    const size_t qlen = size_t(q.info.question_end) - wire::kHeaderLen;
    auto serve = [&](Entry& e) {
        const int64_t ttl = e.remaining(now);
        if (!(ttl > 0 || -ttl < stale_window_s_)) return false;
        if (e.msg_len > q.resp_cap || size_t(e.name_len) + 4 != qlen) return false;
        // Refreshed meanwhile (another query's answer): fresh.
        if (ttl > 0) write_hit(q, e, uint32_t(ttl), false);
        else write_hit(q, e, kRfc8767StaleTtl, true);
        return true;
    };
    return stores_->denial.visit(k, serve) || stores_->success.visit(k, serve);
}

bool Cache::write_expired(Query& q, int64_t window_s) {
    const Key k = key_of(q);
    const int64_t now = clock_.now_ns();
    const size_t qlen = size_t(q.info.question_end) - wire::kHeaderLen;
    auto serve = [&](Entry& e) {
        const int64_t ttl = e.remaining(now);
        if (!(ttl > 0 || -ttl < window_s)) return false;
        if (e.msg_len > q.resp_cap || size_t(e.name_len) + 4 != qlen) return false;
        write_hit(q, e, cfg_.keepttl ? e.ttl_s : (ttl > 0 ? uint32_t(ttl) : 0u), true);
        return true;
    };
    return stores_->denial.visit(k, serve) || stores_->success.visit(k, serve);
}

int64_t Cache::shed_window_s() const {
    constexpr int64_t kServeStaleDefaultS = 3600;  // serve_stale's DURATION default (CoreDNS)
    return stale_window_s_ > 0 ? stale_window_s_ : kServeStaleDefaultS;
}

void Cache::mark_failed(Query& q) {
    const Key k = key_of(q);
    const int64_t until = clock_.now_ns() + cfg_.rfc_recheck_ns;
    auto mark = [&](Entry& e) {
        e.stale_recheck_ns = until;
        return true;
    };
    if (!stores_->denial.visit(k, mark)) stores_->success.visit(k, mark);
}

// ---- metrics ----

Cache::Totals Cache::totals() const {
    Totals t;
    const auto& m = *metrics_;
    for (int i = 0; i < int(m.server.size()); ++i) {
        t.requests += m.requests.value({i});
        t.hits_success += m.hits.value({i, metrics::kSuccess});
        t.hits_denial += m.hits.value({i, metrics::kDenial});
        t.misses += m.misses.value({i});
        t.prefetch += m.prefetch.value({i});
        t.drops += m.drops.value({i});
        t.served_stale += m.served_stale.value({i});
        t.shed_stale += m.shed_stale.value({i});
        t.evictions_success += m.evictions.value({i, metrics::kSuccess});
        t.evictions_denial += m.evictions.value({i, metrics::kDenial});
        for (int o = 0; o < 4; ++o) t.stale_outcomes[size_t(o)] += m.stale_outcomes.value({i, o});
    }
    return t;
}

void Cache::register_metrics() {
    auto families = metrics_->all();
    if (cfg_.rfc_max_stale_ns > 0) families.push_back(&metrics_->stale_outcomes);
    metrics_handle_ = metrics::export_families(families);
}

}  // namespace dnscore::plugins::cache
