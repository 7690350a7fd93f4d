#include "core/memory_budget.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/support/catch.hpp"

using namespace dnscore;

namespace {
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char tmpl[] = "/tmp/budget_test.XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    void write(const std::string& rel, const std::string& text) const {
        std::filesystem::create_directories((path / rel).parent_path());
        std::ofstream(path / rel) << text;
    }
};
}  // namespace

TEST_CASE("GOMEMLIMIT syntax: bytes, B/KiB/MiB/GiB/TiB, off", "[budget]") {
    CHECK(parse_byte_count("0") == 0u);
    CHECK(parse_byte_count("12345") == 12345u);
    CHECK(parse_byte_count("64MiB") == 64u << 20);
    CHECK(parse_byte_count("1GiB") == 1u << 30);
    CHECK(parse_byte_count("3KiB") == 3072u);
    CHECK(parse_byte_count("2TiB") == 2ull << 40);
    CHECK(parse_byte_count("7B") == 7u);
    CHECK(parse_byte_count("off") == 0u);
    CHECK_FALSE(parse_byte_count(""));
    CHECK_FALSE(parse_byte_count("MiB"));
    CHECK_FALSE(parse_byte_count("64MB"));   // Go accepts only the IEC units
    CHECK_FALSE(parse_byte_count("1.5GiB"));
    CHECK_FALSE(parse_byte_count("-1"));
    CHECK_FALSE(parse_byte_count("99999999999999999999999"));
    CHECK_FALSE(parse_byte_count("20000000TiB"));  // overflows 64 bits
}

TEST_CASE("cgroup limit: v2 memory.max at the process's path or the namespace root, v1 fallback", "[budget]") {
    TempDir d;
    d.write("proc_v2", "0::/kubepods/pod1/ctr\n");
    d.write("cg/kubepods/pod1/ctr/memory.max", "209715200\n");
    CHECK(cgroup_memory_limit((d.path / "cg").string(), (d.path / "proc_v2").string()) == 209715200u);
    d.write("cg/kubepods/pod1/ctr/memory.max", "max\n");
    CHECK_FALSE(cgroup_memory_limit((d.path / "cg").string(), (d.path / "proc_v2").string()));

    d.write("proc_ns", "0::/\n");
    d.write("cg2/memory.max", "67108864\n");
    CHECK(cgroup_memory_limit((d.path / "cg2").string(), (d.path / "proc_ns").string()) == 67108864u);

    d.write("proc_v1", "4:memory:/docker/abc\n0::/\n");
    d.write("cg3/memory/docker/abc/memory.limit_in_bytes", "104857600\n");
    CHECK(cgroup_memory_limit((d.path / "cg3").string(), (d.path / "proc_v1").string()) == 104857600u);
    d.write("cg3/memory/docker/abc/memory.limit_in_bytes", "9223372036854771712\n");  // v1's "unlimited"
    CHECK_FALSE(cgroup_memory_limit((d.path / "cg3").string(), (d.path / "proc_v1").string()));
    CHECK_FALSE(cgroup_memory_limit((d.path / "none").string(), (d.path / "missing").string()));
}

TEST_CASE("the budget comes from the flag, else GOMEMLIMIT, else 75% of the cgroup limit", "[budget]") {
    TempDir d;
    d.write("proc", "0::/\n");
    d.write("cg/memory.max", "200000000\n");
    const std::string cg = (d.path / "cg").string(), proc = (d.path / "proc").string();
    ::unsetenv("GOMEMLIMIT");
    MemoryBudget b;
    b.configure("", cg, proc);
    CHECK(b.source() == "cgroup");
    CHECK(b.limit() == 150000000u);
    CHECK(b.cache_limit() == 60000000u);

    ::setenv("GOMEMLIMIT", "64MiB", 1);
    b.configure("", cg, proc);
    CHECK(b.source() == "GOMEMLIMIT");
    CHECK(b.limit() == 64u << 20);

    b.configure("32MiB", cg, proc);
    CHECK(b.source() == "flag");
    CHECK(b.limit() == 32u << 20);
    CHECK(b.cache_limit() == (32u << 20) / 5 * 2);
    CHECK_THROWS_WITH(b.configure("lots", cg, proc), Catch::Contains("invalid -memlimit lots"));

    ::setenv("GOMEMLIMIT", "bogus", 1);  // ignored with a warning: the cgroup decides
    b.configure("", cg, proc);
    CHECK(b.source() == "cgroup");
    ::unsetenv("GOMEMLIMIT");
    b.configure("", (d.path / "nothing").string(), proc);
    CHECK(b.source() == "none");
    CHECK(b.limit() == 0u);
    CHECK(b.fits(uint64_t(1) << 40));
}

TEST_CASE("fits: the caches' share is 40 % of the process budget", "[budget]") {
    MemoryBudget b;
    b.set_limit(1000);
    CHECK(b.cache_limit() == 400u);
    b.charge(300);
    CHECK(b.fits(100));
    CHECK_FALSE(b.fits(101));
    b.release(300);
    CHECK(b.used() == 0u);
}

TEST_CASE("in-flight work has 20 % of the budget, charged apart from the caches", "[budget]") {
    MemoryBudget b;
    CHECK(b.try_charge_inflight(1u << 30));  // no budget: no limit
    b.release_inflight(1u << 30);
    b.set_limit(1000);
    CHECK(b.inflight_limit() == 200u);
    CHECK(b.try_charge_inflight(150));
    CHECK_FALSE(b.try_charge_inflight(51));  // refused: nothing taken
    CHECK(b.inflight_used() == 150u);
    CHECK(b.try_charge_inflight(50));
    CHECK(b.used() == 0u);  // the caches' share is untouched
    CHECK(b.fits(400));
    b.release_inflight(200);
    CHECK(b.inflight_used() == 0u);
    // No overflow on a huge limit: 20 % of it.
    b.set_limit(UINT64_MAX);
    CHECK(b.inflight_limit() == UINT64_MAX / 100 * 20 + UINT64_MAX % 100 * 20 / 100);
}

TEST_CASE("TCP connections: a quarter of the budget at 4 KiB each caps the fixed limit", "[budget]") {
    MemoryBudget b;
    CHECK(b.connection_limit(10000) == 10000u);  // no budget: the fixed limit
    b.set_limit(64ull << 20);
    CHECK(b.connection_limit(10000) == 4096u);  // 16 MiB / 4 KiB
    CHECK(b.connection_limit(100) == 100u);     // a smaller fixed limit stays
    b.set_limit(1ull << 30);
    CHECK(b.connection_limit(10000) == 10000u);  // 65,536 fit: the fixed limit
    b.set_limit(1 << 20);
    CHECK(b.connection_limit(10000) == 64u);  // never below 64
    b.set_limit(UINT64_MAX);
    CHECK(b.connection_limit(10000) == 10000u);
}
