#pragma once
// Splitting one fuzz input into the parts a target needs (libFuzzer's
// FuzzedDataProvider is clang-only; the replay build uses gcc). Reads past
// the end yield zeros / empty spans, never out-of-bounds access.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace dnscore::fuzz {

class Input {
public:
    Input(const uint8_t* data, size_t size) : p_(data), n_(size) {}
    bool empty() const { return n_ == 0; }
    size_t left() const { return n_; }
    uint8_t u8() {
        if (n_ == 0) return 0;
        --n_;
        return *p_++;
    }
    uint16_t u16() { return uint16_t(u8() << 8 | u8()); }
    // Up to `max` bytes (fewer when the input ends).
    std::basic_string_view<uint8_t> bytes(size_t max) {
        const size_t k = max < n_ ? max : n_;
        std::basic_string_view<uint8_t> s(p_, k);
        p_ += k;
        n_ -= k;
        return s;
    }
    std::basic_string_view<uint8_t> rest() { return bytes(n_); }
    // A length-prefixed (u16) part.
    std::basic_string_view<uint8_t> part() { return bytes(u16()); }

private:
    const uint8_t* p_;
    size_t n_;
};

inline std::string_view as_text(std::basic_string_view<uint8_t> b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// A property the code promises did not hold: report and abort, so libFuzzer
// keeps the input as a crash and the replay test fails.
[[noreturn]] inline void broken(const char* what) {
    std::fprintf(stderr, "fuzz property violated: %s\n", what);
    std::abort();
}
#define FUZZ_CHECK(cond) \
    do {                 \
        if (!(cond)) ::dnscore::fuzz::broken(#cond " (" __FILE__ ")"); \
    } while (0)

}  // namespace dnscore::fuzz
