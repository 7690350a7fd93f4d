#!/usr/bin/env bash
# Runs one libFuzzer target (or all) for a bounded time.
#   tests/fuzz/run.sh TARGET SECONDS [libFuzzer options...]
#   tests/fuzz/run.sh all SECONDS        every target, SECONDS each
#   tests/fuzz/run.sh --build-only       just build the fuzzers
# Builds with clang, ASan + UBSan and libFuzzer coverage (-O1, line tables
# only for the stack traces: half the build time of -O2 -g) in its own build
# directory ($FUZZ_BUILD_DIR, default build-fuzz; only the fuzzers and the
# library they link). New corpus entries go to $FUZZ_BUILD_DIR/corpus/TARGET
# (the checked-in seeds in tests/fuzz/corpus/TARGET stay small); crash,
# leak and timeout inputs are kept in tests/fuzz/regressions/TARGET/, where
# the normal build's fuzz-TARGET test replays them. TARGET.options holds
# libFuzzer options for one target. Exit status non-zero when a target found
# something.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dir=${FUZZ_BUILD_DIR:-$root/build-fuzz}
targets=$(sed -n "s/^fuzz_targets = \[\(.*\)\]/\1/p" "$here/meson.build" | tr -d "',")

if [ ! -f "$dir/build.ninja" ]; then
    cc=clang cxx=clang++
    if command -v ccache >/dev/null; then cc="ccache clang" cxx="ccache clang++"; fi
    CC="$cc" CXX="$cxx" meson setup "$dir" "$root" -Dfuzz=true \
        -Db_sanitize=address,undefined -Db_lundef=false -Doptimization=1 -Ddebug=false \
        -Dcpp_args=-gline-tables-only >/dev/null ||
        { echo "fuzz: meson setup failed"; exit 1; }
fi
build_targets=()
for t in $targets; do build_targets+=("tests/fuzz/${t}_fuzzer"); done
ninja -C "$dir" -j "${FUZZ_JOBS:-$(nproc)}" "${build_targets[@]}" >/dev/null ||
    { ninja -C "$dir" -j1 "${build_targets[@]}" | tail -40; echo "fuzz: build failed"; exit 1; }
[ "${1:-}" = "--build-only" ] && exit 0

target=${1:?usage: run.sh TARGET|all SECONDS [libFuzzer options]}
seconds=${2:?usage: run.sh TARGET|all SECONDS [libFuzzer options]}
shift 2
[ "$target" = all ] && list=$targets || list=$target

status=0
for t in $list; do
    exe="$dir/tests/fuzz/${t}_fuzzer"
    [ -x "$exe" ] || { echo "fuzz: no target $t (one of: $targets)"; exit 2; }
    work="$dir/corpus/$t"
    regressions="$here/regressions/$t"
    mkdir -p "$work" "$regressions"
    log="$dir/fuzz-$t.log"
    dict=()
    [ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
    # Per-target libFuzzer options ('#' lines are comments), before the caller's.
    options=()
    [ -f "$here/$t.options" ] && read -r -a options < <(grep -v '^#' "$here/$t.options" | tr '\n' ' ')
    started=$SECONDS
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
        "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix="$regressions/" "${dict[@]}" "${options[@]}" "$@" \
        "$work" "$here/corpus/$t" "$regressions" >"$log" 2>&1
    rc=$?
    elapsed=$((SECONDS - started))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -a -o 'cov: [0-9]*' "$log" | tail -1)
    if [ $rc -ne 0 ]; then
        status=1
        echo "fuzz $t: FOUND a problem (exit $rc) after ${execs:-?} executions (${elapsed}s); input kept in $regressions/"
        grep -a -m1 -A12 -E '^==[0-9]+==ERROR|runtime error|fuzz property violated|deadly signal|ERROR: libFuzzer' "$log"
    else
        echo "fuzz $t: ${execs:-?} executions in ${elapsed}s, ${cov:-cov: ?}, nothing found"
    fi
done
exit $status
