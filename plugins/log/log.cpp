#include "plugins/log/log.hpp"

#include <charconv>
#include <chrono>
#include <iterator>

#include "corefile/setup.hpp"
#include "core/log.hpp"
#include "core/metadata.hpp"

namespace dnscore::plugins {

namespace {

using Label = LogFormat::Label;

struct LabelName {
    std::string_view text;
    Label label;
};
constexpr LabelName kLabels[] = {
    {"{type}", Label::type},       {"{name}", Label::name},       {"{class}", Label::klass},
    {"{proto}", Label::proto},     {"{size}", Label::size},       {"{remote}", Label::remote},
    {"{port}", Label::port},       {"{local}", Label::local},     {"{>id}", Label::id},
    {"{>opcode}", Label::opcode},  {"{>do}", Label::do_bit},      {"{>bufsize}", Label::bufsize},
    {"{rcode}", Label::rcode},     {"{rsize}", Label::rsize},     {"{duration}", Label::duration},
    {"{>rflags}", Label::rflags},
};

int64_t steady_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

inline void put(fmt::memory_buffer& b, std::string_view s) { b.append(s.data(), s.data() + s.size()); }
template <class T>
inline void put_int(fmt::memory_buffer& b, T v) {
    char tmp[24];
    auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
    b.append(tmp, r.ptr);
}

// appendAddrToRFC3986: IPv6 in brackets.
void put_addr(fmt::memory_buffer& b, const Endpoint& ep) {
    char ip[64];
    const size_t n = ep.ip_text(ip, sizeof ip);
    const std::string_view s(ip, n);
    if (s.find(':') != std::string_view::npos) {
        b.push_back('[');
        put(b, s);
        b.push_back(']');
    } else {
        put(b, s);
    }
}

void put_flags(fmt::memory_buffer& b, uint16_t flags) {
    static constexpr struct {
        uint16_t bit;
        std::string_view name;
    } kFlags[] = {{wire::kQR, "qr"}, {wire::kAA, "aa"}, {wire::kTC, "tc"}, {wire::kRD, "rd"},
                  {wire::kRA, "ra"}, {wire::kZ, "z"},   {wire::kAD, "ad"}, {wire::kCD, "cd"}};
    bool first = true;
    for (const auto& f : kFlags) {
        if (!(flags & f.bit)) continue;
        if (!first) b.push_back(',');
        put(b, f.name);
        first = false;
    }
}

}  // namespace

// response.Classify of a Typify result.
ResponseClass classify(wire::ReplyType t) {
    switch (t) {
        case wire::ReplyType::no_error:
        case wire::ReplyType::delegation: return ResponseClass::success;
        case wire::ReplyType::name_error:
        case wire::ReplyType::no_data: return ResponseClass::denial;
        default: return ResponseClass::error;
    }
}

ResponseClass classify_reply(const uint8_t* msg, size_t len, int64_t now_unix) {
    if (msg == nullptr || len < wire::kHeaderLen) return ResponseClass::error;
    return classify(wire::ReplyView(msg, len).typify(now_unix));
}

// replacer.parseFormat: find each '}', back up to the nearest '{'.
LogFormat LogFormat::parse(std::string_view s) {
    LogFormat f;
    f.source.assign(s);
    auto literal = [&f](std::string_view t) {
        if (t.empty()) return;
        if (!f.nodes.empty() && f.nodes.back().label == Label::literal)
            f.nodes.back().text.append(t);
        else
            f.nodes.push_back({Label::literal, std::string(t)});
    };
    for (;;) {
        const size_t j = s.find('}');
        if (j == std::string_view::npos) break;
        const size_t i = s.substr(0, j).rfind('{');
        if (i == std::string_view::npos) {
            literal(s.substr(0, j + 1));
            s.remove_prefix(j + 1);
            continue;
        }
        const std::string_view val = s.substr(i, j + 1 - i);
        bool known = false;
        for (const auto& l : kLabels) {
            if (l.text == val) {
                literal(s.substr(0, i));
                f.nodes.push_back({l.label, {}});
                known = true;
                break;
            }
        }
        if (!known) {
            if (val.size() >= 3 && val[1] == '/') {
                literal(s.substr(0, i));
                f.nodes.push_back({Label::metadata, std::string(val.substr(2, val.size() - 3))});
            } else {
                literal(s.substr(0, j + 1));
            }
        }
        s.remove_prefix(j + 1);
    }
    literal(s);
    return f;
}

Log::Log(std::vector<LogRule> rules) : rules_(std::move(rules)) {
    for (const auto& r : rules_) scopes_.add_wire({r.scope_wire, r.scope_len});
}

const LogRule* Log::match(const Query& q) const {
    // CoreDNS tries the rules in order: the first whose scope holds the name.
    const size_t i = scopes_.first_match(q.info.name, q.info.name_len);
    return i == ZoneSet::npos ? nullptr : &rules_[i];
}

// data(): bit 0 = a rule matched (0: not logged), bit 1 = the reply the
// chain wrote takes the client's OPT from the finisher (see sent()), the
// rest = the steady clock at query() in ns (< 2^62: 146 years of uptime).
namespace {
constexpr uint64_t kLogged = 1, kReusedOpt = 2;
}  // namespace

Step Log::query(Query& q) {
    q.data() = match(q) ? uint64_t(steady_ns()) << 2 | kLogged : 0;
    return Step::next;
}

void Log::render(const LogFormat& f, const Query& q, const uint8_t* reply, size_t reply_len,
                 int64_t elapsed_ns, fmt::memory_buffer& b) {
    LogReply r;
    r.size = q.req_len;
    wire::ReplyView view;
    if (reply != nullptr) {
        view.parse(reply, reply_len);
        r.sent = &view;
        r.rsize = reply_len;
    }
    render(f, q, r, elapsed_ns, b);
}

void Log::render(const LogFormat& f, const Query& q, const LogReply& r, int64_t elapsed_ns,
                 fmt::memory_buffer& b) {
    const wire::ReplyView* reply = r.sent;
    char scratch[16];
    for (const auto& n : f.nodes) {
        switch (n.label) {
        case Label::literal: put(b, n.text); break;
        case Label::metadata:
            // The value a plugin published (core/metadata.hpp), "-" when none
            // did or the metadata plugin is not in the chain (replacer.EmptyValue).
            if (const auto v = metadata::find(q, n.text)) put(b, *v);
            else b.push_back('-');
            break;
        case Label::type: put(b, wire::type_name(q.info.qtype, scratch)); break;
        case Label::klass: put(b, wire::class_name(q.info.qclass, scratch)); break;
        case Label::name: {
            char name[1024];
            put(b, std::string_view(name, q.name_text(name, sizeof name)));
            break;
        }
        case Label::proto: put(b, q.tcp() ? "tcp" : "udp"); break;
        case Label::size: put_int(b, r.size); break;
        case Label::remote: put_addr(b, q.client); break;
        case Label::local: put_addr(b, q.local); break;
        case Label::port: put_int(b, q.client.port()); break;
        case Label::id: put_int(b, q.info.id); break;
        case Label::opcode: put_int(b, unsigned(q.info.opcode)); break;
        case Label::do_bit: put(b, q.info.do_bit() ? "true" : "false"); break;
        case Label::bufsize: put_int(b, q.info.udp_size(q.tcp())); break;
        case Label::rcode:
            if (reply == nullptr) {
                b.push_back('-');
            } else {
                put(b, wire::rcode_name(reply->rcode(), scratch));
            }
            break;
        case Label::rsize: put_int(b, r.rsize); break;
        case Label::duration: {
            // time.Duration.Seconds(), then strconv.FormatFloat(v, 'f', -1, 64).
            const int64_t sec = elapsed_ns / 1000000000;
            const int64_t nsec = elapsed_ns % 1000000000;
            const double v = double(sec) + double(nsec) / 1e9;
            char tmp[64];
            auto res = std::to_chars(tmp, tmp + sizeof tmp, v, std::chars_format::fixed);
            b.append(tmp, res.ptr);
            b.push_back('s');
            break;
        }
        case Label::rflags:
            if (reply == nullptr) b.push_back('-');
            else put_flags(b, wire::flags(reply->data()));
            break;
        }
    }
}

void Log::response(Query& q) {
    uint64_t& data = q.data();
    if (!(data & kLogged)) return;
    // CoreDNS's server writes through request.SizeAndDo, which attaches the
    // request's own OPT to a reply without one after dropping the options
    // it does not support from it: {size}, measured after the write, counts
    // the request with that OPT. The finisher does the same from here.
    if (q.written && q.info.edns.present && q.resp_len >= wire::kHeaderLen) {
        const wire::ReplyView& v = q.reply();  // kept for the finisher
        if (v.ok() && !v.has_opt()) data |= kReusedOpt;
    }
    // The line describes the reply as sent (TC and the records truncation
    // left, CoreDNS's recorder holds the message the server edited): it is
    // written once the finisher is done.
    after_send(q);
}

void Log::sent(Query& q, const uint8_t* msg, size_t len) {
    const uint64_t data = q.data();
    const LogRule* rule = match(q);
    if (rule == nullptr) return;
    const int64_t elapsed = steady_ns() - int64_t(data >> 2);

    LogReply r;
    r.size = q.req_len;
    if (data & kReusedOpt)
        r.size = q.req_len - q.info.edns.rr_len + wire::client_opt_len(q.req, q.info.edns);
    // Nothing written: the recorder saw no message (rcode and flags "-",
    // rsize 0); the server's rcode reply is not what CoreDNS logs.
    wire::ReplyView view;
    if (q.written && len >= wire::kHeaderLen) {
        view.parse(msg, len);
        r.sent = &view;
        r.rsize = q.resp_len;
    }

    const bool all = rule->classes[size_t(ResponseClass::all)];
    if (!all) {
        const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
        const ResponseClass c = r.sent ? classify(r.sent->typify(now)) : ResponseClass::error;
        if (!rule->classes[size_t(c)]) return;
    }

    thread_local fmt::memory_buffer buf;
    buf.clear();
    put(buf, "[INFO] ");
    render(rule->format, q, r, elapsed, buf);
    log::write_line(std::string_view(buf.data(), buf.size()));
}

namespace {

bool is_fqdn(std::string_view s) {
    if (s.empty() || s.back() != '.') return false;
    size_t bs = 0;
    for (size_t i = s.size() - 1; i-- > 0 && s[i] == '\\';) ++bs;
    return bs % 2 == 0;
}

LogRule make_rule(const std::string& scope, const std::string& format) {
    LogRule r;
    r.name_scope = is_fqdn(scope) ? scope : scope + ".";
    r.scope_len = wire::text_to_name(r.name_scope, r.scope_wire);
    for (size_t i = 0; i < r.scope_len; ++i)
        if (r.scope_wire[i] >= 'A' && r.scope_wire[i] <= 'Z') r.scope_wire[i] = uint8_t(r.scope_wire[i] + 32);
    r.format = LogFormat::parse(format);
    return r;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
    for (size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size())
        s.replace(at, from.size(), to);
}

}  // namespace

void setup_log(corefile::SetupContext& c) {
    parser::Dispenser& d = c.d;
    std::vector<LogRule> rules;
    while (d.next()) {
        auto args = d.remaining_args();
        const size_t first = rules.size();
        if (args.empty()) {
            rules.push_back(make_rule(".", std::string(kCommonLogFormat)));
        } else if (args.size() == 1) {
            rules.push_back(make_rule(args[0], std::string(kCommonLogFormat)));
        } else {
            std::string format(kCommonLogFormat);
            if (args.back().find('{') != std::string::npos) {
                format = args.back();
                replace_all(format, "{common}", kCommonLogFormat);
                replace_all(format, "{combined}", kCombinedLogFormat);
                args.pop_back();
            }
            for (const auto& a : args) rules.push_back(make_rule(a, format));
        }

        bool classes[4] = {false, false, false, false};
        bool any = false;
        while (d.next_block()) {
            if (d.val() != "class") throw d.err("unknown property '" + d.val() + "'");
            const auto names = d.remaining_args();
            if (names.empty()) throw d.arg_err();
            for (const auto& n : names) {
                ResponseClass cls;
                if (n == "all") cls = ResponseClass::all;
                else if (n == "success") cls = ResponseClass::success;
                else if (n == "denial") cls = ResponseClass::denial;
                else if (n == "error") cls = ResponseClass::error;
                else throw parser::ConfigError("invalid Class: " + n);
                classes[size_t(cls)] = true;
                any = true;
            }
        }
        if (!any) classes[size_t(ResponseClass::all)] = true;
        for (size_t i = first; i < rules.size(); ++i)
            for (size_t k = 0; k < 4; ++k) rules[i].classes[k] = classes[k];
    }
    c.add_plugin(std::make_shared<Log>(std::move(rules)));
}

}  // namespace dnscore::plugins
