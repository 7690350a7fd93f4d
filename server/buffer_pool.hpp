#pragma once
// Per-worker pool of message buffers in three size classes (512 B, 4 KiB,
// 64 KiB) for TCP reads: a connection holds a buffer only while a message is
// arriving, sized to what has arrived so far, and gives it back once the
// message is handled. Single-threaded (one pool per worker); the free lists
// are bounded, so the pool never keeps more than kMaxCachedBytes.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace dnscore {

class BufferPool {
public:
    static constexpr std::array<size_t, 3> kClassSize{512, 4096, 65536};
    // How many free buffers of each class are kept: 32 KiB + 128 KiB + 256 KiB.
    static constexpr std::array<size_t, 3> kClassKeep{64, 32, 4};
    static constexpr size_t kMaxCachedBytes = 64 * 512 + 32 * 4096 + 4 * 65536;

    class Buffer {
    public:
        Buffer() = default;
        Buffer(Buffer&& o) noexcept { swap(o); }
        Buffer& operator=(Buffer&& o) noexcept {
            Buffer tmp(std::move(o));
            swap(tmp);
            return *this;
        }
        ~Buffer() { release(); }
        uint8_t* data() const { return data_.get(); }
        size_t capacity() const { return cap_; }
        explicit operator bool() const { return bool(data_); }
        // Back to the pool it came from (or freed when the pool is full).
        void release() {
            if (data_) pool_->give_back(std::move(data_), cap_);
            cap_ = 0;
        }
        void swap(Buffer& o) noexcept {
            std::swap(pool_, o.pool_);
            std::swap(data_, o.data_);
            std::swap(cap_, o.cap_);
        }

    private:
        friend class BufferPool;
        Buffer(BufferPool* p, std::unique_ptr<uint8_t[]> d, size_t cap) : pool_(p), data_(std::move(d)), cap_(cap) {}
        BufferPool* pool_ = nullptr;
        std::unique_ptr<uint8_t[]> data_;
        size_t cap_ = 0;
    };

    BufferPool() {
        // Reserved once so that giving a buffer back never allocates.
        for (size_t c = 0; c < kClassSize.size(); ++c) free_[c].reserve(kClassKeep[c]);
    }
    BufferPool(const BufferPool&) = delete;
    BufferPool& operator=(const BufferPool&) = delete;

    // A buffer of the smallest class holding `need` bytes (need <= 65536).
    // Not zero-filled: pages are touched only as data is written.
    Buffer get(size_t need) {
        const size_t c = class_of(need);
        auto& list = free_[c];
        if (!list.empty()) {
            auto d = std::move(list.back());
            list.pop_back();
            cached_bytes_ -= kClassSize[c];
            return Buffer(this, std::move(d), kClassSize[c]);
        }
        return Buffer(this, std::unique_ptr<uint8_t[]>(new uint8_t[kClassSize[c]]), kClassSize[c]);
    }

    size_t cached_bytes() const { return cached_bytes_; }

    static size_t class_of(size_t need) {
        size_t c = 0;
        while (c + 1 < kClassSize.size() && kClassSize[c] < need) ++c;
        return c;
    }

private:
    void give_back(std::unique_ptr<uint8_t[]> d, size_t cap) {
        const size_t c = class_of(cap);
        if (free_[c].size() < kClassKeep[c]) {
            free_[c].push_back(std::move(d));
            cached_bytes_ += kClassSize[c];
        }
    }
    std::array<std::vector<std::unique_ptr<uint8_t[]>>, 3> free_;
    size_t cached_bytes_ = 0;
};

}  // namespace dnscore
