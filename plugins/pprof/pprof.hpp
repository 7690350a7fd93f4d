#pragma once
// pprof: CoreDNS 1.12 plugin/pprof on a C++ process. /debug/pprof/profile
// is a CPU profile from gperftools' libprofiler (the legacy format the
// pprof tools read); what only a Go runtime has (heap of Go's allocator,
// goroutines, block/mutex profiles, execution traces) answers 404 with the
// reason. Nothing runs until a profile is asked for: libprofiler's SIGPROF
// timer is armed only for the seconds of a profile request.
#include <functional>
#include <memory>
#include <string>

#include "core/http.hpp"

namespace dnscore::corefile {
struct SetupContext;
}
namespace dnscore::parser {
class Dispenser;
}
namespace boost::asio {
class io_context;
}

namespace dnscore::plugins::pprof {

constexpr const char* kDefaultAddr = "localhost:6053";

struct Config {
    std::string addr = kDefaultAddr;
    int block_rate = 0;  // accepted; no effect (no Go runtime)
};

// CoreDNS setup: ADDRESS, `block [RATE]`; throws with CoreDNS's texts.
Config parse_pprof(parser::Dispenser& d);

// Go's pprof.Profile `seconds` parameter: a positive integer, else 30.
long profile_seconds(const std::string& target);

// The endpoints on cfg.addr (control thread); dropping the handles closes them.
std::vector<http::Handle> serve(boost::asio::io_context& io, const Config& cfg);

}  // namespace dnscore::plugins::pprof

namespace dnscore::plugins {
void setup_pprof(corefile::SetupContext& c);
}
