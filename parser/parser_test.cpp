#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "parser/parser.hpp"
#include "tests/support/catch.hpp"

namespace fs = std::filesystem;
using dnscore::parser::canonical_json;
using dnscore::parser::ConfigError;
using dnscore::parser::expand_env;
using dnscore::parser::parse;
using dnscore::parser::parse_file;
using dnscore::parser::ParseOptions;
using dnscore::parser::ServerBlock;

namespace {

const ParseOptions kOpts{{"whoami", "log", "errors", "forward", "cache", "import", "reload", "health", "hosts",
                          "bind", "prometheus", "rewrite", "template"}};

std::string error_of(const std::string& text, const std::string& file = "Corefile",
                     const ParseOptions& opts = kOpts) {
    try {
        parse(text, file, opts);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "<no error>";
}

// All token texts of one directive, in order.
std::vector<std::string> texts(const ServerBlock& b, const std::string& dir) {
    std::vector<std::string> out;
    auto it = b.tokens.find(dir);
    if (it == b.tokens.end()) return out;
    for (const auto& t : it->second) out.push_back(t.text);
    return out;
}

using Strings = std::vector<std::string>;

// A scratch directory, removed at the end of the test.
struct TempDir {
    fs::path path;
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "dnscore-parser-XXXXXX").string();
        REQUIRE(mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string write(const std::string& rel, const std::string& content) const {
        fs::path p = path / rel;
        fs::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary) << content;
        return p.string();
    }
    std::string file(const std::string& rel) const { return (path / rel).string(); }
};

// Captures std::cout for the lifetime of the object.
struct CoutCapture {
    std::ostringstream buf;
    std::streambuf* old;
    CoutCapture() : old(std::cout.rdbuf(buf.rdbuf())) {}
    ~CoutCapture() { std::cout.rdbuf(old); }
};

}  // namespace

TEST_CASE("parser: basic server blocks", "[parser]") {
    SECTION("braced block") {
        auto blocks = parse(". {\n  whoami\n  log\n}\n", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].keys == Strings{"."});
        CHECK(blocks[0].directive_order == Strings{"whoami", "log"});
        CHECK(texts(blocks[0], "whoami") == Strings{"whoami"});
        CHECK(texts(blocks[0], "log") == Strings{"log"});
    }
    SECTION("several keys on one line") {
        auto blocks = parse("example.org example.net:1053 {\n whoami\n}", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].keys == Strings{"example.org", "example.net:1053"});
        REQUIRE(blocks[0].key_tokens.size() == 2);
        CHECK(blocks[0].key_tokens[1].text == "example.net:1053");
        CHECK(blocks[0].key_tokens[1].line == 1);
        CHECK(blocks[0].key_tokens[1].file == "Corefile");
    }
    SECTION("comma-separated keys") {
        auto blocks = parse("a, b,c {\n whoami\n}", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].keys == Strings{"a", "b,c"});  // a comma inside a token is no separator
    }
    SECTION("comma continues the key list on the next line") {
        auto blocks = parse("a,\nb,\n  c {\n whoami\n}", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].keys == Strings{"a", "b", "c"});
        CHECK(blocks[0].key_tokens[2].line == 3);
    }
    SECTION("opening brace on the next line") {
        auto blocks = parse(".\n{\n whoami\n}\n", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].keys == Strings{"."});
        CHECK(texts(blocks[0], "whoami") == Strings{"whoami"});
    }
    SECTION("block without braces runs to EOF") {
        auto blocks = parse(".:1053\nwhoami\nlog\n", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].keys == Strings{".:1053"});
        CHECK(blocks[0].directive_order == Strings{"whoami", "log"});
    }
    SECTION("stray closing brace ends an unbraced body") {
        auto blocks = parse("a\nwhoami\n}\nb {\nlog\n}", "Corefile", kOpts);
        REQUIRE(blocks.size() == 2);
        CHECK(blocks[0].keys == Strings{"a"});
        CHECK(blocks[1].keys == Strings{"b"});
        CHECK(blocks[1].directive_order == Strings{"log"});
    }
    SECTION("only a line of keys") {
        auto blocks = parse("example.org\n", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].keys == Strings{"example.org"});
        CHECK(blocks[0].tokens.empty());
    }
    SECTION("blocks are kept in file order") {
        auto blocks = parse("b {\n whoami\n}\na {\n log\n}\nc {\n}\n", "Corefile", kOpts);
        REQUIRE(blocks.size() == 3);
        CHECK(blocks[0].keys == Strings{"b"});
        CHECK(blocks[1].keys == Strings{"a"});
        CHECK(blocks[2].keys == Strings{"c"});
        CHECK(blocks[2].tokens.empty());
    }
    SECTION("empty input and comment-only input give no blocks") {
        CHECK(parse("", "Corefile", kOpts).empty());
        CHECK(parse("# nothing\n   \n# here\n", "Corefile", kOpts).empty());
        CHECK(parse("\xEF\xBB\xBF", "Corefile", kOpts).empty());
    }
    SECTION("BOM and CRLF") {
        auto blocks = parse("\xEF\xBB\xBF.:53 {\r\n  whoami\r\n}\r\n", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].keys == Strings{".:53"});
        CHECK(texts(blocks[0], "whoami") == Strings{"whoami"});
    }
    SECTION("mid-word comment") {
        auto blocks = parse(". {\n whoami#comment\n log\n}", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].directive_order == Strings{"whoami", "log"});
    }
}

TEST_CASE("parser: directive tokens", "[parser]") {
    SECTION("arguments and nested block") {
        auto blocks = parse(". {\n forward . 1.1.1.1 8.8.8.8 {\n  max_fails 3\n  policy sequential\n }\n cache 30\n}",
                            "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(texts(blocks[0], "forward") ==
              Strings{"forward", ".", "1.1.1.1", "8.8.8.8", "{", "max_fails", "3", "policy", "sequential", "}"});
        CHECK(texts(blocks[0], "cache") == Strings{"cache", "30"});
        const auto& fw = blocks[0].tokens.at("forward");
        CHECK(fw[0].line == 2);
        CHECK(fw[5].line == 3);
        CHECK(fw[9].line == 5);
    }
    SECTION("directive block opened and closed on one line") {
        auto blocks = parse(". {\n errors { consolidate 1m .* }\n whoami\n}", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(texts(blocks[0], "errors") == Strings{"errors", "{", "consolidate", "1m", ".*", "}"});
    }
    SECTION("deeper nesting") {
        auto blocks = parse(". {\n template IN A {\n  answer \"{{ .Name }} 60 IN A 1.2.3.4\"\n  fallthrough {\n x\n }\n }\n}",
                            "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(texts(blocks[0], "template") == Strings{"template", "IN", "A", "{", "answer",
                                                      "{{ .Name }} 60 IN A 1.2.3.4", "fallthrough", "{", "x", "}", "}"});
    }
    SECTION("occurrences are grouped by name in source order") {
        auto blocks = parse(". {\n log\n whoami\n log stdout\n cache 10\n log { class error }\n}", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].directive_order == Strings{"log", "whoami", "cache"});
        CHECK(texts(blocks[0], "log") == Strings{"log", "log", "stdout", "log", "{", "class", "error", "}"});
        const auto& log = blocks[0].tokens.at("log");
        CHECK(log[0].line == 2);
        CHECK(log[1].line == 4);
        CHECK(log[3].line == 6);
    }
    SECTION("quoted argument spanning lines stays with its directive") {
        auto blocks = parse(". {\n rewrite \"a\nb\" c\n whoami\n}", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(texts(blocks[0], "rewrite") == Strings{"rewrite", "a\nb", "c"});
        CHECK(texts(blocks[0], "whoami") == Strings{"whoami"});
    }
    SECTION("EOF quirk: the directive block's brace also closes the server block") {
        auto blocks = parse(". {\n whoami\n errors {\n }", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(texts(blocks[0], "errors") == Strings{"errors", "{", "}"});
    }
    SECTION("any directive accepted without a list") {
        auto blocks = parse(". {\n foo bar\n}", "Corefile", ParseOptions{});
        REQUIRE(blocks.size() == 1);
        CHECK(texts(blocks[0], "foo") == Strings{"foo", "bar"});
    }
    SECTION("directive names are case-sensitive") {
        CHECK(error_of(". {\n Whoami\n}") == "Corefile:2 - Error during parsing: Unknown directive 'Whoami'");
    }
}

TEST_CASE("parser: syntax errors", "[parser]") {
    struct Case {
        const char* name;
        std::string input;
        std::string msg;
    };
    const std::vector<Case> cases = {
        {"unknown directive", ". {\n whoami\n foo\n}", "Corefile:3 - Error during parsing: Unknown directive 'foo'"},
        {"unknown directive without braces", ".\nbar", "Corefile:2 - Error during parsing: Unknown directive 'bar'"},
        {"missing closing brace", ". {\n whoami\n", "Corefile:2 - Syntax error: Unexpected token 'whoami', expecting '}'"},
        {"missing closing brace after args", ". {\n whoami\n cache 30\n",
         "Corefile:3 - Syntax error: Unexpected token '30', expecting '}'"},
        {"closing brace on the directive line", ". { whoami }",
         "Corefile:1 - Error during parsing: Unexpected '}' because no matching opening brace"},
        {"closing brace after directive args", ". {\n cache 30 }\n",
         "Corefile:2 - Error during parsing: Unexpected '}' because no matching opening brace"},
        {"extra comma before brace", "a, {\n whoami\n}",
         "Corefile:1 - Error during parsing: Expected another address but had '{' - check for extra comma"},
        {"trailing comma at EOF", "a,", "Corefile:1 - Error during parsing: Unexpected EOF"},
        {"trailing comma then comment", "a, # x\n", "Corefile:1 - Error during parsing: Unexpected EOF"},
        {"unterminated directive block", ". {\n forward . 1.1.1.1 {\n  max_fails 3\n",
         "Corefile:3 - Error during parsing: Unexpected EOF"},
        {"unterminated directive block in unbraced body", ".\nforward . 1.1.1.1 {",
         "Corefile:2 - Error during parsing: Unexpected EOF"},
        {"block never closed but next block starts", "a {\n whoami\nb {\n log\n}\n",
         "Corefile:3 - Error during parsing: Unknown directive 'b'"},
        {"import without argument", ". {\n import\n}",
         "Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after 'import'"},
        {"import with two arguments", ". {\n import a b\n}",
         "Corefile:2 - Error during parsing: Import takes only one argument (glob pattern or file)"},
        {"import with empty argument", ". {\n import \"\"\n}",
         "Corefile:2 - Error during parsing: Import requires a non-empty filepath"},
        {"import argument expanding to nothing", ". {\n import {$DNSCORE_TEST_UNSET_VAR}\n}",
         "Corefile:2 - Error during parsing: Import requires a non-empty filepath"},
        {"top-level import without argument", "import\n", "Corefile:1 - Error during parsing: Wrong argument count or unexpected line ending after 'import'"},
        {"snippet redeclared", "(s) {\n whoami\n}\n(s) {\n log\n}",
         "Corefile:4 - Error during parsing: redeclaration of previously declared snippet s"},
        {"snippet importing itself", "(s) {\n whoami\n import s\n}\n. {\n import s\n}",
         "Corefile:3 - Error during parsing: import cycle: snippet s -> snippet s"},
        {"snippet without braces", "(s)\nwhoami\n", "Corefile:2 - Syntax error: Unexpected token 'whoami', expecting '{'"},
        {"snippet not closed", "(s) {\n whoami\n", "Corefile:2 - Syntax error: Unexpected token 'whoami', expecting '}'"},
        {"unknown directive in snippet surfaces at import", "(s) {\n nope\n}\n. {\n import s\n}",
         "Corefile:2 - Error during parsing: Unknown directive 'nope'"},
        {"snippets importing each other", "(a) {\n import b\n}\n(b) {\n import a\n}\n. {\n import a\n}",
         "Corefile:5 - Error during parsing: import cycle: snippet a -> snippet b -> snippet a"},
        {"missing import file", ". {\n import nope.conf\n}",
         "Corefile:2 - Error during parsing: File to import not found: nope.conf"},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        CHECK(error_of(c.input) == c.msg);
    }
}

TEST_CASE("parser: empty-key blocks are dropped", "[parser]") {
    unsetenv("DNSCORE_TEST_EMPTY");
    auto blocks = parse("{$DNSCORE_TEST_EMPTY} {\n whoami\n}\n\"\" {\n log\n}\n. {\n cache\n}", "Corefile", kOpts);
    REQUIRE(blocks.size() == 1);
    CHECK(blocks[0].keys == Strings{"."});
    // Still parsed: errors inside an empty-key block are reported.
    CHECK(error_of("{$DNSCORE_TEST_EMPTY} {\n nope\n}") == "Corefile:2 - Error during parsing: Unknown directive 'nope'");
}

TEST_CASE("parser: environment substitution", "[parser]") {
    setenv("DNSCORE_T_ZONE", "example.org", 1);
    setenv("DNSCORE_T_PORT", "1053", 1);
    setenv("DNSCORE_T_UP", "9.9.9.9", 1);
    setenv("DNSCORE_T_DIR", "cache", 1);
    setenv("DNSCORE_T_NESTED", "{$DNSCORE_T_ZONE}", 1);
    setenv("DNSCORE_T_SPACE", "a b", 1);
    unsetenv("DNSCORE_T_UNSET");

    SECTION("expand_env rules") {
        struct Case {
            const char* in;
            const char* want;
        };
        const std::vector<Case> cases = {
            {"{$DNSCORE_T_ZONE}", "example.org"},
            {"{%DNSCORE_T_ZONE%}", "example.org"},
            {"{$DNSCORE_T_ZONE}:{$DNSCORE_T_PORT}", "example.org:1053"},
            {"{%DNSCORE_T_ZONE%}:{$DNSCORE_T_PORT}", "example.org:1053"},
            {"x{$DNSCORE_T_ZONE}y{$DNSCORE_T_ZONE}z", "xexample.orgyexample.orgz"},
            {"{$DNSCORE_T_UNSET}", ""},
            {"a{$DNSCORE_T_UNSET}b", "ab"},
            {"{%DNSCORE_T_ZONE}", "{%DNSCORE_T_ZONE}"},  // malformed: left alone
            {"{$DNSCORE_T_ZONE", "{$DNSCORE_T_ZONE"},
            {"{$}", "{$}"},
            {"{$}{$DNSCORE_T_ZONE}", "{$}{$DNSCORE_T_ZONE}"},  // empty reference stops processing
            {"{%%}{$DNSCORE_T_ZONE}", "{%%}example.org"},      // only the {% %} pass stops
            {"{$DNSCORE_T_PORT$}", ""},                         // looks up "DNSCORE_T_PORT$"
            {"{$DNSCORE_T_NESTED}", "example.org"},            // re-scanned after replacement
            {"{%DNSCORE_T_NESTED%}", "example.org"},           // the {$ pass sees the {% result
            {"{$DNSCORE_T_ZONE}{$}{$DNSCORE_T_ZONE}", "example.org{$}example.org"},  // replaced everywhere first
            {"{$DNSCORE_T_ZONE}{$}{$DNSCORE_T_PORT}", "example.org{$}{$DNSCORE_T_PORT}"},
            {"{{ .Name }}", "{{ .Name }}"},
            {"{{$DNSCORE_T_ZONE}}", "{example.org}"},
            {"plain", "plain"},
        };
        for (const auto& c : cases) {
            INFO(c.in);
            CHECK(expand_env(c.in) == c.want);
        }
    }
    SECTION("a variable referring to itself ends (CoreDNS loops forever)") {
        setenv("DNSCORE_T_SELF", "{$DNSCORE_T_SELF}", 1);
        CHECK(expand_env("{$DNSCORE_T_SELF}") == "{$DNSCORE_T_SELF}");
        CHECK(expand_env("a{$DNSCORE_T_SELF}b{$DNSCORE_T_SELF}") == "a{$DNSCORE_T_SELF}b{$DNSCORE_T_SELF}");
        setenv("DNSCORE_T_SELF", "{$DNSCORE_T_SELF}{$DNSCORE_T_SELF}", 1);
        CHECK(expand_env("{$DNSCORE_T_SELF}") == "{$DNSCORE_T_SELF}{$DNSCORE_T_SELF}");
        setenv("DNSCORE_T_SELF", "x{%DNSCORE_T_SELF%}", 1);
        CHECK(expand_env("{%DNSCORE_T_SELF%}") == "x{%DNSCORE_T_SELF%}");
        // Two variables naming each other: each stops at its own name.
        setenv("DNSCORE_T_PING", "ping {$DNSCORE_T_PONG}", 1);
        setenv("DNSCORE_T_PONG", "pong {$DNSCORE_T_PING}", 1);
        CHECK(expand_env("{$DNSCORE_T_PING}") == "ping pong {$DNSCORE_T_PING}");
        // In a Corefile, with the token kept whole.
        setenv("DNSCORE_T_SELF", "{$DNSCORE_T_SELF}{$DNSCORE_T_SELF}", 1);
        auto blocks = parse(". {\n log {$DNSCORE_T_SELF}\n}", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(texts(blocks[0], "log") == Strings{"log", "{$DNSCORE_T_SELF}{$DNSCORE_T_SELF}"});
        unsetenv("DNSCORE_T_SELF");
        unsetenv("DNSCORE_T_PING");
        unsetenv("DNSCORE_T_PONG");
    }
    SECTION("an expansion growing past 1 MiB is an error with the position") {
        // Each level doubles: 2^25 copies of "x" without the cap.
        setenv("DNSCORE_T_G0", "xx", 1);
        for (int i = 1; i <= 25; ++i) {
            std::string prev = "{$DNSCORE_T_G" + std::to_string(i - 1) + "}";
            setenv(("DNSCORE_T_G" + std::to_string(i)).c_str(), (prev + prev).c_str(), 1);
        }
        CHECK(expand_env("{$DNSCORE_T_G15}").size() == 65536);
        CHECK(error_of(". {\n log {$DNSCORE_T_G25}\n}") ==
              "Corefile:2 - Error during parsing: expanding environment variables in '{$DNSCORE_T_G25}' gives "
              "more than 1048576 bytes");
        for (int i = 0; i <= 25; ++i) unsetenv(("DNSCORE_T_G" + std::to_string(i)).c_str());
    }
    SECTION("keys, directive names and arguments are expanded") {
        auto blocks = parse("{$DNSCORE_T_ZONE}:{$DNSCORE_T_PORT} {\n {$DNSCORE_T_DIR} 30\n forward . {%DNSCORE_T_UP%}\n}",
                            "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].keys == Strings{"example.org:1053"});
        CHECK(texts(blocks[0], "forward") == Strings{"forward", ".", "9.9.9.9"});
        // The directive's own name token is kept as written (as upstream does).
        CHECK(texts(blocks[0], "cache") == Strings{"{$DNSCORE_T_DIR}", "30"});
    }
    SECTION("expansion works inside quotes and is not re-tokenised") {
        auto blocks = parse(". {\n log \"{$DNSCORE_T_SPACE} {remote}\" {$DNSCORE_T_SPACE}\n}", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(texts(blocks[0], "log") == Strings{"log", "a b {remote}", "a b"});
    }
    SECTION("comma after an expanded key") {
        auto blocks = parse("{$DNSCORE_T_ZONE},\n{$DNSCORE_T_UNSET} b {\n whoami\n}", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].keys == Strings{"example.org", "b"});
    }
    SECTION("unknown directive reports the expanded name") {
        setenv("DNSCORE_T_BAD", "bogus", 1);
        CHECK(error_of(". {\n {$DNSCORE_T_BAD}\n}") == "Corefile:2 - Error during parsing: Unknown directive 'bogus'");
    }
}

TEST_CASE("parser: snippets", "[parser]") {
    SECTION("imported into a block") {
        auto blocks = parse("(common) {\n log\n errors\n}\n. {\n import common\n whoami\n}", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].keys == Strings{"."});
        CHECK(blocks[0].directive_order == Strings{"log", "errors", "whoami"});
        CHECK(blocks[0].tokens.at("log")[0].line == 2);  // snippet tokens keep their lines
    }
    SECTION("imported into several blocks") {
        auto blocks = parse("(c) {\n cache 30\n}\na {\n import c\n}\nb {\n import c\n log\n}", "Corefile", kOpts);
        REQUIRE(blocks.size() == 2);
        CHECK(texts(blocks[0], "cache") == Strings{"cache", "30"});
        CHECK(texts(blocks[1], "cache") == Strings{"cache", "30"});
        CHECK(texts(blocks[1], "log") == Strings{"log"});
    }
    SECTION("snippet with nested braces") {
        auto blocks = parse("(f) {\n forward . 1.1.1.1 {\n  max_fails 2\n }\n}\n. {\n import f\n}", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(texts(blocks[0], "forward") == Strings{"forward", ".", "1.1.1.1", "{", "max_fails", "2", "}"});
    }
    SECTION("snippet containing whole server blocks, imported at top level") {
        auto blocks = parse("(servers) {\n a {\n  whoami\n }\n b {\n  log\n }\n}\nimport servers\n", "Corefile", kOpts);
        REQUIRE(blocks.size() == 2);
        CHECK(blocks[0].keys == Strings{"a"});
        CHECK(blocks[1].keys == Strings{"b"});
    }
    SECTION("snippet of a bare word imported at top level becomes a key") {
        auto blocks = parse("(w) {\n whoami\n}\nimport w\n", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].keys == Strings{"whoami"});
    }
    SECTION("snippet defined after use is looked up as a file") {
        CHECK(error_of(". {\n import later\n}\n(later) {\n log\n}") ==
              "Corefile:2 - Error during parsing: File to import not found: later");
    }
    SECTION("snippet using another snippet") {
        auto blocks = parse("(a) {\n log\n}\n(b) {\n import a\n whoami\n}\n. {\n import b\n}", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].directive_order == Strings{"log", "whoami"});
    }
    SECTION("import inside a directive's nested block") {
        auto blocks = parse("(opts) {\n max_fails 3\n}\n. {\n forward . 1.1.1.1 {\n  import opts\n }\n}", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(texts(blocks[0], "forward") == Strings{"forward", ".", "1.1.1.1", "{", "max_fails", "3", "}"});
    }
    SECTION("import name via environment") {
        setenv("DNSCORE_T_SNIP", "s", 1);
        auto blocks = parse("(s) {\n whoami\n}\n. {\n import {$DNSCORE_T_SNIP}\n}", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].directive_order == Strings{"whoami"});
    }
    SECTION("only snippets: no server blocks") {
        CHECK(parse("(s) {\n whoami\n}\n", "Corefile", kOpts).empty());
    }
    SECTION("empty snippet imports nothing") {
        auto blocks = parse("(e) {\n}\n. {\n import e\n whoami\n}", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].directive_order == Strings{"whoami"});
    }
    SECTION("a snippet key alone on the last line is a server key") {
        auto blocks = parse("(s)", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].keys == Strings{"(s)"});
    }
}

TEST_CASE("parser: importing files", "[parser]") {
    TempDir dir;
    const std::string main = dir.file("Corefile");

    SECTION("relative to the importing file, with nested imports") {
        dir.write("conf/plugins.conf", "log\nimport more/extra.conf\n");
        dir.write("conf/more/extra.conf", "errors\n");
        auto blocks = parse(". {\n import conf/plugins.conf\n whoami\n}", main, kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].directive_order == Strings{"log", "errors", "whoami"});
        const auto& log = blocks[0].tokens.at("log")[0];
        CHECK(log.file == dir.file("conf/plugins.conf"));
        CHECK(log.line == 1);
        CHECK(blocks[0].tokens.at("errors")[0].file == dir.file("conf/more/extra.conf"));
        CHECK(blocks[0].tokens.at("whoami")[0].file == main);
    }
    SECTION("absolute path") {
        std::string abs = dir.write("abs.conf", "cache 10\n");
        auto blocks = parse(". {\n import " + abs + "\n}", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(texts(blocks[0], "cache") == Strings{"cache", "10"});
    }
    SECTION("whole server blocks at top level") {
        dir.write("zones/a.conf", "a.example {\n whoami\n}\n");
        dir.write("zones/b.conf", "b.example {\n log\n}\n");
        auto blocks = parse("import zones/*.conf\n. {\n cache\n}\n", main, kOpts);
        REQUIRE(blocks.size() == 3);
        CHECK(blocks[0].keys == Strings{"a.example"});  // glob matches are sorted
        CHECK(blocks[1].keys == Strings{"b.example"});
        CHECK(blocks[2].keys == Strings{"."});
        CHECK(blocks[0].key_tokens[0].file == dir.file("zones/a.conf"));
    }
    SECTION("glob with no match prints a warning and imports nothing") {
        CoutCapture cap;
        auto blocks = parse(". {\n import none/*.conf\n whoami\n}", main, kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].directive_order == Strings{"whoami"});
        CHECK(cap.buf.str() == "[WARNING] No files matching import glob pattern: none/*.conf\n");
    }
    SECTION("glob-only Corefile gives no blocks") {
        CoutCapture cap;
        CHECK(parse("import nothing-here-*.conf\n", main, kOpts).empty());
    }
    SECTION("glob matches dot files like Go") {
        dir.write("d/.hidden", "log\n");
        auto blocks = parse(". {\n import d/*\n}", main, kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].directive_order == Strings{"log"});
    }
    SECTION("question-mark glob") {
        dir.write("q/a1", "log\n");
        dir.write("q/a22", "cache\n");
        auto blocks = parse(". {\n import q/a?\n}", main, kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].directive_order == Strings{"log"});
    }
    SECTION("errors inside an imported file name that file") {
        std::string path = dir.write("bad.conf", "whoami\n\nbogus\n");
        CHECK(error_of(". {\n import bad.conf\n}", main) == path + ":3 - Error during parsing: Unknown directive 'bogus'");
    }
    SECTION("imported tokens are not on the importing file's line") {
        dir.write("args.conf", "1.1.1.1\n");
        // `forward .` ends at the line break even though the import token
        // follows on the next line of the same block.
        auto blocks = parse(". {\n forward .\n import args.conf\n}", main, ParseOptions{});
        REQUIRE(blocks.size() == 1);
        CHECK(texts(blocks[0], "forward") == Strings{"forward", "."});
        CHECK(texts(blocks[0], "1.1.1.1") == Strings{"1.1.1.1"});
    }
    SECTION("missing file") {
        CHECK(error_of(". {\n import missing.conf\n}", main) ==
              main + ":2 - Error during parsing: File to import not found: missing.conf");
    }
    SECTION("directory") {
        fs::create_directories(dir.path / "sub");
        CHECK(error_of(". {\n import sub\n}", main) ==
              main + ":2 - Error during parsing: Could not import " + dir.file("sub") + ": is a directory");
    }
    SECTION("empty file") {
        std::string path = dir.write("empty.conf", "");
        CHECK(error_of(". {\n import empty.conf\n}", main) ==
              main + ":2 - Error during parsing: Could not read tokens while importing " + path + ": EOF");
    }
    SECTION("too many wildcards") {
        CHECK(error_of(". {\n import *a*\n}", main) == main +
              ":2 - Error during parsing: Glob pattern may only contain one wildcard (*), but has others: " + dir.file("*a*"));
        CHECK(error_of(". {\n import a??\n}", main) == main +
              ":2 - Error during parsing: Glob pattern may only contain one wildcard (*), but has others: " + dir.file("a??"));
        CHECK(error_of(". {\n import [ab]\n}", main) == main +
              ":2 - Error during parsing: Glob pattern may only contain one wildcard (*), but has others: " + dir.file("[ab]"));
    }
    SECTION("malformed glob") {
        CHECK(error_of(". {\n import [ab\n}", main) ==
              main + ":2 - Error during parsing: Failed to use import pattern [ab: syntax error in pattern");
    }
    SECTION("a file importing itself is a cycle") {
        std::string path = dir.write("loop.conf", "import loop.conf\n");
        CHECK(error_of(". {\n import loop.conf\n}", main) ==
              path + ":1 - Error during parsing: import cycle: " + path + " -> " + path);
    }
    SECTION("parse_file reads the file and names it in errors") {
        std::string path = dir.write("Corefile2", ". {\n whoami\n}\nexample.org {\n nope\n}\n");
        CHECK_THROWS_WITH(parse_file(path, kOpts), path + ":5 - Error during parsing: Unknown directive 'nope'");
        dir.write("Corefile3", ". {\n import conf.d/*\n}\n");
        dir.write("conf.d/x", "whoami\n");
        auto blocks = parse_file(dir.file("Corefile3"), kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].directive_order == Strings{"whoami"});
    }
    SECTION("parse_file on a missing file") {
        CHECK_THROWS_WITH(parse_file(dir.file("nope"), kOpts),
                          "open " + dir.file("nope") + ": no such file or directory");
    }
}

// CoreDNS 1.12.2 has no guard at all (a cycle expands until memory runs out);
// these must fail fast with a message naming the cycle. They are not timed:
// a regression shows up as the test hanging past the meson timeout.
TEST_CASE("parser: import cycles", "[parser]") {
    TempDir dir;
    const std::string main = dir.file("Corefile");

    SECTION("the Corefile importing itself inside a block") {
        dir.write("Corefile", ". {\n whoami\n import Corefile\n}\n");
        CHECK_THROWS_WITH(parse_file(main, kOpts),
                          main + ":3 - Error during parsing: import cycle: " + main + " -> " + main);
    }
    SECTION("the Corefile importing itself at the top level") {
        dir.write("Corefile", "import Corefile\n. {\n whoami\n}\n");
        CHECK_THROWS_WITH(parse_file(main, kOpts),
                          main + ":1 - Error during parsing: import cycle: " + main + " -> " + main);
    }
    SECTION("a glob that matches the importing file") {
        std::string a = dir.write("conf/a.conf", "import *.conf\n");
        CHECK(error_of(". {\n import conf/a.conf\n}", main) ==
              a + ":1 - Error during parsing: import cycle: " + a + " -> " + a);
    }
    SECTION("a -> b -> c -> a between files") {
        std::string a = dir.write("a.conf", "log\nimport b.conf\n");
        std::string b = dir.write("b.conf", "import c.conf\n");
        std::string c = dir.write("c.conf", "errors\n\nimport a.conf\n");
        CHECK(error_of(". {\n import a.conf\n}", main) == c + ":3 - Error during parsing: import cycle: " + a + " -> " + b +
                                                              " -> " + c + " -> " + a);
    }
    SECTION("a cycle through a symlink is the same file") {
        std::string a = dir.write("a.conf", "import link.conf\n");
        fs::create_symlink(a, dir.path / "link.conf");
        CHECK(error_of(". {\n import a.conf\n}", main) ==
              a + ":1 - Error during parsing: import cycle: " + a + " -> " + dir.file("link.conf"));
    }
    SECTION("a -> b -> a between snippets in a large Corefile") {
        std::string big = "(a) {\n import b\n}\n(b) {\n import a\n}\n";
        for (int i = 0; big.size() < 300000; ++i) big += "z" + std::to_string(i) + ".example {\n whoami\n log\n}\n";
        big += ". {\n import a\n}\n";
        CHECK(error_of(big) == "Corefile:5 - Error during parsing: import cycle: snippet a -> snippet b -> snippet a");
    }
    SECTION("a cycle between a snippet and a file") {
        std::string f = dir.write("f.conf", "import s\n");
        CHECK(error_of("(s) {\n import f.conf\n}\n. {\n import s\n}", main) ==
              f + ":1 - Error during parsing: import cycle: snippet s -> " + f + " -> snippet s");
    }
    SECTION("a self-importing snippet that is never used is accepted, as in CoreDNS 1.12") {
        auto blocks = parse("(s) {\n import s\n}\n. {\n whoami\n}", "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].directive_order == Strings{"whoami"});
    }
    SECTION("deep but acyclic file imports work") {
        for (int i = 0; i < 200; ++i)
            dir.write("chain/f" + std::to_string(i) + ".conf",
                      i < 199 ? "import f" + std::to_string(i + 1) + ".conf\n" : "whoami\n");
        auto blocks = parse(". {\n import chain/f0.conf\n log\n}", main, kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].directive_order == Strings{"whoami", "log"});
        CHECK(blocks[0].tokens.at("whoami")[0].file == dir.file("chain/f199.conf"));
    }
    SECTION("deep but acyclic snippet imports work, and the same snippet may be imported many times") {
        std::string text;
        for (int i = 0; i < 500; ++i)
            text += "(s" + std::to_string(i) + ") {\n import s" + std::to_string(i + 1) + "\n}\n";
        text += "(s500) {\n log\n}\n. {\n";
        for (int i = 0; i < 10; ++i) text += " import s0\n";
        text += "}\n";
        auto blocks = parse(text, "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].tokens.at("log").size() == 10);
    }
}

TEST_CASE("parser: import limits", "[parser]") {
    TempDir dir;
    const std::string main = dir.file("Corefile");

    SECTION("the snippet limit: 10000 expansions pass, the next one fails naming 10000") {
        auto corefile = [](int imports) {
            std::string text = "(s) {\n log\n}\n. {\n";
            for (int i = 0; i < imports; ++i) text += " import s\n";
            return text + "}\n";
        };
        auto blocks = parse(corefile(10000), "Corefile", kOpts);
        REQUIRE(blocks.size() == 1);
        CHECK(blocks[0].tokens.at("log").size() == 10000);
        CHECK(error_of(corefile(10001)) == "Corefile:10005 - Error during parsing: maximum snippet import depth (10000) exceeded");
    }
    SECTION("the file limit's message names the file limit, not the snippet limit") {
        dir.write("x.conf", "log\n");
        ParseOptions opts = kOpts;
        opts.max_snippet_expansions = 7;
        opts.max_file_expansions = 3;
        CHECK(parse(". {\n import x.conf\n import x.conf\n import x.conf\n}", main, opts).size() == 1);
        CHECK(error_of(". {\n import x.conf\n import x.conf\n import x.conf\n import x.conf\n}", main, opts) ==
              main + ":5 - Error during parsing: maximum file import depth (3) exceeded");
        CHECK(ParseOptions{}.max_file_expansions == 100000);
        CHECK(ParseOptions{}.max_snippet_expansions == 10000);
    }
    SECTION("exponential but acyclic snippets stop at the token cap") {
        // l4 expands to 10^7 tokens; without a cap this takes gigabytes.
        std::string text = "(l0) {\n";
        for (int i = 0; i < 100; ++i) text += " log log log log log log log log log log\n";
        text += "}\n";
        for (int i = 1; i <= 4; ++i) {
            text += "(l" + std::to_string(i) + ") {\n";
            for (int k = 0; k < 10; ++k) text += " import l" + std::to_string(i - 1) + "\n";
            text += "}\n";
        }
        text += ". {\n import l4\n}\n";
        CHECK(error_of(text).find("Error during parsing: imports expand the Corefile to more than 1000000 tokens") !=
              std::string::npos);
    }
}

TEST_CASE("parser: canonical_json", "[parser]") {
    auto a = parse(". {\n whoami\n log\n}", "Corefile", kOpts);
    auto b = parse("# comment\n.   {\n\n  whoami   # hi\n  log\n}\n", "Corefile", kOpts);
    auto c = parse(". {\n whoami\n log stdout\n}", "Corefile", kOpts);
    auto d = parse(". {\n log\n whoami\n}", "Corefile", kOpts);
    CHECK(canonical_json(a) == canonical_json(b));  // white space and comments do not matter
    CHECK(canonical_json(a) != canonical_json(c));
    CHECK(canonical_json(a) == canonical_json(d));  // grouped per directive like upstream's map
    CHECK(canonical_json(a) == R"([{"keys":["."],"tokens":{"log":["log"],"whoami":["whoami"]}}])");
    CHECK(canonical_json({}) == "[]");
    auto q = parse(". {\n log \"a\\\"b\\\\c\"\n}", "Corefile", kOpts);
    CHECK(canonical_json(q) == R"([{"keys":["."],"tokens":{"log":["log","a\"b\\\\c"]}}])");
}
