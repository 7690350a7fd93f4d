#pragma once
// Redirects stdout (fd 1) to a temporary file until text() is called, so
// tests can read the log lines the server writes with write(2).
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

namespace dnscore::testing {

class StdoutCapture {
public:
    StdoutCapture() {
        std::cout.flush();
        std::fflush(stdout);
        tmp_ = std::tmpfile();
        saved_ = ::dup(STDOUT_FILENO);
        ::dup2(::fileno(tmp_), STDOUT_FILENO);
    }
    ~StdoutCapture() {
        restore();
        std::fclose(tmp_);
    }
    StdoutCapture(const StdoutCapture&) = delete;
    StdoutCapture& operator=(const StdoutCapture&) = delete;

    std::string text() {
        restore();
        std::string out;
        std::rewind(tmp_);
        char buf[4096];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, tmp_)) > 0) out.append(buf, n);
        return out;
    }

private:
    void restore() {
        if (saved_ < 0) return;
        std::fflush(stdout);
        ::dup2(saved_, STDOUT_FILENO);
        ::close(saved_);
        saved_ = -1;
    }
    FILE* tmp_ = nullptr;
    int saved_ = -1;
};

}  // namespace dnscore::testing
