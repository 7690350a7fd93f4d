#pragma once
// bufsize: caps the EDNS0 UDP buffer size of requests (CoreDNS plugin/bufsize).
#include <cstdint>

#include "core/plugin.hpp"

namespace dnscore::plugins {

class Bufsize final : public Plugin {
public:
    explicit Bufsize(uint16_t size) : size_(size) {}
    std::string_view name() const override { return "bufsize"; }
    Step query(Query& q) override;
    uint16_t size() const { return size_; }

private:
    uint16_t size_;
};

}  // namespace dnscore::plugins
