// prometheus [ADDRESS] { runtime_metrics }: one /metrics listener per distinct
// address across all blocks (blocks naming the same address share it).
#include <boost/asio/post.hpp>
#include <memory>

#include "corefile/setup.hpp"
#include "plugins/prometheus/prometheus.hpp"
#include "core/dns_metrics.hpp"
#include "core/http.hpp"
#include "core/net.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/host.hpp"

namespace dnscore::plugins {

namespace {

struct MetricsEndpoint {
    std::string address;
    http::Handle handle;
    bool final = false;  // process exit: keep serving through health's lameduck
};

}  // namespace

void setup_prometheus(corefile::SetupContext& c) {
    std::string address = "localhost:9153";
    int seen = 0;
    while (c.d.next()) {
        if (seen++ > 0) throw corefile::SetupContext::once_error();
        auto args = c.d.remaining_args();
        if (args.size() > 1) throw c.d.arg_err();
        if (args.size() == 1) {
            address = args[0];
            std::string host, port;
            net::split_host_port_or_throw(address, host, port);  // Go's "address X: missing port in address"
        }
        while (c.d.next_block()) {
            if (c.d.val() == "runtime_metrics") {
                // Go runtime/metrics have no C++ counterpart; accepted and ignored.
                if (c.d.next_arg()) throw c.d.arg_err();
            } else if (c.d.val() == "tls") {
                throw c.d.err("tls is not supported by dnscore's prometheus plugin");
            } else {
                throw c.d.err("unknown option: " + c.d.val());
            }
        }
    }
    c.add_plugin(std::make_shared<Prometheus>(c.block.zones));
    if (c.opts.validate_only) return;

    auto ep = std::make_shared<MetricsEndpoint>();
    ep->address = address;
    c.set.on_startup.push_back([ep](Host& rt) {
        if (auto cfg = rt.config()) metrics::dns::mark_enabled(*cfg);
        ep->final = false;
        ep->handle = http::serve(rt.control(), ep->address, "/metrics", [] {
            return http::Response{200, metrics::kTextContentType, metrics::Registry::global().render_text()};
        });
        // Port 0 (tests only): say where the listener went.
        std::string host, port;
        net::split_host_port_or_throw(ep->address, host, port);
        if (port == "0")
            log::PluginLog{"prometheus"}.info("Serving /metrics on {}", http::bound_address(ep->address));
    });
    c.set.on_shutdown.push_back([ep](Host& rt) {
        // Released after the next configuration's on_startup registered its
        // paths, so a listener both configurations name stays open.
        boost::asio::post(rt.control(), [ep] {
            if (!ep->final) ep->handle.reset();
        });
    });
    c.set.on_final_shutdown.push_back([ep](Host&) { ep->final = true; });
}

}  // namespace dnscore::plugins
