#!/usr/bin/env bash
# Installs what is missing, builds dnscore and runs it on examples/Corefile.
#   dig @127.0.0.1 -p 1053 example.org
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/.ci/install-deps.sh"
[ -d "$root/build" ] || meson setup "$root/build" "$root" --buildtype=release
ninja -C "$root/build" dnscore
exec "$root/build/dnscore" -conf "$root/examples/Corefile" "$@"
