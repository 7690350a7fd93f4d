#include "plugins/loadbalance/loadbalance.hpp"

#include <arpa/inet.h>
#include <sys/random.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include <boost/asio/steady_timer.hpp>

#include "core/file.hpp"
#include "core/host.hpp"
#include "core/log.hpp"
#include "core/wire/writer.hpp"
#include "parser/gostd.hpp"

namespace asio = boost::asio;

namespace dnscore::plugins::loadbalance {

namespace {

const log::PluginLog kLog{"loadbalance"};

// Records of one reply we reorder; a reply with more is left as it is.
constexpr size_t kMaxRecords = 512;

struct Rec {
    uint16_t off;       // owner name
    uint16_t type_off;  // TYPE
    uint16_t type;
    uint8_t section;
};

enum Category : uint8_t { kCname, kRest, kAddress, kMx };
Category category(uint16_t type) {
    switch (type) {
        case wire::kTypeCNAME: return kCname;
        case wire::kTypeA:
        case wire::kTypeAAAA: return kAddress;
        case wire::kTypeMX: return kMx;
        default: return kRest;
    }
}

// Go's roundRobinShuffle with dns.Id() (a random uint16) as its source.
void round_robin(uint16_t* idx, size_t l, uint64_t (*rnd)()) {
    if (l < 2) return;
    if (l == 2) {
        if (uint16_t(rnd()) % 2 == 0) std::swap(idx[0], idx[1]);
        return;
    }
    for (size_t j = 0; j < l; ++j) {
        const size_t p = j + size_t(uint16_t(rnd())) % (l - j);
        if (p != j) std::swap(idx[j], idx[p]);
    }
}

// weightedRR.topAddressIndex + setTopRecord: picks an address with a
// probability proportional to its weight and swaps it with the first.
void weighted_top(const uint8_t* msg, size_t len, const Rec* recs, uint16_t* idx, size_t l, const Weights& w,
                  uint64_t (*rnd)()) {
    struct Cand {
        uint16_t pos;
        uint16_t weight;
    };
    Cand cands[kMaxRecords];
    unsigned sum = 0;
    for (size_t i = 0; i < l; ++i) {
        const Rec& r = recs[idx[i]];
        unsigned weight = 1;
        uint8_t owner[wire::kMaxNameLen];
        size_t olen = 0;
        const uint16_t rdlen = wire::rd16(msg + r.type_off + 8);
        const uint8_t* rdata = msg + r.type_off + 10;
        Ip16 ip{};
        bool have_ip = false;
        if (r.type == wire::kTypeA && rdlen == 4) {
            ip = Ip16{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, rdata[0], rdata[1], rdata[2], rdata[3]};
            have_ip = true;
        } else if (r.type == wire::kTypeAAAA && rdlen == 16) {
            std::memcpy(ip.data(), rdata, 16);
            have_ip = true;
        }
        if (have_ip && wire::read_name(msg, len, r.off, owner, &olen, false) != 0) weight = w.weight(owner, olen, ip);
        cands[i] = {uint16_t(i), uint16_t(weight)};
        sum += weight;
    }
    std::stable_sort(cands, cands + l, [](const Cand& a, const Cand& b) { return a.weight > b.weight; });
    const unsigned v = unsigned(rnd() % sum);
    unsigned psum = 0;
    for (size_t i = 0; i < l; ++i) {
        psum += cands[i].weight;
        if (v < psum) {
            if (cands[i].pos != 0) std::swap(idx[0], idx[cands[i].pos]);
            return;
        }
    }
}

// Where the names sit in the RDATA of the types whose names may be
// compressed (RFC 1035 types, and those RFC 3597 lets receivers decompress):
// `pre` fixed bytes, then `names` names, then the rest as is.
struct Layout {
    uint8_t pre;
    uint8_t names;
};
Layout layout(uint16_t type) {
    switch (type) {
        case 2: case 3: case 4: case 5: case 7: case 8: case 9: case 12: case 39:  // NS MD MF CNAME MB MG MR PTR DNAME
            return {0, 1};
        case 6: case 14: case 17:  // SOA (then 20 bytes), MINFO, RP
            return {0, 2};
        case 15: case 18: case 21: case 36:  // MX AFSDB RT KX
            return {2, 1};
        case 26:  // PX
            return {2, 2};
        case 33:  // SRV
            return {6, 1};
        default:
            return {0, 0};
    }
}

// Writes record r of `msg` through `w` with every name uncompressed first
// (the writer compresses owners and CNAME/PTR targets again). False when the
// record is malformed.
bool copy_record(wire::Writer& w, const uint8_t* msg, size_t len, const Rec& r) {
    using namespace wire;
    uint8_t owner[kMaxNameLen];
    size_t olen = 0;
    if (read_name(msg, len, r.off, owner, &olen, false) == 0) return false;
    const uint8_t* fixed = msg + r.type_off;
    const uint16_t klass = rd16(fixed + 2);
    const uint32_t ttl = rd32(fixed + 4);
    const uint16_t rdlen = rd16(fixed + 8);
    const size_t rdata = r.type_off + 10;
    const size_t end = rdata + rdlen;
    const Layout lay = layout(r.type);
    if (lay.names == 0) {
        w.rr(owner, olen, r.type, klass, ttl, msg + rdata, rdlen);
        return true;
    }
    uint8_t out[2 * kMaxNameLen + 512];
    size_t n = 0;
    size_t p = rdata;
    if (p + lay.pre > end) return false;
    std::memcpy(out, msg + p, lay.pre);
    n += lay.pre;
    p += lay.pre;
    for (int i = 0; i < lay.names; ++i) {
        size_t nl = 0;
        const size_t after = read_name(msg, len, p, out + n, &nl, false);
        if (after == 0 || after > end) return false;
        n += nl;
        p = after;
    }
    if (end - p > sizeof out - n) return false;
    std::memcpy(out + n, msg + p, end - p);
    n += end - p;
    if (r.type == kTypeCNAME && p == end) w.cname(owner, olen, klass, ttl, out, n);
    else if (r.type == kTypePTR && p == end) w.ptr(owner, olen, klass, ttl, out, n);
    else w.rr(owner, olen, r.type, klass, ttl, out, n);
    return true;
}

uint8_t* scratch() {
    // One message-sized buffer per thread, made on its first reordered reply.
    thread_local std::unique_ptr<uint8_t[]> buf;
    if (!buf) buf.reset(new uint8_t[wire::kMaxMessage]);
    return buf.get();
}

}  // namespace

uint64_t fast_random() {
    thread_local uint64_t s = 0;
    if (s == 0) {
        if (getrandom(&s, sizeof s, GRND_NONBLOCK) != sizeof s) s = uint64_t(std::time(nullptr)) ^ uint64_t(uintptr_t(&s));
        if (s == 0) s = 0x9e3779b97f4a7c15ull;
    }
    // xorshift64*
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ull;
}

unsigned Weights::weight(const uint8_t* name, size_t nlen, const Ip16& ip) const {
    auto it = domains.find(std::string_view(reinterpret_cast<const char*>(name), nlen));
    if (it == domains.end()) return 1;
    for (const auto& [addr, w] : it->second)
        if (addr == ip) return w;
    return 1;
}

size_t shuffle_reply(uint8_t* msg, size_t len, size_t cap, Policy policy, const Weights* weights,
                     uint64_t (*rnd)()) {
    using namespace wire;
    if (len < kHeaderLen || rcode(msg) != kNoError || qdcount(msg) != 1) return 0;
    const size_t qend = skip_question(msg, len);
    if (qend == 0) return 0;
    const uint16_t qtype = rd16(msg + qend - 4);
    if (qtype == kTypeAXFR || qtype == kTypeIXFR) return 0;
    if (policy == Policy::weighted &&
        !(qtype == kTypeA || qtype == kTypeAAAA || qtype == kTypeSRV))
        return 0;

    Rec recs[kMaxRecords];
    size_t n = 0;
    bool ok = true;
    const bool walked = for_each_rr(msg, len, [&](const RR& rr) {
        if (n == kMaxRecords) {
            ok = false;
            return false;
        }
        // miekg's Rcode includes the OPT's extended bits.
        if (rr.type == kTypeOPT && (rr.ttl >> 24) != 0) {
            ok = false;
            return false;
        }
        recs[n++] = {uint16_t(rr.off), uint16_t(rr.type_off), rr.type, uint8_t(rr.section)};
        return true;
    });
    if (!walked || !ok) return 0;

    // The new order, section by section: CNAMEs, the rest, addresses, MX.
    uint16_t order[kMaxRecords];
    bool changed = false;
    size_t b = 0;
    for (uint8_t s = 1; s <= 3; ++s) {
        size_t e = b;
        while (e < n && recs[e].section == s) ++e;
        const bool reorder = policy == Policy::round_robin || s != 2;  // weighted: answer and additional
        size_t k = b;
        size_t addr_start = b, addr_count = 0, mx_start = b, mx_count = 0;
        if (reorder) {
            for (uint8_t cat : {kCname, kRest, kAddress, kMx}) {
                if (cat == kAddress) addr_start = k;
                if (cat == kMx) mx_start = k;
                for (size_t i = b; i < e; ++i)
                    if (category(recs[i].type) == cat) order[k++] = uint16_t(i);
                if (cat == kAddress) addr_count = k - addr_start;
                if (cat == kMx) mx_count = k - mx_start;
            }
            if (policy == Policy::round_robin) {
                round_robin(order + addr_start, addr_count, rnd);
                round_robin(order + mx_start, mx_count, rnd);
            } else if (addr_count == 0) {
                // weightedRoundRobin: no address, no change at all.
                for (size_t i = b; i < e; ++i) order[i] = uint16_t(i);
            } else if (weights) {
                weighted_top(msg, len, recs, order + addr_start, addr_count, *weights, rnd);
            }
        } else {
            for (size_t i = b; i < e; ++i) order[i] = uint16_t(i);
        }
        for (size_t i = b; i < e; ++i) changed = changed || order[i] != i;
        b = e;
    }
    if (!changed) return 0;

    // Rewrite: moving records would break compression pointers into them,
    // so the message is written again from a copy with names expanded.
    uint8_t* copy = scratch();
    std::memcpy(copy, msg, len);
    Writer w(msg, cap);
    w.header(id(copy), flags(copy));
    uint8_t qname[kMaxNameLen];
    size_t qlen = 0;
    read_name(copy, len, kHeaderLen, qname, &qlen, false);
    w.question(qname, qlen, qtype, rd16(copy + qend - 2));
    bool good = true;
    for (size_t i = 0; i < n && good; ++i) {
        const Rec& r = recs[order[i]];
        w.section(Section(r.section));
        good = copy_record(w, copy, len, r);
    }
    const size_t out = good ? w.finish() : 0;
    if (out == 0) {
        std::memcpy(msg, copy, len);  // does not fit or malformed: leave it as it was
        return 0;
    }
    return out;
}

// ---------------------------------------------------------------- weights

Weights parse_weights(std::string_view text, const std::string& file) {
    Weights out;
    std::string dname;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t eol = text.find('\n', pos);
        if (eol == std::string_view::npos) eol = text.size();
        std::string_view line = text.substr(pos, eol - pos);
        pos = eol + 1;
        auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; };
        while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
        while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
        if (line.empty() || line[0] == '#') continue;
        std::vector<std::string> fields;
        for (size_t i = 0; i < line.size();) {
            while (i < line.size() && is_space(line[i])) ++i;
            size_t j = i;
            while (j < line.size() && !is_space(line[j])) ++j;
            if (j > i) fields.emplace_back(line.substr(i, j - i));
            i = j;
        }
        auto parse_ip = [](const std::string& s, Ip16& ip) {
            uint8_t v4[4];
            if (inet_pton(AF_INET, s.c_str(), v4) == 1) {
                ip = Ip16{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, v4[0], v4[1], v4[2], v4[3]};
                return true;
            }
            return inet_pton(AF_INET6, s.c_str(), ip.data()) == 1;
        };
        Ip16 ip;
        if (fields.size() == 1) {
            if (parse_ip(fields[0], ip))
                throw std::runtime_error("wrong domain name:\"" + fields[0] + "\" in weight file " + file +
                                         ". (Maybe a missing weight value?)");
            dname = fields[0];
            if (dname.back() != '.') dname += '.';
            uint8_t w[wire::kMaxNameLen + 1];
            const size_t wl = wire::text_to_name(dname, w);
            // A name that is not valid can never be a record's owner.
            out.domains.try_emplace(std::string(reinterpret_cast<const char*>(w), wl));
            dname.assign(reinterpret_cast<const char*>(w), wl);
        } else if (fields.size() == 2) {
            if (!parse_ip(fields[0], ip))
                throw std::runtime_error("wrong IP address:\"" + fields[0] + "\" in weight file " + file);
            unsigned long long weight = 0;
            try {
                weight = gostd::parse_uint(fields[1], 8);
            } catch (const std::invalid_argument&) {
                weight = 0;
            }
            if (weight == 0)
                throw std::runtime_error("wrong weight value:\"" + fields[1] + "\" in weight file " + file);
            if (dname.empty()) throw std::runtime_error("missing domain name in weight file " + file);
            out.domains[dname].emplace_back(ip, uint8_t(weight));
        } else {
            throw std::runtime_error("could not parse weight line:\"" + std::string(line) + "\" in weight file " + file);
        }
    }
    return out;
}

// ---------------------------------------------------------------- plugin

LoadBalance::LoadBalance()
    : policy_(Policy::round_robin), snapshot_(std::make_shared<WorkerSnapshot<Weights>>(std::make_shared<const Weights>())) {}

LoadBalance::LoadBalance(std::string weight_file, std::chrono::nanoseconds reload)
    : policy_(Policy::weighted), file_(std::move(weight_file)), reload_(reload),
      snapshot_(std::make_shared<WorkerSnapshot<Weights>>(std::make_shared<const Weights>())) {}

LoadBalance::~LoadBalance() { ticker_->stop(); }

std::string LoadBalance::update_weights(Host* host) {
    FileError fe;
    auto content = read_file(file_, &fe);
    if (!content) return fe.at_open ? "weight file open error" : fe.text;
    if (have_content_ && *content == last_content_) return {};  // unchanged (CoreDNS compares an MD5)
    // Kept before parsing, as CoreDNS keeps the checksum: a bad file is
    // reported once, not on every tick.
    last_content_ = *content;
    have_content_ = true;
    std::shared_ptr<const Weights> w;
    try {
        w = std::make_shared<const Weights>(parse_weights(*content, file_));
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    if (host) snapshot_->publish(*host, w);
    else snapshot_->publish_local(0, w);
    kLog.info("Successfully reloaded weight file {}", file_);
    return {};
}

void LoadBalance::start(Host& host) {
    if (policy_ != Policy::weighted) return;
    const std::string err = update_weights(&host);
    if (err == "weight file open error" && reload_.count() != 0)
        kLog.warning("Failed to open weight file:{}. Will try again in {}", err, gostd::format_duration(reload_));
    else if (!err.empty())
        kLog.error("{}", err);  // setup already refused what fails here at start
    ticker_->start(host, reload_, [this](Host& h) {
        const std::string err = update_weights(&h);
        if (!err.empty()) kLog.error("{}", err);
    });
}

void LoadBalance::stop() { ticker_->stop(); }

void LoadBalance::response(Query& q) {
    if (!q.written) return;
    const Weights* w = policy_ == Policy::weighted ? &snapshot_->get(q.worker ? q.worker->index() : 0) : nullptr;
    if (const size_t n = shuffle_reply(q.resp, q.resp_len, q.resp_cap, policy_, w)) q.set_written(n, q.writer);
}

}  // namespace dnscore::plugins::loadbalance
