#pragma once
// any: answers qtype ANY with the RFC 8482 HINFO record (CoreDNS plugin/any);
// every other query goes to the next plugin.
#include "core/plugin.hpp"

namespace dnscore::plugins {

class Any final : public Plugin {
public:
    std::string_view name() const override { return "any"; }
    Step query(Query& q) override;
};

// Builds the RFC 8482 reply to q into out; returns its length (0 if it does
// not fit).
size_t build_any_reply(const Query& q, uint8_t* out, size_t cap);

}  // namespace dnscore::plugins
