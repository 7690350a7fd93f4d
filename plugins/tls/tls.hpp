#pragma once
// The tls plugin: the server certificate, key, CA and client-auth policy of
// a server block's tls:// listeners (CoreDNS plugin/tls + plugin/pkg/tls).
#include <memory>
#include <string>

namespace boost::asio::ssl {
class context;
}

namespace dnscore::plugins::tls {

// Go's tls.ClientAuthType, as the `client_auth` keywords name them.
enum class ClientAuth { nocert, request, require, verify_if_given, require_and_verify };

// plugin/pkg/tls NewTLSConfig(cert, key, ca) for a server, with the client
// authentication policy and ClientCAs = the CA (system roots when `ca` is
// empty). TLS 1.2-1.3, CoreDNS's TLS 1.2 cipher suites. Throws
// parser::ConfigError with Go's texts ("could not load TLS cert: open
// cert.pem: no such file or directory", "error reading ca.pem: ...").
std::shared_ptr<boost::asio::ssl::context> server_context(const std::string& cert, const std::string& key,
                                                          const std::string& ca, ClientAuth auth);

// The server's ALPN protocols by transport, as CoreDNS sets NextProtos:
// https "h2", "http/1.1" (server preference); tls none. A client offering
// only other protocols fails the handshake (Go's "no application protocol").
void set_https_alpn(boost::asio::ssl::context& ctx);

}  // namespace dnscore::plugins::tls
