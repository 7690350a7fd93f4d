#pragma once
// prometheus: counts every exchange of its server block in the core DNS
// metrics (core/dns_metrics.hpp) and serves /metrics (CoreDNS
// plugin/metrics). query() only stamps the start time; response() counts.
#include <array>
#include <string>
#include <vector>

#include "core/plugin.hpp"
#include "core/wire/wire.hpp"
#include "core/zones.hpp"
#include "core/worker_local.hpp"

namespace dnscore::plugins {

class Prometheus final : public Plugin {
public:
    // `zones`: the block's zones; the `zone` label is the longest of them
    // containing the query name ("." when none does).
    explicit Prometheus(const std::vector<std::string>& zones);
    std::string_view name() const override { return "prometheus"; }
    Step query(Query& q) override;
    void response(Query& q) override;

    // Index into zones() of the zone label for this query name (no allocation).
    size_t zone_index(const wire::QueryInfo& info) const;
    const std::vector<std::string>& zones() const { return zones_; }

private:
    // Per worker: the label slots of the sites seen so far (one entry per
    // site of this block on each listener; filled on first use).
    struct SiteSlots {
        const Site* site = nullptr;
        std::vector<int> slots;  // by zone index
    };
    struct WorkerCache {
        std::array<SiteSlots, 16> sites;
        size_t next = 0;
    };
    const std::vector<int>& slots_for(Query& q);

    std::vector<std::string> zones_;
    ZoneSet zone_set_;  // zones_ as wire names
    size_t root_ = 0;  // index of "."
    WorkerLocal<WorkerCache> cache_;
};

}  // namespace dnscore::plugins
