#pragma once
// Single-flight on one worker: the leader exchanges in flight, found by the
// question's hash (the cache's, Query::cache_hash, when a cache computed it)
// and confirmed by a full key compare. A fixed array of buckets whose chains
// run through the leader records themselves: no key string, no node per
// miss. Single thread.
#include <array>
#include <cstddef>
#include <cstdint>

namespace dnscore::plugins::forward {

// Node needs `uint64_t flight_hash` and `Node* flight_next`.
template <class Node, size_t kBuckets = 1024>
class FlightTable {
    static_assert((kBuckets & (kBuckets - 1)) == 0, "power of two");

public:
    // The leader with this hash for which same(leader) holds, or nullptr.
    template <class Same>
    Node* find(uint64_t hash, Same&& same) const {
        for (Node* n = buckets_[bucket(hash)]; n; n = n->flight_next)
            if (n->flight_hash == hash && same(*n)) return n;
        return nullptr;
    }

    // `n` (flight_hash set, not in the table) becomes findable.
    void insert(Node& n) {
        Node*& head = buckets_[bucket(n.flight_hash)];
        n.flight_next = head;
        head = &n;
        ++size_;
    }

    // Removes `n` if it is in the table; returns whether it was.
    bool erase(Node& n) {
        for (Node** p = &buckets_[bucket(n.flight_hash)]; *p; p = &(*p)->flight_next) {
            if (*p == &n) {
                *p = n.flight_next;
                n.flight_next = nullptr;
                --size_;
                return true;
            }
        }
        return false;
    }

    size_t size() const { return size_; }

private:
    static size_t bucket(uint64_t h) { return size_t(h ^ (h >> 32)) & (kBuckets - 1); }
    std::array<Node*, kBuckets> buckets_{};
    size_t size_ = 0;
};

// The exchanges waiting on one UDP socket, by upstream message ID: at most
// N (<= 64) at once (a socket carries at most N exchanges in its life), IDs
// unique among those waiting so a reply names exactly one of them. A bit
// mask of the used slots keeps lookups to the few waiting.
template <class T, size_t N>
class PendingIds {
    static_assert(N > 0 && N <= 64, "one bit per slot");

public:
    // Adds `t` under `id`; false if `id` is waiting already or the table is full.
    bool add(uint16_t id, T* t) {
        if (used_ == kAll || find(id) != N) return false;
        const size_t i = size_t(__builtin_ctzll(~used_));
        ids_[i] = id;
        who_[i] = t;
        used_ |= uint64_t(1) << i;
        return true;
    }
    bool contains(uint16_t id) const { return find(id) != N; }
    // Removes and returns the exchange waiting for `id`, or nullptr.
    T* take(uint16_t id) {
        const size_t i = find(id);
        if (i == N) return nullptr;
        used_ &= ~(uint64_t(1) << i);
        return who_[i];
    }
    // Removes `t` waiting under `id` (a timeout); false if it was not there.
    bool remove(uint16_t id, const T* t) {
        const size_t i = find(id);
        if (i == N || who_[i] != t) return false;
        used_ &= ~(uint64_t(1) << i);
        return true;
    }
    // Removes and returns any one waiting exchange, or nullptr when empty.
    T* take_any() {
        if (!used_) return nullptr;
        const size_t i = size_t(__builtin_ctzll(used_));
        used_ &= ~(uint64_t(1) << i);
        return who_[i];
    }
    size_t size() const { return size_t(__builtin_popcountll(used_)); }
    bool empty() const { return used_ == 0; }

private:
    static constexpr uint64_t kAll = N == 64 ? ~uint64_t(0) : (uint64_t(1) << N) - 1;
    size_t find(uint16_t id) const {
        for (uint64_t m = used_; m; m &= m - 1) {
            const size_t i = size_t(__builtin_ctzll(m));
            if (ids_[i] == id) return i;
        }
        return N;
    }
    std::array<uint16_t, N> ids_{};
    std::array<T*, N> who_{};
    uint64_t used_ = 0;
};

}  // namespace dnscore::plugins::forward
