// The kube-dns ConfigMap's JSON: Go's encoding/json results and error texts.
#include <string>

#include "nodecache/configmap.hpp"
#include "tests/support/catch.hpp"

using namespace dnscore::nodecache;

namespace {
std::string stub_error(const std::string& json) {
    try {
        parse_kubedns_config({{"stubDomains", json}});
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}
std::string syntax(const std::string& json) {
    const std::string prefix = "Invalid JSON in stubDomains: ";
    std::string e = stub_error(json);
    return e.rfind(prefix, 0) == 0 ? e.substr(prefix.size()) : "not a syntax error: " + e;
}
}  // namespace

TEST_CASE("configmap json: values as Go decodes them", "[nodecache][configmap]") {
    auto cfg = parse_kubedns_config({{"stubDomains", R"({"a.local": ["1.2.3.4"], "a.local": ["5.6.7.8"],
        "b.local": ["10.0.0.1:5353"], "c.local": null, "d.\u006cocal": ["1.1.1.1"]})"},
                                     {"upstreamNameservers", "null"}});
    CHECK(cfg.stub_domains.at("a.local") == std::vector<std::string>{"5.6.7.8"});  // last key wins
    CHECK(cfg.stub_domains.at("b.local") == std::vector<std::string>{"10.0.0.1:5353"});
    CHECK(cfg.stub_domains.at("c.local").empty());
    CHECK(cfg.stub_domains.count("d.local") == 1);
    CHECK(cfg.upstream_nameservers.empty());
    CHECK(parse_kubedns_config({{"stubDomains", "null"}}).stub_domains.empty());
    // Deep nesting is a type error, not a depth limit.
    CHECK(stub_error("{\"a.local\": [" + std::string(100, '[') + std::string(100, ']') + "]}") ==
          "json: cannot unmarshal array into Go value of type string (stubDomains)");
}

TEST_CASE("configmap json: type errors", "[nodecache][configmap]") {
    CHECK(stub_error(R"(["1.2.3.4"])") ==
          "json: cannot unmarshal array into Go value of type map[string][]string (stubDomains)");
    CHECK(stub_error(R"({"a.local": "1.2.3.4"})") ==
          "json: cannot unmarshal string into Go value of type []string (stubDomains)");
    CHECK(stub_error(R"({"a.local": [1]})") ==
          "json: cannot unmarshal number into Go value of type string (stubDomains)");
    CHECK(stub_error(R"({"a.local": [true]})") ==
          "json: cannot unmarshal bool into Go value of type string (stubDomains)");
}

TEST_CASE("configmap json: syntax errors carry Go's scanner texts", "[nodecache][configmap]") {
    CHECK(syntax("") == "unexpected end of JSON input");
    CHECK(syntax("  ") == "unexpected end of JSON input");
    CHECK(syntax(R"({"a.local": ["1.2.3.4"])") == "unexpected end of JSON input");
    CHECK(syntax(R"({"a.local": ["1.2.3.4"]}})") == "invalid character '}' after top-level value");
    CHECK(syntax("{} x") == "invalid character 'x' after top-level value");
    CHECK(syntax("{,}") == "invalid character ',' looking for beginning of object key string");
    CHECK(syntax(R"({"a" 1})") == "invalid character '1' after object key");
    CHECK(syntax(R"({"a": 1 x})") == "invalid character 'x' after object key:value pair");
    CHECK(syntax(R"({"a": 1,})") == "invalid character '}' looking for beginning of object key string");
    CHECK(syntax(R"({"a": [1 2]})") == "invalid character '2' after array element");
    CHECK(syntax(R"({"a": [1,,2]})") == "invalid character ',' looking for beginning of value");
    CHECK(syntax(R"({"a": })") == "invalid character '}' looking for beginning of value");
    CHECK(syntax("'a'") == R"(invalid character '\'' looking for beginning of value)");
    CHECK(syntax("{\"a\x01\": 1}") == R"(invalid character '\x01' in string literal)");
    CHECK(syntax("{\"a\n\": 1}") == R"(invalid character '\n' in string literal)");
    CHECK(syntax(R"({"\q": 1})") == "invalid character 'q' in string escape code");
    CHECK(syntax(R"({"\u12g4": 1})") == R"(invalid character 'g' in \u hexadecimal character escape)");
    CHECK(syntax(R"({"a": trux})") == "invalid character 'x' in literal true (expecting 'e')");
    CHECK(syntax(R"({"a": nul)") == "invalid character ' ' in literal null (expecting 'l')");
    CHECK(syntax(R"({"a": -x})") == "invalid character 'x' in numeric literal");
    CHECK(syntax(R"({"a": 1.})") == "invalid character '}' after decimal point in numeric literal");
    CHECK(syntax(R"({"a": 1e+})") == "invalid character '}' in exponent of numeric literal");
    CHECK(syntax("-") == "invalid character ' ' in numeric literal");
    CHECK(syntax("01") == "invalid character '1' after top-level value");
    CHECK(syntax("\xc3\xa9") == "invalid character '\xc3\x83' looking for beginning of value");  // the byte as U+00C3
    CHECK(syntax("\x80") == R"(invalid character '\u0080' looking for beginning of value)");
}
