// dnstap: the plugin's query path (encode into the worker's ring) and the
// writer thread (Frame Streams over unix/tcp/tls, reconnects, drop counts).
#include "plugins/dnstap/dnstap.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fstrm.h>
#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "core/host.hpp"
#include "core/log.hpp"
#include "core/net.hpp"
#include "core/thread_role.hpp"
#include "core/query.hpp"
#include "plugins/dnstap/metrics.hpp"

namespace dnscore::plugins::dnstap {

namespace {

const log::PluginLog kLog{"dnstap"};
constexpr auto kTimeout = std::chrono::seconds(4);       // CoreDNS tcpTimeout (dial, writes, handshake)
constexpr auto kFlushInterval = std::chrono::seconds(1); // CoreDNS flushTimeout: drop log, redial
constexpr auto kNap = std::chrono::milliseconds(5);      // writer's pause while messages flow
constexpr size_t kBatch = 128;                           // frames per writev
constexpr char kContentType[] = "protobuf:dnstap.Dnstap";

timespec wall_now() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts;
}

// ---- the transport under libfstrm's writer: one connection ----
struct Transport {
    std::string proto, endpoint;
    bool skip_verify = false;
    int sndbuf = 0;
    int fd = -1;
    SSL_CTX* ctx = nullptr;
    SSL* ssl = nullptr;
    std::string error;  // why the last open failed, in Go's words
    std::vector<iovec> scratch;

    ~Transport() {
        close_conn();
        if (ctx) SSL_CTX_free(ctx);
    }

    void close_conn() {
        if (ssl) {
            SSL_free(ssl);
            ssl = nullptr;
        }
        if (fd >= 0) ::close(fd);
        fd = -1;
    }

    static void set_timeouts(int s) {
        timeval tv{std::chrono::duration_cast<std::chrono::seconds>(kTimeout).count(), 0};
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }

    // Non-blocking connect bounded by kTimeout; 0 or an errno (ETIMEDOUT).
    static int connect_bounded(int s, const sockaddr* sa, socklen_t len) {
        const int fl = fcntl(s, F_GETFL);
        fcntl(s, F_SETFL, fl | O_NONBLOCK);
        int err = 0;
        if (::connect(s, sa, len) != 0) {
            err = errno;
            if (err == EINPROGRESS) {
                pollfd p{s, POLLOUT, 0};
                const int ms = int(std::chrono::duration_cast<std::chrono::milliseconds>(kTimeout).count());
                const int r = ::poll(&p, 1, ms);
                if (r == 0) {
                    err = ETIMEDOUT;
                } else {
                    socklen_t el = sizeof err;
                    getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el);
                }
            }
        }
        fcntl(s, F_SETFL, fl);
        return err;
    }

    std::string dial_prefix() const { return "dial " + std::string(proto == "unix" ? "unix" : "tcp") + " " + endpoint; }

    static std::string connect_error(int err) {
        return err == ETIMEDOUT ? "i/o timeout" : "connect: " + net::errno_text(err);
    }

    bool open_unix() {
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        if (endpoint.size() >= sizeof sa.sun_path) {
            error = dial_prefix() + ": connect: invalid argument";
            return false;
        }
        std::memcpy(sa.sun_path, endpoint.data(), endpoint.size());
        fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            error = dial_prefix() + ": socket: " + net::errno_text(errno);
            return false;
        }
        const int err = connect_bounded(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
        if (err) {
            error = dial_prefix() + ": " + connect_error(err);
            close_conn();
            return false;
        }
        return true;
    }

    bool open_tcp(std::string& host) {
        std::string port, split_err;
        if (!net::split_host_port(endpoint, host, port, &split_err)) {
            error = "dial tcp " + endpoint + ": " + split_err;
            return false;
        }
        addrinfo hints{};
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* res = nullptr;
        if (const int g = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); g != 0) {
            error = "dial tcp: lookup " + host + ": " + (g == EAI_NONAME ? "no such host" : gai_strerror(g));
            return false;
        }
        int err = 0;
        for (addrinfo* ai = res; ai; ai = ai->ai_next) {
            fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                err = errno;
                continue;
            }
            err = connect_bounded(fd, ai->ai_addr, ai->ai_addrlen);
            if (!err) break;
            close_conn();
        }
        freeaddrinfo(res);
        if (fd < 0) {
            error = dial_prefix() + ": " + connect_error(err);
            return false;
        }
        // CoreDNS: SetWriteBuffer(writebuffer × 1 MiB), Nagle left on.
        if (sndbuf > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
        return true;
    }

    bool start_tls(const std::string& host) {
        if (!ctx) {
            ctx = SSL_CTX_new(TLS_client_method());
            SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
            if (!skip_verify) {
                SSL_CTX_set_default_verify_paths(ctx);
                SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
            }
        }
        ssl = SSL_new(ctx);
        SSL_set_fd(ssl, fd);
        in6_addr ip6;
        in_addr ip4;
        const bool is_ip = inet_pton(AF_INET, host.c_str(), &ip4) == 1 || inet_pton(AF_INET6, host.c_str(), &ip6) == 1;
        if (!is_ip) SSL_set_tlsext_host_name(ssl, host.c_str());
        if (!skip_verify) {
            X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
            if (is_ip) X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
            else SSL_set1_host(ssl, host.c_str());
        }
        if (SSL_connect(ssl) != 1) {
            const unsigned long e = ERR_get_error();
            char buf[256] = "handshake failed";
            if (e) ERR_error_string_n(e, buf, sizeof buf);
            ERR_clear_error();
            error = std::string("tls: ") + buf;
            close_conn();
            return false;
        }
        return true;
    }

    bool open() {
        error.clear();
        bool ok;
        if (proto == "unix") {
            ok = open_unix();
        } else {
            std::string host;
            ok = open_tcp(host);
            if (ok) set_timeouts(fd);
            if (ok && proto == "tls") ok = start_tls(host);
        }
        if (ok) set_timeouts(fd);
        return ok;
    }

    bool write_all(const iovec* iov, int n) {
        if (ssl) {
            for (int i = 0; i < n; ++i) {
                const auto* p = static_cast<const uint8_t*>(iov[i].iov_base);
                size_t left = iov[i].iov_len;
                while (left) {
                    const int w = SSL_write(ssl, p, int(std::min<size_t>(left, 1 << 30)));
                    if (w <= 0) return false;
                    p += w;
                    left -= size_t(w);
                }
            }
            return true;
        }
        std::vector<iovec>& v = scratch;  // reused: partial writes edit the entries
        v.assign(iov, iov + n);
        size_t i = 0;
        while (i < v.size()) {
            const ssize_t w = ::writev(fd, v.data() + i, int(std::min<size_t>(v.size() - i, IOV_MAX)));
            if (w < 0) {
                if (errno == EINTR) continue;
                return false;
            }
            size_t left = size_t(w);
            while (i < v.size() && left >= v[i].iov_len) left -= v[i++].iov_len;
            if (i < v.size()) {
                v[i].iov_base = static_cast<uint8_t*>(v[i].iov_base) + left;
                v[i].iov_len -= left;
            }
        }
        return true;
    }

    bool read_all(void* data, size_t count) {
        auto* p = static_cast<uint8_t*>(data);
        while (count) {
            ssize_t r;
            if (ssl) r = SSL_read(ssl, p, int(count));
            else r = ::read(fd, p, count);
            if (r < 0 && !ssl && errno == EINTR) continue;
            if (r <= 0) return false;
            p += r;
            count -= size_t(r);
        }
        return true;
    }

    // libfstrm's rdwr callbacks.
    static fstrm_res cb_destroy(void*) { return fstrm_res_success; }
    static fstrm_res cb_open(void* o) { return static_cast<Transport*>(o)->open() ? fstrm_res_success : fstrm_res_failure; }
    static fstrm_res cb_close(void* o) {
        static_cast<Transport*>(o)->close_conn();
        return fstrm_res_success;
    }
    static fstrm_res cb_read(void* o, void* data, size_t count) {
        return static_cast<Transport*>(o)->read_all(data, count) ? fstrm_res_success : fstrm_res_failure;
    }
    static fstrm_res cb_write(void* o, const iovec* iov, int n) {
        return static_cast<Transport*>(o)->write_all(iov, n) ? fstrm_res_success : fstrm_res_failure;
    }
};

}  // namespace

// ---- the writer thread ----
class Writer {
public:
    explicit Writer(Dnstap& tap) : tap_(tap) {
        tr_.proto = tap.cfg_.proto;
        tr_.endpoint = tap.cfg_.endpoint;
        tr_.skip_verify = tap.cfg_.skip_verify;
        tr_.sndbuf = int(std::min<int64_t>(int64_t(tap.cfg_.multiple_tcp_write_buf) * (1 << 20), 1 << 30));
    }
    ~Writer() { stop(); }

    // CoreDNS connect(): one dial now (its error logged by the caller), then
    // the serving loop, which redials on its own.
    bool connect(std::string& err) {
        disconnect();
        fstrm_writer_options* wopt = fstrm_writer_options_init();
        fstrm_writer_options_add_content_type(wopt, kContentType, sizeof kContentType - 1);
        fstrm_rdwr* rdwr = fstrm_rdwr_init(&tr_);
        fstrm_rdwr_set_destroy(rdwr, &Transport::cb_destroy);
        fstrm_rdwr_set_open(rdwr, &Transport::cb_open);
        fstrm_rdwr_set_close(rdwr, &Transport::cb_close);
        fstrm_rdwr_set_read(rdwr, &Transport::cb_read);  // bidirectional, as CoreDNS's encoder
        fstrm_rdwr_set_write(rdwr, &Transport::cb_write);
        w_ = fstrm_writer_init(wopt, &rdwr);
        fstrm_writer_options_destroy(&wopt);
        if (w_ && fstrm_writer_open(w_) == fstrm_res_success) return true;
        err = tr_.error.empty() ? "framestream handshake with " + tr_.endpoint + " failed" : tr_.error;
        if (w_) fstrm_writer_destroy(&w_);
        w_ = nullptr;
        tr_.close_conn();
        return false;
    }

    void run_thread() {
        th_ = std::thread([this] {
            t_background_thread = true;
            run();
        });
    }

    void stop() {
        if (!th_.joinable()) {
            disconnect();
            return;
        }
        stop_.store(true);
        wake();
        th_.join();
    }

private:
    void wake() {
        const uint64_t one = 1;
        [[maybe_unused]] ssize_t r = ::write(tap_.wake_fd_, &one, sizeof one);
    }

    // Graceful: STOP, and FINISH read back (bounded by the timeouts); after a
    // failed write the socket goes first, so nothing waits on it again.
    void disconnect(bool graceful = true) {
        if (!graceful) tr_.close_conn();
        if (w_) fstrm_writer_destroy(&w_);
        w_ = nullptr;
        tr_.close_conn();
    }

    void drop(uint64_t n) {
        if (!n) return;
        tap_.dropped_.fetch_add(n, std::memory_order_relaxed);
        metrics::dropped().inc_any({}, n);
    }

    // One pass over every worker's ring; returns the frames taken.
    size_t drain() {
        size_t total = 0;
        tap_.rings_.for_each([&](SpscRing& ring) {
            for (;;) {
                iov_.clear();
                const uint8_t* data;
                size_t len;
                while (iov_.size() < kBatch && ring.peek(data, len)) {
                    iov_.push_back({const_cast<uint8_t*>(data), len});
                    ring.pop();
                }
                if (iov_.empty()) break;
                total += iov_.size();
                if (!w_) {
                    drop(iov_.size());
                } else if (fstrm_writer_writev(w_, iov_.data(), int(iov_.size())) != fstrm_res_success) {
                    drop(iov_.size());
                    // CoreDNS redials at once after a failed write.
                    disconnect(false);
                    std::string err;
                    connect(err);
                }
                ring.release();
            }
        });
        return total;
    }

    bool rings_empty() {
        bool empty = true;
        tap_.rings_.for_each([&](SpscRing& r) { empty = empty && r.empty(); });
        return empty;
    }

    void run() {
        using Clock = std::chrono::steady_clock;
        auto tick = Clock::now() + kFlushInterval;
        uint64_t logged = tap_.dropped_.load();
        for (;;) {
            const bool stopping = stop_.load();
            const size_t n = drain();
            if (stopping) break;
            const auto now = Clock::now();
            if (now >= tick) {
                const uint64_t d = tap_.dropped_.load();
                if (d != logged) kLog.warning("Dropped dnstap messages: {}", d - logged);
                logged = d;
                if (!w_) {
                    std::string err;
                    connect(err);  // silently, as CoreDNS's serve loop
                }
                tick = Clock::now() + kFlushInterval;
                continue;
            }
            // While messages flow, nap briefly (no wake-ups needed); when idle,
            // sleep until a worker wakes us or the next tick.
            int ms;
            if (n) {
                ms = int(kNap.count());
            } else {
                tap_.writer_sleeping_.store(true);
                std::atomic_thread_fence(std::memory_order_seq_cst);
                if (!rings_empty()) {
                    tap_.writer_sleeping_.store(false);
                    continue;
                }
                ms = int(std::chrono::duration_cast<std::chrono::milliseconds>(tick - now).count()) + 1;
            }
            pollfd p{tap_.wake_fd_, POLLIN, 0};
            if (::poll(&p, 1, ms) > 0) {
                uint64_t v;
                [[maybe_unused]] ssize_t r = ::read(tap_.wake_fd_, &v, sizeof v);
            }
            tap_.writer_sleeping_.store(false);
        }
        disconnect();
        const uint64_t d = tap_.dropped_.load();
        if (d != logged) kLog.warning("Dropped dnstap messages: {}", d - logged);
    }

    Dnstap& tap_;
    Transport tr_;
    fstrm_writer* w_ = nullptr;
    std::thread th_;
    std::atomic<bool> stop_{false};
    std::vector<iovec> iov_;
};

// ---- the plugin ----
Dnstap::Dnstap(Config cfg)
    : cfg_(std::move(cfg)),
      head_(encode_head(cfg_.identity, cfg_.version, cfg_.extra)),
      ring_bytes_(size_t(std::clamp(cfg_.multiple_queue, 0, kMaxMultipleQueue)) * kRingUnit) {
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

Dnstap::~Dnstap() {
    stop();
    if (wake_fd_ >= 0) ::close(wake_fd_);
}

void Dnstap::start() {
    stop();
    writer_ = std::make_unique<Writer>(*this);
    std::string err;
    if (!writer_->connect(err)) kLog.error("No connection to dnstap endpoint: {}", err);
    writer_->run_thread();
}

void Dnstap::stop() {
    if (writer_) writer_->stop();
    writer_.reset();
}

void Dnstap::count_drop(int worker, uint64_t n) {
    dropped_.fetch_add(n, std::memory_order_relaxed);
    metrics::dropped().inc(worker, {}, n);
}

void Dnstap::push(int worker, const TapMessage& m) {
    if (ring_bytes_ == 0) return count_drop(worker, 1);  // `queue 0`: CoreDNS's unbuffered channel drops all
    SpscRing& ring = rings_.get(worker, ring_bytes_);
    const size_t len = encode(head_, m, nullptr);
    const size_t before = ring.used();
    uint8_t* p = ring.reserve(len);
    if (!p) return count_drop(worker, 1);
    encode(head_, m, p);
    ring.commit(len);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // Wake the writer when it sleeps, or when this ring just passed half full.
    const bool half = before < ring_bytes_ / 2 && ring.used() >= ring_bytes_ / 2;
    if ((writer_sleeping_.load(std::memory_order_relaxed) && writer_sleeping_.exchange(false)) || half) {
        const uint64_t one = 1;
        [[maybe_unused]] ssize_t r = ::write(wake_fd_, &one, sizeof one);
    }
}

namespace {
void set_client(TapMessage& m, const Query& q) {
    m.query_addr = tap_addr(reinterpret_cast<const sockaddr*>(&q.client.addr));
    m.family = m.query_addr.len == 16 ? kInet6 : kInet;
    m.protocol = q.tcp() ? kTcp : kUdp;
}
timespec from_ns(uint64_t ns) { return timespec{time_t(ns / 1000000000u), long(ns % 1000000000u)}; }
}  // namespace

Step Dnstap::query(Query& q) {
    const timespec now = wall_now();
    q.data() = uint64_t(now.tv_sec) * 1000000000u + uint64_t(now.tv_nsec);
    TapMessage m;
    m.type = kClientQuery;
    set_client(m, q);
    m.has_query_time = true;
    m.query_time = now;
    if (cfg_.full) {
        m.query_msg = q.req;
        m.query_len = q.req_len;
    }
    push(q.worker ? q.worker->index() : 0, m);
    return Step::next;
}

void Dnstap::response(Query& q) { after_send(q); }

void Dnstap::sent(Query& q, const uint8_t* msg, size_t len) {
    // CoreDNS taps in its ResponseWriter: a reply the server writes itself
    // for an rcode returned unwritten never passes through it.
    if (!q.written) return;
    TapMessage m;
    m.type = kClientResponse;
    set_client(m, q);
    m.has_query_time = true;
    m.query_time = from_ns(q.data());
    m.has_response_time = true;
    m.response_time = wall_now();
    if (cfg_.full) {
        m.response_msg = msg;
        m.response_len = len;
    }
    push(q.worker ? q.worker->index() : 0, m);
}

void Dnstap::tap_forwarder(const Query& q, const sockaddr* upstream, bool tcp, const timespec& start,
                           const uint8_t* reply, size_t reply_len) {
    const int worker = q.worker ? q.worker->index() : 0;
    TapMessage m;
    m.type = kForwarderQuery;
    m.query_addr = tap_addr(reinterpret_cast<const sockaddr*>(&q.client.addr));
    m.response_addr = tap_addr(upstream);
    // The family and protocol of the address set last: the upstream's.
    m.family = m.response_addr.len == 16 ? kInet6 : kInet;
    m.protocol = tcp ? kTcp : kUdp;
    m.has_query_time = true;
    m.query_time = start;
    if (cfg_.full) {
        m.query_msg = q.req;
        m.query_len = q.req_len;
    }
    push(worker, m);
    if (!reply) return;
    m.type = kForwarderResponse;
    m.query_msg = nullptr;
    m.query_len = 0;
    m.has_response_time = true;
    m.response_time = wall_now();
    if (cfg_.full) {
        m.response_msg = reply;
        m.response_len = reply_len;
    }
    push(worker, m);
}

}  // namespace dnscore::plugins::dnstap
