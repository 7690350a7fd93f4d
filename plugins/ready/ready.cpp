#include "plugins/ready/ready.hpp"

#include <algorithm>
#include <map>
#include <mutex>

#include "parser/gostd.hpp"
#include "core/http.hpp"
#include "core/net.hpp"
#include "core/log.hpp"
#include "core/host.hpp"

namespace dnscore::plugins {

namespace {

const log::PluginLog kLog{"ready"};

// One block's `ready`: its address and the block whose plugins it polls.
struct ReadyState {
    ReadyConfig cfg;
    const Block* block = nullptr;
    bool latched = false;  // until-ready: was ready once
    http::Handle handle;
};

// Live states by address: all blocks naming an address answer together.
std::mutex g_mu;
std::map<std::string, std::vector<std::shared_ptr<ReadyState>>> g_by_address;

http::Response answer(const std::string& address) {
    std::vector<std::shared_ptr<ReadyState>> states;
    {
        std::lock_guard lk(g_mu);
        auto it = g_by_address.find(address);
        if (it != g_by_address.end()) states = it->second;
    }
    std::vector<std::string> names;
    for (auto& s : states) {
        if (s->latched) continue;
        auto n = not_ready({s->block});
        if (n.empty() && s->cfg.until_ready) s->latched = true;
        names.insert(names.end(), n.begin(), n.end());
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    if (names.empty()) return {200, "text/plain; charset=utf-8", "OK"};
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ",") + n;
    kLog.info("Plugins not ready: {}", gostd::quote(list));
    return {503, "text/plain; charset=utf-8", list};
}

void unregister(const std::shared_ptr<ReadyState>& st) {
    {
        std::lock_guard lk(g_mu);
        auto& v = g_by_address[st->cfg.address];
        std::erase(v, st);
        if (v.empty()) g_by_address.erase(st->cfg.address);
    }
    st->handle.reset();
}

}  // namespace

std::vector<std::string> not_ready(const std::vector<const Block*>& blocks) {
    std::vector<std::string> out;
    for (const Block* b : blocks)
        for (const auto& p : b->plugins)
            if (!p->ready()) out.emplace_back(p->name());
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

ReadyConfig parse_ready(parser::Dispenser& d) {
    ReadyConfig cfg;
    int seen = 0;
    while (d.next()) {
        if (seen++ > 0) throw corefile::SetupContext::once_error();
        auto args = d.remaining_args();
        if (args.size() > 1) throw d.arg_err();
        if (args.size() == 1) {
            cfg.address = args[0];
            std::string host, port;
            net::split_host_port_or_throw(cfg.address, host, port);
        }
        while (d.next_block()) {
            if (d.val() == "monitor") {
                if (!d.next_arg()) throw d.arg_err();
                if (d.val() == "until-ready") cfg.until_ready = true;
                else if (d.val() == "continuously") cfg.until_ready = false;
                else throw d.err("monitor type '" + d.val() + "' not supported");
                if (d.next_arg()) throw d.arg_err();
            } else {
                throw d.err("unknown property '" + d.val() + "'");
            }
        }
    }
    return cfg;
}

void setup_ready(corefile::SetupContext& c) {
    auto st = std::make_shared<ReadyState>();
    st->cfg = parse_ready(c.d);
    st->block = &c.block;
    if (c.opts.validate_only) return;
    c.set.on_startup.push_back([st](Host& rt) {
        {
            std::lock_guard lk(g_mu);
            g_by_address[st->cfg.address].push_back(st);
        }
        st->handle = http::serve(rt.control(), st->cfg.address, "/ready",
                                 [address = st->cfg.address] { return answer(address); });
        std::string host, port;
        net::split_host_port_or_throw(st->cfg.address, host, port);
        if (port == "0") kLog.info("Serving /ready on {}", http::bound_address(st->cfg.address));
    });
    // Reload and exit alike: ready stops at once, before health's lameduck
    // wait, so /ready refuses connections while the process drains.
    c.set.on_shutdown.push_back([st](Host&) { unregister(st); });
}

}  // namespace dnscore::plugins
