#include "plugins/hosts/hostsfile.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "core/wire/wire.hpp"

namespace dnscore::plugins::hosts {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r'; }

// bytes.Fields on one line (ASCII white space).
template <class Fn>
void each_field(std::string_view line, Fn&& fn) {
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && is_space(line[i])) ++i;
        size_t j = i;
        while (j < line.size() && !is_space(line[j])) ++j;
        if (j > i) fn(line.substr(i, j - i));
        i = j;
    }
}

}  // namespace

size_t Map::len() const {
    size_t n = 0;
    for (const auto& e : names) n += e.v4.size() + e.v6.size();
    for (const auto& a : addrs) n += a.second.size();
    return n;
}

bool parse_ip(std::string_view text, Ip16& out) {
    if (auto pct = text.find('%'); pct != std::string_view::npos) text = text.substr(0, pct);
    char buf[64];
    if (text.empty() || text.size() >= sizeof buf) return false;
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = 0;
    uint8_t v4[4];
    // glibc's inet_pton, like Go's ParseIP, rejects IPv4 octets with leading zeros.
    if (inet_pton(AF_INET, buf, v4) == 1) {
        out = Ip16{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, v4[0], v4[1], v4[2], v4[3]};
        return true;
    }
    return inet_pton(AF_INET6, buf, out.data()) == 1;
}

Map parse(std::string_view text, const ZoneSet& origins, bool auto_reverse) {
    Map m;
    size_t pos = 0;
    while (pos <= text.size()) {
        size_t eol = text.find('\n', pos);
        if (eol == std::string_view::npos) eol = text.size();
        std::string_view line = text.substr(pos, eol - pos);
        pos = eol + 1;
        if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);

        std::string_view fields[2];
        size_t nfields = 0;
        each_field(line, [&](std::string_view f) {
            if (nfields < 2) fields[nfields] = f;
            ++nfields;
        });
        if (nfields < 2) continue;
        Ip16 ip;
        if (!parse_ip(fields[0], ip)) continue;
        const bool v4 = is_v4(ip);

        bool first = true;
        each_field(line, [&](std::string_view f) {
            if (first) {  // the address
                first = false;
                return;
            }
            // plugin.Name(f).Normalize(): lower case, fully qualified.
            uint8_t wire[wire::kMaxNameLen + 1];
            const size_t n = wire::text_to_name(f, wire);
            if (n == 0) return;  // not a name a query could ask for
            for (size_t i = 0; i < n; ++i)
                if (wire[i] >= 'A' && wire[i] <= 'Z') wire[i] = uint8_t(wire[i] + 32);
            // Label lengths are < 64, so lower-casing never touches them.
            if (origins.matches(wire, n) == ZoneSet::npos) return;  // not in the plugin's zones
            std::string key(reinterpret_cast<const char*>(wire), n);
            auto [it, added] = m.by_name.try_emplace(key, m.names.size());
            if (added) m.names.push_back({key, {}, {}});
            Map::Name& e = m.names[it->second];
            if (v4) e.v4.push_back({ip[12], ip[13], ip[14], ip[15]});
            else e.v6.push_back(ip);
            if (!auto_reverse) return;
            auto [at, aadded] = m.by_addr.try_emplace(ip, m.addrs.size());
            if (aadded) m.addrs.push_back({ip, {}});
            m.addrs[at->second].second.push_back(key);
        });
    }
    return m;
}

bool address_from_reverse(const uint8_t* name, size_t len, Ip16& out) {
    static constexpr uint8_t kV4[] = {7, 'i', 'n', '-', 'a', 'd', 'd', 'r', 4, 'a', 'r', 'p', 'a', 0};
    static constexpr uint8_t kV6[] = {3, 'i', 'p', '6', 4, 'a', 'r', 'p', 'a', 0};
    auto ends_with = [&](const uint8_t* suffix, size_t slen) {
        return len > slen && std::memcmp(name + len - slen, suffix, slen) == 0;
    };
    // Labels before the suffix, most significant last.
    const uint8_t* labels[33];
    size_t count = 0;
    auto collect = [&](size_t prefix_len, size_t max) {
        for (size_t off = 0; off < prefix_len; off += size_t(name[off]) + 1) {
            if (count == max) return false;
            labels[count++] = name + off;
        }
        return true;
    };
    if (ends_with(kV4, sizeof kV4)) {
        // Go: ParseIP of the four labels reversed; anything else is not an address.
        if (!collect(len - sizeof kV4, 5) || count != 4) return false;
        out = Ip16{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};
        for (size_t i = 0; i < 4; ++i) {
            const uint8_t* l = labels[3 - i];
            const size_t n = l[0];
            if (n == 0 || n > 3 || (n > 1 && l[1] == '0')) return false;
            unsigned v = 0;
            for (size_t k = 1; k <= n; ++k) {
                if (l[k] < '0' || l[k] > '9') return false;
                v = v * 10 + (l[k] - '0');
            }
            if (v > 255) return false;
            out[12 + i] = uint8_t(v);
        }
        return true;
    }
    if (ends_with(kV6, sizeof kV6)) {
        // Go groups the reversed labels by four into "xxxx:..." and parses
        // that: only 32 one-digit hex labels make an address.
        if (!collect(len - sizeof kV6, 32) || count != 32) return false;
        for (size_t i = 0; i < 32; ++i) {
            const uint8_t* l = labels[31 - i];
            if (l[0] != 1) return false;
            const uint8_t c = l[1];
            unsigned v;
            if (c >= '0' && c <= '9') v = c - '0';
            else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
            else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
            else return false;
            if (i % 2 == 0) out[i / 2] = uint8_t(v << 4);
            else out[i / 2] = uint8_t(out[i / 2] | v);
        }
        return true;
    }
    return false;
}

// ---------------------------------------------------------------- Index

uint64_t Index::hash(const uint8_t* p, size_t n) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

uint32_t Index::add_bytes(const uint8_t* p, size_t n) {
    const auto off = uint32_t(bytes_.size());
    bytes_.insert(bytes_.end(), p, p + n);
    return off;
}

namespace {
size_t table_size(size_t n) {
    size_t s = 8;
    while (s < n * 2) s <<= 1;  // load factor <= 1/2
    return s;
}
const uint8_t* as_bytes(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }
}  // namespace

Index::Index(const Map& file, const Map& inline_entries) {
    entries_ = file.len() + inline_entries.len();
    // Names: the file's in order, then inline names the file does not have.
    std::vector<const std::string*> order;
    for (const auto& e : file.names) order.push_back(&e.wire);
    for (const auto& e : inline_entries.names)
        if (!file.by_name.count(e.wire)) order.push_back(&e.wire);
    name_table_.assign(table_size(order.size()), 0);
    for (const std::string* key : order) {
        NameSlot s{};
        s.name_off = add_bytes(as_bytes(*key), key->size());
        s.name_len = uint8_t(key->size());
        s.v4_off = uint32_t(bytes_.size());
        for (const Map* m : {&file, &inline_entries})
            if (auto it = m->by_name.find(*key); it != m->by_name.end())
                for (const auto& ip : m->names[it->second].v4) {
                    if (s.v4_count == UINT16_MAX) break;  // far more than a reply can carry
                    add_bytes(ip.data(), 4);
                    ++s.v4_count;
                }
        s.v6_off = uint32_t(bytes_.size());
        for (const Map* m : {&file, &inline_entries})
            if (auto it = m->by_name.find(*key); it != m->by_name.end())
                for (const auto& ip : m->names[it->second].v6) {
                    if (s.v6_count == UINT16_MAX) break;
                    add_bytes(ip.data(), 16);
                    ++s.v6_count;
                }
        names_.push_back(s);
        const size_t mask = name_table_.size() - 1;
        size_t i = hash(as_bytes(*key), key->size()) & mask;
        while (name_table_[i] != 0) i = (i + 1) & mask;
        name_table_[i] = uint32_t(names_.size());
    }

    std::vector<const Ip16*> ips;
    for (const auto& a : file.addrs) ips.push_back(&a.first);
    for (const auto& a : inline_entries.addrs)
        if (!file.by_addr.count(a.first)) ips.push_back(&a.first);
    addr_table_.assign(ips.empty() ? 0 : table_size(ips.size()), 0);
    for (const Ip16* ip : ips) {
        AddrSlot s{};
        s.ip = *ip;
        s.first = uint32_t(name_refs_.size());
        for (const Map* m : {&file, &inline_entries})
            if (auto it = m->by_addr.find(*ip); it != m->by_addr.end())
                for (const auto& n : m->addrs[it->second].second) {
                    name_refs_.push_back({add_bytes(as_bytes(n), n.size()), uint8_t(n.size())});
                    ++s.count;
                }
        addrs_.push_back(s);
        const size_t mask = addr_table_.size() - 1;
        size_t i = hash(ip->data(), ip->size()) & mask;
        while (addr_table_[i] != 0) i = (i + 1) & mask;
        addr_table_[i] = uint32_t(addrs_.size());
    }
}

Index::Addresses Index::lookup(const uint8_t* name, size_t len) const {
    if (names_.empty()) return {};
    const size_t mask = name_table_.size() - 1;
    for (size_t i = hash(name, len) & mask;; i = (i + 1) & mask) {
        const uint32_t s = name_table_[i];
        if (s == 0) return {};
        const NameSlot& e = names_[s - 1];
        if (e.name_len == len && std::memcmp(bytes_.data() + e.name_off, name, len) == 0)
            return {{bytes_.data() + e.v4_off, size_t(e.v4_count) * 4}, {bytes_.data() + e.v6_off, size_t(e.v6_count) * 16}};
    }
}

}  // namespace dnscore::plugins::hosts
