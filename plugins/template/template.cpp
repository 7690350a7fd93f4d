#include "plugins/template/template.hpp"

#include <cstring>

#include "core/config.hpp"
#include "core/host.hpp"
#include "core/metadata.hpp"
#include "core/upstream.hpp"
#include "core/wire/writer.hpp"
#include "plugins/template/metrics.hpp"
#include "plugins/template/rr_text.hpp"

namespace dnscore::plugins::tmpl {

using gotemplate::Object;
using gotemplate::Value;

metrics::Families& metrics::families() {
    static Families* f = new Families;  // process lifetime, as CoreDNS's globals
    return *f;
}

namespace {

constexpr size_t kRdataBytes = 64 * 1024;
constexpr size_t kMaxSub = 32;

// miekg's TypeToString / ClassToString map lookups ("" when absent).
std::string_view type_string(uint16_t t, char (&scratch)[16]) {
    const std::string_view s = wire::type_name(t, scratch);
    if (s.starts_with("TYPE") && s.size() > 4 && s[4] >= '0' && s[4] <= '9') return {};
    return s;
}
std::string_view class_string(uint16_t c, char (&scratch)[16]) {
    if (c == 255) return "ANY";
    const std::string_view s = wire::class_name(c, scratch);
    if (s.starts_with("CLASS")) return {};
    return s;
}

// ---- the data a template sees (CoreDNS templateData) ----

class MatchList final : public Object {
public:
    const std::string_view* sub = nullptr;
    size_t n = 0;
    Shape shape() const override { return Shape::list; }
    const char* type_name() const override { return "[]string"; }
    size_t size() const override { return n; }
    Value at(size_t i) const override { return Value::string(sub[i]); }
};

class GroupMap final : public Object {
public:
    const MatchRegex* re = nullptr;
    const std::string_view* sub = nullptr;
    Shape shape() const override { return Shape::map; }
    const char* type_name() const override { return "map[string]string"; }
    size_t size() const override { return re ? re->group_keys.size() : 0; }
    Value key(size_t i) const override { return Value::string(re->group_keys[i].first); }
    Value at(size_t i) const override { return Value::string(sub[re->group_keys[i].second]); }
    bool get(std::string_view k, Value& out) const override {
        if (!re) return false;
        for (const auto& [key, idx] : re->group_keys)
            if (key == k) {
                out = Value::string(sub[idx]);
                return true;
            }
        return false;
    }
};

class QuestionObj final : public Object {
public:
    std::string_view name;  // as the client wrote it
    uint16_t qtype = 0, qclass = 0;
    Shape shape() const override { return Shape::record; }
    const char* type_name() const override { return "*dns.Question"; }
    bool field(std::string_view f, Value& out) const override {
        if (f == "Name") out = Value::string(name);
        else if (f == "Qtype") out = Value::uinteger(qtype, "uint16");
        else if (f == "Qclass") out = Value::uinteger(qclass, "uint16");
        else return false;
        return true;
    }
    void format(gotemplate::Sink& out) const override {
        // miekg Question.String()
        char a[16], b[16];
        out.put(';');
        out.put(name);
        out.put('\t');
        out.put(wire::class_name(qclass, a));
        out.put("\t ");
        out.put(wire::type_name(qtype, b));
    }
};

class QuestionList final : public Object {
public:
    const QuestionObj* q = nullptr;
    Shape shape() const override { return Shape::list; }
    const char* type_name() const override { return "[]dns.Question"; }
    size_t size() const override { return q ? 1 : 0; }
    Value at(size_t) const override { return Value::object(q); }
};

class EmptyRRs final : public Object {
public:
    size_t n = 0;  // records the request carries in the section (not exposed one by one)
    Shape shape() const override { return Shape::list; }
    const char* type_name() const override { return "[]dns.RR"; }
    size_t size() const override { return n; }
    Value at(size_t) const override { return Value::nil(); }
};

class MessageObj final : public Object {
public:
    const Query* q = nullptr;
    QuestionList question;
    EmptyRRs answer, ns, extra;
    Shape shape() const override { return Shape::record; }
    const char* type_name() const override { return "*dns.Msg"; }
    bool field(std::string_view f, Value& out) const override {
        const uint16_t fl = q->info.flags;
        if (f == "Id") out = Value::uinteger(q->info.id, "uint16");
        else if (f == "Response") out = Value::boolean(fl & wire::kQR);
        else if (f == "Opcode") out = Value::integer(q->info.opcode);
        else if (f == "Authoritative") out = Value::boolean(fl & wire::kAA);
        else if (f == "Truncated") out = Value::boolean(fl & wire::kTC);
        else if (f == "RecursionDesired") out = Value::boolean(fl & wire::kRD);
        else if (f == "RecursionAvailable") out = Value::boolean(fl & wire::kRA);
        else if (f == "Zero") out = Value::boolean(fl & 0x0040);
        else if (f == "AuthenticatedData") out = Value::boolean(fl & wire::kAD);
        else if (f == "CheckingDisabled") out = Value::boolean(fl & wire::kCD);
        else if (f == "Rcode") out = Value::integer(fl & 0xf);
        else if (f == "Compress") out = Value::boolean(false);
        else if (f == "MsgHdr") out = Value::object(this);
        else if (f == "Question") out = Value::object(&question);
        else if (f == "Answer") out = Value::object(&answer);
        else if (f == "Ns") out = Value::object(&ns);
        else if (f == "Extra") out = Value::object(&extra);
        else return false;
        return true;
    }
    void format(gotemplate::Sink& out) const override {
        // miekg Msg.String(): header, flags, counts and the question.
        static const char* ops[] = {"QUERY", "IQUERY", "STATUS", "", "NOTIFY", "UPDATE"};
        char scratch[16];
        const uint16_t fl = q->info.flags;
        out.put(";; opcode: ");
        out.put(q->info.opcode < 6 ? ops[q->info.opcode] : "");
        out.put(", status: ");
        out.put(wire::rcode_name(fl & 0xf, scratch));
        out.put(", id: ");
        out.put(std::to_string(q->info.id));
        out.put("\n;; flags:");
        if (fl & wire::kQR) out.put(" qr");
        if (fl & wire::kAA) out.put(" aa");
        if (fl & wire::kTC) out.put(" tc");
        if (fl & wire::kRD) out.put(" rd");
        if (fl & wire::kRA) out.put(" ra");
        if (fl & 0x0040) out.put(" z");
        if (fl & wire::kAD) out.put(" ad");
        if (fl & wire::kCD) out.put(" cd");
        out.put("; QUERY: " + std::to_string(question.size()) + ", ANSWER: " + std::to_string(answer.n) +
                ", AUTHORITY: " + std::to_string(ns.n) + ", ADDITIONAL: " + std::to_string(extra.n) + "\n");
        if (question.q) {
            out.put("\n;; QUESTION SECTION:\n");
            question.q->format(out);
            out.put('\n');
        }
    }
};

class DataObj final : public Object {
public:
    const Query* q = nullptr;
    std::string_view zone, name, regex, klass, type, remote;
    MatchList match;
    GroupMap group;
    MessageObj message;
    QuestionObj question;
    Shape shape() const override { return Shape::record; }
    const char* type_name() const override { return "*template.templateData"; }
    bool field(std::string_view f, Value& out) const override {
        if (f == "Zone") out = Value::string(zone);
        else if (f == "Name") out = Value::string(name);
        else if (f == "Regex") out = Value::string(regex);
        else if (f == "Match") out = Value::object(&match);
        else if (f == "Group") out = Value::object(&group);
        else if (f == "Class") out = Value::string(klass);
        else if (f == "Type") out = Value::string(type);
        else if (f == "Message") out = Value::object(&message);
        else if (f == "Question") out = Value::object(&question);
        else if (f == "Remote") out = Value::string(remote);
        else return false;
        return true;
    }
    int method_arity(std::string_view m) const override { return m == "Meta" ? 1 : -1; }
    bool call(std::string_view, const Value* a, size_t, Value& out, gotemplate::Exec& ex) const override {
        std::string& v = ex.scratch();
        v.clear();
        if (!metadata::value(*q, a[0].s, v)) v.clear();
        out = Value::string(ex.store(v));
        return true;
    }
    void format(gotemplate::Sink& out) const override {
        out.put("&{");
        out.put(zone);
        out.put(' ');
        out.put(name);
        out.put(' ');
        out.put(regex);
        out.put('}');
    }
};

}  // namespace

struct RRRec {
    uint8_t owner[wire::kMaxNameLen];
    size_t owner_len = 0;
    uint16_t type = 0, klass = 0;
    uint32_t ttl = 0;
    size_t off = 0, len = 0;  // rdata in Rendered::bytes
    int after = -1;           // upstream records: the answer they follow
};

struct Template::Rendered {
    const Rule* rule = nullptr;
    std::vector<RRRec> answer, additional, authority, upstream;
    std::vector<uint8_t> bytes;
    size_t bytes_len = 0;
    std::vector<size_t> cnames;  // answers that are CNAMEs to look up
    bool truncated = false;

    void clear() {
        answer.clear();
        additional.clear();
        authority.clear();
        upstream.clear();
        cnames.clear();
        bytes_len = 0;
        truncated = false;
        rule = nullptr;
    }
    void reserve(size_t rrs) {
        answer.reserve(rrs);
        additional.reserve(rrs);
        authority.reserve(rrs);
        cnames.reserve(rrs);
        bytes.resize(kRdataBytes);
    }
};

struct Template::Scratch {
    gotemplate::Exec ex;
    Rendered r;
    std::string err;
    Scratch(size_t max_rrs) {
        r.reserve(max_rrs);
        err.reserve(256);
    }
};

Template::Template() { metrics::families(); }
Template::~Template() = default;

namespace {

int intern(metrics::LabelSet& set, std::initializer_list<std::string_view> v) {
    const int i = set.find(v);
    return i != metrics::kOverflow ? i : set.intern(v);
}

// Copies an upstream reply's answer records (names expanded) after answer `after`.
void append_upstream(Template::Rendered& r, const OwnedQuery& sub, int after) {
    if (!sub.written) return;
    const uint8_t* m = sub.resp;
    const size_t len = sub.resp_len;
    r.truncated = wire::flags(m) & wire::kTC;
    wire::for_each_rr(m, len, [&](const wire::RR& rr) {
        if (rr.section != 1) return rr.section < 1;
        RRRec rec;
        if (!wire::read_name(m, len, rr.off, rec.owner, &rec.owner_len, false)) return false;
        rec.type = rr.type;
        rec.klass = rr.klass;
        rec.ttl = rr.ttl;
        rec.after = after;
        uint8_t buf[2 + wire::kMaxNameLen];
        const uint8_t* rd = m + rr.rdata();
        size_t rdlen = rr.rdlen;
        size_t pre = 0;
        if (rr.type == wire::kTypeMX) pre = 2;
        if (rr.type == wire::kTypeCNAME || rr.type == 39 || rr.type == wire::kTypeNS || rr.type == wire::kTypePTR ||
            rr.type == wire::kTypeMX) {
            size_t nl = 0;
            std::memcpy(buf, rd, pre);
            if (!wire::read_name(m, len, rr.rdata() + pre, buf + pre, &nl, false)) return false;
            rd = buf;
            rdlen = pre + nl;
        }
        if (rdlen > r.bytes.size() - r.bytes_len) return false;
        std::memcpy(r.bytes.data() + r.bytes_len, rd, rdlen);
        rec.off = r.bytes_len;
        rec.len = rdlen;
        r.bytes_len += rdlen;
        r.upstream.push_back(rec);
        return true;
    });
}

size_t write_reply(Query& q, const Template::Rendered& r) {
    using namespace wire;
    const Rule& rule = *r.rule;
    Writer w(q.resp, q.resp_cap);
    // CoreDNS sends these replies through miekg uncompressed (they are small).
    w.set_compression(false);
    w.reply_header(q.req, q.info, uint8_t(rule.rcode & 0xf), q.info.has_question, false);
    uint16_t fl = uint16_t(flags(q.resp) | kAA);
    if (r.truncated) fl |= kTC;
    w.set_flags(fl);
    auto put = [&](const RRRec& rec) {
        w.rr(rec.owner, rec.owner_len, rec.type, rec.klass, rec.ttl, r.bytes.data() + rec.off, rec.len);
    };
    w.section(Section::answer);
    for (size_t i = 0; i < r.answer.size(); ++i) {
        put(r.answer[i]);
        for (const auto& u : r.upstream)
            if (u.after == int(i)) put(u);
    }
    w.section(Section::authority);
    for (const auto& rec : r.authority) put(rec);
    w.section(Section::additional);
    for (const auto& rec : r.additional) put(rec);
    if (rule.ede || rule.rcode > 15) {
        // msg.SetEdns0(4096, true) and the EDE option.
        w.opt(4096, uint8_t(rule.rcode >> 4), 0, true);
        if (rule.ede) w.ede(rule.ede_code, rule.ede_reason);
    }
    return w.finish();
}

}  // namespace

Step Template::run(Query& q, Scratch& s, Rendered& out, bool first_run) {
    const uint8_t* name = q.info.name;
    const size_t nlen = q.info.name_len;
    if (!q.info.has_question || zones.matches(name, nlen) == ZoneSet::npos) return Step::next;
    char name_text[1024];
    const std::string_view qname(name_text, q.name_text(name_text, sizeof name_text));
    for (const Rule& r : rules) {
        const size_t zi = r.zones.matches(name, nlen);
        if (zi == ZoneSet::npos) continue;
        if (r.qclass != 255 && q.info.qclass != 255 && q.info.qclass != r.qclass) continue;
        if (r.qtype != 255 && q.info.qtype != 255 && q.info.qtype != r.qtype) continue;
        std::string_view sub[kMaxSub];
        size_t nsub = 1;
        const MatchRegex* hit = nullptr;
        if (r.default_regex) {
            sub[0] = qname;  // `.*` matches the whole name (names hold no newline)
            hit = &r.regex[0];
        } else {
            for (const auto& re : r.regex) {
                if (!r.needs_groups) {
                    if (re.re.search(qname)) {
                        hit = &re;
                        break;
                    }
                    continue;
                }
                nsub = std::min(kMaxSub, size_t(re.groups) + 1);
                if (re.re.find_submatch(qname, sub, nsub)) {
                    hit = &re;
                    break;
                }
            }
        }
        if (!hit) {
            if (!r.fall.through(name, nlen)) {
                q.fail(wire::kServFail, "", this->name());
                return Step::done;
            }
            continue;
        }

        char cs[16], ts[16];
        const std::string_view klass = class_string(q.info.qclass != 255 ? q.info.qclass : r.qclass, cs);
        const std::string_view type = type_string(q.info.qtype != 255 ? q.info.qtype : r.qtype, ts);
        const std::string_view server = q.site ? std::string_view(q.site->server) : std::string_view();
        const std::string_view zone = r.zone_names[zi];
        auto& fam = metrics::families();
        const int worker = q.worker ? q.worker->index() : -1;
        if (first_run) fam.matches.inc(worker, {intern(fam.match, {server, zone, "", klass, type})});
        if (r.rcode == wire::kServFail) {
            q.fail(wire::kServFail, "", this->name());
            return Step::done;
        }

        // The data.
        char remote[64];
        DataObj d;
        d.q = &q;
        d.zone = zone;
        d.name = qname;
        d.regex = hit->re.pattern();
        d.klass = klass;
        d.type = type;
        d.remote = std::string_view(remote, q.client.ip_text(remote, sizeof remote));
        d.match.sub = sub;
        d.match.n = nsub;
        d.group.re = r.needs_groups || r.default_regex ? hit : nullptr;
        d.group.sub = sub;
        char qn[1024];
        uint8_t wire_name[wire::kMaxNameLen];
        size_t wl = 0;
        wire::read_name(q.req, q.req_len, q.info.qname_off, wire_name, &wl, false);
        d.question.name = std::string_view(qn, wire::name_to_text(wire_name, wl, qn, sizeof qn));
        d.question.qtype = q.info.qtype;
        d.question.qclass = q.info.qclass;
        d.message.q = &q;
        d.message.question.q = &d.question;
        d.message.answer.n = wire::ancount(q.req);
        d.message.ns.n = wire::nscount(q.req);
        d.message.extra.n = wire::arcount(q.req);
        const Value dot = Value::object(&d);

        out.clear();
        out.rule = &r;
        const std::pair<const std::vector<RRTemplate>*, std::vector<RRRec>*> sections[] = {
            {&r.answer, &out.answer}, {&r.additional, &out.additional}, {&r.authority, &out.authority}};
        static constexpr const char* kSection[] = {"answer", "additional", "authority"};
        for (size_t si = 0; si < 3; ++si) {
            for (const RRTemplate& t : *sections[si].first) {
                if (!t.t.execute(dot, s.ex)) {
                    if (first_run)
                        fam.template_failures.inc(
                            worker, {intern(fam.failure, {server, zone, "", klass, type, kSection[si], t.label})});
                    q.fail(wire::kServFail, s.ex.error(), this->name());
                    return Step::done;
                }
                TextRR rr;
                rr.rdata = out.bytes.data() + out.bytes_len;
                rr.rdata_cap = out.bytes.size() - out.bytes_len;
                const RRParse p = parse_rr(s.ex.output(), rr, s.err);
                if (p == RRParse::error) {
                    if (first_run)
                        fam.rr_failures.inc(
                            worker, {intern(fam.rr_failure, {server, zone, "", klass, type, kSection[si], t.label})});
                    q.fail(wire::kServFail, s.err, this->name());
                    return Step::done;
                }
                if (p == RRParse::empty) continue;  // miekg's NewRR gives nil: nothing to add
                RRRec rec;
                std::memcpy(rec.owner, rr.owner, rr.owner_len);
                rec.owner_len = rr.owner_len;
                rec.type = rr.type;
                rec.klass = rr.klass;
                rec.ttl = rr.ttl;
                rec.off = out.bytes_len;
                rec.len = rr.rdlen;
                out.bytes_len += rr.rdlen;
                if (si == 0 && rr.type == wire::kTypeCNAME && rr.rdlen > 0 &&
                    (q.info.qtype == wire::kTypeA || q.info.qtype == wire::kTypeAAAA))
                    out.cnames.push_back(out.answer.size());
                sections[si].second->push_back(rec);
            }
        }
        if (!out.cnames.empty() && first_run) return Step::async;  // upstream lookups
        return Step::done;
    }
    return Step::next;
}

Step Template::query(Query& q) {
    Scratch& s = scratch_.get(q.worker ? q.worker->index() : 0, max_rrs);
    const Step st = run(q, s, s.r, true);
    if (st != Step::done || !s.r.rule || q.rcode != 0 || !q.error.empty()) return st;
    if (q.written) return st;
    const size_t len = write_reply(q, s.r);
    if (len == 0) {
        q.fail(wire::kServFail, "plugin/template: reply does not fit", name());
        return Step::done;
    }
    q.set_written(len, name());
    return Step::done;
}

namespace {
struct Lookups {
    std::unique_ptr<OwnedQuery> q;
    Template::Rendered r;
    size_t next = 0;
};

void lookup_next(const std::shared_ptr<Lookups>& job) {
    if (job->next == job->r.cnames.size()) {
        OwnedQuery& q = *job->q;
        const size_t len = write_reply(q, job->r);
        if (len == 0) q.fail(wire::kServFail, "plugin/template: reply does not fit", "template");
        else q.set_written(len, "template");
        resume(std::move(job->q), Step::done);
        return;
    }
    const size_t idx = job->r.cnames[job->next];
    const RRRec& cname = job->r.answer[idx];
    const uint8_t* target = job->r.bytes.data() + cname.off;
    const OwnedQuery& q = *job->q;
    upstream_lookup(q, target, cname.len, q.info.qtype, [job, idx](OwnedQuery& sub) {
        append_upstream(job->r, sub, int(idx));
        ++job->next;
        lookup_next(job);
    });
}
}  // namespace

void Template::query_async(std::unique_ptr<OwnedQuery> q) {
    // Run again on the exchange's own copy: the worker's scratch is reused
    // by other queries while the lookups run.
    auto job = std::make_shared<Lookups>();
    job->r.reserve(max_rrs);
    Scratch& s = scratch_.get(q->worker ? q->worker->index() : 0, max_rrs);
    const Step st = run(*q, s, job->r, false);
    job->q = std::move(q);
    if (st != Step::done || !job->r.rule || !job->q->error.empty() || job->q->rcode != 0) {
        resume(std::move(job->q), st == Step::next ? Step::next : Step::done);
        return;
    }
    job->r.upstream.reserve(64);
    lookup_next(job);
}

}  // namespace dnscore::plugins::tmpl
