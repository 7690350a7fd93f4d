#include "plugins/loop/loop.hpp"

#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstring>
#include <mutex>
#include <random>

#include "corefile/setup.hpp"
#include "parser/gostd.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "core/net.hpp"
#include "core/wire/writer.hpp"
#include "core/host.hpp"
#include "core/host.hpp"

namespace asio = boost::asio;
using asio::ip::udp;

namespace dnscore::plugins {

namespace {

// Go's net.Addr String(): "1.2.3.4:53", "[::1]:53" (v4-mapped as IPv4).
std::string addr_text(const Endpoint& e) {
    char ip[64];
    const size_t n = e.ip_text(ip, sizeof ip);
    return net::join_host_port(std::string_view(ip, n), std::to_string(e.port()));
}

}  // namespace

std::string loop_probe_name(const std::string& zone) {
    static std::mt19937_64 rng{std::random_device{}()};
    static std::mutex mu;
    std::lock_guard lk(mu);
    std::uniform_int_distribution<uint64_t> dist(0, (uint64_t(1) << 62) - 1);
    const uint64_t a = dist(rng), b = dist(rng);
    std::string name = std::to_string(a) + "." + std::to_string(b) + ".";
    if (zone != ".") name += zone;
    return name;
}

Loop::Loop(std::string zone, std::string probe) : zone_(std::move(zone)), probe_(std::move(probe)) {
    for (auto& c : probe_) c = char(std::tolower(uint8_t(c)));
    probe_len_ = wire::text_to_name(probe_, probe_wire_);
}

Step Loop::query(Query& q) {
    if (q.info.qtype != wire::kTypeHINFO) return Step::next;
    if (off_.load(std::memory_order_relaxed)) return Step::next;
    // q.info.name is lower-cased; so is the probe name.
    if (q.info.name_len != probe_len_ || std::memcmp(q.info.name, probe_wire_, probe_len_) != 0)
        return Step::next;
    if (seen_.fetch_add(1, std::memory_order_relaxed) + 1 > 2 &&
        !fired_.exchange(true, std::memory_order_relaxed)) {
        const std::string msg = fatal_message(q);
        if (on_loop) {
            on_loop(q, msg);
        } else {
            log::emit(log::Level::fatal, "loop", msg);
            if (q.worker) q.worker->host().fatal_exit(1);
            std::fflush(nullptr);
            std::_Exit(1);
        }
    }
    return Step::next;
}

std::string Loop::fatal_message(const Query& q) const {
    // CoreDNS prints w.LocalAddr(): for UDP on a wildcard listener that is the
    // socket's own address ("[::]:53"), otherwise the address queried.
    std::string local = addr_text(q.local);
    if (!q.tcp() && q.site && q.site->server.find("://:") != std::string::npos)
        local = "[::]:" + std::to_string(q.local.port());
    return "Loop (" + addr_text(q.client) + " -> " + local + ") detected for zone " +
           gostd::quote(zone_) +
           ", see https://coredns.io/plugins/loop#troubleshooting. Query: \"HINFO " + probe_ +
           "\"";
}

// ---------------------------------------------------------------- probe

struct LoopProbe::Impl {
    Impl(asio::io_context& io) : sock(io), timer(io) {}
    udp::socket sock;
    asio::steady_timer timer;
    udp::endpoint target;
    std::chrono::steady_clock::time_point deadline;
    Timing timing;
    std::vector<uint8_t> query;
    uint8_t reply[512];
    uint16_t id = 0;
    bool waiting = false;  // an exchange is in flight
    std::mt19937 rng{std::random_device{}()};
};

LoopProbe::LoopProbe(asio::io_context& io, std::shared_ptr<Loop> loop, std::string host,
                     uint16_t port, Timing t)
    : impl_(std::make_unique<Impl>(io)), loop_(std::move(loop)) {
    // An empty host (all interfaces) is reached on the loopback, as Go dials ":PORT".
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(host.empty() ? "127.0.0.1" : host, ec);
    if (ec) addr = asio::ip::make_address("127.0.0.1");
    impl_->target = udp::endpoint(addr, port);
    impl_->timing = t;
}

LoopProbe::~LoopProbe() = default;

void LoopProbe::start() {
    impl_->deadline = std::chrono::steady_clock::now() + impl_->timing.deadline;
    attempt();
}

void LoopProbe::cancel() {
    finished_ = true;
    boost::system::error_code ec;
    impl_->sock.close(ec);
    impl_->timer.cancel();
}

void LoopProbe::finish() {
    if (finished_) return;
    loop_->disable();
    cancel();
}

void LoopProbe::attempt() {
    if (finished_) return;
    if (std::chrono::steady_clock::now() >= impl_->deadline) return finish();
    ++attempts_;
    auto& s = *impl_;
    boost::system::error_code ec;
    if (s.sock.is_open()) s.sock.close(ec);
    // A fresh connected socket per exchange (Go's dns.Exchange): replies from
    // elsewhere are filtered by the kernel, ICMP errors surface as failures.
    s.sock.open(s.target.protocol(), ec);
    if (!ec) s.sock.connect(s.target, ec);
    if (ec) return failed();

    // HINFO PROBE IN, RD=1 (miekg/dns SetQuestion), random id.
    s.id = uint16_t(s.rng());
    uint8_t name[wire::kMaxNameLen];
    const size_t nlen = wire::text_to_name(loop_->probe_name(), name);
    s.query.resize(wire::kHeaderLen + nlen + 4);
    wire::Writer w(s.query.data(), s.query.size());
    w.header(s.id, wire::kRD);
    w.question(name, nlen, wire::kTypeHINFO, wire::kClassIN);
    s.query.resize(w.size());

    s.waiting = true;
    auto self = shared_from_this();
    s.sock.async_send(asio::buffer(s.query), [self](const boost::system::error_code& e, size_t) {
        if (e && !self->finished_ && self->impl_->waiting) {
            self->impl_->waiting = false;
            self->impl_->timer.cancel();
            self->failed();
        }
    });
    s.sock.async_receive(asio::buffer(s.reply), [self](const boost::system::error_code& e, size_t n) {
        auto& st = *self->impl_;
        if (self->finished_ || !st.waiting) return;
        if (!e && n >= wire::kHeaderLen && wire::id(st.reply) == st.id && (wire::flags(st.reply) & wire::kQR)) {
            st.waiting = false;
            self->finish();  // any reply, whatever its rcode
            return;
        }
        st.waiting = false;
        st.timer.cancel();
        self->failed();
    });
    s.timer.expires_after(s.timing.timeout);
    s.timer.async_wait([self](const boost::system::error_code& e) {
        auto& st = *self->impl_;
        if (e || self->finished_ || !st.waiting) return;
        st.waiting = false;
        boost::system::error_code ec2;
        st.sock.close(ec2);  // aborts the receive (ignored: waiting is false)
        self->failed();
    });
}

void LoopProbe::failed() {
    if (finished_) return;
    loop_->reset();
    if (std::chrono::steady_clock::now() >= impl_->deadline) return finish();
    auto self = shared_from_this();
    impl_->timer.expires_after(impl_->timing.retry);
    impl_->timer.async_wait([self](const boost::system::error_code& e) {
        if (e || self->finished_) return;
        self->attempt();
    });
}

// ---------------------------------------------------------------- setup

namespace {

// Startup: probe the block's first listen address on the port it really got.
struct ProbeHook {
    std::shared_ptr<Loop> loop;
    std::string label;  // the listener the probe goes to
    std::string host;
    std::shared_ptr<std::shared_ptr<LoopProbe>> running;
    void operator()(Host& rt) const {
        const std::string port = rt.bound_port(label);
        if (port.empty()) {
            loop->disable();
            return;
        }
        auto p = std::make_shared<LoopProbe>(rt.control(), loop, host, uint16_t(std::stoi(port)),
                                             LoopProbe::Timing{});
        *running = p;
        p->start();
    }
};

}  // namespace

void setup_loop(corefile::SetupContext& c) {
    int seen = 0;
    while (c.d.next()) {
        if (seen++ > 0) throw corefile::SetupContext::once_error();
        if (c.d.next_arg()) throw c.d.arg_err();
    }
    const std::string zone = c.block.zones.empty() ? "." : c.block.zones[0];
    auto loop = std::make_shared<Loop>(zone, loop_probe_name(zone));
    c.add_plugin(loop);

    std::string host;
    if (c.block.has_bind) {
        if (c.block.bind_hosts.empty()) {
            loop->disable();  // nothing to listen on, nothing to probe
            return;
        }
        host = c.block.bind_hosts[0];
    }
    const std::string port = c.block.ports.empty() ? c.opts.dns_port : c.block.ports[0];
    const std::string label = c.block.transport + "://" + net::join_host_port(host, port);

    auto running = std::make_shared<std::shared_ptr<LoopProbe>>();
    c.set.on_startup.push_back(ProbeHook{loop, label, host, running});
    c.set.on_shutdown.push_back([running](Host&) {
        if (*running) (*running)->cancel();
        running->reset();
    });
}

}  // namespace dnscore::plugins
