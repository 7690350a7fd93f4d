// The shared HTTP listeners for /metrics, /health and /ready. Everything runs
// on the control thread's io_context: one coroutine per connection with Go
// net/http's behaviour where clients can see it (404 body, Date header, 5 s
// read/write/idle timeouts as CoreDNS sets them).
#include "core/http.hpp"
#include "core/net.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <sys/socket.h>

#include <atomic>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;

namespace dnscore::http {

namespace {
std::atomic<bool> g_reuse_port{false};

constexpr auto kTimeout = std::chrono::seconds(5);
constexpr std::size_t kGoBufferBeforeChunking = 2048;  // net/http bufferBeforeChunkingSize

std::string http_date() {
    char buf[64];
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return buf;
}

class Listener : public std::enable_shared_from_this<Listener> {
public:
    Listener(asio::io_context& io, std::string key) : io_(io), key_(std::move(key)), acc_(io) {}

    asio::io_context& io() { return io_; }
    const std::string& key() const { return key_; }
    std::string bound() const { return bound_; }

    void open(const std::string& host, const std::string& port) {
        boost::system::error_code ec;
        tcp::endpoint ep;
        const unsigned short p = static_cast<unsigned short>(std::stoi(port.empty() ? "0" : port));
        bool dual = false;
        if (host.empty()) {
            ep = tcp::endpoint(tcp::v6(), p);
            dual = true;
        } else {
            auto addr = asio::ip::make_address(host, ec);
            if (ec) {
                // A name ("localhost"): listen on its first IPv4 address, as Go does.
                tcp::resolver r(io_);
                auto res = r.resolve(host, port, ec);
                if (ec || res.empty())
                    throw std::runtime_error("listen tcp " + net::join_host_port(host, port) +
                                             ": lookup " + host + ": no such host");
                ep = res.begin()->endpoint();
                for (const auto& e : res)
                    if (e.endpoint().address().is_v4()) {
                        ep = e.endpoint();
                        break;
                    }
            } else {
                ep = tcp::endpoint(addr, p);
            }
        }
        auto try_open = [&](const tcp::endpoint& e) {
            acc_.open(e.protocol(), ec);
            if (ec) return;
            acc_.set_option(tcp::acceptor::reuse_address(true), ec);
            if (g_reuse_port.load()) {
                int one = 1;
                ::setsockopt(acc_.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
            }
            if (dual && e.address().is_v6()) acc_.set_option(asio::ip::v6_only(false), ec);
            acc_.bind(e, ec);
            if (!ec) acc_.listen(asio::socket_base::max_listen_connections, ec);
            if (ec) {
                boost::system::error_code ignored;
                acc_.close(ignored);
            }
        };
        try_open(ep);
        if (ec && dual) {
            // No IPv6 on this host: all IPv4 interfaces.
            ep = tcp::endpoint(tcp::v4(), p);
            try_open(ep);
        }
        if (ec)
            throw std::runtime_error("listen tcp " + net::join_host_port(host, port) + ": bind: " + net::error_text(ec));
        const auto local = acc_.local_endpoint(ec);
        bound_ = net::join_host_port(dual ? std::string() : local.address().to_string(),
                                std::to_string(local.port()));
        accept();
    }

    void close() {
        boost::system::error_code ec;
        acc_.close(ec);
    }

    uint64_t add(const std::string& path, Handler h, AsyncHandler ah = {}) {
        std::lock_guard lk(mu_);
        const uint64_t id = next_++;
        paths_[path].push_back({id, Entry{std::move(h), std::move(ah)}});
        return id;
    }
    // Returns true when no path is left.
    bool remove(uint64_t id) {
        std::lock_guard lk(mu_);
        for (auto it = paths_.begin(); it != paths_.end();) {
            auto& v = it->second;
            std::erase_if(v, [&](const auto& e) { return e.first == id; });
            it = v.empty() ? paths_.erase(it) : std::next(it);
        }
        return paths_.empty();
    }

    struct Entry {
        Handler h;
        AsyncHandler ah;
    };

    Entry find(std::string_view target) {
        if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
        std::lock_guard lk(mu_);
        auto it = paths_.find(std::string(target));
        if (it != paths_.end() && !it->second.empty()) return it->second.front().second;
        return {};
    }

    static Response not_found() { return {404, "text/plain; charset=utf-8", "404 page not found\n"}; }

    // An async handler's answer, awaited on the control thread.
    static asio::awaitable<Response> run_async(asio::io_context& io, const AsyncHandler& ah, std::string target) {
        struct Wait {
            explicit Wait(asio::io_context& io) : timer(io) {}
            asio::steady_timer timer;
            std::optional<Response> r;
        };
        auto w = std::make_shared<Wait>(io);
        w->timer.expires_at(asio::steady_timer::time_point::max());
        ah(target, [w](Response r) {
            w->r = std::move(r);
            w->timer.cancel();
        });
        while (!w->r) co_await w->timer.async_wait(asio::as_tuple(asio::use_awaitable));
        co_return std::move(*w->r);
    }

private:
    void accept() {
        acc_.async_accept([self = shared_from_this()](const boost::system::error_code& ec, tcp::socket s) {
            if (ec == asio::error::operation_aborted || !self->acc_.is_open()) return;
            if (!ec)
                asio::co_spawn(self->io_, session(self, beast::tcp_stream(std::move(s))), asio::detached);
            self->accept();
        });
    }

    static asio::awaitable<void> session(std::shared_ptr<Listener> self, beast::tcp_stream stream) {
        beast::flat_buffer buf;
        for (;;) {
            stream.expires_after(kTimeout);
            bhttp::request<bhttp::string_body> req;
            auto [ec, n] = co_await bhttp::async_read(stream, buf, req, asio::as_tuple(asio::use_awaitable));
            if (ec) break;
            Response r;
            const std::string target(req.target().data(), req.target().size());
            try {
                Entry e = self->find(target);
                if (e.h) r = e.h();
                else if (e.ah) r = co_await run_async(self->io_, e.ah, target);
                else r = not_found();
            } catch (const std::exception& e) {
                r = {500, "text/plain; charset=utf-8", std::string(e.what()) + "\n"};
            }
            auto headers = [&](auto& res) {
                res.set(bhttp::field::content_type, r.content_type);
                res.set(bhttp::field::date, http_date());
                if (r.status == 404) res.set("X-Content-Type-Options", "nosniff");
                for (const auto& [k, v] : r.headers) res.set(k, v);
                res.keep_alive(req.keep_alive());
            };
            const auto status = static_cast<bhttp::status>(r.status);
            bool keep_alive = false;
            boost::system::error_code wec;
            stream.expires_after(kTimeout);
            if (req.method() == bhttp::verb::head) {
                // Go's net/http drops a HEAD body but still announces its
                // length when the handler's whole output fit in the 2048-byte
                // buffer before chunking (a larger body was flushed before the
                // handler ended, so no length is known); none for 0 bytes.
                bhttp::response<bhttp::empty_body> res{status, req.version()};
                headers(res);
                if (!r.body.empty() && r.body.size() <= kGoBufferBeforeChunking) res.content_length(r.body.size());
                keep_alive = res.keep_alive();
                std::tie(wec, std::ignore) =
                    co_await bhttp::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
            } else {
                bhttp::response<bhttp::string_body> res{status, req.version()};
                headers(res);
                res.body() = std::move(r.body);
                res.prepare_payload();
                keep_alive = res.keep_alive();
                std::tie(wec, std::ignore) =
                    co_await bhttp::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
            }
            if (wec || !keep_alive) break;
        }
        boost::system::error_code ec;
        stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    }

    asio::io_context& io_;
    std::string key_;
    tcp::acceptor acc_;
    std::string bound_;
    std::mutex mu_;
    uint64_t next_ = 1;
    std::map<std::string, std::vector<std::pair<uint64_t, Entry>>> paths_;
};

// Open listeners by address. Entries are removed when their last path goes,
// and all of an io_context's listeners close when it is destroyed (Service).
std::mutex g_mu;
std::map<std::string, std::shared_ptr<Listener>> g_listeners;

class Service : public asio::execution_context::service {
public:
    using key_type = Service;
    static inline asio::execution_context::id id;
    explicit Service(asio::execution_context& ctx) : asio::execution_context::service(ctx), ctx_(&ctx) {}
    void shutdown() override {
        std::vector<std::shared_ptr<Listener>> mine;
        {
            std::lock_guard lk(g_mu);
            for (auto it = g_listeners.begin(); it != g_listeners.end();) {
                if (static_cast<asio::execution_context*>(&it->second->io()) == ctx_) {
                    mine.push_back(it->second);
                    it = g_listeners.erase(it);
                } else {
                    ++it;
                }
            }
        }
        for (auto& l : mine) l->close();
    }

private:
    asio::execution_context* ctx_;
};

struct Registration {
    std::weak_ptr<Listener> listener;
    uint64_t id = 0;
    ~Registration() {
        auto l = listener.lock();
        if (!l || !l->remove(id)) return;
        {
            std::lock_guard lk(g_mu);
            auto it = g_listeners.find(l->key());
            if (it != g_listeners.end() && it->second == l) g_listeners.erase(it);
        }
        // Close now on the control thread (a reload reopens the same port at
        // once); from elsewhere hand the close to it.
        if (l->io().get_executor().running_in_this_thread() || l->io().stopped()) l->close();
        else asio::post(l->io(), [l] { l->close(); });
    }
};

}  // namespace

namespace {
Handle serve_entry(asio::io_context& io, const std::string& address, const std::string& path, Handler handler,
                   AsyncHandler async_handler) {
    std::string host, port;
    net::split_host_port_or_throw(address, host, port);
    const std::string key = net::join_host_port(host, port);
    asio::use_service<Service>(io);
    std::shared_ptr<Listener> l;
    {
        std::lock_guard lk(g_mu);
        auto it = g_listeners.find(key);
        if (it != g_listeners.end()) l = it->second;
    }
    if (!l) {
        l = std::make_shared<Listener>(io, key);
        l->open(host, port);
        std::lock_guard lk(g_mu);
        g_listeners[key] = l;
    }
    auto reg = std::make_shared<Registration>();
    reg->listener = l;
    reg->id = l->add(path, std::move(handler), std::move(async_handler));
    return reg;
}
}  // namespace

Handle serve(asio::io_context& io, const std::string& address, const std::string& path, Handler handler) {
    return serve_entry(io, address, path, std::move(handler), {});
}

Handle serve_async(asio::io_context& io, const std::string& address, const std::string& path,
                   AsyncHandler handler) {
    return serve_entry(io, address, path, {}, std::move(handler));
}

std::string bound_address(const std::string& address) {
    std::string host, port;
    try {
        net::split_host_port_or_throw(address, host, port);
    } catch (const std::invalid_argument&) {
        return {};
    }
    std::lock_guard lk(g_mu);
    auto it = g_listeners.find(net::join_host_port(host, port));
    return it == g_listeners.end() ? std::string() : it->second->bound();
}

namespace {
// One HTTP/1.1 exchange (GET without a body, or POST with one), Go's error texts.
void async_request(asio::io_context& io, bhttp::verb verb, const std::string& host, const std::string& port,
                   const std::string& path, std::vector<std::pair<std::string, std::string>> headers, std::string body,
                   std::chrono::milliseconds timeout, std::function<void(const GetResult&)> done) {
    auto run = [&io, verb, host, port, path, headers = std::move(headers), body = std::move(body), timeout,
                done = std::move(done)]() mutable -> asio::awaitable<void> {
        GetResult out;
        tcp::resolver resolver(io);
        beast::tcp_stream stream(io);
        stream.expires_after(timeout);
        auto [rec, results] =
            co_await resolver.async_resolve(host, port, asio::as_tuple(asio::use_awaitable));
        if (rec) {
            out.error = "dial tcp: lookup " + host + ": " + net::error_text(rec);
            done(out);
            co_return;
        }
        auto [cec, ep] = co_await stream.async_connect(results, asio::as_tuple(asio::use_awaitable));
        if (cec) {
            std::string target = results.empty() ? net::join_host_port(host, port)
                                                 : net::join_host_port(results.begin()->endpoint().address().to_string(), port);
            out.error = "dial tcp " + target + ": " +
                        (cec == beast::error::timeout ? std::string("i/o timeout") : "connect: " + net::error_text(cec));
            done(out);
            co_return;
        }
        bhttp::request<bhttp::string_body> req{verb, path, 11};
        req.set(bhttp::field::host, net::join_host_port(host, port));
        req.set(bhttp::field::user_agent, "Go-http-client/1.1");
        for (const auto& [k, v] : headers) req.set(k, v);
        if (verb != bhttp::verb::get) {
            req.body() = std::move(body);
            req.prepare_payload();
        }
        auto [wec, wn] = co_await bhttp::async_write(stream, req, asio::as_tuple(asio::use_awaitable));
        beast::flat_buffer buf;
        bhttp::response<bhttp::string_body> res;
        boost::system::error_code ec = wec;
        if (!ec) {
            auto [r, rn] = co_await bhttp::async_read(stream, buf, res, asio::as_tuple(asio::use_awaitable));
            ec = r;
        }
        if (ec) {
            out.error = ec == beast::error::timeout
                            ? "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
                            : net::error_text(ec);
        } else {
            out.status = res.result_int();
            out.body = std::move(res.body());
        }
        boost::system::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        done(out);
    };
    asio::co_spawn(io, std::move(run), asio::detached);
}
}  // namespace

void async_get(asio::io_context& io, const std::string& host, const std::string& port, const std::string& path,
               std::chrono::milliseconds timeout, std::function<void(const GetResult&)> done) {
    async_request(io, bhttp::verb::get, host, port, path, {}, {}, timeout, std::move(done));
}

void async_post(asio::io_context& io, const std::string& host, const std::string& port, const std::string& path,
                std::vector<std::pair<std::string, std::string>> headers, std::string body,
                std::chrono::milliseconds timeout, std::function<void(const GetResult&)> done) {
    async_request(io, bhttp::verb::post, host, port, path, std::move(headers), std::move(body), timeout,
                  std::move(done));
}

void set_reuse_port(bool on) { g_reuse_port = on; }

}  // namespace dnscore::http
