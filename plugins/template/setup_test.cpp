// CoreDNS plugin/template setup_test.go: accepted and rejected Corefiles,
// with 1.12.2's texts.
#include "tests/support/catch.hpp"
#include "tests/support/setup_harness.hpp"

using dnscore::testing::load_error;

namespace {
std::string err(const std::string& body) {
    return load_error("domain.com.:8053 dynamic.domain.com.:8053 {\n" + body + "\n}\n");
}
}  // namespace

TEST_CASE("template setup: setup_test.go's cases", "[template]") {
    struct Case {
        const char* body;
        bool fails;
    };
    const Case cases[] = {
        {"template", true},
        {"template X", true},
        {"template ANY", true},
        {"template ANY X", true},
        {"template ANY ANY .* {\n notavailable\n}", true},
        {"template ANY ANY {\n answer\n}", true},
        {"template ANY ANY {\n additional\n}", true},
        {"template ANY ANY {\n rcode\n}", true},
        {"template ANY ANY {\n rcode UNDEFINED\n}", true},
        {"template ANY ANY {\n answer \"{{\"\n}", true},
        {"template ANY ANY {\n additional \"{{\"\n}", true},
        {"template ANY ANY {\n authority \"{{\"\n}", true},
        {"template ANY ANY {\n answer \"{{ notAFunction }}\"\n}", true},
        {"template ANY ANY {\n answer \"{{ parseInt }}\"\n additional \"{{ parseInt }}\"\n authority \"{{ parseInt }}\"\n}", false},
        {"template ANY ANY (?P<x>", false},
        {"template ANY ANY {\n\n}", false},
        {"template ANY A example.com {\n match ip-(?P<a>[0-9]*)-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]com\n"
         " answer \"{{ .Name }} A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Grup.d }}.\"\n fallthrough\n}",
         false},
        {"template IN ANY example.com {\n match \"[.](example[.]com[.]dc1[.]example[.]com[.])$\"\n rcode NXDOMAIN\n"
         " authority \"{{ index .Match 1 }} 60 IN SOA ns.{{ index .Match 1 }} hostmaster.example.com (1 60 60 60 60)\"\n"
         " fallthrough example.com\n}",
         false},
        {"template IN A example {\n match ^ip0a(?P<b>[a-f0-9]{2})(?P<c>[a-f0-9]{2})(?P<d>[a-f0-9]{2})[.]example[.]$\n"
         " answer \"{{ .Name }} 3600 IN A 10.{{ parseInt .Group.b 16 8 }}.{{ parseInt .Group.c 16 8 }}.{{ parseInt .Group.d 16 8 }}\"\n}",
         false},
        {"template ANY ANY invalid {\n rcode NXDOMAIN\n authority \"invalid. 60 {{ .Class }} SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)\"\n"
         " ederror 21 \"Blocked according to RFC2606\"\n}",
         false},
        {"template ANY ANY invalid {\n ederror invalid \"Blocked according to RFC2606\"\n}", true},
        {"template ANY ANY invalid {\n ederror too many arguments\n}", true},
        {"template ANY ANY {\n upstream 8.8.8.8\n}", false},
    };
    for (const auto& c : cases) {
        INFO(c.body);
        CHECK(err(c.body).empty() == !c.fails);
    }
}

TEST_CASE("template setup error texts", "[template]") {
    CHECK(err("template in A") == "plugin/template: Corefile:2 - Error during parsing: invalid query class in");
    CHECK(err("template IN a") == "plugin/template: Corefile:2 - Error during parsing: invalid RR class a");
    CHECK(err("template IN A {\n rcode nxdomain\n}") ==
          "plugin/template: Corefile:3 - Error during parsing: unknown rcode nxdomain");
    CHECK(err("template IN A {\n answer \"{{\"\n}") ==
          "plugin/template: Corefile:3 - Error during parsing: could not compile template: {{, template: answer:1: "
          "unclosed action");
    CHECK(err("template IN A {\n additional \"{{ nope }}\"\n}") ==
          "plugin/template: Corefile:3 - Error during parsing: could not compile template: {{ nope }}, template: "
          "additional:1: function \"nope\" not defined\n");
    CHECK(err("template IN A {\n match \"(a\"\n}") ==
          "plugin/template: Corefile:3 - Error during parsing: could not parse regex: (a, error parsing regexp: "
          "missing closing ): `(a`");
    CHECK(err("template IN A {\n ederror x\n}") ==
          "plugin/template: Corefile:3 - Error during parsing: error parsing extended DNS error code x, "
          "strconv.ParseUint: parsing \"x\": invalid syntax\n");
    CHECK(err("template IN A {\n bogus\n}") ==
          "plugin/template: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending after 'bogus'");
}
