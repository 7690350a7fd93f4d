#pragma once
// The kube-dns ConfigMap as mounted in a directory (spec node-cache.md §5):
// reading the top level of the directory, the SHA-256 content version,
// parsing the stubDomains / upstreamNameservers / federations keys and
// kube-dns's validation.
#include <map>
#include <optional>
#include <string>

#include "nodecache/render.hpp"

namespace dnscore::nodecache {

using FileMap = std::map<std::string, std::string>;  // file name -> content

// Reads every regular file (following symlinks) at the top level of `dir`,
// skipping subdirectories and names starting with '.' (Kubernetes' ..data).
// Throws std::runtime_error (`config path "<p>" is not a directory`,
// `non-utf8 data in <path>`, read errors).
FileMap read_config_dir(const std::string& dir);

// Hex SHA-256 over name NUL content NUL for each file in name order; "" when
// there are no files.
std::string content_version(const FileMap& files);

// Parses the recognised keys (other files are ignored) and validates them as
// kube-dns does. Throws std::invalid_argument with the reason.
KubeDnsConfig parse_kubedns_config(const FileMap& files);

bool is_dns1123_subdomain(const std::string& s);
bool is_valid_utf8(const std::string& s);

// Polls one directory; reports content changes by version.
class DirWatcher {
public:
    explicit DirWatcher(std::string dir) : dir_(std::move(dir)) {}
    const std::string& dir() const { return dir_; }
    // The files when they changed since the last successful poll (always on
    // the first successful poll), nullopt when unchanged. Throws on read errors.
    std::optional<FileMap> poll();

private:
    std::string dir_;
    std::optional<std::string> version_;
};

}  // namespace dnscore::nodecache
