#include "core/wire/reply.hpp"

#include <cstring>

namespace dnscore::wire {

bool rrsig_valid(const uint8_t* rdata, uint16_t rdlen, int64_t now) {
    if (rdlen < 18) return true;
    constexpr int64_t year68 = int64_t(1) << 31;
    const int64_t expiration = rd32(rdata + 8);
    const int64_t inception = rd32(rdata + 12);
    const int64_t modi = (inception - now) / year68;
    const int64_t mode = (expiration - now) / year68;
    const int64_t ti = inception + modi * year68;
    const int64_t te = expiration + mode * year68;
    return ti <= now && now <= te;
}

bool ReplyView::parse(const uint8_t* msg, size_t len) {
    // Field by field rather than *this = {}: the position table stays as is.
    msg_ = msg;
    len_ = len;
    parsed_ = true;
    ok_ = false;
    qname_end_ = question_end_ = 0;
    qtype_ = qclass_ = 0;
    an_ = ns_count_ = ar_ = 0;
    rr_total_ = 0;
    opt_off_ = opt_len_ = opt_count_ = 0;
    opt_ttl_ = 0;
    soa_ = false;
    ns_ = rrsigs_ = 0;
    any_ttl_ = false;
    min_ttl_ = UINT32_MAX;
    if (msg == nullptr || len < kHeaderLen || len > kMaxMessage) return false;
    an_ = ancount(msg);
    ns_count_ = nscount(msg);
    ar_ = arcount(msg);

    size_t off = kHeaderLen;
    for (unsigned i = 0, n = qdcount(msg); i < n; ++i) {
        const size_t end = read_name(msg, len, off);
        if (end == 0 || end + 4 > len) return false;
        if (i == 0) {
            qname_end_ = uint16_t(end);
            qtype_ = rd16(msg + end);
            qclass_ = rd16(msg + end + 2);
        }
        off = end + 4;
    }
    question_end_ = uint16_t(off);

    const unsigned total = unsigned(an_) + ns_count_ + ar_;
    for (unsigned i = 0; i < total; ++i) {
        const size_t p = read_name(msg, len, off);
        if (p == 0 || p + 10 > len) return false;
        const uint16_t type = rd16(msg + p);
        const uint32_t ttl = rd32(msg + p + 4);
        const uint16_t rdlen = rd16(msg + p + 8);
        const size_t end = p + 10 + rdlen;
        if (end > len) return false;
        const int section = section_of(i);
        if (i < kMaxIndexed) rr_[i] = Pos{uint16_t(off), uint16_t(p), type, rdlen};
        // miekg cannot unpack an OPT whose options run past its RDATA.
        if (type == kTypeOPT && !options_framed(msg + p + 10, rdlen)) return false;
        if (section == 3 && type == kTypeOPT) {
            if (opt_count_++ == 0) {
                opt_off_ = uint16_t(off);
                opt_len_ = uint16_t(end - off);
            }
            opt_ttl_ = ttl;
        } else {
            any_ttl_ = true;
            if (ttl < min_ttl_) min_ttl_ = ttl;
        }
        if (section == 2) {
            if (type == kTypeSOA) soa_ = true;
            else if (type == kTypeNS) ++ns_;
        }
        if (type == kTypeRRSIG) ++rrsigs_;
        ++rr_total_;
        off = end;
    }
    ok_ = true;
    return true;
}

unsigned ReplyView::rcode() const {
    if (len_ < kHeaderLen) return 0;
    unsigned rc = wire::rcode(msg_);
    if (has_opt()) rc |= unsigned(opt_ttl_ >> 24) << 4;
    return rc;
}

bool ReplyView::answers(const QueryInfo& q, bool check_class) const {
    if (!parsed_ || len_ < kHeaderLen || qdcount(msg_) != 1 || !(flags(msg_) & kQR) || !has_question())
        return false;
    if (qtype_ != q.qtype || (check_class && qclass_ != q.qclass)) return false;
    uint8_t name[kMaxNameLen];
    size_t nlen = 0;
    if (read_name(msg_, len_, kHeaderLen, name, &nlen, true) == 0) return false;
    return nlen == q.name_len && std::memcmp(name, q.name, nlen) == 0;
}

bool ReplyView::rrsig_expired(int64_t now) const {
    if (rrsigs_ == 0) return false;
    bool expired = false;
    for_each([&](const RR& rr) {
        if (rr.type == kTypeRRSIG && !rrsig_valid(msg_ + rr.rdata(), rr.rdlen, now)) expired = true;
        return !expired;
    });
    return expired;
}

ReplyType ReplyView::typify(int64_t now) const {
    if (!parsed_ || len_ < kHeaderLen) return ReplyType::other_error;
    const uint8_t op = opcode(msg_);
    if (op == 5) return ReplyType::update;
    if (op == 4) return ReplyType::meta;
    if (qdcount(msg_) > 0) {
        if (!has_question()) return ReplyType::other_error;
        if (qtype_ == kTypeAXFR || qtype_ == kTypeIXFR) return ReplyType::meta;
    }
    // miekg could not have unpacked it: CoreDNS never sees such a reply.
    if (!ok_) return ReplyType::other_error;
    if (do_bit() && rrsig_expired(now)) return ReplyType::other_error;
    const unsigned rc = rcode();
    if (an_ > 0 && rc == kNoError) return ReplyType::no_error;
    if (soa_ && rc == kNoError) return ReplyType::no_data;
    if (soa_ && rc == kNXDomain) return ReplyType::name_error;
    if (rc == kServFail || rc == kNotImp) return ReplyType::server_error;
    if (ns_ > 0 && rc == kNoError) return ReplyType::delegation;
    if (rc == kNoError) return ReplyType::no_error;
    return ReplyType::other_error;
}

int64_t ReplyView::minimal_ttl(ReplyType t) const {
    constexpr int64_t kMinimalDefault = 5, kMaximumDefault = 3600;
    if (t != ReplyType::no_error && t != ReplyType::name_error && t != ReplyType::no_data)
        return kMinimalDefault;
    // No records, or only the OPT: a short TTL as a fail-safe.
    if (rr_total_ == 0 || (!any_ttl_ && an_ + ns_count_ == 0 && ar_ <= 1)) return kMinimalDefault;
    return any_ttl_ && min_ttl_ < kMaximumDefault ? int64_t(min_ttl_) : kMaximumDefault;
}

size_t ReplyView::records_end() const {
    if (!ok_) return 0;
    if (rr_total_ == 0) return question_end_;
    if (indexed()) {
        const Pos& p = rr_[rr_total_ - 1];
        return size_t(p.type_off) + 10 + p.rdlen;
    }
    size_t end = question_end_;
    for_each_rr(msg_, len_, [&](const RR& rr) {
        end = rr.end;
        return true;
    });
    return end;
}

size_t ReplyView::strip_opt(uint8_t* msg) {
    if (!ok_ || opt_count_ == 0) return len_;
    if (!indexed()) {
        // Too many records to edit by position: do it by walking, then look again.
        const size_t n = wire::strip_opt(msg, len_);
        parse(msg, n);
        return n;
    }
    unsigned kept = 0;
    size_t removed = 0;
    for (unsigned i = 0; i < rr_total_; ++i) {
        Pos p = rr_[i];
        const size_t end = size_t(p.type_off) + 10 + p.rdlen;
        if (section_of(i) == 3 && p.type == kTypeOPT) {
            const size_t off = p.off - removed;
            const size_t rr_len = end - p.off;
            std::memmove(msg + off, msg + off + rr_len, len_ - removed - (off + rr_len));
            removed += rr_len;
            continue;
        }
        p.off = uint16_t(p.off - removed);
        p.type_off = uint16_t(p.type_off - removed);
        rr_[kept++] = p;
    }
    wr16(msg + 10, uint16_t(ar_ - opt_count_));
    // Walk again: a name may have been compressed against bytes of the
    // removed OPT (a crafted reply; found by the wire fuzz target), and then
    // the view must say the message no longer walks.
    parse(msg, len_ - removed);
    return len_;
}

void ReplyView::set_all_ttls(uint8_t* msg, uint32_t ttl) {
    if (!ok_) return;
    for_each([&](const RR& rr) {
        if (rr.type != kTypeOPT) wr32(msg + rr.type_off + 4, ttl);
        return true;
    });
    if (any_ttl_) min_ttl_ = ttl;
}

}  // namespace dnscore::wire
