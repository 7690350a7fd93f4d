// `cache` directive parsing, as CoreDNS 1.12 plugin/cache/setup.go.
#include "plugins/cache/setup.hpp"

#include <algorithm>
#include <stdexcept>

#include "corefile/setup.hpp"
#include "parser/gostd.hpp"
#include "plugins/cache/cache.hpp"

namespace dnscore::plugins {

namespace {
using cache::Config;
using cache::kSecond;

std::string lower_fqdn(std::string z) {
    for (auto& ch : z)
        if (ch >= 'A' && ch <= 'Z') ch = char(ch + 32);
    if (z.empty() || z.back() != '.') z += '.';
    return z;
}

// success|denial CAPACITY [TTL [MINTTL]]
void parse_capacity(parser::Dispenser& d, long long& cap, int64_t& ttl, int64_t& minttl) {
    const auto args = d.remaining_args();
    if (args.empty()) throw d.arg_err();
    cap = gostd::atoi(args[0]);
    if (args.size() > 1) {
        const long long t = gostd::atoi(args[1]);
        if (t <= 0) throw std::invalid_argument("cache TTL can not be zero or negative: " + std::to_string(t));
        ttl = t;
        if (args.size() > 2) {
            const long long m = gostd::atoi(args[2]);
            if (m < 0) throw std::invalid_argument("cache min TTL can not be negative: " + std::to_string(m));
            minttl = m;
        }
    }
}
}  // namespace

cache::Config parse_cache(corefile::SetupContext& c) {
    parser::Dispenser& d = c.d;
    Config cfg;
    int j = 0;
    while (d.next()) {
        if (j++ > 0) throw corefile::SetupContext::once_error();
        auto args = d.remaining_args();
        if (!args.empty()) {
            // A first argument that parses as an integer is the TTL, else a zone.
            long long ttl = 0;
            bool is_ttl = true;
            try {
                ttl = gostd::atoi(args[0]);
            } catch (const std::invalid_argument&) {
                is_ttl = false;
            }
            if (is_ttl) {
                if (ttl <= 0)
                    throw std::invalid_argument("cache TTL can not be zero or negative: " + std::to_string(ttl));
                cfg.pttl_s = ttl;
                cfg.nttl_s = ttl;
                args.erase(args.begin());
            }
        }
        cfg.zones = c.zones_or_block(args);

        while (d.next_block()) {
            const std::string v = d.val();
            if (v == "success") {
                parse_capacity(d, cfg.pcap, cfg.pttl_s, cfg.minpttl_s);
            } else if (v == "denial") {
                parse_capacity(d, cfg.ncap, cfg.nttl_s, cfg.minnttl_s);
            } else if (v == "prefetch") {
                const auto a = d.remaining_args();
                if (a.empty() || a.size() > 3) throw d.arg_err();
                const long long amount = gostd::atoi(a[0]);
                if (amount < 0)
                    throw std::invalid_argument("prefetch amount should be positive: " + std::to_string(amount));
                cfg.prefetch = amount;
                if (a.size() > 1) cfg.prefetch_window_ns = gostd::parse_duration(a[1]).count();
                if (a.size() > 2) {
                    std::string pct = a[2];
                    const char x = pct.back();
                    if (x != '%') {
                        // Go's %q of a byte is the quoted rune: 'C'.
                        std::string q = "'";
                        if (x == '\'' || x == '\\') q += '\\';
                        q += x;
                        q += "'";
                        throw std::invalid_argument("last character of percentage should be `%`, but is: " + q);
                    }
                    pct.pop_back();
                    const long long num = gostd::atoi(pct);
                    if (num < 10 || num > 90)
                        throw std::invalid_argument("percentage should fall in range [10, 90]: " + std::to_string(num));
                    cfg.percentage = int(num);
                }
            } else if (v == "serve_stale") {
                const auto a = d.remaining_args();
                if (a.size() > 2) throw d.arg_err();
                cfg.stale_up_to_ns = 3600 * kSecond;
                if (!a.empty()) {
                    const int64_t dur = gostd::parse_duration(a[0]).count();
                    if (dur < 0) throw std::invalid_argument("invalid negative duration for serve_stale");
                    cfg.stale_up_to_ns = dur;
                }
                cfg.verify_stale = false;
                if (a.size() > 1) {
                    std::string mode = a[1];
                    for (auto& ch : mode)
                        if (ch >= 'A' && ch <= 'Z') ch = char(ch + 32);
                    if (mode != "immediate" && mode != "verify")
                        throw std::invalid_argument("invalid value for serve_stale refresh mode: " + mode);
                    cfg.verify_stale = mode == "verify";
                }
            } else if (v == "serve_stale_rfc8767") {
                // Beyond CoreDNS (README): serve_stale_rfc8767 [MAX_STALE [CLIENT_TIMEOUT [RECHECK]]]
                const auto a = d.remaining_args();
                if (a.size() > 3) throw d.arg_err();
                cfg.rfc_max_stale_ns = 86400 * kSecond;
                const char* what[] = {"max stale", "client timeout", "failure recheck"};
                int64_t* into[] = {&cfg.rfc_max_stale_ns, &cfg.rfc_client_timeout_ns, &cfg.rfc_recheck_ns};
                for (size_t i = 0; i < a.size(); ++i) {
                    const int64_t dur = gostd::parse_duration(a[i]).count();
                    if (dur <= 0)
                        throw std::invalid_argument(std::string("serve_stale_rfc8767 ") + what[i] +
                                                    " must be positive: " + a[i]);
                    *into[i] = dur;
                }
                if (cfg.rfc_max_stale_ns < kSecond)
                    throw std::invalid_argument("serve_stale_rfc8767 max stale must be at least 1s");
            } else if (v == "servfail") {
                const auto a = d.remaining_args();
                if (a.size() != 1) throw d.arg_err();
                const int64_t dur = gostd::parse_duration(a[0]).count();
                if (dur < 0) throw std::invalid_argument("invalid negative ttl for servfail");
                if (dur > 300 * kSecond)
                    throw std::invalid_argument("caching SERVFAIL responses over 5 minutes is not permitted");
                cfg.failttl_ns = dur;
            } else if (v == "disable") {
                const auto a = d.remaining_args();
                if (a.empty()) throw d.arg_err();
                std::vector<std::string> zones;
                for (size_t i = 1; i < a.size(); ++i) zones.push_back(lower_fqdn(a[i]));
                if (zones.empty()) zones.push_back(".");
                if (a[0] == "denial") cfg.nexcept = zones;
                else if (a[0] == "success") cfg.pexcept = zones;
                else throw std::invalid_argument("cache type for disable must be \"success\" or \"denial\"");
            } else if (v == "keepttl") {
                if (!d.remaining_args().empty()) throw d.arg_err();
                cfg.keepttl = true;
            } else {
                throw d.arg_err();
            }
        }
    }
    if (cfg.rfc_max_stale_ns > 0 && cfg.stale_up_to_ns > 0)
        throw std::invalid_argument("serve_stale and serve_stale_rfc8767 cannot be used together");
    return cfg;
}

void setup_cache(corefile::SetupContext& c) {
    cache::Config cfg = parse_cache(c);
    if (c.opts.validate_only) {
        // -validate: check the text, allocate nothing.
        c.add_plugin(std::make_shared<cache::Cache>(cfg, std::make_shared<cache::Stores>(0, 0)));
        return;
    }
    // The stores survive a reload that keeps this cache's configuration in
    // the same server block: the new instance picks up the old contents.
    std::string id = cfg.canonical() + "|block=";
    for (const auto& k : c.block.keys) id += k + ",";
    auto stores = cache::shared_stores(id, cfg.pcap, cfg.ncap);
    stores->keep_expired_s = std::max(cfg.stale_up_to_ns, cfg.rfc_max_stale_ns) / kSecond;
    auto plugin = std::make_shared<cache::Cache>(std::move(cfg), std::move(stores));
    plugin->register_metrics();
    c.add_plugin(std::move(plugin));
}

}  // namespace dnscore::plugins
