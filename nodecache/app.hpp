#pragma once
// node-cache's CacheApp around the Runtime: renders the Corefile, keeps it in
// sync with Corefile.base and the kube-dns ConfigMap, owns the dummy
// interface and the iptables rules, serves coredns_nodecache_setup_errors_total.
#include <array>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "nodecache/configmap.hpp"
#include "nodecache/iptables.hpp"
#include "nodecache/nftables.hpp"
#include "nodecache/options.hpp"
#include "nodecache/render.hpp"
#include "core/metrics_vec.hpp"
#include "server/runtime.hpp"

#include <boost/asio/steady_timer.hpp>

namespace dnscore::nodecache {

// Go's default logger as node-cache uses it before CoreDNS starts: stderr,
// "2006/01/02 15:04:05 [LEVEL] msg".
void log_before_serving(const char* level, const std::string& msg);

// errortype label values, in node-cache's order.
enum class SetupError { configmap, interface_add, interface_check, iptables, iptables_lock };

class CacheApp {
public:
    CacheApp(Params params, Runtime& rt);
    ~CacheApp();

    // Before the Runtime runs (main thread = the future control thread).
    void start_metrics_server();            // -metrics-listen-address
    void initial_render();                  // empty config, then the kube-dns directory
    void ensure_interface();                // interface only: no rules before serving

    // Process hooks (control thread).
    void on_serving();                      // rules in, periodic checks, config sync
    void on_closing();                      // rules and interface out (unless -skipteardown)
    // A successor process serves now (-handover-socket): the closing
    // teardown leaves the rules and the interface in place.
    void keep_networking_for_successor();
    // After Runtime::run() returned: the teardown when no hook ran it
    // (Corefile error at start).
    void after_run(int exit_code);

    uint64_t setup_errors(SetupError e) const { return setup_errors_.value({int(e)}); }

    // Logging: wrapper lines go to stderr with Go's timestamp until the
    // server runs, then to stdout without (as node-cache's log switch).
    void info(const std::string& msg) const;
    void warning(const std::string& msg) const;
    void error(const std::string& msg) const;

private:
    void count(SetupError e) { setup_errors_.inc_any({int(e)}); }
    void log_line(const char* level, const std::string& msg) const;
    // Renders with `config_` and writes -conf when the text changed; true
    // when it wrote. Logs and counts failures.
    bool render_and_write();
    void sync_configs();                    // one tick of the two watchers
    void schedule_sync();
    void setup_networking(bool with_iptables);
    void network_loop();
    void teardown();

    Params params_;
    Runtime& rt_;
    std::optional<std::string> cluster_dns_;
    KubeDnsConfig config_;
    std::optional<DirWatcher> kubedns_watcher_;
    DirWatcher base_watcher_;
    std::string written_;                   // what we last wrote to -conf
    std::vector<Rule> rules_;
    std::unique_ptr<Iptables> iptables_;
    std::unique_ptr<NftTable> nft_;  // -nftables: instead of iptables_
    // node-cache's setupErrCount: every errortype present from the start.
    metrics::LabelSet error_types_{
        {"errortype"}, 0, {"configmap", "interface_add", "interface_check", "iptables", "iptables_lock"}};
    metrics::CounterVec setup_errors_{"coredns_nodecache_setup_errors_total",
                                      "The number of errors during periodic network setup for node-cache",
                                      {},
                                      {&error_types_}};
    // promhttp.Handler(), which node-cache serves on -metrics-listen-address,
    // registers these in the default registry: both ports show them.
    metrics::LabelSet promhttp_codes_{{"code"}, 0, {"200", "500", "503"}};
    metrics::CounterVec promhttp_requests_{"promhttp_metric_handler_requests_total",
                                           "Total number of scrapes by HTTP status code.",
                                           {},
                                           {&promhttp_codes_}};
    metrics::GaugeVec promhttp_in_flight_{"promhttp_metric_handler_requests_in_flight",
                                          "Current number of scrapes being served."};
    int scrapes_in_flight_ = 0;  // control thread
    uint64_t collector_ = 0;
    std::shared_ptr<void> metrics_handle_;
    std::unique_ptr<boost::asio::steady_timer> sync_timer_;
    std::atomic<bool> serving_{false};

    std::thread network_thread_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_network_ = false;
    std::once_flag teardown_once_;
    std::atomic<bool> successor_{false};
};

}  // namespace dnscore::nodecache
