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

// An env expansion larger than this is refused: values are expanded
// recursively, so a few variables referring to each other twice could
// otherwise grow a token exponentially.
constexpr std::size_t kMaxEnvExpansion = 1 << 20;

struct EnvTooLong {};

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

// One pass of caddy's replaceEnvReferences for one syntax ({$ } or {% %}).
// Caddy replaces every occurrence of a reference at once and then re-scans
// the whole string, so a value naming another variable is expanded too, and
// a value naming its own variable ({$X} with X='{$X}') loops forever. Here a
// value is expanded recursively (same results) but a variable met again
// inside its own expansion is left as written, and each reference is
// resolved once (memoised), so every input terminates.
class EnvPass {
public:
    EnvPass(std::string_view start, std::string_view end) : start_(start), end_(end) {}

    std::string run(std::string_view s) {
        std::string out;
        std::size_t pos = 0;
        // After an empty reference ({$}) caddy looks for no new references;
        // ones already replaced everywhere are still replaced further on.
        bool stopped = false;
        for (;;) {
            const auto i = s.find(start_, pos);
            if (i == std::string_view::npos) break;
            const auto e = s.find(end_, i);
            if (e == std::string_view::npos) break;
            if (e <= i + start_.size()) {
                stopped = true;
                append(out, s.substr(pos, i + 1 - pos));
                pos = i + 1;
                continue;
            }
            const std::string ref(s.substr(i, e + end_.size() - i));
            auto hit = resolved_.find(ref);
            if (hit == resolved_.end() && stopped) {
                append(out, s.substr(pos, i + 1 - pos));
                pos = i + 1;
                continue;
            }
            append(out, s.substr(pos, i - pos));
            pos = e + end_.size();
            if (hit != resolved_.end()) {
                append(out, hit->second);
                continue;
            }
            const std::string name = ref.substr(start_.size(), ref.size() - start_.size() - end_.size());
            if (std::find(active_.begin(), active_.end(), name) != active_.end()) {
                append(out, ref);  // inside its own expansion: as written
                continue;
            }
            const char* value = std::getenv(name.c_str());
            active_.push_back(name);
            std::string expanded = value ? run(value) : std::string{};
            active_.pop_back();
            append(out, expanded);
            resolved_.emplace(ref, std::move(expanded));
        }
        append(out, s.substr(pos));
        return out;
    }

private:
    static void append(std::string& out, std::string_view piece) {
        if (out.size() + piece.size() > kMaxEnvExpansion) throw EnvTooLong{};
        out.append(piece);
    }

    std::string_view start_, end_;
    std::map<std::string, std::string> resolved_;  // reference -> its expansion
    std::vector<std::string> active_;              // variables being expanded
};

// ---- the parser --------------------------------------------------------------

std::string join(const std::vector<std::string>& parts, const char* sep) {
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (i > 0) out += sep;
        out += parts[i];
    }
    return out;
}

// Identifies a file for cycle detection by device and inode, so a symlink or
// a second path to the same file is recognised; the path when stat fails.
std::string file_key(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0)
        return "f:" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    return "p:" + abs_path(path);
}

class Parser {
public:
    Parser(std::vector<Token> tokens, std::string filename, const ParseOptions& opts)
        : filename_(std::move(filename)), opts_(opts) {
        frames_.push_back(Frame{file_key(filename_), abs_path(filename_), -1});
        ahead_.reserve(tokens.size());
        for (auto it = tokens.rbegin(); it != tokens.rend(); ++it) ahead_.push_back(Item{std::move(*it), 0});
    }

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
    // A token and the import expansion it came from (index into frames_).
    struct Item {
        Token tok;
        int frame;
    };
    // One expansion of a snippet or file; the chain of parents is the import
    // path that led to it, which is what a cycle check has to look at.
    struct Frame {
        std::string key;    // "s:NAME" or file_key()
        std::string label;  // for the cycle message
        int parent;
    };

    // The token stream is kept as two stacks split near the cursor: tokens
    // before the split in seen_, the rest reversed in ahead_. Splicing an
    // import at the cursor then costs the size of what is inserted, not of
    // the whole stream (upstream copies the stream on every import, which is
    // quadratic for large Corefiles with many imports).
    int size() const { return static_cast<int>(seen_.size() + ahead_.size()); }
    const Item& at(int i) const {
        const auto s = static_cast<int>(seen_.size());
        return i < s ? seen_[i] : ahead_[ahead_.size() - 1 - static_cast<std::size_t>(i - s)];
    }
    Item& at(int i) { return const_cast<Item&>(static_cast<const Parser*>(this)->at(i)); }
    void split_at(std::size_t k) {
        while (seen_.size() > k) {
            ahead_.push_back(std::move(seen_.back()));
            seen_.pop_back();
        }
        while (seen_.size() < k && !ahead_.empty()) {
            seen_.push_back(std::move(ahead_.back()));
            ahead_.pop_back();
        }
    }

    // -- dispenser primitives (same semantics as Dispenser) --
    bool next() {
        if (cursor_ < size() - 1) {
            ++cursor_;
            return true;
        }
        return false;
    }
    int line_breaks(int i) const {
        if (i < 0 || i >= size()) return 0;
        const auto& t = at(i).tok.text;
        return static_cast<int>(std::count(t.begin(), t.end(), '\n'));
    }
    bool next_arg() {
        if (cursor_ < 0) {
            ++cursor_;
            return true;
        }
        if (cursor_ >= size()) return false;
        if (cursor_ < size() - 1 && at(cursor_).tok.file == at(cursor_ + 1).tok.file &&
            at(cursor_).tok.line + line_breaks(cursor_) == at(cursor_ + 1).tok.line) {
            ++cursor_;
            return true;
        }
        return false;
    }
    const std::string& val() const {
        static const std::string empty;
        if (cursor_ < 0 || cursor_ >= size()) return empty;
        return at(cursor_).tok.text;
    }
    int line() const { return cursor_ < 0 || cursor_ >= size() ? 0 : at(cursor_).tok.line; }
    const std::string& file() const {
        if (cursor_ < 0 || cursor_ >= size() || at(cursor_).tok.file.empty()) return filename_;
        return at(cursor_).tok.file;
    }
    bool is_new_line() const {
        if (cursor_ < 1) return true;
        if (cursor_ > size() - 1) return false;
        const Token& prev = at(cursor_ - 1).tok;
        const Token& cur = at(cursor_).tok;
        return prev.file != cur.file || prev.line + line_breaks(cursor_ - 1) < cur.line;
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
    // expand_env with the position of the current token in its error.
    std::string env(const std::string& s) const {
        try {
            return expand_env(s);
        } catch (const ConfigError& e) {
            throw err(e.what());
        }
    }

    // -- grammar --
    void begin() {
        if (size() == 0) return;
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
            body.push_back(at(cursor_).tok);
        }
        if (count != 0) throw syntax_err("}");
        snippets_[name] = std::move(body);
        block_.keys.clear();
        block_.key_tokens.clear();
    }

    void addresses() {
        bool expecting_another = false;
        for (;;) {
            std::string tkn = env(val());
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
                Token key_token = at(cursor_).tok;  // non-empty text implies a loaded token
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
        const std::string dir = env(val());
        if (!opts_.valid_directives.empty() &&
            std::find(opts_.valid_directives.begin(), opts_.valid_directives.end(), dir) ==
                opts_.valid_directives.end())
            throw err("Unknown directive '" + dir + "'");
        append_token(dir, at(cursor_).tok);  // the name token is kept unexpanded, as upstream
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
            Token& t = at(cursor_).tok;
            t.text = env(t.text);
            append_token(dir, t);
        }
        if (nesting > 0) throw err("Unexpected EOF");
    }

    void append_token(const std::string& dir, const Token& t) {
        auto [it, inserted] = block_.tokens.try_emplace(dir);
        if (inserted) block_.directive_order.push_back(dir);
        it->second.push_back(t);
    }

    // Starts an expansion of `key` below `parent`, or throws naming the cycle
    // when `key` is already being expanded on that import path. Upstream
    // (CoreDNS 1.12) has no check and expands a cycle until memory runs out.
    int enter(int parent, const std::string& key, const std::string& label) {
        for (int f = parent; f >= 0; f = frames_[f].parent) {
            if (frames_[f].key != key) continue;
            std::vector<std::string> chain{label};
            for (int g = parent;; g = frames_[g].parent) {
                chain.push_back(frames_[g].label);
                if (g == f) break;
            }
            std::reverse(chain.begin(), chain.end());
            throw err("import cycle: " + join(chain, " -> "));
        }
        frames_.push_back(Frame{key, label, parent});
        return static_cast<int>(frames_.size()) - 1;
    }

    void count_imported(std::size_t n) {
        imported_tokens_ += n;
        if (imported_tokens_ > opts_.max_imported_tokens)
            throw err("imports expand the Corefile to more than " + std::to_string(opts_.max_imported_tokens) +
                      " tokens");
    }

    // Replaces `import ARG` (two tokens) by the snippet's or files' tokens and
    // leaves the cursor on the first inserted token (or what followed ARG).
    void do_import() {
        if (!next_arg()) throw arg_err();
        const std::string pattern = env(val());
        if (pattern.empty()) throw err("Import requires a non-empty filepath");
        if (next_arg()) throw err("Import takes only one argument (glob pattern or file)");

        const int parent = at(cursor_ - 1).frame;  // where the import directive came from
        std::vector<Item> imported;
        auto snippet = snippets_.find(pattern);
        if (snippet != snippets_.end()) {
            if (snippet_expansions_ >= opts_.max_snippet_expansions)
                throw err("maximum snippet import depth (" + std::to_string(opts_.max_snippet_expansions) +
                          ") exceeded");
            ++snippet_expansions_;
            const int frame = enter(parent, "s:" + pattern, "snippet " + pattern);
            count_imported(snippet->second.size());
            imported.reserve(snippet->second.size());
            for (const auto& t : snippet->second) imported.push_back(Item{t, frame});
        } else {
            // Upstream prints the snippet limit here; we print the one enforced.
            if (file_expansions_ >= opts_.max_file_expansions)
                throw err("maximum file import depth (" + std::to_string(opts_.max_file_expansions) +
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
                const int frame = enter(parent, file_key(match), abs_path(match));
                auto toks = single_import(match);
                count_imported(toks.size());
                imported.reserve(imported.size() + toks.size());
                for (auto& t : toks) imported.push_back(Item{std::move(t), frame});
            }
        }
        // Splice: [0, cursor-1) + imported + (cursor, end).
        split_at(static_cast<std::size_t>(cursor_) + 1);
        seen_.pop_back();  // ARG
        seen_.pop_back();  // import
        for (auto it = imported.rbegin(); it != imported.rend(); ++it) ahead_.push_back(std::move(*it));
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

    std::vector<Item> seen_;
    std::vector<Item> ahead_;
    std::vector<Frame> frames_;  // [0] is the main Corefile
    std::string filename_;
    const ParseOptions& opts_;
    int cursor_ = -1;
    bool eof_ = false;
    ServerBlock block_;
    std::map<std::string, std::vector<Token>> snippets_;
    int snippet_expansions_ = 0;
    int file_expansions_ = 0;
    std::size_t imported_tokens_ = 0;
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
    try {
        std::string out = EnvPass("{%", "%}").run(s);
        return EnvPass("{$", "}").run(out);
    } catch (const EnvTooLong&) {
        std::string shown(s.substr(0, 64));
        if (s.size() > shown.size()) shown += "...";
        throw ConfigError("expanding environment variables in '" + shown + "' gives more than " +
                          std::to_string(kMaxEnvExpansion) + " bytes");
    }
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
