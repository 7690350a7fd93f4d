#pragma once
// ReplyView: what the server needs to know about a reply, read in one walk.
// Forward validates with it, cache types, times, matches, strips and
// re-TTLs with it, log classifies with it and the finisher finds the OPT
// with it, so a forwarded miss is walked once instead of once per question
// asked. Fixed size, no allocation; edits made through the view keep it true.
#include <cstddef>
#include <cstdint>

#include "core/wire/wire.hpp"

namespace dnscore::wire {

// CoreDNS response.Type (plugin/pkg/response/typify.go, v1.12).
enum class ReplyType : uint8_t {
    no_error, name_error, no_data, delegation, server_error, other_error, meta, update,
};

// miekg/dns RRSIG.ValidityPeriod at Unix time `now` (serial arithmetic over
// 2^31-second eras). RDATA too short to hold the times counts as valid.
bool rrsig_valid(const uint8_t* rdata, uint16_t rdlen, int64_t now);

class ReplyView {
public:
    // RRs whose positions are kept; a reply with more is still understood
    // (counts, OPT, TTLs, classification), but per-record work walks it again.
    static constexpr size_t kMaxIndexed = 64;

    ReplyView() = default;
    ReplyView(const uint8_t* msg, size_t len) { parse(msg, len); }

    // Walks msg[0..len) once; returns ok().
    bool parse(const uint8_t* msg, size_t len);
    // Forgets the message (of() is false until the next parse).
    void reset() {
        parsed_ = false;
        msg_ = nullptr;
    }
    // The same view of a byte-for-byte copy of the message at `msg` (the
    // positions are offsets, so they hold for the copy).
    void rebase(const uint8_t* msg) {
        if (parsed_) msg_ = msg;
    }
    // Whether this view describes exactly msg[0..len).
    bool of(const uint8_t* msg, size_t len) const { return parsed_ && msg_ == msg && len_ == len; }

    // A header was present and every record could be walked (what miekg
    // needs to unpack the message).
    bool ok() const { return ok_; }
    const uint8_t* data() const { return msg_; }
    size_t size() const { return len_; }

    // miekg's Msg.Rcode: the header rcode plus the OPT's extended bits.
    unsigned rcode() const;

    // ---- question (the first one) ----
    bool has_question() const { return qname_end_ != 0; }
    uint16_t qtype() const { return qtype_; }
    uint16_t qclass() const { return qclass_; }
    size_t question_end() const { return question_end_; }
    // Offset just after the last record (bytes after it belong to no record;
    // miekg unpacks without them and CoreDNS never sends them). 0 when !ok().
    size_t records_end() const;
    // The reply answers `q`: one question, QR set, same name ignoring case,
    // same type (CoreDNS request.Match) and, with `check_class`, same class.
    bool answers(const QueryInfo& q, bool check_class) const;

    // ---- records ----
    unsigned rr_count() const { return rr_total_; }
    // Every record's position is kept (else for_each walks the message).
    bool indexed() const { return rr_total_ <= kMaxIndexed; }
    // Calls fn(const RR&) for every record in order; fn returns false to stop.
    template <class Fn>
    void for_each(Fn&& fn) const;

    // ---- facts ----
    bool has_opt() const { return opt_count_ > 0; }
    size_t opt_off() const { return opt_off_; }  // the first OPT of the additional section
    size_t opt_len() const { return opt_len_; }
    bool do_bit() const { return has_opt() && (opt_ttl_ & 0x8000u); }
    bool soa_in_authority() const { return soa_; }
    unsigned ns_in_authority() const { return ns_; }

    // CoreDNS response.Typify at Unix time `now` (expired RRSIGs of a DO
    // reply make it OtherError).
    ReplyType typify(int64_t now) const;
    // CoreDNS dnsutil.MinimalTTL for a reply of type `t`, in seconds.
    int64_t minimal_ttl(ReplyType t) const;
    // Any RRSIG outside its validity period at `now`.
    bool rrsig_expired(int64_t now) const;

    // ---- edits (msg must be the buffer this view was parsed from) ----
    // Removes every OPT of the additional section; returns the new length.
    // The result is walked again: ok() is false when a name was compressed
    // against bytes of the removed OPT.
    size_t strip_opt(uint8_t* msg);
    // Sets the TTL of every record except OPT.
    void set_all_ttls(uint8_t* msg, uint32_t ttl);

private:
    struct Pos {
        uint16_t off;       // owner name
        uint16_t type_off;  // TYPE (TTL at +4, RDLENGTH at +8)
        uint16_t type;
        uint16_t rdlen;
    };
    int section_of(unsigned i) const { return i < an_ ? 1 : i < an_ + ns_count_ ? 2 : 3; }

    const uint8_t* msg_ = nullptr;
    size_t len_ = 0;
    bool parsed_ = false;
    bool ok_ = false;
    uint16_t qname_end_ = 0;     // offset after the first question's name (0 = none)
    uint16_t question_end_ = 0;  // offset after the question section
    uint16_t qtype_ = 0, qclass_ = 0;
    uint16_t an_ = 0, ns_count_ = 0, ar_ = 0;
    unsigned rr_total_ = 0;      // records walked (all of them when ok)
    uint16_t opt_off_ = 0, opt_len_ = 0;
    uint16_t opt_count_ = 0;
    uint32_t opt_ttl_ = 0;       // of the last OPT, as miekg's IsEdns0 picks it
    bool soa_ = false;
    uint16_t ns_ = 0;
    uint16_t rrsigs_ = 0;
    bool any_ttl_ = false;       // a record other than an additional-section OPT
    uint32_t min_ttl_ = UINT32_MAX;
    Pos rr_[kMaxIndexed];
};

template <class Fn>
void ReplyView::for_each(Fn&& fn) const {
    if (!ok_) return;
    if (!indexed()) {
        for_each_rr(msg_, len_, fn);
        return;
    }
    for (unsigned i = 0; i < rr_total_; ++i) {
        const Pos& p = rr_[i];
        RR rr;
        rr.section = section_of(i);
        rr.off = p.off;
        rr.type_off = p.type_off;
        rr.type = p.type;
        rr.klass = rd16(msg_ + p.type_off + 2);
        rr.ttl = rd32(msg_ + p.type_off + 4);
        rr.rdlen = p.rdlen;
        rr.end = size_t(p.type_off) + 10 + p.rdlen;
        if (!fn(static_cast<const RR&>(rr))) return;
    }
}

}  // namespace dnscore::wire
