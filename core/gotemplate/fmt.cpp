// Go's fmt (Sprint, Sprintln, Sprintf) over gotemplate::Value: the verbs,
// flags, width and precision templates use, and fmt's %!verb(type=value)
// texts for mismatches.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/gotemplate/gotemplate.hpp"
#include "core/gotemplate/strconv.hpp"

namespace dnscore::gotemplate {

namespace {

struct Spec {
    bool plus = false, minus = false, sharp = false, space = false, zero = false;
    bool has_width = false, has_prec = false;
    int width = 0, prec = 0;
    char verb = 'v';
};

size_t rune_count(std::string_view s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xc0) != 0x80;
    return n;
}

void pad_to(Sink& out, std::string_view s, const Spec& sp, bool zero_ok) {
    const size_t n = rune_count(s);
    if (!sp.has_width || size_t(sp.width) <= n) {
        out.put(s);
        return;
    }
    const size_t padn = size_t(sp.width) - n;
    if (sp.minus) {
        out.put(s);
        for (size_t i = 0; i < padn; ++i) out.put(' ');
        return;
    }
    if (sp.zero && zero_ok) {
        // Zeros go after a sign.
        if (!s.empty() && (s[0] == '-' || s[0] == '+' || s[0] == ' ')) {
            out.put(s[0]);
            s.remove_prefix(1);
        }
        for (size_t i = 0; i < padn; ++i) out.put('0');
        out.put(s);
        return;
    }
    for (size_t i = 0; i < padn; ++i) out.put(' ');
    out.put(s);
}

void fmt_integer(Sink& out, uint64_t u, bool negative, int base, char verb, const Spec& sp) {
    char buf[160];
    char* end = buf + sizeof buf;
    char* p = end;
    const char* digits = verb == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
    int prec = -1;
    bool zero_pad = sp.zero && !sp.minus;
    if (sp.has_prec) {
        prec = sp.prec;
        zero_pad = false;
        if (prec == 0 && u == 0) {
            Spec s2 = sp;
            s2.zero = false;
            pad_to(out, "", s2, false);
            return;
        }
    } else if (zero_pad && sp.has_width) {
        prec = sp.width;
        if (negative || sp.plus || sp.space) --prec;
        zero_pad = false;
    }
    do {
        *--p = digits[u % uint64_t(base)];
        u /= uint64_t(base);
    } while (u && p > buf + 8);
    while (prec > 0 && end - p < prec && p > buf + 8) *--p = '0';
    if (sp.sharp) {
        if (base == 2) {
            *--p = 'b';
            *--p = '0';
        } else if (base == 8 && *p != '0') {
            *--p = '0';
        } else if (base == 16) {
            *--p = verb;
            *--p = '0';
        }
    }
    if (verb == 'O') {
        *--p = 'o';
        *--p = '0';
    }
    if (negative) *--p = '-';
    else if (sp.plus) *--p = '+';
    else if (sp.space) *--p = ' ';
    Spec s2 = sp;
    s2.zero = false;
    pad_to(out, std::string_view(p, size_t(end - p)), s2, false);
}

// strconv.FormatFloat(v, 'g', -1, 64) as fmt's %v prints it.
std::string shortest_g(double v, bool upper) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    std::string_view s(buf, size_t(r.ptr - buf));
    bool neg = false;
    if (!s.empty() && s[0] == '-') {
        neg = true;
        s.remove_prefix(1);
    }
    const size_t e = s.find('e');
    std::string digits;
    for (char c : s.substr(0, e))
        if (c != '.') digits += c;
    const int exp = std::atoi(std::string(s.substr(e + 1)).c_str());
    std::string out = neg ? "-" : "";
    if (exp < -4 || exp >= 6) {  // strconv: shortest 'g' decides with precision 6
        out += digits[0];
        if (digits.size() > 1) {
            out += '.';
            out += digits.substr(1);
        }
        out += upper ? 'E' : 'e';
        out += exp < 0 ? '-' : '+';
        const int ae = exp < 0 ? -exp : exp;
        if (ae < 10) out += '0';
        out += std::to_string(ae);
        return out;
    }
    if (exp < 0) {
        out += "0.";
        for (int i = -1; i > exp; --i) out += '0';
        out += digits;
    } else if (size_t(exp) + 1 >= digits.size()) {
        out += digits;
        for (size_t i = digits.size(); i < size_t(exp) + 1; ++i) out += '0';
    } else {
        out += digits.substr(0, size_t(exp) + 1);
        out += '.';
        out += digits.substr(size_t(exp) + 1);
    }
    return out;
}

void fmt_float(Sink& out, double v, char verb, const Spec& sp) {
    std::string s;
    if (std::isinf(v) || std::isnan(v)) {
        s = std::isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
        if (std::isinf(v) && v > 0 && !sp.plus) s = sp.space ? " Inf" : "+Inf";
        if (std::isnan(v) && sp.plus) s = "+NaN";
        Spec s2 = sp;
        s2.zero = false;
        pad_to(out, s, s2, false);
        return;
    }
    char buf[512];
    const char v2 = verb == 'v' ? 'g' : verb;
    if ((v2 == 'g' || v2 == 'G') && !sp.has_prec) {
        s = shortest_g(v, v2 == 'G');
    } else {
        const int prec = sp.has_prec ? sp.prec : 6;
        char f[16];
        std::snprintf(f, sizeof f, "%%.%d%c", prec, v2 == 'F' ? 'f' : v2);
        std::snprintf(buf, sizeof buf, f, v);
        s = buf;
    }
    if (sp.plus && s[0] != '-') s.insert(s.begin(), '+');
    else if (sp.space && s[0] != '-') s.insert(s.begin(), ' ');
    pad_to(out, s, sp, true);
}

void bad_verb(Sink& out, char verb, const Value& v);

void fmt_string(Sink& out, std::string_view s, char verb, const Spec& sp) {
    switch (verb) {
    case 'v': case 's': {
        if (sp.has_prec) {
            size_t n = 0, runes = 0;
            while (n < s.size() && runes < size_t(sp.prec)) {
                const auto c = (unsigned char)s[n];
                n += c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
                ++runes;
            }
            s = s.substr(0, std::min(n, s.size()));
        }
        pad_to(out, s, sp, true);
        return;
    }
    case 'q': pad_to(out, go_quote(s), sp, true); return;
    case 'x': case 'X': {
        std::string h;
        const char* d = verb == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
        for (size_t i = 0; i < s.size(); ++i) {
            if (sp.space && i) h += ' ';
            if (sp.sharp && (i == 0 || sp.space)) h += verb == 'X' ? "0X" : "0x";
            h += d[(unsigned char)s[i] >> 4];
            h += d[(unsigned char)s[i] & 15];
        }
        pad_to(out, h, sp, true);
        return;
    }
    default: bad_verb(out, verb, Value::string(s));
    }
}

void print_arg(Sink& out, const Value& v, const Spec& sp);

void bad_verb(Sink& out, char verb, const Value& v) {
    out.put("%!");
    out.put(verb);
    out.put('(');
    if (v.kind == Kind::nil || v.kind == Kind::invalid) {
        out.put("<nil>");
    } else {
        out.put(v.type);
        out.put('=');
        print_arg(out, v, Spec{});
    }
    out.put(')');
}

void print_arg(Sink& out, const Value& v, const Spec& sp) {
    const char verb = sp.verb;
    if (v.kind == Kind::invalid || v.kind == Kind::nil) {
        if (verb == 'v' || verb == 'T') pad_to(out, "<nil>", sp, false);
        else bad_verb(out, verb, v);
        return;
    }
    if (verb == 'T') {
        pad_to(out, v.type, sp, false);
        return;
    }
    switch (v.kind) {
    case Kind::boolean:
        if (verb == 'v' || verb == 't') pad_to(out, v.b ? "true" : "false", sp, false);
        else bad_verb(out, verb, v);
        return;
    case Kind::integer: case Kind::uinteger: {
        const bool neg = v.kind == Kind::integer && v.i < 0;
        const uint64_t u = v.kind == Kind::integer ? (neg ? uint64_t(0) - uint64_t(v.i) : uint64_t(v.i)) : v.u;
        switch (verb) {
        case 'v':
            if (sp.sharp && v.kind == Kind::uinteger) {
                Spec s2 = sp;
                s2.sharp = true;
                fmt_integer(out, u, neg, 16, 'x', s2);
            } else {
                fmt_integer(out, u, neg, 10, 'd', sp);
            }
            return;
        case 'd': fmt_integer(out, u, neg, 10, 'd', sp); return;
        case 'b': fmt_integer(out, u, neg, 2, 'b', sp); return;
        case 'o': case 'O': fmt_integer(out, u, neg, 8, verb, sp); return;
        case 'x': case 'X': fmt_integer(out, u, neg, 16, verb, sp); return;
        case 'c': {
            char b[4];
            const size_t n = put_utf8(b, neg ? 0xfffd : uint32_t(u > 0x10ffff ? 0xfffd : u));
            pad_to(out, std::string_view(b, n), sp, false);
            return;
        }
        case 'q': {
            std::string q = "'";
            const uint32_t r = neg || u > 0x10ffff ? 0xfffd : uint32_t(u);
            if (r == '\'') q += "\\'";
            else if (r == '\\') q += "\\\\";
            else if (r < 0x20 || r == 0x7f) {
                std::string g = go_quote(std::string(1, char(r)));
                q += g.substr(1, g.size() - 2);
            } else {
                append_utf8(q, r);
            }
            q += '\'';
            pad_to(out, q, sp, false);
            return;
        }
        case 'U': {
            char b[32];
            std::snprintf(b, sizeof b, "U+%04llX", (unsigned long long)u);
            pad_to(out, b, sp, false);
            return;
        }
        case 'e': case 'E': case 'f': case 'F': case 'g': case 'G':
        default: bad_verb(out, verb, v); return;
        }
    }
    case Kind::floating:
        switch (verb) {
        case 'v': case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': fmt_float(out, v.f, verb, sp); return;
        default: bad_verb(out, verb, v); return;
        }
    case Kind::string: fmt_string(out, v.s, verb, sp); return;
    case Kind::object: {
        const Object& o = *v.obj;
        if (o.shape() == Object::Shape::record) {
            if (verb == 'v' || verb == 's') {
                char buf[2048];
                Sink tmp(buf, sizeof buf);
                o.format(tmp);
                pad_to(out, tmp.view(), sp, false);
            } else {
                bad_verb(out, verb, v);
            }
            return;
        }
        Spec elem = sp;
        const bool is_map = o.shape() == Object::Shape::map;
        out.put(is_map ? "map[" : "[");
        for (size_t i = 0; i < o.size(); ++i) {
            if (i) out.put(' ');
            if (is_map) {
                print_arg(out, o.key(i), elem);
                out.put(':');
            }
            print_arg(out, o.at(i), elem);
        }
        out.put(']');
        return;
    }
    default: return;
    }
}

bool is_string(const Value& v) { return v.kind == Kind::string; }

}  // namespace

void format_value(Sink& out, const Value& v) { print_arg(out, v, Spec{}); }

void sprint(Sink& out, const Value* args, size_t n) {
    bool prev_string = false;
    for (size_t i = 0; i < n; ++i) {
        const bool s = is_string(args[i]);
        if (i > 0 && !s && !prev_string) out.put(' ');
        print_arg(out, args[i], Spec{});
        prev_string = s;
    }
}

void sprintln(Sink& out, const Value* args, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        if (i > 0) out.put(' ');
        print_arg(out, args[i], Spec{});
    }
    out.put('\n');
}

void sprintf(Sink& out, std::string_view f, const Value* args, size_t n) {
    size_t argi = 0;
    size_t i = 0;
    while (i < f.size()) {
        const size_t pct = f.find('%', i);
        if (pct == std::string_view::npos) {
            out.put(f.substr(i));
            break;
        }
        out.put(f.substr(i, pct - i));
        i = pct + 1;
        Spec sp;
        for (; i < f.size(); ++i) {
            const char c = f[i];
            if (c == '+') sp.plus = true;
            else if (c == '-') sp.minus = true;
            else if (c == '#') sp.sharp = true;
            else if (c == ' ') sp.space = true;
            else if (c == '0') sp.zero = !sp.minus;
            else break;
        }
        if (sp.minus) sp.zero = false;
        // width
        if (i < f.size() && f[i] == '*') {
            ++i;
            if (argi < n && args[argi].kind == Kind::integer) {
                sp.has_width = true;
                sp.width = int(args[argi].i);
                if (sp.width < 0) {
                    sp.minus = true;
                    sp.zero = false;
                    sp.width = -sp.width;
                }
            } else {
                out.put("%!(BADWIDTH)");
            }
            ++argi;
        } else {
            while (i < f.size() && f[i] >= '0' && f[i] <= '9') {
                sp.has_width = true;
                sp.width = sp.width * 10 + (f[i] - '0');
                if (sp.width > 1000000) sp.width = 1000000;
                ++i;
            }
        }
        // precision
        if (i < f.size() && f[i] == '.') {
            ++i;
            sp.has_prec = true;
            if (i < f.size() && f[i] == '*') {
                ++i;
                if (argi < n && args[argi].kind == Kind::integer && args[argi].i >= 0) {
                    sp.prec = int(args[argi].i);
                } else {
                    sp.has_prec = false;
                    out.put("%!(BADPREC)");
                }
                ++argi;
            } else {
                while (i < f.size() && f[i] >= '0' && f[i] <= '9') {
                    sp.prec = sp.prec * 10 + (f[i] - '0');
                    if (sp.prec > 1000000) sp.prec = 1000000;
                    ++i;
                }
            }
        }
        if (i >= f.size()) {
            out.put("%!(NOVERB)");
            break;
        }
        // The verb: one UTF-8 rune; we handle ASCII verbs.
        const char verb = f[i++];
        if (verb == '%') {
            out.put('%');
            continue;
        }
        sp.verb = verb;
        if (argi >= n) {
            out.put("%!");
            out.put(verb);
            out.put("(MISSING)");
            continue;
        }
        print_arg(out, args[argi++], sp);
    }
    if (argi < n) {
        out.put("%!(EXTRA ");
        for (size_t k = argi; k < n; ++k) {
            if (k > argi) out.put(", ");
            if (args[k].kind == Kind::nil || args[k].kind == Kind::invalid) {
                out.put("<nil>");
            } else {
                out.put(args[k].type);
                out.put('=');
                print_arg(out, args[k], Spec{});
            }
        }
        out.put(')');
    }
}

}  // namespace dnscore::gotemplate
