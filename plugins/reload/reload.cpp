#include "plugins/reload/reload.hpp"

#include <openssl/evp.h>

#include <random>
#include <stdexcept>

#include "corefile/setup.hpp"
#include "parser/parser.hpp"
#include "core/log.hpp"
#include "plugins/reload/metrics.hpp"
#include "core/host.hpp"

namespace asio = boost::asio;

namespace dnscore::plugins::reload {

namespace {

const log::PluginLog kLog{"reload"};

void register_collector() {
    static const bool once = [] {
        metrics::export_families({&metrics::version_info()});
        return true;
    }();
    (void)once;
}

}  // namespace

metrics::GaugeFunc& metrics::version_info() {
    static auto* g = new GaugeFunc(
        "coredns_reload_version_info",
        "A metric with a constant '1' value labeled by hash, and value which type of hash generated.", {},
        {"hash", "value"}, [](const GaugeFunc::Emit& emit) {
            const std::string v = Watcher::global().version();
            if (!v.empty()) emit({"sha512", v}, 1);
        });
    return *g;
}

std::string sha512_hex(std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha512(), nullptr) != 1)
        throw std::runtime_error("SHA-512 failed");
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(size_t(len) * 2, '0');
    for (unsigned i = 0; i < len; ++i) {
        out[2 * i] = kHex[md[i] >> 4];
        out[2 * i + 1] = kHex[md[i] & 15];
    }
    return out;
}

std::string corefile_checksum(std::string_view text, const std::string& file) {
    parser::ParseOptions po;  // empty: directive names are not validated
    return sha512_hex(parser::canonical_json(parser::parse(text, file, po)));
}

Settings parse_settings(const std::vector<std::string>& args) {
    Settings s;
    if (!args.empty()) s.interval = gostd::parse_duration(args[0]);
    if (s.interval < kMinInterval)
        throw parser::ConfigError("interval value must be greater or equal to " +
                                  gostd::format_duration(kMinInterval));
    if (args.size() > 1) s.jitter = gostd::parse_duration(args[1]);
    if (s.jitter < kMinJitter)
        throw parser::ConfigError("jitter value must be greater or equal to " +
                                  gostd::format_duration(kMinJitter));
    if (s.jitter > s.interval / 2) s.jitter = s.interval / 2;
    // Go: interval + rand.Int63n(jitter) - jitter/2.
    static std::mt19937_64 rng{std::random_device{}()};
    std::uniform_int_distribution<int64_t> dist(0, s.jitter.count() - 1);
    s.period = s.interval + Duration(dist(rng) - s.jitter.count() / 2);
    return s;
}

// ---------------------------------------------------------------- Watcher

Watcher& Watcher::global() {
    static Watcher* w = new Watcher();  // never destroyed: outlives every hook
    return *w;
}

std::string Watcher::version() const {
    std::lock_guard lk(mu_);
    return version_;
}

std::string Watcher::hash() const { return hash_; }

void Watcher::set_version(const std::string& hex) {
    std::lock_guard lk(mu_);
    version_ = hex;  // the old value's series goes away with it
}

void log_reload_failed(std::string_view why) {
    kLog.error("Corefile changed but reload failed: {}", why);
}

void Watcher::start(Host& rt, Duration period) {
    register_collector();
    if (!observer_set_ || host_ != &rt) {
        rt.set_reload_observer(
            [this](const corefile::CorefileSource& src, bool ok) { observe(src, ok); });
        observer_set_ = true;
    }
    stop();
    host_ = &rt;
    const auto& src = rt.source();
    std::string h;
    try {
        h = corefile_checksum(src.text, src.file);
    } catch (const std::exception&) {
        h = sha512_hex(src.text);  // loaded, so it parsed; only if the imports vanished since
    }
    // A reload that switched content while watching (SIGUSR1) moves the
    // version gauge as a detected change would.
    if (had_hash_ && h != hash_ && !version().empty() && version() != h) set_version(h);
    hash_ = h;
    had_hash_ = true;
    kLog.info("Running configuration SHA512 = {}", h);
    period_ = period;
    active_ = true;
    timer_ = std::make_unique<asio::steady_timer>(rt.control());
    next_ = std::chrono::steady_clock::now() + period_;
    arm(gen_);
}

void Watcher::stop() {
    ++gen_;
    active_ = false;
    if (timer_) {
        timer_->cancel();
        timer_.reset();
    }
}

void Watcher::arm(uint64_t gen) {
    timer_->expires_at(next_);
    timer_->async_wait([this, gen](const boost::system::error_code& ec) {
        if (ec || gen != gen_ || !host_) return;
        tick(*host_);
        if (gen != gen_) return;  // the reload replaced (or removed) the watcher
        next_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(period_);
        const auto now = std::chrono::steady_clock::now();
        if (next_ < now) next_ = now + period_;  // a slow reload: do not fire back to back
        arm(gen);
    });
}

Watcher::Tick Watcher::tick(Host& rt) {
    if (rt.conf_flag() == "stdin") return Tick::unreadable;  // cannot be read twice
    corefile::CorefileSource src;
    try {
        src = corefile::read_corefile(rt.conf_flag(), rt.dns_port());
    } catch (const std::exception&) {
        return Tick::unreadable;
    }
    std::string h;
    try {
        h = corefile_checksum(src.text, src.file);
    } catch (const std::exception& e) {
        kLog.warning("Corefile parse failed: {}", e.what());
        return Tick::parse_failed;
    }
    if (h == hash_) return Tick::unchanged;
    // Adopt first: a broken file is not retried until it changes again.
    hash_ = h;
    set_version(h);
    std::string why;
    if (rt.reload(std::move(src), &why)) return Tick::reloaded;
    log_reload_failed(why);
    failed_.fetch_add(1, std::memory_order_relaxed);
    metrics::failed().inc_any();
    return Tick::failed;
}

void Watcher::observe(const corefile::CorefileSource& tried, bool ok) {
    if (!active_ || ok) return;  // success: the new configuration's start() took over
    std::string h;
    try {
        h = corefile_checksum(tried.text, tried.file);
    } catch (const std::exception&) {
        return;  // the next poll warns about it
    }
    if (h == hash_) return;
    hash_ = h;
    set_version(h);
    failed_.fetch_add(1, std::memory_order_relaxed);
    metrics::failed().inc_any();
}

// ---------------------------------------------------------------- setup

namespace {

// on_startup / on_shutdown hooks of a configuration using `reload`. One pair
// per configuration however many blocks use it; the last setup's settings
// win (CoreDNS keeps one process-global interval).
struct StartHook {
    std::shared_ptr<Settings> settings;
    void operator()(Host& host) const { Watcher::global().start(host, settings->period); }
};
struct StopHook {
    void operator()(Host&) const { Watcher::global().stop(); }
};

}  // namespace

}  // namespace dnscore::plugins::reload

namespace dnscore::plugins {

void setup_reload(corefile::SetupContext& c) {
    using namespace reload;
    // CoreDNS reads only the first `reload` line of a block.
    c.d.next();
    auto args = c.d.remaining_args();
    if (args.size() > 2) throw c.d.arg_err();
    const Settings s = parse_settings(args);

    for (auto& h : c.set.on_startup) {
        if (auto* sh = h.target<StartHook>()) {
            *sh->settings = s;  // last setup wins
            return;
        }
    }
    c.set.on_startup.push_back(StartHook{std::make_shared<Settings>(s)});
    c.set.on_shutdown.push_back(StopHook{});
}

}  // namespace dnscore::plugins
