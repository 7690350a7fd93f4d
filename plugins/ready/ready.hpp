#pragma once
// ready: GET /ready answers 200 "OK" once every plugin of the blocks that
// enable ready reports ready (Plugin::ready), else 503 with the sorted,
// comma-separated names of those that do not (CoreDNS plugin/ready).
#include <string>
#include <vector>

#include "corefile/setup.hpp"

namespace dnscore::plugins {

struct ReadyConfig {
    std::string address = ":8181";
    bool until_ready = true;  // once ready, stop polling (CoreDNS default)
};

ReadyConfig parse_ready(parser::Dispenser& d);

// Sorted, de-duplicated names of the plugins of `blocks` that are not ready.
std::vector<std::string> not_ready(const std::vector<const Block*>& blocks);

}  // namespace dnscore::plugins
