// The response finisher (wire::finish_reply, applied by the chain runner to
// every reply before it is sent): EDNS mirrored from the client into any
// reply, and truncation to the client's size with TC. Input: a mode byte, a
// length-prefixed request, then the reply.
#include <cstring>
#include <vector>

#include "core/wire/reply.hpp"
#include "core/wire/wire.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using namespace dnscore;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::Input in(data, size);
    const uint8_t mode = in.u8();
    const auto req = in.part();
    const auto reply = in.rest();
    wire::QueryInfo q;
    if (wire::parse_query(req.data(), req.size(), q) != wire::Verdict::ok) return 0;
    if (reply.size() > wire::kMaxMessage) return 0;
    const bool tcp = mode & 1;
    const bool use_view = mode & 2;

    // The worker's reply buffer: kMaxMessage bytes.
    std::vector<uint8_t> buf(wire::kMaxMessage);
    std::memcpy(buf.data(), reply.data(), reply.size());
    wire::ReplyView view;
    if (use_view) view.parse(buf.data(), reply.size());
    const bool walkable = wire::ReplyView(buf.data(), reply.size()).ok();
    const size_t n = wire::finish_reply(buf.data(), reply.size(), buf.size(), req.data(), q, tcp,
                                        use_view ? &view : nullptr);
    FUZZ_CHECK(n <= buf.size());
    // A reply ReplyView rejects (an OPT with unframed options) may still be
    // walkable record by record: the finisher then works on it as it can.
    if (!walkable) return 0;
    wire::ReplyView out(buf.data(), n);
    FUZZ_CHECK(out.ok());
    const size_t limit = q.udp_size(tcp);
    if (n > limit) {
        // Only the header, the question(s) and the bare OPT may stand over
        // the limit: every record that could go went.
        unsigned records = 0;
        out.for_each([&](const wire::RR& rr) {
            records += rr.type != wire::kTypeOPT;
            return true;
        });
        FUZZ_CHECK(records == 0);
    }
    // A client with EDNS gets an OPT back (unless even the bare one cannot fit).
    if (q.edns.present && n + 11 <= limit) FUZZ_CHECK(out.has_opt());
    // Finishing twice changes nothing more.
    std::vector<uint8_t> again(buf.begin(), buf.begin() + n);
    again.resize(wire::kMaxMessage);
    const size_t n2 = wire::finish_reply(again.data(), n, again.size(), req.data(), q, tcp);
    FUZZ_CHECK(n2 == n);
    return 0;
}
