#pragma once
// Reading a whole file (Go's os.ReadFile).
#include <cstddef>
#include <optional>
#include <string>

namespace dnscore {

struct FileError {
    int code = 0;          // errno
    bool at_open = false;  // open failed (else a read failed)
    std::string text;      // Go's *PathError: "open PATH: no such file or directory"
};

// Files read whole (Corefile, imports, hosts, ConfigMap, weights) are bounded:
// past this a read fails with EFBIG ("read PATH: file too large"). Go reads any
// size; a hosts file pointed at /dev/zero would otherwise grow without end.
inline constexpr size_t kMaxFileBytes = size_t(256) << 20;

// The file's bytes, or nullopt with the reason in *error.
std::optional<std::string> read_file(const std::string& path, FileError* error = nullptr);

}  // namespace dnscore
