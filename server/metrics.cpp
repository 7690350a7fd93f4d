#include "server/metrics.hpp"

namespace dnscore::server::metrics {

Families::Families()
    : tcp_connections("dnscore_tcp_connections", "Number of open TCP connections (DNS over TCP listeners).", {}, {},
                      [this](const GaugeFunc::Emit& emit) {
                          long n = 0;
                          for (const auto& c : tcp_open) n += c.load(std::memory_order_relaxed);
                          emit({}, double(n));
                      }) {}

Families& families() {
    static Families* f = [] {
        auto* f = new Families;  // never destroyed: workers may count during exit
        export_families({&f->tcp_dropped, &f->tcp_connections});
        return f;
    }();
    return *f;
}

}  // namespace dnscore::server::metrics
