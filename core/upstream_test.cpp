// Sub-exchanges: run_below with a callback (dns64's wrapped writer) and
// upstream_lookup (CoreDNS pkg/upstream), through real chains.
#include <memory>
#include <string>

#include "core/config.hpp"
#include "core/upstream.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/chain_harness.hpp"
#include "tests/support/packets.hpp"

using namespace dnscore;

namespace {

// Goes async, runs a sub-exchange (below, or a lookup of `target`/`type`),
// then answers the client with the sub-exchange's reply bytes under the
// client's id and question: what dns64 and template's upstream do.
class SubPlugin final : public Plugin {
public:
    enum class Mode { below, lookup };
    SubPlugin(Mode m, std::string target, uint16_t type) : mode_(m), target_(std::move(target)), type_(type) {}
    std::string_view name() const override { return "sub"; }
    Step query(Query&) override { return Step::async; }
    void query_async(std::unique_ptr<OwnedQuery> q) override {
        OwnedQuery* outer = q.release();
        auto done = [this, outer](OwnedQuery& sub) {
            ++calls;
            last_written = sub.written;
            last_rcode = sub.written ? wire::rcode(sub.resp) : sub.rcode;
            last_error = sub.error;
            last_reply.assign(sub.resp, sub.resp + (sub.written ? sub.resp_len : 0));
            std::unique_ptr<OwnedQuery> q(outer);
            if (sub.written) {
                q->write_reply(sub.resp, sub.resp_len, "sub");
                wire::set_id(q->resp, q->info.id);
            } else {
                q->fail(sub.rcode, sub.error, "sub");
            }
            resume(std::move(q), Step::done);
        };
        if (mode_ == Mode::below) {
            run_below(*outer, done);
        } else {
            uint8_t name[wire::kMaxNameLen];
            const size_t n = wire::text_to_name(target_, name);
            upstream_lookup(*outer, name, n, type_, done);
        }
    }
    int calls = 0;
    bool last_written = false;
    int last_rcode = -1;
    std::string last_error;
    testing::Bytes last_reply;

private:
    Mode mode_;
    std::string target_;
    uint16_t type_;
};

// Puts `p` at the front of the chain of the block serving `zone`.
void prepend(testing::ChainHarness& h, const std::string& zone, std::shared_ptr<Plugin> p) {
    for (auto& b : h.set()->blocks) {
        if (b->zones.at(0) != zone) continue;
        b->plugins.insert(b->plugins.begin(), p);
        b->chain.insert(b->chain.begin(), p.get());
        return;
    }
    FAIL("no block for " << zone);
}

}  // namespace

TEST_CASE("run_below hands the reply of the plugins below to the callback", "[chain][upstream]") {
    testing::ChainHarness h(".:0 {\n whoami\n}\n");
    auto p = std::make_shared<SubPlugin>(SubPlugin::Mode::below, "", 0);
    prepend(h, ".", p);
    const auto run = h.run(testing::TestQuery("who.example.", "A"));
    CHECK(p->calls == 1);
    CHECK(p->last_written);
    REQUIRE_FALSE(run.reply.empty());
    // whoami's answer, passed through
    const auto ans = testing::section(run.reply, 3);
    CHECK_FALSE(ans.empty());
    CHECK(testing::to_text(run.reply).find("who.example.") != std::string::npos);
}

TEST_CASE("run_below with nothing below reports CoreDNS's no-next-plugin failure", "[chain][upstream]") {
    testing::ChainHarness h(".:0 {\n whoami\n}\n");
    auto& b = h.set()->blocks.at(0);
    auto p = std::make_shared<SubPlugin>(SubPlugin::Mode::below, "", 0);
    b->plugins.assign({p});
    b->chain.assign({p.get()});
    const auto run = h.run(testing::TestQuery("x.example.", "A"));
    CHECK(p->calls == 1);
    CHECK_FALSE(p->last_written);
    CHECK(p->last_rcode == wire::kServFail);
    CHECK(p->last_error == "plugin/sub: no next plugin found");
    REQUIRE_FALSE(run.reply.empty());
    CHECK(wire::rcode(run.reply.data()) == wire::kServFail);
}

TEST_CASE("upstream_lookup routes the new question by zone through the whole server", "[chain][upstream]") {
    testing::ChainHarness h("a.:0 {\n whoami\n}\nb.:0 {\n whoami\n}\n");
    auto p = std::make_shared<SubPlugin>(SubPlugin::Mode::lookup, "target.b.", wire::kTypeAAAA);
    prepend(h, "a.", p);
    const auto run = h.run(testing::TestQuery("q.a.", "A"));
    REQUIRE(p->calls == 1);
    REQUIRE(p->last_written);
    // The sub-request asked target.b./AAAA and b.'s whoami answered it.
    const std::string text = testing::to_text(p->last_reply);
    CHECK(text.find("target.b.\tIN\tAAAA") != std::string::npos);
    CHECK(wire::rcode(p->last_reply.data()) == wire::kNoError);
    CHECK_FALSE(run.reply.empty());
}

TEST_CASE("upstream_lookup for a name no zone serves is REFUSED", "[chain][upstream]") {
    testing::ChainHarness h("a.:0 {\n whoami\n}\n");
    auto p = std::make_shared<SubPlugin>(SubPlugin::Mode::lookup, "elsewhere.", wire::kTypeA);
    prepend(h, "a.", p);
    h.run(testing::TestQuery("q.a.", "A"));
    REQUIRE(p->calls == 1);
    CHECK(p->last_written);  // the server writes REFUSED, as CoreDNS's does to its nonwriter
    CHECK(p->last_rcode == wire::kRefused);
}

TEST_CASE("nested upstream lookups stop at the depth bound with SERVFAIL", "[chain][upstream]") {
    // The plugin looks its own zone up again: unbounded in CoreDNS.
    testing::ChainHarness h("a.:0 {\n whoami\n}\n");
    auto p = std::make_shared<SubPlugin>(SubPlugin::Mode::lookup, "loop.a.", wire::kTypeA);
    prepend(h, "a.", p);
    const auto run = h.run(testing::TestQuery("q.a.", "A"));
    CHECK(p->calls == kMaxLookupDepth + 1);
    CHECK(p->last_rcode == wire::kServFail);
    REQUIRE_FALSE(run.reply.empty());
    CHECK(wire::rcode(run.reply.data()) == wire::kServFail);
}
