#!/usr/bin/env bash
# Installs what is missing, builds dnscore and runs every test: once in a
# normal build, once under AddressSanitizer + UndefinedBehaviorSanitizer.
# Ends with one line "N passed, N failed[, N skipped]".
#   tests/run.sh            both builds
#   tests/run.sh --fast     normal build only
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/.ci/install-deps.sh" || { echo "0 passed, 1 failed"; exit 1; }

jobs=$(nproc)
passed=0; failed=0; skipped=0
failed_names=()

run_suite() {  # run_suite BUILD_DIR [meson setup args...]
    local dir=$1; shift
    if [ ! -d "$dir" ]; then
        meson setup "$dir" "$root" "$@" || { failed=$((failed + 1)); failed_names+=("meson setup $dir"); return; }
    fi
    if ! ninja -C "$dir" -j "$jobs"; then
        echo "build failed in $dir"; failed_names+=("build $dir")
        failed=$((failed + 1))
        return
    fi
    meson test -C "$dir" --print-errorlogs --num-processes "$jobs" --no-rebuild
    local log="$dir/meson-logs/testlog.json"
    if [ -f "$log" ]; then
        local p f s
        read -r p f s < <(python3 "$root/tests/count_results.py" "$log")
        passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
        local failures
        failures=$(python3 "$root/tests/count_results.py" --failures "$log")
        [ -n "$failures" ] && failed_names+=("${dir#$root/}: $failures")
    else
        failed=$((failed + 1))
    fi
}

run_suite "$root/build"
if [ "${1:-}" != "--fast" ]; then
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_suite "$root/build-sanitize" -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debug
fi
# Fuzz: every libFuzzer target of tests/fuzz for a bounded time (clang, ASan
# + UBSan, its own build dir with only the fuzzers and their library).
# Inputs that crash are kept in tests/fuzz/regressions/TARGET/ (commit them
# with the fix; the normal build's fuzz-* tests replay them).
if [ "${1:-}" != "--fast" ]; then
    if command -v clang++ >/dev/null; then
        if FUZZ_BUILD_DIR="$root/build-fuzz" "$root/tests/fuzz/run.sh" all "${FUZZ_SECONDS:-10}"; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1)); failed_names+=("fuzz")
        fi
    else
        echo "fuzz: SKIP (clang++ not installed; .ci/packages lists it)"
        skipped=$((skipped + 1))
    fi
fi
for name in "${failed_names[@]}"; do echo "FAILED: $name"; done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
