#pragma once
// What a plugin may ask of the running process, and nothing more: its
// worker's loop (queries), the control thread's loop (timers, HTTP, probes),
// work posted to every worker, a fatal exit, and (for `reload`) the Corefile
// source it runs. server/ implements it (Runtime, Worker); plugins and
// corefile/ see only these interfaces.
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

namespace dnscore {

struct ServerSet;

// A Corefile's text and the path it came from ("stdin" when read from it).
struct ConfigSource {
    std::string text;
    std::string file;
};

// The process, as lifecycle hooks and control-thread code see it.
class Host {
public:
    virtual ~Host() = default;

    // The control thread's loop: timers, HTTP endpoints, health probes.
    virtual boost::asio::io_context& control() = 0;

    // Runs `fn(worker_index)` on every worker's own thread (e.g. a plugin
    // closing the per-worker sockets it opened there). Any thread.
    virtual void post_to_workers(std::function<void(int worker)> fn) = 0;

    // CoreDNS log.Fatal: the final-shutdown hooks run on the control thread,
    // then the process exits with `code`. The caller has logged why. Any thread.
    [[noreturn]] virtual void fatal_exit(int code) = 0;

    // Shutdown hooks (health's lameduck) ask to keep serving this long.
    virtual void add_shutdown_delay(std::chrono::milliseconds d) = 0;

    // The configuration being served (the one whose hooks run). Any thread.
    virtual std::shared_ptr<const ServerSet> config() const = 0;
    // The port a listener ("dns://host:port" label) really bound; differs
    // from the configured one for port 0. "" when it is not open.
    virtual std::string bound_port(const std::string& label) const = 0;

    // ---- for the reload plugin (control thread) ----
    // The -conf flag as given ("stdin" cannot be read twice) and -dns.port.
    virtual const std::string& conf_flag() const = 0;
    virtual const std::string& dns_port() const = 0;
    // Source text of the configuration being served.
    virtual const ConfigSource& source() const = 0;
    // Switches to this Corefile content; on failure keeps the old
    // configuration, logs caddy's "Restart failed" line and sets *error.
    virtual bool reload(ConfigSource src, std::string* error) = 0;
    // Called after every SIGUSR1 reload attempt with the content tried. One
    // observer; empty = none.
    using ReloadObserver = std::function<void(const ConfigSource& tried, bool ok)>;
    virtual void set_reload_observer(ReloadObserver obs) = 0;
};

// One worker thread, as a plugin's query path sees it (Query::worker).
class WorkerHost {
public:
    int index() const { return index_; }
    // This worker's loop: only code running on this worker may use it.
    boost::asio::io_context& io() { return *io_; }
    Host& host() { return *host_; }
    // The configuration snapshot this worker serves; an async exchange holds
    // it so its plugins outlive a reload.
    virtual std::shared_ptr<const void> config_keepalive() const = 0;

    // Replies to UDP clients sent while held are queued and go out together
    // (sendmmsg) when the last hold is released: a handler that finishes
    // several exchanges at once (a listener's drain, forward's read of
    // upstream replies) holds them around its loop (ReplyHold). Worker
    // thread only; holds nest.
    void hold_replies() { ++reply_holds_; }
    void release_replies() {
        if (--reply_holds_ == 0) flush_held_replies();
    }
    bool replies_held() const { return reply_holds_ != 0; }

protected:
    WorkerHost(Host& host, int index) : host_(&host), index_(index) {}
    ~WorkerHost() = default;
    void set_io(boost::asio::io_context& io) { io_ = &io; }
    virtual void flush_held_replies() {}

private:
    Host* host_;
    int index_;
    boost::asio::io_context* io_ = nullptr;
    unsigned reply_holds_ = 0;
};

class ReplyHold {
public:
    explicit ReplyHold(WorkerHost& w) : w_(w) { w_.hold_replies(); }
    ~ReplyHold() { w_.release_replies(); }
    ReplyHold(const ReplyHold&) = delete;
    ReplyHold& operator=(const ReplyHold&) = delete;

private:
    WorkerHost& w_;
};

}  // namespace dnscore
