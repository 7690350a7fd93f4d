#include "plugins/reload/reload.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "corefile/loader.hpp"
#include "parser/parser.hpp"
#include "core/metrics.hpp"
#include "server/runtime.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/setup_harness.hpp"

using namespace dnscore;
using namespace dnscore::plugins::reload;
using namespace std::chrono_literals;
using testing::load_error;

namespace {

// Stops the process-wide watcher before the Runtime its timer uses goes away,
// even when a REQUIRE ends the test early.
struct StopWatcher {
    ~StopWatcher() { Watcher::global().stop(); }
};

struct TempDir {
    std::string path;
    TempDir() {
        char t[] = "/tmp/dnscore-reload-test.XXXXXX";
        path = mkdtemp(t);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string write(const std::string& name, const std::string& text) const {
        const std::string p = path + "/" + name;
        std::ofstream(p, std::ios::trunc) << text;
        return p;
    }
};

// A Runtime on `corefile`, written to a temporary directory. It has no
// workers: reload() builds and applies configurations, opens nothing. The
// watcher stops before the Runtime goes away.
struct WatchedRuntime {
    TempDir dir;
    std::string path;
    Runtime rt;
    StopWatcher guard;
    explicit WatchedRuntime(const std::string& corefile)
        : path(dir.write("Corefile", corefile)), rt(options(path)) {}
    static RuntimeOptions options(const std::string& path) {
        RuntimeOptions o;
        o.conf_flag = path;
        o.quiet = true;
        return o;
    }
};

}  // namespace

TEST_CASE("reload setup: defaults, limits, CoreDNS 1.12 texts", "[reload]") {
    SECTION("defaults: 30s, 15s jitter, period in [22.5s, 37.5s)") {
        for (int i = 0; i < 200; ++i) {
            auto s = parse_settings({});
            CHECK(s.interval == 30s);
            CHECK(s.jitter == 15s);
            CHECK(s.period >= 22500ms);
            CHECK(s.period < 37500ms);
        }
    }
    SECTION("jitter capped to interval/2; period within interval +- jitter/2") {
        auto s = parse_settings({"10s", "20s"});
        CHECK(s.interval == 10s);
        CHECK(s.jitter == 5s);
        bool below = false, above = false;
        for (int i = 0; i < 400; ++i) {
            s = parse_settings({"10s", "20s"});
            CHECK(s.period >= 7500ms);
            CHECK(s.period < 12500ms);
            below = below || s.period < 10s;
            above = above || s.period > 10s;
        }
        CHECK(below);  // both sides of the interval are drawn
        CHECK(above);
    }
    SECTION("minimum interval and jitter") {
        auto s = parse_settings({"2s", "1s"});
        CHECK(s.period >= 1500ms);
        CHECK(s.period < 2500ms);
        CHECK(load_error(".:0 {\n reload 1s\n whoami\n}\n") ==
              "plugin/reload: interval value must be greater or equal to 2s");
        CHECK(load_error(".:0 {\n reload 1999ms\n}\n") ==
              "plugin/reload: interval value must be greater or equal to 2s");
        CHECK(load_error(".:0 {\n reload 10s 999ms\n}\n") ==
              "plugin/reload: jitter value must be greater or equal to 1s");
        // 1.12: a zero jitter is rejected too.
        CHECK(load_error(".:0 {\n reload 10s 0s\n}\n") ==
              "plugin/reload: jitter value must be greater or equal to 1s");
        CHECK(load_error(".:0 {\n reload 2s 1s\n whoami\n}\n").empty());
    }
    SECTION("argument errors") {
        CHECK(load_error(".:0 {\n reload 10s 2s 3s\n}\n") ==
              "plugin/reload: Corefile:2 - Error during parsing: Wrong argument count or "
              "unexpected line ending after '3s'");
        CHECK(load_error(".:0 {\n reload foo\n}\n") ==
              "plugin/reload: time: invalid duration \"foo\"");
        CHECK(load_error(".:0 {\n reload 10s bar\n}\n") ==
              "plugin/reload: time: invalid duration \"bar\"");
    }
    SECTION("one hook pair per configuration; the last setup wins") {
        auto set = corefile::load(
            "a.:0 {\n reload 10s\n whoami\n}\nb.:0 {\n reload 20s 2s\n reload 40s\n whoami\n}\n",
            "Corefile", {});
        CHECK(set->on_startup.size() == 1);
        CHECK(set->on_shutdown.size() == 1);
        // No query-path plugin.
        for (const auto& b : set->blocks) CHECK(b->chain.size() == 1);
    }
}

TEST_CASE("reload checksum ignores comments and whitespace, follows content", "[reload]") {
    const std::string a = ".:53 {\n  whoami\n  reload 10s\n}\n";
    const std::string b = "# a comment\n.:53   {\n whoami   # trailing\n\n reload   10s\n}\n";
    const std::string c = ".:53 {\n  whoami\n  reload 11s\n}\n";
    const std::string ha = corefile_checksum(a, "Corefile");
    CHECK(ha.size() == 128);
    CHECK(ha.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(corefile_checksum(b, "Corefile") == ha);
    CHECK(corefile_checksum(c, "Corefile") != ha);
    // Unknown directives are not validated by the checksum.
    CHECK_NOTHROW(corefile_checksum(".:53 {\n nosuchplugin\n}\n", "Corefile"));
    CHECK_THROWS_AS(corefile_checksum(".:53 {\n whoami\n", "Corefile"), parser::ConfigError);
    // SHA-512 known answer.
    CHECK(sha512_hex("abc") ==
          "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
          "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
}

TEST_CASE("reload watcher: one poll at a time against a real Runtime", "[reload]") {
    const std::string base = ".:0 {\n bind 127.0.0.1\n reload 2s 1s\n whoami\n}\n";
    WatchedRuntime f(base);
    TempDir& dir = f.dir;
    const std::string& path = f.path;
    Runtime& rt = f.rt;
    auto& w = Watcher::global();
    const uint64_t failed0 = w.failed_total();
    const uint64_t pw0 = metrics::process_wide().reload_failed_total.value();

    REQUIRE(rt.reload());  // load the first configuration: its startup hook starts the watcher
    REQUIRE(w.active());
    CHECK(w.period() >= 1500ms);
    CHECK(w.period() < 2500ms);
    const std::string h0 = w.hash();
    CHECK(h0 == corefile_checksum(base, path));
    // Absent before the first detected change (process-wide: only the first
    // run of this test case sees a fresh watcher).
    static bool first_run = true;
    if (first_run) CHECK(w.version().empty());
    first_run = false;

    SECTION("unchanged, comment-only edits, parse errors, unreadable file") {
        CHECK(w.tick(rt) == Watcher::Tick::unchanged);
        dir.write("Corefile", "# edited\n" + base + "\n\n");
        CHECK(w.tick(rt) == Watcher::Tick::unchanged);
        auto before = rt.config();
        dir.write("Corefile", ".:0 {\n whoami\n");
        CHECK(w.tick(rt) == Watcher::Tick::parse_failed);
        CHECK(rt.config() == before);
        std::filesystem::remove(path);
        CHECK(w.tick(rt) == Watcher::Tick::unreadable);
        CHECK(rt.config() == before);
        CHECK(w.hash() == h0);
        CHECK(w.failed_total() == failed0);
    }
    SECTION("a change reloads; the new configuration restarts the watcher") {
        auto before = rt.config();
        const std::string next = ".:0 {\n bind 127.0.0.1\n reload 3s 1s\n whoami\n log\n}\n";
        dir.write("Corefile", next);
        CHECK(w.tick(rt) == Watcher::Tick::reloaded);
        CHECK(rt.config() != before);
        CHECK(w.active());
        CHECK(w.period() >= 2500ms);  // the new configuration's settings
        CHECK(w.hash() == corefile_checksum(next, path));
        CHECK(w.version() == w.hash());
        CHECK(rt.source().text == next);
        CHECK(w.tick(rt) == Watcher::Tick::unchanged);
    }
    SECTION("a broken change fails once, is not retried, and counts") {
        auto before = rt.config();
        const std::string bad = ".:0 {\n bind 127.0.0.1\n reload 2s 1s\n nosuchplugin\n}\n";
        dir.write("Corefile", bad);
        CHECK(w.tick(rt) == Watcher::Tick::failed);
        CHECK(rt.config() == before);
        CHECK(w.failed_total() == failed0 + 1);
        CHECK(metrics::process_wide().reload_failed_total.value() == pw0 + 1);
        CHECK(w.version() == corefile_checksum(bad, path));
        CHECK(w.tick(rt) == Watcher::Tick::unchanged);  // same content: not retried
        CHECK(w.failed_total() == failed0 + 1);
        // Going back to the running content reloads (it differs from the failed one).
        dir.write("Corefile", base);
        CHECK(w.tick(rt) == Watcher::Tick::reloaded);
        CHECK(w.hash() == h0);
    }
    SECTION("a reload that drops `reload` stops the watcher; one that adds it starts it") {
        dir.write("Corefile", ".:0 {\n bind 127.0.0.1\n whoami\n}\n");
        CHECK(w.tick(rt) == Watcher::Tick::reloaded);
        CHECK_FALSE(w.active());
        dir.write("Corefile", base);
        REQUIRE(rt.reload());  // SIGUSR1 path
        CHECK(w.active());
        CHECK(w.hash() == h0);
    }
    SECTION("a failed SIGUSR1 reload keeps the checksum in step") {
        const std::string bad = ".:0 {\n reload 2s 1s\n nosuchplugin\n}\n";
        corefile::CorefileSource src{bad, path};
        w.observe(src, false);
        CHECK(w.hash() == corefile_checksum(bad, path));
        CHECK(w.failed_total() == failed0 + 1);
        w.observe(src, false);  // same content again: counted once
        CHECK(w.failed_total() == failed0 + 1);
        dir.write("Corefile", bad);
        CHECK(w.tick(rt) == Watcher::Tick::unchanged);  // the poll does not retry it
    }
    w.stop();
}

TEST_CASE("reload watcher timer fires on the control thread", "[reload]") {
    const std::string base = ".:0 {\n bind 127.0.0.1\n reload 2s 1s\n whoami\n}\n";
    WatchedRuntime f(base);
    TempDir& dir = f.dir;
    const std::string& path = f.path;
    Runtime& rt = f.rt;
    auto& w = Watcher::global();
    REQUIRE(rt.reload());
    REQUIRE(w.active());
    const std::string next = ".:0 {\n bind 127.0.0.1\n reload 2s 1s\n whoami\n log\n}\n";
    dir.write("Corefile", next);
    const auto t0 = std::chrono::steady_clock::now();
    // The timer is armed on rt.control(); run it until the change is picked up.
    while (w.hash() != corefile_checksum(next, path) && std::chrono::steady_clock::now() - t0 < 10s)
        rt.control().run_for(100ms);
    CHECK(w.hash() == corefile_checksum(next, path));
    CHECK(rt.source().text == next);
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(took >= 1400ms);  // not before the period
    CHECK(took < 5s);
    w.stop();
    rt.control().run_for(10ms);
}
