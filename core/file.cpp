#include "core/file.hpp"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

#include "core/net.hpp"

namespace dnscore {

std::optional<std::string> read_file(const std::string& path, FileError* error) {
    auto fail = [&](bool at_open, int code) -> std::optional<std::string> {
        if (error) *error = FileError{code, at_open, (at_open ? "open " : "read ") + path + ": " + net::errno_text(code)};
        return std::nullopt;
    };
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(true, errno);
    std::string content;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int e = errno;
            ::close(fd);
            return fail(false, e);
        }
        if (n == 0) break;
        if (content.size() + size_t(n) > kMaxFileBytes) {
            // /dev/zero or a runaway file: refused, as EFBIG, rather than read until memory runs out.
            ::close(fd);
            return fail(false, EFBIG);
        }
        content.append(buf, size_t(n));
    }
    ::close(fd);
    return content;
}

}  // namespace dnscore
