#include "core/metrics_vec.hpp"

#include <bit>
#include <cstring>
#include <new>
#include <stdexcept>

#include "core/log.hpp"
#include "core/metrics.hpp"

namespace dnscore::metrics {

// ---------------------------------------------------------------- LabelSet
LabelSet::LabelSet(std::vector<std::string> names, size_t capacity, std::vector<std::string> initial)
    : names_(std::move(names)), capacity_(capacity) {
    const size_t arity = names_.size();  // >= 1: a label-less family has no LabelSet
    const size_t n = initial.size() / arity;
    if (capacity_ <= n) {
        capacity_ = n;
        fixed_ = true;
    }
    values_ = std::make_unique<std::string[]>(capacity_ * arity);
    for (size_t i = 0; i < n * arity; ++i) values_[i] = std::move(initial[i]);
    size_.store(n, std::memory_order_release);
}

int LabelSet::scan(std::initializer_list<std::string_view> values, size_t n) const {
    if (values.size() != names_.size()) return kOverflow;
    for (size_t i = 0; i < n; ++i) {
        const std::string* v = &values_[i * names_.size()];
        size_t k = 0;
        for (std::string_view want : values) {
            if (v[k] != want) break;
            ++k;
        }
        if (k == names_.size()) return int(i);
    }
    return kOverflow;
}

int LabelSet::find(std::initializer_list<std::string_view> values) const { return scan(values, size()); }

int LabelSet::intern(std::initializer_list<std::string_view> values) {
    const size_t seen = size();
    if (int i = scan(values, seen); i != kOverflow) return i;
    if (seen >= capacity_ || values.size() != names_.size()) return kOverflow;  // full: no lock on the hot path
    std::lock_guard lk(mu_);
    const size_t n = size_.load(std::memory_order_relaxed);
    if (int i = scan(values, n); i != kOverflow) return i;
    if (n >= capacity_) {
        if (!warned_) {
            warned_ = true;
            std::string what;
            for (const auto& name : names_) what += (what.empty() ? "" : ",") + name;
            log::warning("metrics: more than {} distinct {{{}}} label values: further series are dropped and "
                         "counted in dnscore_metrics_overflow_total",
                         capacity_, what);
        }
        return kOverflow;
    }
    size_t k = 0;
    for (std::string_view v : values) values_[n * names_.size() + k++] = std::string(v);
    size_.store(n + 1, std::memory_order_release);
    return int(n);
}

// ---------------------------------------------------------------- export
uint64_t export_families(std::vector<const Metric*> families) {
    return Registry::global().add([families = std::move(families)](std::vector<Family>& out) {
        for (const Metric* m : families) m->collect(out);
    });
}

// ---------------------------------------------------------------- Vec
namespace detail {

namespace {
inline void add_double_any(Cell& c, double v) {
    uint64_t old = c.load(std::memory_order_relaxed);
    while (!c.compare_exchange_weak(old, std::bit_cast<uint64_t>(std::bit_cast<double>(old) + v),
                                    std::memory_order_relaxed)) {
    }
}
inline double as_double(const Cell& c) { return std::bit_cast<double>(c.load(std::memory_order_relaxed)); }

// Blocks are whole cache lines: two workers' blocks never share one.
constexpr std::align_val_t kLine{64};
Cell* new_block(size_t cells) {
    const size_t n = (cells + 7) / 8 * 8;
    auto* p = static_cast<Cell*>(::operator new(n * sizeof(Cell), kLine));
    for (size_t i = 0; i < n; ++i) new (&p[i]) Cell(0);
    return p;
}
void delete_block(Cell* p) {
    if (p) ::operator delete(p, kLine);
}
}  // namespace

Vec::Vec(Kind kind, std::string name, std::string help, Labels const_labels, std::vector<const LabelSet*> dims,
         size_t cells_per_series)
    : kind_(kind),
      name_(std::move(name)),
      help_(std::move(help)),
      const_(std::move(const_labels)),
      dims_(std::move(dims)),
      per_series_(cells_per_series) {
    if (dims_.size() > kMaxDims) throw std::logic_error("metrics: too many label dimensions in " + name_);
    ndims_ = dims_.size();
    for (size_t d = 0; d < ndims_; ++d) caps_[d] = uint32_t(dims_[d]->capacity());
    if (ndims_) outer_cap_ = caps_[0];
    for (size_t d = ndims_; d-- > 1;) {
        strides_[d] = uint32_t(inner_count_);
        inner_count_ *= caps_[d];
    }
}

Vec::~Vec() {
    for (auto& w : writers_) {
        std::atomic<Cell*>* table = w.load();
        if (!table) continue;
        for (size_t i = 0; i < outer_cap_; ++i) delete_block(table[i].load());
        delete[] table;
    }
}

Cell* Vec::overflow() {
    overflow_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
}

Cell* Vec::create(int writer, size_t outer, size_t inner) {
    // CAS: the shared writer may race with itself; a worker is alone.
    auto& slot = writers_[size_t(writer)];
    std::atomic<Cell*>* table = slot.load(std::memory_order_acquire);
    if (!table) {
        // First count by this writer (once per family per worker).
        auto* fresh = new std::atomic<Cell*>[outer_cap_]();
        if (slot.compare_exchange_strong(table, fresh, std::memory_order_acq_rel)) table = fresh;
        else delete[] fresh;
    }
    Cell* block = table[outer].load(std::memory_order_acquire);
    if (!block) {
        // First count of this tuple by this writer.
        Cell* fresh = new_block(inner_count_ * per_series_);
        if (table[outer].compare_exchange_strong(block, fresh, std::memory_order_acq_rel)) block = fresh;
        else delete_block(fresh);
    }
    return block + inner * per_series_;
}

const Cell* Vec::find_cells(int writer, size_t outer, size_t inner) const {
    const std::atomic<Cell*>* table = writers_[size_t(writer)].load(std::memory_order_acquire);
    if (!table) return nullptr;
    const Cell* block = table[outer].load(std::memory_order_acquire);
    return block ? block + inner * per_series_ : nullptr;
}

size_t Vec::outer_size() const { return dims_.empty() ? 1 : dims_[0]->size(); }

bool Vec::all_fixed() const {
    for (const LabelSet* d : dims_)
        if (!d->fixed()) return false;
    return true;
}

Labels Vec::labels_of(size_t outer, size_t inner) const {
    Labels l = const_;
    for (size_t d = 0; d < dims_.size(); ++d) {
        const size_t i = d == 0 ? outer : (inner / strides_[d]) % caps_[d];
        const std::string* v = dims_[d]->values(i);
        for (size_t k = 0; k < dims_[d]->names().size(); ++k) l.emplace_back(dims_[d]->names()[k], v[k]);
    }
    return l;
}

Family Vec::family() const {
    switch (kind_) {
        case Kind::counter: return counter_family(name_, help_);
        case Kind::gauge: return gauge_family(name_, help_);
        case Kind::histogram: break;
    }
    return histogram_family(name_, help_);
}

void Vec::collect_overflow(std::vector<Family>& out) const {
    if (const uint64_t n = overflows()) {
        auto f = counter_family("dnscore_metrics_overflow_total",
                                "Samples dropped because a family's bounded label set was full (dnscore).");
        add_counter(f, {{"family", name_}}, double(n));
        out.push_back(std::move(f));
    }
}

}  // namespace detail

using detail::Cell;

// ---------------------------------------------------------------- CounterVec
CounterVec::CounterVec(std::string name, std::string help, Labels const_labels, std::vector<const LabelSet*> dims)
    : Vec(Kind::counter, std::move(name), std::move(help), std::move(const_labels), std::move(dims), 1) {}

void CounterVec::inc_any(std::initializer_list<int> idx, uint64_t v) {
    if (Cell* c = cells(kShared, idx)) c->fetch_add(v, std::memory_order_relaxed);
}

uint64_t CounterVec::value(std::initializer_list<int> idx) const {
    size_t outer, inner;
    if (!locate(idx, outer, inner)) return 0;
    uint64_t sum = 0;
    for (int w = 0; w <= kShared; ++w)
        if (const Cell* c = find_cells(w, outer, inner)) sum += c->load(std::memory_order_relaxed);
    return sum;
}

void CounterVec::collect(std::vector<Family>& out) const {
    Family f = family();
    const bool all = all_fixed();
    std::vector<uint64_t> sums(inner_count_);
    for (size_t o = 0; o < outer_size(); ++o) {
        std::fill(sums.begin(), sums.end(), 0);
        for (int w = 0; w <= kShared; ++w)
            if (const Cell* block = find_cells(w, o, 0))
                for (size_t i = 0; i < inner_count_; ++i) sums[i] += block[i].load(std::memory_order_relaxed);
        for (size_t i = 0; i < inner_count_; ++i)
            if (sums[i] || all) add_counter(f, labels_of(o, i), double(sums[i]));
    }
    out.push_back(std::move(f));
    collect_overflow(out);
}

// ---------------------------------------------------------------- HistogramVec
// Cells per series: one count per bucket, +Inf, then the sum (double bits).
HistogramVec::HistogramVec(std::string name, std::string help, Labels const_labels, std::vector<const LabelSet*> dims,
                           std::vector<double> buckets)
    : Vec(Kind::histogram, std::move(name), std::move(help), std::move(const_labels), std::move(dims),
          buckets.size() + 2),
      buckets_(std::move(buckets)) {}

std::vector<double> HistogramVec::exponential(double start, double factor, int count) {
    std::vector<double> b;
    for (int i = 0; i < count; ++i, start *= factor) b.push_back(start);
    return b;
}

size_t HistogramVec::bucket(double v) const {
    size_t i = 0;
    while (i < buckets_.size() && v > buckets_[i]) ++i;
    return i;
}

void HistogramVec::observe_any(std::initializer_list<int> idx, double v) {
    if (Cell* c = cells(kShared, idx)) {
        c[bucket(v)].fetch_add(1, std::memory_order_relaxed);
        detail::add_double_any(c[buckets_.size() + 1], v);
    }
}

uint64_t HistogramVec::count(std::initializer_list<int> idx) const {
    size_t outer, inner;
    if (!locate(idx, outer, inner)) return 0;
    uint64_t n = 0;
    for (int w = 0; w <= kShared; ++w)
        if (const Cell* c = find_cells(w, outer, inner))
            for (size_t b = 0; b <= buckets_.size(); ++b) n += c[b].load(std::memory_order_relaxed);
    return n;
}

void HistogramVec::collect(std::vector<Family>& out) const {
    Family f = family();
    const bool all = all_fixed();
    const size_t nb = buckets_.size() + 1;
    std::vector<uint64_t> counts(nb);
    for (size_t o = 0; o < outer_size(); ++o)
        for (size_t i = 0; i < inner_count_; ++i) {
            std::fill(counts.begin(), counts.end(), 0);
            double sum = 0;
            uint64_t total = 0;
            for (int w = 0; w <= kShared; ++w) {
                const Cell* c = find_cells(w, o, i);
                if (!c) continue;
                for (size_t b = 0; b < nb; ++b) {
                    const uint64_t n = c[b].load(std::memory_order_relaxed);
                    counts[b] += n;
                    total += n;
                }
                sum += detail::as_double(c[nb]);
            }
            if (total || all) add_histogram(f, labels_of(o, i), buckets_, counts, sum);
        }
    out.push_back(std::move(f));
    collect_overflow(out);
}

// ---------------------------------------------------------------- GaugeVec
// Cells per series: the value (double bits) and a "set" flag; shared writer only.
GaugeVec::GaugeVec(std::string name, std::string help, Labels const_labels, std::vector<const LabelSet*> dims)
    : Vec(Kind::gauge, std::move(name), std::move(help), std::move(const_labels), std::move(dims), 2) {}

void GaugeVec::set(std::initializer_list<int> idx, double v) {
    if (Cell* c = cells(kShared, idx)) {
        c[0].store(std::bit_cast<uint64_t>(v), std::memory_order_relaxed);
        c[1].store(1, std::memory_order_release);
    }
}

double GaugeVec::value(std::initializer_list<int> idx) const {
    size_t outer, inner;
    if (!locate(idx, outer, inner)) return 0;
    const Cell* c = find_cells(kShared, outer, inner);
    return c ? detail::as_double(c[0]) : 0;
}

void GaugeVec::collect(std::vector<Family>& out) const {
    Family f = family();
    const bool all = all_fixed();
    for (size_t o = 0; o < outer_size(); ++o)
        for (size_t i = 0; i < inner_count_; ++i) {
            const Cell* c = find_cells(kShared, o, i);
            const bool present = c && c[1].load(std::memory_order_acquire);
            if (present || all) add_gauge(f, labels_of(o, i), c ? detail::as_double(c[0]) : 0);
        }
    out.push_back(std::move(f));
    collect_overflow(out);
}

// ---------------------------------------------------------------- GaugeFunc
GaugeFunc::GaugeFunc(std::string name, std::string help, Labels const_labels, std::vector<std::string> label_names,
                     Fn fn)
    : name_(std::move(name)),
      help_(std::move(help)),
      const_(std::move(const_labels)),
      label_names_(std::move(label_names)),
      fn_(std::move(fn)) {}

void GaugeFunc::collect(std::vector<Family>& out) const {
    Family f = gauge_family(name_, help_);
    fn_([&](std::initializer_list<std::string_view> values, double v) {
        Labels l = const_;
        size_t k = 0;
        for (std::string_view s : values)
            if (k < label_names_.size()) l.emplace_back(label_names_[k++], std::string(s));
        add_gauge(f, l, v);
    });
    out.push_back(std::move(f));
}

}  // namespace dnscore::metrics
