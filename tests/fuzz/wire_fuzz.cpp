// Wire parsing and name decompression (core/wire): a message as a query
// (parse_query), as a reply (ReplyView, for_each_rr, uncompressed_rdata),
// every name in it read at every offset, names to text and back, and the
// in-place edits (strip_opt, set_all_ttls) on a copy.
#include <cstring>
#include <functional>
#include <string_view>
#include <vector>

#include "core/wire/reply.hpp"
#include "core/wire/wire.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using namespace dnscore;

namespace {
// Presentation text of a wire name read back must give the same name.
void check_text_roundtrip(const uint8_t* name, size_t len) {
    char text[1100];
    const size_t tl = wire::name_to_text(name, len, text, sizeof text);
    FUZZ_CHECK(tl < sizeof text);
    uint8_t back[wire::kMaxNameLen + 1];
    const size_t bl = wire::text_to_name(std::string_view(text, tl), back);
    FUZZ_CHECK(bl == len);
    FUZZ_CHECK(std::memcmp(back, name, len) == 0);
}

// The names read at the offsets of one message, each checked once: the text
// round trip depends only on the name's bytes, and a name that passed it
// also vouches for each of its label suffixes (their text is the tail of
// its text, read back label by label the same way). Checking again for
// every offset that reaches a name already checked (compression pointers,
// the suffixes inside a name) was most of the target's time.
class CheckedNames {
public:
    void clear() {
        std::memset(slot_, 0xff, sizeof slot_);
        count_ = 0;
    }
    // True when neither `name` nor a name it is a suffix of was checked
    // since clear(); it and its suffixes then count as checked.
    bool first(const uint8_t* name, size_t len) {
        if (!insert(name, len)) return false;
        for (size_t i = 0; i < len && name[i] != 0 && i + 1 + name[i] < len;) {
            i += 1 + size_t(name[i]);
            insert(name + i, len - i);
        }
        return true;
    }

private:
    static constexpr size_t kMax = 4096;
    static constexpr size_t kSlots = 8192;
    static constexpr uint16_t kEmpty = 0xffff;
    struct Kept {
        uint8_t name[wire::kMaxNameLen];
        size_t len;
    };
    // False when `name` was there already.
    bool insert(const uint8_t* name, size_t len) {
        const std::string_view key(reinterpret_cast<const char*>(name), len);
        size_t i = std::hash<std::string_view>{}(key) % kSlots;
        for (; slot_[i] != kEmpty; i = (i + 1) % kSlots) {
            const Kept& k = kept_[slot_[i]];
            if (k.len == len && std::memcmp(k.name, name, len) == 0) return false;
        }
        if (count_ == kMax) return true;  // full: the caller checks it anyway
        Kept& k = kept_[count_];
        std::memcpy(k.name, name, len);
        k.len = len;
        slot_[i] = uint16_t(count_++);
        return true;
    }
    uint16_t slot_[kSlots];
    Kept kept_[kMax];
    size_t count_ = 0;
};
CheckedNames checked_names;
// For uncompressed_rdata's output; written before it is read, so its content
// from an earlier input does not matter.
uint8_t rdata[wire::kMaxMessage];
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > wire::kMaxMessage) return 0;
    wire::QueryInfo q;
    const wire::Verdict v = wire::parse_query(data, size, q);
    if (q.has_question) {
        FUZZ_CHECK(q.name_len <= wire::kMaxNameLen);
        check_text_roundtrip(q.name, q.name_len);
        FUZZ_CHECK(wire::label_count(q.name, q.name_len) >= 0);
    }
    if (v == wire::Verdict::ok) FUZZ_CHECK(q.has_question && q.question_end <= size);

    // Every offset as the start of a name (compression pointers included).
    checked_names.clear();
    for (size_t off = 0; off < size && off < 600; ++off) {
        uint8_t name[wire::kMaxNameLen];
        size_t nlen = 0;
        const size_t end = wire::read_name(data, size, off, name, &nlen, off & 1);
        if (end == 0) continue;
        FUZZ_CHECK(end > off && end <= size);
        FUZZ_CHECK(nlen >= 1 && nlen <= wire::kMaxNameLen);
        FUZZ_CHECK(wire::read_name(data, size, off) == end);
        if (checked_names.first(name, nlen)) check_text_roundtrip(name, nlen);
    }

    // As a reply.
    const bool walked = wire::for_each_rr(data, size, [&](const wire::RR& rr) {
        FUZZ_CHECK(rr.end <= size);
        const size_t n = wire::uncompressed_rdata(data, size, rr, rdata, sizeof rdata);
        FUZZ_CHECK(n <= sizeof rdata);
        return true;
    });
    wire::ReplyView view(data, size);
    // The view also needs OPT options framed (as miekg): ok implies walked.
    FUZZ_CHECK(!view.ok() || walked);
    if (view.ok()) {
        const auto t = view.typify(1'700'000'000);
        (void)view.minimal_ttl(t);
        (void)view.rcode();
        if (q.has_question) (void)view.answers(q, true);
        unsigned count = 0;
        view.for_each([&](const wire::RR& rr) {
            FUZZ_CHECK(rr.end <= size);
            ++count;
            return true;
        });
        FUZZ_CHECK(count == view.rr_count());

        // Edits on a copy.
        std::vector<uint8_t> copy(data, data + size);
        wire::ReplyView cv(copy.data(), copy.size());
        const size_t n = cv.strip_opt(copy.data());
        FUZZ_CHECK(n <= size);
        wire::ReplyView after(copy.data(), n);
        // It walks unless a name read bytes of the removed OPT, and the
        // view says which.
        FUZZ_CHECK(after.ok() == cv.ok());
        FUZZ_CHECK(!after.ok() || !after.has_opt());
        wire::set_all_ttls(copy.data(), n, 42);
        std::vector<uint8_t> copy2(data, data + size);
        FUZZ_CHECK(wire::strip_opt(copy2.data(), copy2.size()) == n);
    }
    (void)wire::skip_question(data, size);

    // The same bytes as configuration text.
    uint8_t name[wire::kMaxNameLen + 1];
    const size_t nl = wire::text_to_name(fuzz::as_text({data, size}), name);
    if (nl) check_text_roundtrip(name, nl);
    return 0;
}
