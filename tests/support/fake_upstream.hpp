#pragma once
// A scriptable upstream DNS server for forward tests: UDP and TCP on
// 127.0.0.1 (same port, picked by the kernel), served by its own thread. The
// behaviour can be changed while it runs; it counts queries and connections.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace dnscore::testing {

class FakeUpstream {
public:
    enum class Mode {
        answer,          // A record with answer_ip (TCP replies may come out of order with a delay)
        no_answer,       // read and ignore
        truncated,       // UDP: empty reply with TC; TCP: the full answer
        wrong_id,        // reply with another message ID
        wrong_question,  // reply for another name
        garbage,         // a reply header announcing records that are not there
        tcp_reset,       // TCP: reset the connection on the first query; UDP: no answer
        servfail,        // SERVFAIL reply
    };

    FakeUpstream();
    ~FakeUpstream();
    FakeUpstream(const FakeUpstream&) = delete;
    FakeUpstream& operator=(const FakeUpstream&) = delete;

    uint16_t port() const { return port_; }
    std::string addr() const { return "127.0.0.1:" + std::to_string(port_); }

    void set_mode(Mode m) { mode_.store(m); }
    void set_delay_ms(int ms) { delay_ms_.store(ms); }
    // Last octet of the A record answered (tells upstreams apart).
    void set_answer_octet(int o) { octet_.store(o); }
    // Pads answers with this many extra A records (large replies).
    void set_extra_records(int n) { extra_.store(n); }

    // Replaces the modes (the delay still applies): each query's reply (UDP
    // or TCP) is what `fn` returns, none when empty. Called on the
    // upstream's thread.
    using Responder = std::function<std::vector<uint8_t>(const std::vector<uint8_t>& query)>;
    void set_responder(Responder fn);
    // Runs `fn` on the upstream's thread and waits for it (e.g. to keep that
    // thread out of an allocation count).
    void run_on_thread(const std::function<void()>& fn);

    int udp_queries() const { return udp_queries_.load(); }
    int tcp_queries() const { return tcp_queries_.load(); }
    int tcp_connections() const { return tcp_connections_.load(); }
    // Queries seen over UDP or TCP whose type is NS (health probes).
    int probes() const { return probes_.load(); }
    void reset_counters();

    // A loopback port with nothing listening (for "connection refused").
    static uint16_t closed_port();

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
    uint16_t port_ = 0;
    friend struct Impl;

public:
    std::atomic<Mode> mode_{Mode::answer};
    std::atomic<int> delay_ms_{0};
    std::atomic<int> octet_{1};
    std::atomic<int> extra_{0};
    std::atomic<int> udp_queries_{0};
    std::atomic<int> tcp_queries_{0};
    std::atomic<int> tcp_connections_{0};
    std::atomic<int> probes_{0};
    std::mutex responder_mu_;
    Responder responder_;
};

}  // namespace dnscore::testing
