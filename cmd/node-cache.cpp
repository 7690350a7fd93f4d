// node-cache: a drop-in for the k8s-dns-node-cache image (NodeLocal
// DNSCache). node-cache's flags plus CoreDNS's, one flag set as in Go.
#include <iostream>

#include "cmd/cache_state.hpp"
#include "corefile/loader.hpp"
#include "nodecache/app.hpp"
#include "nodecache/options.hpp"
#include "server/cli.hpp"
#include "server/flags.hpp"
#include "server/runtime.hpp"
#include "server/supervisor.hpp"

int main(int argc, char** argv) {
    dnscore::RuntimeOptions opts;
    dnscore::CoreFlags core_flags;
    dnscore::nodecache::Flags nc_flags;
    dnscore::FlagSet flags(argv[0]);
    flags.set_description("Runs CoreDNS v1.12.2 as a nodelocal cache listening on the specified ip:port\n\n");
    dnscore::register_core_flags(flags, opts, core_flags);
    dnscore::nodecache::register_flags(flags, nc_flags);
    if (!flags.parse(argc, argv)) return flags.help_requested() ? 0 : 2;
    if (core_flags.supervise && !dnscore::supervisor::is_child()) return dnscore::supervisor::run(argc, argv);
    opts.state = dnscore::cache_state_hooks();

    using dnscore::nodecache::log_before_serving;
    log_before_serving("INFO", "Starting node-cache image: dnscore-" DNSCORE_VERSION " (node-cache 1.26.5 compatible)");
    dnscore::nodecache::Params params;
    try {
        params = dnscore::nodecache::validate(nc_flags, opts);
    } catch (const std::exception& e) {
        log_before_serving("FATAL", std::string("Error parsing flags - ") + e.what() + ", Exiting");
        return 1;
    }
    log_before_serving("INFO", "Using Corefile " + params.corefile);
    log_before_serving("INFO", "Using Pidfile " + opts.pidfile);

    // node-cache creates the interface before CoreDNS rejects extra arguments
    // or handles -version/-plugins (and leaves it behind); we touch nothing.
    if (!flags.args().empty() || core_flags.version || core_flags.plugins)
        return dnscore::run_core(flags, opts, core_flags);

    // The app's networking follows the server's life: rules in once the
    // listeners are open, out before they close (also on fatal exits).
    dnscore::nodecache::CacheApp* app_ptr = nullptr;
    opts.on_first_startup = [&app_ptr](dnscore::Host&) { app_ptr->on_serving(); };
    opts.on_final_shutdown = [&app_ptr](dnscore::Host&) { app_ptr->on_closing(); };
    // A successor took over (-handover-socket): it needs the interface and
    // the rules, so this process leaves them in place.
    opts.on_handed_over = [&app_ptr](dnscore::Host&) { app_ptr->keep_networking_for_successor(); };
    dnscore::Runtime rt(opts);
    dnscore::nodecache::CacheApp app(params, rt);
    app_ptr = &app;
    app.start_metrics_server();
    app.initial_render();
    if (core_flags.validate) return dnscore::validate_corefile(opts);
    app.ensure_interface();  // rules only once the listeners are open
    const int status = rt.run();
    app.after_run(status);  // e.g. a bad Corefile at start: take old rules out (fail open)
    return status;
}
