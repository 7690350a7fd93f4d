#pragma once
// Plugin setup in tests: load a Corefile and get its error text, or read one
// directive's tokens the way its setup function does.
#include <memory>
#include <string>

#include "core/config.hpp"
#include "corefile/loader.hpp"
#include "corefile/setup.hpp"
#include "parser/dispenser.hpp"

namespace dnscore::testing {

// The error corefile::load throws for `corefile` (CoreDNS's text), or "" when
// it loads.
std::string load_error(const std::string& corefile, const corefile::LoadOptions& opts = {});
// Same under -validate: every setup runs, no hook that opens a socket is kept.
std::string validate_error(const std::string& corefile);

// The first plugin of type P in block `block` of `set` (nullptr if none).
template <class P>
std::shared_ptr<P> find_plugin(const ServerSet& set, size_t block = 0) {
    for (const auto& p : set.blocks.at(block)->plugins)
        if (auto found = std::dynamic_pointer_cast<P>(p)) return found;
    return nullptr;
}
// Loads `corefile` and returns its first block's first plugin of type P.
template <class P>
std::shared_ptr<P> load_plugin(const std::string& corefile) {
    return find_plugin<P>(*corefile::load(corefile, "Corefile", {}));
}

// The tokens of every `directive` line in `body` (the inside of one server
// block), positioned as a setup function receives them.
parser::Dispenser dispenser(const std::string& directive, const std::string& body);

}  // namespace dnscore::testing
