#pragma once
// CoreDNS plugin/pkg/upstream.Lookup: plugins resolving a name through the
// server itself (template's CNAME targets, dns64's A lookup).
#include <cstddef>
#include <cstdint>

#include "core/plugin.hpp"

namespace dnscore {

// How deep lookups may nest (a template whose CNAME target matches itself).
// CoreDNS 1.12.2 has no bound and recurses until the goroutine's stack
// runs out; past this the lookup answers SERVFAIL.
constexpr int kMaxLookupDepth = 8;

// A new request for (name, qtype) — a copy of q's request (id, flags, EDNS)
// with only the question replaced (class IN) — through the whole server q came in on:
// zone routing (REFUSED when no zone matches), then that zone's chain from
// the top. The reply is finished as for q's client (EDNS mirrored,
// truncated to its UDP size, as CoreDNS's ScrubWriter does), so `done`
// always sees sub.written with the reply in sub.resp[0..sub.resp_len).
// `name` is uncompressed wire format.
void upstream_lookup(const Query& q, const uint8_t* name, size_t name_len, uint16_t qtype, SubDone done);

}  // namespace dnscore
