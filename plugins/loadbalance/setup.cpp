// loadbalance setup (CoreDNS plugin/loadbalance/setup.go: parse).
#include <stdexcept>

#include "core/file.hpp"
#include "corefile/setup.hpp"
#include "parser/gostd.hpp"
#include "plugins/loadbalance/loadbalance.hpp"

namespace dnscore::plugins {

namespace {

std::shared_ptr<loadbalance::LoadBalance> parse(corefile::SetupContext& c) {
    using loadbalance::LoadBalance;
    // Only the first line counts: CoreDNS returns from inside its loop.
    if (!c.d.next()) throw c.d.arg_err();
    const auto args = c.d.remaining_args();
    if (args.empty()) return std::make_shared<LoadBalance>();
    if (args[0] == "round_robin") {
        if (args.size() > 1) throw c.d.err("unknown property for " + args[0]);
        return std::make_shared<LoadBalance>();
    }
    if (args[0] == "weighted") {
        if (args.size() < 2) throw c.d.err("missing weight file argument");
        if (args.size() > 2) throw c.d.err("unexpected argument(s)");
        gostd::Duration reload = std::chrono::seconds(30);
        while (c.d.next_block()) {
            if (c.d.val() == "reload") {
                const auto t = c.d.remaining_args();
                if (t.empty()) throw c.d.err("reload duration value is missing");
                if (t.size() > 1) throw c.d.err("unexpected argument");
                try {
                    reload = gostd::parse_duration(t[0]);
                } catch (const std::invalid_argument&) {
                    throw c.d.err("invalid reload duration '" + t[0] + "'");
                }
            } else {
                throw c.d.err("unknown property '" + c.d.val() + "'");
            }
        }
        return std::make_shared<LoadBalance>(args[1], reload);
    }
    throw parser::ConfigError("unknown policy: " + args[0]);
}

}  // namespace

void setup_loadbalance(corefile::SetupContext& c) {
    auto lb = parse(c);
    c.add_plugin(lb);
    if (lb->policy() != loadbalance::Policy::weighted || c.opts.validate_only) return;
    // CoreDNS reads the weights file at startup and fails the start on a bad
    // file, or on a missing one when it will not be read again: refused here
    // at load time instead, so a reload to such a Corefile keeps the old one.
    FileError fe;
    if (auto content = read_file(lb->weight_file(), &fe)) {
        try {
            loadbalance::parse_weights(*content, lb->weight_file());
        } catch (const std::runtime_error& e) {
            throw parser::ConfigError(e.what());
        }
    } else if (fe.at_open && lb->reload().count() == 0) {
        throw parser::ConfigError("weight file open error");
    } else if (!fe.at_open) {
        throw parser::ConfigError(fe.text);
    }
    c.set.on_startup.push_back([lb](Host& host) { lb->start(host); });
    c.set.on_shutdown.push_back([lb](Host&) { lb->stop(); });
}

}  // namespace dnscore::plugins
