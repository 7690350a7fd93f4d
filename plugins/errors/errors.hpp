#pragma once
// errors: logs the error returned up the chain (CoreDNS plugin/errors), with
// optional consolidation of errors matching a pattern into one summary line
// per period.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "parser/gostd.hpp"
#include "core/log.hpp"
#include "core/plugin.hpp"
#include "core/regex.hpp"

namespace boost::asio {
class io_context;
}

namespace dnscore::plugins {

// One `consolidate DURATION REGEXP [LEVEL] [show_first]` line.
struct ConsolidateRule {
    gostd::Duration period{};
    std::string source;  // the pattern as written (printed in the summary)
    Regex re;            // Go regexp (RE2)
    log::Level level = log::Level::error;
    bool show_first = false;
};

class Errors final : public Plugin {
public:
    explicit Errors(std::vector<ConsolidateRule> rules);
    ~Errors() override;

    std::string_view name() const override { return "errors"; }
    Step query(Query&) override { return Step::next; }
    void response(Query& q) override;

    // Logs the error of one exchange (what response() does once it knows
    // q.error is set); exposed for tests.
    void report(int rcode, std::string_view qname, std::string_view qtype, std::string_view err);

    // Summary timers run on this io_context from now on (set from a startup
    // hook with the Runtime's control context). Without one, due summaries
    // are printed on the next error or at stop().
    void attach(boost::asio::io_context& io);
    // CoreDNS handler.stop(): prints pending summaries now; later matching
    // errors are logged one by one.
    void stop();

    size_t rule_count() const;
    const ConsolidateRule& rule(size_t i) const;

    struct State;

private:
    std::shared_ptr<State> st_;
};

}  // namespace dnscore::plugins
