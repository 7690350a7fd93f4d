#include "core/wire/wire.hpp"

#include "core/wire/reply.hpp"
#include "core/wire/writer.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <strings.h>

namespace dnscore::wire {

namespace {
inline uint8_t ascii_lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? uint8_t(c + 32) : c; }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
// Three decimal digits at text[i..i+2] (a \DDD escape).
inline bool is_ddd(std::string_view text, size_t i) {
    return i + 2 < text.size() && is_digit(text[i]) && is_digit(text[i + 1]) && is_digit(text[i + 2]);
}
}  // namespace

size_t read_name(const uint8_t* msg, size_t len, size_t off, uint8_t* out, size_t* out_len,
                 bool lower) {
    size_t pos = off;
    size_t after = 0;    // offset after the name where it sits (set at first pointer)
    size_t n = 0;        // uncompressed length so far
    size_t limit = off;  // a pointer must land before this: the start of what is being read
    int jumps = 0;
    for (;;) {
        if (pos >= len) return 0;
        const uint8_t c = msg[pos];
        if (c == 0) {
            if (n + 1 > kMaxNameLen) return 0;
            if (out) out[n] = 0;
            ++n;
            if (after == 0) after = pos + 1;
            break;
        }
        if ((c & 0xC0) == 0xC0) {
            if (pos + 1 >= len) return 0;
            const size_t target = size_t(c & 0x3f) << 8 | msg[pos + 1];
            // A pointer names an earlier name: it must land before the name
            // being read (before the part jumped to, after a jump), which
            // rules out every loop, and never in the header, whose bytes
            // change when a reply is re-sent (ID, flags, counts). miekg
            // follows any pointer; a name that only reads through the header
            // would be served broken from the cache.
            if (target < kHeaderLen || target >= limit || ++jumps > 128) return 0;
            if (after == 0) after = pos + 2;
            pos = limit = target;
            continue;
        }
        if (c & 0xC0) return 0;  // obsolete/extended label types
        if (pos + 1 + c > len) return 0;
        if (n + 1 + c + 1 > kMaxNameLen) return 0;  // leave room for the root label
        if (out) {
            out[n] = c;
            for (size_t i = 0; i < c; ++i)
                out[n + 1 + i] = lower ? ascii_lower(msg[pos + 1 + i]) : msg[pos + 1 + i];
        }
        n += 1 + c;
        pos += 1 + c;
    }
    if (out_len) *out_len = n;
    return after;
}

bool name_equal_ci(const uint8_t* a, size_t alen, const uint8_t* b, size_t blen) {
    if (alen != blen) return false;
    for (size_t i = 0; i < alen; ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

bool is_subdomain(const uint8_t* name, size_t nlen, const uint8_t* zone, size_t zlen) {
    if (zlen > nlen) return false;
    // Walk name's label boundaries until the remaining suffix has zone's length.
    size_t off = 0;
    while (nlen - off > zlen) {
        const uint8_t l = name[off];
        if (l == 0) return false;
        off += 1 + l;
    }
    return nlen - off == zlen && std::memcmp(name + off, zone, zlen) == 0;
}

int label_count(const uint8_t* name, size_t nlen) {
    int n = 0;
    for (size_t off = 0; off < nlen && name[off] != 0; off += 1 + name[off]) ++n;
    return n;
}

size_t name_to_text(const uint8_t* name, size_t nlen, char* out, size_t cap) {
    size_t o = 0;
    auto put = [&](char c) {
        if (o < cap) out[o] = c;
        ++o;
    };
    if (nlen == 0 || name[0] == 0) {
        put('.');
        return std::min(o, cap);
    }
    for (size_t off = 0; off < nlen && name[off] != 0;) {
        const uint8_t l = name[off];
        for (size_t i = 1; i <= l && off + i < nlen; ++i) {
            const uint8_t c = name[off + i];
            switch (c) {
            case '.': case ' ': case '\'': case '@': case ';': case '(': case ')': case '"':
            case '\\':
                put('\\');
                put(char(c));
                break;
            default:
                if (c < ' ' || c > '~') {
                    put('\\');
                    put(char('0' + c / 100));
                    put(char('0' + (c / 10) % 10));
                    put(char('0' + c % 10));
                } else {
                    put(char(c));
                }
            }
        }
        put('.');
        off += 1 + l;
    }
    return std::min(o, cap);
}

size_t text_to_name(std::string_view text, uint8_t* out) {
    if (text.empty()) return 0;
    if (text == ".") {
        out[0] = 0;
        return 1;
    }
    size_t len_pos = 0;  // where the current label's length byte goes
    size_t n = 1;
    size_t llen = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        uint8_t b;
        if (c == '.') {
            if (llen == 0) return 0;  // empty label
            out[len_pos] = uint8_t(llen);
            len_pos = n++;
            llen = 0;
            if (n > kMaxNameLen) return 0;
            continue;
        }
        if (c == '\\') {
            if (i + 1 >= text.size()) return 0;
            if (is_ddd(text, i + 1)) {
                const int v = (text[i + 1] - '0') * 100 + (text[i + 2] - '0') * 10 + (text[i + 3] - '0');
                if (v > 255) return 0;
                b = uint8_t(v);
                i += 3;
            } else {
                b = uint8_t(text[++i]);
            }
        } else {
            b = uint8_t(c);
        }
        if (llen == 63 || n + 1 >= kMaxNameLen) return 0;
        out[n++] = b;
        ++llen;
    }
    if (llen > 0) {
        out[len_pos] = uint8_t(llen);
        out[n++] = 0;
    } else {
        out[len_pos] = 0;  // the text ended with a dot: that byte is the root label
    }
    return n > kMaxNameLen ? 0 : n;
}


// ---- mnemonics ----
namespace {
struct Mnemonic {
    uint16_t value;
    const char* name;
};
// miekg/dns TypeToString (ztypes.go), every entry: Type.String prints these
// and TYPEn for anything else (0 is "None", 65535 "Reserved").
constexpr Mnemonic kTypes[] = {
    {0, "None"}, {1, "A"}, {2, "NS"}, {3, "MD"}, {4, "MF"}, {5, "CNAME"}, {6, "SOA"}, {7, "MB"},
    {8, "MG"}, {9, "MR"}, {10, "NULL"}, {12, "PTR"}, {13, "HINFO"}, {14, "MINFO"}, {15, "MX"},
    {16, "TXT"}, {17, "RP"}, {18, "AFSDB"}, {19, "X25"}, {20, "ISDN"}, {21, "RT"},
    {23, "NSAP-PTR"}, {24, "SIG"}, {25, "KEY"}, {26, "PX"}, {27, "GPOS"}, {28, "AAAA"},
    {29, "LOC"}, {30, "NXT"}, {31, "EID"}, {32, "NIMLOC"}, {33, "SRV"}, {34, "ATMA"},
    {35, "NAPTR"}, {36, "KX"}, {37, "CERT"}, {39, "DNAME"}, {41, "OPT"}, {42, "APL"},
    {43, "DS"}, {44, "SSHFP"}, {45, "IPSECKEY"}, {46, "RRSIG"}, {47, "NSEC"}, {48, "DNSKEY"},
    {49, "DHCID"}, {50, "NSEC3"}, {51, "NSEC3PARAM"}, {52, "TLSA"}, {53, "SMIMEA"}, {55, "HIP"},
    {56, "NINFO"}, {57, "RKEY"}, {58, "TALINK"}, {59, "CDS"}, {60, "CDNSKEY"},
    {61, "OPENPGPKEY"}, {62, "CSYNC"}, {63, "ZONEMD"}, {64, "SVCB"}, {65, "HTTPS"},
    {99, "SPF"}, {100, "UINFO"}, {101, "UID"}, {102, "GID"}, {103, "UNSPEC"}, {104, "NID"},
    {105, "L32"}, {106, "L64"}, {107, "LP"}, {108, "EUI48"}, {109, "EUI64"}, {128, "NXNAME"},
    {249, "TKEY"}, {250, "TSIG"}, {251, "IXFR"}, {252, "AXFR"}, {253, "MAILB"}, {254, "MAILA"},
    {255, "ANY"}, {256, "URI"}, {257, "CAA"}, {258, "AVC"}, {260, "AMTRELAY"}, {261, "RESINFO"},
    {32768, "TA"}, {32769, "DLV"}, {65535, "Reserved"},
};
// miekg/dns ClassToString (msg.go), for reading configuration.
constexpr Mnemonic kClasses[] = {{1, "IN"}, {2, "CS"}, {3, "CH"}, {4, "HS"}, {254, "NONE"}, {255, "ANY"}};
// What miekg's Class.String prints: ClassToString minus the names that are
// also type names ("ANY"), so class 255 prints as CLASS255.
constexpr Mnemonic kClassesPrinted[] = {{1, "IN"}, {2, "CS"}, {3, "CH"}, {4, "HS"}, {254, "NONE"}};
constexpr Mnemonic kRcodes[] = {
    {0, "NOERROR"}, {1, "FORMERR"}, {2, "SERVFAIL"}, {3, "NXDOMAIN"}, {4, "NOTIMP"},
    {5, "REFUSED"}, {6, "YXDOMAIN"}, {7, "YXRRSET"}, {8, "NXRRSET"}, {9, "NOTAUTH"},
    {10, "NOTZONE"}, {11, "DSOTYPENI"}, {16, "BADSIG"}, {17, "BADKEY"}, {18, "BADTIME"},
    {19, "BADMODE"}, {20, "BADNAME"}, {21, "BADALG"}, {22, "BADTRUNC"}, {23, "BADCOOKIE"},
};

template <size_t N>
const char* lookup(const Mnemonic (&table)[N], unsigned v) {
    for (const auto& m : table)
        if (m.value == v) return m.name;
    return nullptr;
}
template <size_t N>
int reverse_lookup(const Mnemonic (&table)[N], std::string_view s) {
    for (const auto& m : table)
        if (std::strlen(m.name) == s.size() && strncasecmp(m.name, s.data(), s.size()) == 0)
            return m.value;
    return -1;
}
std::string_view prefixed_number(const char* prefix, unsigned v, char (&scratch)[16]) {
    const int n = std::snprintf(scratch, sizeof scratch, "%s%u", prefix, v);
    return std::string_view(scratch, size_t(n));
}
// "TYPE123" / "CLASS7" forms are accepted on input too.
int numeric_form(std::string_view s, std::string_view prefix) {
    if (s.size() <= prefix.size() || strncasecmp(s.data(), prefix.data(), prefix.size()) != 0)
        return -1;
    unsigned v = 0;
    for (char c : s.substr(prefix.size())) {
        if (!is_digit(c)) return -1;
        v = v * 10 + unsigned(c - '0');
        if (v > 65535) return -1;
    }
    return int(v);
}
}  // namespace

std::string_view type_name(uint16_t t, char (&scratch)[16]) {
    if (const char* n = lookup(kTypes, t)) return n;
    return prefixed_number("TYPE", t, scratch);
}
std::string_view class_name(uint16_t c, char (&scratch)[16]) {
    if (const char* n = lookup(kClassesPrinted, c)) return n;
    return prefixed_number("CLASS", c, scratch);
}
std::string_view rcode_name(unsigned rc, char (&scratch)[16]) {
    if (const char* n = lookup(kRcodes, rc)) return n;
    return prefixed_number("", rc, scratch);
}
int type_from_name(std::string_view s) {
    const int v = reverse_lookup(kTypes, s);
    return v >= 0 ? v : numeric_form(s, "TYPE");
}
int class_from_name(std::string_view s) {
    const int v = reverse_lookup(kClasses, s);
    return v >= 0 ? v : numeric_form(s, "CLASS");
}
int rcode_from_name(std::string_view s) { return reverse_lookup(kRcodes, s); }

// ---- messages ----
bool options_framed(const uint8_t* p, size_t n) {
    for (size_t off = 0; off < n;) {
        if (n - off < 4) return false;
        const size_t olen = rd16(p + off + 2);
        off += 4;
        if (olen > n - off) return false;
        off += olen;
    }
    return true;
}

size_t skip_question(const uint8_t* msg, size_t len) {
    if (len < kHeaderLen) return 0;
    size_t off = kHeaderLen;
    for (unsigned i = 0, n = qdcount(msg); i < n; ++i) {
        off = read_name(msg, len, off);
        if (off == 0 || off + 4 > len) return 0;
        off += 4;
    }
    return off;
}

namespace {
void read_edns(const uint8_t* msg, const RR& rr, Edns& e) {
    e.present = true;
    e.udp_size = rr.klass;
    e.ext_rcode = uint8_t(rr.ttl >> 24);
    e.version = uint8_t(rr.ttl >> 16);
    e.do_bit = (rr.ttl & 0x8000) != 0;
    e.rr_off = uint16_t(rr.off);
    e.rr_len = uint16_t(rr.end - rr.off);
    e.rdata_off = uint16_t(rr.rdata());
    e.rdata_len = rr.rdlen;
    (void)msg;
}
// Locates the first OPT record of a message.
bool find_opt(const uint8_t* msg, size_t len, Edns& e) {
    e = Edns{};
    return for_each_rr(msg, len, [&](const RR& rr) {
        if (rr.section == 3 && rr.type == kTypeOPT) {
            read_edns(msg, rr, e);
            return false;
        }
        return true;
    });
}
}  // namespace

Verdict parse_query(const uint8_t* msg, size_t len, QueryInfo& q) {
    q.has_question = false;
    q.edns = Edns{};
    if (len < kHeaderLen || len > kMaxMessage) return Verdict::drop;
    q.id = id(msg);
    q.flags = flags(msg);
    q.opcode = opcode(msg);
    if (q.flags & kQR) return Verdict::drop;
    if (q.opcode != 0 && q.opcode != 4) return Verdict::notimp;
    if (qdcount(msg) != 1 || ancount(msg) > 1 || nscount(msg) > 1 || arcount(msg) > 2)
        return Verdict::formerr;
    size_t nlen = 0;
    const size_t after = read_name(msg, len, kHeaderLen, q.name, &nlen, true);
    if (after == 0 || after + 4 > len) return Verdict::formerr;
    q.qname_off = kHeaderLen;
    q.name_len = uint8_t(nlen);
    q.qtype = rd16(msg + after);
    q.qclass = rd16(msg + after + 2);
    q.question_end = uint16_t(after + 4);
    q.has_question = true;
    bool sound = true;  // options well framed, at most one OPT
    bool ok = for_each_rr(msg, len, [&](const RR& rr) {
        if (rr.type != kTypeOPT) return true;
        // miekg unpacks every OPT's options; one that runs past the RDATA
        // fails the whole message (FORMERR).
        if (!options_framed(msg + rr.rdata(), rr.rdlen)) {
            sound = false;
            return false;
        }
        if (rr.section == 3) {
            // RFC 6891 6.1.1: more than one OPT is a FORMERR (miekg would
            // use the last one).
            if (q.edns.present) {
                sound = false;
                return false;
            }
            read_edns(msg, rr, q.edns);
        }
        return true;
    });
    if (!ok || !sound) return Verdict::formerr;
    return Verdict::ok;
}

size_t build_header_reply(const uint8_t* req, const QueryInfo& q, uint8_t rc, bool with_question,
                          bool echo, uint8_t* out, size_t cap) {
    Writer w(out, cap);
    w.reply_header(req, q, rc, with_question, echo);
    return w.finish();
}

size_t build_badvers_reply(const uint8_t* req, const QueryInfo& q, uint8_t* out, size_t cap) {
    Writer w(out, cap);
    w.reply_header(req, q, kNoError, true, false);
    // Extended rcode 1 with header rcode 0 = BADVERS (16); UDP size 0.
    w.opt(0, 1, 0, false);
    return w.finish();
}

size_t strip_opt(uint8_t* msg, size_t len) {
    // Every OPT found by one walk of the message as it is, then removed
    // together (as ReplyView::strip_opt does). Walking again after each
    // removal would read a name compressed against bytes of a removed OPT
    // as something else and stop early (found by the wire fuzz target).
    constexpr size_t kMaxRecords = kMaxMessage / 11 + 1;  // the smallest record is 11 bytes
    uint16_t at[kMaxRecords], size[kMaxRecords];        // only the entries used are written
    size_t count = 0;
    if (!for_each_rr(msg, len, [&](const RR& rr) {
            if (rr.section == 3 && rr.type == kTypeOPT && count < kMaxRecords) {
                at[count] = uint16_t(rr.off);
                size[count++] = uint16_t(rr.end - rr.off);
            }
            return true;
        }))
        return len;  // does not walk: left as it is
    size_t removed = 0;
    for (size_t i = 0; i < count; ++i) {
        const size_t from = at[i] - removed;
        std::memmove(msg + from, msg + from + size[i], len - removed - (from + size[i]));
        removed += size[i];
    }
    if (count) wr16(msg + 10, uint16_t(arcount(msg) - count));
    return len - removed;
}

void set_all_ttls(uint8_t* msg, size_t len, uint32_t ttl) {
    for_each_rr(msg, len, [&](const RR& rr) {
        if (rr.type != kTypeOPT) wr32(msg + rr.type_off + 4, ttl);
        return true;
    });
}

namespace {
constexpr bool kept_option(uint16_t code) {
    // NSID, EXPIRE, COOKIE, TCP-KEEPALIVE, PADDING (CoreDNS supportedOptions).
    return code == 3 || code == 9 || code == 10 || code == 11 || code == 12;
}

// Calls fn(code, data, len) for each option of the client's OPT that a
// reply keeps.
template <class Fn>
void for_each_kept_option(const uint8_t* req, const Edns& ce, Fn&& fn) {
    const uint8_t* opts = req + ce.rdata_off;
    for (size_t p = 0; p + 4 <= ce.rdata_len;) {
        const uint16_t code = rd16(opts + p);
        const uint16_t olen = rd16(opts + p + 2);
        if (p + 4 + olen > ce.rdata_len) break;
        if (kept_option(code)) fn(code, opts + p + 4, olen);
        p += 4 + olen;
    }
}

// Appends the client's OPT (version 0, DO as sent, supported options only).
size_t append_client_opt(uint8_t* reply, size_t len, size_t cap, const uint8_t* req, const Edns& ce) {
    Writer w = Writer::append(reply, len, cap);
    w.opt(ce.udp_size, 0, 0, ce.do_bit);
    if (!w.ok()) return len;
    for_each_kept_option(req, ce, [&](uint16_t code, const uint8_t* data, uint16_t olen) {
        // One that does not fit is left out; smaller ones after it may still fit.
        if (size_t(4) + olen <= w.room()) w.option(code, data, olen);
    });
    return w.size();
}
}  // namespace

size_t client_opt_len(const uint8_t* req, const Edns& ce) {
    if (!ce.present) return 0;
    size_t n = 11;  // root owner, TYPE, CLASS, TTL, RDLENGTH
    for_each_kept_option(req, ce, [&](uint16_t, const uint8_t*, uint16_t olen) { n += 4 + size_t(olen); });
    return n;
}

size_t add_ede(uint8_t* reply, size_t len, size_t cap, const uint8_t* req, const QueryInfo& q,
               uint16_t info_code) {
    if (!q.edns.present || len < kHeaderLen) return len;
    Edns re;
    if (!find_opt(reply, len, re)) return len;
    if (!re.present) {
        len = append_client_opt(reply, len, cap, req, q.edns);
        if (!find_opt(reply, len, re) || !re.present) return len;
    }
    if (size_t(re.rr_off) + re.rr_len != len) return len;
    Writer w = Writer::append(reply, len, cap);
    w.reopen_opt(re.rr_off);
    w.ede(info_code);
    return w.ok() ? w.size() : len;
}

size_t finish_reply(uint8_t* reply, size_t len, size_t cap, const uint8_t* req,
                    const QueryInfo& q, bool tcp) {
    return finish_reply(reply, len, cap, req, q, tcp, nullptr);
}

size_t finish_reply(uint8_t* reply, size_t len, size_t cap, const uint8_t* req,
                    const QueryInfo& q, bool tcp, const ReplyView* view) {
    if (len < kHeaderLen) return len;
    Edns re;
    size_t records_end = 0;
    if (view && view->of(reply, len)) {
        if (!view->ok()) return len;
        re.present = view->has_opt();
        re.rr_off = uint16_t(view->opt_off());
        re.rr_len = uint16_t(view->opt_len());
        records_end = view->records_end();
    } else if (!find_opt(reply, len, re)) {
        return len;  // unparsable: leave it to the client
    } else {
        records_end = skip_question(reply, len);
        const bool walked = for_each_rr(reply, len, [&](const RR& rr) {
            records_end = rr.end;
            return true;
        });
        if (!walked) records_end = len;  // truncation below drops what cannot be walked
    }
    // Bytes after the last record belong to no record: CoreDNS packs only
    // the records, so they are never sent (and an OPT appended after them
    // would be unreadable). Found by tests/fuzz (finisher, cache).
    if (records_end != 0 && records_end < len) {
        // A name may still reach into those bytes (a pointer to a label that
        // runs on past the last record): then the records do not stand
        // alone and the reply becomes a SERVFAIL. Only malformed replies have
        // trailing bytes, so the hot path never parses twice. Found by
        // tests/fuzz (finisher).
        if (ReplyView(reply, records_end).ok()) {
            len = records_end;
        } else {
            // No valid reply can be cut from it: SERVFAIL with the question.
            const size_t qend = skip_question(reply, records_end);
            if (qend == 0) return len;
            set_rr_counts(reply, 0, 0, 0);
            set_rcode(reply, 2);
            len = qend;
            re.present = false;  // its OPT went with the records
        }
    }
    if (q.edns.present) {
        if (re.present) {
            // Patch the reply's OPT: owner ".", client's UDP size, version and
            // extended rcode cleared, flags kept, DO added if the client set it.
            uint8_t* rr = reply + re.rr_off;
            if (rr[0] == 0) {
                uint8_t* fixed = rr + 1;
                wr16(fixed + 2, q.edns.udp_size);
                uint32_t ttl = rd32(fixed + 4) & 0xff00u;
                if (q.edns.do_bit) ttl |= 0x8000u;
                wr32(fixed + 4, ttl);
            }
        } else {
            len = append_client_opt(reply, len, cap, req, q.edns);
        }
    }
    const size_t limit = tcp ? kMaxMessage : q.udp_size(false);
    if (len <= limit) return len;

    // Truncate: set the OPT aside, keep whole records in order while the
    // bytes as they will be sent fit (compression as it is in the reply),
    // set TC when any record was left out, put the OPT back.
    uint8_t opt[kHeaderLen + 512];
    size_t opt_len = 0;
    if (find_opt(reply, len, re) && re.present && re.rr_len <= sizeof opt) {
        opt_len = re.rr_len;
        std::memcpy(opt, reply + re.rr_off, opt_len);
        len = strip_opt(reply, len);
    }
    size_t cut = skip_question(reply, len);
    if (cut == 0) return len;  // unparsable: leave it to the client
    constexpr size_t kBareOpt = 11;  // owner ".", TYPE, CLASS, TTL, RDLENGTH 0
    if (opt_len > kBareOpt && cut + opt_len > limit) {
        // The options (a client's large PADDING) do not fit even with no
        // record: send the OPT without them rather than go past the limit
        // (one whose owner is not the root is left out).
        opt_len = opt[0] == 0 ? kBareOpt : 0;
        wr16(opt + 9, 0);
    }
    const size_t budget = limit > opt_len ? limit - opt_len : 0;
    const unsigned total = unsigned(ancount(reply)) + nscount(reply) + arcount(reply);
    const size_t question_end = cut;
    unsigned kept[3] = {0, 0, 0};
    if (cut <= budget) {
        for_each_rr(reply, len, [&](const RR& rr) {
            if (rr.end > budget) return false;  // it and every record after it go
            ++kept[rr.section - 1];
            cut = rr.end;
            return true;
        });
    }
    len = cut;
    wr16(reply + 6, uint16_t(kept[0]));
    wr16(reply + 8, uint16_t(kept[1]));
    wr16(reply + 10, uint16_t(kept[2]));
    // A kept name compressed against bytes of a dropped record (a crafted
    // reply; found by the cache fuzz target) would not walk: keep no record
    // then, TC tells the client to ask over TCP. Owner names and the names
    // inside RDATA, as the client unpacks them.
    if (len > question_end) {
        bool walks = ReplyView(reply, len).ok();
        if (walks) {
            static thread_local uint8_t rdata[kMaxMessage];
            for_each_rr(reply, len, [&](const RR& rr) {
                walks = rr.rdlen == 0 || uncompressed_rdata(reply, len, rr, rdata, sizeof rdata) != 0;
                return walks;
            });
        }
        if (!walks) {
            len = question_end;
            kept[0] = kept[1] = kept[2] = 0;
            std::memset(reply + 6, 0, 6);
        }
    }
    // Whatever was not kept (too big, or not walkable) is a dropped record.
    if (kept[0] + kept[1] + kept[2] < total) set_flag(reply, kTC, true);
    if (opt_len) {
        std::memcpy(reply + len, opt, opt_len);
        len += opt_len;
        wr16(reply + 10, uint16_t(kept[2] + 1));
    }
    return len;
}

size_t uncompressed_rdata(const uint8_t* msg, size_t len, const RR& rr, uint8_t* out, size_t cap) {
    // Layout per type: bytes before the first name, number of names, then
    // the fixed bytes after them (SOA's five counters).
    size_t lead = 0, names = 0;
    switch (rr.type) {
    case 2: case 3: case 4: case 5: case 7: case 8: case 9: case 12: case 39:  // NS MD MF CNAME MB MG MR PTR DNAME
        names = 1;
        break;
    case 6: names = 2; break;                 // SOA (+ 20 bytes)
    case 14: case 17: names = 2; break;       // MINFO, RP
    case 15: case 18: case 21: case 36:       // MX, AFSDB, RT, KX
        lead = 2;
        names = 1;
        break;
    case 33: lead = 6; names = 1; break;      // SRV
    default: break;
    }
    const size_t start = rr.rdata();
    if (rr.end > len || start > rr.end) return 0;
    if (names == 0) {
        if (rr.rdlen > cap) return 0;
        std::memcpy(out, msg + start, rr.rdlen);
        return rr.rdlen;
    }
    const size_t end = rr.end;
    if (lead > rr.rdlen || lead > cap) return 0;
    std::memcpy(out, msg + start, lead);
    size_t in = start + lead, w = lead;
    for (size_t i = 0; i < names; ++i) {
        uint8_t name[kMaxNameLen];
        size_t nlen = 0;
        const size_t next = read_name(msg, end, in, name, &nlen);
        if (next == 0 || w + nlen > cap) return 0;
        std::memcpy(out + w, name, nlen);
        w += nlen;
        in = next;
    }
    // What follows the names (SOA's counters) as it is.
    const size_t rest = end - in;
    if (w + rest > cap) return 0;
    std::memcpy(out + w, msg + in, rest);
    return w + rest;
}

}  // namespace dnscore::wire
