#include "server/flags.hpp"

#include <iostream>
#include <stdexcept>

namespace dnscore {

void FlagSet::add_string(const std::string& name, std::string* target, const std::string& usage) {
    flags_[name] = Flag{usage, *target, "string", false, [target](const std::string& v) { *target = v; }};
}

void FlagSet::add_bool(const std::string& name, bool* target, const std::string& usage) {
    flags_[name] = Flag{usage, *target ? "true" : "false", "", true, [target](const std::string& v) {
                            // strconv.ParseBool
                            if (v == "1" || v == "t" || v == "T" || v == "TRUE" || v == "true" || v == "True")
                                *target = true;
                            else if (v == "0" || v == "f" || v == "F" || v == "FALSE" || v == "false" ||
                                     v == "False")
                                *target = false;
                            else
                                throw std::invalid_argument("parse error");
                        }};
}

void FlagSet::add_custom(const std::string& name, std::function<void(const std::string&)> set,
                         const std::string& default_text, const std::string& type_name,
                         const std::string& usage) {
    flags_[name] = Flag{usage, default_text, type_name, false, std::move(set)};
}

void FlagSet::print_usage() const {
    std::cerr << "Usage of " << program_ << ":\n" << description_;
    for (const auto& [name, f] : flags_) {
        std::string line = "  -" + name;
        if (!f.type_name.empty()) line += " " + f.type_name;
        // Go puts short (one-letter, no type) flags' usage on the same line.
        if (name.size() == 1 && f.type_name.empty())
            line += "\t";
        else
            line += "\n    \t";
        line += f.usage;
        const bool zero = f.default_text.empty() || f.default_text == "false" || f.default_text == "0" ||
                          f.default_text == "0s";
        if (!zero) {
            if (f.type_name == "string")
                line += " (default \"" + f.default_text + "\")";
            else
                line += " (default " + f.default_text + ")";
        }
        std::cerr << line << "\n";
    }
}

bool FlagSet::parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a.size() < 2 || a[0] != '-') {
            for (int j = i; j < argc; ++j) rest_.push_back(argv[j]);
            return true;
        }
        size_t dashes = a[1] == '-' ? 2 : 1;
        if (dashes == 2 && a.size() == 2) {  // "--" ends the flags
            for (int j = i + 1; j < argc; ++j) rest_.push_back(argv[j]);
            return true;
        }
        std::string name = a.substr(dashes);
        if (name.empty() || name[0] == '-' || name[0] == '=') {
            std::cerr << "bad flag syntax: " << a << "\n";
            print_usage();
            return false;
        }
        std::string value;
        bool has_value = false;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            has_value = true;
        }
        auto it = flags_.find(name);
        if (it == flags_.end()) {
            if (name == "help" || name == "h") {
                print_usage();
                help_ = true;
                return false;
            }
            std::cerr << "flag provided but not defined: -" << name << "\n";
            print_usage();
            return false;
        }
        Flag& f = it->second;
        if (f.is_bool) {
            if (!has_value) value = "true";
            try {
                f.set(value);
            } catch (const std::exception&) {
                std::cerr << "invalid boolean value \"" << value << "\" for -" << name << ": parse error\n";
                print_usage();
                return false;
            }
            continue;
        }
        if (!has_value) {
            if (i + 1 >= argc) {
                std::cerr << "flag needs an argument: -" << name << "\n";
                print_usage();
                return false;
            }
            value = argv[++i];
        }
        try {
            f.set(value);
        } catch (const std::exception& e) {
            std::cerr << "invalid value \"" << value << "\" for flag -" << name << ": " << e.what() << "\n";
            print_usage();
            return false;
        }
    }
    return true;
}

}  // namespace dnscore
