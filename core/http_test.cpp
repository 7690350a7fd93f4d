// The shared HTTP listener on a loopback port 0: paths, 404, sharing and close.
#include "core/http.hpp"
#include "core/net.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <optional>
#include <thread>

#include "tests/support/catch.hpp"

using namespace dnscore;

namespace {
// Runs io until the GET completes (bounded by its own timeout).
http::GetResult get(boost::asio::io_context& io, const std::string& hostport, const std::string& path) {
    std::string host, port;
    net::split_host_port_or_throw(hostport, host, port);
    std::optional<http::GetResult> out;
    http::async_get(io, host.empty() ? "127.0.0.1" : host, port, path, std::chrono::seconds(3),
                    [&](const http::GetResult& r) { out = r; });
    io.restart();
    while (!out && io.run_one()) {
    }
    return out.value_or(http::GetResult{"no result"});
}
}  // namespace

TEST_CASE("paths on one shared address, 404 elsewhere, closes with the last handle", "[http]") {
    boost::asio::io_context io;
    auto a = http::serve(io, "127.0.0.1:0", "/health", [] { return http::Response{200, "text/plain; charset=utf-8", "OK"}; });
    auto b = http::serve(io, "127.0.0.1:0", "/ready", [] { return http::Response{503, "text/plain; charset=utf-8", "x,y"}; });
    const std::string addr = http::bound_address("127.0.0.1:0");
    REQUIRE(addr.rfind("127.0.0.1:", 0) == 0);

    auto r = get(io, addr, "/health?verbose=1");
    CHECK(r.error.empty());
    CHECK(r.status == 200);
    CHECK(r.body == "OK");
    r = get(io, addr, "/ready");
    CHECK(r.status == 503);
    CHECK(r.body == "x,y");
    r = get(io, addr, "/nope");
    CHECK(r.status == 404);
    CHECK(r.body == "404 page not found\n");

    a.reset();
    CHECK(get(io, addr, "/health").status == 404);  // still open for /ready
    b.reset();
    CHECK(http::bound_address("127.0.0.1:0").empty());
    r = get(io, addr, "/ready");
    CHECK(r.status == 0);
    CHECK(r.error.find("connection refused") != std::string::npos);
}

TEST_CASE("a busy port fails with Go's listen error", "[http]") {
    boost::asio::io_context io;
    auto a = http::serve(io, "127.0.0.1:0", "/x", [] { return http::Response{}; });
    const std::string addr = http::bound_address("127.0.0.1:0");
    CHECK_THROWS_WITH(http::serve(io, addr, "/y", [] { return http::Response{}; }),
                      "listen tcp " + addr + ": bind: address already in use");
}

namespace {
// Sends `request` on a plain blocking socket while io runs on a thread and
// returns everything the server wrote until it closed the connection.
std::string raw_exchange(boost::asio::io_context& io, const std::string& hostport, const std::string& request) {
    std::string host, port;
    net::split_host_port_or_throw(hostport, host, port);
    auto guard = boost::asio::make_work_guard(io);
    io.restart();
    std::thread runner([&] { io.run(); });
    std::string out;
    {
        boost::asio::io_context client_io;
        boost::asio::ip::tcp::socket s(client_io);
        s.connect({boost::asio::ip::make_address(host), static_cast<unsigned short>(std::stoi(port))});
        boost::asio::write(s, boost::asio::buffer(request));
        boost::system::error_code ec;
        char buf[4096];
        for (;;) {
            std::size_t n = s.read_some(boost::asio::buffer(buf), ec);
            out.append(buf, n);
            if (ec) break;
        }
    }
    guard.reset();
    io.stop();
    runner.join();
    return out;
}

std::string head(boost::asio::io_context& io, const std::string& hostport, const std::string& path) {
    return raw_exchange(io, hostport, "HEAD " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
}
}  // namespace

// Go's net/http announces the length a GET would have for bodies up to its
// 2048-byte buffer and sends no body; CoreDNS's /health answers HEAD with
// Content-Length: 2.
TEST_CASE("HEAD carries the GET's Content-Length without a body, as Go's net/http", "[http]") {
    boost::asio::io_context io;
    auto a = http::serve(io, "127.0.0.1:0", "/health", [] { return http::Response{200, "text/plain; charset=utf-8", "OK"}; });
    auto b = http::serve(io, "127.0.0.1:0", "/ready", [] { return http::Response{503, "text/plain; charset=utf-8", "x,y"}; });
    auto c = http::serve(io, "127.0.0.1:0", "/big", [] { return http::Response{200, "text/plain", std::string(2049, 'm')}; });
    auto d = http::serve(io, "127.0.0.1:0", "/edge", [] { return http::Response{200, "text/plain", std::string(2048, 'm')}; });
    auto e = http::serve(io, "127.0.0.1:0", "/empty", [] { return http::Response{200, "text/plain", ""}; });
    const std::string addr = http::bound_address("127.0.0.1:0");

    auto r = head(io, addr, "/health");
    CHECK(r.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(r.find("\r\nContent-Length: 2\r\n") != std::string::npos);
    CHECK(r.size() >= 4);
    CHECK(r.substr(r.size() - 4) == "\r\n\r\n");  // headers only
    CHECK(r.find("OK", r.size() - 4) == std::string::npos);

    r = head(io, addr, "/ready");
    CHECK(r.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0) == 0);
    CHECK(r.find("\r\nContent-Length: 3\r\n") != std::string::npos);
    CHECK(r.substr(r.size() - 4) == "\r\n\r\n");

    r = head(io, addr, "/nope");
    CHECK(r.rfind("HTTP/1.1 404 Not Found\r\n", 0) == 0);
    CHECK(r.find("\r\nContent-Length: 19\r\n") != std::string::npos);  // "404 page not found\n"
    CHECK(r.substr(r.size() - 4) == "\r\n\r\n");

    r = head(io, addr, "/edge");
    CHECK(r.find("\r\nContent-Length: 2048\r\n") != std::string::npos);
    CHECK(r.substr(r.size() - 4) == "\r\n\r\n");

    // Larger than Go's buffer (a /metrics page) or empty: no length at all.
    r = head(io, addr, "/big");
    CHECK(r.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(r.find("Content-Length") == std::string::npos);
    CHECK(r.find("Transfer-Encoding") == std::string::npos);
    CHECK(r.substr(r.size() - 4) == "\r\n\r\n");
    r = head(io, addr, "/empty");
    CHECK(r.find("Content-Length") == std::string::npos);

    // GET is unchanged: the body with its length.
    r = raw_exchange(io, addr, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(r.find("\r\nContent-Length: 2\r\n") != std::string::npos);
    CHECK(r.substr(r.size() - 6) == "\r\n\r\nOK");
}
