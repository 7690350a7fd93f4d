#include "nodecache/nftables.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "nodecache/options.hpp"

namespace dnscore::nodecache {

NftTable::NftTable(std::vector<std::string> ips, std::string port, std::string health_port, CommandRunner run,
                   std::string script_dir)
    : ips_(std::move(ips)),
      port_(std::move(port)),
      health_port_(std::move(health_port)),
      run_(std::move(run)),
      script_dir_(std::move(script_dir)) {}

std::string NftTable::script() const {
    const std::string skip = " notrack comment \"NodeLocal DNS Cache: skip conntrack\"\n";
    const std::string allow = " accept comment \"NodeLocal DNS Cache: allow DNS traffic\"\n";
    std::string pre, out_raw, input, output;
    for (const auto& ip : ips_) {
        bool v6 = false;
        parse_ip(ip, &v6);
        const std::string fam = v6 ? "ip6" : "ip";
        auto r = [&](const char* dir, const char* proto, const char* port_dir, const std::string& port) {
            return "\t\t" + fam + " " + dir + " " + ip + " " + proto + " " + port_dir + " " + port;
        };
        // The same twelve as node_cache_rules(), in its order per chain.
        pre += r("daddr", "tcp", "dport", port_) + skip;
        pre += r("daddr", "udp", "dport", port_) + skip;
        input += r("daddr", "tcp", "dport", port_) + allow;
        input += r("daddr", "udp", "dport", port_) + allow;
        out_raw += r("saddr", "tcp", "sport", port_) + skip;
        out_raw += r("saddr", "udp", "sport", port_) + skip;
        output += r("saddr", "tcp", "sport", port_) + allow;
        output += r("saddr", "udp", "sport", port_) + allow;
        out_raw += r("daddr", "tcp", "dport", port_) + skip;
        out_raw += r("daddr", "udp", "dport", port_) + skip;
        out_raw += r("daddr", "tcp", "dport", health_port_) + skip;
        out_raw += r("saddr", "tcp", "sport", health_port_) + skip;
    }
    const std::string table = std::string(kFamily) + " " + kName;
    // priority raw (-300) runs before conntrack; filter (0) as iptables' filter table.
    return "table " + table + "\ndelete table " + table + "\ntable " + table + " {\n" +
           "\tchain prerouting_raw {\n\t\ttype filter hook prerouting priority raw; policy accept;\n" + pre +
           "\t}\n\tchain output_raw {\n\t\ttype filter hook output priority raw; policy accept;\n" + out_raw +
           "\t}\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n" + input +
           "\t}\n\tchain output {\n\t\ttype filter hook output priority filter; policy accept;\n" + output + "\t}\n}\n";
}

size_t NftTable::installed_rules() {
    std::string out;
    if (run_({"nft", "list", "table", kFamily, kName}, &out) != 0) return 0;
    size_t n = 0;
    for (size_t pos = out.find("NodeLocal DNS Cache"); pos != std::string::npos;
         pos = out.find("NodeLocal DNS Cache", pos + 1))
        ++n;
    return n;
}

bool NftTable::ensure() {
    if (installed_rules() == expected_rules()) return false;
    std::string path = script_dir_ + "/dnscore-nft-XXXXXX";
    const int fd = ::mkstemp(path.data());
    if (fd < 0) throw IptablesError("cannot write the nftables script in " + script_dir_, false);
    const std::string text = script();
    const bool written = ::write(fd, text.data(), text.size()) == ssize_t(text.size());
    ::close(fd);
    std::string out;
    const int st = written ? run_({"nft", "-f", path}, &out) : -1;
    ::unlink(path.c_str());
    if (st != 0) {
        while (!out.empty() && out.back() == '\n') out.pop_back();
        throw IptablesError("nft -f: " + (written ? out : std::string("cannot write the script")), false);
    }
    return true;
}

void NftTable::remove() {
    std::string out;
    if (run_({"nft", "list", "table", kFamily, kName}, &out) != 0) return;  // already gone
    if (run_({"nft", "delete", "table", kFamily, kName}, &out) != 0) {
        while (!out.empty() && out.back() == '\n') out.pop_back();
        throw IptablesError("nft delete table: " + out, false);
    }
}

}  // namespace dnscore::nodecache
