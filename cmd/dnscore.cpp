// dnscore: CoreDNS's command line.
#include <algorithm>
#include <iostream>

#include "cmd/cache_state.hpp"
#include "corefile/directives.hpp"
#include "corefile/loader.hpp"
#include "server/cli.hpp"
#include "server/flags.hpp"
#include "server/runtime.hpp"
#include "server/supervisor.hpp"

int main(int argc, char** argv) {
    dnscore::RuntimeOptions opts;
    dnscore::CoreFlags cf;
    dnscore::FlagSet flags("dnscore");
    dnscore::register_core_flags(flags, opts, cf);
    if (!flags.parse(argc, argv)) return flags.help_requested() ? 0 : 2;
    if (cf.supervise && !dnscore::supervisor::is_child()) return dnscore::supervisor::run(argc, argv);
    opts.state = dnscore::cache_state_hooks();
    return dnscore::run_core(flags, opts, cf);
}
