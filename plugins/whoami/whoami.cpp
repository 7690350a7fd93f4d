#include "plugins/whoami/whoami.hpp"

#include <cstring>

#include "core/wire/writer.hpp"
#include "corefile/setup.hpp"

namespace dnscore::plugins {

size_t build_whoami_reply(const Query& q, uint8_t* out, size_t cap) {
    using namespace wire;
    Writer w(out, cap);
    // CoreDNS sends whoami's reply uncompressed.
    w.set_compression(false);
    // Header + question as asked (case kept), AA set (CoreDNS SetReply + Authoritative).
    w.reply_header(q.req, q.info, kNoError, true, false);
    if (!w.ok() || !q.info.has_question) return 0;
    w.set_flags(uint16_t(flags(out) | kAA));

    // The question name as the client wrote it, and _udp/_tcp in front of it.
    uint8_t srv_name[1 + 4 + kMaxNameLen];
    size_t nlen = 0;
    read_name(q.req, q.info.question_end, q.info.qname_off, srv_name + 5, &nlen, false);
    const uint8_t* qname = srv_name + 5;
    srv_name[0] = 4;
    std::memcpy(srv_name + 1, q.tcp() ? "_tcp" : "_udp", 4);

    w.section(Section::additional);
    // QNAME 0 CLASS A|AAAA client-ip
    const uint8_t* ip = q.client.ip_bytes();
    if (q.client.is_v4()) {
        uint8_t v4[4];
        std::memcpy(v4, ip, 4);
        w.a(qname, nlen, q.info.qclass, 0, v4);
    } else {
        uint8_t v6[16];
        std::memcpy(v6, ip, 16);
        w.aaaa(qname, nlen, q.info.qclass, 0, v6);
    }
    // _udp.QNAME 0 CLASS SRV 0 0 PORT .
    static constexpr uint8_t kRoot[1] = {0};
    w.srv(srv_name, 5 + nlen, q.info.qclass, 0, 0, 0, q.client.port(), kRoot, 1);
    return w.finish();
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
