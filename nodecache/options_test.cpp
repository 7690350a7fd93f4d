#include "nodecache/options.hpp"

#include <vector>

#include "server/cli.hpp"
#include "tests/support/catch.hpp"

using namespace dnscore;
using namespace dnscore::nodecache;
using namespace std::chrono;

namespace {

struct Parsed {
    RuntimeOptions core;
    CoreFlags cf;
    Flags nc;
    bool ok = false;
};

Parsed parse(std::vector<std::string> args) {
    Parsed p;
    FlagSet fs("node-cache");
    register_core_flags(fs, p.core, p.cf);
    register_flags(fs, p.nc);
    std::vector<char*> argv{const_cast<char*>("node-cache")};
    for (auto& a : args) argv.push_back(a.data());
    p.ok = fs.parse(int(argv.size()), argv.data());
    return p;
}

auto no_dir = [](const std::string&) { return false; };

}  // namespace

TEST_CASE("node-cache flags: defaults", "[nodecache][flags]") {
    auto p = parse({"-localip", "169.254.20.10,10.96.0.10", "-conf", "/etc/Corefile", "-upstreamsvc",
                    "kube-dns-upstream", "-pidfile", "/tmp/node-cache.pid"});
    REQUIRE(p.ok);
    CHECK(p.nc.setup_interface);
    CHECK(p.nc.setup_iptables);
    CHECK_FALSE(p.nc.skip_teardown);
    CHECK_FALSE(p.nc.reload_with_signal);
    CHECK(p.nc.interface_name == "nodelocaldns");
    CHECK(p.nc.metrics_listen_address == "0.0.0.0:9353");
    CHECK(p.nc.base_corefile == "/etc/coredns/Corefile.base");
    CHECK(p.nc.health_port == "8080");
    CHECK(p.nc.syncinterval == nanoseconds(60));
    CHECK(p.core.pidfile == "/tmp/node-cache.pid");

    auto params = validate(p.nc, p.core, no_dir);
    CHECK(params.local_ips == std::vector<std::string>{"169.254.20.10", "10.96.0.10"});
    CHECK(params.local_ips_spaced() == "169.254.20.10 10.96.0.10");
    CHECK_FALSE(params.ipv6);
    CHECK(params.local_port == "53");
    CHECK(params.corefile == "/etc/Corefile");
    CHECK(params.upstream_svc == "kube-dns-upstream");
    CHECK(params.kubedns_dir.empty());
    CHECK(params.sync_period == seconds(60));
    CHECK(params.sync_period_warning.empty());
}

TEST_CASE("node-cache flags: validation errors carry node-cache's text", "[nodecache][flags]") {
    auto check = [](std::vector<std::string> args, const std::string& err) {
        auto p = parse(args);
        REQUIRE(p.ok);
        CHECK_THROWS_WITH(validate(p.nc, p.core, no_dir), err);
    };
    check({}, "invalid localip specified - \"\"");
    check({"-localip", "169.254.20.10,"}, "invalid localip specified - \"\"");
    check({"-localip", "169.254.20.10, 10.0.0.1"}, "invalid localip specified - \" 10.0.0.1\"");
    check({"-localip", "169.254.20.10,fd00::10"}, "unexpected IP Family for localIP - \"fd00::10\", want IPv6=false");
    check({"-localip", "169.254.20.10", "-dns.port", "x"}, "invalid port specified - \"x\"");
    check({"-localip", "169.254.20.10", "-health-port", "80a"}, "invalid healthcheck port specified - \"80a\"");
    check({"-localip", "169.254.20.10", "-iptablesbackend", "xt"},
          "invalid iptablesbackend specified - \"xt\" (auto, legacy, nft or iptables)");
}

TEST_CASE("node-cache flags: IPv6, -conf wins over -corefile, -p, kube-dns dir default", "[nodecache][flags]") {
    auto p = parse({"-localip=fd00::10", "-corefile", "/x", "-p", "1053"});
    REQUIRE(p.ok);
    auto params = validate(p.nc, p.core, [](const std::string& d) { return d == "/etc/kube-dns"; });
    CHECK(params.ipv6);
    CHECK(params.corefile.empty());  // -conf not given: "" as node-cache
    CHECK(params.local_port == "1053");
    CHECK(params.kubedns_dir == "/etc/kube-dns");
    auto p2 = parse({"-localip=::ffff:1.2.3.4"});
    CHECK_FALSE(validate(p2.nc, p2.core, no_dir).ipv6);  // Go's To4() counts it as IPv4
}

TEST_CASE("node-cache flags: -syncinterval", "[nodecache][flags]") {
    CHECK_FALSE(parse({"-syncinterval", "30"}).ok);  // Go: missing unit, exit 2
    auto p = parse({"-syncinterval", "30ns"});
    REQUIRE(p.ok);
    std::string warning;
    CHECK(effective_sync_period(p.nc.syncinterval, &warning) == seconds(30));
    CHECK(warning.empty());
    CHECK(effective_sync_period(seconds(10), &warning) == seconds(10));
    CHECK(warning.find("multiplied by 1s") != std::string::npos);
    CHECK(effective_sync_period(minutes(1), &warning) == seconds(60));
    CHECK(effective_sync_period(milliseconds(20), &warning) == seconds(1));
    CHECK(effective_sync_period(nanoseconds(0), &warning) == seconds(60));
    CHECK(warning.find("not positive") != std::string::npos);
}

TEST_CASE("service env var name", "[nodecache][flags]") {
    CHECK(service_host_env("kube-dns-upstream") == "KUBE_DNS_UPSTREAM_SERVICE_HOST");
    CHECK(service_host_env("kube-dns") == "KUBE_DNS_SERVICE_HOST");
}
