#include "nodecache/iptables.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <regex>

extern char** environ;

namespace dnscore::nodecache {

std::string Rule::str() const {
    std::string out = "{" + table + " " + chain + " [";
    for (size_t i = 0; i < args.size(); ++i) out += (i ? " " : "") + args[i];
    return out + "]}";
}

std::vector<Rule> node_cache_rules(const std::vector<std::string>& ips, const std::string& port,
                                   const std::string& health_port) {
    const std::string skip = "NodeLocal DNS Cache: skip conntrack";
    const std::string allow = "NodeLocal DNS Cache: allow DNS traffic";
    std::vector<Rule> rules;
    for (const auto& ip : ips) {
        auto rule = [&](const char* table, const char* chain, const char* proto, const char* dir,
                        const char* port_dir, const std::string& p, const char* target, const std::string& comment) {
            rules.push_back(Rule{table, chain,
                                 {"-p", proto, dir, ip, port_dir, p, "-j", target, "-m", "comment", "--comment",
                                  comment}});
        };
        rule("raw", "PREROUTING", "tcp", "-d", "--dport", port, "NOTRACK", skip);
        rule("raw", "PREROUTING", "udp", "-d", "--dport", port, "NOTRACK", skip);
        rule("filter", "INPUT", "tcp", "-d", "--dport", port, "ACCEPT", allow);
        rule("filter", "INPUT", "udp", "-d", "--dport", port, "ACCEPT", allow);
        rule("raw", "OUTPUT", "tcp", "-s", "--sport", port, "NOTRACK", skip);
        rule("raw", "OUTPUT", "udp", "-s", "--sport", port, "NOTRACK", skip);
        rule("filter", "OUTPUT", "tcp", "-s", "--sport", port, "ACCEPT", allow);
        rule("filter", "OUTPUT", "udp", "-s", "--sport", port, "ACCEPT", allow);
        rule("raw", "OUTPUT", "tcp", "-d", "--dport", port, "NOTRACK", skip);
        rule("raw", "OUTPUT", "udp", "-d", "--dport", port, "NOTRACK", skip);
        rule("raw", "OUTPUT", "tcp", "-d", "--dport", health_port, "NOTRACK", skip);
        rule("raw", "OUTPUT", "tcp", "-s", "--sport", health_port, "NOTRACK", skip);
    }
    return rules;
}

int run_command(const std::vector<std::string>& argv, std::string* output, std::chrono::milliseconds timeout) {
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) {
        if (output) *output = std::strerror(errno);
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDERR_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(pipefd[1]);
    if (rc != 0) {
        ::close(pipefd[0]);
        if (output) *output = "exec: \"" + argv[0] + "\": " + std::strerror(rc);
        return -1;
    }
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool killed = false;
    char buf[4096];
    while (true) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            ::kill(pid, SIGKILL);
            killed = true;
            break;
        }
        pollfd p{pipefd[0], POLLIN, 0};
        const int pr = ::poll(&p, 1, int(left.count()));
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) continue;
        const ssize_t n = ::read(pipefd[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;  // EOF: the child closed its output
        out.append(buf, size_t(n));
    }
    ::close(pipefd[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (output) *output = out;
    if (killed) {
        if (output) *output += "(killed after timeout)";
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Iptables::Iptables(bool ipv6, std::string binary)
    : binary_(binary.empty() ? (ipv6 ? "ip6tables" : "iptables") : std::move(binary)) {}

std::string Iptables::probe() {
    std::string out;
    const int st = run_command({binary_, "--version"}, &out, std::chrono::seconds(10));
    if (st != 0) throw IptablesError("error checking iptables version: " + out, false);
    // "-w" needs iptables >= 1.4.20, "-w N" >= 1.4.22 (utiliptables getIPTablesWaitFlag).
    std::smatch m;
    static const std::regex version_re(R"(v([0-9]+)\.([0-9]+)\.([0-9]+))");
    if (std::regex_search(out, m, version_re)) {
        const int v = std::stoi(m[1]) * 10000 + std::stoi(m[2]) * 100 + std::stoi(m[3]);
        if (v >= 10422)
            wait_args_ = {"-w", "5"};
        else if (v >= 10420)
            wait_args_ = {"-w"};
        else
            wait_args_.clear();
    }
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

Iptables::Result Iptables::run(const std::string& op, const Rule& r) {
    std::vector<std::string> argv{binary_};
    argv.insert(argv.end(), wait_args_.begin(), wait_args_.end());
    argv.insert(argv.end(), {op, r.chain, "-t", r.table});
    argv.insert(argv.end(), r.args.begin(), r.args.end());
    Result res;
    res.status = run_command(argv, &res.output);
    return res;
}

namespace {
IptablesError failure(const std::string& op, const std::string& output, int status) {
    std::string text = output;
    while (!text.empty() && text.back() == '\n') text.pop_back();
    const bool lock = text.find("holding the xtables lock") != std::string::npos ||
                      text.find("Another app is currently holding the xtables lock") != std::string::npos;
    return IptablesError(
        (status >= 0 ? "exit status " + std::to_string(status) : std::string("failed")) + " (" + op + "): " + text, lock);
}
}  // namespace

bool Iptables::exists(const Rule& r) {
    auto res = run("-C", r);
    if (res.status == 0) return true;
    // Exit status 1 means "no such rule", as in utiliptables' checkRule.
    if (res.status == 1) return false;
    throw failure("-C", res.output, res.status);
}

void Iptables::insert(const Rule& r) {
    auto res = run("-I", r);
    if (res.status != 0) throw failure("-I", res.output, res.status);
}

void Iptables::remove(const Rule& r) {
    auto res = run("-D", r);
    if (res.status != 0) throw failure("-D", res.output, res.status);
}

bool Iptables::ensure(const Rule& r) {
    if (exists(r)) return false;
    insert(r);
    return true;
}

std::string BackendChoice::binary(bool ipv6) const {
    std::string name = ipv6 ? "ip6tables" : "iptables";
    switch (backend) {
        case IptablesBackend::legacy: return name + "-legacy";
        case IptablesBackend::nft: return name + "-nft";
        case IptablesBackend::plain: return name;
    }
    return name;
}

namespace {
bool has_kubelet_chains(const std::string& save) {
    size_t pos = 0;
    while (pos < save.size()) {
        size_t end = save.find('\n', pos);
        if (end == std::string::npos) end = save.size();
        const std::string_view line(save.data() + pos, end - pos);
        if (line.starts_with(":KUBE-IPTABLES-HINT ") || line.starts_with(":KUBE-KUBELET-CANARY ")) return true;
        pos = end + 1;
    }
    return false;
}

size_t rule_lines(const std::string& save) {
    size_t n = 0;
    for (size_t pos = 0; pos < save.size();) {
        size_t end = save.find('\n', pos);
        if (end == std::string::npos) end = save.size();
        if (end > pos && save[pos] == '-') ++n;
        pos = end + 1;
    }
    return n;
}

// Output of a save command, "" when it fails (a missing binary, a kernel
// without that backend): detection is best effort, as the wrapper's.
std::string save_output(const CommandRunner& run, std::vector<std::string> argv) {
    std::string out;
    return run(argv, &out) == 0 ? out : std::string();
}

bool binary_runs(const CommandRunner& run, const std::string& binary) {
    std::string out;
    return run({binary, "--version"}, &out) == 0;
}
}  // namespace

BackendChoice choose_backend(const std::string& mode, const CommandRunner& run) {
    BackendChoice c;
    if (mode == "legacy" || mode == "nft" || mode == "iptables") {
        c.backend = mode == "legacy" ? IptablesBackend::legacy
                    : mode == "nft"  ? IptablesBackend::nft
                                     : IptablesBackend::plain;
        c.reason = "set by -iptablesbackend";
        return c;
    }
    if (mode != "auto") throw std::invalid_argument("invalid iptablesbackend specified - \"" + mode + "\" (auto, legacy, nft or iptables)");

    for (const char* family : {"iptables", "ip6tables"}) {
        if (has_kubelet_chains(save_output(run, {std::string(family) + "-nft-save", "-t", "mangle"}))) {
            c.backend = IptablesBackend::nft;
            c.reason = "kubelet's chains found in " + std::string(family) + "-nft";
            break;
        }
    }
    if (c.reason.empty()) {
        const std::string legacy4 = save_output(run, {"iptables-legacy-save"});
        const std::string legacy6 = save_output(run, {"ip6tables-legacy-save"});
        if (has_kubelet_chains(legacy4) || has_kubelet_chains(legacy6)) {
            c.backend = IptablesBackend::legacy;
            c.reason = "kubelet's chains found in iptables-legacy";
        } else {
            const size_t legacy = rule_lines(legacy4) + rule_lines(legacy6);
            const size_t nft = rule_lines(save_output(run, {"iptables-nft-save"})) +
                               rule_lines(save_output(run, {"ip6tables-nft-save"}));
            c.backend = legacy > nft ? IptablesBackend::legacy : IptablesBackend::nft;
            c.reason = "no kubelet chains; " + std::to_string(legacy) + " legacy rules, " + std::to_string(nft) +
                       " nft rules";
        }
    }
    if (!binary_runs(run, c.binary(false))) {
        c.reason += "; " + c.binary(false) + " not runnable, using iptables";
        c.backend = IptablesBackend::plain;
    }
    return c;
}

}  // namespace dnscore::nodecache
