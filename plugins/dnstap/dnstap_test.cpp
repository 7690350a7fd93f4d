// dnstap: setup as CoreDNS 1.12's setup_test.go, the protobuf decoded by an
// independent reader, the ring's bounds, and the writer against a real
// Frame Streams reader (fstrm_capture): handshake, frames, reconnect, drops.
#include "plugins/dnstap/dnstap.hpp"

#include <arpa/inet.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <fcntl.h>
#include <cstring>
#include <filesystem>
#include <thread>

#include "plugins/dnstap/metrics.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/chain_harness.hpp"
#include "tests/support/dnstap_reader.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/setup_harness.hpp"
#include "tests/support/stdout_capture.hpp"

using namespace dnscore;
using namespace dnscore::plugins::dnstap;
namespace rd = dnscore::testing::dnstap_read;

namespace {

std::vector<Config> parse(const std::string& body) {
    auto d = testing::dispenser("dnstap", body + "\n");
    return parse_dnstap(d);
}

std::string host() {
    char buf[HOST_NAME_MAX + 1] = {};
    gethostname(buf, sizeof buf - 1);
    return buf;
}

const std::string kVersion = std::string("dnscore-") + DNSCORE_VERSION;

// fstrm_capture on a unix socket, writing the frames to a file.
struct Capture {
    std::string dir, sock, file;
    pid_t pid = -1;
    uint16_t tcp_port = 0;  // set: listen on 127.0.0.1:tcp_port instead of the unix socket
    Capture() {
        char tmpl[] = "/tmp/dnstap-test-XXXXXX";
        dir = mkdtemp(tmpl);
        sock = dir + "/tap.sock";
        file = dir + "/tap.fstrm";
    }
    void start() {
        pid = fork();
        if (pid == 0) {
            int devnull = ::open("/dev/null", O_WRONLY);
            dup2(devnull, 1);
            dup2(devnull, 2);
            const std::string port = std::to_string(tcp_port);
            if (tcp_port)
                execlp("fstrm_capture", "fstrm_capture", "-t", "protobuf:dnstap.Dnstap", "-a", "127.0.0.1", "-p",
                       port.c_str(), "-w", file.c_str(), nullptr);
            else
                execlp("fstrm_capture", "fstrm_capture", "-t", "protobuf:dnstap.Dnstap", "-u", sock.c_str(), "-w",
                       file.c_str(), nullptr);
            _exit(127);
        }
        auto up = [&] {
            if (!tcp_port) return rd::unix_accepts(sock);
            const int s = testing::tcp_connect(tcp_port);
            if (s >= 0) ::close(s);
            return s >= 0;
        };
        for (int i = 0; i < 500 && !up(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        REQUIRE(up());
    }
    // Stops the reader (it flushes and closes its file) and reads the file.
    rd::FrameFile finish() {
        if (pid > 0) {
            kill(pid, SIGINT);
            int st;
            waitpid(pid, &st, 0);
            pid = -1;
        }
        return rd::read_frame_file(file);
    }
    ~Capture() {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
        std::filesystem::remove_all(dir);
    }
};

bool wait_for(const std::function<bool()>& cond, int ms = 5000) {
    for (int i = 0; i < ms / 10; ++i) {
        if (cond()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return cond();
}

std::string ip4(const std::string& b) {
    char out[INET_ADDRSTRLEN];
    REQUIRE(b.size() == 4);
    inet_ntop(AF_INET, b.data(), out, sizeof out);
    return out;
}

}  // namespace

TEST_CASE("dnstap setup: CoreDNS setup_test.go cases", "[dnstap][setup]") {
    struct Want {
        std::string endpoint;
        bool full;
        std::string proto, identity, version, extra;
    };
    const std::string h = host();
    const std::vector<std::pair<std::string, std::vector<Want>>> ok = {
        {"dnstap dnstap.sock full", {{"dnstap.sock", true, "unix", h, kVersion, ""}}},
        {"dnstap unix://dnstap.sock", {{"dnstap.sock", false, "unix", h, kVersion, ""}}},
        {"dnstap tcp://127.0.0.1:6000", {{"127.0.0.1:6000", false, "tcp", h, kVersion, ""}}},
        {"dnstap tcp://[::1]:6000", {{"[::1]:6000", false, "tcp", h, kVersion, ""}}},
        {"dnstap tcp://example.com:6000", {{"example.com:6000", false, "tcp", h, kVersion, ""}}},
        {"dnstap dnstap.sock full {\nidentity NAME\nversion VER\n}\n", {{"dnstap.sock", true, "unix", "NAME", "VER", ""}}},
        {"dnstap dnstap.sock full {\nidentity NAME\nversion VER\nextra EXTRA\n}\n",
         {{"dnstap.sock", true, "unix", "NAME", "VER", "EXTRA"}}},
        {"dnstap dnstap.sock {\nidentity NAME\nversion VER\nextra EXTRA\n}\n",
         {{"dnstap.sock", false, "unix", "NAME", "VER", "EXTRA"}}},
        {"dnstap dnstap.sock full {\nidentity NAME\nversion VER\nextra EXTRA\n}\n"
         "dnstap tcp://127.0.0.1:6000 {\nidentity NAME2\nversion VER2\nextra EXTRA2\n}\n",
         {{"dnstap.sock", true, "unix", "NAME", "VER", "EXTRA"}, {"127.0.0.1:6000", false, "tcp", "NAME2", "VER2", "EXTRA2"}}},
        {"dnstap tls://127.0.0.1:6000", {{"127.0.0.1:6000", false, "tls", h, kVersion, ""}}},
    };
    for (const auto& [in, want] : ok) {
        INFO(in);
        const auto got = parse(in);
        REQUIRE(got.size() == want.size());
        for (size_t i = 0; i < want.size(); ++i) {
            CHECK(got[i].endpoint == want[i].endpoint);
            CHECK(got[i].full == want[i].full);
            CHECK(got[i].proto == want[i].proto);
            CHECK(got[i].identity == want[i].identity);
            CHECK(got[i].version == want[i].version);
            CHECK(got[i].extra == want[i].extra);
            CHECK(got[i].multiple_tcp_write_buf == 1);
            CHECK(got[i].multiple_queue == 1);
        }
    }
    for (const std::string in : {"dnstap", "dnstap {\nidentity NAME\nversion VER\nextra EXTRA\n}\n",
                                 "dnstap dnstap.sock {\nidentity\n}\n", "dnstap dnstap.sock {\nversion\n}\n",
                                 "dnstap dnstap.sock {\nextra\n}\n"}) {
        INFO(in);
        CHECK_THROWS(parse(in));
    }
    // writebuffer and queue multipliers; CoreDNS ignores Atoi errors (0).
    auto w = parse("dnstap /tmp/dnstap.sock full 1024 2048");
    CHECK(w[0].multiple_tcp_write_buf == 1024);
    CHECK(w[0].multiple_queue == 2048);
    w = parse("dnstap /tmp/dnstap.sock full x y");
    CHECK(w[0].multiple_tcp_write_buf == 0);
    CHECK(w[0].multiple_queue == 0);
    CHECK(parse("dnstap tls://127.0.0.1:6000 full {\nskipverify\n}")[0].skip_verify);
}

TEST_CASE("dnstap setup: load errors as CoreDNS prints them", "[dnstap][setup]") {
    CHECK(testing::load_error(".:1053 {\ndnstap\n}\n") ==
          "plugin/dnstap: Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after "
          "'dnstap'");
    CHECK(testing::load_error(".:1053 {\ndnstap /tmp/x.sock {\nidentity\n}\n}\n") ==
          "plugin/dnstap: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending after "
          "'identity'");
    CHECK(testing::load_error(".:1053 {\ndnstap /tmp/x.sock\ndnstap tcp://127.0.0.1:6000\nwhoami\n}\n").empty());
    // Several dnstaps chain, each its own plugin (CoreDNS TestMultiDnstap).
    auto set = corefile::load(".:1053 {\ndnstap a.sock\ndnstap b.sock\ndnstap c.sock\nwhoami\n}\n", "Corefile", {});
    std::vector<std::string> eps;
    for (auto* p : set->blocks[0]->chain)
        if (p->name() == "dnstap") eps.push_back(static_cast<Dnstap*>(p)->config().endpoint);
    CHECK(eps == std::vector<std::string>{"a.sock", "b.sock", "c.sock"});
}

TEST_CASE("dnstap encoding decodes as dnstap.proto says", "[dnstap]") {
    const std::string head = encode_head("id-1", "ver-2", "extra-3");
    sockaddr_in client = testing::loopback(40001, "192.0.2.7");
    sockaddr_in6 up{};
    up.sin6_family = AF_INET6;
    up.sin6_port = htons(53);
    inet_pton(AF_INET6, "2001:db8::53", &up.sin6_addr);
    const uint8_t qmsg[] = {1, 2, 3, 4, 5};
    const uint8_t rmsg[300] = {9};

    TapMessage m;
    m.type = kForwarderResponse;
    m.family = kInet6;
    m.protocol = kTcp;
    m.query_addr = tap_addr(reinterpret_cast<sockaddr*>(&client));
    m.response_addr = tap_addr(reinterpret_cast<sockaddr*>(&up));
    m.has_query_time = true;
    m.query_time = {1700000000, 123456789};
    m.has_response_time = true;
    m.response_time = {1700000001, 5};
    m.query_msg = qmsg;
    m.query_len = sizeof qmsg;
    m.response_msg = rmsg;
    m.response_len = sizeof rmsg;

    const size_t n = encode(head, m, nullptr);
    std::string buf(n, '\0');
    REQUIRE(encode(head, m, reinterpret_cast<uint8_t*>(buf.data())) == n);
    const rd::Tap t = rd::decode(buf);
    CHECK(t.identity == "id-1");
    CHECK(t.version == "ver-2");
    CHECK(t.extra == "extra-3");
    CHECK(t.dnstap_type == 1);
    CHECK(t.type() == 8);
    CHECK(t.msg.i(2) == 2);  // INET6
    CHECK(t.msg.i(3) == 2);  // TCP
    CHECK(ip4(t.msg.b(4)) == "192.0.2.7");
    CHECK(t.msg.i(6) == 40001);
    CHECK(t.msg.b(5).size() == 16);
    CHECK(std::memcmp(t.msg.b(5).data(), &up.sin6_addr, 16) == 0);
    CHECK(t.msg.i(7) == 53);
    CHECK(t.msg.i(8) == 1700000000);
    CHECK(t.msg.i(9) == 123456789);
    CHECK(t.msg.i(12) == 1700000001);
    CHECK(t.msg.i(13) == 5);
    CHECK(t.msg.b(10) == std::string(reinterpret_cast<const char*>(qmsg), sizeof qmsg));
    CHECK(t.msg.b(14) == std::string(reinterpret_cast<const char*>(rmsg), sizeof rmsg));
    // Field-number order, as Go's proto.Marshal.
    CHECK(t.msg.order == std::vector<uint32_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14});
    CHECK(rd::parse_pb(buf).order == std::vector<uint32_t>{1, 2, 3, 14, 15});

    // No extra: the field is absent; no messages: neither are fields 10/14.
    TapMessage q;
    q.query_addr = m.query_addr;
    const std::string h2 = encode_head("a", "b", "");
    std::string b2(encode(h2, q, nullptr), '\0');
    encode(h2, q, reinterpret_cast<uint8_t*>(b2.data()));
    const rd::Tap t2 = rd::decode(b2);
    CHECK_FALSE(t2.has_extra);
    CHECK(t2.type() == 5);
    CHECK_FALSE(t2.msg.has(10));
    CHECK_FALSE(t2.msg.has(14));
    CHECK_FALSE(t2.msg.has(5));
    // A v4-mapped client is an IPv4 address of 4 bytes.
    sockaddr_in6 mapped{};
    mapped.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:10.1.2.3", &mapped.sin6_addr);
    const TapAddr a = tap_addr(reinterpret_cast<sockaddr*>(&mapped));
    CHECK(ip4(std::string(reinterpret_cast<const char*>(a.ip), a.len)) == "10.1.2.3");
}

TEST_CASE("SpscRing: bounded, wraps, FIFO", "[dnstap]") {
    SpscRing r(256);
    CHECK(r.reserve(300) == nullptr);  // never fits
    std::vector<std::string> got;
    int next_in = 0, next_out = 0, refused = 0;
    for (int round = 0; round < 200; ++round) {
        // Write until full, read some, repeat: exercises every wrap position.
        for (;;) {
            const std::string rec = "msg-" + std::to_string(next_in) + std::string(size_t(next_in % 37), 'x');
            uint8_t* p = r.reserve(rec.size());
            if (!p) {
                ++refused;
                break;
            }
            std::memcpy(p, rec.data(), rec.size());
            r.commit(rec.size());
            ++next_in;
        }
        const uint8_t* d;
        size_t len;
        for (int k = 0; k < 3 && r.peek(d, len); ++k) {
            const std::string rec(reinterpret_cast<const char*>(d), len);
            CHECK(rec.rfind("msg-" + std::to_string(next_out), 0) == 0);
            ++next_out;
            r.pop();
        }
        r.release();
        CHECK(r.used() <= 256);
    }
    CHECK(refused == 200);
    CHECK(next_out > 300);
}

TEST_CASE("dnstap to a Frame Streams reader: client query and response", "[dnstap][live]") {
    Capture cap;
    cap.start();
    testing::ChainHarness h(".:1053 {\ndnstap unix://" + cap.sock +
                            " full {\nidentity NAME\nversion VER\nextra EXTRA\n}\nwhoami\n}\n");
    auto tap = testing::find_plugin<Dnstap>(*h.set());
    REQUIRE(tap);
    tap->start();
    testing::TestQuery udp("example.org.", "A");
    udp.client("192.0.2.1", 40000);
    const testing::ChainRun r1 = h.run(udp);
    REQUIRE_FALSE(r1.reply.empty());
    testing::TestQuery tcp("example.net.", "AAAA");
    tcp.tcp(true).client("2001:db8::9", 40001);
    const testing::ChainRun r2 = h.run(tcp);
    REQUIRE_FALSE(r2.reply.empty());
    tap->stop();  // flushes, then STOP / FINISH
    const rd::FrameFile f = cap.finish();
    CHECK(f.content_type == "protobuf:dnstap.Dnstap");
    REQUIRE(f.frames.size() == 4);
    std::vector<rd::Tap> t;
    for (const auto& fr : f.frames) t.push_back(rd::decode(fr));
    for (const auto& x : t) {
        CHECK(x.identity == "NAME");
        CHECK(x.version == "VER");
        CHECK(x.extra == "EXTRA");
    }
    CHECK(t[0].type() == 5);
    CHECK(t[0].msg.i(2) == 1);
    CHECK(t[0].msg.i(3) == 1);
    CHECK(ip4(t[0].msg.b(4)) == "192.0.2.1");
    CHECK(t[0].msg.i(6) == 40000);
    CHECK(t[0].msg.b(10) == std::string(udp.req.begin(), udp.req.end()));
    CHECK_FALSE(t[0].msg.has(14));
    CHECK(t[1].type() == 6);
    CHECK(t[1].msg.b(14) == std::string(r1.reply.begin(), r1.reply.end()));
    CHECK(t[1].msg.i(8) == t[0].msg.i(8));  // the query time, again
    CHECK(t[1].msg.i(9) == t[0].msg.i(9));
    CHECK(t[1].msg.has(12));
    CHECK_FALSE(t[1].msg.has(10));
    const auto now = uint64_t(time(nullptr));
    CHECK(t[1].msg.i(12) <= now);
    CHECK(t[1].msg.i(12) + 60 > now);
    CHECK(t[2].type() == 5);
    CHECK(t[2].msg.i(2) == 2);  // INET6
    CHECK(t[2].msg.i(3) == 2);  // TCP
    CHECK(t[2].msg.b(4).size() == 16);
    CHECK(t[2].msg.i(6) == 40001);
    CHECK(t[3].type() == 6);
    CHECK(t[3].msg.b(14) == std::string(r2.reply.begin(), r2.reply.end()));
}

TEST_CASE("dnstap without `full` carries no DNS messages", "[dnstap][live]") {
    Capture cap;
    cap.start();
    testing::ChainHarness h(".:1053 {\ndnstap " + cap.sock + "\nwhoami\n}\n");
    auto tap = testing::find_plugin<Dnstap>(*h.set());
    REQUIRE(tap);
    tap->start();
    h.run(testing::TestQuery("example.org.", "A"));
    tap->stop();
    const rd::FrameFile f = cap.finish();
    REQUIRE(f.frames.size() == 2);
    for (const auto& fr : f.frames) {
        const rd::Tap t = rd::decode(fr);
        CHECK(t.identity == host());
        CHECK(t.version == kVersion);
        CHECK_FALSE(t.has_extra);
        CHECK_FALSE(t.msg.has(10));
        CHECK_FALSE(t.msg.has(14));
    }
}

TEST_CASE("dnstap: an absent reader is logged, its messages dropped and counted, then it reconnects",
          "[dnstap][live]") {
    Capture cap;
    testing::ChainHarness h(".:1053 {\ndnstap " + cap.sock + "\nwhoami\n}\n");
    auto tap = testing::find_plugin<Dnstap>(*h.set());
    REQUIRE(tap);
    const uint64_t metric_before = plugins::dnstap::metrics::dropped().value();
    std::string log;
    {
        testing::StdoutCapture out;
        tap->start();
        for (int i = 0; i < 5; ++i) h.run(testing::TestQuery("example.org.", "A"));
        // The writer drops them (no connection) and says so at its next tick.
        REQUIRE(wait_for([&] { return tap->dropped() == 10; }));
        std::this_thread::sleep_for(std::chrono::milliseconds(1300));
        log = out.text();
    }
    CHECK(log.find("[ERROR] plugin/dnstap: No connection to dnstap endpoint: dial unix " + cap.sock +
                   ": connect: no such file or directory\n") != std::string::npos);
    CHECK(log.find("[WARNING] plugin/dnstap: Dropped dnstap messages: 10\n") != std::string::npos);
    CHECK(plugins::dnstap::metrics::dropped().value() - metric_before == 10);
    // The reader comes up: the writer redials within its 1 s tick.
    cap.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    h.run(testing::TestQuery("example.com.", "A"));
    tap->stop();
    const rd::FrameFile f = cap.finish();
    REQUIRE(f.frames.size() == 2);
    CHECK(rd::decode(f.frames[0]).type() == 5);
    CHECK(rd::decode(f.frames[1]).type() == 6);
    CHECK(tap->dropped() == 10);
}

// ---- tls:// against an in-process TLS Frame Streams reader ----
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace {

// A self-signed certificate for "localhost", made in memory.
struct SelfSigned {
    EVP_PKEY* key = nullptr;
    X509* cert = nullptr;
    SelfSigned() {
        key = EVP_RSA_gen(2048);
        cert = X509_new();
        ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
        X509_gmtime_adj(X509_getm_notBefore(cert), -60);
        X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
        X509_set_pubkey(cert, key);
        X509_NAME* n = X509_get_subject_name(cert);
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
        X509_set_issuer_name(cert, n);
        X509_sign(cert, key, EVP_sha256());
    }
    ~SelfSigned() {
        X509_free(cert);
        EVP_PKEY_free(key);
    }
};

// Accepts one TLS connection and speaks the reader side of a bidirectional
// Frame Streams session: READY -> ACCEPT, START, data frames, STOP -> FINISH.
struct TlsReader {
    SelfSigned id;
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    int lfd = -1;
    uint16_t port = 0;
    std::thread th;
    std::vector<std::string> frames;
    std::string content_type;
    bool finished = false;

    TlsReader() {
        SSL_CTX_use_certificate(ctx, id.cert);
        SSL_CTX_use_PrivateKey(ctx, id.key);
        lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a = testing::loopback(0);
        ::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        ::listen(lfd, 4);
        socklen_t len = sizeof a;
        getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
        th = std::thread([this] { serve(); });
    }
    ~TlsReader() {
        ::shutdown(lfd, SHUT_RDWR);
        th.join();
        ::close(lfd);
        SSL_CTX_free(ctx);
    }

    static bool read_n(SSL* s, void* p, size_t n) {
        auto* b = static_cast<uint8_t*>(p);
        while (n) {
            const int r = SSL_read(s, b, int(n));
            if (r <= 0) return false;
            b += r;
            n -= size_t(r);
        }
        return true;
    }
    static bool read_be32(SSL* s, uint32_t& v) {
        uint8_t b[4];
        if (!read_n(s, b, 4)) return false;
        v = uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3];
        return true;
    }
    static void put_be32(std::string& out, uint32_t v) {
        for (int i = 3; i >= 0; --i) out += char((v >> (8 * i)) & 0xff);
    }
    // One control frame after its escape: type and content type.
    static bool read_control(SSL* s, uint32_t& type, std::string& ct) {
        uint32_t len;
        if (!read_be32(s, len) || len < 4) return false;
        std::string body(len, '\0');
        if (!read_n(s, body.data(), len)) return false;
        type = rd::be32(body, 0);
        for (size_t p = 4; p + 8 <= body.size();) {
            const uint32_t ft = rd::be32(body, p), fl = rd::be32(body, p + 4);
            if (ft == 1) ct = body.substr(p + 8, fl);
            p += 8 + fl;
        }
        return true;
    }
    void send_control(SSL* s, uint32_t type, const std::string& ct) {
        std::string body;
        put_be32(body, type);
        if (!ct.empty()) {
            put_be32(body, 1);
            put_be32(body, uint32_t(ct.size()));
            body += ct;
        }
        std::string f;
        put_be32(f, 0);
        put_be32(f, uint32_t(body.size()));
        f += body;
        SSL_write(s, f.data(), int(f.size()));
    }

    void serve() {
        const int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return;
        SSL* s = SSL_new(ctx);
        SSL_set_fd(s, c);
        if (SSL_accept(s) == 1) {
            uint32_t len, type;
            std::string ct;
            if (read_be32(s, len) && len == 0 && read_control(s, type, ct) && type == 4) {  // READY
                content_type = ct;
                send_control(s, 1, ct);  // ACCEPT
                if (read_be32(s, len) && len == 0 && read_control(s, type, ct) && type == 2) {  // START
                    while (read_be32(s, len)) {
                        if (len == 0) {
                            if (read_control(s, type, ct) && type == 3) {  // STOP
                                send_control(s, 5, "");  // FINISH
                                finished = true;
                            }
                            break;
                        }
                        std::string data(len, '\0');
                        if (!read_n(s, data.data(), len)) break;
                        frames.push_back(std::move(data));
                    }
                }
            }
        }
        SSL_free(s);
        ::close(c);
    }
};

}  // namespace

TEST_CASE("dnstap over tls:// with skipverify", "[dnstap][live]") {
    TlsReader reader;
    testing::ChainHarness h(".:1053 {\ndnstap tls://127.0.0.1:" + std::to_string(reader.port) +
                            " full {\n skipverify\n}\nwhoami\n}\n");
    auto tap = testing::find_plugin<Dnstap>(*h.set());
    REQUIRE(tap);
    tap->start();
    h.run(testing::TestQuery("tls.example.", "A"));
    tap->stop();
    REQUIRE(reader.th.joinable());
    ::shutdown(reader.lfd, SHUT_RDWR);
    reader.th.join();
    reader.th = std::thread([] {});
    CHECK(reader.content_type == "protobuf:dnstap.Dnstap");
    CHECK(reader.finished);
    REQUIRE(reader.frames.size() == 2);
    CHECK(rd::decode(reader.frames[0]).type() == 5);
    CHECK(rd::decode(reader.frames[1]).type() == 6);
}

TEST_CASE("dnstap over tls:// verifies the certificate unless skipverify", "[dnstap][live]") {
    TlsReader reader;  // self-signed: not trusted
    testing::ChainHarness h(".:1053 {\ndnstap tls://127.0.0.1:" + std::to_string(reader.port) + "\nwhoami\n}\n");
    auto tap = testing::find_plugin<Dnstap>(*h.set());
    REQUIRE(tap);
    std::string log;
    {
        testing::StdoutCapture out;
        tap->start();
        h.run(testing::TestQuery("tls.example.", "A"));
        tap->stop();
        log = out.text();
    }
    CHECK(log.find("[ERROR] plugin/dnstap: No connection to dnstap endpoint: tls: ") != std::string::npos);
    CHECK(log.find("certificate verify failed") != std::string::npos);
    CHECK(reader.frames.empty());
}

TEST_CASE("dnstap over tcp:// to fstrm_capture", "[dnstap][live]") {
    Capture cap;
    cap.tcp_port = testing::free_port();
    cap.start();
    testing::ChainHarness h(".:1053 {\ndnstap tcp://127.0.0.1:" + std::to_string(cap.tcp_port) + " full\nwhoami\n}\n");
    auto tap = testing::find_plugin<Dnstap>(*h.set());
    REQUIRE(tap);
    tap->start();
    testing::TestQuery q("tcp.example.", "A");
    q.client("198.51.100.4", 5353);
    const testing::ChainRun r = h.run(q);
    tap->stop();
    const rd::FrameFile f = cap.finish();
    CHECK(f.content_type == "protobuf:dnstap.Dnstap");
    REQUIRE(f.frames.size() == 2);
    const rd::Tap cq = rd::decode(f.frames[0]), cr = rd::decode(f.frames[1]);
    CHECK(cq.type() == 5);
    CHECK(ip4(cq.msg.b(4)) == "198.51.100.4");
    CHECK(cq.msg.i(6) == 5353);
    CHECK(cr.type() == 6);
    CHECK(cr.msg.b(14) == std::string(r.reply.begin(), r.reply.end()));
}
