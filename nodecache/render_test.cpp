#include "nodecache/render.hpp"

#include <fstream>
#include <sstream>

#include "nodecache/configmap.hpp"
#include "nodecache/testdata_path.hpp"
#include "tests/support/catch.hpp"

using namespace dnscore::nodecache;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) s.replace(pos, from.size(), to);
    return s;
}

// The operator's sed for kube-proxy iptables mode (spec §4.3).
std::string iptables_mode_base() {
    std::string base = slurp(NODECACHE_TESTDATA "/Corefile.base");
    base = replace_all(base, "__PILLAR__LOCAL__DNS__", "169.254.20.10");
    base = replace_all(base, "__PILLAR__DNS__DOMAIN__", "cluster.local");
    base = replace_all(base, "__PILLAR__DNS__SERVER__", "10.96.0.10");
    return base;
}

RenderInput worked_example_input() {
    RenderInput in;
    in.base = iptables_mode_base();
    in.config = parse_kubedns_config(read_config_dir(NODECACHE_TESTDATA "/kube-dns-configmap"));
    in.local_ips_spaced = "169.254.20.10 10.96.0.10";
    in.local_port = "53";
    in.cluster_dns = "10.96.0.11";
    return in;
}

}  // namespace

TEST_CASE("render: the worked example of spec §4.4, byte for byte", "[nodecache][render]") {
    auto r = render(worked_example_input());
    CHECK(r.text == slurp(NODECACHE_TESTDATA "/Corefile.worked-example"));
    CHECK(r.upstream_text == "8.8.8.8 8.8.4.4");
    CHECK(r.stub_count == 1);
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0] == "Did not find TCP upstream block to replace, assuming upstreams already use UDP.");
}

TEST_CASE("render: no kube-dns config uses /etc/resolv.conf and appends nothing", "[nodecache][render]") {
    auto in = worked_example_input();
    in.config = {};
    auto r = render(in);
    CHECK(r.warnings.empty());
    CHECK(r.upstream_text == "/etc/resolv.conf");
    CHECK(r.text.find("    forward . /etc/resolv.conf\n    prometheus :9253\n    }\n") != std::string::npos);
    CHECK(r.text.size() >= 6);
    CHECK(r.text.substr(r.text.size() - 6) == "    }\n");  // ends with the base, no stub block
    CHECK(r.text.find("__PILLAR__") == std::string::npos);
}

TEST_CASE("render: a TCP upstream block is replaced by a UDP forward", "[nodecache][render]") {
    RenderInput in;
    in.base = ".:53 {\n    forward . __PILLAR__UPSTREAM__SERVERS__ {\n            force_tcp\n    }\n}\n";
    in.config.upstream_nameservers = {"1.1.1.1", "9.9.9.9:5353"};
    in.local_ips_spaced = "169.254.20.10";
    auto r = render(in);
    CHECK(r.warnings.empty());
    CHECK(r.text == ".:53 {\n    forward . 1.1.1.1 9.9.9.9:5353\n}\n");
}

TEST_CASE("render: token substitution rules", "[nodecache][render]") {
    RenderInput in;
    in.local_ips_spaced = "169.254.20.10 10.96.0.10";
    in.cluster_dns = "10.96.0.11";
    SECTION("__PILLAR__LOCAL__DNS__ gets every IP; __PILLAR__DNS__SERVER__ is removed") {
        in.base = "bind __PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__\n# __PILLAR__LOCAL__DNS__\n";
        CHECK(render(in).text == "bind 169.254.20.10 10.96.0.10 \n# 169.254.20.10 10.96.0.10\n");
    }
    SECTION("other tokens and __PILLAR__DNS__DOMAIN__ stay") {
        in.base = "__PILLAR__DNS__DOMAIN__:53 __PILLAR__OTHER__\n";
        CHECK(render(in).text == in.base);
    }
    SECTION("IPVS variant: cluster IP already substituted, env var missing is harmless") {
        in.cluster_dns.reset();
        in.base = "forward . 10.96.0.10\n";
        auto r = render(in);
        CHECK(r.text == in.base);
        CHECK(r.warnings.empty());
    }
    SECTION("missing env var with the token: <nil> as node-cache, plus a warning") {
        in.cluster_dns.reset();
        in.base = "forward . __PILLAR__CLUSTER__DNS__\n";
        auto r = render(in);
        CHECK(r.text == "forward . <nil>\n");
        REQUIRE(r.warnings.size() == 1);
        CHECK(r.warnings[0].find("__PILLAR__CLUSTER__DNS__") != std::string::npos);
    }
}

TEST_CASE("render: stub domain blocks", "[nodecache][render]") {
    RenderInput in;
    in.base = "cluster.local:1053 {\n}\n";
    in.local_ips_spaced = "169.254.20.10";
    in.local_port = "1053";
    in.config.stub_domains["b.example"] = {"10.0.0.2:5353", "10.0.0.3"};
    in.config.stub_domains["a.example"] = {"10.0.0.1"};
    auto r = render(in);
    CHECK(r.text ==
          "cluster.local:1053 {\n}\n"
          "\na.example:1053 {\n    errors\n    cache 30\n    bind 169.254.20.10\n    forward . 10.0.0.1\n}\n"
          "\nb.example:1053 {\n    errors\n    cache 30\n    bind 169.254.20.10\n    forward . 10.0.0.2:5353 10.0.0.3\n}\n");
    CHECK(r.stub_count == 2);

    SECTION("a stub domain the operator already wrote into Corefile.base is not appended again") {
        in.base = "cluster.local:1053 {\n}\nA.Example.:1053 {\n    forward . 10.9.9.9\n}\n";
        auto r2 = render(in);
        CHECK(r2.stub_count == 1);
        CHECK(r2.text.find("a.example:1053 {") == std::string::npos);
        CHECK(r2.text.find("\nb.example:1053 {") != std::string::npos);
        REQUIRE(r2.warnings.size() == 1);
        CHECK(r2.warnings[0].find("a.example") != std::string::npos);
    }
}

TEST_CASE("render: Corefile-level validation (forward's rules)", "[nodecache][render]") {
    RenderInput in;
    in.base = ".:53 {}\n";
    in.local_ips_spaced = "169.254.20.10";
    in.config.stub_domains["acme.local"] = {"ns.acme.local", "1.2.3.4"};
    CHECK_THROWS_WITH(render(in), "invalid nameservers [ns.acme.local 1.2.3.4] for the stub domain acme.local: "
                                  "not an IP address or file: \"ns.acme.local\"");
    in.config.stub_domains.clear();
    in.config.upstream_nameservers = {"8.8.8.8", "bogus"};
    CHECK_THROWS_WITH(render(in), "invalid upstream nameservers [8.8.8.8 bogus]: not an IP address or file: \"bogus\"");

    CHECK(forward_target_error("1.2.3.4").empty());
    CHECK(forward_target_error("1.2.3.4:53").empty());
    CHECK(forward_target_error("[fd00::1]:53").empty());
    CHECK(forward_target_error("fd00::1").empty());
    CHECK(forward_target_error("tls://1.2.3.4").empty());
    CHECK(forward_target_error(NODECACHE_TESTDATA "/Corefile.base").empty());  // a readable file
    CHECK_FALSE(forward_target_error("grpc://1.2.3.4").empty());
    CHECK_FALSE(forward_target_error("1.2.3.4:99999").empty());
}
