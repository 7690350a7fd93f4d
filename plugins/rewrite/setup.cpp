// `rewrite` directive parsing, as CoreDNS 1.12.2 plugin/rewrite/setup.go:
// every occurrence in a block is one rule of the same plugin; a line with
// fewer than two arguments takes the tokens of its { } block as its rule.
#include <stdexcept>

#include "corefile/setup.hpp"
#include "plugins/rewrite/rewrite.hpp"

namespace dnscore::plugins {

void setup_rewrite(corefile::SetupContext& c) {
    parser::Dispenser& d = c.d;
    std::vector<rewrite::Rule> rules;
    while (d.next()) {
        auto args = d.remaining_args();
        if (args.size() < 2)
            while (d.next_block()) args.push_back(d.val());
        rules.push_back(rewrite::new_rule(args));
    }
    if (rules.size() > rewrite::kMaxRules)
        throw std::invalid_argument("more than " + std::to_string(rewrite::kMaxRules) + " rules in one server block");
    c.add_plugin(std::make_shared<rewrite::Rewrite>(std::move(rules)));
}

}  // namespace dnscore::plugins
