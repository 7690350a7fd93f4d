#pragma once
// One DNS exchange as it moves through a zone's plugin chain: the request's
// raw bytes and what was read from them, the reply being built, and who
// answered. A worker reuses one Query for every synchronous exchange (no
// allocation); an exchange that has to wait (a forwarded miss) is moved into
// a heap-allocated copy that owns its buffers.
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/metadata.hpp"
#include "core/wire/reply.hpp"
#include "core/wire/wire.hpp"

namespace dnscore {

class WorkerHost;
struct Site;
struct Listener;
struct OwnedQuery;
class ChainRunner;
class ReplySink;

enum class Proto : uint8_t { udp, tcp };

// Where a reply goes once the chain is done. UDP listeners and TCP
// connections implement it; it must be called on the query's worker thread.
class ReplySink : public std::enable_shared_from_this<ReplySink> {
public:
    virtual ~ReplySink() = default;
    virtual void send_reply(const uint8_t* msg, size_t len, const struct Query& q) = 0;
};

struct Endpoint {
    sockaddr_storage addr{};
    socklen_t len = 0;
    int family() const { return addr.ss_family; }
    // 1 for IPv4 (also v4-mapped IPv6), 2 for IPv6: CoreDNS's `family` label.
    int family_label() const;
    uint16_t port() const;
    // Address text without brackets ("10.0.0.1", "::1"); returns length.
    size_t ip_text(char* out, size_t cap) const;
    // Whether this is IPv4, or IPv6 holding a v4-mapped address.
    bool is_v4() const;
    // The 4 bytes of an IPv4 (or v4-mapped) address, or the 16 of IPv6.
    const uint8_t* ip_bytes() const;
};

constexpr size_t kMaxChain = 32;

struct Query {
    using Clock = std::chrono::steady_clock;

    // ---- request ----
    uint8_t* req = nullptr;  // raw request bytes
    size_t req_len = 0;
    wire::QueryInfo info;
    Proto proto = Proto::udp;
    Endpoint client;
    Endpoint local;             // the address the request arrived on (pktinfo)
    int local_ifindex = 0;
    Clock::time_point start;

    // ---- routing ----
    WorkerHost* worker = nullptr;     // the worker running this exchange
    const Site* site = nullptr;       // the matched zone's configuration
    const Listener* listener = nullptr;  // the listener it came in on (upstream_lookup routes by it)
    uint8_t lookup_depth = 0;         // upstream_lookup nesting (bounded)
    ReplySink* sink = nullptr;               // who sends the reply
    std::shared_ptr<ReplySink> sink_owner;   // set only while async: keeps the sink alive
    std::shared_ptr<const void> keepalive;   // set only while async: the config snapshot
    bool owned = false;                      // this is an OwnedQuery (async)

    // ---- reply ----
    uint8_t* resp = nullptr;  // reply buffer (capacity resp_cap)
    size_t resp_cap = 0;
    size_t resp_len = 0;
    bool written = false;     // a plugin wrote a reply into resp
    int rcode = 0;            // rcode returned by the chain (CoreDNS's return value)
    std::string_view writer;  // name of the plugin that wrote (for metrics)
    std::string error;        // error returned up the chain ("" = none)
    std::string_view error_plugin;
    // A bound on in-flight work failed this exchange at once, without
    // asking upstream (forward's max_pending): an expired cached answer
    // serves the client better than the SERVFAIL (cache answers it).
    bool shed = false;
    // A background refresh (the cache's prefetch and stale refresh, started
    // by run_below with data): nobody waits for its reply. Forward keeps
    // these within their own share of its in-flight bounds.
    bool background = false;

    // The cache key's hash for this question, computed once per exchange by
    // the first cache that needs it (every cache shares the process seed) so
    // lookups, the insert after a miss and refreshes do not hash again.
    uint64_t cache_hash = 0;
    bool cache_hash_set = false;

    // Values plugins publish for later ones (core/metadata.hpp); used only
    // when the `metadata` plugin is in the chain.
    metadata::Store meta;

    bool tcp() const { return proto == Proto::tcp; }
    // The running plugin's scratch word for this exchange (zero at the start,
    // kept across async steps; plugins keep their per-exchange state here).
    uint64_t& data() { return plugin_data_[pos_]; }

    // Copies `msg` into the reply buffer and marks it written by `plugin`.
    // Returns false if it does not fit.
    bool write_reply(const uint8_t* msg, size_t len, std::string_view plugin);
    // Marks the reply in resp[0..len) as written by `plugin`. A view made by
    // parse_reply(len) just before is kept; otherwise the view is dropped.
    void set_written(size_t len, std::string_view plugin);

    // The reply resp[0..resp_len) understood once: parsed on first use after
    // it was written and kept until it is written again. Edit the reply in
    // place only through the view's edits (they keep it true), or call
    // reply_changed() after.
    wire::ReplyView& reply();
    // Parses resp[0..len) before it is written (a plugin checking what it is
    // about to answer); set_written(len) right after keeps this view.
    wire::ReplyView& parse_reply(size_t len);
    // The view parse_reply(len) made, if nothing was written since (else parses).
    wire::ReplyView& pending_reply(size_t len);
    // Takes `v` (a view of another exchange's reply that was copied into
    // resp, same length, same layout) as this reply's view.
    void adopt_reply(const wire::ReplyView& v) {
        view_ = v;
        view_.rebase(resp);
        view_pending_ = false;
        if (!view_.of(resp, resp_len)) view_.reset();
    }
    // The view if one describes the reply as it is now (nothing is parsed).
    const wire::ReplyView* current_reply() const { return view_.of(resp, resp_len) ? &view_ : nullptr; }
    void reply_changed() {
        view_.reset();
        view_pending_ = false;
    }
    // CoreDNS's "return rcode, err" without writing (the server writes it).
    void fail(int rc, std::string err, std::string_view plugin);

    // The question name (lower case) as presentation text; out needs 1024 bytes.
    size_t name_text(char* out, size_t cap) const;

    // Forgets the reply or error so far (the plugins below answer afresh).
    void clear_reply();

    // Resets the per-exchange state before reuse.
    void reset();

private:
    // The chain cursor belongs to the chain runner (core/chain.cpp); plugins
    // steer through the chain API in core/plugin.hpp.
    friend class ChainRunner;
    uint16_t pos_ = 0;   // index of the plugin being run
    uint16_t ran_ = 0;   // plugins whose query() ran (response hooks run for these)
    uint16_t base_ = 0;  // lowest chain index whose response hook runs (a background
                         // exchange started by run_below skips the plugins above)
    uint32_t sent_hooks_ = 0;  // chain indexes whose sent() runs after the reply is sent (after_send)
    std::array<uint64_t, kMaxChain> plugin_data_{};  // per-plugin scratch, by chain index
    wire::ReplyView view_;    // see reply()
    bool view_pending_ = false;  // view_ came from parse_reply() and nothing was written since
};

// A Query that owns copies of its buffers, for exchanges that wait.
struct OwnedQuery : Query {
    explicit OwnedQuery(const Query& from);
    // A copy whose reply goes to `sink` instead of the client's (kept alive
    // by the copy), started with no reply: background exchanges (run_below).
    OwnedQuery(const Query& from, std::shared_ptr<ReplySink> sink);
    ~OwnedQuery();
    OwnedQuery(const OwnedQuery&) = delete;
    OwnedQuery& operator=(const OwnedQuery&) = delete;
    // Recycled per thread: one of these is made for every upstream miss, and
    // at ~1.6 KiB it is past malloc's fast per-thread cache.
    static void* operator new(size_t size);
    static void operator delete(void* p, size_t size) noexcept;
    std::unique_ptr<uint8_t[]> req_store;  // a request larger than req_inline
    // Requests up to this size are copied here: no allocation per miss.
    static constexpr size_t kInlineRequest = 512;
    uint8_t req_inline[kInlineRequest];
    std::unique_ptr<uint8_t[]> resp_store;  // a 64 KiB buffer, recycled per thread
    // An exchange that waits with nothing written (a forwarded miss, whose
    // upstream may never answer) gives its reply buffer back to the
    // thread's pool, so that a waiting exchange costs its own few hundred
    // bytes and not 64 KiB; resp is then null and resp_cap 0. Whoever
    // writes a reply into it takes one first (ensure_reply_buffer); resume()
    // does, so the plugins above always find one.
    void release_reply_buffer();
    void ensure_reply_buffer();
    bool has_reply_buffer() const { return resp != nullptr; }
    // Set for a sub-exchange (run_below with a callback, upstream_lookup):
    // called instead of sending the reply anywhere.
    std::function<void(OwnedQuery&)> sub_done;
    bool sub_finish = false;  // finish the reply as for a client first (upstream_lookup)

private:
    void own_buffers(const Query& from, bool copy_reply);
};

// True when the rcode means "nothing was written, the server writes it"
// (CoreDNS plugin.ClientWrite == false).
inline bool is_unwritten_rcode(int rc) {
    return rc == wire::kServFail || rc == wire::kRefused || rc == wire::kFormErr ||
           rc == wire::kNotImp;
}

}  // namespace dnscore
