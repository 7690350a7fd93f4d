#include "plugins/log/log.hpp"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <regex>

#include "corefile/loader.hpp"
#include "core/chain.hpp"
#include "core/config.hpp"
#include "tests/support/alloc_counter.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/chain_harness.hpp"
#include "tests/support/stdout_capture.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/setup_harness.hpp"
#include "tests/support/test_query.hpp"

using namespace dnscore;
using plugins::Log;
using plugins::LogFormat;
using plugins::ResponseClass;

namespace {

using testing::StdoutCapture;

using testing::load_error;
using testing::TestQuery;

// The client these tests log (10.0.0.5:40212 unless given) and the server
// address it asked (10.0.0.10:53).
TestQuery query(const std::string& name, const std::string& type, const testing::QueryOptions& o = {},
                Proto proto = Proto::udp, const std::string& ip = "10.0.0.5", uint16_t port = 40212) {
    TestQuery t(name, type, o);
    t.tcp(proto == Proto::tcp).local("10.0.0.10", 53);
    REQUIRE_NOTHROW(t.client(ip, port));
    return t;
}

std::shared_ptr<Log> load_log(const std::string& corefile) { return testing::load_plugin<Log>(corefile); }

// The plugin below log: runs the test's `below` (write a reply, fail, or
// nothing) and ends the chain.
class Below final : public Plugin {
public:
    std::function<void(TestQuery&)> fn;
    TestQuery* t = nullptr;
    std::string_view name() const override { return "below"; }
    Step query(Query&) override {
        if (fn) fn(*t);
        return Step::done;
    }
};

// A [log, below] chain run by the real chain runner (response hooks, the
// finisher, the sink, sent hooks); records what the client got.
struct LogChain {
    Below below;
    Block block;
    Site site;
    testing::Bytes sent;  // what the client got

    explicit LogChain(Log& l) {
        block.chain = {&l, &below};
        site.block = &block;
        site.zone = ".";
        site.zone_wire[0] = 0;
        site.zone_wire_len = 1;
        site.server = "dns://:53";
    }
    // Runs `t` and returns what log printed.
    std::string run(TestQuery& t, const std::function<void(TestQuery&)>& fn) {
        below.fn = fn;
        below.t = &t;
        testing::ChainHarness chain(site);
        StdoutCapture cap;
        const testing::ChainRun r = chain.run(t);
        REQUIRE_FALSE(r.async);
        sent = r.reply;
        return cap.text();
    }
};

// Runs `t` through [log, below] and returns what log printed.
std::string run(Log& l, TestQuery& t, const std::function<void(TestQuery&)>& below = {}) {
    LogChain c(l);
    return c.run(t, below);
}

// Splits "[INFO] ... 0.000123s\n" into the line without the duration and the duration.
std::pair<std::string, std::string> split_duration(const std::string& out) {
    REQUIRE(!out.empty());
    REQUIRE(out.back() == '\n');
    const size_t sp = out.rfind(' ');
    REQUIRE(sp != std::string::npos);
    return {out.substr(0, sp), out.substr(sp + 1, out.size() - sp - 2)};
}

const std::regex kDuration(R"(^(0|[1-9][0-9]*)(\.[0-9]*[1-9])?s$)");

std::string render(const std::string& format, const Query& q, const testing::Bytes* reply,
                   int64_t ns = 0) {
    const LogFormat f = LogFormat::parse(format);
    fmt::memory_buffer b;
    Log::render(f, q, reply ? reply->data() : nullptr, reply ? reply->size() : 0, ns, b);
    return fmt::to_string(b);
}

Log default_log() { return Log(load_log(". {\n log\n}\n")->rules()); }

}  // namespace

TEST_CASE("log default line for a written reply over UDP/IPv4") {
    Log l = default_log();
    testing::QueryOptions o;
    o.id = 29008;
    o.edns = true;
    o.udp_size = 4096;
    auto t = query("Example.ORG", "A", o);
    const auto reply = testing::make_reply(t.req, 0, {"example.org. 300 IN A 192.0.2.1"});
    const std::string out = run(l, t, [&](TestQuery& tq) { tq.write(reply); });
    auto [line, dur] = split_duration(out);
    CHECK(line == "[INFO] 10.0.0.5:40212 - 29008 \"A IN example.org. udp " + std::to_string(t.req.size()) +
                      " false 4096\" NOERROR qr,rd,ra " + std::to_string(reply.size()));
    CHECK(std::regex_match(dur, kDuration));
}

TEST_CASE("log default line: IPv6 remote in brackets, TCP, DO; SERVFAIL returned without a reply") {
    Log l = default_log();
    testing::QueryOptions o;
    o.id = 7;
    o.edns = true;
    o.do_bit = true;
    o.udp_size = 1232;
    auto t = query("foo.example.", "AAAA", o, Proto::tcp, "::1", 50759);
    REQUIRE(t.req.size() == 40);
    const std::string out = run(l, t, [](TestQuery& tq) {
        tq.q.fail(wire::kServFail, "plugin/forward: timeout", "forward");
    });
    auto [line, dur] = split_duration(out);
    // CoreDNS's recorder saw no write (the server writes the SERVFAIL after
    // the log line): rcode and flags "-", rsize 0.
    CHECK(line == "[INFO] [::1]:50759 - 7 \"AAAA IN foo.example. tcp 40 true 65535\" - - 0");
    CHECK(std::regex_match(dur, kDuration));
}

TEST_CASE("log of an rcode returned without a reply: - - 0, and the client still gets that rcode") {
    Log l = default_log();
    testing::QueryOptions o;
    o.cd = true;
    o.ad = true;
    for (int rc : {wire::kServFail, wire::kRefused, wire::kFormErr, wire::kNotImp}) {
        auto t = query("a.example.", "MX", o);
        LogChain c(l);
        const std::string out = c.run(t, [rc](TestQuery& tq) { tq.q.fail(rc, "x", "p"); });
        auto [line, dur] = split_duration(out);
        CHECK(line == "[INFO] 10.0.0.5:40212 - 4660 \"MX IN a.example. udp 27 false 512\" - - 0");
        REQUIRE(c.sent.size() >= wire::kHeaderLen);
        CHECK(int(wire::rcode(c.sent.data())) == rc);
    }
}

TEST_CASE("log {>rflags} and the class of a truncated reply are the reply as sent; {rsize} as written") {
    // No EDNS over UDP: 512 bytes. CoreDNS's ScrubWriter truncates the
    // message the log recorder holds (TC set, records dropped) before the
    // line is written; the recorded length is the one before truncation.
    Log l = default_log();
    auto t = query("big.example.", "TXT");
    std::vector<std::string> rrs;
    for (int i = 0; i < 20; ++i) rrs.push_back("big.example. 60 IN TXT \"" + std::string(40, char('a' + i)) + "\"");
    const auto reply = testing::make_reply(t.req, 0, rrs);
    REQUIRE(reply.size() > 512);
    LogChain c(l);
    const std::string out = c.run(t, [&](TestQuery& tq) { tq.write(reply); });
    REQUIRE(c.sent.size() <= 512);
    REQUIRE((wire::flags(c.sent.data()) & wire::kTC));
    auto [line, dur] = split_duration(out);
    CHECK(line == "[INFO] 10.0.0.5:40212 - 4660 \"TXT IN big.example. udp 29 false 512\" NOERROR qr,tc,rd,ra " +
                      std::to_string(reply.size()));

    // Over TCP nothing is cut: no tc.
    auto tt = query("big.example.", "TXT", {}, Proto::tcp);
    const std::string tout = run(l, tt, [&](TestQuery& tq) { tq.write(reply); });
    CHECK(split_duration(tout).first ==
          "[INFO] 10.0.0.5:40212 - 4660 \"TXT IN big.example. tcp 29 false 65535\" NOERROR qr,rd,ra " +
              std::to_string(reply.size()));

    // The class is the sent reply's: an NXDOMAIN whose SOA truncation drops
    // is no longer a denial (Typify: NXDOMAIN without SOA = error).
    auto d = load_log(". {\n log {\n  class denial\n }\n}\n");
    auto nx = query("big.example.", "TXT");
    const auto nx_big = testing::make_reply(nx.req, 3, rrs, {"example. 60 IN SOA ns. h. 1 2 3 4 5"});
    REQUIRE(nx_big.size() > 512);
    CHECK(run(*d, nx, [&](TestQuery& tq) { tq.write(nx_big); }).empty());
    auto nx2 = query("big.example.", "TXT", {}, Proto::tcp);
    CHECK(run(*d, nx2, [&](TestQuery& tq) { tq.write(nx_big); }).find(" NXDOMAIN qr,rd,ra ") != std::string::npos);
}

TEST_CASE("log rsize is the reply length before the finisher, rflags in CoreDNS order") {
    Log l = default_log();
    testing::QueryOptions o;
    o.rd = false;
    auto t = query("a.example.", "TXT", o);
    auto reply = testing::make_reply(t.req, 3, {}, {"example. 300 IN SOA ns. h. 1 2 3 4 5"}, {}, true);
    // set every flag: qr aa tc rd ra z ad cd
    for (uint16_t f : {wire::kTC, wire::kRD, wire::kZ, wire::kAD, wire::kCD}) wire::set_flag(reply.data(), f, true);
    const std::string out = run(l, t, [&](TestQuery& tq) { tq.write(reply); });
    auto [line, dur] = split_duration(out);
    CHECK(line == "[INFO] 10.0.0.5:40212 - 4660 \"TXT IN a.example. udp 27 false 512\" NXDOMAIN "
                  "qr,aa,tc,rd,ra,z,ad,cd " +
                      std::to_string(reply.size()));
}

namespace {
// `req` (made with EDNS, no options) with `opts` appended to its OPT's RDATA.
testing::Bytes with_options(testing::Bytes req, const testing::Bytes& opts) {
    REQUIRE(req.size() >= 11 + wire::kHeaderLen);
    REQUIRE(req[req.size() - 9] == 41);  // the OPT is the last record, RDLENGTH 0
    wire::wr16(req.data() + req.size() - 2, uint16_t(opts.size()));
    req.insert(req.end(), opts.begin(), opts.end());
    return req;
}
}  // namespace

TEST_CASE("log {size}: the request after the server reused its OPT for the reply, unsupported options dropped") {
    // CoreDNS's request.SizeAndDo attaches the request's own OPT to a reply
    // that has none, after dropping the options it does not support from it
    // (kept: NSID, EXPIRE, COOKIE, TCP-KEEPALIVE, PADDING), so {size}, read
    // after the write, no longer counts them. A reply with its own OPT, or no
    // reply at all (the server's rcode reply comes after the log line), leaves
    // the request as it came.
    testing::QueryOptions o;
    o.edns = true;
    const testing::Bytes opts = {
        0x00, 0x0a, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8,  // COOKIE (client cookie): kept
        0xfd, 0xe9, 0x00, 0x04, 9, 9, 9, 9,              // 65001: dropped (8 bytes)
        0x00, 0x03, 0x00, 0x00,                          // NSID: kept
        0x00, 0x08, 0x00, 0x07, 0, 1, 24, 0, 192, 0, 2,  // ECS 192.0.2.0/24: dropped (11 bytes)
    };
    const testing::Bytes req = with_options(testing::make_query("opt.example.", "A", o), opts);
    const std::string fmt = ". {\n log . \"{size} {rsize}\"\n}\n";
    auto l = load_log(fmt);

    TestQuery t(req);
    t.local("10.0.0.10", 53).client("10.0.0.5", 1);
    const auto bare = testing::make_reply(t.req, 0, {"opt.example. 60 IN A 192.0.2.1"});
    LogChain c(*l);
    CHECK(c.run(t, [&](TestQuery& tq) { tq.write(bare); }) ==
          "[INFO] " + std::to_string(req.size() - 19) + " " + std::to_string(bare.size()) + "\n");
    // The client got exactly the kept options.
    CHECK(c.sent.size() == bare.size() + 11 + 12 + 4);

    // The reply carries an OPT of its own: the request is untouched.
    TestQuery t2(req);
    auto own = testing::make_reply(t2.req, 0, {"opt.example. 60 IN A 192.0.2.1"});
    own.insert(own.end(), {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0});
    wire::wr16(own.data() + 10, 1);
    CHECK(run(*l, t2, [&](TestQuery& tq) { tq.write(own); }) ==
          "[INFO] " + std::to_string(req.size()) + " " + std::to_string(own.size()) + "\n");

    // Nothing written.
    TestQuery t3(req);
    CHECK(run(*l, t3, [](TestQuery& tq) { tq.q.fail(wire::kServFail, "x", "p"); }) ==
          "[INFO] " + std::to_string(req.size()) + " 0\n");

    // No unsupported option: unchanged.
    const testing::Bytes req2 = with_options(testing::make_query("opt.example.", "A", o), {0x00, 0x03, 0x00, 0x00});
    TestQuery t4(req2);
    const auto bare4 = testing::make_reply(t4.req, 0, {});
    CHECK(run(*l, t4, [&](TestQuery& tq) { tq.write(bare4); }) ==
          "[INFO] " + std::to_string(req2.size()) + " " + std::to_string(bare4.size()) + "\n");
}

TEST_CASE("log placeholders") {
    testing::QueryOptions o;
    o.id = 99;
    o.qclass = 3;
    auto t = query("Mixed.Case.Example", "TYPE65280", o);
    CHECK(render("{type} {class} {name} {>opcode} {local} {port}", t.q, nullptr) ==
          "TYPE65280 CH mixed.case.example. 0 10.0.0.10 40212");
    CHECK(render("{common}", t.q, nullptr) == "{common}");  // only setup expands it
    CHECK(render("{foo} {>foo} {/forward/upstream} { {type} } A } {type}", t.q, nullptr) ==
          "{foo} {>foo} - { TYPE65280 } A } TYPE65280");
    CHECK(render("{remote", t.q, nullptr) == "{remote");
    CHECK(render("{{name}}", t.q, nullptr) == "{mixed.case.example.}");
    testing::QueryOptions c;
    c.qclass = 7;
    auto t2 = query("a.", "A", c);
    CHECK(render("{class}", t2.q, nullptr) == "CLASS7");
}

TEST_CASE("log duration is Go's shortest fixed seconds") {
    auto t = query("a.", "A");
    CHECK(render("{duration}", t.q, nullptr, 737211) == "0.000737211s");
    CHECK(render("{duration}", t.q, nullptr, 4002113557) == "4.002113557s");
    CHECK(render("{duration}", t.q, nullptr, 1500000000) == "1.5s");
    CHECK(render("{duration}", t.q, nullptr, 2000000000) == "2s");
    CHECK(render("{duration}", t.q, nullptr, 0) == "0s");
    CHECK(render("{duration}", t.q, nullptr, 1) == "0.000000001s");
}

TEST_CASE("log {rcode} prints extended rcodes from the OPT and unknown ones in decimal") {
    auto t = query("a.", "A");
    auto reply = testing::make_reply(t.req, 0, {});
    CHECK(render("{rcode} {>rflags}", t.q, &reply) == "NOERROR qr,rd,ra");
    // header rcode 0 + OPT extended rcode 1 = 16 (BADSIG/BADVERS -> miekg prints BADSIG)
    const uint8_t opt[11] = {0, 0, 41, 0x10, 0, 1, 0, 0, 0, 0, 0};
    reply.insert(reply.end(), opt, opt + 11);
    reply[11] = 1;
    CHECK(render("{rcode}", t.q, &reply) == "BADSIG");
    reply[3] = uint8_t((reply[3] & 0xf0) | 12);  // 16 + 12 = 28: unknown
    CHECK(render("{rcode}", t.q, &reply) == "28");
}

TEST_CASE("classify_reply follows response.Typify/Classify") {
    auto t = query("www.example.", "A");
    auto cls = [](const testing::Bytes& m) { return plugins::classify_reply(m.data(), m.size(), 1700000000); };
    const std::string soa = "example. 300 IN SOA ns. h. 1 2 3 4 5";
    CHECK(cls(testing::make_reply(t.req, 0, {"www.example. 300 IN A 192.0.2.1"})) == ResponseClass::success);
    CHECK(cls(testing::make_reply(t.req, 0, {}, {soa})) == ResponseClass::denial);
    CHECK(cls(testing::make_reply(t.req, 3, {}, {soa})) == ResponseClass::denial);
    CHECK(cls(testing::make_reply(t.req, 3, {})) == ResponseClass::error);  // NXDOMAIN without SOA
    CHECK(cls(testing::make_reply(t.req, 0, {}, {"example. 300 IN NS ns.example."})) ==
          ResponseClass::success);  // delegation
    CHECK(cls(testing::make_reply(t.req, 0, {})) == ResponseClass::success);
    CHECK(cls(testing::make_reply(t.req, 2, {})) == ResponseClass::error);
    CHECK(cls(testing::make_reply(t.req, 5, {})) == ResponseClass::error);
    CHECK(plugins::classify_reply(nullptr, 0, 0) == ResponseClass::error);
    auto axfr = query("example.", "AXFR");
    CHECK(cls(testing::make_reply(axfr.req, 0, {soa})) == ResponseClass::error);  // Meta

    // An expired RRSIG makes a DO reply an error; without DO it is ignored.
    const std::string sig =
        "www.example. 300 IN RRSIG A 8 2 300 20200101000000 20191201000000 1 example. AAAA";
    auto signed_reply = testing::make_reply(t.req, 0, {"www.example. 300 IN A 192.0.2.1", sig});
    CHECK(cls(signed_reply) == ResponseClass::success);
    const uint8_t opt_do[11] = {0, 0, 41, 0x10, 0, 0, 0, 0x80, 0, 0, 0};
    signed_reply.insert(signed_reply.end(), opt_do, opt_do + 11);
    signed_reply[11] = uint8_t(signed_reply[11] + 1);
    CHECK(cls(signed_reply) == ResponseClass::error);
}

TEST_CASE("log classes filter lines") {
    auto l = load_log(". {\n log {\n  class denial error\n }\n}\n");
    REQUIRE(l);
    auto ok = query("a.example.", "A");
    const auto ok_reply = testing::make_reply(ok.req, 0, {"a.example. 1 IN A 192.0.2.1"});
    CHECK(run(*l, ok, [&](TestQuery& tq) { tq.write(ok_reply); }).empty());
    auto nx = query("b.example.", "A");
    const auto nx_reply = testing::make_reply(nx.req, 3, {}, {"example. 1 IN SOA ns. h. 1 2 3 4 5"});
    CHECK(run(*l, nx, [&](TestQuery& tq) { tq.write(nx_reply); }).find(" NXDOMAIN ") != std::string::npos);
    auto sf = query("c.example.", "A");
    // Nothing written: CoreDNS classifies the recorder's nil message, an error.
    CHECK(run(*l, sf, [](TestQuery& tq) { tq.q.fail(2, "e", "p"); }).find("\" - - 0 ") != std::string::npos);

    auto s = load_log(". {\n log {\n  class success\n }\n}\n");
    auto sf2 = query("c.example.", "A");
    CHECK(run(*s, sf2, [](TestQuery& tq) { tq.q.fail(2, "e", "p"); }).empty());
}

TEST_CASE("log name scopes: the first rule whose name contains the query wins") {
    auto l = load_log(". {\n log Example.ORG \"first {name}\"\n log org. \"second {name}\"\n log . \"{common} third\"\n}\n");
    REQUIRE(l);
    REQUIRE(l->rules().size() == 3);
    auto a = query("www.example.org.", "A");
    CHECK(run(*l, a) == "[INFO] first www.example.org.\n");
    auto b = query("other.org.", "A");
    CHECK(run(*l, b) == "[INFO] second other.org.\n");
    auto c = query("example.com.", "A");
    const std::string out = run(*l, c);
    CHECK(out.rfind("[INFO] 10.0.0.5:40212 - 4660 \"A IN example.com. udp 29 false 512\" - - 0 ", 0) == 0);
    CHECK(out.size() > 7);
    CHECK(out.substr(out.size() - 7) == " third\n");

    auto only = load_log(". {\n log example.org\n}\n");
    auto d = query("example.net.", "A");
    CHECK(run(*only, d).empty());
    auto e = query("EXAMPLE.org.", "A");
    CHECK_FALSE(run(*only, e).empty());
}

TEST_CASE("log setup: names, formats, classes") {
    auto l = load_log(". {\n log\n}\n");
    REQUIRE(l->rules().size() == 1);
    CHECK(l->rules()[0].name_scope == ".");
    CHECK(l->rules()[0].format.source == plugins::kCommonLogFormat);
    CHECK(l->rules()[0].classes[0]);

    // exactly one argument is always a name
    l = load_log(". {\n log {type}\n}\n");
    REQUIRE(l->rules().size() == 1);
    CHECK(l->rules()[0].name_scope == "{type}.");
    CHECK(l->rules()[0].format.source == plugins::kCommonLogFormat);

    // two names (no '{' in the last one)
    l = load_log(". {\n log a.example b.example.\n}\n");
    REQUIRE(l->rules().size() == 2);
    CHECK(l->rules()[0].name_scope == "a.example.");
    CHECK(l->rules()[1].name_scope == "b.example.");

    // names + format with {combined}
    l = load_log(". {\n log A.example b.example \"x {combined} y\" {\n class success error\n }\n log c.example\n}\n");
    REQUIRE(l->rules().size() == 3);
    CHECK(l->rules()[0].name_scope == "A.example.");
    CHECK(l->rules()[1].format.source == "x " + std::string(plugins::kCombinedLogFormat) + " y");
    for (int i : {0, 1}) {
        CHECK_FALSE(l->rules()[i].classes[0]);
        CHECK(l->rules()[i].classes[1]);
        CHECK_FALSE(l->rules()[i].classes[2]);
        CHECK(l->rules()[i].classes[3]);
    }
    CHECK(l->rules()[2].classes[0]);  // class applies to its own line only
    CHECK(l->rules()[2].format.source == plugins::kCommonLogFormat);
}

TEST_CASE("log setup errors") {
    CHECK(load_error(". {\n log {\n  class\n }\n}\n") ==
          "plugin/log: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending "
          "after 'class'");
    CHECK(load_error(". {\n log {\n  class all bogus\n }\n}\n") == "plugin/log: invalid Class: bogus");
    CHECK(load_error(". {\n log {\n  format x\n }\n}\n") ==
          "plugin/log: Corefile:3 - Error during parsing: unknown property 'format'");
}

namespace {
// A sink that keeps nothing (the capture sink of the chain harness copies).
class NullSink final : public ReplySink {
public:
    size_t sent = 0;
    void send_reply(const uint8_t*, size_t, const Query&) override { ++sent; }
};
}  // namespace

TEST_CASE("log hot path does not allocate after warm-up") {
    Log l = default_log();
    testing::QueryOptions o;
    o.edns = true;
    auto t = query("www.example.org.", "AAAA", o, Proto::udp, "2001:db8::1");
    const auto reply = testing::make_reply(t.req, 0, {"www.example.org. 1 IN AAAA 2001:db8::2"});
    // Two chains [log, below]: one writes the reply, one returns SERVFAIL.
    LogChain writes(l), fails(l);
    writes.below.fn = [&](TestQuery& tq) { tq.write(reply); };
    fails.below.fn = [](TestQuery& tq) { tq.q.fail(wire::kServFail, "", "x"); };
    writes.below.t = fails.below.t = &t;
    auto sink = std::make_shared<NullSink>();
    auto run_one = [&](LogChain& c) {
        t.q.reset();
        t.q.site = &c.site;
        t.q.sink = sink.get();
        REQUIRE_FALSE(run_chain(t.q));
    };
    StdoutCapture cap;
    for (int i = 0; i < 3; ++i) {  // warm-up: thread_local buffers grow once
        run_one(writes);
        run_one(fails);
    }
    const long base = testing::allocs::count();
    testing::allocs::start();
    for (int i = 0; i < 100; ++i) {
        run_one(writes);
        run_one(fails);
    }
    const long allocs = testing::allocs::count() - base;
    delete new std::string(100, 'x');  // the counter itself works
    testing::allocs::stop();
    CHECK(testing::allocs::count() - base == allocs + 2);
    const std::string out = cap.text();
    CHECK(allocs == 0);
    CHECK(sink->sent == 206);
    CHECK(std::count(out.begin(), out.end(), '\n') == 206);
}
