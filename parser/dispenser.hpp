#pragma once
// caddy.Dispenser: the cursor plugins use to read their directive's tokens.
// Semantics follow caddy v1 (coredns/caddy caddyfile/dispenser.go) exactly,
// including the error message texts.
#include <string>
#include <vector>

#include "parser/parser.hpp"

namespace dnscore::parser {

class Dispenser {
public:
    Dispenser(std::vector<Token> tokens);

    bool next();          // advance to the next token (any line)
    bool next_arg();      // advance only if the next token is on the same line
    bool next_line();     // advance only if the next token is on a later line
    bool next_block();    // enter/continue a { } block; false at its end
    const std::string& val() const;  // current token text ("" before the first)
    int line() const;
    const std::string& file() const;
    int nesting() const { return nesting_; }
    std::vector<std::string> remaining_args();  // rest of the line, stops before '{'

    // Errors (CoreDNS wording):
    ConfigError arg_err() const;   // "FILE:LINE - Error during parsing: Wrong argument count or unexpected line ending after 'VAL'"
    ConfigError syntax_err(const std::string& expected) const;  // "FILE:LINE - Syntax error: Unexpected token 'VAL', expecting 'EXPECTED'"
    ConfigError err(const std::string& msg) const;  // "FILE:LINE - Error during parsing: MSG"
    ConfigError eof_err() const;   // "FILE:LINE - Error during parsing: Unexpected EOF"

private:
    int line_breaks(int i) const;
    std::vector<Token> tokens_;
    int cursor_ = -1;
    int nesting_ = 0;
};

}  // namespace dnscore::parser
