#pragma once
// One hashed timer wheel per worker for the deadlines of forward's UDP
// exchanges (each try's 2 s read timeout cut to the query's 5 s budget),
// instead of a timer object per query. Nodes are intrusive (they live in the
// exchange records), so scheduling and cancelling never allocate; a timer
// fires at the first tick at or after its time, never earlier. The wheel
// holds no clock: its owner calls advance(now) when next_due() has come.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace dnscore::plugins::forward {

struct WheelNode {
    WheelNode* prev = nullptr;  // null while not scheduled
    WheelNode* next = nullptr;
    uint64_t due = 0;  // tick at which it fires
    bool scheduled() const { return prev != nullptr; }
};

class TimerWheel {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr size_t kSlots = 1024;  // power of two; later ticks wait rounds in their slot

    TimerWheel(Clock::duration tick, Clock::time_point origin) : tick_(tick), origin_(origin) {
        for (auto& h : heads_) h.prev = h.next = &h;
    }
    TimerWheel(const TimerWheel&) = delete;
    TimerWheel& operator=(const TimerWheel&) = delete;

    // (Re)schedules `n` to fire at the first tick at or after `at`.
    void schedule(WheelNode& n, Clock::time_point at) {
        if (n.scheduled()) cancel(n);
        uint64_t due = tick_ceil(at);
        if (due <= current_) due = current_ + 1;  // past ticks have fired: the next one
        n.due = due;
        link(heads_[due & (kSlots - 1)], n);
        ++size_;
    }

    void cancel(WheelNode& n) {
        if (!n.scheduled()) return;
        unlink(n);
        --size_;
    }

    // Fires every node due by `now`: each is unscheduled, then passed to
    // fire(WheelNode&), which may schedule or cancel any node (itself too).
    // Returns how many fired.
    template <class Fire>
    size_t advance(Clock::time_point now, Fire&& fire) {
        const uint64_t until = tick_floor(now);
        if (until <= current_) return 0;
        size_t fired = 0;
        // Past one full turn every slot is visited once; `due <= t` still
        // collects any node left over from earlier turns.
        uint64_t t = until - current_ > kSlots ? until - kSlots : current_;
        while (++t <= until) {
            if (size_ == 0) break;
            WheelNode& head = heads_[t & (kSlots - 1)];
            // Due nodes move to a local list first: fire() may cancel or
            // schedule nodes of this very slot.
            WheelNode ready;
            ready.prev = ready.next = &ready;
            for (WheelNode* n = head.next; n != &head;) {
                WheelNode* after = n->next;
                if (n->due <= t) {
                    unlink(*n);
                    link(ready, *n);
                }
                n = after;
            }
            current_ = t;  // what fire() schedules now goes to later ticks
            while (ready.next != &ready) {
                WheelNode& n = *ready.next;
                unlink(n);
                --size_;
                ++fired;
                fire(n);
            }
        }
        current_ = until;
        return fired;
    }

    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }

    // When a scheduled node fires (the time of its tick).
    Clock::time_point due_time(const WheelNode& n) const { return origin_ + tick_ * int64_t(n.due); }

    // When advance() next has something to do: the time of the first tick
    // whose slot holds a node (a node rounds ahead makes this early, never
    // late). Only meaningful while !empty().
    Clock::time_point next_due() const {
        for (uint64_t t = current_ + 1; t <= current_ + kSlots; ++t) {
            const WheelNode& head = heads_[t & (kSlots - 1)];
            if (head.next != &head) return origin_ + tick_ * int64_t(t);
        }
        return origin_ + tick_ * int64_t(current_ + 1);
    }

private:
    uint64_t tick_floor(Clock::time_point t) const {
        return t <= origin_ ? 0 : uint64_t((t - origin_) / tick_);
    }
    uint64_t tick_ceil(Clock::time_point t) const {
        if (t <= origin_) return 0;
        const auto d = t - origin_;
        return uint64_t(d / tick_) + (d % tick_ != Clock::duration::zero() ? 1 : 0);
    }
    static void link(WheelNode& head, WheelNode& n) {
        n.prev = head.prev;
        n.next = &head;
        head.prev->next = &n;
        head.prev = &n;
    }
    static void unlink(WheelNode& n) {
        n.prev->next = n.next;
        n.next->prev = n.prev;
        n.prev = n.next = nullptr;
    }

    Clock::duration tick_;
    Clock::time_point origin_;
    uint64_t current_ = 0;  // every tick up to this one has fired
    size_t size_ = 0;
    std::array<WheelNode, kSlots> heads_;  // circular lists with sentinel heads
};

}  // namespace dnscore::plugins::forward
