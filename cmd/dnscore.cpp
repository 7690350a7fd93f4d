// dnscore: CoreDNS's command line.
#include <algorithm>
#include <iostream>

#include "corefile/directives.hpp"
#include "corefile/loader.hpp"
#include "server/cli.hpp"
#include "server/flags.hpp"
#include "server/grpc.hpp"
#include "server/runtime.hpp"

int main(int argc, char** argv) {
    dnscore::enable_grpc();  // grpc:// listeners (node-cache leaves gRPC out)
    dnscore::RuntimeOptions opts;
    dnscore::CoreFlags cf;
    dnscore::FlagSet flags("dnscore");
    dnscore::register_core_flags(flags, opts, cf);
    if (!flags.parse(argc, argv)) return flags.help_requested() ? 0 : 2;
    return dnscore::run_core(flags, opts, cf);
}
