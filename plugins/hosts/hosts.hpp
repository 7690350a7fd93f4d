#pragma once
// hosts: answers A, AAAA and PTR from a hosts file and inline entries
// (CoreDNS plugin/hosts).
#include <chrono>
#include <memory>
#include <string>

#include "core/control_ticker.hpp"
#include "core/plugin.hpp"
#include "core/worker_snapshot.hpp"
#include "core/zones.hpp"
#include "plugins/hosts/hostsfile.hpp"

namespace dnscore {
class Host;
}

namespace dnscore::plugins::hosts {

struct Options {
    bool auto_reverse = true;  // no_reverse turns it off
    uint32_t ttl = 3600;
    std::chrono::nanoseconds reload = std::chrono::seconds(5);  // 0: never re-read
};

struct Config {
    std::string path = "/etc/hosts";
    std::vector<std::string> origins;
    std::vector<std::string> fall;  // fallthrough zones (empty: none)
    Options options;
    std::vector<std::string> inline_lines;
};

class Hosts final : public Plugin {
public:
    explicit Hosts(Config cfg);
    ~Hosts() override;
    std::string_view name() const override { return "hosts"; }
    Step query(Query& q) override;

    // CoreDNS readHosts: re-reads the file when its mtime or size changed,
    // publishes the new index to the workers (through `host`; nullptr:
    // worker 0 directly, for tests) and sets the metrics. Control thread.
    // Returns whether it loaded the file.
    bool read_hosts(Host* host);
    // Startup: read now, then every options.reload; shutdown stops it.
    void start(Host& host);
    void stop();

    const Config& config() const { return cfg_; }
    // The index last published (tests).
    std::shared_ptr<const Index> index() const { return snapshot_->latest(); }
    const Map& inline_map() const { return inline_; }

private:
    size_t write_answer(const Query& q, const Index& idx, bool compress) const;

    Config cfg_;
    ZoneSet origins_;
    ZoneSet fall_;
    Map inline_;
    std::shared_ptr<WorkerSnapshot<Index>> snapshot_;
    // CoreDNS's readHosts goroutine: the re-read ticker and what the last
    // read saw (control thread only).
    std::shared_ptr<ControlTicker> ticker_ = std::make_shared<ControlTicker>();
    bool file_seen_ = false;
    int64_t file_mtime_ns_ = 0;
    int64_t file_size_ = 0;
    int metric_index_ = -1;
};

}  // namespace dnscore::plugins::hosts
