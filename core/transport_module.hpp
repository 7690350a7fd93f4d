#pragma once
// grpc:// and quic:// live in shared modules beside the executable
// (dnscore-grpc.so: gRPC and protobuf; dnscore-quic.so: ngtcp2 and GnuTLS),
// dlopen()ed only when a configuration has such a listener: linked into the
// binary, these libraries cost ~8.5 MB of resident memory in every process,
// configured or not (docs/performance.md, "Memory"). A module's entry point
// `dnscore_module_init` sets the listener factory the worker calls
// (server/grpc.hpp, server/doq.hpp); the executable exports the symbols the
// module uses (server/module_exports.sh).
#include <string>
#include <string_view>

namespace dnscore {

// True for the transports served by a module ("grpc", "quic").
bool transport_needs_module(std::string_view transport);

// Loads the module serving `transport` once per process (later calls return
// at once; thread-safe). Returns "" on success, else why it could not be
// loaded (the paths tried and dlerror()). The module is searched in
// $DNSCORE_MODULE_DIR when set (only there), else in the directory of the
// running executable (/proc/self/exe; the build directory, or an image that
// keeps modules beside the binary), then in the install directory
// (meson's libdir/dnscore).
std::string load_transport_module(std::string_view transport);

// "dnscore-grpc.so" for "grpc".
std::string transport_module_file(std::string_view transport);

}  // namespace dnscore
