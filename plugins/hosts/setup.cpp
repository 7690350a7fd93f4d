// hosts setup (CoreDNS plugin/hosts/setup.go: hostsParse).
#include <sys/stat.h>

#include <cerrno>

#include "core/log.hpp"
#include "core/net.hpp"
#include "corefile/setup.hpp"
#include "parser/gostd.hpp"
#include "plugins/hosts/hosts.hpp"

namespace dnscore::plugins {

namespace {
const log::PluginLog kLog{"hosts"};
}

void setup_hosts(corefile::SetupContext& c) {
    using hosts::Config;
    Config cfg;
    int seen = 0;
    while (c.d.next()) {
        if (seen++ > 0) throw corefile::SetupContext::once_error();
        std::vector<std::string> args = c.d.remaining_args();
        if (!args.empty()) {
            cfg.path = args[0];
            args.erase(args.begin());
            // (No `root` plugin: a relative path is relative to the working directory.)
            struct stat st;
            if (::stat(cfg.path.c_str(), &st) != 0) {
                const int err = errno;
                if (err != ENOENT)
                    throw c.d.err("unable to access hosts file '" + cfg.path + "': stat " + cfg.path + ": " +
                                  net::errno_text(err));
                kLog.warning("File does not exist: {}", cfg.path);
            } else if (S_ISDIR(st.st_mode)) {
                kLog.warning("Hosts file {} is a directory", gostd::quote(cfg.path));
            }
        }
        cfg.origins = c.zones_or_block(args);

        while (c.d.next_block()) {
            const std::string v = c.d.val();
            if (v == "fallthrough") {
                auto zones = c.d.remaining_args();
                cfg.fall = zones.empty() ? std::vector<std::string>{"."} : c.zones_or_block(zones);
            } else if (v == "no_reverse") {
                cfg.options.auto_reverse = false;
            } else if (v == "ttl") {
                auto rest = c.d.remaining_args();
                if (rest.empty()) throw c.d.err("ttl needs a time in second");
                long long ttl = 0;
                try {
                    ttl = gostd::atoi(rest[0]);
                } catch (const std::invalid_argument&) {
                    throw c.d.err("ttl needs a number of second");
                }
                if (ttl <= 0 || ttl > 65535) throw c.d.err("ttl provided is invalid");
                cfg.options.ttl = uint32_t(ttl);
            } else if (v == "reload") {
                auto rest = c.d.remaining_args();
                if (rest.size() != 1) throw c.d.err("reload needs a duration (zero seconds to disable)");
                gostd::Duration d{};
                try {
                    d = gostd::parse_duration(rest[0]);
                } catch (const std::invalid_argument&) {
                    throw c.d.err("invalid duration for reload '" + rest[0] + "'");
                }
                if (d.count() < 0) throw c.d.err("invalid negative duration for reload '" + rest[0] + "'");
                cfg.options.reload = d;
            } else if (cfg.fall.empty()) {
                // Anything else is an inline hosts line, until fallthrough was given.
                std::string line = v;
                for (const auto& a : c.d.remaining_args()) line += " " + a;
                cfg.inline_lines.push_back(std::move(line));
            } else {
                throw c.d.err("unknown property '" + v + "'");
            }
        }
    }

    auto h = std::make_shared<hosts::Hosts>(std::move(cfg));
    c.add_plugin(h);
    if (c.opts.validate_only) return;
    c.set.on_startup.push_back([h](Host& host) { h->start(host); });
    c.set.on_shutdown.push_back([h](Host&) { h->stop(); });
}

}  // namespace dnscore::plugins
