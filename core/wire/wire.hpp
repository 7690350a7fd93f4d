#pragma once
// The one wire module: bounds-checked reading and in-place editing of DNS
// messages as raw bytes. Used on the per-query hot path, so nothing here
// allocates, throws, or includes ldns.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace dnscore::wire {

constexpr size_t kHeaderLen = 12;
constexpr size_t kMaxNameLen = 255;
constexpr size_t kMaxMessage = 65535;

// Header flag bits (second 16-bit word).
constexpr uint16_t kQR = 0x8000;
constexpr uint16_t kAA = 0x0400;
constexpr uint16_t kTC = 0x0200;
constexpr uint16_t kRD = 0x0100;
constexpr uint16_t kRA = 0x0080;
constexpr uint16_t kZ = 0x0040;
constexpr uint16_t kAD = 0x0020;
constexpr uint16_t kCD = 0x0010;

enum Rcode : uint8_t {
    kNoError = 0, kFormErr = 1, kServFail = 2, kNXDomain = 3, kNotImp = 4, kRefused = 5,
};

enum Type : uint16_t {
    kTypeA = 1, kTypeNS = 2, kTypeCNAME = 5, kTypeSOA = 6, kTypePTR = 12, kTypeHINFO = 13,
    kTypeMX = 15, kTypeTXT = 16, kTypeAAAA = 28, kTypeSRV = 33, kTypeOPT = 41, kTypeDS = 43,
    kTypeRRSIG = 46, kTypeNSEC = 47, kTypeDNSKEY = 48, kTypeNSEC3 = 50, kTypeSVCB = 64,
    kTypeHTTPS = 65, kTypeIXFR = 251, kTypeAXFR = 252, kTypeANY = 255,
};
constexpr uint16_t kClassIN = 1;

inline uint16_t rd16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline uint32_t rd32(const uint8_t* p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
inline void wr16(uint8_t* p, uint16_t v) { p[0] = uint8_t(v >> 8); p[1] = uint8_t(v); }
inline void wr32(uint8_t* p, uint32_t v) {
    p[0] = uint8_t(v >> 24); p[1] = uint8_t(v >> 16); p[2] = uint8_t(v >> 8); p[3] = uint8_t(v);
}

// Header accessors (the caller guarantees len >= 12).
inline uint16_t id(const uint8_t* m) { return rd16(m); }
inline uint16_t flags(const uint8_t* m) { return rd16(m + 2); }
inline uint8_t opcode(const uint8_t* m) { return (m[2] >> 3) & 0x0f; }
inline uint8_t rcode(const uint8_t* m) { return m[3] & 0x0f; }
inline uint16_t qdcount(const uint8_t* m) { return rd16(m + 4); }
inline uint16_t ancount(const uint8_t* m) { return rd16(m + 6); }
inline uint16_t nscount(const uint8_t* m) { return rd16(m + 8); }
inline uint16_t arcount(const uint8_t* m) { return rd16(m + 10); }
inline void set_flag(uint8_t* m, uint16_t f, bool on) {
    uint16_t v = flags(m);
    wr16(m + 2, on ? uint16_t(v | f) : uint16_t(v & ~f));
}
inline void set_rcode(uint8_t* m, uint8_t rc) { m[3] = uint8_t((m[3] & 0xf0) | (rc & 0x0f)); }
inline void set_id(uint8_t* m, uint16_t v) { wr16(m, v); }
// The whole flags word (opcode and rcode included).
inline void set_flags(uint8_t* m, uint16_t f) { wr16(m + 2, f); }
// ANCOUNT, NSCOUNT, ARCOUNT.
inline void set_rr_counts(uint8_t* m, uint16_t an, uint16_t ns, uint16_t ar) {
    wr16(m + 6, an);
    wr16(m + 8, ns);
    wr16(m + 10, ar);
}

// Reads the name at `off`, following compression pointers (bounded: a
// pointer must land after the header and before the name being read, or
// before the part of it reached by the last jump). Returns the offset just
// after the name as it sits at `off`, or 0 when the name is malformed. When
// `out` is given, writes the uncompressed wire name (optionally ASCII
// lower-cased) there (up to 255 bytes) and its length to *out_len.
size_t read_name(const uint8_t* msg, size_t len, size_t off, uint8_t* out = nullptr,
                 size_t* out_len = nullptr, bool lower = false);

// ASCII-lowercase equality of two uncompressed wire names.
bool name_equal_ci(const uint8_t* a, size_t alen, const uint8_t* b, size_t blen);
// True if wire name `name` equals `zone` or lies below it (both lower-case).
bool is_subdomain(const uint8_t* name, size_t nlen, const uint8_t* zone, size_t zlen);
// Number of labels in an uncompressed wire name (root = 0).
int label_count(const uint8_t* name, size_t nlen);

// Presentation form of an uncompressed wire name with the trailing dot, as
// miekg/dns prints it (escapes "." "\" and others, \DDD for non-printables).
// Writes at most cap bytes; returns the length written.
size_t name_to_text(const uint8_t* name, size_t nlen, char* out, size_t cap);
// Presentation text -> wire (for configuration; handles \X and \DDD). Returns
// wire length, or 0 on an invalid name. Adds the root label if missing.
size_t text_to_name(std::string_view text, uint8_t* out);

// Mnemonics as CoreDNS/miekg print them (Type.String, Class.String); others
// are written into `scratch` as TYPE123 / CLASS7 / the decimal rcode.
std::string_view type_name(uint16_t t, char (&scratch)[16]);
std::string_view class_name(uint16_t c, char (&scratch)[16]);
// Rcode mnemonic ("NOERROR"...); unknown -> decimal text.
std::string_view rcode_name(unsigned rc, char (&scratch)[16]);
// Inverse of the above for configuration (case-insensitive); -1 if unknown.
int type_from_name(std::string_view s);
int class_from_name(std::string_view s);
int rcode_from_name(std::string_view s);

// EDNS(0) facts of a message's OPT record.
struct Edns {
    bool present = false;
    uint16_t udp_size = 0;
    uint8_t ext_rcode = 0;
    uint8_t version = 0;
    bool do_bit = false;
    uint16_t rr_off = 0;     // start of the OPT RR (its owner name)
    uint16_t rr_len = 0;     // whole RR length
    uint16_t rdata_off = 0;  // options start
    uint16_t rdata_len = 0;
};

// What the server needs to know about a query, read once on receive.
struct QueryInfo {
    uint16_t id = 0;
    uint16_t flags = 0;
    uint8_t opcode = 0;
    bool has_question = false;
    uint16_t qname_off = 0;          // offset of the question name in the message
    uint16_t question_end = 0;       // offset just after QTYPE/QCLASS
    uint8_t name_len = 0;            // length of `name` (uncompressed wire)
    uint8_t name[kMaxNameLen];       // question name, ASCII lower-cased
    uint16_t qtype = 0;
    uint16_t qclass = 0;
    Edns edns;

    bool do_bit() const { return edns.present && edns.do_bit; }
    bool cd_bit() const { return flags & kCD; }
    // The client's buffer size as CoreDNS computes it: 65535 over TCP; the
    // EDNS size but at least 512; 512 without EDNS.
    uint16_t udp_size(bool tcp) const {
        if (tcp) return 65535;
        if (!edns.present || edns.udp_size < 512) return 512;
        return edns.udp_size;
    }
};

enum class Verdict { ok, drop, formerr, notimp };

// Spec B.3 steps 1-2: drop short or QR=1 messages, NOTIMP for opcodes other
// than QUERY/NOTIFY, FORMERR for bad counts, an unparsable body, EDNS
// options that run past their OPT's RDATA, or a second OPT. Fills `q`
// (question when it parsed, even when the verdict is formerr).
Verdict parse_query(const uint8_t* msg, size_t len, QueryInfo& q);

// A resource record located inside a message.
struct RR {
    int section;          // 1 answer, 2 authority, 3 additional
    size_t off;           // start of the owner name
    size_t type_off;      // offset of TYPE (TTL at +4, RDLENGTH at +8, RDATA at +10)
    size_t end;           // offset just after the RDATA
    uint16_t type;
    uint16_t klass;
    uint32_t ttl;
    uint16_t rdlen;
    size_t rdata() const { return type_off + 10; }
};

// Walks every RR after the question section. `fn(const RR&)` returns false to
// stop early. Returns false when the message is malformed.
template <class Fn>
bool for_each_rr(const uint8_t* msg, size_t len, Fn&& fn);

// The RDATA of `rr` (a record of msg[0..len)) with the domain names in it
// uncompressed, for copying the record into another message: the names of
// the RFC 1035 types and of those later types whose names senders compress
// (NS, CNAME, SOA, PTR, MX, SRV, DNAME, ...); other RDATA is copied as it is.
// Returns the length written to out[0..cap), 0 when malformed or too long.
size_t uncompressed_rdata(const uint8_t* msg, size_t len, const RR& rr, uint8_t* out, size_t cap);

// Whether OPT RDATA p[0..n) is a whole number of options (code, length,
// data), as miekg's unpackDataOpt requires.
bool options_framed(const uint8_t* p, size_t n);

// Offset just after the question section, or 0 on malformed input.
size_t skip_question(const uint8_t* msg, size_t len);

// The RD and CD bits a reply to `q` carries: miekg's SetReply copies them
// for opcode QUERY only (a NOTIFY's reply has neither).
inline uint16_t reply_rd_cd(const QueryInfo& q) {
    return q.opcode == 0 ? uint16_t(q.flags & (kRD | kCD)) : uint16_t(0);
}

// Builds a reply to `req` carrying only its header and (optionally) question:
// same ID, QR=1, the request's opcode, RD and CD as SetReply copies them
// (reply_rd_cd), AA=RA=Z=0, rcode set, no other records. With `echo` (the
// server's FORMERR/NOTIMP for requests it cannot accept), RD, CD and AD are
// kept whatever the opcode, as miekg's reject path does. Returns its length
// (0 if cap is too small).
size_t build_header_reply(const uint8_t* req, const QueryInfo& q, uint8_t rc, bool with_question,
                          bool echo, uint8_t* out, size_t cap);

// The EDNS-version check reply of spec B.3 step 6 (BADVERS).
size_t build_badvers_reply(const uint8_t* req, const QueryInfo& q, uint8_t* out, size_t cap);

// Spec B.5, in place: mirror the client's EDNS into the reply (or patch the
// reply's own OPT), then fit it into the client's limit (65535 on TCP, the
// client's UDP size but at least 512 otherwise) by dropping trailing records
// (counted in the bytes as they are, compression included) and setting TC
// whenever one was dropped; the OPT's options go too if they alone would
// exceed the limit. `req` is the request the QueryInfo was read from.
// Returns the new length (the reply must have been parsable; otherwise
// returns len).
size_t finish_reply(uint8_t* reply, size_t len, size_t cap, const uint8_t* req,
                    const QueryInfo& q, bool tcp);
class ReplyView;
// The same, with `view` (when it describes reply[0..len)) telling where the
// OPT is instead of a walk.
size_t finish_reply(uint8_t* reply, size_t len, size_t cap, const uint8_t* req,
                    const QueryInfo& q, bool tcp, const ReplyView* view);

// The length of the OPT record finish_reply attaches to a reply that has
// none: the client's OPT (`client`, read from `req`) re-owned by the root
// and holding only the options CoreDNS keeps (request.supportedOptions).
size_t client_opt_len(const uint8_t* req, const Edns& client);

// Adds an Extended DNS Error option (RFC 8914, code 15) with `info_code` to a
// reply, in place, when the client sent EDNS: the client's OPT is attached
// first (as finish_reply would) if the reply has none. Returns the new
// length (unchanged without client EDNS, when it does not fit, or when the
// reply's OPT is not its last record).
size_t add_ede(uint8_t* reply, size_t len, size_t cap, const uint8_t* req, const QueryInfo& q,
               uint16_t info_code);

// Removes the OPT record(s) from a reply in place; returns the new length.
size_t strip_opt(uint8_t* msg, size_t len);
// Sets the TTL of every record except OPT.
void set_all_ttls(uint8_t* msg, size_t len, uint32_t ttl);

// ---- template implementation ----
template <class Fn>
bool for_each_rr(const uint8_t* msg, size_t len, Fn&& fn) {
    size_t off = skip_question(msg, len);
    if (off == 0) return false;
    const unsigned counts[3] = {ancount(msg), nscount(msg), arcount(msg)};
    for (int s = 0; s < 3; ++s) {
        for (unsigned i = 0; i < counts[s]; ++i) {
            RR rr;
            rr.section = s + 1;
            rr.off = off;
            size_t p = read_name(msg, len, off);
            if (p == 0 || p + 10 > len) return false;
            rr.type_off = p;
            rr.type = rd16(msg + p);
            rr.klass = rd16(msg + p + 2);
            rr.ttl = rd32(msg + p + 4);
            rr.rdlen = rd16(msg + p + 8);
            rr.end = p + 10 + rr.rdlen;
            if (rr.end > len) return false;
            if (!fn(static_cast<const RR&>(rr))) return true;
            off = rr.end;
        }
    }
    return true;
}

}  // namespace dnscore::wire
