#!/bin/sh
# module_exports.sh OUT MODULE...: the linker's --dynamic-list of the symbols
# the executables export for the transport modules (core/transport_module.hpp):
# every dynamic symbol of the modules, defined or not. Undefined ones are what
# a module calls in the executable; defined ones include the inline and
# template statics (Asio's service ids and call stacks, typeinfo) that the
# executable must share with the module rather than each keeping a copy.
# Names the executable does not define are ignored by the linker. Exporting
# only these instead of everything (-rdynamic) keeps ~1 MB of symbol tables
# out of the binary and the dynamic loader's lookups.
set -eu
out=$1; shift
{
    echo '{'
    nm -D -P "$@" | awk '{ sub(/@.*/, "", $1); print $1 }' | grep -v ':$' | sort -u | sed 's/.*/  &;/'
    echo '};'
} > "$out.tmp"
mv "$out.tmp" "$out"
