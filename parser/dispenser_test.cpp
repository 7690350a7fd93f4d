#include <string>
#include <vector>

#include "parser/dispenser.hpp"
#include "parser/parser.hpp"
#include "tests/support/catch.hpp"

using dnscore::parser::Dispenser;
using dnscore::parser::lex;
using dnscore::parser::Token;

namespace {
Dispenser make(const std::string& text, const std::string& file = "Corefile") { return Dispenser(lex(text, file)); }
}  // namespace

TEST_CASE("dispenser: cursor starts before the first token", "[dispenser]") {
    auto d = make("forward . 1.2.3.4\n");
    CHECK(d.val().empty());
    CHECK(d.line() == 0);
    CHECK(d.file() == "Corefile");
    REQUIRE(d.next());
    CHECK(d.val() == "forward");
    CHECK(d.line() == 1);
}

TEST_CASE("dispenser: next walks every token and stops at the end", "[dispenser]") {
    auto d = make("a b\nc");
    std::vector<std::string> seen;
    while (d.next()) seen.push_back(d.val());
    CHECK(seen == std::vector<std::string>{"a", "b", "c"});
    CHECK_FALSE(d.next());
    CHECK(d.val() == "c");  // the cursor stays on the last token
}

TEST_CASE("dispenser: next_arg only advances on the same line", "[dispenser]") {
    auto d = make("dir arg1 arg2\nnext line");
    REQUIRE(d.next_arg());  // from -1, the first token is always loaded
    CHECK(d.val() == "dir");
    REQUIRE(d.next_arg());
    CHECK(d.val() == "arg1");
    REQUIRE(d.next_arg());
    CHECK(d.val() == "arg2");
    CHECK_FALSE(d.next_arg());
    CHECK(d.val() == "arg2");
    REQUIRE(d.next_line());
    CHECK(d.val() == "next");
    CHECK_FALSE(d.next_line());
    CHECK(d.next_arg());
    CHECK(d.val() == "line");
    CHECK_FALSE(d.next_arg());
}

TEST_CASE("dispenser: line breaks inside a quoted token count", "[dispenser]") {
    // "a\nb" starts on line 1 and ends on line 2, so c is on its line.
    auto d = make("x \"a\nb\" c\nd");
    REQUIRE(d.next());
    REQUIRE(d.next_arg());
    CHECK(d.val() == "a\nb");
    REQUIRE(d.next_arg());
    CHECK(d.val() == "c");
    CHECK_FALSE(d.next_arg());
    REQUIRE(d.next_line());
    CHECK(d.val() == "d");

    auto e = make("x \"a\nb\"\nc");
    REQUIRE(e.next());
    REQUIRE(e.next_arg());
    CHECK_FALSE(e.next_arg());  // c is on line 3, after the token's last line
    CHECK(e.next_line());
    CHECK(e.val() == "c");
}

TEST_CASE("dispenser: tokens from different files are never on the same line", "[dispenser]") {
    std::vector<Token> toks = {{"Corefile", 1, "import"}, {"/abs/other", 1, "x"}, {"/abs/other", 1, "y"}};
    Dispenser d(toks);
    REQUIRE(d.next());
    CHECK_FALSE(d.next_arg());
    CHECK(d.next_line());
    CHECK(d.val() == "x");
    CHECK(d.file() == "/abs/other");
    CHECK(d.next_arg());
    CHECK(d.val() == "y");
}

TEST_CASE("dispenser: remaining_args stops before an opening brace", "[dispenser]") {
    auto d = make("forward . 1.1.1.1 8.8.8.8 {\n  max_fails 3\n}\n");
    REQUIRE(d.next());
    CHECK(d.remaining_args() == std::vector<std::string>{".", "1.1.1.1", "8.8.8.8"});
    CHECK(d.val() == "8.8.8.8");  // '{' not loaded
    REQUIRE(d.next_block());
    CHECK(d.val() == "max_fails");
    CHECK(d.remaining_args() == std::vector<std::string>{"3"});
    CHECK_FALSE(d.next_block());
    CHECK(d.val() == "}");
    CHECK(d.nesting() == 0);
}

TEST_CASE("dispenser: remaining_args empty at end of line", "[dispenser]") {
    auto d = make("cache\nlog");
    REQUIRE(d.next());
    CHECK(d.remaining_args().empty());
    CHECK(d.val() == "cache");
}

TEST_CASE("dispenser: next_block iterates a block", "[dispenser]") {
    auto d = make("errors {\n  consolidate 5m \".* timeout\"\n  stacktrace\n}\nlog\n");
    REQUIRE(d.next());
    std::vector<std::string> seen;
    while (d.next_block()) {
        seen.push_back(d.val());
        CHECK(d.nesting() == 1);
    }
    CHECK(seen == std::vector<std::string>{"consolidate", "5m", ".* timeout", "stacktrace"});
    CHECK(d.val() == "}");
    CHECK(d.nesting() == 0);
    REQUIRE(d.next());
    CHECK(d.val() == "log");
}

TEST_CASE("dispenser: next_block without a block rolls back", "[dispenser]") {
    auto d = make("cache 30 example.org\nlog");
    REQUIRE(d.next());
    REQUIRE(d.next_arg());
    CHECK_FALSE(d.next_block());
    CHECK(d.val() == "30");  // cursor restored
    CHECK(d.next_arg());
    CHECK(d.val() == "example.org");
    CHECK_FALSE(d.next_block());  // end of line: nothing on the same line
    CHECK(d.val() == "example.org");
}

TEST_CASE("dispenser: block on the next line is not a block", "[dispenser]") {
    auto d = make("cache\n{\nsuccess 10\n}");
    REQUIRE(d.next());
    CHECK_FALSE(d.next_block());
    CHECK(d.val() == "cache");
}

TEST_CASE("dispenser: empty block opened and closed at once", "[dispenser]") {
    auto d = make("cache {\n}\nlog");
    REQUIRE(d.next());
    CHECK_FALSE(d.next_block());
    CHECK(d.val() == "}");
    CHECK(d.nesting() == 0);
    REQUIRE(d.next());
    CHECK(d.val() == "log");
}

TEST_CASE("dispenser: one-line block", "[dispenser]") {
    auto d = make("errors { consolidate 1m .* }");
    REQUIRE(d.next());
    std::vector<std::string> seen;
    while (d.next_block()) seen.push_back(d.val());
    CHECK(seen == std::vector<std::string>{"consolidate", "1m", ".*"});
}

TEST_CASE("dispenser: nested block content is seen flat", "[dispenser]") {
    // caddy v1 does not track inner braces: the first '}' ends the loop.
    auto d = make("a {\n b {\n  c\n }\n d\n}");
    REQUIRE(d.next());
    std::vector<std::string> seen;
    while (d.next_block()) seen.push_back(d.val());
    CHECK(seen == std::vector<std::string>{"b", "{", "c"});
    CHECK(d.val() == "}");
}

TEST_CASE("dispenser: unterminated block at EOF ends there (caddy's NextBlock returns true forever)",
          "[dispenser]") {
    auto d = make("a {\n b");
    REQUIRE(d.next());
    REQUIRE(d.next_block());
    CHECK(d.val() == "b");
    CHECK_FALSE(d.next_block());  // out of tokens: the block ends (a setup loop would spin in Go)
    CHECK(d.val() == "b");
    CHECK_FALSE(d.next_block());
}

TEST_CASE("dispenser: error messages", "[dispenser]") {
    auto d = make("\n\nforward\n");
    REQUIRE(d.next());
    CHECK(std::string(d.arg_err().what()) ==
          "Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending after 'forward'");
    CHECK(std::string(d.err("some problem").what()) == "Corefile:3 - Error during parsing: some problem");
    CHECK(std::string(d.syntax_err("}").what()) ==
          "Corefile:3 - Syntax error: Unexpected token 'forward', expecting '}'");
    CHECK(std::string(d.eof_err().what()) == "Corefile:3 - Error during parsing: Unexpected EOF");

    auto b = make("cache {\n}");
    REQUIRE(b.next());
    REQUIRE(b.next_arg());
    CHECK(std::string(b.arg_err().what()) == "Corefile:1 - Error during parsing: Unexpected token '{', expecting argument");

    auto imported = make("x", "/etc/coredns/zones.conf");
    REQUIRE(imported.next());
    CHECK(std::string(imported.arg_err().what()) ==
          "/etc/coredns/zones.conf:1 - Error during parsing: Wrong argument count or unexpected line ending after 'x'");
}

TEST_CASE("dispenser: errors before the first token report line 0", "[dispenser]") {
    auto d = make("cache");
    CHECK(std::string(d.arg_err().what()) ==
          "Corefile:0 - Error during parsing: Wrong argument count or unexpected line ending after ''");
}

TEST_CASE("dispenser: empty token list", "[dispenser]") {
    Dispenser d(std::vector<Token>{});
    CHECK_FALSE(d.next());
    CHECK(d.next_arg());  // from -1 NextArg always advances (caddy quirk)
    CHECK(d.val().empty());
    CHECK_FALSE(d.next_arg());
    CHECK(d.remaining_args().empty());
}

TEST_CASE("dispenser: a block whose '}' was read as an argument ends at the last token", "[dispenser]") {
    // hosts' inline lines read remaining_args, which takes a "}" on the same
    // line; the block then never closes. Found by tests/fuzz (corefile),
    // where it hung the setup (as it would hang CoreDNS).
    auto d = make("hosts {\n  1.2.3.4 a }\nhosts b\n");
    REQUIRE(d.next());
    int lines = 0;
    while (d.next_block()) {
        d.remaining_args();
        REQUIRE(++lines < 10);
    }
    CHECK(lines == 2);  // "1.2.3.4 a }" and the second occurrence's "hosts b"
    CHECK_FALSE(d.next());
}
