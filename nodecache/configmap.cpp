#include "nodecache/configmap.hpp"

#include <openssl/evp.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "core/file.hpp"
#include "core/net.hpp"
#include "nodecache/options.hpp"
#include "parser/gostd.hpp"

namespace fs = std::filesystem;

namespace dnscore::nodecache {

bool is_valid_utf8(const std::string& s) {
    size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        size_t n = 0;
        uint32_t cp = 0;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, cp = c & 0x07;
        } else {
            return false;
        }
        for (size_t k = 1; k <= n; ++k) {
            if (i + k >= s.size()) return false;
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        // Overlong forms, surrogates and values past U+10FFFF are invalid (Go's utf8.Valid).
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

FileMap read_config_dir(const std::string& dir) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) throw std::runtime_error("config path " + gostd::quote(dir) + " is not a directory");
    FileMap files;
    for (const auto& entry : fs::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        if (name.empty() || name[0] == '.') continue;
        if (entry.is_directory()) continue;  // follows symlinks, like node-cache's stat
        const std::string path = entry.path().string();
        FileError err;
        auto read = read_file(path, &err);
        if (!read && err.at_open) throw std::runtime_error("open " + path + ": cannot read");
        std::string content = read.value_or("");
        if (!is_valid_utf8(content)) throw std::runtime_error("non-utf8 data in " + path);
        files[name] = std::move(content);
    }
    return files;
}

std::string content_version(const FileMap& files) {
    if (files.empty()) return "";
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    const char nul = '\0';
    for (const auto& [name, content] : files) {
        EVP_DigestUpdate(ctx, name.data(), name.size());
        EVP_DigestUpdate(ctx, &nul, 1);
        EVP_DigestUpdate(ctx, content.data(), content.size());
        EVP_DigestUpdate(ctx, &nul, 1);
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    std::string hex;
    char buf[3];
    for (unsigned i = 0; i < len; ++i) {
        std::snprintf(buf, sizeof buf, "%02x", md[i]);
        hex += buf;
    }
    return hex;
}

namespace {

// Just enough JSON for the two ConfigMap shapes, with encoding/json's
// leniency (whitespace, duplicate keys: last wins) and its type errors.
struct Json {
    enum Kind { null, boolean, number, string, array, object } kind = null;
    std::string str;
    std::vector<Json> items;
    std::vector<std::pair<std::string, Json>> members;
};

class JsonParser {
public:
    explicit JsonParser(const std::string& s) : s_(s) {}
    Json parse_document() {
        Json v = value();
        ws();
        if (pos_ != s_.size()) fail("invalid character after top-level value");
        return v;
    }

private:
    [[noreturn]] void fail(const std::string& what) {
        throw std::invalid_argument(what + " (offset " + std::to_string(pos_) + ")");
    }
    void ws() {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
            ++pos_;
    }
    bool literal(const char* lit) {
        const std::string l(lit);
        if (s_.compare(pos_, l.size(), l) == 0) {
            pos_ += l.size();
            return true;
        }
        return false;
    }
    static void append_utf8(std::string& out, uint32_t cp) {
        if (cp < 0x80) {
            out += char(cp);
        } else if (cp < 0x800) {
            out += char(0xC0 | (cp >> 6));
            out += char(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += char(0xE0 | (cp >> 12));
            out += char(0x80 | ((cp >> 6) & 0x3F));
            out += char(0x80 | (cp & 0x3F));
        } else {
            out += char(0xF0 | (cp >> 18));
            out += char(0x80 | ((cp >> 12) & 0x3F));
            out += char(0x80 | ((cp >> 6) & 0x3F));
            out += char(0x80 | (cp & 0x3F));
        }
    }
    uint32_t hex4() {
        if (pos_ + 4 > s_.size()) fail("invalid escape");
        uint32_t v = 0;
        for (int i = 0; i < 4; ++i) {
            char c = s_[pos_++];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= uint32_t(c - '0');
            else if (c >= 'a' && c <= 'f') v |= uint32_t(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') v |= uint32_t(c - 'A' + 10);
            else fail("invalid escape");
        }
        return v;
    }
    std::string string_body() {
        ++pos_;  // opening quote
        std::string out;
        while (true) {
            if (pos_ >= s_.size()) fail("unexpected end of JSON input");
            char c = s_[pos_++];
            if (c == '"') return out;
            if (static_cast<unsigned char>(c) < 0x20) fail("invalid character in string literal");
            if (c != '\\') {
                out += c;
                continue;
            }
            if (pos_ >= s_.size()) fail("unexpected end of JSON input");
            char e = s_[pos_++];
            switch (e) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                uint32_t cp = hex4();
                if (cp >= 0xD800 && cp < 0xDC00 && s_.compare(pos_, 2, "\\u") == 0) {
                    pos_ += 2;
                    uint32_t lo = hex4();
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                append_utf8(out, cp);
                break;
            }
            default: fail("invalid character in string escape code");
            }
        }
    }
    Json value() {
        ws();
        if (pos_ >= s_.size()) fail("unexpected end of JSON input");
        Json v;
        const char c = s_[pos_];
        if (c == '"') {
            v.kind = Json::string;
            v.str = string_body();
        } else if (c == '[') {
            v.kind = Json::array;
            ++pos_;
            ws();
            if (pos_ < s_.size() && s_[pos_] == ']') {
                ++pos_;
                return v;
            }
            while (true) {
                v.items.push_back(value());
                ws();
                if (pos_ < s_.size() && s_[pos_] == ',') {
                    ++pos_;
                    continue;
                }
                if (pos_ < s_.size() && s_[pos_] == ']') {
                    ++pos_;
                    return v;
                }
                fail("invalid character after array element");
            }
        } else if (c == '{') {
            v.kind = Json::object;
            ++pos_;
            ws();
            if (pos_ < s_.size() && s_[pos_] == '}') {
                ++pos_;
                return v;
            }
            while (true) {
                ws();
                if (pos_ >= s_.size() || s_[pos_] != '"') fail("invalid character looking for beginning of object key string");
                std::string key = string_body();
                ws();
                if (pos_ >= s_.size() || s_[pos_] != ':') fail("invalid character after object key");
                ++pos_;
                v.members.emplace_back(std::move(key), value());
                ws();
                if (pos_ < s_.size() && s_[pos_] == ',') {
                    ++pos_;
                    continue;
                }
                if (pos_ < s_.size() && s_[pos_] == '}') {
                    ++pos_;
                    return v;
                }
                fail("invalid character after object key:value pair");
            }
        } else if (literal("null")) {
            v.kind = Json::null;
        } else if (literal("true") || literal("false")) {
            v.kind = Json::boolean;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            v.kind = Json::number;
            ++pos_;
            while (pos_ < s_.size() && std::string_view("0123456789.eE+-").find(s_[pos_]) != std::string_view::npos)
                ++pos_;
        } else {
            fail(std::string("invalid character '") + c + "' looking for beginning of value");
        }
        return v;
    }

    const std::string& s_;
    size_t pos_ = 0;
};

const char* kind_name(Json::Kind k) {
    switch (k) {
    case Json::boolean: return "bool";
    case Json::number: return "number";
    case Json::string: return "string";
    case Json::array: return "array";
    case Json::object: return "object";
    default: return "null";
    }
}

std::vector<std::string> string_list(const Json& v, const std::string& key) {
    std::vector<std::string> out;
    if (v.kind == Json::null) return out;
    if (v.kind != Json::array)
        throw std::invalid_argument(std::string("json: cannot unmarshal ") + kind_name(v.kind) +
                                    " into Go value of type []string (" + key + ")");
    for (const auto& item : v.items) {
        if (item.kind != Json::string)
            throw std::invalid_argument(std::string("json: cannot unmarshal ") + kind_name(item.kind) +
                                        " into Go value of type string (" + key + ")");
        out.push_back(item.str);
    }
    return out;
}

bool port_in_range(const std::string& port, long long lo) {
    try {
        auto p = gostd::atoi(port);
        return p >= lo && p <= 65535;
    } catch (const std::exception&) {
        return false;
    }
}

}  // namespace

bool is_dns1123_subdomain(const std::string& s) {
    if (s.empty() || s.size() > 253) return false;
    size_t start = 0;
    while (true) {
        size_t dot = s.find('.', start);
        std::string label = s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        if (label.empty()) return false;
        auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
        if (!alnum(label.front()) || !alnum(label.back())) return false;
        for (char c : label)
            if (!alnum(c) && c != '-') return false;
        if (dot == std::string::npos) return true;
        start = dot + 1;
    }
}

KubeDnsConfig parse_kubedns_config(const FileMap& files) {
    KubeDnsConfig cfg;
    if (auto it = files.find("stubDomains"); it != files.end()) {
        Json v;
        try {
            v = JsonParser(it->second).parse_document();
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument(std::string("Invalid JSON in stubDomains: ") + e.what());
        }
        if (v.kind == Json::object) {
            for (const auto& [domain, servers] : v.members) cfg.stub_domains[domain] = string_list(servers, "stubDomains");
        } else if (v.kind != Json::null) {
            throw std::invalid_argument(std::string("json: cannot unmarshal ") + kind_name(v.kind) +
                                        " into Go value of type map[string][]string (stubDomains)");
        }
    }
    if (auto it = files.find("upstreamNameservers"); it != files.end()) {
        Json v;
        try {
            v = JsonParser(it->second).parse_document();
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument(std::string("Invalid JSON in upstreamNameservers: ") + e.what());
        }
        cfg.upstream_nameservers = string_list(v, "upstreamNameservers");
    }
    if (auto it = files.find("federations"); it != files.end()) {
        // Only validated (an invalid value rejects the update), never used.
        std::string text = it->second;
        while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
        size_t start = 0;
        while (!text.empty()) {
            size_t comma = text.find(',', start);
            std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
            auto eq = item.find('=');
            if (eq == std::string::npos || !is_dns1123_subdomain(item.substr(0, eq)) ||
                !is_dns1123_subdomain(item.substr(eq + 1)))
                throw std::invalid_argument("invalid federations entry " + gostd::quote(item));
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
    }

    // kube-dns's validation (pkg/dns/config).
    for (const auto& [domain, servers] : cfg.stub_domains) {
        if (!is_dns1123_subdomain(domain))
            throw std::invalid_argument("invalid domain name " + gostd::quote(domain) + " in stubDomains");
        for (const auto& ns : servers) {
            std::string host, port;
            if (net::split_host_port(ns, host, port) && !port_in_range(port, 0))
                throw std::invalid_argument("invalid nameserver port " + gostd::quote(ns) + " in stubDomains");
            // kube-dns tests the whole string, so "name:port" fails here.
            if (!parse_ip(ns) && !(net::split_host_port(ns, host, port) && parse_ip(host)) && !is_dns1123_subdomain(ns))
                throw std::invalid_argument("invalid nameserver " + gostd::quote(ns) + " in stubDomains");
        }
    }
    if (cfg.upstream_nameservers.size() > 3)
        throw std::invalid_argument("upstreamNameservers cannot have more than three entries (value was " +
                                    std::to_string(cfg.upstream_nameservers.size()) + ")");
    for (const auto& ns : cfg.upstream_nameservers) {
        std::string host, port;
        if (parse_ip(ns)) continue;
        if (net::split_host_port(ns, host, port) && parse_ip(host) && port_in_range(port, 1)) continue;
        throw std::invalid_argument("invalid upstream nameserver " + gostd::quote(ns));
    }
    return cfg;
}

std::optional<FileMap> DirWatcher::poll() {
    FileMap files = read_config_dir(dir_);
    std::string version = content_version(files);
    if (version_ && *version_ == version) return std::nullopt;
    version_ = version;
    return files;
}

}  // namespace dnscore::nodecache
