#include "core/dns_metrics.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>
#include <tuple>
#include <vector>

#include "core/config.hpp"
#include "core/metrics.hpp"
#include "core/query.hpp"
#include "core/wire/wire.hpp"
#include "core/host.hpp"
#include "core/worker_local.hpp"

namespace dnscore::metrics::dns {

namespace {

using Cell = std::atomic<uint64_t>;

// CoreDNS 1.12 vars.monitorType, sorted; index kTypes.size() = "other".
constexpr std::array<std::pair<uint16_t, std::string_view>, 18> kTypes{{
    {wire::kTypeA, "A"},        {wire::kTypeAAAA, "AAAA"},   {wire::kTypeANY, "ANY"},
    {wire::kTypeAXFR, "AXFR"},  {wire::kTypeCNAME, "CNAME"}, {wire::kTypeDNSKEY, "DNSKEY"},
    {wire::kTypeDS, "DS"},      {wire::kTypeHTTPS, "HTTPS"}, {wire::kTypeIXFR, "IXFR"},
    {wire::kTypeMX, "MX"},      {wire::kTypeNS, "NS"},       {wire::kTypeNSEC, "NSEC"},
    {wire::kTypeNSEC3, "NSEC3"}, {wire::kTypePTR, "PTR"},    {wire::kTypeRRSIG, "RRSIG"},
    {wire::kTypeSOA, "SOA"},    {wire::kTypeSRV, "SRV"},     {wire::kTypeTXT, "TXT"},
}};
constexpr int kTypeSlots = int(kTypes.size()) + 1;

// miekg/dns RcodeToString for 0..23 (16 prints as BADSIG); others RCODE<n>.
constexpr std::array<std::string_view, 24> kRcodes{
    "NOERROR", "FORMERR",  "SERVFAIL", "NXDOMAIN", "NOTIMP",   "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH",  "NOTZONE",  "DSOTYPENI", "RCODE12", "RCODE13", "RCODE14",  "RCODE15",
    "BADSIG",  "BADKEY",   "BADTIME",  "BADMODE",  "BADNAME",  "BADALG",  "BADTRUNC", "BADCOOKIE"};
constexpr int kRcodeSlots = int(kRcodes.size()) + 1;  // last: any other value

constexpr std::array<double, 16> kDurationBuckets{0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032,
                                                  0.064,   0.128,  0.256, 0.512, 1.024, 2.048, 4.096, 8.192};
constexpr std::array<double, 14> kSizeBuckets{0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16000, 32000, 48000, 64000};

template <size_t N>
struct Hist {
    std::array<Cell, N + 1> counts{};
    std::atomic<double> sum{0};
    void observe(const std::array<double, N>& bounds, double v) {
        size_t i = 0;
        while (i < N && v > bounds[i]) ++i;
        bump(counts[i]);
        bump(sum, v);
    }
};

// One (server, zone) pair on one worker.
struct SlotCounters {
    std::array<Cell, 2 * 2 * kTypeSlots> requests{};  // [proto][family-1][type]
    Cell do_requests{0};
    std::array<Cell, kRcodeSlots * kPluginNames> responses{};  // [rcode][plugin]
    std::atomic<int> other_rcode{0};  // the last rcode counted in the overflow column
    Hist<kDurationBuckets.size()> duration;
    std::array<Hist<kSizeBuckets.size()>, 2> req_size, resp_size;  // [proto]
};

struct WorkerSlots {
    std::array<std::atomic<SlotCounters*>, kMaxSlots> slots{};
    // Listener label -> dropped slot, so the server's REFUSED path takes no lock.
    struct DroppedCache {
        char label[96];
        uint8_t len = 0;
        int slot = -1;
    };
    std::array<DroppedCache, 8> dropped{};
    ~WorkerSlots() {
        for (auto& s : slots) delete s.load();
    }
};

struct SlotLabel {
    std::string server, zone;
};

struct State {
    std::mutex mu;
    std::deque<SlotLabel> labels;  // index = slot
    std::atomic<int> count{0};
    // Interned plugin label values; [0] = "".
    std::array<std::array<char, 32>, kPluginNames> plugin_names{};
    std::array<uint8_t, kPluginNames> plugin_len{};
    std::atomic<int> plugin_count{1};
    std::set<std::tuple<std::string, std::string, std::string>> enabled;
    WorkerLocal<WorkerSlots> workers;
    std::atomic<bool> registered{false};
};

State& state() {
    static State* s = new State;  // never destroyed: workers may count during exit
    return *s;
}

int type_index(unsigned qtype) {
    for (size_t i = 0; i < kTypes.size(); ++i)
        if (kTypes[i].first == qtype) return int(i);
    return int(kTypes.size());
}

int rcode_index(int rc) { return rc >= 0 && rc < int(kRcodes.size()) ? rc : int(kRcodes.size()); }

int plugin_index(std::string_view name) {
    if (name.empty()) return 0;
    auto& s = state();
    const int n = s.plugin_count.load(std::memory_order_acquire);
    for (int i = 1; i < n; ++i)
        if (s.plugin_len[size_t(i)] == name.size() &&
            std::memcmp(s.plugin_names[size_t(i)].data(), name.data(), name.size()) == 0)
            return i;
    // First sight of this writer (once per plugin name per process).
    if (name.size() >= 32) return 0;
    std::lock_guard lk(s.mu);
    const int m = s.plugin_count.load(std::memory_order_relaxed);
    for (int i = 1; i < m; ++i)
        if (s.plugin_len[size_t(i)] == name.size() &&
            std::memcmp(s.plugin_names[size_t(i)].data(), name.data(), name.size()) == 0)
            return i;
    if (m >= kPluginNames) return 0;
    std::memcpy(s.plugin_names[size_t(m)].data(), name.data(), name.size());
    s.plugin_len[size_t(m)] = uint8_t(name.size());
    s.plugin_count.store(m + 1, std::memory_order_release);
    return m;
}

SlotCounters& counters(int worker, int slot) {
    auto& ws = state().workers.get(worker);
    SlotCounters* c = ws.slots[size_t(slot)].load(std::memory_order_acquire);
    if (!c) {
        c = new SlotCounters;  // once per slot per worker
        ws.slots[size_t(slot)].store(c, std::memory_order_release);
    }
    return *c;
}

uint64_t get(const Cell& c) { return c.load(std::memory_order_relaxed); }

void collect(std::vector<Family>& out) {
    auto& s = state();
    std::vector<SlotLabel> labels;
    std::set<std::tuple<std::string, std::string, std::string>> enabled;
    {
        std::lock_guard lk(s.mu);
        labels.assign(s.labels.begin(), s.labels.end());
        enabled = s.enabled;
    }
    const int nplugins = s.plugin_count.load(std::memory_order_acquire);

    auto requests = counter_family("coredns_dns_requests_total", "Counter of DNS requests made per zone, protocol and family.");
    auto dos = counter_family("coredns_dns_do_requests_total", "Counter of DNS requests with DO bit set per zone.");
    auto responses = counter_family("coredns_dns_responses_total", "Counter of response status codes.");
    auto duration = histogram_family("coredns_dns_request_duration_seconds",
                                     "Histogram of the time (in seconds) each request took per zone.");
    auto req_size = histogram_family("coredns_dns_request_size_bytes",
                                     "Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.");
    auto resp_size = histogram_family("coredns_dns_response_size_bytes", "Size of the returned response in bytes.");
    const std::vector<double> dur_bounds(kDurationBuckets.begin(), kDurationBuckets.end());
    const std::vector<double> size_bounds(kSizeBuckets.begin(), kSizeBuckets.end());
    const char* protos[2] = {"udp", "tcp"};

    for (size_t i = 0; i < labels.size(); ++i) {
        // Sum this slot over the workers that used it.
        std::vector<uint64_t> req(2 * 2 * kTypeSlots, 0), resp(size_t(kRcodeSlots) * kPluginNames, 0);
        std::vector<uint64_t> dur(kDurationBuckets.size() + 1, 0);
        std::vector<std::vector<uint64_t>> rqs(2, std::vector<uint64_t>(kSizeBuckets.size() + 1, 0)), rps = rqs;
        double dur_sum = 0, rq_sum[2] = {0, 0}, rp_sum[2] = {0, 0};
        uint64_t do_count = 0;
        int other_rcode = 0;
        bool used = false;
        s.workers.for_each([&](const WorkerSlots& ws) {
            const SlotCounters* c = ws.slots[i].load(std::memory_order_acquire);
            if (!c) return;
            used = true;
            for (size_t k = 0; k < req.size(); ++k) req[k] += get(c->requests[k]);
            for (size_t k = 0; k < resp.size(); ++k) resp[k] += get(c->responses[k]);
            do_count += get(c->do_requests);
            for (size_t k = 0; k < dur.size(); ++k) dur[k] += get(c->duration.counts[k]);
            dur_sum += c->duration.sum.load(std::memory_order_relaxed);
            for (int p = 0; p < 2; ++p) {
                for (size_t k = 0; k < rqs[size_t(p)].size(); ++k) {
                    rqs[size_t(p)][k] += get(c->req_size[size_t(p)].counts[k]);
                    rps[size_t(p)][k] += get(c->resp_size[size_t(p)].counts[k]);
                }
                rq_sum[p] += c->req_size[size_t(p)].sum.load(std::memory_order_relaxed);
                rp_sum[p] += c->resp_size[size_t(p)].sum.load(std::memory_order_relaxed);
            }
            if (int o = c->other_rcode.load(std::memory_order_relaxed)) other_rcode = o;
        });
        if (!used) continue;
        const std::string& server = labels[i].server;
        const std::string& zone = labels[i].zone;
        for (int p = 0; p < 2; ++p)
            for (int f = 0; f < 2; ++f)
                for (int t = 0; t < kTypeSlots; ++t) {
                    const uint64_t v = req[size_t((p * 2 + f) * kTypeSlots + t)];
                    if (!v) continue;
                    const std::string type(t < int(kTypes.size()) ? kTypes[size_t(t)].second : "other");
                    add_counter(requests, {{"server", server}, {"zone", zone}, {"view", ""}, {"proto", protos[p]},
                                           {"family", std::to_string(f + 1)}, {"type", type}},
                                double(v));
                }
        if (do_count) add_counter(dos, {{"server", server}, {"zone", zone}, {"view", ""}}, double(do_count));
        for (int r = 0; r < kRcodeSlots; ++r)
            for (int pl = 0; pl < nplugins; ++pl) {
                const uint64_t v = resp[size_t(r * kPluginNames + pl)];
                if (!v) continue;
                const std::string rcode = r < int(kRcodes.size()) ? std::string(kRcodes[size_t(r)])
                                                                   : "RCODE" + std::to_string(other_rcode);
                const std::string plugin(s.plugin_names[size_t(pl)].data(), s.plugin_len[size_t(pl)]);
                add_counter(responses, {{"server", server}, {"zone", zone}, {"view", ""}, {"rcode", rcode}, {"plugin", plugin}},
                            double(v));
            }
        uint64_t total = 0;
        for (auto v : dur) total += v;
        if (total) add_histogram(duration, {{"server", server}, {"zone", zone}, {"view", ""}}, dur_bounds, dur, dur_sum);
        for (int p = 0; p < 2; ++p) {
            uint64_t n = 0;
            for (auto v : rqs[size_t(p)]) n += v;
            if (n)
                add_histogram(req_size, {{"server", server}, {"zone", zone}, {"view", ""}, {"proto", protos[p]}},
                              size_bounds, rqs[size_t(p)], rq_sum[p]);
            n = 0;
            for (auto v : rps[size_t(p)]) n += v;
            if (n)
                add_histogram(resp_size, {{"server", server}, {"zone", zone}, {"view", ""}, {"proto", protos[p]}},
                              size_bounds, rps[size_t(p)], rp_sum[p]);
        }
    }
    auto en = gauge_family("coredns_plugin_enabled",
                           "A metric that indicates whether a plugin is enabled on per server and zone basis.");
    for (const auto& [server, zone, name] : enabled)
        add_gauge(en, {{"server", server}, {"zone", zone}, {"view", ""}, {"name", name}}, 1);
    for (auto* f : {&requests, &dos, &responses, &duration, &req_size, &resp_size, &en}) out.push_back(std::move(*f));
}

}  // namespace

std::string_view type_label(unsigned qtype) {
    const int i = type_index(qtype);
    return i < int(kTypes.size()) ? kTypes[size_t(i)].second : "other";
}

void ensure_registered() {
    auto& s = state();
    if (s.registered.exchange(true)) return;
    Registry::global().add(collect);
}

int slot(std::string_view server, std::string_view zone) {
    ensure_registered();  // before s.mu: collect() takes the registry lock, then s.mu
    auto& s = state();
    std::lock_guard lk(s.mu);
    for (size_t i = 0; i < s.labels.size(); ++i)
        if (s.labels[i].server == server && s.labels[i].zone == zone) return int(i);
    if (s.labels.size() >= size_t(kMaxSlots)) return -1;
    s.labels.push_back({std::string(server), std::string(zone)});
    s.count.store(int(s.labels.size()), std::memory_order_release);
    return int(s.labels.size() - 1);
}

void report(int worker, int slot, const Query& q, int rcode, std::string_view plugin, size_t resp_size,
            double seconds) {
    if (slot < 0 || worker < 0 || worker >= kMaxWorkers) return;
    SlotCounters& c = counters(worker, slot);
    const int p = q.tcp() ? 1 : 0;
    const int f = q.client.family_label() == 2 ? 1 : 0;
    bump(c.requests[size_t((p * 2 + f) * kTypeSlots + type_index(q.info.qtype))]);
    if (q.info.do_bit()) bump(c.do_requests);
    const int r = rcode_index(rcode);
    if (r == int(kRcodes.size())) c.other_rcode.store(rcode, std::memory_order_relaxed);
    bump(c.responses[size_t(r * kPluginNames + plugin_index(plugin))]);
    c.duration.observe(kDurationBuckets, seconds);
    c.req_size[size_t(p)].observe(kSizeBuckets, double(q.req_len));
    c.resp_size[size_t(p)].observe(kSizeBuckets, double(resp_size));
}

void report_dropped(const Query& q, const Listener* listener, size_t resp_size) {
    if (!listener || !q.worker) return;
    const int w = q.worker->index();
    auto& ws = state().workers.get(w);
    int sl = -1;
    const std::string& label = listener->label;
    for (auto& e : ws.dropped) {
        if (e.slot >= 0 && e.len == label.size() && std::memcmp(e.label, label.data(), e.len) == 0) {
            sl = e.slot;
            break;
        }
    }
    if (sl < 0) {
        // First dropped reply on this listener for this worker.
        sl = slot(label, "dropped");
        if (label.size() < sizeof(WorkerSlots::DroppedCache::label)) {
            for (auto& e : ws.dropped) {
                if (e.slot >= 0) continue;
                std::memcpy(e.label, label.data(), label.size());
                e.len = uint8_t(label.size());
                e.slot = sl;
                break;
            }
        }
    }
    const double seconds =
        std::chrono::duration<double>(Query::Clock::now() - q.start).count();
    report(w, sl, q, wire::kRefused, {}, resp_size, seconds);
}

void mark_enabled(const ServerSet& set) {
    auto& s = state();
    std::lock_guard lk(s.mu);
    for (const auto& l : set.listeners)
        for (const auto& site : l.sites)
            for (const Plugin* p : site.block->chain)
                s.enabled.emplace(site.server, site.zone, std::string(p->name()));
}

}  // namespace dnscore::metrics::dns
