// Running a zone's chain: the synchronous loop, the hand-off to async
// plugins, the response hooks, the server-written replies and the finisher.
// The only code that moves a Query's chain cursor.
#include "core/chain.hpp"

#include <cstring>
#include <string>

#include "core/config.hpp"
#include "core/upstream.hpp"

namespace dnscore {

class ChainRunner {
public:
    static Step run_from(Query& q) {
        const auto& chain = q.site->block->chain;
        while (q.pos_ < chain.size()) {
            q.ran_ = uint16_t(q.pos_ + 1);
            const Step s = chain[q.pos_]->query(q);
            if (s == Step::next) {
                q.view_pending_ = false;  // a parse_reply view belongs to the plugin that made it
                ++q.pos_;
                continue;
            }
            return s;
        }
        // Fell off the end: CoreDNS NextOrFailure of the last plugin.
        const std::string_view last = chain.empty() ? std::string_view("dns") : chain.back()->name();
        q.pos_ = uint16_t(chain.empty() ? 0 : chain.size() - 1);
        q.error.assign("plugin/");
        q.error.append(last);
        q.error.append(": no next plugin found");
        q.error_plugin = last;
        q.rcode = wire::kServFail;
        return Step::done;
    }

    static void finish(Query& q) {
        const auto& chain = q.site->block->chain;
        for (int i = int(q.ran_) - 1; i >= int(q.base_); --i) {
            q.pos_ = uint16_t(i);
            chain[size_t(i)]->response(q);
        }
        if (q.owned && static_cast<OwnedQuery&>(q).sub_done) {
            deliver_sub(static_cast<OwnedQuery&>(q));
            return;
        }
        size_t len = q.resp_len;
        // A reply already understood (a forwarded miss) tells the finisher
        // where its OPT is; nothing is parsed here for it.
        const wire::ReplyView* view = q.written ? q.current_reply() : nullptr;
        if (!q.written) {
            // CoreDNS ClientWrite: the server writes the returned rcode (B.4).
            const uint8_t rc = is_unwritten_rcode(q.rcode) ? uint8_t(q.rcode) : uint8_t(wire::kServFail);
            len = wire::build_header_reply(q.req, q.info, rc, true, false, q.resp, q.resp_cap);
        }
        len = wire::finish_reply(q.resp, len, q.resp_cap, q.req, q.info, q.tcp(), view);
        q.sink->send_reply(q.resp, len, q);
        // Plugins that describe the reply as sent (log), in response order.
        static_assert(kMaxChain <= 32, "sent_hooks_ holds one bit per chain index");
        for (uint32_t m = q.sent_hooks_; m != 0;) {
            const int i = 31 - __builtin_clz(m);
            m &= ~(uint32_t(1) << i);
            q.pos_ = uint16_t(i);
            chain[size_t(i)]->sent(q, q.resp, len);
        }
    }

    // Runs from q's cursor; finishes, or hands an owned copy to the plugin
    // that went async (true).
    static bool drive(Query& q, std::unique_ptr<OwnedQuery> owned) {
        const Step s = run_from(q);
        if (s == Step::async) {
            if (!owned) owned = std::make_unique<OwnedQuery>(q);
            Plugin* p = owned->site->block->chain[owned->pos_];
            p->query_async(std::move(owned));
            return true;
        }
        finish(q);
        return false;
    }

    static void resume(std::unique_ptr<OwnedQuery> q, Step step) {
        q->ensure_reply_buffer();  // given back while it waited (forward)
        if (step == Step::next) {
            q->view_pending_ = false;
            ++q->pos_;
            Query& ref = *q;
            drive(ref, std::move(q));
            return;
        }
        finish(*q);
    }

    static void after_send(Query& q) { q.sent_hooks_ |= uint32_t(1) << q.pos_; }

    static const Plugin* next_plugin(const Query& q) {
        const auto& chain = q.site->block->chain;
        return size_t(q.pos_) + 1 < chain.size() ? chain[q.pos_ + 1] : nullptr;
    }

    static void run_below(const Query& q, uint64_t data) {
        // Not the client's sink (it must not be kept alive or written to),
        // and none of the reply so far.
        auto oq = std::make_unique<OwnedQuery>(q, null_sink());
        oq->proto = Proto::tcp;
        oq->base_ = q.pos_;
        oq->ran_ = uint16_t(q.pos_ + 1);
        oq->pos_ = uint16_t(q.pos_ + 1);
        oq->plugin_data_[q.pos_] = data;
        oq->background = true;
        oq->sent_hooks_ = 0;
        Query& ref = *oq;
        drive(ref, std::move(oq));
    }

    static void run_below(const Query& q, SubDone done) {
        auto oq = std::make_unique<OwnedQuery>(q, null_sink());
        if (q.keepalive) oq->keepalive = q.keepalive;  // the snapshot q's plugins belong to
        oq->base_ = uint16_t(q.pos_ + 1);
        oq->ran_ = uint16_t(q.pos_ + 1);
        oq->pos_ = uint16_t(q.pos_ + 1);
        oq->sent_hooks_ = 0;
        oq->sub_done = std::move(done);
        Query& ref = *oq;
        drive(ref, std::move(oq));
    }

    static void upstream_lookup(const Query& q, const uint8_t* name, size_t name_len, uint16_t qtype,
                                SubDone done) {
        auto oq = std::make_unique<OwnedQuery>(q, null_sink());
        if (q.keepalive) oq->keepalive = q.keepalive;
        oq->sub_done = std::move(done);
        oq->sub_finish = true;
        oq->lookup_depth = uint8_t(q.lookup_depth + 1);
        oq->pos_ = oq->ran_ = oq->base_ = 0;
        oq->sent_hooks_ = 0;
        oq->plugin_data_.fill(0);
        oq->cache_hash_set = false;
        oq->cache_hash = 0;
        oq->start = Query::Clock::now();
        oq->site = nullptr;

        // The request: q's header and everything after its question, around
        // the new question (CoreDNS request.NewWithQuestion copies the message).
        const size_t tail = q.info.has_question && q.req_len > q.info.question_end
                                ? q.req_len - q.info.question_end
                                : 0;
        const bool name_ok = name_len >= 1 && name_len <= wire::kMaxNameLen && name[name_len - 1] == 0;
        const size_t len = wire::kHeaderLen + (name_ok ? name_len : 1) + 4 + tail;
        oq->req_store.reset(new uint8_t[len]);
        uint8_t* r = oq->req_store.get();
        std::memcpy(r, q.req, wire::kHeaderLen);
        wire::wr16(r + 4, 1);
        size_t off = wire::kHeaderLen;
        if (name_ok) {
            std::memcpy(r + off, name, name_len);
            off += name_len;
        } else {
            r[off++] = 0;
        }
        wire::wr16(r + off, qtype);
        wire::wr16(r + off + 2, wire::kClassIN);
        off += 4;
        if (tail) std::memcpy(r + off, q.req + q.info.question_end, tail);
        oq->req = r;
        oq->req_len = len;

        Query& ref = *oq;
        const bool parsed = name_ok && wire::parse_query(r, len, ref.info) == wire::Verdict::ok;
        if (!parsed || q.lookup_depth >= kMaxLookupDepth) {
            ref.rcode = wire::kServFail;
            ref.error = parsed ? "plugin/upstream: lookups nested too deep" : "plugin/upstream: bad question";
            deliver_sub(*oq);
            return;
        }
        const Site* site = q.listener ? q.listener->route(ref.info) : nullptr;
        if (!site || site->block->chain.empty()) {
            ref.rcode = wire::kRefused;  // CoreDNS's server: no zone matches
            deliver_sub(*oq);
            return;
        }
        ref.site = site;
        drive(ref, std::move(oq));
    }

private:
    static void deliver_sub(OwnedQuery& q) {
        if (q.sub_finish) {
            size_t len = q.resp_len;
            const wire::ReplyView* view = q.written ? q.current_reply() : nullptr;
            if (!q.written) {
                const uint8_t rc = is_unwritten_rcode(q.rcode) ? uint8_t(q.rcode) : uint8_t(wire::kServFail);
                len = wire::build_header_reply(q.req, q.info, rc, true, false, q.resp, q.resp_cap);
            }
            len = wire::finish_reply(q.resp, len, q.resp_cap, q.req, q.info, q.tcp(), view);
            if (!q.written) q.writer = "dns";
            q.resp_len = len;
            q.written = len != 0;
            q.reply_changed();
        }
        auto done = std::move(q.sub_done);
        q.sub_done = nullptr;
        done(q);
    }

    class NullSink final : public ReplySink {
    public:
        void send_reply(const uint8_t*, size_t, const Query&) override {}
    };
    static const std::shared_ptr<ReplySink>& null_sink() {
        static const std::shared_ptr<ReplySink> s = std::make_shared<NullSink>();
        return s;
    }
};

void Plugin::query_async(std::unique_ptr<OwnedQuery> q) {
    // A plugin that returns Step::async must override this; failing safe.
    q->fail(wire::kServFail, "plugin/" + std::string(name()) + ": no async handler", name());
    resume(std::move(q), Step::done);
}

bool run_chain(Query& q) { return ChainRunner::drive(q, nullptr); }
void resume(std::unique_ptr<OwnedQuery> q, Step step) { ChainRunner::resume(std::move(q), step); }
const Plugin* next_plugin(const Query& q) { return ChainRunner::next_plugin(q); }
void after_send(Query& q) { ChainRunner::after_send(q); }
void run_below(const Query& q, uint64_t data) { ChainRunner::run_below(q, data); }
void run_below(const Query& q, SubDone done) { ChainRunner::run_below(q, std::move(done)); }
void upstream_lookup(const Query& q, const uint8_t* name, size_t name_len, uint16_t qtype, SubDone done) {
    ChainRunner::upstream_lookup(q, name, name_len, qtype, std::move(done));
}

}  // namespace dnscore
