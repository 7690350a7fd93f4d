#include "plugins/template/rr_text.hpp"

#include <arpa/inet.h>

#include <cstring>

#include "core/gotemplate/strconv.hpp"

namespace dnscore::plugins::tmpl {

namespace {

constexpr size_t kMaxTokens = 512;

struct Tok {
    std::string_view raw;  // quoted: the inside, escapes still raw
    bool quoted = false;
    int line = 1;
    int col = 0;  // column just after the token (miekg reports that one)
};

struct Lexed {
    Tok toks[kMaxTokens];
    size_t n = 0;
    bool owner = false;  // the line starts with a name
    int end_line = 1, end_col = 0;
};

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// Splits the first record (up to a newline outside parentheses) into tokens.
bool lex(std::string_view s, Lexed& out, std::string& err) {
    int paren = 0, line = 1, col = 0;
    size_t i = 0;
    // Leading empty lines and comment lines carry no record.
    out.owner = false;
    bool at_line_start = true;
    while (i < s.size()) {
        const char c = s[i];
        if (c == '\n') {
            ++line;
            col = 0;
            ++i;
            if (paren == 0 && out.n > 0) break;
            at_line_start = true;
            continue;
        }
        if (c == ';') {
            while (i < s.size() && s[i] != '\n') ++i, ++col;
            continue;
        }
        if (is_blank(c) || c == '\r') {
            ++i;
            ++col;
            at_line_start = false;
            continue;
        }
        if (c == '(') {
            ++paren;
            ++i, ++col;
            at_line_start = false;
            continue;
        }
        if (c == ')') {
            if (--paren < 0) {
                err = "dns: extra closing brace: \")\" at line: " + std::to_string(line) + ":" + std::to_string(col + 1);
                return false;
            }
            ++i, ++col;
            continue;
        }
        if (out.n == kMaxTokens) {
            err = "dns: too many tokens in record";
            return false;
        }
        Tok& t = out.toks[out.n];
        t = Tok{};
        t.line = line;
        if (c == '"') {
            const size_t start = ++i;
            ++col;
            while (i < s.size() && s[i] != '"') {
                if (s[i] == '\\' && i + 1 < s.size()) ++i, ++col;
                if (s[i] == '\n') ++line, col = -1;
                ++i, ++col;
            }
            if (i >= s.size()) {
                err = "dns: bad TXT Txt: unterminated quoted string";
                return false;
            }
            t.raw = s.substr(start, i - start);
            t.quoted = true;
            ++i, ++col;
        } else {
            if (out.n == 0 && at_line_start) out.owner = true;
            const size_t start = i;
            while (i < s.size() && !is_blank(s[i]) && s[i] != '\n' && s[i] != '\r' && s[i] != ';' && s[i] != '(' &&
                   s[i] != ')' && s[i] != '"') {
                if (s[i] == '\\' && i + 1 < s.size()) ++i, ++col;
                ++i, ++col;
            }
            t.raw = s.substr(start, i - start);
        }
        t.col = col;
        at_line_start = false;
        ++out.n;
    }
    if (paren > 0) {
        err = "dns: unbalanced brace";
        return false;
    }
    out.end_line = line;
    out.end_col = col;
    return true;
}

std::string parse_error(std::string_view what, const Tok& t) {
    return "dns: " + std::string(what) + ": " + gotemplate::go_quote(t.raw) + " at line: " + std::to_string(t.line) +
           ":" + std::to_string(t.col);
}

bool upper_eq(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::toupper((unsigned char)a[i]) != std::toupper((unsigned char)b[i])) return false;
    return true;
}

int as_type(const Tok& t) {
    if (t.quoted) return -1;
    if (upper_eq(t.raw, "None") || upper_eq(t.raw, "Reserved")) return -1;
    return wire::type_from_name(t.raw);
}
int as_class(const Tok& t) {
    if (t.quoted) return -1;
    return wire::class_from_name(t.raw);
}

// miekg stringToTTL: "3600", "1h30m", "2W" (s m h d w units).
bool to_ttl(std::string_view s, uint32_t& out) {
    if (s.empty()) return false;
    uint64_t total = 0, cur = 0;
    bool digits = false;
    for (char c : s) {
        uint64_t mul = 0;
        switch (c) {
        case 's': case 'S': mul = 1; break;
        case 'm': case 'M': mul = 60; break;
        case 'h': case 'H': mul = 3600; break;
        case 'd': case 'D': mul = 86400; break;
        case 'w': case 'W': mul = 604800; break;
        default:
            if (c < '0' || c > '9') return false;
            cur = cur * 10 + uint64_t(c - '0');
            if (cur > 0xffffffffULL) return false;
            digits = true;
            continue;
        }
        if (!digits) return false;
        total += cur * mul;
        cur = 0;
        digits = false;
    }
    total += cur;
    if (total > 0xffffffffULL) return false;
    out = uint32_t(total);
    return true;
}

bool to_u(std::string_view s, uint64_t max, uint64_t& out) {
    if (s.empty()) return false;
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + uint64_t(c - '0');
        if (v > max) return false;
    }
    out = v;
    return true;
}

class RData {
public:
    RData(TextRR& rr) : rr_(rr) {}
    bool put(const void* p, size_t n) {
        if (n > rr_.rdata_cap - rr_.rdlen) return false;
        std::memcpy(rr_.rdata + rr_.rdlen, p, n);
        rr_.rdlen += n;
        return true;
    }
    bool u8(uint8_t v) { return put(&v, 1); }
    bool u16(uint16_t v) {
        const uint8_t b[2] = {uint8_t(v >> 8), uint8_t(v)};
        return put(b, 2);
    }
    bool u32(uint32_t v) {
        const uint8_t b[4] = {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
        return put(b, 4);
    }

private:
    TextRR& rr_;
};

bool to_name(std::string_view tok, uint8_t* out, size_t& len) {
    if (tok == "@") {
        out[0] = 0;
        len = 1;
        return true;
    }
    len = wire::text_to_name(tok, out);
    return len > 0;
}

// A character-string's bytes (escapes \X and \DDD resolved) into rd, split
// into strings of at most 255 bytes as miekg does.
bool txt_string(std::string_view raw, RData& rd, size_t& used) {
    uint8_t buf[255];
    size_t n = 0;
    bool any = false;
    auto flush = [&]() {
        used += n + 1;
        const bool ok = rd.u8(uint8_t(n)) && rd.put(buf, n);
        n = 0;
        return ok;
    };
    for (size_t i = 0; i < raw.size(); ++i) {
        uint8_t b = uint8_t(raw[i]);
        if (raw[i] == '\\' && i + 1 < raw.size()) {
            if (i + 3 < raw.size() + 0 && std::isdigit((unsigned char)raw[i + 1]) &&
                std::isdigit((unsigned char)raw[i + 2]) && std::isdigit((unsigned char)raw[i + 3])) {
                const int v = (raw[i + 1] - '0') * 100 + (raw[i + 2] - '0') * 10 + (raw[i + 3] - '0');
                if (v > 255) return false;
                b = uint8_t(v);
                i += 3;
            } else {
                b = uint8_t(raw[++i]);
            }
        }
        if (n == 255 && !flush()) return false;
        buf[n++] = b;
        any = true;
    }
    (void)any;
    return flush();
}

bool ip_text(std::string_view s, int family, uint8_t* out) {
    char buf[64];
    if (s.size() >= sizeof buf) return false;
    std::memcpy(buf, s.data(), s.size());
    buf[s.size()] = 0;
    return inet_pton(family, buf, out) == 1;
}

int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

RRParse parse_rr(std::string_view text, TextRR& rr, std::string& err) {
    static thread_local Lexed lx;  // 512 tokens: kept off the worker's stack
    lx.n = 0;
    if (!lex(text, lx, err)) return RRParse::error;
    if (lx.n == 0) return RRParse::empty;
    rr.rdlen = 0;
    rr.ttl = 3600;
    rr.klass = wire::kClassIN;
    size_t i = 0;
    if (!lx.owner) {
        err = parse_error("syntax error at beginning", lx.toks[0]);
        return RRParse::error;
    }
    if (lx.n == 1) {
        // miekg's lexer reads a lone word before the newline as a TTL.
        err = parse_error("not a TTL", lx.toks[0]);
        return RRParse::error;
    }
    if (!to_name(lx.toks[0].raw, rr.owner, rr.owner_len)) {
        err = parse_error("bad owner name", lx.toks[0]);
        return RRParse::error;
    }
    i = 1;
    bool have_ttl = false, have_class = false;
    int type = -1;
    while (type < 0) {
        if (i >= lx.n) {
            Tok nl{"", false, lx.end_line, lx.end_col};
            nl.raw = "\n";
            err = parse_error(have_ttl || have_class ? "unknown RR type" : "expecting RR type, TTL or class, not this...", nl);
            return RRParse::error;
        }
        const Tok& t = lx.toks[i++];
        // A TTL starts with a digit (no type or class does); a class is
        // looked up before the ~90 type names, except ANY, which is a type.
        const bool digit = !t.raw.empty() && t.raw[0] >= '0' && t.raw[0] <= '9';
        const int early_class = digit || upper_eq(t.raw, "ANY") ? -1 : as_class(t);
        const int ty = digit || early_class >= 0 ? -1 : as_type(t);
        if (ty >= 0) {
            type = ty;
            break;
        }
        const int cl = digit ? -1 : early_class >= 0 ? early_class : as_class(t);
        if (cl >= 0 && !have_class) {
            if (have_ttl && have_class) {
                err = parse_error("unknown RR type", t);
                return RRParse::error;
            }
            rr.klass = uint16_t(cl);
            have_class = true;
            continue;
        }
        if (cl >= 0) {
            err = parse_error(have_ttl ? "unknown RR type" : "expecting RR type or TTL, not this...", t);
            return RRParse::error;
        }
        if (have_ttl) {
            err = parse_error(have_class ? "unknown RR type" : "expecting RR type or class, not this...", t);
            return RRParse::error;
        }
        if (!to_ttl(t.raw, rr.ttl)) {
            err = parse_error("not a TTL", t);
            return RRParse::error;
        }
        have_ttl = true;
    }
    rr.type = uint16_t(type);
    RData rd(rr);
    const Tok* rest = lx.toks + i;
    const size_t nrest = lx.n - i;
    if (nrest == 0) return RRParse::ok;  // no RDATA: miekg's dynamic-update form
    char scratch[16];
    const std::string_view tname = wire::type_name(rr.type, scratch);
    size_t used = 0;  // RDATA tokens consumed
    auto need = [&](size_t k, const char* field) -> const Tok* {
        if (k < nrest) return &rest[k];
        Tok nl{"", false, lx.end_line, lx.end_col};
        err = parse_error("bad " + std::string(tname) + " " + field, nl);
        return nullptr;
    };
    auto bad = [&](const Tok& t, const char* field) {
        err = parse_error("bad " + std::string(tname) + " " + field, t);
        return RRParse::error;
    };
    auto name_field = [&](size_t k, const char* field) -> bool {
        const Tok* t = need(k, field);
        if (!t) return false;
        uint8_t n[wire::kMaxNameLen];
        size_t len = 0;
        if (t->quoted || !to_name(t->raw, n, len)) {
            bad(*t, field);
            return false;
        }
        if (!rd.put(n, len)) {
            err = "dns: rdata too long";
            return false;
        }
        return true;
    };
    auto u16_field = [&](size_t k, const char* field) -> bool {
        const Tok* t = need(k, field);
        if (!t) return false;
        uint64_t v;
        if (!to_u(t->raw, 0xffff, v)) {
            bad(*t, field);
            return false;
        }
        return rd.u16(uint16_t(v));
    };
    if (rest[0].raw == "\\#" && !rest[0].quoted) {
        // RFC 3597: \# LENGTH HEX...
        uint64_t want = 0;
        if (nrest < 2 || !to_u(rest[1].raw, 0xffff, want)) {
            err = parse_error("bad RFC3597 Rdata", nrest < 2 ? rest[0] : rest[1]);
            return RRParse::error;
        }
        std::string_view hex;
        for (size_t k = 2; k < nrest; ++k) {
            for (size_t j = 0; j + 1 < rest[k].raw.size() + 1; j += 2) {
                if (j + 1 >= rest[k].raw.size()) {
                    err = parse_error("bad RFC3597 Rdata", rest[k]);
                    return RRParse::error;
                }
                const int hi = hexval(rest[k].raw[j]), lo = hexval(rest[k].raw[j + 1]);
                if (hi < 0 || lo < 0 || !rd.u8(uint8_t(hi << 4 | lo))) {
                    err = parse_error("bad RFC3597 Rdata", rest[k]);
                    return RRParse::error;
                }
            }
        }
        if (rr.rdlen != want) {
            err = parse_error("bad RFC3597 Rdata", rest[nrest - 1]);
            return RRParse::error;
        }
        return RRParse::ok;
    }
    switch (rr.type) {
    case wire::kTypeA: {
        uint8_t ip[4];
        if (rest[0].quoted || rest[0].raw.find(':') != std::string_view::npos ||
            !ip_text(rest[0].raw, AF_INET, ip))
            return bad(rest[0], "A");
        rd.put(ip, 4);
        used = 1;
        break;
    }
    case wire::kTypeAAAA: {
        uint8_t ip[16];
        if (rest[0].quoted || rest[0].raw.find(':') == std::string_view::npos ||
            !ip_text(rest[0].raw, AF_INET6, ip))
            return bad(rest[0], "AAAA");
        rd.put(ip, 16);
        used = 1;
        break;
    }
    case wire::kTypeCNAME: if (!name_field(0, "Target")) return RRParse::error; used = 1; break;
    case 39 /* DNAME */: if (!name_field(0, "Target")) return RRParse::error; used = 1; break;
    case wire::kTypeNS: if (!name_field(0, "Ns")) return RRParse::error; used = 1; break;
    case wire::kTypePTR: if (!name_field(0, "Ptr")) return RRParse::error; used = 1; break;
    case wire::kTypeMX:
        if (!u16_field(0, "Pref") || !name_field(1, "Mx")) return RRParse::error;
        used = 2;
        break;
    case wire::kTypeSRV:
        if (!u16_field(0, "Priority") || !u16_field(1, "Weight") || !u16_field(2, "Port") || !name_field(3, "Target"))
            return RRParse::error;
        used = 4;
        break;
    case wire::kTypeSOA: {
        if (!name_field(0, "Ns") || !name_field(1, "Mbox")) return RRParse::error;
        for (size_t k = 2; k < 7; ++k) {
            const Tok* t = need(k, "zone parameter");
            if (!t) return RRParse::error;
            uint32_t v = 0;
            uint64_t serial = 0;
            const bool ok = k == 2 ? to_u(t->raw, 0xffffffffULL, serial) : to_ttl(t->raw, v);
            if (!ok) return bad(*t, "zone parameter");
            rd.u32(k == 2 ? uint32_t(serial) : v);
        }
        used = 7;
        break;
    }
    case wire::kTypeTXT: case 99 /* SPF */: {
        for (size_t k = 0; k < nrest; ++k) {
            size_t n = 0;
            if (!txt_string(rest[k].raw, rd, n)) return bad(rest[k], "Txt");
        }
        used = nrest;
        break;
    }
    default:
        err = "dns: template RR type " + std::string(tname) + " is not supported in text form (use \\# RFC 3597 syntax)";
        return RRParse::error;
    }
    if (used < nrest) {
        err = parse_error("garbage after rdata", rest[used]);
        return RRParse::error;
    }
    if (rr.rdlen > rr.rdata_cap) {
        err = "dns: rdata too long";
        return RRParse::error;
    }
    return RRParse::ok;
}

}  // namespace dnscore::plugins::tmpl
