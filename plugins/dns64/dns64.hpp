#pragma once
// dns64: AAAA answers synthesised from A records (RFC 6147), CoreDNS
// plugin/dns64: the AAAA query runs through the plugins below; when its
// reply has no AAAA (and is not NXDOMAIN), an A lookup through the whole
// server is embedded into the prefix (RFC 6052).
#include <array>
#include <cstdint>
#include <string>

#include "core/plugin.hpp"
#include "parser/dispenser.hpp"

namespace dnscore::plugins {

struct Dns64Options {
    std::array<uint8_t, 16> prefix{0, 0x64, 0xff, 0x9b};  // 64:ff9b::/96
    int prefix_len = 96;                                  // 32, 40, 48, 56, 64 or 96
    std::string prefix_text = "64:ff9b::/96";             // as net.IPNet prints it
    bool translate_all = false;                           // also when AAAA records exist
    bool allow_ipv4 = false;                              // also for IPv4 clients
};

// CoreDNS dns64Parse over every `dns64` line of a block; throws with its texts.
Dns64Options parse_dns64(parser::Dispenser& d);

// RFC 6052 section 2.2 (CoreDNS to6): the IPv4 address embedded in the
// prefix, skipping bits 64..71.
std::array<uint8_t, 16> embed_ipv4(const std::array<uint8_t, 16>& prefix, int prefix_len, const uint8_t (&v4)[4]);

// Writes CoreDNS's Synthesize(request, AAAA reply, A reply) into out[0..cap):
// a reply to q's request (SetReply: no AA/RA, NOERROR) with TC from the A
// reply, its answer with each A as AAAA (TTL at most `soa_ttl`), its
// authority and additional sections as they are. Returns the length, 0 if it
// does not fit or the A reply is malformed.
size_t synthesize_dns64(const Query& q, const Dns64Options& o, const uint8_t* a_reply, size_t a_len, uint32_t soa_ttl,
                        uint8_t* out, size_t cap);

class Dns64 final : public Plugin {
public:
    explicit Dns64(Dns64Options o) : o_(std::move(o)) {}
    std::string_view name() const override { return "dns64"; }
    Step query(Query& q) override;
    void query_async(std::unique_ptr<OwnedQuery> q) override;
    const Dns64Options& options() const { return o_; }

private:
    void below_done(std::unique_ptr<OwnedQuery> q, OwnedQuery& sub);
    Dns64Options o_;
};

}  // namespace dnscore::plugins
