#pragma once
// Runs test queries through a zone's plugin chain with core's run_chain, as
// a worker does, and captures what the ReplySink is given.
#include <memory>
#include <string>

#include "core/config.hpp"
#include "tests/support/test_query.hpp"

namespace dnscore {
class Runtime;
class Worker;
}  // namespace dnscore

namespace dnscore::testing {

struct ChainRun {
    Bytes reply;         // what the sink was given (empty: nothing sent)
    bool async = false;  // a plugin took the exchange over (run_chain's result)
};

class ChainHarness {
public:
    // Loads `corefile` (its startup hooks are not run, so nothing listens)
    // and routes queries by its first listener, on a real Worker (index 0):
    // plugins keep per-worker state.
    explicit ChainHarness(const std::string& corefile);
    // Runs queries through a hand-built `site` (it must outlive the
    // harness), without a worker.
    explicit ChainHarness(const Site& site);
    ~ChainHarness();
    ChainHarness(const ChainHarness&) = delete;
    ChainHarness& operator=(const ChainHarness&) = delete;

    // Runs t.q through the chain; t.q keeps the exchange's state (rcode,
    // error, written, writer) afterwards.
    ChainRun run(TestQuery& t);
    ChainRun run(TestQuery&& t) { return run(t); }

    const std::shared_ptr<ServerSet>& set() const { return set_; }

private:
    class CaptureSink;
    std::unique_ptr<Runtime> rt_;
    std::unique_ptr<Worker> worker_;
    std::shared_ptr<ServerSet> set_;
    const Site* site_ = nullptr;
    std::shared_ptr<CaptureSink> sink_;
};

}  // namespace dnscore::testing
