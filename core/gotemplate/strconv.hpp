#pragma once
// Go's strconv pieces the template engine needs: Quote/Unquote, ParseInt,
// ParseUint (with Go's error texts), ParseFloat.
#include <cstdint>
#include <string>
#include <string_view>

namespace dnscore::gotemplate {

// strconv.Quote.
std::string go_quote(std::string_view s);
// strconv.Unquote of a "..." or `...` literal; false on invalid syntax.
bool go_unquote(std::string_view lit, std::string& out);
// A '...' character constant's rune.
bool go_unquote_char(std::string_view lit, uint32_t& out);
// Appends r as UTF-8.
void append_utf8(std::string& out, uint32_t r);
size_t put_utf8(char* out, uint32_t r);

enum class NumErr { ok, syntax, range, base, bit_size };
// strconv.ParseUint / ParseInt (base 0: Go prefixes and underscores).
NumErr parse_uint(std::string_view s, int base, int bits, uint64_t& out);
NumErr parse_int(std::string_view s, int base, int bits, int64_t& out);
// strconv.ParseFloat(s, 64); false on syntax error.
bool parse_float(std::string_view s, double& out);
// Go's *NumError text: `strconv.FUNC: parsing "S": invalid syntax`.
std::string num_error(const char* func, std::string_view s, NumErr e, int base, int bits);

}  // namespace dnscore::gotemplate
