#include "server/metrics.hpp"

namespace dnscore::server::metrics {

Families::Families()
    : tcp_connections("dnscore_tcp_connections", "Number of open TCP connections (DNS over TCP listeners).", {}, {},
                      [this](const GaugeFunc::Emit& emit) {
                          long n = 0;
                          for (const auto& c : tcp_open) n += c.load(std::memory_order_relaxed);
                          emit({}, double(n));
                      }),
      tcp_connections_limit("dnscore_tcp_connections_limit",
                            "Most TCP connections open at once (10,000, or fewer as the memory budget's "
                            "connection share allows).",
                            {}, {}, [this](const GaugeFunc::Emit& emit) { emit({}, tcp_limit.load()); }) {}

Families& families() {
    static Families* f = [] {
        auto* f = new Families;  // never destroyed: workers may count during exit
        export_families({&f->tcp_dropped, &f->tcp_connections, &f->tcp_connections_limit});
        return f;
    }();
    return *f;
}

}  // namespace dnscore::server::metrics
