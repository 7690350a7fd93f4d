#include "nodecache/configmap.hpp"

#include <openssl/evp.h>

#include <boost/json.hpp>

#include <cctype>
#include <cstdio>
#include <filesystem>
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

namespace json = boost::json;

// Go's quoteChar (encoding/json/scanner.go): the byte as a rune, quoted.
std::string quote_char(unsigned char c) {
    if (c == '\'') return "'\\''";
    if (c == '"') return "'\"'";
    static const char* const kEsc[] = {"\\a", "\\b", "\\t", "\\n", "\\v", "\\f", "\\r"};
    char buf[16];
    if (c >= 7 && c <= 13) return std::string("'") + kEsc[c - 7] + "'";
    if (c == '\\') return "'\\\\'";
    if (c < 0x20 || c == 0x7f) std::snprintf(buf, sizeof buf, "'\\x%02x'", c);
    else if (c < 0x7f) std::snprintf(buf, sizeof buf, "'%c'", c);
    else if (c < 0xa1 || c == 0xad) std::snprintf(buf, sizeof buf, "'\\u%04x'", c);  // not printable
    else std::snprintf(buf, sizeof buf, "'%c%c'", char(0xc0 | (c >> 6)), char(0x80 | (c & 0x3f)));
    return buf;
}

// The message of the *json.SyntaxError Go's Unmarshal returns for `s` (its
// scanner, transcribed for the error path only); "" when Go finds none.
std::string go_syntax_error(std::string_view s) {
    enum Parse { object_key, object_value, array_value };
    std::vector<Parse> stack;
    auto bad = [](unsigned char c, const char* context) {
        return "invalid character " + quote_char(c) + " " + context;
    };
    auto ws = [](unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    auto digit = [](unsigned char c) { return c >= '0' && c <= '9'; };
    size_t i = 0;
    auto peek = [&]() -> int { return i < s.size() ? (unsigned char)s[i] : -1; };
    // Inside a token Go feeds a space at the end of input: the error names it.
    auto take = [&]() -> unsigned char { return i < s.size() ? (unsigned char)s[i++] : ' '; };
    bool begin_value = true;  // a value is expected (Go's stateBeginValue), else stateEndValue
    while (true) {
        while (i < s.size() && ws((unsigned char)s[i])) ++i;
        if (begin_value) {
            int c = peek();
            if (c < 0) return "unexpected end of JSON input";
            ++i;
            if (c == '{' || c == '[') {
                if (stack.size() >= 10000) return "exceeded max depth";
                stack.push_back(c == '{' ? object_key : array_value);
                while (i < s.size() && ws((unsigned char)s[i])) ++i;
                const int n = peek();
                if (c == '[' && n == ']') {
                    ++i;
                    stack.pop_back();
                } else if (c == '{' && n == '}') {
                    ++i;
                    stack.pop_back();
                } else if (c == '{') {
                    if (n < 0) return "unexpected end of JSON input";
                    if (n != '"') return bad((unsigned char)n, "looking for beginning of object key string");
                    continue;  // the key is a string value
                } else {
                    continue;
                }
            } else if (c == '"') {
                while (true) {
                    int d = peek();
                    if (d < 0) return "unexpected end of JSON input";
                    ++i;
                    if (d == '"') break;
                    if (d < 0x20) return bad((unsigned char)d, "in string literal");
                    if (d != '\\') continue;
                    d = take();
                    if (d == 'u') {
                        for (int k = 0; k < 4; ++k) {
                            const unsigned char h = take();
                            if (!std::isxdigit(h)) return bad(h, "in \\u hexadecimal character escape");
                        }
                    } else if (std::string_view("\"\\/bfnrt").find(char(d)) == std::string_view::npos) {
                        return bad((unsigned char)d, "in string escape code");
                    }
                }
            } else if (c == '-' || digit((unsigned char)c)) {
                int d = c;
                if (c == '-') {
                    d = take();
                    if (!digit((unsigned char)d)) return bad((unsigned char)d, "in numeric literal");
                }
                if (d != '0')
                    while (digit((unsigned char)peek())) ++i;
                if (peek() == '.') {
                    ++i;
                    d = take();
                    if (!digit((unsigned char)d)) return bad((unsigned char)d, "after decimal point in numeric literal");
                    while (digit((unsigned char)peek())) ++i;
                }
                if (peek() == 'e' || peek() == 'E') {
                    ++i;
                    if (peek() == '+' || peek() == '-') ++i;
                    d = take();
                    if (!digit((unsigned char)d)) return bad((unsigned char)d, "in exponent of numeric literal");
                    while (digit((unsigned char)peek())) ++i;
                }
            } else if (c == 't' || c == 'f' || c == 'n') {
                const std::string_view word = c == 't' ? "true" : c == 'f' ? "false" : "null";
                for (size_t k = 1; k < word.size(); ++k) {
                    const unsigned char d = take();
                    if (d != (unsigned char)word[k])
                        return bad(d, ("in literal " + std::string(word) + " (expecting " +
                                                      quote_char((unsigned char)word[k]) + ")").c_str());
                }
            } else {
                return bad((unsigned char)c, "looking for beginning of value");
            }
            begin_value = false;
            continue;
        }
        // stateEndValue
        if (stack.empty()) {
            if (i < s.size()) return bad((unsigned char)s[i], "after top-level value");
            return "";
        }
        const int c = peek();
        if (c < 0) return "unexpected end of JSON input";
        ++i;
        switch (stack.back()) {
        case object_key:
            if (c != ':') return bad((unsigned char)c, "after object key");
            stack.back() = object_value;
            begin_value = true;
            break;
        case object_value:
            if (c == ',') {
                stack.back() = object_key;
                while (i < s.size() && ws((unsigned char)s[i])) ++i;
                const int n = peek();
                if (n < 0) return "unexpected end of JSON input";
                if (n != '"') return bad((unsigned char)n, "looking for beginning of object key string");
                begin_value = true;
            } else if (c == '}') {
                stack.pop_back();
            } else {
                return bad((unsigned char)c, "after object key:value pair");
            }
            break;
        case array_value:
            if (c == ',') begin_value = true;
            else if (c == ']') stack.pop_back();
            else return bad((unsigned char)c, "after array element");
            break;
        }
    }
}

// encoding/json's Unmarshal: the document, or std::invalid_argument with
// Go's text. Duplicate keys: the last wins, as in Go.
json::value unmarshal(const std::string& text) {
    json::parse_options opts;
    opts.max_depth = 10000;          // Go's nesting limit
    opts.allow_invalid_utf8 = true;  // Go replaces bad bytes instead of failing
    json::stream_parser p({}, opts);
    boost::system::error_code ec;
    const size_t n = p.write_some(text.data(), text.size(), ec);
    if (!ec && n < text.size()) ec = json::error::extra_data;
    if (!ec) p.finish(ec);
    if (ec) {
        std::string why = go_syntax_error(text);
        if (why.empty()) why = ec.message();  // where Boost is stricter (lone UTF-16 surrogates)
        throw std::invalid_argument(why);
    }
    return p.release();
}

// Go's names of JSON kinds in *json.UnmarshalTypeError.
const char* kind_name(const json::value& v) {
    switch (v.kind()) {
    case json::kind::bool_: return "bool";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "number";
    case json::kind::string: return "string";
    case json::kind::array: return "array";
    case json::kind::object: return "object";
    default: return "null";
    }
}

std::vector<std::string> string_list(const json::value& v, const std::string& key) {
    std::vector<std::string> out;
    if (v.is_null()) return out;
    if (!v.is_array())
        throw std::invalid_argument(std::string("json: cannot unmarshal ") + kind_name(v) +
                                    " into Go value of type []string (" + key + ")");
    for (const auto& item : v.get_array()) {
        if (!item.is_string())
            throw std::invalid_argument(std::string("json: cannot unmarshal ") + kind_name(item) +
                                        " into Go value of type string (" + key + ")");
        out.emplace_back(item.get_string());
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
        json::value v;
        try {
            v = unmarshal(it->second);
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument(std::string("Invalid JSON in stubDomains: ") + e.what());
        }
        if (v.is_object()) {
            for (const auto& m : v.get_object())
                cfg.stub_domains[std::string(m.key())] = string_list(m.value(), "stubDomains");
        } else if (!v.is_null()) {
            throw std::invalid_argument(std::string("json: cannot unmarshal ") + kind_name(v) +
                                        " into Go value of type map[string][]string (stubDomains)");
        }
    }
    if (auto it = files.find("upstreamNameservers"); it != files.end()) {
        json::value v;
        try {
            v = unmarshal(it->second);
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
