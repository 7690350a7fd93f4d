#include "server/cli.hpp"

#include <algorithm>
#include <iostream>

#include "corefile/directives.hpp"
#include "corefile/loader.hpp"

namespace dnscore {

void register_core_flags(FlagSet& flags, RuntimeOptions& opts, CoreFlags& cf) {
    flags.add_string("conf", &opts.conf_flag, "Corefile to load (default \"Corefile\")");
    flags.add_string("dns.port", &opts.dns_port, "Default port");
    flags.add_string("p", &opts.dns_port, "Default port");
    flags.add_string("pidfile", &opts.pidfile, "Path to write pid file");
    flags.add_bool("plugins", &cf.plugins, "List installed plugins");
    flags.add_bool("quiet", &opts.quiet, "Quiet mode (no initialization output)");
    flags.add_bool("version", &cf.version, "Show version");
    flags.add_string("cache-snapshot", &opts.state_file,
                     "Write the cache to this file at a graceful stop and load it at start (warm start)");
    flags.add_string("handover-socket", &opts.handover_socket,
                     "Unix socket for upgrade handover: a new process started with the same path takes over "
                     "the cache and the service from the running one");
    flags.add_bool("supervise", &cf.supervise,
                   "Run the server as a child of a small supervisor that holds its listening sockets and "
                   "restarts it at once when it is killed (crash-only serving)");
    flags.add_string("memlimit", &opts.memlimit,
                     "Byte budget of the process (e.g. 64MiB; default GOMEMLIMIT, else 75% of the cgroup memory "
                     "limit); caches evict to stay within 40% of it");
    flags.add_bool("validate", &cf.validate,
                   "Check the Corefile (parse and set up every plugin, open no socket) and exit");
}

std::string plugins_listing() {
    auto names = corefile::directive_names();
    std::sort(names.begin(), names.end());
    std::string out = "Server types:\n  dns\n\nCaddyfile loaders:\n  flag\n  default\n\nOther plugins:\n";
    for (const auto& n : names) out += "  dns." + n + "\n";
    out += "  on\n";
    return out;
}

int validate_corefile(const RuntimeOptions& opts) {
    try {
        auto src = corefile::read_corefile(opts.conf_flag, opts.dns_port);
        corefile::LoadOptions lo;
        lo.dns_port = opts.dns_port;
        lo.validate_only = true;
        lo.load_transport_modules = true;  // a missing module fails a start too
        corefile::load(src.text, src.file, lo);
    } catch (const std::exception& e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
    return 0;
}

int run_core(const FlagSet& flags, RuntimeOptions& opts, const CoreFlags& cf) {
    if (!flags.args().empty()) {
        std::string list;
        for (const auto& a : flags.args()) list += (list.empty() ? "" : " ") + a;
        std::cerr << "extra command line arguments: [" << list << "]\n";
        return 1;
    }
    if (cf.version) {
        std::cout << "dnscore-" DNSCORE_VERSION " (CoreDNS-1.12 compatible)\nlinux/amd64, g++ "
                  << __GNUC__ << "." << __GNUC_MINOR__ << "\n";
        return 0;
    }
    if (cf.plugins) {
        std::cout << plugins_listing();
        return 0;
    }
    if (cf.validate) return validate_corefile(opts);
    Runtime rt(opts);
    return rt.run();
}

}  // namespace dnscore
