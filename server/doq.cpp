// DNS over QUIC, CoreDNS 1.12's ServerQUIC (core/dnsserver/server_quic.go)
// on ngtcp2 0.12 + GnuTLS. One DoqListener per worker and listener; its
// connections live on that worker's loop (one timer each).
//
// Per stream (RFC 9250 section 4.2): the client's bidirectional stream
// carries one 2-byte-length-prefixed query and its FIN; the reply goes back
// the same way with FIN. As CoreDNS: a zero length, a length that does not
// match, a message ID other than 0 or an EDNS TCP keepalive option closes the
// connection with DOQ_PROTOCOL_ERROR (0x2); each answered stream counts
// coredns_dns_quic_responses_total{status="0x0"}, each error close its code.
#include "server/doq.hpp"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <sys/socket.h>

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/config.hpp"
#include "core/log.hpp"
#include "core/metrics_vec.hpp"
#include "server/worker.hpp"

namespace asio = boost::asio;
using asio::ip::udp;

namespace dnscore {

namespace {

constexpr uint64_t kDoqNoError = 0x0;
constexpr uint64_t kDoqInternalError = 0x1;
constexpr uint64_t kDoqProtocolError = 0x2;
constexpr size_t kScidLen = 18;
constexpr uint64_t kMaxStreams = 256;          // CoreDNS's DefaultMaxQUICStreams
constexpr size_t kMaxConnsPerWorker = 4096;    // ours: past it new connections are dropped
constexpr uint64_t kMaxUnanswered = 256 * 1024;  // request bytes a connection may send ahead (flow control)
constexpr size_t kMaxQueued = 1024 * 1024;       // reply bytes not yet acknowledged; past it: closed
constexpr int kBatch = 64;                     // datagrams per wake-up
constexpr size_t kMaxPacket = 1452;            // what we write per datagram
constexpr const char* kPriority =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-CCM:"
    "-GROUP-ALL:+GROUP-SECP256R1:+GROUP-X25519:+GROUP-SECP384R1:+GROUP-SECP521R1:%DISABLE_TLS13_COMPAT_MODE";

ngtcp2_tstamp now_ns() {
    return ngtcp2_tstamp(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
}

// coredns_dns_quic_responses_total{server,status} (plugin/metrics/vars).
struct QuicFamilies {
    metrics::LabelSet server_status{{"server", "status"}, 64};
    metrics::CounterVec responses{"coredns_dns_quic_responses_total",
                                  "Counter of DoQ responses per server and QUIC application code.",
                                  {},
                                  {&server_status}};
};
QuicFamilies& quic_families() {
    static QuicFamilies* f = [] {
        auto* f = new QuicFamilies;  // never destroyed: workers may count during exit
        metrics::export_families({&f->responses});
        return f;
    }();
    return *f;
}

void count_response(int worker, const std::string& server, uint64_t code) {
    const char* status = code == kDoqNoError ? "0x0" : code == kDoqInternalError ? "0x1" : "0x2";
    auto& f = quic_families();
    int idx = f.server_status.find({server, status});
    if (idx == metrics::kOverflow) idx = f.server_status.intern({server, status});
    f.responses.inc(worker, {idx});
}

// GnuTLS credentials from the tls plugin's PEM text, shared by the
// connections accepted while that configuration is current.
struct Credentials {
    gnutls_certificate_credentials_t cred = nullptr;
    int client_auth = 0;
    ~Credentials() {
        if (cred) gnutls_certificate_free_credentials(cred);
    }
};

std::shared_ptr<Credentials> make_credentials(const TlsPem& pem) {
    auto c = std::make_shared<Credentials>();
    if (gnutls_certificate_allocate_credentials(&c->cred) != 0) return nullptr;
    gnutls_datum_t cert{reinterpret_cast<unsigned char*>(const_cast<char*>(pem.cert.data())), unsigned(pem.cert.size())};
    gnutls_datum_t key{reinterpret_cast<unsigned char*>(const_cast<char*>(pem.key.data())), unsigned(pem.key.size())};
    if (gnutls_certificate_set_x509_key_mem(c->cred, &cert, &key, GNUTLS_X509_FMT_PEM) < 0) return nullptr;
    if (!pem.ca.empty()) {
        gnutls_datum_t ca{reinterpret_cast<unsigned char*>(const_cast<char*>(pem.ca.data())), unsigned(pem.ca.size())};
        gnutls_certificate_set_x509_trust_mem(c->cred, &ca, GNUTLS_X509_FMT_PEM);
    } else {
        gnutls_certificate_set_x509_system_trust(c->cred);
    }
    c->client_auth = pem.client_auth;
    return c;
}

class DoqListenerImpl;

// One QUIC connection.
class DoqConn : public std::enable_shared_from_this<DoqConn> {
public:
    DoqConn(DoqListenerImpl& l, std::shared_ptr<Credentials> cred, const Endpoint& local, const Endpoint& remote)
        : l_(l), cred_(std::move(cred)), local_(local), remote_(remote), timer_(io_of(l)) {}
    ~DoqConn();

    // Sets up ngtcp2 and GnuTLS for the client's first packet; false on failure.
    bool init(const ngtcp2_pkt_hd& hd);
    // A datagram for this connection.
    void on_packet(const uint8_t* data, size_t len, const ngtcp2_pkt_info& pi);
    // The chain's reply for `stream`.
    void on_reply(int64_t stream, const uint8_t* msg, size_t len, bool owned);
    void close_with(uint64_t app_code);
    const std::vector<std::string>& cids() const { return cids_; }
    bool gone() const { return gone_; }

private:
    struct Stream {
        std::vector<uint8_t> in;
        std::vector<uint8_t> out;
        size_t sent = 0;
        bool answering = false;
    };
    static asio::io_context& io_of(DoqListenerImpl& l);
    static DoqConn* self(void* u) { return static_cast<DoqConn*>(u); }
    int serve(int64_t stream_id, Stream& s);
    void write_all();
    void arm_timer();
    void send_packet(const uint8_t* data, size_t len);
    void finish();  // removes it from the listener (once)
    ngtcp2_path path();

    DoqListenerImpl& l_;
    std::shared_ptr<Credentials> cred_;
    Endpoint local_, remote_;
    asio::steady_timer timer_;
    ngtcp2_conn* conn_ = nullptr;
    gnutls_session_t session_ = nullptr;
    ngtcp2_crypto_conn_ref ref_{};
    ngtcp2_connection_close_error last_error_{};
    std::map<int64_t, Stream> streams_;
    std::vector<std::string> cids_;  // our connection IDs (routing keys)
    bool gone_ = false;
    bool in_read_ = false;          // inside ngtcp2_conn_read_pkt: no writes from its callbacks
    uint64_t pending_close_ = UINT64_MAX;  // a DoQ error found inside a callback
    long inflight_ = 0;
    size_t out_bytes_ = 0;  // reply bytes held by streams_
    // Inside a callback: remember the error, make ngtcp2 stop; on_packet closes.
    int fail(uint64_t code) {
        pending_close_ = code;
        return NGTCP2_ERR_CALLBACK_FAILURE;
    }

    friend class DoqListenerImpl;
    static int on_stream_data(ngtcp2_conn*, uint32_t flags, int64_t stream_id, uint64_t, const uint8_t* data,
                              size_t len, void* u, void*);
    static int on_stream_close(ngtcp2_conn*, uint32_t, int64_t stream_id, uint64_t, void* u, void*);
    static int on_new_cid(ngtcp2_conn*, ngtcp2_cid* cid, uint8_t* token, size_t cidlen, void* u);
    static int on_remove_cid(ngtcp2_conn*, const ngtcp2_cid* cid, void* u);
    static int on_acked(ngtcp2_conn*, int64_t, uint64_t, uint64_t, void*, void*) { return 0; }
};

// The sink of one stream's query.
class DoqExchange final : public ReplySink {
public:
    DoqExchange(std::shared_ptr<DoqConn> c, int64_t s) : conn(std::move(c)), stream(s) {}
    void send_reply(const uint8_t* msg, size_t len, const Query& q) override {
        if (!conn) return;
        conn->on_reply(stream, msg, len, q.owned);
        conn.reset();
    }
    std::shared_ptr<DoqConn> conn;
    int64_t stream;
};

void rand_cb(uint8_t* dest, size_t len, const ngtcp2_rand_ctx*) { gnutls_rnd(GNUTLS_RND_RANDOM, dest, len); }

ngtcp2_conn* get_conn(ngtcp2_crypto_conn_ref* ref) { return static_cast<ngtcp2_conn*>(ref->user_data); }

class DoqListenerImpl final : public DoqListener, public std::enable_shared_from_this<DoqListenerImpl> {
public:
    DoqListenerImpl(Worker& w, const std::string& label, udp::socket sock)
        : w_(w), label_(label), sock_(std::move(sock)), buf_(65536) {
        const auto ep = sock_.local_endpoint();
        std::memcpy(&bound_.addr, ep.data(), ep.size());
        bound_.len = socklen_t(ep.size());
        wildcard_ = ep.address().is_unspecified();
    }
    const std::string& label() const override { return label_; }
    void set_spec(const Listener* spec) override {
        spec_ = spec;
        if (!spec || !spec->tls_pem) {
            cred_.reset();
            pem_ = nullptr;
            return;
        }
        if (spec->tls_pem.get() != pem_) {
            // A reload with other certificates: new connections use them.
            cred_ = make_credentials(*spec->tls_pem);
            pem_ = spec->tls_pem.get();
            if (!cred_) log::error("plugin/tls: quic: could not load the certificate for {}", label_);
        }
    }
    void start() override { arm(); }
    void close() override {
        closed_ = true;
        auto conns = std::move(conns_);
        conns_.clear();
        for (auto& [cid, c] : conns) c->close_with(kDoqNoError);  // once each: later calls see gone()
        boost::system::error_code ec;
        sock_.close(ec);
    }

    Worker& worker() { return w_; }
    const Listener* spec() const { return spec_; }
    void add_cid(const std::string& cid, const std::shared_ptr<DoqConn>& c) {
        if (!closed_) conns_[cid] = c;
    }
    void remove_cid(const std::string& cid) { conns_.erase(cid); }
    void count_conn(int delta) { conn_count_ = size_t(long(conn_count_) + delta); }
    void remove(const DoqConn& c) {
        count_conn(-1);
        for (const auto& cid : c.cids()) {
            auto it = conns_.find(cid);
            if (it != conns_.end() && it->second.get() == &c) conns_.erase(it);
        }
    }
    void send(const Endpoint& local, const Endpoint& remote, const uint8_t* data, size_t len) {
        iovec iov{const_cast<uint8_t*>(data), len};
        msghdr mh{};
        mh.msg_name = const_cast<sockaddr_storage*>(&remote.addr);
        mh.msg_namelen = remote.len;
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo))];
        if (wildcard_ && local.len > 0) {
            // From the address the client sent to (as UDP replies).
            std::memset(control, 0, sizeof control);
            mh.msg_control = control;
            if (local.addr.ss_family == AF_INET6) {
                mh.msg_controllen = CMSG_SPACE(sizeof(in6_pktinfo));
                cmsghdr* c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = IPPROTO_IPV6;
                c->cmsg_type = IPV6_PKTINFO;
                c->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
                reinterpret_cast<in6_pktinfo*>(CMSG_DATA(c))->ipi6_addr =
                    reinterpret_cast<const sockaddr_in6*>(&local.addr)->sin6_addr;
            } else {
                mh.msg_controllen = CMSG_SPACE(sizeof(in_pktinfo));
                cmsghdr* c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = IPPROTO_IP;
                c->cmsg_type = IP_PKTINFO;
                c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
                reinterpret_cast<in_pktinfo*>(CMSG_DATA(c))->ipi_spec_dst =
                    reinterpret_cast<const sockaddr_in*>(&local.addr)->sin_addr;
            }
        }
        ::sendmsg(sock_.native_handle(), &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    asio::io_context& io() { return static_cast<asio::io_context&>(sock_.get_executor().context()); }

private:
    void arm() {
        sock_.async_wait(udp::socket::wait_read, [this, self = shared_from_this()](const boost::system::error_code& ec) {
            if (ec || closed_) return;
            drain();
            arm();
        });
    }

    void drain() {
        for (int i = 0; i < kBatch; ++i) {
            Endpoint remote, local;
            iovec iov{buf_.data(), buf_.size()};
            msghdr mh{};
            mh.msg_name = &remote.addr;
            mh.msg_namelen = sizeof remote.addr;
            mh.msg_iov = &iov;
            mh.msg_iovlen = 1;
            alignas(cmsghdr) char control[256];
            mh.msg_control = control;
            mh.msg_controllen = sizeof control;
            const ssize_t n = ::recvmsg(sock_.native_handle(), &mh, MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EINTR) continue;
                break;
            }
            remote.len = mh.msg_namelen;
            for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                    auto* sa = reinterpret_cast<sockaddr_in*>(&local.addr);
                    sa->sin_family = AF_INET;
                    sa->sin_addr = reinterpret_cast<const in_pktinfo*>(CMSG_DATA(c))->ipi_addr;
                    local.len = sizeof(sockaddr_in);
                } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
                    auto* sa = reinterpret_cast<sockaddr_in6*>(&local.addr);
                    sa->sin6_family = AF_INET6;
                    sa->sin6_addr = reinterpret_cast<const in6_pktinfo*>(CMSG_DATA(c))->ipi6_addr;
                    local.len = sizeof(sockaddr_in6);
                }
            }
            if (local.len == 0) {
                local = bound_;
            } else if (local.addr.ss_family == AF_INET) {
                reinterpret_cast<sockaddr_in*>(&local.addr)->sin_port = htons(bound_port());
            } else {
                reinterpret_cast<sockaddr_in6*>(&local.addr)->sin6_port = htons(bound_port());
            }
            on_datagram(buf_.data(), size_t(n), local, remote);
        }
    }

    uint16_t bound_port() const {
        return ntohs(bound_.addr.ss_family == AF_INET ? reinterpret_cast<const sockaddr_in*>(&bound_.addr)->sin_port
                                                      : reinterpret_cast<const sockaddr_in6*>(&bound_.addr)->sin6_port);
    }

    void on_datagram(const uint8_t* data, size_t len, const Endpoint& local, const Endpoint& remote) {
        ngtcp2_version_cid vc;
        if (ngtcp2_pkt_decode_version_cid(&vc, data, len, kScidLen) != 0) return;  // not QUIC v1 (no version negotiation)
        const std::string dcid(reinterpret_cast<const char*>(vc.dcid), vc.dcidlen);
        ngtcp2_pkt_info pi{};
        if (auto it = conns_.find(dcid); it != conns_.end()) {
            auto c = it->second;  // may remove itself
            c->on_packet(data, len, pi);
            return;
        }
        ngtcp2_pkt_hd hd;
        if (ngtcp2_accept(&hd, data, len) != 0) return;  // not a client Initial: dropped
        if (!cred_ || !spec_ || conn_count_ >= kMaxConnsPerWorker) return;  // no certificate, or full
        auto c = std::make_shared<DoqConn>(*this, cred_, local, remote);
        if (!c->init(hd)) return;
        count_conn(+1);
        c->on_packet(data, len, pi);
    }

    Worker& w_;
    std::string label_;
    udp::socket sock_;
    std::vector<uint8_t> buf_;
    Endpoint bound_;
    bool wildcard_ = false;
    bool closed_ = false;
    const Listener* spec_ = nullptr;
    const TlsPem* pem_ = nullptr;
    std::shared_ptr<Credentials> cred_;
    std::unordered_map<std::string, std::shared_ptr<DoqConn>> conns_;  // by each of our connection IDs
    size_t conn_count_ = 0;
};

asio::io_context& DoqConn::io_of(DoqListenerImpl& l) { return l.io(); }

DoqConn::~DoqConn() {
    if (conn_) ngtcp2_conn_del(conn_);
    if (session_) gnutls_deinit(session_);
}

ngtcp2_path DoqConn::path() {
    ngtcp2_path p{};
    p.local.addr = reinterpret_cast<sockaddr*>(&local_.addr);
    p.local.addrlen = local_.len;
    p.remote.addr = reinterpret_cast<sockaddr*>(&remote_.addr);
    p.remote.addrlen = remote_.len;
    return p;
}

bool DoqConn::init(const ngtcp2_pkt_hd& hd) {
    if (gnutls_init(&session_, GNUTLS_SERVER | GNUTLS_ENABLE_EARLY_DATA | GNUTLS_NO_AUTO_SEND_TICKET |
                                   GNUTLS_NO_END_OF_EARLY_DATA) != 0)
        return false;
    if (gnutls_priority_set_direct(session_, kPriority, nullptr) != 0) return false;
    if (ngtcp2_crypto_gnutls_configure_server_session(session_) != 0) return false;
    if (gnutls_credentials_set(session_, GNUTLS_CRD_CERTIFICATE, cred_->cred) != 0) return false;
    // client_auth (Go's ClientAuthType order, see core/config.hpp TlsPem).
    switch (cred_->client_auth) {
    case 1: gnutls_certificate_server_set_request(session_, GNUTLS_CERT_REQUEST); break;
    case 2: gnutls_certificate_server_set_request(session_, GNUTLS_CERT_REQUIRE); break;
    case 3:
        gnutls_certificate_server_set_request(session_, GNUTLS_CERT_REQUEST);
        gnutls_session_set_verify_cert(session_, nullptr, 0);
        break;
    case 4:
        gnutls_certificate_server_set_request(session_, GNUTLS_CERT_REQUIRE);
        gnutls_session_set_verify_cert(session_, nullptr, 0);
        break;
    default: gnutls_certificate_server_set_request(session_, GNUTLS_CERT_IGNORE); break;
    }
    gnutls_datum_t alpn{reinterpret_cast<unsigned char*>(const_cast<char*>("doq")), 3};
    if (gnutls_alpn_set_protocols(session_, &alpn, 1, GNUTLS_ALPN_MANDATORY | GNUTLS_ALPN_SERVER_PRECEDENCE) != 0)
        return false;
    ref_.get_conn = get_conn;
    gnutls_session_set_ptr(session_, &ref_);

    ngtcp2_callbacks cb{};
    cb.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
    cb.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    cb.encrypt = ngtcp2_crypto_encrypt_cb;
    cb.decrypt = ngtcp2_crypto_decrypt_cb;
    cb.hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb.recv_stream_data = on_stream_data;
    cb.acked_stream_data_offset = on_acked;
    cb.stream_close = on_stream_close;
    cb.rand = rand_cb;
    cb.get_new_connection_id = on_new_cid;
    cb.remove_connection_id = on_remove_cid;
    cb.update_key = ngtcp2_crypto_update_key_cb;
    cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb;

    ngtcp2_settings settings;
    ngtcp2_settings_default(&settings);
    settings.initial_ts = now_ns();
    const Listener* spec = l_.spec();
    // The handshake must end within the read timeout, as for tls:// and https://.
    settings.handshake_timeout = ngtcp2_duration(spec ? spec->read_timeout.count() : 3'000'000'000LL);
    ngtcp2_transport_params params;
    ngtcp2_transport_params_default(&params);
    params.initial_max_stream_data_bidi_remote = 64 * 1024 + 2;  // one query of any size
    params.initial_max_data = kMaxUnanswered;
    params.initial_max_streams_bidi = kMaxStreams;
    params.initial_max_streams_uni = 0;  // DoQ uses client bidirectional streams only
    params.max_idle_timeout = ngtcp2_duration(spec ? spec->idle_timeout.count() : 10'000'000'000LL);
    params.active_connection_id_limit = 7;
    params.original_dcid = hd.dcid;
    params.stateless_reset_token_present = 1;
    gnutls_rnd(GNUTLS_RND_RANDOM, params.stateless_reset_token, sizeof params.stateless_reset_token);

    ngtcp2_cid scid;
    scid.datalen = kScidLen;
    gnutls_rnd(GNUTLS_RND_RANDOM, scid.data, scid.datalen);
    ngtcp2_path p = path();
    if (ngtcp2_conn_server_new(&conn_, &hd.scid, &scid, &p, hd.version, &cb, &settings, &params, nullptr, this) != 0)
        return false;
    ref_.user_data = conn_;
    ngtcp2_conn_set_tls_native_handle(conn_, session_);
    const std::string key(reinterpret_cast<const char*>(scid.data), scid.datalen);
    cids_.push_back(key);
    l_.add_cid(key, shared_from_this());
    // The client's original destination ID routes its retransmitted Initials.
    const std::string odcid(reinterpret_cast<const char*>(hd.dcid.data), hd.dcid.datalen);
    cids_.push_back(odcid);
    l_.add_cid(odcid, shared_from_this());
    return true;
}

int DoqConn::on_new_cid(ngtcp2_conn*, ngtcp2_cid* cid, uint8_t* token, size_t cidlen, void* u) {
    gnutls_rnd(GNUTLS_RND_RANDOM, cid->data, cidlen);
    cid->datalen = cidlen;
    gnutls_rnd(GNUTLS_RND_RANDOM, token, NGTCP2_STATELESS_RESET_TOKENLEN);
    auto* c = self(u);
    const std::string key(reinterpret_cast<const char*>(cid->data), cidlen);
    c->cids_.push_back(key);
    c->l_.add_cid(key, c->shared_from_this());
    return 0;
}

int DoqConn::on_remove_cid(ngtcp2_conn*, const ngtcp2_cid* cid, void* u) {
    auto* c = self(u);
    const std::string key(reinterpret_cast<const char*>(cid->data), cid->datalen);
    c->l_.remove_cid(key);
    std::erase(c->cids_, key);
    return 0;
}

int DoqConn::on_stream_data(ngtcp2_conn* conn, uint32_t flags, int64_t stream_id, uint64_t, const uint8_t* data,
                            size_t len, void* u, void*) {
    auto* c = self(u);
    // Client-initiated bidirectional streams only (RFC 9250 4.2).
    if ((stream_id & 0x3) != 0) return 0;
    Stream& s = c->streams_[stream_id];
    if (s.answering || s.in.size() + len > 2 + wire::kMaxMessage)
        return c->fail(kDoqProtocolError);  // more than one message on a stream
    s.in.insert(s.in.end(), data, data + len);
    if (flags & NGTCP2_STREAM_DATA_FLAG_FIN) {
        // Flow-control credit comes back only once a query is handed to
        // the chain: unanswered request bytes stay within kMaxUnanswered.
        const size_t consumed = s.in.size();
        const int rv = c->serve(stream_id, s);
        ngtcp2_conn_extend_max_stream_offset(conn, stream_id, consumed);
        ngtcp2_conn_extend_max_offset(conn, consumed);
        return rv;
    }
    return 0;
}

int DoqConn::on_stream_close(ngtcp2_conn* conn, uint32_t, int64_t stream_id, uint64_t, void* u, void*) {
    auto* c = self(u);
    // A closed client stream frees a slot: MAX_STREAMS goes up by one
    // (kMaxStreams open at once, any number over the connection's life).
    if ((stream_id & 0x3) == 0) ngtcp2_conn_extend_max_streams_bidi(conn, 1);
    auto it = c->streams_.find(stream_id);
    if (it == c->streams_.end()) return 0;
    c->out_bytes_ -= it->second.out.size();
    c->streams_.erase(it);
    return 0;
}

// Whether the OPT record carries an edns-tcp-keepalive option (code 11).
bool has_tcp_keepalive(const uint8_t* msg, const wire::Edns& e) {
    size_t at = e.rdata_off;
    const size_t end = size_t(e.rdata_off) + e.rdata_len;
    while (at + 4 <= end) {
        const uint16_t code = wire::rd16(msg + at), len = wire::rd16(msg + at + 2);
        if (code == 11) return true;
        at += 4 + len;
    }
    return false;
}

int DoqConn::serve(int64_t stream_id, Stream& s) {
    // readDOQMessage + validRequest of server_quic.go.
    if (s.in.size() < 2) return fail(kDoqProtocolError);
    const size_t size = wire::rd16(s.in.data());
    if (size == 0 || size != s.in.size() - 2 || size < wire::kHeaderLen) return fail(kDoqProtocolError);
    const uint8_t* msg = s.in.data() + 2;
    if (wire::id(msg) != 0) return fail(kDoqProtocolError);
    wire::QueryInfo info;
    if (wire::parse_query(msg, size, info) == wire::Verdict::ok && info.edns.present && has_tcp_keepalive(msg, info.edns))
        return fail(kDoqProtocolError);
    s.answering = true;
    Worker& w = l_.worker();
    auto ex = std::make_shared<DoqExchange>(shared_from_this(), stream_id);
    Query& q = w.slot();
    q.reset();
    std::memcpy(q.req, msg, size);
    q.req_len = size;
    q.proto = Proto::udp;  // request.Proto(): a QUIC remote address is a UDPAddr
    q.client = remote_;
    q.local = local_;
    q.sink = ex.get();
    std::vector<uint8_t>().swap(s.in);
    const auto handled = w.handle(q, l_.spec());
    if (handled == Worker::Handled::pending) ++inflight_;
    else if (handled == Worker::Handled::dropped) {
        // Nothing written: the stream is reset, the connection stays.
        ngtcp2_conn_shutdown_stream(conn_, stream_id, kDoqInternalError);
    }
    return 0;
}

void DoqConn::on_reply(int64_t stream, const uint8_t* msg, size_t len, bool owned) {
    if (owned) --inflight_;
    if (gone_) return;
    auto it = streams_.find(stream);
    if (it == streams_.end()) return;  // reset by the client meanwhile
    Stream& s = it->second;
    if (out_bytes_ + 2 + len > kMaxQueued) {
        // The client does not acknowledge its replies: no more memory for it.
        if (in_read_) pending_close_ = kDoqInternalError;
        else close_with(kDoqInternalError);
        return;
    }
    out_bytes_ += 2 + len;
    s.out.resize(2 + len);
    wire::wr16(s.out.data(), uint16_t(len));
    std::memcpy(s.out.data() + 2, msg, len);
    s.sent = 0;
    count_response(l_.worker().index(), l_.label(), kDoqNoError);
    if (!in_read_) write_all();  // else on_packet writes once ngtcp2 returns
}

void DoqConn::send_packet(const uint8_t* data, size_t len) { l_.send(local_, remote_, data, len); }

void DoqConn::write_all() {
    if (gone_ || !conn_) return;
    uint8_t buf[kMaxPacket];
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_pkt_info pi;
    const ngtcp2_tstamp ts = now_ns();
    auto pending = streams_.begin();
    auto next_stream = [&]() -> Stream* {
        while (pending != streams_.end() && (pending->second.out.empty() || pending->second.sent == pending->second.out.size()))
            ++pending;
        return pending == streams_.end() ? nullptr : &pending->second;
    };
    for (int guard = 0; guard < 4096; ++guard) {
        Stream* s = next_stream();
        int64_t sid = -1;
        ngtcp2_vec v{};
        size_t vcnt = 0;
        uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
        if (s) {
            sid = pending->first;
            v.base = s->out.data() + s->sent;
            v.len = s->out.size() - s->sent;
            vcnt = 1;
            flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
        }
        ngtcp2_ssize written = -1;
        const ngtcp2_ssize n =
            ngtcp2_conn_writev_stream(conn_, &ps.path, &pi, buf, sizeof buf, &written, flags, sid, &v, vcnt, ts);
        if (written > 0 && s) s->sent += size_t(written);
        if (n == NGTCP2_ERR_WRITE_MORE) continue;
        if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED || n == NGTCP2_ERR_STREAM_SHUT_WR || n == NGTCP2_ERR_STREAM_NOT_FOUND) {
            if (s) ++pending;  // this stream cannot go now; try the others
            continue;
        }
        if (n < 0) {
            ngtcp2_connection_close_error_set_transport_error_liberr(&last_error_, int(n), nullptr, 0);
            close_with(kDoqInternalError);
            return;
        }
        if (n == 0) break;
        send_packet(buf, size_t(n));
    }
    arm_timer();
}

void DoqConn::arm_timer() {
    if (gone_) return;
    const ngtcp2_tstamp expiry = ngtcp2_conn_get_expiry(conn_);
    if (expiry == UINT64_MAX) return;
    const ngtcp2_tstamp now = now_ns();
    timer_.expires_after(std::chrono::nanoseconds(expiry > now ? expiry - now : 0));
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec || self->gone_) return;
        const int rv = ngtcp2_conn_handle_expiry(self->conn_, now_ns());
        if (rv != 0) {
            // Idle timeout (or a fatal error): the connection is dropped silently.
            self->finish();
            return;
        }
        self->write_all();
    });
}

void DoqConn::on_packet(const uint8_t* data, size_t len, const ngtcp2_pkt_info& pi) {
    if (gone_) return;
    ngtcp2_path p = path();
    auto keep = shared_from_this();
    in_read_ = true;
    const int rv = ngtcp2_conn_read_pkt(conn_, &p, &pi, data, len, now_ns());
    in_read_ = false;
    if (pending_close_ != UINT64_MAX) {
        close_with(pending_close_);
        return;
    }
    if (rv != 0) {
        if (rv == NGTCP2_ERR_DRAINING || rv == NGTCP2_ERR_DROP_CONN || rv == NGTCP2_ERR_CLOSING) {
            finish();
            return;
        }
        if (rv == NGTCP2_ERR_CRYPTO)
            ngtcp2_connection_close_error_set_transport_error_tls_alert(&last_error_, ngtcp2_conn_get_tls_alert(conn_),
                                                                         nullptr, 0);
        else
            ngtcp2_connection_close_error_set_transport_error_liberr(&last_error_, rv, nullptr, 0);
        // Transport-level failure (handshake, protocol): CONNECTION_CLOSE, no DoQ code counted.
        if (!gone_) {
            uint8_t buf[kMaxPacket];
            ngtcp2_path_storage ps;
            ngtcp2_path_storage_zero(&ps);
            ngtcp2_pkt_info opi;
            const ngtcp2_ssize n =
                ngtcp2_conn_write_connection_close(conn_, &ps.path, &opi, buf, sizeof buf, &last_error_, now_ns());
            if (n > 0) send_packet(buf, size_t(n));
            finish();
        }
        return;
    }
    write_all();
}

void DoqConn::close_with(uint64_t app_code) {
    if (gone_) return;
    if (app_code != kDoqNoError) count_response(l_.worker().index(), l_.label(), app_code);
    if (conn_ && !ngtcp2_conn_is_in_closing_period(conn_) && !ngtcp2_conn_is_in_draining_period(conn_)) {
        ngtcp2_connection_close_error err;
        ngtcp2_connection_close_error_set_application_error(&err, app_code, nullptr, 0);
        uint8_t buf[kMaxPacket];
        ngtcp2_path_storage ps;
        ngtcp2_path_storage_zero(&ps);
        ngtcp2_pkt_info pi;
        const ngtcp2_ssize n = ngtcp2_conn_write_connection_close(conn_, &ps.path, &pi, buf, sizeof buf, &err, now_ns());
        if (n > 0) send_packet(buf, size_t(n));
    }
    finish();
}

void DoqConn::finish() {
    if (gone_) return;
    gone_ = true;
    timer_.cancel();
    streams_.clear();
    l_.remove(*this);  // may drop the last reference held by the listener
}

}  // namespace

// The module's entry point (core/transport_module.hpp).
extern "C" void dnscore_module_init() {
    doq_listener_factory = [](Worker& w, const std::string& label, udp::socket sock) -> std::shared_ptr<DoqListener> {
        return std::make_shared<DoqListenerImpl>(w, label, std::move(sock));
    };
}

}  // namespace dnscore
