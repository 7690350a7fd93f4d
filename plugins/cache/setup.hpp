#pragma once
#include "plugins/cache/cache.hpp"

namespace dnscore::corefile {
struct SetupContext;
}

namespace dnscore::plugins {
// Parses every `cache` line of the block (CoreDNS 1.12 cacheParse); throws
// with CoreDNS's texts.
cache::Config parse_cache(corefile::SetupContext& c);
void setup_cache(corefile::SetupContext& c);
}  // namespace dnscore::plugins
