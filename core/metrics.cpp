// The metrics registry: collectors run at scrape time on the control thread,
// their families are merged and printed exactly as client_golang's text
// encoder prints them (expfmt text_create.go), so CoreDNS dashboards and
// scrapers see the same bytes.
#include "core/metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "parser/gostd.hpp"

namespace dnscore::metrics {

using prometheus::ClientMetric;
using prometheus::MetricType;

// ---------------------------------------------------------------- builders
namespace {
Family make_family(const std::string& name, const std::string& help, MetricType t) {
    Family f;
    f.name = name;
    f.help = help;
    f.type = t;
    return f;
}
ClientMetric with_labels(const Labels& labels) {
    ClientMetric m;
    m.label.reserve(labels.size());
    for (const auto& [k, v] : labels) m.label.push_back({k, v});
    return m;
}
}  // namespace

Family counter_family(const std::string& name, const std::string& help) {
    return make_family(name, help, MetricType::Counter);
}
Family gauge_family(const std::string& name, const std::string& help) {
    return make_family(name, help, MetricType::Gauge);
}
Family histogram_family(const std::string& name, const std::string& help) {
    return make_family(name, help, MetricType::Histogram);
}

void add_counter(Family& f, const Labels& labels, double value) {
    auto m = with_labels(labels);
    m.counter.value = value;
    f.metric.push_back(std::move(m));
}
void add_gauge(Family& f, const Labels& labels, double value) {
    auto m = with_labels(labels);
    m.gauge.value = value;
    f.metric.push_back(std::move(m));
}
void add_histogram(Family& f, const Labels& labels, const std::vector<double>& bounds,
                   const std::vector<uint64_t>& counts, double sum) {
    auto m = with_labels(labels);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds.size(); ++i) {
        cumulative += i < counts.size() ? counts[i] : 0;
        m.histogram.bucket.push_back({cumulative, bounds[i]});
    }
    if (counts.size() > bounds.size()) cumulative += counts[bounds.size()];
    m.histogram.sample_count = cumulative;
    m.histogram.sample_sum = sum;
    f.metric.push_back(std::move(m));
}

// ---------------------------------------------------------------- merge
namespace {

bool same_labels(const ClientMetric& a, const ClientMetric& b) { return a.label == b.label; }

// client_golang's metricSorter: label values in label-name order.
bool series_less(const ClientMetric& a, const ClientMetric& b) {
    const size_t n = std::min(a.label.size(), b.label.size());
    for (size_t i = 0; i < n; ++i)
        if (a.label[i].value != b.label[i].value) return a.label[i].value < b.label[i].value;
    return a.label.size() < b.label.size();
}

void add_into(ClientMetric& into, const ClientMetric& from, MetricType t) {
    switch (t) {
    case MetricType::Counter:
        into.counter.value += from.counter.value;
        break;
    case MetricType::Gauge:
        into.gauge.value += from.gauge.value;
        break;
    case MetricType::Histogram: {
        auto& hb = into.histogram.bucket;
        const auto& fb = from.histogram.bucket;
        // Same bounds are expected; buckets are matched by upper bound.
        for (const auto& b : fb) {
            auto it = std::find_if(hb.begin(), hb.end(),
                                   [&](const ClientMetric::Bucket& x) { return x.upper_bound == b.upper_bound; });
            if (it != hb.end()) it->cumulative_count += b.cumulative_count;
        }
        into.histogram.sample_count += from.histogram.sample_count;
        into.histogram.sample_sum += from.histogram.sample_sum;
        break;
    }
    default:
        into.untyped.value += from.untyped.value;
        break;
    }
}

}  // namespace

std::vector<Family> merge_families(std::vector<Family> in) {
    std::map<std::string, Family> by_name;
    for (auto& f : in) {
        for (auto& m : f.metric)
            std::sort(m.label.begin(), m.label.end(),
                      [](const ClientMetric::Label& a, const ClientMetric::Label& b) { return a.name < b.name; });
        auto it = by_name.find(f.name);
        if (it == by_name.end()) {
            // Collapse duplicates inside one family too.
            Family g = make_family(f.name, f.help, f.type);
            for (auto& m : f.metric) {
                auto dup = std::find_if(g.metric.begin(), g.metric.end(),
                                        [&](const ClientMetric& x) { return same_labels(x, m); });
                if (dup != g.metric.end()) add_into(*dup, m, g.type);
                else g.metric.push_back(std::move(m));
            }
            by_name.emplace(f.name, std::move(g));
            continue;
        }
        Family& g = it->second;
        for (auto& m : f.metric) {
            auto dup = std::find_if(g.metric.begin(), g.metric.end(),
                                    [&](const ClientMetric& x) { return same_labels(x, m); });
            if (dup != g.metric.end()) add_into(*dup, m, g.type);
            else g.metric.push_back(std::move(m));
        }
    }
    std::vector<Family> out;
    out.reserve(by_name.size());
    for (auto& [name, f] : by_name) {
        if (f.metric.empty()) continue;  // Gather drops families without series
        std::stable_sort(f.metric.begin(), f.metric.end(), series_less);
        out.push_back(std::move(f));
    }
    return out;
}

// ---------------------------------------------------------------- text format
namespace {

void escape_help(std::string& out, const std::string& s) {
    for (char c : s) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
}
void escape_label_value(std::string& out, const std::string& s) {
    for (char c : s) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else if (c == '"') out += "\\\"";
        else out += c;
    }
}

// expfmt writeFloat: Go's strconv 'g' with shortest precision.
std::string number(double v) { return gostd::format_float_g(v); }

// One sample line: NAME{labels[,extra_name="extra_value"]} VALUE
void sample(std::string& out, const std::string& name, const char* suffix, const ClientMetric& m,
            const char* extra_name, const std::string& extra_value, double value) {
    out += name;
    out += suffix;
    if (!m.label.empty() || extra_name) {
        out += '{';
        bool first = true;
        for (const auto& l : m.label) {
            if (!first) out += ',';
            first = false;
            out += l.name;
            out += "=\"";
            escape_label_value(out, l.value);
            out += '"';
        }
        if (extra_name) {
            if (!first) out += ',';
            out += extra_name;
            out += "=\"";
            out += extra_value;
            out += '"';
        }
        out += '}';
    }
    out += ' ';
    out += number(value);
    out += '\n';
}

const char* type_name(MetricType t) {
    switch (t) {
    case MetricType::Counter: return "counter";
    case MetricType::Gauge: return "gauge";
    case MetricType::Histogram: return "histogram";
    case MetricType::Summary: return "summary";
    default: return "untyped";
    }
}

}  // namespace

std::string render_text(const std::vector<Family>& families) {
    std::string out;
    out.reserve(4096);
    for (const auto& f : families) {
        if (f.metric.empty()) continue;
        out += "# HELP ";
        out += f.name;
        out += ' ';
        escape_help(out, f.help);
        out += "\n# TYPE ";
        out += f.name;
        out += ' ';
        out += type_name(f.type);
        out += '\n';
        for (const auto& m : f.metric) {
            switch (f.type) {
            case MetricType::Counter:
                sample(out, f.name, "", m, nullptr, {}, m.counter.value);
                break;
            case MetricType::Gauge:
                sample(out, f.name, "", m, nullptr, {}, m.gauge.value);
                break;
            case MetricType::Histogram: {
                bool saw_inf = false;
                for (const auto& b : m.histogram.bucket) {
                    if (std::isinf(b.upper_bound) && b.upper_bound > 0) saw_inf = true;
                    sample(out, f.name, "_bucket", m, "le", number(b.upper_bound), double(b.cumulative_count));
                }
                if (!saw_inf)
                    sample(out, f.name, "_bucket", m, "le", "+Inf", double(m.histogram.sample_count));
                sample(out, f.name, "_sum", m, nullptr, {}, m.histogram.sample_sum);
                sample(out, f.name, "_count", m, nullptr, {}, double(m.histogram.sample_count));
                break;
            }
            case MetricType::Summary:
                for (const auto& q : m.summary.quantile)
                    sample(out, f.name, "", m, "quantile", number(q.quantile), q.value);
                sample(out, f.name, "_sum", m, nullptr, {}, m.summary.sample_sum);
                sample(out, f.name, "_count", m, nullptr, {}, double(m.summary.sample_count));
                break;
            default:
                sample(out, f.name, "", m, nullptr, {}, m.untyped.value);
                break;
            }
        }
    }
    return out;
}

// ---------------------------------------------------------------- process-wide series
ProcessWide& process_wide() {
    static ProcessWide* p = new ProcessWide;
    return *p;
}

namespace {

// /proc/self/stat fields after the command name: state is field 3.
struct ProcStat {
    double utime = 0, stime = 0;  // clock ticks
    double starttime = 0;         // ticks after boot
    double vsize = 0;             // bytes
    double rss = 0;               // pages
    bool ok = false;
};

ProcStat read_proc_stat() {
    ProcStat s;
    std::ifstream f("/proc/self/stat");
    std::string line;
    if (!std::getline(f, line)) return s;
    const auto close = line.rfind(')');
    if (close == std::string::npos) return s;
    std::istringstream in(line.substr(close + 2));
    std::vector<std::string> fields;  // fields[0] = field 3 (state)
    for (std::string w; in >> w;) fields.push_back(w);
    auto field = [&](int n) { return std::stod(fields.at(size_t(n - 3))); };
    try {
        s.utime = field(14);
        s.stime = field(15);
        s.starttime = field(22);
        s.vsize = field(23);
        s.rss = field(24);
        s.ok = true;
    } catch (const std::exception&) {
    }
    return s;
}

double boot_time() {
    std::ifstream f("/proc/stat");
    for (std::string line; std::getline(f, line);)
        if (line.rfind("btime ", 0) == 0) return std::stod(line.substr(6));
    return 0;
}

double open_fds() {
    DIR* d = ::opendir("/proc/self/fd");
    if (!d) return 0;
    double n = 0;
    while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    return n - 1;  // the directory stream itself
}

double limit(int resource) {
    rlimit r{};
    if (::getrlimit(resource, &r) != 0) return 0;
    return double(r.rlim_cur);  // RLIM_INFINITY prints as 1.8446744073709552e+19, as procfs does
}

// procfs NetDev().Total(): every interface of the process's network namespace.
void net_dev(double& rx, double& tx) {
    rx = tx = 0;
    std::ifstream f("/proc/self/net/dev");
    std::string line;
    for (int i = 0; i < 2 && std::getline(f, line); ++i) {
    }
    while (std::getline(f, line)) {
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::istringstream in(line.substr(colon + 1));
        double v[9] = {};
        for (double& x : v) in >> x;
        rx += v[0];
        tx += v[8];
    }
}

void collect_process(std::vector<Family>& out) {
    const ProcStat st = read_proc_stat();
    const double ticks = double(::sysconf(_SC_CLK_TCK));
    const double page = double(::sysconf(_SC_PAGESIZE));
    if (st.ok) {
        auto cpu = counter_family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.");
        add_counter(cpu, {}, (st.utime + st.stime) / ticks);
        out.push_back(std::move(cpu));
        auto vm = gauge_family("process_virtual_memory_bytes", "Virtual memory size in bytes.");
        add_gauge(vm, {}, st.vsize);
        out.push_back(std::move(vm));
        auto rss = gauge_family("process_resident_memory_bytes", "Resident memory size in bytes.");
        add_gauge(rss, {}, st.rss * page);
        out.push_back(std::move(rss));
        auto start = gauge_family("process_start_time_seconds",
                                  "Start time of the process since unix epoch in seconds.");
        add_gauge(start, {}, boot_time() + st.starttime / ticks);
        out.push_back(std::move(start));
    }
    auto fds = gauge_family("process_open_fds", "Number of open file descriptors.");
    add_gauge(fds, {}, open_fds());
    out.push_back(std::move(fds));
    auto maxfds = gauge_family("process_max_fds", "Maximum number of open file descriptors.");
    add_gauge(maxfds, {}, limit(RLIMIT_NOFILE));
    out.push_back(std::move(maxfds));
    auto vmax = gauge_family("process_virtual_memory_max_bytes",
                             "Maximum amount of virtual memory available in bytes.");
    add_gauge(vmax, {}, limit(RLIMIT_AS));
    out.push_back(std::move(vmax));
    double rx = 0, tx = 0;
    net_dev(rx, tx);
    auto nrx = counter_family("process_network_receive_bytes_total",
                              "Number of bytes received by the process over the network.");
    add_counter(nrx, {}, rx);
    out.push_back(std::move(nrx));
    auto ntx = counter_family("process_network_transmit_bytes_total",
                              "Number of bytes sent by the process over the network.");
    add_counter(ntx, {}, tx);
    out.push_back(std::move(ntx));
}

#ifndef DNSCORE_REVISION
#define DNSCORE_REVISION ""
#endif

}  // namespace

void collect_base(std::vector<Family>& out) {
    auto& p = process_wide();
    for (const Metric* m : std::initializer_list<const Metric*>{
             &p.panics_total, &p.reload_failed_total, &p.forward_healthcheck_broken_total,
             &p.forward_max_concurrent_rejects_total, &p.health_request_failures_total,
             &p.hosts_reload_timestamp_seconds, &p.health_request_duration_seconds})
        m->collect(out);
    {
        // No Go here: goversion names the C++ compiler that built the binary.
        auto f = gauge_family("coredns_build_info",
                              "A metric with a constant '1' value labeled by version, revision, and "
                              "goversion from which CoreDNS was built.");
        add_gauge(f, {{"version", DNSCORE_VERSION}, {"revision", DNSCORE_REVISION}, {"goversion", "g++" __VERSION__}},
                  1);
        out.push_back(std::move(f));
    }
    collect_process(out);
}

// ---------------------------------------------------------------- registry
struct Registry::State {
    mutable std::mutex mu;
    uint64_t next = 1;
    std::map<uint64_t, Collector> collectors;
};

Registry::State& Registry::state() const {
    static State s;
    return s;
}

Registry& Registry::global() {
    static Registry r;
    return r;
}

uint64_t Registry::add(Collector c) {
    auto& s = state();
    std::lock_guard lk(s.mu);
    const uint64_t id = s.next++;
    s.collectors.emplace(id, std::move(c));
    return id;
}

void Registry::remove(uint64_t handle) {
    auto& s = state();
    std::lock_guard lk(s.mu);
    s.collectors.erase(handle);
}

std::vector<Family> Registry::collect() const {
    std::vector<Family> all;
    collect_base(all);
    auto& s = state();
    std::lock_guard lk(s.mu);
    for (const auto& [id, c] : s.collectors) c(all);
    return merge_families(std::move(all));
}

std::string Registry::render_text() const { return metrics::render_text(collect()); }

}  // namespace dnscore::metrics
