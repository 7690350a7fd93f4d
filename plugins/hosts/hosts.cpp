#include "plugins/hosts/hosts.hpp"

#include <sys/stat.h>

#include <boost/asio/steady_timer.hpp>

#include "core/file.hpp"
#include "core/host.hpp"
#include "core/log.hpp"
#include "core/wire/writer.hpp"
#include "plugins/hosts/metrics.hpp"

namespace asio = boost::asio;

namespace dnscore::plugins::hosts {

namespace {
const log::PluginLog kLog{"hosts"};
}

metrics::Families& metrics::families() {
    static Families* f = [] {
        auto* fam = new Families;
        export_families({&fam->entries});
        return fam;
    }();
    return *f;
}

Hosts::Hosts(Config cfg) : cfg_(std::move(cfg)) {
    for (const auto& z : cfg_.origins) origins_.add(z);
    for (const auto& z : cfg_.fall) fall_.add(z);
    std::string text;
    for (const auto& l : cfg_.inline_lines) text += l + "\n";
    inline_ = parse(text, origins_, cfg_.options.auto_reverse);
    // Until the startup read, the workers answer from the inline entries and
    // the file as it is now (CoreDNS serves the inline entries only until
    // its OnStartup read).
    Map file;
    if (auto content = read_file(cfg_.path)) file = parse(*content, origins_, cfg_.options.auto_reverse);
    snapshot_ = std::make_shared<WorkerSnapshot<Index>>(std::make_shared<const Index>(file, inline_));
    metric_index_ = metrics::families().file.intern({cfg_.path});
}

Hosts::~Hosts() { ticker_->stop(); }

bool Hosts::read_hosts(Host* host) {
    struct stat st;
    if (::stat(cfg_.path.c_str(), &st) != 0) return false;  // setup warned already
    const int64_t mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    if (file_seen_ && file_mtime_ns_ == mtime_ns && file_size_ == int64_t(st.st_size)) return false;
    auto content = read_file(cfg_.path);
    if (!content) return false;
    const Map file = parse(*content, origins_, cfg_.options.auto_reverse);
    if (log::debug_enabled())
        log::emit(log::Level::debug, "hosts", fmt::format("Parsed hosts file into {} entries", file.len()));
    auto idx = std::make_shared<const Index>(file, inline_);
    if (host) snapshot_->publish(*host, idx);
    else snapshot_->publish_local(0, idx);
    file_seen_ = true;
    file_mtime_ns_ = mtime_ns;
    file_size_ = int64_t(st.st_size);
    metrics::families().entries.set({metric_index_}, double(idx->entries()));
    metrics::reload_timestamp().set(double(mtime_ns) / 1e9);
    return true;
}

void Hosts::start(Host& host) {
    read_hosts(&host);
    ticker_->start(host, cfg_.options.reload, [this](Host& h) { read_hosts(&h); });
}

void Hosts::stop() { ticker_->stop(); }

size_t Hosts::write_answer(const Query& q, const Index& idx, bool compress) const {
    using namespace wire;
    Writer w(q.resp, q.resp_cap);
    // CoreDNS's replies go out uncompressed unless they do not fit (miekg's
    // Truncate turns compression on then).
    w.set_compression(compress);
    w.reply_header(q.req, q.info, kNoError, true, false);
    w.set_flags(uint16_t(flags(q.resp) | kAA));
    // Owners are the lower-cased question name (CoreDNS uses state.Name()).
    const uint8_t* name = q.info.name;
    const size_t nlen = q.info.name_len;
    const uint32_t ttl = cfg_.options.ttl;
    switch (q.info.qtype) {
        case kTypeA: {
            const auto v4 = idx.lookup(name, nlen).v4;
            for (size_t i = 0; i + 4 <= v4.size(); i += 4) w.rr(name, nlen, kTypeA, kClassIN, ttl, v4.data() + i, 4);
            break;
        }
        case kTypeAAAA: {
            const auto v6 = idx.lookup(name, nlen).v6;
            for (size_t i = 0; i + 16 <= v6.size(); i += 16)
                w.rr(name, nlen, kTypeAAAA, kClassIN, ttl, v6.data() + i, 16);
            break;
        }
        case kTypePTR: {
            Ip16 ip;
            if (address_from_reverse(name, nlen, ip))
                idx.each_name(ip, [&](const uint8_t* target, size_t tlen) {
                    w.ptr(name, nlen, kClassIN, ttl, target, tlen);
                });
            break;
        }
        default:
            break;
    }
    return w.finish();
}

Step Hosts::query(Query& q) {
    using namespace wire;
    const Index& idx = snapshot_->get(q.worker ? q.worker->index() : 0);
    const uint8_t* qname = q.info.name;
    const size_t nlen = q.info.name_len;
    const uint16_t qtype = q.info.qtype;
    // Outside the zones only PTR is looked at (reverse zones need not be listed).
    if (origins_.matches(qname, nlen) == ZoneSet::npos && qtype != kTypePTR) return Step::next;

    size_t answers = 0;
    switch (qtype) {
        case kTypePTR: {
            Ip16 ip;
            if (address_from_reverse(qname, nlen, ip)) answers = idx.each_name(ip, [](const uint8_t*, size_t) {});
            // No name for the address: the next plugin, whatever fallthrough says.
            if (answers == 0) return Step::next;
            break;
        }
        case kTypeA:
            answers = idx.lookup(qname, nlen).v4.size();
            break;
        case kTypeAAAA:
            answers = idx.lookup(qname, nlen).v6.size();
            break;
        default:
            break;
    }
    if (answers == 0 && idx.lookup(qname, nlen).empty()) {
        // Only a name hosts does not know falls through.
        if (fall_.matches(qname, nlen) != ZoneSet::npos) return Step::next;
        // CoreDNS would say NXDOMAIN but has no SOA to put in it: SERVFAIL.
        q.fail(kServFail, std::string(), name());
        return Step::done;
    }
    // A known name without records of the type: NODATA (NOERROR, AA, empty).
    size_t len = write_answer(q, idx, false);
    if (len == 0 || len > q.info.udp_size(q.tcp())) {
        if (const size_t compressed = write_answer(q, idx, true)) len = compressed;
    }
    if (len == 0) {
        q.fail(kServFail, "plugin/hosts: reply does not fit", name());
        return Step::done;
    }
    q.set_written(len, name());
    return Step::done;
}

}  // namespace dnscore::plugins::hosts
