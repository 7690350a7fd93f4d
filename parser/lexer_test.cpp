#include <string>
#include <utility>
#include <vector>

#include "parser/parser.hpp"
#include "tests/support/catch.hpp"

using dnscore::parser::lex;
using dnscore::parser::Token;

namespace {

// (line, text) pairs are easier to write and compare than whole tokens.
using Lexed = std::vector<std::pair<int, std::string>>;

Lexed lexed(const std::string& input) {
    Lexed out;
    for (const Token& t : lex(input, "Corefile")) out.emplace_back(t.line, t.text);
    return out;
}

struct LexCase {
    const char* name;
    std::string input;
    Lexed expected;
};

}  // namespace

TEST_CASE("lexer: table of inputs and tokens", "[lexer]") {
    const std::vector<LexCase> cases = {
        {"empty input", "", {}},
        {"only white space", " \t\n \n", {}},
        {"simple block", ". {\n  whoami\n}\n", {{1, "."}, {1, "{"}, {2, "whoami"}, {3, "}"}}},
        {"braces glued to words are not separate", ".{\nwhoami}\n", {{1, ".{"}, {2, "whoami}"}}},
        {"{} is one token", "a {}", {{1, "a"}, {1, "{}"}}},
        {"line counting", "a\n\n\nb c\n", {{1, "a"}, {4, "b"}, {4, "c"}}},
        {"CRLF behaves like LF", "a b\r\nc\r\n", {{1, "a"}, {1, "b"}, {2, "c"}}},
        {"CR inside a word is dropped", "a\rb", {{1, "ab"}}},
        {"comment line", "# hello\nwhoami\n", {{2, "whoami"}}},
        {"comment after tokens", "forward . 1.2.3.4 # upstream\ncache", {{1, "forward"}, {1, "."}, {1, "1.2.3.4"}, {2, "cache"}}},
        {"comment mid-word cuts the word", "whoami#x\nlog", {{1, "whoami"}, {2, "log"}}},
        // Upstream quirk: a mid-word comment only lasts until the next space.
        {"comment mid-word ends at white space", "whoami#x y z\n", {{1, "whoami"}, {1, "y"}, {1, "z"}}},
        {"comment at token start runs to end of line", "a #x y z\nb", {{1, "a"}, {2, "b"}}},
        {"hash inside quotes is literal", "\"a # b\" c", {{1, "a # b"}, {1, "c"}}},
        {"quoted token keeps spaces", "log \"{remote} {name}\"", {{1, "log"}, {1, "{remote} {name}"}}},
        {"empty quoted token", "a \"\" b", {{1, "a"}, {1, ""}, {1, "b"}}},
        {"quote not at token start is literal", "a\"b c\"", {{1, "a\"b"}, {1, "c\""}}},
        {"token starts right after closing quote", "\"ab\"cd", {{1, "ab"}, {1, "cd"}}},
        {"two quoted strings back to back", "\"ab\"\"cd\"", {{1, "ab"}, {1, "cd"}}},
        {"escaped quote", R"("say \"hi\"")", {{1, "say \"hi\""}}},
        {"other escapes kept verbatim", R"("a\nb\\c")", {{1, R"(a\nb\\c)"}}},
        {"backslash outside quotes is plain", R"(a\"b)", {{1, R"(a\"b)"}}},
        {"quoted token spanning lines", "\"a\nb\" c\nd", {{1, "a\nb"}, {2, "c"}, {3, "d"}}},
        {"CR kept inside quotes", "\"a\rb\"", {{1, "a\rb"}}},
        {"unterminated quote at EOF yields its text", "x \"abc", {{1, "x"}, {1, "abc"}}},
        {"lone quote at EOF yields nothing", "x \"", {{1, "x"}}},
        {"escaped final quote leaves string open", R"("a\")", {{1, "a\""}}},
        {"BOM dropped at start", "\xEF\xBB\xBFwhoami", {{1, "whoami"}}},
        {"BOM kept elsewhere", "a \xEF\xBB\xBF", {{1, "a"}, {1, "\xEF\xBB\xBF"}}},
        {"tab, VT and FF separate", "a\tb\vc\fd", {{1, "a"}, {1, "b"}, {1, "c"}, {1, "d"}}},
        {"NBSP separates", "a\xC2\xA0" "b", {{1, "a"}, {1, "b"}}},
        {"NEL separates without new line", "a\xC2\x85" "b\nc", {{1, "a"}, {1, "b"}, {2, "c"}}},
        {"U+2003 EM SPACE separates", "a\xE2\x80\x83" "b", {{1, "a"}, {1, "b"}}},
        {"U+3000 separates", "a\xE3\x80\x80" "b", {{1, "a"}, {1, "b"}}},
        {"U+200B ZERO WIDTH SPACE does not separate", "a\xE2\x80\x8B" "b", {{1, "a\xE2\x80\x8B" "b"}}},
        {"invalid UTF-8 becomes U+FFFD", "a\xFF" "b", {{1, "a\xEF\xBF\xBD" "b"}}},
        {"truncated UTF-8 becomes U+FFFD", "a\xC3", {{1, "a\xEF\xBF\xBD"}}},
        {"valid UTF-8 kept", "caf\xC3\xA9", {{1, "caf\xC3\xA9"}}},
        {"no line continuation", "a \\\nb", {{1, "a"}, {1, "\\"}, {2, "b"}}},
        {"comma stays in token", "a, b,c", {{1, "a,"}, {1, "b,c"}}},
        {"env syntax untouched by lexer", "{$HOME} {%X%}", {{1, "{$HOME}"}, {1, "{%X%}"}}},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        CHECK(lexed(c.input) == c.expected);
    }
}

TEST_CASE("lexer: file name is recorded in every token", "[lexer]") {
    auto toks = lex("a\nb", "/etc/coredns/Corefile");
    REQUIRE(toks.size() == 2);
    for (const auto& t : toks) CHECK(t.file == "/etc/coredns/Corefile");
}

TEST_CASE("lexer: quoted token line is the opening quote's line", "[lexer]") {
    auto toks = lex("\n\n  \"x\n\ny\" z", "f");
    REQUIRE(toks.size() == 2);
    CHECK(toks[0].line == 3);
    CHECK(toks[0].text == "x\n\ny");
    CHECK(toks[1].line == 5);
}
