#pragma once
// An immutable value (a plugin's parsed data: hosts entries, weights) that the
// control thread replaces while workers read it on the query path.
//
// Why not std::atomic<std::shared_ptr<T>>: libstdc++ implements it with a
// lock, and copying a shared_ptr per query is an atomic read-modify-write on
// a counter every worker shares. Instead each worker owns one slot (a
// shared_ptr only that worker touches) and the control thread hands a new
// value to every worker with Host::post_to_workers: a query reads its own
// worker's slot (a plain load, no lock, no shared cache line written), and the
// old value is freed on the worker thread that dropped the last reference,
// outside any query. Until a worker's first hand-over it reads the value given
// at construction (built at setup, immutable, owned here).
#include <array>
#include <memory>
#include <mutex>

#include "core/host.hpp"
#include "core/worker_local.hpp"

namespace dnscore {

template <class T>
class WorkerSnapshot : public std::enable_shared_from_this<WorkerSnapshot<T>> {
public:
    explicit WorkerSnapshot(std::shared_ptr<const T> initial) : initial_(std::move(initial)), latest_(initial_) {}

    // The value worker `worker` serves (its own thread only; never null).
    const T& get(int worker) const {
        if (worker >= 0 && worker < kMaxWorkers)
            if (const T* p = slots_[size_t(worker)].get()) return *p;
        return *initial_;
    }

    // Control thread: makes `next` the value of every worker (each switches
    // when it runs the posted hand-over).
    void publish(Host& host, std::shared_ptr<const T> next) {
        {
            std::lock_guard lk(mu_);
            latest_ = next;
        }
        auto self = this->shared_from_this();
        host.post_to_workers([self, next](int worker) { self->set_local(worker, next); });
    }
    // On worker `worker`'s own thread (the hand-over; tests without a Host).
    void set_local(int worker, std::shared_ptr<const T> next) {
        if (worker >= 0 && worker < kMaxWorkers) slots_[size_t(worker)] = std::move(next);
    }
    // Without a Host (tests): makes `next` the latest and worker `worker`'s
    // value, on the caller's thread.
    void publish_local(int worker, std::shared_ptr<const T> next) {
        {
            std::lock_guard lk(mu_);
            latest_ = next;
        }
        set_local(worker, std::move(next));
    }
    // The value last published (any thread; not for the query path).
    std::shared_ptr<const T> latest() const {
        std::lock_guard lk(mu_);
        return latest_;
    }

private:
    std::shared_ptr<const T> initial_;
    std::array<std::shared_ptr<const T>, kMaxWorkers> slots_{};
    mutable std::mutex mu_;
    std::shared_ptr<const T> latest_;
};

}  // namespace dnscore
