#!/usr/bin/env bash
# The CPU test suite, as `make test` runs it (after building): each suite prints one line per check,
#   ok   <what>                                   a check that passed
#   FAIL <what>                                   a check that failed
#   SKIP <part>: <reason>; install: <command>     an optional part that is missing, so its checks did not run
# and this script counts them over all suites and ends with one summary line. A suite that exits non-zero
# without printing a FAIL line (a crash) counts as one failure. Exit status: 1 on any failure; with
# TEST_STRICT=1 (CI) also on any SKIP, so that a run cannot pass by skipping.
#
#   make test                         (HAVE_PCRE2 and HAVE_MPI come from the build)
#   TEST_STRICT=1 make test           fail when anything was skipped
#   TESTS="cli mpi" make test         run only these suites (the names below: gradcheck unit cli faults
#                                     tokenizer tokenizer-cli mpi rendezvous compare gpu_check fuzz)
set -u
cd "$(dirname "$0")/.."
passed=0 failed=0 skipped=0
log=$(mktemp /tmp/gptc_tests_XXXXXX)
trap 'rm -f "$log"' EXIT

selected() { [ -z "${TESTS:-}" ] || [[ " $TESTS " == *" $1 "* ]]; }

# suite NAME CMD...: runs CMD, showing its output, and counts its result lines
suite() {
    local name=$1
    shift
    selected "$name" || return 0
    echo "== $name: $*"
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    local ok fails skips
    ok=$(grep -c '^ok ' "$log")
    fails=$(grep -c '^FAIL' "$log")
    skips=$(grep -c '^SKIP ' "$log")
    if [ "$rc" -ne 0 ] && [ "$fails" -eq 0 ]; then
        echo "FAIL $name exited with status $rc before reporting a failure (see its output above)"
        fails=1
    fi
    passed=$((passed + ok)) failed=$((failed + fails)) skipped=$((skipped + skips))
}

# skip NAME REASON INSTALL: a whole suite left out
skip() {
    selected "$1" || return 0
    echo "SKIP $1: $2; install: $3"
    skipped=$((skipped + 1))
}

t0=$(date +%s)
suite gradcheck env OMP_NUM_THREADS=1 ./dev/test_gradcheck # its thousands of tiny products gain nothing from threads
suite unit ./dev/test_gpt
suite cli bash dev/test_cli.sh
suite faults bash dev/test_faults.sh
if [ "${HAVE_PCRE2:-}" = 1 ]; then
    suite tokenizer ./dev/test_tokenizer
    suite tokenizer-cli bash dev/test_tokenizer.sh
else
    skip tokenizer "the GPT-2 tokenizer's tests need PCRE2 (this build has none)" "apt-get install libpcre2-dev, then make test"
fi
if [ "${HAVE_MPI:-}" = 1 ]; then
    suite mpi bash dev/test_mpi.sh
else
    skip mpi "the multi-process tests need MPI (mpicc, mpirun)" "apt-get install openmpi-bin libopenmpi-dev"
fi
suite rendezvous ./dev/test_rendezvous
suite compare ./dev/test_compare
suite gpu_check bash dev/test_gpu_check.sh
# the fuzz targets' regression inputs (each a past finding) under their sanitizers; campaigns: make fuzz
if [ "${HAVE_PCRE2:-}" = 1 ] && make -s -C dev/fuzz check-compiler >/dev/null 2>&1; then
    suite fuzz make -s -C dev/fuzz regress
else
    skip fuzz "the fuzz targets need clang with libFuzzer, and PCRE2" "apt-get install clang libclang-rt-dev libpcre2-dev"
fi

echo
summary="make test: $passed passed, $failed failed, $skipped skipped in $(($(date +%s) - t0)) s"
if [ "$failed" -gt 0 ]; then
    echo "$summary: FAILED (the FAIL lines above say what)"
    exit 1
fi
if [ "$skipped" -gt 0 ] && [ "${TEST_STRICT:-0}" = 1 ]; then
    echo "$summary: FAILED under TEST_STRICT=1, which allows no SKIP (the SKIP lines above say what to install)"
    exit 1
fi
[ "$skipped" -gt 0 ] && summary="$summary (the SKIP lines above say what to install)"
echo "$summary"
