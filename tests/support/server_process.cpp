#include "tests/support/server_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <thread>

extern char** environ;

namespace dnscore::testing {

namespace {
std::string slurp(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}
}  // namespace

std::string dnscore_binary() {
    const char* b = std::getenv("DNSCORE");
    return b ? b : "./dnscore";
}

std::string shell_output(const std::string& cmd) {
    std::string out;
    std::unique_ptr<FILE, int (*)(FILE*)> p(::popen((cmd + " 2>&1").c_str(), "r"), ::pclose);
    if (!p) return out;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p.get())) > 0) out.append(buf.data(), n);
    return out;
}

bool has_plugin(const std::string& name) {
    return shell_output(dnscore_binary() + " -plugins").find("  dns." + name + "\n") != std::string::npos;
}

ServerProcess::ServerProcess(const std::string& corefile, std::vector<std::string> extra_args) {
    char tmpl[] = "/tmp/dnscore-test.XXXXXX";
    dir_ = mkdtemp(tmpl);
    {
        std::ofstream f(dir_ + "/Corefile");
        f << corefile;
    }
    std::string binary = dnscore_binary();
    std::vector<std::string> args = {binary, "-conf", dir_ + "/Corefile"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, (dir_ + "/stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, (dir_ + "/stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (posix_spawn(&pid_, binary.c_str(), &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    if (pid_ < 0) return;

    const std::regex port_line(R"(^\S+:(\d+)( on .*)?$)");
    // Up to 20 s: sanitizer builds on a loaded 2-core machine start slowly.
    for (int i = 0; i < 800 && port_ == 0; ++i) {
        std::istringstream lines(out());
        for (std::string l; std::getline(lines, l);) {
            std::smatch m;
            if (std::regex_match(l, m, port_line)) {
                port_ = uint16_t(std::stoi(m[1]));
                break;
            }
        }
        if (port_ == 0) {
            if (!alive()) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
    }
}

ServerProcess::~ServerProcess() {
    if (pid_ > 0 && status_ < 0) {
        if (stop(5000) < 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

bool ServerProcess::alive() const {
    if (pid_ <= 0 || status_ >= 0) return false;
    int st = 0;
    const pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
        const_cast<ServerProcess*>(this)->status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return false;
    }
    return true;
}

int ServerProcess::stop(int timeout_ms) {
    if (status_ >= 0) return status_;
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        if (!alive()) return status_;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
}

std::string ServerProcess::out() const { return slurp(dir_ + "/stdout"); }
std::string ServerProcess::err() const { return slurp(dir_ + "/stderr"); }

std::string served_address(const ServerProcess& sp, const std::string& plugin, const std::string& path) {
    const std::regex re("\\[INFO\\] plugin/" + plugin + ": Serving " + path + " on (\\S+)");
    for (int i = 0; i < 400; ++i) {
        std::smatch m;
        const std::string out = sp.out();
        if (std::regex_search(out, m, re)) return m[1];
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return "";
}

}  // namespace dnscore::testing
