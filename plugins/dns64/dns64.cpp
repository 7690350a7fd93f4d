#include "plugins/dns64/dns64.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "core/host.hpp"
#include "core/upstream.hpp"
#include "core/wire/reply.hpp"
#include "core/wire/writer.hpp"
#include "corefile/setup.hpp"
#include "parser/parser.hpp"
#include "plugins/dns64/metrics.hpp"

namespace dnscore::plugins {

namespace dns64 {
metrics::Families& metrics::families() {
    static Families* f = [] {
        auto* f = new Families;  // never destroyed: workers may count during exit
        export_families({&f->translated});
        return f;
    }();
    return *f;
}
namespace {
const bool g_exported = (metrics::families(), true);
}  // namespace
}  // namespace dns64

namespace {

constexpr std::string_view kName = "dns64";

// Go's net.IP.String for 16 bytes: a v4-mapped address prints as IPv4.
std::string ip16_text(const std::array<uint8_t, 16>& ip) {
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char buf[INET6_ADDRSTRLEN];
    if (std::memcmp(ip.data(), kMapped, 12) == 0) {
        inet_ntop(AF_INET, ip.data() + 12, buf, sizeof buf);
    } else {
        inet_ntop(AF_INET6, ip.data(), buf, sizeof buf);
    }
    return buf;
}

// net.ParseCIDR plus CoreDNS's parsePrefix checks. `d` positions the errors.
void parse_prefix(const parser::Dispenser& d, const std::string& arg, Dns64Options& o) {
    const parser::ConfigError bad("invalid CIDR address: " + arg);
    const auto slash = arg.find('/');
    if (slash == std::string::npos) throw bad;
    const std::string addr = arg.substr(0, slash), bits = arg.substr(slash + 1);
    std::array<uint8_t, 16> ip{};
    int total = 128;
    if (addr.find(':') != std::string::npos) {
        if (inet_pton(AF_INET6, addr.c_str(), ip.data()) != 1) throw bad;
    } else {
        if (inet_pton(AF_INET, addr.c_str(), ip.data() + 12) != 1) throw bad;
        total = 32;
    }
    // Go's dtoi: decimal digits only, at most the address's bit length.
    if (bits.empty() || bits.size() > 3 || !std::all_of(bits.begin(), bits.end(), [](char c) { return c >= '0' && c <= '9'; }))
        throw bad;
    const int n = std::stoi(bits);
    if (n > total) throw bad;
    // The network (IP.Mask) as IPNet.String prints it.
    std::array<uint8_t, 16> net{};
    const int skip = total == 32 ? 12 : 0;
    for (int i = 0; i < total / 8; ++i) {
        const int keep = std::clamp(n - i * 8, 0, 8);
        net[size_t(skip + i)] = uint8_t(ip[size_t(skip + i)] & uint8_t(0xff00 >> keep));
    }
    std::string text;
    if (total == 32) {
        char buf[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, net.data() + 12, buf, sizeof buf);
        text = std::string(buf) + "/" + std::to_string(n);
    } else {
        text = ip16_text(net) + "/" + std::to_string(n);
    }
    if (total != 128)
        throw d.err("invalid netmask " + std::to_string(total) + " IPv6 address: \"" + text + "\"");
    if (n % 8 != 0 || n < 32 || n > 96) throw d.err("invalid prefix length \"" + text + "\"");
    o.prefix = net;
    o.prefix_len = n;
    o.prefix_text = text;
}

}  // namespace

Dns64Options parse_dns64(parser::Dispenser& d) {
    Dns64Options o;
    while (d.next()) {
        const auto args = d.remaining_args();
        if (args.size() == 1) {
            parse_prefix(d, args[0], o);
            continue;  // as CoreDNS: a block after a prefix argument is not read here
        }
        if (!args.empty()) throw d.arg_err();
        while (d.next_block()) {
            const std::string v = d.val();
            if (v == "prefix") {
                if (!d.next_arg()) throw d.arg_err();
                parse_prefix(d, d.val(), o);
            } else if (v == "translate_all") {
                o.translate_all = true;
            } else if (v == "allow_ipv4") {
                o.allow_ipv4 = true;
            } else {
                throw d.err("unknown property '" + v + "'");
            }
        }
    }
    return o;
}

std::array<uint8_t, 16> embed_ipv4(const std::array<uint8_t, 16>& prefix, int prefix_len, const uint8_t (&v4)[4]) {
    std::array<uint8_t, 16> v6{};
    size_t i = 0, j = 0;
    for (; i < size_t(prefix_len / 8); ++i) v6[i] = prefix[i];
    for (; i < 8 && j < 4; ++i, ++j) v6[i] = v4[j];
    if (i == 8) ++i;  // bits 64..71 (the "u" octet) stay zero
    for (; j < 4; ++i, ++j) v6[i] = v4[j];
    return v6;
}

size_t synthesize_dns64(const Query& q, const Dns64Options& o, const uint8_t* a_reply, size_t a_len, uint32_t soa_ttl,
                        uint8_t* out, size_t cap) {
    using namespace wire;
    if (a_len < kHeaderLen) return 0;
    Writer w(out, cap);
    w.reply_header(q.req, q.info, kNoError, true, false);
    if (flags(a_reply) & kTC) w.set_flags(uint16_t(flags(out) | kTC));
    bool ok = true;
    const bool walked = for_each_rr(a_reply, a_len, [&](const RR& rr) {
        uint8_t owner[kMaxNameLen];
        size_t olen = 0;
        if (read_name(a_reply, a_len, rr.off, owner, &olen) == 0) return ok = false;
        w.section(Section(rr.section));
        if (rr.section == 1 && rr.type == kTypeA && rr.rdlen == 4) {
            uint8_t v4[4];
            std::memcpy(v4, a_reply + rr.rdata(), 4);
            const auto v6 = embed_ipv4(o.prefix, o.prefix_len, v4);
            uint8_t ip[16];
            std::memcpy(ip, v6.data(), 16);
            w.aaaa(owner, olen, rr.klass, std::min(rr.ttl, soa_ttl), ip);
        } else {
            uint8_t rdata[kMaxMessage];
            const size_t n = uncompressed_rdata(a_reply, a_len, rr, rdata, sizeof rdata);
            if (n == 0 && rr.rdlen != 0) return ok = false;
            w.rr(owner, olen, rr.type, rr.klass, rr.ttl, rdata, n);
        }
        return w.ok();
    });
    if (!walked || !ok) return 0;
    return w.finish();
}

Step Dns64::query(Query& q) {
    // requestShouldIntercept: AAAA/IN, and from an IPv6 client unless allow_ipv4.
    if (q.info.qtype != wire::kTypeAAAA || q.info.qclass != wire::kClassIN) return Step::next;
    if (!o_.allow_ipv4 && q.client.family_label() == 1) return Step::next;
    return Step::async;
}

void Dns64::query_async(std::unique_ptr<OwnedQuery> q) {
    // The outer exchange waits for the plugins below (CoreDNS's nonwriter).
    OwnedQuery* outer = q.release();
    run_below(*outer, [this, outer](OwnedQuery& sub) { below_done(std::unique_ptr<OwnedQuery>(outer), sub); });
}

void Dns64::below_done(std::unique_ptr<OwnedQuery> q, OwnedQuery& sub) {
    // CoreDNS's metadata map is shared through the context: what the plugins
    // below published is visible above dns64 (log's {/forward/upstream}).
    q->meta = sub.meta;
    if (!sub.written) {
        // Nothing written below: their rcode and error go up unchanged.
        q->fail(sub.rcode, sub.error, sub.error_plugin);
        resume(std::move(q), Step::done);
        return;
    }
    // responseShouldDNS64: not for NXDOMAIN; not when AAAA records exist
    // (unless translate_all).
    const wire::ReplyView& view = sub.reply();
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    bool translate = view.ok() && view.typify(now) != wire::ReplyType::name_error;
    uint32_t soa_ttl = 600;  // CoreDNS's default when the reply has no SOA
    if (translate) {
        wire::for_each_rr(sub.resp, sub.resp_len, [&](const wire::RR& rr) {
            if (rr.section == 1 && rr.type == wire::kTypeAAAA && !o_.translate_all) translate = false;
            if (rr.section == 2 && rr.type == wire::kTypeSOA) soa_ttl = rr.ttl;  // the last one, as CoreDNS
            return true;
        });
    }
    if (!translate) {
        if (q->write_reply(sub.resp, sub.resp_len, sub.writer)) q->rcode = sub.rcode;  // origRc
        else q->fail(wire::kServFail, "plugin/dns64: reply does not fit", kName);
        resume(std::move(q), Step::done);
        return;
    }
    // DoDNS64: the A records of the same name through the whole server.
    OwnedQuery* outer = q.release();
    upstream_lookup(*outer, outer->info.name, outer->info.name_len, wire::kTypeA, [this, outer, soa_ttl](OwnedQuery& a) {
        std::unique_ptr<OwnedQuery> q(outer);
        q->meta = a.meta;
        const size_t n = synthesize_dns64(*q, o_, a.resp, a.written ? a.resp_len : 0, soa_ttl, q->resp, q->resp_cap);
        if (n == 0) {
            q->fail(wire::kServFail, "plugin/dns64: synthesised reply does not fit", kName);
        } else {
            q->set_written(n, kName);
            auto& f = dns64::metrics::families();
            const std::string_view server = q->site ? std::string_view(q->site->server) : std::string_view();
            int i = f.server.find({server});
            if (i == dns64::metrics::kOverflow) i = f.server.intern({server});
            f.translated.inc(q->worker ? q->worker->index() : 0, {i});
        }
        resume(std::move(q), Step::done);
    });
}

void setup_dns64(corefile::SetupContext& c) {
    // Errors get "plugin/dns64: " from the loader (CoreDNS's setup wraps once).
    c.add_plugin(std::make_shared<Dns64>(parse_dns64(c.d)));
}

}  // namespace dnscore::plugins
