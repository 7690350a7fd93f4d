// Go's text/template/parse: the lexer and the recursive-descent parser, with
// Go's error texts ("template: NAME:LINE: MESSAGE").
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/gotemplate/strconv.hpp"
#include "core/gotemplate/tree.hpp"

namespace dnscore::gotemplate {

namespace {

enum class It : uint8_t {
    error, boolean, chr, char_constant, complex, assign, declare, eof, field, identifier, left_delim,
    left_paren, number, pipe, raw_string, right_delim, right_paren, space, string, text, variable,
    keyword,  // keywords follow
    block, break_, continue_, dot, define, else_, end, if_, nil, range, template_, with,
};

struct Item {
    It typ;
    size_t pos;
    std::string_view val;
    int line;
    std::string msg;  // error items
};

constexpr std::string_view kLeft = "{{", kRight = "}}", kLeftComment = "/*", kRightComment = "*/";

bool is_space(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_alnum(int c) {
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}
bool has_left_trim(std::string_view s) { return s.size() >= 2 && s[0] == '-' && is_space(s[1]); }
bool has_right_trim(std::string_view s) { return s.size() >= 2 && is_space(s[0]) && s[1] == '-'; }

It keyword(std::string_view w) {
    static const std::pair<std::string_view, It> kw[] = {
        {".", It::dot}, {"block", It::block}, {"break", It::break_}, {"continue", It::continue_},
        {"define", It::define}, {"else", It::else_}, {"end", It::end}, {"if", It::if_},
        {"range", It::range}, {"nil", It::nil}, {"template", It::template_}, {"with", It::with}};
    for (const auto& [k, t] : kw)
        if (k == w) return t;
    return It::error;
}

// fmt's %#U for a rune: U+0023 '#'.
std::string rune_u(uint32_t r) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "U+%04X", r);
    std::string s = buf;
    if (r >= 0x20 && r < 0x7f) {
        s += " '";
        s += char(r);
        s += "'";
    }
    return s;
}

class Lexer {
public:
    explicit Lexer(std::string_view in) : in_(in) {}

    std::vector<Item> run() {
        while (!done_) text();
        return std::move(items_);
    }

private:
    int line_at(size_t pos) const {
        int l = 1;
        for (size_t i = 0; i < pos && i < in_.size(); ++i) l += in_[i] == '\n';
        return l;
    }
    void emit(It t) {
        items_.push_back({t, start_, in_.substr(start_, pos_ - start_), line_at(start_), {}});
        start_ = pos_;
    }
    void error(std::string msg) {
        items_.push_back({It::error, start_, {}, line_at(start_), std::move(msg)});
        done_ = true;
    }
    int peek() const { return pos_ < in_.size() ? (unsigned char)in_[pos_] : -1; }
    int next() { return pos_ < in_.size() ? (unsigned char)in_[pos_++] : -1; }
    // Decodes the UTF-8 rune at p (for messages).
    uint32_t rune_at(size_t p) const {
        const auto c = (unsigned char)in_[p];
        if (c < 0x80) return c;
        int n = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
        uint32_t r = c & (0x3f >> n);
        for (int k = 1; k <= n && p + size_t(k) < in_.size(); ++k) r = r << 6 | ((unsigned char)in_[p + size_t(k)] & 0x3f);
        return r;
    }
    bool accept(std::string_view valid) {
        if (pos_ < in_.size() && valid.find(in_[pos_]) != std::string_view::npos) {
            ++pos_;
            return true;
        }
        return false;
    }
    void accept_run(std::string_view valid) {
        while (accept(valid)) {
        }
    }
    std::pair<bool, bool> at_right_delim() const {
        const std::string_view rest = in_.substr(pos_);
        if (has_right_trim(rest) && rest.substr(2).starts_with(kRight)) return {true, true};
        if (rest.starts_with(kRight)) return {true, false};
        return {false, false};
    }
    bool at_terminator() const {
        const int r = peek();
        if (r == -1 || is_space(r)) return true;
        switch (r) {
        case '.': case ',': case '|': case ':': case ')': case '(': return true;
        }
        return r == '}';
    }

    void text() {
        const size_t x = in_.find(kLeft, pos_);
        if (x == std::string_view::npos) {
            pos_ = in_.size();
            if (pos_ > start_) emit(It::text);
            emit(It::eof);
            done_ = true;
            return;
        }
        if (x > pos_) {
            pos_ = x;
            size_t trim = 0;
            if (has_left_trim(in_.substr(x + kLeft.size()))) {
                while (trim < pos_ - start_ && is_space(in_[pos_ - 1 - trim])) ++trim;
            }
            pos_ -= trim;
            if (pos_ > start_) emit(It::text);
            pos_ += trim;
            start_ = pos_;
        }
        left_delim();
    }
    void left_delim() {
        pos_ += kLeft.size();
        const bool trim = has_left_trim(in_.substr(pos_));
        const size_t after = trim ? 2 : 0;
        if (in_.substr(pos_ + after).starts_with(kLeftComment)) {
            pos_ += after;
            start_ = pos_;
            comment();
            return;
        }
        emit(It::left_delim);
        pos_ += after;
        start_ = pos_;
        paren_ = 0;
        inside();
    }
    void comment() {
        pos_ += kLeftComment.size();
        const size_t x = in_.find(kRightComment, pos_);
        if (x == std::string_view::npos) return error("unclosed comment");
        pos_ = x + kRightComment.size();
        auto [delim, trim] = at_right_delim();
        if (!delim) return error("comment ends before closing delimiter");
        if (trim) pos_ += 2;
        pos_ += kRight.size();
        if (trim)
            while (pos_ < in_.size() && is_space(in_[pos_])) ++pos_;
        start_ = pos_;
    }
    void right_delim(bool trim) {
        if (trim) {
            pos_ += 2;
            start_ = pos_;
        }
        pos_ += kRight.size();
        emit(It::right_delim);
        if (trim) {
            while (pos_ < in_.size() && is_space(in_[pos_])) ++pos_;
            start_ = pos_;
        }
    }
    void inside() {
        for (;;) {
            if (done_) return;
            auto [delim, trim] = at_right_delim();
            if (delim) {
                if (paren_ == 0) return right_delim(trim);
                return error("unclosed left paren");
            }
            const int r = next();
            if (r == -1) return error("unclosed action");
            if (is_space(r)) {
                --pos_;
                space();
                continue;
            }
            switch (r) {
            case '=': emit(It::assign); continue;
            case ':':
                if (next() != '=') return error("expected :=");
                emit(It::declare);
                continue;
            case '|': emit(It::pipe); continue;
            case '"': quote(); continue;
            case '`': raw_quote(); continue;
            case '$': variable(); continue;
            case '\'': char_const(); continue;
            case '(':
                emit(It::left_paren);
                ++paren_;
                continue;
            case ')':
                if (--paren_ < 0) return error("unexpected right paren");
                emit(It::right_paren);
                continue;
            case '.':
                if (pos_ < in_.size() && (in_[pos_] < '0' || in_[pos_] > '9')) {
                    field_or_variable(It::field);
                    continue;
                }
                [[fallthrough]];
            case '+': case '-': case '0': case '1': case '2': case '3': case '4':
            case '5': case '6': case '7': case '8': case '9':
                --pos_;
                number();
                continue;
            }
            if (is_alnum(r)) {
                --pos_;
                identifier();
                continue;
            }
            if (r < 0x7f && r >= 0x20) {
                emit(It::chr);
                continue;
            }
            return error("unrecognized character in action: " + rune_u(rune_at(pos_ - 1)));
        }
    }
    void space() {
        size_t n = 0;
        while (pos_ < in_.size() && is_space(in_[pos_])) {
            ++pos_;
            ++n;
        }
        // A trim-marked closing delimiter: " -}}" belongs to the delimiter.
        const std::string_view rest = in_.substr(pos_ - 1);
        if (has_right_trim(rest) && rest.substr(2).starts_with(kRight)) {
            --pos_;
            if (n == 1) return;  // the delimiter is next
        }
        emit(It::space);
    }
    void identifier() {
        while (pos_ < in_.size() && is_alnum((unsigned char)in_[pos_])) ++pos_;
        const std::string_view word = in_.substr(start_, pos_ - start_);
        if (!at_terminator()) return error("bad character " + rune_u(rune_at(pos_)));
        const It k = keyword(word);
        if (k != It::error && k > It::keyword) emit(k);
        else if (word[0] == '.') emit(It::field);
        else if (word == "true" || word == "false") emit(It::boolean);
        else emit(It::identifier);
    }
    void variable() {
        if (at_terminator()) {
            emit(It::variable);
            return;
        }
        field_or_variable(It::variable);
    }
    void field_or_variable(It typ) {
        if (at_terminator()) {
            emit(typ == It::variable ? It::variable : It::dot);
            return;
        }
        while (pos_ < in_.size() && is_alnum((unsigned char)in_[pos_])) ++pos_;
        if (!at_terminator()) return error("bad character " + rune_u(rune_at(pos_)));
        emit(typ);
    }
    void char_const() {
        for (;;) {
            int r = next();
            if (r == '\\') {
                r = next();
                if (r != -1 && r != '\n') continue;
                return error("unterminated character constant");
            }
            if (r == -1 || r == '\n') return error("unterminated character constant");
            if (r == '\'') break;
        }
        emit(It::char_constant);
    }
    bool scan_number() {
        accept("+-");
        std::string_view digits = "0123456789_";
        if (accept("0")) {
            if (accept("xX")) digits = "0123456789abcdefABCDEF_";
            else if (accept("oO")) digits = "01234567_";
            else if (accept("bB")) digits = "01_";
        }
        accept_run(digits);
        if (accept(".")) accept_run(digits);
        if (digits.size() == 11 && accept("eE")) {
            accept("+-");
            accept_run("0123456789_");
        }
        if (digits.size() == 23 && accept("pP")) {
            accept("+-");
            accept_run("0123456789_");
        }
        accept("i");
        if (pos_ < in_.size() && is_alnum((unsigned char)in_[pos_])) {
            ++pos_;
            return false;
        }
        return true;
    }
    void number() {
        if (!scan_number()) return error("bad number syntax: " + go_quote(in_.substr(start_, pos_ - start_)));
        const int s = peek();
        if (s == '+' || s == '-') {
            if (!scan_number() || in_[pos_ - 1] != 'i')
                return error("bad number syntax: " + go_quote(in_.substr(start_, pos_ - start_)));
            emit(It::complex);
        } else {
            emit(It::number);
        }
    }
    void quote() {
        for (;;) {
            int r = next();
            if (r == '\\') {
                r = next();
                if (r != -1 && r != '\n') continue;
                return error("unterminated quoted string");
            }
            if (r == -1 || r == '\n') return error("unterminated quoted string");
            if (r == '"') break;
        }
        emit(It::string);
    }
    void raw_quote() {
        for (;;) {
            const int r = next();
            if (r == -1) return error("unterminated raw quoted string");
            if (r == '`') break;
        }
        emit(It::raw_string);
    }

    std::string_view in_;
    size_t pos_ = 0, start_ = 0;
    int paren_ = 0;
    bool done_ = false;
    std::vector<Item> items_;
};

std::string item_string(const Item& i) {
    if (i.typ == It::eof) return "EOF";
    if (i.typ == It::error) return i.msg;
    if (i.typ > It::keyword) return "<" + std::string(i.val) + ">";
    if (i.val.size() > 10) {
        // %.10q: the first 10 runes, quoted.
        size_t n = 0, runes = 0;
        while (n < i.val.size() && runes < 10) {
            const auto c = (unsigned char)i.val[n];
            n += c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
            ++runes;
        }
        return go_quote(i.val.substr(0, std::min(n, i.val.size()))) + "...";
    }
    return go_quote(i.val);
}

struct Parser {
    TreeSet& set;
    Tree* tree;
    std::vector<Item> items;
    size_t cur = 0;
    int last_line = 1;
    int action_line = 0;
    int range_depth = 0;
    std::vector<std::string> vars{"$"};
    // Nesting of pipelines (parentheses) and of control structures. The
    // parser and the evaluator recurse per level, so a template of deeply
    // nested "(((" overflowed the thread's stack (found by the corefile fuzz
    // target). Go allows 10,000 parenthesized levels with its growable
    // stacks and the same message; here the bound is what a fixed stack
    // holds with room to spare, far past any real template.
    static constexpr int kMaxDepth = 200;
    int depth = 0;
    struct Nest {
        Parser& p;
        explicit Nest(Parser& parser) : p(parser) {
            if (++p.depth > kMaxDepth) {
                --p.depth;
                p.errorf("max expression depth exceeded");
            }
        }
        ~Nest() { --p.depth; }
    };

    [[noreturn]] void errorf(const std::string& msg) {
        throw ParseError("template: " + tree->name + ":" + std::to_string(last_line) + ": " + msg);
    }
    const Item& next() {
        // Past the end (after an error item) the last item repeats.
        const Item& i = items[std::min(cur, items.size() - 1)];
        ++cur;
        last_line = i.line;
        return i;
    }
    void backup() { --cur; }
    const Item& peek() {
        const Item& i = items[std::min(cur, items.size() - 1)];
        last_line = i.line;
        return i;
    }
    const Item& next_non_space() {
        for (;;) {
            const Item& i = next();
            if (i.typ != It::space) return i;
        }
    }
    const Item& peek_non_space() {
        const Item& i = next_non_space();
        backup();
        return i;
    }
    [[noreturn]] void unexpected(const Item& tok, const std::string& context) {
        if (tok.typ == It::error) {
            std::string extra;
            if (action_line != 0 && action_line != tok.line) {
                extra = " in action started at " + tree->name + ":" + std::to_string(action_line);
                if (tok.msg.ends_with(" action")) extra = extra.substr(std::strlen(" in action"));
            }
            errorf(tok.msg + extra);
        }
        errorf("unexpected " + item_string(tok) + " in " + context);
    }
    const Item& expect(It t, const std::string& context) {
        const Item& tok = next_non_space();
        if (tok.typ != t) unexpected(tok, context);
        return tok;
    }

    std::unique_ptr<Node> make(NodeType t, const Item& at) { return std::make_unique<Node>(t, at.pos, at.line); }

    void parse_main() {
        tree->root = std::make_unique<Node>(NodeType::list, peek().pos);
        while (peek().typ != It::eof) {
            if (peek().typ == It::left_delim) {
                const size_t save = cur;
                next();
                if (next_non_space().typ == It::define) {
                    parse_definition();
                    continue;
                }
                cur = save;
            }
            auto n = text_or_action();
            if (n->type == NodeType::end || n->type == NodeType::else_) {
                std::string s;
                n->str(s);
                errorf("unexpected " + s);
            }
            if (n->type != NodeType::comment) tree->root->nodes.push_back(std::move(n));
        }
    }
    void add_tree(std::unique_ptr<Tree> t) {
        auto it = set.trees.find(t->name);
        if (it != set.trees.end() && it->second->root && !it->second->root->nodes.empty() && !is_empty(*t->root))
            errorf("template: multiple definition of template " + go_quote(t->name));
        if (it == set.trees.end() || !is_empty(*t->root)) set.trees[t->name] = std::move(t);
    }
    static bool is_empty(const Node& list) {
        for (const auto& n : list.nodes) {
            if (n->type != NodeType::text) return false;
            for (char c : n->text)
                if (!is_space((unsigned char)c)) return false;
        }
        return true;
    }
    void parse_definition() {
        const Item& tok = next_non_space();
        if (tok.typ != It::string && tok.typ != It::raw_string) unexpected(tok, "define clause");
        std::string name;
        if (!go_unquote(tok.val, name)) errorf("invalid syntax");
        expect(It::right_delim, "define clause");
        auto t = std::make_unique<Tree>();
        t->name = name;
        t->text = tree->text;
        Tree* outer = tree;
        std::vector<std::string> saved{"$"};
        std::swap(vars, saved);
        tree = t.get();
        // Errors inside a definition still name the template being parsed.
        t->name = outer->name;
        auto [list, end] = item_list();
        if (end->type != NodeType::end) {
            std::string s;
            end->str(s);
            errorf("unexpected " + s + " in define clause");
        }
        t->name = name;
        t->root = std::move(list);
        tree = outer;
        std::swap(vars, saved);
        add_tree(std::move(t));
    }
    std::pair<std::unique_ptr<Node>, std::unique_ptr<Node>> item_list() {
        Nest nest(*this);
        auto list = std::make_unique<Node>(NodeType::list, peek_non_space().pos);
        while (peek_non_space().typ != It::eof) {
            auto n = text_or_action();
            if (n->type == NodeType::end || n->type == NodeType::else_) return {std::move(list), std::move(n)};
            if (n->type != NodeType::comment) list->nodes.push_back(std::move(n));
        }
        errorf("unexpected EOF");
    }
    std::unique_ptr<Node> text_or_action() {
        const Item& tok = next_non_space();
        if (tok.typ == It::text) {
            auto n = make(NodeType::text, tok);
            n->text = std::string(tok.val);
            return n;
        }
        if (tok.typ == It::left_delim) {
            const int saved = action_line;
            action_line = tok.line;
            auto n = action();
            action_line = saved;
            return n;
        }
        unexpected(tok, "input");
    }
    std::unique_ptr<Node> action() {
        const Item& tok = next_non_space();
        switch (tok.typ) {
        case It::block: return block_control();
        case It::break_: return loop_control(tok, NodeType::break_, "{{break}}");
        case It::continue_: return loop_control(tok, NodeType::continue_, "{{continue}}");
        case It::else_: return else_control();
        case It::end: {
            const Item& e = expect(It::right_delim, "end");
            return make(NodeType::end, e);
        }
        case It::if_: return control(NodeType::if_, "if");
        case It::range: return control(NodeType::range, "range");
        case It::template_: return template_control();
        case It::with: return control(NodeType::with, "with");
        default: break;
        }
        backup();
        const Item& at = peek();
        auto n = make(NodeType::action, at);
        n->pipe = pipeline("command", It::right_delim);
        return n;
    }
    std::unique_ptr<Node> loop_control(const Item& at, NodeType t, const std::string& ctx) {
        const Item& tok = next_non_space();
        if (tok.typ != It::right_delim) unexpected(tok, ctx);
        if (range_depth == 0) errorf(ctx + " outside {{range}}");
        return make(t, at);
    }
    std::unique_ptr<Node> else_control() {
        const Item& p = peek_non_space();
        if (p.typ == It::if_ || p.typ == It::with) return make(NodeType::else_, p);
        const Item& tok = expect(It::right_delim, "else");
        return make(NodeType::else_, tok);
    }
    std::unique_ptr<Node> control(NodeType t, const std::string& context) {
        const size_t mark = vars.size();
        auto n = std::make_unique<Node>(t);
        n->pipe = pipeline(context, It::right_delim);
        n->pos = n->pipe->pos;
        n->line = n->pipe->line;
        if (t == NodeType::range) ++range_depth;
        auto [list, next_node] = item_list();
        if (t == NodeType::range) --range_depth;
        n->list = std::move(list);
        if (next_node->type == NodeType::else_) {
            if (context == "if" && peek().typ == It::if_) {
                next();
                n->else_list = std::make_unique<Node>(NodeType::list, next_node->pos);
                n->else_list->nodes.push_back(control(NodeType::if_, "if"));
            } else if (context == "with" && peek().typ == It::with) {
                next();
                n->else_list = std::make_unique<Node>(NodeType::list, next_node->pos);
                n->else_list->nodes.push_back(control(NodeType::with, "with"));
            } else {
                auto [else_list, end] = item_list();
                if (end->type != NodeType::end) {
                    std::string s;
                    end->str(s);
                    errorf("expected end; found " + s);
                }
                n->else_list = std::move(else_list);
            }
        }
        vars.resize(mark);
        return n;
    }
    std::string template_name(const Item& tok, const std::string& context) {
        if (tok.typ != It::string && tok.typ != It::raw_string) unexpected(tok, context);
        std::string name;
        if (!go_unquote(tok.val, name)) errorf("invalid syntax");
        return name;
    }
    std::unique_ptr<Node> template_control() {
        const std::string context = "template clause";
        const Item& tok = next_non_space();
        auto n = make(NodeType::template_, tok);
        n->text = template_name(tok, context);
        if (next_non_space().typ != It::right_delim) {
            backup();
            n->pipe = pipeline(context, It::right_delim);
        }
        return n;
    }
    std::unique_ptr<Node> block_control() {
        const std::string context = "block clause";
        const Item& tok = next_non_space();
        auto n = make(NodeType::template_, tok);
        n->text = template_name(tok, context);
        n->pipe = pipeline(context, It::right_delim);
        auto t = std::make_unique<Tree>();
        t->name = n->text;
        t->text = tree->text;
        Tree* outer = tree;
        std::vector<std::string> saved{"$"};
        std::swap(vars, saved);
        auto [list, end] = item_list();
        if (end->type != NodeType::end) {
            std::string s;
            end->str(s);
            errorf("unexpected " + s + " in block clause");
        }
        t->root = std::move(list);
        tree = outer;
        std::swap(vars, saved);
        add_tree(std::move(t));
        return n;
    }

    std::unique_ptr<Node> pipeline(const std::string& context, It end) {
        Nest nest(*this);
        const Item& first = peek_non_space();
        auto pipe = make(NodeType::pipe, first);
    decls:
        if (const Item& v = peek_non_space(); v.typ == It::variable) {
            const Item& var = next();
            const size_t after_var = cur;
            const Item& token_after = peek();
            const Item& nxt = peek_non_space();
            if (nxt.typ == It::assign || nxt.typ == It::declare) {
                pipe->is_assign = nxt.typ == It::assign;
                next_non_space();
                pipe->decl.push_back(variable_node(var, std::string(var.val)));
                vars.emplace_back(var.val);
            } else if (nxt.typ == It::chr && nxt.val == ",") {
                next_non_space();
                pipe->decl.push_back(variable_node(var, std::string(var.val)));
                vars.emplace_back(var.val);
                if (context == "range" && pipe->decl.size() < 2) {
                    const It t = peek_non_space().typ;
                    if (t == It::variable || t == It::right_delim || t == It::right_paren) goto decls;
                    errorf("range can only initialize variables");
                }
                errorf("too many declarations in " + context);
            } else if (token_after.typ == It::space) {
                cur = after_var - 1;
            } else {
                cur = after_var - 1;
            }
        }
        for (;;) {
            const Item& tok = next_non_space();
            if (tok.typ == end) {
                check_pipeline(*pipe, context);
                return pipe;
            }
            switch (tok.typ) {
            case It::boolean: case It::char_constant: case It::complex: case It::dot: case It::field:
            case It::identifier: case It::number: case It::nil: case It::raw_string: case It::string:
            case It::variable: case It::left_paren:
                backup();
                pipe->nodes.push_back(command());
                break;
            default: unexpected(tok, context);
            }
        }
    }
    void check_pipeline(const Node& pipe, const std::string& context) {
        if (pipe.nodes.empty()) errorf("missing value for " + context);
        for (size_t i = 1; i < pipe.nodes.size(); ++i) {
            switch (pipe.nodes[i]->nodes[0]->type) {
            case NodeType::boolean: case NodeType::dot: case NodeType::nil: case NodeType::number:
            case NodeType::string:
                errorf("non executable command in pipeline stage " + std::to_string(i + 1));
            default: break;
            }
        }
    }
    std::unique_ptr<Node> command() {
        auto cmd = make(NodeType::command, peek_non_space());
        for (;;) {
            peek_non_space();
            if (auto op = operand()) cmd->nodes.push_back(std::move(op));
            const Item& tok = next();
            if (tok.typ == It::space) continue;
            if (tok.typ == It::right_delim || tok.typ == It::right_paren) backup();
            else if (tok.typ != It::pipe) unexpected(tok, "operand");
            break;
        }
        if (cmd->nodes.empty()) errorf("empty command");
        return cmd;
    }
    std::unique_ptr<Node> operand() {
        auto node = term();
        if (!node) return nullptr;
        if (peek().typ == It::field) {
            auto chain = make(NodeType::chain, peek());
            while (peek().typ == It::field) chain->idents.emplace_back(next().val.substr(1));
            switch (node->type) {
            case NodeType::field:
                for (auto& f : chain->idents) node->idents.push_back(std::move(f));
                return node;
            case NodeType::variable:
                for (auto& f : chain->idents) node->idents.push_back(std::move(f));
                return node;
            case NodeType::boolean: case NodeType::string: case NodeType::number: case NodeType::nil:
            case NodeType::dot: {
                std::string s;
                node->str(s);
                errorf("unexpected . after term " + go_quote(s));
            }
            default:
                chain->pos = node->pos;
                chain->sub = std::move(node);
                return chain;
            }
        }
        return node;
    }
    std::unique_ptr<Node> variable_node(const Item& at, const std::string& name) {
        auto v = make(NodeType::variable, at);
        v->idents.push_back(name);
        return v;
    }
    std::unique_ptr<Node> term() {
        const Item& tok = next_non_space();
        switch (tok.typ) {
        case It::identifier: {
            auto n = make(NodeType::identifier, tok);
            n->text = std::string(tok.val);
            n->builtin = builtin_of(n->text);
            if (n->builtin == Builtin::none) {
                for (size_t k = 0; k < set.funcs.size(); ++k)
                    if (set.funcs[k].name == n->text) n->func = int(k);
                if (n->func < 0) errorf("function " + go_quote(n->text) + " not defined");
            }
            // An extra function of the same name overrides a builtin (Funcs).
            for (size_t k = 0; k < set.funcs.size(); ++k)
                if (set.funcs[k].name == n->text) {
                    n->func = int(k);
                    n->builtin = Builtin::none;
                }
            return n;
        }
        case It::dot: return make(NodeType::dot, tok);
        case It::nil: return make(NodeType::nil, tok);
        case It::variable: {
            const std::string name(tok.val);
            bool found = false;
            for (const auto& v : vars) found = found || v == name;
            if (!found) errorf("undefined variable " + go_quote(name));
            return variable_node(tok, name);
        }
        case It::field: {
            auto n = make(NodeType::field, tok);
            n->idents.emplace_back(tok.val.substr(1));
            return n;
        }
        case It::boolean: {
            auto n = make(NodeType::boolean, tok);
            n->b = tok.val == "true";
            return n;
        }
        case It::char_constant: case It::complex: case It::number: return number(tok);
        case It::left_paren: return pipeline("parenthesized pipeline", It::right_paren);
        case It::string: case It::raw_string: {
            auto n = make(NodeType::string, tok);
            n->quoted = std::string(tok.val);
            if (!go_unquote(tok.val, n->text)) errorf("invalid syntax");
            return n;
        }
        default: backup(); return nullptr;
        }
    }
    static Builtin builtin_of(std::string_view s) {
        static const std::pair<std::string_view, Builtin> b[] = {
            {"and", Builtin::and_}, {"or", Builtin::or_}, {"not", Builtin::not_}, {"len", Builtin::len},
            {"index", Builtin::index}, {"slice", Builtin::slice}, {"print", Builtin::print},
            {"printf", Builtin::printf}, {"println", Builtin::println}, {"html", Builtin::html},
            {"js", Builtin::js}, {"urlquery", Builtin::urlquery}, {"call", Builtin::call}, {"eq", Builtin::eq},
            {"ne", Builtin::ne}, {"lt", Builtin::lt}, {"le", Builtin::le}, {"gt", Builtin::gt}, {"ge", Builtin::ge}};
        for (const auto& [k, v] : b)
            if (k == s) return v;
        return Builtin::none;
    }
    std::unique_ptr<Node> number(const Item& tok) {
        auto n = make(NodeType::number, tok);
        n->text = std::string(tok.val);
        if (tok.typ == It::complex) errorf("complex constants are not supported: " + go_quote(tok.val));
        if (tok.typ == It::char_constant) {
            uint32_t r = 0;
            if (!go_unquote_char(tok.val, r)) errorf("malformed character constant: " + std::string(tok.val));
            n->is_int = n->is_uint = n->is_float = true;
            n->i = r;
            n->u = r;
            n->f = r;
            return n;
        }
        uint64_t u = 0;
        int64_t i = 0;
        if (parse_uint(tok.val, 0, 64, u) == NumErr::ok) {
            n->is_uint = true;
            n->u = u;
        }
        if (parse_int(tok.val, 0, 64, i) == NumErr::ok) {
            n->is_int = true;
            n->i = i;
            if (i == 0) {
                n->is_uint = true;
                n->u = 0;
            }
        }
        if (n->is_int) {
            n->is_float = true;
            n->f = double(n->i);
        } else if (n->is_uint) {
            n->is_float = true;
            n->f = double(n->u);
        } else {
            double f = 0;
            if (parse_float(tok.val, f)) {
                if (tok.val.find_first_of(".eEpP") == std::string_view::npos)
                    errorf("integer overflow: " + go_quote(tok.val));
                n->is_float = true;
                n->f = f;
                if (!n->is_int && std::trunc(f) == f && f >= -9.2233720368547758e18 && f < 9.2233720368547758e18) {
                    n->is_int = true;
                    n->i = int64_t(f);
                }
                if (!n->is_uint && std::trunc(f) == f && f >= 0 && f < 1.8446744073709552e19) {
                    n->is_uint = true;
                    n->u = uint64_t(f);
                }
            }
        }
        if (!n->is_int && !n->is_uint && !n->is_float) errorf("illegal number syntax: " + go_quote(tok.val));
        return n;
    }
};

void write_pipe(const Node& p, std::string& out) {
    if (!p.decl.empty()) {
        for (size_t i = 0; i < p.decl.size(); ++i) {
            if (i) out += ", ";
            p.decl[i]->str(out);
        }
        out += p.is_assign ? " = " : " := ";
    }
    for (size_t i = 0; i < p.nodes.size(); ++i) {
        if (i) out += " | ";
        p.nodes[i]->str(out);
    }
}

}  // namespace

void Node::str(std::string& out) const {
    switch (type) {
    case NodeType::text: out += text; break;
    case NodeType::action: out += "{{"; write_pipe(*pipe, out); out += "}}"; break;
    case NodeType::pipe: write_pipe(*this, out); break;
    case NodeType::command:
        for (size_t i = 0; i < nodes.size(); ++i) {
            if (i) out += ' ';
            if (nodes[i]->type == NodeType::pipe) {
                out += '(';
                nodes[i]->str(out);
                out += ')';
            } else {
                nodes[i]->str(out);
            }
        }
        break;
    case NodeType::field:
        for (const auto& id : idents) out += "." + id;
        break;
    case NodeType::variable:
        for (size_t i = 0; i < idents.size(); ++i) {
            if (i) out += '.';
            out += idents[i];
        }
        break;
    case NodeType::chain:
        if (sub->type == NodeType::pipe) {
            out += '(';
            sub->str(out);
            out += ')';
        } else {
            sub->str(out);
        }
        for (const auto& id : idents) out += "." + id;
        break;
    case NodeType::identifier: out += text; break;
    case NodeType::dot: out += '.'; break;
    case NodeType::nil: out += "nil"; break;
    case NodeType::boolean: out += b ? "true" : "false"; break;
    case NodeType::number: out += text; break;
    case NodeType::string: out += quoted; break;
    case NodeType::list:
        for (const auto& n : nodes) n->str(out);
        break;
    case NodeType::if_: case NodeType::range: case NodeType::with:
        out += type == NodeType::if_ ? "{{if " : type == NodeType::range ? "{{range " : "{{with ";
        pipe->str(out);
        out += "}}";
        list->str(out);
        if (else_list) {
            out += "{{else}}";
            else_list->str(out);
        }
        out += "{{end}}";
        break;
    case NodeType::template_:
        out += "{{template " + go_quote(text);
        if (pipe) {
            out += ' ';
            pipe->str(out);
        }
        out += "}}";
        break;
    case NodeType::break_: out += "{{break}}"; break;
    case NodeType::continue_: out += "{{continue}}"; break;
    case NodeType::comment: break;
    case NodeType::end: out += "{{end}}"; break;
    case NodeType::else_: out += "{{else}}"; break;
    }
}

void parse(TreeSet& set, const std::string& name, std::string_view text) {
    auto t = std::make_unique<Tree>();
    t->name = name;
    t->text = std::string(text);
    Parser p{set, t.get(), Lexer(t->text).run()};
    p.parse_main();
    // The main tree wins over an empty earlier definition of its name.
    set.trees[name] = std::move(t);
    set.main = set.trees[name].get();
}

std::string error_location(const Tree& t, const Node& n) {
    const size_t pos = std::min(n.pos, t.text.size());
    const std::string_view before(t.text.data(), pos);
    const size_t nl = before.rfind('\n');
    const size_t col = nl == std::string_view::npos ? pos : pos - (nl + 1);
    int line = 1;
    for (char c : before) line += c == '\n';
    return t.name + ":" + std::to_string(line) + ":" + std::to_string(col);
}

}  // namespace dnscore::gotemplate
