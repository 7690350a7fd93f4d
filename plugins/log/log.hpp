#pragma once
// log: one access-log line per query (CoreDNS plugin/log), CoreDNS's
// replacer placeholders, response classes and name scopes.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "core/plugin.hpp"
#include "core/wire/reply.hpp"
#include "core/zones.hpp"

namespace dnscore::plugins {

// CoreDNS response classes (plugin/pkg/response/classify.go).
enum class ResponseClass : uint8_t { all, success, denial, error };

// response.Classify of a response.Typify result (wire::ReplyView::typify).
ResponseClass classify(wire::ReplyType t);
// Typify + Classify of a message (nullptr/0 = no reply: error). `now_unix`
// is used for the RRSIG validity check of DO replies.
ResponseClass classify_reply(const uint8_t* msg, size_t len, int64_t now_unix);

// A parsed format: literals and placeholders (replacer.parseFormat).
struct LogFormat {
    enum class Label : uint8_t {
        literal, metadata, type, name, klass, proto, size, remote, port, local, id, opcode, do_bit,
        bufsize, rcode, rsize, duration, rflags,
    };
    struct Node {
        Label label;
        std::string text;  // literal text or metadata label
    };
    std::string source;
    std::vector<Node> nodes;

    static LogFormat parse(std::string_view format);
};

struct LogRule {
    std::string name_scope;           // FQDN, case as written
    uint8_t scope_wire[255];          // lower-cased wire form
    size_t scope_len = 0;             // 0 = not a valid name: never matches
    LogFormat format;
    bool classes[4] = {false, false, false, false};  // indexed by ResponseClass
};

inline constexpr std::string_view kCommonLogFormat =
    "{remote}:{port} - {>id} \"{type} {class} {name} {proto} {size} {>do} {>bufsize}\" {rcode} "
    "{>rflags} {rsize} {duration}";
inline constexpr std::string_view kCombinedLogFormat =
    "{remote}:{port} - {>id} \"{type} {class} {name} {proto} {size} {>do} {>bufsize}\" {rcode} "
    "{>rflags} {rsize} {duration} \"{>opcode}\"";

// What a line says about the exchange besides the request: CoreDNS's log
// recorder as the replacer reads it, after the server sent the reply.
struct LogReply {
    // The reply as sent ({rcode}, {>rflags}, the response class); nullptr
    // when no plugin wrote one (the server's rcode reply is written after
    // CoreDNS logs): "-", "-" and class error.
    const wire::ReplyView* sent = nullptr;
    size_t rsize = 0;  // {rsize}: the length the chain wrote (0: nothing written)
    size_t size = 0;   // {size}: the request's length once the server reused its OPT
};

class Log final : public Plugin {
public:
    explicit Log(std::vector<LogRule> rules);

    std::string_view name() const override { return "log"; }
    Step query(Query& q) override;
    void response(Query& q) override;
    void sent(Query& q, const uint8_t* msg, size_t len) override;

    const std::vector<LogRule>& rules() const { return rules_; }

    // Appends the line of format `f` for the finished exchange `q` to `out`
    // (no newline); `elapsed_ns` is the {duration}.
    static void render(const LogFormat& f, const Query& q, const LogReply& r, int64_t elapsed_ns,
                       fmt::memory_buffer& out);
    // The same for a reply sent as written, reply[0..reply_len) (nullptr =
    // nothing written), and a request whose OPT was not reused.
    static void render(const LogFormat& f, const Query& q, const uint8_t* reply, size_t reply_len,
                       int64_t elapsed_ns, fmt::memory_buffer& out);

private:
    const LogRule* match(const Query& q) const;
    std::vector<LogRule> rules_;
    ZoneSet scopes_;  // the rules' name scopes, index i = rules_[i]
};

}  // namespace dnscore::plugins
