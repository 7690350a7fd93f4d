// dnstap setup: CoreDNS 1.12 plugin/dnstap/setup.go parseConfig.
#include <unistd.h>

#include <climits>

#include "corefile/setup.hpp"
#include "parser/dispenser.hpp"
#include "parser/gostd.hpp"
#include "plugins/dnstap/dnstap.hpp"
#include "plugins/dnstap/metrics.hpp"

namespace dnscore::plugins::dnstap {

namespace metrics {
CounterVec& dropped() {
    static CounterVec* c = new CounterVec(  // never destroyed: workers may count during exit
        "dnscore_dnstap_dropped_total",
        "Counter of dnstap messages dropped: queue full, no connection to the endpoint or a failed write (dnscore).");
    return *c;
}
void export_families_once() {
    static const bool done = (export_families({&dropped()}), true);
    (void)done;
}
}  // namespace metrics

namespace {

// strconv.Atoi with the error ignored, as CoreDNS does for writebuffer/queue.
int atoi_or_zero(const std::string& s) {
    try {
        const long long v = gostd::atoi(s);
        return int(std::clamp<long long>(v, INT_MIN, INT_MAX));
    } catch (...) {
        return 0;
    }
}

// url.Parse(endpoint).Host for tcp:// and tls://; false where Go's parser
// fails (CoreDNS answers with an argument error then).
bool url_host(const std::string& endpoint, std::string& host) {
    const size_t scheme = endpoint.find("://");
    std::string rest = endpoint.substr(scheme + 3);
    for (char ch : rest)
        if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f || ch == ' ') return false;
    const size_t end = rest.find_first_of("/?#");
    host = rest.substr(0, end);
    if (const size_t at = host.rfind('@'); at != std::string::npos) host = host.substr(at + 1);
    const size_t open = host.find('[');
    if (open != std::string::npos && host.find(']') == std::string::npos) return false;  // missing ']' in host
    return true;
}

std::string hostname() {
    char buf[HOST_NAME_MAX + 1] = {};
    if (gethostname(buf, sizeof buf - 1) != 0) return "";
    return buf;
}

}  // namespace

std::vector<Config> parse_dnstap(parser::Dispenser& d) {
    std::vector<Config> out;
    while (d.next()) {
        Config c;
        const auto args = d.remaining_args();
        if (args.empty()) throw d.arg_err();
        const std::string& endpoint = args[0];
        if (args.size() >= 3) c.multiple_tcp_write_buf = atoi_or_zero(args[2]);
        if (args.size() >= 4) c.multiple_queue = atoi_or_zero(args[3]);
        if (endpoint.rfind("tls://", 0) == 0 || endpoint.rfind("tcp://", 0) == 0) {
            if (!url_host(endpoint, c.endpoint)) throw d.arg_err();
            c.proto = endpoint.substr(0, 3);
        } else {
            c.endpoint = endpoint.rfind("unix://", 0) == 0 ? endpoint.substr(7) : endpoint;
            c.proto = "unix";
        }
        c.full = args.size() >= 2 && args[1] == "full";
        c.identity = hostname();
        c.version = std::string("dnscore-") + DNSCORE_VERSION;
        while (d.next_block()) {
            const std::string& v = d.val();
            if (v == "skipverify") {
                c.skip_verify = true;
            } else if (v == "identity" || v == "version" || v == "extra") {
                const std::string key = v;
                if (!d.next_arg()) throw d.arg_err();
                (key == "identity" ? c.identity : key == "version" ? c.version : c.extra) = d.val();
            }
            // CoreDNS ignores any other property.
        }
        out.push_back(std::move(c));
    }
    return out;
}

}  // namespace dnscore::plugins::dnstap

namespace dnscore::plugins {

void setup_dnstap(corefile::SetupContext& c) {
    using namespace dnstap;
    auto cfgs = parse_dnstap(c.d);
    metrics::export_families_once();
    for (auto& cfg : cfgs) {
        auto p = std::make_shared<Dnstap>(std::move(cfg));
        c.add_plugin(p);
        std::weak_ptr<Dnstap> weak = p;
        c.set.on_startup.push_back([weak](Host&) {
            if (auto t = weak.lock()) t->start();
        });
        c.set.on_shutdown.push_back([weak](Host&) {
            if (auto t = weak.lock()) t->stop();
        });
    }
}

}  // namespace dnscore::plugins
