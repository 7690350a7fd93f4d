#pragma once
// An event loop whose pending handlers can be destroyed before the loop
// itself. At exit, a handler (a coroutine frame) on one loop may hold the
// last reference to plugin state that owns sockets of another loop (forward's
// per-worker connections, its health probes on the control loop): every
// loop's handlers must go while all loops still exist.
#include <boost/asio/io_context.hpp>

namespace dnscore {

class Loop : public boost::asio::io_context {
public:
    using io_context::io_context;
    // Destroys the pending handlers and shuts the services down; the loop
    // must not be running. Destroying it afterwards is still needed (and safe).
    void destroy_pending() { shutdown(); }
};

}  // namespace dnscore
