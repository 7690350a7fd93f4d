#include "server/flags.hpp"

#include <vector>

#include "tests/support/catch.hpp"

using dnscore::FlagSet;

namespace {
bool parse(FlagSet& f, std::vector<std::string> args) {
    std::vector<char*> argv{const_cast<char*>("prog")};
    for (auto& a : args) argv.push_back(a.data());
    return f.parse(int(argv.size()), argv.data());
}
}  // namespace

TEST_CASE("Go flag conventions", "[flags]") {
    std::string conf, port = "53";
    bool quiet = false;
    FlagSet f("dnscore");
    f.add_string("conf", &conf, "Corefile to load");
    f.add_string("dns.port", &port, "Default port");
    f.add_bool("quiet", &quiet, "Quiet mode");

    SECTION("one or two dashes, = or separate value") {
        REQUIRE(parse(f, {"-conf", "a", "--dns.port=1053", "--quiet"}));
        CHECK(conf == "a");
        CHECK(port == "1053");
        CHECK(quiet);
        CHECK(f.args().empty());
    }
    SECTION("booleans take values only with =") {
        REQUIRE(parse(f, {"-quiet=false", "rest"}));
        CHECK_FALSE(quiet);
        REQUIRE(f.args().size() == 1);
        CHECK(f.args()[0] == "rest");
    }
    SECTION("a bool followed by a word leaves the word as an argument") {
        REQUIRE(parse(f, {"-quiet", "false"}));
        CHECK(quiet);
        CHECK(f.args() == std::vector<std::string>{"false"});
    }
    SECTION("unknown flags fail") {
        CHECK_FALSE(parse(f, {"-nope"}));
        CHECK_FALSE(f.help_requested());
    }
    SECTION("missing value fails") { CHECK_FALSE(parse(f, {"-conf"})); }
    SECTION("bad boolean fails") { CHECK_FALSE(parse(f, {"-quiet=maybe"})); }
    SECTION("-h asks for help") {
        CHECK_FALSE(parse(f, {"-h"}));
        CHECK(f.help_requested());
    }
    SECTION("-- ends flags") {
        REQUIRE(parse(f, {"--", "-conf"}));
        CHECK(f.args() == std::vector<std::string>{"-conf"});
    }
}
