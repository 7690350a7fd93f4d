#include "core/gotemplate/strconv.hpp"

#include "parser/gostd.hpp"

#include <cerrno>
#include <cstdlib>
#include <limits>

namespace dnscore::gotemplate {

size_t put_utf8(char* out, uint32_t r) {
    if (r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff)) r = 0xfffd;
    if (r < 0x80) {
        out[0] = char(r);
        return 1;
    }
    if (r < 0x800) {
        out[0] = char(0xc0 | r >> 6);
        out[1] = char(0x80 | (r & 0x3f));
        return 2;
    }
    if (r < 0x10000) {
        out[0] = char(0xe0 | r >> 12);
        out[1] = char(0x80 | ((r >> 6) & 0x3f));
        out[2] = char(0x80 | (r & 0x3f));
        return 3;
    }
    out[0] = char(0xf0 | r >> 18);
    out[1] = char(0x80 | ((r >> 12) & 0x3f));
    out[2] = char(0x80 | ((r >> 6) & 0x3f));
    out[3] = char(0x80 | (r & 0x3f));
    return 4;
}

void append_utf8(std::string& out, uint32_t r) {
    char b[4];
    out.append(b, put_utf8(b, r));
}

// One strconv.Quote for the project (rune-aware: invalid UTF-8 and
// non-printable runes escaped as Go does).
std::string go_quote(std::string_view s) { return gostd::quote(s); }

namespace {

int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// One (possibly escaped) character of a quoted literal at s[i]; `quote` is
// the literal's quote. Appends it to out.
bool unquote_one(std::string_view s, size_t& i, char quote, std::string& out, uint32_t* rune) {
    const char c = s[i];
    if (c == quote && quote == '\'') return false;
    if (c != '\\') {
        if ((unsigned char)c < 0x80) {
            out += c;
            if (rune) *rune = (unsigned char)c;
            ++i;
            return true;
        }
        // A UTF-8 sequence, copied as is.
        const auto b = (unsigned char)c;
        const size_t n = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
        if (i + n > s.size()) return false;
        if (rune) {
            uint32_t r = b & (0x7f >> n);
            for (size_t k = 1; k < n; ++k) r = r << 6 | ((unsigned char)s[i + k] & 0x3f);
            *rune = r;
        }
        out.append(s.substr(i, n));
        i += n;
        return true;
    }
    if (i + 1 >= s.size()) return false;
    const char e = s[i + 1];
    i += 2;
    uint32_t v = 0;
    switch (e) {
    case 'a': v = '\a'; break;
    case 'b': v = '\b'; break;
    case 'f': v = '\f'; break;
    case 'n': v = '\n'; break;
    case 'r': v = '\r'; break;
    case 't': v = '\t'; break;
    case 'v': v = '\v'; break;
    case '\\': v = '\\'; break;
    case '\'': case '"':
        if (e != quote) return false;
        v = uint32_t(e);
        break;
    case 'x': case 'u': case 'U': {
        const size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        if (i + n > s.size()) return false;
        for (size_t k = 0; k < n; ++k) {
            const int h = hexval(s[i + k]);
            if (h < 0) return false;
            v = v << 4 | uint32_t(h);
        }
        i += n;
        if (e == 'x') {
            out += char(v);
            if (rune) *rune = v;
            return true;
        }
        if (v > 0x10ffff || (v >= 0xd800 && v < 0xe000)) return false;
        append_utf8(out, v);
        if (rune) *rune = v;
        return true;
    }
    case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
        v = uint32_t(e - '0');
        if (i + 2 > s.size()) return false;
        for (size_t k = 0; k < 2; ++k) {
            const char d = s[i + k];
            if (d < '0' || d > '7') return false;
            v = v * 8 + uint32_t(d - '0');
        }
        if (v > 255) return false;
        i += 2;
        out += char(v);
        if (rune) *rune = v;
        return true;
    }
    default: return false;
    }
    out += char(v);
    if (rune) *rune = v;
    return true;
}

}  // namespace

bool go_unquote(std::string_view lit, std::string& out) {
    out.clear();
    if (lit.size() < 2) return false;
    const char q = lit.front();
    if (q != lit.back()) return false;
    std::string_view body = lit.substr(1, lit.size() - 2);
    if (q == '`') {
        if (body.find('`') != std::string_view::npos) return false;
        for (char c : body)
            if (c != '\r') out += c;
        return true;
    }
    if (q != '"') return false;
    for (size_t i = 0; i < body.size();) {
        if (body[i] == '"' || body[i] == '\n') return false;
        if (!unquote_one(body, i, '"', out, nullptr)) return false;
    }
    return true;
}

bool go_unquote_char(std::string_view lit, uint32_t& out) {
    if (lit.size() < 3 || lit.front() != '\'' || lit.back() != '\'') return false;
    std::string_view body = lit.substr(1, lit.size() - 2);
    std::string tmp;
    size_t i = 0;
    if (!unquote_one(body, i, '\'', tmp, &out)) return false;
    return i == body.size();
}

NumErr parse_uint(std::string_view s, int base, int bits, uint64_t& out) {
    out = 0;
    if (s.empty()) return NumErr::syntax;
    const bool base0 = base == 0;
    if (base == 0) {
        base = 10;
        if (s[0] == '0') {
            if (s.size() >= 3 && (s[1] == 'x' || s[1] == 'X')) {
                base = 16;
                s = s.substr(2);
            } else if (s.size() >= 3 && (s[1] == 'o' || s[1] == 'O')) {
                base = 8;
                s = s.substr(2);
            } else if (s.size() >= 3 && (s[1] == 'b' || s[1] == 'B')) {
                base = 2;
                s = s.substr(2);
            } else {
                base = 8;
                s = s.substr(1);
                if (s.empty()) return NumErr::ok;  // "0"
            }
        }
    } else if (base < 2 || base > 36) {
        return NumErr::base;
    }
    if (bits == 0) bits = 64;
    else if (bits < 0 || bits > 64) return NumErr::bit_size;
    const uint64_t max = bits == 64 ? std::numeric_limits<uint64_t>::max() : (uint64_t(1) << bits) - 1;
    bool underscores = false, range = false;
    uint64_t n = 0;
    for (char c : s) {
        int d;
        if (c == '_' && base0) {
            underscores = true;
            continue;
        }
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'z') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'Z') d = c - 'A' + 10;
        else return NumErr::syntax;
        if (d >= base) return NumErr::syntax;
        if (range) continue;
        if (n > (max - uint64_t(d)) / uint64_t(base)) {
            range = true;
            continue;
        }
        n = n * uint64_t(base) + uint64_t(d);
    }
    if (underscores) {
        // Go: underscores must separate digits (after an optional base prefix).
        if (s.front() == '_' && base == 10) return NumErr::syntax;
        if (s.back() == '_' || s.find("__") != std::string_view::npos) return NumErr::syntax;
    }
    if (range) {
        out = max;
        return NumErr::range;
    }
    out = n;
    return NumErr::ok;
}

NumErr parse_int(std::string_view s, int base, int bits, int64_t& out) {
    out = 0;
    if (s.empty()) return NumErr::syntax;
    bool neg = false;
    std::string_view body = s;
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        body = s.substr(1);
    }
    if (bits == 0) bits = 64;
    uint64_t u = 0;
    const NumErr e = parse_uint(body, base, bits, u);
    if (e != NumErr::ok && e != NumErr::range) return e;
    const uint64_t cutoff = uint64_t(1) << (bits - 1);
    if (e == NumErr::range || (!neg && u >= cutoff) || (neg && u > cutoff)) {
        out = neg ? -int64_t(cutoff - 1) - 1 : int64_t(cutoff - 1);
        return NumErr::range;
    }
    out = neg ? -int64_t(u) : int64_t(u);
    return NumErr::ok;
}

bool parse_float(std::string_view s, double& out) {
    std::string t;
    for (char c : s)
        if (c != '_') t += c;
    if (t.empty()) return false;
    char* end = nullptr;
    errno = 0;
    out = std::strtod(t.c_str(), &end);
    return end == t.c_str() + t.size();
}

std::string num_error(const char* func, std::string_view s, NumErr e, int base, int bits) {
    std::string msg = std::string("strconv.") + func + ": parsing " + go_quote(s) + ": ";
    switch (e) {
    case NumErr::syntax: msg += "invalid syntax"; break;
    case NumErr::range: msg += "value out of range"; break;
    case NumErr::base: msg += "invalid base " + std::to_string(base); break;
    case NumErr::bit_size: msg += "invalid bit size " + std::to_string(bits); break;
    case NumErr::ok: break;
    }
    return msg;
}

}  // namespace dnscore::gotemplate
