#pragma once
// The chain runner, as the server uses it: run a routed query through its
// zone's plugins (core/plugin.hpp has the calls plugins make).
#include <memory>

#include "core/plugin.hpp"
#include "core/query.hpp"

namespace dnscore {

// Runs q.site's chain from the start; the exchange either finishes (reply
// sent through q.sink) or is handed to a plugin's query_async with an owned
// copy (returns true). q must be routed (site, sink, worker set).
bool run_chain(Query& q);

}  // namespace dnscore
