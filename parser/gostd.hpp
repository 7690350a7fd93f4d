#pragma once
// Go standard-library conventions that leak into CoreDNS's behaviour (spec G):
// durations, integer parsing and their exact error texts, %q quoting, %g floats.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dnscore::gostd {

using Duration = std::chrono::nanoseconds;

// time.ParseDuration. Throws std::invalid_argument with Go's text:
// `time: invalid duration "aa"`, `time: missing unit in duration "20"`, ...
Duration parse_duration(std::string_view s);
// time.Duration.String(): "1h0m0s", "5m0s", "30s", "1.5s", "500ms", "0s".
std::string format_duration(Duration d);

// strconv.Atoi. Throws std::invalid_argument:
// `strconv.Atoi: parsing "aaa": invalid syntax` / `...: value out of range`.
long long atoi(std::string_view s);
// strconv.ParseUint(s, 10, bits). Throws `strconv.ParseUint: parsing "-1": invalid syntax`.
unsigned long long parse_uint(std::string_view s, int bits = 64);

// fmt %q of a Go string.
std::string quote(std::string_view s);

// %g as Go prints float64 for Prometheus ("1e+06", "0.00025", "+Inf").
std::string format_float_g(double v);
// strconv.FormatFloat(v, 'f', -1, 64): shortest round-trip, fixed notation.
std::string format_float_shortest_fixed(double v);

}  // namespace dnscore::gostd
