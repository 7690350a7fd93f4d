#pragma once
// What a dnscore process carries across a restart (-cache-snapshot) or an
// upgrade handover (-handover-socket): the cache snapshot. Shared by both
// mains (the server layer does not know the cache plugin).
#include <string>
#include <string_view>

#include "plugins/cache/snapshot.hpp"
#include "server/handover.hpp"

namespace dnscore {

inline StateHooks cache_state_hooks() {
    StateHooks h;
    h.save = [] { return plugins::cache::write_snapshot(); };
    h.load = [](std::string_view data) {
        const auto st = plugins::cache::load_snapshot(data);
        return "restored " + std::to_string(st.entries) + " cache entries into " + std::to_string(st.stores) +
               " caches (" + std::to_string(st.skipped) + " left out: expired, or no cache with that configuration)";
    };
    return h;
}

}  // namespace dnscore
