// debug: [DEBUG] log lines and no recovery from exceptions (CoreDNS
// plugin/debug). No handler: the flag is the block's; the runtime turns the
// process-wide debug log on while any served block has it (CoreDNS's log.D).
#include "corefile/setup.hpp"

namespace dnscore::plugins {

void setup_debug(corefile::SetupContext& c) {
    while (c.d.next()) {
        if (c.d.next_arg()) throw c.d.arg_err();
        c.block.debug = true;
    }
}

}  // namespace dnscore::plugins
