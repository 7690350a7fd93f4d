#pragma once
// whoami: answers every query with the client's address and port (CoreDNS
// plugin/whoami). Terminal: never calls the next plugin.
#include "core/plugin.hpp"

namespace dnscore::plugins {

class Whoami final : public Plugin {
public:
    std::string_view name() const override { return "whoami"; }
    Step query(Query& q) override;
};

// Builds the whoami reply for q into q.resp; returns its length (0 if it
// does not fit).
size_t build_whoami_reply(const Query& q, uint8_t* out, size_t cap);

}  // namespace dnscore::plugins
