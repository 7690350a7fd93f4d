// trace: sampling and span records on the workers, the Zipkin reporter
// thread (JSON, batches, backlog, HTTP POST through core/http).
#include "plugins/trace/trace.hpp"

#include <arpa/inet.h>
#include <sys/random.h>

#include <boost/asio/io_context.hpp>
#include <cstring>
#include <deque>
#include <thread>

#include "core/host.hpp"
#include "core/http.hpp"
#include "core/log.hpp"
#include "core/query.hpp"
#include "core/thread_role.hpp"
#include "core/wire/wire.hpp"
#include "plugins/trace/metrics.hpp"

namespace dnscore::plugins::trace {

namespace {

const log::PluginLog kLog{"trace"};
constexpr auto kRequestTimeout = std::chrono::seconds(5);  // zipkin-go defaultTimeout
constexpr auto kFinalTimeout = std::chrono::seconds(1);    // last send at shutdown
constexpr size_t kMaxErrorText = 1024;                     // error text kept in a record

int64_t wall_ns() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// One finished span as a worker records it (fixed head, then the question
// name in wire form, then the error text).
struct Record {
    uint64_t id;
    int64_t start_ns, end_ns;
    uint16_t qtype, rcode;
    uint8_t tcp, ip_len, name_len, pad;
    uint16_t err_len, pad2;
    uint8_t ip[16];
};

// encoding/json's string escaping (HTML-safe, as Go's json.Marshal).
void json_string(std::string& out, std::string_view s) {
    static const char* hex = "0123456789abcdef";
    out += '"';
    for (size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '<': case '>': case '&':
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 15];
                break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 15];
                } else {
                    out += char(c);
                }
        }
    }
    out += '"';
}

// time.Time.Round(µs) in microseconds.
int64_t round_us(int64_t ns) { return (ns + 500) / 1000; }

}  // namespace

// ---- the reporter thread ----
class Reporter {
public:
    explicit Reporter(Trace& t) : t_(t) {
        const Config& c = t.cfg_;
        batch_size_ = c.max_batch_size > 0 ? size_t(c.max_batch_size) : 100;
        backlog_ = c.max_backlog > 0 ? size_t(c.max_backlog) : 1000;
        interval_ = c.max_batch_interval.count() > 0 ? c.max_batch_interval : std::chrono::seconds(1);
        parse_url(c.endpoint);
        local_endpoint_ = local_endpoint_json(c);
    }
    ~Reporter() { stop(); }

    void start() {
        th_ = std::thread([this] {
            t_background_thread = true;
            run();
        });
    }
    void stop() {
        if (!th_.joinable()) return;
        stop_.store(true);
        th_.join();
    }

    // The span as zipkin-go's SpanModel.MarshalJSON writes it.
    std::string span_json(const Record& r, const uint8_t* name, std::string_view err) const {
        char idbuf[17];
        snprintf(idbuf, sizeof idbuf, "%016llx", static_cast<unsigned long long>(r.id));
        int64_t dur = r.end_ns - r.start_ns;
        dur = dur <= 0 ? 0 : dur < 1000 ? 1 : (dur + 500) / 1000;
        std::string j = "{\"timestamp\":" + std::to_string(round_us(r.start_ns));
        if (dur) j += ",\"duration\":" + std::to_string(dur);
        j += ",\"traceId\":\"";
        j += idbuf;
        j += "\",\"id\":\"";
        j += idbuf;
        j += "\",\"name\":\"servedns\",\"kind\":\"SERVER\"";
        if (!local_endpoint_.empty()) j += ",\"localEndpoint\":" + local_endpoint_;
        if (!err.empty()) {
            const std::string ts = std::to_string(round_us(r.end_ns));
            j += ",\"annotations\":[{\"timestamp\":" + ts + ",\"value\":\"event:error\"},{\"timestamp\":" + ts +
                 ",\"value\":";
            json_string(j, "error:" + std::string(err));
            j += "}]";
        }
        char nbuf[1024];
        const size_t nlen = wire::name_to_text(name, r.name_len, nbuf, sizeof nbuf);
        char tbuf[16], rbuf[16];
        char ip[INET6_ADDRSTRLEN] = "";
        if (r.ip_len == 4 || r.ip_len == 16) inet_ntop(r.ip_len == 4 ? AF_INET : AF_INET6, r.ip, ip, sizeof ip);
        j += ",\"tags\":{\"coredns.io/name\":";
        json_string(j, std::string_view(nbuf, nlen));
        j += ",\"coredns.io/proto\":";
        j += r.tcp ? "\"tcp\"" : "\"udp\"";
        j += ",\"coredns.io/rcode\":";
        json_string(j, wire::rcode_name(r.rcode, rbuf));
        j += ",\"coredns.io/remote\":";
        json_string(j, ip);
        j += ",\"coredns.io/type\":";
        json_string(j, wire::type_name(r.qtype, tbuf));
        if (!err.empty()) j += ",\"error\":\"true\"";
        j += "}}";
        return j;
    }

private:
    void parse_url(const std::string& url) {
        std::string rest = url.substr(url.find("://") == std::string::npos ? 0 : url.find("://") + 3);
        const size_t slash = rest.find('/');
        std::string hostport = rest.substr(0, slash);
        path_ = slash == std::string::npos ? "/" : rest.substr(slash);
        if (!hostport.empty() && hostport[0] == '[') {
            const size_t close = hostport.find(']');
            host_ = hostport.substr(1, close - 1);
            port_ = close + 1 < hostport.size() && hostport[close + 1] == ':' ? hostport.substr(close + 2) : "80";
        } else if (const size_t colon = hostport.rfind(':'); colon != std::string::npos) {
            host_ = hostport.substr(0, colon);
            port_ = hostport.substr(colon + 1);
        } else {
            host_ = hostport;
            port_ = "80";
        }
    }

    static std::string local_endpoint_json(const Config& c) {
        std::string j = "{";
        bool any = false;
        auto sep = [&] {
            if (any) j += ',';
            any = true;
        };
        if (!c.service_name.empty()) {
            sep();
            j += "\"serviceName\":";
            std::string lower = c.service_name;
            for (auto& ch : lower) ch = char(std::tolower(static_cast<unsigned char>(ch)));
            json_string(j, lower);
        }
        if (!c.local_host.empty()) {
            in_addr a4;
            in6_addr a6;
            char buf[INET6_ADDRSTRLEN];
            if (inet_pton(AF_INET, c.local_host.c_str(), &a4) == 1) {
                sep();
                inet_ntop(AF_INET, &a4, buf, sizeof buf);
                j += "\"ipv4\":\"" + std::string(buf) + "\"";
            } else if (inet_pton(AF_INET6, c.local_host.c_str(), &a6) == 1) {
                sep();
                inet_ntop(AF_INET6, &a6, buf, sizeof buf);
                j += "\"ipv6\":\"" + std::string(buf) + "\"";
            }
            const long port = std::strtol(c.local_port.c_str(), nullptr, 10);
            if (port > 0 && port < 65536) {
                sep();
                j += "\"port\":" + std::to_string(port);
            }
        }
        j += "}";
        return any ? j : "";
    }

    void drain() {
        t_.rings_.for_each([&](SpscRing& ring) {
            const uint8_t* data;
            size_t len;
            while (ring.peek(data, len)) {
                Record r;
                if (len >= sizeof r) {
                    std::memcpy(&r, data, sizeof r);
                    const uint8_t* name = data + sizeof r;
                    std::string_view err(reinterpret_cast<const char*>(name + r.name_len), r.err_len);
                    batch_.push_back(span_json(r, name, err));
                }
                ring.pop();
            }
            ring.release();
        });
        if (batch_.size() > backlog_) {
            const size_t dispose = batch_.size() - backlog_;
            kLog.warning("backlog too long, disposing {} spans", dispose);
            batch_.erase(batch_.begin(), batch_.begin() + long(dispose));
            t_.dropped_.fetch_add(dispose, std::memory_order_relaxed);
            metrics::dropped().inc_any({}, dispose);
        }
    }

    // zipkin-go sendBatch: POST everything batched; on a transport error the
    // spans stay for the next try, on any HTTP status they are gone.
    void send(std::chrono::milliseconds timeout) {
        if (batch_.empty()) return;
        const size_t n = batch_.size();
        std::string body = "[";
        for (size_t i = 0; i < n; ++i) {
            if (i) body += ',';
            body += batch_[i];
        }
        body += ']';
        http::GetResult result;
        io_.restart();
        http::async_post(io_, host_, port_, path_, {{"Content-Type", "application/json"}, {"b3", "0"}},
                         std::move(body), timeout, [&](const http::GetResult& r) { result = r; });
        io_.run();
        if (!result.error.empty()) {
            kLog.warning("failed to send the request: Post \"{}\": {}", t_.cfg_.endpoint, result.error);
            return;
        }
        if (result.status < 200 || result.status > 299)
            kLog.warning("failed the request with status code {}", result.status);
        batch_.erase(batch_.begin(), batch_.begin() + long(n));
    }

    void run() {
        using Clock = std::chrono::steady_clock;
        auto next = Clock::now() + interval_;
        for (;;) {
            const bool stopping = stop_.load();
            drain();
            const auto now = Clock::now();
            if (stopping) {
                send(kFinalTimeout);
                break;
            }
            if (batch_.size() >= batch_size_) {
                send(kRequestTimeout);
            } else if (now >= next) {
                send(kRequestTimeout);
            }
            if (now >= next) next = Clock::now() + interval_;
            std::this_thread::sleep_for(std::chrono::milliseconds(batch_.empty() ? 20 : 5));
        }
    }

    Trace& t_;
    size_t batch_size_, backlog_;
    std::chrono::nanoseconds interval_;
    std::string host_, port_, path_, local_endpoint_;
    std::deque<std::string> batch_;
    boost::asio::io_context io_;
    std::thread th_;
    std::atomic<bool> stop_{false};
};

// ---- the plugin ----
Trace::Trace(Config cfg) : cfg_(std::move(cfg)) {
    for (auto& w : workers_) {
        if (getrandom(&w.rng, sizeof w.rng, 0) != sizeof w.rng || w.rng == 0)
            w.rng = uint64_t(wall_ns()) ^ reinterpret_cast<uintptr_t>(&w);
        if (w.rng == 0) w.rng = 0x9E3779B97F4A7C15ull;
    }
}

Trace::~Trace() { stop(); }

void Trace::start() {
    stop();
    reporter_ = std::make_unique<Reporter>(*this);
    reporter_->start();
}

void Trace::stop() {
    if (reporter_) reporter_->stop();
    reporter_.reset();
}

void Trace::count_drop(int worker, uint64_t n) {
    dropped_.fetch_add(n, std::memory_order_relaxed);
    metrics::dropped().inc(worker, {}, n);
}

Step Trace::query(Query& q) {
    q.data() = 0;
    if (cfg_.every == 0) return Step::next;
    const int w = q.worker ? q.worker->index() : 0;
    // Counted per worker: one query in `every` on each worker (CoreDNS counts
    // on one shared counter; the rate is the same, without a shared line).
    if (++workers_[size_t(w) % kMaxWorkers].count % cfg_.every != 0) return Step::next;
    q.data() = uint64_t(wall_ns());
    return Step::next;
}

void Trace::response(Query& q) {
    if (q.data() == 0) return;
    const int w = q.worker ? q.worker->index() : 0;
    PerWorker& pw = workers_[size_t(w) % kMaxWorkers];
    Record r{};
    // A positive 63-bit ID (zipkin-go: rand.Int63); the root span's ID is the
    // trace ID.
    do {
        pw.rng ^= pw.rng << 13;
        pw.rng ^= pw.rng >> 7;
        pw.rng ^= pw.rng << 17;
        r.id = pw.rng & 0x7FFFFFFFFFFFFFFFull;
    } while (r.id == 0);
    r.start_ns = int64_t(q.data());
    r.end_ns = wall_ns();
    r.qtype = q.info.qtype;
    // CoreDNS: the written reply's rcode, or the rcode returned unwritten.
    r.rcode = uint16_t(q.written && q.resp_len >= wire::kHeaderLen ? wire::rcode(q.resp) : q.rcode);
    r.tcp = q.tcp();
    if (q.client.family() == AF_INET || q.client.family() == AF_INET6) {
        r.ip_len = q.client.is_v4() ? 4 : 16;
        std::memcpy(r.ip, q.client.ip_bytes(), r.ip_len);
    }
    r.name_len = q.info.name_len;
    r.err_len = uint16_t(std::min(q.error.size(), kMaxErrorText));
    const size_t len = sizeof r + r.name_len + r.err_len;
    SpscRing& ring = rings_.get(w, kRingBytes);
    uint8_t* p = ring.reserve(len);
    if (!p) return count_drop(w, 1);
    std::memcpy(p, &r, sizeof r);
    std::memcpy(p + sizeof r, q.info.name, r.name_len);
    std::memcpy(p + sizeof r + r.name_len, q.error.data(), r.err_len);
    ring.commit(len);
}

}  // namespace dnscore::plugins::trace
