#pragma once
// Starts the real dnscore binary (path in $DNSCORE) on a Corefile written to
// a temporary directory; Corefiles use port 0 and the bound port is read from
// the startup banner. Stops it with SIGTERM in the destructor.
#include <string>
#include <sys/types.h>
#include <vector>

namespace dnscore::testing {

class ServerProcess {
public:
    explicit ServerProcess(const std::string& corefile, std::vector<std::string> extra_args = {});
    ~ServerProcess();
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    bool started() const { return port_ != 0; }
    uint16_t port() const { return port_; }
    pid_t pid() const { return pid_; }
    const std::string& dir() const { return dir_; }
    bool alive() const;
    // Sends SIGTERM and waits up to `timeout_ms`; returns the exit status or -1.
    int stop(int timeout_ms = 10000);
    // Everything the process printed on stdout / stderr so far.
    std::string out() const;
    std::string err() const;

private:
    std::string dir_;
    pid_t pid_ = -1;
    uint16_t port_ = 0;
    int status_ = -1;
};

// Waits (up to 10 s) for "[INFO] plugin/NAME: Serving PATH on HOST:PORT" in
// the log (HTTP listeners on port 0) and returns HOST:PORT, or "".
std::string served_address(const ServerProcess& sp, const std::string& plugin, const std::string& path);

// The dnscore binary under test: $DNSCORE, else ./dnscore.
std::string dnscore_binary();
// Whether it was built with directive `name` (`dnscore -plugins` lists
// "dns.NAME"); tests of optional plugins skip without it.
bool has_plugin(const std::string& name);

// Runs `cmd` with sh and returns what it printed (stdout and stderr).
std::string shell_output(const std::string& cmd);

}  // namespace dnscore::testing
