#pragma once
// Hosts-file data (CoreDNS plugin/hosts/hostsfile.go): parsing a hosts file
// or the inline entries into a Map, and the immutable Index the query path
// reads. The Index is built once per load from lower-cased wire names and
// raw addresses, so a lookup hashes the question's wire name and compares
// bytes: no allocation, no lock, no string.
#include <array>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/zones.hpp"

namespace dnscore::plugins::hosts {

using Ip16 = std::array<uint8_t, 16>;  // IPv6, or IPv4 as ::ffff:a.b.c.d

// CoreDNS's Map: names to addresses per family, and addresses to names (for
// PTR). Order is the file's order; duplicates are kept, as Go appends.
struct Map {
    struct Name {
        std::string wire;  // lower-cased wire name
        std::vector<std::array<uint8_t, 4>> v4;
        std::vector<Ip16> v6;
    };
    std::vector<Name> names;
    std::unordered_map<std::string, size_t> by_name;
    std::vector<std::pair<Ip16, std::vector<std::string>>> addrs;  // address -> wire names
    std::map<Ip16, size_t> by_addr;

    // Map.Len: addresses of every name plus names of every address.
    size_t len() const;
};

// Hostsfile.parse: one entry per line "ADDRESS NAME [ALIAS...]", `#` starts
// a comment, an address with a `%zone` loses it, lines whose address does not
// parse are skipped; names are lower-cased and made fully qualified, and kept
// only when they fall in `origins`; with `auto_reverse` each name is also
// recorded under its address.
Map parse(std::string_view text, const ZoneSet& origins, bool auto_reverse);

// Go's net.ParseIP after dropping a `%zone`: IPv4 (no leading zeros) or
// IPv6; IPv4 and IPv4-mapped IPv6 come out as ::ffff:a.b.c.d.
bool parse_ip(std::string_view text, Ip16& out);
inline bool is_v4(const Ip16& ip) {
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::equal(ip.begin(), ip.begin() + 12, kMapped);
}

// dnsutil.ExtractAddressFromReverse on a lower-cased wire name: the address
// of an `a.b.c.d.in-addr.arpa.` or 32-nibble `ip6.arpa.` name. False for
// anything else.
bool address_from_reverse(const uint8_t* name, size_t len, Ip16& out);

// What the query path reads: the file's Map and the inline Map merged
// (file entries first, as CoreDNS appends the inline results).
class Index {
public:
    Index() = default;
    Index(const Map& file, const Map& inline_entries);

    struct Addresses {
        std::span<const uint8_t> v4;  // 4 bytes each
        std::span<const uint8_t> v6;  // 16 bytes each
        bool empty() const { return v4.empty() && v6.empty(); }
    };
    // Addresses of a lower-cased wire name (both empty when unknown).
    Addresses lookup(const uint8_t* name, size_t len) const;
    // Names (wire, lower-cased) recorded for an address; calls fn(ptr, len)
    // for each, in order; returns how many.
    template <class Fn>
    size_t each_name(const Ip16& ip, Fn&& fn) const;

    // Entries as CoreDNS counts them (inline.Len() + hmap.Len()).
    size_t entries() const { return entries_; }

private:
    struct NameSlot {
        uint32_t name_off;
        uint32_t v4_off;
        uint32_t v6_off;
        uint16_t v4_count;
        uint16_t v6_count;
        uint8_t name_len;
    };
    struct AddrSlot {
        Ip16 ip;
        uint32_t first;  // into name_refs_
        uint32_t count;
    };
    struct NameRef {
        uint32_t off;
        uint8_t len;
    };
    static uint64_t hash(const uint8_t* p, size_t n);
    uint32_t add_bytes(const uint8_t* p, size_t n);

    std::vector<uint8_t> bytes_;          // names and addresses
    std::vector<NameSlot> names_;
    std::vector<uint32_t> name_table_;    // open addressing: slot index + 1, 0 = empty
    std::vector<AddrSlot> addrs_;
    std::vector<uint32_t> addr_table_;
    std::vector<NameRef> name_refs_;
    size_t entries_ = 0;
};

template <class Fn>
size_t Index::each_name(const Ip16& ip, Fn&& fn) const {
    if (addr_table_.empty()) return 0;
    const size_t mask = addr_table_.size() - 1;
    for (size_t i = hash(ip.data(), ip.size()) & mask;; i = (i + 1) & mask) {
        const uint32_t s = addr_table_[i];
        if (s == 0) return 0;
        const AddrSlot& a = addrs_[s - 1];
        if (a.ip == ip) {
            for (uint32_t k = 0; k < a.count; ++k) {
                const NameRef& r = name_refs_[a.first + k];
                fn(bytes_.data() + r.off, size_t(r.len));
            }
            return a.count;
        }
    }
}

}  // namespace dnscore::plugins::hosts
