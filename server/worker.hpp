#pragma once
// One worker thread: its own io_context, its own SO_REUSEPORT sockets for
// every listener, one reusable Query for synchronous exchanges, and the
// configuration snapshot it currently serves.
#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/system/error_code.hpp>

#include "core/config.hpp"
#include "core/host.hpp"
#include "core/query.hpp"
#include "server/loop.hpp"
#include "server/supervisor.hpp"

namespace boost::asio {
class io_context;
}

namespace dnscore {

class Runtime;
class BufferPool;
class UdpListener;
class TcpListener;

class Worker final : public WorkerHost {
public:
    // `tcp_limit`: open TCP connections this worker accepts at most.
    Worker(Runtime& rt, int index, size_t tcp_limit = 10000);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    Runtime& runtime() { return rt_; }
    std::shared_ptr<const void> config_keepalive() const override { return config_; }

    // Thread control (called from the control thread).
    void start();
    void join();
    // After join, at exit: drop this worker's configuration and destroy the
    // handlers still pending on its loop (see server/loop.hpp).
    void destroy_pending();

    // Control thread: open this worker's sockets for `l` on `port` ("0" picks
    // a free one). Returns the port bound. Throws on bind failure.
    std::string open_listener(const Listener& l, const std::string& port);
    // Worker thread: switch to `cfg`; listeners whose label is absent from
    // it are closed, present ones get the new zone table.
    void apply(std::shared_ptr<const ServerSet> cfg);
    // Worker thread: close this worker's not-yet-started sockets for `label`
    // (a reload that failed after opening them).
    void discard_listener(const std::string& label);
    // Worker thread: close every listener (shutdown).
    void close_listeners();
    // Worker thread, handover: take no new queries (UDP sockets stay open to
    // answer those already received; TCP acceptors close).
    void stop_reading();
    // Worker thread: whether a UDP socket still has a datagram to read (the
    // handover drain waits until none is left).
    bool has_queued_datagrams();
    // Worker thread: this worker's listening sockets (the supervisor holds
    // duplicates of them, server/supervisor.hpp).
    std::vector<supervisor::ListenerFd> listener_fds();

    const std::shared_ptr<const ServerSet>& config() const { return config_; }

    // Runs one received message through checks, routing and the chain.
    enum class Handled { replied, dropped, pending };
    Handled handle(Query& q, const Listener* spec);

    // The reusable Query for synchronous exchanges (request and reply buffers
    // are owned by the worker).
    Query& slot();

    // TCP connections (worker thread only).
    BufferPool& tcp_buffers();
    // Replies answered while one TCP read is parsed, sent together afterwards
    // (StreamConnection::flush); kept across batches so it does not allocate.
    std::vector<uint8_t>& tcp_gather();
    size_t tcp_connections() const { return tcp_connections_; }
    size_t tcp_connection_limit() const { return tcp_limit_; }
    void count_tcp_connection(int delta);
    // TLS handshakes in progress on this worker (tls:// listeners).
    size_t tls_handshakes() const { return tls_handshakes_; }
    void count_tls_handshake(int delta) { tls_handshakes_ = size_t(long(tls_handshakes_) + delta); }

    // A UDP listener with replies queued under a hold (flushed at release).
    void add_held(std::shared_ptr<UdpListener> l);

private:
    void flush_held_replies() override;

    Runtime& rt_;
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::shared_ptr<const ServerSet> config_;
    std::thread thread_;
    size_t tcp_limit_;
    size_t tcp_connections_ = 0;
    size_t tls_handshakes_ = 0;
    friend class UdpListener;
    friend class TcpListener;
};

// Sends a reply the server itself produced (no plugin ran).
void send_direct(Query& q, size_t len);

// An accepted stream connection's two ends, as queries carry them (left
// empty when the socket cannot tell, e.g. already reset).
template <class Socket>
void stream_endpoints(Socket& s, Endpoint& client, Endpoint& local) {
    boost::system::error_code ec;
    const auto r = s.remote_endpoint(ec);
    if (!ec) {
        std::memcpy(&client.addr, r.data(), r.size());
        client.len = socklen_t(r.size());
    }
    const auto l = s.local_endpoint(ec);
    if (!ec) {
        std::memcpy(&local.addr, l.data(), l.size());
        local.len = socklen_t(l.size());
    }
}

}  // namespace dnscore
