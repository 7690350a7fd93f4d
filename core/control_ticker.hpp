#pragma once
// A repeating timer on the control thread: CoreDNS's time.Ticker goroutines
// (hosts re-reading its file, loadbalance re-reading its weights). Owned
// through a shared_ptr that the pending wait also holds, so the owner's
// destructor may call stop() while a tick is queued; a stopped ticker never
// calls back. Control thread only.
#include <chrono>
#include <functional>
#include <memory>

#include <boost/asio/steady_timer.hpp>

#include "core/host.hpp"

namespace dnscore {

class ControlTicker : public std::enable_shared_from_this<ControlTicker> {
public:
    // Calls tick(host) every `every` until stop(); `every` <= 0: never.
    void start(Host& host, std::chrono::nanoseconds every, std::function<void(Host&)> tick) {
        host_ = &host;
        every_ = every;
        tick_ = std::move(tick);
        if (every_.count() > 0) arm();
    }
    void stop() {
        stopped_ = true;
        if (timer_) timer_->cancel();
    }

private:
    void arm() {
        if (!timer_) timer_ = std::make_unique<boost::asio::steady_timer>(host_->control());
        timer_->expires_after(every_);
        timer_->async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
            if (ec || self->stopped_) return;
            self->tick_(*self->host_);
            if (!self->stopped_) self->arm();
        });
    }

    Host* host_ = nullptr;
    std::chrono::nanoseconds every_{0};
    std::function<void(Host&)> tick_;
    std::unique_ptr<boost::asio::steady_timer> timer_;
    bool stopped_ = false;
};

}  // namespace dnscore
