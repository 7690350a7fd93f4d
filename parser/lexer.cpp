// Corefile lexer: a port of caddy v1's caddyfile/lexer.go (CoreDNS fork).
// It works on UTF-8 runes like the Go original so that Unicode white space
// separates tokens and invalid bytes turn into U+FFFD.
#include <string>
#include <string_view>
#include <vector>

#include "parser/parser.hpp"

namespace dnscore::parser {
namespace {

constexpr char32_t kReplacement = 0xFFFD;

// Decodes the rune at s[i] like Go's bufio.Reader.ReadRune: invalid input
// yields U+FFFD and consumes one byte.
char32_t read_rune(std::string_view s, std::size_t& i) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    auto cont = [&](std::size_t k) -> int {
        if (k >= s.size()) return -1;
        unsigned char b = byte(k);
        return (b & 0xC0) == 0x80 ? (b & 0x3F) : -1;
    };
    unsigned char b0 = byte(i);
    if (b0 < 0x80) {
        ++i;
        return b0;
    }
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        int c1 = cont(i + 1);
        if (c1 >= 0) {
            i += 2;
            return static_cast<char32_t>(((b0 & 0x1F) << 6) | c1);
        }
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        int c1 = cont(i + 1), c2 = cont(i + 2);
        if (c1 >= 0 && c2 >= 0) {
            auto r = static_cast<char32_t>(((b0 & 0x0F) << 12) | (c1 << 6) | c2);
            if (r >= 0x800 && !(r >= 0xD800 && r <= 0xDFFF)) {
                i += 3;
                return r;
            }
        }
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        int c1 = cont(i + 1), c2 = cont(i + 2), c3 = cont(i + 3);
        if (c1 >= 0 && c2 >= 0 && c3 >= 0) {
            auto r = static_cast<char32_t>(((b0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3);
            if (r >= 0x10000 && r <= 0x10FFFF) {
                i += 4;
                return r;
            }
        }
    }
    ++i;
    return kReplacement;
}

void append_utf8(std::string& out, char32_t r) {
    if (r < 0x80) {
        out += static_cast<char>(r);
    } else if (r < 0x800) {
        out += static_cast<char>(0xC0 | (r >> 6));
        out += static_cast<char>(0x80 | (r & 0x3F));
    } else if (r < 0x10000) {
        out += static_cast<char>(0xE0 | (r >> 12));
        out += static_cast<char>(0x80 | ((r >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (r & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (r >> 18));
        out += static_cast<char>(0x80 | ((r >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((r >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (r & 0x3F));
    }
}

// Go's unicode.IsSpace (the White_Space property).
bool is_space(char32_t r) {
    switch (r) {
        case '\t': case '\n': case '\v': case '\f': case '\r': case ' ':
        case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
        case 0x202F: case 0x205F: case 0x3000:
            return true;
        default:
            return r >= 0x2000 && r <= 0x200A;
    }
}

}  // namespace

std::vector<Token> lex(std::string_view text, const std::string& file) {
    std::vector<Token> tokens;
    std::size_t pos = 0;
    // A byte-order mark is dropped only at the very start.
    if (text.substr(0, 3) == "\xEF\xBB\xBF") pos = 3;
    int line = 1;

    // Each iteration is one call of Go's lexer.next(): comment/quoted state is
    // per token, which is why `a#b c` yields `a` and then `c`.
    while (pos < text.size()) {
        std::string val;
        bool has_val = false;  // Go tests len(val) > 0; an opened quote counts via `quoted`
        bool comment = false, quoted = false, escaped = false;
        Token tok;
        bool emitted = false;
        while (pos < text.size()) {
            char32_t ch = read_rune(text, pos);
            if (quoted) {
                if (!escaped) {
                    if (ch == '\\') {
                        escaped = true;
                        continue;
                    }
                    if (ch == '"') {
                        quoted = false;
                        emitted = true;
                        break;
                    }
                }
                if (ch == '\n') ++line;
                // Only \" is an escape; any other \x keeps its backslash.
                if (escaped && ch != '"') val += '\\';
                append_utf8(val, ch);
                has_val = true;
                escaped = false;
                continue;
            }
            if (is_space(ch)) {
                if (ch == '\r') continue;  // dropped without ending the token
                if (ch == '\n') {
                    ++line;
                    comment = false;
                }
                if (has_val) {
                    emitted = true;
                    break;
                }
                continue;
            }
            if (ch == '#') comment = true;
            if (comment) continue;
            if (!has_val) {
                tok.line = line;
                if (ch == '"') {
                    quoted = true;
                    continue;
                }
            }
            append_utf8(val, ch);
            has_val = true;
        }
        // At EOF Go emits the pending text only when it is non-empty, so an
        // unterminated `"` alone produces nothing.
        if (emitted || has_val) {
            tok.file = file;
            tok.text = std::move(val);
            tokens.push_back(std::move(tok));
        }
    }
    return tokens;
}

}  // namespace dnscore::parser
