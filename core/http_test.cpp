// The shared HTTP listener on a loopback port 0: paths, 404, sharing and close.
#include "core/http.hpp"
#include "core/net.hpp"

#include <boost/asio/io_context.hpp>
#include <optional>

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
