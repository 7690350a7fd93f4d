// Go's net.SplitHostPort / JoinHostPort and errno texts.
#include "core/net.hpp"

#include <cerrno>
#include <stdexcept>

#include <boost/asio/error.hpp>

#include "tests/support/catch.hpp"

using namespace dnscore;

namespace {
// "host|port" or Go's error text.
std::string split(const std::string& s) {
    std::string h, p, err;
    if (!net::split_host_port(s, h, p, &err)) return err;
    return h + "|" + p;
}
}  // namespace

TEST_CASE("split_host_port follows Go", "[net]") {
    CHECK(split(":9253") == "|9253");
    CHECK(split("[::1]:80") == "::1|80");
    CHECK(split("localhost:9153") == "localhost|9153");
    CHECK(split("1.2.3.4:") == "1.2.3.4|");
    CHECK(split("[fe80::1%eth0]:53") == "fe80::1%eth0|53");
    CHECK(split("[]:53") == "|53");
    CHECK(split("localhost") == "address localhost: missing port in address");
    CHECK(split("") == "missing port in address");
    CHECK(split("::1:80") == "address ::1:80: too many colons in address");
    CHECK(split("[::1]") == "address [::1]: missing port in address");
    CHECK(split("[::1]53:1") == "address [::1]53:1: missing port in address");
    CHECK(split("[::1]:53:1") == "address [::1]:53:1: too many colons in address");
    CHECK(split("[::1:53") == "address [::1:53: missing ']' in address");
    CHECK(split("a[b:53") == "address a[b:53: unexpected '[' in address");
    CHECK(split("[a[b]:53") == "address [a[b]:53: unexpected '[' in address");
    CHECK(split("a]b:53") == "address a]b:53: unexpected ']' in address");
    CHECK(split("[::1]:53]") == "address [::1]:53]: unexpected ']' in address");

    std::string h, p;
    net::split_host_port_or_throw("[::1]:80", h, p);
    CHECK(h == "::1");
    CHECK(p == "80");
    CHECK_THROWS_WITH(net::split_host_port_or_throw("localhost", h, p), "address localhost: missing port in address");
    CHECK_THROWS_AS(net::split_host_port_or_throw("::1:80", h, p), std::invalid_argument);
}

TEST_CASE("join_host_port brackets hosts with colons", "[net]") {
    CHECK(net::join_host_port("127.0.0.1", "53") == "127.0.0.1:53");
    CHECK(net::join_host_port("::1", "53") == "[::1]:53");
    CHECK(net::join_host_port("fe80::1%eth0", "53") == "[fe80::1%eth0]:53");
    CHECK(net::join_host_port("", "53") == ":53");
    CHECK(net::join_host_port("example.org", "") == "example.org:");
}

TEST_CASE("errno texts as Go prints them", "[net]") {
    CHECK(net::errno_text(ENOENT) == "no such file or directory");
    CHECK(net::errno_text(ECONNREFUSED) == "connection refused");
    CHECK(net::errno_text(EADDRINUSE) == "address already in use");
    CHECK(net::errno_text(EPERM) == "operation not permitted");
    CHECK(net::error_text(boost::system::error_code(ECONNREFUSED, boost::system::system_category())) ==
          "connection refused");
    CHECK(net::error_text(boost::asio::error::host_not_found) == "host not found (authoritative)");
}
