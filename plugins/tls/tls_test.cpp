// Setup cases of CoreDNS plugin/tls/tls_test.go, on certificates made by the
// test (tests/support/tls_certs.hpp).
#include "plugins/tls/tls.hpp"

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <fstream>

#include "corefile/loader.hpp"
#include "tests/support/catch.hpp"
#include "tests/support/setup_harness.hpp"
#include "tests/support/tls_certs.hpp"

using namespace dnscore;
using testing::load_error;

namespace {

const testing::TlsCerts& certs() {
    static testing::TlsCerts c;
    REQUIRE(c.ok());
    return c;
}

std::string args() {
    const auto& c = certs();
    return c.path("server.pem") + " " + c.path("server.key") + " " + c.path("ca.pem");
}

std::string tls_corefile(const std::string& tls_line) { return "tls://.:0 {\n tls " + tls_line + "\n whoami\n}\n"; }

std::shared_ptr<ServerSet> load(const std::string& text) { return corefile::load(text, "Corefile", {}); }

}  // namespace

TEST_CASE("tls setup: CoreDNS's positive and negative cases", "[tls]") {
    for (const char* opt : {"", " {\nclient_auth nocert\n}", " {\nclient_auth request\n}", " {\nclient_auth require\n}",
                            " {\nclient_auth verify_if_given\n}", " {\nclient_auth require_and_verify\n}"}) {
        INFO(opt);
        CHECK(load_error(tls_corefile(args() + opt)) == "");
    }
    CHECK(load_error(tls_corefile(args() + " {\nunknown\n}")) ==
          "plugin/tls: Corefile:3 - Error during parsing: unknown option 'unknown'");
    CHECK(load_error(tls_corefile(args() + " {\nclient_auth\n}")) ==
          "plugin/tls: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending after "
          "'client_auth'");
    CHECK(load_error(tls_corefile(args() + " {\nclient_auth none bogus\n}")) ==
          "plugin/tls: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending after "
          "'bogus'");
    CHECK(load_error(tls_corefile(args() + " {\nclient_auth bogus\n}")) ==
          "plugin/tls: Corefile:3 - Error during parsing: unknown authentication type 'bogus'");
    // parseTLS wraps its argument error in plugin.Error and setup wraps again.
    CHECK(load_error(tls_corefile(certs().path("server.pem"))) ==
          "plugin/tls: plugin/tls: Corefile:2 - Error during parsing: Wrong argument count or unexpected line "
          "ending after '" + certs().path("server.pem") + "'");
    CHECK(load_error(tls_corefile(args() + " extra")) ==
          "plugin/tls: plugin/tls: Corefile:2 - Error during parsing: Wrong argument count or unexpected line "
          "ending after 'extra'");
}

TEST_CASE("tls setup: certificate, key and CA errors carry Go's texts", "[tls]") {
    const auto& c = certs();
    CHECK(load_error(tls_corefile("/nonexistent/cert.pem " + c.path("server.key"))) ==
          "plugin/tls: could not load TLS cert: open /nonexistent/cert.pem: no such file or directory");
    CHECK(load_error(tls_corefile(c.path("server.pem") + " /nonexistent/key.pem")) ==
          "plugin/tls: could not load TLS cert: open /nonexistent/key.pem: no such file or directory");
    CHECK(load_error(tls_corefile(c.path("server.ext") + " " + c.path("server.key"))) ==
          "plugin/tls: could not load TLS cert: tls: failed to find any PEM data in certificate input");
    CHECK(load_error(tls_corefile(c.path("server.pem") + " " + c.path("server.ext"))) ==
          "plugin/tls: could not load TLS cert: tls: failed to find any PEM data in key input");
    CHECK(load_error(tls_corefile(c.path("server.pem") + " " + c.path("client.key"))) ==
          "plugin/tls: could not load TLS cert: tls: private key does not match public key");
    CHECK(load_error(tls_corefile(c.path("server.pem") + " " + c.path("server.key") + " /nonexistent/ca.pem")) ==
          "plugin/tls: error reading /nonexistent/ca.pem: open /nonexistent/ca.pem: no such file or directory");
    CHECK(load_error(tls_corefile(c.path("server.pem") + " " + c.path("server.key") + " " + c.path("server.ext"))) ==
          "plugin/tls: could not read root certs: %!s(<nil>)");
    // Certificates are read under -validate too.
    CHECK(testing::validate_error(tls_corefile("/nonexistent/cert.pem " + c.path("server.key"))) ==
          "plugin/tls: could not load TLS cert: open /nonexistent/cert.pem: no such file or directory");
}

TEST_CASE("tls setup: client_auth maps to the verify mode, the CA to the client CAs", "[tls]") {
    struct Case {
        const char* option;
        int mode;
        bool verifies;  // OpenSSL's own chain check decides (else any certificate passes)
    };
    const Case cases[] = {
        {"", SSL_VERIFY_NONE, false},
        {" {\nclient_auth nocert\n}", SSL_VERIFY_NONE, false},
        {" {\nclient_auth request\n}", SSL_VERIFY_PEER, false},
        {" {\nclient_auth require\n}", SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, false},
        {" {\nclient_auth verify_if_given\n}", SSL_VERIFY_PEER, true},
        {" {\nclient_auth require_and_verify\n}", SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, true},
    };
    for (const auto& tc : cases) {
        INFO(tc.option);
        auto set = load(tls_corefile(args() + tc.option));
        const auto& block = *set->blocks.at(0);
        REQUIRE(block.tls);
        SSL_CTX* ctx = block.tls->native_handle();
        CHECK(SSL_CTX_get_verify_mode(ctx) == tc.mode);
        if (tc.mode != SSL_VERIFY_NONE) CHECK((SSL_CTX_get_verify_callback(ctx) == nullptr) == tc.verifies);
        // ClientCAs = the CA file: its subject is what the server asks for.
        const auto* names = SSL_CTX_get_client_CA_list(ctx);
        REQUIRE(names != nullptr);
        CHECK(sk_X509_NAME_num(names) == 1);
        CHECK(SSL_CTX_get_min_proto_version(ctx) == TLS1_2_VERSION);
        // The listener takes the block's context.
        REQUIRE(set->listeners.size() == 1);
        CHECK(set->listeners[0].tls == block.tls);
        CHECK(set->listeners[0].label == "tls://:0");
    }
}

TEST_CASE("tls:// keys: default port 853, no tls plugin means plain TCP", "[tls]") {
    auto set = load("tls://example.org {\n whoami\n}\ntls://.:8853 dns://.:1053 {\n whoami\n}\n");
    REQUIRE(set->blocks.size() == 2);
    CHECK(set->blocks[0]->keys == std::vector<std::string>{"tls://example.org.:853"});
    CHECK(set->blocks[1]->keys == std::vector<std::string>{"tls://.:8853", "dns://.:1053"});
    REQUIRE(set->listeners.size() == 3);
    CHECK(set->listeners[0].label == "tls://:853");
    CHECK(set->listeners[0].transport == "tls");
    CHECK(set->listeners[0].tls == nullptr);
    CHECK(set->listeners[1].label == "tls://:8853");
    CHECK(set->listeners[2].label == "dns://:1053");
    CHECK(set->listeners[2].transport == "dns");
    CHECK(set->listeners[1].sites.at(0).server == "tls://:8853");
    // The same zone and port on tls:// and dns:// are different listeners.
    CHECK(load_error("tls://.:1053 {\n whoami\n}\n.:1053 {\n whoami\n}\n") == "");
    CHECK(load_error("tls://.:1053 {\n whoami\n}\ntls://.:1053 {\n whoami\n}\n") ==
          "cannot serve tls://.:1053 - it is already defined");
    // https3:// is still refused.
    CHECK(load_error("https3://. {\n whoami\n}\n").rfind("error inspecting server blocks: transport 'https3'", 0) ==
          0);
}

TEST_CASE("https://, grpc:// and quic:// keys: ports 443/443/853, the tls configuration as context or PEM text",
          "[tls]") {
    auto quic = load("quic://example.org {\n tls " + args() + "\n whoami\n}\n");
    REQUIRE(quic->listeners.size() == 1);
    CHECK(quic->listeners[0].label == "quic://:853");
    REQUIRE(quic->listeners[0].tls_pem);
    CHECK(quic->listeners[0].tls_pem->key.find("PRIVATE KEY") != std::string::npos);
    // QUIC has no clear text: quic-go's error, as CoreDNS reports it.
    CHECK(load_error("quic://example.org {\n whoami\n}\n") == "quic: tls.Config not set");
    auto set = load("https://example.org grpc://example.org {\n tls " + args() +
                    " {\n  client_auth require\n }\n whoami\n}\nhttps://.:8443 grpc://.:9443 {\n whoami\n}\n");
    REQUIRE(set->listeners.size() == 4);
    CHECK(set->listeners[0].label == "https://:443");
    CHECK(set->listeners[0].tls == set->blocks[0]->tls);
    CHECK(set->listeners[1].label == "grpc://:443");
    REQUIRE(set->listeners[1].tls_pem);
    CHECK(set->listeners[1].tls_pem->cert.find("BEGIN CERTIFICATE") != std::string::npos);
    CHECK(set->listeners[1].tls_pem->ca.find("BEGIN CERTIFICATE") != std::string::npos);
    CHECK(set->listeners[1].tls_pem->client_auth == int(plugins::tls::ClientAuth::require));
    // Without the tls plugin: clear text, as CoreDNS.
    CHECK(set->listeners[2].label == "https://:8443");
    CHECK(set->listeners[2].tls == nullptr);
    CHECK(set->listeners[3].label == "grpc://:9443");
    CHECK(set->listeners[3].tls_pem == nullptr);
}
