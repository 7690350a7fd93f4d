// Go text/template semantics: outputs and error texts as Go 1.2x prints them.
#include "core/gotemplate/gotemplate.hpp"

#include <map>

#include "core/gotemplate/strconv.hpp"
#include "tests/support/catch.hpp"

using namespace dnscore::gotemplate;

namespace {

class List final : public Object {
public:
    std::vector<std::string> items;
    Shape shape() const override { return Shape::list; }
    const char* type_name() const override { return "[]string"; }
    size_t size() const override { return items.size(); }
    Value at(size_t i) const override { return Value::string(items[i]); }
};

class Map final : public Object {
public:
    std::map<std::string, std::string> m;
    Shape shape() const override { return Shape::map; }
    const char* type_name() const override { return "map[string]string"; }
    size_t size() const override { return m.size(); }
    Value at(size_t i) const override { return Value::string(std::next(m.begin(), long(i))->second); }
    Value key(size_t i) const override { return Value::string(std::next(m.begin(), long(i))->first); }
    bool get(std::string_view k, Value& out) const override {
        auto it = m.find(std::string(k));
        if (it == m.end()) return false;
        out = Value::string(it->second);
        return true;
    }
};

class Data final : public Object {
public:
    List match;
    Map group;
    Shape shape() const override { return Shape::record; }
    const char* type_name() const override { return "*template.templateData"; }
    bool field(std::string_view n, Value& out) const override {
        if (n == "Name") out = Value::string("ip-10-95-12-8.example.");
        else if (n == "Zone") out = Value::string("example.");
        else if (n == "Empty") out = Value::string("");
        else if (n == "Match") out = Value::object(&match);
        else if (n == "Group") out = Value::object(&group);
        else if (n == "Num") out = Value::integer(42);
        else if (n == "Neg") out = Value::integer(-7);
        else if (n == "Type16") out = Value::uinteger(28, "uint16");
        else if (n == "Flag") out = Value::boolean(true);
        else if (n == "Off") out = Value::boolean(false);
        else if (n == "Pi") out = Value::floating(3.25);
        else if (n == "Self") out = Value::object(this);
        else return false;
        return true;
    }
    int method_arity(std::string_view n) const override { return n == "Meta" ? 1 : -1; }
    bool call(std::string_view, const Value* a, size_t, Value& out, Exec& ex) const override {
        out = Value::string(a[0].s == "foo" ? ex.store("myfoo") : std::string_view());
        return true;
    }
    void format(Sink& out) const override { out.put("DATA"); }
};

bool parse_int_fn(const Value* a, size_t, Value& out, std::string& err, Exec&) {
    uint64_t u = 0;
    const NumErr e = parse_uint(a[0].s, int(a[1].i), int(a[2].i), u);
    if (e != NumErr::ok) {
        err = num_error("ParseUint", a[0].s, e, int(a[1].i), int(a[2].i));
        return false;
    }
    out = Value::uinteger(u);
    return true;
}

std::vector<Func> funcs() { return {{"parseInt", {Param::string, Param::integer, Param::integer}, parse_int_fn}}; }

Data& data() {
    static Data d = [] {
        Data x;
        x.match.items = {"ip-10-95-12-8.example.", "95", "12", "8"};
        x.group.m = {{"0", "ip-10-95-12-8.example."}, {"1", "95"}, {"2", "12"}, {"3", "8"},
                     {"b", "95"}, {"c", "12"}, {"d", "8"}};
        return x;
    }();
    return d;
}

// The output, or "ERR: " + Go's error text (parse or execution).
std::string run(const std::string& text, const std::string& name = "answer") {
    try {
        Template t(name, text, funcs());
        Exec ex;
        if (!t.execute(Value::object(&data()), ex)) return "ERR: " + ex.error();
        return std::string(ex.output());
    } catch (const ParseError& e) {
        return std::string("ERR: ") + e.what();
    }
}

struct Case {
    const char* text;
    const char* want;
};

void check(std::initializer_list<Case> cases) {
    for (const auto& c : cases) {
        INFO(c.text);
        CHECK(run(c.text) == c.want);
    }
}

}  // namespace

TEST_CASE("text and fields", "[gotemplate]") {
    check({
        {"plain text", "plain text"},
        {"", ""},
        {"{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}",
         "ip-10-95-12-8.example. 60 IN A 10.95.12.8"},
        {"{{.Zone}}", "example."},
        {"{{ .Num }} {{ .Neg }} {{ .Type16 }} {{ .Flag }} {{ .Pi }}", "42 -7 28 true 3.25"},
        {"{{ .Group.missing }}", "<no value>"},
        {"{{ .Match }}", "[ip-10-95-12-8.example. 95 12 8]"},
        {"{{ .Group }}", "map[0:ip-10-95-12-8.example. 1:95 2:12 3:8 b:95 c:12 d:8]"},
        {"{{ .Self.Zone }}", "example."},
        {"{{ . }}", "DATA"},
        {"{{ $ }}", "DATA"},
        {"{{ (.Self).Zone }}", "example."},
        {"{{ .Meta \"foo\" }}-x", "myfoo-x"},
        {"{{ .Meta \"nope\" }}-x", "-x"},
        {"{{ \"foo\" | .Meta }}", "myfoo"},
        {"{{ 3 }} {{ -3 }} {{ 0x1F }} {{ 1.5 }} {{ 1e3 }} {{ 'a' }} {{ true }} {{ \"s\" }} {{ `raw` }}",
         "3 -3 31 1.5 1000 97 true s raw"},
        {"{{/* a comment */}}x", "x"},
        {"a {{- /* trimmed */ -}} b", "ab"},
    });
}

TEST_CASE("trim markers", "[gotemplate]") {
    check({
        {"a  {{- .Zone }}  b", "aexample.  b"},
        {"a  {{ .Zone -}}  b", "a  example.b"},
        {"a \n {{- .Zone -}} \n b", "aexample.b"},
        {"{{ -3 }}", "-3"},
        {"{{- 3 -}}", "3"},
        {"x {{- 3}}", "x3"},
    });
}

TEST_CASE("variables and control flow", "[gotemplate]") {
    check({
        {"{{ $x := .Zone }}{{ $x }}", "example."},
        {"{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", "2"},
        {"{{ $x := .Group }}{{ $x.b }}", "95"},
        {"{{ if .Flag }}yes{{ end }}", "yes"},
        {"{{ if .Off }}yes{{ else }}no{{ end }}", "no"},
        {"{{ if .Off }}1{{ else if .Empty }}2{{ else if .Num }}3{{ else }}4{{ end }}", "3"},
        {"{{ if .Group.missing }}y{{ else }}n{{ end }}", "n"},
        {"{{ with .Zone }}<{{ . }}>{{ end }}", "<example.>"},
        {"{{ with .Empty }}x{{ else }}empty{{ end }}", "empty"},
        {"{{ with .Empty }}x{{ else with .Zone }}{{ . }}{{ end }}", "example."},
        {"{{ range .Match }}[{{ . }}]{{ end }}", "[ip-10-95-12-8.example.][95][12][8]"},
        {"{{ range $i, $v := .Match }}{{ $i }}={{ $v }} {{ end }}", "0=ip-10-95-12-8.example. 1=95 2=12 3=8 "},
        {"{{ range $k, $v := .Group }}{{ $k }}{{ $v }},{{ end }}",
         "0ip-10-95-12-8.example.,195,212,38,b95,c12,d8,"},
        {"{{ range $v := .Match }}{{ $v }};{{ end }}", "ip-10-95-12-8.example.;95;12;8;"},
        {"{{ range .Group.missing }}x{{ else }}none{{ end }}", "none"},
        {"{{ range 3 }}{{ . }}{{ end }}", "012"},
        {"{{ range .Match }}{{ if eq . \"12\" }}{{ break }}{{ end }}{{ . }} {{ end }}", "ip-10-95-12-8.example. 95 "},
        {"{{ range .Match }}{{ if eq . \"12\" }}{{ continue }}{{ end }}{{ . }} {{ end }}",
         "ip-10-95-12-8.example. 95 8 "},
        {"{{ $x := 0 }}{{ range .Match }}{{ $x = . }}{{ end }}{{ $x }}", "8"},
        {"{{ define \"T\" }}<{{ . }}>{{ end }}{{ template \"T\" .Zone }}", "<example.>"},
        {"{{ block \"B\" .Num }}[{{ . }}]{{ end }}", "[42]"},
    });
}

TEST_CASE("builtin functions", "[gotemplate]") {
    check({
        {"{{ index .Match 1 }}", "95"},
        {"{{ index .Group \"c\" }}", "12"},
        {"{{ index .Group \"zz\" }}", ""},
        {"{{ index .Name 0 }}", "105"},
        {"{{ len .Match }} {{ len .Name }} {{ len .Group }}", "4 22 7"},
        {"{{ slice .Name 0 2 }}", "ip"},
        {"{{ slice .Match 1 3 }}", "[95 12]"},
        {"{{ and 1 0 2 }} {{ and 1 2 }} {{ or 0 \"\" }} {{ or 0 5 }} {{ not .Flag }}", "0 2  5 false"},
        {"{{ eq .Num 42 }} {{ eq .Zone \"x\" \"example.\" }} {{ ne 1 2 }} {{ eq .Type16 28 }}", "true true true true"},
        {"{{ lt 1 2 }} {{ le 2 2 }} {{ gt \"b\" \"a\" }} {{ ge 1.5 2.5 }}", "true true true false"},
        {"{{ eq .Group.missing \"x\" }}", "false"},
        {"{{ print \"a\" \"b\" 1 2 \"c\" }}", "ab1 2c"},
        {"{{ println 1 \"a\" }}", "1 a\n"},
        {"{{ printf \"%s-%d\" .Zone .Num }}", "example.-42"},
        {"{{ printf \"%5d|%-5d|%05d|%x|%X|%o|%b|%c|%q\" 42 42 42 255 255 8 5 65 \"hi\" }}",
         "   42|42   |00042|ff|FF|10|101|A|\"hi\""},
        {"{{ printf \"%.2f %e %g %v\" 3.14159 1234.5678 0.000012 1e6 }}", "3.14 1.234568e+03 1.2e-05 1e+06"},
        {"{{ printf \"%5s|%-5s|%.2s|%t|%v|%T\" \"ab\" \"ab\" \"abc\" true .Match .Num }}",
         "   ab|ab   |ab|true|[ip-10-95-12-8.example. 95 12 8]|int"},
        {"{{ printf \"%d\" \"x\" }}", "%!d(string=x)"},
        {"{{ printf \"%d %d\" 1 }}", "1 %!d(MISSING)"},
        {"{{ printf \"%d\" 1 2 }}", "1%!(EXTRA int=2)"},
        {"{{ printf \"100%%\" }}", "100%"},
        {"{{ printf \"%+d % d %#x %#o %x\" 5 5 255 8 \"hi\" }}", "+5  5 0xff 010 6869"},
        {"{{ printf \"%v %v\" .Group.missing nil }}", "<nil> <nil>"},
        {"{{ .Zone | printf \"%s!\" }}", "example.!"},
        {"{{ html \"<a href='x'>&\" }}", "&lt;a href=&#39;x&#39;&gt;&amp;"},
        {"{{ js \"a'b\\\"<>\" }}", "a\\'b\\\"\\u003C\\u003E"},
        {"{{ urlquery \"a b&c=d/é\" }}", "a+b%26c%3Dd%2F%C3%A9"},
        {"{{ parseInt .Group.b 16 8 }}", "149"},
        {"10.{{ parseInt \"5f\" 16 8 }}.{{ parseInt \"0c\" 16 8 }}", "10.95.12"},
        {"{{ (parseInt \"ff\" 16 64) }}", "255"},
    });
}

TEST_CASE("execution errors carry Go's text", "[gotemplate]") {
    check({
        {"{{ .Name }} 60 IN TXT \"{{ index .Match 9 }}\"",
         "ERR: template: answer:1:26: executing \"answer\" at <index .Match 9>: error calling index: index out of range: 9"},
        {"{{ .Name }} 60 IN TXT \"{{ parseInt \"gg\" 16 8 }}\"",
         "ERR: template: answer:1:26: executing \"answer\" at <parseInt \"gg\" 16 8>: error calling parseInt: "
         "strconv.ParseUint: parsing \"gg\": invalid syntax"},
        {"{{ parseInt \"300\" 10 8 }}",
         "ERR: template: answer:1:3: executing \"answer\" at <parseInt \"300\" 10 8>: error calling parseInt: "
         "strconv.ParseUint: parsing \"300\": value out of range"},
        {"{{ parseInt .Num 10 8 }}",
         "ERR: template: answer:1:12: executing \"answer\" at <.Num>: wrong type for value; expected string; got int"},
        {"{{ parseInt \"1\" \"x\" 8 }}",
         "ERR: template: answer:1:16: executing \"answer\" at <\"x\">: expected integer; found \"x\""},
        {"{{ parseInt \"1\" }}",
         "ERR: template: answer:1:3: executing \"answer\" at <parseInt>: wrong number of args for parseInt: want 3 got 1"},
        {"{{ .Grup.d }}",
         "ERR: template: answer:1:3: executing \"answer\" at <.Grup.d>: can't evaluate field Grup in type "
         "*template.templateData"},
        {"{{ .Name.Foo }}",
         "ERR: template: answer:1:3: executing \"answer\" at <.Name.Foo>: can't evaluate field Foo in type string"},
        {"x\n{{ index .Match 9 }}",
         "ERR: template: answer:2:3: executing \"answer\" at <index .Match 9>: error calling index: index out of range: 9"},
        {"{{ lt .Zone 1 }}",
         "ERR: template: answer:1:3: executing \"answer\" at <lt .Zone 1>: error calling lt: incompatible types for comparison"},
        {"{{ .Meta }}",
         "ERR: template: answer:1:3: executing \"answer\" at <.Meta>: wrong number of args for Meta: want 1 got 0"},
        {"{{ nil }}", "ERR: template: answer:1:3: executing \"answer\" at <nil>: nil is not a command"},
        {"{{ 3 4 }}", "ERR: template: answer:1:3: executing \"answer\" at <3>: can't give argument to non-function 3"},
        {"{{ len 3 }}", "ERR: template: answer:1:3: executing \"answer\" at <len 3>: error calling len: len of type int"},
        {"{{ template \"nope\" }}", "ERR: template: answer:1:12: executing \"answer\" at <{{template \"nope\"}}>: no such template \"nope\""},
    });
}

TEST_CASE("parse errors carry Go's text", "[gotemplate]") {
    check({
        {"{{", "ERR: template: answer:1: unclosed action"},
        {"{{ .Name", "ERR: template: answer:1: unclosed action"},
        {"{{ notAFunction }}", "ERR: template: answer:1: function \"notAFunction\" not defined"},
        {"{{ parseInt }}", "ERR: template: answer:1:3: executing \"answer\" at <parseInt>: wrong number of args for parseInt: want 3 got 0"},
        {"{{ end }}", "ERR: template: answer:1: unexpected {{end}}"},
        {"{{ else }}", "ERR: template: answer:1: unexpected {{else}}"},
        {"{{ if .Flag }}x", "ERR: template: answer:1: unexpected EOF"},
        {"{{ $x }}", "ERR: template: answer:1: undefined variable \"$x\""},
        {"{{ \"abc }}", "ERR: template: answer:1: unterminated quoted string"},
        {"{{ }}", "ERR: template: answer:1: missing value for command"},
        {"{{ if }}{{ end }}", "ERR: template: answer:1: missing value for if"},
        {"{{ .Name | 3 }}", "ERR: template: answer:1: non executable command in pipeline stage 2"},
        {"{{ break }}", "ERR: template: answer:1: {{break}} outside {{range}}"},
        {"{{ 3x }}", "ERR: template: answer:1: bad number syntax: \"3x\""},
        {"{{ .Name ) }}", "ERR: template: answer:1: unexpected right paren"},
        {"{{ ( .Name }}", "ERR: template: answer:1: unclosed left paren"},
        {"{{ /* x */ }}", "ERR: template: answer:1: unexpected \"/\" in command"},
        {"{{/* x */ }}", "ERR: template: answer:1: comment ends before closing delimiter"},
        {"{{/* x", "ERR: template: answer:1: unclosed comment"},
        {"{{ \"x\".A }}", "ERR: template: answer:1: unexpected . after term \"\\\"x\\\"\""},
        {"{{ if 1 }}{{ else }}{{ else }}{{ end }}", "ERR: template: answer:1: expected end; found {{else}}"},
        {"a\n{{ end }}", "ERR: template: answer:2: unexpected {{end}}"},
        {"{{ 'ab' }}", "ERR: template: answer:1: malformed character constant: 'ab'"},
        {"{{ 99999999999999999999 }}", "ERR: template: answer:1: integer overflow: \"99999999999999999999\""},
        {"{{ .Name : }}", "ERR: template: answer:1: expected :="},
        {"{{ index . 1 2 3 4 5 6 7 8 9 10 11 12 }}x", "ERR: template: answer:1:3: executing \"answer\" at <index . 1 2 3 4 5 6 7 8 9 10 11 12>: error calling index: can't index item of type *template.templateData"},
    });
}

TEST_CASE("Tree.Root.String() is what the metrics label shows", "[gotemplate]") {
    auto root = [](const char* text) { return Template("answer", text, funcs()).root_string(); };
    CHECK(root("{{ .Name }} 60 IN A {{ .Remote }}") == "{{.Name}} 60 IN A {{.Remote}}");
    CHECK(root("{{ index .Match 1 }} x") == "{{index .Match 1}} x");
    CHECK(root("{{ $x := .Name }}{{ if eq $x \"a\" }}y{{ else }}n{{ end }}") ==
          "{{$x := .Name}}{{if eq $x \"a\"}}y{{else}}n{{end}}");
    CHECK(root("{{ .Name | printf \"%s\" }}{{ (len .Match) }}") == "{{.Name | printf \"%s\"}}{{(len .Match)}}");
    CHECK(root("{{ range $i, $v := .Match }}{{ $v }}{{ end }}") == "{{range $i, $v := .Match}}{{$v}}{{end}}");
}

TEST_CASE("what a template reads", "[gotemplate]") {
    CHECK_FALSE(Template("a", "{{ .Name }} 60 IN A 1.2.3.4").may_use("Group"));
    CHECK(Template("a", "{{ .Group.a }}").may_use("Group"));
    CHECK(Template("a", "{{ index .Match 1 }}").may_use("Match"));
    CHECK(Template("a", "{{ $x := .Match }}").may_use("Match"));
    CHECK(Template("a", "{{ printf \"%v\" . }}").may_use("Match"));
    CHECK(Template("a", "{{ with .Name }}{{ . }}{{ end }}").may_use("Match"));  // conservative
}

TEST_CASE("an Exec is reused and bounded", "[gotemplate]") {
    Template t("answer", "{{ range 100 }}0123456789{{ end }}");
    Exec small(256, 256);
    CHECK_FALSE(t.execute(Value::object(&data()), small));
    CHECK(small.error() == "template: answer:1:15: executing \"answer\" at <0123456789>: template output too long");
    Template ok("answer", "{{ .Zone }}");
    for (int i = 0; i < 3; ++i) {
        REQUIRE(ok.execute(Value::object(&data()), small));
        CHECK(small.output() == "example.");
    }
}

TEST_CASE("strconv pieces", "[gotemplate]") {
    uint64_t u;
    CHECK(parse_uint("0x1f", 0, 64, u) == NumErr::ok);
    CHECK(u == 31);
    CHECK(parse_uint("1_000", 0, 64, u) == NumErr::ok);
    CHECK(u == 1000);
    CHECK(parse_uint("1_000", 10, 64, u) == NumErr::syntax);
    CHECK(parse_uint("256", 10, 8, u) == NumErr::range);
    CHECK(u == 255);
    CHECK(parse_uint("1", 1, 8, u) == NumErr::base);
    CHECK(parse_uint("1", 10, 65, u) == NumErr::bit_size);
    CHECK(num_error("ParseUint", "1", NumErr::base, 1, 8) == "strconv.ParseUint: parsing \"1\": invalid base 1");
    CHECK(num_error("ParseUint", "1", NumErr::bit_size, 10, 65) == "strconv.ParseUint: parsing \"1\": invalid bit size 65");
    std::string s;
    CHECK(go_unquote("\"a\\tb\\x41\\u00e9\\101\"", s));
    CHECK(s == "a\tbA\xc3\xa9" "A");
    CHECK_FALSE(go_unquote("\"\\q\"", s));
    CHECK(go_quote("a\"b\n") == "\"a\\\"b\\n\"");
    // Go escapes invalid UTF-8 byte by byte and keeps printable runes as they are.
    CHECK(go_quote("caf\xc3\xa9 \xff") == "\"caf\xc3\xa9 \\xff\"");
}

TEST_CASE("nesting is bounded: deep parentheses or control structures are a parse error, not a stack overflow",
          "[gotemplate]") {
    // Found by the corefile fuzz target: ~2,500 nested "(" in a template
    // answer overflowed the stack at -validate, start or reload. Go's limit
    // (10,000 parenthesized levels, growable stacks) has the same message.
    auto nested = [](int n, const std::string& open, const std::string& mid, const std::string& close) {
        std::string s;
        for (int i = 0; i < n; ++i) s += open;
        s += mid;
        for (int i = 0; i < n; ++i) s += close;
        return s;
    };
    CHECK(run("{{ " + nested(150, "(", ".Name", ")") + " }}") == "ip-10-95-12-8.example.");
    CHECK(run("{{ " + nested(3000, "(", ".Name", ")") + " }}") == "ERR: template: answer:1: max expression depth exceeded");
    CHECK(run(nested(150, "{{ if .Flag }}", "x", "{{ end }}")) == "x");
    CHECK(run(nested(3000, "{{ if .Flag }}", "x", "{{ end }}")) == "ERR: template: answer:1: max expression depth exceeded");
    CHECK(run(nested(3000, "{{ with .Name }}", "x", "{{ end }}")) == "ERR: template: answer:1: max expression depth exceeded");
}
