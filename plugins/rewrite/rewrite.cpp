// The rewrite plugin's query and response paths. Names are matched as
// CoreDNS matches them (presentation text, lower case, in stack buffers);
// the request is rebuilt into a per-thread buffer (or the async copy's own)
// and the reply is rebuilt in place with wire::Writer. The per-exchange state
// (the original question, which rules fired, `answer auto` mappings) lives in
// a block from a per-thread free list that q.data() points to.
#include "plugins/rewrite/rewrite.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/log.hpp"
#include "core/metadata.hpp"
#include "core/upstream.hpp"
#include "core/wire/writer.hpp"

namespace dnscore::plugins::rewrite {

namespace {

constexpr size_t kText = 1100;       // a name's presentation text (\DDD escapes included)
constexpr size_t kMaxRemaps = 8;     // `answer auto` mappings recorded per exchange
constexpr size_t kMaxRevertData = 256;
constexpr size_t kMaxEdnsReverts = 4;

struct Text {
    char s[kText];
    size_t n = 0;
    std::string_view view() const { return {s, n}; }
    bool set(std::string_view v) {
        if (v.size() > kText) return false;
        std::memcpy(s, v.data(), v.size());
        n = v.size();
        return true;
    }
};

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) { return s.size() >= p.size() && s.substr(s.size() - p.size()) == p; }

// out = a + b (false when it does not fit).
bool concat(Text& out, std::string_view a, std::string_view b) {
    if (a.size() + b.size() > kText) return false;
    std::memmove(out.s, a.data(), a.size());
    std::memcpy(out.s + a.size(), b.data(), b.size());
    out.n = a.size() + b.size();
    return true;
}

// strings.ReplaceAll (from non-empty) into out (not aliasing src).
bool replace_all(Text& out, std::string_view src, std::string_view from, std::string_view to) {
    size_t n = 0, i = 0;
    while (i <= src.size()) {
        const size_t p = from.empty() ? std::string_view::npos : src.find(from, i);
        const size_t stop = p == std::string_view::npos ? src.size() : p;
        if (n + (stop - i) > kText) return false;
        std::memcpy(out.s + n, src.data() + i, stop - i);
        n += stop - i;
        if (p == std::string_view::npos) break;
        if (n + to.size() > kText) return false;
        std::memcpy(out.s + n, to.data(), to.size());
        n += to.size();
        i = p + from.size();
    }
    out.n = n;
    return true;
}

// Go's FindStringSubmatch + the {N} substitution loop of name.go.
// Returns false when the pattern does not match (or the result overflows).
bool regex_expand(const Regex& re, std::string_view src, std::string_view replacement, Text& out) {
    constexpr int kGroups = 101;
    std::string_view groups[kGroups];
    const int n = std::min(kGroups, re.num_subexp() + 1);
    if (!re.submatch(src, groups, n)) return false;
    Text a, b;
    if (!a.set(replacement)) return false;
    Text* cur = &a;
    Text* other = &b;
    for (int i = 0; i < n; ++i) {
        char key[8];
        const int kl = std::snprintf(key, sizeof key, "{%d}", i);
        if (!replace_all(*other, cur->view(), std::string_view(key, size_t(kl)), groups[i])) return false;
        std::swap(cur, other);
    }
    return out.set(cur->view());
}

void lower_into(Text& out, std::string_view s) {
    out.n = s.size();
    for (size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        out.s[i] = c >= 'A' && c <= 'Z' ? char(c + 32) : c;
    }
}

bool name_matches(const Rule& r, std::string_view low) {
    switch (r.match) {
    case Match::exact: return low == r.from;
    case Match::prefix: return starts_with(low, r.from);
    case Match::suffix: return ends_with(low, r.from);
    case Match::substring: return low.find(r.from) != std::string_view::npos;
    case Match::regex: {
        std::string_view g[1];
        return r.re.submatch(low, g, 1);
    }
    }
    return false;
}

// The name rules' request rewrite; false when the rule does not fire.
bool rewrite_name(const Rule& r, std::string_view low, Text& out, bool& overflow) {
    overflow = false;
    switch (r.match) {
    case Match::exact:
        if (low != r.from) return false;
        overflow = !out.set(r.to);
        return true;
    case Match::prefix:
        if (!starts_with(low, r.from)) return false;
        overflow = !concat(out, r.to, low.substr(r.from.size()));
        return true;
    case Match::suffix:
        if (!ends_with(low, r.from)) return false;
        overflow = !concat(out, low.substr(0, low.size() - r.from.size()), r.to);
        return true;
    case Match::substring:
        if (low.find(r.from) == std::string_view::npos) return false;
        overflow = !replace_all(out, low, r.from, r.to);
        return true;
    case Match::regex: {
        std::string_view g[1];
        if (!r.re.submatch(low, g, 1)) return false;
        overflow = !regex_expand(r.re, low, r.to, out);
        return true;
    }
    }
    return false;
}

// miekg's option codes that do not parse as EDNS0_LOCAL (a `local` rule
// matches only options that do).
bool miekg_known_option(uint16_t code) {
    switch (code) {
    case 1: case 2: case 3: case 5: case 6: case 7: case 8: case 9: case 10: case 11: case 12: case 15:
        return true;
    default:
        return false;
    }
}

// Per-thread buffers: two for rebuilt requests (a request rebuilt again is
// read from one and written to the other), one for a reply being reverted,
// one for EDNS0 options being edited.
struct Scratch {
    uint8_t req[2][wire::kMaxMessage];
    uint8_t resp[wire::kMaxMessage];
    uint8_t opt[wire::kMaxMessage];
    uint8_t rdata[wire::kMaxMessage];  // one record's RDATA, names uncompressed
};
Scratch& scratch() {
    thread_local std::unique_ptr<Scratch> s(new Scratch);
    return *s;
}

// The OPT record's options as edited by the edns0 rules.
struct OptEdit {
    bool touched = false;  // an OPT was set up (setupEdns0Opt), edits may follow
    uint16_t udp = 4096;
    uint32_t ttl = 0;
    uint8_t* p = nullptr;
    size_t len = 0;

    void load(const Query& q) {
        touched = true;
        p = scratch().opt;
        len = 0;
        if (q.info.edns.present) {
            const uint8_t* rd = q.req + q.info.edns.rdata_off;
            udp = wire::rd16(rd - 8);
            ttl = wire::rd32(rd - 6);
            len = q.info.edns.rdata_len;
            std::memcpy(p, rd, len);
        }
    }
    // Offset of the first option with `code` that a rule of `kind` matches, or npos.
    size_t find(uint16_t code, bool local) const {
        for (size_t off = 0; off + 4 <= len;) {
            const uint16_t c = wire::rd16(p + off), l = wire::rd16(p + off + 2);
            if (off + 4 + l > len) break;
            if (c == code && !(local && miekg_known_option(c))) return off;
            off += 4 + l;
        }
        return std::string_view::npos;
    }
    uint16_t data_len(size_t off) const { return wire::rd16(p + off + 2); }
    bool replace(size_t off, const uint8_t* d, size_t n) {
        const size_t old = data_len(off);
        if (len - old + n > 60000 || n > 0xffff) return false;
        const size_t tail = off + 4 + old;
        std::memmove(p + off + 4 + n, p + tail, len - tail);
        if (n) std::memmove(p + off + 4, d, n);
        wire::wr16(p + off + 2, uint16_t(n));
        len = len - old + n;
        return true;
    }
    bool append(uint16_t code, const uint8_t* d, size_t n) {
        if (len + 4 + n > 60000) return false;
        wire::wr16(p + len, code);
        wire::wr16(p + len + 2, uint16_t(n));
        if (n) std::memcpy(p + len + 4, d, n);
        len += 4 + n;
        return true;
    }
    void remove(size_t off) {
        const size_t tail = off + 4 + data_len(off);
        std::memmove(p + off, p + tail, len - tail);
        len -= tail - off;
    }
};

// Writes q's request with the question replaced (and the OPT rebuilt from
// `opt` when touched) into out[0..cap); returns its length (0 if it does
// not fit or the request does not parse).
size_t build_request(const Query& q, const uint8_t* name, size_t nlen, uint16_t type, uint16_t klass,
                     const OptEdit& opt, uint8_t* out, size_t cap) {
    const uint8_t* req = q.req;
    const size_t len = q.req_len;
    const size_t qend = q.info.question_end;
    if (qend > len || wire::kHeaderLen + nlen + 4 > cap) return 0;
    std::memcpy(out, req, wire::kHeaderLen);
    wire::wr16(out + 4, 1);
    size_t off = wire::kHeaderLen;
    std::memcpy(out + off, name, nlen);
    off += nlen;
    wire::wr16(out + off, type);
    wire::wr16(out + off + 2, klass);
    off += 4;
    if (!opt.touched) {
        if (off + (len - qend) > cap) return 0;
        std::memcpy(out + off, req + qend, len - qend);
        return off + (len - qend);
    }
    // Every record but the OPT as it is, then the OPT with the edited options.
    bool ok = true;
    const bool had = q.info.edns.present;
    const size_t skip_from = had ? q.info.edns.rr_off : len;
    const size_t skip_to = had ? size_t(q.info.edns.rr_off) + q.info.edns.rr_len : len;
    if (skip_from < qend || skip_to > len) return 0;
    const size_t before = skip_from - qend, after = len - skip_to;
    if (off + before + after + 11 + opt.len > cap) return 0;
    std::memcpy(out + off, req + qend, before);
    off += before;
    std::memcpy(out + off, req + skip_to, after);
    off += after;
    out[off] = 0;
    wire::wr16(out + off + 1, wire::kTypeOPT);
    wire::wr16(out + off + 3, opt.udp);
    wire::wr32(out + off + 5, opt.ttl);
    wire::wr16(out + off + 9, uint16_t(opt.len));
    std::memcpy(out + off + 11, opt.p, opt.len);
    off += 11 + opt.len;
    if (!had) wire::wr16(out + 10, uint16_t(wire::arcount(out) + 1));
    return ok ? off : 0;
}

// Puts a rebuilt request into q: a synchronous exchange's request moves to
// a per-thread buffer (the one it is not in already); an async copy's own
// buffer is replaced.
bool commit_request(Query& q, const uint8_t* name, size_t nlen, uint16_t type, uint16_t klass, const OptEdit& opt) {
    Scratch& sc = scratch();
    uint8_t* dst = q.req == sc.req[0] ? sc.req[1] : sc.req[0];
    const size_t n = build_request(q, name, nlen, type, klass, opt, dst, wire::kMaxMessage);
    if (n == 0) return false;
    if (q.owned) {
        auto& oq = static_cast<OwnedQuery&>(q);
        oq.req_store.reset(new uint8_t[n]);
        std::memcpy(oq.req_store.get(), dst, n);
        q.req = oq.req_store.get();
    } else {
        q.req = dst;
    }
    q.req_len = n;
    wire::parse_query(q.req, q.req_len, q.info);
    return true;
}

// RDATA layouts with embedded names: digits are fixed bytes, n a name, v
// the name reverter.go rewrites as the record's value, s a character-string.
const char* rdata_layout(uint16_t type) {
    switch (type) {
    case 2: case 5: case 12: case 39: return "v";   // NS CNAME PTR DNAME
    case 3: case 4: case 7: case 8: case 9: return "n";  // MD MF MB MG MR
    case 6: return "vn";                                  // SOA: MNAME is the value
    case 14: case 17: return "nn";                        // MINFO RP
    case 15: return "2v";                                 // MX
    case 18: case 21: case 36: return "2n";               // AFSDB RT KX
    case 26: return "2nn";                                // PX
    case 33: return "6v";                                 // SRV
    case 35: return "4sssv";                              // NAPTR
    default: return "";
    }
}

// RR's RDATA with its names uncompressed into out; the value name's place in
// voff/vlen (vlen 0: none). Returns the length, or SIZE_MAX when malformed.
size_t expand_rdata(const uint8_t* msg, size_t len, const wire::RR& rr, uint8_t* out, size_t cap, size_t& voff,
                    size_t& vlen) {
    voff = vlen = 0;
    size_t pos = rr.rdata(), n = 0;
    for (const char* l = rdata_layout(rr.type); *l; ++l) {
        if (*l >= '0' && *l <= '9') {
            const size_t k = size_t(*l - '0');
            if (pos + k > rr.end || n + k > cap) return SIZE_MAX;
            std::memcpy(out + n, msg + pos, k);
            pos += k;
            n += k;
        } else if (*l == 's') {
            if (pos >= rr.end) return SIZE_MAX;
            const size_t k = 1 + msg[pos];
            if (pos + k > rr.end || n + k > cap) return SIZE_MAX;
            std::memcpy(out + n, msg + pos, k);
            pos += k;
            n += k;
        } else {
            if (n + wire::kMaxNameLen > cap) return SIZE_MAX;
            size_t nl = 0;
            const size_t next = wire::read_name(msg, len, pos, out + n, &nl);
            if (next == 0 || next > rr.end) return SIZE_MAX;
            if (*l == 'v') {
                voff = n;
                vlen = nl;
            }
            pos = next;
            n += nl;
        }
    }
    if (pos > rr.end || n + (rr.end - pos) > cap) return SIZE_MAX;
    std::memcpy(out + n, msg + pos, rr.end - pos);
    return n + (rr.end - pos);
}

}  // namespace

struct Rewrite::State {
    uint8_t orig_name[wire::kMaxNameLen];
    uint8_t orig_len = 0;
    uint16_t orig_type = 0, orig_class = 0;
    uint64_t fired = 0;
    bool question_changed = false;
    bool stopped = false;
    bool has_resp = false;
    struct Remap {
        uint8_t rule;
        uint8_t from_len, to_len;   // wire lengths
        uint8_t from[wire::kMaxNameLen];  // the name as rewritten
        uint8_t to[wire::kMaxNameLen];    // the name before (lower case)
    };
    Remap remaps[kMaxRemaps];
    uint8_t n_remaps = 0;
    struct EdnsRevert {
        uint8_t rule;
        bool restore;  // edns0ReplaceResponseRule (else edns0SetResponseRule: remove)
        uint16_t code;
        uint16_t len;
        uint8_t data[kMaxRevertData];
    };
    EdnsRevert edns[kMaxEdnsReverts];
    uint8_t n_edns = 0;

    void reset() {
        orig_len = 0;
        fired = 0;
        question_changed = stopped = has_resp = false;
        n_remaps = n_edns = 0;
    }
    const Remap* remap_of(size_t rule) const {
        for (uint8_t i = 0; i < n_remaps; ++i)
            if (remaps[i].rule == rule) return &remaps[i];
        return nullptr;
    }
};

namespace {
// Free state blocks of this thread; a block is taken in query() and given
// back in response() (the exchange's hooks run on the thread that began it).
struct StatePool {
    static constexpr size_t kKeep = 256;
    std::vector<void*> free;
    StatePool() { free.reserve(kKeep); }
    ~StatePool() {
        for (void* p : free) ::operator delete(p);
    }
};
thread_local StatePool t_states;
}  // namespace

namespace {
template <class S>
S* take_state() {
    void* p;
    if (!t_states.free.empty()) {
        p = t_states.free.back();
        t_states.free.pop_back();
    } else {
        p = ::operator new(sizeof(S));
    }
    S* s = new (p) S;
    s->reset();
    return s;
}
template <class S>
void give_state(S* s) {
    s->~S();
    if (t_states.free.size() < StatePool::kKeep) t_states.free.push_back(s);
    else ::operator delete(s);
}
}  // namespace

Rewrite::Rewrite(std::vector<Rule> rules) : rules_(std::move(rules)) {
    for (const auto& r : rules_)
        if (r.kind == Kind::cname) has_cname_ = true;
}

Step Rewrite::query(Query& q) {
    if (!q.info.has_question || q.info.question_end > q.req_len || rules_.empty()) return Step::next;

    // The question as it stands: text with the client's case (QName), the
    // lower-case text rules match (Name), type and class.
    uint8_t wire_name[wire::kMaxNameLen];
    size_t wire_len = 0;
    if (wire::read_name(q.req, q.req_len, q.info.qname_off, wire_name, &wire_len) == 0) return Step::next;
    Text cur, low, tmp;
    cur.n = wire::name_to_text(wire_name, wire_len, cur.s, kText);
    lower_into(low, cur.view());
    uint16_t qtype = q.info.qtype, qclass = q.info.qclass;
    bool name_changed = false, question_changed = false;
    OptEdit opt;
    State* st = nullptr;
    auto state = [&]() -> State& {
        if (!st) {
            st = take_state<State>();
            std::memcpy(st->orig_name, wire_name, wire_len);
            st->orig_len = uint8_t(wire_len);
            st->orig_type = q.info.qtype;
            st->orig_class = q.info.qclass;
        }
        return *st;
    };
    bool invalid = false;

    for (size_t i = 0; i < rules_.size() && i < kMaxRules; ++i) {
        const Rule& r = rules_[i];
        bool done = false;
        switch (r.kind) {
        case Kind::name: {
            bool overflow = false;
            if (!rewrite_name(r, low.view(), tmp, overflow)) break;
            done = true;
            uint8_t nw[wire::kMaxNameLen + 1];
            const size_t nl = overflow ? 0 : wire::text_to_name(tmp.view(), nw);
            if (nl == 0) {
                invalid = true;
                cur.set(tmp.view());
                break;
            }
            if (r.auto_remap) {
                State& s = state();
                if (s.n_remaps < kMaxRemaps) {
                    auto& m = s.remaps[s.n_remaps++];
                    m.rule = uint8_t(i);
                    std::memcpy(m.from, nw, nl);
                    m.from_len = uint8_t(nl);
                    uint8_t before[wire::kMaxNameLen + 1];
                    const size_t bl = wire::text_to_name(low.view(), before);
                    std::memcpy(m.to, before, bl);
                    m.to_len = uint8_t(bl);
                }
            }
            cur.set(tmp.view());
            lower_into(low, cur.view());
            name_changed = question_changed = true;
            break;
        }
        case Kind::klass:
            if (r.from_code && r.to_code && qclass == r.from_code) {
                qclass = r.to_code;
                done = question_changed = true;
            }
            break;
        case Kind::type:
            if (r.from_code && r.to_code && qtype == r.from_code) {
                qtype = r.to_code;
                done = question_changed = true;
            }
            break;
        case Kind::ttl:
        case Kind::rcode:
            done = name_matches(r, low.view());
            break;
        case Kind::cname:
            done = !r.from.empty() && !r.to.empty();
            break;
        case Kind::edns0_local:
        case Kind::edns0_variable:
        case Kind::edns0_nsid:
        case Kind::edns0_subnet: {
            // The option's data (variables resolved first: a variable with
            // no value leaves the request untouched).
            uint8_t vbuf[kText];
            const uint8_t* data = r.data.data();
            size_t dlen = r.data.size();
            if (r.kind == Kind::edns0_variable) {
                data = vbuf;
                switch (r.variable) {
                case Variable::qname: std::memcpy(vbuf, cur.s, cur.n); dlen = cur.n; break;
                case Variable::qtype: wire::wr16(vbuf, qtype); dlen = 2; break;
                case Variable::client_ip:
                case Variable::server_ip: {
                    const Endpoint& e = r.variable == Variable::client_ip ? q.client : q.local;
                    if (e.len == 0 || q.client.len == 0) break;
                    const bool v4 = q.client.family_label() == 1;
                    if (v4 && !e.is_v4()) break;  // To4() of an IPv6 address is nil
                    if (v4) {
                        std::memcpy(vbuf, e.ip_bytes(), 4);
                        dlen = 4;
                    } else if (e.is_v4()) {
                        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
                        std::memcpy(vbuf, mapped, 12);
                        std::memcpy(vbuf + 12, e.ip_bytes(), 4);
                        dlen = 16;
                    } else {
                        std::memcpy(vbuf, e.ip_bytes(), 16);
                        dlen = 16;
                    }
                    break;
                }
                case Variable::client_port:
                case Variable::server_port: {
                    const Endpoint& e = r.variable == Variable::client_port ? q.client : q.local;
                    if (e.len == 0) break;
                    wire::wr16(vbuf, e.port());
                    dlen = 2;
                    break;
                }
                case Variable::protocol:
                    std::memcpy(vbuf, q.tcp() ? "tcp" : "udp", 3);
                    dlen = 3;
                    break;
                case Variable::metadata:  // a value a plugin above published (metadata plugin on)
                    if (auto v = metadata::find(q, r.meta_label)) {
                        dlen = std::min(v->size(), sizeof vbuf);
                        std::memcpy(vbuf, v->data(), dlen);
                    }
                    break;
                }
                if (dlen == 0 && r.variable != Variable::qname) break;
            } else if (r.kind == Kind::edns0_nsid) {
                dlen = 0;
            } else if (r.kind == Kind::edns0_subnet) {
                const bool v4 = q.client.family_label() == 1;
                if (q.client.len == 0) break;
                const uint8_t bits = v4 ? r.v4_len : r.v6_len;
                wire::wr16(vbuf, v4 ? 1 : 2);
                vbuf[2] = bits;
                vbuf[3] = 0;
                const size_t need = (size_t(bits) + 7) / 8;
                uint8_t addr[16] = {};
                std::memcpy(addr, q.client.ip_bytes(), v4 ? 4 : 16);
                for (size_t b = 0; b < need; ++b) {
                    const int left = int(bits) - int(b * 8);
                    const uint8_t mask = left >= 8 ? 0xff : uint8_t(0xff << (8 - left));
                    vbuf[4 + b] = addr[b] & mask;
                }
                data = vbuf;
                dlen = 4 + need;
            }
            if (!opt.touched) opt.load(q);
            const bool local = r.kind == Kind::edns0_local || r.kind == Kind::edns0_variable;
            const size_t at = opt.find(r.code, local);
            const bool replace_ok = r.action == EdnsAction::replace || r.action == EdnsAction::set;
            auto record_revert = [&](bool restore, size_t off) {
                if (!r.revert) return;
                State& s = state();
                if (s.n_edns >= kMaxEdnsReverts) return;
                auto& e = s.edns[s.n_edns];
                e.rule = uint8_t(i);
                e.restore = restore;
                e.code = r.code;
                e.len = 0;
                if (restore) {
                    const size_t l = opt.data_len(off);
                    if (l > kMaxRevertData) return;
                    std::memcpy(e.data, opt.p + off + 4, l);
                    e.len = uint16_t(l);
                }
                ++s.n_edns;
                s.has_resp = true;
            };
            if (at != std::string_view::npos) {
                if (replace_ok) {
                    record_revert(true, at);
                    done = opt.replace(at, data, dlen);
                    break;
                }
                // append with an option present: the variable and subnet
                // rules stop here; local and nsid append another.
                if (r.kind == Kind::edns0_variable || r.kind == Kind::edns0_subnet) break;
            }
            if (r.action == EdnsAction::append || r.action == EdnsAction::set) {
                done = opt.append(r.code, data, dlen);
                if (done) record_revert(false, 0);
            }
            break;
        }
        }
        if (invalid) break;
        if (!done) continue;
        State& s = state();
        s.fired |= uint64_t(1) << i;
        if (r.has_response_rules()) s.has_resp = true;
        if (r.stop) {
            s.stopped = true;
            break;
        }
    }

    if (invalid) {
        // CoreDNS: the question is restored, SERVFAIL with the error.
        if (opt.touched) commit_request(q, wire_name, wire_len, q.info.qtype, q.info.qclass, opt);
        if (st) {
            give_state(st);
            st = nullptr;
        }
        q.fail(wire::kServFail, "invalid name after rewrite: " + std::string(cur.view()), name());
        return Step::done;
    }
    if (question_changed || opt.touched) {
        uint8_t nw[wire::kMaxNameLen + 1];
        size_t nl = wire_len;
        const uint8_t* np = wire_name;
        if (name_changed) {
            nl = wire::text_to_name(cur.view(), nw);
            np = nw;
        }
        if (!commit_request(q, np, nl, qtype, qclass, opt)) {
            if (st) give_state(st);
            q.fail(wire::kServFail, "plugin/rewrite: rewritten request does not fit", name());
            return Step::done;
        }
    }
    if (st) {
        st->question_changed = question_changed;
        if (!question_changed && !st->stopped && !st->has_resp) {
            give_state(st);
            st = nullptr;
        }
    }
    q.data() = reinterpret_cast<uint64_t>(st);
    if (st && has_cname_) {
        for (size_t i = 0; i < rules_.size() && i < kMaxRules; ++i)
            if (rules_[i].kind == Kind::cname && (st->fired >> i & 1)) return Step::async;
    }
    return Step::next;
}

void Rewrite::query_async(std::unique_ptr<OwnedQuery> q) {
    // A fired cname rule: run the plugins below on a copy, then rewrite the
    // CNAME target of their reply (which may take an upstream lookup).
    OwnedQuery* outer = q.release();
    run_below(*outer, [this, outer](OwnedQuery& sub) {
        std::unique_ptr<OwnedQuery> o(outer);
        if (sub.written) {
            o->write_reply(sub.resp, sub.resp_len, sub.writer);
        } else {
            o->fail(sub.rcode, sub.error, sub.error_plugin);
        }
        if (!o->written) {
            resume(std::move(o), Step::done);
            return;
        }
        cname_reply(std::move(o));
    });
}

void Rewrite::cname_reply(std::unique_ptr<OwnedQuery> q) const {
    State* st = reinterpret_cast<State*>(q->data());
    // The first CNAME (authority, answer, additional order) whose target a
    // fired cname rule maps, tried with the rules in reverse order.
    const uint8_t* msg = q->resp;
    const size_t len = q->resp_len;
    Text target, to, low;
    bool found = false;
    for (int sec : {2, 1, 3}) {
        wire::for_each_rr(msg, len, [&](const wire::RR& rr) {
            if (rr.section != sec || rr.type != wire::kTypeCNAME) return true;
            uint8_t tn[wire::kMaxNameLen];
            size_t tl = 0;
            if (wire::read_name(msg, len, rr.rdata(), tn, &tl) == 0) return true;
            target.n = wire::name_to_text(tn, tl, target.s, kText);
            for (size_t i = std::min(rules_.size(), kMaxRules); i-- > 0;) {
                const Rule& r = rules_[i];
                if (r.kind != Kind::cname || !(st->fired >> i & 1)) continue;
                const std::string_view t = target.view();
                bool overflow = false;
                Rule tmp_rule;
                bool hit = false;
                switch (r.match) {
                case Match::exact:
                    hit = t == r.from;
                    overflow = hit && !to.set(r.to);
                    break;
                default: {
                    // prefix/suffix/substring/regex map the target like the name rules
                    hit = rewrite_name(r, t, to, overflow);
                    break;
                }
                }
                (void)tmp_rule;
                if (hit && !overflow) {
                    found = true;
                    return false;
                }
            }
            return true;
        });
        if (found) break;
    }
    if (!found) {
        resume(std::move(q), Step::done);
        return;
    }
    uint8_t tw[wire::kMaxNameLen + 1];
    const size_t twl = wire::text_to_name(to.view(), tw);
    if (twl == 0) {
        resume(std::move(q), Step::done);
        return;
    }
    OwnedQuery* outer = q.release();
    const std::string to_text(to.view());
    upstream_lookup(*outer, tw, twl, outer->info.qtype, [this, outer, to_text](OwnedQuery& up) {
        std::unique_ptr<OwnedQuery> o(outer);
        uint8_t tw2[wire::kMaxNameLen + 1];
        const size_t tl2 = wire::text_to_name(to_text, tw2);
        // New answer: every CNAME of the reply pointing at the new target,
        // then the lookup's answers owned by that target; TC from the lookup.
        Scratch& sc = scratch();
        std::memcpy(sc.resp, o->resp, o->resp_len);
        const uint8_t* src = sc.resp;
        const size_t slen = o->resp_len;
        wire::Writer w(o->resp, o->resp_cap);
        w.header(wire::id(src), wire::flags(src));
        const size_t qend = wire::skip_question(src, slen);
        if (qend == 0 || !up.written) {
            std::memcpy(o->resp, src, slen);
            resume(std::move(o), Step::done);
            return;
        }
        if (wire::qdcount(src) >= 1) {
            uint8_t qn[wire::kMaxNameLen];
            size_t ql = 0;
            const size_t p = wire::read_name(src, slen, wire::kHeaderLen, qn, &ql);
            w.question(qn, ql, wire::rd16(src + p), wire::rd16(src + p + 2));
        }
        auto copy_rr = [&](const uint8_t* m, size_t ml, const wire::RR& rr) {
            uint8_t on[wire::kMaxNameLen];
            size_t ol = 0;
            wire::read_name(m, ml, rr.off, on, &ol);
            uint8_t rd[wire::kMaxMessage / 4];
            size_t voff, vlen;
            const size_t rl = expand_rdata(m, ml, rr, rd, sizeof rd, voff, vlen);
            if (rl == SIZE_MAX) return;
            w.rr(on, ol, rr.type, rr.klass, rr.ttl, rd, rl);
        };
        w.section(wire::Section::answer);
        wire::for_each_rr(src, slen, [&](const wire::RR& rr) {
            if (rr.section != 1 || rr.type != wire::kTypeCNAME) return true;
            uint8_t on[wire::kMaxNameLen];
            size_t ol = 0;
            wire::read_name(src, slen, rr.off, on, &ol);
            w.rr(on, ol, rr.type, rr.klass, rr.ttl, tw2, tl2);
            return true;
        });
        wire::for_each_rr(up.resp, up.resp_len, [&](const wire::RR& rr) {
            if (rr.section != 1) return true;
            uint8_t on[wire::kMaxNameLen];
            size_t ol = 0;
            wire::read_name(up.resp, up.resp_len, rr.off, on, &ol);
            if (ol == tl2 && std::memcmp(on, tw2, ol) == 0) copy_rr(up.resp, up.resp_len, rr);
            return true;
        });
        for (int sec : {2, 3}) {
            w.section(sec == 2 ? wire::Section::authority : wire::Section::additional);
            wire::for_each_rr(src, slen, [&](const wire::RR& rr) {
                if (rr.section == sec) copy_rr(src, slen, rr);
                return true;
            });
        }
        const size_t n = w.finish();
        if (n == 0) {
            std::memcpy(o->resp, src, slen);
        } else {
            wire::set_flag(o->resp, wire::kTC, up.resp_len >= wire::kHeaderLen && (wire::flags(up.resp) & wire::kTC));
            o->set_written(n, o->writer);
        }
        resume(std::move(o), Step::done);
    });
}

void Rewrite::response(Query& q) {
    State* st = reinterpret_cast<State*>(q.data());
    if (!st) return;
    q.data() = 0;
    // The request's question goes back to the client's (CoreDNS restores it
    // only in the reply; restoring the request too keeps the cache above,
    // which matches the reply against it, storing the reverted reply under
    // the client's question, as CoreDNS's cache does).
    if (st->question_changed) {
        OptEdit none;
        commit_request(q, st->orig_name, st->orig_len, st->orig_type, st->orig_class, none);
    }
    if (st->stopped || st->has_resp) {
        if (!q.written) {
            if (st->stopped && is_unwritten_rcode(q.rcode)) {
                // The plugins below wrote nothing: rewrite writes the rcode
                // reply itself so that it carries the client's question
                // (its SizeAndDo adds the request's OPT, a record the
                // response rules then see).
                const size_t n = wire::build_header_reply(q.req, q.info, uint8_t(q.rcode), true, false, q.resp, q.resp_cap);
                if (n) {
                    std::string_view writer = name();
                    q.set_written(n, writer);
                    revert_reply(q, *st);
                }
            }
        } else {
            revert_reply(q, *st);
        }
    }
    give_state(st);
}

void Rewrite::revert_reply(Query& q, State& st) const {
    if (q.resp_len < wire::kHeaderLen) return;
    Scratch& sc = scratch();
    const size_t slen = q.resp_len;
    std::memcpy(sc.resp, q.resp, slen);
    const uint8_t* src = sc.resp;
    const size_t qend = wire::skip_question(src, slen);
    if (qend == 0) return;
    const size_t nrules = std::min(rules_.size(), kMaxRules);

    // Records the response rules run for (miekg's Extra holds the OPT; a
    // reply rewrite wrote itself gets the request's OPT from SizeAndDo).
    size_t nrr = size_t(wire::ancount(src)) + wire::nscount(src) + wire::arcount(src);
    bool has_opt = false;
    wire::for_each_rr(src, slen, [&](const wire::RR& rr) {
        if (rr.type == wire::kTypeOPT) has_opt = true;
        return true;
    });
    const bool own_reply = q.writer == name();
    if (own_reply && q.info.edns.present && !has_opt) ++nrr;

    // Message-level rules, once per record, in reverse rule order.
    uint8_t rc = wire::rcode(src);
    for (size_t k = 0; k < nrr; ++k)
        for (size_t i = nrules; i-- > 0;)
            if ((st.fired >> i & 1) && rules_[i].kind == Kind::rcode && rc == rules_[i].rcode_old)
                rc = uint8_t(rules_[i].rcode_new);

    wire::Writer w(q.resp, q.resp_cap);
    w.header(wire::id(src), wire::flags(src));
    wire::set_rcode(q.resp, rc);
    // The question: the client's, as reverter.go's DoQuestionRestore.
    const unsigned qd = wire::qdcount(src);
    size_t off = wire::kHeaderLen;
    for (unsigned i = 0; i < qd; ++i) {
        uint8_t qn[wire::kMaxNameLen];
        size_t ql = 0;
        const size_t p = wire::read_name(src, slen, off, qn, &ql);
        if (p == 0 || p + 4 > slen) return;
        if (i == 0) w.question(st.orig_name, st.orig_len, st.orig_type, st.orig_class);
        else w.question(qn, ql, wire::rd16(src + p), wire::rd16(src + p + 2));
        off = p + 4;
    }
    bool ok = true;
    wire::for_each_rr(src, slen, [&](const wire::RR& rr) {
        w.section(wire::Section(rr.section));
        uint8_t owner[wire::kMaxNameLen + 1];
        size_t olen = 0;
        if (wire::read_name(src, slen, rr.off, owner, &olen) == 0) return ok = false;
        uint8_t* rdata = sc.rdata;
        const size_t rcap = sizeof sc.rdata;
        size_t voff = 0, vlen = 0;
        size_t rlen = expand_rdata(src, slen, rr, rdata, rcap, voff, vlen);
        if (rlen == SIZE_MAX) return ok = false;
        uint32_t ttl = rr.ttl;

        if (rr.type == wire::kTypeOPT) {
            // edns0 revert rules: once per record of the reply, reverse order.
            uint8_t* p = rdata;
            size_t len = rlen;
            OptEdit e;
            e.p = p;
            e.len = len;
            for (size_t k = 0; k < nrr; ++k)
                for (size_t i = nrules; i-- > 0;) {
                    if (!(st.fired >> i & 1)) continue;
                    for (uint8_t j = 0; j < st.n_edns; ++j) {
                        const auto& ev = st.edns[j];
                        if (ev.rule != i) continue;
                        const size_t at = e.find(ev.code, false);
                        if (at == std::string_view::npos) continue;
                        if (ev.restore) e.replace(at, ev.data, ev.len);
                        else e.remove(at);
                    }
                }
            w.rr(owner, olen, rr.type, rr.klass, rr.ttl, e.p, e.len);
            return true;
        }

        Text on, val, out;
        on.n = wire::name_to_text(owner, olen, on.s, kText);
        bool has_val = vlen > 0;
        if (has_val) val.n = wire::name_to_text(rdata + voff, vlen, val.s, kText);
        bool on_changed = false, val_changed = false;
        auto apply = [&](const StringRewriter& rw, Text& t, bool& changed) {
            const std::string_view s = t.view();
            bool hit = false;
            switch (rw.kind) {
            case StringRewriter::regex: hit = regex_expand(rw.re, s, rw.replacement, out); break;
            case StringRewriter::suffix:
                hit = ends_with(s, rw.from) && concat(out, s.substr(0, s.size() - rw.from.size()), rw.replacement);
                break;
            case StringRewriter::remap: break;
            }
            if (hit && out.view() != s) {
                t.set(out.view());
                changed = true;
            }
        };
        auto apply_remap = [&](const State::Remap& m, Text& t, bool& changed) {
            Text from, to;
            from.n = wire::name_to_text(m.from, m.from_len, from.s, kText);
            to.n = wire::name_to_text(m.to, m.to_len, to.s, kText);
            const std::string_view s = t.view(), f = from.view();
            bool hit = false;
            if (s == f) hit = out.set(to.view());
            else if (s.size() > f.size() && ends_with(s, f) && s[s.size() - f.size() - 1] == '.')
                hit = concat(out, s.substr(0, s.size() - f.size()), to.view());
            if (hit && out.view() != s) {
                t.set(out.view());
                changed = true;
            }
        };
        for (size_t i = nrules; i-- > 0;) {
            if (!(st.fired >> i & 1)) continue;
            const Rule& r = rules_[i];
            if (r.kind == Kind::ttl) {
                if (ttl < r.ttl_min) ttl = r.ttl_min;
                else if (ttl > r.ttl_max) ttl = r.ttl_max;
                continue;
            }
            if (r.kind != Kind::name) continue;
            for (size_t a = r.answers.size(); a-- > 0;) {
                const AnswerRule& ar = r.answers[a];
                if (ar.value) {
                    if (has_val) apply(ar.rw, val, val_changed);
                } else {
                    apply(ar.rw, on, on_changed);
                }
            }
            if (r.auto_remap) {
                if (const State::Remap* m = st.remap_of(i)) {
                    if (has_val) apply_remap(*m, val, val_changed);
                    apply_remap(*m, on, on_changed);
                }
            }
        }
        if (on_changed) {
            uint8_t nw[wire::kMaxNameLen + 1];
            const size_t nl = wire::text_to_name(on.view(), nw);
            if (nl) {
                std::memcpy(owner, nw, nl);
                olen = nl;
            }
        }
        if (val_changed) {
            uint8_t nw[wire::kMaxNameLen + 1];
            const size_t nl = wire::text_to_name(val.view(), nw);
            if (nl && rlen - vlen + nl <= rcap) {
                std::memmove(rdata + voff + nl, rdata + voff + vlen, rlen - voff - vlen);
                std::memcpy(rdata + voff, nw, nl);
                rlen = rlen - vlen + nl;
            }
        }
        w.rr(owner, olen, rr.type, rr.klass, ttl, rdata, rlen);
        return true;
    });
    const size_t n = ok ? w.finish() : 0;
    if (n == 0) {
        // Malformed or too large once uncompressed: the reply as it was.
        std::memcpy(q.resp, src, slen);
        return;
    }
    q.set_written(n, q.writer);
}

}  // namespace dnscore::plugins::rewrite
