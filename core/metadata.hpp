#pragma once
// CoreDNS metadata.ValueFunc: values plugins publish per exchange.
// (Placeholder until the metadata plugin lands: the lead keeps the misc
// helper's version when merging.)
#include <string>
#include <string_view>

#include "core/query.hpp"

namespace dnscore::metadata {
// CoreDNS metadata.ValueFunc(ctx, name)(): the value another plugin published for q
// (e.g. "forward/upstream", "trace/traceid"), into `out`. False when the metadata plugin
// is not in q's chain or nothing published `name`. Not for the hot path of plugins that
// don't use metadata (callers: log's {/name} placeholder, template's .Meta).
bool value(const Query& q, std::string_view name, std::string& out);
}  // namespace dnscore::metadata
