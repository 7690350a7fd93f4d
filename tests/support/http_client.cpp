#include "tests/support/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <sstream>

namespace dnscore::testing {

HttpReply http_get(const std::string& hostport, const std::string& path, int timeout_ms, const std::string& method) {
    using Clock = std::chrono::steady_clock;
    HttpReply r;
    const auto colon = hostport.rfind(':');
    const std::string host = hostport.substr(0, colon);
    const int port = std::stoi(hostport.substr(colon + 1));
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    inet_pton(AF_INET, host.c_str(), &a.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return r;
    }
    const std::string req = method + " " + path + " HTTP/1.1\r\nHost: " + hostport + "\r\nConnection: close\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != ssize_t(req.size())) {
        ::close(fd);
        return r;
    }
    std::string raw;
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    char buf[8192];
    while (Clock::now() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) != 1) continue;
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        raw.append(buf, size_t(n));
    }
    ::close(fd);
    const auto end = raw.find("\r\n\r\n");
    if (raw.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) return r;
    r.status = std::stoi(raw.substr(9, 3));
    r.headers = raw.substr(0, end);
    r.body = raw.substr(end + 4);
    return r;
}

double metric_value(const std::string& scrape, const std::string& series) {
    std::istringstream in(scrape);
    for (std::string line; std::getline(in, line);)
        if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ')
            return std::stod(line.substr(series.size() + 1));
    return 0;
}

double metric_family_sum(const std::string& scrape, const std::string& family) {
    double sum = 0;
    size_t at = 0;
    const std::string head = "\n" + family + "{";
    while ((at = scrape.find(head, at)) != std::string::npos) {
        const size_t space = scrape.find("} ", at);
        if (space == std::string::npos) break;
        sum += std::stod(scrape.substr(space + 2));
        at = space;
    }
    const std::string bare = "\n" + family + " ";
    if ((at = scrape.find(bare)) != std::string::npos) sum += std::stod(scrape.substr(at + bare.size()));
    return sum;
}

double scrape_metric(const std::string& metrics, const std::string& series) {
    return metric_value(http_get(metrics, "/metrics").body, series);
}

}  // namespace dnscore::testing
