#pragma once
// CoreDNS's flags and what they do, shared by the dnscore and node-cache
// executables.
#include "server/flags.hpp"
#include "server/runtime.hpp"

namespace dnscore {

struct CoreFlags {
    bool version = false;
    bool plugins = false;
    bool validate = false;
    bool supervise = false;  // crash-only serving (server/supervisor.hpp)
};

void register_core_flags(FlagSet& flags, RuntimeOptions& opts, CoreFlags& cf);

// Handles -version, -plugins, -validate and extra arguments, else runs the
// server. Returns the exit status.
int run_core(const FlagSet& flags, RuntimeOptions& opts, const CoreFlags& cf);

// `-validate`: parse and set up everything, open no socket. Prints the first
// error to stderr. Returns 0 or 1.
int validate_corefile(const RuntimeOptions& opts);

// CoreDNS's `-plugins` listing.
std::string plugins_listing();

}  // namespace dnscore
