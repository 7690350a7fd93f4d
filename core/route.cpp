// Routing a question to the longest matching zone of a listener.
#include <cstring>

#include "core/config.hpp"

namespace dnscore {

const Site* Listener::route(const wire::QueryInfo& q) const {
    const uint8_t* name = q.name;
    const size_t nlen = q.name_len;
    const Site* root = nullptr;
    const Site* ds_match = nullptr;
    for (const auto& s : sites)
        if (s.zone_wire_len == 1) root = &s;
    // Walk suffixes from the full name towards the root (root excluded).
    for (size_t off = 0; off < nlen && name[off] != 0; off += 1 + name[off]) {
        const size_t slen = nlen - off;
        for (const auto& s : sites) {
            if (s.zone_wire_len == slen && std::memcmp(s.zone_wire, name + off, slen) == 0) {
                if (q.qtype != wire::kTypeDS) return &s;
                ds_match = &s;  // DS: keep walking, the parent side answers
            }
        }
    }
    if (ds_match) return ds_match;
    return root;
}

}  // namespace dnscore
