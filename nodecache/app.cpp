#include "nodecache/app.hpp"

#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <cstring>
#include <ctime>
#include <iostream>
#include <filesystem>
#include <fstream>

#include "nodecache/netif.hpp"
#include "core/file.hpp"
#include "core/http.hpp"
#include "core/log.hpp"
#include "plugins/reload/reload.hpp"
#include "core/metrics.hpp"

namespace dnscore::nodecache {

namespace {

constexpr auto kConfigSyncPeriod = std::chrono::seconds(10);  // node-cache's two watchers

std::string parent_dir(const std::string& path) {
    auto dir = std::filesystem::path(path).parent_path().string();
    return dir.empty() ? "." : dir;
}

}  // namespace

CacheApp::CacheApp(Params params, Runtime& rt)
    : params_(std::move(params)), rt_(rt), base_watcher_(parent_dir(params_.base_corefile)) {
    const std::string var = service_host_env(params_.upstream_svc);
    const char* value = std::getenv(var.c_str());
    if (value && parse_ip(value)) {
        cluster_dns_ = value;
    } else {
        warning("Unable to lookup IP address of Upstream service " + params_.upstream_svc + ", env $" + var + " `" +
                (value ? value : "") + "`");
    }
    if (!params_.kubedns_dir.empty()) kubedns_watcher_.emplace(params_.kubedns_dir);
    if (params_.setup_iptables && params_.nftables) {
        nft_ = std::make_unique<NftTable>(params_.local_ips, params_.local_port, params_.health_port,
                                          [](const std::vector<std::string>& argv, std::string* out) {
                                              return run_command(argv, out, std::chrono::seconds(10));
                                          });
        info(std::string("Using the nftables table ") + NftTable::kFamily + " " + NftTable::kName +
             " for the rules (-nftables)");
    } else if (params_.setup_iptables) {
        rules_ = node_cache_rules(params_.local_ips, params_.local_port, params_.health_port);
        const BackendChoice backend = choose_backend(params_.iptables_backend, [](const std::vector<std::string>& argv, std::string* out) {
            return run_command(argv, out, std::chrono::seconds(10));
        });
        info("Using " + backend.binary(params_.ipv6) + " for the rules (" + backend.reason + ")");
        iptables_ = std::make_unique<Iptables>(params_.ipv6, backend.binary(params_.ipv6));
        try {
            iptables_->probe();
        } catch (const IptablesError& e) {
            // Every rule check will fail and be counted; serving goes on.
            error(e.what());
        }
    }
}

CacheApp::~CacheApp() {
    {
        std::lock_guard lk(mu_);
        stop_network_ = true;
    }
    cv_.notify_all();
    if (network_thread_.joinable()) network_thread_.join();
    if (collector_) metrics::Registry::global().remove(collector_);
}

void CacheApp::log_line(const char* level, const std::string& msg) const {
    if (serving_)
        log::write_line(std::string("[") + level + "] " + msg);
    else
        log_before_serving(level, msg);
}

void log_before_serving(const char* level, const std::string& msg) {
    // Go's default logger before CoreDNS takes over: stderr, "2006/01/02 15:04:05 ".
    char stamp[32];
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::localtime_r(&now, &tm);
    std::strftime(stamp, sizeof stamp, "%Y/%m/%d %H:%M:%S", &tm);
    std::string line = std::string(stamp) + " [" + level + "] " + msg + "\n";
    ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
    (void)ignored;
}

void CacheApp::info(const std::string& msg) const { log_line("INFO", msg); }
void CacheApp::warning(const std::string& msg) const { log_line("WARNING", msg); }
void CacheApp::error(const std::string& msg) const { log_line("ERROR", msg); }

void CacheApp::start_metrics_server() {
    try {
        metrics_handle_ = http::serve(rt_.control(), params_.metrics_listen_address, "/metrics", [this] {
            // InstrumentMetricHandler: in flight while gathering (so this
            // scrape shows 1), counted by code once served.
            promhttp_in_flight_.set(++scrapes_in_flight_);
            http::Response r{200, metrics::kTextContentType, metrics::Registry::global().render_text()};
            promhttp_in_flight_.set(--scrapes_in_flight_);
            promhttp_requests_.inc_any({0});  // code="200"
            return r;
        });
    } catch (const std::exception& e) {
        // node-cache: logged, and the counter is then not registered at all.
        error(std::string("Failed to start metrics handler: ") + e.what());
        return;
    }
    collector_ = metrics::export_families({&setup_errors_, &promhttp_requests_, &promhttp_in_flight_});
}

bool CacheApp::render_and_write() {
    FileError read_error;
    auto base = read_file(params_.base_corefile, &read_error);
    // A file that opens but does not read (a directory) renders as empty.
    const bool ok = base || !read_error.at_open;
    RenderInput in;
    in.base = base.value_or("");
    Rendered r;
    try {
        validate_for_corefile(config_);
    } catch (const std::exception& e) {
        error(std::string("Invalid config: ") + e.what());
        count(SetupError::configmap);
        return false;
    }
    if (!ok) {
        error("Failed to read node-cache coreFile " + params_.base_corefile + " - open " + params_.base_corefile +
              ": " + std::strerror(read_error.code));
        count(SetupError::configmap);
        return false;
    }
    in.config = config_;
    in.local_ips_spaced = params_.local_ips_spaced();
    in.local_port = params_.local_port;
    in.cluster_dns = cluster_dns_;
    try {
        r = render(in);
    } catch (const std::exception& e) {
        error(std::string("Invalid config: ") + e.what());
        count(SetupError::configmap);
        return false;
    }
    for (const auto& w : r.warnings) warning(w);
    if (r.text == written_) return false;  // nothing new: no write, no reload
    {
        std::ofstream out(params_.corefile, std::ios::binary | std::ios::trunc);
        out << r.text;
        out.flush();
        if (params_.corefile.empty() || !out) {
            error("Failed to write config file " + params_.corefile + " - err open " + params_.corefile + ": " +
                  std::strerror(errno ? errno : ENOENT));
            count(SetupError::configmap);
            return false;
        }
    }
    written_ = r.text;
    info("Updated Corefile with " + std::to_string(r.stub_count) + " custom stubdomains and upstream servers " +
         r.upstream_text);
    info("Using config file:\n" + r.text);
    return true;
}

void CacheApp::initial_render() {
    render_and_write();  // empty kube-dns config: a Corefile exists whatever the ConfigMap holds
    try {
        base_watcher_.poll();  // baseline version
    } catch (const std::exception& e) {
        std::cerr << "Error loading config from " << base_watcher_.dir() << ": " << e.what() << "\n";
    }
    if (!kubedns_watcher_) {
        info("Skipping kube-dns configmap sync as no directory was specified");
        return;
    }
    try {
        if (auto files = kubedns_watcher_->poll()) {
            config_ = parse_kubedns_config(*files);
            render_and_write();
        }
    } catch (const std::exception& e) {
        // node-cache then never watches the directory again; we keep polling.
        std::cerr << "Error loading config from " << params_.kubedns_dir << ": " << e.what() << "\n";
    }
}

void CacheApp::sync_configs() {
    bool changed = false;
    if (kubedns_watcher_) {
        try {
            if (auto files = kubedns_watcher_->poll()) {
                try {
                    config_ = parse_kubedns_config(*files);
                    changed = true;
                } catch (const std::exception& e) {
                    // The version is remembered: this content is not retried (as kube-dns).
                    std::cerr << "Invalid configuration in " << params_.kubedns_dir << ", ignoring update: " << e.what()
                              << "\n";
                }
            }
        } catch (const std::exception& e) {
            std::cerr << "Error loading config from " << params_.kubedns_dir << ": " << e.what() << "\n";
        }
    }
    try {
        if (base_watcher_.poll()) changed = true;
    } catch (const std::exception& e) {
        std::cerr << "Error loading config from " << base_watcher_.dir() << ": " << e.what() << "\n";
    }
    if (!changed || !render_and_write()) return;
    if (params_.reload_with_signal) {
        info("Sending reload signal to PID " + std::to_string(::getpid()));
        if (::kill(::getpid(), SIGUSR1) != 0)
            error(std::string("Failed to trigger CoreDNS reload: ") + std::strerror(errno));
    } else {
        // Reload now rather than waiting up to 45 s for the reload plugin;
        // a failure prints what the reload plugin would.
        std::string why;
        if (!rt_.reload(&why)) plugins::reload::log_reload_failed(why);
    }
}

void CacheApp::schedule_sync() {
    sync_timer_->expires_after(kConfigSyncPeriod);
    sync_timer_->async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;
        sync_configs();
        schedule_sync();
    });
}

void CacheApp::ensure_interface() {
    if (!params_.setup_interface) return;
    auto r = ensure_dummy_device(params_.interface_name, params_.local_ips);
    if (!r.existed) {
        if (!r.create_error.empty()) {
            error("Failed to add non-existent interface " + params_.interface_name + ": " + r.create_error);
            count(SetupError::interface_add);
        }
        info("Added interface - " + params_.interface_name);
    }
    if (!r.error.empty()) {
        error("Error checking dummy device " + params_.interface_name + " - " + r.error);
        count(SetupError::interface_check);
    }
}

void CacheApp::setup_networking(bool with_iptables) {
    if (with_iptables && iptables_) {
        for (const auto& rule : rules_) {
            {
                std::lock_guard lk(mu_);
                if (stop_network_) return;  // teardown is waiting
            }
            try {
                if (iptables_->ensure(rule))
                    info("Added back nodelocaldns rule - " + rule.str());
                else if (log::debug_enabled())
                    log::emit(log::Level::debug, {}, "iptables rule " + rule.str() + " for nodelocaldns already exists");
            } catch (const IptablesError& e) {
                error("Error checking/adding iptables rule " + rule.str() + ", error - " + e.what());
                count(e.lock ? SetupError::iptables_lock : SetupError::iptables);
            }
        }
    }
    if (with_iptables && nft_) {
        try {
            if (nft_->ensure())
                info(std::string("Added back nodelocaldns nftables table ") + NftTable::kFamily + " " +
                     NftTable::kName);
        } catch (const IptablesError& e) {
            error(std::string("Error checking/adding nftables table ") + NftTable::kName + ", error - " + e.what());
            count(SetupError::iptables);
        }
    }
    ensure_interface();
}

void CacheApp::network_loop() {
    setup_networking(true);  // the listeners are open: intercept now
    std::unique_lock lk(mu_);
    while (!cv_.wait_for(lk, params_.sync_period, [this] { return stop_network_; })) {
        lk.unlock();
        setup_networking(true);
        lk.lock();
    }
}

void CacheApp::on_serving() {
    serving_ = true;
    if (!params_.sync_period_warning.empty()) warning(params_.sync_period_warning);
    sync_timer_ = std::make_unique<boost::asio::steady_timer>(rt_.control());
    schedule_sync();
    network_thread_ = std::thread([this] { network_loop(); });
}

void CacheApp::teardown() {
    std::call_once(teardown_once_, [this] {
        {
            std::lock_guard lk(mu_);
            stop_network_ = true;
        }
        cv_.notify_all();
        if (sync_timer_) sync_timer_->cancel();
        if (network_thread_.joinable()) {
            network_thread_.join();
            warning("Exiting iptables/interface check goroutine");
        }
        if (params_.skip_teardown) return;
        if (successor_) {
            info("Skipping teardown: a successor process serves");
            return;
        }
        info("Tearing down");
        if (iptables_) {
            for (const auto& rule : rules_) {
                // Remove every copy (duplicates can exist after crashes or
                // flaky -C in other iptables builds), at most 100 rounds.
                for (int round = 0; round < 100; ++round) {
                    bool present = false;
                    try {
                        present = iptables_->exists(rule);
                        if (present) iptables_->remove(rule);
                    } catch (const IptablesError& e) {
                        error("Failed deleting iptables rule " + rule.str() + ", error - " + e.what());
                        count(e.lock ? SetupError::iptables_lock : SetupError::iptables);
                        break;
                    }
                    if (!present) break;
                }
            }
        }
        if (nft_) {
            try {
                nft_->remove();
            } catch (const IptablesError& e) {
                error(std::string("Failed deleting nftables table ") + NftTable::kName + ", error - " + e.what());
                count(SetupError::iptables);
            }
        }
        if (params_.setup_interface) {
            try {
                delete_link(params_.interface_name);
            } catch (const NetlinkError&) {
                // node-cache ignores removal errors (e.g. no such device).
            }
        }
    });
}

void CacheApp::on_closing() { teardown(); }

void CacheApp::keep_networking_for_successor() { successor_ = true; }

void CacheApp::after_run(int exit_code) {
    (void)exit_code;
    teardown();  // no-op when the shutdown hook already ran it
}

}  // namespace dnscore::nodecache
