// caddy v1 Dispenser (coredns/caddy caddyfile/dispenser.go), method by method.
#include "parser/dispenser.hpp"

#include <algorithm>
#include <utility>

namespace dnscore::parser {
namespace {
const std::string kEmpty;
}

Dispenser::Dispenser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

bool Dispenser::next() {
    if (cursor_ < static_cast<int>(tokens_.size()) - 1) {
        ++cursor_;
        return true;
    }
    return false;
}

// Same line = next token's line equals this token's line plus the newlines
// inside this token (a quoted token can span lines), and the same file.
bool Dispenser::next_arg() {
    if (cursor_ < 0) {
        ++cursor_;
        return true;
    }
    const int n = static_cast<int>(tokens_.size());
    if (cursor_ >= n) return false;
    if (cursor_ < n - 1 && tokens_[cursor_].file == tokens_[cursor_ + 1].file &&
        tokens_[cursor_].line + line_breaks(cursor_) == tokens_[cursor_ + 1].line) {
        ++cursor_;
        return true;
    }
    return false;
}

bool Dispenser::next_line() {
    if (cursor_ < 0) {
        ++cursor_;
        return true;
    }
    const int n = static_cast<int>(tokens_.size());
    if (cursor_ >= n) return false;
    if (cursor_ < n - 1 && (tokens_[cursor_].file != tokens_[cursor_ + 1].file ||
                            tokens_[cursor_].line + line_breaks(cursor_) < tokens_[cursor_ + 1].line)) {
        ++cursor_;
        return true;
    }
    return false;
}

bool Dispenser::next_block() {
    if (nesting_ > 0) {
        // Out of tokens inside a block: only when its "}" was taken as an
        // argument (remaining_args on "x }"). Go's NextBlock returns true
        // forever there (CoreDNS hangs in setup); end the block instead.
        // Found by tests/fuzz (corefile: hosts).
        if (!next()) {
            nesting_ = 0;
            return false;
        }
        if (val() == "}") {
            --nesting_;
            return false;
        }
        return true;
    }
    if (!next_arg()) return false;  // the block must open on the same line
    if (val() != "{") {
        --cursor_;  // not a block: roll back
        return false;
    }
    next();
    if (val() == "}") return false;  // opened and closed right away
    ++nesting_;
    return true;
}

const std::string& Dispenser::val() const {
    if (cursor_ < 0 || cursor_ >= static_cast<int>(tokens_.size())) return kEmpty;
    return tokens_[cursor_].text;
}

int Dispenser::line() const {
    if (cursor_ < 0 || cursor_ >= static_cast<int>(tokens_.size())) return 0;
    return tokens_[cursor_].line;
}

// Go falls back to the dispenser's file name when no token is loaded; the
// tokens of one directive all come from the same parse, so the first token's
// file stands in for it.
const std::string& Dispenser::file() const {
    if (cursor_ >= 0 && cursor_ < static_cast<int>(tokens_.size()) && !tokens_[cursor_].file.empty())
        return tokens_[cursor_].file;
    if (!tokens_.empty()) return tokens_.front().file;
    return kEmpty;
}

std::vector<std::string> Dispenser::remaining_args() {
    std::vector<std::string> args;
    while (next_arg()) {
        if (val() == "{") {
            --cursor_;
            break;
        }
        args.push_back(val());
    }
    return args;
}

ConfigError Dispenser::arg_err() const {
    if (val() == "{") return err("Unexpected token '{', expecting argument");
    return err("Wrong argument count or unexpected line ending after '" + val() + "'");
}

ConfigError Dispenser::syntax_err(const std::string& expected) const {
    return ConfigError(file() + ":" + std::to_string(line()) + " - Syntax error: Unexpected token '" + val() +
                       "', expecting '" + expected + "'");
}

ConfigError Dispenser::err(const std::string& msg) const {
    return ConfigError(file() + ":" + std::to_string(line()) + " - Error during parsing: " + msg);
}

ConfigError Dispenser::eof_err() const { return err("Unexpected EOF"); }

int Dispenser::line_breaks(int i) const {
    if (i < 0 || i >= static_cast<int>(tokens_.size())) return 0;
    const std::string& t = tokens_[i].text;
    return static_cast<int>(std::count(t.begin(), t.end(), '\n'));
}

}  // namespace dnscore::parser
