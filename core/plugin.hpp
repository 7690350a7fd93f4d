#pragma once
// The plugin contract. A chain is a list of plugins in the global directive
// order; the server runs query() front to back until one answers, then the
// response() hooks back to front for every plugin whose query() ran: CoreDNS's
// nested ServeDNS calls turned into two phases (Knot-style), same behaviour.
#include <functional>
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

    // Runs after the reply went to the client's sink, for a plugin that
    // asked with after_send(q) in its response(): msg[0..len) is the reply
    // exactly as sent (EDNS mirrored, truncated, the server's own rcode
    // reply when nothing was written), while q.resp_len is still the length
    // the chain wrote. CoreDNS's log reads its recorder at this point: the
    // server's writer has edited the recorded message in place by then.
    virtual void sent(Query&, const uint8_t* /*msg*/, size_t /*len*/) {}

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

// Asks for the running plugin's sent() once this exchange's reply is sent
// (call it from response()).
void after_send(Query& q);

// Starts a background copy of `q` that runs only the plugins after the
// current one, as over TCP (no truncation), whose reply goes to no client:
// only the response hooks from the current plugin down see it (cache's
// prefetch and stale refresh). `data` is the current plugin's data() in the
// copy. Needs q.site; worker thread.
void run_below(const Query& q, uint64_t data);

// Called when a sub-exchange finishes: `sub` holds its reply in
// sub.resp[0..sub.resp_len) when sub.written, else its rcode in sub.rcode
// (and sub.error). Runs on the worker's thread, possibly before the call
// that started the sub-exchange returns (a cache hit). To finish the outer
// exchange from here, release its unique_ptr before starting the
// sub-exchange and resume() it from the callback (std::function must be
// copyable).
using SubDone = std::function<void(OwnedQuery& sub)>;

// Runs the plugins after the current one on a copy of q, as CoreDNS's
// wrapping ResponseWriters see them (dns64): same transport, reply not
// finished or truncated; their response hooks run, then `done` gets the
// copy. The copy's reply goes to no client. Worker thread.
void run_below(const Query& q, SubDone done);

}  // namespace dnscore
