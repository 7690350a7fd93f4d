#include "core/transport_module.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <vector>

#include "core/module_dir.h"  // DNSCORE_MODULE_INSTALL_DIR (configure_file, core/meson.build)

namespace dnscore {

namespace {

std::string executable_dir() {
    char buf[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return {};
    std::string path(buf, size_t(n));
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

}  // namespace

bool transport_needs_module(std::string_view transport) { return transport == "grpc" || transport == "quic"; }

std::string transport_module_file(std::string_view transport) {
    return "dnscore-" + std::string(transport) + ".so";
}

std::string load_transport_module(std::string_view transport) {
    static std::mutex mu;
    static std::set<std::string, std::less<>> loaded;
    std::lock_guard lock(mu);
    if (loaded.count(transport)) return {};

    std::vector<std::string> dirs;
    if (const char* env = std::getenv("DNSCORE_MODULE_DIR"); env && *env) {
        dirs.emplace_back(env);
    } else {
        if (auto d = executable_dir(); !d.empty()) dirs.push_back(std::move(d));
        if (dirs.empty() || dirs.front() != DNSCORE_MODULE_INSTALL_DIR) dirs.emplace_back(DNSCORE_MODULE_INSTALL_DIR);
    }
    const std::string file = transport_module_file(transport);
    std::string missing;
    for (const auto& dir : dirs) {
        const std::string path = dir + "/" + file;
        if (::access(path.c_str(), F_OK) != 0) {
            missing += (missing.empty() ? "" : ", ") + path;
            continue;
        }
        // RTLD_NOW: a symbol the module needs and the executable lacks is an
        // error here, not a crash at the first query. RTLD_LOCAL: its
        // libraries stay out of the global scope. Never closed.
        void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!h) return std::string("cannot load ") + path + ": " + ::dlerror();
        auto init = reinterpret_cast<void (*)()>(::dlsym(h, "dnscore_module_init"));
        if (!init) return path + " has no dnscore_module_init";
        init();
        loaded.emplace(transport);
        return {};
    }
    return file + " not found (looked for " + missing + "; set DNSCORE_MODULE_DIR to its directory)";
}

}  // namespace dnscore
