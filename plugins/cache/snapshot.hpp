#pragma once
// Cache snapshots: every cache store of the process (success and denial of
// every cache instance) serialised with each entry's age, so a restarted or
// upgraded process starts warm. Entries are matched back to their store by
// the store's registry id (the cache configuration plus the server block's
// keys, see setup_cache): a block whose cache configuration changed starts
// cold. Beyond CoreDNS (docs/operations.md "Warm start and handover").
//
// Format (version 1, integers little-endian):
//   "DNSCSNAP" u16 version u16 0 i64 written_wall_s u32 sections
//   section: u16 id_len id u8 kind(0 success, 1 denial) u32 entries
//   entry:   u8 name_len name u16 qtype u8 flags(1 DO, 2 CD) u32 ttl_s
//            u64 age_ms u16 msg_len msg
//   trailer: u64 FNV-1a of every byte before it
// A reader rejects (and restores nothing from) any input that is truncated,
// oversized, of another version or fails the checksum; an entry whose message
// does not parse or whose question is not its key is skipped.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "plugins/cache/store.hpp"

namespace dnscore::plugins::cache {

constexpr uint16_t kSnapshotVersion = 1;
// Upper bound of a snapshot (written and read): entries past it are left out.
constexpr size_t kMaxSnapshotBytes = 64u << 20;

struct SnapshotStats {
    size_t stores = 0;    // stores written / matched
    size_t entries = 0;   // entries written / restored
    size_t skipped = 0;   // entries left out: expired, past the bound, unknown store, bad message
};

// Serialises every live store. Entries no longer servable (expired beyond
// their store's stale window) are left out.
std::string write_snapshot(const Clock& clock = system_clock(), size_t max_bytes = kMaxSnapshotBytes,
                           SnapshotStats* stats = nullptr);

// Restores a snapshot into the live stores with the same ids, aging every
// entry by the wall-clock time since the snapshot was written. Throws
// std::invalid_argument (nothing restored) on malformed input.
SnapshotStats load_snapshot(std::string_view data, const Clock& clock = system_clock());
// (Files: server/handover.hpp's read_state_file/write_state_file.)

}  // namespace dnscore::plugins::cache
