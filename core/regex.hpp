#pragma once
// Go regular expressions (package regexp: RE2 syntax, linear time), compiled
// by RE2 with Go's options and error texts.
#include <memory>
#include <string>
#include <string_view>

namespace re2 {
class RE2;
}

namespace dnscore {

class Regex {
public:
    // The empty pattern (matches everywhere), as a placeholder to assign to.
    Regex();
    // Compiles like Go's regexp.Compile. Throws std::invalid_argument with
    // Go's text: "error parsing regexp: missing closing ): `(a`".
    explicit Regex(std::string_view pattern);

    // Go's MatchString: somewhere in `text` (unanchored).
    bool search(std::string_view text) const;
    // Go's FindStringSubmatch into groups[0..n): false when nothing matches;
    // groups past num_subexp() and unmatched groups are empty. Nothing is
    // allocated by the caller (RE2 may, for its own matcher state).
    bool submatch(std::string_view text, std::string_view* groups, int n) const;
    // Go's NumSubexp: the number of parenthesised groups.
    int num_subexp() const;
    const std::string& pattern() const;

    // Go's NumSubexp: the number of capturing groups.
    int groups() const;
    // Go's SubexpNames()[i] for group i in 1..groups() ("" when unnamed).
    std::string group_name(int i) const;
    // Go's FindStringSubmatch: false when nothing matches; else sub[0] is
    // the leftmost match and sub[i] group i (empty when it took no part).
    // `n` must be groups() + 1. (RE2 may allocate while finding groups.)
    bool find_submatch(std::string_view text, std::string_view* sub, size_t n) const;

private:
    std::shared_ptr<const re2::RE2> re_;  // immutable and thread-safe: copies share it
};

}  // namespace dnscore
