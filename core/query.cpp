// Query and OwnedQuery: the per-exchange state, its reset, and the copies
// async exchanges make (with their per-thread buffer pools); Endpoint.
#include "core/query.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <vector>

#include "core/host.hpp"

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
    if (len) std::memcpy(resp, msg, len);  // an empty message may come as a null pointer (UBSan; tests/fuzz cache)
    set_written(len, plugin);
    return true;
}
void Query::set_written(size_t len, std::string_view plugin) {
    if (!(view_pending_ && view_.of(resp, len))) view_.reset();
    view_pending_ = false;
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
wire::ReplyView& Query::reply() {
    if (!view_.of(resp, resp_len)) view_.parse(resp, resp_len);
    return view_;
}
wire::ReplyView& Query::pending_reply(size_t len) {
    if (view_pending_ && view_.of(resp, len)) return view_;
    return parse_reply(len);
}
wire::ReplyView& Query::parse_reply(size_t len) {
    view_.parse(resp, len);
    view_pending_ = true;
    return view_;
}
size_t Query::name_text(char* out, size_t cap) const {
    return wire::name_to_text(info.name, info.name_len, out, cap);
}
void Query::clear_reply() {
    view_.reset();
    view_pending_ = false;
    resp_len = 0;
    written = false;
    rcode = 0;
    writer = {};
    error.clear();
    error_plugin = {};
    shed = false;
}
void Query::reset() {
    site = nullptr;
    listener = nullptr;
    lookup_depth = 0;
    pos_ = 0;
    ran_ = 0;
    base_ = 0;
    sent_hooks_ = 0;
    clear_reply();
    cache_hash = 0;
    cache_hash_set = false;
    meta.reset();
    plugin_data_.fill(0);
    local_ifindex = 0;
    background = false;
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
    own_buffers(from, true);
    if (sink) sink_owner = sink->shared_from_this();
}

OwnedQuery::OwnedQuery(const Query& from, std::shared_ptr<ReplySink> to) : Query(from) {
    own_buffers(from, false);
    clear_reply();
    sink = to.get();
    sink_owner = std::move(to);
}

void OwnedQuery::release_reply_buffer() {
    if (!resp || written || resp_len) return;  // something to keep
    reply_changed();
    t_reply_buffers.give(std::move(resp_store));
    resp = nullptr;
    resp_cap = 0;
}

void OwnedQuery::ensure_reply_buffer() {
    if (resp) return;
    resp_store = t_reply_buffers.take();
    resp = resp_store.get();
    resp_cap = wire::kMaxMessage;
}

void OwnedQuery::own_buffers(const Query& from, bool copy_reply) {
    if (from.req_len <= kInlineRequest) {
        req = req_inline;
    } else {
        req_store.reset(new uint8_t[from.req_len]);
        req = req_store.get();
    }
    std::memcpy(req, from.req, from.req_len);
    resp_cap = wire::kMaxMessage;
    resp_store = t_reply_buffers.take();
    if (copy_reply && from.resp_len) std::memcpy(resp_store.get(), from.resp, from.resp_len);
    resp = resp_store.get();
    reply_changed();  // the copied view points at the old buffer
    owned = true;
    if (worker) keepalive = worker->config_keepalive();
}

}  // namespace dnscore
