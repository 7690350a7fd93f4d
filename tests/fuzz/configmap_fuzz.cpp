// node-cache's kube-dns ConfigMap (nodecache/configmap.cpp): files of the
// mounted ConfigMap parsed and validated as kube-dns does (stubDomains and
// upstreamNameservers JSON, federations), the content version, and when
// valid the Corefile rendered from node-cache's Corefile.base and loaded as
// `-validate` would (a bad one must fail cleanly; the old config serves).
// Input: records of [key byte][u16 length][content].
#include <exception>
#include <string>

#include "corefile/loader.hpp"
#include "nodecache/configmap.hpp"
#include "nodecache/render.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using namespace dnscore;

namespace {
// The upstream node-cache Corefile.base's two kinds of block (cluster
// domain, everything else), with its __PILLAR__ tokens.
constexpr const char* kBase = R"(__PILLAR__DNS__DOMAIN__:53 {
    errors
    cache {
            success 9984 30
            denial 9984 5
    }
    reload
    loop
    bind __PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__
    forward . __PILLAR__CLUSTER__DNS__ {
            force_tcp
    }
    prometheus :9253
    health __PILLAR__LOCAL__DNS__:8080
    }
.:53 {
    errors
    cache 30
    reload
    loop
    bind __PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__
    forward . __PILLAR__UPSTREAM__SERVERS__
    prometheus :9253
    }
)";
const char* const kKeys[] = {"stubDomains", "upstreamNameservers", "federations", "other", "..data"};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 65536) return 0;
    fuzz::Input in(data, size);
    nodecache::FileMap files;
    while (!in.empty()) {
        const uint8_t k = in.u8();
        files[kKeys[k % std::size(kKeys)]] = std::string(fuzz::as_text(in.part()));
    }
    const std::string version = nodecache::content_version(files);
    FUZZ_CHECK(files.empty() ? version.empty() : version.size() == 64);
    for (const auto& [name, content] : files) (void)nodecache::is_valid_utf8(content);
    nodecache::KubeDnsConfig cfg;
    try {
        cfg = nodecache::parse_kubedns_config(files);
    } catch (const std::invalid_argument&) {
        return 0;
    }
    for (const auto& [domain, servers] : cfg.stub_domains) (void)nodecache::is_dns1123_subdomain(domain);
    nodecache::RenderInput ri;
    ri.base = kBase;
    ri.config = cfg;
    ri.local_ips_spaced = "169.254.20.10 10.96.0.10";
    ri.cluster_dns = "10.96.0.11";
    nodecache::Rendered r;
    try {
        r = nodecache::render(ri);
    } catch (const std::invalid_argument&) {
        return 0;
    }
    corefile::LoadOptions lo;
    lo.validate_only = true;
    try {
        corefile::load(r.text, "Corefile", lo);
    } catch (const std::exception&) {
    }
    return 0;
}
