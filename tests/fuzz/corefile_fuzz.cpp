// The Corefile as `dnscore -validate` reads it (server/cli.cpp,
// validate_corefile): the caddy lexer and parser, key normalisation, and
// every plugin's setup in directive order, with nothing opened. Any text
// must end in a ServerSet or a ConfigError-style exception, never a crash.
#include <exception>
#include <string>

#include "corefile/loader.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using namespace dnscore;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 16384) return 0;  // a Corefile, not a stress test of the input size
    const std::string text(reinterpret_cast<const char*>(data), size);
    corefile::LoadOptions lo;
    lo.dns_port = "53";
    lo.validate_only = true;
    try {
        auto set = corefile::load(text, "Corefile", lo);
        FUZZ_CHECK(set != nullptr);
    } catch (const std::exception&) {
        // A clear error is the expected outcome for most inputs.
    }
    return 0;
}
