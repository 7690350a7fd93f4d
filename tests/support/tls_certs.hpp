#pragma once
// Test certificates made with the openssl command line in a temporary
// directory: a CA, a server certificate it signs (DNS:dot.test,
// IP:127.0.0.1), a client certificate it signs, and a second CA nobody trusts
// with its own server certificate. Removed in the destructor.
#include <string>

namespace dnscore::testing {

class TlsCerts {
public:
    TlsCerts();
    ~TlsCerts();
    TlsCerts(const TlsCerts&) = delete;
    TlsCerts& operator=(const TlsCerts&) = delete;

    bool ok() const { return ok_; }
    const std::string& dir() const { return dir_; }
    std::string path(const std::string& name) const { return dir_ + "/" + name; }
    // ca.pem ca.key server.pem server.key client.pem client.key
    // other-ca.pem other-server.pem other-server.key (signed by other-ca)

private:
    std::string dir_;
    bool ok_ = false;
};

// One set for the whole test process, made on first use (REQUIREs ok()).
const TlsCerts& shared_certs();

}  // namespace dnscore::testing
