#pragma once
// A small HTTP/1.1 server for the operational endpoints (/metrics, /health,
// /ready), run on the control thread with Boost.Beast. Listeners are shared
// by address: every plugin that serves a path on "host:port" registers a
// handler and gets a handle; the listener opens with its first path and
// closes when the last handle is dropped. This is the only Beast TU.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace dnscore::http {

struct Response {
    unsigned status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // extra fields (Location, Content-Disposition)
};

// Called on the control thread for a request whose path (query string
// stripped) equals the registered one; any method.
using Handler = std::function<Response()>;

// Dropping it unregisters the path (closing the listener with its last path).
using Handle = std::shared_ptr<void>;

// Control thread. Serves `path` on `address` ("host:port"; empty host = all
// interfaces; port 0 = a free port, see bound_address). Opens the listener
// if this is the first path on that address. Throws std::runtime_error with
// Go's text ("listen tcp :8080: bind: address already in use") on failure.
Handle serve(boost::asio::io_context& io, const std::string& address, const std::string& path,
             Handler handler);

// A handler that answers later (a CPU profile that takes N seconds): it gets
// the request target with its query string and calls `reply` once, on the
// control thread, when the answer is ready; the connection waits meanwhile,
// nothing else does.
using AsyncHandler = std::function<void(const std::string& target, std::function<void(Response)> reply)>;
Handle serve_async(boost::asio::io_context& io, const std::string& address, const std::string& path,
                   AsyncHandler handler);

// "host:port" actually bound for `address` ("127.0.0.1:40123"; the host is
// empty for all interfaces), or "" when no listener is open there.
std::string bound_address(const std::string& address);

// Listeners opened from now on set SO_REUSEPORT, so an upgrade's successor
// process can bind the same HTTP ports (server/handover.hpp). Off by default:
// a port taken by another program stays an error, as in CoreDNS.
void set_reuse_port(bool on);

// Result of async_get: `error` empty on success (then `status` is set).
struct GetResult {
    std::string error;  // Go-style: dial tcp 127.0.0.1:8080: connect: connection refused
    unsigned status = 0;
    std::string body;
};

// Control thread: GET http://host:port/path with an overall timeout; `done`
// runs on io's thread.
void async_get(boost::asio::io_context& io, const std::string& host, const std::string& port,
               const std::string& path, std::chrono::milliseconds timeout,
               std::function<void(const GetResult&)> done);

// POST `body` to http://host:port/path (headers such as Content-Type given
// by the caller) with an overall timeout; `done` runs on io's thread. Any
// io_context: a background thread may run its own (trace's span reporter).
void async_post(boost::asio::io_context& io, const std::string& host, const std::string& port,
                const std::string& path, std::vector<std::pair<std::string, std::string>> headers, std::string body,
                std::chrono::milliseconds timeout, std::function<void(const GetResult&)> done);

}  // namespace dnscore::http
