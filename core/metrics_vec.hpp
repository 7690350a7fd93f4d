#pragma once
// The one counting mechanism behind every metric family (CoreDNS's
// prometheus.CounterVec & co., shaped for a thread-per-core query path).
//
// A family is declared once: name, help, constant labels, label dimensions
// (LabelSet) and, for histograms, buckets. A LabelSet is a bounded, interned
// list of label-value tuples; a tuple gets its index once (at setup, or on a
// worker's first sight of it, under a lock) and callers keep the index.
// Counting takes indexes only: per worker, single-writer relaxed atomics, no
// lock, no allocation (after a worker's first count of a tuple), no strings.
// A scrape sums the workers and renders through metrics::render_text.
//
// Bound: a LabelSet never holds more than its capacity. intern() past it
// returns kOverflow; counting with kOverflow (or any out-of-range index)
// drops the sample and counts it in
// dnscore_metrics_overflow_total{family="NAME"} (rendered only when non-zero),
// so series are never mixed. The first overflow of a set is logged once.
#include <prometheus/metric_family.h>

#include <array>
#include <atomic>
#include <bit>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/worker_local.hpp"

namespace dnscore::metrics {

using Family = prometheus::MetricFamily;
using Labels = std::vector<std::pair<std::string, std::string>>;

inline constexpr int kOverflow = -1;

// Bounded, interned tuples of label values for `names` (one dimension of a
// family; several families may share one set). Index = order of interning.
class LabelSet {
public:
    // `initial`: tuples present from the start, flattened (names.size()
    // strings each): a fixed set is one whose capacity equals its initial size.
    LabelSet(std::vector<std::string> names, size_t capacity, std::vector<std::string> initial = {});
    LabelSet(const LabelSet&) = delete;
    LabelSet& operator=(const LabelSet&) = delete;

    // Index of the tuple, or kOverflow when absent. No lock, no allocation:
    // usable on the query path (a linear scan; cache the result if hot).
    int find(std::initializer_list<std::string_view> values) const;
    // find(), else adds the tuple under a lock (allocates): setup or first
    // sight only. kOverflow when the set is full (no lock taken then).
    int intern(std::initializer_list<std::string_view> values);

    size_t size() const { return size_.load(std::memory_order_acquire); }
    size_t capacity() const { return capacity_; }
    // All tuples given at construction (capacity <= initial size).
    bool fixed() const { return fixed_; }
    const std::vector<std::string>& names() const { return names_; }
    // The values of tuple `i` < size(): immutable once published, any thread.
    const std::string* values(size_t i) const { return &values_[i * names_.size()]; }

private:
    int scan(std::initializer_list<std::string_view> values, size_t n) const;
    std::vector<std::string> names_;
    size_t capacity_;
    std::unique_ptr<std::string[]> values_;  // capacity * arity, never reallocated
    std::atomic<size_t> size_{0};
    bool fixed_ = false;
    std::mutex mu_;
    bool warned_ = false;
};

// Anything the collector renders.
class Metric {
public:
    virtual ~Metric() = default;
    virtual void collect(std::vector<Family>& out) const = 0;
};

// Registers `families` with Registry::global() under one collector; the
// handle is for Registry::remove() (per-instance families of a plugin).
uint64_t export_families(std::vector<const Metric*> families);

namespace detail {

using Cell = std::atomic<uint64_t>;

// Cells of a family: [writer][outer index] -> block of cells for every
// combination of the inner dimensions. Writers 0..kMaxWorkers-1 are workers
// (single writer each: a plain load/store pair, no locked instruction);
// writer kMaxWorkers is shared (any thread, atomic read-modify-write).
class Vec : public Metric {
public:
    static constexpr int kShared = kMaxWorkers;
    ~Vec() override;
    const std::string& name() const { return name_; }
    uint64_t overflows() const { return overflow_.load(std::memory_order_relaxed); }

protected:
    enum class Kind { counter, gauge, histogram };
    Vec(Kind kind, std::string name, std::string help, Labels const_labels, std::vector<const LabelSet*> dims,
        size_t cells_per_series);
    // The series' cells for `writer`, created on its first use; nullptr (and
    // the sample counted as overflow) when an index is out of range. Inline:
    // the query path is a bounds check and two loads.
    [[gnu::always_inline]] Cell* cells(int writer, std::initializer_list<int> idx) {
        size_t outer, inner;
        if (!locate(idx, outer, inner)) [[unlikely]]
            return overflow();
        if (std::atomic<Cell*>* table = writers_[size_t(writer)].load(std::memory_order_acquire)) [[likely]]
            if (Cell* block = table[outer].load(std::memory_order_acquire)) [[likely]]
                return block + inner * per_series_;
        return create(writer, outer, inner);
    }
    const Cell* find_cells(int writer, size_t outer, size_t inner) const;
    [[gnu::always_inline]] bool locate(std::initializer_list<int> idx, size_t& outer, size_t& inner) const {
        if (idx.size() != ndims_) [[unlikely]]
            return false;
        outer = 0;
        inner = 0;
        size_t d = 0;
        for (int i : idx) {  // idx.size() is a constant once inlined: unrolled
            if (uint32_t(i) >= caps_[d]) [[unlikely]]  // negative (kOverflow) too
                return false;
            if (d == 0) outer = size_t(i);
            else inner += size_t(i) * strides_[d];
            ++d;
        }
        return true;
    }
    Cell* overflow();
    Cell* create(int writer, size_t outer, size_t inner);
    size_t outer_size() const;
    // Every dimension fixed (or none): every series is rendered, zeros too.
    bool all_fixed() const;
    // Labels of series (outer, inner).
    Labels labels_of(size_t outer, size_t inner) const;
    Family family() const;
    void collect_overflow(std::vector<Family>& out) const;

    Kind kind_;
    std::string name_, help_;
    Labels const_;
    std::vector<const LabelSet*> dims_;
    static constexpr size_t kMaxDims = 8;
    size_t ndims_ = 0;
    std::array<uint32_t, kMaxDims> caps_{}, strides_{};  // strides of the inner dimensions (dims_[1..])
    size_t outer_cap_ = 1, inner_count_ = 1, per_series_;
    std::array<std::atomic<std::atomic<Cell*>*>, kMaxWorkers + 1> writers_{};
    mutable std::atomic<uint64_t> overflow_{0};
};

}  // namespace detail

// Counters, counted per worker.
class CounterVec final : public detail::Vec {
public:
    CounterVec(std::string name, std::string help, Labels const_labels = {}, std::vector<const LabelSet*> dims = {});
    // On worker `worker` (its single writer): adds v to the series `idx`
    // (one index per dimension; none for a label-less family).
    [[gnu::always_inline]] void inc(int worker, std::initializer_list<int> idx = {}, uint64_t v = 1) {
        if (worker < 0 || worker >= kMaxWorkers) [[unlikely]]
            return inc_any(idx, v);
        if (detail::Cell* c = cells(worker, idx)) c->store(c->load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
    }
    // From any thread (control thread, probes): an atomic add.
    void inc_any(std::initializer_list<int> idx = {}, uint64_t v = 1);
    // Sum over writers (tests, scrapes).
    uint64_t value(std::initializer_list<int> idx = {}) const;
    // Series with a zero total are not rendered, except in a family whose
    // dimensions are all fixed (label-less included): those are present from
    // the start, as Go's vectors whose label values are touched at setup.
    void collect(std::vector<Family>& out) const override;
};

// Histograms (Prometheus `le` buckets, upper bounds without +Inf), per worker.
class HistogramVec final : public detail::Vec {
public:
    HistogramVec(std::string name, std::string help, Labels const_labels, std::vector<const LabelSet*> dims,
                 std::vector<double> buckets);
    [[gnu::always_inline]] void observe(int worker, std::initializer_list<int> idx, double v) {
        if (worker < 0 || worker >= kMaxWorkers) [[unlikely]]
            return observe_any(idx, v);
        if (detail::Cell* c = cells(worker, idx)) {
            size_t b = 0;
            while (b < buckets_.size() && v > buckets_[b]) ++b;
            c[b].store(c[b].load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
            detail::Cell& sum = c[buckets_.size() + 1];
            sum.store(std::bit_cast<uint64_t>(std::bit_cast<double>(sum.load(std::memory_order_relaxed)) + v),
                      std::memory_order_relaxed);
        }
    }
    void observe_any(std::initializer_list<int> idx, double v);
    void observe_any(double v) { observe_any({}, v); }
    uint64_t count(std::initializer_list<int> idx = {}) const;
    void collect(std::vector<Family>& out) const override;

    // prometheus.ExponentialBuckets.
    static std::vector<double> exponential(double start, double factor, int count);

private:
    size_t bucket(double v) const;
    std::vector<double> buckets_;
};

// Gauges: one process-wide value per series (set from any thread); a series
// is rendered once it has been set, or always when all dimensions are fixed.
class GaugeVec final : public detail::Vec {
public:
    GaugeVec(std::string name, std::string help, Labels const_labels = {}, std::vector<const LabelSet*> dims = {});
    void set(std::initializer_list<int> idx, double v);
    void set(double v) { set({}, v); }
    double value(std::initializer_list<int> idx = {}) const;
    void collect(std::vector<Family>& out) const override;
};

// A gauge whose series are computed at scrape time (sizes of live objects,
// the current hash): `fn` emits (label values in `label_names` order, value).
class GaugeFunc final : public Metric {
public:
    using Emit = std::function<void(std::initializer_list<std::string_view> values, double v)>;
    using Fn = std::function<void(const Emit&)>;
    GaugeFunc(std::string name, std::string help, Labels const_labels, std::vector<std::string> label_names, Fn fn);
    void collect(std::vector<Family>& out) const override;

private:
    std::string name_, help_;
    Labels const_;
    std::vector<std::string> label_names_;
    Fn fn_;
};

}  // namespace dnscore::metrics
