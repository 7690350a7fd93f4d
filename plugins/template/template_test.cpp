// CoreDNS plugin/template template_test.go and cname_test.go, through real
// chains (whoami below stands for CoreDNS's "next handler").
#include "plugins/template/template.hpp"

#include "core/wire/wire.hpp"
#include "plugins/template/metrics.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/chain_harness.hpp"
#include "tests/support/packets.hpp"

using namespace dnscore;
using testing::TestQuery;

namespace {

std::string corefile(const std::string& body) { return ".:0 {\n" + body + "\n whoami\n}\n"; }

struct Result {
    testing::Bytes reply;
    int rcode = -1;
    std::string error;
    std::string writer;
};

Result ask(testing::ChainHarness& h, const std::string& name, const std::string& type, uint16_t qclass = 1,
           bool edns = false) {
    testing::QueryOptions o;
    o.qclass = qclass;
    o.edns = edns;
    TestQuery t(name, type, o);
    t.client("10.240.0.1", 40212);
    auto run = h.run(t);
    Result r;
    r.reply = run.reply;
    r.rcode = run.reply.empty() ? -1 : wire::rcode(run.reply.data());
    r.error = t.q.error;
    r.writer = std::string(t.q.writer);
    return r;
}

const char* kIpRegex = "(^|[.])ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$";

}  // namespace

TEST_CASE("template answers from the regex groups", "[template]") {
    testing::ChainHarness h(corefile(std::string(" template ANY ANY {\n  match \"") + kIpRegex +
                                     "\"\n  answer \"{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}\"\n"
                                     "  fallthrough\n }"));
    auto r = ask(h, "ip-10-95-12-8.example.", "A");
    REQUIRE(r.rcode == 0);
    CHECK(r.writer == "template");
    CHECK((wire::flags(r.reply.data()) & wire::kAA));
    CHECK(testing::section(r.reply, 1) == std::vector<std::string>{"ip-10-95-12-8.example.\t60\tIN\tA\t10.95.12.8"});
    // ExampleDomainNameMismatch: falls through to the next plugin.
    r = ask(h, "test.invalid.", "A");
    CHECK(r.writer == "whoami");
}

TEST_CASE("template: parseInt, Remote, MX with additional, NS authority", "[template]") {
    testing::ChainHarness h(corefile(R"T( template ANY ANY {
  match "^ip0a(?P<b>[a-f0-9]{2})(?P<c>[a-f0-9]{2})(?P<d>[a-f0-9]{2})[.]example[.]$"
  answer "{{ .Name }} 60 IN A 10.{{ parseInt .Group.b 16 8 }}.{{ parseInt .Group.c 16 8 }}.{{ parseInt .Group.d 16 8 }}"
  fallthrough
 }
 template IN A remote.example {
  answer "{{ .Name }} 60 IN A {{ .Remote }}"
 }
 template IN MX mx.example {
  answer "{{ .Name }} 60 MX 10 {{ .Name }}"
  additional "{{ .Name }} 60 IN A 10.0.0.1"
  authority "mx.example. IN NS ns0.example.com."
 })T"));
    auto r = ask(h, "ip0a5f0c09.example.", "A");
    CHECK(testing::section(r.reply, 1) == std::vector<std::string>{"ip0a5f0c09.example.\t60\tIN\tA\t10.95.12.9"});
    r = ask(h, "test.remote.example.", "A");
    CHECK(testing::section(r.reply, 1) == std::vector<std::string>{"test.remote.example.\t60\tIN\tA\t10.240.0.1"});
    r = ask(h, "a.mx.example.", "MX");
    CHECK(testing::section(r.reply, 1) == std::vector<std::string>{"a.mx.example.\t60\tIN\tMX\t10 a.mx.example."});
    CHECK(testing::section(r.reply, 2) == std::vector<std::string>{"mx.example.\t3600\tIN\tNS\tns0.example.com."});
    CHECK(testing::section(r.reply, 3) == std::vector<std::string>{"a.mx.example.\t60\tIN\tA\t10.0.0.1"});
}

TEST_CASE("template failures: SERVFAIL with Go's and miekg's texts, counted", "[template]") {
    auto& fam = plugins::tmpl::metrics::families();
    testing::ChainHarness h(corefile(R"T( template ANY ANY broken.example {
  answer "{{ .Name }} 60 IN TXT \"{{ index .Match 2 }}\""
 }
 template ANY ANY parseint.example {
  answer "{{ .Name }} 60 IN TXT \"{{ parseInt \"gg\" 16 8 }}\""
 }
 template ANY ANY nonrr.example {
  additional "{{ .Name }}"
 })T"));
    const uint64_t before = fam.template_failures.value({fam.failure.find(
        {"dns://:0", "broken.example.", "", "IN", "A", "answer", "{{.Name}} 60 IN TXT \"{{index .Match 2}}\""})});
    auto r = ask(h, "test.broken.example.", "A");
    CHECK(r.rcode == wire::kServFail);
    CHECK(r.error == "template: answer:1:26: executing \"answer\" at <index .Match 2>: error calling index: index out of range: 2");
    const int idx = fam.failure.find(
        {"dns://:0", "broken.example.", "", "IN", "A", "answer", "{{.Name}} 60 IN TXT \"{{index .Match 2}}\""});
    REQUIRE(idx >= 0);
    CHECK(fam.template_failures.value({idx}) == before + 1);

    r = ask(h, "test.parseint.example.", "TXT");
    CHECK(r.rcode == wire::kServFail);
    CHECK(r.error == "template: answer:1:26: executing \"answer\" at <parseInt \"gg\" 16 8>: error calling parseInt: "
                     "strconv.ParseUint: parsing \"gg\": invalid syntax");

    r = ask(h, "test.nonrr.example.", "A");
    CHECK(r.rcode == wire::kServFail);
    CHECK(r.error == "dns: not a TTL: \"test.nonrr.example.\" at line: 1:19");
    const int rr_idx = fam.rr_failure.find({"dns://:0", "nonrr.example.", "", "IN", "A", "additional", "{{.Name}}"});
    REQUIRE(rr_idx >= 0);
    CHECK(fam.rr_failures.value({rr_idx}) >= 1);
    const int m = fam.match.find({"dns://:0", "nonrr.example.", "", "IN", "A"});
    REQUIRE(m >= 0);
    CHECK(fam.matches.value({m}) >= 1);
}

TEST_CASE("template rcodes, SOA answers and EDE", "[template]") {
    testing::ChainHarness h(corefile(R"T( template ANY ANY servfail.example {
  rcode SERVFAIL
 }
 template ANY ANY invalid {
  match "[.]invalid[.]$"
  rcode NXDOMAIN
  answer "invalid. 60 {{ .Class }} SOA a.invalid. b.invalid. (1 60 60 60 60)"
 }
 template ANY ANY ede.example {
  rcode NXDOMAIN
  authority "ede.example. 60 {{ .Class }} SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)"
  ederror 21 "Blocked due to RFC2606"
 })T"));
    auto r = ask(h, "x.servfail.example.", "A");
    CHECK(r.rcode == wire::kServFail);
    CHECK(r.error.empty());
    r = ask(h, "test.invalid.", "MX");
    CHECK(r.rcode == wire::kNXDomain);
    CHECK(testing::section(r.reply, 1) ==
          std::vector<std::string>{"invalid.\t60\tIN\tSOA\ta.invalid. b.invalid. 1 60 60 60 60"});
    r = ask(h, "x.ede.example.", "A", 1, true);
    CHECK(r.rcode == wire::kNXDomain);
    const std::string text = testing::to_text(r.reply);
    CHECK(text.find("Blocked due to RFC2606") != std::string::npos);
    CHECK(testing::section(r.reply, 2).size() == 1);
    // Without a match and without fallthrough: SERVFAIL.
    r = ask(h, "other.invalid2.", "A");
    CHECK(r.writer == "whoami");
}

TEST_CASE("template multi-section (TestMultiSection)", "[template]") {
    testing::ChainHarness h(R"T(test.:0 {
 template IN A {
  rcode REFUSED
 }
 template IN TXT {
  match "$^"
  rcode SERVFAIL
  fallthrough
 }
 template CH TXT coredns.invalid {
  answer "{{ .Name }} 60 CH TXT \"test\""
 }
 template IN A example {
  match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
  answer "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
  fallthrough
 }
 template IN MX example {
  match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
  answer "{{ .Name }} 60 IN MX 10 {{ .Name }}"
 }
 whoami
}
example.:0 {
 template IN A example {
  match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
  answer "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
  fallthrough
 }
 template IN MX example {
  match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
  answer "{{ .Name }} 60 IN MX 10 {{ .Name }}"
 }
 whoami
}
)T");
    auto r = ask(h, "some.test.", "A");
    CHECK(r.rcode == wire::kRefused);
    CHECK(r.writer == "template");
    r = ask(h, "some.test.", "TXT");
    CHECK(r.writer == "whoami");
    r = ask(h, "ip-10-11-12-13.example.", "A");
    CHECK(testing::section(r.reply, 1) == std::vector<std::string>{"ip-10-11-12-13.example.\t60\tIN\tA\t10.11.12.13"});
    r = ask(h, "ip-10-11-12-13.example.", "MX");
    CHECK(testing::section(r.reply, 1).size() == 1);
    r = ask(h, "something.example.", "A");
    CHECK(r.writer == "whoami");
    r = ask(h, "something.example.", "MX");
    CHECK(r.rcode == wire::kServFail);
    CHECK(r.writer != "whoami");
}

TEST_CASE("template CNAME answers get the target's records through the server", "[template][upstream]") {
    testing::ChainHarness h(corefile(R"T( template IN ANY example.net {
  match "^example[.]net[.]$"
  answer "example.net 60 IN CNAME target.example.com"
 }
 template IN A example.com {
  match "^target[.]example[.]com[.]$"
  answer "{{ .Name }} 30 IN A 192.0.2.7"
 })T"));
    auto r = ask(h, "example.net.", "A");
    REQUIRE(r.rcode == 0);
    CHECK(testing::section(r.reply, 1) == std::vector<std::string>{"example.net.\t60\tIN\tCNAME\ttarget.example.com.",
                                                                    "target.example.com.\t30\tIN\tA\t192.0.2.7"});
    // Not an address query: no lookup (CNAMEWithoutUpstream's single answer).
    r = ask(h, "example.net.", "TXT");
    CHECK(testing::section(r.reply, 1).size() == 1);
}

TEST_CASE("template data: Meta, Message, Question, Class and Type", "[template]") {
    testing::ChainHarness h(corefile(R"T( template ANY ANY {
  answer "{{ .Meta \"foofoo\" }}{{ .Name }} 60 IN TXT \"{{ .Class }}/{{ .Type }}/{{ .Question.Qtype }}/{{ .Message.Id }}/{{ .Message.RecursionDesired }}/{{ len .Message.Question }}/{{ .Zone }}\""
 })T"));
    auto r = ask(h, "a.b.", "AAAA");
    CHECK(testing::section(r.reply, 1) == std::vector<std::string>{"a.b.\t60\tIN\tTXT\t\"IN/AAAA/28/4660/true/1/.\""});
}
