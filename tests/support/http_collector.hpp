#pragma once
// A loopback HTTP/1.1 server that records every request (method, path,
// headers, body) and answers each with a fixed status: a Zipkin collector
// for the trace tests. Its own thread; handles one connection at a time,
// keep-alive included.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace dnscore::testing {

class HttpCollector {
public:
    struct Request {
        std::string method, path, body;
        std::map<std::string, std::string> headers;  // names lower-cased
    };

    explicit HttpCollector(int status = 202) : status_(status) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
        ::listen(fd_, 16);
        socklen_t len = sizeof a;
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        th_ = std::thread([this] { serve(); });
    }
    ~HttpCollector() {
        stop_ = true;
        th_.join();
        ::close(fd_);
    }
    HttpCollector(const HttpCollector&) = delete;
    HttpCollector& operator=(const HttpCollector&) = delete;

    uint16_t port() const { return port_; }
    std::string addr() const { return "127.0.0.1:" + std::to_string(port_); }
    std::vector<Request> requests() {
        std::lock_guard lk(mu_);
        return requests_;
    }
    size_t count() {
        std::lock_guard lk(mu_);
        return requests_.size();
    }

private:
    void serve() {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) continue;
            handle(c);
            ::close(c);
        }
    }

    // Reads requests on one connection until it closes (or we stop).
    void handle(int c) {
        std::string buf;
        char tmp[65536];
        while (!stop_) {
            size_t hend;
            while ((hend = buf.find("\r\n\r\n")) == std::string::npos) {
                if (!read_some(c, buf, tmp, sizeof tmp)) return;
            }
            Request r;
            const std::string head = buf.substr(0, hend);
            size_t line_end = head.find("\r\n");
            const std::string first = head.substr(0, line_end);
            r.method = first.substr(0, first.find(' '));
            r.path = first.substr(first.find(' ') + 1, first.rfind(' ') - first.find(' ') - 1);
            size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
            while (pos < head.size()) {
                size_t e = head.find("\r\n", pos);
                if (e == std::string::npos) e = head.size();
                const std::string line = head.substr(pos, e - pos);
                const size_t colon = line.find(':');
                if (colon != std::string::npos) {
                    std::string name = line.substr(0, colon);
                    for (auto& ch : name) ch = char(std::tolower(static_cast<unsigned char>(ch)));
                    size_t v = colon + 1;
                    while (v < line.size() && line[v] == ' ') ++v;
                    r.headers[name] = line.substr(v);
                }
                pos = e + 2;
            }
            size_t clen = 0;
            if (auto it = r.headers.find("content-length"); it != r.headers.end()) clen = std::stoul(it->second);
            while (buf.size() < hend + 4 + clen)
                if (!read_some(c, buf, tmp, sizeof tmp)) return;
            r.body = buf.substr(hend + 4, clen);
            buf.erase(0, hend + 4 + clen);
            {
                std::lock_guard lk(mu_);
                requests_.push_back(r);
            }
            const std::string resp = "HTTP/1.1 " + std::to_string(status_) + " Status\r\nContent-Length: 0\r\n\r\n";
            if (::send(c, resp.data(), resp.size(), MSG_NOSIGNAL) < 0) return;
        }
    }

    bool read_some(int c, std::string& buf, char* tmp, size_t cap) {
        for (;;) {
            if (stop_) return false;
            pollfd p{c, POLLIN, 0};
            const int r = ::poll(&p, 1, 50);
            if (r < 0) return false;
            if (r == 0) continue;
            const ssize_t n = ::recv(c, tmp, cap, 0);
            if (n <= 0) return false;
            buf.append(tmp, size_t(n));
            return true;
        }
    }

    int status_;
    int fd_ = -1;
    uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::mutex mu_;
    std::vector<Request> requests_;
    std::thread th_;
};

}  // namespace dnscore::testing
