// forward's validation of an upstream reply (plugins/forward/forward.cpp,
// exchange_once and run_query): the reply must walk (q.parse_reply(len).ok(),
// else "dns: overflow unpacking uint16") and must answer the question
// (pending_reply(len).answers(q.info, true), else FORMERR); the view made
// there is what cache and log reuse after set_written. Those calls are the
// ones made here, on the same Query API. forward's truncate_reply (a UDP
// reply over the client's buffer size) is internal to transport.cpp and not
// reachable without sockets; the finisher target covers truncation.
#include <cstring>
#include <vector>

#include "core/query.hpp"
#include "core/wire/reply.hpp"
#include "core/wire/wire.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using namespace dnscore;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::Input in(data, size);
    auto req_part = in.part();
    const auto reply = in.rest();
    std::vector<uint8_t> req(req_part.begin(), req_part.end());
    Query q;
    q.req = req.data();
    q.req_len = req.size();
    if (wire::parse_query(q.req, q.req_len, q.info) != wire::Verdict::ok) return 0;
    std::vector<uint8_t> resp(wire::kMaxMessage);
    q.resp = resp.data();
    q.resp_cap = resp.size();
    if (reply.size() > resp.size()) return 0;
    std::memcpy(resp.data(), reply.data(), reply.size());

    const bool ok = q.parse_reply(reply.size()).ok();
    if (!ok) return 0;
    const wire::ReplyView& v = q.pending_reply(reply.size());
    FUZZ_CHECK(v.of(q.resp, reply.size()));
    const bool answers = v.answers(q.info, true);
    if (answers) {
        FUZZ_CHECK(v.has_question());
        FUZZ_CHECK(v.qtype() == q.info.qtype);
        FUZZ_CHECK(wire::flags(q.resp) & wire::kQR);
        wire::set_id(q.resp, q.info.id);
        q.set_written(reply.size(), "forward");
        // The kept view is what cache and log read next.
        wire::ReplyView& kept = q.reply();
        FUZZ_CHECK(kept.ok() && kept.of(q.resp, reply.size()));
        (void)kept.typify(1'700'000'000);
        const size_t n = kept.strip_opt(q.resp);
        FUZZ_CHECK(n <= reply.size());
    } else {
        // What forward answers instead.
        const size_t len = wire::build_header_reply(q.req, q.info, wire::kFormErr, true, false, q.resp, q.resp_cap);
        FUZZ_CHECK(len > 0);
        q.set_written(len, "forward");
        FUZZ_CHECK(q.reply().ok());
    }
    return 0;
}
