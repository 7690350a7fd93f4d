#include "core/dns_metrics.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "core/config.hpp"
#include "core/metrics.hpp"
#include "core/query.hpp"
#include "core/wire/wire.hpp"
#include "core/host.hpp"
#include "core/worker_local.hpp"

namespace dnscore::metrics::dns {

namespace {

// CoreDNS 1.12 vars.monitorType, sorted; index kTypes.size() = "other".
constexpr std::array<std::pair<uint16_t, std::string_view>, 18> kTypes{{
    {wire::kTypeA, "A"},        {wire::kTypeAAAA, "AAAA"},   {wire::kTypeANY, "ANY"},
    {wire::kTypeAXFR, "AXFR"},  {wire::kTypeCNAME, "CNAME"}, {wire::kTypeDNSKEY, "DNSKEY"},
    {wire::kTypeDS, "DS"},      {wire::kTypeHTTPS, "HTTPS"}, {wire::kTypeIXFR, "IXFR"},
    {wire::kTypeMX, "MX"},      {wire::kTypeNS, "NS"},       {wire::kTypeNSEC, "NSEC"},
    {wire::kTypeNSEC3, "NSEC3"}, {wire::kTypePTR, "PTR"},    {wire::kTypeRRSIG, "RRSIG"},
    {wire::kTypeSOA, "SOA"},    {wire::kTypeSRV, "SRV"},     {wire::kTypeTXT, "TXT"},
}};

// miekg/dns RcodeToString for 0..23 (16 prints as BADSIG); others RCODE<n>.
constexpr std::array<std::string_view, 24> kRcodes{
    "NOERROR", "FORMERR",  "SERVFAIL", "NXDOMAIN", "NOTIMP",   "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH",  "NOTZONE",  "DSOTYPENI", "RCODE12", "RCODE13", "RCODE14",  "RCODE15",
    "BADSIG",  "BADKEY",   "BADTIME",  "BADMODE",  "BADNAME",  "BADALG",  "BADTRUNC", "BADCOOKIE"};

struct State {
    std::atomic<bool> registered{false};
    // Listener label -> dropped slot per worker, so the server's REFUSED
    // path takes no lock.
    struct DroppedCache {
        char label[96];
        uint8_t len = 0;
        int slot = -1;
    };
    struct WorkerDropped {
        std::array<DroppedCache, 8> entries{};
    };
    WorkerLocal<WorkerDropped> dropped;
    // The rcode behind each "RCODE<n>" label index past the named ones (0 =
    // unused: 0 is named), so a repeat is found without formatting.
    std::array<std::atomic<int>, kRcodeNames> rcode_values{};
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

std::vector<std::string> type_values() {
    std::vector<std::string> v;
    for (const auto& t : kTypes) v.emplace_back(t.second);
    v.emplace_back("other");
    return v;
}

// Named rcodes are their own index; another value is interned as
// "RCODE<n>" on first sight (formatting and a lock, once per value).
int rcode_index(int rc) {
    if (rc >= 0 && rc < int(kRcodes.size())) return rc;
    auto& values = state().rcode_values;
    for (size_t i = kRcodes.size(); i < values.size(); ++i)
        if (values[i].load(std::memory_order_relaxed) == rc) return int(i);
    char buf[24];
    const int n = std::snprintf(buf, sizeof buf, "RCODE%d", rc);
    const int i = families().rcode.intern({std::string_view(buf, size_t(n > 0 ? n : 0))});
    if (i != kOverflow) values[size_t(i)].store(rc, std::memory_order_relaxed);
    return i;
}

// The writer's label index: a scan of the names seen so far; the first
// sight of a writer (once per plugin name per process) takes the lock.
int plugin_index(std::string_view name) {
    auto& f = families();
    const int i = f.plugin.find({name});
    return i != kOverflow ? i : f.plugin.intern({name});
}

}  // namespace

Families::Families()
    : proto({"proto"}, 2, {"udp", "tcp"}),
      family({"family"}, 2, {"1", "2"}),
      type({"type"}, 0, type_values()),
      rcode({"rcode"}, kRcodeNames, {kRcodes.begin(), kRcodes.end()}),
      plugin({"plugin"}, kPluginNames, {""}) {}

Families& families() {
    static Families* f = new Families;  // never destroyed: workers may count during exit
    return *f;
}

namespace {
}  // namespace

std::string_view type_label(unsigned qtype) {
    const int i = type_index(qtype);
    return i < int(kTypes.size()) ? kTypes[size_t(i)].second : "other";
}

void ensure_registered() {
    auto& s = state();
    if (s.registered.exchange(true)) return;
    auto& f = families();
    export_families({&f.requests, &f.do_requests, &f.responses, &f.duration, &f.request_size, &f.response_size,
                     &f.plugin_enabled});
}

int slot(std::string_view server, std::string_view zone) {
    ensure_registered();
    return families().server_zone.intern({server, zone});
}

void report(int worker, int slot, const Query& q, int rcode, std::string_view plugin, size_t resp_size,
            double seconds) {
    if (slot < 0 || worker < 0 || worker >= kMaxWorkers) return;
    auto& f = families();
    const int p = q.tcp() ? 1 : 0;
    f.requests.inc(worker, {slot, p, q.client.family_label() == 2 ? 1 : 0, type_index(q.info.qtype)});
    if (q.info.do_bit()) f.do_requests.inc(worker, {slot});
    f.responses.inc(worker, {slot, rcode_index(rcode), plugin_index(plugin)});
    f.duration.observe(worker, {slot}, seconds);
    f.request_size.observe(worker, {slot, p}, double(q.req_len));
    f.response_size.observe(worker, {slot, p}, double(resp_size));
}

void report_dropped(const Query& q, const Listener* listener, size_t resp_size) {
    if (!listener || !q.worker) return;
    const int w = q.worker->index();
    auto& cache = state().dropped.get(w).entries;
    int sl = -1;
    const std::string& label = listener->label;
    for (auto& e : cache) {
        if (e.slot >= 0 && e.len == label.size() && std::memcmp(e.label, label.data(), e.len) == 0) {
            sl = e.slot;
            break;
        }
    }
    if (sl < 0) {
        // First dropped reply on this listener for this worker.
        sl = slot(label, "dropped");
        if (label.size() < sizeof(State::DroppedCache::label)) {
            for (auto& e : cache) {
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
    ensure_registered();
    auto& f = families();
    for (const auto& l : set.listeners)
        for (const auto& site : l.sites)
            for (const Plugin* p : site.block->chain)
                f.plugin_enabled.set({f.enabled.intern({site.server, site.zone, p->name()})}, 1);
}

}  // namespace dnscore::metrics::dns
