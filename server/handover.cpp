#include "server/handover.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "core/log.hpp"

namespace asio = boost::asio;
using asio::local::stream_protocol;

namespace dnscore {

namespace {

constexpr char kHello[] = "DNSCORE-HANDOVER 1\n";
constexpr char kReady[] = "READY\n";
constexpr int kStepTimeoutS = 10;       // each read/write of the exchange
constexpr int kReadyTimeoutS = 30;      // the successor restores the state meanwhile

std::string errno_text() { return std::strerror(errno); }

void set_timeout(int fd, int seconds) {
    timeval tv{seconds, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bool write_all(int fd, const void* p, size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
        const ssize_t w = ::send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        c += w;
        n -= size_t(w);
    }
    return true;
}

bool read_all(int fd, void* p, size_t n) {
    char* c = static_cast<char*>(p);
    while (n > 0) {
        const ssize_t r = ::recv(fd, c, n, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        c += r;
        n -= size_t(r);
    }
    return true;
}

unsigned long inode_of(const std::string& path) {
    struct stat sb {};
    return ::stat(path.c_str(), &sb) == 0 ? (unsigned long)sb.st_ino : 0;
}

}  // namespace

std::string read_state_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("open " + path + ": " + errno_text());
    struct stat sb {};
    if (::fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || size_t(sb.st_size) > kMaxHandoverState) {
        ::close(fd);
        throw std::runtime_error(path + ": not a regular file of at most " + std::to_string(kMaxHandoverState) +
                                 " bytes");
    }
    std::string data(size_t(sb.st_size), '\0');
    size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::read(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += size_t(n);
    }
    ::close(fd);
    data.resize(done);  // shorter than stat said: the reader rejects it
    return data;
}

void write_state_file(const std::string& path, std::string_view data) {
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("open " + tmp + ": " + errno_text());
    size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const std::string err = errno_text();
            ::close(fd);
            ::unlink(tmp.c_str());
            throw std::runtime_error("write " + tmp + ": " + err);
        }
        done += size_t(n);
    }
    if (::fsync(fd) != 0) {
        const std::string err = errno_text();
        ::close(fd);
        ::unlink(tmp.c_str());
        throw std::runtime_error("fsync " + tmp + ": " + err);
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const std::string err = errno_text();
        ::unlink(tmp.c_str());
        throw std::runtime_error("rename " + tmp + ": " + err);
    }
}

Handover::Handover(asio::io_context& control, std::string path, StateHooks hooks,
                   std::function<void()> successor_ready)
    : control_(control), path_(std::move(path)), hooks_(std::move(hooks)),
      successor_ready_(std::move(successor_ready)) {}

Handover::~Handover() {
    if (exchange_.joinable()) exchange_.join();
}

bool Handover::start() {
    const bool took = take_over();
    listen();
    return took;
}

bool Handover::take_over() {
    if (path_.size() >= sizeof(sockaddr_un{}.sun_path)) throw std::runtime_error("handover socket path too long: " + path_);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("handover socket: " + errno_text());
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path_.c_str(), path_.size() + 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        // Nothing there, or a socket file a killed process left: a plain start.
        ::close(fd);
        return false;
    }
    set_timeout(fd, kStepTimeoutS);
    uint8_t len_bytes[8];
    std::string state;
    bool ok = write_all(fd, kHello, sizeof kHello - 1) && read_all(fd, len_bytes, 8);
    if (ok) {
        uint64_t len = 0;
        for (int i = 0; i < 8; ++i) len |= uint64_t(len_bytes[i]) << (8 * i);
        if (len > kMaxHandoverState) {
            log::warning("handover: predecessor's state of {} bytes is over the limit; starting cold", len);
            len = 0;
            ok = false;
        } else {
            state.resize(size_t(len));
            ok = read_all(fd, state.data(), state.size());
        }
    }
    if (!ok) {
        // We serve anyway (SO_REUSEPORT); the predecessor keeps serving too
        // until it is stopped.
        log::warning("handover: predecessor at {} did not hand over its state: {}", path_, errno_text());
        ::close(fd);
        return false;
    }
    if (hooks_.load && !state.empty()) {
        try {
            log::info("handover: {}", hooks_.load(state));
        } catch (const std::exception& e) {
            log::warning("handover: predecessor's state not restored: {}", e.what());
        }
    }
    std::string().swap(state);
    if (!write_all(fd, kReady, sizeof kReady - 1)) {
        log::warning("handover: predecessor went away before READY: {}", errno_text());
        ::close(fd);
        return false;
    }
    // The predecessor closes its listener, then this connection: EOF.
    char c;
    while (::recv(fd, &c, 1, 0) > 0) {
    }
    ::close(fd);
    log::info("handover: took over from the predecessor at {}", path_);
    return true;
}

void Handover::listen() {
    ::unlink(path_.c_str());  // ours now, or left by a process that died
    acceptor_ = std::make_unique<stream_protocol::acceptor>(control_);
    boost::system::error_code ec;
    acceptor_->open(stream_protocol(), ec);
    if (!ec) acceptor_->bind(stream_protocol::endpoint(path_), ec);
    if (!ec) acceptor_->listen(4, ec);
    if (ec) throw std::runtime_error("handover socket " + path_ + ": " + ec.message());
    ::chmod(path_.c_str(), 0600);
    bound_ino_ = inode_of(path_);
    accept();
}

void Handover::accept() {
    acceptor_->async_accept([this](const boost::system::error_code& ec, stream_protocol::socket s) {
        if (ec) return;  // closed
        if (!handed_over_ && !busy_.exchange(true)) {
            if (exchange_.joinable()) exchange_.join();
            const int fd = s.release();
            exchange_ = std::thread([this, fd] { serve_successor(fd); });
        }
        // else: one successor at a time; `s` closes here.
        if (!handed_over_) accept();
    });
}

void Handover::serve_successor(int fd) {
    set_timeout(fd, kStepTimeoutS);
    char hello[sizeof kHello - 1];
    if (!read_all(fd, hello, sizeof hello) || std::memcmp(hello, kHello, sizeof hello) != 0) {
        ::close(fd);
        busy_ = false;
        return;
    }
    std::string state;
    if (hooks_.save) {
        try {
            state = hooks_.save();
        } catch (const std::exception& e) {
            log::warning("handover: state not saved: {}", e.what());
        }
    }
    if (state.size() > kMaxHandoverState) std::string().swap(state);
    uint8_t len_bytes[8];
    for (int i = 0; i < 8; ++i) len_bytes[i] = uint8_t(uint64_t(state.size()) >> (8 * i));
    bool ok = write_all(fd, len_bytes, 8) && write_all(fd, state.data(), state.size());
    std::string().swap(state);
    char ready[sizeof kReady - 1];
    if (ok) {
        set_timeout(fd, kReadyTimeoutS);
        ok = read_all(fd, ready, sizeof ready) && std::memcmp(ready, kReady, sizeof ready) == 0;
    }
    if (!ok) {
        log::warning("handover: successor did not become ready; still serving");
        ::close(fd);
        busy_ = false;
        return;
    }
    asio::post(control_, [this, fd] {
        handed_over_ = true;
        boost::system::error_code ignored;
        acceptor_->close(ignored);  // before the EOF: the successor binds the path next
        ::close(fd);
        log::info("handover: successor ready; draining and exiting without teardown");
        if (successor_ready_) successor_ready_();
    });
}

void Handover::close() {
    if (acceptor_) {
        boost::system::error_code ignored;
        acceptor_->close(ignored);
    }
    // Our socket file, unless a successor replaced it.
    if (!handed_over_ && bound_ino_ && inode_of(path_) == bound_ino_) ::unlink(path_.c_str());
}

}  // namespace dnscore
