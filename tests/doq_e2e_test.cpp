// DNS over QUIC (quic://, RFC 9250) against the real binary. Bookworm's kdig
// is built without ngtcp2 (+quic falls back to UDP), so the client here is a
// small blocking one on the same ngtcp2 + GnuTLS: one query per stream, the
// 2-byte length prefix, the certificate checked against the test CA.
#include <arpa/inet.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "core/wire/wire.hpp"
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

ngtcp2_tstamp now_ns() {
    return ngtcp2_tstamp(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
}

class DoqClient {
public:
    DoqClient(uint16_t port, const std::string& cert = "", const std::string& key = "",
              const std::string& ca = certs().path("ca.pem")) {
        fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
        remote_ = testing::loopback(port);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&remote_), sizeof remote_) != 0) return;
        socklen_t len = sizeof local_;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&local_), &len);

        gnutls_certificate_allocate_credentials(&cred_);
        gnutls_certificate_set_x509_trust_file(cred_, ca.c_str(), GNUTLS_X509_FMT_PEM);
        if (!cert.empty()) gnutls_certificate_set_x509_key_file(cred_, cert.c_str(), key.c_str(), GNUTLS_X509_FMT_PEM);
        gnutls_init(&session_, GNUTLS_CLIENT | GNUTLS_ENABLE_EARLY_DATA | GNUTLS_NO_END_OF_EARLY_DATA);
        gnutls_priority_set_direct(session_,
                                   "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"
                                   "+CHACHA20-POLY1305:-GROUP-ALL:+GROUP-SECP256R1:+GROUP-X25519:%DISABLE_TLS13_COMPAT_MODE",
                                   nullptr);
        ngtcp2_crypto_gnutls_configure_client_session(session_);
        gnutls_credentials_set(session_, GNUTLS_CRD_CERTIFICATE, cred_);
        gnutls_datum_t alpn{reinterpret_cast<unsigned char*>(const_cast<char*>("doq")), 3};
        gnutls_alpn_set_protocols(session_, &alpn, 1, GNUTLS_ALPN_MANDATORY);
        gnutls_server_name_set(session_, GNUTLS_NAME_DNS, "dot.test", 8);
        gnutls_session_set_verify_cert(session_, "dot.test", 0);
        ref_.get_conn = [](ngtcp2_crypto_conn_ref* r) { return static_cast<ngtcp2_conn*>(r->user_data); };
        gnutls_session_set_ptr(session_, &ref_);

        ngtcp2_callbacks cb{};
        cb.client_initial = ngtcp2_crypto_client_initial_cb;
        cb.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
        cb.encrypt = ngtcp2_crypto_encrypt_cb;
        cb.decrypt = ngtcp2_crypto_decrypt_cb;
        cb.hp_mask = ngtcp2_crypto_hp_mask_cb;
        cb.recv_retry = ngtcp2_crypto_recv_retry_cb;
        cb.update_key = ngtcp2_crypto_update_key_cb;
        cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
        cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
        cb.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
        cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
        cb.rand = [](uint8_t* d, size_t n, const ngtcp2_rand_ctx*) { gnutls_rnd(GNUTLS_RND_RANDOM, d, n); };
        cb.get_new_connection_id = [](ngtcp2_conn*, ngtcp2_cid* cid, uint8_t* token, size_t n, void*) {
            gnutls_rnd(GNUTLS_RND_RANDOM, cid->data, n);
            cid->datalen = n;
            gnutls_rnd(GNUTLS_RND_RANDOM, token, NGTCP2_STATELESS_RESET_TOKENLEN);
            return 0;
        };
        cb.handshake_completed = [](ngtcp2_conn*, void* u) {
            static_cast<DoqClient*>(u)->handshake_done_ = true;
            return 0;
        };
        cb.recv_stream_data = [](ngtcp2_conn* conn, uint32_t flags, int64_t sid, uint64_t, const uint8_t* data,
                                 size_t n, void* u, void*) {
            auto* c = static_cast<DoqClient*>(u);
            ngtcp2_conn_extend_max_offset(conn, n);  // consumed: the server may send more
            c->in_[sid].insert(c->in_[sid].end(), data, data + n);
            if (flags & NGTCP2_STREAM_DATA_FLAG_FIN) c->fin_.insert(sid);
            return 0;
        };
        cb.stream_close = [](ngtcp2_conn*, uint32_t, int64_t sid, uint64_t, void* u, void*) {
            static_cast<DoqClient*>(u)->fin_.insert(sid);
            return 0;
        };
        ngtcp2_cid dcid, scid;
        dcid.datalen = 18;
        scid.datalen = 18;
        gnutls_rnd(GNUTLS_RND_RANDOM, dcid.data, dcid.datalen);
        gnutls_rnd(GNUTLS_RND_RANDOM, scid.data, scid.datalen);
        ngtcp2_settings settings;
        ngtcp2_settings_default(&settings);
        settings.initial_ts = now_ns();
        ngtcp2_transport_params params;
        ngtcp2_transport_params_default(&params);
        params.initial_max_stream_data_bidi_local = 128 * 1024;
        params.initial_max_data = 1024 * 1024;
        params.max_idle_timeout = 10 * NGTCP2_SECONDS;
        ngtcp2_path path = this->path();
        if (ngtcp2_conn_client_new(&conn_, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb, &settings, &params, nullptr,
                                   this) != 0)
            return;
        ref_.user_data = conn_;
        ngtcp2_conn_set_tls_native_handle(conn_, session_);
    }
    ~DoqClient() {
        if (conn_) ngtcp2_conn_del(conn_);
        if (session_) gnutls_deinit(session_);
        if (cred_) gnutls_certificate_free_credentials(cred_);
        if (fd_ >= 0) ::close(fd_);
    }

    bool handshake(int timeout_ms = 3000) {
        run_until([&] { return handshake_done_; }, timeout_ms);
        return handshake_done_;
    }

    // Opens a stream and sends `payload` as it is (the caller frames it).
    int64_t send_raw(const Bytes& payload) {
        int64_t sid = -1;
        // Past the server's MAX_STREAMS: wait for it to grant more.
        run_until([&] { return ngtcp2_conn_open_bidi_stream(conn_, &sid, nullptr) == 0; }, 3000);
        if (sid < 0) return -1;
        out_[sid] = payload;
        sent_[sid] = 0;
        flush();
        return sid;
    }
    int64_t send_query(const Bytes& msg) {
        Bytes framed{uint8_t(msg.size() >> 8), uint8_t(msg.size())};
        framed.insert(framed.end(), msg.begin(), msg.end());
        return send_raw(framed);
    }
    // The reply on `sid` without its length prefix, or empty.
    Bytes reply(int64_t sid, int timeout_ms = 3000) {
        run_until([&] { return fin_.count(sid) > 0; }, timeout_ms);
        const Bytes in = std::move(in_[sid]);
        // Done with the stream: forget it (long runs stay linear).
        in_.erase(sid);
        out_.erase(sid);
        sent_.erase(sid);
        fin_.erase(sid);
        if (in.size() < 2 || wire::rd16(in.data()) != in.size() - 2) return {};
        return Bytes(in.begin() + 2, in.end());
    }
    Bytes exchange(const Bytes& msg) { return reply(send_query(msg)); }
    // The application error code the server closed with, or -1.
    int64_t close_code(int timeout_ms = 3000) {
        run_until([&] { return closed_; }, timeout_ms);
        if (!closed_) return -1;
        ngtcp2_connection_close_error e;
        ngtcp2_conn_get_connection_close_error(conn_, &e);
        return e.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION ? int64_t(e.error_code) : -2;
    }

private:
    ngtcp2_path path() {
        ngtcp2_path p{};
        p.local.addr = reinterpret_cast<sockaddr*>(&local_);
        p.local.addrlen = sizeof local_;
        p.remote.addr = reinterpret_cast<sockaddr*>(&remote_);
        p.remote.addrlen = sizeof remote_;
        return p;
    }
    void flush() {
        if (!conn_ || closed_) return;
        uint8_t buf[1452];
        ngtcp2_path_storage ps;
        ngtcp2_path_storage_zero(&ps);
        ngtcp2_pkt_info pi;
        for (int guard = 0; guard < 1000; ++guard) {
            int64_t sid = -1;
            ngtcp2_vec v{};
            size_t cnt = 0;
            for (auto& [id, data] : out_) {
                if (sent_[id] < data.size()) {
                    sid = id;
                    v.base = data.data() + sent_[id];
                    v.len = data.size() - sent_[id];
                    cnt = 1;
                    break;
                }
            }
            ngtcp2_ssize w = -1;
            const ngtcp2_ssize n = ngtcp2_conn_writev_stream(conn_, &ps.path, &pi, buf, sizeof buf, &w,
                                                             NGTCP2_WRITE_STREAM_FLAG_MORE |
                                                                 (sid >= 0 ? NGTCP2_WRITE_STREAM_FLAG_FIN : 0),
                                                             sid, &v, cnt, now_ns());
            if (w > 0 && sid >= 0) sent_[sid] += size_t(w);
            if (n == NGTCP2_ERR_WRITE_MORE) continue;
            if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED) break;
            if (n <= 0) break;
            ::send(fd_, buf, size_t(n), 0);
        }
    }
    template <class Done>
    void run_until(Done done, int timeout_ms) {
        const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        while (!done() && !closed_ && conn_ && std::chrono::steady_clock::now() < end) {
            flush();
            const ngtcp2_tstamp expiry = ngtcp2_conn_get_expiry(conn_), now = now_ns();
            int wait = expiry == UINT64_MAX ? 100 : int(std::min<uint64_t>((expiry > now ? expiry - now : 0) / 1000000, 100));
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, wait) == 1) {
                uint8_t buf[65536];
                const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
                if (n > 0) {
                    ngtcp2_path path = this->path();
                    ngtcp2_pkt_info pi{};
                    const int rv = ngtcp2_conn_read_pkt(conn_, &path, &pi, buf, size_t(n), now_ns());
                    if (rv != 0) closed_ = true;  // the server closed (draining) or the handshake failed
                }
            }
            if (ngtcp2_conn_get_expiry(conn_) <= now_ns() && ngtcp2_conn_handle_expiry(conn_, now_ns()) != 0)
                closed_ = true;
        }
    }

    int fd_ = -1;
    sockaddr_in local_{}, remote_{};
    gnutls_certificate_credentials_t cred_ = nullptr;
    gnutls_session_t session_ = nullptr;
    ngtcp2_crypto_conn_ref ref_{};
    ngtcp2_conn* conn_ = nullptr;
    bool handshake_done_ = false;
    bool closed_ = false;
    std::map<int64_t, Bytes> out_;
    std::map<int64_t, size_t> sent_;
    std::map<int64_t, Bytes> in_;
    std::set<int64_t> fin_;
};

std::string doq_corefile(const std::string& tls_line, const std::string& extra = "") {
    return "quic://.:0 {\n bind 127.0.0.1\n" + (tls_line.empty() ? "" : " tls " + tls_line + "\n") +
           " prometheus 127.0.0.1:0\n" + extra + " hosts {\n  192.0.2.11 a.doq.test\n  fallthrough\n }\n whoami\n}\n";
}

std::string server_tls(const std::string& extra = "") {
    const auto& c = certs();
    return c.path("server.pem") + " " + c.path("server.key") + (extra.empty() ? "" : " " + extra);
}

Bytes query(const std::string& name, uint16_t id = 0) {
    testing::QueryOptions o;
    o.id = id;
    return testing::make_query(name, "A", o);
}

}  // namespace

TEST_CASE("doq e2e: queries on several streams of one connection are answered through the chain", "[doq][e2e]") {
    testing::ServerProcess srv(doq_corefile(server_tls()));
    REQUIRE(srv.started());
    CHECK(has(srv.out(), "quic://.:" + std::to_string(srv.port()) + " on 127.0.0.1\n"));
    DoqClient c(srv.port());
    REQUIRE(c.handshake());
    const Bytes r = c.exchange(query("a.doq.test."));
    REQUIRE(r.size() > 12);
    CHECK(wire::rcode(r.data()) == 0);
    CHECK(wire::id(r.data()) == 0);
    REQUIRE(testing::section(r, 1).size() == 1);
    CHECK(has(testing::section(r, 1)[0], "192.0.2.11"));
    // Ten streams at once.
    std::vector<int64_t> ids;
    for (int i = 0; i < 10; ++i) ids.push_back(c.send_query(query("n" + std::to_string(i) + ".example.")));
    int ok = 0;
    for (int64_t sid : ids) {
        const Bytes a = c.reply(sid);
        if (a.size() > 12 && wire::rcode(a.data()) == 0) ++ok;
    }
    CHECK(ok == 10);
    // More streams over the connection's life than its concurrent limit
    // (256): closed streams give their credit back.
    int later = 0;
    for (int i = 0; i < 300; ++i)
        if (c.exchange(query("a.doq.test.")).size() > 12) ++later;
    CHECK(later == 300);
    const std::string at = testing::served_address(srv, "prometheus", "/metrics");
    REQUIRE(!at.empty());
    const std::string m = testing::http_get(at, "/metrics").body;
    INFO(m);
    CHECK(testing::metric_value(m, "coredns_dns_quic_responses_total{server=\"quic://127.0.0.1:0\",status=\"0x0\"}") ==
          311);
    // request.Proto() of a QUIC client is "udp" (its address is a UDPAddr).
    CHECK(testing::metric_value(m, "coredns_dns_requests_total{family=\"1\",proto=\"udp\",server=\"quic://"
                                   "127.0.0.1:0\",type=\"A\",view=\"\",zone=\".\"}") == 311);
}

TEST_CASE("doq e2e: CoreDNS's protocol errors close the connection with DOQ_PROTOCOL_ERROR", "[doq][e2e]") {
    testing::ServerProcess srv(doq_corefile(server_tls()));
    REQUIRE(srv.started());
    {
        DoqClient c(srv.port());
        REQUIRE(c.handshake());
        c.send_query(query("a.doq.test.", 0x1234));  // message ID must be 0
        CHECK(c.close_code() == 0x2);
    }
    {
        DoqClient c(srv.port());
        REQUIRE(c.handshake());
        Bytes q = query("a.doq.test.");
        Bytes wrong{0, uint8_t(q.size() + 5)};  // length prefix larger than the message
        wrong.insert(wrong.end(), q.begin(), q.end());
        c.send_raw(wrong);
        CHECK(c.close_code() == 0x2);
    }
    // The server keeps serving new connections.
    DoqClient c(srv.port());
    REQUIRE(c.handshake());
    CHECK(c.exchange(query("a.doq.test.")).size() > 12);
    const std::string m = testing::http_get(testing::served_address(srv, "prometheus", "/metrics"), "/metrics").body;
    CHECK(testing::metric_value(m, "coredns_dns_quic_responses_total{server=\"quic://127.0.0.1:0\",status=\"0x2\"}") ==
          2);
}

TEST_CASE("doq e2e: client_auth require_and_verify; quic:// without tls is CoreDNS's error", "[doq][e2e]") {
    const auto& c = certs();
    testing::ServerProcess srv(doq_corefile(server_tls(c.path("ca.pem")) + " {\n  client_auth require_and_verify\n }"));
    REQUIRE(srv.started());
    {
        DoqClient with(srv.port(), c.path("client.pem"), c.path("client.key"));
        REQUIRE(with.handshake());
        CHECK(with.exchange(query("a.doq.test.")).size() > 12);
    }
    {
        DoqClient without(srv.port());
        without.handshake(2000);
        CHECK(without.exchange(query("a.doq.test.")).empty());
    }
    {
        DoqClient foreign(srv.port(), c.path("other-server.pem"), c.path("other-server.key"));
        foreign.handshake(2000);
        CHECK(foreign.exchange(query("a.doq.test.")).empty());
    }
    testing::ServerProcess bad(doq_corefile(""));
    CHECK(!bad.started());
    CHECK(has(bad.err() + bad.out(), "quic: tls.Config not set"));
}

TEST_CASE("doq e2e: a reload that changes the certificate applies to new connections", "[doq][e2e]") {
    const auto& c = certs();
    testing::ServerProcess srv(doq_corefile(server_tls()));
    REQUIRE(srv.started());
    DoqClient before(srv.port());
    REQUIRE(before.handshake());
    std::ofstream(srv.dir() + "/Corefile") << doq_corefile(c.path("other-server.pem") + " " + c.path("other-server.key"));
    REQUIRE(::kill(srv.pid(), SIGUSR1) == 0);
    bool reloaded = false;
    for (int i = 0; i < 200 && !reloaded; ++i) {
        reloaded = has(srv.out(), "[INFO] Reloading complete");
        if (!reloaded) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    REQUIRE(reloaded);
    DoqClient other(srv.port(), "", "", c.path("other-ca.pem"));
    REQUIRE(other.handshake());
    CHECK(other.exchange(query("a.doq.test.")).size() > 12);
    DoqClient old_ca(srv.port());
    CHECK(!old_ca.handshake(2000));
    // The connection made before the reload keeps working.
    CHECK(before.exchange(query("a.doq.test.")).size() > 12);
}

TEST_CASE("doq e2e: datagrams that are not QUIC, or not a client Initial, are ignored", "[doq][e2e]") {
    testing::ServerProcess srv(doq_corefile(server_tls()));
    REQUIRE(srv.started());
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    REQUIRE(fd >= 0);
    const sockaddr_in to = testing::loopback(srv.port());
    uint8_t junk[1500];
    for (int i = 0; i < 200; ++i) {
        const size_t n = size_t(1 + (i * 37) % sizeof junk);
        gnutls_rnd(GNUTLS_RND_NONCE, junk, n);
        if (i % 3 == 0) junk[0] = 0xc0;  // a long header of some version
        if (i % 3 == 1) junk[0] = 0x40;  // a short header for an unknown connection
        ::sendto(fd, junk, n, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    }
    ::close(fd);
    DoqClient c(srv.port());
    REQUIRE(c.handshake());
    CHECK(c.exchange(query("a.doq.test.")).size() > 12);
    CHECK(srv.alive());
}
