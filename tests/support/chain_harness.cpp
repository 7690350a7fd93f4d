#include "tests/support/chain_harness.hpp"

#include "core/chain.hpp"
#include "corefile/loader.hpp"
#include "server/runtime.hpp"
#include "server/worker.hpp"
#include "tests/support/catch.hpp"

namespace dnscore::testing {

class ChainHarness::CaptureSink final : public ReplySink {
public:
    Bytes last;
    void send_reply(const uint8_t* msg, size_t len, const Query&) override { last.assign(msg, msg + len); }
};

ChainHarness::ChainHarness(const std::string& corefile)
    : rt_(std::make_unique<Runtime>(RuntimeOptions{})),
      worker_(std::make_unique<Worker>(*rt_, 0)),
      set_(corefile::load(corefile, "Corefile", {})),
      sink_(std::make_shared<CaptureSink>()) {}

ChainHarness::ChainHarness(const Site& site) : site_(&site), sink_(std::make_shared<CaptureSink>()) {}

ChainHarness::~ChainHarness() = default;

ChainRun ChainHarness::run(TestQuery& t) {
    Query& q = t.q;
    q.worker = worker_.get();
    if (site_) {
        q.site = site_;
    } else {
        q.listener = &set_->listeners.at(0);
        q.site = q.listener->route(q.info);
        REQUIRE(q.site);
    }
    q.sink = sink_.get();
    sink_->last.clear();
    ChainRun r;
    r.async = run_chain(q);
    r.reply = sink_->last;
    return r;
}

}  // namespace dnscore::testing
