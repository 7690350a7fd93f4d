#pragma once
// One resource record from zone-file text (miekg dns.NewRR, origin ".",
// default TTL 3600, class IN), for template answers: owner/TTL/class/type
// in any of the zone-file orders, parentheses, comments, quoted strings,
// escapes, and the RDATA of A AAAA CNAME DNAME NS PTR MX SRV TXT SPF SOA and
// RFC 3597 `\# LEN HEX` for any type. Errors carry miekg's texts
// (`dns: not a TTL: "x" at line: 1:13`). No allocation on success.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/wire/wire.hpp"

namespace dnscore::plugins::tmpl {

struct TextRR {
    uint8_t owner[wire::kMaxNameLen];
    size_t owner_len = 0;
    uint16_t type = 0;
    uint16_t klass = 1;
    uint32_t ttl = 3600;
    uint8_t* rdata = nullptr;  // the caller's buffer
    size_t rdata_cap = 0;
    size_t rdlen = 0;
    // The target name of a CNAME (for upstream lookups): rdata[0..rdlen).
};

enum class RRParse { ok, empty, error };

// Parses the first record of `text` into `out` (out.rdata/rdata_cap set by
// the caller). `empty`: the text holds no record (NewRR's nil, nil). On
// error, `err` gets miekg's text.
RRParse parse_rr(std::string_view text, TextRR& out, std::string& err);

}  // namespace dnscore::plugins::tmpl
