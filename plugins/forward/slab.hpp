#pragma once
// Per-worker records recycled through a free list, so a miss takes its
// exchange record without calling `new`: storage grows by chunks while the
// number in use reaches a new high (warm-up), is reused afterwards, and is
// bounded by `max_records` (acquire() then returns nullptr). Single thread.
#include <cstddef>
#include <memory>
#include <new>
#include <utility>
#include <vector>

namespace dnscore::plugins::forward {

template <class T, size_t kChunk = 64>
class Slab {
public:
    explicit Slab(size_t max_records) : max_(max_records) {}
    Slab(const Slab&) = delete;
    Slab& operator=(const Slab&) = delete;
    ~Slab() {
        // Records still in use at exit (exchanges in flight) are destroyed too.
        for (auto& c : chunks_)
            for (Cell& cell : c->cells)
                if (cell.live) std::launder(reinterpret_cast<T*>(cell.storage))->~T();
    }

    // A new T(args...), or nullptr when max_records are in use.
    template <class... Args>
    T* acquire(Args&&... args) {
        if (in_use_ >= max_) return nullptr;
        if (!free_) grow();
        Cell* c = free_;
        free_ = c->next_free;
        T* t = new (c->storage) T(std::forward<Args>(args)...);
        c->live = true;
        ++in_use_;
        return t;
    }

    void release(T* t) {
        Cell* c = reinterpret_cast<Cell*>(reinterpret_cast<unsigned char*>(t) - offsetof(Cell, storage));
        t->~T();
        c->live = false;
        c->next_free = free_;
        free_ = c;
        --in_use_;
    }

    size_t in_use() const { return in_use_; }
    size_t capacity() const { return chunks_.size() * kChunk; }
    size_t max_records() const { return max_; }

private:
    struct Cell {
        alignas(T) unsigned char storage[sizeof(T)];
        Cell* next_free = nullptr;
        bool live = false;
    };
    struct Chunk {
        Cell cells[kChunk];
    };
    void grow() {
        chunks_.push_back(std::make_unique<Chunk>());
        Chunk& c = *chunks_.back();
        for (size_t i = kChunk; i-- > 0;) {
            c.cells[i].next_free = free_;
            free_ = &c.cells[i];
        }
    }

    size_t max_;
    size_t in_use_ = 0;
    Cell* free_ = nullptr;
    std::vector<std::unique_ptr<Chunk>> chunks_;
};

}  // namespace dnscore::plugins::forward
