#include "tests/support/setup_harness.hpp"

#include <exception>

#include "corefile/loader.hpp"
#include "parser/parser.hpp"

namespace dnscore::testing {

std::string load_error(const std::string& corefile, const corefile::LoadOptions& opts) {
    try {
        corefile::load(corefile, "Corefile", opts);
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

std::string validate_error(const std::string& corefile) {
    corefile::LoadOptions o;
    o.validate_only = true;
    return load_error(corefile, o);
}

parser::Dispenser dispenser(const std::string& directive, const std::string& body) {
    auto blocks = parser::parse(".:0 {\n" + body + "}\n", "Corefile", {});
    return parser::Dispenser(blocks.at(0).tokens.at(directive));
}

}  // namespace dnscore::testing
