#pragma once
// Go's net/syscall conventions that user-visible texts depend on: host:port
// splitting and joining, and errno texts as Go prints them.
#include <string>
#include <string_view>

#include <boost/system/error_code.hpp>

namespace dnscore::net {

// Go's net.SplitHostPort: "host:port", "[v6]:port", ":port". On failure
// returns false and, when `error` is given, sets Go's *AddrError text
// ("address localhost: missing port in address"); host and port are then
// unspecified.
bool split_host_port(std::string_view hostport, std::string& host, std::string& port,
                     std::string* error = nullptr);

// The same, throwing std::invalid_argument with Go's text.
void split_host_port_or_throw(std::string_view hostport, std::string& host, std::string& port);

// Go's net.JoinHostPort: brackets a host that contains ':'.
std::string join_host_port(std::string_view host, std::string_view port);

// Go's syscall.Errno text: strerror's, starting in lower case ("no such file
// or directory", "connection refused").
std::string errno_text(int err);

// The same for an error code (system, netdb, asio misc): its message in
// lower case ("address already in use").
std::string error_text(const boost::system::error_code& ec);

}  // namespace dnscore::net
