// Corefile parser: a port of coredns/caddy caddyfile/parse.go. The control
// flow (cursor moves, roll-backs, where errors are raised) follows the Go
// code closely because error positions and several quirks depend on it.
#include "parser/parser.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "core/file.hpp"
#include "core/net.hpp"

namespace dnscore::parser {
namespace {

// Limits against runaway (cyclic) imports. The file limit's message prints
// the snippet limit, as upstream does.
constexpr int kMaxSnippetExpansions = 10000;
constexpr int kMaxFileExpansions = 100000;

// ---- Go path/filepath helpers (Unix semantics) ----------------------------

std::string clean_path(const std::string& path) {
    if (path.empty()) return ".";
    const bool rooted = path[0] == '/';
    std::vector<std::string> parts;
    std::size_t i = 0;
    while (i < path.size()) {
        std::size_t j = path.find('/', i);
        if (j == std::string::npos) j = path.size();
        std::string comp = path.substr(i, j - i);
        i = j + 1;
        if (comp.empty() || comp == ".") continue;
        if (comp == "..") {
            if (!parts.empty() && parts.back() != "..") parts.pop_back();
            else if (!rooted) parts.push_back("..");
            continue;
        }
        parts.push_back(comp);
    }
    std::string out = rooted ? "/" : "";
    for (std::size_t k = 0; k < parts.size(); ++k) {
        if (k > 0) out += '/';
        out += parts[k];
    }
    if (out.empty()) return ".";
    return out;
}

std::string join_path(const std::string& a, const std::string& b) {
    if (a.empty()) return clean_path(b);
    if (b.empty()) return clean_path(a);
    return clean_path(a + "/" + b);
}

std::string dir_of(const std::string& path) {
    auto slash = path.rfind('/');
    return clean_path(slash == std::string::npos ? "" : path.substr(0, slash + 1));
}

std::string abs_path(const std::string& path) {
    if (!path.empty() && path[0] == '/') return clean_path(path);
    std::error_code ec;
    auto cwd = std::filesystem::current_path(ec);
    return join_path(ec ? std::string{} : cwd.string(), path);
}

struct BadPattern {};

// Reads one (possibly escaped) character of a character class (Go getEsc).
char take_class_char(std::string_view& chunk) {
    if (chunk.empty() || chunk[0] == '-' || chunk[0] == ']') throw BadPattern{};
    if (chunk[0] == '\\') {
        chunk.remove_prefix(1);
        if (chunk.empty()) throw BadPattern{};
    }
    char c = chunk[0];
    chunk.remove_prefix(1);
    if (chunk.empty()) throw BadPattern{};
    return c;
}

// Go filepath.matchChunk (byte-wise; patterns here are paths).
bool match_chunk(std::string_view chunk, std::string_view s, std::string_view& rest) {
    bool failed = false;
    while (!chunk.empty()) {
        if (!failed && s.empty()) failed = true;
        switch (chunk[0]) {
            case '[': {
                char r = 0;
                if (!failed) {
                    r = s[0];
                    s.remove_prefix(1);
                }
                chunk.remove_prefix(1);
                bool negated = false;
                if (!chunk.empty() && chunk[0] == '^') {
                    negated = true;
                    chunk.remove_prefix(1);
                }
                bool match = false;
                int nrange = 0;
                for (;;) {
                    if (!chunk.empty() && chunk[0] == ']' && nrange > 0) {
                        chunk.remove_prefix(1);
                        break;
                    }
                    char lo = take_class_char(chunk);
                    char hi = lo;
                    if (chunk[0] == '-') {
                        chunk.remove_prefix(1);
                        hi = take_class_char(chunk);
                    }
                    if (lo <= r && r <= hi) match = true;
                    ++nrange;
                }
                if (match == negated) failed = true;
                break;
            }
            case '?':
                if (!failed) {
                    if (s[0] == '/') failed = true;
                    s.remove_prefix(1);
                }
                chunk.remove_prefix(1);
                break;
            case '\\':
                chunk.remove_prefix(1);
                if (chunk.empty()) throw BadPattern{};
                [[fallthrough]];
            default:
                if (!failed) {
                    if (chunk[0] != s[0]) failed = true;
                    s.remove_prefix(1);
                }
                chunk.remove_prefix(1);
        }
    }
    if (failed) return false;
    rest = s;
    return true;
}

void scan_chunk(std::string_view& pattern, bool& star, std::string_view& chunk) {
    star = false;
    while (!pattern.empty() && pattern[0] == '*') {
        pattern.remove_prefix(1);
        star = true;
    }
    bool inrange = false;
    std::size_t i = 0;
    for (; i < pattern.size(); ++i) {
        char c = pattern[i];
        if (c == '\\') {
            if (i + 1 < pattern.size()) ++i;
        } else if (c == '[') {
            inrange = true;
        } else if (c == ']') {
            inrange = false;
        } else if (c == '*' && !inrange) {
            break;
        }
    }
    chunk = pattern.substr(0, i);
    pattern.remove_prefix(i);
}

// Go filepath.Match; throws BadPattern for malformed patterns.
bool glob_match(std::string_view pattern, std::string_view name) {
    while (!pattern.empty()) {
        bool star = false;
        std::string_view chunk;
        scan_chunk(pattern, star, chunk);
        if (star && chunk.empty()) return name.find('/') == std::string_view::npos;
        std::string_view t;
        bool ok = match_chunk(chunk, name, t);
        if (ok && (t.empty() || !pattern.empty())) {
            name = t;
            continue;
        }
        bool advanced = false;
        if (star) {
            for (std::size_t i = 0; i < name.size() && name[i] != '/'; ++i) {
                if (match_chunk(chunk, name.substr(i + 1), t)) {
                    if (pattern.empty() && !t.empty()) continue;
                    name = t;
                    advanced = true;
                    break;
                }
            }
        }
        if (advanced) continue;
        // Validate the rest of the pattern before reporting "no match".
        while (!pattern.empty()) {
            scan_chunk(pattern, star, chunk);
            std::string_view ignored;
            match_chunk(chunk, "", ignored);
        }
        return false;
    }
    return name.empty();
}

bool has_meta(const std::string& p) { return p.find_first_of("*?[\\") != std::string::npos; }

void glob_dir(const std::string& dir, const std::string& pattern, std::vector<std::string>& matches) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return;  // I/O errors are ignored, as in Go
    std::vector<std::string> names;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        names.push_back(it->path().filename().string());
    std::sort(names.begin(), names.end());
    for (const auto& n : names)
        if (glob_match(pattern, n)) matches.push_back(join_path(dir, n));
}

// Go filepath.Glob; throws BadPattern.
std::vector<std::string> glob(const std::string& pattern) {
    glob_match(pattern, "");  // well-formedness check
    if (!has_meta(pattern)) {
        struct stat st {};
        if (::lstat(pattern.c_str(), &st) != 0) return {};
        return {pattern};
    }
    auto slash = pattern.rfind('/');
    std::string dir = slash == std::string::npos ? "" : pattern.substr(0, slash + 1);
    std::string file = slash == std::string::npos ? pattern : pattern.substr(slash + 1);
    // cleanGlobPath
    if (dir.empty()) dir = ".";
    else if (dir != "/") dir.pop_back();
    std::vector<std::string> matches;
    if (!has_meta(dir)) {
        glob_dir(dir, file, matches);
        return matches;
    }
    if (dir == pattern) throw BadPattern{};
    for (const auto& d : glob(dir)) glob_dir(d, file, matches);
    return matches;
}

// ---- environment substitution ----------------------------------------------

std::string replace_env_references(std::string s, std::string_view ref_start, std::string_view ref_end) {
    auto index = s.find(ref_start);
    while (index != std::string::npos) {
        auto end_index = s.find(ref_end, index);
        if (end_index == std::string::npos) break;
        if (end_index > index + ref_start.size()) {
            const std::string ref = s.substr(index, end_index + ref_end.size() - index);
            const std::string name =
                ref.substr(ref_start.size(), ref.size() - ref_start.size() - ref_end.size());
            const char* value = std::getenv(name.c_str());
            const std::string replacement = value ? value : "";
            // strings.Replace(s, ref, value, -1): every occurrence, left to right.
            std::string out;
            std::size_t pos = 0;
            for (auto hit = s.find(ref); hit != std::string::npos; hit = s.find(ref, pos)) {
                out.append(s, pos, hit - pos);
                out += replacement;
                pos = hit + ref.size();
            }
            out.append(s, pos, std::string::npos);
            s = std::move(out);
        } else {
            return s;  // empty reference such as {$}: stop processing
        }
        index = s.find(ref_start);
    }
    return s;
}

// ---- the parser --------------------------------------------------------------

class Parser {
public:
    Parser(std::vector<Token> tokens, std::string filename, const ParseOptions& opts)
        : tokens_(std::move(tokens)), filename_(std::move(filename)), opts_(opts) {}

    std::vector<ServerBlock> parse_all() {
        std::vector<ServerBlock> blocks;
        while (next()) {
            block_ = ServerBlock{};
            begin();
            if (!block_.keys.empty()) blocks.push_back(std::move(block_));
        }
        return blocks;
    }

private:
    // -- dispenser primitives (same semantics as Dispenser) --
    int size() const { return static_cast<int>(tokens_.size()); }
    bool next() {
        if (cursor_ < size() - 1) {
            ++cursor_;
            return true;
        }
        return false;
    }
    int line_breaks(int i) const {
        if (i < 0 || i >= size()) return 0;
        const auto& t = tokens_[i].text;
        return static_cast<int>(std::count(t.begin(), t.end(), '\n'));
    }
    bool next_arg() {
        if (cursor_ < 0) {
            ++cursor_;
            return true;
        }
        if (cursor_ >= size()) return false;
        if (cursor_ < size() - 1 && tokens_[cursor_].file == tokens_[cursor_ + 1].file &&
            tokens_[cursor_].line + line_breaks(cursor_) == tokens_[cursor_ + 1].line) {
            ++cursor_;
            return true;
        }
        return false;
    }
    const std::string& val() const {
        static const std::string empty;
        if (cursor_ < 0 || cursor_ >= size()) return empty;
        return tokens_[cursor_].text;
    }
    int line() const { return cursor_ < 0 || cursor_ >= size() ? 0 : tokens_[cursor_].line; }
    const std::string& file() const {
        if (cursor_ < 0 || cursor_ >= size() || tokens_[cursor_].file.empty()) return filename_;
        return tokens_[cursor_].file;
    }
    bool is_new_line() const {
        if (cursor_ < 1) return true;
        if (cursor_ > size() - 1) return false;
        return tokens_[cursor_ - 1].file != tokens_[cursor_].file ||
               tokens_[cursor_ - 1].line + line_breaks(cursor_ - 1) < tokens_[cursor_].line;
    }
    ConfigError err(const std::string& msg) const {
        return ConfigError(file() + ":" + std::to_string(line()) + " - Error during parsing: " + msg);
    }
    ConfigError syntax_err(const std::string& expected) const {
        return ConfigError(file() + ":" + std::to_string(line()) + " - Syntax error: Unexpected token '" +
                           val() + "', expecting '" + expected + "'");
    }
    ConfigError arg_err() const {
        if (val() == "{") return err("Unexpected token '{', expecting argument");
        return err("Wrong argument count or unexpected line ending after '" + val() + "'");
    }

    // -- grammar --
    void begin() {
        if (tokens_.empty()) return;
        addresses();
        if (eof_) return;  // the file was only a line of addresses
        if (block_.keys.size() == 1 && block_.keys[0].size() >= 2 && block_.keys[0].front() == '(' &&
            block_.keys[0].back() == ')') {
            define_snippet(block_.keys[0].substr(1, block_.keys[0].size() - 2));  // "()" names ""
            return;
        }
        block_contents();
    }

    void define_snippet(const std::string& name) {
        if (snippets_.count(name)) throw err("redeclaration of previously declared snippet " + name);
        if (val() != "{") throw syntax_err("{");  // snippets must use braces
        int count = 1;
        std::vector<Token> body;
        while (next()) {
            if (val() == "}") {
                if (--count == 0) break;
            }
            if (val() == "{") ++count;
            body.push_back(tokens_[cursor_]);
        }
        if (count != 0) throw syntax_err("}");
        // Cheap guard against the obvious cycle: the snippet importing itself.
        for (std::size_t i = 0; i + 1 < body.size(); ++i) {
            if (body[i].text != "import") continue;
            bool at_line_start =
                i == 0 || body[i - 1].file != body[i].file || body[i - 1].line != body[i].line;
            if (at_line_start && expand_env(body[i + 1].text) == name)
                throw err("maximum snippet import depth (" + std::to_string(kMaxSnippetExpansions) +
                          ") exceeded");
        }
        snippets_[name] = std::move(body);
        block_.keys.clear();
        block_.key_tokens.clear();
    }

    void addresses() {
        bool expecting_another = false;
        for (;;) {
            std::string tkn = expand_env(val());
            if (tkn == "import" && is_new_line()) {
                do_import();
                continue;
            }
            if (tkn == "{") {
                if (expecting_another)
                    throw err("Expected another address but had '" + tkn + "' - check for extra comma");
                break;
            }
            if (!tkn.empty()) {  // "" is possible when the user wrote ""
                if (tkn.back() == ',') {
                    tkn.pop_back();
                    expecting_another = true;
                } else {
                    expecting_another = false;
                }
                Token key_token = tokens_[cursor_];  // non-empty text implies a loaded token
                key_token.text = tkn;
                block_.keys.push_back(tkn);
                block_.key_tokens.push_back(std::move(key_token));
            }
            bool has_next = next();
            if (expecting_another && !has_next) throw err("Unexpected EOF");
            if (!has_next) {
                eof_ = true;
                break;
            }
            if (!expecting_another && is_new_line()) break;
        }
    }

    void block_contents() {
        const bool braced = val() == "{";
        if (!braced) --cursor_;  // single-server configs need no braces
        directives();
        if (braced && val() != "}") throw syntax_err("}");
    }

    void directives() {
        while (next()) {
            if (val() == "}") break;  // end of the server block
            if (val() == "import") {
                do_import();
                --cursor_;  // next() will land on the first imported token
                continue;
            }
            directive();
        }
    }

    void directive() {
        const std::string dir = expand_env(val());
        if (!opts_.valid_directives.empty() &&
            std::find(opts_.valid_directives.begin(), opts_.valid_directives.end(), dir) ==
                opts_.valid_directives.end())
            throw err("Unknown directive '" + dir + "'");
        append_token(dir, tokens_[cursor_]);  // the name token is kept unexpanded, as upstream
        int nesting = 0;
        while (next()) {
            if (val() == "{") {
                ++nesting;
            } else if (is_new_line() && nesting == 0) {
                --cursor_;  // read too far
                break;
            } else if (val() == "}" && nesting > 0) {
                --nesting;
            } else if (val() == "}" && nesting == 0) {
                throw err("Unexpected '}' because no matching opening brace");
            } else if (val() == "import" && is_new_line()) {
                do_import();
                --cursor_;
                continue;
            }
            tokens_[cursor_].text = expand_env(tokens_[cursor_].text);
            append_token(dir, tokens_[cursor_]);
        }
        if (nesting > 0) throw err("Unexpected EOF");
    }

    void append_token(const std::string& dir, const Token& t) {
        auto [it, inserted] = block_.tokens.try_emplace(dir);
        if (inserted) block_.directive_order.push_back(dir);
        it->second.push_back(t);
    }

    // Replaces `import ARG` (two tokens) by the snippet's or files' tokens and
    // leaves the cursor on the first inserted token (or what followed ARG).
    void do_import() {
        if (!next_arg()) throw arg_err();
        const std::string pattern = expand_env(val());
        if (pattern.empty()) throw err("Import requires a non-empty filepath");
        if (next_arg()) throw err("Import takes only one argument (glob pattern or file)");

        std::vector<Token> imported;
        auto snippet = snippets_.find(pattern);
        if (snippet != snippets_.end()) {
            if (snippet_expansions_ >= kMaxSnippetExpansions)
                throw err("maximum snippet import depth (" + std::to_string(kMaxSnippetExpansions) +
                          ") exceeded");
            ++snippet_expansions_;
            imported = snippet->second;
        } else {
            if (file_expansions_ >= kMaxFileExpansions)
                throw err("maximum file import depth (" + std::to_string(kMaxSnippetExpansions) +
                          ") exceeded");
            ++file_expansions_;
            // Relative to the file holding the import token, not the cwd.
            const std::string abs_file = abs_path(file());
            const std::string glob_pattern =
                !pattern.empty() && pattern[0] == '/' ? pattern : join_path(dir_of(abs_file), pattern);
            auto count = [&](char c) { return std::count(glob_pattern.begin(), glob_pattern.end(), c); };
            if (count('*') > 1 || count('?') > 1 ||
                (glob_pattern.find('[') != std::string::npos && glob_pattern.find(']') != std::string::npos))
                throw err("Glob pattern may only contain one wildcard (*), but has others: " + glob_pattern);
            std::vector<std::string> matches;
            try {
                matches = glob(glob_pattern);
            } catch (const BadPattern&) {
                throw err("Failed to use import pattern " + pattern + ": syntax error in pattern");
            }
            if (matches.empty()) {
                if (glob_pattern.find_first_of("*?[]") != std::string::npos) {
                    std::cout << "[WARNING] No files matching import glob pattern: " << pattern << std::endl;
                } else {
                    throw err("File to import not found: " + pattern);
                }
            }
            for (const auto& match : matches) {
                auto toks = single_import(match);
                imported.insert(imported.end(), toks.begin(), toks.end());
            }
        }
        // Splice: [0, cursor-1) + imported + (cursor, end).
        std::vector<Token> spliced(tokens_.begin(), tokens_.begin() + (cursor_ - 1));
        spliced.insert(spliced.end(), imported.begin(), imported.end());
        spliced.insert(spliced.end(), tokens_.begin() + cursor_ + 1, tokens_.end());
        tokens_ = std::move(spliced);
        --cursor_;
    }

    std::vector<Token> single_import(const std::string& import_file) {
        FileError fe;
        auto content = read_file(import_file, &fe);
        if (!content) {
            if (fe.at_open) throw err("Could not import " + import_file + ": " + fe.text);
            // Caddy stats the opened file first and refuses a directory.
            if (fe.code == EISDIR) throw err("Could not import " + import_file + ": is a directory");
            throw err("Could not read tokens while importing " + import_file + ": " + fe.text);
        }
        // Upstream's lexer load() fails on an empty input with io.EOF.
        if (content->empty()) throw err("Could not read tokens while importing " + import_file + ": EOF");
        // Imported tokens carry the absolute path so errors name the right file.
        return lex(*content, abs_path(import_file));
    }

    std::vector<Token> tokens_;
    std::string filename_;
    const ParseOptions& opts_;
    int cursor_ = -1;
    bool eof_ = false;
    ServerBlock block_;
    std::map<std::string, std::vector<Token>> snippets_;
    int snippet_expansions_ = 0;
    int file_expansions_ = 0;
};

void json_string(std::string& out, const std::string& s) {
    static const char hex[] = "0123456789abcdef";
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 0xF];
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    out += '"';
}

}  // namespace

std::string expand_env(std::string_view s) {
    std::string out = replace_env_references(std::string(s), "{%", "%}");
    return replace_env_references(std::move(out), "{$", "}");
}

std::vector<ServerBlock> parse(std::string_view text, const std::string& file, const ParseOptions& opts) {
    Parser p(lex(text, file), file, opts);
    return p.parse_all();
}

std::vector<ServerBlock> parse_file(const std::string& path, const ParseOptions& opts) {
    FileError err;
    auto content = read_file(path, &err);
    if (!content) throw ConfigError(err.text);
    return parse(*content, path, opts);
}

std::string canonical_json(const std::vector<ServerBlock>& blocks) {
    std::string out = "[";
    for (std::size_t b = 0; b < blocks.size(); ++b) {
        if (b > 0) out += ',';
        out += "{\"keys\":[";
        for (std::size_t k = 0; k < blocks[b].keys.size(); ++k) {
            if (k > 0) out += ',';
            json_string(out, blocks[b].keys[k]);
        }
        out += "],\"tokens\":{";
        bool first = true;
        for (const auto& [name, toks] : blocks[b].tokens) {  // std::map: sorted by name
            if (!first) out += ',';
            first = false;
            json_string(out, name);
            out += ":[";
            for (std::size_t t = 0; t < toks.size(); ++t) {
                if (t > 0) out += ',';
                json_string(out, toks[t].text);
            }
            out += ']';
        }
        out += "}}";
    }
    out += ']';
    return out;
}

}  // namespace dnscore::parser
