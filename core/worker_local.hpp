#pragma once
// Per-worker state of a plugin instance (upstream sockets, counters): one slot
// per worker, created lazily by the worker that uses it and touched only by
// that worker, so no locks. Readers from other threads (metrics scrapes) must
// only read atomics inside T.
#include <array>
#include <atomic>
#include <memory>

namespace dnscore {

constexpr int kMaxWorkers = 64;

template <class T>
class WorkerLocal {
public:
    // The calling worker's slot, created on first use (from that worker only).
    template <class... Args>
    T& get(int worker, Args&&... args) {
        T* p = slots_[size_t(worker)].load(std::memory_order_acquire);
        if (!p) {
            p = new T(std::forward<Args>(args)...);
            slots_[size_t(worker)].store(p, std::memory_order_release);
        }
        return *p;
    }
    // The calling worker's slot if it was created, else nullptr (from that
    // worker only).
    T* find(int worker) const { return slots_[size_t(worker)].load(std::memory_order_acquire); }
    // Any thread: visit every slot created so far (for scrapes).
    template <class Fn>
    void for_each(Fn&& fn) const {
        for (const auto& s : slots_)
            if (T* p = s.load(std::memory_order_acquire)) fn(*p);
    }
    ~WorkerLocal() {
        for (auto& s : slots_) delete s.load();
    }
    WorkerLocal() = default;
    WorkerLocal(const WorkerLocal&) = delete;
    WorkerLocal& operator=(const WorkerLocal&) = delete;

private:
    std::array<std::atomic<T*>, kMaxWorkers> slots_{};
};

}  // namespace dnscore
