#pragma once
// A bounded single-producer single-consumer byte ring of length-prefixed
// records: a worker writes records (dnstap payloads, trace spans) into its
// own ring, a background thread reads them. No locks, no allocation after construction; a
// record that does not fit is refused (the caller counts the drop).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

namespace dnscore {

class SpscRing {
public:
    explicit SpscRing(size_t capacity) : cap_(capacity & ~size_t(3)), buf_(new uint8_t[cap_ ? cap_ : 4]) {}

    // Producer: room for a record of `len` bytes, or nullptr when full (or
    // the record can never fit). commit(len) publishes it.
    uint8_t* reserve(size_t len) {
        const size_t need = 4 + ((len + 3) & ~size_t(3));
        if (need + 4 > cap_) return nullptr;
        const uint64_t head = head_.load(std::memory_order_relaxed);
        const uint64_t tail = tail_.load(std::memory_order_acquire);
        size_t pos = size_t(head % cap_);
        size_t skip = 0;
        if (pos + need > cap_) skip = cap_ - pos;  // does not fit before the end: wrap
        if (head + skip + need - tail > cap_) return nullptr;
        if (skip) {
            if (skip >= 4) put32(pos, kWrap);
            pending_skip_ = skip;
            pos = 0;
        } else {
            pending_skip_ = 0;
        }
        return buf_.get() + pos + 4;
    }
    void commit(size_t len) {
        const uint64_t head = head_.load(std::memory_order_relaxed) + pending_skip_;
        put32(size_t(head % cap_), uint32_t(len));
        head_.store(head + 4 + ((len + 3) & ~size_t(3)), std::memory_order_release);
    }

    // Consumer: the next record (data, len) without removing it; false when
    // empty. pop() removes it.
    bool peek(const uint8_t*& data, size_t& len) {
        const uint64_t head = head_.load(std::memory_order_acquire);
        while (read_ != head) {
            const size_t pos = size_t(read_ % cap_);
            if (cap_ - pos < 4 || get32(pos) == kWrap) {
                read_ += cap_ - pos;
                continue;
            }
            len = get32(pos);
            data = buf_.get() + pos + 4;
            return true;
        }
        return false;
    }
    void pop() {
        const size_t pos = size_t(read_ % cap_);
        read_ += 4 + ((get32(pos) + 3) & ~size_t(3));
    }
    // Gives everything popped so far back to the producer.
    void release() { tail_.store(read_, std::memory_order_release); }
    bool empty() const { return head_.load(std::memory_order_acquire) == read_; }
    // Producer: bytes not yet given back by the consumer.
    size_t used() const {
        return size_t(head_.load(std::memory_order_relaxed) - tail_.load(std::memory_order_acquire));
    }

private:
    static constexpr uint32_t kWrap = 0xFFFFFFFFu;
    void put32(size_t pos, uint32_t v) { std::memcpy(buf_.get() + pos, &v, 4); }
    uint32_t get32(size_t pos) const {
        uint32_t v;
        std::memcpy(&v, buf_.get() + pos, 4);
        return v;
    }
    const size_t cap_;
    std::unique_ptr<uint8_t[]> buf_;
    size_t pending_skip_ = 0;                 // producer only
    alignas(64) std::atomic<uint64_t> head_{0};  // producer writes
    alignas(64) std::atomic<uint64_t> tail_{0};  // consumer writes (released space)
    uint64_t read_ = 0;                          // consumer only
};

}  // namespace dnscore
