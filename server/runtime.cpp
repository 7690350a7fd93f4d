#include "server/runtime.hpp"

#include <sys/resource.h>

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <future>
#include <iostream>
#include <set>
#include <thread>

#include "parser/parser.hpp"
#include "core/http.hpp"
#include "core/memory_budget.hpp"
#include "core/log.hpp"
#include "core/net.hpp"
#include "core/worker_local.hpp"
#include "server/metrics.hpp"
#include "server/supervisor.hpp"

namespace asio = boost::asio;

namespace dnscore {

Runtime::Runtime(RuntimeOptions opts) : opts_(std::move(opts)) {
    // A successor binds the same HTTP ports (health, metrics) while this
    // process still serves them.
    if (!opts_.handover_socket.empty()) http::set_reuse_port(true);
}

Runtime::~Runtime() {
    for (auto& w : workers_) w->join();
    // Plugin state may own sockets of any loop and be kept alive by a handler
    // pending on any other: drop the configuration, then every loop's
    // handlers, while all the loops still exist; then the loops.
    {
        std::lock_guard lk(config_mu_);
        config_.reset();
    }
    for (auto& w : workers_) w->destroy_pending();
    control_.destroy_pending();
    workers_.clear();
}

std::shared_ptr<const ServerSet> Runtime::config() const {
    std::lock_guard lk(config_mu_);
    return config_;
}

std::string Runtime::bound_port(const std::string& label) const {
    auto it = bound_ports_.find(label);
    return it == bound_ports_.end() ? std::string() : it->second;
}

namespace {

// One worker per CPU this process may run on: the affinity mask (taskset,
// cpusets, Kubernetes' static CPU manager), not every CPU of the host. Two
// workers sharing one CPU only add context switches.
unsigned usable_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        const int n = CPU_COUNT(&set);
        if (n > 0) return unsigned(n);
    }
    return std::max(1u, std::thread::hardware_concurrency());
}

// Go (1.19+) raises the soft limit of open files to the hard limit at start,
// so CoreDNS can hold as many connections as the hard limit allows; a C++
// process keeps the often tiny soft limit (1024) unless it does the same.
void raise_open_file_limit() {
    rlimit r{};
    if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &r);
    }
}

// CoreDNS prints listen errors as Go's net package does:
// "listen tcp 127.0.0.1:53: bind: address already in use".
std::string listen_error(const Listener& l, const std::string& proto, const std::exception& e) {
    std::string what = e.what();
    // boost: "bind: Address already in use [system:98 ...]" -> keep the OS text.
    std::string os = what;
    if (auto p = os.find(": "); p != std::string::npos) os = os.substr(p + 2);
    if (auto p = os.find(" ["); p != std::string::npos) os = os.substr(0, p);
    if (!os.empty()) os[0] = char(std::tolower(uint8_t(os[0])));
    return "listen " + proto + " " + net::join_host_port(l.host, l.port) + ": bind: " + os;
}

}  // namespace

void Runtime::open_listeners(const ServerSet& set) {
    std::vector<std::string> opened;  // labels opened by this call (rolled back on failure)
    try {
        for (const auto& l : set.listeners) {
            if (bound_ports_.count(l.label)) continue;  // already open (reload keeps it)
            std::string port = l.port;
            opened.push_back(l.label);
            for (size_t wi = 0; wi < workers_.size(); ++wi) {
                for (int attempt = 0;; ++attempt) {
                    try {
                        port = workers_[wi]->open_listener(l, port);
                        break;
                    } catch (const std::exception& e) {
                        // Port 0: the free UDP port the kernel picked may be
                        // taken for TCP; the first worker picks another.
                        if (wi == 0 && l.port == "0" && attempt < 16) continue;
                        throw parser::ConfigError(listen_error(l, "tcp", e));
                    }
                }
            }
            bound_ports_[l.label] = port;
        }
    } catch (...) {
        // A failed reload must not leave sockets bound that nobody reads
        // (a more specific bind would swallow the old listener's traffic):
        // close what this attempt opened, on every worker, after its
        // open_listener posts.
        for (const auto& label : opened) {
            bound_ports_.erase(label);
            for (auto& w : workers_)
                asio::post(w->io(), [w = w.get(), label] { w->discard_listener(label); });
        }
        throw;
    }
}

void Runtime::print_banner(const ServerSet& set) const {
    if (opts_.quiet) return;
    std::string out;
    for (const auto& l : set.listeners) {
        std::vector<std::string> zones;
        for (const auto& s : l.sites) zones.push_back(s.zone);
        std::sort(zones.begin(), zones.end());
        const std::string port = bound_port(l.label);
        // CoreDNS prints plain DNS zones bare and the others with their
        // scheme (startUpZones(transport.TLS+"://", ...)).
        const std::string scheme = l.transport == "dns" ? "" : l.transport + "://";
        for (const auto& z : zones) {
            out += scheme + z + ":" + port;
            if (!l.host.empty()) out += " on " + l.host;
            out += "\n";
        }
    }
    out += "dnscore-" DNSCORE_VERSION " (CoreDNS-1.12 compatible)\n";
    out += "linux/amd64, g++ " + std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__) + "\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
}

void Runtime::run_final_shutdown(const ServerSet& cfg) {
    run_hooks(cfg.on_final_shutdown);
    if (opts_.on_final_shutdown) run_hooks({opts_.on_final_shutdown});
}

void Runtime::post_to_workers(std::function<void(int worker)> fn) {
    for (auto& w : workers_) asio::post(w->io(), [fn, i = w->index()] { fn(i); });
}

void Runtime::run_hooks(const std::vector<Hook>& hooks) {
    for (const auto& h : hooks) {
        try {
            h(*this);
        } catch (const std::exception& e) {
            log::error("{}", e.what());
        }
    }
}

namespace {
// The `debug` plugin: CoreDNS's dnsserver.NewServer sets or clears log.D for
// every configuration it starts (on when any block has debug).
void set_debug_log(const ServerSet& set) {
    log::set_debug(std::any_of(set.blocks.begin(), set.blocks.end(), [](const auto& b) { return b->debug; }));
}
}  // namespace

void Runtime::apply(std::shared_ptr<ServerSet> next) {
    open_listeners(*next);  // throws before anything changes
    std::shared_ptr<ServerSet> old;
    {
        std::lock_guard lk(config_mu_);
        old = config_;
        config_ = next;
    }
    set_debug_log(*next);
    // Forget ports of listeners the new configuration drops (workers close them).
    std::set<std::string> labels;
    for (const auto& l : next->listeners) labels.insert(l.label);
    for (auto it = bound_ports_.begin(); it != bound_ports_.end();)
        it = labels.count(it->first) ? std::next(it) : bound_ports_.erase(it);
    // Switch the workers first and wait until they did (bounded): from then
    // on no new query enters the old configuration, so its shutdown hooks
    // (forward closing its upstream sockets) cannot fail queries that
    // arrive during the switch. Hook order stays CoreDNS's: the old
    // configuration's on_shutdown, then the new one's on_startup (HTTP
    // listeners of health/prometheus move from one to the other).
    std::shared_ptr<const ServerSet> snap = next;
    std::vector<std::future<void>> switched;
    for (auto& w : workers_) {
        auto done = std::make_shared<std::promise<void>>();
        switched.push_back(done->get_future());
        asio::post(w->io(), [w = w.get(), snap, done] {
            w->apply(snap);
            done->set_value();
        });
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (auto& f : switched) f.wait_until(deadline);
    if (old) {
        // Exchanges still running in the old configuration (a forwarded
        // query waiting for its upstream) hold it; let them finish before its
        // plugins stop (bounded: a dead upstream must not stall reloads).
        const auto drain_until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (old.use_count() > 1 && std::chrono::steady_clock::now() < drain_until)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        run_hooks(old->on_shutdown);
    }
    run_hooks(next->on_startup);
}

bool Runtime::reload(std::string* error) {
    corefile::CorefileSource src;
    try {
        src = corefile::read_corefile(opts_.conf_flag, opts_.dns_port);
    } catch (const std::exception& e) {
        if (error) *error = e.what();
        return false;
    }
    return do_reload(std::move(src), error, false);
}

bool Runtime::reload(ConfigSource src, std::string* error) {
    return do_reload(std::move(src), error, false);
}

// CoreDNS (caddy Instance.Restart): "[INFO] Reloading", then on success
// "[INFO] Reloading complete"; on failure caddy logs "[ERROR] Restart failed:
// ERR" and returns "starting with listener file descriptors: ERR", which the
// caller logs (the reload plugin, or the SIGUSR1 handler here).
bool Runtime::do_reload(corefile::CorefileSource src, std::string* error, bool from_signal) {
    log::info("Reloading");
    try {
        corefile::LoadOptions lo;
        lo.dns_port = opts_.dns_port;
        lo.load_transport_modules = true;
        auto next = corefile::load(src.text, src.file, lo);
        // The new configuration's startup hooks (reload's checksum) see the
        // source they were built from.
        auto prev = std::move(source_);
        source_ = std::move(src);
        try {
            apply(next);
        } catch (...) {
            source_ = std::move(prev);
            throw;
        }
        log::info("Reloading complete");
        publish_listeners();  // the supervisor holds exactly what is served
        return true;
    } catch (const std::exception& e) {
        const std::string returned = std::string("starting with listener file descriptors: ") + e.what();
        if (error) *error = returned;
        log::error("Restart failed: {}", e.what());
        if (from_signal) log::error("SIGUSR1: {}", returned);
        return false;
    }
}

void Runtime::reload_on_signal() {
    log::info("SIGUSR1: Reloading");
    corefile::CorefileSource src;
    try {
        src = corefile::read_corefile(opts_.conf_flag, opts_.dns_port);
    } catch (const std::exception& e) {
        log::error("SIGUSR1: loading updated Caddyfile: {}", e.what());
        return;
    }
    const bool ok = do_reload(src, nullptr, true);
    if (reload_observer_) reload_observer_(src, ok);
}

void Runtime::fatal_exit(int code) {
    static std::atomic<bool> exiting{false};
    if (!exiting.exchange(true)) {
        // Tear down (node-cache interface/iptables) on the control thread.
        asio::post(control_, [this, code] {
            if (auto cfg = config()) run_final_shutdown(*cfg);
            std::fflush(nullptr);
            std::_Exit(code);
        });
    }
    if (control_.get_executor().running_in_this_thread()) {
        if (auto cfg = config()) run_final_shutdown(*cfg);
        std::fflush(nullptr);
        std::_Exit(code);
    }
    // Whatever the control thread is doing, do not hang.
    std::this_thread::sleep_for(std::chrono::seconds(2));
    std::fflush(nullptr);
    std::_Exit(code);
}

void Runtime::stop(int exit_code) {
    if (stopping_.exchange(true)) return;
    exit_code_ = exit_code;
    asio::post(control_, [this] { shutdown(); });
}

void Runtime::add_shutdown_delay(std::chrono::milliseconds d) {
    shutdown_delay_ = std::max(shutdown_delay_, d);
}

void Runtime::restore_state() {
    bool took_over = false;
    if (!opts_.handover_socket.empty()) {
        handover_ = std::make_unique<Handover>(control_, opts_.handover_socket, opts_.state, [this] {
            if (opts_.on_handed_over) run_hooks({opts_.on_handed_over});
            stop(0);
        });
        try {
            took_over = handover_->start();
        } catch (const std::exception& e) {
            log::error("handover: {}", e.what());  // serving goes on without
        }
    }
    if (took_over || opts_.state_file.empty() || !opts_.state.load) return;
    if (::access(opts_.state_file.c_str(), F_OK) != 0) return;  // none yet: a cold start
    std::string data;
    try {
        data = read_state_file(opts_.state_file);
    } catch (const std::exception& e) {
        log::warning("cache snapshot not loaded: {}", e.what());
        return;
    }
    try {
        log::info("cache snapshot {}: {}", opts_.state_file, opts_.state.load(data));
    } catch (const std::exception& e) {
        log::warning("cache snapshot {} not loaded: {}", opts_.state_file, e.what());
    }
}

void Runtime::save_state_file() {
    if (opts_.state_file.empty() || !opts_.state.save) return;
    try {
        const std::string data = opts_.state.save();
        write_state_file(opts_.state_file, data);
        log::info("cache snapshot written to {} ({} bytes)", opts_.state_file, data.size());
    } catch (const std::exception& e) {
        log::error("cache snapshot not written: {}", e.what());
    }
}

void Runtime::drain_for_successor(std::shared_ptr<const ServerSet> cfg) {
    // No new queries from here on; the successor gets them.
    for (auto& w : workers_) {
        auto done = std::make_shared<std::promise<void>>();
        auto f = done->get_future();
        asio::post(w->io(), [w = w.get(), done] {
            w->stop_reading();
            done->set_value();
        });
        f.wait_for(std::chrono::seconds(2));
    }
    // Done when every datagram queued before the switch was read and every
    // exchange in flight (a forwarded query waiting for its upstream, which
    // holds the configuration beside this function, config_ and every
    // worker) has answered. Bounded by forward's own 5 s deadline plus a
    // margin.
    const long idle = 2 + long(workers_.size());
    auto queued = [this] {
        for (auto& w : workers_) {
            auto p = std::make_shared<std::promise<bool>>();  // outlives a timed-out wait
            auto f = p->get_future();
            asio::post(w->io(), [w = w.get(), p] { p->set_value(w->has_queued_datagrams()); });
            if (f.wait_for(std::chrono::seconds(1)) != std::future_status::ready || f.get()) return true;
        }
        return false;
    };
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(6);
    while (std::chrono::steady_clock::now() < until) {
        if ((!cfg || cfg.use_count() <= idle) && !queued()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (cfg) {
        run_hooks(cfg->on_shutdown);
        run_hooks(cfg->on_final_shutdown);  // the plugins' own; not the embedding program's teardown
    }
    for (auto& w : workers_) {
        auto done = std::make_shared<std::promise<void>>();
        auto f = done->get_future();
        asio::post(w->io(), [w = w.get(), done] {
            w->close_listeners();
            done->set_value();
        });
        f.wait_for(std::chrono::seconds(2));
    }
    control_.stop();
}

void Runtime::publish_listeners() {
    if (!supervisor::is_child()) return;
    std::vector<supervisor::ListenerFd> all;
    for (auto& w : workers_) {
        auto p = std::make_shared<std::promise<std::vector<supervisor::ListenerFd>>>();
        auto f = p->get_future();
        asio::post(w->io(), [w = w.get(), p] { p->set_value(w->listener_fds()); });
        if (f.wait_for(std::chrono::seconds(2)) != std::future_status::ready) return;  // never a partial set
        auto v = f.get();
        all.insert(all.end(), v.begin(), v.end());
    }
    supervisor::publish(all);
}

void Runtime::shutdown() {
    auto cfg = config();
    if (handover_ && handover_->handed_over()) {
        drain_for_successor(std::move(cfg));
        return;
    }
    save_state_file();
    if (cfg) {
        run_hooks(cfg->on_shutdown);
        run_final_shutdown(*cfg);
    }
    // Lameduck: keep serving for the requested time, then close.
    auto timer = std::make_shared<asio::steady_timer>(control_, shutdown_delay_);
    timer->async_wait([this, timer](const boost::system::error_code&) {
        for (auto& w : workers_) {
            std::promise<void> done;
            auto f = done.get_future();
            asio::post(w->io(), [w = w.get(), &done] {
                w->close_listeners();
                done.set_value();
            });
            f.wait_for(std::chrono::seconds(2));
        }
        control_.stop();
    });
}

int Runtime::run() {
    raise_open_file_limit();
    std::shared_ptr<ServerSet> set;
    try {
        MemoryBudget::process().configure(opts_.memlimit);
        source_ = corefile::read_corefile(opts_.conf_flag, opts_.dns_port);
        corefile::LoadOptions lo;
        lo.dns_port = opts_.dns_port;
        lo.load_transport_modules = true;
        set = corefile::load(source_.text, source_.file, lo);
        unsigned n = opts_.workers ? opts_.workers : usable_cpus();
        n = std::min(n, unsigned(kMaxWorkers));
        // With a byte budget, idle connections must fit its connections'
        // share too (core/memory_budget.hpp).
        const size_t tcp_max = MemoryBudget::process().connection_limit(opts_.tcp_max_connections);
        server::metrics::families().tcp_limit = double(tcp_max);
        const size_t tcp_per_worker = std::max<size_t>(1, (tcp_max + n - 1) / n);
        for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(*this, int(i), tcp_per_worker));
        open_listeners(*set);
    } catch (const std::exception& e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
    {
        std::lock_guard lk(config_mu_);
        config_ = set;
    }
    set_debug_log(*set);
    print_banner(*set);
    if (!opts_.pidfile.empty()) {
        std::ofstream pf(opts_.pidfile, std::ios::trunc);
        pf << ::getpid() << "\n";
        if (!pf) {
            std::cerr << "Could not write pidfile: open " << opts_.pidfile << "\n";
            return 1;
        }
    }
    std::shared_ptr<const ServerSet> snap = set;
    for (auto& w : workers_) {
        asio::post(w->io(), [w = w.get(), snap] { w->apply(snap); });
        w->start();
    }

    asio::signal_set signals(control_, SIGTERM, SIGINT, SIGUSR1);
    signals.add(SIGQUIT);
    std::function<void(const boost::system::error_code&, int)> on_signal;
    on_signal = [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGUSR1) {
            reload_on_signal();
        } else if (sig == SIGQUIT) {
            std::_Exit(0);
        } else if (sig == SIGINT && stopping_) {
            std::_Exit(2);  // a second SIGINT force-quits
        } else {
            log::info("{}: Shutting down servers then terminating", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            stop(0);
        }
        signals.async_wait(on_signal);
    };
    signals.async_wait(on_signal);

    asio::post(control_, [this, set] {
        run_hooks(set->on_first_startup);
        if (opts_.on_first_startup) run_hooks({opts_.on_first_startup});
        run_hooks(set->on_startup);
        publish_listeners();
        restore_state();
    });
    // Only config_ and the workers hold the configuration from here on (the
    // handover drain counts the references of exchanges in flight).
    snap.reset();
    set.reset();
    control_.run();
    signals.cancel();
    if (handover_) handover_->close();
    for (auto& w : workers_) w->join();
    if (!opts_.pidfile.empty()) {
        // After a handover the successor may have written its own pid there.
        std::ifstream in(opts_.pidfile);
        long pid = 0;
        if (!(in >> pid) || pid == long(::getpid())) std::remove(opts_.pidfile.c_str());
    }
    return exit_code_;
}

}  // namespace dnscore
