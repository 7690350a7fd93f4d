#pragma once
// Upgrade handover and warm start (beyond CoreDNS; docs/operations.md).
//
// Handover: every process started with -handover-socket PATH listens on that
// unix socket. A new process with the same PATH (and the same DNS ports:
// every listener is SO_REUSEPORT) opens its listeners first, then connects to
// PATH. If a process answers there, it is the predecessor:
//   successor  -> "DNSCORE-HANDOVER 1\n"
//   predecessor-> u64 length (little-endian) + its state (the cache snapshot)
//   successor  -> "READY\n"            (it serves and has restored the state)
//   predecessor   closes its PATH listener, then the connection, then stops
//                 reading its DNS sockets, drains the exchanges in flight and
//                 exits without the embedding program's teardown (node-cache
//                 keeps its interface and rules: the successor needs them).
// On EOF the successor binds PATH itself for the next upgrade. No predecessor
// (nothing at PATH, or a socket left by a killed process) is a plain start.
//
// Warm start: with -cache-snapshot FILE the state is written to FILE at a
// graceful stop (atomically) and loaded from it at start.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace dnscore {

// What a process hands on: produced on any thread, consumed on the control
// thread. load returns a line for the log; both throw on failure.
struct StateHooks {
    std::function<std::string()> save;
    std::function<std::string(std::string_view)> load;
};

// Upper bound of a transferred state (a larger one is refused).
constexpr size_t kMaxHandoverState = 80u << 20;

// Reads a state file (at most kMaxHandoverState bytes); writes one atomically
// (temporary file in the same directory, fsync, rename). Throw
// std::runtime_error with the reason.
std::string read_state_file(const std::string& path);
void write_state_file(const std::string& path, std::string_view data);

class Handover {
public:
    // `successor_ready` runs on the control thread once a successor said READY.
    Handover(boost::asio::io_context& control, std::string path, StateHooks hooks,
             std::function<void()> successor_ready);
    ~Handover();
    Handover(const Handover&) = delete;
    Handover& operator=(const Handover&) = delete;

    // Control thread, once this process serves: takes over from a predecessor
    // at the path if there is one (bounded: ~10 s per step), then listens for
    // a successor. Returns whether a predecessor handed over. Throws when the
    // path cannot be bound.
    bool start();
    // Control thread, at exit: stop listening; the path is removed unless a
    // successor owns it by now.
    void close();
    bool handed_over() const { return handed_over_.load(); }

private:
    bool take_over();
    void listen();
    void accept();
    void serve_successor(int fd);

    boost::asio::io_context& control_;
    std::string path_;
    StateHooks hooks_;
    std::function<void()> successor_ready_;
    std::unique_ptr<boost::asio::local::stream_protocol::acceptor> acceptor_;
    unsigned long bound_ino_ = 0;  // the inode of our socket file (not a successor's)
    std::mutex threads_mu_;
    std::thread exchange_;  // one successor at a time
    std::atomic<bool> busy_{false};
    std::atomic<bool> handed_over_{false};
};

}  // namespace dnscore
