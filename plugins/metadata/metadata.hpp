#pragma once
// metadata: lets plugins publish values for the rest of the exchange (CoreDNS
// plugin/metadata). Its handler switches the exchange's storage on
// (core/metadata.hpp); forward publishes forward/upstream, log prints
// {/LABEL}.
#include <string>
#include <vector>

#include "core/plugin.hpp"

namespace dnscore::plugins {

class Metadata final : public Plugin {
public:
    explicit Metadata(std::vector<std::string> zones) : zones_(std::move(zones)) {}
    std::string_view name() const override { return "metadata"; }
    Step query(Query& q) override;
    const std::vector<std::string>& zones() const { return zones_; }

private:
    // CoreDNS calls its Providers only for names in these zones; none of the
    // plugins dnscore has is a Provider (forward publishes with
    // SetValueFunc, which needs only the map), so they are kept for -validate
    // and for the day one is.
    std::vector<std::string> zones_;
};

}  // namespace dnscore::plugins
