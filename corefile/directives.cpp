#include "corefile/directives.hpp"

namespace dnscore::plugins {
// Each plugin folder defines its setup function (plugins/NAME/setup.cpp or NAME.cpp).
void setup_bind(corefile::SetupContext&);
void setup_cache(corefile::SetupContext&);
void setup_errors(corefile::SetupContext&);
void setup_health(corefile::SetupContext&);
void setup_forward(corefile::SetupContext&);
void setup_log(corefile::SetupContext&);
void setup_loop(corefile::SetupContext&);
void setup_prometheus(corefile::SetupContext&);
void setup_ready(corefile::SetupContext&);
void setup_reload(corefile::SetupContext&);
void setup_whoami(corefile::SetupContext&);
}  // namespace dnscore::plugins

namespace dnscore::corefile {

namespace {
// CoreDNS 1.12 plugin.cfg, in order (cache before rewrite, as in 1.11-1.13):
//   root metadata geoip cancel tls timeouts multisocket reload nsid bufsize
//   bind debug trace ready health pprof prometheus errors log dnstap local
//   dns64 acl any chaos loadbalance tsig cache rewrite header dnssec autopath
//   minimal template transfer hosts route53 azure clouddns k8s_external
//   kubernetes file auto secondary etcd loop forward grpc erratic whoami on
//   sign view
// Only the directives dnscore implements appear below, in that order. A
// plugin folder missing from this table is caught by directives_test.
constexpr Directive kDirectives[] = {
    {"reload", plugins::setup_reload},
    {"bind", plugins::setup_bind},
    {"ready", plugins::setup_ready},
    {"health", plugins::setup_health},
    {"prometheus", plugins::setup_prometheus},
    {"errors", plugins::setup_errors},
    {"log", plugins::setup_log},
    {"cache", plugins::setup_cache},
    {"loop", plugins::setup_loop},
    {"forward", plugins::setup_forward},
    {"whoami", plugins::setup_whoami},
};
}  // namespace

std::span<const Directive> directives() { return kDirectives; }

std::vector<std::string> directive_names() {
    std::vector<std::string> out;
    for (const auto& d : kDirectives) out.emplace_back(d.name);
    return out;
}

}  // namespace dnscore::corefile
