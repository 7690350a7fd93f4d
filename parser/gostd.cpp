// Re-implementations of the Go standard-library routines whose exact
// behaviour (accepted syntax, error wording, output format) is visible in
// CoreDNS configuration errors, logs and metrics.
#include "parser/gostd.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <system_error>

namespace dnscore::gostd {
namespace {

constexpr char kLowerHex[] = "0123456789abcdef";

// The time package has its own, simpler quoting for duration errors: every
// byte outside printable ASCII is written as \xNN (time.quote).
std::string time_quote(std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c >= 0x80 || c < 0x20) {
            out += "\\x";
            out += kLowerHex[c >> 4];
            out += kLowerHex[c & 0xF];
        } else {
            if (c == '"' || c == '\\') out += '\\';
            out += static_cast<char>(c);
        }
    }
    out += '"';
    return out;
}

[[noreturn]] void invalid_duration(std::string_view orig) {
    throw std::invalid_argument("time: invalid duration " + time_quote(orig));
}

constexpr std::uint64_t kTwo63 = std::uint64_t{1} << 63;

// Go's leadingInt: consumes [0-9]*, fails on overflow past 1<<63.
bool leading_int(std::string_view& s, std::uint64_t& x) {
    x = 0;
    std::size_t i = 0;
    for (; i < s.size(); ++i) {
        char c = s[i];
        if (c < '0' || c > '9') break;
        if (x > kTwo63 / 10) return false;
        x = x * 10 + static_cast<std::uint64_t>(c - '0');
        if (x > kTwo63) return false;
    }
    s.remove_prefix(i);
    return true;
}

// Go's leadingFraction: consumes [0-9]*, silently dropping digits that would overflow.
void leading_fraction(std::string_view& s, std::uint64_t& x, double& scale) {
    x = 0;
    scale = 1;
    bool overflow = false;
    std::size_t i = 0;
    for (; i < s.size(); ++i) {
        char c = s[i];
        if (c < '0' || c > '9') break;
        if (overflow) continue;
        if (x > (kTwo63 - 1) / 10) {
            overflow = true;
            continue;
        }
        std::uint64_t y = x * 10 + static_cast<std::uint64_t>(c - '0');
        if (y > kTwo63) {
            overflow = true;
            continue;
        }
        x = y;
        scale *= 10;
    }
    s.remove_prefix(i);
}

bool unit_value(std::string_view u, std::uint64_t& out) {
    if (u == "ns") out = 1;
    else if (u == "us" || u == "\xC2\xB5s" || u == "\xCE\xBCs") out = 1000;  // us, µs (U+00B5), μs (U+03BC)
    else if (u == "ms") out = 1000000;
    else if (u == "s") out = 1000000000ULL;
    else if (u == "m") out = 60ULL * 1000000000ULL;
    else if (u == "h") out = 3600ULL * 1000000000ULL;
    else return false;
    return true;
}

// Prepends the fraction of v/10^prec (".123", trailing zeros and a bare
// point dropped) and returns v/10^prec (Go's fmtFrac).
std::uint64_t fmt_frac(std::string& out, std::uint64_t v, int prec) {
    std::string frac;
    bool print = false;
    for (int i = 0; i < prec; ++i) {
        int digit = static_cast<int>(v % 10);
        print = print || digit != 0;
        if (print) frac.insert(frac.begin(), static_cast<char>('0' + digit));
        v /= 10;
    }
    if (print) out.insert(0, "." + frac);
    return v;
}

void fmt_int(std::string& out, std::uint64_t v) { out.insert(0, std::to_string(v)); }

[[noreturn]] void num_error(const char* fn, std::string_view num, bool range) {
    throw std::invalid_argument(std::string("strconv.") + fn + ": parsing " + quote(num) + ": " +
                                (range ? "value out of range" : "invalid syntax"));
}

// strconv.ParseUint for base 10 without underscores. Returns false with
// `range` set accordingly on error (the caller chooses the function name).
bool parse_uint_core(std::string_view s, int bits, unsigned long long& n, bool& range) {
    range = false;
    n = 0;
    if (s.empty()) return false;
    if (bits <= 0 || bits > 64) bits = 64;
    const std::uint64_t max_val = bits == 64 ? UINT64_MAX : (std::uint64_t{1} << bits) - 1;
    const std::uint64_t cutoff = UINT64_MAX / 10 + 1;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        std::uint64_t d = static_cast<std::uint64_t>(c - '0');
        if (n >= cutoff) {
            n = max_val;
            range = true;
            return false;
        }
        n *= 10;
        std::uint64_t n1 = n + d;
        if (n1 < n || n1 > max_val) {
            n = max_val;
            range = true;
            return false;
        }
        n = n1;
    }
    return true;
}

// Decodes one UTF-8 sequence the way Go's utf8.DecodeRune does; invalid
// input yields (U+FFFD, 1).
char32_t decode_rune(std::string_view s, std::size_t i, std::size_t& len) {
    auto b0 = static_cast<unsigned char>(s[i]);
    auto cont = [&](std::size_t k) -> int {
        if (i + k >= s.size()) return -1;
        auto b = static_cast<unsigned char>(s[i + k]);
        return (b & 0xC0) == 0x80 ? (b & 0x3F) : -1;
    };
    len = 1;
    if (b0 < 0x80) return b0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        int c1 = cont(1);
        if (c1 < 0) return 0xFFFD;
        len = 2;
        return static_cast<char32_t>(((b0 & 0x1F) << 6) | c1);
    }
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        int c1 = cont(1), c2 = cont(2);
        if (c1 < 0 || c2 < 0) return 0xFFFD;
        char32_t r = static_cast<char32_t>(((b0 & 0x0F) << 12) | (c1 << 6) | c2);
        if (r < 0x800 || (r >= 0xD800 && r <= 0xDFFF)) return 0xFFFD;
        len = 3;
        return r;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        int c1 = cont(1), c2 = cont(2), c3 = cont(3);
        if (c1 < 0 || c2 < 0 || c3 < 0) return 0xFFFD;
        char32_t r = static_cast<char32_t>(((b0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3);
        if (r < 0x10000 || r > 0x10FFFF) return 0xFFFD;
        len = 4;
        return r;
    }
    return 0xFFFD;
}

// Approximation of unicode.IsPrint for non-ASCII runes: graphic runes plus
// U+0020 only. Covers the common non-printing ranges (C1 controls, spaces,
// format characters, private use, non-characters).
bool is_print_rune(char32_t r) {
    if (r < 0x20 || r == 0x7F) return false;
    if (r < 0x7F) return true;
    if (r <= 0xA0) return false;  // C1 controls and NBSP
    if (r == 0xAD) return false;  // soft hyphen (Cf)
    if (r >= 0x600 && r <= 0x605) return false;
    if (r == 0x61C || r == 0x6DD || r == 0x70F || r == 0x180E) return false;
    if (r == 0x1680) return false;
    if (r >= 0x2000 && r <= 0x200F) return false;
    if (r >= 0x2028 && r <= 0x202F) return false;
    if (r >= 0x205F && r <= 0x206F) return false;
    if (r == 0x3000) return false;
    if (r >= 0xD800 && r <= 0xF8FF) return false;  // surrogates and private use
    if (r == 0xFEFF) return false;
    if (r >= 0xFFF0 && r <= 0xFFFB) return false;
    if ((r & 0xFFFE) == 0xFFFE) return false;  // non-characters U+xFFFE/U+xFFFF
    if (r >= 0xE0000 && r <= 0xE007F) return false;
    if (r >= 0xF0000) return false;  // supplementary private use
    return true;
}

// Shortest round-trip decimal digits of |v| and the decimal-point position:
// v = 0.DIGITS * 10^point (Go's decimalSlice nd/dp).
void shortest_digits(double v, std::string& digits, int& point) {
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, std::fabs(v), std::chars_format::scientific);
    std::string sci(buf, res.ptr);
    auto e = sci.find('e');
    std::string mant = sci.substr(0, e);
    int exp10 = std::stoi(sci.substr(e + 1));
    digits.clear();
    for (char c : mant)
        if (c != '.') digits += c;
    while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
    point = exp10 + 1;
    if (digits == "0") point = 1;
}

std::string fixed_from_digits(const std::string& digits, int point) {
    std::string out;
    if (point <= 0) {
        out = "0";
        std::string frac(static_cast<std::size_t>(-point), '0');
        frac += digits;
        if (digits != "0") out += "." + frac;
        return out;
    }
    if (static_cast<std::size_t>(point) >= digits.size()) {
        out = digits + std::string(static_cast<std::size_t>(point) - digits.size(), '0');
        return out;
    }
    return digits.substr(0, static_cast<std::size_t>(point)) + "." +
           digits.substr(static_cast<std::size_t>(point));
}

}  // namespace

Duration parse_duration(std::string_view s) {
    const std::string_view orig = s;
    std::uint64_t d = 0;
    bool neg = false;
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        s.remove_prefix(1);
    }
    if (s == "0") return Duration{0};
    if (s.empty()) invalid_duration(orig);
    while (!s.empty()) {
        std::uint64_t v = 0, f = 0;
        double scale = 1;
        if (!(s[0] == '.' || (s[0] >= '0' && s[0] <= '9'))) invalid_duration(orig);
        std::size_t pl = s.size();
        if (!leading_int(s, v)) invalid_duration(orig);
        bool pre = pl != s.size();
        bool post = false;
        if (!s.empty() && s[0] == '.') {
            s.remove_prefix(1);
            std::size_t pl2 = s.size();
            leading_fraction(s, f, scale);
            post = pl2 != s.size();
        }
        if (!pre && !post) invalid_duration(orig);
        std::size_t i = 0;
        for (; i < s.size(); ++i) {
            char c = s[i];
            if (c == '.' || (c >= '0' && c <= '9')) break;
        }
        if (i == 0) throw std::invalid_argument("time: missing unit in duration " + time_quote(orig));
        std::string_view u = s.substr(0, i);
        s.remove_prefix(i);
        std::uint64_t unit = 0;
        if (!unit_value(u, unit))
            throw std::invalid_argument("time: unknown unit " + time_quote(u) + " in duration " +
                                        time_quote(orig));
        if (v > kTwo63 / unit) invalid_duration(orig);
        v *= unit;
        if (f > 0) {
            // float64 keeps nanosecond accuracy for fractions of hours, as in Go.
            v += static_cast<std::uint64_t>(static_cast<double>(f) *
                                            (static_cast<double>(unit) / scale));
            if (v > kTwo63) invalid_duration(orig);
        }
        d += v;
        if (d > kTwo63) invalid_duration(orig);
    }
    if (neg) return Duration{static_cast<std::int64_t>(0 - d)};
    if (d > kTwo63 - 1) invalid_duration(orig);
    return Duration{static_cast<std::int64_t>(d)};
}

std::string format_duration(Duration dur) {
    const std::int64_t d = dur.count();
    std::uint64_t u = static_cast<std::uint64_t>(d);
    const bool neg = d < 0;
    if (neg) u = 0 - u;
    std::string out;
    if (u < 1000000000ULL) {
        // Below one second Go switches to the largest fitting sub-second unit.
        int prec = 0;
        if (u == 0) return "0s";
        if (u < 1000ULL) {
            prec = 0;
            out = "ns";
        } else if (u < 1000000ULL) {
            prec = 3;
            out = "\xC2\xB5s";  // µs
        } else {
            prec = 6;
            out = "ms";
        }
        u = fmt_frac(out, u, prec);
        fmt_int(out, u);
    } else {
        out = "s";
        u = fmt_frac(out, u, 9);
        fmt_int(out, u % 60);
        u /= 60;
        if (u > 0) {
            out.insert(0, "m");
            fmt_int(out, u % 60);
            u /= 60;
            if (u > 0) {
                out.insert(0, "h");
                fmt_int(out, u);
            }
        }
    }
    if (neg) out.insert(0, "-");
    return out;
}

long long atoi(std::string_view s) {
    // Same result as Go's fast and slow paths: sign, then base-10 digits only.
    if (s.empty()) num_error("Atoi", s, false);
    std::string_view digits = s;
    bool neg = false;
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        digits.remove_prefix(1);
    }
    unsigned long long un = 0;
    bool range = false;
    if (!parse_uint_core(digits, 64, un, range) && !range) num_error("Atoi", s, false);
    const std::uint64_t cutoff = kTwo63;
    if (range || (!neg && un >= cutoff) || (neg && un > cutoff)) num_error("Atoi", s, true);
    return neg ? static_cast<long long>(0 - un) : static_cast<long long>(un);
}

unsigned long long parse_uint(std::string_view s, int bits) {
    unsigned long long n = 0;
    bool range = false;
    if (!parse_uint_core(s, bits, n, range)) num_error("ParseUint", s, range);
    return n;
}

std::string quote(std::string_view s) {
    std::string out = "\"";
    std::size_t i = 0;
    while (i < s.size()) {
        std::size_t len = 1;
        char32_t r = decode_rune(s, i, len);
        if (r == 0xFFFD && len == 1) {
            // Invalid UTF-8 byte (or a literal U+FFFD, which decodes with len 3).
            out += "\\x";
            auto b = static_cast<unsigned char>(s[i]);
            out += kLowerHex[b >> 4];
            out += kLowerHex[b & 0xF];
            i += 1;
            continue;
        }
        if (r == '"' || r == '\\') {
            out += '\\';
            out += static_cast<char>(r);
        } else if (is_print_rune(r)) {
            out.append(s.substr(i, len));
        } else {
            switch (r) {
                case '\a': out += "\\a"; break;
                case '\b': out += "\\b"; break;
                case '\f': out += "\\f"; break;
                case '\n': out += "\\n"; break;
                case '\r': out += "\\r"; break;
                case '\t': out += "\\t"; break;
                case '\v': out += "\\v"; break;
                default:
                    if (r < ' ' || r == 0x7F) {
                        out += "\\x";
                        out += kLowerHex[(r >> 4) & 0xF];
                        out += kLowerHex[r & 0xF];
                    } else if (r < 0x10000) {
                        out += "\\u";
                        for (int shift = 12; shift >= 0; shift -= 4) out += kLowerHex[(r >> shift) & 0xF];
                    } else {
                        out += "\\U";
                        for (int shift = 28; shift >= 0; shift -= 4) out += kLowerHex[(r >> shift) & 0xF];
                    }
            }
        }
        i += len;
    }
    out += '"';
    return out;
}

std::string format_float_g(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    const bool neg = std::signbit(v);
    std::string digits;
    int point = 0;
    shortest_digits(v, digits, point);
    std::string out = neg ? "-" : "";
    if (v == 0) return out + "0";
    // Go's %g with shortest precision switches to exponent form when the
    // exponent is < -4 or >= 6 (eprec is fixed at 6 for shortest).
    const int exp = point - 1;
    if (exp < -4 || exp >= 6) {
        out += digits[0];
        if (digits.size() > 1) out += "." + digits.substr(1);
        out += exp < 0 ? "e-" : "e+";
        int ae = exp < 0 ? -exp : exp;
        if (ae < 10) out += '0';
        out += std::to_string(ae);
        return out;
    }
    return out + fixed_from_digits(digits, point);
}

std::string format_float_shortest_fixed(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    std::string digits;
    int point = 0;
    shortest_digits(v, digits, point);
    std::string out = std::signbit(v) ? "-" : "";
    if (v == 0) return out + "0";
    return out + fixed_from_digits(digits, point);
}

}  // namespace dnscore::gostd
