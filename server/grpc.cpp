// DNS over gRPC: CoreDNS's ServergRPC.Query with Debian's gRPC C++ callback
// API. See server/grpc.hpp for the threading; README "Server transports".
#include "server/grpc.hpp"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <cstring>
#include <stdexcept>

#include "core/config.hpp"
#include "core/net.hpp"
#include "server/dns.grpc.pb.h"
#include "server/runtime.hpp"
#include "server/worker.hpp"

namespace dnscore {

namespace {

using coredns::dns::DnsPacket;

constexpr int kMaxConcurrentStreams = 128;  // per connection, as the DNS-over-TCP in-flight bound
constexpr int kMaxMessageBytes = 65535 + 16;  // one DNS message and the protobuf framing

// "ipv4:127.0.0.1:5353", "ipv6:[::1]:5353" (also %5B...%5D): the peer as a
// socket address (CoreDNS's remote TCPAddr).
Endpoint parse_peer(std::string peer) {
    Endpoint e;
    for (size_t p; (p = peer.find("%5B")) != std::string::npos;) peer.replace(p, 3, "[");
    for (size_t p; (p = peer.find("%5D")) != std::string::npos;) peer.replace(p, 3, "]");
    const bool v6 = peer.rfind("ipv6:", 0) == 0;
    if (!v6 && peer.rfind("ipv4:", 0) != 0) return e;
    std::string hostport = peer.substr(5);
    const size_t colon = hostport.rfind(':');
    if (colon == std::string::npos) return e;
    std::string host = hostport.substr(0, colon);
    const int port = std::atoi(hostport.c_str() + colon + 1);
    if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    if (v6) {
        auto* sa = reinterpret_cast<sockaddr_in6*>(&e.addr);
        sa->sin6_family = AF_INET6;
        sa->sin6_port = htons(uint16_t(port));
        if (::inet_pton(AF_INET6, host.c_str(), &sa->sin6_addr) == 1) e.len = sizeof(sockaddr_in6);
    } else {
        auto* sa = reinterpret_cast<sockaddr_in*>(&e.addr);
        sa->sin_family = AF_INET;
        sa->sin_port = htons(uint16_t(port));
        if (::inet_pton(AF_INET, host.c_str(), &sa->sin_addr) == 1) e.len = sizeof(sockaddr_in);
    }
    return e;
}

// One call. Finished exactly once: by the worker's reply, by the worker
// side going away without one, or by a cancellation (client gone, server
// shutting down), whichever comes first.
struct CallState {
    grpc::ServerUnaryReactor* reactor = nullptr;
    DnsPacket* response = nullptr;
    std::atomic<bool> finished{false};
    bool claim() { return !finished.exchange(true, std::memory_order_acq_rel); }
};

class Call final : public grpc::ServerUnaryReactor {
public:
    explicit Call(DnsPacket* response) : state(std::make_shared<CallState>()) {
        state->reactor = this;
        state->response = response;
    }
    void OnCancel() override {
        if (state->claim()) Finish(grpc::Status::CANCELLED);
    }
    void OnDone() override { delete this; }
    std::shared_ptr<CallState> state;
};

// The worker side of a call: where the chain's reply goes.
class GrpcSink final : public ReplySink {
public:
    explicit GrpcSink(std::shared_ptr<CallState> s) : state_(std::move(s)) {}
    ~GrpcSink() override {
        // The query was dropped with its loop (shutdown) before any reply.
        if (state_->claim()) state_->reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server stopped"));
    }
    void send_reply(const uint8_t* msg, size_t len, const Query&) override {
        if (!state_->claim()) return;  // cancelled meanwhile
        state_->response->set_msg(reinterpret_cast<const char*>(msg), len);
        state_->reactor->Finish(grpc::Status::OK);
    }

private:
    std::shared_ptr<CallState> state_;
};

class Service final : public coredns::dns::DnsService::CallbackService {
public:
    Service(Runtime& rt, std::string label, Endpoint local)
        : rt_(rt), label_(std::make_shared<const std::string>(std::move(label))), local_(local) {}
    // The port gRPC bound, known only after the server started.
    void set_port(int port) { port_net_.store(htons(uint16_t(port)), std::memory_order_release); }

    grpc::ServerUnaryReactor* Query(grpc::CallbackServerContext* ctx, const DnsPacket* request,
                                    DnsPacket* response) override {
        auto* call = new Call(response);
        const std::string& msg = request->msg();
        if (msg.size() < wire::kHeaderLen) {
            // msg.Unpack's error, returned by Query as the call's error.
            call->state->claim();
            call->Finish(grpc::Status(grpc::StatusCode::UNKNOWN, "dns: overflow unpacking uint16"));
            return call;
        }
        if (msg.size() > wire::kMaxMessage) {
            call->state->claim();
            call->Finish(grpc::Status(grpc::StatusCode::UNKNOWN, "dns: message too large"));
            return call;
        }
        const Endpoint client = parse_peer(ctx->peer());
        if (client.len == 0) {
            call->state->claim();
            call->Finish(grpc::Status(grpc::StatusCode::UNKNOWN, "no TCP peer in gRPC context: " + ctx->peer()));
            return call;
        }
        const size_t n = rt_.worker_count();
        Worker& w = rt_.worker(next_.fetch_add(1, std::memory_order_relaxed) % n);
        auto sink = std::make_shared<GrpcSink>(call->state);
        Endpoint local = local_;
        const uint16_t port_net = port_net_.load(std::memory_order_acquire);
        if (local.addr.ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(&local.addr)->sin_port = port_net;
        else reinterpret_cast<sockaddr_in6*>(&local.addr)->sin6_port = port_net;
        boost::asio::post(w.io(), [&w, sink, bytes = msg, client, local, label = label_] {
            const Listener* spec = nullptr;
            if (const auto& cfg = w.config())
                for (const auto& l : cfg->listeners)
                    if (l.label == *label) spec = &l;
            dnscore::Query& q = w.slot();  // (Query alone names the method)
            q.reset();
            std::memcpy(q.req, bytes.data(), bytes.size());
            q.req_len = bytes.size();
            q.proto = Proto::tcp;  // request.Proto(): the gRPC peer is a TCPAddr
            q.client = client;
            q.local = local;
            q.sink = sink.get();
            if (w.handle(q, spec) == Worker::Handled::dropped) {
                // ServeDNS wrote nothing: CoreDNS's Query packs the message
                // its writer still holds, the request itself.
                sink->send_reply(q.req, q.req_len, q);
            }
        });
        return call;
    }

private:
    Runtime& rt_;
    // Shared with the queries posted to workers: they may run after this
    // listener is gone.
    std::shared_ptr<const std::string> label_;
    Endpoint local_;  // without its port
    std::atomic<uint16_t> port_net_{0};
    std::atomic<size_t> next_{0};
};

grpc_ssl_client_certificate_request_type request_type(int client_auth) {
    switch (client_auth) {
    case 1: return GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY;
    case 2: return GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_BUT_DONT_VERIFY;
    case 3: return GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
    case 4: return GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    default: return GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
    }
}

class GrpcServer final : public GrpcListener {
public:
    GrpcServer(Runtime& rt, const Listener& l, const std::string& port);
    ~GrpcServer() override { close(); }
    const std::string& label() const override { return label_; }
    int port() const override { return port_; }
    void close() override;

private:
    std::string label_;
    int port_ = 0;
    std::unique_ptr<Service> service_;
    std::unique_ptr<grpc::Server> server_;
};

GrpcServer::GrpcServer(Runtime& rt, const Listener& l, const std::string& port) : label_(l.label) {
    const std::string host = l.host.empty() ? "[::]" : (l.host.find(':') != std::string::npos ? "[" + l.host + "]" : l.host);
    std::shared_ptr<grpc::ServerCredentials> creds;
    if (l.tls_pem) {
        grpc::SslServerCredentialsOptions o(request_type(l.tls_pem->client_auth));
        o.pem_key_cert_pairs.push_back({l.tls_pem->key, l.tls_pem->cert});
        o.pem_root_certs = l.tls_pem->ca;
        creds = grpc::SslServerCredentials(o);
    } else {
        creds = grpc::InsecureServerCredentials();  // CoreDNS serves grpc:// without tls in clear text
    }
    Endpoint local;
    {
        // The listener's own address for q.local (CoreDNS's listenAddr).
        const std::string ip = l.host.empty() ? "::" : l.host;
        auto* sa6 = reinterpret_cast<sockaddr_in6*>(&local.addr);
        auto* sa4 = reinterpret_cast<sockaddr_in*>(&local.addr);
        if (::inet_pton(AF_INET, ip.c_str(), &sa4->sin_addr) == 1) {
            sa4->sin_family = AF_INET;
            local.len = sizeof(sockaddr_in);
        } else if (::inet_pton(AF_INET6, ip.c_str(), &sa6->sin6_addr) == 1) {
            sa6->sin6_family = AF_INET6;
            local.len = sizeof(sockaddr_in6);
        }
    }
    grpc::ServerBuilder b;
    int selected = 0;
    b.AddListeningPort(host + ":" + port, creds, &selected);
    b.SetMaxReceiveMessageSize(kMaxMessageBytes);
    b.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams);
    // The timeouts plugin's idle timeout closes idle connections (Go's
    // http2 server's IdleTimeout comes from the same value in CoreDNS).
    b.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                         int(std::chrono::duration_cast<std::chrono::milliseconds>(l.idle_timeout).count()));
    service_ = std::make_unique<Service>(rt, l.label, local);
    b.RegisterService(service_.get());
    server_ = b.BuildAndStart();
    if (!server_ || selected == 0) {
        server_.reset();
        throw std::runtime_error("bind: address already in use");
    }
    port_ = selected;
    service_->set_port(selected);
}

void GrpcServer::close() {
    if (!server_) return;
    // Deadline now: in-flight calls are cancelled at once (Call::OnCancel
    // finishes them), so this never waits on a worker loop.
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
    server_.reset();
}

}  // namespace

// The module's entry point (core/transport_module.hpp).
extern "C" void dnscore_module_init() {
    grpc_listener_factory = [](Runtime& rt, const Listener& l, const std::string& port) -> std::unique_ptr<GrpcListener> {
        return std::make_unique<GrpcServer>(rt, l, port);
    };
}

}  // namespace dnscore
