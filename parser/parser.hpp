#pragma once
// Caddy-v1 (CoreDNS fork) Corefile syntax: lexer, server blocks, env
// substitution, import of files/globs and (snippets). No DNS knowledge here.
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "parser/token.hpp"

namespace dnscore::parser {

// A configuration error; what() is the complete CoreDNS-worded message,
// e.g. "Corefile:3 - Error during parsing: Unknown directive 'foo'".
struct ConfigError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct ServerBlock {
    std::vector<std::string> keys;      // env-expanded, as written (not normalised)
    std::vector<Token> key_tokens;      // same order as keys (for file/line)
    // directive name -> all its tokens in this block (every occurrence, in
    // source order, each starting with the directive-name token).
    std::map<std::string, std::vector<Token>> tokens;
    std::vector<std::string> directive_order;  // names in first-seen order
};

// Splits text into tokens (A.1). `file` is recorded in every token.
std::vector<Token> lex(std::string_view text, const std::string& file);

// Expands {$VAR} and {%VAR%} (A.3) using the process environment. A value
// is expanded in turn, except references to a variable inside its own
// expansion, which stay as written. Throws ConfigError (message without a
// position) when the result would exceed 1 MiB.
std::string expand_env(std::string_view s);

struct ParseOptions {
    // When non-empty, directive names not in this list are rejected with
    // "Unknown directive 'X'". Empty = accept any (reload checksum does this).
    std::vector<std::string> valid_directives;
    // Bounds on import expansion (a parse must end in bounded time and
    // memory, also for -validate and reloads). The expansion counts are the
    // caps of coredns/caddy v1.1.3; the token cap is ours. Cycles are
    // reported as such before any of these is reached.
    int max_snippet_expansions = 10000;
    int max_file_expansions = 100000;
    std::size_t max_imported_tokens = 1000000;
};

// Parses a whole Corefile. `file` is the name used in messages (the -conf path
// as given); imports are resolved relative to the directory of the importing
// file. Throws ConfigError. Blocks with an empty key list and snippet
// definitions are not returned.
std::vector<ServerBlock> parse(std::string_view text, const std::string& file,
                               const ParseOptions& opts);

// Reads `path` and parses it.
std::vector<ServerBlock> parse_file(const std::string& path, const ParseOptions& opts);

// Serialises blocks canonically (keys + directive tokens, no file/line) for the
// reload checksum: equal configurations give equal strings.
std::string canonical_json(const std::vector<ServerBlock>& blocks);

}  // namespace dnscore::parser
