#include "core/metadata.hpp"

#include <cstring>

#include "core/query.hpp"

namespace dnscore::metadata {

bool is_label(std::string_view label) {
    const auto p = label.find('/');
    return p != std::string_view::npos && p > 0 && p < label.size() - 1;
}

void enable(Query& q) { q.meta.on = true; }
bool enabled(const Query& q) { return q.meta.on; }

bool set(Query& q, std::string_view label, std::string_view value) {
    Store& s = q.meta;
    if (!s.on) return false;
    size_t i = 0;
    while (i < s.count && s.entries[i].label != label) ++i;
    const bool fresh = i == s.count;
    if (fresh && s.count == kMaxValues) return false;
    Store::Entry& e = s.entries[i];
    if (fresh || value.size() > e.len) {
        // A new label or a longer value takes fresh space; a shorter one
        // reuses its old place (forward publishes once per upstream tried).
        if (value.size() > kMaxValueBytes - s.used) return false;
        e.off = s.used;
        s.used = uint16_t(s.used + value.size());
    }
    if (fresh) {
        e.label = label;
        ++s.count;
    }
    std::memcpy(s.bytes.data() + e.off, value.data(), value.size());
    e.len = uint16_t(value.size());
    return true;
}

std::optional<std::string_view> find(const Query& q, std::string_view label) {
    const Store& s = q.meta;
    if (!s.on) return std::nullopt;
    for (size_t i = 0; i < s.count; ++i)
        if (s.entries[i].label == label)
            return std::string_view(s.bytes.data() + s.entries[i].off, s.entries[i].len);
    return std::nullopt;
}

bool value(const Query& q, std::string_view name, std::string& out) {
    const auto v = find(q, name);
    if (!v) return false;
    out.assign(*v);
    return true;
}

}  // namespace dnscore::metadata
