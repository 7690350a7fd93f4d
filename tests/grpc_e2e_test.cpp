// DNS over gRPC (grpc://) against the real binary, with a client built on
// the same generated stubs (coredns.dns.DnsService/Query): clear-text and
// TLS, client_auth, CoreDNS's error for a message it cannot unpack, the
// banner and the proto/server labels.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <chrono>
#include <fstream>

#include <string>
#include <thread>
#include <vector>

#include "core/wire/wire.hpp"
#include "server/dns.grpc.pb.h"
#include "tests/support/catch.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/packets.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/tls_certs.hpp"

using namespace dnscore;
using testing::Bytes;

namespace {

const testing::TlsCerts& certs() { return testing::shared_certs(); }

bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

std::string grpc_corefile(const std::string& tls_line) {
    return "grpc://.:0 {\n bind 127.0.0.1\n" + (tls_line.empty() ? "" : " tls " + tls_line + "\n") +
           " prometheus 127.0.0.1:0\n hosts {\n  192.0.2.9 a.grpc.test\n  fallthrough\n }\n whoami\n}\n";
}

std::string read(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return "";
    std::string s;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    std::fclose(f);
    return s;
}

struct Client {
    std::unique_ptr<coredns::dns::DnsService::Stub> stub;
    // Clear text, or TLS verified against the test CA for the name dot.test
    // (with a client certificate when `cert` is given).
    Client(uint16_t port, bool tls, const std::string& cert = "", const std::string& key = "") {
        const std::string target = "127.0.0.1:" + std::to_string(port);
        std::shared_ptr<grpc::Channel> ch;
        if (tls) {
            grpc::SslCredentialsOptions o;
            o.pem_root_certs = read(certs().path("ca.pem"));
            if (!cert.empty()) {
                o.pem_cert_chain = read(cert);
                o.pem_private_key = read(key);
            }
            grpc::ChannelArguments args;
            args.SetSslTargetNameOverride("dot.test");
            ch = grpc::CreateCustomChannel(target, grpc::SslCredentials(o), args);
        } else {
            ch = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
        }
        stub = coredns::dns::DnsService::NewStub(ch);
    }
    // One call; the reply bytes, or empty with `status` set.
    Bytes query(const Bytes& msg, grpc::Status* status = nullptr) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        coredns::dns::DnsPacket req, resp;
        req.set_msg(std::string(msg.begin(), msg.end()));
        const grpc::Status st = stub->Query(&ctx, req, &resp);
        if (status) *status = st;
        if (!st.ok()) return {};
        return Bytes(resp.msg().begin(), resp.msg().end());
    }
};

std::string server_tls(const std::string& extra = "") {
    const auto& c = certs();
    return c.path("server.pem") + " " + c.path("server.key") + (extra.empty() ? "" : " " + extra);
}

}  // namespace

TEST_CASE("grpc e2e: DnsService/Query in clear text answers through the chain", "[grpc][e2e]") {
    testing::ServerProcess srv(grpc_corefile(""));
    REQUIRE(srv.started());
    CHECK(has(srv.out(), "grpc://.:" + std::to_string(srv.port()) + " on 127.0.0.1\n"));
    Client c(srv.port(), false);
    const Bytes r = c.query(testing::make_query("a.grpc.test.", "A"));
    REQUIRE(r.size() > 12);
    CHECK(wire::rcode(r.data()) == 0);
    CHECK(wire::id(r.data()) == 0x1234);
    const auto answers = testing::section(r, 1);
    REQUIRE(answers.size() == 1);
    CHECK(has(answers[0], "192.0.2.9"));
    // Many calls from several threads: every one is answered (spread over
    // the workers).
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 25; ++i) {
                testing::QueryOptions o;
                o.id = uint16_t(t * 100 + i);
                const Bytes q = testing::make_query("n" + std::to_string(i) + ".example.", "A", o);
                const Bytes a = c.query(q);
                if (a.size() > 12 && wire::id(a.data()) == o.id && wire::rcode(a.data()) == 0) ++ok;
            }
        });
    for (auto& t : threads) t.join();
    CHECK(ok == 100);
    // A message msg.Unpack refuses: the call fails with its error.
    grpc::Status st;
    CHECK(c.query(Bytes{1, 2, 3}, &st).empty());
    CHECK(st.error_code() == grpc::StatusCode::UNKNOWN);
    CHECK(st.error_message() == "dns: overflow unpacking uint16");
    // Labels: proto "tcp" (request.Proto of a TCPAddr peer), the listener's server.
    const std::string at = testing::served_address(srv, "prometheus", "/metrics");
    REQUIRE(!at.empty());
    const std::string m = testing::http_get(at, "/metrics").body;
    INFO(m);
    CHECK(testing::metric_value(m, "coredns_dns_requests_total{family=\"1\",proto=\"tcp\",server=\"grpc://"
                                   "127.0.0.1:0\",type=\"A\",view=\"\",zone=\".\"}") == 101);
}

TEST_CASE("grpc e2e: TLS from the tls plugin, client_auth require_and_verify", "[grpc][e2e]") {
    const auto& c = certs();
    {
        testing::ServerProcess srv(grpc_corefile(server_tls()));
        REQUIRE(srv.started());
        Client tls(srv.port(), true);
        const Bytes r = tls.query(testing::make_query("a.grpc.test.", "A"));
        REQUIRE(r.size() > 12);
        CHECK(has(testing::section(r, 1).at(0), "192.0.2.9"));
        // A clear-text client gets no answer from a TLS listener.
        Client plain(srv.port(), false);
        grpc::Status st;
        CHECK(plain.query(testing::make_query("a.grpc.test.", "A"), &st).empty());
        CHECK(!st.ok());
    }
    {
        testing::ServerProcess srv(grpc_corefile(server_tls(c.path("ca.pem")) + " {\n  client_auth require_and_verify\n }"));
        REQUIRE(srv.started());
        Client with_cert(srv.port(), true, c.path("client.pem"), c.path("client.key"));
        CHECK(with_cert.query(testing::make_query("a.grpc.test.", "A")).size() > 12);
        Client without(srv.port(), true);
        grpc::Status st;
        CHECK(without.query(testing::make_query("a.grpc.test.", "A"), &st).empty());
        CHECK(!st.ok());
        Client foreign(srv.port(), true, c.path("other-server.pem"), c.path("other-server.key"));
        CHECK(foreign.query(testing::make_query("a.grpc.test.", "A"), &st).empty());
        CHECK(!st.ok());
    }
}

TEST_CASE("grpc e2e: a reload keeps the gRPC listener with the new chain, or closes it when removed", "[grpc][e2e]") {
    testing::ServerProcess srv(grpc_corefile(""));
    REQUIRE(srv.started());
    Client c(srv.port(), false);
    REQUIRE(has(testing::section(c.query(testing::make_query("a.grpc.test.", "A")), 1).at(0), "192.0.2.9"));
    auto reload = [&](const std::string& corefile, int nth) {
        std::ofstream(srv.dir() + "/Corefile") << corefile;
        REQUIRE(::kill(srv.pid(), SIGUSR1) == 0);
        for (int i = 0; i < 200; ++i) {
            size_t n = 0;
            const std::string out = srv.out();
            for (size_t p = out.find("Reloading complete"); p != std::string::npos; p = out.find("Reloading complete", p + 1))
                ++n;
            if (int(n) >= nth) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        FAIL("no reload");
    };
    // Same listener (grpc://.:0 keeps its bound port), new answers.
    reload("grpc://.:0 {\n bind 127.0.0.1\n hosts {\n  192.0.2.99 a.grpc.test\n }\n}\n", 1);
    const Bytes r = c.query(testing::make_query("a.grpc.test.", "A"));
    REQUIRE(r.size() > 12);
    CHECK(has(testing::section(r, 1).at(0), "192.0.2.99"));
    // The listener removed: its port stops answering.
    reload(".:0 {\n bind 127.0.0.1\n whoami\n}\n", 2);
    grpc::Status st;
    Client again(srv.port(), false);
    CHECK(again.query(testing::make_query("a.grpc.test.", "A"), &st).empty());
    CHECK(!st.ok());
    CHECK(srv.alive());
}
