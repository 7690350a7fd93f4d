// CoreDNS plugin/debug setup_test.go, and the [DEBUG] lines it turns on.
#include "core/log.hpp"
#include "corefile/loader.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/setup_harness.hpp"
#include "tests/support/stdout_capture.hpp"

using namespace dnscore;

TEST_CASE("debug setup", "[debug][setup]") {
    auto set = corefile::load(".:1053 {\n debug\n}\n", "Corefile", {});
    CHECK(set->blocks[0]->debug);
    set = corefile::load(".:1053 {\n whoami\n}\n", "Corefile", {});
    CHECK_FALSE(set->blocks[0]->debug);
    // Per block: only the block that has it.
    set = corefile::load("a.:1053 {\n debug\n}\nb.:1053 {\n}\n", "Corefile", {});
    CHECK(set->blocks[0]->debug);
    CHECK_FALSE(set->blocks[1]->debug);
    CHECK(testing::load_error(".:1053 {\n debug off\n}\n") ==
          "plugin/debug: Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after 'off'");
    // A repeated line is accepted (CoreDNS sets the flag again).
    CHECK(testing::load_error(".:1053 {\n debug\n debug\n}\n").empty());
}

TEST_CASE("[DEBUG] lines appear only while debug is on", "[debug]") {
    const log::PluginLog plog{"forward"};
    std::string out;
    {
        testing::StdoutCapture cap;
        log::set_debug(false);
        log::debug("hidden {}", 1);
        plog.debug("hidden {}", 2);
        log::set_debug(true);
        log::debug("shown {}", 3);
        plog.debug("shown {}", 4);
        log::set_debug(false);
        out = cap.text();
    }
    CHECK(out == "[DEBUG] shown 3\n[DEBUG] plugin/forward: shown 4\n");
}
