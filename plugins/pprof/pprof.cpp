// pprof: setup (CoreDNS plugin/pprof/setup.go) and the /debug/pprof
// endpoints on the control thread's HTTP server.
#include "plugins/pprof/pprof.hpp"

#include <gperftools/profiler.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "core/host.hpp"
#include "core/log.hpp"
#include "core/net.hpp"
#include "corefile/setup.hpp"
#include "parser/dispenser.hpp"
#include "parser/gostd.hpp"

namespace dnscore::plugins::pprof {

namespace {

const log::PluginLog kLog{"pprof"};
constexpr const char* kPath = "/debug/pprof";
std::atomic<bool> g_profiling{false};  // libprofiler profiles the whole process, once at a time

http::Response text(unsigned status, std::string body) {
    return {status, "text/plain; charset=utf-8", std::move(body), {{"X-Content-Type-Options", "nosniff"}}};
}

// Go's pprof serveError.
http::Response go_error(unsigned status, const std::string& txt) {
    return {status, "text/plain; charset=utf-8", txt + "\n", {{"X-Go-Pprof", "1"}, {"X-Content-Type-Options", "nosniff"}}};
}

const char* const kIndex = R"(<html>
<head>
<title>/debug/pprof/</title>
</head>
<body>
/debug/pprof/
<br>
<p>dnscore is a C++ process: it serves what a C++ process can honestly offer.</p>
<table>
<tr><td><a href='profile?seconds=30'>profile</a></td><td>CPU profile of the whole process (gperftools libprofiler, legacy format; <code>seconds</code> defaults to 30). Read it with <code>pprof /path/to/dnscore http://HOST/debug/pprof/profile?seconds=N</code>.</td></tr>
<tr><td><a href='cmdline'>cmdline</a></td><td>The command line, arguments separated by NUL bytes.</td></tr>
</table>
<p>Not available (404): heap and allocs (dnscore does not run on tcmalloc, glibc malloc keeps no allocation profile), goroutine, block, mutex, threadcreate and trace (Go runtime profiles), symbol (symbolize locally with the binary).</p>
</body>
</html>
)";

struct Unavailable {
    const char* name;
    const char* why;
};
const Unavailable kUnavailable[] = {
    {"heap", "heap profile not available: dnscore does not run on tcmalloc, and glibc malloc keeps no allocation profile"},
    {"allocs", "allocs profile not available: dnscore does not run on tcmalloc, and glibc malloc keeps no allocation profile"},
    {"goroutine", "goroutine profile not available: dnscore is not a Go program (no goroutines)"},
    {"block", "block profile not available: dnscore is not a Go program (no Go runtime to record blocking)"},
    {"mutex", "mutex profile not available: dnscore is not a Go program (no Go runtime to record contention)"},
    {"threadcreate", "threadcreate profile not available: dnscore is not a Go program"},
    {"trace", "execution trace not available: dnscore is not a Go program (no Go runtime tracer)"},
    {"symbol", "symbol lookup not available: symbolize the profile locally with the dnscore binary"},
};

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void profile(boost::asio::io_context& io, const std::string& target, std::function<void(http::Response)> reply) {
    const long sec = profile_seconds(target);
    if (g_profiling.exchange(true))
        return reply(go_error(500, "Could not enable CPU profiling: cpu profiling already in use"));
    char tmpl[] = "/tmp/dnscore-cpu-XXXXXX";
    const int fd = mkstemp(tmpl);
    if (fd < 0) {
        g_profiling.store(false);
        return reply(go_error(500, "Could not enable CPU profiling: " + net::errno_text(errno)));
    }
    ::close(fd);
    const std::string path = tmpl;
    if (!ProfilerStart(path.c_str())) {
        g_profiling.store(false);
        ::unlink(path.c_str());
        return reply(go_error(500, "Could not enable CPU profiling: libprofiler could not start"));
    }
    auto timer = std::make_shared<boost::asio::steady_timer>(io, std::chrono::seconds(sec));
    timer->async_wait([timer, path, reply = std::move(reply)](const boost::system::error_code&) {
        ProfilerStop();
        std::string data = read_file(path);
        ::unlink(path.c_str());
        g_profiling.store(false);
        if (data.empty()) return reply(go_error(500, "Could not enable CPU profiling: empty profile"));
        reply({200,
               "application/octet-stream",
               std::move(data),
               {{"Content-Disposition", "attachment; filename=\"profile\""}, {"X-Content-Type-Options", "nosniff"}}});
    });
}

}  // namespace

long profile_seconds(const std::string& target) {
    const size_t q = target.find('?');
    if (q == std::string::npos) return 30;
    std::string query = target.substr(q + 1);
    size_t pos = 0;
    while (pos <= query.size()) {
        size_t amp = query.find('&', pos);
        if (amp == std::string::npos) amp = query.size();
        const std::string kv = query.substr(pos, amp - pos);
        if (kv.rfind("seconds=", 0) == 0) {
            try {
                const long long v = gostd::atoi(kv.substr(8));
                return v > 0 ? long(std::min<long long>(v, 24 * 3600)) : 30;
            } catch (const std::exception&) {
                return 30;
            }
        }
        pos = amp + 1;
    }
    return 30;
}

std::vector<http::Handle> serve(boost::asio::io_context& io, const Config& cfg) {
    std::vector<http::Handle> hs;
    const std::string base = kPath;
    hs.push_back(http::serve(io, cfg.addr, base, [base] {
        return http::Response{302, "text/html; charset=utf-8", "<a href=\"" + base + "/\">Found</a>.\n\n",
                              {{"Location", base + "/"}}};
    }));
    hs.push_back(http::serve(io, cfg.addr, base + "/", [] { return http::Response{200, "text/html; charset=utf-8", kIndex}; }));
    hs.push_back(http::serve_async(io, cfg.addr, base + "/profile",
                                   [&io](const std::string& target, std::function<void(http::Response)> reply) {
                                       profile(io, target, std::move(reply));
                                   }));
    hs.push_back(http::serve(io, cfg.addr, base + "/cmdline", [] { return text(200, read_file("/proc/self/cmdline")); }));
    for (const auto& u : kUnavailable) {
        const std::string why = u.why;
        hs.push_back(http::serve(io, cfg.addr, base + "/" + u.name, [why] { return text(404, why + "\n"); }));
    }
    return hs;
}

Config parse_pprof(parser::Dispenser& d) {
    Config c;
    int i = 0;
    while (d.next()) {
        if (i > 0) throw corefile::SetupContext::once_error();
        ++i;
        const auto args = d.remaining_args();
        if (args.size() == 1) {
            c.addr = args[0];
            std::string host, port, err;
            if (!net::split_host_port(c.addr, host, port, &err)) throw d.err(err);
        }
        if (args.size() > 1) throw d.arg_err();
        while (d.next_block()) {
            if (d.val() == "block") {
                const auto a = d.remaining_args();
                if (a.size() > 1) throw d.arg_err();
                c.block_rate = 1;
                if (!a.empty()) {
                    try {
                        c.block_rate = int(gostd::atoi(a[0]));
                    } catch (const std::exception&) {
                        throw d.err("property 'block' invalid integer value '" + a[0] + "'");
                    }
                }
            } else {
                throw d.err("unknown property '" + d.val() + "'");
            }
        }
    }
    return c;
}

}  // namespace dnscore::plugins::pprof

namespace dnscore::plugins {

void setup_pprof(corefile::SetupContext& c) {
    using namespace pprof;
    const Config cfg = parse_pprof(c.d);
    struct State {
        std::vector<http::Handle> handles;
    };
    auto st = std::make_shared<State>();
    c.set.on_startup.push_back([st, cfg](Host& rt) {
        try {
            st->handles = serve(rt.control(), cfg);
        } catch (const std::exception& e) {
            kLog.error("Failed to start pprof handler: {}", e.what());
            throw;
        }
        std::string host, port;
        net::split_host_port(cfg.addr, host, port);
        if (port == "0") kLog.info("Serving {}/ on {}", kPath, http::bound_address(cfg.addr));
    });
    c.set.on_shutdown.push_back([st](Host&) { st->handles.clear(); });
}

}  // namespace dnscore::plugins
