// node-cache's command line (cmd/node-cache.cpp): CoreDNS's flags and
// node-cache's in one Go-style FlagSet, then node-cache's
// parseAndValidateFlags (nodecache::validate). Input: NUL-separated
// arguments. Errors must be Go's messages / invalid_argument, never a crash.
#include <exception>
#include <iostream>
#include <streambuf>
#include <string>
#include <vector>

#include "nodecache/options.hpp"
#include "server/cli.hpp"
#include "server/flags.hpp"
#include "server/runtime.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using namespace dnscore;

namespace {
// Takes what FlagSet prints to std::cerr (Go's messages and the usage text,
// still formatted in full) without writing it: a write(2) per line to the
// log was half of the target's time.
class DiscardBuf final : public std::streambuf {
protected:
    int_type overflow(int_type c) override { return traits_type::not_eof(c); }
    std::streamsize xsputn(const char*, std::streamsize n) override { return n; }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static DiscardBuf discard;
    static std::streambuf* const stderr_buf = std::cerr.rdbuf(&discard);
    (void)stderr_buf;
    if (size > 4096) return 0;
    std::vector<std::string> args{"node-cache"};
    std::string cur;
    for (size_t i = 0; i < size; ++i) {
        if (data[i] == 0) {
            args.push_back(cur);
            cur.clear();
        } else {
            cur.push_back(char(data[i]));
        }
    }
    if (!cur.empty()) args.push_back(cur);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    RuntimeOptions opts;
    CoreFlags core_flags;
    nodecache::Flags nc;
    FlagSet flags("node-cache");
    register_core_flags(flags, opts, core_flags);
    nodecache::register_flags(flags, nc);
    if (!flags.parse(int(args.size()), argv.data())) return 0;
    try {
        const nodecache::Params p =
            nodecache::validate(nc, opts, [](const std::string& path) { return path.size() % 2 == 0; });
        FUZZ_CHECK(!p.local_ips.empty());
        FUZZ_CHECK(p.sync_period.count() >= 1);
        (void)p.local_ips_spaced();
    } catch (const std::invalid_argument&) {
    }
    return 0;
}
