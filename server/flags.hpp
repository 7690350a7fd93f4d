#pragma once
// Go `flag` package conventions (CoreDNS and node-cache are Go programs):
// -flag or --flag, -flag=value or -flag value, booleans only with =,
// "flag provided but not defined: -x" plus usage and exit status 2.
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace dnscore {

class FlagSet {
public:
    explicit FlagSet(std::string program) : program_(std::move(program)) {}

    void add_string(const std::string& name, std::string* target, const std::string& usage);
    void add_bool(const std::string& name, bool* target, const std::string& usage);
    // Any other type: `set` converts the text or throws std::invalid_argument.
    void add_custom(const std::string& name, std::function<void(const std::string&)> set,
                    const std::string& default_text, const std::string& type_name,
                    const std::string& usage);

    // Parses argv[1..]. On an error prints Go's message and usage to stderr
    // and returns false (exit status 2); "-h"/"-help" print usage and return
    // false too (exit status 0 in help_requested()).
    bool parse(int argc, char** argv);
    bool help_requested() const { return help_; }
    const std::vector<std::string>& args() const { return rest_; }
    void print_usage() const;
    // Text printed between "Usage of PROGRAM:" and the flag list (node-cache's
    // flag.Usage adds one); include the trailing newlines.
    void set_description(std::string text) { description_ = std::move(text); }

private:
    struct Flag {
        std::string usage;
        std::string default_text;
        std::string type_name;  // "" for bool
        bool is_bool = false;
        std::function<void(const std::string&)> set;
    };
    std::string program_;
    std::string description_;
    std::map<std::string, Flag> flags_;
    std::vector<std::string> rest_;
    bool help_ = false;
};

}  // namespace dnscore
