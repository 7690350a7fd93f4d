#include "plugins/errors/errors.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <mutex>
#include <stdexcept>

#include "corefile/setup.hpp"
#include "core/host.hpp"

namespace dnscore::plugins {

namespace {

constexpr size_t kMaxRegexLength = 10000;
constexpr std::string_view kPlugin = "errors";
using Clock = std::chrono::steady_clock;

}  // namespace

struct Errors::State : std::enable_shared_from_this<State> {
    struct Pending {
        uint32_t count = 0;
        uint64_t generation = 0;
        Clock::time_point deadline{};
    };

    std::vector<ConsolidateRule> rules;
    std::vector<Pending> pending;
    std::mutex mu;
    boost::asio::io_context* io = nullptr;
    bool stopped = false;

    // CoreDNS logPattern: the summary of rule i, then a new window.
    void flush_locked(size_t i) {
        Pending& p = pending[i];
        const uint32_t cnt = p.count;
        p.count = 0;
        ++p.generation;
        if (cnt == 0) return;
        const ConsolidateRule& r = rules[i];
        if (r.show_first && cnt == 1) return;
        log::emit(r.level, kPlugin,
                  fmt::format("{} errors like '{}' occurred in last {}", cnt, r.source,
                              gostd::format_duration(r.period)));
    }

    void flush_due_locked(Clock::time_point now) {
        for (size_t i = 0; i < pending.size(); ++i)
            if (pending[i].count > 0 && pending[i].deadline <= now) flush_locked(i);
    }

    void arm_locked(size_t i) {
        if (io == nullptr) return;
        auto self = shared_from_this();
        const uint64_t gen = pending[i].generation;
        const Clock::time_point deadline = pending[i].deadline;
        boost::asio::io_context* ctx = io;
        boost::asio::post(*ctx, [self, ctx, i, gen, deadline] {
            auto t = std::make_shared<boost::asio::steady_timer>(*ctx, deadline);
            t->async_wait([self, t, i, gen](const boost::system::error_code& ec) {
                if (ec) return;
                std::lock_guard<std::mutex> lock(self->mu);
                if (self->pending[i].generation == gen) self->flush_locked(i);
            });
        });
    }
};

Errors::Errors(std::vector<ConsolidateRule> rules) : st_(std::make_shared<State>()) {
    st_->rules = std::move(rules);
    st_->pending.resize(st_->rules.size());
}

Errors::~Errors() = default;

size_t Errors::rule_count() const { return st_->rules.size(); }
const ConsolidateRule& Errors::rule(size_t i) const { return st_->rules.at(i); }

void Errors::report(int rcode, std::string_view qname, std::string_view qtype, std::string_view err) {
    State& s = *st_;
    {
        std::lock_guard<std::mutex> lock(s.mu);
        const Clock::time_point now = Clock::now();
        if (s.io == nullptr) s.flush_due_locked(now);
        for (size_t i = 0; i < s.rules.size(); ++i) {
            const ConsolidateRule& r = s.rules[i];
            if (!r.re.search(err)) continue;
            if (s.stopped) break;  // CoreDNS inc() after stop: log it normally
            State::Pending& p = s.pending[i];
            if (++p.count == 1) {
                p.deadline = now + std::chrono::duration_cast<Clock::duration>(r.period);
                if (r.show_first)
                    log::emit(r.level, kPlugin, fmt::format("{} {} {}: {}", rcode, qname, qtype, err));
                s.arm_locked(i);
            }
            return;
        }
    }
    log::emit(log::Level::error, kPlugin, fmt::format("{} {} {}: {}", rcode, qname, qtype, err));
}

void Errors::response(Query& q) {
    if (q.error.empty()) return;
    char name[1024];
    const size_t nlen = q.info.has_question ? q.name_text(name, sizeof name) : 0;
    char scratch[16];
    const std::string_view type = wire::type_name(q.info.qtype, scratch);
    report(q.rcode, nlen ? std::string_view(name, nlen) : std::string_view("."), type, q.error);
}

void Errors::attach(boost::asio::io_context& io) {
    std::lock_guard<std::mutex> lock(st_->mu);
    st_->io = &io;
    // Windows opened before the context was known get their timer now.
    for (size_t i = 0; i < st_->pending.size(); ++i)
        if (st_->pending[i].count > 0) st_->arm_locked(i);
}

void Errors::stop() {
    std::lock_guard<std::mutex> lock(st_->mu);
    st_->stopped = true;
    for (size_t i = 0; i < st_->pending.size(); ++i)
        if (st_->pending[i].count > 0) st_->flush_locked(i);
}

namespace {

// consolidate DURATION REGEXP [LEVEL] [show_first]
ConsolidateRule parse_consolidate(parser::Dispenser& d) {
    const auto args = d.remaining_args();
    if (args.size() < 2 || args.size() > 4) throw d.arg_err();
    ConsolidateRule r;
    try {
        r.period = gostd::parse_duration(args[0]);
    } catch (const std::invalid_argument& e) {
        throw d.err(e.what());
    }
    if (args[1].size() > kMaxRegexLength)
        throw d.err(fmt::format("regex pattern too long: {} > {}", args[1].size(), kMaxRegexLength));
    try {
        r.re = Regex(args[1]);
    } catch (const std::invalid_argument& e) {
        throw d.err(e.what());
    }
    r.source = args[1];
    bool have_level = false;
    for (size_t i = 2; i < args.size(); ++i) {
        const std::string& a = args[i];
        log::Level lv{};
        bool is_level = true;
        if (a == "warning") lv = log::Level::warning;
        else if (a == "error") lv = log::Level::error;
        else if (a == "info") lv = log::Level::info;
        else if (a == "debug") lv = log::Level::debug;
        else is_level = false;
        if (is_level) {
            if (have_level) throw d.err("multiple log levels specified in consolidate");
            if (r.show_first) throw d.err("log level must come before show_first in consolidate");
            r.level = lv;
            have_level = true;
        } else if (a == "show_first") {
            r.show_first = true;
        } else {
            throw d.err("unknown option in consolidate: " + a);
        }
    }
    return r;
}

}  // namespace

void setup_errors(corefile::SetupContext& c) {
    parser::Dispenser& d = c.d;
    std::vector<ConsolidateRule> rules;
    int i = 0;
    while (d.next()) {
        if (i++ > 0) throw corefile::SetupContext::once_error();
        const auto args = d.remaining_args();
        if (args.size() == 1) {
            if (args[0] != "stdout") throw d.err("invalid log file: " + args[0]);
        } else if (args.size() > 1) {
            throw d.arg_err();
        }
        while (d.next_block()) {
            const std::string& v = d.val();
            if (v == "stacktrace") {
                // Panics are not recovered by dnscore; accepted for compatibility.
            } else if (v == "consolidate") {
                rules.push_back(parse_consolidate(d));
            } else {
                throw d.syntax_err("Unknown field " + v);
            }
        }
    }
    auto plugin = std::make_shared<Errors>(std::move(rules));
    if (plugin->rule_count() > 0) {
        std::weak_ptr<Errors> w = plugin;
        c.set.on_startup.push_back([w](Host& rt) {
            if (auto p = w.lock()) p->attach(rt.control());
        });
        auto stop = [w](Host&) {
            if (auto p = w.lock()) p->stop();
        };
        c.set.on_shutdown.push_back(stop);
        c.set.on_final_shutdown.push_back(stop);
    }
    c.add_plugin(std::move(plugin));
}

}  // namespace dnscore::plugins
