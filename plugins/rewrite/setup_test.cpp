// `rewrite` setup: CoreDNS 1.12.2's setup_test.go and the TestNewRule /
// rcode / ttl rule tables, with the error texts.
#include <string>
#include <vector>

#include "plugins/rewrite/rewrite.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/setup_harness.hpp"

using namespace dnscore;
using plugins::rewrite::new_rule;

namespace {
std::string err(const std::string& body) { return testing::load_error(".:1053 {\n" + body + "\n}\n"); }
std::string rule_err(const std::vector<std::string>& args) {
    try {
        new_rule(args);
        return "";
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
}
}  // namespace

TEST_CASE("rewrite setup_test.go cases", "[rewrite][setup]") {
    CHECK(err("rewrite") == "plugin/rewrite: no rule type specified for rewrite");
    CHECK(err("rewrite name").find("plugin/rewrite: too few arguments for a name rule") == 0);
    CHECK(err("rewrite name a.com b.com").empty());
    CHECK(err("rewrite stop {\n name regex foo bar\n answer name bar foo\n}").empty());
    CHECK(err("rewrite stop name regex foo bar answer name bar foo").empty());
    CHECK(err("rewrite stop {\n name regex foo bar\n answer name bar foo\n name baz\n}") ==
          "plugin/rewrite: name answer rule for regex rule: 2 arguments required");
    CHECK(err("rewrite stop {\n answer name bar foo\n name regex foo bar\n}") ==
          "plugin/rewrite: response rewrites must begin with a name rule");
    CHECK(err("rewrite stop") == "plugin/rewrite: stop rule must begin with a rule type");
    CHECK(err("rewrite continue") == "plugin/rewrite: continue rule must begin with a rule type");
    CHECK(testing::validate_error(".:1053 {\n rewrite foo bar\n}\n") == "plugin/rewrite: invalid rule type \"foo\"");
}

TEST_CASE("rewrite TestNewRule table", "[rewrite][setup]") {
    struct Case {
        std::vector<std::string> args;
        bool fail;
    };
    const std::vector<Case> cases = {
        {{}, true},
        {{"foo"}, true},
        {{"name"}, true},
        {{"name", "a.com"}, true},
        {{"name", "a.com", "b.com", "c.com"}, true},
        {{"name", "a.com", "b.com"}, false},
        {{"name", "exact", "a.com", "b.com"}, false},
        {{"name", "prefix", "a.com", "b.com"}, false},
        {{"name", "suffix", "a.com", "b.com"}, false},
        {{"name", "substring", "a.com", "b.com"}, false},
        {{"name", "regex", "([a])\\.com", "new-{1}.com"}, false},
        {{"name", "regex", "([a]\\.com", "new-{1}.com"}, true},
        {{"name", "regex", "(dns)\\.(core)\\.(rocks)", "{2}.{1}.{3}", "answer", "name", "(core)\\.(dns)\\.(rocks)", "{2}.{1}.{3}"}, false},
        {{"name", "regex", "(adns)\\.(core)\\.(rocks)", "{2}.{1}.{3}", "answer", "name", "(core)\\.(adns)\\.(rocks)", "{2}.{1}.{3}", "too.long", "way.too.long"}, true},
        {{"name", "regex", "(bdns)\\.(core)\\.(rocks)", "{2}.{1}.{3}", "NoAnswer", "name", "(core)\\.(bdns)\\.(rocks)", "{2}.{1}.{3}"}, true},
        {{"name", "regex", "(cdns)\\.(core)\\.(rocks)", "{2}.{1}.{3}", "answer", "ttl", "(core)\\.(cdns)\\.(rocks)", "{2}.{1}.{3}"}, true},
        {{"name", "regex", "(ddns)\\.(core)\\.(rocks)", "{2}.{1}.{3}", "answer", "name", "\xecore\\.(ddns)\\.(rocks)", "{2}.{1}.{3}"}, true},
        {{"name", "regex", "\xedns\\.(core)\\.(rocks)", "{2}.{1}.{3}", "answer", "name", "(core)\\.(edns)\\.(rocks)", "{2}.{1}.{3}"}, true},
        {{"name", "substring", "fcore.dns.rocks", "dns.fcore.rocks", "answer", "name", "(fcore)\\.(dns)\\.(rocks)", "{2}.{1}.{3}"}, false},
        {{"name", "substring", "a.com", "b.com", "c.com"}, true},
        {{"type"}, true},
        {{"type", "a"}, true},
        {{"type", "any", "a", "a"}, true},
        {{"type", "any", "a"}, false},
        {{"type", "XY", "WV"}, true},
        {{"type", "ANY", "WV"}, true},
        {{"class"}, true},
        {{"class", "IN"}, true},
        {{"class", "ch", "in", "in"}, true},
        {{"class", "ch", "in"}, false},
        {{"class", "XY", "WV"}, true},
        {{"class", "IN", "WV"}, true},
        {{"edns0"}, true},
        {{"edns0", "local"}, true},
        {{"edns0", "local", "set"}, true},
        {{"edns0", "local", "set", "0xffee"}, true},
        {{"edns0", "local", "set", "65518", "abcdefg"}, false},
        {{"edns0", "local", "set", "0xffee", "abcdefg"}, false},
        {{"edns0", "local", "set", "0xffee", "abcdefg", "revert"}, false},
        {{"edns0", "local", "append", "0xffee", "abcdefg"}, false},
        {{"edns0", "local", "replace", "0xffee", "abcdefg", "revert"}, false},
        {{"edns0", "local", "foo", "0xffee", "abcdefg"}, true},
        {{"edns0", "local", "set", "0xffee", "0xabcdefg"}, true},
        {{"edns0", "nsid", "set", "junk"}, true},
        {{"edns0", "nsid", "set"}, false},
        {{"edns0", "nsid", "append", "revert"}, false},
        {{"edns0", "nsid", "foo"}, true},
        {{"edns0", "local", "set", "0xffee", "{dummy}"}, true},
        {{"edns0", "local", "set", "0xffee", "{qname}"}, false},
        {{"edns0", "local", "set", "0xffee", "{qtype}"}, false},
        {{"edns0", "local", "set", "0xffee", "{client_ip}"}, false},
        {{"edns0", "local", "set", "0xffee", "{client_port}"}, false},
        {{"edns0", "local", "set", "0xffee", "{protocol}"}, false},
        {{"edns0", "local", "set", "0xffee", "{server_ip}"}, false},
        {{"edns0", "local", "set", "0xffee", "{server_port}", "revert"}, false},
        {{"edns0", "local", "append", "0xffee", "{some-plugin/some-label}"}, false},
        {{"edns0", "subnet", "set", "-1", "56"}, true},
        {{"edns0", "subnet", "set", "24", "-56"}, true},
        {{"edns0", "subnet", "set", "33", "56"}, true},
        {{"edns0", "subnet", "set", "24", "129"}, true},
        {{"edns0", "subnet", "set", "24", "56"}, false},
        {{"edns0", "subnet", "append", "24", "56", "revert"}, false},
        {{"edns0", "subnet", "replace", "24", "56"}, false},
        {{"unknown-action", "name", "a.com", "b.com"}, true},
        {{"stop", "name", "a.com", "b.com"}, false},
        {{"continue", "name", "a.com", "b.com"}, false},
        {{"unknown-action", "type", "any", "a"}, true},
        {{"stop", "type", "any", "a"}, false},
        {{"continue", "edns0", "local", "set", "0xffee", "abcedef"}, false},
        {{"stop", "name", "suffix", "a.com", "b.com", "answer", "auto"}, false},
        {{"stop", "name", "suffix", "a.com", "b.com", "answer", "auto", "answer", "name", "x", "y"}, true},
        {{"stop", "name", "regex", "(.*)", "{1}.{2}"}, true},
        {{"cname", "a.com"}, true},
        {{"cname", "a.com.", "b.com."}, false},
        {{"cname", "exact", "a.com.", "b.com."}, false},
        {{"cname", "foo", "a.com.", "b.com."}, true},
        {{"ttl", "a.com", "30-300"}, false},
        {{"ttl", "regex", "(.*)\\.a\\.com", "30"}, false},
        {{"ttl", "a.com", "-"}, true},
        {{"ttl", "a.com", "300-30"}, true},
        {{"ttl", "a.com", "-30"}, false},
        {{"ttl", "a.com", "30-"}, false},
        {{"ttl", "bad", "a.com", "30"}, true},
    };
    for (size_t i = 0; i < cases.size(); ++i) {
        INFO("case " << i);
        CHECK(rule_err(cases[i].args).empty() == !cases[i].fail);
    }
}

TEST_CASE("rewrite rule error texts", "[rewrite][setup]") {
    CHECK(rule_err({"type", "XY", "WV"}) == "invalid type \"XY\"");
    CHECK(rule_err({"class", "IN", "WV"}) == "invalid class \"WV\"");
    CHECK(rule_err({"type", "a"}) == "type rules must have exactly two arguments");
    CHECK(rule_err({"name", "regex", "([a]\\.com", "new-{1}.com"}) == "invalid regex matching pattern: ([a]\\.com");
    CHECK(rule_err({"name", "regex", "(.*)", "{1}.{2}"}) ==
          "the rewrite regex pattern ({1}.{2}) uses more subexpressions than its corresponding matching regex pattern ((.*))");
    CHECK(rule_err({"name", "prefix", "a", "b", "nope"}) == "invalid arguments for prefix rule");
    CHECK(rule_err({"name", "prefix", "a", "b", "nope", "x"}) ==
          "exceeded the number of arguments for a non-answer rule argument for prefix rule");
    CHECK(rule_err({"name", "prefix", "a", "b", "answer", "ttl"}) == "invalid type \"ttl\" for answer rule for prefix rule");
    CHECK(rule_err({"name", "suffix", "a", "b", "answer", "auto", "answer", "name", "x", "y"}) ==
          "auto name answer rule cannot be combined with explicit name anwer rules");
    CHECK(rule_err({"name", "bogus", "a", "b"}) ==
          "name rule supports only exact, prefix, suffix, substring, and regex name matching, received: bogus");
    CHECK(rule_err({"edns0", "local", "foo", "1", "x"}) == "invalid action: \"foo\"");
    CHECK(rule_err({"edns0", "local", "set", "0xffee"}) == "EDNS0 local rules require three or four args");
    CHECK(rule_err({"edns0", "local", "set", "xyz", "a"}) == "strconv.ParseUint: parsing \"xyz\": invalid syntax");
    CHECK(rule_err({"edns0", "local", "set", "0x1ffff", "a"}) == "strconv.ParseUint: parsing \"0x1ffff\": value out of range");
    CHECK(rule_err({"edns0", "local", "set", "1", "0xabc"}) == "encoding/hex: odd length hex string");
    CHECK(rule_err({"edns0", "local", "set", "1", "0xzz"}) == "encoding/hex: invalid byte: U+007A 'z'");
    CHECK(rule_err({"edns0", "local", "set", "1", "{dummy}"}) == "unsupported variable name \"{dummy}\"");
    CHECK(rule_err({"edns0", "nsid", "set", "junk"}) == "EDNS0 NSID rules can accept no more than one arg");
    CHECK(rule_err({"edns0", "subnet", "set", "33", "56"}) == "invalid IPv4 bit mask length 33");
    CHECK(rule_err({"edns0", "subnet", "set", "24", "129"}) == "invalid IPv6 bit mask length 129");
    CHECK(rule_err({"edns0", "foo", "set"}) == "invalid rule type \"foo\"");
    CHECK(rule_err({"ttl", "a"}) == "too few (1) arguments for a ttl rule");
    CHECK(rule_err({"ttl", "a.com", "-"}) == "invalid TTL '-' for a ttl rule");
    CHECK(rule_err({"ttl", "bad", "a.com", "30"}) == "ttl rule supports only exact, prefix, suffix, substring, and regex name matching");
    CHECK(rule_err({"ttl", "regex", "(a", "30"}) == "invalid regex pattern in a ttl rule: (a");
    CHECK(rule_err({"rcode", "a.com", "2"}) == "too few (2) arguments for a rcode rule");
    CHECK(rule_err({"rcode", "a.com", "random", "nothing"}) == "invalid matching RCODE 'random' for a rcode rule");
    CHECK(rule_err({"rcode", "a.com", "2", "nothing"}) == "invalid replacement RCODE 'nothing' for a rcode rule");
    CHECK(rule_err({"rcode", "exact", "a.com", "2", "1", "0"}) == "invalid matching RCODE '' for a rcode rule");
    CHECK(rule_err({"cname", "a.com"}) == "too few (1) arguments for a cname rule");
    CHECK(rule_err({"cname", "foo", "a.", "b."}) == "unknown cname rewrite type: foo");
}
