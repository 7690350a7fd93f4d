#pragma once
// THE directive order table: CoreDNS 1.12's plugin.cfg order restricted to the
// plugins dnscore ships. The chain follows this order, not the Corefile's.
#include <span>
#include <string>
#include <vector>

#include "corefile/setup.hpp"

namespace dnscore::corefile {

std::span<const Directive> directives();
std::vector<std::string> directive_names();

}  // namespace dnscore::corefile
