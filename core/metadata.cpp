#include "core/metadata.hpp"

namespace dnscore::metadata {
// Placeholder: nothing publishes metadata yet.
bool value(const Query&, std::string_view, std::string&) { return false; }
}  // namespace dnscore::metadata
