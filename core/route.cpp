// Routing a question to the longest matching zone of a listener.
#include "core/config.hpp"

namespace dnscore {

const Site* Listener::route(const wire::QueryInfo& q) const {
    if (q.qtype != wire::kTypeDS) {
        const size_t i = zones.matches(q.name, q.name_len);
        return i == ZoneSet::npos ? nullptr : &sites[i];
    }
    // DS: the shortest matching zone below the root (the parent side
    // answers), else the root.
    size_t parent = ZoneSet::npos, root = ZoneSet::npos;
    zones.each_match(q.name, q.name_len, [&](size_t i) {
        (zones.wire(i).size() == 1 ? root : parent) = i;
        return false;
    });
    if (parent == ZoneSet::npos) parent = root;
    return parent == ZoneSet::npos ? nullptr : &sites[parent];
}

}  // namespace dnscore
