#pragma once
// health: answers GET /health with 200 "OK" while the process runs, checks
// itself every second (coredns_health_request_*), and on exit keeps DNS and
// /health serving for the lameduck duration (CoreDNS plugin/health).
#include <chrono>
#include <memory>
#include <string>

#include "corefile/setup.hpp"

namespace dnscore::plugins {

struct HealthConfig {
    std::string address = ":8080";
    std::chrono::nanoseconds lameduck{0};
};

// Parses every `health` line of a block (the last one wins).
HealthConfig parse_health(parser::Dispenser& d);

}  // namespace dnscore::plugins
