#pragma once
// Reading a whole file (Go's os.ReadFile).
#include <optional>
#include <string>

namespace dnscore {

struct FileError {
    int code = 0;          // errno
    bool at_open = false;  // open failed (else a read failed)
    std::string text;      // Go's *PathError: "open PATH: no such file or directory"
};

// The file's bytes, or nullopt with the reason in *error.
std::optional<std::string> read_file(const std::string& path, FileError* error = nullptr);

}  // namespace dnscore
