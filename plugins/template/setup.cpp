// template's Corefile syntax (CoreDNS plugin/template/setup.go, 1.12.2).
#include <map>
#include <stdexcept>

#include "core/metrics.hpp"
#include "core/wire/wire.hpp"
#include "corefile/setup.hpp"
#include "plugins/template/metrics.hpp"
#include "plugins/template/template.hpp"
#include "core/gotemplate/strconv.hpp"

namespace dnscore::plugins {

namespace {

using tmpl::Rule;

// miekg's StringToClass / StringToType / StringToRcode: exact mnemonics.
int exact_class(const std::string& s) {
    static const std::pair<const char*, int> k[] = {{"IN", 1}, {"CS", 2}, {"CH", 3}, {"HS", 4}, {"NONE", 254}, {"ANY", 255}};
    for (const auto& [n, v] : k)
        if (s == n) return v;
    return -1;
}
int exact_type(const std::string& s) {
    const int v = wire::type_from_name(s);
    if (v < 0) return -1;
    char scratch[16];
    const std::string_view canon = wire::type_name(uint16_t(v), scratch);
    if (canon != s || (canon.starts_with("TYPE") && canon.size() > 4 && canon[4] >= '0' && canon[4] <= '9')) return -1;
    return v;
}
int exact_rcode(const std::string& s) {
    const int v = wire::rcode_from_name(s);
    if (v < 0) return -1;
    char scratch[16];
    return wire::rcode_name(unsigned(v), scratch) == s ? v : -1;
}

bool parse_int_fn(const gotemplate::Value* a, size_t, gotemplate::Value& out, std::string& err, gotemplate::Exec&) {
    // strconv.ParseUint(s, base, bitSize) (uint64, error)
    uint64_t u = 0;
    const auto e = gotemplate::parse_uint(a[0].s, int(a[1].i), int(a[2].i), u);
    if (e != gotemplate::NumErr::ok) {
        err = gotemplate::num_error("ParseUint", a[0].s, e, int(a[1].i), int(a[2].i));
        return false;
    }
    out = gotemplate::Value::uinteger(u);
    return true;
}

tmpl::RRTemplate new_template(const std::string& name, const std::string& text) {
    using gotemplate::Param;
    std::vector<gotemplate::Func> funcs{{"parseInt", {Param::string, Param::integer, Param::integer}, parse_int_fn}};
    tmpl::RRTemplate t{gotemplate::Template(name, text, std::move(funcs)), {}};
    t.label = t.t.root_string();
    return t;
}

tmpl::MatchRegex new_regex(const std::string& pattern) {
    tmpl::MatchRegex m{Regex(pattern), 0, {}};
    m.groups = m.re.groups();
    std::map<std::string, int> keys;
    for (int i = 0; i <= m.groups && i < 32; ++i) keys[std::to_string(i)] = i;
    for (int i = 1; i <= m.groups && i < 32; ++i) {
        const std::string n = m.re.group_name(i);
        if (!n.empty()) keys[n] = i;
    }
    m.group_keys.assign(keys.begin(), keys.end());
    return m;
}

}  // namespace

void setup_template(corefile::SetupContext& c) {
    auto& d = c.d;
    auto h = std::make_shared<tmpl::Template>();
    while (d.next()) {
        if (!d.next_arg()) throw d.arg_err();
        const int klass = exact_class(d.val());
        if (klass < 0) throw d.err("invalid query class " + d.val());
        if (!d.next_arg()) throw d.arg_err();
        const int type = exact_type(d.val());
        if (type < 0) throw d.err("invalid RR class " + d.val());

        Rule r;
        r.qclass = uint16_t(klass);
        r.qtype = uint16_t(type);
        r.zone_names = c.zones_or_block(d.remaining_args());
        for (const auto& z : r.zone_names) {
            r.zones.add(z);
            h->zones.add(z);
        }
        while (d.next_block()) {
            const std::string key = d.val();
            if (key == "match") {
                const auto args = d.remaining_args();
                if (args.empty()) throw d.arg_err();
                for (const auto& a : args) {
                    try {
                        r.regex.push_back(new_regex(a));
                    } catch (const std::invalid_argument& e) {
                        throw d.err("could not parse regex: " + a + ", " + e.what());
                    }
                }
            } else if (key == "answer" || key == "additional" || key == "authority") {
                const auto args = d.remaining_args();
                if (args.empty()) throw d.arg_err();
                auto& list = key == "answer" ? r.answer : key == "additional" ? r.additional : r.authority;
                for (const auto& a : args) {
                    try {
                        list.push_back(new_template(key, a));
                    } catch (const gotemplate::ParseError& e) {
                        // 1.12.2 ends the additional/authority texts with a newline.
                        throw d.err("could not compile template: " + d.val() + ", " + e.what() +
                                    (key == "answer" ? "" : "\n"));
                    }
                }
            } else if (key == "rcode") {
                if (!d.next_arg()) throw d.arg_err();
                const int rc = exact_rcode(d.val());
                if (rc < 0) throw d.err("unknown rcode " + d.val());
                r.rcode = rc;
            } else if (key == "ederror") {
                const auto args = d.remaining_args();
                if (args.size() != 1 && args.size() != 2) throw d.arg_err();
                uint64_t code = 0;
                const auto e = gotemplate::parse_uint(args[0], 10, 16, code);
                if (e != gotemplate::NumErr::ok)
                    throw d.err("error parsing extended DNS error code " + d.val() + ", " +
                                gotemplate::num_error("ParseUint", args[0], e, 10, 16) + "\n");
                r.ede = true;
                r.ede_code = uint16_t(code);
                if (args.size() == 2) r.ede_reason = args[1];
            } else if (key == "fallthrough") {
                const auto args = d.remaining_args();
                r.fall.on = true;
                if (!args.empty())
                    for (const auto& z : c.zones_or_block(args)) r.fall.zones.add(z);
            } else if (key == "upstream") {
                d.remaining_args();  // accepted and ignored, as 1.12.2 ("remove soon")
            } else {
                throw d.arg_err();
            }
        }
        if (r.regex.empty()) {
            r.regex.push_back(new_regex(".*"));
            r.default_regex = true;
        }
        for (const auto* list : {&r.answer, &r.additional, &r.authority})
            for (const auto& t : *list) r.needs_groups = r.needs_groups || t.t.may_use("Match") || t.t.may_use("Group");
        h->max_rrs = std::max(h->max_rrs, r.answer.size() + r.additional.size() + r.authority.size());
        h->rules.push_back(std::move(r));
    }
    static const bool exported = [] {
        auto& f = tmpl::metrics::families();
        metrics::export_families({&f.matches, &f.template_failures, &f.rr_failures});
        return true;
    }();
    (void)exported;
    c.add_plugin(h);
}

}  // namespace dnscore::plugins
