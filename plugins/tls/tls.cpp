#include "plugins/tls/tls.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/ssl/context.hpp>

#include "core/file.hpp"
#include "corefile/setup.hpp"
#include "parser/parser.hpp"

namespace dnscore::plugins {

namespace tls {
namespace {

using parser::ConfigError;

struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
};
using Bio = std::unique_ptr<BIO, BioFree>;

Bio memory_bio(const std::string& data) { return Bio(BIO_new_mem_buf(data.data(), int(data.size()))); }

std::string read_or_throw(const std::string& path, const std::string& prefix) {
    FileError err;
    auto text = read_file(path, &err);
    if (!text) throw ConfigError(prefix + err.text);
    return *text;
}

// Go's RequestClientCert / RequireAnyClientCert ask for a certificate but do
// not verify it.
int accept_any(int /*preverify_ok*/, X509_STORE_CTX* /*ctx*/) { return 1; }

}  // namespace

std::shared_ptr<boost::asio::ssl::context> server_context(const std::string& cert, const std::string& key,
                                                          const std::string& ca, ClientAuth auth) {
    namespace ssl = boost::asio::ssl;
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    SSL_CTX* native = ctx->native_handle();

    // tls.LoadX509KeyPair: the certificate chain, then the key, then that
    // they belong together.
    const std::string cert_pem = read_or_throw(cert, "could not load TLS cert: ");
    const std::string key_pem = read_or_throw(key, "could not load TLS cert: ");
    {
        Bio bio = memory_bio(cert_pem);
        X509* leaf = PEM_read_bio_X509_AUX(bio.get(), nullptr, nullptr, nullptr);
        if (!leaf || SSL_CTX_use_certificate(native, leaf) != 1) {
            X509_free(leaf);
            ERR_clear_error();
            throw ConfigError("could not load TLS cert: tls: failed to find any PEM data in certificate input");
        }
        X509_free(leaf);
        SSL_CTX_clear_chain_certs(native);
        while (X509* extra = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
            if (SSL_CTX_add0_chain_cert(native, extra) != 1) X509_free(extra);
        }
        ERR_clear_error();  // the end of the PEM data is reported as an error
    }
    {
        Bio bio = memory_bio(key_pem);
        EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
        if (!pkey) {
            ERR_clear_error();
            throw ConfigError("could not load TLS cert: tls: failed to find any PEM data in key input");
        }
        // OpenSSL refuses a key that does not match the certificate here.
        const bool used = SSL_CTX_use_PrivateKey(native, pkey) == 1;
        EVP_PKEY_free(pkey);
        if (!used || SSL_CTX_check_private_key(native) != 1) {
            ERR_clear_error();
            throw ConfigError("could not load TLS cert: tls: private key does not match public key");
        }
    }

    // loadRoots: the CA file's certificates become RootCAs and (the tls
    // plugin) ClientCAs; no CA = the system's roots.
    if (!ca.empty()) {
        const std::string ca_pem = read_or_throw(ca, "error reading " + ca + ": ");
        Bio bio = memory_bio(ca_pem);
        X509_STORE* store = SSL_CTX_get_cert_store(native);
        STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
        int count = 0;
        while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
            X509_STORE_add_cert(store, x);
            if (X509_NAME* n = X509_NAME_dup(X509_get_subject_name(x))) sk_X509_NAME_push(names, n);
            X509_free(x);
            ++count;
        }
        ERR_clear_error();
        if (count == 0) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            // Go formats the nil error it has at that point.
            throw ConfigError("could not read root certs: %!s(<nil>)");
        }
        // The acceptable CAs sent in the CertificateRequest, as Go does.
        SSL_CTX_set_client_CA_list(native, names);
    } else {
        SSL_CTX_set_default_verify_paths(native);
        ERR_clear_error();
    }

    // setTLSDefaults: TLS 1.2-1.3; the TLS 1.2 suites CoreDNS allows (the
    // TLS 1.3 suites are not configurable in Go).
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION);
    SSL_CTX_set_cipher_list(native,
                            "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                            "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256");
    // No renegotiation (Go servers never renegotiate).
    SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    // Session resumption with client certificates needs an ID context.
    static const unsigned char kSessionContext[] = "dnscore-dot";
    SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);

    switch (auth) {
    case ClientAuth::nocert:
        SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
        break;
    case ClientAuth::request:
        SSL_CTX_set_verify(native, SSL_VERIFY_PEER, accept_any);
        break;
    case ClientAuth::require:
        SSL_CTX_set_verify(native, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any);
        break;
    case ClientAuth::verify_if_given:
        SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
        break;
    case ClientAuth::require_and_verify:
        SSL_CTX_set_verify(native, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
        break;
    }
    return ctx;
}

void set_https_alpn(boost::asio::ssl::context& ctx) {
    SSL_CTX_set_alpn_select_cb(
        ctx.native_handle(),
        [](SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen,
           void*) -> int {
            static const unsigned char kProtos[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
            unsigned char* sel = nullptr;
            if (SSL_select_next_proto(&sel, outlen, kProtos, sizeof kProtos, in, inlen) != OPENSSL_NPN_NEGOTIATED)
                return SSL_TLSEXT_ERR_ALERT_FATAL;
            *out = sel;
            return SSL_TLSEXT_ERR_OK;
        },
        nullptr);
}

}  // namespace tls

// parseTLS of plugin/tls/tls.go. The double "plugin/tls: " of some errors is
// CoreDNS's (parseTLS wraps them and setup wraps again).
void setup_tls(corefile::SetupContext& c) {
    using parser::ConfigError;
    auto& d = c.d;
    if (c.block.tls) throw ConfigError(std::string("plugin/tls: ") +
                                       d.err("TLS already configured for this server instance").what());
    while (d.next()) {
        auto args = d.remaining_args();
        if (args.size() < 2 || args.size() > 3) throw ConfigError(std::string("plugin/tls: ") + d.arg_err().what());
        tls::ClientAuth auth = tls::ClientAuth::nocert;
        while (d.next_block()) {
            if (d.val() != "client_auth") throw d.err("unknown option '" + d.val() + "'");
            auto kind = d.remaining_args();
            if (kind.size() != 1) throw d.arg_err();
            const std::string& k = kind[0];
            if (k == "nocert") auth = tls::ClientAuth::nocert;
            else if (k == "request") auth = tls::ClientAuth::request;
            else if (k == "require") auth = tls::ClientAuth::require;
            else if (k == "verify_if_given") auth = tls::ClientAuth::verify_if_given;
            else if (k == "require_and_verify") auth = tls::ClientAuth::require_and_verify;
            else throw d.err("unknown authentication type '" + k + "'");
        }
        c.block.tls = tls::server_context(args[0], args[1], args.size() == 3 ? args[2] : "", auth);
        for (const auto& t : c.block.transports) {
            if (t != "grpc" && t != "quic") continue;
            // Read again only for grpc:// and quic:// (gRPC's and GnuTLS's
            // own TLS; server_context checked the files above).
            auto pem = std::make_shared<TlsPem>();
            pem->cert = tls::read_or_throw(args[0], "plugin/tls: could not load TLS cert: ");
            pem->key = tls::read_or_throw(args[1], "plugin/tls: could not load TLS cert: ");
            if (args.size() == 3) pem->ca = tls::read_or_throw(args[2], "plugin/tls: error reading " + args[2] + ": ");
            pem->client_auth = int(auth);
            c.block.tls_pem = std::move(pem);
            break;
        }
        for (const auto& t : c.block.transports)
            if (t == "https") tls::set_https_alpn(*c.block.tls);
    }
}

}  // namespace dnscore::plugins
