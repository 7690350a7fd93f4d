// CoreDNS plugin/bufsize setup_test.go and bufsize_test.go, through our loader
// and chain.
#include "plugins/bufsize/bufsize.hpp"

#include "tests/support/catch.hpp"
#include "tests/support/chain_harness.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/setup_harness.hpp"

using namespace dnscore;

namespace {
std::string err(const std::string& body) { return testing::load_error(".:1053 {\n" + body + "\n}\n"); }
uint16_t loaded(const std::string& body) {
    auto p = testing::load_plugin<plugins::Bufsize>(".:1053 {\n" + body + "\n}\n");
    REQUIRE(p);
    return p->size();
}
const std::string A = "plugin/bufsize: plugin/bufsize: Corefile:2 - Error during parsing: ";
}  // namespace

TEST_CASE("bufsize setup: default, bounds and CoreDNS's errors", "[bufsize][setup]") {
    CHECK(loaded("bufsize") == 1232);
    CHECK(loaded("bufsize \"1220\"") == 1220);
    CHECK(loaded("bufsize 512") == 512);
    CHECK(loaded("bufsize 4096") == 4096);
    CHECK(err("bufsize \"5000\"") == A + "Wrong argument count or unexpected line ending after '5000'");
    CHECK(err("bufsize \"512 512\"") == A + "Wrong argument count or unexpected line ending after '512 512'");
    CHECK(err("bufsize \"511\"") == A + "Wrong argument count or unexpected line ending after '511'");
    CHECK(err("bufsize \"abc123\"") == A + "Wrong argument count or unexpected line ending after 'abc123'");
    CHECK(err("bufsize 1232 1232") == A + "Wrong argument count or unexpected line ending after '1232'");
    CHECK(testing::validate_error(".:1053 {\n bufsize 4097\n}\n") ==
          A + "Wrong argument count or unexpected line ending after '4097'");
}

namespace {
// The request as the plugins below bufsize see it: whoami answers, and the
// query keeps the (edited) request bytes.
struct Seen {
    bool edns;
    uint16_t size;
    testing::Bytes reply;
};
Seen run(uint16_t request_size, bool edns) {
    testing::ChainHarness h(".:0 {\n bufsize 1024\n whoami\n}\n");
    testing::QueryOptions o;
    o.edns = edns;
    o.udp_size = request_size;
    testing::TestQuery t(".", "A", o);
    auto r = h.run(t);
    wire::QueryInfo again;
    REQUIRE(wire::parse_query(t.q.req, t.q.req_len, again) == wire::Verdict::ok);
    CHECK(again.edns.present == t.q.info.edns.present);
    CHECK(again.edns.udp_size == t.q.info.edns.udp_size);
    return {again.edns.present, again.edns.udp_size, r.reply};
}
}  // namespace

TEST_CASE("bufsize limits the request's buffer size", "[bufsize]") {
    SECTION("larger than allowed: lowered") {
        auto s = run(1024 + 128, true);
        CHECK(s.edns);
        CHECK(s.size == 1024);
        REQUIRE_FALSE(s.reply.empty());
        // The reply mirrors the lowered size (the finisher reads the edited request).
        CHECK(testing::to_text(s.reply).find("udp: 1024") != std::string::npos);
    }
    SECTION("smaller: not increased") {
        auto s = run(1024 - 128, true);
        CHECK(s.edns);
        CHECK(s.size == 1024 - 128);
    }
    SECTION("no EDNS0: no OPT added") {
        auto s = run(0, false);
        CHECK_FALSE(s.edns);
        CHECK(testing::to_text(s.reply).find("EDNS") == std::string::npos);
    }
}
