#pragma once
// A set of zones matched against query names on the query path (CoreDNS
// plugin.Zones.Matches): lower-cased wire names, no allocation when matching.
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace dnscore {

class ZoneSet {
public:
    static constexpr size_t npos = size_t(-1);

    // Adds a zone in presentation form ("Example.org."), lower-cased. A name
    // that is not valid gets an index but never matches. Returns its index.
    size_t add(std::string_view zone);
    // Adds a lower-cased uncompressed wire name (empty: never matches).
    size_t add_wire(std::span<const uint8_t> name);

    size_t size() const { return zones_.size(); }
    bool empty() const { return zones_.empty(); }
    // The wire form of zone i (length 0 for an invalid one).
    std::span<const uint8_t> wire(size_t i) const { return {bytes_.data() + zones_[i].off, zones_[i].len}; }

    // Index of the longest zone that equals `name` or lies above it; npos
    // when none does. `name`: a lower-cased uncompressed wire name. Among
    // equal zones, the first added.
    size_t matches(const uint8_t* name, size_t len) const {
        size_t found = npos;
        each_match(name, len, [&](size_t i) {
            found = i;
            return true;
        });
        return found;
    }
    // The lowest index among the matching zones (rules tried in order).
    size_t first_match(const uint8_t* name, size_t len) const {
        size_t found = npos;
        each_match(name, len, [&](size_t i) {
            if (i < found) found = i;
            return false;
        });
        return found;
    }

    // Calls f(index) for each matching zone, longest first (equal zones in
    // the order added); stops when f returns true.
    template <class F>
    void each_match(const uint8_t* name, size_t len, F&& f) const {
        for (size_t off = 0; off < len; off += size_t(name[off]) + 1) {
            const size_t slen = len - off;
            if (slen < lengths_.size() && lengths_[slen]) {
                for (size_t i = 0; i < zones_.size(); ++i) {
                    const Zone& z = zones_[i];
                    if (z.len == slen && std::memcmp(bytes_.data() + z.off, name + off, slen) == 0 && f(i)) return;
                }
            }
            if (name[off] == 0) break;
        }
    }

private:
    struct Zone {
        uint32_t off;
        uint32_t len;
    };
    std::vector<uint8_t> bytes_;
    std::vector<Zone> zones_;
    std::bitset<256> lengths_;  // wire lengths present: most suffixes skip the scan
};

}  // namespace dnscore
