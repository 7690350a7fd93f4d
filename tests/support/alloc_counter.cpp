// Replaces the global operator new/delete (every form) with malloc/free plus
// a counter. All forms are replaced together so every new pairs with its
// delete under ASan, and so nothing allocated here reaches the library's
// delete (Catch2 uses the nothrow form).
#include "tests/support/alloc_counter.hpp"

#include "core/thread_role.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<bool> g_on{false};
std::atomic<long> g_count{0};
thread_local bool t_ignored = false;

void counted() {
    if (g_on.load(std::memory_order_relaxed) && !t_ignored && !dnscore::t_background_thread) g_count.fetch_add(1, std::memory_order_relaxed);
}
void* allocate(std::size_t n) {
    counted();
    return std::malloc(n ? n : 1);
}
void* allocate_aligned(std::size_t n, std::align_val_t al) {
    counted();
    const std::size_t a = static_cast<std::size_t>(al);
    // aligned_alloc wants a size that is a multiple of the alignment.
    return std::aligned_alloc(a, ((n ? n : 1) + a - 1) / a * a);
}
}  // namespace

namespace dnscore::testing::allocs {
void start() { g_on.store(true); }
void stop() { g_on.store(false); }
long count() { return g_count.load(); }
void ignore_this_thread() { t_ignored = true; }
}  // namespace dnscore::testing::allocs

void* operator new(std::size_t n) {
    if (void* p = allocate(n)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void* operator new(std::size_t n, std::align_val_t al) {
    if (void* p = allocate_aligned(n, al)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t al) { return operator new(n, al); }
void* operator new(std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
    return allocate_aligned(n, al);
}
void* operator new[](std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
    return allocate_aligned(n, al);
}

void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
