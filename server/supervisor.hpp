#pragma once
// Crash-only serving (beyond CoreDNS; docs/operations.md "Crashes"):
// with -supervise the process started is a small supervisor that runs the
// real server as its child and restarts it at once when it dies (kill -9, OOM
// kill, abort). The child sends the supervisor duplicates of its listening
// DNS sockets once it serves (SCM_RIGHTS over a socket pair); the supervisor
// holds them, so while no child runs the kernel keeps queueing queries in
// them, and the next child reads the very same sockets (inherited). Only the
// queries inside the dead child are lost. node-cache's interface and rules
// stay in place meanwhile (nobody tears them down on a crash).
//
// The supervisor does no DNS work and loads no configuration; signals
// (TERM, INT, USR1, QUIT) go to the child; a child that exits by itself with
// status 0 ends the supervisor with 0. A child that dies within 1 s of its
// start more than 5 times in a row is restarted after a 1 s pause.
#include <string>
#include <vector>

namespace dnscore::supervisor {

// Whether this process is a supervised child (started by run()).
bool is_child();

// Supervisor main loop: runs argv as a child (the same executable) until it
// exits by itself. Returns the exit status.
int run(int argc, char** argv);

// ---- child side ----

// A listening socket of a worker: `proto` 'u' (UDP) or 't' (TCP).
struct ListenerFd {
    std::string label;
    char proto = 'u';
    int worker = 0;
    int fd = -1;
};
// The socket the supervisor passed for this listener, worker and protocol
// (a duplicate this process now owns), or -1. Each is handed out once.
int take_inherited(const std::string& label, char proto, int worker);
// Sends the supervisor the complete set of listening sockets (it replaces
// the set it holds). No-op when not supervised. Control thread.
void publish(const std::vector<ListenerFd>& fds);

}  // namespace dnscore::supervisor
