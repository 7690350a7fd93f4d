#pragma once
// DNS over QUIC (quic://, RFC 9250): CoreDNS's ServerQUIC
// (core/dnsserver/server_quic.go) with Debian's ngtcp2 and its GnuTLS crypto
// backend. Each worker has its own SO_REUSEPORT UDP socket and its own QUIC
// connections (the kernel keeps a client's 4-tuple on one socket); every
// stream's query runs through Worker::handle on that worker.
#include <boost/asio/ip/udp.hpp>
#include <memory>
#include <string>

namespace dnscore {

class Worker;
struct Listener;

class DoqListener {
public:
    virtual ~DoqListener() = default;
    virtual const std::string& label() const = 0;
    // The configuration (worker thread): certificates are taken from its
    // tls plugin configuration; nullptr = the listener was removed.
    virtual void set_spec(const Listener* spec) = 0;
    virtual void start() = 0;
    virtual void close() = 0;
};

// Built as the module dnscore-quic.so (core/transport_module.hpp), loaded
// when a quic:// listener is configured; its dnscore_module_init sets the
// factory (nullptr until then).
using DoqListenerFactory = std::shared_ptr<DoqListener> (*)(Worker& w, const std::string& label,
                                                             boost::asio::ip::udp::socket sock);
extern DoqListenerFactory doq_listener_factory;

}  // namespace dnscore
