// The Corefile as `dnscore -validate` reads it (server/cli.cpp,
// validate_corefile): the caddy lexer and parser, key normalisation, and
// every plugin's setup in directive order, with nothing opened. Any text
// must end in a ServerSet or a ConfigError-style exception, never a crash.
//
// The machine's files and environment stay out of it, so an input does the
// same everywhere: the Corefile is named as if it stood in an empty private
// directory (imports are relative to it), the environment is a fixed one,
// and an import that could leave that directory is not loaded. Without
// this the fuzzer learned `import */` and `import /*/`, which list every
// directory beside the Corefile or under `/`; it slowed from ~570 to ~70
// executions a second as its corpus filled with them (docs/reliability.md, Fuzzing).
#include <algorithm>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include <unistd.h>

#include "corefile/loader.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using namespace dnscore;

namespace {

struct PrivateDir {
    std::string path;
    PrivateDir() {
        char tmpl[] = "/tmp/dnscore-corefile-fuzz-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) std::abort();
        path = tmpl;
        ::clearenv();
        ::setenv("PORT", "1053", 1);  // the seed `env` uses it
    }
    ~PrivateDir() { ::rmdir(path.c_str()); }
};

const std::string& corefile_path() {
    static const PrivateDir dir;
    static const std::string path = dir.path + "/Corefile";
    return path;
}

// An import whose argument is absolute, climbs with "..", or is built from
// an environment reference (which the lexer expands first).
bool imports_outside(std::string_view text) {
    for (size_t at = text.find("import"); at != std::string_view::npos; at = text.find("import", at + 1)) {
        size_t p = at + 6;
        while (p < text.size() && (text[p] == ' ' || text[p] == '\t')) ++p;
        // The argument as the lexer reads it: to the closing quote (over
        // escapes) when quoted, else to the next space.
        size_t end = p;
        if (p < text.size() && (text[p] == '"' || text[p] == '`')) {
            const char quote = text[p++];
            for (end = p; end < text.size() && text[end] != quote; ++end)
                if (text[end] == '\\') ++end;
        } else {
            while (end < text.size() && text[end] != ' ' && text[end] != '\t' && text[end] != '\r' &&
                   text[end] != '\n')
                ++end;
        }
        const std::string_view arg = text.substr(p, std::min(end, text.size()) - p);
        if ((!arg.empty() && arg[0] == '/') || arg.find("..") != std::string_view::npos ||
            arg.find('{') != std::string_view::npos)
            return true;
    }
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 16384) return 0;  // a Corefile, not a stress test of the input size
    const std::string text(reinterpret_cast<const char*>(data), size);
    if (imports_outside(text)) return 0;
    corefile::LoadOptions lo;
    lo.dns_port = "53";
    lo.validate_only = true;
    try {
        auto set = corefile::load(text, corefile_path(), lo);
        FUZZ_CHECK(set != nullptr);
    } catch (const std::exception&) {
        // A clear error is the expected outcome for most inputs.
    }
    return 0;
}
