#pragma once
// The parse tree (Go's text/template/parse nodes), internal to gotemplate.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/gotemplate/gotemplate.hpp"

namespace dnscore::gotemplate {

enum class NodeType : uint8_t {
    text, action, pipe, command, field, variable, chain, identifier, dot, nil, boolean, number, string,
    list, if_, range, with, template_, break_, continue_, comment, end, else_,
};

enum class Builtin : uint8_t {
    none, and_, or_, not_, len, index, slice, print, printf, println, html, js, urlquery, call,
    eq, ne, lt, le, gt, ge,
};

struct Node {
    NodeType type;
    size_t pos = 0;
    int line = 1;
    std::string text;                 // text; string value; identifier; number text; template name
    std::string quoted;               // string literal as written
    std::vector<std::string> idents;  // field / variable (with $name first) / chain fields
    std::vector<std::unique_ptr<Node>> nodes;  // list items, command args, pipe commands
    std::vector<std::unique_ptr<Node>> decl;   // pipe declarations
    bool is_assign = false;
    std::unique_ptr<Node> pipe, list, else_list, sub;  // sub: chain's term
    // number
    bool is_int = false, is_uint = false, is_float = false;
    int64_t i = 0;
    uint64_t u = 0;
    double f = 0;
    bool b = false;
    // identifier: a builtin or the index of an extra function
    Builtin builtin = Builtin::none;
    int func = -1;

    explicit Node(NodeType t, size_t p = 0, int l = 1) : type(t), pos(p), line(l) {}
    void str(std::string& out) const;  // Go's Node.String()
};

struct Tree {
    std::string name;
    std::string text;  // the source (ErrorContext)
    std::unique_ptr<Node> root;
};

struct TreeSet {
    std::string name;
    std::vector<Func> funcs;
    std::map<std::string, std::unique_ptr<Tree>> trees;  // the main one and {{define}}d ones
    const Tree* main = nullptr;
};

// Parses `text` into `set` (the main tree under `name`).
void parse(TreeSet& set, const std::string& name, std::string_view text);

// Go's ErrorContext: "name:line:col" and the node's text.
std::string error_location(const Tree& t, const Node& n);

}  // namespace dnscore::gotemplate
