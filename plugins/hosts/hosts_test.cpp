// CoreDNS plugin/hosts/hosts_test.go (TestLookupA) and the NXDOMAIN/NODATA,
// fallthrough, PTR, reload and metrics behaviour.
#include "plugins/hosts/hosts.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "plugins/hosts/metrics.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/chain_harness.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/test_query.hpp"

using namespace dnscore;
using namespace dnscore::plugins::hosts;

namespace {

const char* kExample = "\n127.0.0.1 localhost localhost.domain\n::1 localhost localhost.domain\n"
                       "10.0.0.1 example.org\n::FFFF:10.0.0.2 example.com\n10.0.0.3 fallthrough-example.org\n"
                       "reload 5s\ntimeout 3600\n";

struct TempFile {
    std::string path;
    explicit TempFile(const std::string& content) {
        char tmpl[] = "/tmp/dnscore_hosts_XXXXXX";
        const int fd = mkstemp(tmpl);
        REQUIRE(fd >= 0);
        close(fd);
        path = tmpl;
        write(content);
    }
    void write(const std::string& content) const {
        std::ofstream f(path, std::ios::trunc);
        f << content;
    }
    ~TempFile() { std::remove(path.c_str()); }
};

Config config(const std::string& path, std::vector<std::string> fall = {}) {
    Config c;
    c.path = path;
    c.origins = {"."};
    c.fall = std::move(fall);
    return c;
}

struct Result {
    Step step;
    testing::Bytes reply;
    int rcode;
};
Result ask(Hosts& h, const std::string& name, const std::string& type, const testing::QueryOptions& o = {}) {
    testing::TestQuery t(name, type, o);
    const Step s = h.query(t.q);
    return {s, t.q.written ? t.reply() : testing::Bytes{}, t.q.rcode};
}

}  // namespace

TEST_CASE("hosts answers as CoreDNS's TestLookupA", "[hosts]") {
    TempFile f(kExample);
    Hosts h(config(f.path));
    Hosts fall(config(f.path, {"."}));

    auto r = ask(h, "example.org.", "A");
    REQUIRE(r.step == Step::done);
    REQUIRE_FALSE(r.reply.empty());
    CHECK((wire::flags(r.reply.data()) & wire::kAA));
    CHECK(wire::rcode(r.reply.data()) == 0);
    CHECK(testing::section(r.reply, 1) == std::vector<std::string>{"example.org.\t3600\tIN\tA\t10.0.0.1"});
    CHECK(testing::section(ask(h, "example.com.", "A").reply, 1) ==
          std::vector<std::string>{"example.com.\t3600\tIN\tA\t10.0.0.2"});
    CHECK(testing::section(ask(h, "localhost.", "AAAA").reply, 1) ==
          std::vector<std::string>{"localhost.\t3600\tIN\tAAAA\t::1"});
    CHECK(testing::section(ask(h, "1.0.0.10.in-addr.arpa.", "PTR").reply, 1) ==
          std::vector<std::string>{"1.0.0.10.in-addr.arpa.\t3600\tIN\tPTR\texample.org."});
    CHECK(testing::section(ask(h, "2.0.0.10.in-addr.arpa.", "PTR").reply, 1) ==
          std::vector<std::string>{"2.0.0.10.in-addr.arpa.\t3600\tIN\tPTR\texample.com."});
    CHECK(testing::section(ask(h, "1.0.0.127.in-addr.arpa.", "PTR").reply, 1) ==
          std::vector<std::string>{"1.0.0.127.in-addr.arpa.\t3600\tIN\tPTR\tlocalhost.",
                                   "1.0.0.127.in-addr.arpa.\t3600\tIN\tPTR\tlocalhost.domain."});
    // A known name without records of the type: NOERROR, AA, empty answer.
    for (const char* type : {"AAAA", "MX"}) {
        auto nodata = ask(h, "example.org.", type);
        REQUIRE(nodata.step == Step::done);
        REQUIRE_FALSE(nodata.reply.empty());
        CHECK(wire::rcode(nodata.reply.data()) == 0);
        CHECK((wire::flags(nodata.reply.data()) & wire::kAA));
        CHECK(wire::ancount(nodata.reply.data()) == 0);
        CHECK(wire::nscount(nodata.reply.data()) == 0);
    }
    // With fallthrough a known name still answers NODATA (only unknown names fall through).
    auto fnd = ask(fall, "fallthrough-example.org.", "AAAA");
    REQUIRE(fnd.step == Step::done);
    CHECK(wire::rcode(fnd.reply.data()) == 0);
    CHECK(wire::ancount(fnd.reply.data()) == 0);
    // "reload 5s" and "timeout 3600" are not entries.
    CHECK(ask(h, "5s.", "A").rcode == wire::kServFail);
}

TEST_CASE("hosts: unknown names are SERVFAIL, or fall through", "[hosts]") {
    TempFile f(kExample);
    Hosts h(config(f.path));
    auto r = ask(h, "unknown.example.org.", "A");
    CHECK(r.step == Step::done);
    CHECK(r.reply.empty());  // the server writes the rcode reply
    CHECK(r.rcode == wire::kServFail);

    Hosts fall(config(f.path, {"."}));
    CHECK(ask(fall, "unknown.example.org.", "A").step == Step::next);
    // fallthrough limited to zones.
    Hosts some(config(f.path, {"example.net."}));
    CHECK(ask(some, "a.example.net.", "A").step == Step::next);
    CHECK(ask(some, "a.example.org.", "A").rcode == wire::kServFail);
}

TEST_CASE("hosts: zones, PTR outside them, case", "[hosts]") {
    TempFile f("10.0.0.1 www.example.org other.test\n10.9.9.9 www.example.org\n2001:db8::1 www.example.org\n");
    Config c = config(f.path);
    c.origins = {"example.org."};
    Hosts h(c);
    // Outside the zones: next plugin, whatever the name.
    CHECK(ask(h, "other.test.", "A").step == Step::next);
    // Case-insensitive; owners in lower case, the question as asked.
    auto r = ask(h, "WWW.Example.ORG.", "A");
    REQUIRE(r.step == Step::done);
    CHECK(testing::section(r.reply, 1) == std::vector<std::string>{"www.example.org.\t3600\tIN\tA\t10.0.0.1",
                                                                    "www.example.org.\t3600\tIN\tA\t10.9.9.9"});
    CHECK(testing::to_text(r.reply).find("WWW.Example.ORG.\tIN\tA") != std::string::npos);
    CHECK(testing::section(ask(h, "www.example.org.", "AAAA").reply, 1) ==
          std::vector<std::string>{"www.example.org.\t3600\tIN\tAAAA\t2001:db8::1"});
    // PTR needs no reverse zone in the zones; other.test was filtered out.
    CHECK(testing::section(ask(h, "1.0.0.10.in-addr.arpa.", "PTR").reply, 1) ==
          std::vector<std::string>{"1.0.0.10.in-addr.arpa.\t3600\tIN\tPTR\twww.example.org."});
    CHECK(testing::section(ask(h, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", "PTR").reply,
                           1)
              .size() == 1);
    // An address hosts does not know: next plugin (even without fallthrough).
    CHECK(ask(h, "2.0.0.10.in-addr.arpa.", "PTR").step == Step::next);
    CHECK(ask(h, "foo.in-addr.arpa.", "PTR").step == Step::next);
}

TEST_CASE("hosts: ttl, no_reverse and inline entries", "[hosts]") {
    Config c = config("/nonexistent/dnscore/hosts");
    c.options.ttl = 60;
    c.options.auto_reverse = false;
    c.inline_lines = {"10.0.0.1 example.org", "10.0.0.2 example.org"};
    Hosts h(c);
    CHECK(testing::section(ask(h, "example.org.", "A").reply, 1) ==
          std::vector<std::string>{"example.org.\t60\tIN\tA\t10.0.0.1", "example.org.\t60\tIN\tA\t10.0.0.2"});
    CHECK(ask(h, "1.0.0.10.in-addr.arpa.", "PTR").step == Step::next);
}

TEST_CASE("hosts: large answers are compressed, then truncated by the server", "[hosts]") {
    Config c = config("/nonexistent/dnscore/hosts");
    for (int i = 1; i <= 40; ++i) c.inline_lines.push_back("10.0.0." + std::to_string(i) + " a-long-host-name.example.org");
    Hosts h(c);
    auto r = ask(h, "a-long-host-name.example.org.", "A");
    REQUIRE(r.step == Step::done);
    CHECK(wire::ancount(r.reply.data()) == 40);
    CHECK(r.reply.size() < 2 * 512);  // 40 x (29 + 14) uncompressed would be 1720
    testing::TestQuery t("a-long-host-name.example.org.", "A");
    t.tcp();
    REQUIRE(h.query(t.q) == Step::done);
    CHECK(t.q.resp_len > 1700);  // over TCP it fits uncompressed
}

TEST_CASE("hosts: reload on mtime/size change, metrics", "[hosts]") {
    TempFile f("10.0.0.1 a.example.org\n");
    Hosts h(config(f.path));
    REQUIRE(h.read_hosts(nullptr));  // first read loads
    CHECK_FALSE(h.read_hosts(nullptr));  // unchanged
    const int idx = plugins::hosts::metrics::families().file.find({f.path});
    REQUIRE(idx >= 0);
    CHECK(plugins::hosts::metrics::families().entries.value({idx}) == 2);
    struct stat st;
    REQUIRE(::stat(f.path.c_str(), &st) == 0);
    CHECK(plugins::hosts::metrics::reload_timestamp().value() ==
          Approx(double(st.st_mtim.tv_sec) + double(st.st_mtim.tv_nsec) / 1e9));

    f.write("10.0.0.2 a.example.org b.example.org\n");  // new size
    REQUIRE(h.read_hosts(nullptr));
    CHECK(plugins::hosts::metrics::families().entries.value({idx}) == 4);
    CHECK(testing::section(ask(h, "a.example.org.", "A").reply, 1) ==
          std::vector<std::string>{"a.example.org.\t3600\tIN\tA\t10.0.0.2"});
    CHECK(ask(h, "b.example.org.", "A").step == Step::done);
    // Same size, new mtime.
    f.write("10.0.0.3 a.example.org b.example.org\n");
    struct timespec times[2] = {{0, UTIME_OMIT}, {st.st_mtim.tv_sec + 10, 0}};
    REQUIRE(utimensat(AT_FDCWD, f.path.c_str(), times, 0) == 0);
    REQUIRE(h.read_hosts(nullptr));
    CHECK(testing::section(ask(h, "b.example.org.", "A").reply, 1) ==
          std::vector<std::string>{"b.example.org.\t3600\tIN\tA\t10.0.0.3"});
    // A file that went away keeps the last entries.
    std::remove(f.path.c_str());
    CHECK_FALSE(h.read_hosts(nullptr));
    CHECK(ask(h, "b.example.org.", "A").step == Step::done);
}

TEST_CASE("hosts in a chain: fallthrough reaches the next plugin", "[hosts]") {
    testing::ChainHarness ch(".:0 {\n hosts /nonexistent/dnscore/hosts {\n  10.1.1.1 in.example\n  fallthrough\n }\n whoami\n}\n");
    auto in = ch.run(testing::TestQuery("in.example.", "A"));
    CHECK(testing::section(in.reply, 1) == std::vector<std::string>{"in.example.\t3600\tIN\tA\t10.1.1.1"});
    auto out = ch.run(testing::TestQuery("out.example.", "A"));
    CHECK(testing::section(out.reply, 1).empty());
    CHECK(testing::section(out.reply, 3).size() == 2);  // whoami answered

    testing::ChainHarness strict(".:0 {\n hosts /nonexistent/dnscore/hosts {\n  10.1.1.1 in.example\n }\n whoami\n}\n");
    auto sf = strict.run(testing::TestQuery("out.example.", "A"));
    REQUIRE(sf.reply.size() >= 12);
    CHECK(wire::rcode(sf.reply.data()) == wire::kServFail);
}
