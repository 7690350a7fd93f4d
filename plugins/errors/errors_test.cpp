#include "plugins/errors/errors.hpp"

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <iostream>
#include <thread>

#include "corefile/loader.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/stdout_capture.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/setup_harness.hpp"
#include "tests/support/test_query.hpp"

using namespace dnscore;
using dnscore::plugins::Errors;

namespace {

using testing::StdoutCapture;

using testing::load_error;
using testing::TestQuery;

// The client these tests report (10.0.0.5:40212).
TestQuery query(const std::string& name, const std::string& type) {
    TestQuery t(name, type);
    t.client("10.0.0.5", 40212);
    return t;
}

std::shared_ptr<Errors> load_errors(const std::string& corefile) { return testing::load_plugin<Errors>(corefile); }

std::vector<plugins::ConsolidateRule> one_rule(const std::string& re, std::chrono::nanoseconds period,
                                               log::Level level = log::Level::error,
                                               bool show_first = false) {
    plugins::ConsolidateRule r;
    r.period = period;
    r.source = re;
    r.re = Regex(re);
    r.level = level;
    r.show_first = show_first;
    std::vector<plugins::ConsolidateRule> v;
    v.push_back(std::move(r));
    return v;
}

}  // namespace

TEST_CASE("errors logs the returned error with rcode, lower-case name and type") {
    Errors e({});
    auto t = query("Example.ORG", "A");
    REQUIRE(e.query(t.q) == Step::next);
    t.q.fail(wire::kServFail, "plugin/forward: read udp 10.0.0.1:41934->10.0.0.10:53: i/o timeout",
             "forward");
    StdoutCapture cap;
    e.response(t.q);
    CHECK(cap.text() ==
          "[ERROR] plugin/errors: 2 example.org. A: plugin/forward: read udp "
          "10.0.0.1:41934->10.0.0.10:53: i/o timeout\n");
}

TEST_CASE("errors prints unknown types as TYPEnnn and the decimal rcode") {
    Errors e({});
    auto t = query("x.example.", "TYPE65280");
    t.q.fail(wire::kRefused, "boom", "x");
    StdoutCapture cap;
    e.response(t.q);
    CHECK(cap.text() == "[ERROR] plugin/errors: 5 x.example. TYPE65280: boom\n");
}

TEST_CASE("errors is silent when there is no error") {
    Errors e({});
    auto t = query("example.org", "A");
    t.q.rcode = wire::kServFail;  // an rcode alone is not an error
    StdoutCapture cap;
    e.response(t.q);
    CHECK(cap.text().empty());
}

TEST_CASE("consolidate counts matching errors and prints the summary at stop") {
    Errors e(one_rule("^read udp .* i/o timeout$", std::chrono::seconds(30), log::Level::warning));
    StdoutCapture cap;
    e.report(2, "a.example.", "A", "read udp 1.2.3.4:5->6.7.8.9:53: i/o timeout");
    e.report(2, "b.example.", "A", "read udp 1.2.3.4:5->6.7.8.9:53: i/o timeout");
    e.report(2, "c.example.", "AAAA", "something else");
    e.report(2, "d.example.", "A", "read udp 1.2.3.4:7->6.7.8.9:53: i/o timeout");
    e.stop();
    // After stop, matching errors are logged one by one (CoreDNS stopFlag).
    e.report(2, "e.example.", "A", "read udp x: i/o timeout");
    CHECK(cap.text() ==
          "[ERROR] plugin/errors: 2 c.example. AAAA: something else\n"
          "[WARNING] plugin/errors: 3 errors like '^read udp .* i/o timeout$' occurred in last 30s\n"
          "[ERROR] plugin/errors: 2 e.example. A: read udp x: i/o timeout\n");
}

TEST_CASE("consolidate summary fires after DURATION on the io_context without further errors") {
    Errors e(one_rule("timeout", std::chrono::milliseconds(100), log::Level::info));
    boost::asio::io_context io;
    e.attach(io);
    StdoutCapture cap;
    e.report(2, "a.example.", "A", "i/o timeout");
    e.report(2, "a.example.", "A", "another timeout");
    io.run_for(std::chrono::milliseconds(20));
    const std::string before = cap.text();
    StdoutCapture cap2;
    io.run_for(std::chrono::milliseconds(400));
    const std::string after = cap2.text();
    CHECK(before.empty());
    CHECK(after == "[INFO] plugin/errors: 2 errors like 'timeout' occurred in last 100ms\n");
}

TEST_CASE("consolidate windows restart after a summary") {
    Errors e(one_rule("x", std::chrono::milliseconds(50)));
    boost::asio::io_context io;
    e.attach(io);
    StdoutCapture cap;
    e.report(2, "a.", "A", "x1");
    io.run_for(std::chrono::milliseconds(200));
    e.report(2, "a.", "A", "x2");
    e.report(2, "a.", "A", "x3");
    io.run_for(std::chrono::milliseconds(200));
    e.stop();
    CHECK(cap.text() ==
          "[ERROR] plugin/errors: 1 errors like 'x' occurred in last 50ms\n"
          "[ERROR] plugin/errors: 2 errors like 'x' occurred in last 50ms\n");
}

TEST_CASE("consolidate without an io_context flushes due summaries lazily") {
    Errors e(one_rule("x", std::chrono::milliseconds(10)));
    StdoutCapture cap;
    e.report(2, "a.", "A", "x1");
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    e.report(2, "a.", "A", "x2");
    e.stop();
    CHECK(cap.text() ==
          "[ERROR] plugin/errors: 1 errors like 'x' occurred in last 10ms\n"
          "[ERROR] plugin/errors: 1 errors like 'x' occurred in last 10ms\n");
}

TEST_CASE("consolidate attach arms windows opened before the context was known") {
    Errors e(one_rule("x", std::chrono::milliseconds(30)));
    StdoutCapture cap;
    e.report(2, "a.", "A", "x1");
    boost::asio::io_context io;
    e.attach(io);
    io.run_for(std::chrono::milliseconds(200));
    CHECK(cap.text() == "[ERROR] plugin/errors: 1 errors like 'x' occurred in last 30ms\n");
}

TEST_CASE("consolidate show_first logs the first error at the pattern level") {
    SECTION("a single error: no summary") {
        Errors e(one_rule("^fail", std::chrono::minutes(5), log::Level::warning, true));
        StdoutCapture cap;
        e.report(2, "a.example.", "A", "fail one");
        e.stop();
        CHECK(cap.text() == "[WARNING] plugin/errors: 2 a.example. A: fail one\n");
    }
    SECTION("several errors: the first and a summary counting it") {
        Errors e(one_rule("^fail", std::chrono::minutes(5), log::Level::warning, true));
        StdoutCapture cap;
        e.report(2, "a.example.", "A", "fail one");
        e.report(2, "b.example.", "A", "fail two");
        e.stop();
        CHECK(cap.text() ==
              "[WARNING] plugin/errors: 2 a.example. A: fail one\n"
              "[WARNING] plugin/errors: 2 errors like '^fail' occurred in last 5m0s\n");
    }
}

TEST_CASE("consolidate: the first matching pattern wins") {
    std::vector<plugins::ConsolidateRule> rules = one_rule("a", std::chrono::hours(1));
    auto second = one_rule("ab", std::chrono::seconds(1), log::Level::warning);
    rules.push_back(std::move(second[0]));
    Errors e(std::move(rules));
    StdoutCapture cap;
    e.report(2, "a.", "A", "xab");
    e.stop();
    CHECK(cap.text() == "[ERROR] plugin/errors: 1 errors like 'a' occurred in last 1h0m0s\n");
}

TEST_CASE("errors setup accepts CoreDNS's forms") {
    CHECK(load_error(". {\n errors\n}\n").empty());
    CHECK(load_error(". {\n errors stdout\n}\n").empty());
    CHECK(load_error(". {\n errors {\n stacktrace\n }\n}\n").empty());
    auto e = load_errors(
        ". {\n errors {\n  consolidate 1m ^exact$\n  consolidate 5s \"format error\" warning show_first\n"
        "  consolidate 1h30m x info\n  consolidate 1s y show_first\n }\n}\n");
    REQUIRE(e);
    REQUIRE(e->rule_count() == 4);
    CHECK(e->rule(0).source == "^exact$");
    CHECK(e->rule(0).period == std::chrono::minutes(1));
    CHECK(e->rule(0).level == log::Level::error);
    CHECK_FALSE(e->rule(0).show_first);
    CHECK(e->rule(1).source == "format error");
    CHECK(e->rule(1).level == log::Level::warning);
    CHECK(e->rule(1).show_first);
    CHECK(e->rule(2).level == log::Level::info);
    CHECK(e->rule(2).period == std::chrono::minutes(90));
    CHECK(e->rule(3).level == log::Level::error);
    CHECK(e->rule(3).show_first);
}

TEST_CASE("errors setup registers shutdown hooks only with consolidate") {
    auto set = corefile::load(". {\n errors {\n consolidate 1m x\n }\n}\n", "Corefile", {});
    CHECK(set->on_startup.size() == 1);
    CHECK(set->on_shutdown.size() == 1);
    auto plain = corefile::load(". {\n errors\n}\n", "Corefile", {});
    CHECK(plain->on_startup.empty());
}

TEST_CASE("errors setup rejects with CoreDNS's messages") {
    CHECK(load_error(". {\n errors errors.txt\n}\n") ==
          "plugin/errors: Corefile:2 - Error during parsing: invalid log file: errors.txt");
    CHECK(load_error(". {\n errors a b\n}\n") ==
          "plugin/errors: Corefile:2 - Error during parsing: Wrong argument count or unexpected line "
          "ending after 'b'");
    CHECK(load_error(". {\n errors\n errors\n}\n") ==
          "plugin/errors: this plugin can only be used once per Server Block");
    CHECK(load_error(". {\n errors {\n log visible\n }\n}\n") ==
          "plugin/errors: Corefile:3 - Syntax error: Unexpected token 'log', expecting 'Unknown field "
          "log'");
    CHECK(load_error(". {\n errors {\n consolidate\n }\n}\n") ==
          "plugin/errors: Corefile:3 - Error during parsing: Wrong argument count or unexpected line "
          "ending after 'consolidate'");
    CHECK(load_error(". {\n errors {\n consolidate 1m\n }\n}\n") ==
          "plugin/errors: Corefile:3 - Error during parsing: Wrong argument count or unexpected line "
          "ending after '1m'");
    CHECK(load_error(". {\n errors {\n consolidate 1m .* error show_first extra\n }\n}\n") ==
          "plugin/errors: Corefile:3 - Error during parsing: Wrong argument count or unexpected line "
          "ending after 'extra'");
    CHECK(load_error(". {\n errors {\n consolidate abc .*\n }\n}\n") ==
          "plugin/errors: Corefile:3 - Error during parsing: time: invalid duration \"abc\"");
    CHECK(load_error(". {\n errors {\n consolidate 1 .*\n }\n}\n") ==
          "plugin/errors: Corefile:3 - Error during parsing: time: missing unit in duration \"1\"");
    CHECK(load_error(". {\n errors {\n consolidate 1m ())\n }\n}\n") ==
          "plugin/errors: Corefile:3 - Error during parsing: error parsing regexp: unexpected ): `())`");
    CHECK(load_error(". {\n errors {\n consolidate 1m .* extra\n }\n}\n") ==
          "plugin/errors: Corefile:3 - Error during parsing: unknown option in consolidate: extra");
    CHECK(load_error(". {\n errors {\n consolidate 1m .* info warning\n }\n}\n") ==
          "plugin/errors: Corefile:3 - Error during parsing: multiple log levels specified in "
          "consolidate");
    CHECK(load_error(". {\n errors {\n consolidate 1m .* show_first info\n }\n}\n") ==
          "plugin/errors: Corefile:3 - Error during parsing: log level must come before show_first in "
          "consolidate");
    const std::string long_re(10001, 'a');
    CHECK(load_error(". {\n errors {\n consolidate 1m " + long_re + "\n }\n}\n") ==
          "plugin/errors: Corefile:3 - Error during parsing: regex pattern too long: 10001 > 10000");
    CHECK(load_error(". {\n errors {\n consolidate 1m " + std::string(10000, 'a') + "\n }\n}\n").empty());
}
