// The cache plugin's insert and hit paths (plugins/cache) with replies
// crafted to confuse it: a query and an "upstream" reply from the input run
// through the real chain runner ([cache, fake upstream], as the server runs
// it, finisher included); then the same question again (a hit when it was
// stored) and once more after the clock moved. Each reply the client gets
// must parse, carry its ID and fit its size.
#include <cstring>
#include <memory>
#include <vector>

#include "core/chain.hpp"
#include "core/config.hpp"
#include "core/query.hpp"
#include "plugins/cache/cache.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using namespace dnscore;
using namespace dnscore::plugins::cache;

namespace {

class ManualClock final : public Clock {
public:
    int64_t now = 1000 * kSecond;
    int64_t wall = 1'700'000'000;
    int64_t now_ns() const override { return now; }
    int64_t wall_s() const override { return wall; }
};

// Below the cache: writes the crafted reply (with the request's ID, as
// forward restores it) when forward would accept it (it walks: forward's
// q.parse_reply(len).ok(); the question is not checked, so replies for
// other names reach the cache's own check), else fails like forward.
class CraftedUpstream final : public Plugin {
public:
    std::basic_string_view<uint8_t> reply;
    int calls = 0;
    std::string_view name() const override { return "forward"; }
    Step query(Query& q) override {
        ++calls;
        if (reply.size() > q.resp_cap) {
            q.fail(wire::kServFail, "too big", name());
            return Step::done;
        }
        std::copy(reply.begin(), reply.end(), q.resp);
        if (!q.parse_reply(reply.size()).ok()) {
            q.fail(wire::kServFail, "dns: overflow unpacking uint16", name());
            return Step::done;
        }
        wire::set_id(q.resp, q.info.id);
        q.set_written(reply.size(), name());
        return Step::done;
    }
};

class Capture final : public ReplySink {
public:
    std::vector<uint8_t> last;
    void send_reply(const uint8_t* msg, size_t len, const Query&) override { last.assign(msg, msg + len); }
};

struct Exchange {
    std::vector<uint8_t> req;
    Query q;
};
// The response buffer of every exchange, zeroed before each: a fresh 64 KiB
// vector per exchange (page faults, ASan's quarantine) was a quarter of the
// target's time once the stores were cheap to build.
uint8_t resp_buf[wire::kMaxMessage];

// Runs `req` (already known to parse) through the chain; returns the reply sent.
std::vector<uint8_t> ask(const Site& site, Capture& sink, std::basic_string_view<uint8_t> req, bool tcp) {
    Exchange x;
    x.req.assign(req.begin(), req.end());
    x.q.req = x.req.data();
    x.q.req_len = x.req.size();
    if (wire::parse_query(x.q.req, x.q.req_len, x.q.info) != wire::Verdict::ok) fuzz::broken("request reparse");
    std::memset(resp_buf, 0, sizeof resp_buf);
    x.q.resp = resp_buf;
    x.q.resp_cap = sizeof resp_buf;
    x.q.proto = tcp ? Proto::tcp : Proto::udp;
    x.q.site = &site;
    x.q.sink = &sink;
    sink.last.clear();
    FUZZ_CHECK(!run_chain(x.q));  // nothing here goes asynchronous
    const std::vector<uint8_t> out = sink.last;
    if (!out.empty()) {
        FUZZ_CHECK(out.size() >= wire::kHeaderLen);
        FUZZ_CHECK(wire::id(out.data()) == x.q.info.id);
        FUZZ_CHECK(out.size() <= x.q.info.udp_size(tcp) || !wire::ReplyView(out.data(), out.size()).ok() ||
                   wire::ancount(out.data()) + wire::nscount(out.data()) == 0);
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::Input in(data, size);
    const uint8_t mode = in.u8();
    const uint8_t advance_s = in.u8();
    const auto req = in.part();
    const auto reply = in.rest();
    wire::QueryInfo qi;
    if (wire::parse_query(req.data(), req.size(), qi) != wire::Verdict::ok) return 0;

    ManualClock clock;
    Config cfg;
    cfg.pcap = cfg.ncap = 64;
    cfg.keepttl = mode & 4;
    if (mode & 8) cfg.minpttl_s = cfg.minnttl_s = 0;
    auto stores = std::make_shared<Stores>(cfg.pcap, cfg.ncap);
    auto cache = std::make_shared<Cache>(cfg, stores, clock);
    auto upstream = std::make_shared<CraftedUpstream>();
    upstream->reply = reply;
    Block block;
    block.plugins = {cache, upstream};
    block.chain = {cache.get(), upstream.get()};
    block.any_class = true;
    Site site;
    site.block = &block;
    site.zone = ".";
    site.zone_wire[0] = 0;
    site.zone_wire_len = 1;
    site.server = "dns://:53";
    auto sink = std::make_shared<Capture>();

    ask(site, *sink, req, mode & 1);  // miss: stored when cacheable
    const bool stored = stores->success.size() + stores->denial.size() > 0;
    const int calls = upstream->calls;
    const std::vector<uint8_t> hit = ask(site, *sink, req, mode & 2);
    if (stored && upstream->calls == calls) {
        // A hit is built from a stored reply that walked: it must walk too.
        FUZZ_CHECK(!hit.empty());
        FUZZ_CHECK(wire::ReplyView(hit.data(), hit.size()).ok());
        FUZZ_CHECK(wire::flags(hit.data()) & wire::kQR);
    }
    clock.now += int64_t(advance_s) * 30 * kSecond;
    clock.wall += int64_t(advance_s) * 30;
    ask(site, *sink, req, mode & 1);
    return 0;
}
