// Go's text/template/exec.go and funcs.go over gotemplate::Value: walking
// the tree, evaluating pipelines, fields, variables and the builtins, with
// Go's error texts.
#include <cstring>

#include "core/gotemplate/strconv.hpp"
#include "core/gotemplate/tree.hpp"

namespace dnscore::gotemplate {

namespace {
constexpr size_t kMaxVars = 256;
constexpr size_t kMaxArgs = 256;
constexpr int kMaxDepth = 100;  // nested {{template}} calls (Go: 100000)
constexpr size_t kMaxSlices = 16;

struct Fail {};  // execution stopped; the text is in Exec::error_

// A sub-slice of a list (the `slice` builtin).
class SliceView final : public Object {
public:
    const Object* base = nullptr;
    size_t from = 0, to = 0;
    Shape shape() const override { return Shape::list; }
    const char* type_name() const override { return base->type_name(); }
    size_t size() const override { return to - from; }
    Value at(size_t i) const override { return base->at(from + i); }
};

enum class Flow { normal, brk, cont };

// Go's basicKind classes for comparisons.
enum class BK { invalid, boolean, integer, uinteger, floating, string, other };
BK basic_kind(const Value& v) {
    switch (v.kind) {
    case Kind::boolean: return BK::boolean;
    case Kind::integer: return BK::integer;
    case Kind::uinteger: return BK::uinteger;
    case Kind::floating: return BK::floating;
    case Kind::string: return BK::string;
    case Kind::invalid: return BK::invalid;
    default: return BK::other;
    }
}

bool truth(const Value& v) {
    switch (v.kind) {
    case Kind::invalid: case Kind::nil: return false;
    case Kind::boolean: return v.b;
    case Kind::integer: return v.i != 0;
    case Kind::uinteger: return v.u != 0;
    case Kind::floating: return v.f != 0;
    case Kind::string: return !v.s.empty();
    case Kind::object:
        if (!v.obj) return false;
        return v.obj->shape() == Object::Shape::record || v.obj->size() > 0;
    }
    return false;
}

struct Sig {
    int fixed;      // fixed parameters
    bool variadic;  // then any number more
};

Sig builtin_sig(Builtin b) {
    switch (b) {
    case Builtin::and_: case Builtin::or_: case Builtin::index: case Builtin::slice: case Builtin::eq:
    case Builtin::call:
        return {1, true};
    case Builtin::not_: case Builtin::len: return {1, false};
    case Builtin::printf: return {1, true};
    case Builtin::print: case Builtin::println: case Builtin::html: case Builtin::js: case Builtin::urlquery:
        return {0, true};
    case Builtin::ne: case Builtin::lt: case Builtin::le: case Builtin::gt: case Builtin::ge: return {2, false};
    case Builtin::none: break;
    }
    return {0, true};
}

// Parameter kinds: reflect.Value (anything, invalid kept), interface{}
// (invalid becomes nil), string, int.
enum class P { value, any, string, integer };

P builtin_param(Builtin b, size_t i) {
    switch (b) {
    case Builtin::printf: return i == 0 ? P::string : P::any;
    case Builtin::print: case Builtin::println: case Builtin::html: case Builtin::js: case Builtin::urlquery:
        return P::any;
    default: return P::value;
    }
}

const char* param_type_name(P p) {
    switch (p) {
    case P::value: return "reflect.Value";
    case P::any: return "interface {}";
    case P::string: return "string";
    case P::integer: return "int";
    }
    return "";
}

}  // namespace

Value Value::object(const Object* o) {
    Value x;
    x.kind = Kind::object;
    x.obj = o;
    x.type = o ? o->type_name() : "<nil>";
    return x;
}

void Sink::put(std::string_view s) {
    if (s.size() > cap_ - len_) {
        overflow_ = true;
        s = s.substr(0, cap_ - len_);
    }
    if (s.empty()) return;  // an empty view may carry a null data() (memcpy's arguments must not be null)
    std::memcpy(buf_ + len_, s.data(), s.size());
    len_ += s.size();
}
void Sink::put(char c) {
    if (len_ == cap_) {
        overflow_ = true;
        return;
    }
    buf_[len_++] = c;
}

Exec::Exec(size_t out_cap, size_t arena_cap)
    : out_buf_(new char[out_cap]),
      out_cap_(out_cap),
      out_(out_buf_.get(), out_cap),
      arena_(new char[arena_cap]),
      arena_cap_(arena_cap) {
    vars_.reserve(kMaxVars);
    args_.reserve(kMaxArgs);
    error_.reserve(512);
    scratch_.reserve(256);
    for (size_t i = 0; i < kMaxSlices; ++i) slices_.push_back(std::make_unique<SliceView>());
}
Exec::~Exec() = default;

void Exec::reset() {
    out_ = Sink(out_buf_.get(), out_cap_);
    arena_len_ = 0;
    error_.clear();
    vars_.clear();
    args_.clear();
    slices_used_ = 0;
    depth_ = 0;
}

char* Exec::alloc(size_t n) {
    if (n > arena_cap_ - arena_len_) return nullptr;
    char* p = arena_.get() + arena_len_;
    arena_len_ += n;
    return p;
}
std::string_view Exec::store(std::string_view s) {
    char* p = alloc(s.size());
    if (!p) return {};
    std::memcpy(p, s.data(), s.size());
    return {p, s.size()};
}
Sink Exec::arena_sink() { return Sink(arena_.get() + arena_len_, arena_cap_ - arena_len_); }
std::string_view Exec::commit(const Sink& s) {
    arena_len_ += s.size();
    return s.view();
}

struct State {
    const TreeSet& set;
    const Tree* tree;
    Exec& ex;
    const Node* node = nullptr;

    // ---- errors ----
    [[noreturn]] void fail(std::string_view msg) {
        std::string& e = ex.error_;
        e.clear();
        if (!node) {
            e.append("template: ").append(tree->name).append(": ").append(msg);
        } else {
            std::string context;
            node->str(context);
            e.append("template: ").append(error_location(*tree, *node)).append(": executing ");
            e.append(go_quote(tree->name)).append(" at <").append(context).append(">: ").append(msg);
        }
        throw Fail{};
    }
    void at(const Node* n) { node = n; }
    void check_overflow() {
        if (ex.out_.overflow()) fail("template output too long");
    }
    std::string_view arena_store(std::string_view s) {
        if (s.empty()) return s;
        std::string_view r = ex.store(s);
        if (r.empty()) fail("template output too long");
        return r;
    }

    // ---- variables ----
    void push(std::string_view name, const Value& v) {
        if (ex.vars_.size() >= kMaxVars) fail("too many variables");
        ex.vars_.push_back({name, v});
    }
    void set_var(std::string_view name, const Value& v) {
        for (size_t i = ex.vars_.size(); i-- > 0;)
            if (ex.vars_[i].name == name) {
                ex.vars_[i].value = v;
                return;
            }
        fail("undefined variable: " + std::string(name));
    }
    void set_top_var(size_t n, const Value& v) { ex.vars_[ex.vars_.size() - n].value = v; }
    Value var_value(std::string_view name) {
        for (size_t i = ex.vars_.size(); i-- > 0;)
            if (ex.vars_[i].name == name) return ex.vars_[i].value;
        fail("undefined variable: " + std::string(name));
    }

    // ---- walking ----
    Flow walk(const Value& dot, const Node& n) {
        at(&n);
        switch (n.type) {
        case NodeType::action: {
            const Value v = eval_pipeline(dot, *n.pipe);
            if (n.pipe->decl.empty()) print_value(n, v);
            return Flow::normal;
        }
        case NodeType::break_: return Flow::brk;
        case NodeType::continue_: return Flow::cont;
        case NodeType::comment: return Flow::normal;
        case NodeType::if_: case NodeType::with: return walk_if_or_with(dot, n);
        case NodeType::list:
            for (const auto& c : n.nodes) {
                const Flow f = walk(dot, *c);
                if (f != Flow::normal) return f;
            }
            return Flow::normal;
        case NodeType::range: return walk_range(dot, n);
        case NodeType::template_: walk_template(dot, n); return Flow::normal;
        case NodeType::text:
            ex.out_.put(n.text);
            check_overflow();
            return Flow::normal;
        default: fail("unknown node");
        }
    }
    Flow walk_if_or_with(const Value& dot, const Node& n) {
        const size_t mark = ex.vars_.size();
        const Value v = eval_pipeline(dot, *n.pipe);
        Flow f = Flow::normal;
        if (truth(v)) {
            f = walk(n.type == NodeType::with ? v : dot, *n.list);
        } else if (n.else_list) {
            f = walk(dot, *n.else_list);
        }
        ex.vars_.resize(mark);
        return f;
    }
    // One iteration of a range body; false to stop ({{break}}).
    bool range_once(const Value& dot_unused, const Node& r, const Value& index, const Value& elem, size_t mark) {
        (void)dot_unused;
        const Node& pipe = *r.pipe;
        if (!pipe.decl.empty()) {
            if (pipe.is_assign) set_var(pipe.decl[0]->idents[0], pipe.decl.size() > 1 ? index : elem);
            else set_top_var(1, elem);
        }
        if (pipe.decl.size() > 1) {
            if (pipe.is_assign) set_var(pipe.decl[1]->idents[0], elem);
            else set_top_var(2, index);
        }
        const Flow f = walk(elem, *r.list);
        ex.vars_.resize(mark);
        return f != Flow::brk;
    }
    Flow walk_range(const Value& dot, const Node& r) {
        at(&r);
        const size_t outer_mark = ex.vars_.size();
        const Value v = eval_pipeline(dot, *r.pipe);
        const size_t mark = ex.vars_.size();
        bool ran = false;
        if (v.kind == Kind::object && v.obj && v.obj->shape() != Object::Shape::record) {
            const size_t n = v.obj->size();
            const bool is_map = v.obj->shape() == Object::Shape::map;
            for (size_t i = 0; i < n; ++i) {
                ran = true;
                const Value key = is_map ? v.obj->key(i) : Value::integer(int64_t(i));
                if (!range_once(dot, r, key, v.obj->at(i), mark)) break;
            }
        } else if (v.kind == Kind::integer || v.kind == Kind::uinteger) {
            if (r.pipe->decl.size() > 1) {
                std::string txt;
                fmt_value(txt, v);
                fail("can't use " + txt + " to iterate over more than one variable");
            }
            const int64_t n = v.kind == Kind::integer ? v.i : int64_t(v.u);
            for (int64_t i = 0; i < n; ++i) {
                ran = true;
                Value e = v;
                if (v.kind == Kind::integer) e.i = i;
                else e.u = uint64_t(i);
                if (!range_once(dot, r, e, e, mark)) break;
            }
        } else if (v.kind != Kind::invalid && v.kind != Kind::nil) {
            std::string txt;
            fmt_value(txt, v);
            fail("range can't iterate over " + txt);
        }
        Flow f = Flow::normal;
        if (!ran && r.else_list) f = walk(dot, *r.else_list);
        ex.vars_.resize(outer_mark);
        (void)f;
        return Flow::normal;
    }
    void walk_template(const Value& dot, const Node& t) {
        at(&t);
        auto it = set.trees.find(t.text);
        if (it == set.trees.end() || !it->second->root)
            fail("no such template " + go_quote(t.text));
        if (++ex.depth_ > kMaxDepth) fail("exceeded maximum template depth (" + std::to_string(kMaxDepth) + ")");
        const Value new_dot = t.pipe ? eval_pipeline(dot, *t.pipe) : Value{};
        State sub{set, it->second.get(), ex};
        const size_t mark = ex.vars_.size();
        // The called template sees only its own $.
        std::vector<Exec::Var> saved;
        saved.swap(ex.vars_);
        ex.vars_.reserve(kMaxVars);
        sub.push("$", new_dot);
        try {
            sub.walk(new_dot, *it->second->root);
        } catch (...) {
            ex.vars_.swap(saved);
            throw;
        }
        ex.vars_.swap(saved);
        ex.vars_.resize(mark);
        --ex.depth_;
    }

    void fmt_value(std::string& out, const Value& v) {
        char buf[512];
        Sink s(buf, sizeof buf);
        format_value(s, v);
        out.assign(s.view());
    }
    void print_value(const Node& n, const Value& v) {
        at(&n);
        if (v.kind == Kind::invalid) {
            ex.out_.put("<no value>");
        } else {
            format_value(ex.out_, v);
        }
        check_overflow();
    }

    // ---- evaluation ----
    Value eval_pipeline(const Value& dot, const Node& pipe) {
        at(&pipe);
        Value v;
        bool have_final = false;
        for (const auto& cmd : pipe.nodes) {
            v = eval_command(dot, *cmd, have_final ? &v : nullptr);
            have_final = true;
        }
        for (const auto& var : pipe.decl) {
            if (pipe.is_assign) set_var(var->idents[0], v);
            else push(var->idents[0], v);
        }
        return v;
    }
    void not_a_function(const Node& cmd, const Value* final) {
        if (cmd.nodes.size() > 1 || final) {
            std::string s;
            cmd.nodes[0]->str(s);
            fail("can't give argument to non-function " + s);
        }
    }
    Value eval_command(const Value& dot, const Node& cmd, const Value* final) {
        const Node& first = *cmd.nodes[0];
        switch (first.type) {
        case NodeType::field: at(&first); return eval_field_chain(dot, dot, first, first.idents, 0, &cmd, final);
        case NodeType::chain: return eval_chain(dot, first, &cmd, final);
        case NodeType::identifier: return eval_function(dot, first, cmd, final);
        case NodeType::pipe: not_a_function(cmd, final); return eval_pipeline(dot, first);
        case NodeType::variable: return eval_variable(dot, first, &cmd, final);
        default: break;
        }
        at(&first);
        not_a_function(cmd, final);
        switch (first.type) {
        case NodeType::boolean: return Value::boolean(first.b);
        case NodeType::dot: return dot;
        case NodeType::nil: fail("nil is not a command");
        case NodeType::number: return ideal_constant(first);
        case NodeType::string: return Value::string(first.text);
        default: break;
        }
        std::string s;
        first.str(s);
        fail("can't evaluate command " + go_quote(s));
    }
    Value ideal_constant(const Node& c) {
        at(&c);
        const std::string& t = c.text;
        const bool hex_int = t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') &&
                             t.find_first_of("pP") == std::string::npos;
        const bool rune_int = !t.empty() && t[0] == '\'';
        if (c.is_float && !hex_int && !rune_int && t.find_first_of(".eEpP") != std::string::npos)
            return Value::floating(c.f);
        if (c.is_int) return Value::integer(c.i);
        if (c.is_uint) fail(t + " overflows int");
        return {};
    }
    Value eval_chain(const Value& dot, const Node& chain, const Node* cmd, const Value* final) {
        at(&chain);
        if (chain.sub->type == NodeType::nil) {
            std::string s;
            chain.str(s);
            fail("indirection through explicit nil in " + s);
        }
        const Value pipe = eval_arg(dot, P::value, *chain.sub);
        return eval_field_chain(dot, pipe, chain, chain.idents, 0, cmd, final);
    }
    Value eval_variable(const Value& dot, const Node& var, const Node* cmd, const Value* final) {
        at(&var);
        const Value v = var_value(var.idents[0]);
        if (var.idents.size() == 1) {
            if (cmd) not_a_function(*cmd, final);
            return v;
        }
        return eval_field_chain(dot, v, var, var.idents, 1, cmd, final);
    }
    Value eval_field_chain(const Value& dot, Value receiver, const Node& node, const std::vector<std::string>& idents,
                           size_t from, const Node* cmd, const Value* final) {
        const size_t n = idents.size();
        for (size_t i = from; i + 1 < n; ++i) receiver = eval_field(dot, idents[i], node, nullptr, nullptr, receiver);
        return eval_field(dot, idents[n - 1], node, cmd, final, receiver);
    }
    Value eval_field(const Value& dot, const std::string& name, const Node& node, const Node* cmd, const Value* final,
                     const Value& receiver) {
        if (receiver.kind == Kind::invalid) return {};
        if (receiver.kind == Kind::nil) fail("nil pointer evaluating interface {}." + name);
        const bool has_args = (cmd && cmd->nodes.size() > 1) || final;
        if (receiver.kind == Kind::object && receiver.obj) {
            const Object& o = *receiver.obj;
            const int arity = o.method_arity(name);
            if (arity >= 0) return call_method(dot, o, name, arity, node, cmd, final);
            if (o.shape() == Object::Shape::record) {
                Value out;
                if (o.field(name, out)) {
                    if (has_args) fail(name + " has arguments but cannot be invoked as function");
                    return out;
                }
            } else if (o.shape() == Object::Shape::map) {
                if (has_args) fail(name + " is not a method but has arguments");
                Value out;
                if (o.get(name, out)) return out;
                return {};  // missingkey=default: the invalid value
            }
        }
        fail("can't evaluate field " + name + " in type " + receiver.type);
    }
    Value call_method(const Value& dot, const Object& o, const std::string& name, int arity, const Node& node,
                      const Node* cmd, const Value* final) {
        const size_t nargs = (cmd ? cmd->nodes.size() - 1 : 0) + (final ? 1 : 0);
        if (nargs != size_t(arity))
            fail("wrong number of args for " + name + ": want " + std::to_string(arity) + " got " + std::to_string(nargs));
        const size_t base = ex.args_.size();
        if (cmd)
            for (size_t i = 1; i < cmd->nodes.size(); ++i) push_arg(eval_arg(dot, P::string, *cmd->nodes[i]));
        if (final) push_arg(validate(*final, P::string));
        Value out;
        at(&node);
        if (!o.call(name, ex.args_.data() + base, nargs, out, ex)) fail("error calling " + name);
        ex.args_.resize(base);
        return out;
    }
    void push_arg(const Value& v) {
        if (ex.args_.size() >= kMaxArgs) fail("too many arguments");
        ex.args_.push_back(v);
    }

    // Go's validateType for our parameter kinds.
    Value validate(const Value& v, P p) {
        if (v.kind == Kind::invalid) {
            if (p == P::value) return v;
            if (p == P::any) return Value::nil();
            fail(std::string("invalid value; expected ") + param_type_name(p));
        }
        switch (p) {
        case P::value: case P::any: return v;
        case P::string:
            if (v.kind == Kind::string && std::strcmp(v.type, "string") == 0) return v;
            break;
        case P::integer:
            if (v.kind == Kind::integer && std::strcmp(v.type, "int") == 0) return v;
            break;
        }
        fail(std::string("wrong type for value; expected ") + param_type_name(p) + "; got " + v.type);
    }
    Value eval_arg(const Value& dot, P p, const Node& n) {
        at(&n);
        switch (n.type) {
        case NodeType::dot: return validate(dot, p);
        case NodeType::nil:
            if (p == P::value || p == P::any) return Value::nil();
            fail(std::string("cannot assign nil to ") + param_type_name(p));
        case NodeType::field: return validate(eval_field_chain(dot, dot, n, n.idents, 0, nullptr, nullptr), p);
        case NodeType::variable: return validate(eval_variable(dot, n, nullptr, nullptr), p);
        case NodeType::pipe: return validate(eval_pipeline(dot, n), p);
        case NodeType::identifier: return validate(eval_function_args(dot, n, n, nullptr, 0, nullptr), p);
        case NodeType::chain: return validate(eval_chain(dot, n, nullptr, nullptr), p);
        default: break;
        }
        std::string s;
        n.str(s);
        switch (p) {
        case P::string:
            if (n.type == NodeType::string) return Value::string(n.text);
            fail("expected string; found " + s);
        case P::integer:
            if (n.type == NodeType::number && n.is_int) return Value::integer(n.i);
            fail("expected integer; found " + s);
        case P::value: case P::any:
            switch (n.type) {
            case NodeType::boolean: return Value::boolean(n.b);
            case NodeType::number: return ideal_constant(n);
            case NodeType::string: return Value::string(n.text);
            default: break;
            }
        }
        fail("can't handle " + s + " for arg of type " + param_type_name(p));
    }

    Value eval_function(const Value& dot, const Node& ident, const Node& cmd, const Value* final) {
        at(&ident);
        return eval_function_args(dot, ident, cmd, &cmd, 1, final);
    }
    // Calls function `ident` with the arguments cmd->nodes[first..] (none
    // when args is null) and `final` (the previous pipeline stage).
    Value eval_function_args(const Value& dot, const Node& ident, const Node& node, const Node* args, size_t first,
                             const Value* final) {
        const std::string& name = ident.text;
        const size_t given = args ? args->nodes.size() - first : 0;
        const size_t num_in = given + (final ? 1 : 0);
        Sig sig;
        const Func* fn = nullptr;
        if (ident.builtin != Builtin::none) {
            sig = builtin_sig(ident.builtin);
        } else {
            fn = &set.funcs[size_t(ident.func)];
            sig = {int(fn->params.size()), false};
        }
        if (sig.variadic) {
            if (num_in < size_t(sig.fixed))
                fail("wrong number of args for " + name + ": want at least " + std::to_string(sig.fixed) + " got " +
                     std::to_string(given));
        } else if (num_in != size_t(sig.fixed)) {
            fail("wrong number of args for " + name + ": want " + std::to_string(sig.fixed) + " got " +
                 std::to_string(num_in));
        }
        auto param = [&](size_t i) -> P {
            if (fn) {
                switch (fn->params[i]) {
                case Param::string: return P::string;
                case Param::integer: return P::integer;
                case Param::any: return P::any;
                }
            }
            return builtin_param(ident.builtin, i);
        };
        // and/or evaluate their arguments lazily and return one of them.
        if (ident.builtin == Builtin::and_ || ident.builtin == Builtin::or_) {
            const bool want = ident.builtin == Builtin::or_;
            Value v;
            for (size_t i = 0; i < given; ++i) {
                v = eval_arg(dot, P::value, *args->nodes[first + i]);
                if (truth(v) == want) return v;
            }
            if (final) v = *final;
            return v;
        }
        const size_t base = ex.args_.size();
        for (size_t i = 0; i < given; ++i) push_arg(eval_arg(dot, param(i), *args->nodes[first + i]));
        if (final) push_arg(validate(*final, param(num_in - 1)));
        const Value* argv = ex.args_.data() + base;
        Value out;
        std::string err;
        bool ok;
        if (fn) {
            ok = fn->fn(argv, num_in, out, err, ex);
        } else {
            ok = call_builtin(ident.builtin, args, first, argv, num_in, out, err);
        }
        ex.args_.resize(base);
        if (!ok) {
            at(&node);
            fail("error calling " + name + ": " + err);
        }
        return out;
    }

    // ---- builtins ----
    bool call_builtin(Builtin b, const Node* args, size_t first, const Value* a, size_t n, Value& out,
                      std::string& err) {
        switch (b) {
        case Builtin::not_: out = Value::boolean(!truth(a[0])); return true;
        case Builtin::len: return length(a[0], out, err);
        case Builtin::index: return index(a, n, out, err);
        case Builtin::slice: return slice(a, n, out, err);
        case Builtin::print: case Builtin::println: case Builtin::printf: {
            Sink s = ex.arena_sink();
            if (b == Builtin::print) sprint(s, a, n);
            else if (b == Builtin::println) sprintln(s, a, n);
            else sprintf(s, a[0].s, a + 1, n - 1);
            if (s.overflow()) fail("template output too long");
            out = Value::string(ex.commit(s));
            return true;
        }
        case Builtin::html: case Builtin::js: case Builtin::urlquery: return escape(b, a, n, out);
        case Builtin::call: {
            std::string s = "<nil>";
            if (args && args->nodes.size() > first) {
                s.clear();
                args->nodes[first]->str(s);
            }
            if (a[0].kind == Kind::invalid || a[0].kind == Kind::nil) err = "call of nil";
            else err = "non-function " + s + " of type " + a[0].type;
            return false;
        }
        case Builtin::eq: {
            if (n < 2) {
                err = "missing argument for comparison";
                return false;
            }
            bool t = false;
            for (size_t i = 1; i < n && !t; ++i) {
                int r = equal(a[0], a[i], err);
                if (r < 0) return false;
                t = r == 1;
            }
            out = Value::boolean(t);
            return true;
        }
        case Builtin::ne: {
            const int r = equal(a[0], a[1], err);
            if (r < 0) return false;
            out = Value::boolean(r == 0);
            return true;
        }
        case Builtin::lt: case Builtin::le: case Builtin::gt: case Builtin::ge: {
            const int l = less(a[0], a[1], err);
            if (l < 0) return false;
            int e = 0;
            if (b == Builtin::le || b == Builtin::gt) {
                if (l == 0) {
                    e = equal(a[0], a[1], err);
                    if (e < 0) return false;
                }
            }
            bool t = false;
            switch (b) {
            case Builtin::lt: t = l == 1; break;
            case Builtin::le: t = l == 1 || e == 1; break;
            case Builtin::gt: t = !(l == 1 || e == 1); break;
            default: t = l != 1; break;
            }
            out = Value::boolean(t);
            return true;
        }
        default: break;
        }
        err = "unsupported builtin";
        return false;
    }
    bool length(const Value& v, Value& out, std::string& err) {
        switch (v.kind) {
        case Kind::string: out = Value::integer(int64_t(v.s.size())); return true;
        case Kind::object:
            if (v.obj && v.obj->shape() != Object::Shape::record) {
                out = Value::integer(int64_t(v.obj->size()));
                return true;
            }
            break;
        case Kind::invalid: case Kind::nil: err = "len of untyped nil"; return false;
        default: break;
        }
        err = std::string("len of type ") + v.type;
        return false;
    }
    static bool index_arg(const Value& idx, size_t cap, bool inclusive, int64_t& x, std::string& err) {
        switch (idx.kind) {
        case Kind::integer: x = idx.i; break;
        case Kind::uinteger: x = int64_t(idx.u); break;
        case Kind::invalid: case Kind::nil: err = "cannot index slice/array with nil"; return false;
        default: err = std::string("cannot index slice/array with type ") + idx.type; return false;
        }
        if (x < 0 || (inclusive ? uint64_t(x) > cap : uint64_t(x) >= cap)) {
            err = "index out of range: " + std::to_string(x);
            return false;
        }
        return true;
    }
    bool index(const Value* a, size_t n, Value& out, std::string& err) {
        Value item = a[0];
        if (item.kind == Kind::invalid || item.kind == Kind::nil) {
            err = "index of untyped nil";
            return false;
        }
        for (size_t k = 1; k < n; ++k) {
            const Value& idx = a[k];
            if (item.kind == Kind::string) {
                int64_t x;
                if (!index_arg(idx, item.s.size(), false, x, err)) return false;
                item = Value::uinteger((unsigned char)item.s[size_t(x)], "uint8");
            } else if (item.kind == Kind::object && item.obj && item.obj->shape() == Object::Shape::list) {
                int64_t x;
                if (!index_arg(idx, item.obj->size(), false, x, err)) return false;
                item = item.obj->at(size_t(x));
            } else if (item.kind == Kind::object && item.obj && item.obj->shape() == Object::Shape::map) {
                if (idx.kind == Kind::invalid || idx.kind == Kind::nil) {
                    err = "value is nil; should be of type string";
                    return false;
                }
                if (idx.kind != Kind::string) {
                    err = std::string("value has type ") + idx.type + "; should be string";
                    return false;
                }
                Value v;
                item = item.obj->get(idx.s, v) ? v : Value::string({});
            } else {
                err = std::string("can't index item of type ") + item.type;
                return false;
            }
        }
        out = item;
        return true;
    }
    bool slice(const Value* a, size_t n, Value& out, std::string& err) {
        const Value& item = a[0];
        if (item.kind == Kind::invalid || item.kind == Kind::nil) {
            err = "slice of untyped nil";
            return false;
        }
        if (n - 1 > 3) {
            err = "too many slice indexes: " + std::to_string(n - 1);
            return false;
        }
        size_t len;
        if (item.kind == Kind::string) {
            if (n - 1 == 3) {
                err = "cannot 3-index slice a string";
                return false;
            }
            len = item.s.size();
        } else if (item.kind == Kind::object && item.obj && item.obj->shape() == Object::Shape::list) {
            len = item.obj->size();
        } else {
            err = std::string("can't slice item of type ") + item.type;
            return false;
        }
        int64_t idx[3] = {0, int64_t(len), int64_t(len)};
        for (size_t k = 1; k < n; ++k)
            if (!index_arg(a[k], len, true, idx[k - 1], err)) return false;
        if (idx[0] > idx[1]) {
            err = "invalid slice index: " + std::to_string(idx[0]) + " > " + std::to_string(idx[1]);
            return false;
        }
        if (n - 1 == 3 && idx[1] > idx[2]) {
            err = "invalid slice index: " + std::to_string(idx[1]) + " > " + std::to_string(idx[2]);
            return false;
        }
        if (item.kind == Kind::string) {
            out = Value::string(item.s.substr(size_t(idx[0]), size_t(idx[1] - idx[0])));
            return true;
        }
        if (ex.slices_used_ >= ex.slices_.size()) {
            err = "too many slices";
            return false;
        }
        auto* view = static_cast<SliceView*>(ex.slices_[ex.slices_used_++].get());
        view->base = item.obj;
        view->from = size_t(idx[0]);
        view->to = size_t(idx[1]);
        out = Value::object(view);
        return true;
    }
    // 1 equal, 0 not, -1 error.
    static int equal(const Value& x, const Value& y, std::string& err) {
        const BK k1 = basic_kind(x), k2 = basic_kind(y);
        if (k1 != k2) {
            if (k1 == BK::integer && k2 == BK::uinteger) return x.i >= 0 && uint64_t(x.i) == y.u;
            if (k1 == BK::uinteger && k2 == BK::integer) return y.i >= 0 && x.u == uint64_t(y.i);
            if (x.kind != Kind::invalid && y.kind != Kind::invalid) {
                err = "incompatible types for comparison";
                return -1;
            }
            return 0;
        }
        switch (k1) {
        case BK::boolean: return x.b == y.b;
        case BK::integer: return x.i == y.i;
        case BK::uinteger: return x.u == y.u;
        case BK::floating: return x.f == y.f;
        case BK::string: return x.s == y.s;
        case BK::invalid: return 1;
        case BK::other:
            if (x.kind == Kind::nil || y.kind == Kind::nil) return x.kind == y.kind;
            if (x.obj && x.obj->shape() != Object::Shape::record) {
                err = std::string("non-comparable type ") + x.type;
                return -1;
            }
            return x.obj == y.obj;
        }
        return 0;
    }
    static int less(const Value& x, const Value& y, std::string& err) {
        const BK k1 = basic_kind(x), k2 = basic_kind(y);
        if (k1 == BK::invalid || k1 == BK::other || k2 == BK::invalid || k2 == BK::other) {
            err = "invalid type for comparison";
            return -1;
        }
        if (k1 != k2) {
            if (k1 == BK::integer && k2 == BK::uinteger) return x.i < 0 || uint64_t(x.i) < y.u;
            if (k1 == BK::uinteger && k2 == BK::integer) return y.i >= 0 && x.u < uint64_t(y.i);
            err = "incompatible types for comparison";
            return -1;
        }
        switch (k1) {
        case BK::boolean: err = "invalid type for comparison"; return -1;
        case BK::integer: return x.i < y.i;
        case BK::uinteger: return x.u < y.u;
        case BK::floating: return x.f < y.f;
        case BK::string: return x.s < y.s;
        default: return 0;
        }
    }
    bool escape(Builtin b, const Value* a, size_t n, Value& out) {
        std::string_view s;
        if (n == 1 && a[0].kind == Kind::string) {
            s = a[0].s;
        } else {
            Sink tmp = ex.arena_sink();
            sprint(tmp, a, n);
            if (tmp.overflow()) fail("template output too long");
            s = ex.commit(tmp);
        }
        Sink o = ex.arena_sink();
        static const char* hex = "0123456789ABCDEF";
        for (size_t i = 0; i < s.size(); ++i) {
            const auto c = (unsigned char)s[i];
            if (b == Builtin::html) {
                switch (c) {
                case '"': o.put("&#34;"); break;
                case '\'': o.put("&#39;"); break;
                case '&': o.put("&amp;"); break;
                case '<': o.put("&lt;"); break;
                case '>': o.put("&gt;"); break;
                case 0: o.put("\xEF\xBF\xBD"); break;
                default: o.put(char(c));
                }
            } else if (b == Builtin::js) {
                switch (c) {
                case '\\': o.put("\\\\"); break;
                case '\'': o.put("\\'"); break;
                case '"': o.put("\\\""); break;
                case '<': o.put("\\u003C"); break;
                case '>': o.put("\\u003E"); break;
                case '&': o.put("\\u0026"); break;
                case '=': o.put("\\u003D"); break;
                default:
                    if (c < ' ') {
                        o.put("\\u00");
                        o.put(hex[c >> 4]);
                        o.put(hex[c & 15]);
                    } else {
                        o.put(char(c));
                    }
                }
            } else {
                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.' || c == '~') {
                    o.put(char(c));
                } else if (c == ' ') {
                    o.put('+');
                } else {
                    o.put('%');
                    o.put(hex[c >> 4]);
                    o.put(hex[c & 15]);
                }
            }
        }
        if (o.overflow()) fail("template output too long");
        out = Value::string(ex.commit(o));
        return true;
    }
};

Template::Template(std::string name, std::string_view text, std::vector<Func> funcs) : set_(new TreeSet) {
    set_->name = name;
    set_->funcs = std::move(funcs);
    parse(*set_, name, text);
}
Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

const std::string& Template::name() const { return set_->name; }

std::string Template::root_string() const {
    std::string s;
    set_->main->root->str(s);
    return s;
}

namespace {
bool uses(const Node& n, std::string_view field) {
    if (n.type == NodeType::dot) return true;
    if (n.type == NodeType::variable && n.idents.size() == 1 && n.idents[0] == "$") return true;
    if (n.type == NodeType::field || n.type == NodeType::variable || n.type == NodeType::chain)
        for (const auto& id : n.idents)
            if (id == field) return true;
    for (const auto& c : n.nodes)
        if (uses(*c, field)) return true;
    for (const auto& c : n.decl)
        if (uses(*c, field)) return true;
    for (const Node* c : {n.pipe.get(), n.list.get(), n.else_list.get(), n.sub.get()})
        if (c && uses(*c, field)) return true;
    // Another template may be called with the data.
    return n.type == NodeType::template_;
}
}  // namespace

bool Template::may_use(std::string_view field) const {
    for (const auto& [name, t] : set_->trees)
        if (t->root && uses(*t->root, field)) return true;
    return false;
}

bool Template::execute(const Value& dot, Exec& ex) const {
    ex.reset();
    State s{*set_, set_->main, ex};
    try {
        s.push("$", dot);
        s.walk(dot, *set_->main->root);
    } catch (const Fail&) {
        return false;
    }
    return true;
}

}  // namespace dnscore::gotemplate
