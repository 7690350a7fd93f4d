#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "parser/gostd.hpp"
#include "tests/support/catch.hpp"

namespace gostd = dnscore::gostd;
using namespace std::chrono_literals;

namespace {

template <typename F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "<no error>";
}

}  // namespace

TEST_CASE("gostd: parse_duration accepts Go durations", "[gostd]") {
    struct Case {
        const char* in;
        gostd::Duration want;
    };
    const std::vector<Case> cases = {
        {"0", 0ns},
        {"+0", 0ns},
        {"-0", 0ns},
        {"0s", 0ns},
        {"5s", 5s},
        {"30s", 30s},
        {"1m", 1min},
        {"1h", 1h},
        {"1h30m", 90min},
        {"1.5s", 1500ms},
        {".5s", 500ms},
        {"1.s", 1s},
        {"300ms", 300ms},
        {"10us", 10us},
        {"10\xC2\xB5s", 10us},  // µs, micro sign
        {"10\xCE\xBCs", 10us},  // μs, Greek mu
        {"7ns", 7ns},
        {"-1.5h", -90min},
        {"+5m", 5min},
        {"1h1m1s1ms1us1ns", 1h + 1min + 1s + 1ms + 1us + 1ns},
        {"0.1ms", 100us},
        {"1.0000000001s", 1s},  // sub-ns fraction truncated
        {"2562047h47m16.854775807s", gostd::Duration(std::numeric_limits<long long>::max())},
        {"-2562047h47m16.854775808s", gostd::Duration(std::numeric_limits<long long>::min())},
    };
    for (const auto& c : cases) {
        INFO(c.in);
        CHECK(gostd::parse_duration(c.in) == c.want);
    }
}

TEST_CASE("gostd: parse_duration errors carry Go's text", "[gostd]") {
    struct Case {
        const char* in;
        const char* msg;
    };
    const std::vector<Case> cases = {
        {"aa", "time: invalid duration \"aa\""},
        {"", "time: invalid duration \"\""},
        {"-", "time: invalid duration \"-\""},
        {"20", "time: missing unit in duration \"20\""},
        {"1", "time: missing unit in duration \"1\""},
        {"1h20", "time: missing unit in duration \"1h20\""},
        {"5x", "time: unknown unit \"x\" in duration \"5x\""},
        {"5 s", "time: unknown unit \" s\" in duration \"5 s\""},
        {"5sec", "time: unknown unit \"sec\" in duration \"5sec\""},
        {"1d", "time: unknown unit \"d\" in duration \"1d\""},
        {".s", "time: invalid duration \".s\""},
        {"-.s", "time: invalid duration \"-.s\""},
        {"s", "time: invalid duration \"s\""},
        {"1s ", "time: unknown unit \"s \" in duration \"1s \""},
        {"3000000h", "time: invalid duration \"3000000h\""},
        {"9223372036854775808ns", "time: invalid duration \"9223372036854775808ns\""},
        {"99999999999999999999s", "time: invalid duration \"99999999999999999999s\""},
        {"1\xC3\xA9", "time: unknown unit \"\\xc3\\xa9\" in duration \"1\\xc3\\xa9\""},
        {"\"1s\"", "time: invalid duration \"\\\"1s\\\"\""},
    };
    for (const auto& c : cases) {
        INFO(c.in);
        CHECK(error_of([&] { gostd::parse_duration(c.in); }) == c.msg);
    }
}

TEST_CASE("gostd: format_duration prints like Duration.String", "[gostd]") {
    struct Case {
        gostd::Duration d;
        const char* want;
    };
    const std::vector<Case> cases = {
        {0ns, "0s"},
        {1ns, "1ns"},
        {999ns, "999ns"},
        {1us, "1\xC2\xB5s"},
        {1500ns, "1.5\xC2\xB5s"},
        {500ms, "500ms"},
        {1100us, "1.1ms"},
        {1s, "1s"},
        {1500ms, "1.5s"},
        {30s, "30s"},
        {5min, "5m0s"},
        {90s, "1m30s"},
        {1h, "1h0m0s"},
        {1h + 1ms, "1h0m0.001s"},
        {-90min, "-1h30m0s"},
        {-1ns, "-1ns"},
        {gostd::Duration(std::numeric_limits<long long>::max()), "2562047h47m16.854775807s"},
        {gostd::Duration(std::numeric_limits<long long>::min()), "-2562047h47m16.854775808s"},
    };
    for (const auto& c : cases) {
        INFO(c.want);
        CHECK(gostd::format_duration(c.d) == c.want);
    }
}

TEST_CASE("gostd: duration round trip", "[gostd]") {
    for (const char* s : {"1h0m0s", "5m0s", "1.5s", "500ms", "2h3m4.005006007s"})
        CHECK(gostd::format_duration(gostd::parse_duration(s)) == s);
}

TEST_CASE("gostd: atoi", "[gostd]") {
    CHECK(gostd::atoi("0") == 0);
    CHECK(gostd::atoi("53") == 53);
    CHECK(gostd::atoi("053") == 53);
    CHECK(gostd::atoi("+53") == 53);
    CHECK(gostd::atoi("-1") == -1);
    CHECK(gostd::atoi("-0") == 0);
    CHECK(gostd::atoi("9223372036854775807") == std::numeric_limits<long long>::max());
    CHECK(gostd::atoi("-9223372036854775808") == std::numeric_limits<long long>::min());
    CHECK(gostd::atoi("00000000000000000000000000001") == 1);

    struct Case {
        const char* in;
        const char* msg;
    };
    const std::vector<Case> errors = {
        {"aaa", "strconv.Atoi: parsing \"aaa\": invalid syntax"},
        {"", "strconv.Atoi: parsing \"\": invalid syntax"},
        {"+", "strconv.Atoi: parsing \"+\": invalid syntax"},
        {"-", "strconv.Atoi: parsing \"-\": invalid syntax"},
        {"0x35", "strconv.Atoi: parsing \"0x35\": invalid syntax"},
        {"1_000", "strconv.Atoi: parsing \"1_000\": invalid syntax"},
        {" 1", "strconv.Atoi: parsing \" 1\": invalid syntax"},
        {"1.5", "strconv.Atoi: parsing \"1.5\": invalid syntax"},
        {"--1", "strconv.Atoi: parsing \"--1\": invalid syntax"},
        {"9223372036854775808", "strconv.Atoi: parsing \"9223372036854775808\": value out of range"},
        {"-9223372036854775809", "strconv.Atoi: parsing \"-9223372036854775809\": value out of range"},
        {"99999999999999999999x", "strconv.Atoi: parsing \"99999999999999999999x\": value out of range"},
        {"1s", "strconv.Atoi: parsing \"1s\": invalid syntax"},
        {"a\"b", "strconv.Atoi: parsing \"a\\\"b\": invalid syntax"},
    };
    for (const auto& c : errors) {
        INFO(c.in);
        CHECK(error_of([&] { gostd::atoi(c.in); }) == c.msg);
    }
}

TEST_CASE("gostd: parse_uint", "[gostd]") {
    CHECK(gostd::parse_uint("0") == 0);
    CHECK(gostd::parse_uint("007") == 7);
    CHECK(gostd::parse_uint("18446744073709551615") == std::numeric_limits<unsigned long long>::max());
    CHECK(gostd::parse_uint("4294967295", 32) == 4294967295ULL);
    CHECK(gostd::parse_uint("65535", 16) == 65535);

    struct Case {
        const char* in;
        int bits;
        const char* msg;
    };
    const std::vector<Case> errors = {
        {"-1", 64, "strconv.ParseUint: parsing \"-1\": invalid syntax"},
        {"+1", 64, "strconv.ParseUint: parsing \"+1\": invalid syntax"},
        {"", 64, "strconv.ParseUint: parsing \"\": invalid syntax"},
        {"abc", 64, "strconv.ParseUint: parsing \"abc\": invalid syntax"},
        {"18446744073709551616", 64, "strconv.ParseUint: parsing \"18446744073709551616\": value out of range"},
        {"4294967296", 32, "strconv.ParseUint: parsing \"4294967296\": value out of range"},
        {"65536", 16, "strconv.ParseUint: parsing \"65536\": value out of range"},
        {"256", 8, "strconv.ParseUint: parsing \"256\": value out of range"},
    };
    for (const auto& c : errors) {
        INFO(c.in);
        CHECK(error_of([&] { gostd::parse_uint(c.in, c.bits); }) == c.msg);
    }
}

TEST_CASE("gostd: quote is Go's %q", "[gostd]") {
    struct Case {
        std::string in;
        const char* want;
    };
    const std::vector<Case> cases = {
        {"", "\"\""},
        {"abc", "\"abc\""},
        {"a\"b", "\"a\\\"b\""},
        {"a\\b", "\"a\\\\b\""},
        {"a\nb\tc\r", "\"a\\nb\\tc\\r\""},
        {"\a\b\f\v", "\"\\a\\b\\f\\v\""},
        {std::string("\x00", 1), "\"\\x00\""},
        {"\x01\x7f", "\"\\x01\\x7f\""},
        {"caf\xC3\xA9", "\"caf\xC3\xA9\""},
        {"\xFF", "\"\\xff\""},
        {"a\xC3", "\"a\\xc3\""},
        {"\xC2\xA0", "\"\\u00a0\""},
        {"\xE2\x80\x8B", "\"\\u200b\""},
        {"\xEF\xBB\xBF", "\"\\ufeff\""},
        {"\xF0\x9F\x98\x80", "\"\xF0\x9F\x98\x80\""},
        {"\xEF\xBF\xBD", "\"\xEF\xBF\xBD\""},
        {"example.org:", "\"example.org:\""},
    };
    for (const auto& c : cases) {
        INFO(c.in);
        CHECK(gostd::quote(c.in) == c.want);
    }
}

TEST_CASE("gostd: format_float_g is Go's %g", "[gostd]") {
    struct Case {
        double v;
        const char* want;
    };
    const std::vector<Case> cases = {
        {0, "0"},
        {1, "1"},
        {-1, "-1"},
        {0.5, "0.5"},
        {0.1, "0.1"},
        {0.00025, "0.00025"},
        {0.0001, "0.0001"},
        {0.00005, "5e-05"},
        {1e-7, "1e-07"},
        {123.456, "123.456"},
        {999999, "999999"},
        {1e6, "1e+06"},
        {1234567, "1.234567e+06"},
        {2.5e7, "2.5e+07"},
        {1e21, "1e+21"},
        {1e100, "1e+100"},
        {-0.005, "-0.005"},
        {0.3, "0.3"},
        {1.0 / 3.0, "0.3333333333333333"},
        {std::numeric_limits<double>::infinity(), "+Inf"},
        {-std::numeric_limits<double>::infinity(), "-Inf"},
        {std::nan(""), "NaN"},
    };
    for (const auto& c : cases) {
        INFO(c.want);
        CHECK(gostd::format_float_g(c.v) == c.want);
    }
}

TEST_CASE("gostd: format_float_shortest_fixed never uses an exponent", "[gostd]") {
    struct Case {
        double v;
        const char* want;
    };
    const std::vector<Case> cases = {
        {0, "0"},
        {1, "1"},
        {0.000123456, "0.000123456"},
        {1.5e-7, "0.00000015"},
        {0.001234, "0.001234"},
        {12.5, "12.5"},
        {1e21, "1000000000000000000000"},
        {1234567.891, "1234567.891"},
        {-2.25, "-2.25"},
        {0.1 + 0.2, "0.30000000000000004"},
    };
    for (const auto& c : cases) {
        INFO(c.want);
        CHECK(gostd::format_float_shortest_fixed(c.v) == c.want);
    }
}
