#pragma once
// template: answers from Go templates (CoreDNS plugin/template). Each rule
// (one `template` directive) has its zones, class, type, regexes and RR
// templates parsed at setup; a query runs the first rule that matches,
// executing its templates into per-worker scratch (no parsing, no
// allocation on the common path) and parsing their text as RRs.
#include <memory>
#include <string>
#include <vector>

#include "core/gotemplate/gotemplate.hpp"
#include "core/plugin.hpp"
#include "core/regex.hpp"
#include "core/worker_local.hpp"
#include "core/zones.hpp"

namespace dnscore::plugins::tmpl {

// CoreDNS fall.F: fall through for all names (zones empty) or these zones.
struct Fall {
    bool on = false;
    ZoneSet zones;
    bool through(const uint8_t* name, size_t len) const {
        return on && (zones.empty() || zones.matches(name, len) != ZoneSet::npos);
    }
};

struct RRTemplate {
    gotemplate::Template t;
    std::string label;  // Tree.Root.String(): the metrics `template` label
};

struct MatchRegex {
    Regex re;
    int groups = 0;
    // Group's map: keys "0".."n" and the named groups (a name replaces a
    // number's entry), sorted as Go's fmt and range order them; value: the
    // submatch index.
    std::vector<std::pair<std::string, int>> group_keys;
};

struct Rule {
    std::vector<std::string> zone_names;
    ZoneSet zones;
    int rcode = 0;
    std::vector<MatchRegex> regex;
    bool default_regex = false;  // no `match`: `.*` (matches every name at 0)
    std::vector<RRTemplate> answer, additional, authority;
    uint16_t qclass = 255, qtype = 255;
    bool ede = false;
    uint16_t ede_code = 0;
    std::string ede_reason;
    Fall fall;
    bool needs_groups = false;  // some template may read .Match / .Group
};

class Template final : public Plugin {
public:
    Template();
    ~Template() override;
    std::string_view name() const override { return "template"; }
    Step query(Query& q) override;
    void query_async(std::unique_ptr<OwnedQuery> q) override;

    ZoneSet zones;  // union of the rules' zones
    std::vector<Rule> rules;
    size_t max_rrs = 0;  // most RR templates in one rule

    struct Scratch;
    struct Rendered;

private:
    // Runs the rules for q; fills `out` when one answers. Returns
    // Step::next (fell through), Step::done (answered or failed) or
    // Step::async (a CNAME answer needs upstream lookups).
    Step run(Query& q, Scratch& s, Rendered& out, bool allow_async);
    WorkerLocal<Scratch> scratch_;
};

}  // namespace dnscore::plugins::tmpl
