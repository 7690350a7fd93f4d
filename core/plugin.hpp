#pragma once
// The plugin contract. A chain is a list of plugins in the global directive
// order; the server runs query() front to back until one answers, then the
// response() hooks back to front for every plugin whose query() ran: CoreDNS's
// nested ServeDNS calls turned into two phases (Knot-style), same behaviour.
#include <memory>
#include <string_view>

#include "core/query.hpp"

namespace dnscore {

enum class Step : uint8_t {
    next,   // pass the query to the next plugin
    done,   // answered (q.written) or failed (q.fail): stop here
    async,  // the plugin will finish later: query_async() takes over
};

class Plugin {
public:
    virtual ~Plugin() = default;
    virtual std::string_view name() const = 0;

    // Synchronous query phase; must not block or allocate on the common path.
    virtual Step query(Query& q) = 0;

    // Called only after query() returned Step::async, with the exchange moved
    // to the heap. The plugin must eventually call resume(std::move(q), step)
    // exactly once, on q->worker's thread.
    virtual void query_async(std::unique_ptr<OwnedQuery> q);

    // Post-hook, run in reverse chain order once the exchange has a reply or
    // an rcode (cache insert, logging, metrics, error logging).
    virtual void response(Query&) {}

    // CoreDNS ready.Readiness: a plugin that can be not ready yet (still
    // loading data, no healthy upstream) overrides this; the `ready` plugin
    // answers 503 listing the plugins returning false. Control thread.
    virtual bool ready() const { return true; }
};

// ---- the chain API: how a plugin steers its exchange ----

// Continues an async exchange on its worker: Step::next runs the plugins
// after the current one, Step::done finishes it (response hooks, then the
// reply is sent).
void resume(std::unique_ptr<OwnedQuery> q, Step step);

// The plugin after the running one in q's chain, or nullptr at the end.
const Plugin* next_plugin(const Query& q);

// Starts a background copy of `q` that runs only the plugins after the
// current one, as over TCP (no truncation), whose reply goes to no client:
// only the response hooks from the current plugin down see it (cache's
// prefetch and stale refresh). `data` is the current plugin's data() in the
// copy. Needs q.site; worker thread.
void run_below(const Query& q, uint64_t data);

}  // namespace dnscore
