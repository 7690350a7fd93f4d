// DNS over HTTPS (https://, RFC 8484) against the real binary: kdig +https
// (HTTP/2, POST and GET), curl over HTTP/2 and HTTP/1.1 (GET and POST),
// CoreDNS's status codes for bad requests, Cache-Control from the minimal
// TTL, coredns_dns_https_responses_total and the proto label, client_auth,
// and https:// without the tls plugin (plain HTTP/1.1, as CoreDNS).
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

#include <cstdio>
#include <fstream>
#include <string>

#include "tests/support/catch.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/tls_certs.hpp"

using namespace dnscore;
using testing::Bytes;

namespace {

const testing::TlsCerts& certs() { return testing::shared_certs(); }

std::string sh(const std::string& cmd) { return testing::shell_output(cmd); }

bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

std::string base64url(const Bytes& b) {
    static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (uint8_t c : b) {
        acc = (acc << 8) | c;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(kAlphabet[(acc >> bits) & 63]);
        }
    }
    if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
    return out;
}

// hosts answers with a known TTL (Cache-Control max-age), whoami for the rest.
std::string doh_corefile(const std::string& tls_line, const std::string& extra = "") {
    return "https://.:0 {\n bind 127.0.0.1\n" + (tls_line.empty() ? "" : " tls " + tls_line + "\n") +
           " prometheus 127.0.0.1:0\n" + extra +
           " hosts {\n  192.0.2.7 a.doh.test\n  ttl 1234\n  fallthrough\n }\n whoami\n}\n";
}

std::string server_tls(const std::string& extra = "") {
    const auto& c = certs();
    return c.path("server.pem") + " " + c.path("server.key") + (extra.empty() ? "" : " " + extra);
}

std::string kdig_https(uint16_t port, const std::string& extra, const std::string& query) {
    return sh("kdig @127.0.0.1 -p " + std::to_string(port) + " +https +tls-ca=" + certs().path("ca.pem") +
              " +tls-hostname=dot.test +time=3 +retry=0 " + extra + " " + query);
}

// curl to https://dot.test:PORT (resolved to 127.0.0.1) or http://127.0.0.1:PORT;
// prints the response headers, then the body (hex) after a marker.
std::string curl(uint16_t port, bool tls, const std::string& opts, const std::string& target,
                 const std::string& extra = "") {
    const std::string p = std::to_string(port);
    const std::string url = tls ? "https://dot.test:" + p + target : "http://127.0.0.1:" + p + target;
    return sh("curl -sS -m 5 -D - -o " + certs().dir() + "/body " + opts + " --resolve dot.test:" + p +
              ":127.0.0.1 --cacert " + certs().path("ca.pem") + " " + extra + " '" + url + "'; echo; echo BODY:; cat " +
              certs().dir() + "/body");
}

std::string write_query_file(const Bytes& q) {
    const std::string path = certs().dir() + "/query.bin";
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(q.data()), std::streamsize(q.size()));
    return path;
}

std::string scrape(const testing::ServerProcess& srv) {
    const std::string at = testing::served_address(srv, "prometheus", "/metrics");
    return at.empty() ? "" : testing::http_get(at, "/metrics").body;
}

}  // namespace

TEST_CASE("doh e2e: kdig +https over HTTP/2, POST and GET; banner and metrics as CoreDNS", "[doh][e2e]") {
    testing::ServerProcess srv(doh_corefile(server_tls()));
    REQUIRE(srv.started());
    CHECK(has(srv.out(), "https://.:" + std::to_string(srv.port()) + " on 127.0.0.1\n"));
    const std::string post = kdig_https(srv.port(), "", "a.doh.test A");
    INFO(post);
    CHECK(has(post, "status: NOERROR"));
    CHECK(has(post, "HTTP session (HTTP/2-POST)"));
    CHECK(has(post, "192.0.2.7"));
    const std::string get = kdig_https(srv.port(), "+https-get", "example.org A");
    INFO(get);
    CHECK(has(get, "status: NOERROR"));
    CHECK(has(get, "HTTP session (HTTP/2-GET)"));
    CHECK(has(get, "_tcp.example.org."));  // whoami: DoH is TCP to the chain (request.Proto)
    const std::string m = scrape(srv);
    INFO(m);
    CHECK(testing::metric_value(m, "coredns_dns_https_responses_total{server=\"https://127.0.0.1:0\",status=\"200\"}") ==
          2);
    CHECK(testing::metric_value(m, "coredns_dns_requests_total{family=\"1\",proto=\"tcp\",server=\"https://"
                                   "127.0.0.1:0\",type=\"A\",view=\"\",zone=\".\"}") == 2);
}

TEST_CASE("doh e2e: curl GET and POST over HTTP/2 and HTTP/1.1, headers as CoreDNS", "[doh][e2e]") {
    testing::ServerProcess srv(doh_corefile(server_tls()));
    REQUIRE(srv.started());
    const Bytes q = testing::make_query("a.doh.test.", "A", {.id = 0});
    const std::string target = "/dns-query?dns=" + base64url(q);
    for (const std::string version : {"--http2", "--http1.1"}) {
        const std::string get = curl(srv.port(), true, version, target);
        INFO(get);
        CHECK(has(get, version == "--http2" ? "HTTP/2 200" : "HTTP/1.1 200 OK"));
        CHECK(has(get, version == "--http2" ? "content-type: application/dns-message"
                                             : "Content-Type: application/dns-message"));
        CHECK(has(get, version == "--http2" ? "cache-control: max-age=1234" : "Cache-Control: max-age=1234"));
        const std::string path = write_query_file(q);
        const std::string post = curl(srv.port(), true, version,  "/dns-query",
                                      "-H 'content-type: application/dns-message' --data-binary @" + path);
        INFO(post);
        CHECK(has(post, version == "--http2" ? "HTTP/2 200" : "HTTP/1.1 200 OK"));
        CHECK(has(post, version == "--http2" ? "cache-control: max-age=1234" : "Cache-Control: max-age=1234"));
    }
    // The body is the DNS reply: the answer is there with its TTL.
    const std::string bin = certs().dir() + "/reply.bin";
    sh("curl -sS -m 5 --http2 --resolve dot.test:" + std::to_string(srv.port()) + ":127.0.0.1 --cacert " +
       certs().path("ca.pem") + " -o " + bin + " 'https://dot.test:" + std::to_string(srv.port()) + target + "'");
    std::ifstream f(bin, std::ios::binary);
    const Bytes reply((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    REQUIRE(reply.size() > 12);
    const auto answers = testing::section(reply, 1);
    REQUIRE(answers.size() == 1);
    CHECK(has(answers[0], "192.0.2.7"));
    CHECK(testing::first_ttl(reply) == 1234);
    // Several requests on one HTTP/2 connection (curl multiplexes URLs).
    const std::string many = sh("curl -sS -m 5 --http2 -o /dev/null -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\\n' --resolve dot.test:" +
                                std::to_string(srv.port()) + ":127.0.0.1 --cacert " + certs().path("ca.pem") +
                                " 'https://dot.test:" + std::to_string(srv.port()) + target + "' 'https://dot.test:" +
                                std::to_string(srv.port()) + target + "' 'https://dot.test:" +
                                std::to_string(srv.port()) + target + "'");
    INFO(many);
    CHECK(has(many, "200 1\n200 0\n200 0\n"));
}

TEST_CASE("doh e2e: bad requests get CoreDNS's status codes and texts", "[doh][e2e]") {
    testing::ServerProcess srv(doh_corefile(server_tls()));
    REQUIRE(srv.started());
    const Bytes q = testing::make_query("a.doh.test.", "A", {.id = 0});
    for (const std::string version : {"--http2", "--http1.1"}) {
        INFO(version);
        const std::string status = version == "--http2" ? "HTTP/2 " : "HTTP/1.1 ";
        auto wrong_path = curl(srv.port(), true, version, "/resolve?dns=" + base64url(q));
        INFO(wrong_path);
        CHECK(has(wrong_path, status + "404"));
        auto bad_b64 = curl(srv.port(), true, version, "/dns-query?dns=" + base64url(q) + "=");
        INFO(bad_b64);
        CHECK(has(bad_b64, status + "400"));
        CHECK(has(bad_b64, "BODY:\nillegal base64 data at input byte " + std::to_string(base64url(q).size())));
        auto no_param = curl(srv.port(), true, version, "/dns-query?name=example.org");
        CHECK(has(no_param, status + "400"));
        CHECK(has(no_param, "no 'dns' query parameter found"));
        auto two = curl(srv.port(), true, version, "/dns-query?dns=" + base64url(q) + "&dns=" + base64url(q));
        CHECK(has(two, "multiple 'dns' query values found"));
        auto put = curl(srv.port(), true, version, "/dns-query", "-X PUT --data-binary x");
        INFO(put);
        CHECK(has(put, status + "400"));
        CHECK(has(put, "method not allowed: PUT"));
        auto short_msg = curl(srv.port(), true, version, "/dns-query?dns=AAAA");
        CHECK(has(short_msg, status + "400"));
        CHECK(has(short_msg, "dns: overflow unpacking uint16"));
        // A response (QR set) is dropped by the request checks: nothing
        // written, RFC 8484's 500 with CoreDNS's text.
        Bytes response = q;
        response[2] |= 0x80;
        auto dropped = curl(srv.port(), true, version, "/dns-query?dns=" + base64url(response));
        INFO(dropped);
        CHECK(has(dropped, status + "500"));
        CHECK(has(dropped, "BODY:\nNo response\n"));
    }
    const std::string m = scrape(srv);
    INFO(m);
    CHECK(testing::metric_value(m, "coredns_dns_https_responses_total{server=\"https://127.0.0.1:0\",status=\"404\"}") ==
          2);
    CHECK(testing::metric_value(m, "coredns_dns_https_responses_total{server=\"https://127.0.0.1:0\",status=\"400\"}") ==
          10);
    CHECK(testing::metric_value(m, "coredns_dns_https_responses_total{server=\"https://127.0.0.1:0\",status=\"500\"}") ==
          2);
    // The server still answers afterwards.
    CHECK(has(kdig_https(srv.port(), "", "a.doh.test A"), "192.0.2.7"));
}

TEST_CASE("doh e2e: client_auth require refuses clients without a certificate", "[doh][e2e]") {
    const auto& c = certs();
    testing::ServerProcess srv(doh_corefile(server_tls(c.path("ca.pem")) + " {\n  client_auth require_and_verify\n }"));
    REQUIRE(srv.started());
    const std::string client = "+tls-certfile=" + c.path("client.pem") + " +tls-keyfile=" + c.path("client.key");
    const std::string foreign =
        "+tls-certfile=" + c.path("other-server.pem") + " +tls-keyfile=" + c.path("other-server.key");
    CHECK(has(kdig_https(srv.port(), client, "a.doh.test A"), "192.0.2.7"));
    CHECK(!has(kdig_https(srv.port(), "", "a.doh.test A"), "status: NOERROR"));
    CHECK(!has(kdig_https(srv.port(), foreign, "a.doh.test A"), "status: NOERROR"));
    const Bytes q = testing::make_query("a.doh.test.", "A", {.id = 0});
    const std::string target = "/dns-query?dns=" + base64url(q);
    CHECK(has(curl(srv.port(), true, "--http2", target,
                   "--cert " + c.path("client.pem") + " --key " + c.path("client.key")),
              "HTTP/2 200"));
    CHECK(!has(curl(srv.port(), true, "--http2", target), "HTTP/2 200"));
}

TEST_CASE("doh e2e: https:// without the tls plugin serves plain HTTP/1.1, as CoreDNS", "[doh][e2e]") {
    testing::ServerProcess srv(doh_corefile(""));
    REQUIRE(srv.started());
    const Bytes q = testing::make_query("a.doh.test.", "A", {.id = 0});
    const std::string out = curl(srv.port(), false, "--http1.1", "/dns-query?dns=" + base64url(q));
    INFO(out);
    CHECK(has(out, "HTTP/1.1 200 OK"));
    CHECK(has(out, "Cache-Control: max-age=1234"));
    // Keep-alive: two requests on one connection.
    const std::string two = sh("curl -sS -m 5 -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\\n' 'http://127.0.0.1:" +
                               std::to_string(srv.port()) + "/dns-query?dns=" + base64url(q) + "' 'http://127.0.0.1:" +
                               std::to_string(srv.port()) + "/dns-query?dns=" + base64url(q) + "'");
    CHECK(two == "200 1\n200 0\n");
    // Not HTTP, and headers past the 16 KiB bound: 400 and 431, connection closed.
    auto raw = [&](const std::string& bytes) {
        const int fd = testing::tcp_connect(srv.port());
        REQUIRE(fd >= 0);
        ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        std::string got;
        char buf[4096];
        for (;;) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 3000) != 1) break;
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            got.append(buf, size_t(n));
        }
        ::close(fd);
        return got;
    };
    CHECK(raw("GARBAGE\r\n\r\n").rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
    CHECK(raw("GET /dns-query HTTP/1.1\r\nX: " + std::string(20000, 'a') + "\r\n\r\n")
              .rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0) == 0);
    CHECK(raw("POST /dns-query HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").rfind("HTTP/1.1 501", 0) == 0);
    CHECK(has(curl(srv.port(), false, "--http1.1", "/dns-query?dns=" + base64url(q)), "HTTP/1.1 200 OK"));
}

TEST_CASE("doh e2e: the timeouts plugin's read and idle timeouts close silent and idle connections", "[doh][e2e]") {
    using Clock = std::chrono::steady_clock;
    testing::ServerProcess srv(doh_corefile(server_tls(), " timeouts {\n  read 1s\n  idle 2s\n }\n"));
    REQUIRE(srv.started());
    // Connections that never send a ClientHello: closed at the read timeout.
    std::vector<int> silent;
    for (int i = 0; i < 20; ++i) silent.push_back(testing::tcp_connect(srv.port()));
    const auto t0 = Clock::now();
    CHECK(has(kdig_https(srv.port(), "", "a.doh.test A"), "192.0.2.7"));  // served meanwhile
    for (int fd : silent) {
        REQUIRE(fd >= 0);
        pollfd p{fd, POLLIN, 0};
        const int left = int(5000 - std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
        REQUIRE(::poll(&p, 1, std::max(left, 0)) == 1);
        char b;
        CHECK(::recv(fd, &b, 1, 0) <= 0);
        ::close(fd);
    }
    CHECK(std::chrono::duration<double>(Clock::now() - t0).count() < 4.0);
}

TEST_CASE("doh e2e: an idle HTTP/1.1 keep-alive connection is closed after the idle timeout", "[doh][e2e]") {
    using Clock = std::chrono::steady_clock;
    testing::ServerProcess srv(doh_corefile("", " timeouts {\n  idle 1s\n }\n"));
    REQUIRE(srv.started());
    const int fd = testing::tcp_connect(srv.port());
    REQUIRE(fd >= 0);
    const Bytes q = testing::make_query("a.doh.test.", "A", {.id = 0});
    const std::string req = "GET /dns-query?dns=" + base64url(q) + " HTTP/1.1\r\nHost: x\r\n\r\n";
    REQUIRE(::send(fd, req.data(), req.size(), 0) == ssize_t(req.size()));
    std::string got;
    char buf[4096];
    const auto t0 = Clock::now();
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 5000) != 1) break;
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;  // closed by the server
        got.append(buf, size_t(n));
    }
    const double took = std::chrono::duration<double>(Clock::now() - t0).count();
    INFO(got);
    CHECK(got.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(took < 4.0);  // the idle timeout (1 s), not the 5 s poll limit
    ::close(fd);
}

TEST_CASE("doh e2e: a reload that changes the certificate applies to new connections", "[doh][e2e]") {
    const auto& c = certs();
    testing::ServerProcess srv(doh_corefile(server_tls()));
    REQUIRE(srv.started());
    CHECK(has(kdig_https(srv.port(), "", "a.doh.test A"), "192.0.2.7"));
    std::ofstream(srv.dir() + "/Corefile") << doh_corefile(c.path("other-server.pem") + " " + c.path("other-server.key"));
    REQUIRE(::kill(srv.pid(), SIGUSR1) == 0);
    bool reloaded = false;
    for (int i = 0; i < 200 && !reloaded; ++i) {
        reloaded = has(srv.out(), "[INFO] Reloading complete");
        if (!reloaded) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    REQUIRE(reloaded);
    const std::string other = sh("kdig @127.0.0.1 -p " + std::to_string(srv.port()) + " +https +tls-ca=" +
                                 c.path("other-ca.pem") + " +tls-hostname=dot.test +time=3 +retry=0 a.doh.test A");
    INFO(other);
    CHECK(has(other, "192.0.2.7"));
    CHECK(!has(kdig_https(srv.port(), "", "a.doh.test A"), "status: NOERROR"));
}

TEST_CASE("doh e2e: h2load multiplexes 64 streams per connection, every request answered", "[doh][e2e]") {
    if (sh("command -v h2load").empty()) {
        WARN("SKIP: h2load not installed (Debian package nghttp2-client)");
        return;
    }
    testing::ServerProcess srv(doh_corefile(server_tls()));
    REQUIRE(srv.started());
    const Bytes q = testing::make_query("a.doh.test.", "A", {.id = 0});
    const std::string url = "https://127.0.0.1:" + std::to_string(srv.port()) + "/dns-query";
    const std::string get = sh("h2load -n 4000 -c 4 -m 64 '" + url + "?dns=" + base64url(q) + "'");
    INFO(get);
    CHECK(has(get, "4000 succeeded, 0 failed, 0 errored, 0 timeout"));
    CHECK(has(get, "status codes: 4000 2xx, 0 3xx, 0 4xx, 0 5xx"));
    // More streams asked for than the server allows (128): still all answered.
    const std::string post = sh("h2load -n 2000 -c 1 -m 200 -d " + write_query_file(q) + " '" + url + "'");
    INFO(post);
    CHECK(has(post, "status codes: 2000 2xx, 0 3xx, 0 4xx, 0 5xx"));
    const std::string h1 = sh("h2load --h1 -n 1000 -c 4 '" + url + "?dns=" + base64url(q) + "'");
    INFO(h1);
    CHECK(has(h1, "status codes: 1000 2xx, 0 3xx, 0 4xx, 0 5xx"));
}
