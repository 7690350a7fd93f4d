// Rule parsing as CoreDNS 1.12.2 plugin/rewrite (rewrite.go newRule, name.go,
// class.go, type.go, ttl.go, rcode.go, edns0.go, cname_target.go): the same
// arguments accepted, the same error texts.
#include "plugins/rewrite/rules.hpp"

#include <stdexcept>

#include "core/wire/wire.hpp"
#include "parser/gostd.hpp"

namespace dnscore::plugins::rewrite {

namespace {

using std::invalid_argument;

std::string lower(std::string s) {
    for (auto& c : s)
        if (c >= 'A' && c <= 'Z') c = char(c + 32);
    return s;
}
std::string upper(std::string s) {
    for (auto& c : s)
        if (c >= 'a' && c <= 'z') c = char(c - 32);
    return s;
}
// plugin.Name(s).Normalize(): lower case, fully qualified.
std::string normalize(const std::string& s) {
    std::string n = lower(s);
    if (n.empty() || n.back() != '.') n += '.';
    return n;
}
bool has_closing_dot(const std::string& s) { return !s.empty() && s.back() == '.'; }

// name.go getSubExprUsage: how many of {0}..{100} appear in s.
int sub_expr_usage(const std::string& s) {
    int n = 0;
    for (int i = 0; i <= 100; ++i)
        if (s.find("{" + std::to_string(i) + "}") != std::string::npos) ++n;
    return n;
}

// name.go isValidRegexPattern.
Regex valid_regex(const std::string& from, const std::string& to) {
    Regex re;
    try {
        re = Regex(from);
    } catch (const invalid_argument&) {
        throw invalid_argument("invalid regex matching pattern: " + from);
    }
    if (sub_expr_usage(to) > re.num_subexp())
        throw invalid_argument("the rewrite regex pattern (" + to +
                               ") uses more subexpressions than its corresponding matching regex pattern (" + from +
                               ")");
    return re;
}

bool parse_match(const std::string& s, Match& m) {
    if (s == "exact") m = Match::exact;
    else if (s == "prefix") m = Match::prefix;
    else if (s == "suffix") m = Match::suffix;
    else if (s == "substring") m = Match::substring;
    else if (s == "regex") m = Match::regex;
    else return false;
    return true;
}

// strconv.ParseUint(s, base, bits) with Go's texts (base 0 or 10).
unsigned long long parse_uint_base(const std::string& s, int base, int bits) {
    const std::string fn = "strconv.ParseUint: parsing " + gostd::quote(s) + ": ";
    std::string_view v = s;
    int b = base;
    if (b == 0) {
        b = 10;
        if (v.size() > 1 && v[0] == '0') {
            const char c = char(v[1] | 0x20);
            if (c == 'x') { b = 16; v.remove_prefix(2); }
            else if (c == 'o') { b = 8; v.remove_prefix(2); }
            else if (c == 'b') { b = 2; v.remove_prefix(2); }
            else { b = 8; v.remove_prefix(1); }
        }
    }
    if (v.empty()) throw invalid_argument(fn + "invalid syntax");
    unsigned long long r = 0;
    const unsigned long long max = bits >= 64 ? ~0ull : (1ull << bits) - 1;
    bool range = false, underscore_ok = base == 0;
    for (char c : v) {
        if (c == '_' && underscore_ok) continue;
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') d = (c | 0x20) - 'a' + 10;
        else throw invalid_argument(fn + "invalid syntax");
        if (d >= b) throw invalid_argument(fn + "invalid syntax");
        if (r > (max - unsigned(d)) / unsigned(b)) range = true;
        else r = r * unsigned(b) + unsigned(d);
    }
    if (range) throw invalid_argument(fn + "value out of range");
    return r;
}

// encoding/hex.DecodeString with Go's texts.
std::vector<uint8_t> hex_decode(const std::string& s) {
    auto val = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::vector<uint8_t> out;
    size_t i = 0;
    for (; i + 1 < s.size(); i += 2) {
        for (size_t k = i; k < i + 2; ++k) {
            if (val(s[k]) < 0) {
                char buf[64];
                const unsigned char ch = static_cast<unsigned char>(s[k]);
                if (ch >= 0x20 && ch < 0x7f) std::snprintf(buf, sizeof buf, "U+%04X '%c'", ch, ch);
                else std::snprintf(buf, sizeof buf, "U+%04X", ch);
                throw invalid_argument(std::string("encoding/hex: invalid byte: ") + buf);
            }
        }
        out.push_back(uint8_t(val(s[i]) << 4 | val(s[i + 1])));
    }
    if (s.size() % 2 == 1) {
        if (val(s[i]) < 0) {
            char buf[64];
            std::snprintf(buf, sizeof buf, "U+%04X '%c'", static_cast<unsigned char>(s[i]), s[i]);
            throw invalid_argument(std::string("encoding/hex: invalid byte: ") + buf);
        }
        throw invalid_argument("encoding/hex: odd length hex string");
    }
    return out;
}

// name.go parseAnswerRules.
void parse_answer_rules(const std::string& name, const std::vector<std::string>& args, bool& auto_, std::vector<AnswerRule>& rules) {
    auto_ = false;
    size_t arg = 0;
    int name_rules = 0;
    std::string last;
    if (args.size() < 2) throw invalid_argument("invalid arguments for " + name + " rule");
    while (arg < args.size()) {
        if (last.empty() && args[arg] != "answer")
            throw invalid_argument("exceeded the number of arguments for a non-answer rule argument for " + name + " rule");
        if (args[arg] == "answer") ++arg;
        if (args.size() - arg == 0) throw invalid_argument("type missing for answer rule for " + name + " rule");
        last = args[arg];
        ++arg;
        if (last == "auto") {
            auto_ = true;
            continue;
        }
        if (last == "name" || last == "value") {
            if (args.size() - arg < 2)
                throw invalid_argument(last + " answer rule for " + name + " rule: 2 arguments required");
            const std::string& from = args[arg];
            AnswerRule r;
            r.value = last == "value";
            r.rw.kind = StringRewriter::regex;
            try {
                r.rw.re = valid_regex(from, args[arg + 1]);
            } catch (const invalid_argument& e) {
                throw invalid_argument(last + " answer rule for " + name + " rule: " + e.what());
            }
            r.rw.replacement = normalize(args[arg + 1]);
            rules.push_back(std::move(r));
            arg += 2;
            if (last == "name") ++name_rules;
            continue;
        }
        throw invalid_argument("invalid type " + gostd::quote(last) + " for answer rule for " + name + " rule");
    }
    if (auto_ && name_rules > 0)
        throw invalid_argument("auto name answer rule cannot be combined with explicit name anwer rules");
}

Rule new_name_rule(bool stop, const std::vector<std::string>& args) {
    if (args.size() < 2) throw invalid_argument("too few arguments for a name rule");
    Rule r;
    r.kind = Kind::name;
    r.stop = stop;
    std::string type_word = "exact";
    std::string from, to;
    if (args.size() == 2) {
        from = normalize(args[0]);
        to = normalize(args[1]);
    } else {
        type_word = lower(args[0]);
        if (type_word == "regex") {
            from = args[1];
            to = args[2];
        } else {
            from = normalize(args[1]);
            to = normalize(args[2]);
        }
    }
    if (type_word == "exact" || type_word == "suffix") {
        if (!has_closing_dot(from)) from += ".";
        if (!has_closing_dot(to)) to += ".";
    }
    bool auto_ = false;
    std::vector<AnswerRule> answers;
    if (args.size() > 3) parse_answer_rules(type_word, std::vector<std::string>(args.begin() + 3, args.end()), auto_, answers);

    if (!parse_match(type_word, r.match))
        throw invalid_argument(
            "name rule supports only exact, prefix, suffix, substring, and regex name matching, received: " + type_word);
    r.from = from;
    r.to = to;
    switch (r.match) {
    case Match::exact:
        valid_regex(to, from);  // as CoreDNS: the replacement must compile as a regex
        r.auto_remap = true;
        r.answers = std::move(answers);
        break;
    case Match::suffix:
        if (auto_) {
            // The reverse suffix mapping, for owner names and values.
            for (bool value : {false, true}) {
                AnswerRule a;
                a.value = value;
                a.rw.kind = StringRewriter::suffix;
                a.rw.from = to;
                a.rw.replacement = from;
                r.answers.push_back(std::move(a));
            }
        }
        for (auto& a : answers) r.answers.push_back(std::move(a));
        break;
    case Match::regex:
        r.re = valid_regex(from, to);
        r.to = normalize(args[2]);
        [[fallthrough]];
    default:
        r.auto_remap = auto_;
        r.answers = std::move(answers);
        break;
    }
    return r;
}

void parse_ttl(const std::string& v, uint32_t& mn, uint32_t& mx, bool& ok) {
    ok = false;
    auto num = [](const std::string& s, uint64_t& out) {
        try {
            out = gostd::parse_uint(s, 32);
            return true;
        } catch (const invalid_argument&) {
            return false;
        }
    };
    const size_t dash = v.find('-');
    if (dash == std::string::npos) {
        uint64_t i;
        if (!num(v, i)) return;
        mn = mx = uint32_t(i);
        ok = true;
        return;
    }
    if (v.find('-', dash + 1) != std::string::npos) return;
    const std::string a = v.substr(0, dash), b = v.substr(dash + 1);
    uint64_t lo = 0, hi = 0;
    if (!a.empty() && !num(a, lo)) return;
    if (b.empty()) {
        if (a.empty()) return;  // "-" alone
        hi = 2147483647;
    } else if (!num(b, hi)) {
        return;
    }
    if (lo > hi) return;
    mn = uint32_t(lo);
    mx = uint32_t(hi);
    ok = true;
}

// ttl.go / rcode.go share the shape: [TYPE] NAME VALUES.
void match_and_name(Rule& r, const std::string& type_word, const std::string& name, const char* what) {
    const std::string t = lower(type_word);
    if (!parse_match(t, r.match))
        throw invalid_argument(std::string(what) + " rule supports only exact, prefix, suffix, substring, and regex name matching");
    if (r.match == Match::regex) {
        try {
            r.re = Regex(name);
        } catch (const invalid_argument&) {
            throw invalid_argument(std::string("invalid regex pattern in a ") + what + " rule: " + name);
        }
    } else {
        r.from = normalize(name);
    }
}

Rule new_ttl_rule(bool stop, const std::vector<std::string>& args) {
    if (args.size() < 2) throw invalid_argument("too few (" + std::to_string(args.size()) + ") arguments for a ttl rule");
    Rule r;
    r.kind = Kind::ttl;
    r.stop = stop;
    std::string s;
    if (args.size() == 2) s = args[1];
    if (args.size() == 3) s = args[2];
    bool ok;
    parse_ttl(s, r.ttl_min, r.ttl_max, ok);
    if (!ok) throw invalid_argument("invalid TTL '" + s + "' for a ttl rule");
    if (args.size() == 3) {
        match_and_name(r, args[0], args[1], "ttl");
        return r;
    }
    if (args.size() > 3) throw invalid_argument("many few arguments for a ttl rule");
    r.match = Match::exact;
    r.from = normalize(args[0]);
    return r;
}

bool valid_rcode(const std::string& v, int& out) {
    try {
        const uint64_t i = gostd::parse_uint(v, 32);
        if (i <= 23) {
            out = int(i);
            return true;
        }
    } catch (const invalid_argument&) {
    }
    // miekg StringToRcode (BADSIG and BADVERS share 16).
    static const std::pair<const char*, int> names[] = {
        {"NOERROR", 0},  {"FORMERR", 1},  {"SERVFAIL", 2},  {"NXDOMAIN", 3},  {"NOTIMP", 4},   {"REFUSED", 5},
        {"YXDOMAIN", 6}, {"YXRRSET", 7},  {"NXRRSET", 8},   {"NOTAUTH", 9},   {"NOTZONE", 10}, {"BADSIG", 16},
        {"BADVERS", 16}, {"BADKEY", 17},  {"BADTIME", 18},  {"BADMODE", 19},  {"BADNAME", 20}, {"BADALG", 21},
        {"BADTRUNC", 22}, {"BADCOOKIE", 23},
    };
    const std::string u = upper(v);
    for (const auto& [n, c] : names)
        if (u == n) {
            out = c;
            return true;
        }
    return false;
}

Rule new_rcode_rule(bool stop, const std::vector<std::string>& args) {
    if (args.size() < 3) throw invalid_argument("too few (" + std::to_string(args.size()) + ") arguments for a rcode rule");
    Rule r;
    r.kind = Kind::rcode;
    r.stop = stop;
    std::string o, n;
    if (args.size() == 3) o = args[1], n = args[2];
    if (args.size() == 4) o = args[2], n = args[3];
    if (!valid_rcode(o, r.rcode_old)) throw invalid_argument("invalid matching RCODE '" + o + "' for a rcode rule");
    if (!valid_rcode(n, r.rcode_new)) throw invalid_argument("invalid replacement RCODE '" + n + "' for a rcode rule");
    if (args.size() == 4) {
        match_and_name(r, args[0], args[1], "rcode");
        return r;
    }
    if (args.size() > 4) throw invalid_argument("many few arguments for a rcode rule");
    r.match = Match::exact;
    r.from = normalize(args[0]);
    return r;
}

bool is_label(const std::string& l) {  // metadata.IsLabel
    const size_t p = l.find('/');
    if (p == std::string::npos || p == 0 || p >= l.size() - 1) return false;
    return l.rfind('/') == p;
}

Rule new_edns0_rule(bool stop, std::vector<std::string> args) {
    if (args.size() < 2) throw invalid_argument("too few arguments for an EDNS0 rule");
    Rule r;
    r.stop = stop;
    const std::string type = lower(args[0]);
    const std::string action = lower(args[1]);
    if (action == "append") r.action = EdnsAction::append;
    else if (action == "replace") r.action = EdnsAction::replace;
    else if (action == "set") r.action = EdnsAction::set;
    else throw invalid_argument("invalid action: " + gostd::quote(action));
    if (args.back() == "revert") {
        r.revert = true;
        args.pop_back();
    }
    if (type == "local") {
        if (args.size() != 4) throw invalid_argument("EDNS0 local rules require three or four args");
        r.code = uint16_t(parse_uint_base(args[2], 0, 16));
        const std::string& data = args[3];
        if (data.size() >= 2 && data.front() == '{' && data.back() == '}') {
            r.kind = Kind::edns0_variable;
            static const std::pair<const char*, Variable> vars[] = {
                {"{qname}", Variable::qname},         {"{qtype}", Variable::qtype},
                {"{client_ip}", Variable::client_ip}, {"{client_port}", Variable::client_port},
                {"{protocol}", Variable::protocol},   {"{server_ip}", Variable::server_ip},
                {"{server_port}", Variable::server_port},
            };
            bool found = false;
            for (const auto& [n, v] : vars)
                if (data == n) {
                    r.variable = v;
                    found = true;
                }
            if (!found) {
                if (!is_label(data.substr(1, data.size() - 2)))
                    throw invalid_argument("unsupported variable name " + gostd::quote(data));
                r.variable = Variable::metadata;
                r.meta_label = data.substr(1, data.size() - 2);
            }
            return r;
        }
        r.kind = Kind::edns0_local;
        if (data.rfind("0x", 0) == 0) r.data = hex_decode(data.substr(2));
        else r.data.assign(data.begin(), data.end());
        return r;
    }
    if (type == "nsid") {
        if (args.size() != 2) throw invalid_argument("EDNS0 NSID rules can accept no more than one arg");
        r.kind = Kind::edns0_nsid;
        r.code = 3;
        return r;
    }
    if (type == "subnet") {
        if (args.size() != 4) throw invalid_argument("EDNS0 subnet rules require three or four args");
        r.kind = Kind::edns0_subnet;
        r.code = 8;
        const auto v4 = parse_uint_base(args[2], 0, 16);
        if (v4 > 32) throw invalid_argument("invalid IPv4 bit mask length " + std::to_string(v4));
        const auto v6 = parse_uint_base(args[3], 0, 16);
        if (v6 > 128) throw invalid_argument("invalid IPv6 bit mask length " + std::to_string(v6));
        r.v4_len = uint8_t(v4);
        r.v6_len = uint8_t(v6);
        return r;
    }
    throw invalid_argument("invalid rule type " + gostd::quote(type));
}

Rule new_cname_rule(bool stop, const std::vector<std::string>& args) {
    Rule r;
    r.kind = Kind::cname;
    r.stop = stop;
    if (args.size() == 3) {
        const std::string t = lower(args[0]);
        if (!parse_match(t, r.match)) throw invalid_argument("unknown cname rewrite type: " + t);
        r.from = lower(args[1]);
        r.to = lower(args[2]);
    } else if (args.size() == 2) {
        r.match = Match::exact;
        r.from = lower(args[0]);
        r.to = lower(args[1]);
    } else {
        throw invalid_argument("too few (" + std::to_string(args.size()) + ") arguments for a cname rule");
    }
    // CoreDNS compiles the pattern per reply with MustCompile (a bad one
    // panics there); compiled once here, a bad one is a setup error.
    if (r.match == Match::regex) r.re = valid_regex(r.from, "");
    return r;
}

}  // namespace

bool Rule::has_response_rules() const {
    switch (kind) {
    case Kind::name: return auto_remap || !answers.empty();
    case Kind::ttl:
    case Kind::rcode:
    case Kind::cname: return true;
    default: return false;
    }
}

Rule new_rule(const std::vector<std::string>& args) {
    if (args.empty()) throw invalid_argument("no rule type specified for rewrite");
    const std::string arg0 = lower(args[0]);
    std::string type;
    size_t expect = 0, start = 0;
    bool stop = true;
    if (arg0 == "continue") {
        stop = false;
        if (args.size() < 2) throw invalid_argument("continue rule must begin with a rule type");
        type = lower(args[1]);
        expect = args.size() - 1;
        start = 2;
    } else if (arg0 == "stop") {
        if (args.size() < 2) throw invalid_argument("stop rule must begin with a rule type");
        type = lower(args[1]);
        expect = args.size() - 1;
        start = 2;
    } else {
        type = arg0;
        expect = args.size();
        start = 1;
    }
    const std::vector<std::string> rest(args.begin() + long(start), args.end());
    if (type == "answer") throw invalid_argument("response rewrites must begin with a name rule");
    if (type == "name") return new_name_rule(stop, rest);
    if (type == "class" || type == "type") {
        if (expect != 3) throw invalid_argument(type + " rules must have exactly two arguments");
        Rule r;
        r.kind = type == "class" ? Kind::klass : Kind::type;
        r.stop = stop;
        for (int i = 0; i < 2; ++i) {
            const std::string u = upper(rest[size_t(i)]);
            const int v = type == "class" ? wire::class_from_name(u) : wire::type_from_name(u);
            if (v < 0) throw invalid_argument("invalid " + type + " " + gostd::quote(u));
            (i == 0 ? r.from_code : r.to_code) = uint16_t(v);
        }
        return r;
    }
    if (type == "edns0") return new_edns0_rule(stop, rest);
    if (type == "ttl") return new_ttl_rule(stop, rest);
    if (type == "cname") return new_cname_rule(stop, rest);
    if (type == "rcode") return new_rcode_rule(stop, rest);
    throw invalid_argument("invalid rule type " + gostd::quote(args[0]));
}

}  // namespace dnscore::plugins::rewrite
