// Regex: Go's regexp semantics and error texts through RE2.
#include "core/regex.hpp"

#include <stdexcept>

#include "tests/support/catch.hpp"

using namespace dnscore;

TEST_CASE("matching is Go's: unanchored, leftmost-first, RE2 syntax", "[regex]") {
    CHECK(Regex("(?i)timeout$").search("I/O TIMEOUT"));
    CHECK_FALSE(Regex("timeout$").search("I/O TIMEOUT"));
    CHECK(Regex("(?P<x>b)c").search("abc"));
    CHECK(Regex("^read udp").search("read udp 127.0.0.1:53: i/o timeout"));
    CHECK_FALSE(Regex("^udp").search("read udp"));
    CHECK(Regex(R"(\pL+)").search("é"));
    CHECK(Regex("[[:^alpha:]]").search("a1"));
    CHECK_FALSE(Regex("a.b").search("a\nb"));
    CHECK(Regex("(?s)a.b").search("a\nb"));
    CHECK_FALSE(Regex("^b$").search("a\nb"));
    CHECK(Regex("(?m)^b$").search("a\nb"));
    CHECK(Regex("").search("anything"));
    CHECK(Regex().search("anything"));
    CHECK(Regex("x{2,}").pattern() == "x{2,}");
    // Linear time: no catastrophic backtracking.
    CHECK_FALSE(Regex("(a+)+$").search(std::string(5000, 'a') + "!"));
}

TEST_CASE("compile errors carry Go's regexp/syntax text", "[regex]") {
    CHECK_THROWS_WITH(Regex("())"), "error parsing regexp: unexpected ): `())`");
    CHECK_THROWS_WITH(Regex("(a"), "error parsing regexp: missing closing ): `(a`");
    CHECK_THROWS_WITH(Regex("[a"), "error parsing regexp: missing closing ]: `[a`");
    CHECK_THROWS_WITH(Regex("*"), "error parsing regexp: missing argument to repetition operator: `*`");
    CHECK_THROWS_WITH(Regex("a**"), "error parsing regexp: invalid nested repetition operator: `**`");
    CHECK_THROWS_WITH(Regex("x{1001}"), "error parsing regexp: invalid repeat count: `{1001}`");
    CHECK_THROWS_WITH(Regex(R"(\q)"), R"(error parsing regexp: invalid escape sequence: `\q`)");
    CHECK_THROWS_WITH(Regex(R"(a\C)"), R"(error parsing regexp: invalid escape sequence: `\C`)");
    CHECK_NOTHROW(Regex(R"(\\C)"));
    CHECK_NOTHROW(Regex(R"(\Q\C\E)"));
    CHECK_THROWS_WITH(Regex("[z-a]"), "error parsing regexp: invalid character class range: `z-a`");
    CHECK_THROWS_WITH(Regex("a\\"), "error parsing regexp: trailing backslash at end of expression: ``");
    CHECK_THROWS_WITH(Regex("(?<x"), "error parsing regexp: invalid or unsupported Perl syntax: `(?<`");
    CHECK_THROWS_WITH(Regex("(?P<x!>a)"), "error parsing regexp: invalid named capture: `(?P<x!>`");
    CHECK_NOTHROW(Regex("(?P<x>a)(?P<x>b)"));  // Go allows a name twice
    CHECK_THROWS_AS(Regex("[[:foo:]]"), std::invalid_argument);
}
