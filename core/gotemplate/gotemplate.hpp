#pragma once
// Go's text/template for CoreDNS's template plugin: parsed once (setup) into
// a tree, executed many times (per query) against dynamic values without
// parsing again. Parse and execution errors carry Go's texts
// ("template: answer:1: unclosed action", "template: answer:1:26: executing
// \"answer\" at <index .Match 2>: error calling index: index out of range: 2").
//
// Execution writes into an Exec (per-thread scratch: output buffer, string
// arena, variable stack), all bounded and reused: executing allocates
// nothing once an Exec is warm, except on error paths (the error text).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace dnscore::gotemplate {

class Object;
class Exec;

enum class Kind : uint8_t { invalid, nil, boolean, integer, uinteger, floating, string, object };

// A Go value as templates see it. Strings are views (into the data, the
// template text or the Exec's arena); `type` is the Go type name used in
// error texts ("int", "uint16", "string").
struct Value {
    Kind kind = Kind::invalid;
    const char* type = "";
    bool b = false;
    int64_t i = 0;
    uint64_t u = 0;
    double f = 0;
    std::string_view s;
    const Object* obj = nullptr;

    static Value boolean(bool v) { Value x; x.kind = Kind::boolean; x.type = "bool"; x.b = v; return x; }
    static Value integer(int64_t v, const char* t = "int") { Value x; x.kind = Kind::integer; x.type = t; x.i = v; return x; }
    static Value uinteger(uint64_t v, const char* t = "uint64") { Value x; x.kind = Kind::uinteger; x.type = t; x.u = v; return x; }
    static Value floating(double v) { Value x; x.kind = Kind::floating; x.type = "float64"; x.f = v; return x; }
    static Value string(std::string_view v) { Value x; x.kind = Kind::string; x.type = "string"; x.s = v; return x; }
    static Value object(const Object* o);
    static Value nil() { Value x; x.kind = Kind::nil; x.type = "<nil>"; return x; }
    bool valid() const { return kind != Kind::invalid; }
};

// Text sink with a fixed capacity (output, fmt results).
class Sink {
public:
    Sink(char* buf, size_t cap) : buf_(buf), cap_(cap) {}
    void put(std::string_view s);
    void put(char c);
    size_t size() const { return len_; }
    bool overflow() const { return overflow_; }
    std::string_view view() const { return {buf_, len_}; }
    char* data() { return buf_; }
    void truncate(size_t n) { if (n < len_) len_ = n; }

private:
    char* buf_;
    size_t cap_;
    size_t len_ = 0;
    bool overflow_ = false;
};

// Data the template reads: a struct (fields, methods), a slice or a map.
class Object {
public:
    enum class Shape { record, list, map };
    virtual ~Object() = default;
    virtual Shape shape() const = 0;
    // Go's type name for messages: "*template.templateData", "[]string".
    virtual const char* type_name() const = 0;
    // record: the field `name` (false: no such field).
    virtual bool field(std::string_view, Value&) const { return false; }
    // record: a method's argument count, -1 if there is no such method.
    virtual int method_arity(std::string_view) const { return -1; }
    // record: calls a method whose arguments are strings (Go: func(string) string).
    virtual bool call(std::string_view, const Value*, size_t, Value&, Exec&) const { return false; }
    // list / map: number of elements; element i (a map in sorted key order).
    virtual size_t size() const { return 0; }
    virtual Value at(size_t) const { return {}; }
    virtual Value key(size_t) const { return {}; }
    // map[string]T: the value at `key` (false: absent).
    virtual bool get(std::string_view, Value&) const { return false; }
    // What fmt's %v prints for a record (Stringer or struct form).
    virtual void format(Sink& out) const { out.put("{}"); }
};

// An extra function (template.FuncMap), e.g. the plugin's parseInt. Params
// are checked as Go's reflection would (string / int / any).
enum class Param : uint8_t { any, string, integer };
struct Func {
    std::string name;
    std::vector<Param> params;
    // Returns false with `err` set (Go's error text) on failure.
    bool (*fn)(const Value* args, size_t n, Value& out, std::string& err, Exec& ex);
};

class ParseError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct Node;
struct TreeSet;

class Template {
public:
    // template.New(name).Funcs(funcs).Parse(text); throws ParseError with Go's text.
    Template(std::string name, std::string_view text, std::vector<Func> funcs = {});
    ~Template();
    Template(Template&&) noexcept;
    Template& operator=(Template&&) noexcept;

    const std::string& name() const;
    // Go's Tree.Root.String(): the template as the parser understood it.
    std::string root_string() const;
    // Whether any field, variable field or chain names `field` (".Match" ...),
    // or the data is used whole (dot, $): what the plugin must prepare.
    bool may_use(std::string_view field) const;

    // Executes against `dot`; the text is ex.output(). False: ex.error() has
    // Go's error text.
    bool execute(const Value& dot, Exec& ex) const;

private:
    std::unique_ptr<TreeSet> set_;
};

// Per-thread execution scratch. Bounded: output past out_cap or strings
// past arena_cap fail the execution ("template output too long").
class Exec {
public:
    explicit Exec(size_t out_cap = 16384, size_t arena_cap = 16384);
    ~Exec();
    Exec(const Exec&) = delete;
    Exec& operator=(const Exec&) = delete;

    std::string_view output() const { return out_.view(); }
    const std::string& error() const { return error_; }

    // Arena for strings made during one execution (reset by execute).
    char* alloc(size_t n);
    std::string_view store(std::string_view s);
    // A sink writing into the arena's free space; commit() keeps what was written.
    Sink arena_sink();
    std::string_view commit(const Sink& s);

    // Scratch string reused across executions (metadata values).
    std::string& scratch() { return scratch_; }

private:
    friend struct State;
    friend struct Builtins;
    friend class Template;
    void reset();
    std::unique_ptr<char[]> out_buf_;
    size_t out_cap_;
    Sink out_;
    std::unique_ptr<char[]> arena_;
    size_t arena_cap_;
    size_t arena_len_ = 0;
    std::string error_;
    std::string scratch_;
    struct Var {
        std::string_view name;
        Value value;
    };
    std::vector<Var> vars_;  // bounded (kMaxVars), reserved up front
    std::vector<Value> args_;  // argument stack for calls, reserved up front
    std::vector<std::unique_ptr<Object>> slices_;  // views made by `slice`
    size_t slices_used_ = 0;
    int depth_ = 0;
};

// ---- Go's fmt for templates (print, printf, println, %v of values) ----
// fmt.Sprint / Sprintln / Sprintf into `out`.
void sprint(Sink& out, const Value* args, size_t n);
void sprintln(Sink& out, const Value* args, size_t n);
void sprintf(Sink& out, std::string_view format, const Value* args, size_t n);
// fmt's %v of one value.
void format_value(Sink& out, const Value& v);

}  // namespace dnscore::gotemplate
