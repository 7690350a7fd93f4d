#include "plugins/bufsize/bufsize.hpp"

namespace dnscore::plugins {

Step Bufsize::query(Query& q) {
    // Only an OPT the client sent is lowered; none is added (as CoreDNS).
    // The request bytes change too: forward sends them on, and the reply
    // finisher truncates to the new size (CoreDNS's ScrubWriter reads the
    // same, edited, request).
    wire::Edns& e = q.info.edns;
    if (e.present && e.udp_size > size_) {
        e.udp_size = size_;
        // OPT's CLASS field (the UDP size) sits 8 bytes before its RDATA.
        wire::wr16(q.req + e.rdata_off - 8, size_);
    }
    return Step::next;
}

}  // namespace dnscore::plugins
