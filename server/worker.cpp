#include "server/worker.hpp"

#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <set>
#include <vector>

#include "core/chain.hpp"
#include "core/dns_metrics.hpp"
#include "core/log.hpp"
#include "core/memory_budget.hpp"
#include "server/buffer_pool.hpp"
#include "server/doh.hpp"
#include "server/doq.hpp"
#include "server/grpc.hpp"
#include "server/metrics.hpp"
#include "server/runtime.hpp"
#include "server/supervisor.hpp"

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;

namespace dnscore {

GrpcListenerFactory grpc_listener_factory = nullptr;
DoqListenerFactory doq_listener_factory = nullptr;

namespace {

constexpr int kUdpBatch = 64;             // datagrams read per wake-up before yielding
// TCP bounds per connection; the byte bounds are ours (README "TCP
// connections"). The timeouts are the listener's (Listener::read_timeout...:
// CoreDNS 1.12's read 3 s, idle 10 s, write 5 s unless `timeouts` says so).
constexpr size_t kTcpMaxInflight = 128;              // async exchanges
constexpr size_t kTcpPauseQueued = 64 * 1024;        // stop reading past this many unsent bytes
constexpr size_t kTcpMaxQueued = 1024 * 1024;        // close past this many unsent bytes
constexpr size_t kTcpKeepQueueCapacity = 16 * 1024;  // queue memory kept once drained
constexpr size_t kTcpReadChunk = 4096;               // bytes asked of one read (several pipelined queries)
// tls://: handshakes pending at once per worker. A handshake must finish
// within the first-read timeout (as in Go, where the handshake is part of the
// first read); past this count new TLS connections are closed at once, so
// clients that connect and never send a ClientHello cannot hold more.
constexpr size_t kTlsMaxPendingHandshakes = 512;

asio::ip::address listen_address(const std::string& host, bool& wildcard) {
    wildcard = host.empty();
    if (wildcard) return asio::ip::address_v6::any();
    std::string h = host;
    // Strip an IPv6 zone ("fe80::1%eth0") handled by scope id below.
    return asio::ip::make_address(h);
}

void set_reuseport(int fd) {
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
}

// A UDP listener's receive queue: 4 MiB (the kernel doubles it for its
// bookkeeping) instead of the default ~208 KiB, which holds only ~270 small
// queries: a process that does not read for a moment (a successor starting
// during an upgrade handover, a worker short of CPU) then loses none. At
// 5,000 qps the default overflowed in handovers on a busy 2-core machine
// (docs/operations.md, "Measurements"). SO_RCVBUFFORCE passes
// net.core.rmem_max with CAP_NET_ADMIN (node-cache has it); without it
// SO_RCVBUF is capped at rmem_max. Kernel memory, used only while queued.
constexpr int kUdpReceiveBuffer = 4 << 20;
void set_receive_buffer(int fd) {
    int size = kUdpReceiveBuffer;
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

}  // namespace

// ---------------------------------------------------------------- UDP
class UdpListener : public ReplySink {
public:
    UdpListener(Worker& w, const std::string& label, udp::socket sock, bool wildcard)
        : w_(w), label_(label), sock_(std::move(sock)), wildcard_(wildcard) {
        // Read once: getsockname per datagram would cost a system call.
        const auto ep = sock_.local_endpoint();
        std::memcpy(&bound_.addr, ep.data(), ep.size());
        bound_.len = socklen_t(ep.size());
        bound_port_net_ = htons(ep.port());
    }

    void set_spec(const Listener* spec) { spec_ = spec; }
    const std::string& label() const { return label_; }
    int fd() { return sock_.is_open() ? sock_.native_handle() : -1; }
    // Whether a datagram waits in the socket's receive queue.
    bool has_queued() {
        int bytes = 0;
        return sock_.is_open() && ::ioctl(sock_.native_handle(), FIONREAD, &bytes) == 0 && bytes > 0;
    }

    void start() { arm(); }
    void close() {
        boost::system::error_code ec;
        sock_.close(ec);
    }
    // Handover: no new datagrams for this socket (the successor's sockets in
    // the SO_REUSEPORT group get them), while those already queued are still
    // read and every reply can still be sent. A connected UDP socket only
    // matches its peer: aim it at its own address (nobody sends from there;
    // a wildcard socket at loopback).
    void stop_receiving() {
        sockaddr_storage peer = bound_.addr;
        if (peer.ss_family == AF_INET6) {
            auto* a = reinterpret_cast<sockaddr_in6*>(&peer);
            if (IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr)) a->sin6_addr = in6addr_loopback;
        } else {
            auto* a = reinterpret_cast<sockaddr_in*>(&peer);
            if (a->sin_addr.s_addr == htonl(INADDR_ANY)) a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        }
        ::connect(sock_.native_handle(), reinterpret_cast<sockaddr*>(&peer), bound_.len);
    }

    void send_reply(const uint8_t* msg, size_t len, const Query& q) override {
        if (w_.replies_held()) {
            // Answered under a hold (this drain, a batch of upstream
            // replies): queued and sent with the others in one sendmmsg.
            if (!out_arena_) out_arena_.reset(new uint8_t[kReplyArena]);
            if (out_count_ == kUdpIoBatch || out_used_ + len > kReplyArena) flush_replies();
            if (len <= kReplyArena) {
                if (!held_) {
                    held_ = true;
                    w_.add_held(std::static_pointer_cast<UdpListener>(shared_from_this()));
                }
                OutReply& o = out_[out_count_];
                std::memcpy(out_arena_.get() + out_used_, msg, len);
                o.iov = {out_arena_.get() + out_used_, len};
                out_used_ += len;
                o.addr = q.client.addr;
                fill_msghdr(out_mh_[out_count_].msg_hdr, o.iov, o.addr, q, o.control);
                ++out_count_;
                return;
            }
        }
        iovec iov{const_cast<uint8_t*>(msg), len};
        sockaddr_storage addr = q.client.addr;
        msghdr mh{};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo))];
        fill_msghdr(mh, iov, addr, q, control);
        // Non-blocking; a full socket buffer drops the reply as UDP may.
        ::sendmsg(sock_.native_handle(), &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    }

private:
    static constexpr size_t kUdpIoBatch = 16;           // datagrams per recvmmsg / sendmmsg
    static constexpr size_t kReplyArena = 64 * 1024;    // replies queued for one sendmmsg

    struct InBatch {
        mmsghdr mh[kUdpIoBatch];
        iovec iov[kUdpIoBatch];
        sockaddr_storage from[kUdpIoBatch];
        alignas(cmsghdr) char control[kUdpIoBatch][256];
        void reset(size_t i) {
            mh[i].msg_hdr.msg_namelen = sizeof from[i];
            mh[i].msg_hdr.msg_controllen = sizeof control[i];
            mh[i].msg_hdr.msg_flags = 0;
        }
    };

    struct OutReply {
        iovec iov;
        sockaddr_storage addr;
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo))];
    };

    // The reply's header: to the client, from the address the query was
    // sent to when the socket is a wildcard one.
    void fill_msghdr(msghdr& mh, iovec& iov, sockaddr_storage& addr, const Query& q, char* control) {
        mh = msghdr{};
        mh.msg_name = &addr;
        mh.msg_namelen = q.client.len;
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        if (wildcard_ && q.local.len > 0) {
            // Answer from the address the query was sent to.
            std::memset(control, 0, CMSG_SPACE(sizeof(in6_pktinfo)));
            mh.msg_control = control;
            if (q.local.addr.ss_family == AF_INET6) {
                mh.msg_controllen = CMSG_SPACE(sizeof(in6_pktinfo));
                cmsghdr* c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = IPPROTO_IPV6;
                c->cmsg_type = IPV6_PKTINFO;
                c->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
                auto* pi = reinterpret_cast<in6_pktinfo*>(CMSG_DATA(c));
                pi->ipi6_addr = reinterpret_cast<const sockaddr_in6*>(&q.local.addr)->sin6_addr;
                pi->ipi6_ifindex = unsigned(q.local_ifindex);
            } else {
                mh.msg_controllen = CMSG_SPACE(sizeof(in_pktinfo));
                cmsghdr* c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = IPPROTO_IP;
                c->cmsg_type = IP_PKTINFO;
                c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
                auto* pi = reinterpret_cast<in_pktinfo*>(CMSG_DATA(c));
                pi->ipi_spec_dst = reinterpret_cast<const sockaddr_in*>(&q.local.addr)->sin_addr;
                pi->ipi_ifindex = q.local_ifindex;
            }
        }
    }

public:
    // The worker's flush at the end of a hold.
    void flush_held() {
        held_ = false;
        flush_replies();
    }

private:
    void flush_replies() {
        const int fd = sock_.native_handle();
        size_t i = 0;
        while (i < out_count_) {
            const int sent = ::sendmmsg(fd, out_mh_ + i, unsigned(out_count_ - i), MSG_DONTWAIT | MSG_NOSIGNAL);
            // A reply that cannot be sent is dropped, as UDP may; the rest go on.
            i += sent > 0 ? size_t(sent) : 1;
        }
        out_count_ = 0;
        out_used_ = 0;
    }

    void arm() {
        sock_.async_wait(udp::socket::wait_read, [this, self = shared_from_this()](
                                                     const boost::system::error_code& ec) {
            if (ec) return;  // closed
            drain();
        });
    }

    void drain() {
        const int fd = sock_.native_handle();
        if (!in_bufs_) {
            // First wake-up: the batch's request buffers (any UDP datagram
            // fits; pages never written stay unallocated), reply arena and
            // the recvmmsg headers, set once.
            in_bufs_.reset(new uint8_t[kUdpIoBatch * wire::kMaxMessage]);
            in_ = std::make_unique<InBatch>();
            for (size_t i = 0; i < kUdpIoBatch; ++i) {
                in_->iov[i] = {in_bufs_.get() + i * wire::kMaxMessage, wire::kMaxMessage};
                msghdr& mh = in_->mh[i].msg_hdr;
                mh = msghdr{};
                mh.msg_name = &in_->from[i];
                mh.msg_iov = &in_->iov[i];
                mh.msg_iovlen = 1;
                mh.msg_control = in_->control[i];
                in_->reset(i);
            }
        }
        InBatch& in = *in_;
        {
        ReplyHold hold(w_);
        for (int done = 0; done < kUdpBatch;) {
            const int got = ::recvmmsg(fd, in.mh, unsigned(kUdpIoBatch), MSG_DONTWAIT, nullptr);
            if (got < 0) {
                if (errno == EINTR) continue;
                break;  // EAGAIN (drained) or an error: wait for readiness again
            }
            for (int i = 0; i < got; ++i) {
                handle_datagram(in.mh[i].msg_hdr, in.mh[i].msg_len, in.iov[i], in.from[i]);
                in.reset(size_t(i));  // the kernel wrote the lengths of the ones it filled
            }
            done += got;
            // Fewer than asked: the queue was empty (a later datagram wakes
            // the socket again), so no EAGAIN call is needed.
            if (size_t(got) < kUdpIoBatch) break;
        }
        }  // the hold's release sends what was answered
        arm();
    }

    void handle_datagram(msghdr& mh, unsigned len, iovec& iov, const sockaddr_storage& from) {
        Query& q = w_.slot();
        q.reset();
        q.req = static_cast<uint8_t*>(iov.iov_base);  // this batch's buffer, read in place
        q.client.addr = from;
        q.client.len = mh.msg_namelen;
        q.req_len = len;
        q.proto = Proto::udp;
        q.local.len = 0;
        for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                const auto* pi = reinterpret_cast<const in_pktinfo*>(CMSG_DATA(c));
                auto* sa = reinterpret_cast<sockaddr_in*>(&q.local.addr);
                sa->sin_family = AF_INET;
                sa->sin_addr = pi->ipi_addr;
                q.local.len = sizeof(sockaddr_in);
                q.local_ifindex = pi->ipi_ifindex;
            } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
                const auto* pi = reinterpret_cast<const in6_pktinfo*>(CMSG_DATA(c));
                auto* sa = reinterpret_cast<sockaddr_in6*>(&q.local.addr);
                sa->sin6_family = AF_INET6;
                sa->sin6_addr = pi->ipi6_addr;
                q.local.len = sizeof(sockaddr_in6);
                q.local_ifindex = int(pi->ipi6_ifindex);
            }
        }
        if (q.local.len == 0) {
            q.local = bound_;  // bound to one address: that is the local address
        } else if (q.local.addr.ss_family == AF_INET) {
            reinterpret_cast<sockaddr_in*>(&q.local.addr)->sin_port = bound_port_net_;
        } else {
            reinterpret_cast<sockaddr_in6*>(&q.local.addr)->sin6_port = bound_port_net_;
        }
        q.sink = this;
        w_.handle(q, spec_);
    }

    Worker& w_;
    std::string label_;
    udp::socket sock_;
    bool wildcard_;
    Endpoint bound_;              // the socket's own address
    uint16_t bound_port_net_ = 0;  // its port, network order
    const Listener* spec_ = nullptr;
    // recvmmsg / sendmmsg batching (drain)
    std::unique_ptr<uint8_t[]> in_bufs_;    // kUdpIoBatch request buffers
    std::unique_ptr<uint8_t[]> out_arena_;  // replies queued while draining
    std::unique_ptr<InBatch> in_;           // recvmmsg headers
    OutReply out_[kUdpIoBatch];
    mmsghdr out_mh_[kUdpIoBatch];  // out_[i]'s header, contiguous for sendmmsg
    size_t out_count_ = 0;
    size_t out_used_ = 0;
    bool held_ = false;  // registered with the worker for the hold's flush
};

// ---------------------------------------------------------------- TCP / TLS
// The byte stream under a DNS-over-TCP connection: the socket itself, or TLS
// over it (tls://, RFC 7858). Everything above it (framing, pipelining,
// timeouts, bounds) is StreamConnection's, shared by both.
struct PlainStream {
    static constexpr bool kTls = false;
    explicit PlainStream(tcp::socket s) : sock(std::move(s)) {}
    tcp::socket& lowest() { return sock; }
    tcp::socket& io() { return sock; }
    tcp::socket sock;
};

struct TlsStream {
    static constexpr bool kTls = true;
    TlsStream(tcp::socket s, asio::ssl::context& ctx) : ssl(std::move(s), ctx) {}
    tcp::socket& lowest() { return ssl.next_layer(); }
    asio::ssl::stream<tcp::socket>& io() { return ssl; }
    asio::ssl::stream<tcp::socket> ssl;
};

// One connection: a coroutine reads what has arrived (up to kTcpReadChunk,
// more for a large message) into a pooled buffer and runs every complete
// length-prefixed message in it through the worker. Replies answered during
// that parse are gathered (copied into the worker's gather buffer: the reply
// lives in the worker's response buffer, which the next query overwrites)
// and go out with one non-blocking send after it, so pipelined queries
// answered from cache cost one system call per read, not one per reply;
// replies that come later (async exchanges) go out at once with one send.
// Only what the kernel does not take is queued. Bounds: kTcpMaxInflight async exchanges, reading
// pauses while more than kTcpPauseQueued bytes wait, a connection whose queue
// passes kTcpMaxQueued or whose write makes no progress for the write timeout
// is closed (counted in dnscore_tcp_connections_dropped_total). Over TLS the
// handshake comes first, within the first-read deadline; replies then always
// go through the queue (the TLS layer writes them).
template <class Stream>
class StreamConnection : public ReplySink {
public:
    template <class... StreamArgs>
    StreamConnection(Worker& w, std::shared_ptr<TcpListener> listener, std::shared_ptr<asio::ssl::context> tls_ctx,
                     StreamArgs&&... args);
    ~StreamConnection() override;
    void start();
    void send_reply(const uint8_t* msg, size_t len, const Query& q) override;
    void close();

private:
    asio::awaitable<void> read_loop();
    asio::awaitable<void> watchdog();
    // Queues the bytes of [lenbuf, msg] from `skip` on; false if over the
    // connection's bound or the budget (then drops the connection).
    bool enqueue(const uint8_t* lenbuf, const uint8_t* msg, size_t len, size_t skip);
    bool enqueue_bytes(const uint8_t* data, size_t n);
    // The reason a failed enqueue closes the connection.
    server::metrics::TcpDrop over_why_ = server::metrics::TcpDrop::write_queue_full;
    // Runs the complete messages in rbuf_[head, tail), at most until a bound
    // says pause; returns false on a frame that cannot be DNS (close).
    bool parse_frames(uint8_t* buf, size_t& head, size_t tail, size_t& frame_len);
    // Sends what parse_frames gathered (one system call) and starts the
    // queued write, if any.
    void flush();
    void start_write();
    void on_written(const boost::system::error_code& ec, size_t n);
    void drop(server::metrics::TcpDrop why);
    size_t queued() const { return wq_.size() + (wq_sending_.size() - sent_); }
    void wake_reader() {
        if (paused_) unpause_.cancel();
    }
    std::chrono::steady_clock::time_point next_check() const {
        return writing_ ? std::min(deadline_, write_progress_ + write_timeout_) : deadline_;
    }
    std::shared_ptr<StreamConnection> self() {
        return std::static_pointer_cast<StreamConnection>(shared_from_this());
    }

    Worker& w_;
    std::shared_ptr<TcpListener> listener_;
    std::shared_ptr<asio::ssl::context> tls_ctx_;  // the configuration's, kept while the connection lives
    Stream stream_;
    asio::steady_timer timer_;
    asio::steady_timer unpause_;
    std::chrono::steady_clock::time_point deadline_;        // idle / first-read deadline
    std::chrono::steady_clock::time_point write_progress_;  // last time a write moved
    std::vector<uint8_t> wq_;          // waiting behind the write in flight
    std::vector<uint8_t> wq_sending_;  // the write in flight, sent_ bytes of it done
    size_t sent_ = 0;
    // Queued bytes are in-flight state: charged to the memory budget's
    // in-flight share while they wait (with forward's waiting exchanges), so
    // many connections that do not read cannot together exceed the budget.
    size_t charged_ = 0;
    bool charge(size_t n) {
        if (!MemoryBudget::process().try_charge_inflight(n)) return false;
        charged_ += n;
        return true;
    }
    void uncharge_to(size_t keep) {
        if (charged_ <= keep) return;
        MemoryBudget::process().release_inflight(charged_ - keep);
        charged_ = keep;
    }
    bool writing_ = false;
    bool closed_ = false;
    bool paused_ = false;
    bool reading_done_ = false;
    bool gathering_ = false;  // inside parse_frames: replies go to the worker's gather buffer
    long inflight_ = 0;  // exchanges that went async and have not replied yet
    Endpoint client_, local_;
    // The listener's timeouts when the connection was accepted.
    std::chrono::nanoseconds read_timeout_, idle_timeout_, write_timeout_;
};

using TcpConnection = StreamConnection<PlainStream>;
using TlsConnection = StreamConnection<TlsStream>;

class TcpListener : public std::enable_shared_from_this<TcpListener>, public SpecSource {
public:
    TcpListener(Worker& w, const std::string& label, tcp::acceptor acc, bool tls, bool doh = false)
        : w_(w), label_(label), acc_(std::move(acc)), backoff_(acc_.get_executor()), tls_(tls), doh_(doh) {}
    void set_spec(const Listener* spec) { spec_ = spec; }
    const Listener* spec() const override { return spec_; }
    const std::string& label() const { return label_; }
    void start() { accept(); }
    void close() {
        boost::system::error_code ec;
        acc_.close(ec);
        backoff_.cancel();
    }
    int fd() { return acc_.is_open() ? acc_.native_handle() : -1; }

private:
    void accept() {
        acc_.async_accept([this, self = shared_from_this()](const boost::system::error_code& ec,
                                                             tcp::socket sock) {
            if (ec == asio::error::operation_aborted || !acc_.is_open()) return;
            if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
                ec == asio::error::no_memory || ec.value() == ENFILE) {
                // Out of descriptors or memory: the connection stays in the
                // backlog and accepting again at once would spin. Retry soon.
                backoff_.expires_after(std::chrono::milliseconds(100));
                backoff_.async_wait([this, self](const boost::system::error_code& e) {
                    if (!e && acc_.is_open()) accept();
                });
                return;
            }
            if (!ec) {
                if (w_.tcp_connections() >= w_.tcp_connection_limit()) {
                    // Full: close at once so the client retries elsewhere
                    // instead of waiting in the backlog.
                    server::metrics::count_drop(w_.index(), server::metrics::TcpDrop::limit);
                    boost::system::error_code ignored;
                    sock.close(ignored);
                } else if (doh_) {
                    // https:// (server/doh.cpp); plain HTTP/1.1 without the tls plugin, as CoreDNS.
                    start_doh_connection(w_, self, spec_ ? spec_->tls : nullptr, std::move(sock));
                } else if (tls_ && spec_ && spec_->tls) {
                    // The current configuration's context: a reload with new
                    // certificates applies to connections accepted after it.
                    if (w_.tls_handshakes() >= kTlsMaxPendingHandshakes) {
                        server::metrics::count_drop(w_.index(), server::metrics::TcpDrop::handshake_limit);
                        boost::system::error_code ignored;
                        sock.close(ignored);
                    } else {
                        std::make_shared<TlsConnection>(w_, self, spec_->tls, std::move(sock), *spec_->tls)->start();
                    }
                } else {
                    // dns://, or tls:// without the tls plugin (CoreDNS then
                    // serves plain DNS over TCP on it).
                    std::make_shared<TcpConnection>(w_, self, nullptr, std::move(sock))->start();
                }
            }
            accept();
        });
    }
    Worker& w_;
    std::string label_;
    tcp::acceptor acc_;
    asio::steady_timer backoff_;
    bool tls_;  // a tls:// listener
    bool doh_;  // an https:// listener
    const Listener* spec_ = nullptr;
};

template <class Stream>
template <class... StreamArgs>
StreamConnection<Stream>::StreamConnection(Worker& w, std::shared_ptr<TcpListener> listener,
                                           std::shared_ptr<asio::ssl::context> tls_ctx, StreamArgs&&... args)
    : w_(w), listener_(std::move(listener)), tls_ctx_(std::move(tls_ctx)),
      stream_(std::forward<StreamArgs>(args)...), timer_(stream_.lowest().get_executor()),
      unpause_(stream_.lowest().get_executor()) {
    tcp::socket& sock_ = stream_.lowest();
    w_.count_tcp_connection(+1);
    stream_endpoints(sock_, client_, local_);
    boost::system::error_code ec;
    sock_.set_option(tcp::no_delay(true), ec);
    sock_.non_blocking(true, ec);
    static const Listener defaults;  // before the first apply(): CoreDNS's defaults
    const Listener* spec = listener_->spec() ? listener_->spec() : &defaults;
    read_timeout_ = spec->read_timeout;
    idle_timeout_ = spec->idle_timeout;
    write_timeout_ = spec->write_timeout;
}

template <class Stream>
StreamConnection<Stream>::~StreamConnection() {
    uncharge_to(0);
    w_.count_tcp_connection(-1);
}

template <class Stream>
void StreamConnection<Stream>::start() {
    deadline_ = std::chrono::steady_clock::now() + read_timeout_;
    auto s = self();
    asio::co_spawn(stream_.lowest().get_executor(), [s]() { return s->read_loop(); }, asio::detached);
    asio::co_spawn(stream_.lowest().get_executor(), [s]() { return s->watchdog(); }, asio::detached);
}

template <class Stream>
void StreamConnection<Stream>::close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    stream_.lowest().shutdown(tcp::socket::shutdown_both, ec);
    stream_.lowest().close(ec);
    timer_.cancel();
    unpause_.cancel();
    if (!writing_) {
        // Nothing in flight points into the queues: free them now, since the
        // object may live on until its async exchanges finish.
        std::vector<uint8_t>().swap(wq_);
        std::vector<uint8_t>().swap(wq_sending_);
        uncharge_to(0);
    }
}

template <class Stream>
void StreamConnection<Stream>::drop(server::metrics::TcpDrop why) {
    if (closed_) return;
    server::metrics::count_drop(w_.index(), why);  // before the client can see the close
    close();
}

template <class Stream>
asio::awaitable<void> StreamConnection<Stream>::watchdog() {
    auto keep = self();
    // Closes the connection once it is idle past its deadline, or once a
    // write has made no progress for the write timeout.
    while (!closed_) {
        timer_.expires_at(next_check());
        co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
        if (closed_) break;
        const auto now = std::chrono::steady_clock::now();
        if (writing_ && now >= write_progress_ + write_timeout_) {
            drop(server::metrics::TcpDrop::write_timeout);
            break;
        }
        if (now >= deadline_) {
            if (inflight_ <= 0 && !writing_) {
                close();
                break;
            }
            deadline_ = now + idle_timeout_;
        }
    }
}

template <class Stream>
asio::awaitable<void> StreamConnection<Stream>::read_loop() {
    auto keep = self();
    if constexpr (Stream::kTls) {
        // Bounded twice: by the watchdog's first-read deadline (it closes the
        // socket under the handshake) and by the per-worker pending count.
        struct Pending {
            Worker& w;
            explicit Pending(Worker& worker) : w(worker) { w.count_tls_handshake(+1); }
            ~Pending() { w.count_tls_handshake(-1); }
        };
        boost::system::error_code hs_ec;
        {
            Pending pending(w_);
            std::tie(hs_ec) = co_await stream_.ssl.async_handshake(asio::ssl::stream_base::server,
                                                                   asio::as_tuple(asio::use_awaitable));
        }
        if (hs_ec || closed_) {
            close();
            co_return;
        }
    }
    BufferPool& pool = w_.tcp_buffers();
    // Unparsed bytes are buf[head, tail). frame_len is the length of the
    // message whose 2-byte prefix is already consumed (0: none): the body
    // alone then fits the largest buffer class.
    BufferPool::Buffer buf;
    size_t head = 0, tail = 0, frame_len = 0;
    while (!closed_) {
        if (tail > head || frame_len > 0) {
            if (!parse_frames(buf.data(), head, tail, frame_len)) break;
            // Back-pressure: a client that does not read its replies (or
            // keeps too many exchanges open) is not read from either.
            while (!closed_ && (inflight_ >= long(kTcpMaxInflight) || queued() > kTcpPauseQueued)) {
                paused_ = true;
                unpause_.expires_after(std::chrono::seconds(1));
                co_await unpause_.async_wait(asio::as_tuple(asio::use_awaitable));
            }
            paused_ = false;
            if (closed_) break;
            // A pause may have left complete messages behind.
            const size_t need = frame_len ? frame_len : 2;
            if (tail - head >= need) continue;
        }
        // Keep only the unparsed tail, at the start of the buffer.
        if (head == tail) {
            head = tail = 0;
            // An idle plain connection holds no buffer: it waits for
            // readability first. (TLS may hold decrypted bytes the socket
            // does not show, so it keeps one while waiting.)
            if (!Stream::kTls || buf.capacity() > kTcpReadChunk) buf.release();
        } else if (head > 0) {
            std::memmove(buf.data(), buf.data() + head, tail - head);
            tail -= head;
            head = 0;
        }
        if constexpr (!Stream::kTls) {
            if (!buf) {
                auto [ecw] = co_await stream_.lowest().async_wait(tcp::socket::wait_read,
                                                                  asio::as_tuple(asio::use_awaitable));
                if (ecw || closed_) break;
            }
        }
        if (!buf) buf = pool.get(kTcpReadChunk);
        if (tail == buf.capacity()) {
            // The buffer grows with what arrives (4 KiB, 64 KiB): a client
            // that announces 64 KiB and sends nothing holds 4 KiB.
            BufferPool::Buffer bigger = pool.get(std::max(frame_len, tail + 1));
            std::memcpy(bigger.data(), buf.data(), tail);
            buf = std::move(bigger);
        }
        auto [ec, n] = co_await stream_.io().async_read_some(asio::buffer(buf.data() + tail, buf.capacity() - tail),
                                                             asio::as_tuple(asio::use_awaitable));
        if (ec || closed_) break;
        tail += n;
    }
    if (inflight_ <= 0 && !writing_) close();
    else {
        // Let outstanding replies go out; the watchdog closes afterwards.
        deadline_ = std::chrono::steady_clock::now() + write_timeout_;
        reading_done_ = true;
    }
}

template <class Stream>
bool StreamConnection<Stream>::parse_frames(uint8_t* buf, size_t& head, size_t tail, size_t& frame_len) {
    std::vector<uint8_t>& gather = w_.tcp_gather();
    gathering_ = true;
    bool ok = true;
    bool any = false;
    while (!closed_) {
        if (frame_len == 0) {
            if (tail - head < 2) break;
            frame_len = wire::rd16(buf + head);
            head += 2;
            if (frame_len < wire::kHeaderLen) {  // cannot be a DNS message: close
                ok = false;
                break;
            }
        }
        if (tail - head < frame_len) break;
        Query& q = w_.slot();
        q.reset();
        q.req = buf + head;  // an exchange that goes async copies it (OwnedQuery)
        q.req_len = frame_len;
        q.proto = Proto::tcp;
        q.client = client_;
        q.local = local_;
        q.sink = this;
        if (w_.handle(q, listener_->spec()) == Worker::Handled::pending) ++inflight_;
        head += frame_len;
        frame_len = 0;
        any = true;
        if (inflight_ >= long(kTcpMaxInflight) || queued() + gather.size() > kTcpPauseQueued) break;
    }
    gathering_ = false;
    if (any) deadline_ = std::chrono::steady_clock::now() + idle_timeout_;
    flush();
    return ok;
}

template <class Stream>
void StreamConnection<Stream>::flush() {
    std::vector<uint8_t>& gather = w_.tcp_gather();
    if (!gather.empty()) {
        size_t sent = 0;
        if (!closed_ && !writing_) {
            const ssize_t n = ::send(stream_.lowest().native_handle(), gather.data(), gather.size(),
                                     MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                gather.clear();
                close();  // reset by the peer
                return;
            }
            sent = n < 0 ? 0 : size_t(n);
        }
        const bool fits = closed_ || enqueue_bytes(gather.data() + sent, gather.size() - sent);
        gather.clear();
        if (!fits) {
            drop(over_why_);
            return;
        }
    }
    if (!closed_ && !writing_ && queued() > 0) start_write();
}

template <class Stream>
void StreamConnection<Stream>::send_reply(const uint8_t* msg, size_t len, const Query& q) {
    if (q.owned) {
        // May run before handle() returned (a plugin that finished at once),
        // so the count can dip below zero for a moment.
        if (inflight_-- == long(kTcpMaxInflight)) wake_reader();
    }
    if (closed_) return;
    uint8_t lenbuf[2];
    wire::wr16(lenbuf, uint16_t(len));
    if (gathering_) {
        // Answered inside parse_frames: sent with the others by flush().
        // Plain TCP with nothing in flight gathers; otherwise the reply
        // joins the queue, which flush() starts writing once (so TLS
        // coalesces the batch into one SSL_write).
        if (!Stream::kTls && !writing_) {
            std::vector<uint8_t>& gather = w_.tcp_gather();
            gather.insert(gather.end(), lenbuf, lenbuf + 2);
            gather.insert(gather.end(), msg, msg + len);
        } else if (!enqueue(lenbuf, msg, len, 0)) {
            drop(over_why_);
        }
        return;
    }
    size_t sent = 0;
    if (!Stream::kTls && !writing_) {
        // Nothing queued: hand it to the kernel now (one system call, no copy).
        iovec iov[2] = {{lenbuf, 2}, {const_cast<uint8_t*>(msg), len}};
        msghdr mh{};
        mh.msg_iov = iov;
        mh.msg_iovlen = 2;
        const ssize_t n = ::sendmsg(stream_.lowest().native_handle(), &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            close();  // reset by the peer
            return;
        }
        sent = n < 0 ? 0 : size_t(n);
        if (sent == len + 2) {
            if (reading_done_ && inflight_ <= 0) close();
            return;
        }
    }
    if (!enqueue(lenbuf, msg, len, sent)) {
        drop(over_why_);
        return;
    }
    if (!writing_) start_write();
}

template <class Stream>
bool StreamConnection<Stream>::enqueue(const uint8_t* lenbuf, const uint8_t* msg, size_t len, size_t skip) {
    const size_t rest = len + 2 - skip;
    over_why_ = server::metrics::TcpDrop::write_queue_full;
    if (queued() + rest > kTcpMaxQueued) return false;
    over_why_ = server::metrics::TcpDrop::memory_budget;
    if (!charge(rest)) return false;
    const size_t at = wq_.size();
    wq_.resize(at + rest);
    uint8_t* out = wq_.data() + at;
    if (skip < 2) {
        std::memcpy(out, lenbuf + skip, 2 - skip);
        out += 2 - skip;
        skip = 2;
    }
    std::memcpy(out, msg + (skip - 2), len - (skip - 2));
    return true;
}

template <class Stream>
bool StreamConnection<Stream>::enqueue_bytes(const uint8_t* data, size_t n) {
    if (n == 0) return true;
    over_why_ = server::metrics::TcpDrop::write_queue_full;
    if (queued() + n > kTcpMaxQueued) return false;
    over_why_ = server::metrics::TcpDrop::memory_budget;
    if (!charge(n)) return false;
    wq_.insert(wq_.end(), data, data + n);
    return true;
}

template <class Stream>
void StreamConnection<Stream>::start_write() {
    if (sent_ == wq_sending_.size()) {
        wq_sending_.swap(wq_);
        wq_.clear();
        sent_ = 0;
    }
    if (!writing_) {
        writing_ = true;
        write_progress_ = std::chrono::steady_clock::now();
        // The watchdog may sleep until the idle deadline: wake it so it
        // watches the write deadline instead.
        if (timer_.expiry() > next_check()) timer_.cancel();
    }
    stream_.io().async_write_some(asio::buffer(wq_sending_.data() + sent_, wq_sending_.size() - sent_),
                           [this, s = self()](const boost::system::error_code& ec, size_t n) { on_written(ec, n); });
}

template <class Stream>
void StreamConnection<Stream>::on_written(const boost::system::error_code& ec, size_t n) {
    if (ec || closed_) {
        writing_ = false;
        close();
        uncharge_to(0);
        std::vector<uint8_t>().swap(wq_);
        std::vector<uint8_t>().swap(wq_sending_);
        return;
    }
    sent_ += n;
    uncharge_to(queued());
    write_progress_ = std::chrono::steady_clock::now();
    deadline_ = write_progress_ + idle_timeout_;
    if (queued() > 0) {
        start_write();
    } else {
        writing_ = false;
        wq_sending_.clear();
        sent_ = 0;
        // A burst may have grown the queues: do not keep that memory per
        // connection.
        if (wq_.capacity() > kTcpKeepQueueCapacity) std::vector<uint8_t>().swap(wq_);
        if (wq_sending_.capacity() > kTcpKeepQueueCapacity) std::vector<uint8_t>().swap(wq_sending_);
        if (reading_done_ && inflight_ <= 0) {
            close();
            return;
        }
    }
    if (queued() <= kTcpPauseQueued) wake_reader();
}

// ---------------------------------------------------------------- Worker
struct Worker::Impl {
    // Before io: handlers destroyed with the loop may still hold its buffers.
    BufferPool tcp_buffers;
    std::vector<uint8_t> tcp_gather;
    Loop io{1};
    std::vector<std::shared_ptr<UdpListener>> udp;
    std::vector<std::shared_ptr<TcpListener>> tcp;
    std::vector<std::shared_ptr<GrpcListener>> grpc;  // worker 0 only: one gRPC server per grpc:// listener
    std::vector<std::shared_ptr<DoqListener>> quic;   // quic:// (server/doq.cpp)
    Query slot;
    std::unique_ptr<uint8_t[]> req_buf{new uint8_t[wire::kMaxMessage]};
    std::unique_ptr<uint8_t[]> resp_buf{new uint8_t[wire::kMaxMessage]};
    std::unique_ptr<asio::executor_work_guard<asio::io_context::executor_type>> guard;
    std::set<std::string> started;  // labels whose listeners are running
    std::vector<std::shared_ptr<UdpListener>> held;  // with replies queued under a hold
};

Worker::Worker(Runtime& rt, int index, size_t tcp_limit)
    : WorkerHost(rt, index), rt_(rt), impl_(std::make_unique<Impl>()), tcp_limit_(tcp_limit) {
    server::metrics::families();  // the server's families exist from start
    set_io(impl_->io);
    impl_->slot.worker = this;
    impl_->slot.error.reserve(512);  // error texts on the sync path reuse this capacity
    impl_->held.reserve(64);         // registering a listener under a hold does not allocate
    impl_->guard = std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(
        impl_->io.get_executor());
}

Worker::~Worker() { join(); }

void Worker::add_held(std::shared_ptr<UdpListener> l) { impl_->held.push_back(std::move(l)); }

void Worker::flush_held_replies() {
    // Flushing sends only (no exchange runs), so the list does not grow meanwhile.
    for (auto& l : impl_->held) l->flush_held();
    impl_->held.clear();
}

Query& Worker::slot() {
    Query& q = impl_->slot;
    q.req = impl_->req_buf.get();
    q.resp = impl_->resp_buf.get();
    q.resp_cap = wire::kMaxMessage;
    q.worker = this;
    return q;
}

BufferPool& Worker::tcp_buffers() { return impl_->tcp_buffers; }
std::vector<uint8_t>& Worker::tcp_gather() { return impl_->tcp_gather; }

void Worker::count_tcp_connection(int delta) {
    tcp_connections_ = size_t(long(tcp_connections_) + delta);
    if (index() >= 0 && index() < kMaxWorkers)
        server::metrics::families().tcp_open[size_t(index())].store(long(tcp_connections_), std::memory_order_relaxed);
}

void Worker::start() {
    thread_ = std::thread([this] {
        for (;;) {
            try {
                impl_->io.run();
                break;
            } catch (const std::exception& e) {
                // `debug` disables recovery as in CoreDNS: the exception ends
                // the process (std::terminate: abort, core dump) for a post-mortem.
                if (log::debug_enabled()) throw;
                log::error("Recovered from panic in worker {}: {}", index(), e.what());
            }
        }
    });
}

void Worker::destroy_pending() {
    join();
    config_.reset();
    impl_->udp.clear();
    impl_->tcp.clear();
    impl_->grpc.clear();
    impl_->quic.clear();
    impl_->io.destroy_pending();
}

void Worker::join() {
    if (thread_.joinable()) {
        impl_->guard.reset();
        impl_->io.stop();
        thread_.join();
    }
}

std::string Worker::open_listener(const Listener& l, const std::string& bound_port) {
    bool wildcard = false;
    std::string host = l.host;
    unsigned scope = 0;
    if (auto pct = host.find('%'); pct != std::string::npos) {
        scope = if_nametoindex(host.substr(pct + 1).c_str());
        host = host.substr(0, pct);
    }
    auto addr = listen_address(host, wildcard);
    auto port = static_cast<unsigned short>(std::stoi(bound_port));
    if (addr.is_v6() && scope) {
        auto v6 = addr.to_v6();
        v6.scope_id(scope);
        addr = v6;
    }

    auto family_of = [](int fd) {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
        return ss.ss_family;
    };
    auto open_udp = [&](const asio::ip::address& a) {
        udp::socket s(impl_->io);
        // Crash-only serving: the socket the previous process read, held by
        // the supervisor meanwhile (server/supervisor.hpp).
        if (const int fd = supervisor::take_inherited(l.label, 'u', index()); fd >= 0) {
            s.assign(family_of(fd) == AF_INET6 ? udp::v6() : udp::v4(), fd);
            s.non_blocking(true);
            return s;
        }
        s.open(a.is_v6() ? udp::v6() : udp::v4());
        set_reuseport(s.native_handle());
        set_receive_buffer(s.native_handle());
        // Only a socket bound to an unspecified address needs each
        // datagram's destination (to answer from it, and for the query's
        // local address); one bound to a single address has it already, and
        // the kernel then writes no control message per datagram.
        int one = 1, zero = 0;
        if (a.is_v6() && wildcard) ::setsockopt(s.native_handle(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        if (a.is_unspecified()) {
            if (a.is_v6()) ::setsockopt(s.native_handle(), IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
            if (!a.is_v6() || wildcard) ::setsockopt(s.native_handle(), IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
        }
        s.bind(udp::endpoint(a, port));
        s.non_blocking(true);
        return s;
    };
    auto open_tcp = [&](const asio::ip::address& a) {
        tcp::acceptor acc(impl_->io);
        if (const int fd = supervisor::take_inherited(l.label, 't', index()); fd >= 0) {
            acc.assign(family_of(fd) == AF_INET6 ? tcp::v6() : tcp::v4(), fd);
            return acc;
        }
        acc.open(a.is_v6() ? tcp::v6() : tcp::v4());
        acc.set_option(tcp::acceptor::reuse_address(true));
        set_reuseport(acc.native_handle());
        if (a.is_v6() && wildcard) {
            int zero = 0;
            ::setsockopt(acc.native_handle(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        }
        acc.bind(tcp::endpoint(a, port));
        acc.listen(asio::socket_base::max_listen_connections);
        return acc;
    };

    if (l.transport == "grpc") {
        // One gRPC server for all workers (server/grpc.hpp): worker 0 owns
        // it, the others only learn its port.
        if (index() != 0) return bound_port;
        if (!grpc_listener_factory) throw std::runtime_error("grpc:// is not available (its module dnscore-grpc.so is not loaded)");
        std::shared_ptr<GrpcListener> g = grpc_listener_factory(rt_, l, bound_port);
        const std::string p = std::to_string(g->port());
        asio::post(impl_->io, [this, g] { impl_->grpc.push_back(g); });
        return p;
    }
    udp::socket us(impl_->io);
    tcp::acceptor ta(impl_->io);
    if (l.transport == "tls" || l.transport == "https") {
        // DNS over TLS or HTTPS: TCP only (CoreDNS's ServerTLS and ServerHTTPS have no packet listener).
        try {
            ta = open_tcp(addr);
        } catch (const boost::system::system_error&) {
            if (!wildcard) throw;
            addr = asio::ip::address(asio::ip::address_v4::any());
            ta = open_tcp(addr);
        }
        port = ta.local_endpoint().port();
        auto t = std::make_shared<TcpListener>(*this, l.label, std::move(ta), l.transport == "tls",
                                               l.transport == "https");
        asio::post(impl_->io, [this, t] { impl_->tcp.push_back(t); });
        return std::to_string(port);
    }
    try {
        us = open_udp(addr);
    } catch (const boost::system::system_error&) {
        if (!wildcard) throw;
        // No IPv6 on this host: fall back to IPv4 any.
        addr = asio::ip::address(asio::ip::address_v4::any());
        us = open_udp(addr);
    }
    port = us.local_endpoint().port();  // port 0 (tests): every socket takes the first one's
    if (l.transport == "quic") {
        // DNS over QUIC: UDP only, one DoqListener per worker (server/doq.hpp).
        if (!doq_listener_factory) throw std::runtime_error("quic:// is not available (its module dnscore-quic.so is not loaded)");
        auto d = doq_listener_factory(*this, l.label, std::move(us));
        asio::post(impl_->io, [this, d] { impl_->quic.push_back(d); });
        return std::to_string(port);
    }
    ta = open_tcp(addr);
    auto u = std::make_shared<UdpListener>(*this, l.label, std::move(us), wildcard);
    auto t = std::make_shared<TcpListener>(*this, l.label, std::move(ta), false);
    asio::post(impl_->io, [this, u, t] {
        impl_->udp.push_back(u);
        impl_->tcp.push_back(t);
        // Specs are set by apply(), which is posted after this.
    });
    return std::to_string(port);
}

void Worker::apply(std::shared_ptr<const ServerSet> cfg) {
    config_ = std::move(cfg);
    auto find = [&](const std::string& label) -> const Listener* {
        for (const auto& l : config_->listeners)
            if (l.label == label) return &l;
        return nullptr;
    };
    std::vector<std::shared_ptr<UdpListener>> udp_keep;
    for (auto& u : impl_->udp) {
        const Listener* spec = find(u->label());
        if (!spec) {
            u->close();
            continue;
        }
        const bool fresh = !impl_->started.count(u->label());
        u->set_spec(spec);
        if (fresh) u->start();
        udp_keep.push_back(u);
    }
    impl_->udp.swap(udp_keep);
    std::vector<std::shared_ptr<TcpListener>> tcp_keep;
    for (auto& t : impl_->tcp) {
        const Listener* spec = find(t->label());
        if (!spec) {
            // Connections accepted by it outlive the old snapshot: they must
            // not keep its zone table (REFUSED until the client goes).
            t->set_spec(nullptr);
            t->close();
            continue;
        }
        const bool fresh = !impl_->started.count(t->label());
        t->set_spec(spec);
        if (fresh) t->start();
        tcp_keep.push_back(t);
    }
    impl_->tcp.swap(tcp_keep);
    std::erase_if(impl_->grpc, [&](const std::shared_ptr<GrpcListener>& g) {
        if (find(g->label())) return false;
        g->close();
        return true;
    });
    std::erase_if(impl_->quic, [&](const std::shared_ptr<DoqListener>& d) {
        const Listener* spec = find(d->label());
        if (!spec) {
            d->close();
            return true;
        }
        const bool fresh = !impl_->started.count(d->label());
        d->set_spec(spec);
        if (fresh) d->start();
        return false;
    });
    impl_->started.clear();
    for (auto& u : impl_->udp) impl_->started.insert(u->label());
    for (auto& t : impl_->tcp) impl_->started.insert(t->label());  // tls:// has no UDP socket
    for (auto& g : impl_->grpc) impl_->started.insert(g->label());
    for (auto& d : impl_->quic) impl_->started.insert(d->label());
}

void Worker::discard_listener(const std::string& label) {
    if (impl_->started.count(label)) return;  // serving: not ours to close
    std::erase_if(impl_->udp, [&](const std::shared_ptr<UdpListener>& u) {
        if (u->label() != label) return false;
        u->close();
        return true;
    });
    std::erase_if(impl_->tcp, [&](const std::shared_ptr<TcpListener>& t) {
        if (t->label() != label) return false;
        t->close();
        return true;
    });
    std::erase_if(impl_->grpc, [&](const std::shared_ptr<GrpcListener>& g) {
        if (g->label() != label) return false;
        g->close();
        return true;
    });
    std::erase_if(impl_->quic, [&](const std::shared_ptr<DoqListener>& d) {
        if (d->label() != label) return false;
        d->close();
        return true;
    });
}

void Worker::close_listeners() {
    for (auto& u : impl_->udp) u->close();
    for (auto& t : impl_->tcp) t->close();
    for (auto& g : impl_->grpc) g->close();
    for (auto& d : impl_->quic) d->close();
    impl_->udp.clear();
    impl_->tcp.clear();
    impl_->grpc.clear();
    impl_->quic.clear();
}

std::vector<supervisor::ListenerFd> Worker::listener_fds() {
    std::vector<supervisor::ListenerFd> out;
    for (auto& u : impl_->udp)
        if (u->fd() >= 0) out.push_back({u->label(), 'u', index(), u->fd()});
    for (auto& t : impl_->tcp)
        if (t->fd() >= 0) out.push_back({t->label(), 't', index(), t->fd()});
    return out;
}

bool Worker::has_queued_datagrams() {
    for (auto& u : impl_->udp)
        if (u->has_queued()) return true;
    return false;
}

void Worker::stop_reading() {
    for (auto& u : impl_->udp) u->stop_receiving();
    // Listening TCP sockets close: new connections go to the successor's (a
    // connection still in this accept queue is reset unless the kernel
    // migrates it: net.ipv4.tcp_migrate_req=1). Accepted ones finish.
    for (auto& t : impl_->tcp) t->close();
    impl_->tcp.clear();
}

void send_direct(Query& q, size_t len) { q.sink->send_reply(q.resp, len, q); }

Worker::Handled Worker::handle(Query& q, const Listener* spec) {
    q.start = Query::Clock::now();
    const auto verdict = wire::parse_query(q.req, q.req_len, q.info);
    switch (verdict) {
    case wire::Verdict::ok:
        break;
    case wire::Verdict::drop:
        return Handled::dropped;
    case wire::Verdict::notimp:
    case wire::Verdict::formerr: {
        const bool formerr = verdict == wire::Verdict::formerr;
        size_t len = wire::build_header_reply(q.req, q.info, formerr ? wire::kFormErr : wire::kNotImp,
                                              q.info.has_question, true, q.resp, q.resp_cap);
        if (formerr && len) q.resp[2] &= uint8_t(~0x78);  // opcode QUERY (spec B.3)
        send_direct(q, len);
        return Handled::replied;
    }
    }
    if (q.info.edns.present && q.info.edns.version != 0) {
        send_direct(q, wire::build_badvers_reply(q.req, q.info, q.resp, q.resp_cap));
        return Handled::replied;
    }
    const Site* site = nullptr;
    if (spec && (q.info.qclass == wire::kClassIN || spec->any_class)) site = spec->route(q.info);
    if (!site || site->block->chain.empty()) {
        size_t len = wire::build_header_reply(q.req, q.info, wire::kRefused, true, false, q.resp, q.resp_cap);
        len = wire::finish_reply(q.resp, len, q.resp_cap, q.req, q.info, q.tcp());
        // Counted before the reply leaves, so a client that scrapes right
        // after its answer sees it (ops e2e raced here).
        metrics::dns::report_dropped(q, spec, len);  // zone "dropped" (spec B.3)
        send_direct(q, len);
        return Handled::replied;
    }
    q.site = site;
    q.listener = spec;
    return run_chain(q) ? Handled::pending : Handled::replied;
}

}  // namespace dnscore
