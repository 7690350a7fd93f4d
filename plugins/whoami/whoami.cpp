#include "plugins/whoami/whoami.hpp"

#include <cstring>

#include "corefile/setup.hpp"

namespace dnscore::plugins {

size_t build_whoami_reply(const Query& q, uint8_t* out, size_t cap) {
    using namespace wire;
    // Header + question as asked (case kept), AA set (CoreDNS SetReply + Authoritative).
    size_t n = build_header_reply(q.req, q.info, kNoError, true, false, out, cap);
    if (n == 0) return 0;
    set_flag(out, kAA, true);
    const size_t qname_len = q.info.name_len;
    const uint8_t* qname = out + kHeaderLen;  // the question name just written, as sent
    const bool v4 = q.client.is_v4();
    const size_t ip_len = v4 ? 4 : 16;
    const size_t need = n + (qname_len + 10 + ip_len) + (5 + qname_len + 10 + 7);
    if (need > cap) return 0;

    // QNAME 0 CLASS A|AAAA client-ip
    std::memmove(out + n, qname, qname_len);
    n += qname_len;
    wr16(out + n, v4 ? kTypeA : kTypeAAAA);
    wr16(out + n + 2, q.info.qclass);
    wr32(out + n + 4, 0);
    wr16(out + n + 8, uint16_t(ip_len));
    std::memcpy(out + n + 10, q.client.ip_bytes(), ip_len);
    n += 10 + ip_len;

    // _udp.QNAME 0 CLASS SRV 0 0 PORT .
    out[n] = 4;
    std::memcpy(out + n + 1, q.tcp() ? "_tcp" : "_udp", 4);
    n += 5;
    std::memmove(out + n, out + kHeaderLen, qname_len);
    n += qname_len;
    wr16(out + n, kTypeSRV);
    wr16(out + n + 2, q.info.qclass);
    wr32(out + n + 4, 0);
    wr16(out + n + 8, 7);
    wr16(out + n + 10, 0);  // priority
    wr16(out + n + 12, 0);  // weight
    wr16(out + n + 14, q.client.port());
    out[n + 16] = 0;  // target "."
    n += 17;
    wr16(out + 10, 2);  // ARCOUNT
    return n;
}

Step Whoami::query(Query& q) {
    const size_t len = build_whoami_reply(q, q.resp, q.resp_cap);
    if (len == 0) {
        q.fail(wire::kServFail, "plugin/whoami: reply does not fit", name());
        return Step::done;
    }
    q.set_written(len, name());
    return Step::done;
}

void setup_whoami(corefile::SetupContext& c) {
    // CoreDNS: `whoami` takes no arguments; later lines of a repeated whoami
    // are ignored (only one handler is added).
    bool first = true;
    while (c.d.next()) {
        if (c.d.next_arg()) throw c.d.arg_err();
        if (first) c.add_plugin(std::make_shared<Whoami>());
        first = false;
    }
}

}  // namespace dnscore::plugins
