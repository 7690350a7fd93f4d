// DNS over TLS (tls://, RFC 7858) against the real binary: kdig +tls
// answers, pipelining on one connection, client_auth, a client that never
// sends its ClientHello, tls:// without the tls plugin, a reload that changes
// the certificate; and forward's tls:// upstream against Debian's unbound
// (DoT with tls-service-pem) and against a second dnscore, with certificate
// verification failures.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <set>
#include <thread>

#include "core/wire/wire.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/tls_certs.hpp"

using namespace dnscore;
using namespace std::chrono_literals;
using testing::Bytes;
using Clock = std::chrono::steady_clock;

namespace {

const testing::TlsCerts& certs() { return testing::shared_certs(); }

std::string sh(const std::string& cmd) { return testing::shell_output(cmd); }

bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
    const auto end = Clock::now() + timeout;
    while (Clock::now() < end) {
        if (cond()) return true;
        std::this_thread::sleep_for(50ms);
    }
    return cond();
}

// kdig over TLS to 127.0.0.1:port, verifying the server against `ca` and
// the name dot.test; `extra` adds options (client certificate, names).
std::string kdig_tls(uint16_t port, const std::string& ca, const std::string& extra, const std::string& queries) {
    return sh("kdig @127.0.0.1 -p " + std::to_string(port) + " +tls +tls-ca=" + ca +
              " +tls-hostname=dot.test +time=3 +retry=0 " + extra + " " + queries);
}

std::string tls_corefile(const std::string& tls_line, const std::string& body = " whoami\n") {
    return "tls://.:0 {\n bind 127.0.0.1\n" + (tls_line.empty() ? "" : " tls " + tls_line + "\n") + body + "}\n";
}

std::string server_tls(const std::string& extra = "") {
    const auto& c = certs();
    return c.path("server.pem") + " " + c.path("server.key") + (extra.empty() ? "" : " " + extra);
}

// A blocking OpenSSL client connection (for what kdig cannot do: several
// queries written at once).
struct TlsClient {
    SSL_CTX* ctx = nullptr;
    SSL* ssl = nullptr;
    int fd = -1;
    explicit TlsClient(uint16_t port, const std::string& cert = "", const std::string& key = "") {
        ctx = SSL_CTX_new(TLS_client_method());
        if (!cert.empty()) {
            SSL_CTX_use_certificate_chain_file(ctx, cert.c_str());
            SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM);
        }
        SSL_CTX_load_verify_locations(ctx, certs().path("ca.pem").c_str(), nullptr);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
        fd = testing::tcp_connect(port);
        timeval tv{5, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ssl = SSL_new(ctx);
        SSL_set1_host(ssl, "dot.test");
        SSL_set_tlsext_host_name(ssl, "dot.test");
        SSL_set_fd(ssl, fd);
    }
    ~TlsClient() {
        if (ssl) SSL_free(ssl);
        if (ctx) SSL_CTX_free(ctx);
        if (fd >= 0) ::close(fd);
    }
    bool handshake() { return fd >= 0 && SSL_connect(ssl) == 1; }
    bool write(const Bytes& b) { return SSL_write(ssl, b.data(), int(b.size())) == int(b.size()); }
    bool read_exact(uint8_t* p, size_t n) {
        size_t got = 0;
        while (got < n) {
            const int r = SSL_read(ssl, p + got, int(n - got));
            if (r <= 0) return false;
            got += size_t(r);
        }
        return true;
    }
    Bytes read_message() {
        uint8_t len[2];
        if (!read_exact(len, 2)) return {};
        Bytes m(wire::rd16(len));
        if (!read_exact(m.data(), m.size())) return {};
        return m;
    }
};

Bytes framed(const Bytes& msg) {
    Bytes out{uint8_t(msg.size() >> 8), uint8_t(msg.size())};
    out.insert(out.end(), msg.begin(), msg.end());
    return out;
}

// Debian's unbound serving DoT on a free loopback port with `pem`/`key`.
class Unbound {
public:
    Unbound(const std::string& pem, const std::string& key) {
        port_ = testing::free_port();
        dir_ = certs().dir() + "/unbound-" + std::to_string(port_);
        ::mkdir(dir_.c_str(), 0755);
        std::ofstream(dir_ + "/unbound.conf")
            << "server:\n"
               "  interface: 127.0.0.1@" << port_ << "\n"
               "  tls-port: " << port_ << "\n"
               "  tls-service-pem: \"" << pem << "\"\n"
               "  tls-service-key: \"" << key << "\"\n"
               "  do-ip6: no\n  do-udp: no\n"
               "  do-daemonize: no\n  use-syslog: no\n  logfile: \"\"\n"
               "  username: \"\"\n  chroot: \"\"\n  pidfile: \"\"\n"
               "  directory: \"" << dir_ << "\"\n"
               "  module-config: \"iterator\"\n"
               "  access-control: 127.0.0.0/8 allow\n"
               "  local-zone: \"dot.example.\" static\n"
               "  local-data: \"a.dot.example. 300 IN A 192.0.2.53\"\n";
        pid_ = ::fork();
        if (pid_ == 0) {
            const int null = ::open("/dev/null", O_WRONLY);
            ::dup2(null, 1);
            ::dup2(null, 2);
            const std::string conf = dir_ + "/unbound.conf";
            ::execlp("unbound", "unbound", "-d", "-c", conf.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        // Up once it answers over TLS.
        ok_ = wait_for(
            [&] { return has(kdig_tls(port_, certs().path("ca.pem"), "", "a.dot.example A"), "192.0.2.53"); },
            10000ms);
    }
    ~Unbound() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int st;
            ::waitpid(pid_, &st, 0);
        }
    }
    bool ok() const { return ok_; }
    uint16_t port() const { return port_; }

private:
    std::string dir_;
    pid_t pid_ = -1;
    uint16_t port_ = 0;
    bool ok_ = false;
};

std::string forward_corefile(uint16_t upstream, const std::string& options) {
    return ".:0 {\n bind 127.0.0.1\n errors\n forward . tls://127.0.0.1:" + std::to_string(upstream) + " {\n" +
           options + "\n }\n}\n";
}

int rcode_of(const Bytes& r) { return r.size() >= 12 ? wire::rcode(r.data()) : -1; }

}  // namespace

TEST_CASE("tls e2e: kdig +tls gets answers; banner, proto label and server label as CoreDNS", "[tls][e2e]") {
    testing::ServerProcess srv(tls_corefile(server_tls(), " prometheus 127.0.0.1:0\n whoami\n"));
    REQUIRE(srv.started());
    // CoreDNS prints tls listeners with their scheme.
    CHECK(has(srv.out(), "tls://.:" + std::to_string(srv.port()) + " on 127.0.0.1\n"));
    const std::string out = kdig_tls(srv.port(), certs().path("ca.pem"), "", "example.org A");
    INFO(out);
    CHECK(has(out, "status: NOERROR"));
    CHECK(has(out, "TLS session (TLS1.3)"));
    CHECK(has(out, "_tcp.example.org."));  // whoami: the transport under TLS is TCP
    const std::string metrics_at = testing::served_address(srv, "prometheus", "/metrics");
    REQUIRE(!metrics_at.empty());
    const auto scrape = testing::http_get(metrics_at, "/metrics").body;
    INFO(scrape);
    CHECK(testing::metric_value(scrape, "coredns_dns_requests_total{family=\"1\",proto=\"tcp\",server=\"tls://"
                                        "127.0.0.1:0\",type=\"A\",view=\"\",zone=\".\"}") == 1);
    // A plain DNS query over TCP on the DoT port gets no answer.
    CHECK(testing::tcp_exchange("127.0.0.1", srv.port(), testing::make_query("example.org.", "A"), 1500).empty());
}

TEST_CASE("tls e2e: several queries written at once are all answered on one connection", "[tls][e2e]") {
    testing::ServerProcess srv(tls_corefile(server_tls()));
    REQUIRE(srv.started());
    TlsClient c(srv.port());
    REQUIRE(c.handshake());
    Bytes burst;
    std::set<uint16_t> ids;
    for (int i = 0; i < 20; ++i) {
        testing::QueryOptions o;
        o.id = uint16_t(1000 + i);
        ids.insert(o.id);
        auto f = framed(testing::make_query("q" + std::to_string(i) + ".example.", "A", o));
        burst.insert(burst.end(), f.begin(), f.end());
    }
    REQUIRE(c.write(burst));
    std::set<uint16_t> got;
    for (int i = 0; i < 20; ++i) {
        Bytes r = c.read_message();
        REQUIRE(r.size() >= 12);
        CHECK(rcode_of(r) == 0);
        got.insert(wire::id(r.data()));
    }
    CHECK(got == ids);
    // kdig: several queries in one invocation, one kept-open connection.
    const std::string out =
        kdig_tls(srv.port(), certs().path("ca.pem"), "+keepopen", "a.example A b.example AAAA c.example TXT");
    INFO(out);
    size_t n = 0;
    for (size_t p = out.find("status: NOERROR"); p != std::string::npos; p = out.find("status: NOERROR", p + 1)) ++n;
    CHECK(n == 3);
}

TEST_CASE("tls e2e: client_auth require_and_verify and require", "[tls][e2e]") {
    const auto& c = certs();
    const std::string client = "+tls-certfile=" + c.path("client.pem") + " +tls-keyfile=" + c.path("client.key");
    const std::string foreign =
        "+tls-certfile=" + c.path("other-server.pem") + " +tls-keyfile=" + c.path("other-server.key");
    {
        testing::ServerProcess srv(
            tls_corefile(server_tls(c.path("ca.pem")) + " {\n  client_auth require_and_verify\n }"));
        REQUIRE(srv.started());
        CHECK(has(kdig_tls(srv.port(), c.path("ca.pem"), client, "example.org A"), "status: NOERROR"));
        CHECK(!has(kdig_tls(srv.port(), c.path("ca.pem"), "", "example.org A"), "status: NOERROR"));
        CHECK(!has(kdig_tls(srv.port(), c.path("ca.pem"), foreign, "example.org A"), "status: NOERROR"));
        // OpenSSL sends a certificate whatever CAs the server names: refused.
        TlsClient other(srv.port(), c.path("other-server.pem"), c.path("other-server.key"));
        if (other.handshake() && other.write(framed(testing::make_query("example.org.", "A"))))
            CHECK(other.read_message().empty());
    }
    {
        // require: some certificate, not verified.
        testing::ServerProcess srv(tls_corefile(server_tls(c.path("ca.pem")) + " {\n  client_auth require\n }"));
        REQUIRE(srv.started());
        // kdig (GnuTLS) sends only a certificate from the CAs the server
        // names; OpenSSL's client sends any, and `require` does not verify it.
        TlsClient other(srv.port(), c.path("other-server.pem"), c.path("other-server.key"));
        REQUIRE(other.handshake());
        REQUIRE(other.write(framed(testing::make_query("example.org.", "A"))));
        CHECK(rcode_of(other.read_message()) == 0);
        CHECK(has(kdig_tls(srv.port(), c.path("ca.pem"), client, "example.org A"), "status: NOERROR"));
        CHECK(!has(kdig_tls(srv.port(), c.path("ca.pem"), "", "example.org A"), "status: NOERROR"));
    }
}

TEST_CASE("tls e2e: a client that never sends its ClientHello is closed after the read timeout", "[tls][e2e]") {
    testing::ServerProcess srv(tls_corefile(server_tls()));
    REQUIRE(srv.started());
    std::vector<int> idle;
    for (int i = 0; i < 50; ++i) idle.push_back(testing::tcp_connect(srv.port()));
    const auto t0 = Clock::now();
    // Real clients are still served meanwhile.
    CHECK(has(kdig_tls(srv.port(), certs().path("ca.pem"), "", "example.org A"), "status: NOERROR"));
    for (int fd : idle) {
        REQUIRE(fd >= 0);
        pollfd p{fd, POLLIN, 0};
        const int left = int(6000 - std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
        REQUIRE(::poll(&p, 1, std::max(left, 0)) == 1);
        char b;
        CHECK(::recv(fd, &b, 1, 0) <= 0);  // closed, nothing sent
    }
    const double took = std::chrono::duration<double>(Clock::now() - t0).count();
    CHECK(took >= 2.5);  // CoreDNS's 3 s first-read timeout covers the handshake
    CHECK(took < 5.0);
    for (int fd : idle) ::close(fd);
    CHECK(has(kdig_tls(srv.port(), certs().path("ca.pem"), "", "example.org A"), "status: NOERROR"));
}

TEST_CASE("tls e2e: tls:// without the tls plugin serves plain DNS over TCP, as CoreDNS", "[tls][e2e]") {
    testing::ServerProcess srv(tls_corefile(""));
    REQUIRE(srv.started());
    auto r = testing::tcp_exchange("127.0.0.1", srv.port(), testing::make_query("example.org.", "A"), 3000);
    CHECK(rcode_of(r) == 0);
    // No UDP socket on a tls:// listener.
    CHECK(testing::udp_exchange("127.0.0.1", srv.port(), testing::make_query("example.org.", "A"), 700).empty());
}

TEST_CASE("tls e2e: a reload that changes the certificate applies to new connections", "[tls][e2e]") {
    const auto& c = certs();
    testing::ServerProcess srv(tls_corefile(server_tls()));
    REQUIRE(srv.started());
    TlsClient before(srv.port());
    REQUIRE(before.handshake());
    CHECK(has(kdig_tls(srv.port(), c.path("ca.pem"), "", "example.org A"), "status: NOERROR"));
    {
        std::ofstream f(srv.dir() + "/Corefile");
        f << tls_corefile(c.path("other-server.pem") + " " + c.path("other-server.key"));
    }
    REQUIRE(::kill(srv.pid(), SIGUSR1) == 0);
    REQUIRE(wait_for([&] { return has(srv.out(), "[INFO] Reloading complete"); }, 10000ms));
    CHECK(has(kdig_tls(srv.port(), c.path("other-ca.pem"), "", "example.org A"), "status: NOERROR"));
    CHECK(!has(kdig_tls(srv.port(), c.path("ca.pem"), "", "example.org A"), "status: NOERROR"));
    // The connection made before the reload keeps working.
    REQUIRE(before.write(framed(testing::make_query("still.example.", "A"))));
    CHECK(rcode_of(before.read_message()) == 0);
}

TEST_CASE("tls e2e: forward to unbound over DoT, with certificate verification", "[tls][e2e][forward]") {
    const auto& c = certs();
    Unbound ub(c.path("server.pem"), c.path("server.key"));
    REQUIRE(ub.ok());
    auto query = [](uint16_t port) {
        return testing::udp_exchange("127.0.0.1", port, testing::make_query("a.dot.example.", "A"), 8000);
    };
    SECTION("tls_servername matching the certificate") {
        testing::ServerProcess srv(
            forward_corefile(ub.port(), "  tls " + c.path("ca.pem") + "\n  tls_servername dot.test"));
        REQUIRE(srv.started());
        auto r = query(srv.port());
        REQUIRE(rcode_of(r) == 0);
        CHECK(testing::section(r, 1).size() == 1);
        CHECK(has(testing::to_text(r), "192.0.2.53"));
        // Connection reuse: a second query is answered too.
        CHECK(rcode_of(query(srv.port())) == 0);
    }
    SECTION("no servername: verified against the dialled IP (IP SAN)") {
        testing::ServerProcess srv(forward_corefile(ub.port(), "  tls " + c.path("ca.pem")));
        REQUIRE(srv.started());
        CHECK(rcode_of(query(srv.port())) == 0);
    }
    SECTION("wrong tls_servername: SERVFAIL with Go's x509 error line") {
        testing::ServerProcess srv(
            forward_corefile(ub.port(), "  tls " + c.path("ca.pem") + "\n  tls_servername wrong.test"));
        REQUIRE(srv.started());
        CHECK(rcode_of(query(srv.port())) == wire::kServFail);
        const std::string line =
            "[ERROR] plugin/errors: 2 a.dot.example. A: tls: failed to verify certificate: x509: certificate is "
            "valid for dot.test, not wrong.test";
        CHECK(wait_for([&] { return has(srv.out() + srv.err(), line); }, 3000ms));
        INFO(srv.out() + srv.err());
    }
    SECTION("untrusted CA: SERVFAIL with Go's x509 error line") {
        testing::ServerProcess srv(
            forward_corefile(ub.port(), "  tls " + c.path("other-ca.pem") + "\n  tls_servername dot.test"));
        REQUIRE(srv.started());
        CHECK(rcode_of(query(srv.port())) == wire::kServFail);
        const std::string line =
            "[ERROR] plugin/errors: 2 a.dot.example. A: tls: failed to verify certificate: x509: certificate "
            "signed by unknown authority";
        CHECK(wait_for([&] { return has(srv.out() + srv.err(), line); }, 3000ms));
        INFO(srv.out() + srv.err());
    }
}

TEST_CASE("tls e2e: forward resumes the TLS session on its next connection to unbound", "[tls][e2e][forward]") {
    const auto& c = certs();
    Unbound ub(c.path("server.pem"), c.path("server.key"));
    REQUIRE(ub.ok());
    // expire 1s: the idle connection is dropped, so the next query dials again.
    testing::ServerProcess srv(".:0 {\n bind 127.0.0.1\n errors\n prometheus 127.0.0.1:0\n forward . tls://127.0.0.1:" +
                               std::to_string(ub.port()) + " {\n  tls " + c.path("ca.pem") +
                               "\n  tls_servername dot.test\n  expire 1s\n }\n}\n");
    REQUIRE(srv.started());
    const std::string metrics_at = testing::served_address(srv, "prometheus", "/metrics");
    REQUIRE(!metrics_at.empty());
    const std::string to = "127.0.0.1:" + std::to_string(ub.port());
    auto resumed = [&] {
        return testing::metric_value(testing::http_get(metrics_at, "/metrics").body,
                                     "dnscore_forward_tls_resumed_total{to=\"" + to + "\"}");
    };
    auto query = [&] {
        return rcode_of(testing::udp_exchange("127.0.0.1", srv.port(), testing::make_query("a.dot.example.", "A"),
                                              8000));
    };
    REQUIRE(query() == 0);
    CHECK(resumed() == 0);  // the first connection had no session to resume
    std::this_thread::sleep_for(1500ms);
    REQUIRE(query() == 0);  // a new connection: the first expired
    const std::string scrape = testing::http_get(metrics_at, "/metrics").body;
    INFO(scrape);
    CHECK(testing::metric_value(scrape, "coredns_proxy_conn_cache_misses_total{proto=\"tcp-tls\",proxy_name="
                                        "\"forward\",to=\"" + to + "\"}") == 2);
    CHECK(resumed() == 1);
}

TEST_CASE("tls e2e: forward to a second dnscore's tls:// listener", "[tls][e2e][forward]") {
    const auto& c = certs();
    testing::ServerProcess upstream(tls_corefile(server_tls()));
    REQUIRE(upstream.started());
    testing::ServerProcess srv(
        forward_corefile(upstream.port(), "  tls " + c.path("ca.pem") + "\n  tls_servername dot.test"));
    REQUIRE(srv.started());
    for (int i = 0; i < 5; ++i) {
        auto r = testing::udp_exchange("127.0.0.1", srv.port(),
                                       testing::make_query("n" + std::to_string(i) + ".example.", "A"), 8000);
        REQUIRE(rcode_of(r) == 0);
        CHECK(has(testing::to_text(r), "_tcp.n" + std::to_string(i) + ".example."));  // upstream's whoami
    }
}
