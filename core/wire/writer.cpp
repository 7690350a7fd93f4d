#include "core/wire/writer.hpp"

#include <cstring>

namespace dnscore::wire {

namespace {
// Header count fields: QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT.
constexpr size_t count_off(int i) { return 4 + 2 * size_t(i); }
constexpr uint16_t kPointer = 0xC000;
constexpr size_t kMaxPointerTarget = 0x3FFF;
constexpr uint16_t kOptionEDE = 15;
}  // namespace

Writer Writer::append(uint8_t* buf, size_t len, size_t cap) {
    Writer w(buf, cap);
    if (len < kHeaderLen || len > cap) {
        w.ok_ = false;
        return w;
    }
    w.len_ = len;
    w.section_ = Section::additional;
    return w;
}

bool Writer::reserve(size_t n) {
    if (!ok_ || n > cap_ - len_) {
        ok_ = false;
        return false;
    }
    return true;
}

void Writer::put16(uint16_t v) {
    if (!reserve(2)) return;
    wr16(buf_ + len_, v);
    len_ += 2;
}
void Writer::put32(uint32_t v) {
    if (!reserve(4)) return;
    wr32(buf_ + len_, v);
    len_ += 4;
}
void Writer::put(const uint8_t* p, size_t n) {
    if (!reserve(n)) return;
    if (n) std::memmove(buf_ + len_, p, n);  // p may be null when n is 0
    len_ += n;
}

void Writer::header(uint16_t id, uint16_t flags) {
    len_ = 0;
    ok_ = true;
    suffix_count_ = 0;
    section_ = Section::answer;
    opt_rdlen_off_ = 0;
    if (!reserve(kHeaderLen)) return;
    wr16(buf_, id);
    wr16(buf_ + 2, flags);
    std::memset(buf_ + count_off(0), 0, 8);
    len_ = kHeaderLen;
}

void Writer::set_flags(uint16_t flags) {
    if (ok_ && len_ >= kHeaderLen) wr16(buf_ + 2, flags);
}

void Writer::reply_header(const uint8_t* req, const QueryInfo& q, uint8_t rc, bool with_question, bool echo) {
    uint16_t f = uint16_t(kQR | (uint16_t(q.opcode) << 11) | (rc & 0x0f));
    // miekg's reject path keeps the request's header bits whatever the
    // opcode; SetReply copies RD and CD for opcode QUERY only.
    if (echo) f |= q.flags & (kRD | kCD | kAD);
    else f |= reply_rd_cd(q);
    header(q.id, f);
    if (!with_question || !q.has_question) return;
    // Re-read the name with its original case (the client's 0x20 pattern).
    uint8_t name[kMaxNameLen];
    size_t nlen = 0;
    if (!reserve(size_t(q.name_len) + 4)) return;
    read_name(req, q.question_end, q.qname_off, name, &nlen, false);
    question(name, nlen, q.qtype, q.qclass);
}

void Writer::bump_count() {
    const int i = int(section_);
    wr16(buf_ + count_off(i), uint16_t(rd16(buf_ + count_off(i)) + 1));
}

void Writer::question(const uint8_t* qname, size_t nlen, uint16_t type, uint16_t klass) {
    if (!ok_) return;
    name(qname, nlen, compress_);
    put16(type);
    put16(klass);
    if (ok_) wr16(buf_ + count_off(0), uint16_t(rd16(buf_ + count_off(0)) + 1));
}

void Writer::section(Section s) {
    if (s > section_) section_ = s;
}

void Writer::remember(size_t off, size_t wire_len) {
    if (suffix_count_ < kMaxSuffixes && off <= kMaxPointerTarget) {
        suffixes_[suffix_count_] = uint16_t(off);
        suffix_lens_[suffix_count_] = uint16_t(wire_len);
        ++suffix_count_;
    }
}

bool Writer::same_suffix(const uint8_t* n, size_t i, size_t nlen, size_t off) const {
    // Walks the written name (following our own pointers) label by label.
    int jumps = 0;
    for (;;) {
        if (off >= len_ || i >= nlen) return false;
        const uint8_t c = buf_[off];
        if ((c & 0xC0) == 0xC0) {
            if (off + 1 >= len_ || ++jumps > 64) return false;
            off = size_t(c & 0x3f) << 8 | buf_[off + 1];
            continue;
        }
        if (c != n[i]) return false;
        if (c == 0) return true;
        if (i + 1 + c > nlen || off + 1 + c > len_) return false;
        // Exact bytes: a pointer must not change the case the caller wrote.
        if (std::memcmp(buf_ + off + 1, n + i + 1, c) != 0) return false;
        i += 1 + c;
        off += 1 + c;
    }
}

void Writer::name(const uint8_t* n, size_t nlen, bool compress) {
    if (!ok_) return;
    // Where the name ends (after its root label): a suffix can only equal a
    // remembered one of the same length, which skips the label walk for
    // nearly all of them (with names of up to 127 labels against 32
    // suffixes, walking each cost up to 127 x 32 x 127 label compares).
    size_t end = 0;
    while (end < nlen && n[end] != 0) end += size_t(n[end]) + 1;
    end = end < nlen ? end + 1 : nlen;
    // Only names written before this one: its own labels written so far
    // have no root yet, so they can never match.
    const size_t earlier = suffix_count_;
    // Label boundaries of the name (the root label ends the walk).
    size_t i = 0;
    while (i < nlen && n[i] != 0) {
        if (compress) {
            for (size_t k = 0; k < earlier; ++k) {
                if (suffix_lens_[k] == end - i && same_suffix(n, i, nlen, suffixes_[k])) {
                    put16(uint16_t(kPointer | suffixes_[k]));
                    return;
                }
            }
        }
        const size_t l = size_t(n[i]) + 1;
        if (i + l > nlen) break;  // malformed: write what is there
        if (compress_) remember(len_, end - i);
        put(n + i, l);
        i += l;
    }
    if (i < nlen) put(n + i, 1);  // the root label
}

size_t Writer::rr_start(const uint8_t* n, size_t nlen, uint16_t type, uint16_t klass, uint32_t ttl) {
    if (!ok_) return 0;
    name(n, nlen, compress_);
    put16(type);
    put16(klass);
    put32(ttl);
    const size_t rdlen_off = len_;
    put16(0);
    if (!ok_) return 0;
    bump_count();
    return rdlen_off;
}

void Writer::rr_end(size_t rdlen_off) {
    if (ok_ && rdlen_off) wr16(buf_ + rdlen_off, uint16_t(len_ - rdlen_off - 2));
}

void Writer::rr(const uint8_t* n, size_t nlen, uint16_t type, uint16_t klass, uint32_t ttl, const uint8_t* rdata,
                size_t rdlen) {
    const size_t at = rr_start(n, nlen, type, klass, ttl);
    if (rdlen > 0xFFFF) ok_ = false;
    put(rdata, rdlen);
    rr_end(at);
}

void Writer::txt(const uint8_t* n, size_t nlen, uint16_t klass, uint32_t ttl, std::string_view text) {
    const size_t at = rr_start(n, nlen, kTypeTXT, klass, ttl);
    do {
        const size_t chunk = text.size() < 255 ? text.size() : 255;
        const uint8_t l = uint8_t(chunk);
        put(&l, 1);
        put(reinterpret_cast<const uint8_t*>(text.data()), chunk);
        text.remove_prefix(chunk);
    } while (!text.empty());
    rr_end(at);
}

void Writer::name_rr(const uint8_t* owner, size_t olen, uint16_t type, uint16_t klass, uint32_t ttl,
                     const uint8_t* target, size_t tlen) {
    const size_t at = rr_start(owner, olen, type, klass, ttl);
    name(target, tlen, compress_);
    rr_end(at);
}

void Writer::srv(const uint8_t* n, size_t nlen, uint16_t klass, uint32_t ttl, uint16_t priority, uint16_t weight,
                 uint16_t port, const uint8_t* target, size_t tlen) {
    const size_t at = rr_start(n, nlen, kTypeSRV, klass, ttl);
    put16(priority);
    put16(weight);
    put16(port);
    name(target, tlen, false);
    rr_end(at);
}

void Writer::opt(uint16_t udp_size, uint8_t ext_rcode, uint8_t version, bool do_bit, uint16_t flags_rest) {
    section(Section::additional);
    static constexpr uint8_t kRoot[1] = {0};
    const uint32_t ttl = uint32_t(ext_rcode) << 24 | uint32_t(version) << 16 | (do_bit ? 0x8000u : 0u) |
                         (flags_rest & 0x7fffu);
    const size_t at = rr_start(kRoot, 1, kTypeOPT, udp_size, ttl);
    opt_rdlen_off_ = ok_ ? at : 0;
}

void Writer::reopen_opt(size_t opt_off) {
    // Owner "." (one byte), TYPE, CLASS, TTL, then RDLENGTH.
    const size_t rdlen_off = opt_off + 1 + 8;
    if (!ok_ || rdlen_off + 2 > len_ || buf_[opt_off] != 0 || rd16(buf_ + opt_off + 1) != kTypeOPT ||
        rdlen_off + 2 + rd16(buf_ + rdlen_off) != len_) {
        ok_ = false;
        return;
    }
    section_ = Section::additional;
    opt_rdlen_off_ = rdlen_off;
}

void Writer::option(uint16_t code, const uint8_t* data, size_t len) {
    if (!ok_ || opt_rdlen_off_ == 0 || !reserve(4 + len)) {
        ok_ = false;
        return;
    }
    put16(code);
    put16(uint16_t(len));
    put(data, len);
    rr_end(opt_rdlen_off_);
}

void Writer::ede(uint16_t info_code, std::string_view text) {
    uint8_t data[2 + 512];
    if (text.size() > sizeof data - 2) text = text.substr(0, sizeof data - 2);
    wr16(data, info_code);
    if (!text.empty()) std::memcpy(data + 2, text.data(), text.size());  // data() may be null
    option(kOptionEDE, data, 2 + text.size());
}

}  // namespace dnscore::wire
