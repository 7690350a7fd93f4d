// EDNS/OPT handling (core/wire): a request's OPT as parse_query reads it,
// then every reply the server builds from it (header replies, BADVERS, the
// client's OPT attached, an EDE added), each checked to stay inside its
// buffer and to parse again.
#include <vector>

#include "core/wire/reply.hpp"
#include "core/wire/wire.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using namespace dnscore;

namespace {
void check_reply(const uint8_t* out, size_t n, size_t cap) {
    FUZZ_CHECK(n <= cap);
    if (n == 0) return;
    wire::ReplyView v(out, n);
    FUZZ_CHECK(v.ok());
    FUZZ_CHECK(wire::flags(out) & wire::kQR);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1 || size > wire::kMaxMessage) return 0;
    fuzz::Input in(data, size);
    const uint8_t mode = in.u8();
    const auto req = in.rest();
    wire::QueryInfo q;
    const wire::Verdict verdict = wire::parse_query(req.data(), req.size(), q);
    if (q.edns.present) {
        FUZZ_CHECK(size_t(q.edns.rr_off) + q.edns.rr_len <= req.size());
        FUZZ_CHECK(size_t(q.edns.rdata_off) + q.edns.rdata_len <= req.size());
        if (verdict == wire::Verdict::ok)
            FUZZ_CHECK(wire::options_framed(req.data() + q.edns.rdata_off, q.edns.rdata_len));
    }
    if (verdict != wire::Verdict::ok && verdict != wire::Verdict::formerr) return 0;

    // Small capacities too: every builder must refuse rather than overrun.
    const size_t cap = (mode & 1) ? 12 + (mode >> 1) : wire::kMaxMessage;
    std::vector<uint8_t> out(cap);
    const bool with_question = mode & 2;
    const bool echo = mode & 4;
    size_t n = wire::build_header_reply(req.data(), q, wire::kServFail, with_question && q.has_question, echo,
                                        out.data(), cap);
    check_reply(out.data(), n, cap);
    if (verdict != wire::Verdict::ok) return 0;

    if (q.edns.present) {
        const size_t b = wire::build_badvers_reply(req.data(), q, out.data(), cap);
        check_reply(out.data(), b, cap);
        (void)wire::client_opt_len(req.data(), q.edns);
    }
    // A header reply, finished (client's OPT attached) then given an EDE.
    n = wire::build_header_reply(req.data(), q, wire::kNoError, true, false, out.data(), cap);
    if (n == 0) return 0;
    n = wire::finish_reply(out.data(), n, cap, req.data(), q, mode & 8);
    check_reply(out.data(), n, cap);
    n = wire::add_ede(out.data(), n, cap, req.data(), q, uint16_t(mode) * 3);
    check_reply(out.data(), n, cap);
    wire::ReplyView v(out.data(), n);
    if (q.edns.present && v.ok()) FUZZ_CHECK(v.has_opt() || n + wire::client_opt_len(req.data(), q.edns) > cap);
    return 0;
}
