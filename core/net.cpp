#include "core/net.hpp"

#include <cstring>
#include <stdexcept>

namespace dnscore::net {

namespace {
std::string lower_first(std::string s) {
    if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = char(s[0] - 'A' + 'a');
    return s;
}
}  // namespace

// A transcription of Go's net.SplitHostPort (net/ipsock.go).
bool split_host_port(std::string_view hp, std::string& host, std::string& port, std::string* error) {
    auto fail = [&](const char* why) {
        // Go's AddrError.Error(): the address only when it is not empty.
        if (error) *error = hp.empty() ? std::string(why) : "address " + std::string(hp) + ": " + why;
        return false;
    };
    constexpr const char* kMissingPort = "missing port in address";
    constexpr const char* kTooManyColons = "too many colons in address";
    size_t j = 0, k = 0;
    const size_t i = hp.rfind(':');
    if (i == std::string_view::npos) return fail(kMissingPort);
    std::string_view h;
    if (hp[0] == '[') {
        const size_t end = hp.find(']');
        if (end == std::string_view::npos) return fail("missing ']' in address");
        if (end + 1 == hp.size()) return fail(kMissingPort);
        if (end + 1 != i) return fail(hp[end + 1] == ':' ? kTooManyColons : kMissingPort);
        h = hp.substr(1, end - 1);
        j = 1;
        k = end + 1;
    } else {
        h = hp.substr(0, i);
        if (h.find(':') != std::string_view::npos) return fail(kTooManyColons);
    }
    if (hp.find('[', j) != std::string_view::npos) return fail("unexpected '[' in address");
    if (hp.find(']', k) != std::string_view::npos) return fail("unexpected ']' in address");
    host.assign(h);
    port.assign(hp.substr(i + 1));
    return true;
}

void split_host_port_or_throw(std::string_view hostport, std::string& host, std::string& port) {
    std::string error;
    if (!split_host_port(hostport, host, port, &error)) throw std::invalid_argument(error);
}

std::string join_host_port(std::string_view host, std::string_view port) {
    std::string out;
    out.reserve(host.size() + port.size() + 3);
    if (host.find(':') != std::string_view::npos) {
        out += '[';
        out += host;
        out += ']';
    } else {
        out += host;
    }
    out += ':';
    out += port;
    return out;
}

std::string errno_text(int err) { return lower_first(std::strerror(err)); }

std::string error_text(const boost::system::error_code& ec) { return lower_first(ec.message()); }

}  // namespace dnscore::net
