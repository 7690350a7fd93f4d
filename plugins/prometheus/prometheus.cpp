#include "plugins/prometheus/prometheus.hpp"

#include <algorithm>
#include <chrono>

#include "core/dns_metrics.hpp"
#include "core/config.hpp"
#include "core/host.hpp"

namespace dnscore::plugins {

namespace {
uint64_t now_ns() {
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(Query::Clock::now().time_since_epoch()).count());
}
}  // namespace

Prometheus::Prometheus(const std::vector<std::string>& zones) {
    for (const auto& z : zones)
        if (std::find(zones_.begin(), zones_.end(), z) == zones_.end()) zones_.push_back(z);
    auto root = std::find(zones_.begin(), zones_.end(), ".");
    if (root == zones_.end()) {
        zones_.push_back(".");
        root = std::prev(zones_.end());
    }
    root_ = size_t(root - zones_.begin());
    for (const auto& z : zones_) zone_set_.add(z);
    metrics::dns::ensure_registered();
}

size_t Prometheus::zone_index(const wire::QueryInfo& info) const {
    const size_t i = zone_set_.matches(info.name, info.name_len);
    return i == ZoneSet::npos ? root_ : i;
}

const std::vector<int>& Prometheus::slots_for(Query& q) {
    WorkerCache& c = cache_.get(q.worker->index());
    for (const auto& e : c.sites)
        if (e.site == q.site) return e.slots;
    // First query of this site on this worker: resolve the label slots once.
    SiteSlots& e = c.sites[c.next];
    c.next = (c.next + 1) % c.sites.size();
    e.site = q.site;
    e.slots.clear();
    for (const auto& z : zones_) e.slots.push_back(metrics::dns::slot(q.site->server, z));
    return e.slots;
}

Step Prometheus::query(Query& q) {
    q.data() = now_ns();
    return Step::next;
}

void Prometheus::response(Query& q) {
    if (!q.worker || !q.site) return;
    const double seconds = double(now_ns() - q.data()) / 1e9;
    const int slot = slots_for(q)[zone_index(q.info)];
    // CoreDNS: the written reply's rcode, or the returned one when nothing
    // was written (the server writes it; size 0, plugin "").
    const int rcode = q.written ? q.rcode : (is_unwritten_rcode(q.rcode) ? q.rcode : 0);
    metrics::dns::report(q.worker->index(), slot, q, rcode, q.written ? q.writer : std::string_view(),
                         q.written ? q.resp_len : 0, seconds);
}

}  // namespace dnscore::plugins
