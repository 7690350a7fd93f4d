#pragma once
// The running process: the control thread (signals, reload, HTTP endpoints),
// the workers, and the current configuration.
#include <atomic>
#include <chrono>
#include <functional>
#include <boost/asio/io_context.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "corefile/loader.hpp"
#include "core/config.hpp"
#include "server/handover.hpp"
#include "server/worker.hpp"

namespace dnscore {

struct RuntimeOptions {
    std::string conf_flag;      // -conf ("" = ./Corefile or the default)
    std::string dns_port = "53";
    std::string pidfile;
    bool quiet = false;
    unsigned workers = 0;       // 0 = hardware threads
    // Open TCP connections at most (all listeners, split evenly between the
    // workers); past it a new connection is closed at once and counted in
    // dnscore_tcp_connections_dropped_total{reason="limit"}.
    size_t tcp_max_connections = 10000;
    // -memlimit: the process's byte budget (core/memory_budget.hpp); "" =
    // GOMEMLIMIT, else 75 % of the cgroup's memory limit, else none.
    std::string memlimit;
    // An embedding program's own lifecycle (node-cache's interface and
    // iptables rules): after the first configuration's listeners opened
    // (after its plugins' first-startup hooks), and at a graceful stop or a
    // fatal exit (after the plugins' final-shutdown hooks, before the
    // listeners close). Not run when no configuration ever loaded.
    Hook on_first_startup;
    Hook on_final_shutdown;
    // Beyond CoreDNS (server/handover.hpp, docs/operations.md): the state a
    // process carries over (the cache snapshot), the file it is kept in
    // across a restart (-cache-snapshot), the unix socket of the upgrade
    // handover (-handover-socket), and what the embedding program does when
    // a successor took over (instead of on_final_shutdown: node-cache keeps
    // its interface and rules).
    StateHooks state;
    std::string state_file;
    std::string handover_socket;
    Hook on_handed_over;
};

class Runtime final : public Host {
public:
    explicit Runtime(RuntimeOptions opts);
    ~Runtime();

    // Loads the Corefile, opens the listeners, runs until stopped. Returns the
    // exit status. Configuration errors are printed to stderr (status 1).
    int run();

    // ---- Host ----
    boost::asio::io_context& control() override { return control_; }
    void post_to_workers(std::function<void(int worker)> fn) override;
    const std::string& conf_flag() const override { return opts_.conf_flag; }
    const std::string& dns_port() const override { return opts_.dns_port; }

    const RuntimeOptions& options() const { return opts_; }
    std::shared_ptr<const ServerSet> config() const override;
    size_t worker_count() const { return workers_.size(); }
    Worker& worker(size_t i) { return *workers_[i]; }

    // Thread-safe: begin a graceful stop with this exit status.
    void stop(int exit_code);
    // Control thread: re-read the Corefile and switch to it. On failure keeps
    // the old configuration, returns false and sets *error to what CoreDNS's
    // reload plugin prints after "Corefile changed but reload failed: ".
    bool reload(std::string* error = nullptr);
    // Control thread: switch to this Corefile content (what the reload plugin
    // read and hashed). Same logging and failure behaviour as reload().
    bool reload(ConfigSource src, std::string* error) override;
    // Called on the control thread after every SIGUSR1-triggered reload
    // attempt with the content tried (the reload plugin keeps its checksum
    // in step). One observer, process-wide; empty = none.
    void set_reload_observer(ReloadObserver obs) override { reload_observer_ = std::move(obs); }
    // Control thread: switch to an already-loaded configuration.
    void apply(std::shared_ptr<ServerSet> next);

    // Thread-safe: exit the process now with `code` (CoreDNS log.Fatal), after
    // the current configuration's on_final_shutdown hooks ran on the control
    // thread (bounded: the process exits within ~2 s whatever they do). The
    // caller has logged the reason. Does not return.
    [[noreturn]] void fatal_exit(int code) override;

    // Shutdown hooks (health lameduck) ask to keep serving this long.
    void add_shutdown_delay(std::chrono::milliseconds d) override;

    // The port a listener really got (differs from the configured one for 0).
    std::string bound_port(const std::string& label) const override;

    // Source text of the configuration currently served (for reload checks).
    const ConfigSource& source() const override { return source_; }

private:
    void open_listeners(const ServerSet& set);
    void print_banner(const ServerSet& set) const;
    void run_hooks(const std::vector<Hook>& hooks);
    void run_final_shutdown(const ServerSet& cfg);
    bool do_reload(corefile::CorefileSource src, std::string* error, bool from_signal);
    void reload_on_signal();
    void shutdown();
    // Control thread, once serving: handover from a predecessor, else the
    // state file; then listen for a successor.
    void restore_state();
    void save_state_file();
    // Control thread: a successor serves; stop reading, drain, exit.
    void drain_for_successor(std::shared_ptr<const ServerSet> cfg);
    // Supervised (-supervise): hands the supervisor the listening sockets.
    void publish_listeners();

    RuntimeOptions opts_;
    Loop control_{1};
    std::vector<std::unique_ptr<Worker>> workers_;
    std::shared_ptr<ServerSet> config_;
    mutable std::mutex config_mu_;
    corefile::CorefileSource source_;
    std::map<std::string, std::string> bound_ports_;  // label -> port
    std::atomic<int> exit_code_{0};
    std::atomic<bool> stopping_{false};
    std::chrono::milliseconds shutdown_delay_{0};
    ReloadObserver reload_observer_;
    std::unique_ptr<Handover> handover_;
};

}  // namespace dnscore
