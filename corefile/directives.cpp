#include "corefile/directives.hpp"

// THE table: one line per plugin, in CoreDNS 1.12's plugin.cfg order
// (cache before rewrite, as in 1.11-1.13):
//   root metadata geoip cancel tls timeouts multisocket reload nsid bufsize
//   bind debug trace ready health pprof prometheus errors log dnstap local
//   dns64 acl any chaos loadbalance tsig cache rewrite header dnssec autopath
//   minimal template transfer hosts route53 azure clouddns k8s_external
//   kubernetes file auto secondary etcd loop forward grpc erratic whoami on
//   sign view
// Only the directives dnscore implements appear, in that order; each folder
// plugins/NAME defines `void setup_NAME(corefile::SetupContext&)`. A plugin
// folder missing here is caught by the readme test.
#define DNSCORE_DIRECTIVES(X) \
    X(metadata)               \
    X(tls)                    \
    X(timeouts)               \
    X(reload)                 \
    X(bufsize)                \
    X(bind)                   \
    X(debug)                  \
    X(trace)                  \
    X(ready)                  \
    X(health)                 \
    X(pprof)                  \
    X(prometheus)             \
    X(errors)                 \
    X(log)                    \
    X(dnstap)                 \
    X(dns64)                  \
    X(any)                    \
    X(loadbalance)            \
    X(cache)                  \
    X(rewrite)                \
    X(template)               \
    X(hosts)                  \
    X(loop)                   \
    X(forward)                \
    X(whoami)

namespace dnscore::plugins {
#define DNSCORE_DECLARE_SETUP(name) void setup_##name(corefile::SetupContext&);
DNSCORE_DIRECTIVES(DNSCORE_DECLARE_SETUP)
}  // namespace dnscore::plugins

namespace dnscore::corefile {

namespace {
#define DNSCORE_DIRECTIVE_ENTRY(name) {#name, plugins::setup_##name},
constexpr Directive kDirectives[] = {DNSCORE_DIRECTIVES(DNSCORE_DIRECTIVE_ENTRY)};
}  // namespace

std::span<const Directive> directives() { return kDirectives; }

std::vector<std::string> directive_names() {
    std::vector<std::string> out;
    for (const auto& d : kDirectives) out.emplace_back(d.name);
    return out;
}

}  // namespace dnscore::corefile
