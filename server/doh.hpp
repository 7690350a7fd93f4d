#pragma once
// DNS over HTTPS (https://, RFC 8484) connections: CoreDNS's ServerHTTPS
// (core/dnsserver/server_https.go) on the worker's loop. HTTP/2 (nghttp2)
// when TLS negotiates ALPN "h2", else HTTP/1.1; GET ?dns= and POST on
// /dns-query, each request run through Worker::handle like any other query.
#include <boost/asio/ip/tcp.hpp>
#include <memory>

namespace boost::asio::ssl {
class context;
}

namespace dnscore {

class Worker;
struct Listener;

// The listener a connection was accepted on: its current configuration
// (nullptr once a reload removed it: queries are REFUSED).
class SpecSource {
public:
    virtual ~SpecSource() = default;
    virtual const Listener* spec() const = 0;
};

// Starts serving DoH on `sock` (worker thread). `tls` = the listener's TLS
// context (ALPN h2 and http/1.1), nullptr = plain HTTP/1.1 (CoreDNS serves
// an https:// block without the tls plugin without TLS).
void start_doh_connection(Worker& w, std::shared_ptr<SpecSource> listener, std::shared_ptr<boost::asio::ssl::context> tls,
                          boost::asio::ip::tcp::socket sock);

}  // namespace dnscore
