#include "core/regex.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <stdexcept>

namespace dnscore {

namespace {

// Go's regexp/syntax ErrorCode texts for RE2's codes.
const char* go_error_code(RE2::ErrorCode code) {
    switch (code) {
    case RE2::ErrorBadEscape: return "invalid escape sequence";
    case RE2::ErrorBadCharClass: return "invalid character class";
    case RE2::ErrorBadCharRange: return "invalid character class range";
    case RE2::ErrorMissingBracket: return "missing closing ]";
    case RE2::ErrorMissingParen: return "missing closing )";
    case RE2::ErrorUnexpectedParen: return "unexpected )";
    case RE2::ErrorTrailingBackslash: return "trailing backslash at end of expression";
    case RE2::ErrorRepeatArgument: return "missing argument to repetition operator";
    case RE2::ErrorRepeatSize: return "invalid repeat count";
    case RE2::ErrorRepeatOp: return "invalid nested repetition operator";
    case RE2::ErrorBadPerlOp: return "invalid or unsupported Perl syntax";
    case RE2::ErrorBadUTF8: return "invalid UTF-8";
    case RE2::ErrorBadNamedCapture: return "invalid named capture";
    case RE2::ErrorPatternTooLarge: return "expression too large";
    default: return "regexp/syntax: internal error";
    }
}

[[noreturn]] void fail(const char* code, std::string_view expr) {
    throw std::invalid_argument("error parsing regexp: " + std::string(code) + ": `" + std::string(expr) + "`");
}

// RE2 takes \C (any byte); Go's parser rejects it as an escape.
void reject_any_byte(std::string_view p) {
    for (size_t i = 0; i + 1 < p.size(); ++i) {
        if (p[i] != '\\') continue;
        if (p[i + 1] == 'Q') {  // \Q...\E is literal text
            const size_t end = p.find("\\E", i + 2);
            if (end == std::string_view::npos) return;
            i = end + 1;
            continue;
        }
        if (p[i + 1] == 'C') fail("invalid escape sequence", "\\C");
        ++i;
    }
}

}  // namespace

Regex::Regex() {
    static const auto empty = std::make_shared<const RE2>("");
    re_ = empty;
}

Regex::Regex(std::string_view pattern) {
    reject_any_byte(pattern);
    // Go's syntax.Perl: UTF-8, leftmost-first (not longest) matches, `.`
    // without \n and ^/$ at the text's ends unless (?s)/(?m) say otherwise.
    RE2::Options opts;
    opts.set_encoding(RE2::Options::EncodingUTF8);
    opts.set_posix_syntax(false);
    opts.set_longest_match(false);
    opts.set_case_sensitive(true);
    opts.set_dot_nl(false);
    opts.set_never_nl(false);
    opts.set_literal(false);
    opts.set_log_errors(false);
    auto re = std::make_shared<const RE2>(re2::StringPiece(pattern.data(), pattern.size()), opts);
    if (!re->ok()) fail(go_error_code(re->error_code()), re->error_arg());
    re_ = std::move(re);
}

bool Regex::search(std::string_view text) const {
    return RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *re_);
}

bool Regex::submatch(std::string_view text, std::string_view* groups, int n) const {
    constexpr int kMax = 32;
    re2::StringPiece sub[kMax];
    const int want = std::min(n, kMax);
    const int k = std::min(want, re_->NumberOfCapturingGroups() + 1);
    if (!re_->Match(re2::StringPiece(text.data(), text.size()), 0, text.size(), RE2::UNANCHORED, sub, k))
        return false;
    for (int i = 0; i < n; ++i)
        groups[i] = i < k && sub[i].data() ? std::string_view(sub[i].data(), sub[i].size()) : std::string_view();
    return true;
}

int Regex::num_subexp() const { return re_->NumberOfCapturingGroups(); }

const std::string& Regex::pattern() const { return re_->pattern(); }

int Regex::groups() const { return re_->NumberOfCapturingGroups(); }

std::string Regex::group_name(int i) const {
    const auto& names = re_->CapturingGroupNames();
    auto it = names.find(i);
    return it == names.end() ? std::string() : it->second;
}

bool Regex::find_submatch(std::string_view text, std::string_view* sub, size_t n) const {
    re2::StringPiece pieces[32];
    if (n > 32) n = 32;
    const re2::StringPiece t(text.data(), text.size());
    if (!re_->Match(t, 0, t.size(), RE2::UNANCHORED, pieces, int(n))) return false;
    for (size_t i = 0; i < n; ++i) sub[i] = pieces[i].data() ? std::string_view(pieces[i].data(), pieces[i].size()) : std::string_view();
    return true;
}

}  // namespace dnscore
