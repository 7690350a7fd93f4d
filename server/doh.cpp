// DNS over HTTPS, CoreDNS 1.12's ServerHTTPS (core/dnsserver/server_https.go,
// plugin/pkg/doh) on the worker's loop. One object per connection; HTTP/2 via
// nghttp2 (memory I/O: we read and write, nghttp2 frames), HTTP/1.1 via the
// small bounded parser below. Each request becomes one exchange through
// Worker::handle; its reply comes back through an Exchange (a ReplySink per
// request, so async replies find their stream).
#include "server/doh.hpp"

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/metrics_vec.hpp"
#include "core/wire/reply.hpp"
#include "server/metrics.hpp"
#include "server/worker.hpp"

namespace asio = boost::asio;
using asio::ip::tcp;

namespace dnscore {

namespace {

// Bounds per connection (ours; Go's net/http has its own, larger ones).
constexpr size_t kMaxHeaderBytes = 16 * 1024;     // HTTP/1.1 request line + headers; HTTP/2 header list
constexpr size_t kMaxBody = 65536;                // doh.toMsg's MaxBytesReader
constexpr uint32_t kMaxStreams = 128;             // HTTP/2 concurrent streams (= DNS-over-TCP in-flight bound)
constexpr size_t kMaxBodiesInProgress = 256 * 1024;  // HTTP/2 request bodies held at once per connection
constexpr size_t kPauseQueued = 64 * 1024;        // stop reading past this many unsent bytes
constexpr size_t kMaxQueued = 1024 * 1024;        // close past this many
constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kMaxPendingHandshakes = 512;     // as tls:// (server/worker.cpp)

const std::string_view kPath = "/dns-query";
const std::string_view kMimeType = "application/dns-message";

// coredns_dns_https_responses_total{server,status} (plugin/metrics/vars).
struct DohFamilies {
    metrics::LabelSet server_status{{"server", "status"}, 256};
    metrics::CounterVec responses{"coredns_dns_https_responses_total",
                                  "Counter of DoH responses per server and http status code.",
                                  {},
                                  {&server_status}};
};
DohFamilies& doh_families() {
    static DohFamilies* f = [] {
        auto* f = new DohFamilies;  // never destroyed: workers may count during exit
        metrics::export_families({&f->responses});
        return f;
    }();
    return *f;
}

void count_response(int worker, const Listener* spec, int status) {
    if (!spec) return;
    char code[8];
    const int n = std::snprintf(code, sizeof code, "%d", status);
    auto& f = doh_families();
    // Few tuples (listeners × status codes): find is a short scan; the
    // first sight interns under the set's lock.
    int idx = f.server_status.find({spec->label, std::string_view(code, size_t(n))});
    if (idx == metrics::kOverflow) idx = f.server_status.intern({spec->label, std::string_view(code, size_t(n))});
    f.responses.inc(worker, {idx});
}

const char* reason_phrase(int status) {
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Request Entity Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    default: return "Unknown";
    }
}

std::string http_date() {
    char buf[64];
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    return std::string(buf, std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm));
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// url.QueryUnescape: %XX and '+' as space; false on a bad escape.
bool query_unescape(std::string_view in, std::string& out) {
    out.clear();
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '%') {
            if (i + 2 >= in.size()) return false;
            const int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0) return false;
            out.push_back(char(hi * 16 + lo));
            i += 2;
        } else if (in[i] == '+') {
            out.push_back(' ');
        } else {
            out.push_back(in[i]);
        }
    }
    return true;
}

// base64.RawURLEncoding.DecodeString: the URL alphabet without padding;
// '\r' and '\n' are skipped as in Go. Returns the error text ("" = ok).
std::string base64url_decode(std::string_view in, std::vector<uint8_t>& out) {
    out.clear();
    uint32_t acc = 0;
    int bits = 0;
    size_t symbols = 0, last = 0;
    for (size_t i = 0; i < in.size(); ++i) {
        const char c = in[i];
        if (c == '\r' || c == '\n') continue;
        int v;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == '-') v = 62;
        else if (c == '_') v = 63;
        else return "illegal base64 data at input byte " + std::to_string(i);
        acc = (acc << 6) | uint32_t(v);
        bits += 6;
        ++symbols;
        last = i;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(uint8_t(acc >> bits));
        }
        if (out.size() > kMaxBody) return "http: request body too large";
    }
    // A lone trailing symbol cannot encode a byte; Go reports its position.
    if (symbols % 4 == 1) return "illegal base64 data at input byte " + std::to_string(last);
    return "";
}

// doh.requestToMsgGet: the one `dns` value of the query string.
std::string dns_param(std::string_view query, std::vector<uint8_t>& msg) {
    std::optional<std::string> value;
    std::string key, val;
    while (!query.empty()) {
        const size_t amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (pair.empty()) continue;
        const size_t eq = pair.find('=');
        if (!query_unescape(pair.substr(0, eq), key)) continue;  // Go skips a pair it cannot unescape
        if (!query_unescape(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), val)) continue;
        if (key != "dns") continue;
        if (value) return "multiple 'dns' query values found";
        value = val;
    }
    if (!value) return "no 'dns' query parameter found";
    return base64url_decode(*value, msg);
}

class DohConnection;

// One request's exchange: the sink its query replies to.
class Exchange final : public ReplySink {
public:
    Exchange(std::shared_ptr<DohConnection> c, int32_t stream) : conn(std::move(c)), stream_id(stream) {}
    void send_reply(const uint8_t* msg, size_t len, const Query& q) override;
    std::shared_ptr<DohConnection> conn;
    int32_t stream_id;  // HTTP/2 stream, 0 for HTTP/1.1
};

// An HTTP/2 stream's request and, once answered, its response body.
struct H2Stream {
    std::string method, path;
    std::vector<uint8_t> body;
    bool too_large = false;
    std::string response;  // body being sent
    size_t sent = 0;
    bool answered = false;
};

class DohConnection : public std::enable_shared_from_this<DohConnection> {
public:
    DohConnection(Worker& w, std::shared_ptr<SpecSource> listener, std::shared_ptr<asio::ssl::context> tls,
                  tcp::socket sock)
        : w_(w), listener_(std::move(listener)), tls_ctx_(std::move(tls)), timer_(sock.get_executor()),
          wake_(sock.get_executor()), linger_(sock.get_executor()) {
        if (tls_ctx_) ssl_.emplace(std::move(sock), *tls_ctx_);
        else plain_.emplace(std::move(sock));
        tcp::socket& s = lowest();
        w_.count_tcp_connection(+1);
        stream_endpoints(s, client_, local_);
        boost::system::error_code ec;
        s.set_option(tcp::no_delay(true), ec);
        static const Listener defaults;
        const Listener* spec = listener_->spec() ? listener_->spec() : &defaults;
        read_timeout_ = spec->read_timeout;
        idle_timeout_ = spec->idle_timeout;
        write_timeout_ = spec->write_timeout;
    }
    ~DohConnection() {
        if (h2_) nghttp2_session_del(h2_);
        w_.count_tcp_connection(-1);
    }

    void start() {
        deadline_ = std::chrono::steady_clock::now() + read_timeout_;
        auto s = shared_from_this();
        asio::co_spawn(lowest().get_executor(), [s]() { return s->run(); }, asio::detached);
        asio::co_spawn(lowest().get_executor(), [s]() { return s->watchdog(); }, asio::detached);
    }

    // The chain's reply for `stream` (0: the HTTP/1.1 request in progress).
    void on_reply(int32_t stream, const uint8_t* msg, size_t len, bool owned) {
        if (owned) --inflight_;
        if (closed_) return;
        if (stream == 0 && !h1_waiting_) return;
        // Cache-Control from the reply's minimal TTL (dnsutil.MinimalTTL of
        // its response.Typify), as ServeHTTP.
        wire::ReplyView view;
        uint32_t age = 0;
        if (view.parse(msg, len)) {
            const auto t = view.typify(std::time(nullptr));
            const int64_t ttl = view.minimal_ttl(t);
            age = ttl < 0 ? 0 : uint32_t(ttl);
        }
        respond(stream, 200, kMimeType, std::string_view(reinterpret_cast<const char*>(msg), len), &age);
    }

private:
    tcp::socket& lowest() { return ssl_ ? ssl_->next_layer() : *plain_; }

    template <class Buf, class Tok>
    auto read_some(const Buf& b, Tok&& tok) {
        return ssl_ ? ssl_->async_read_some(b, std::forward<Tok>(tok)) : plain_->async_read_some(b, std::forward<Tok>(tok));
    }

    void close() {
        if (closed_) return;
        closed_ = true;
        boost::system::error_code ec;
        lowest().shutdown(tcp::socket::shutdown_both, ec);
        lowest().close(ec);
        timer_.cancel();
        wake_.cancel();
        linger_.cancel();
        streams_.clear();
        body_bytes_ = 0;
        if (!writing_) {
            std::string().swap(out_);
            std::string().swap(sending_);
        }
    }

    size_t queued() const { return out_.size() + sending_.size(); }

    // net/http's closeWriteAndWait: after a response that ends the
    // connection, half-close and wait a moment before closing, so request
    // bytes still unread do not turn the close into a reset that destroys
    // the response before the client reads it.
    void close_write_and_wait() {
        if (closed_ || lingering_) return;
        lingering_ = true;
        boost::system::error_code ec;
        lowest().shutdown(tcp::socket::shutdown_send, ec);
        linger_.expires_after(std::chrono::milliseconds(500));  // Go's rstAvoidanceDelay
        linger_.async_wait([this, s = shared_from_this()](const boost::system::error_code&) { close(); });
    }

    asio::awaitable<void> watchdog() {
        auto keep = shared_from_this();
        while (!closed_) {
            timer_.expires_at(writing_ ? std::min(deadline_, write_progress_ + write_timeout_) : deadline_);
            co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
            if (closed_) break;
            const auto now = std::chrono::steady_clock::now();
            if (writing_ && now >= write_progress_ + write_timeout_) {
                server::metrics::count_drop(w_.index(), server::metrics::TcpDrop::write_timeout);
                close();
                break;
            }
            if (now >= deadline_) {
                if (inflight_ <= 0 && !writing_) {
                    close();
                    break;
                }
                deadline_ = now + idle_timeout_;
            }
        }
    }

    asio::awaitable<void> run() {
        auto keep = shared_from_this();
        bool h2 = false;
        if (ssl_) {
            struct Pending {
                Worker& w;
                explicit Pending(Worker& worker) : w(worker) { w.count_tls_handshake(+1); }
                ~Pending() { w.count_tls_handshake(-1); }
            };
            boost::system::error_code ec;
            {
                Pending pending(w_);
                std::tie(ec) = co_await ssl_->async_handshake(asio::ssl::stream_base::server,
                                                              asio::as_tuple(asio::use_awaitable));
            }
            if (ec || closed_) {
                close();
                co_return;
            }
            const unsigned char* alpn = nullptr;
            unsigned alpn_len = 0;
            SSL_get0_alpn_selected(ssl_->native_handle(), &alpn, &alpn_len);
            h2 = alpn_len == 2 && std::memcmp(alpn, "h2", 2) == 0;
        }
        if (h2) co_await run_h2();
        else co_await run_h1();
        if (inflight_ <= 0 && !writing_) close();
        else deadline_ = std::chrono::steady_clock::now() + write_timeout_;  // let replies go, then the watchdog closes
        reading_done_ = true;
    }

    // Waits while the client does not read its responses.
    asio::awaitable<void> backpressure() {
        while (!closed_ && queued() > kPauseQueued) {
            wake_.expires_after(std::chrono::seconds(1));
            co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }

    // ------------------------------------------------------------ output
    void queue(std::string_view bytes) {
        if (closed_) return;
        if (queued() + bytes.size() > kMaxQueued) {
            server::metrics::count_drop(w_.index(), server::metrics::TcpDrop::write_queue_full);
            close();
            return;
        }
        out_.append(bytes);
    }

    void flush() {
        if (closed_ || writing_ || out_.empty()) return;
        sending_.swap(out_);
        out_.clear();
        writing_ = true;
        write_progress_ = std::chrono::steady_clock::now();
        if (timer_.expiry() > write_progress_ + write_timeout_) timer_.cancel();  // watch the write deadline
        auto done = [this, s = shared_from_this()](const boost::system::error_code& ec, size_t) {
            writing_ = false;
            sending_.clear();
            if (ec || closed_) {
                close();
                return;
            }
            write_progress_ = std::chrono::steady_clock::now();
            deadline_ = write_progress_ + idle_timeout_;
            if (sending_.capacity() > kPauseQueued) std::string().swap(sending_);
            if (!out_.empty()) {
                flush();
                return;
            }
            wake_.cancel();
            if (close_after_write_) close_write_and_wait();
            else if (reading_done_ && inflight_ <= 0) close();
        };
        if (ssl_) asio::async_write(*ssl_, asio::buffer(sending_), std::move(done));
        else asio::async_write(*plain_, asio::buffer(sending_), std::move(done));
    }

    // One response: HTTP/1.1 text or HTTP/2 frames. `max_age` only for 200.
    void respond(int32_t stream, int status, std::string_view content_type, std::string_view body,
                 const uint32_t* max_age) {
        if (h2_ && !streams_.count(stream)) return;  // reset by the client meanwhile
        count_response(w_.index(), listener_->spec(), status);
        const std::string date = http_date();
        const std::string length = std::to_string(body.size());
        const std::string cache = max_age ? "max-age=" + std::to_string(*max_age) : std::string();
        if (h2_) {
            H2Stream& st = streams_.find(stream)->second;
            st.response.assign(body);
            st.sent = 0;
            st.answered = true;
            const std::string code = std::to_string(status);
            auto nv = [](std::string_view n, std::string_view v) {
                return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())),
                                  reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
                                  NGHTTP2_NV_FLAG_NONE};
            };
            nghttp2_nv hdrs[6];
            size_t n = 0;
            hdrs[n++] = nv(":status", code);
            if (max_age) hdrs[n++] = nv("cache-control", cache);
            hdrs[n++] = nv("content-length", length);
            hdrs[n++] = nv("content-type", content_type);
            if (status != 200) hdrs[n++] = nv("x-content-type-options", "nosniff");
            hdrs[n++] = nv("date", date);
            nghttp2_data_provider prd{};
            prd.source.ptr = &st;
            prd.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                                   nghttp2_data_source* src, void*) -> ssize_t {
                auto* s = static_cast<H2Stream*>(src->ptr);
                const size_t n = std::min(length, s->response.size() - s->sent);
                std::memcpy(buf, s->response.data() + s->sent, n);
                s->sent += n;
                if (s->sent == s->response.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
                return ssize_t(n);
            };
            if (nghttp2_submit_response(h2_, stream, hdrs, n, &prd) != 0) {
                close();
                return;
            }
            if (!in_recv_) pump_h2();  // inside mem_recv's callbacks nghttp2 must not send: run_h2 pumps after
            return;
        }
        // HTTP/1.1, headers in net/http's order (sorted, Date last-ish as Go writes them).
        std::string head = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
        if (max_age) head += "Cache-Control: " + cache + "\r\n";
        head += "Content-Length: " + length + "\r\n";
        head += "Content-Type: " + std::string(content_type) + "\r\n";
        if (status != 200) head += "X-Content-Type-Options: nosniff\r\n";
        head += "Date: " + date + "\r\n";
        if (h1_close_) head += "Connection: close\r\n";
        head += "\r\n";
        queue(head);
        queue(body);
        h1_waiting_ = false;
        if (h1_close_) close_after_write_ = true;
        flush();
        wake_.cancel();  // the reader waits for this response
    }

    // http.Error(w, text, status): text/plain with a newline.
    void respond_error(int32_t stream, int status, const std::string& text) {
        respond(stream, status, "text/plain; charset=utf-8", text + "\n", nullptr);
    }

    // ServeHTTP: validate, decode, run the chain.
    void serve(int32_t stream, std::string_view method, std::string_view target, const std::vector<uint8_t>& body,
               bool body_too_large) {
        const size_t qm = target.find('?');
        const std::string_view path = target.substr(0, qm);
        const std::string_view query = qm == std::string_view::npos ? std::string_view() : target.substr(qm + 1);
        if (path != kPath) {
            respond_error(stream, 404, "");
            return;
        }
        std::vector<uint8_t> get_msg;
        const std::vector<uint8_t>* msg = &body;
        if (method == "GET") {
            const std::string err = dns_param(query, get_msg);
            if (!err.empty()) {
                respond_error(stream, 400, err);
                return;
            }
            msg = &get_msg;
        } else if (method == "POST") {
            if (body_too_large) {
                respond_error(stream, 400, "http: request body too large");
                return;
            }
        } else {
            respond_error(stream, 400, "method not allowed: " + std::string(method));
            return;
        }
        if (msg->size() < wire::kHeaderLen) {
            // miekg's Unpack of a message shorter than its header.
            respond_error(stream, 400, "dns: overflow unpacking uint16");
            return;
        }
        if (msg->size() > wire::kMaxMessage) {
            respond_error(stream, 400, "http: request body too large");
            return;
        }
        auto ex = std::make_shared<Exchange>(shared_from_this(), stream);
        Query& q = w_.slot();
        q.reset();
        std::memcpy(q.req, msg->data(), msg->size());
        q.req_len = msg->size();
        q.proto = Proto::tcp;  // request.Proto(): DoH's remote address is a TCPAddr
        q.client = client_;
        q.local = local_;
        q.sink = ex.get();
        if (stream == 0) h1_waiting_ = true;
        const auto handled = w_.handle(q, listener_->spec());
        // An async reply may come before handle() returns: the count can dip
        // below zero for a moment (as in StreamConnection).
        if (handled == Worker::Handled::pending) ++inflight_;
        else if (handled == Worker::Handled::dropped)
            respond_error(stream, 500, "No response");  // nothing written: RFC 8484 4.2.1, CoreDNS's text
    }

    // ------------------------------------------------------------ HTTP/1.1
    asio::awaitable<void> run_h1() {
        std::string in;
        char chunk[4096];
        for (;;) {
            // Request line and headers.
            size_t head_end;
            while ((head_end = in.find("\r\n\r\n")) == std::string::npos || head_end > kMaxHeaderBytes) {
                if (in.size() > kMaxHeaderBytes) {
                    h1_close_ = true;
                    h1_waiting_ = true;
                    respond_error(0, 431, "431 Request Header Fields Too Large");
                    co_return;
                }
                auto [ec, n] = co_await read_some(asio::buffer(chunk), asio::as_tuple(asio::use_awaitable));
                if (ec || closed_) co_return;
                in.append(chunk, n);
            }
            deadline_ = std::chrono::steady_clock::now() + read_timeout_;
            std::string_view head(in.data(), head_end);
            const size_t eol = head.find("\r\n");
            std::string_view line = head.substr(0, eol);
            const size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
            h1_waiting_ = true;
            if (sp1 == std::string_view::npos || sp2 == sp1 || line.substr(sp2 + 1).substr(0, 7) != "HTTP/1.") {
                h1_close_ = true;
                respond_error(0, 400, "400 Bad Request");
                co_return;
            }
            const std::string method(line.substr(0, sp1));
            std::string target(line.substr(sp1 + 1, sp2 - sp1 - 1));
            const bool http10 = line.substr(sp2 + 1) == "HTTP/1.0";
            size_t content_length = 0;
            bool chunked = false, keep_alive = !http10, conn_close = false;
            std::string_view rest = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
            while (!rest.empty()) {
                const size_t e = rest.find("\r\n");
                std::string_view h = rest.substr(0, e);
                rest = e == std::string_view::npos ? std::string_view() : rest.substr(e + 2);
                const size_t colon = h.find(':');
                if (colon == std::string_view::npos) continue;
                std::string name(h.substr(0, colon));
                for (char& c : name) c = char(std::tolower(uint8_t(c)));
                std::string_view v = h.substr(colon + 1);
                while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
                while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
                std::string value(v);
                for (char& c : value) c = char(std::tolower(uint8_t(c)));
                if (name == "content-length") {
                    content_length = 0;
                    for (char c : value) {
                        if (c < '0' || c > '9' || content_length > kMaxBody * 16) {
                            content_length = SIZE_MAX;
                            break;
                        }
                        content_length = content_length * 10 + size_t(c - '0');
                    }
                } else if (name == "transfer-encoding" && value != "identity") {
                    chunked = true;
                } else if (name == "connection") {
                    if (value == "close") conn_close = true;
                    if (value == "keep-alive") keep_alive = true;
                }
            }
            h1_close_ = conn_close || !keep_alive;
            if (chunked) {
                // Not supported (DoH clients send Content-Length); the
                // connection's framing is then unknown: answer and close.
                h1_close_ = true;
                respond_error(0, 501, "chunked request bodies are not supported");
                co_return;
            }
            if (content_length == SIZE_MAX) {
                h1_close_ = true;
                respond_error(0, 400, "400 Bad Request: bad Content-Length");
                co_return;
            }
            in.erase(0, head_end + 4);
            // The body: up to kMaxBody kept; a larger one is read and dropped
            // up to 16 × that, past which the connection is closed.
            std::vector<uint8_t> body;
            const bool too_large = content_length > kMaxBody;
            if (content_length > kMaxBody * 2) {
                h1_close_ = true;
                respond_error(0, 400, "http: request body too large");
                co_return;
            }
            while (in.size() < content_length) {
                auto [ec, n] = co_await read_some(asio::buffer(chunk), asio::as_tuple(asio::use_awaitable));
                if (ec || closed_) co_return;
                in.append(chunk, n);
            }
            if (!too_large) body.assign(in.begin(), in.begin() + long(content_length));
            in.erase(0, content_length);
            serve(0, method, target, body, too_large);
            // One request at a time: wait for its response before the next.
            while (h1_waiting_ && !closed_) {
                wake_.expires_after(std::chrono::seconds(1));
                co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
            }
            if (closed_ || h1_close_) co_return;
            co_await backpressure();
            deadline_ = std::chrono::steady_clock::now() + idle_timeout_;
        }
    }

    // ------------------------------------------------------------ HTTP/2
    void pump_h2() {
        if (!h2_ || closed_) return;
        for (;;) {
            const uint8_t* data = nullptr;
            const ssize_t n = nghttp2_session_mem_send(h2_, &data);
            if (n < 0) {
                close();
                return;
            }
            if (n == 0) break;
            queue(std::string_view(reinterpret_cast<const char*>(data), size_t(n)));
            if (closed_) return;
        }
        flush();
        if (!nghttp2_session_want_read(h2_) && !nghttp2_session_want_write(h2_) && !writing_) close_after_write_ = true;
    }

    static DohConnection* self(void* user) { return static_cast<DohConnection*>(user); }

    bool init_h2() {
        nghttp2_session_callbacks* cbs = nullptr;
        if (nghttp2_session_callbacks_new(&cbs) != 0) return false;
        nghttp2_session_callbacks_set_on_begin_headers_callback(
            cbs, [](nghttp2_session*, const nghttp2_frame* f, void* u) -> int {
                if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST)
                    self(u)->streams_[f->hd.stream_id];
                return 0;
            });
        nghttp2_session_callbacks_set_on_header_callback(
            cbs, [](nghttp2_session*, const nghttp2_frame* f, const uint8_t* name, size_t namelen,
                    const uint8_t* value, size_t valuelen, uint8_t, void* u) -> int {
                auto it = self(u)->streams_.find(f->hd.stream_id);
                if (it == self(u)->streams_.end()) return 0;
                const std::string_view n(reinterpret_cast<const char*>(name), namelen);
                const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
                if (valuelen > kMaxHeaderBytes) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets the stream
                if (n == ":method") it->second.method.assign(v);
                else if (n == ":path") it->second.path.assign(v);
                return 0;
            });
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
            cbs, [](nghttp2_session*, uint8_t, int32_t stream, const uint8_t* data, size_t len, void* u) -> int {
                auto it = self(u)->streams_.find(stream);
                if (it == self(u)->streams_.end()) return 0;
                H2Stream& s = it->second;
                auto& held = self(u)->body_bytes_;
                if (s.too_large || s.body.size() + len > kMaxBody || held + len > kMaxBodiesInProgress) {
                    // Answered 400 "http: request body too large" at its end.
                    s.too_large = true;
                    held -= s.body.size();
                    std::vector<uint8_t>().swap(s.body);
                    return 0;
                }
                s.body.insert(s.body.end(), data, data + len);
                held += len;
                return 0;
            });
        nghttp2_session_callbacks_set_on_frame_recv_callback(
            cbs, [](nghttp2_session*, const nghttp2_frame* f, void* u) -> int {
                if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
                    (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
                    auto* c = self(u);
                    auto it = c->streams_.find(f->hd.stream_id);
                    if (it == c->streams_.end() || it->second.answered) return 0;
                    c->deadline_ = std::chrono::steady_clock::now() + c->idle_timeout_;
                    // The request's fields are moved out: serve may answer at
                    // once and the response reuses the stream entry.
                    const std::string method = std::move(it->second.method), path = std::move(it->second.path);
                    const std::vector<uint8_t> body = std::move(it->second.body);
                    c->body_bytes_ -= body.size();
                    c->serve(f->hd.stream_id, method, path, body, it->second.too_large);
                }
                return 0;
            });
        nghttp2_session_callbacks_set_on_stream_close_callback(
            cbs, [](nghttp2_session*, int32_t stream, uint32_t, void* u) -> int {
                auto it = self(u)->streams_.find(stream);
                if (it == self(u)->streams_.end()) return 0;
                self(u)->body_bytes_ -= it->second.body.size();  // reset before its end
                self(u)->streams_.erase(it);
                return 0;
            });
        nghttp2_option* opt = nullptr;
        nghttp2_option_new(&opt);
        nghttp2_option_set_max_send_header_block_length(opt, kMaxHeaderBytes);
        const int rv = nghttp2_session_server_new2(&h2_, cbs, this, opt);
        nghttp2_option_del(opt);
        nghttp2_session_callbacks_del(cbs);
        if (rv != 0) return false;
        const nghttp2_settings_entry settings[] = {
            {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kMaxStreams},
            {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, uint32_t(kMaxHeaderBytes)},
        };
        return nghttp2_submit_settings(h2_, NGHTTP2_FLAG_NONE, settings, 2) == 0;
    }

    asio::awaitable<void> run_h2() {
        if (!init_h2()) co_return;
        pump_h2();
        std::vector<uint8_t> buf(kReadChunk);
        while (!closed_) {
            auto [ec, n] = co_await read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
            if (ec || closed_) break;
            in_recv_ = true;
            const ssize_t rv = nghttp2_session_mem_recv(h2_, buf.data(), n);
            in_recv_ = false;
            if (rv < 0) {
                pump_h2();  // GOAWAY for a protocol error, if it can still go
                close_after_write_ = true;
                if (!writing_) close();
                break;
            }
            pump_h2();
            if (close_after_write_ && !writing_) close();
            co_await backpressure();
        }
    }

    Worker& w_;
    std::shared_ptr<SpecSource> listener_;
    std::shared_ptr<asio::ssl::context> tls_ctx_;
    std::optional<asio::ssl::stream<tcp::socket>> ssl_;
    std::optional<tcp::socket> plain_;
    asio::steady_timer timer_;  // watchdog
    asio::steady_timer wake_;   // reader waiting for a response or for the queue to drain
    asio::steady_timer linger_;  // close_write_and_wait
    std::chrono::steady_clock::time_point deadline_, write_progress_;
    std::chrono::nanoseconds read_timeout_, idle_timeout_, write_timeout_;
    std::string out_, sending_;
    bool writing_ = false;
    bool closed_ = false;
    bool reading_done_ = false;
    bool close_after_write_ = false;
    bool lingering_ = false;
    bool h1_waiting_ = false;  // HTTP/1.1: a request awaits its response
    bool h1_close_ = false;    // HTTP/1.1: close after this response
    long inflight_ = 0;
    nghttp2_session* h2_ = nullptr;
    bool in_recv_ = false;
    std::map<int32_t, H2Stream> streams_;
    size_t body_bytes_ = 0;  // request body bytes held by streams_
    Endpoint client_, local_;
};

void Exchange::send_reply(const uint8_t* msg, size_t len, const Query& q) {
    if (!conn) return;
    conn->on_reply(stream_id, msg, len, q.owned);
    conn.reset();  // one reply per exchange; do not keep the connection past it
}

}  // namespace

void start_doh_connection(Worker& w, std::shared_ptr<SpecSource> listener, std::shared_ptr<asio::ssl::context> tls,
                          tcp::socket sock) {
    if (tls && w.tls_handshakes() >= kMaxPendingHandshakes) {
        server::metrics::count_drop(w.index(), server::metrics::TcpDrop::handshake_limit);
        boost::system::error_code ignored;
        sock.close(ignored);
        return;
    }
    std::make_shared<DohConnection>(w, std::move(listener), std::move(tls), std::move(sock))->start();
}

}  // namespace dnscore
