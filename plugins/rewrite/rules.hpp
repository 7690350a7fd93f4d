#pragma once
// The rules of CoreDNS 1.12.2's rewrite plugin, parsed once at setup
// (rewrite.go newRule and the name/class/type/ttl/rcode/edns0/cname parsers)
// into plain data the query path reads without allocating.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/regex.hpp"

namespace dnscore::plugins::rewrite {

// How a name (or TTL/RCODE/CNAME rule's name) is matched.
enum class Match : uint8_t { exact, prefix, suffix, substring, regex };

// A string rewriter of the response side (name.go stringRewriter).
struct StringRewriter {
    enum Kind : uint8_t { regex, suffix, remap } kind = regex;
    Regex re;                 // regex
    std::string from;         // suffix: the suffix
    std::string replacement;  // regex, suffix
};

// One response rule a rewrite rule contributes when it fires (reverter.go
// ResponseRule): a record's owner name or value rewritten.
struct AnswerRule {
    bool value = false;  // valueRewriterResponseRule (else the owner name)
    StringRewriter rw;   // kind remap: the dynamic `answer auto` mapping of this exchange
};

enum class Kind : uint8_t { name, klass, type, ttl, rcode, edns0_local, edns0_variable, edns0_nsid, edns0_subnet, cname };
enum class EdnsAction : uint8_t { set, replace, append };
enum class Variable : uint8_t { qname, qtype, client_ip, client_port, protocol, server_ip, server_port, metadata };

struct Rule {
    Kind kind = Kind::name;
    bool stop = true;  // mode stop (default) or continue
    Match match = Match::exact;

    // name / ttl / rcode / cname: what is matched and (name, cname) the replacement.
    std::string from;
    std::string to;
    Regex re;

    // name: the response rules in the order CoreDNS appends them; `auto_remap`
    // puts the dynamic remap name+value pair first (exact always, prefix /
    // substring / regex with `answer auto`).
    bool auto_remap = false;
    std::vector<AnswerRule> answers;

    uint16_t from_code = 0, to_code = 0;  // class / type
    uint32_t ttl_min = 0, ttl_max = 0;    // ttl
    int rcode_old = 0, rcode_new = 0;     // rcode

    // edns0
    EdnsAction action = EdnsAction::set;
    bool revert = false;
    uint16_t code = 0;
    std::vector<uint8_t> data;  // local
    std::string meta_label;     // local {plugin/label}: the metadata label
    Variable variable = Variable::qname;
    uint8_t v4_len = 0, v6_len = 0;  // subnet

    // Whether firing gives the reverter response rules (a reply is then
    // reverted even on the continue path).
    bool has_response_rules() const;
};

// rewrite.go newRule: one rule from its arguments (mode first when given).
// Throws std::invalid_argument with CoreDNS's text (without "plugin/rewrite: ").
Rule new_rule(const std::vector<std::string>& args);

}  // namespace dnscore::plugins::rewrite
