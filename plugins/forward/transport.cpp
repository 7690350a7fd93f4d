// forward transports on the worker's io_context: UDP as callbacks (a few
// connected sockets per upstream, rotated for source-port diversity, replies
// matched by ID in each socket's pending table, deadlines on the worker's
// timer wheel), pipelined TCP and TLS connections (several exchanges at
// once, matched by ID; coroutines), and the health probe.
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <sstream>

#include "plugins/forward/internal.hpp"
#include "plugins/forward/metrics.hpp"
#include "core/log.hpp"
#include "core/net.hpp"
#include "core/wire/wire.hpp"
#include "core/wire/writer.hpp"

namespace dnscore::plugins::forward {

using asio::awaitable;
using asio::ip::tcp;
using asio::ip::udp;
using namespace asio::experimental::awaitable_operators;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Connects `s` (open) to `ep`. When the upstream's port is free and in the
// ephemeral range (a loopback upstream that died), the kernel may pick that
// very port as the source: the socket is then connected to itself, reads
// its own queries back as replies and keeps the upstream from rebinding. Such
// a socket is replaced by one the kernel must give another port (the
// self-connected one holds its port until then).
void connect_udp_not_self(udp::socket& s, const udp::endpoint& ep, boost::system::error_code& ec) {
    s.connect(ep, ec);
    for (int attempt = 0; !ec && attempt < 4; ++attempt) {
        boost::system::error_code lec;
        if (s.local_endpoint(lec) != ep || lec) return;
        udp::socket fresh(s.get_executor());
        fresh.open(ep.protocol(), ec);
        if (!ec) fresh.connect(ep, ec);
        s.close();
        s = std::move(fresh);
    }
    if (!ec) ec = asio::error::address_in_use;  // four self-connections in a row: give up this try
}

namespace {

// Pipelining: a new connection is dialled when the least loaded one already
// carries this many queries (upstreams such as CoreDNS answer one connection's
// queries in order), up to kMaxStreamConns per upstream and worker.
constexpr size_t kPipelineSoftLimit = 8;
constexpr size_t kMaxStreamConns = 8;

template <class Endpoint>
std::string ep_text(const Endpoint& ep) {
    std::ostringstream s;
    s << ep;  // "1.2.3.4:53", "[::1]:53" like Go's JoinHostPort
    return s.str();
}

template <class Socket>
std::string conn_text(const Socket& s) {
    boost::system::error_code e1, e2;
    auto l = s.local_endpoint(e1);
    auto r = s.remote_endpoint(e2);
    return (e1 ? std::string("?") : ep_text(l)) + "->" + (e2 ? std::string("?") : ep_text(r));
}

// miekg's truncateResponse: header and question only, TC set.
size_t truncate_reply(uint8_t* msg, size_t len) {
    const size_t qend = wire::skip_question(msg, len);
    if (qend == 0) return 0;
    wire::set_rr_counts(msg, 0, 0, 0);
    wire::set_flag(msg, wire::kTC, true);
    return qend;
}

awaitable<std::tuple<boost::system::error_code, size_t>> read_exact(std::shared_ptr<StreamConn> c,
                                                                    asio::mutable_buffer b) {
    if (c->tls) co_return co_await asio::async_read(*c->tls, b, kTuple);
    co_return co_await asio::async_read(*c->plain, b, kTuple);
}

// The SSL's upstream, for the new-session callback.
int upstream_ex_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

// OpenSSL hands each new session here: in the handshake for TLS 1.2, from
// the tickets that follow it for TLS 1.3. The upstream keeps a copy of the
// latest: OpenSSL marks the connection's own session not resumable when the
// connection is closed without a TLS shutdown (expire, errors).
int store_tls_session(SSL* ssl, SSL_SESSION* sess) {
    auto* up = static_cast<Upstream*>(SSL_get_ex_data(ssl, upstream_ex_index()));
    SSL_SESSION* copy = up ? SSL_SESSION_dup(sess) : nullptr;
    if (!copy) return 0;
    std::lock_guard lock(up->tls_session.mu);
    if (up->tls_session.latest) SSL_SESSION_free(up->tls_session.latest);
    up->tls_session.latest = copy;
    return 0;  // OpenSSL keeps (and frees) its own reference
}

void configure_tls_peer(SSL* ssl, Upstream& up) {
    SSL_set_ex_data(ssl, upstream_ex_index(), &up);
    {
        // Resume the upstream's latest session (Go's ClientSessionCache, which
        // CoreDNS's forward sets); a full handshake if the server declines.
        std::lock_guard lock(up.tls_session.mu);
        if (up.tls_session.latest && SSL_SESSION_is_resumable(up.tls_session.latest))
            SSL_set_session(ssl, up.tls_session.latest);
    }
    const std::string& sni = up.spec.servername;
    if (!sni.empty()) {
        SSL_set_tlsext_host_name(ssl, sni.c_str());
        SSL_set1_host(ssl, sni.c_str());
    } else {
        // Go verifies the certificate against the dialled IP when no name is set.
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), up.udp_ep.address().to_string().c_str());
    }
}

// x509.HostnameError's text: the certificate's names against the one wanted.
std::string hostname_error(SSL* ssl, const std::string& host) {
    STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);  // set before verification
    X509* leaf = chain && sk_X509_num(chain) > 0 ? sk_X509_value(chain, 0) : nullptr;
    boost::system::error_code ec;
    asio::ip::make_address(host, ec);
    const bool want_ip = !ec;
    std::string valid;
    if (leaf) {
        auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr));
        for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); ++i) {
            const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
            std::string name;
            if (want_ip && g->type == GEN_IPADD) {
                const ASN1_OCTET_STRING* ip = g->d.iPAddress;
                if (ip->length == 4) {
                    asio::ip::address_v4::bytes_type b;
                    std::memcpy(b.data(), ip->data, 4);
                    name = asio::ip::address_v4(b).to_string();
                } else if (ip->length == 16) {
                    asio::ip::address_v6::bytes_type b;
                    std::memcpy(b.data(), ip->data, 16);
                    name = asio::ip::address_v6(b).to_string();
                }
            } else if (!want_ip && g->type == GEN_DNS) {
                name.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.dNSName)),
                            size_t(ASN1_STRING_length(g->d.dNSName)));
            }
            if (name.empty()) continue;
            if (!valid.empty()) valid += ", ";
            valid += name;
        }
        GENERAL_NAMES_free(sans);
    }
    if (want_ip && valid.empty())
        return "x509: cannot validate certificate for " + host + " because it doesn't contain any IP SANs";
    if (valid.empty()) return "x509: certificate is not valid for any names, but wanted to match " + host;
    return "x509: certificate is valid for " + valid + ", not " + host;
}

// Go's crypto/tls handshake errors where they can be told apart (the
// certificate checks); OpenSSL's text otherwise.
std::string tls_error_text(const boost::system::error_code& ec, SSL* ssl, const Upstream& up) {
    const long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
        std::string why;
        switch (verify) {
        case X509_V_ERR_HOSTNAME_MISMATCH:
        case X509_V_ERR_IP_ADDRESS_MISMATCH:
            why = hostname_error(ssl, up.spec.servername.empty() ? up.udp_ep.address().to_string()
                                                                 : up.spec.servername);
            break;
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
            why = "x509: certificate signed by unknown authority";
            break;
        case X509_V_ERR_CERT_HAS_EXPIRED:
        case X509_V_ERR_CERT_NOT_YET_VALID:
            why = "x509: certificate has expired or is not yet valid";
            break;
        default:
            why = std::string("x509: ") + X509_verify_cert_error_string(verify);
        }
        return "tls: failed to verify certificate: " + why;
    }
    return "tls: " + ec.message();
}

// Reads replies until the connection fails; hands each to its waiter.
awaitable<void> run_conn(std::shared_ptr<WorkerState> ws, std::shared_ptr<Core> core, size_t ui,
                         std::shared_ptr<StreamConn> c, Clock::time_point dial_deadline) {
    Upstream& up = *core->upstreams[ui];
    {
        asio::steady_timer timer(ws->io);
        timer.expires_at(dial_deadline);
        auto res = co_await (c->lowest().async_connect(up.tcp_ep, kTuple) || timer.async_wait(kTuple));
        if (res.index() == 1) {
            c->fail_all("dial tcp " + up.spec.to + ": i/o timeout", false);
            c->close();
            co_return;
        }
        if (auto [ec] = std::get<0>(res); ec) {
            c->fail_all("dial tcp " + up.spec.to + ": connect: " + net_error_text(ec), false);
            c->close();
            co_return;
        }
        boost::system::error_code ignored;
        c->lowest().set_option(tcp::no_delay(true), ignored);
        if (c->tls) {
            configure_tls_peer(c->tls->native_handle(), up);
            auto hs = co_await (c->tls->async_handshake(asio::ssl::stream_base::client, kTuple) ||
                                timer.async_wait(kTuple));
            if (hs.index() == 1) {
                c->fail_all("tls: handshake with " + up.spec.to + ": i/o timeout", false);
                c->close();
                co_return;
            }
            if (auto [ec] = std::get<0>(hs); ec) {
                c->fail_all(tls_error_text(ec, c->tls->native_handle(), up), false);
                c->close();
                co_return;
            }
            if (SSL_session_reused(c->tls->native_handle()))
                metrics::families().tls_resumed.inc(ws->index, {up.metrics->to});
        }
    }
    if (c->state == StreamConn::State::closed) co_return;  // shut down meanwhile
    c->addr_text = conn_text(c->lowest());
    c->state = StreamConn::State::open;
    c->start_write();
    c->rbuf.resize(wire::kMaxMessage);
    for (;;) {
        uint8_t hdr[2];
        auto [ec, n] = co_await read_exact(c, asio::buffer(hdr, 2));
        size_t mlen = 0;
        if (!ec) {
            mlen = wire::rd16(hdr);
            auto [ec2, n2] = co_await read_exact(c, asio::buffer(c->rbuf.data(), mlen));
            ec = ec2;
        }
        if (ec) {
            if (c->state == StreamConn::State::closed) co_return;
            if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)
                c->fail_all("EOF", true);
            else
                c->fail_all("read " + c->proto + " " + c->addr_text + ": read: " + net_error_text(ec), false);
            c->close();
            co_return;
        }
        c->last_used = Clock::now();
        if (mlen < wire::kHeaderLen) continue;
        // Unknown IDs are late replies to exchanges that gave up: dropped.
        if (Waiter* w = c->take_waiter(wire::id(c->rbuf.data()))) {
            w->out->ensure_reply_buffer();
            const size_t copy = std::min(mlen, w->out->resp_cap);
            std::memcpy(w->out->resp, c->rbuf.data(), copy);
            w->len = copy;
            w->done = true;
            w->timer.cancel();
        }
    }
}

void log_spawn_error(std::exception_ptr e) {
    if (!e) return;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        log::emit(log::Level::error, "forward", std::string("connection task failed: ") + x.what());
    }
}

}  // namespace

std::string net_error_text(const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted || ec == asio::error::timed_out) return "i/o timeout";
    return net::error_text(ec);
}

// ---- StreamConn ----
StreamConn::StreamConn(asio::io_context& io, asio::ssl::context* tls_ctx) {
    if (tls_ctx) {
        tls.emplace(io, *tls_ctx);
        proto = "tcp";
    } else {
        plain.emplace(io);
        proto = "tcp";
    }
    last_used = Clock::now();
}

bool StreamConn::has_id(uint16_t id) const {
    for (const Waiter* w : waiting)
        if (w->id == id) return true;
    return false;
}

Waiter* StreamConn::take_waiter(uint16_t id) {
    for (size_t i = 0; i < waiting.size(); ++i) {
        if (waiting[i]->id == id) {
            Waiter* w = waiting[i];
            waiting[i] = waiting.back();
            waiting.pop_back();
            return w;
        }
    }
    return nullptr;
}

void StreamConn::fail_all(const std::string& err, bool peer_closed) {
    for (Waiter* w : waiting) {
        w->failed = true;
        w->peer_closed = peer_closed;
        w->err = err;
        w->timer.cancel();
    }
    waiting.clear();
}

void StreamConn::close() {
    state = State::closed;
    boost::system::error_code ignored;
    lowest().close(ignored);
}

void StreamConn::enqueue(const uint8_t* msg, size_t len) {
    const size_t at = outq.size();
    outq.resize(at + 2 + len);
    wire::wr16(outq.data() + at, uint16_t(len));
    std::memcpy(outq.data() + at + 2, msg, len);
    start_write();
}

void StreamConn::start_write() {
    if (writing || state != State::open || outq.empty()) return;
    writing = true;
    wbuf.swap(outq);
    outq.clear();
    auto self = shared_from_this();
    auto done = [self](boost::system::error_code ec, size_t) {
        self->writing = false;
        if (ec) {
            if (self->state == State::closed) return;
            self->fail_all("write " + self->proto + " " + self->addr_text + ": write: " + net_error_text(ec),
                           ec == asio::error::broken_pipe || ec == asio::error::connection_reset);
            self->close();
            return;
        }
        self->start_write();
    };
    if (tls)
        asio::async_write(*tls, asio::buffer(wbuf), done);
    else
        asio::async_write(*plain, asio::buffer(wbuf), done);
}

// ---- UDP ----
namespace {

void udp_close(WorkerState& ws, UdpSock& s) {
    boost::system::error_code ignored;
    s.sock.close(ignored);  // a read wait ends with operation_aborted; its gen no longer matches
    s.retired = false;
    ws.udp_free.push_back(&s);
}

// No new exchange goes to `s`; it is closed once none waits on it.
void udp_retire(WorkerState& ws, UpstreamPool& pool, UdpSock& s) {
    for (auto& l : pool.live)
        if (l == &s) l = nullptr;
    s.retired = true;
    if (s.pending.empty()) udp_close(ws, s);
}

void udp_read(std::weak_ptr<Core> wcore, WorkerState* ws, size_t ui, UdpSock* s, uint32_t gen);

void udp_arm_read(Core& core, WorkerState& ws, size_t ui, UdpSock& s) {
    if (s.reading) return;
    s.reading = true;
    s.sock.async_wait(udp::socket::wait_read,
                      [wcore = core.self, ws = &ws, ui, s = &s, gen = s.gen](boost::system::error_code ec) {
                          if (ec == asio::error::operation_aborted) {
                              // Closed, or a newer socket in this record: only the current one's wait matters.
                              if (auto core = wcore.lock(); core && s->gen == gen) s->reading = false;
                              return;
                          }
                          udp_read(wcore, ws, ui, s, gen);
                      });
}

// The exchanges waiting on `s` fail with `err` (an ICMP error reported by
// the socket): the socket is retired, as a Go conn with an error is dropped.
void udp_fail_socket(Core& core, WorkerState& ws, size_t ui, UdpSock& s, const std::string& err) {
    Exchange* failed[kUdpMaxUses];
    size_t n = 0;
    while (Exchange* ex = s.pending.take_any()) failed[n++] = ex;
    udp_retire(ws, ws.pools[ui], s);
    for (size_t i = 0; i < n; ++i) {
        ws.wheel.cancel(*failed[i]);
        failed[i]->sock = nullptr;
        Outcome r;
        r.err = err;
        try_done(core, ws, *failed[i], std::move(r));
    }
}

// Replies are matched to the exchange waiting for their ID on this socket;
// short datagrams and unknown IDs (late replies, forgeries) are dropped.
// Read with recvmmsg, up to kUpstreamBatch datagrams per call.
void udp_read(std::weak_ptr<Core> wcore, WorkerState* wsp, size_t ui, UdpSock* s, uint32_t gen) {
    const std::shared_ptr<Core> core = wcore.lock();
    if (!core || s->gen != gen) return;
    WorkerState& ws = *wsp;
    s->reading = false;
    const int fd = s->sock.native_handle();
    ReplyHold hold(ws.host);  // the clients' replies of this batch go out together
    bool drained = false;
    for (int round = 0; round < 4 && s->gen == gen && s->sock.is_open(); ++round) {
        const int got = ::recvmmsg(fd, ws.rmh, unsigned(WorkerState::kUpstreamBatch), MSG_DONTWAIT, nullptr);
        if (got < 0) {
            if (errno == EINTR) continue;
            drained = true;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            const boost::system::error_code ec(errno, boost::system::system_category());
            udp_fail_socket(*core, ws, ui, *s, "read udp " + conn_text(s->sock) + ": read: " + net_error_text(ec));
            return;
        }
        for (int i = 0; i < got && s->gen == gen && s->sock.is_open(); ++i) {
            const uint8_t* dgram = static_cast<const uint8_t*>(ws.riov[i].iov_base);
            size_t n = ws.rmh[i].msg_len;
            if (n < wire::kHeaderLen) continue;
            Exchange* ex = s->pending.take(wire::id(dgram));
            if (!ex) continue;
            ws.wheel.cancel(*ex);
            ex->sock = nullptr;
            Outcome r;
            OwnedQuery& q = *ex->q;
            q.ensure_reply_buffer();  // not held while it waited
            n = std::min(n, q.resp_cap);
            std::memcpy(q.resp, dgram, n);
            if (n > ex->bufsize) {
                // Larger than the buffer Go would read with: miekg fails to unpack
                // it and CoreDNS answers an empty reply with TC set instead.
                n = truncate_reply(q.resp, std::min<size_t>(n, ex->bufsize));
            }
            if (n == 0) {
                r.err = "dns: overflow unpacking uint16";
            } else {
                r.ok = true;
                r.len = n;
            }
            if (s->retired && s->pending.empty()) udp_close(ws, *s);
            try_done(*core, ws, *ex, std::move(r));
        }
        // Fewer than asked: nothing more was queued (epoll here is
        // edge-triggered; a later datagram wakes the socket again).
        if (size_t(got) < WorkerState::kUpstreamBatch) {
            drained = true;
            break;
        }
    }
    if (s->gen != gen || !s->sock.is_open()) return;
    if (!drained) {
        // More may be queued and no new edge would come: read on after
        // whatever else is ready on this worker.
        s->reading = true;
        asio::post(ws.io, [wcore, wsp, ui, s, gen] { udp_read(wcore, wsp, ui, s, gen); });
        return;
    }
    udp_arm_read(*core, ws, ui, *s);
}

UdpSock* udp_open(Core& core, WorkerState& ws, size_t ui, std::string& err) {
    const Upstream& up = *core.upstreams[ui];
    UdpSock* s;
    if (!ws.udp_free.empty()) {
        s = ws.udp_free.back();
        ws.udp_free.pop_back();
    } else {
        ws.udp_socks.push_back(std::make_unique<UdpSock>(ws.io));
        ws.udp_free.reserve(ws.udp_socks.capacity());  // closing never allocates
        s = ws.udp_socks.back().get();
    }
    ++s->gen;
    s->uses = 0;
    s->retired = false;
    s->reading = false;
    boost::system::error_code ec;
    s->sock.open(up.udp_ep.protocol(), ec);
    if (!ec) connect_udp_not_self(s->sock, up.udp_ep, ec);  // the kernel picks a fresh random ephemeral port
    if (ec) {
        err = "dial udp " + up.spec.to + ": " + net_error_text(ec);
        udp_close(ws, *s);
        return nullptr;
    }
    udp_arm_read(core, ws, ui, *s);
    return s;
}

}  // namespace

void WorkerState::close_all() {
    stopped = true;
    if (wheel.empty() && wheel_armed) {
        // Only an idle-socket sweep was pending; the sockets close below.
        wheel_timer.cancel();
        wheel_armed = false;
    }
    for (auto& p : pools) {
        // Exchanges waiting on UDP get their reply or time out; their
        // sockets close then.
        for (auto& l : p.live)
            if (UdpSock* s = l) udp_retire(*this, p, *s);
        for (auto& c : p.conns) {
            c->fail_all("proxy: transport stopped", false);
            c->close();
        }
        p.conns.clear();
    }
}

bool udp_start(Core& core, WorkerState& ws, Exchange& ex, std::string& err) {
    const Upstream& up = *core.upstreams[ex.ui];
    UpstreamPool& pool = ws.pools[ex.ui];
    const auto now = Clock::now();
    const size_t k = size_t(ws.rng.next() % kLiveUdpSockets);
    UdpSock* s = pool.live[k];
    // CoreDNS 1.12 closes a socket idle past `expire`; here the next try on
    // it gets a fresh one.
    if (s && now - s->used > core.opts.expire) {
        udp_retire(ws, pool, *s);
        s = nullptr;
    }
    up.metrics->conn(ws.index, kProtoUdp, s != nullptr);
    if (!s) {
        s = udp_open(core, ws, ex.ui, err);
        if (!s) return false;
        pool.live[k] = s;
    }
    OwnedQuery& q = *ex.q;
    // IDs waiting on one socket are unique, so a reply names one exchange.
    uint16_t id = wire::id(q.req);
    while (s->pending.contains(id)) id = uint16_t(ws.rng.next());
    wire::set_id(q.req, id);
    const ssize_t sent = ::send(s->sock.native_handle(), q.req, q.req_len, MSG_DONTWAIT);
    if (sent < 0) {
        const boost::system::error_code ec(errno, boost::system::system_category());
        err = "write udp " + conn_text(s->sock) + ": write: " + net_error_text(ec);
        // An ICMP error taken by this send is the socket's: the exchanges
        // waiting on it fail with it as their read would have.
        const int e = ec.value();
        if (e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH || e == EHOSTDOWN)
            udp_fail_socket(core, ws, ex.ui, *s, "read udp " + conn_text(s->sock) + ": read: " + net_error_text(ec));
        return false;
    }
    s->pending.add(id, &ex);
    ex.sock = s;
    ex.upstream_id = id;
    s->used = now;
    if (++s->uses >= kUdpMaxUses) udp_retire(ws, pool, *s);
    ws.wheel.schedule(ex, std::min(now + kReadTimeout, ex.deadline));
    arm_wheel(core, ws, ws.wheel.due_time(ex));
    return true;
}

// One steady_timer per worker, armed while the wheel holds a deadline: at
// the earliest one scheduled since it was last armed (a cancelled try leaves
// it early, never late; it then re-arms for what is left).
void arm_wheel(Core& core, WorkerState& ws, Clock::time_point at) {
    if (ws.wheel_armed && ws.wheel_armed_at <= at) return;
    ws.wheel_armed = true;
    ws.wheel_armed_at = at;
    ws.wheel_timer.expires_at(at);  // an earlier wait ends with operation_aborted
    // The timer keeps the core (and so this worker state) alive while any
    // exchange waits in the wheel.
    ws.wheel_timer.async_wait([core = core.self.lock(), wsp = &ws](boost::system::error_code ec) {
        if (ec == asio::error::operation_aborted || !core) return;  // re-armed
        WorkerState& ws = *wsp;
        ws.wheel_armed = false;
        ReplyHold hold(ws.host);
        const auto now = Clock::now();
        ws.wheel.advance(now, [&](WheelNode& n) {
            Exchange& ex = static_cast<Exchange&>(n);
            Outcome r;
            r.err = udp_timeout_text(*core, ex);
            udp_abandon(ws, ex);
            try_done(*core, ws, ex, std::move(r));
        });
        if (!ws.wheel.empty()) {
            arm_wheel(*core, ws, ws.wheel.next_due());
        } else if (auto idle_at = udp_close_idle(*core, ws, now)) {
            arm_wheel(*core, ws, *idle_at);
        }
    });
}

// CoreDNS closes pooled upstream sockets idle past `expire` on a ticker.
// Here the wheel's timer, once no deadline is left, wakes up when the
// least recently used live socket passes `expire` and closes the idle ones:
// a burst of misses leaves no descriptors behind. Returns when to look
// again, if a live socket remains.
std::optional<Clock::time_point> udp_close_idle(Core& core, WorkerState& ws, Clock::time_point now) {
    std::optional<Clock::time_point> next;
    for (auto& pool : ws.pools) {
        for (auto& l : pool.live) {
            UdpSock* s = l;
            if (!s) continue;
            if (s->pending.empty() && now - s->used > core.opts.expire) {
                udp_retire(ws, pool, *s);
                continue;
            }
            const auto at = s->used + core.opts.expire + std::chrono::milliseconds(50);
            if (!next || at < *next) next = at;
        }
    }
    return next;
}

void udp_abandon(WorkerState& ws, Exchange& ex) {
    ws.wheel.cancel(ex);
    UdpSock* s = ex.sock;
    if (!s) return;
    ex.sock = nullptr;
    s->pending.remove(ex.upstream_id, &ex);
    if (s->retired && s->pending.empty()) udp_close(ws, *s);
}

std::string udp_timeout_text(const Core& core, const Exchange& ex) {
    if (ex.sock && ex.sock->sock.is_open()) return "read udp " + conn_text(ex.sock->sock) + ": i/o timeout";
    return "read udp " + core.upstreams[ex.ui]->spec.to + ": i/o timeout";
}

// ---- TCP / TLS, pipelined ----
awaitable<Outcome> stream_exchange(std::shared_ptr<WorkerState> ws, std::shared_ptr<Core> core, size_t ui,
                                   OwnedQuery& q, Clock::time_point deadline) {
    const uint8_t* msg = q.req;
    const size_t len = q.req_len;
    Upstream& up = *core->upstreams[ui];
    UpstreamPool& pool = ws->pools[ui];
    const auto now = Clock::now();
    const ProtoIndex proto = up.spec.tls ? kProtoTls : kProtoTcp;

    // Forget closed connections and close idle ones past `expire`.
    std::erase_if(pool.conns, [&](const std::shared_ptr<StreamConn>& c) {
        if (c->state == StreamConn::State::closed) return true;
        if (c->waiting.empty() && c->state == StreamConn::State::open && now - c->last_used > core->opts.expire) {
            c->close();
            return true;
        }
        return false;
    });
    std::shared_ptr<StreamConn> conn;
    for (auto& c : pool.conns)
        if (!conn || c->waiting.size() < conn->waiting.size()) conn = c;
    if (!conn || (conn->waiting.size() >= kPipelineSoftLimit && pool.conns.size() < kMaxStreamConns)) {
        conn = std::make_shared<StreamConn>(ws->io, up.spec.tls ? core->tls_ctx.get() : nullptr);
        pool.conns.push_back(conn);
        asio::co_spawn(ws->io, run_conn(ws, core, ui, conn, std::min(now + kReadTimeout, deadline)),
                       log_spawn_error);
    }
    const bool cached = conn->used;
    conn->used = true;
    up.metrics->conn(ws->index, proto, cached);

    Waiter w(ws->io);
    w.id = wire::id(msg);
    w.out = &q;
    // IDs on one connection must be unique: the caller's random ID is kept
    // unless it collides with one in flight here.
    std::vector<uint8_t> copy;
    const uint8_t* send = msg;
    if (conn->has_id(w.id)) {
        copy.assign(msg, msg + len);
        do w.id = uint16_t(ws->rng.next());
        while (conn->has_id(w.id));
        wire::set_id(copy.data(), w.id);
        send = copy.data();
    }
    conn->waiting.push_back(&w);
    conn->enqueue(send, len);
    w.timer.expires_at(std::min(Clock::now() + kReadTimeout, deadline));
    co_await w.timer.async_wait(kTuple);
    if (!w.done && !w.failed) conn->take_waiter(w.id);  // timed out: stop matching

    Outcome r;
    if (w.done) {
        if (w.len >= 2) wire::set_id(q.resp, wire::id(msg));  // the caller checks its own ID
        r.ok = true;
        r.len = w.len;
        conn->last_used = Clock::now();
    } else if (w.failed) {
        r.err = w.err;
        r.cached_closed = w.peer_closed && cached;
    } else if (conn->state == StreamConn::State::connecting) {
        r.err = "dial tcp " + up.spec.to + ": i/o timeout";
    } else {
        r.err = "read " + conn->proto + " " + conn->addr_text + ": i/o timeout";
    }
    co_return r;
}

// ---- health probe ----
namespace {

template <class Stream>
awaitable<Outcome> probe_stream(Stream& s, asio::steady_timer& timer, const std::vector<uint8_t>& q) {
    Outcome r;
    std::vector<uint8_t> framed(q.size() + 2);
    wire::wr16(framed.data(), uint16_t(q.size()));
    std::memcpy(framed.data() + 2, q.data(), q.size());
    auto w = co_await (asio::async_write(s, asio::buffer(framed), kTuple) || timer.async_wait(kTuple));
    if (w.index() == 1) {
        r.err = "i/o timeout";
        co_return r;
    }
    if (auto ec = std::get<0>(std::get<0>(w)); ec) {
        r.err = net_error_text(ec);
        co_return r;
    }
    uint8_t hdr[2];
    auto h = co_await (asio::async_read(s, asio::buffer(hdr, 2), kTuple) || timer.async_wait(kTuple));
    if (h.index() == 1) {
        r.err = "i/o timeout";
        co_return r;
    }
    if (auto ec = std::get<0>(std::get<0>(h)); ec) {
        r.err = net_error_text(ec);
        co_return r;
    }
    std::vector<uint8_t> body(wire::rd16(hdr));
    auto b = co_await (asio::async_read(s, asio::buffer(body), kTuple) || timer.async_wait(kTuple));
    if (b.index() == 1) {
        r.err = "i/o timeout";
        co_return r;
    }
    if (auto ec = std::get<0>(std::get<0>(b)); ec) {
        r.err = net_error_text(ec);
        co_return r;
    }
    if (body.size() < wire::kHeaderLen || wire::id(body.data()) != wire::id(q.data())) {
        r.err = "dns: id mismatch";
        co_return r;
    }
    r.ok = true;
    co_return r;
}

}  // namespace

awaitable<Outcome> probe_exchange(asio::io_context& io, std::shared_ptr<Core> core, size_t ui) {
    Upstream& up = *core->upstreams[ui];
    // NS for the health-check domain, RD unless no_rec.
    std::vector<uint8_t> q(wire::kHeaderLen + wire::kMaxNameLen + 4);
    Rng rng;
    uint8_t name[wire::kMaxNameLen];
    const size_t nlen = wire::text_to_name(core->opts.hc_domain, name);
    wire::Writer w(q.data(), q.size());
    w.header(uint16_t(rng.next()), core->opts.hc_recursion_desired ? wire::kRD : 0);
    w.question(name, nlen, wire::kTypeNS, wire::kClassIN);
    q.resize(w.size());

    asio::steady_timer timer(io);
    timer.expires_after(kHealthTimeout);
    Outcome r;
    if (!up.spec.tls && !core->opts.force_tcp) {
        udp::socket s(io);
        boost::system::error_code ec;
        s.open(up.udp_ep.protocol(), ec);
        if (!ec) connect_udp_not_self(s, up.udp_ep, ec);
        if (ec) {
            r.err = net_error_text(ec);
            co_return r;
        }
        auto [wec, wn] = co_await s.async_send(asio::buffer(q), kTuple);
        if (wec) {
            r.err = net_error_text(wec);
            co_return r;
        }
        std::vector<uint8_t> buf(wire::kMaxMessage);
        for (;;) {
            auto res = co_await (s.async_receive(asio::buffer(buf), kTuple) || timer.async_wait(kTuple));
            if (res.index() == 1) {
                r.err = "i/o timeout";
                co_return r;
            }
            auto [rec, n] = std::get<0>(res);
            if (rec) {
                r.err = net_error_text(rec);
                co_return r;
            }
            if (n >= wire::kHeaderLen && wire::id(buf.data()) == wire::id(q.data())) break;
        }
        r.ok = true;
        co_return r;
    }
    tcp::socket sock(io);
    auto c = co_await (sock.async_connect(up.tcp_ep, kTuple) || timer.async_wait(kTuple));
    if (c.index() == 1) {
        r.err = "i/o timeout";
        co_return r;
    }
    if (auto [ec] = std::get<0>(c); ec) {
        r.err = net_error_text(ec);
        co_return r;
    }
    if (!up.spec.tls) co_return co_await probe_stream(sock, timer, q);
    asio::ssl::stream<tcp::socket> tls(std::move(sock), *core->tls_ctx);
    configure_tls_peer(tls.native_handle(), up);
    auto hs = co_await (tls.async_handshake(asio::ssl::stream_base::client, kTuple) || timer.async_wait(kTuple));
    if (hs.index() == 1) {
        r.err = "i/o timeout";
        co_return r;
    }
    if (auto [ec] = std::get<0>(hs); ec) {
        r.err = tls_error_text(ec, tls.native_handle(), up);
        co_return r;
    }
    if (SSL_session_reused(tls.native_handle())) metrics::families().tls_resumed.inc_any({up.metrics->to});
    co_return co_await probe_stream(tls, timer, q);
}

void enable_tls_resumption(asio::ssl::context& ctx) {
    // Client mode, kept per upstream by store_tls_session rather than in
    // OpenSSL's internal cache (keyed for servers, not by upstream).
    SSL_CTX_set_session_cache_mode(ctx.native_handle(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx.native_handle(), store_tls_session);
}

}  // namespace dnscore::plugins::forward
