#include "plugins/any/any.hpp"

#include "core/wire/writer.hpp"
#include "corefile/setup.hpp"

namespace dnscore::plugins {

namespace {
// HINFO RDATA: two character-strings, "ANY obsoleted" and "See RFC 8482".
constexpr uint8_t kHinfo[] = {13, 'A', 'N', 'Y', ' ', 'o', 'b', 's', 'o', 'l', 'e', 't', 'e', 'd',
                              12, 'S', 'e', 'e', ' ', 'R', 'F', 'C', ' ', '8', '4', '8', '2'};
constexpr uint32_t kTtl = 8482;
}  // namespace

size_t build_any_reply(const Query& q, uint8_t* out, size_t cap) {
    using namespace wire;
    Writer w(out, cap);
    // miekg SetReply (not authoritative), packed uncompressed as CoreDNS does.
    w.set_compression(false);
    w.reply_header(q.req, q.info, kNoError, true, false);
    if (!w.ok() || !q.info.has_question) return 0;
    // The owner is the question name as the client wrote it; class IN whatever was asked.
    uint8_t owner[kMaxNameLen];
    size_t olen = 0;
    if (read_name(q.req, q.info.question_end, q.info.qname_off, owner, &olen, false) == 0) return 0;
    w.rr(owner, olen, kTypeHINFO, kClassIN, kTtl, kHinfo, sizeof kHinfo);
    return w.finish();
}

Step Any::query(Query& q) {
    if (q.info.qtype != wire::kTypeANY) return Step::next;
    const size_t len = build_any_reply(q, q.resp, q.resp_cap);
    if (len == 0) {
        q.fail(wire::kServFail, "plugin/any: reply does not fit", name());
        return Step::done;
    }
    q.set_written(len, name());
    return Step::done;
}

void setup_any(corefile::SetupContext& c) {
    // CoreDNS's setup reads no token: arguments, a block and repeats are
    // accepted, and one handler is added.
    c.add_plugin(std::make_shared<Any>());
}

}  // namespace dnscore::plugins
