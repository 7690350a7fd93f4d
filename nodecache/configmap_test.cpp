#include "nodecache/configmap.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "nodecache/testdata_path.hpp"
#include "tests/support/catch.hpp"

using namespace dnscore::nodecache;
namespace fs = std::filesystem;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        char tmpl[] = "/tmp/nodecache-test-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    void write(const std::string& name, const std::string& content) const {
        std::ofstream(path / name, std::ios::binary | std::ios::trunc) << content;
    }
};

}  // namespace

TEST_CASE("configmap: the fixture directory", "[nodecache][configmap]") {
    auto files = read_config_dir(NODECACHE_TESTDATA "/kube-dns-configmap");
    REQUIRE(files.size() == 2);
    auto cfg = parse_kubedns_config(files);
    REQUIRE(cfg.stub_domains.size() == 1);
    CHECK(cfg.stub_domains.at("acme.local") == std::vector<std::string>{"1.2.3.4"});
    CHECK(cfg.upstream_nameservers == std::vector<std::string>{"8.8.8.8", "8.8.4.4"});
}

TEST_CASE("configmap: directory reading as kubelet mounts it", "[nodecache][configmap]") {
    TempDir d;
    // Kubernetes layout: ..<timestamp>/key, ..data -> ..<timestamp>, key -> ..data/key
    fs::create_directory(d.path / "..2026_01_01");
    std::ofstream(d.path / "..2026_01_01" / "stubDomains") << "{\"x.local\": [\"10.0.0.1\"]}\n";
    fs::create_directory_symlink("..2026_01_01", d.path / "..data");
    fs::create_symlink("..data/stubDomains", d.path / "stubDomains");
    fs::create_directory(d.path / "subdir");
    d.write(".hidden", "ignored");
    auto files = read_config_dir(d.path.string());
    REQUIRE(files.size() == 1);
    CHECK(files.at("stubDomains") == "{\"x.local\": [\"10.0.0.1\"]}\n");

    d.write("bad", std::string("\xff\xfe", 2));
    CHECK_THROWS_WITH(read_config_dir(d.path.string()), "non-utf8 data in " + (d.path / "bad").string());
    CHECK_THROWS_WITH(read_config_dir((d.path / "stubDomains").string()),
                      "config path \"" + (d.path / "stubDomains").string() + "\" is not a directory");
}

TEST_CASE("configmap: content version", "[nodecache][configmap]") {
    CHECK(content_version({}) == "");
    // sha256("a\0x\0") computed independently (printf 'a\0x\0' | sha256sum).
    CHECK(content_version({{"a", "x"}}) == "9702daf1994748818090bc1579c00984a67885e04aea8046fb1f1c5826564acb");
    CHECK(content_version({{"a", "x"}}) != content_version({{"a", "y"}}));
    CHECK(content_version({{"a", "x"}, {"b", ""}}) != content_version({{"a", "x"}}));
}

TEST_CASE("configmap: parsing and kube-dns validation", "[nodecache][configmap]") {
    SECTION("formats") {
        auto cfg = parse_kubedns_config({{"stubDomains", " {\"a.local\": [\"1.2.3.4\", \"5.6.7.8:5353\"],\n"
                                                         " \"a.local\": [\"9.9.9.9\"], \"b\": null}\n"},
                                         {"upstreamNameservers", "[\"[fd00::1]:53\", \"1.1.1.1\"]"},
                                         {"other", "not json"}});
        CHECK(cfg.stub_domains.at("a.local") == std::vector<std::string>{"9.9.9.9"});  // last wins
        CHECK(cfg.stub_domains.at("b").empty());
        CHECK(cfg.upstream_nameservers == std::vector<std::string>{"[fd00::1]:53", "1.1.1.1"});
        CHECK(parse_kubedns_config({{"federations", "foo=bar.example\n"}}).stub_domains.empty());
    }
    SECTION("rejections") {
        CHECK_THROWS(parse_kubedns_config({{"stubDomains", "{\"a.local\": [\"1.2.3.4\"]"}}));
        CHECK_THROWS(parse_kubedns_config({{"stubDomains", "{\"a.local\": \"1.2.3.4\"}"}}));
        CHECK_THROWS(parse_kubedns_config({{"stubDomains", "{\"A.local\": [\"1.2.3.4\"]}"}}));
        CHECK_THROWS(parse_kubedns_config({{"stubDomains", "{\"a.local.\": [\"1.2.3.4\"]}"}}));
        CHECK_THROWS(parse_kubedns_config({{"stubDomains", "{\"a.local\": [\"ns.a.local:53\"]}"}}));
        CHECK_THROWS(parse_kubedns_config({{"stubDomains", "{\"a.local\": [\"1.2.3.4:70000\"]}"}}));
        CHECK_THROWS(parse_kubedns_config({{"upstreamNameservers", "[\"1.1.1.1\",\"1.1.1.2\",\"1.1.1.3\",\"1.1.1.4\"]"}}));
        CHECK_THROWS(parse_kubedns_config({{"upstreamNameservers", "[\"dns.google\"]"}}));
        CHECK_THROWS(parse_kubedns_config({{"upstreamNameservers", "[\"1.1.1.1:0\"]"}}));
        CHECK_THROWS(parse_kubedns_config({{"federations", "nonsense"}}));
    }
    SECTION("host names pass kube-dns validation (they fail later, at Corefile validation)") {
        auto cfg = parse_kubedns_config({{"stubDomains", "{\"a.local\": [\"ns.a.local\"]}"}});
        CHECK(cfg.stub_domains.at("a.local") == std::vector<std::string>{"ns.a.local"});
    }
}

TEST_CASE("configmap: DirWatcher reports changes by content", "[nodecache][configmap]") {
    TempDir d;
    DirWatcher w(d.path.string());
    auto first = w.poll();
    REQUIRE(first.has_value());  // the first poll always reports
    CHECK(first->empty());
    CHECK_FALSE(w.poll().has_value());
    d.write("stubDomains", "{}");
    auto second = w.poll();
    REQUIRE(second.has_value());
    CHECK(second->count("stubDomains") == 1);
    CHECK_FALSE(w.poll().has_value());
    d.write("stubDomains", "{}");  // same content, new mtime: no change
    CHECK_FALSE(w.poll().has_value());
}

TEST_CASE("utf8 and DNS-1123 helpers", "[nodecache][configmap]") {
    CHECK(is_valid_utf8("plain"));
    CHECK(is_valid_utf8("\xc3\xa9"));
    CHECK_FALSE(is_valid_utf8("\xc3"));
    CHECK_FALSE(is_valid_utf8("\xc0\xaf"));      // overlong
    CHECK_FALSE(is_valid_utf8("\xed\xa0\x80"));  // surrogate
    CHECK(is_dns1123_subdomain("a-b.c0"));
    CHECK_FALSE(is_dns1123_subdomain("-a"));
    CHECK_FALSE(is_dns1123_subdomain("a..b"));
    CHECK_FALSE(is_dns1123_subdomain(std::string(254, 'a')));
}
