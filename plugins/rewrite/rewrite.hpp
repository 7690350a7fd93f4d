#pragma once
// The rewrite plugin (CoreDNS 1.12.2 plugin/rewrite): rewrites the request
// (question name, type, class, EDNS0 options) in its wire bytes before the
// plugins below see it, and reverts the reply on the way back (question
// restored, owner names and values mapped back, TTLs and rcodes rewritten)
// as reverter.go does.
#include <memory>
#include <string_view>
#include <vector>

#include "core/plugin.hpp"
#include "plugins/rewrite/rules.hpp"

namespace dnscore::plugins::rewrite {

// Rules fired per exchange are a bit mask.
constexpr size_t kMaxRules = 64;

class Rewrite final : public Plugin {
public:
    explicit Rewrite(std::vector<Rule> rules);
    std::string_view name() const override { return "rewrite"; }
    Step query(Query& q) override;
    void query_async(std::unique_ptr<OwnedQuery> q) override;
    void response(Query& q) override;

    const std::vector<Rule>& rules() const { return rules_; }

private:
    struct State;
    // Applies the response rules to the reply in q.resp (reverter.go WriteMsg).
    void revert_reply(Query& q, State& st) const;
    // cname_target.go: the CNAME target rewrite with its upstream lookup.
    void cname_reply(std::unique_ptr<OwnedQuery> q) const;

    std::vector<Rule> rules_;
    bool has_cname_ = false;
};

}  // namespace dnscore::plugins::rewrite
