#pragma once
// wire::Writer: builds a DNS message in a caller's buffer. Every write is
// checked against the capacity (a write that does not fit marks the writer
// failed and later writes do nothing), the header counts follow the records
// written, and owner names can be compressed against names written before.
// No allocation; the hot path (whoami, server-written replies) uses it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/wire/wire.hpp"

namespace dnscore::wire {

enum class Section : uint8_t { answer = 1, authority = 2, additional = 3 };

class Writer {
public:
    // Names remembered for compression (each label suffix is one entry).
    static constexpr size_t kMaxSuffixes = 32;

    // Writes a new message into buf[0..cap).
    Writer(uint8_t* buf, size_t cap) : buf_(buf), cap_(cap) {}
    // Continues the message already in buf[0..len): its counts are kept and
    // new records go to the additional section (its names are not known
    // for compression).
    static Writer append(uint8_t* buf, size_t len, size_t cap);

    bool ok() const { return ok_; }
    // Length written so far.
    size_t size() const { return len_; }
    // Length of the finished message, 0 if anything did not fit.
    size_t finish() const { return ok_ ? len_ : 0; }
    // Bytes still free.
    size_t room() const { return ok_ ? cap_ - len_ : 0; }

    // Names are compressed unless turned off (CoreDNS, through miekg, sends
    // most replies uncompressed; byte-compatible replies turn it off).
    void set_compression(bool on) { compress_ = on; }

    // ---- header and question ----
    // A header with all counts zero.
    void header(uint16_t id, uint16_t flags);
    void set_flags(uint16_t flags);
    // A reply header for request `q` (read from `req`): same ID, QR, the
    // request's opcode, rcode `rc`, and RD and CD as miekg's SetReply copies
    // them (opcode QUERY only); with `echo`, RD, CD and AD whatever the
    // opcode, as miekg's FORMERR/NOTIMP reject path keeps them. With the
    // question as the client wrote it (its case) when with_question.
    void reply_header(const uint8_t* req, const QueryInfo& q, uint8_t rc, bool with_question, bool echo);
    // `name` is an uncompressed wire name.
    void question(const uint8_t* name, size_t nlen, uint16_t type, uint16_t klass);

    // ---- records ----
    // Records go to this section from now on (sections only move forward).
    void section(Section s);
    // A record with raw RDATA.
    void rr(const uint8_t* name, size_t nlen, uint16_t type, uint16_t klass, uint32_t ttl,
            const uint8_t* rdata, size_t rdlen);
    void a(const uint8_t* name, size_t nlen, uint16_t klass, uint32_t ttl, const uint8_t (&ip)[4]) {
        rr(name, nlen, kTypeA, klass, ttl, ip, 4);
    }
    void aaaa(const uint8_t* name, size_t nlen, uint16_t klass, uint32_t ttl, const uint8_t (&ip)[16]) {
        rr(name, nlen, kTypeAAAA, klass, ttl, ip, 16);
    }
    // TXT with `text` split into character-strings of at most 255 bytes.
    void txt(const uint8_t* name, size_t nlen, uint16_t klass, uint32_t ttl, std::string_view text);
    // PTR/CNAME targets are compressed like owner names (RFC 3597 types).
    void ptr(const uint8_t* name, size_t nlen, uint16_t klass, uint32_t ttl, const uint8_t* target, size_t tlen) {
        name_rr(name, nlen, kTypePTR, klass, ttl, target, tlen);
    }
    void cname(const uint8_t* name, size_t nlen, uint16_t klass, uint32_t ttl, const uint8_t* target, size_t tlen) {
        name_rr(name, nlen, kTypeCNAME, klass, ttl, target, tlen);
    }
    // SRV; the target is never compressed (RFC 2782).
    void srv(const uint8_t* name, size_t nlen, uint16_t klass, uint32_t ttl, uint16_t priority, uint16_t weight,
             uint16_t port, const uint8_t* target, size_t tlen);

    // ---- EDNS ----
    // An OPT record (in the additional section); options follow.
    void opt(uint16_t udp_size, uint8_t ext_rcode, uint8_t version, bool do_bit, uint16_t flags_rest = 0);
    // Adds options to the OPT at `opt_off`, which must be the message's last record.
    void reopen_opt(size_t opt_off);
    void option(uint16_t code, const uint8_t* data, size_t len);
    // Extended DNS Error (RFC 8914, option 15): info code and optional text.
    void ede(uint16_t info_code, std::string_view text = {});

private:
    bool reserve(size_t n);
    void bump_count();
    void put16(uint16_t v);
    void put32(uint32_t v);
    void put(const uint8_t* p, size_t n);
    // Writes `name`, compressed against earlier names when allowed.
    void name(const uint8_t* name, size_t nlen, bool compress);
    // `wire_len`: the uncompressed length of the name from `off` to its root.
    void remember(size_t off, size_t wire_len);
    // Whether the suffix name[i..nlen) equals the name written at `off`.
    bool same_suffix(const uint8_t* name, size_t i, size_t nlen, size_t off) const;
    void name_rr(const uint8_t* owner, size_t olen, uint16_t type, uint16_t klass, uint32_t ttl,
                 const uint8_t* target, size_t tlen);
    // Starts a record; returns the offset of its RDLENGTH (0 on failure).
    size_t rr_start(const uint8_t* name, size_t nlen, uint16_t type, uint16_t klass, uint32_t ttl);
    void rr_end(size_t rdlen_off);

    uint8_t* buf_;
    size_t cap_;
    size_t len_ = 0;
    bool ok_ = true;
    bool compress_ = true;
    Section section_ = Section::answer;
    size_t opt_rdlen_off_ = 0;  // RDLENGTH of the open OPT (0 = none)
    uint16_t suffixes_[kMaxSuffixes];
    uint16_t suffix_lens_[kMaxSuffixes];
    size_t suffix_count_ = 0;
};

}  // namespace dnscore::wire
