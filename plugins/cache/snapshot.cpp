#include "plugins/cache/snapshot.hpp"

#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/wire/reply.hpp"
#include "core/wire/wire.hpp"
#include "plugins/cache/cache.hpp"

namespace dnscore::plugins::cache {

namespace {

constexpr char kMagic[8] = {'D', 'N', 'S', 'C', 'S', 'N', 'A', 'P'};
constexpr size_t kHeaderLen = 8 + 2 + 2 + 8 + 4;
constexpr size_t kTrailerLen = 8;

uint64_t fnv1a(const uint8_t* p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; ++i) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

void put(std::string& out, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(char(uint8_t(v >> (8 * i))));
}

// Bounds-checked little-endian reader; every read past the end throws.
struct Reader {
    const uint8_t* p;
    size_t n;
    size_t off = 0;
    const uint8_t* take(size_t len) {
        if (len > n - off) throw std::invalid_argument("truncated at byte " + std::to_string(off));
        const uint8_t* r = p + off;
        off += len;
        return r;
    }
    uint64_t get(int bytes) {
        const uint8_t* b = take(size_t(bytes));
        uint64_t v = 0;
        for (int i = 0; i < bytes; ++i) v |= uint64_t(b[i]) << (8 * i);
        return v;
    }
};

// A wire name: labels of at most 63 octets ending in the root label, all of
// it exactly `len` octets, lower case (keys are).
bool valid_key_name(const uint8_t* name, size_t len) {
    size_t i = 0;
    while (i < len) {
        const uint8_t l = name[i];
        if (l == 0) return i + 1 == len;
        if (l > 63 || i + 1 + l > len) return false;
        for (size_t j = i + 1; j <= i + l; ++j)
            if (name[j] >= 'A' && name[j] <= 'Z') return false;
        i += 1 + l;
    }
    return false;
}

// The stored message must carry the key's question first: cache hits copy
// the client's question over it in place.
bool question_matches(const uint8_t* msg, size_t len, const uint8_t* name, size_t name_len, uint16_t qtype) {
    if (len < wire::kHeaderLen + name_len + 4) return false;
    if (((msg[4] << 8) | msg[5]) != 1) return false;
    for (size_t i = 0; i < name_len; ++i) {
        uint8_t c = msg[wire::kHeaderLen + i];
        if (c >= 'A' && c <= 'Z') c = uint8_t(c + 32);
        if (c != name[i]) return false;
    }
    const size_t t = wire::kHeaderLen + name_len;
    return ((msg[t] << 8) | msg[t + 1]) == qtype;
}

Store::Insert insert_waiting(Store& s, Entry&& e) {
    // Store::insert skips a busy shard (the hot path must not wait); a
    // restore would rather wait its turn.
    for (int i = 0; i < 10000; ++i) {
        const Store::Insert r = s.insert(std::move(e));
        if (r != Store::Insert::busy) return r;
        std::this_thread::yield();
    }
    return Store::Insert::busy;
}

// Parses `data`; with `apply` inserts every usable entry into the live
// stores. Called once without apply (validation), then with.
SnapshotStats parse(std::string_view data, const Clock& clock, bool apply) {
    SnapshotStats st;
    Reader r{reinterpret_cast<const uint8_t*>(data.data()), data.size() - kTrailerLen};
    if (std::memcmp(r.take(8), kMagic, 8) != 0) throw std::invalid_argument("not a cache snapshot");
    const uint64_t version = r.get(2);
    if (version != kSnapshotVersion)
        throw std::invalid_argument("unsupported snapshot version " + std::to_string(version));
    r.get(2);
    const int64_t written_wall_s = int64_t(r.get(8));
    const uint64_t sections = r.get(4);
    // Time that passed while no process held the entries (clock steps back:
    // none).
    const int64_t gap_s = std::max<int64_t>(0, clock.wall_s() - written_wall_s);
    const int64_t now = clock.now_ns();
    for (uint64_t s = 0; s < sections; ++s) {
        const size_t id_len = size_t(r.get(2));
        const uint8_t* id = r.take(id_len);
        const uint64_t kind = r.get(1);
        if (kind > 1) throw std::invalid_argument("bad store kind " + std::to_string(kind));
        const uint64_t count = r.get(4);
        std::shared_ptr<Stores> stores;
        if (apply) {
            stores = find_stores(std::string(reinterpret_cast<const char*>(id), id_len));
            if (stores) ++st.stores;
        }
        for (uint64_t i = 0; i < count; ++i) {
            const size_t name_len = size_t(r.get(1));
            const uint8_t* name = r.take(name_len);
            const uint16_t qtype = uint16_t(r.get(2));
            const uint64_t flags = r.get(1);
            const uint32_t ttl_s = uint32_t(r.get(4));
            const uint64_t age_ms = r.get(8);
            const size_t msg_len = size_t(r.get(2));
            const uint8_t* msg = r.take(msg_len);
            if (!apply) continue;
            if (!stores || !valid_key_name(name, name_len) || !question_matches(msg, msg_len, name, name_len, qtype)) {
                ++st.skipped;
                continue;
            }
            // Age now: at writing plus the gap, in whole milliseconds.
            const int64_t age_ns = int64_t(std::min<uint64_t>(age_ms, uint64_t(1) << 40)) * 1'000'000 + gap_s * kSecond;
            const int64_t keep_s = stores->keep_expired_s.load(std::memory_order_relaxed);
            if (int64_t(ttl_s) - age_ns / kSecond + keep_s <= 0) {
                ++st.skipped;
                continue;
            }
            Key k;
            k.name = name;
            k.name_len = uint8_t(name_len);
            k.qtype = qtype;
            k.do_bit = flags & 1;
            k.cd_bit = flags & 2;
            k.hash = key_hash(process_seed(), name, name_len, qtype, k.do_bit, k.cd_bit);
            Entry e;
            if (!make_entry(msg, msg_len, k, now - age_ns, ttl_s, e)) {
                ++st.skipped;
                continue;
            }
            Store& target = kind == 0 ? stores->success : stores->denial;
            if (insert_waiting(target, std::move(e)) == Store::Insert::busy) ++st.skipped;
            else ++st.entries;
        }
        if (apply && !stores) st.skipped += count;
    }
    if (r.off != r.n) throw std::invalid_argument("trailing bytes after the last section");
    return st;
}

}  // namespace

std::string write_snapshot(const Clock& clock, size_t max_bytes, SnapshotStats* stats) {
    SnapshotStats st;
    std::string out(kMagic, 8);
    put(out, kSnapshotVersion, 2);
    put(out, 0, 2);
    put(out, uint64_t(clock.wall_s()), 8);
    const size_t sections_at = out.size();
    put(out, 0, 4);
    uint32_t sections = 0;
    const int64_t now = clock.now_ns();
    bool full = false;
    for_each_stores([&](const std::string& id, Stores& stores) {
        if (id.size() > 0xffff) return;
        ++st.stores;
        const int64_t keep_s = stores.keep_expired_s.load(std::memory_order_relaxed);
        for (int kind = 0; kind < 2; ++kind) {
            put(out, id.size(), 2);
            out += id;
            put(out, uint64_t(kind), 1);
            const size_t count_at = out.size();
            put(out, 0, 4);
            uint32_t count = 0;
            (kind == 0 ? stores.success : stores.denial).for_each([&](const Entry& e) {
                const int64_t age_ns = std::max<int64_t>(0, now - e.stored_ns);
                if (int64_t(e.ttl_s) - age_ns / kSecond + keep_s <= 0 || full) {
                    ++st.skipped;
                    return;
                }
                const size_t need = 1 + e.name_len + 2 + 1 + 4 + 8 + 2 + e.msg_len;
                if (out.size() + need + kTrailerLen > max_bytes) {
                    full = true;  // bounded: the rest is left out
                    ++st.skipped;
                    return;
                }
                put(out, e.name_len, 1);
                out.append(reinterpret_cast<const char*>(e.name()), e.name_len);
                put(out, e.qtype, 2);
                put(out, uint64_t(e.do_bit) | uint64_t(e.cd_bit) << 1, 1);
                put(out, e.ttl_s, 4);
                put(out, uint64_t(age_ns / 1'000'000), 8);
                put(out, e.msg_len, 2);
                out.append(reinterpret_cast<const char*>(e.msg()), e.msg_len);
                ++count;
            });
            for (int i = 0; i < 4; ++i) out[count_at + size_t(i)] = char(uint8_t(count >> (8 * i)));
            st.entries += count;
            ++sections;
        }
    });
    for (int i = 0; i < 4; ++i) out[sections_at + size_t(i)] = char(uint8_t(sections >> (8 * i)));
    put(out, fnv1a(reinterpret_cast<const uint8_t*>(out.data()), out.size()), 8);
    if (stats) *stats = st;
    return out;
}

SnapshotStats load_snapshot(std::string_view data, const Clock& clock) {
    if (data.size() > kMaxSnapshotBytes)
        throw std::invalid_argument("snapshot larger than " + std::to_string(kMaxSnapshotBytes) + " bytes");
    if (data.size() < kHeaderLen + kTrailerLen) throw std::invalid_argument("truncated snapshot");
    const auto* p = reinterpret_cast<const uint8_t*>(data.data());
    uint64_t sum = 0;
    for (int i = 0; i < 8; ++i) sum |= uint64_t(p[data.size() - kTrailerLen + size_t(i)]) << (8 * i);
    if (std::memcmp(p, kMagic, 8) != 0) throw std::invalid_argument("not a cache snapshot");
    if (sum != fnv1a(p, data.size() - kTrailerLen)) throw std::invalid_argument("checksum mismatch (corrupt or truncated)");
    parse(data, clock, false);  // everything well-formed before anything changes
    return parse(data, clock, true);
}

}  // namespace dnscore::plugins::cache
