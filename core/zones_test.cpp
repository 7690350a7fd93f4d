// ZoneSet: CoreDNS's Zones.Matches on wire names.
#include "core/zones.hpp"

#include <string>
#include <vector>

#include "core/wire/wire.hpp"
#include "tests/support/catch.hpp"

using namespace dnscore;

namespace {
std::vector<uint8_t> name(const std::string& text) {
    std::vector<uint8_t> w(wire::kMaxNameLen);
    w.resize(wire::text_to_name(text, w.data()));
    return w;
}
size_t longest(const ZoneSet& z, const std::string& text) {
    auto w = name(text);
    return z.matches(w.data(), w.size());
}
size_t first(const ZoneSet& z, const std::string& text) {
    auto w = name(text);
    return z.first_match(w.data(), w.size());
}
}  // namespace

TEST_CASE("matches returns the longest zone holding the name", "[zones]") {
    ZoneSet z;
    CHECK(z.empty());
    CHECK(z.add("org.") == 0);
    CHECK(z.add("Example.ORG.") == 1);  // lower-cased
    CHECK(z.add(".") == 2);
    CHECK(z.size() == 3);
    CHECK(longest(z, "www.example.org.") == 1);
    CHECK(longest(z, "example.org.") == 1);
    CHECK(longest(z, "other.org.") == 0);
    CHECK(longest(z, "org.") == 0);
    CHECK(longest(z, "xample.org.") == 0);  // label boundaries, not string suffixes
    CHECK(longest(z, "example.com.") == 2);
    CHECK(longest(z, ".") == 2);
}

TEST_CASE("no root zone: names elsewhere do not match", "[zones]") {
    ZoneSet z;
    z.add("example.org");  // the root label is added
    CHECK(longest(z, "a.example.org.") == 0);
    CHECK(longest(z, "example.net.") == ZoneSet::npos);
    CHECK(longest(z, ".") == ZoneSet::npos);
    CHECK(ZoneSet{}.matches(nullptr, 0) == ZoneSet::npos);
}

TEST_CASE("invalid zones never match; equal zones keep the first index", "[zones]") {
    ZoneSet z;
    CHECK(z.add("a..b.") == 0);  // empty label
    CHECK(z.wire(0).empty());
    CHECK(z.add_wire({}) == 1);
    CHECK(z.add("b.") == 2);
    CHECK(z.add("b.") == 3);
    CHECK(longest(z, "x.b.") == 2);
    CHECK(longest(z, "a..b.") == ZoneSet::npos);
}

TEST_CASE("first_match is the lowest index; each_match goes longest first", "[zones]") {
    ZoneSet z;
    z.add("org.");
    z.add("a.b.org.");
    z.add("b.org.");
    CHECK(first(z, "x.a.b.org.") == 0);
    CHECK(longest(z, "x.a.b.org.") == 1);
    CHECK(first(z, "b.org.") == 0);
    CHECK(first(z, "com.") == ZoneSet::npos);

    auto w = name("x.a.b.org.");
    std::vector<size_t> seen;
    z.each_match(w.data(), w.size(), [&](size_t i) {
        seen.push_back(i);
        return false;
    });
    CHECK(seen == std::vector<size_t>{1, 2, 0});
    seen.clear();
    z.each_match(w.data(), w.size(), [&](size_t i) {
        seen.push_back(i);
        return true;  // stop at the first
    });
    CHECK(seen == std::vector<size_t>{1});
}

TEST_CASE("add_wire takes lower-cased wire names as given", "[zones]") {
    ZoneSet z;
    auto w = name("example.org.");
    z.add_wire(w);
    CHECK(z.wire(0).size() == w.size());
    CHECK(longest(z, "www.example.org.") == 0);
}
