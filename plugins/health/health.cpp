#include "plugins/health/health.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "parser/gostd.hpp"
#include "core/http.hpp"
#include "core/net.hpp"
#include "core/log.hpp"
#include "plugins/health/metrics.hpp"
#include "core/host.hpp"

namespace dnscore::plugins {

namespace {

const log::PluginLog kLog{"health"};
constexpr auto kCheckEvery = std::chrono::seconds(1);
constexpr auto kCheckTimeout = std::chrono::seconds(3);

struct HealthState : std::enable_shared_from_this<HealthState> {
    HealthConfig cfg;
    http::Handle handle;
    std::unique_ptr<boost::asio::steady_timer> timer;
    bool final = false;  // process exit: serve through the lameduck window
    boost::asio::io_context* io = nullptr;

    void start(Host& rt) {
        final = false;
        io = &rt.control();
        handle = http::serve(rt.control(), cfg.address, "/health",
                             [] { return http::Response{200, "text/plain; charset=utf-8", "OK"}; });
        std::string host, port;
        net::split_host_port_or_throw(cfg.address, host, port);
        if (port == "0") kLog.info("Serving /health on {}", http::bound_address(cfg.address));
        timer = std::make_unique<boost::asio::steady_timer>(rt.control());
        schedule();
    }

    void stop() {
        if (timer) timer->cancel();
        timer.reset();
        handle.reset();
    }

    void schedule() {
        if (!timer) return;
        timer->expires_after(kCheckEvery);
        timer->async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
            if (!ec) self->check();
        });
    }

    // One self-check: GET our own /health (host "localhost" when empty).
    void check() {
        std::string host, port;
        net::split_host_port_or_throw(cfg.address, host, port);
        if (port == "0") {
            std::string bh;
            net::split_host_port_or_throw(http::bound_address(cfg.address), bh, port);
        }
        if (host.empty()) host = "localhost";
        const std::string url = "http://" + net::join_host_port(host, port) + "/health";
        const auto start = std::chrono::steady_clock::now();
        http::async_get(*io, host, port, "/health", kCheckTimeout,
                        [self = shared_from_this(), url, start](const http::GetResult& r) {
                            const auto took = std::chrono::steady_clock::now() - start;
                            const double seconds = std::chrono::duration<double>(took).count();
                            health_metrics::request_duration().observe_any(seconds);
                            std::string err = r.error;
                            if (err.empty() && r.status != 200) err = "status " + std::to_string(r.status);
                            if (!err.empty()) {
                                health_metrics::request_failures().inc_any();
                                kLog.warning("Local health request to {} failed: Get {}: {}", gostd::quote(url),
                                             gostd::quote(url), err);
                            } else if (took > kCheckEvery) {
                                kLog.warning("Local health request to {} took more than 1s: {}", gostd::quote(url),
                                             gostd::format_duration(std::chrono::duration_cast<gostd::Duration>(took)));
                            }
                            self->schedule();
                        });
    }
};

}  // namespace

HealthConfig parse_health(parser::Dispenser& d) {
    HealthConfig cfg;
    while (d.next()) {
        cfg = HealthConfig{};  // several `health` lines: the last one wins
        auto args = d.remaining_args();
        if (args.size() > 1) throw d.arg_err();
        if (args.size() == 1) {
            cfg.address = args[0];
            std::string host, port;
            net::split_host_port_or_throw(cfg.address, host, port);
        }
        while (d.next_block()) {
            if (d.val() == "lameduck") {
                if (!d.next_arg()) throw d.arg_err();
                const std::string v = d.val();
                try {
                    cfg.lameduck = gostd::parse_duration(v);
                } catch (const std::invalid_argument& e) {
                    throw d.err("unable to parse lameduck duration value: '" + v + "' : " + e.what());
                }
                if (d.next_arg()) throw d.arg_err();
            } else {
                throw d.err("unknown property '" + d.val() + "'");
            }
        }
    }
    return cfg;
}

void setup_health(corefile::SetupContext& c) {
    auto st = std::make_shared<HealthState>();
    st->cfg = parse_health(c.d);
    if (c.opts.validate_only) return;
    c.set.on_startup.push_back([st](Host& rt) { st->start(rt); });
    c.set.on_shutdown.push_back([st](Host& rt) {
        // A reload: stop after the next configuration registered its paths
        // (a listener both name stays open). Process exit: see below.
        boost::asio::post(rt.control(), [st] {
            if (!st->final) st->stop();
        });
    });
    c.set.on_final_shutdown.push_back([st](Host& rt) {
        st->final = true;
        if (st->cfg.lameduck.count() > 0) {
            kLog.info("Going into lameduck mode for {}", gostd::format_duration(st->cfg.lameduck));
            rt.add_shutdown_delay(std::chrono::duration_cast<std::chrono::milliseconds>(st->cfg.lameduck));
        }
    });
}

}  // namespace dnscore::plugins
