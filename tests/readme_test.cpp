// Every plugin folder is documented and wired in (CoreDNS test/readme_test.go):
// it has a README.md, its directive is in the directive table, and every
// "~~~ corefile" example in its README loads (parse + every plugin's setup,
// no sockets).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "corefile/directives.hpp"
#include "corefile/loader.hpp"
#include "tests/support/catch.hpp"

namespace fs = std::filesystem;
using namespace dnscore;

namespace {
fs::path source_root() {
    const char* s = std::getenv("SRCDIR");
    return s ? fs::path(s) : fs::current_path();
}

std::vector<std::string> corefile_examples(const fs::path& readme) {
    std::ifstream in(readme);
    std::vector<std::string> out;
    std::string line, cur;
    bool inside = false;
    while (std::getline(in, line)) {
        if (!inside && line.rfind("~~~ corefile", 0) == 0) {
            inside = true;
            cur.clear();
        } else if (inside && line.rfind("~~~", 0) == 0) {
            inside = false;
            out.push_back(cur);
        } else if (inside) {
            cur += line + "\n";
        }
    }
    return out;
}
}  // namespace

TEST_CASE("plugin folders are documented, registered and their examples load", "[readme]") {
    const fs::path plugins = source_root() / "plugins";
    REQUIRE(fs::is_directory(plugins));
    const auto names = corefile::directive_names();
    fs::current_path(source_root());  // examples name files relative to the source tree
    int folders = 0, examples = 0;
    for (const auto& entry : fs::directory_iterator(plugins)) {
        if (!entry.is_directory()) continue;
        ++folders;
        const std::string name = entry.path().filename();
        INFO("plugin folder " << name);
        CHECK(std::find(names.begin(), names.end(), name) != names.end());
        const fs::path readme = entry.path() / "README.md";
        REQUIRE(fs::exists(readme));
        for (const auto& text : corefile_examples(readme)) {
            ++examples;
            INFO("example:\n" << text);
            corefile::LoadOptions o;
            o.validate_only = true;
            try {
                corefile::load(text, "Corefile", o);
            } catch (const std::exception& e) {
                FAIL_CHECK("example does not load: " << e.what());
            }
        }
    }
    CHECK(folders >= 4);
    CHECK(examples >= folders);
}
