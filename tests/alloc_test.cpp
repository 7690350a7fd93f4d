// The hot path allocates nothing: thousands of whoami exchanges over UDP,
// answered by the real server running in this process, with every
// operator new outside the test's own thread counted (tests/support/alloc_counter).
#include <openssl/ssl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>
#include <vector>

#include "server/runtime.hpp"
#include "tests/support/alloc_counter.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/fake_upstream.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/tls_certs.hpp"

using namespace dnscore;

namespace {
uint16_t bound_port(Runtime& rt) {
    for (int i = 0; i < 200; ++i) {
        auto p = rt.bound_port("dns://127.0.0.1:0");
        if (!p.empty()) return uint16_t(std::stoi(p));
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return 0;
}

// Runs the server on `corefile` in this process; after a warm-up, sends
// 5000 UDP queries cycling through `queries` and returns the allocations the
// server's threads made meanwhile (-1 if a query went unanswered).
long allocations_during_queries(const std::string& corefile, const std::vector<testing::Bytes>& queries) {
    testing::allocs::ignore_this_thread();
    testing::allocs::start();
    const std::string path = "/tmp/dnscore_alloc_test_Corefile";
    {
        std::ofstream f(path);
        f << corefile;
    }
    RuntimeOptions o;
    o.conf_flag = path;
    o.quiet = true;
    o.workers = 2;
    Runtime rt(o);
    std::thread server([&] { rt.run(); });
    const uint16_t port = bound_port(rt);
    REQUIRE(port != 0);

    // Warm up: first use of thread-local buffers, asio's handler memory and
    // per-worker metric slots.
    for (int i = 0; i < 400; ++i)
        REQUIRE_FALSE(testing::udp_exchange("127.0.0.1", port, queries[size_t(i) % queries.size()]).empty());

    const long before = testing::allocs::count();
    int answered = 0;
    for (int i = 0; i < 5000; ++i)
        if (!testing::udp_exchange("127.0.0.1", port, queries[size_t(i) % queries.size()]).empty()) ++answered;
    const long after = testing::allocs::count();

    // The counter does see the server's threads: a new TCP connection
    // allocates its connection state, so this must move.
    REQUIRE_FALSE(testing::tcp_exchange("127.0.0.1", port, queries[0]).empty());
    const long after_tcp = testing::allocs::count();
    CHECK(after_tcp > after);

    rt.stop(0);
    server.join();
    std::remove(path.c_str());
    CHECK(answered == 5000);
    return answered == 5000 ? after - before : -1;
}

}  // namespace

TEST_CASE("whoami over UDP allocates nothing per query", "[alloc]") {
    const long n = allocations_during_queries(".:0 {\n bind 127.0.0.1\n whoami\n}\n",
                                              {testing::make_query("alloc.example.", "A")});
    INFO("allocations during 5000 queries: " << n);
    CHECK(n == 0);
}

TEST_CASE("prometheus counting allocates nothing per query, dropped replies included", "[alloc]") {
    // x.alloc.example. goes through prometheus + whoami; other.test. has no
    // zone: REFUSED, counted by the server under zone "dropped".
    const long n = allocations_during_queries(
        "alloc.example.:0 {\n bind 127.0.0.1\n prometheus 127.0.0.1:0\n whoami\n}\n",
        {testing::make_query("x.alloc.example.", "A"), testing::make_query("other.test.", "AAAA")});
    INFO("allocations during 5000 queries: " << n);
    CHECK(n == 0);
}

TEST_CASE("cache hits allocate nothing per query", "[alloc]") {
    // An upstream in this process (its thread is not counted) answering with
    // TTL 300, so `cache` in front of `forward` serves hits.
    testing::FakeUpstream up;
    up.run_on_thread([] { testing::allocs::ignore_this_thread(); });
    up.set_responder([](const testing::Bytes& req) {
        return testing::make_reply(req, 0, {"hit.alloc.example. 300 IN A 192.0.2.1"});
    });
    // Three case variants of one name and an EDNS query: every one after the
    // warm-up is a hit answered synchronously by the worker.
    const long n = allocations_during_queries(
        ".:0 {\n bind 127.0.0.1\n cache 30\n forward . 127.0.0.1:" + std::to_string(up.port()) + "\n}\n",
        {testing::make_query("hit.alloc.example.", "A"), testing::make_query("HIT.alloc.Example.", "A"),
         testing::make_query("hit.alloc.example.", "A", {.edns = true, .do_bit = false})});
    INFO("allocations during 5000 queries: " << n);
    CHECK(n == 0);
    // Only the first query of each key went upstream (no refresh within 30 s).
    CHECK(up.udp_queries() <= 4);
}

TEST_CASE("forwarded misses allocate nothing per query", "[alloc][forward]") {
    // No cache: every query goes upstream (the upstream's thread is not
    // counted). The UDP exchange (slab record, pending ID, timer wheel),
    // single-flight and the reply buffer are all recycled per worker.
    testing::FakeUpstream up;
    up.run_on_thread([] { testing::allocs::ignore_this_thread(); });
    up.set_responder([](const testing::Bytes& req) {
        return testing::make_reply(req, 0, {"miss.alloc.example. 300 IN A 192.0.2.1"});
    });
    const long n = allocations_during_queries(
        ".:0 {\n bind 127.0.0.1\n forward . 127.0.0.1:" + std::to_string(up.port()) + "\n}\n",
        {testing::make_query("miss.alloc.example.", "A"), testing::make_query("MISS.alloc.Example.", "A"),
         testing::make_query("miss.alloc.example.", "A", {.edns = true, .do_bit = true})});
    INFO("allocations during 5000 misses: " << n);
    CHECK(n == 0);
    CHECK(up.udp_queries() >= 5400);  // every query went upstream
}

TEST_CASE("rewrite allocates nothing per query", "[alloc][rewrite]") {
    SECTION("suffix rule with answer auto in front of cache + forward (the node-local setup)") {
        testing::FakeUpstream up;
        up.run_on_thread([] { testing::allocs::ignore_this_thread(); });
        up.set_responder([](const testing::Bytes& req) {
            return testing::make_reply(req, 0, {"web.default.svc.cluster.local. 300 IN A 192.0.2.1"});
        });
        const long n = allocations_during_queries(
            ".:0 {\n bind 127.0.0.1\n rewrite name suffix .cluster.local .svc.cluster.local answer auto\n cache 30\n"
            " forward . 127.0.0.1:" + std::to_string(up.port()) + "\n}\n",
            {testing::make_query("web.default.cluster.local.", "A"),
             testing::make_query("web.default.cluster.local.", "A", {.edns = true, .do_bit = false})});
        INFO("allocations during 5000 queries: " << n);
        CHECK(n == 0);
    }
    SECTION("every query rewritten and reverted (whoami answers below rewrite)") {
        // rewrite runs on each query here: the request is rebuilt, whoami
        // answers the rewritten name, the reply is reverted.
        const long n = allocations_during_queries(
            ".:0 {\n bind 127.0.0.1\n rewrite continue name suffix .cluster.local .svc.cluster.local answer auto\n"
            " rewrite continue type AAAA A\n rewrite continue ttl suffix .svc.cluster.local 10-20\n"
            " rewrite edns0 local set 0xffee {client_ip}\n whoami\n}\n",
            {testing::make_query("web.default.cluster.local.", "A"),
             testing::make_query("Web.Default.cluster.local.", "AAAA", {.edns = true, .do_bit = false})});
        INFO("allocations during 5000 queries: " << n);
        CHECK(n == 0);
    }
}

TEST_CASE("hosts lookups and loadbalance shuffles allocate nothing per query", "[alloc]") {
    // hosts answers (A with three addresses shuffled by loadbalance, AAAA
    // NODATA, PTR) and falls through to forward, whose upstream answers a
    // multi-A reply that cache keeps; loadbalance reorders every reply.
    testing::FakeUpstream up;
    up.run_on_thread([] { testing::allocs::ignore_this_thread(); });
    up.set_responder([](const testing::Bytes& req) {
        return testing::make_reply(req, 0, {"up.alloc.example. 300 IN A 192.0.2.1", "up.alloc.example. 300 IN A 192.0.2.2",
                                            "up.alloc.example. 300 IN A 192.0.2.3"});
    });
    const long n = allocations_during_queries(
        ".:0 {\n bind 127.0.0.1\n any\n loadbalance\n cache 30\n hosts /nonexistent/dnscore/hosts {\n"
        "  10.0.0.1 h.alloc.example\n  10.0.0.2 h.alloc.example\n  10.0.0.3 h.alloc.example\n  fallthrough\n }\n"
        " forward . 127.0.0.1:" + std::to_string(up.port()) + "\n}\n",
        {testing::make_query("h.alloc.example.", "A"), testing::make_query("H.Alloc.Example.", "AAAA"),
         testing::make_query("1.0.0.10.in-addr.arpa.", "PTR"), testing::make_query("up.alloc.example.", "A"),
         testing::make_query("h.alloc.example.", "ANY")});
}

TEST_CASE("template answers allocate nothing per query", "[alloc]") {
    // Executing templates (fields, a regex group, printf, parseInt) and
    // parsing their text as RRs: per-worker scratch, no parsing of the
    // template text again. AAAA is filtered to NOERROR by the second rule.
    const long n = allocations_during_queries(
        ".:0 {\n bind 127.0.0.1\n"
        " template IN A alloc.example {\n"
        "  answer \"{{ .Name }} 60 IN A 10.0.{{ parseInt \\\"ff\\\" 16 8 }}.{{ len .Name }}\"\n"
        "  answer \"{{ .Name }} 60 IN A {{ .Remote }}\"\n"
        "  additional \"{{ printf \\\"%s\\\" .Zone }} 60 IN TXT \\\"{{ .Type }}\\\"\"\n"
        " }\n"
        " template ANY AAAA {\n  rcode NOERROR\n }\n}\n",
        {testing::make_query("x.alloc.example.", "A"), testing::make_query("x.alloc.example.", "AAAA")});
}

TEST_CASE("dnstap taps allocate nothing per query (writer thread aside)", "[alloc]") {
    // No reader: every message is encoded into the worker's ring and dropped
    // by the writer thread, which is off the query path.
    const long n = allocations_during_queries(".:0 {\n bind 127.0.0.1\n dnstap /nonexistent/alloc.sock full\n whoami\n}\n",
                                              {testing::make_query("alloc.example.", "A")});
    INFO("allocations during 5000 queries: " << n);
    CHECK(n == 0);
}

TEST_CASE("trace spans allocate nothing per query (reporter thread aside)", "[alloc]") {
    // Every query sampled; the collector is absent, so the reporter keeps a
    // bounded backlog: its formatting happens off the query path.
    const long n = allocations_during_queries(
        ".:0 {\n bind 127.0.0.1\n trace 127.0.0.1:" + std::to_string(testing::FakeUpstream::closed_port()) +
            " {\n zipkin_max_backlog_size 10\n }\n whoami\n}\n",
        {testing::make_query("alloc.example.", "A")});
}

TEST_CASE("bufsize and metadata in the chain allocate nothing per query", "[alloc][bufsize][metadata]") {
    testing::QueryOptions o;
    o.edns = true;
    o.udp_size = 4096;  // lowered by bufsize: the request is edited every time
    const long n = allocations_during_queries(".:0 {\n bind 127.0.0.1\n metadata\n bufsize 1200\n whoami\n}\n",
                                              {testing::make_query("alloc.example.", "A", o),
                                               testing::make_query("alloc.example.", "AAAA")});
    INFO("allocations during 5000 queries: " << n);
    CHECK(n == 0);
}

TEST_CASE("DNS over TLS on a kept connection allocates nothing per query", "[alloc][tls]") {
    testing::allocs::ignore_this_thread();
    testing::allocs::start();
    testing::TlsCerts certs;
    REQUIRE(certs.ok());
    const std::string path = "/tmp/dnscore_alloc_test_tls_Corefile";
    {
        std::ofstream f(path);
        f << "tls://.:0 {\n bind 127.0.0.1\n tls " << certs.path("server.pem") << " " << certs.path("server.key")
          << "\n whoami\n}\n";
    }
    RuntimeOptions o;
    o.conf_flag = path;
    o.quiet = true;
    o.workers = 2;
    Runtime rt(o);
    std::thread server([&] { rt.run(); });
    uint16_t port = 0;
    for (int i = 0; i < 200 && port == 0; ++i) {
        auto p = rt.bound_port("tls://127.0.0.1:0");
        if (!p.empty()) port = uint16_t(std::stoi(p));
        else std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(port != 0);

    // One OpenSSL client connection (this thread is not counted).
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    const int fd = testing::tcp_connect(port);
    REQUIRE(fd >= 0);
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    REQUIRE(SSL_connect(ssl) == 1);
    const testing::Bytes q = testing::make_query("alloc.example.", "A");
    std::vector<uint8_t> framed{uint8_t(q.size() >> 8), uint8_t(q.size())};
    framed.insert(framed.end(), q.begin(), q.end());
    auto exchange = [&] {
        if (SSL_write(ssl, framed.data(), int(framed.size())) != int(framed.size())) return false;
        uint8_t buf[4096];
        size_t got = 0, want = 2;
        while (got < want) {
            const int r = SSL_read(ssl, buf + got, int(want - got));
            if (r <= 0) return false;
            got += size_t(r);
            if (got == 2 && want == 2) want = 2 + ((size_t(buf[0]) << 8) | buf[1]);
        }
        return true;
    };
    for (int i = 0; i < 400; ++i) REQUIRE(exchange());
    const long before = testing::allocs::count();
    int answered = 0;
    for (int i = 0; i < 3000; ++i) answered += exchange() ? 1 : 0;
    const long n = testing::allocs::count() - before;
    // The counter does see the server's threads: a new TLS connection
    // allocates its connection and TLS state.
    {
        const int fd2 = testing::tcp_connect(port);
        SSL* ssl2 = SSL_new(ctx);
        SSL_set_fd(ssl2, fd2);
        REQUIRE(SSL_connect(ssl2) == 1);
        CHECK(testing::allocs::count() > before + n);
        SSL_free(ssl2);
        ::close(fd2);
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ::close(fd);
    rt.stop(0);
    server.join();
    std::remove(path.c_str());
    CHECK(answered == 3000);
    INFO("allocations during 3000 queries: " << n);
    CHECK(n == 0);
}
