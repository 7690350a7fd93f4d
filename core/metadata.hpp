#pragma once
// CoreDNS plugin/metadata's per-request map (metadata.SetValueFunc /
// ValueFunc), kept in the exchange itself: a few labelled values that one
// plugin publishes and a later one (log's {/LABEL}, template's .Meta) reads.
// Nothing is stored unless the `metadata` plugin is in the exchange's chain
// (CoreDNS: no metadata collector, no map in the context); then publishing is
// one branch. Values are copied into bounded storage inside the Query, so
// they travel with an exchange that goes async and cost no allocation.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dnscore {

struct Query;

namespace metadata {

constexpr size_t kMaxValues = 8;        // labels per exchange
constexpr size_t kMaxValueBytes = 256;  // bytes of all values of one exchange

// The storage inside each Query (Query::meta). `on` is set by the metadata
// plugin when the exchange enters its chain; reset with the exchange.
struct Store {
    struct Entry {
        std::string_view label;  // static or setup-time text (outlives the exchange)
        uint16_t off = 0, len = 0;  // the value in `bytes`
    };
    bool on = false;
    uint8_t count = 0;
    uint16_t used = 0;
    std::array<Entry, kMaxValues> entries{};
    std::array<char, kMaxValueBytes> bytes{};

    void reset() {
        on = false;
        count = 0;
        used = 0;
    }
};

// CoreDNS metadata.IsLabel: "plugin/label", both parts non-empty.
bool is_label(std::string_view label);

// Turns metadata on for q (the metadata plugin's Collect).
void enable(Query& q);
// Whether q's chain collects metadata.
bool enabled(const Query& q);

// metadata.SetValueFunc: publishes `value` under `label` for q (replacing an
// earlier value of the label). `label` must outlive the exchange (a literal
// or text kept by the plugin's configuration). False when metadata is off
// for q or the storage bounds are reached (the value is then not set).
bool set(Query& q, std::string_view label, std::string_view value);

// The value published under `label`, pointing into q (valid until q changes),
// or nothing when metadata is off or nothing published it. No allocation.
std::optional<std::string_view> find(const Query& q, std::string_view label);

// CoreDNS metadata.ValueFunc(ctx, name)(): the value another plugin published
// for q (e.g. "forward/upstream"), into `out`. False when the metadata plugin
// is not in q's chain or nothing published `name`.
bool value(const Query& q, std::string_view name, std::string& out);

}  // namespace metadata
}  // namespace dnscore
