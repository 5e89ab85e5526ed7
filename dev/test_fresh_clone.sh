#!/usr/bin/env bash
# A new user's first hour, as CI runs it: clone the committed repository into an empty temporary directory
# (no shared/ directory beside it, no out/, no data but what is committed), cut the network, and run README's Quick
# start there: `make train` (shortened to 20 steps) and `make test`, then check that a change of build
# configuration rebuilds the binary (`make USE_MPI=1` after `make`).
#
#   bash dev/test_fresh_clone.sh        (TEST_STRICT=1, as CI sets it, makes any SKIP in the clone a failure)
#
# The network is cut with a network namespace (unshare -rn, loopback only); where that is not possible the
# run says so with a SKIP line and goes on online.
set -u
cd "$(dirname "$0")/.."
source dev/testlib.sh
T=$(mktemp -d /tmp/gptc_fresh_XXXXXX)
trap 'rm -rf "$T"' EXIT
git clone -q "$PWD" "$T/gptc" || { fail "git clone of $PWD"; exit 1; }
[ ! -e "$T/shared" ] && pass "cloned $(git rev-parse --short HEAD) into $T/gptc with nothing beside it" || fail "$T/shared exists"

if unshare -rn true 2>/dev/null; then
    offline=(unshare -rn sh -c 'ip link set lo up 2>/dev/null; exec "$@"' sh)
    pass "network cut for the clone's commands (unshare -rn: loopback only)"
else
    offline=()
    skip "offline run" "unshare cannot create a network namespace here, so the clone's commands run online" "run as root or enable unprivileged user namespaces"
fi
in_clone() { (cd "$T/gptc" && "${offline[@]}" "$@"); }

# README's Quick start, literally (the training shortened to 20 steps)
in_clone make train TRAIN_FLAGS="-x 20" >"$T/train.log" 2>&1 && grep -q "step 20 | val loss" "$T/train.log" &&
    [ -f "$T/gptc/out/tinyshakespeare/ckpt_00000020.safetensors" ] &&
    pass "make train TRAIN_FLAGS=\"-x 20\": unpacks the data, trains 20 steps, writes out/tinyshakespeare/ckpt_00000020.safetensors" ||
    fail "make train in the fresh clone: $(tail -n 5 "$T/train.log")"
in_clone ./train_gpt sample -o out/tinyshakespeare --prompt "ROMEO:" -g 20 --seed 1 >"$T/sample.log" 2>&1 &&
    grep -q "generated 20 tokens" "$T/sample.log" && pass "the README's sample line runs on the fresh run" ||
    fail "sample in the fresh clone: $(tail -n 3 "$T/sample.log")"
in_clone make test >"$T/test.log" 2>&1
rc=$?
summary=$(grep '^make test:' "$T/test.log")
[ $rc -eq 0 ] && pass "make test in the fresh clone: ${summary#make test: }" ||
    fail "make test in the fresh clone (exit $rc): $(grep -E '^(FAIL|SKIP)' "$T/test.log" | head -n 5) $summary"
grep -E '^(FAIL|SKIP)' "$T/test.log"

# a change of build configuration rebuilds what it affects
if command -v mpicc >/dev/null; then
    in_clone make USE_MPI=1 train_gpt >"$T/mpi.log" 2>&1 && grep -q "mpicc" "$T/mpi.log" && ldd "$T/gptc/train_gpt" | grep -q libmpi &&
        pass "make USE_MPI=1 after make rebuilds train_gpt with MPI" || fail "make USE_MPI=1 after make: $(tail -n 3 "$T/mpi.log")"
    in_clone make train_gpt >"$T/plain.log" 2>&1 && ! ldd "$T/gptc/train_gpt" | grep -q libmpi &&
        pass "  ... and make after that rebuilds it without" || fail "make after make USE_MPI=1: $(tail -n 3 "$T/plain.log")"
else
    skip "USE_MPI rebuild" "MPI (mpicc) is missing" "apt-get install openmpi-bin libopenmpi-dev"
fi
git grep -n '\.\./shared' -- . ':!.ci/run' >"$T/shared.txt"
[ ! -s "$T/shared.txt" ] && pass "nothing in the repository reads the original spec's data beside the checkout (git grep, .ci/run aside)" ||
    fail "files that name the directory beside the checkout: $(head -n 5 "$T/shared.txt")"
exit $((fails > 0))
