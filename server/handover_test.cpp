// The handover protocol between two Handover objects (predecessor and
// successor, each with its own control loop) over a real unix socket, and the
// state file helpers.
#include "server/handover.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstring>
#include <future>
#include <string>
#include <thread>

#include "tests/support/catch.hpp"

using namespace dnscore;

namespace {
std::string temp_path(const std::string& what) {
    return "/tmp/dnscore-handover-test-" + std::to_string(::getpid()) + "-" + what;
}
bool exists(const std::string& p) {
    struct stat sb {};
    return ::stat(p.c_str(), &sb) == 0;
}

// A control loop on its own thread (the predecessor's).
struct Loop {
    boost::asio::io_context io;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{io.get_executor()};
    std::thread t{[this] { io.run(); }};
    ~Loop() {
        guard.reset();
        io.stop();
        t.join();
    }
    // Runs fn on the loop and waits for it.
    template <class Fn>
    void run(Fn fn) {
        std::promise<void> done;
        boost::asio::post(io, [&] {
            fn();
            done.set_value();
        });
        done.get_future().wait();
    }
};
}  // namespace

TEST_CASE("a successor receives the predecessor's state; the predecessor is told and leaves the path",
          "[server][handover]") {
    const std::string path = temp_path("sock");
    ::unlink(path.c_str());
    Loop old_loop;
    std::atomic<int> ready_calls{0};
    StateHooks old_hooks;
    old_hooks.save = [] { return std::string("cache bytes\0with a zero", 23); };
    Handover predecessor(old_loop.io, path, old_hooks, [&] { ++ready_calls; });
    bool took = true;
    old_loop.run([&] { took = predecessor.start(); });
    CHECK_FALSE(took);  // nobody before it
    REQUIRE(exists(path));

    boost::asio::io_context new_io;
    std::string received;
    StateHooks new_hooks;
    new_hooks.load = [&](std::string_view s) {
        received = std::string(s);
        return std::string("restored");
    };
    Handover successor(new_io, path, new_hooks, [] {});
    CHECK(successor.start());  // blocks until the predecessor closed: bounded
    CHECK(received == std::string("cache bytes\0with a zero", 23));
    // The predecessor learnt it on its own loop.
    for (int i = 0; i < 200 && ready_calls == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    CHECK(ready_calls == 1);
    CHECK(predecessor.handed_over());
    // The path is the successor's now: the predecessor's close leaves it.
    old_loop.run([&] { predecessor.close(); });
    CHECK(exists(path));
    successor.close();
    CHECK_FALSE(exists(path));
}

TEST_CASE("a socket file left by a dead process is a plain start", "[server][handover]") {
    const std::string path = temp_path("stale");
    ::unlink(path.c_str());
    {
        // Bound and closed without unlinking: what a SIGKILLed process leaves.
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
        ::close(fd);
    }
    REQUIRE(exists(path));
    boost::asio::io_context io;
    Handover h(io, path, {}, [] {});
    CHECK_FALSE(h.start());
    CHECK(exists(path));  // bound anew
    h.close();
    CHECK_FALSE(exists(path));
}

TEST_CASE("a client that does not speak the protocol hands nothing over", "[server][handover]") {
    const std::string path = temp_path("garbage");
    ::unlink(path.c_str());
    Loop loop;
    std::atomic<int> saves{0};
    StateHooks hooks;
    hooks.save = [&] {
        ++saves;
        return std::string("x");
    };
    Handover h(loop.io, path, hooks, [] {});
    loop.run([&] { h.start(); });
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    const char junk[] = "GET / HTTP/1.0\r\nHost: x\r\n\r\n";  // longer than the hello
    REQUIRE(::send(fd, junk, sizeof junk - 1, MSG_NOSIGNAL) > 0);
    char c;
    CHECK(::recv(fd, &c, 1, 0) <= 0);  // closed on us (EOF or reset)
    ::close(fd);
    CHECK(saves == 0);
    CHECK_FALSE(h.handed_over());
    loop.run([&] { h.close(); });
    CHECK_FALSE(exists(path));
}

TEST_CASE("state files are written atomically and read back; a missing one is a clear error", "[server][handover]") {
    const std::string path = temp_path("state");
    ::unlink(path.c_str());
    std::string big(100000, '\0');
    for (size_t i = 0; i < big.size(); ++i) big[i] = char(i * 7);
    write_state_file(path, big);
    CHECK_FALSE(exists(path + ".tmp"));
    CHECK(read_state_file(path) == big);
    write_state_file(path, "short");
    CHECK(read_state_file(path) == "short");
    ::unlink(path.c_str());
    CHECK_THROWS_WITH(read_state_file(path), Catch::Contains("No such file or directory"));
    CHECK_THROWS_WITH(write_state_file("/nonexistent-dir/x", "y"), Catch::Contains("open /nonexistent-dir/x.tmp"));
    CHECK_THROWS_WITH(read_state_file("/tmp"), Catch::Contains("not a regular file"));
}
