#include "plugins/metadata/metadata.hpp"

#include "core/metadata.hpp"
#include "corefile/setup.hpp"

namespace dnscore::plugins {

Step Metadata::query(Query& q) {
    // CoreDNS's server calls Collect before the chain; metadata is first in
    // plugin.cfg, so turning it on here is the same moment.
    metadata::enable(q);
    return Step::next;
}

void setup_metadata(corefile::SetupContext& c) {
    // CoreDNS metadataParse: one line, zones as arguments, no block; a second
    // `metadata` line is the "unexpected" token after the first.
    c.d.next();
    auto zones = c.zones_or_block(c.d.remaining_args());
    if (c.d.next_block() || c.d.next()) throw c.d.arg_err();
    c.add_plugin(std::make_shared<Metadata>(std::move(zones)));
}

}  // namespace dnscore::plugins
