#include "core/zones.hpp"

#include "core/wire/wire.hpp"

namespace dnscore {

size_t ZoneSet::add(std::string_view zone) {
    uint8_t buf[wire::kMaxNameLen + 1];
    const size_t n = wire::text_to_name(zone, buf);
    for (size_t i = 0; i < n; ++i)
        if (buf[i] >= 'A' && buf[i] <= 'Z') buf[i] = uint8_t(buf[i] + 32);
    return add_wire({buf, n});
}

size_t ZoneSet::add_wire(std::span<const uint8_t> name) {
    zones_.push_back(Zone{uint32_t(bytes_.size()), uint32_t(name.size())});
    bytes_.insert(bytes_.end(), name.begin(), name.end());
    if (!name.empty() && name.size() < lengths_.size()) lengths_.set(name.size());
    return zones_.size() - 1;
}

}  // namespace dnscore
