#include "tests/support/fake_upstream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <future>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "core/wire/wire.hpp"

namespace dnscore::testing {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using asio::ip::udp;
using Bytes = std::vector<uint8_t>;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

namespace {

Bytes build_reply(const uint8_t* q, size_t len, FakeUpstream::Mode mode, int octet, int extra, bool tcp) {
    using Mode = FakeUpstream::Mode;
    const size_t qend = wire::skip_question(q, len);
    if (qend == 0 || wire::qdcount(q) != 1) return {};
    const bool edns = wire::arcount(q) > 0;
    const uint16_t qtype = wire::rd16(q + qend - 4);
    Bytes r(q, q + qend);
    wire::wr16(r.data() + 2, uint16_t(wire::kQR | wire::kRA | (wire::flags(q) & wire::kRD)));
    wire::wr16(r.data() + 6, 0);
    wire::wr16(r.data() + 8, 0);
    wire::wr16(r.data() + 10, 0);
    switch (mode) {
        case Mode::truncated:
            if (!tcp) {
                wire::set_flag(r.data(), wire::kTC, true);
                return r;
            }
            break;
        case Mode::servfail:
            wire::set_rcode(r.data(), wire::kServFail);
            return r;
        case Mode::wrong_question:
            if (r[12] > 0) r[13] = r[13] == 'x' ? 'y' : 'x';
            else wire::wr16(r.data() + 13, uint16_t(qtype + 1));
            return r;
        case Mode::garbage:
            wire::wr16(r.data() + 6, 5);
            r.push_back(0xC0);
            r.push_back(0xFF);
            r.push_back(0x01);
            return r;
        case Mode::wrong_id:
            wire::wr16(r.data(), uint16_t(wire::id(q) + 1));
            break;
        default:
            break;
    }
    uint16_t an = 0;
    if (qtype == wire::kTypeA) {
        for (int i = 0; i <= extra; ++i) {
            const uint8_t rr[] = {0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, uint8_t(octet)};
            r.insert(r.end(), rr, rr + sizeof rr);
            if (i > 0) {
                r[r.size() - 4] = 198;
                r[r.size() - 3] = 51;
                r[r.size() - 2] = 100;
                r[r.size() - 1] = uint8_t(i % 250);
            }
            ++an;
        }
    }
    wire::wr16(r.data() + 6, an);
    if (edns) {
        const uint8_t opt[] = {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0};
        r.insert(r.end(), opt, opt + sizeof opt);
        wire::wr16(r.data() + 10, 1);
    }
    return r;
}

}  // namespace

struct FakeUpstream::Impl {
    FakeUpstream& owner;
    asio::io_context io{1};
    udp::socket udp_sock{io};
    tcp::acceptor acceptor{io};
    std::thread thread;

    explicit Impl(FakeUpstream& o) : owner(o) {}

    // The responder's reply, or nullopt when there is no responder.
    std::optional<Bytes> respond(const uint8_t* q, size_t len) {
        std::lock_guard lock(owner.responder_mu_);
        if (!owner.responder_) return std::nullopt;
        return owner.responder_(Bytes(q, q + len));
    }

    void count(const uint8_t* q, size_t len, bool tcp) {
        (tcp ? owner.tcp_queries_ : owner.udp_queries_).fetch_add(1);
        const size_t qend = wire::skip_question(q, len);
        if (qend && wire::rd16(q + qend - 4) == wire::kTypeNS) owner.probes_.fetch_add(1);
    }
};

namespace {

struct TcpConn : std::enable_shared_from_this<TcpConn> {
    explicit TcpConn(tcp::socket s) : sock(std::move(s)) {}
    tcp::socket sock;
    std::deque<Bytes> queue;
    bool writing = false;
    void send(Bytes msg) {
        Bytes framed(2);
        wire::wr16(framed.data(), uint16_t(msg.size()));
        framed.insert(framed.end(), msg.begin(), msg.end());
        queue.push_back(std::move(framed));
        pump();
    }
    void pump() {
        if (writing || queue.empty()) return;
        writing = true;
        auto self = shared_from_this();
        asio::async_write(sock, asio::buffer(queue.front()), [self](boost::system::error_code ec, size_t) {
            self->writing = false;
            self->queue.pop_front();
            if (!ec) self->pump();
        });
    }
};

awaitable<void> udp_delayed(FakeUpstream::Impl* impl, Bytes reply, udp::endpoint to, int ms) {
    asio::steady_timer t(impl->io);
    t.expires_after(std::chrono::milliseconds(ms));
    co_await t.async_wait(kTuple);
    co_await impl->udp_sock.async_send_to(asio::buffer(reply), to, kTuple);
}

awaitable<void> tcp_delayed(std::shared_ptr<TcpConn> c, Bytes reply, int ms) {
    asio::steady_timer t(c->sock.get_executor());
    t.expires_after(std::chrono::milliseconds(ms));
    co_await t.async_wait(kTuple);
    c->send(std::move(reply));
}

awaitable<void> udp_loop(FakeUpstream::Impl* impl, FakeUpstream* up) {
    Bytes buf(65535);
    for (;;) {
        udp::endpoint from;
        auto [ec, n] = co_await impl->udp_sock.async_receive_from(asio::buffer(buf), from, kTuple);
        if (ec == asio::error::operation_aborted || !impl->udp_sock.is_open()) co_return;
        if (ec || n < wire::kHeaderLen) continue;
        impl->count(buf.data(), n, false);
        const auto mode = up->mode_.load();
        Bytes reply;
        if (auto r = impl->respond(buf.data(), n)) {
            reply = std::move(*r);
        } else {
            if (mode == FakeUpstream::Mode::no_answer || mode == FakeUpstream::Mode::tcp_reset) continue;
            reply = build_reply(buf.data(), n, mode, up->octet_.load(), up->extra_.load(), false);
        }
        if (reply.empty()) continue;
        const int delay = up->delay_ms_.load();
        if (delay > 0)
            asio::co_spawn(impl->io, udp_delayed(impl, std::move(reply), from, delay), asio::detached);
        else
            co_await impl->udp_sock.async_send_to(asio::buffer(reply), from, kTuple);
    }
}

awaitable<void> tcp_session(FakeUpstream::Impl* impl, FakeUpstream* up, std::shared_ptr<TcpConn> c) {
    Bytes buf(65535);
    for (;;) {
        uint8_t hdr[2];
        auto [ec, n] = co_await asio::async_read(c->sock, asio::buffer(hdr, 2), kTuple);
        if (ec) co_return;
        const size_t len = wire::rd16(hdr);
        auto [ec2, n2] = co_await asio::async_read(c->sock, asio::buffer(buf.data(), len), kTuple);
        if (ec2 || len < wire::kHeaderLen) co_return;
        impl->count(buf.data(), len, true);
        const auto mode = up->mode_.load();
        Bytes reply;
        if (auto r = impl->respond(buf.data(), len)) {
            reply = std::move(*r);
        } else {
            if (mode == FakeUpstream::Mode::tcp_reset) {
                boost::system::error_code ignored;
                c->sock.set_option(asio::socket_base::linger(true, 0), ignored);
                c->sock.close(ignored);
                co_return;
            }
            if (mode == FakeUpstream::Mode::no_answer) continue;
            reply = build_reply(buf.data(), len, mode, up->octet_.load(), up->extra_.load(), true);
        }
        if (reply.empty()) continue;
        const int delay = up->delay_ms_.load();
        if (delay > 0)
            asio::co_spawn(impl->io, tcp_delayed(c, std::move(reply), delay), asio::detached);
        else
            c->send(std::move(reply));
    }
}

awaitable<void> accept_loop(FakeUpstream::Impl* impl, FakeUpstream* up) {
    for (;;) {
        auto [ec, sock] = co_await impl->acceptor.async_accept(kTuple);
        if (ec == asio::error::operation_aborted || !impl->acceptor.is_open()) co_return;
        if (ec) continue;
        up->tcp_connections_.fetch_add(1);
        asio::co_spawn(impl->io, tcp_session(impl, up, std::make_shared<TcpConn>(std::move(sock))), asio::detached);
    }
}

}  // namespace

FakeUpstream::FakeUpstream() : impl_(std::make_unique<Impl>(*this)) {
    // Same port for UDP and TCP: take the UDP one, then bind TCP to it (retry
    // on the rare collision).
    for (int attempt = 0; attempt < 50; ++attempt) {
        boost::system::error_code ec;
        udp::socket u(impl_->io);
        u.open(udp::v4());
        u.bind(udp::endpoint(asio::ip::address_v4::loopback(), 0));
        const uint16_t p = u.local_endpoint().port();
        tcp::acceptor a(impl_->io);
        a.open(tcp::v4());
        a.set_option(asio::socket_base::reuse_address(true));
        a.bind(tcp::endpoint(asio::ip::address_v4::loopback(), p), ec);
        if (ec) continue;
        a.listen(128);
        impl_->udp_sock = std::move(u);
        impl_->acceptor = std::move(a);
        port_ = p;
        break;
    }
    if (port_ == 0) throw std::runtime_error("fake upstream: no free port");
    asio::co_spawn(impl_->io, udp_loop(impl_.get(), this), asio::detached);
    asio::co_spawn(impl_->io, accept_loop(impl_.get(), this), asio::detached);
    impl_->thread = std::thread([this] { impl_->io.run(); });
}

FakeUpstream::~FakeUpstream() {
    impl_->io.stop();
    impl_->thread.join();
}

void FakeUpstream::set_responder(Responder fn) {
    std::lock_guard lock(responder_mu_);
    responder_ = std::move(fn);
}

void FakeUpstream::run_on_thread(const std::function<void()>& fn) {
    std::promise<void> done;
    asio::post(impl_->io, [&] {
        fn();
        done.set_value();
    });
    done.get_future().wait();
}

void FakeUpstream::reset_counters() {
    udp_queries_ = 0;
    tcp_queries_ = 0;
    tcp_connections_ = 0;
    probes_ = 0;
}

uint16_t FakeUpstream::closed_port() {
    // Below the kernel's ephemeral range, so no socket of the test or of the
    // server picks it up later; both UDP and TCP must be free.
    asio::io_context io;
    std::random_device rd;
    for (int attempt = 0; attempt < 200; ++attempt) {
        const uint16_t p = uint16_t(20000 + rd() % 12000);
        boost::system::error_code e1, e2;
        udp::socket u(io);
        u.open(udp::v4());
        u.bind(udp::endpoint(asio::ip::address_v4::loopback(), p), e1);
        tcp::acceptor a(io);
        a.open(tcp::v4());
        a.bind(tcp::endpoint(asio::ip::address_v4::loopback(), p), e2);
        if (!e1 && !e2) return p;  // both closed on return: nothing listens there
    }
    throw std::runtime_error("fake upstream: no closed port found");
}

}  // namespace dnscore::testing
