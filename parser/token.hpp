#pragma once
// One lexical token of a Corefile, with where it came from (for error messages).
#include <string>

namespace dnscore::parser {

struct Token {
    std::string file;  // path as given for the main Corefile, absolute path for imports
    int line = 0;      // 1-based line of the token's first character
    std::string text;
};

}  // namespace dnscore::parser
