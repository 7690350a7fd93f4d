// CoreDNS plugin/metadata setup_test.go and metadata_test.go, the storage
// bounds, and log's {/LABEL} through a real chain.
#include "plugins/metadata/metadata.hpp"

#include "core/metadata.hpp"
#include "tests/support/alloc_counter.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/chain_harness.hpp"
#include "tests/support/setup_harness.hpp"
#include "tests/support/stdout_capture.hpp"

using namespace dnscore;

namespace {
std::string err(const std::string& body) { return testing::load_error("example.org:1053 {\n" + body + "\n}\n"); }
std::vector<std::string> zones(const std::string& body) {
    auto p = testing::load_plugin<plugins::Metadata>("example.org:1053 {\n" + body + "\n}\n");
    REQUIRE(p);
    return p->zones();
}
}  // namespace

TEST_CASE("metadata setup", "[metadata][setup]") {
    // Without arguments: the block's zones (OriginsFromArgsOrServerBlock).
    CHECK(zones("metadata") == std::vector<std::string>{"example.org."});
    CHECK(zones("metadata example.com.") == std::vector<std::string>{"example.com."});
    CHECK(zones("metadata example.com. net.") == std::vector<std::string>{"example.com.", "net."});
    CHECK(err("metadata example.com. { some_param }") ==
          "plugin/metadata: Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after "
          "'some_param'");
    CHECK(err("metadata\nmetadata") ==
          "plugin/metadata: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending after "
          "'metadata'");
}

TEST_CASE("metadata labels (IsLabel)", "[metadata]") {
    for (const char* ok : {"plugin/LABEL", "p/LABEL", "plugin/L", "PLUGIN/LABEL/SUB-LABEL"}) CHECK(metadata::is_label(ok));
    for (const char* bad : {"LABEL", "plugin.LABEL", "/NO-PLUGIN-NOT-ACCEPTED", "ONLY-PLUGIN-NOT-ACCEPTED/", "/", "//"})
        CHECK_FALSE(metadata::is_label(bad));
}

TEST_CASE("metadata storage: off without the plugin, bounded, values replaced", "[metadata]") {
    testing::TestQuery t("example.org.", "A");
    Query& q = t.q;
    std::string out;
    // No metadata plugin in the chain: nothing is kept (CoreDNS: no map in ctx).
    CHECK_FALSE(metadata::set(q, "test/key1", "v"));
    CHECK_FALSE(metadata::find(q, "test/key1"));
    CHECK_FALSE(metadata::value(q, "test/key1", out));

    metadata::enable(q);
    CHECK(metadata::set(q, "test/key1", "testvalue1"));
    CHECK(metadata::set(q, "test/key2", "two"));
    CHECK(metadata::set(q, "test/key3", "testvalue3"));
    CHECK(metadata::value(q, "test/key1", out));
    CHECK(out == "testvalue1");
    CHECK(*metadata::find(q, "test/key2") == "two");
    CHECK(*metadata::find(q, "test/key3") == "testvalue3");
    CHECK_FALSE(metadata::find(q, "test/none"));
    // Setting again replaces (shorter in place, longer in new space).
    CHECK(metadata::set(q, "test/key2", "2"));
    CHECK(*metadata::find(q, "test/key2") == "2");
    CHECK(metadata::set(q, "test/key2", "a longer value"));
    CHECK(*metadata::find(q, "test/key2") == "a longer value");
    // An empty value is a value ("no metadata" to CoreDNS's readers, but set).
    CHECK(metadata::set(q, "test/empty", ""));
    CHECK(metadata::find(q, "test/empty")->empty());

    // Bounds: kMaxValues labels, kMaxValueBytes bytes.
    static const std::string labels[] = {"l/1", "l/2", "l/3", "l/4", "l/5", "l/6", "l/7", "l/8", "l/9"};
    size_t added = 0;
    for (const auto& l : labels)
        if (metadata::set(q, l, "x")) ++added;
    CHECK(q.meta.count == metadata::kMaxValues);
    CHECK(added == metadata::kMaxValues - 4);
    CHECK(metadata::set(q, "test/key1", std::string(metadata::kMaxValueBytes, 'y')) == false);
    CHECK(*metadata::find(q, "test/key1") == "testvalue1");  // unchanged when it does not fit

    // A new exchange starts empty and off.
    q.reset();
    CHECK_FALSE(metadata::enabled(q));
    metadata::enable(q);
    CHECK_FALSE(metadata::find(q, "test/key1"));
}

TEST_CASE("metadata set and find allocate nothing", "[metadata][alloc]") {
    testing::TestQuery t("example.org.", "A");
    metadata::enable(t.q);
    testing::allocs::start();
    const long before = testing::allocs::count();
    for (int i = 0; i < 100; ++i) {
        metadata::set(t.q, "forward/upstream", "127.0.0.1:53");
        CHECK(metadata::find(t.q, "forward/upstream").has_value());
    }
    const long after = testing::allocs::count();
    testing::allocs::stop();
    CHECK(after == before);
}

namespace {
// Publishes test/key1 and answers (a Provider plus a handler in one).
class Publisher final : public Plugin {
public:
    std::string_view name() const override { return "publisher"; }
    Step query(Query& q) override {
        published = metadata::set(q, "test/key1", "testvalue1");
        const size_t n = wire::build_header_reply(q.req, q.info, wire::kNoError, true, false, q.resp, q.resp_cap);
        q.set_written(n, name());
        return Step::done;
    }
    bool published = false;
};

std::string log_line(const std::string& corefile, bool& published) {
    testing::ChainHarness h(corefile);
    auto p = std::make_shared<Publisher>();
    auto& b = h.set()->blocks.at(0);
    b->plugins.push_back(p);
    b->chain.push_back(p.get());
    testing::StdoutCapture cap;
    h.run(testing::TestQuery("example.org.", "A"));
    published = p->published;
    return cap.text();
}
}  // namespace

TEST_CASE("log prints published metadata with {/LABEL}, - when absent", "[metadata][log]") {
    bool published = false;
    const std::string with =
        log_line(".:0 {\n metadata\n log . \"{/test/key1} {/test/none} {name}\"\n}\n", published);
    CHECK(published);
    CHECK(with == "[INFO] testvalue1 - example.org.\n");
    // Without the metadata plugin nothing is published and log prints "-".
    const std::string without = log_line(".:0 {\n log . \"{/test/key1} {name}\"\n}\n", published);
    CHECK_FALSE(published);
    CHECK(without == "[INFO] - example.org.\n");
}
