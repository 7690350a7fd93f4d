// Running a zone's chain: the synchronous loop, the hand-off to async
// plugins, the response hooks, the server-written replies and the finisher.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <vector>

#include "server/config.hpp"
#include "server/plugin.hpp"
#include "server/worker.hpp"

namespace dnscore {

// ---- Endpoint ----
bool Endpoint::is_v4() const {
    if (addr.ss_family == AF_INET) return true;
    if (addr.ss_family != AF_INET6) return false;
    const auto* a6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    return IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr);
}
int Endpoint::family_label() const { return is_v4() ? 1 : 2; }
uint16_t Endpoint::port() const {
    if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
    if (addr.ss_family == AF_INET6)
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
    return 0;
}
const uint8_t* Endpoint::ip_bytes() const {
    if (addr.ss_family == AF_INET)
        return reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr);
    const auto* a6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    const uint8_t* b = reinterpret_cast<const uint8_t*>(&a6->sin6_addr);
    return is_v4() ? b + 12 : b;
}
size_t Endpoint::ip_text(char* out, size_t cap) const {
    if (cap == 0) return 0;
    if (is_v4()) {
        if (!inet_ntop(AF_INET, ip_bytes(), out, socklen_t(cap))) return 0;
    } else if (addr.ss_family == AF_INET6) {
        if (!inet_ntop(AF_INET6, ip_bytes(), out, socklen_t(cap))) return 0;
    } else {
        return 0;
    }
    return std::strlen(out);
}

// ---- Query ----
bool Query::write_reply(const uint8_t* msg, size_t len, std::string_view plugin) {
    if (len > resp_cap) return false;
    std::memcpy(resp, msg, len);
    set_written(len, plugin);
    return true;
}
void Query::set_written(size_t len, std::string_view plugin) {
    resp_len = len;
    written = true;
    writer = plugin;
    rcode = len >= wire::kHeaderLen ? wire::rcode(resp) : 0;
}
void Query::fail(int rc, std::string err, std::string_view plugin) {
    rcode = rc;
    error = std::move(err);
    error_plugin = plugin;
}
size_t Query::name_text(char* out, size_t cap) const {
    return wire::name_to_text(info.name, info.name_len, out, cap);
}
void Query::reset() {
    site = nullptr;
    pos = 0;
    ran = 0;
    base = 0;
    resp_len = 0;
    written = false;
    rcode = 0;
    writer = {};
    error.clear();
    error_plugin = {};
    plugin_data.fill(0);
    local_ifindex = 0;
    keepalive.reset();
    sink_owner.reset();
    sink = nullptr;
}

namespace {
// Reply buffers of async exchanges are 64 KiB (any TCP reply fits); malloc
// and free of blocks that size cost more than the rest of a miss, so each
// thread keeps a few for reuse. Untouched pages of a pooled buffer are not
// resident, so the pool costs little memory.
struct ReplyBufferPool {
    static constexpr size_t kKeep = 64;
    std::vector<std::unique_ptr<uint8_t[]>> free;
    ReplyBufferPool() { free.reserve(kKeep); }
    std::unique_ptr<uint8_t[]> take() {
        if (free.empty()) return std::unique_ptr<uint8_t[]>(new uint8_t[wire::kMaxMessage]);
        auto b = std::move(free.back());
        free.pop_back();
        return b;
    }
    void give(std::unique_ptr<uint8_t[]> b) {
        if (b && free.size() < kKeep) free.push_back(std::move(b));
    }
};
thread_local ReplyBufferPool t_reply_buffers;

// Free OwnedQuery blocks of this thread (all the same size).
struct QueryBlockPool {
    static constexpr size_t kKeep = 256;
    std::vector<void*> free;
    QueryBlockPool() { free.reserve(kKeep); }
    ~QueryBlockPool() {
        for (void* p : free) ::operator delete(p);
    }
};
thread_local QueryBlockPool t_query_blocks;
}  // namespace

void* OwnedQuery::operator new(size_t size) {
    auto& pool = t_query_blocks.free;
    if (size == sizeof(OwnedQuery) && !pool.empty()) {
        void* p = pool.back();
        pool.pop_back();
        return p;
    }
    return ::operator new(size);
}

void OwnedQuery::operator delete(void* p, size_t size) noexcept {
    auto& pool = t_query_blocks.free;
    if (size == sizeof(OwnedQuery) && pool.size() < QueryBlockPool::kKeep) {
        pool.push_back(p);
        return;
    }
    ::operator delete(p);
}

OwnedQuery::~OwnedQuery() { t_reply_buffers.give(std::move(resp_store)); }

OwnedQuery::OwnedQuery(const Query& from) : Query(from) {
    req_store.reset(new uint8_t[from.req_len ? from.req_len : 1]);
    std::memcpy(req_store.get(), from.req, from.req_len);
    req = req_store.get();
    resp_cap = wire::kMaxMessage;
    resp_store = t_reply_buffers.take();
    if (from.resp_len) std::memcpy(resp_store.get(), from.resp, from.resp_len);
    resp = resp_store.get();
    owned = true;
    if (sink) sink_owner = sink->shared_from_this();
    if (worker) keepalive = worker->config();
}

void Plugin::query_async(std::unique_ptr<OwnedQuery> q) {
    // A plugin that returns Step::async must override this; failing safe.
    q->fail(wire::kServFail, "plugin/" + std::string(name()) + ": no async handler", name());
    resume(std::move(q), Step::done);
}

// ---- Listener ----
const Site* Listener::route(const wire::QueryInfo& q) const {
    const uint8_t* name = q.name;
    const size_t nlen = q.name_len;
    const Site* root = nullptr;
    const Site* ds_match = nullptr;
    for (const auto& s : sites)
        if (s.zone_wire_len == 1) root = &s;
    // Walk suffixes from the full name towards the root (root excluded).
    for (size_t off = 0; off < nlen && name[off] != 0; off += 1 + name[off]) {
        const size_t slen = nlen - off;
        for (const auto& s : sites) {
            if (s.zone_wire_len == slen && std::memcmp(s.zone_wire, name + off, slen) == 0) {
                if (q.qtype != wire::kTypeDS) return &s;
                ds_match = &s;  // DS: keep walking, the parent side answers
            }
        }
    }
    if (ds_match) return ds_match;
    return root;
}

// ---- the chain ----
namespace {

Step run_from(Query& q) {
    const auto& chain = q.site->block->chain;
    while (q.pos < chain.size()) {
        q.ran = uint16_t(q.pos + 1);
        const Step s = chain[q.pos]->query(q);
        if (s == Step::next) {
            ++q.pos;
            continue;
        }
        return s;
    }
    // Fell off the end: CoreDNS NextOrFailure of the last plugin.
    const std::string_view last = chain.empty() ? std::string_view("dns") : chain.back()->name();
    q.pos = uint16_t(chain.empty() ? 0 : chain.size() - 1);
    q.error.assign("plugin/");
    q.error.append(last);
    q.error.append(": no next plugin found");
    q.error_plugin = last;
    q.rcode = wire::kServFail;
    return Step::done;
}

void finish(Query& q) {
    const auto& chain = q.site->block->chain;
    for (int i = int(q.ran) - 1; i >= int(q.base); --i) {
        q.pos = uint16_t(i);
        chain[size_t(i)]->response(q);
    }
    size_t len = q.resp_len;
    if (!q.written) {
        // CoreDNS ClientWrite: the server writes the returned rcode (B.4).
        const uint8_t rc = is_unwritten_rcode(q.rcode) ? uint8_t(q.rcode) : uint8_t(wire::kServFail);
        len = wire::build_header_reply(q.req, q.info, rc, true, false, q.resp, q.resp_cap);
    }
    len = wire::finish_reply(q.resp, len, q.resp_cap, q.req, q.info, q.tcp());
    q.sink->send_reply(q.resp, len, q);
}

}  // namespace

bool drive(Query& q, std::unique_ptr<OwnedQuery> owned) {
    const Step s = run_from(q);
    if (s == Step::async) {
        if (!owned) owned = std::make_unique<OwnedQuery>(q);
        Plugin* p = owned->site->block->chain[owned->pos];
        p->query_async(std::move(owned));
        return true;
    }
    finish(q);
    return false;
}

void resume(std::unique_ptr<OwnedQuery> q, Step step) {
    if (step == Step::next) {
        ++q->pos;
        Query& ref = *q;
        drive(ref, std::move(q));
        return;
    }
    finish(*q);
}

}  // namespace dnscore
