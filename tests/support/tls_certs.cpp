#include "tests/support/tls_certs.hpp"

#include "tests/support/catch.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace dnscore::testing {

namespace {

bool run(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

}  // namespace

TlsCerts::TlsCerts() {
    char tmpl[] = "/tmp/dnscore-tls-XXXXXX";
    if (!mkdtemp(tmpl)) return;
    dir_ = tmpl;
    const std::string d = dir_ + "/";
    {
        std::ofstream(d + "server.ext") << "subjectAltName=DNS:dot.test,IP:127.0.0.1\n";
        std::ofstream(d + "client.ext") << "extendedKeyUsage=clientAuth\n";
    }
    const std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    auto ca = [&](const std::string& name, const std::string& cn) {
        return run("openssl req -x509" + key + " -keyout " + d + name + ".key -out " + d + name +
                   ".pem -days 3 -subj /CN=" + cn);
    };
    auto leaf = [&](const std::string& name, const std::string& cn, const std::string& by, const std::string& ext) {
        return run("openssl req" + key + " -keyout " + d + name + ".key -out " + d + name + ".csr -subj /CN=" + cn) &&
               run("openssl x509 -req -in " + d + name + ".csr -CA " + d + by + ".pem -CAkey " + d + by +
                   ".key -CAcreateserial -days 3 -out " + d + name + ".pem -extfile " + d + ext);
    };
    ok_ = ca("ca", "dnscore-test-ca") && ca("other-ca", "untrusted-ca") &&
          leaf("server", "dot.test", "ca", "server.ext") && leaf("client", "client.test", "ca", "client.ext") &&
          leaf("other-server", "dot.test", "other-ca", "server.ext");
}

TlsCerts::~TlsCerts() {
    if (dir_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

const TlsCerts& shared_certs() {
    static TlsCerts c;
    REQUIRE(c.ok());
    return c;
}

}  // namespace dnscore::testing
