#include "server/supervisor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/log.hpp"

namespace dnscore::supervisor {

namespace {

constexpr char kSupervisorFdEnv[] = "DNSCORE_SUPERVISOR_FD";
constexpr char kInheritedEnv[] = "DNSCORE_INHERITED_FDS";

void set_cloexec(int fd, bool on) {
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0) ::fcntl(fd, F_SETFD, on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC));
}

// ---- child side: the sockets passed in, parsed once ----
std::mutex g_mu;
bool g_parsed = false;
std::vector<ListenerFd> g_inherited;

void parse_inherited() {
    if (g_parsed) return;
    g_parsed = true;
    if (const char* s = std::getenv(kSupervisorFdEnv)) set_cloexec(std::atoi(s), true);
    const char* env = std::getenv(kInheritedEnv);
    if (!env) return;
    // Lines "FD:PROTO:WORKER:LABEL" (the label last: it may hold ':').
    std::string all = env;
    size_t pos = 0;
    while (pos < all.size()) {
        size_t end = all.find('\n', pos);
        if (end == std::string::npos) end = all.size();
        const std::string line = all.substr(pos, end - pos);
        pos = end + 1;
        const size_t a = line.find(':'), b = line.find(':', a + 1), c = line.find(':', b + 1);
        if (a == std::string::npos || b == std::string::npos || c == std::string::npos || b != a + 2) continue;
        ListenerFd l;
        l.fd = std::atoi(line.substr(0, a).c_str());
        l.proto = line[a + 1];
        l.worker = std::atoi(line.substr(b + 1, c - b - 1).c_str());
        l.label = line.substr(c + 1);
        if (l.fd < 3) continue;
        set_cloexec(l.fd, true);  // not for node-cache's iptables children
        g_inherited.push_back(std::move(l));
    }
}

// ---- supervisor side ----
struct Held {
    std::vector<ListenerFd> current;  // what the next child inherits
    std::vector<ListenerFd> pending;  // a set being received
    static void close_all(std::vector<ListenerFd>& v) {
        for (auto& l : v) ::close(l.fd);
        v.clear();
    }
};

// One message: "SEQ COUNT PROTO WORKER LABEL" plus one descriptor (none when
// COUNT is 0: an empty set). Returns false when the child closed its end.
bool receive(int sock, Held& held) {
    char buf[1024];
    iovec iov{buf, sizeof buf - 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control;
    mh.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    if (n <= 0) return n < 0 && (errno == EINTR || errno == EAGAIN);
    buf[n] = 0;
    int fd = -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
    unsigned seq = 0, count = 0, worker = 0;
    char proto = 0;
    int used = 0;
    if (std::sscanf(buf, "%u %u %c %u %n", &seq, &count, &proto, &worker, &used) < 4) {
        if (fd >= 0) ::close(fd);
        return true;
    }
    if (count == 0) {
        Held::close_all(held.current);
        Held::close_all(held.pending);
        return true;
    }
    if (seq == 0) Held::close_all(held.pending);
    if (fd >= 0) held.pending.push_back(ListenerFd{std::string(buf + used), proto, int(worker), fd});
    if (seq + 1 == count) {
        Held::close_all(held.current);
        held.current.swap(held.pending);
    }
    return true;
}

pid_t spawn(char** argv, const Held& held, int* sock_out) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return -1;
    std::string inherited;
    for (const auto& l : held.current)
        inherited += std::to_string(l.fd) + ":" + l.proto + ":" + std::to_string(l.worker) + ":" + l.label + "\n";
    const pid_t pid = ::fork();
    if (pid == 0) {
        // The child: the held sockets and its end of the pair survive exec.
        for (const auto& l : held.current) set_cloexec(l.fd, false);
        set_cloexec(sv[1], false);
        ::setenv(kSupervisorFdEnv, std::to_string(sv[1]).c_str(), 1);
        if (inherited.empty()) ::unsetenv(kInheritedEnv);
        else ::setenv(kInheritedEnv, inherited.c_str(), 1);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execv("/proc/self/exe", argv);
        _exit(127);
    }
    ::close(sv[1]);
    if (pid < 0) {
        ::close(sv[0]);
        return -1;
    }
    *sock_out = sv[0];
    return pid;
}

}  // namespace

bool is_child() {
    // First called right after the flags: from here on the passed sockets
    // are close-on-exec (node-cache runs iptables before it serves).
    std::lock_guard lk(g_mu);
    parse_inherited();
    return std::getenv(kSupervisorFdEnv) != nullptr;
}

int take_inherited(const std::string& label, char proto, int worker) {
    std::lock_guard lk(g_mu);
    parse_inherited();
    for (auto it = g_inherited.begin(); it != g_inherited.end(); ++it) {
        if (it->label == label && it->proto == proto && it->worker == worker) {
            const int fd = it->fd;
            g_inherited.erase(it);
            return fd;
        }
    }
    return -1;
}

void publish(const std::vector<ListenerFd>& fds) {
    const char* env = std::getenv(kSupervisorFdEnv);
    if (!env) return;
    {
        std::lock_guard lk(g_mu);
        parse_inherited();
        // Whatever was passed in and not used (a listener the configuration
        // no longer has) is not ours to keep open.
        for (auto& l : g_inherited) ::close(l.fd);
        g_inherited.clear();
    }
    const int sock = std::atoi(env);
    auto send_one = [&](const std::string& text, int fd) {
        iovec iov{const_cast<char*>(text.data()), text.size()};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
        msghdr mh{};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        if (fd >= 0) {
            std::memset(control, 0, sizeof control);
            mh.msg_control = control;
            mh.msg_controllen = sizeof control;
            cmsghdr* c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int));
            std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
        }
        return ::sendmsg(sock, &mh, MSG_NOSIGNAL) >= 0;
    };
    if (fds.empty()) {
        send_one("0 0 u 0 -", -1);
        return;
    }
    for (size_t i = 0; i < fds.size(); ++i) {
        const auto& l = fds[i];
        const std::string text = std::to_string(i) + " " + std::to_string(fds.size()) + " " + l.proto + " " +
                                 std::to_string(l.worker) + " " + l.label;
        if (!send_one(text, l.fd)) {
            log::warning("supervisor: could not pass the listening sockets: {}", std::strerror(errno));
            return;
        }
    }
}

int run(int /*argc*/, char** argv) {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGUSR1, SIGQUIT, SIGHUP}) sigaddset(&set, s);
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
    const int sfd = ::signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0) {
        log::error("supervisor: signalfd: {}", std::strerror(errno));
        return 1;
    }
    Held held;
    int sock = -1;
    bool stopping = false;
    int fast_deaths = 0;
    auto started = std::chrono::steady_clock::now();
    pid_t child = spawn(argv, held, &sock);
    if (child < 0) {
        log::error("supervisor: cannot start the server: {}", std::strerror(errno));
        return 1;
    }
    for (;;) {
        pollfd pf[2] = {{sfd, POLLIN, 0}, {sock, POLLIN, 0}};
        const int n = ::poll(pf, sock >= 0 ? 2 : 1, -1);
        if (n < 0 && errno != EINTR) return 1;
        if (sock >= 0 && (pf[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            if (!receive(sock, held)) {
                ::close(sock);
                sock = -1;
            }
        }
        if (!(pf[0].revents & POLLIN)) continue;
        signalfd_siginfo si{};
        if (::read(sfd, &si, sizeof si) != sizeof si) continue;
        const int sig = int(si.ssi_signo);
        if (sig != SIGCHLD) {
            if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT) stopping = true;
            ::kill(child, sig);
            continue;
        }
        int status = 0;
        const pid_t r = ::waitpid(child, &status, WNOHANG);
        if (r != child) continue;
        if (sock >= 0) {
            // Sockets the child sent just before dying are still queued.
            while (receive(sock, held)) {
                pollfd p{sock, POLLIN, 0};
                if (::poll(&p, 1, 0) <= 0) break;
            }
            ::close(sock);
            sock = -1;
        }
        if (stopping || WIFEXITED(status)) {
            Held::close_all(held.current);
            Held::close_all(held.pending);
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        // Killed (OOM, kill -9, a crash): start the next one now; the held
        // sockets keep the queries meanwhile.
        const auto now = std::chrono::steady_clock::now();
        fast_deaths = now - started < std::chrono::seconds(1) ? fast_deaths + 1 : 0;
        log::error("supervisor: the server (pid {}) was killed by signal {}; restarting it", child, WTERMSIG(status));
        if (fast_deaths > 5) std::this_thread::sleep_for(std::chrono::seconds(1));
        started = std::chrono::steady_clock::now();
        child = spawn(argv, held, &sock);
        if (child < 0) {
            log::error("supervisor: cannot restart the server: {}", std::strerror(errno));
            return 1;
        }
    }
}

}  // namespace dnscore::supervisor
