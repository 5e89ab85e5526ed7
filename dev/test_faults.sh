#!/usr/bin/env bash
# Faults a long run meets, each of which must leave the newest sound checkpoint intact (it loads, every
# value finite) and the run resumable to exactly the uninterrupted run's result:
#   - kill -9 while a checkpoint is being written, over and over, resuming each time;
#   - a write beyond the file-size limit (ulimit -f) and a full disk (a small tmpfs);
#   - two runs started on one directory;
#   - learning rates that are not finite, and resuming with other training shards than the run's;
#   - llm.c's outlier guard (-sl): skipped updates are logged, and a resume skips the same ones.
#
#   make test   (or: make train_gpt prepare_data && bash dev/test_faults.sh)
set -u
cd "$(dirname "$0")/.."
source dev/testlib.sh
W=$(mktemp -d /tmp/gptc_faults_XXXXXX)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$W"' EXIT
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
./prepare_data -o "$W/ts" "$DATA" >/dev/null
# a model whose checkpoint (about 11 MB with its optimizer state) takes long enough to write to be caught
RUN=(./train_gpt -i "$W/ts_train.bin" -j "$W/ts_val.bin" --layers 2 --channels 128 --heads 4 -b 2 -t 32 -v 0 -l 1e-3)

# sound DIR STEP: the newest checkpoint in DIR is STEP's, it loads (every value finite) and no partial file is left
sound() {
    local latest
    latest=$(ls "$1"/ckpt_*.safetensors 2>/dev/null | sort | tail -n 1)
    [ "$latest" = "$(printf '%s/ckpt_%08d.safetensors' "$1" "$2")" ] && ./train_gpt sample -e "$latest" -g 2 >/dev/null 2>&1 &&
        [ -z "$(ls "$1"/*.tmp 2>/dev/null)" ]
}

# the uninterrupted reference: 24 steps, a checkpoint every step
"${RUN[@]}" -x 24 -n 1 --keep-last 2 -o "$W/ref" >/dev/null 2>&1 || fail "the reference run failed"
REF="$W/ref/ckpt_00000024.safetensors"

echo "== kill -9 during checkpoint writes, then resume"
caught=0
for cycle in $(seq 1 8); do
    [ -e "$W/K/ckpt_00000024.safetensors" ] && break
    [ -d "$W/K" ] && resume=(-y 1) || resume=()
    "${RUN[@]}" -x 24 -n 1 --keep-last 2 -o "$W/K" "${resume[@]}" >>"$W/K.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 20000); do # kill it the moment a checkpoint is being written (its .tmp exists) beside a complete one
        if ls "$W"/K/ckpt_*.tmp >/dev/null 2>&1 && ls "$W"/K/ckpt_*.safetensors >/dev/null 2>&1; then
            kill -9 $pid 2>/dev/null && caught=$((caught + 1))
            break
        fi
        kill -0 $pid 2>/dev/null || break
        sleep 0.001
    done
    wait $pid 2>/dev/null
    latest=$(ls "$W"/K/ckpt_*.safetensors 2>/dev/null | sort | tail -n 1)
    [ -z "$latest" ] || ./train_gpt sample -e "$latest" -g 2 >/dev/null 2>&1 || fail "cycle $cycle: the newest checkpoint $latest does not load"
done
"${RUN[@]}" -x 24 -n 1 --keep-last 2 -o "$W/K" -y 1 >>"$W/K.log" 2>&1
dups=$(grep ' train_loss ' "$W/K/log.txt" | cut -d' ' -f2 | sort | uniq -d | wc -l)
if [ $caught -ge 3 ] && cmp -s "$W/K/ckpt_00000024.safetensors" "$REF" && [ "$dups" = 0 ] &&
    [ "$(grep -c ' train_loss ' "$W/K/log.txt")" = 24 ]; then
    pass "killed $caught times while writing a checkpoint: each time the newest checkpoint loaded, the resumed run's step-24 checkpoint is byte-identical to the uninterrupted run's, and log.txt holds each of the 24 steps once"
else
    fail "kill -9 cycles: $(tail -n 2 "$W/K.log"); caught $caught mid-write; final checkpoint $(cmp "$W/K/ckpt_00000024.safetensors" "$REF" 2>&1 | head -c 100); $dups duplicated step lines"
fi

echo "== a write beyond the file-size limit, and a full disk"
"${RUN[@]}" -x 4 -n 2 --keep-last 2 -o "$W/F" >/dev/null 2>&1
before=$(sha256sum "$W"/F/ckpt_*.safetensors)
size_kb=$(($(stat -c %s "$W/F/ckpt_00000004.safetensors") / 1024))
out=$(ulimit -f $((size_kb / 2)); "${RUN[@]}" -x 8 -n 2 --keep-last 2 -o "$W/F" -y 1 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -q "failed: File too large" <<<"$out" && [ "$before" = "$(sha256sum "$W"/F/ckpt_*.safetensors)" ] && sound "$W/F" 4; then
    pass "ulimit -f below a checkpoint's size: exit $rc with '$(grep -m1 -o "writing.*File too large" <<<"$out")', the checkpoints of steps 2 and 4 untouched"
else
    fail "file-size limit: exit $rc: $(tail -n 3 <<<"$out")"
fi
"${RUN[@]}" -x 24 -n 2 --keep-last 2 -o "$W/F" -y 1 >/dev/null 2>&1
cmp -s "$W/F/ckpt_00000024.safetensors" "$REF" && pass "  ... resumed with room again, step 24 is byte-identical to the uninterrupted run's" ||
    fail "resume after the file-size limit differs"
if unshare -rm true 2>/dev/null; then
    # a tmpfs with room for a checkpoint and a half: the second one (the first is kept until it is complete) does not fit
    mkdir -p "$W/tmpfs"
    cat >"$W/full.sh" <<EOF
mount -t tmpfs -o size=$((size_kb * 3 / 2))k tmpfs "$W/tmpfs" || exit 99
cd "$PWD"
${RUN[*]} -x 8 -n 2 --keep-last 1 -o "$W/tmpfs/run" >"$W/full.log" 2>&1
echo "rc=\$?" >>"$W/full.log"
ls "$W/tmpfs/run" >"$W/full.ls"
for f in "$W"/tmpfs/run/ckpt_*.safetensors; do ./train_gpt sample -e "\$f" -g 2 >/dev/null 2>&1 && echo "loads \$f" >>"$W/full.ls"; done
EOF
    unshare -rm bash "$W/full.sh"
    if grep -q "rc=1" "$W/full.log" && grep -q "No space left on device" "$W/full.log" && grep -q "^ckpt_00000002.safetensors$" "$W/full.ls" &&
        ! grep -q "tmp$" "$W/full.ls" && grep -q "loads .*ckpt_00000002" "$W/full.ls"; then
        pass "a full disk (a tmpfs of $((size_kb * 3 / 2)) KB): exit 1 with '$(grep -m1 -o "[a-z]*ing '[^']*' failed: No space left on device" "$W/full.log")', no partial file, step 2's checkpoint intact and loading"
    else
        fail "full disk: $(tail -n 3 "$W/full.log") | $(cat "$W/full.ls" 2>/dev/null)"
    fi
else
    skip "full disk" "unshare cannot make a mount namespace here to mount a small tmpfs" "run as root, or enable unprivileged user namespaces"
fi

echo "== two runs on one directory"
"${RUN[@]}" -x 100000 -n 50 -o "$W/two" >"$W/two.log" 2>&1 &
first=$!
for _ in $(seq 1 500); do [ -s "$W/two/.lock" ] && break; sleep 0.01; done
expect_error "a second run on a directory in use" "output directory '$W/two' is in use by another run (process $first holds $W/two/.lock)" \
    "${RUN[@]}" -x 10 -o "$W/two" -y 1
expect_error "  ... also a new run with another model" "is in use by another run (process $first" "${RUN[@]}" -x 10 --layers 1 -o "$W/two"
kill -0 $first 2>/dev/null && pass "  ... and the first run goes on" || fail "the first run stopped: $(tail -n 3 "$W/two.log")"
kill -9 $first 2>/dev/null
wait $first 2>/dev/null

echo "== learning rates that are not finite, and other shards on resume"
for flag in "-l inf" "-l nan" "--muon-lr inf --optimizer muon" "-l 1e30"; do
    expect_error "$flag" "is outside its range" "${RUN[@]}" -x 2 -o "$W/lr" $flag
done
[ ! -e "$W/lr" ] && pass "  ... and none of them created its -o" || fail "a refused run created $W/lr"
# the review's reproducer: a run on 9 shards resumed with 1 of them
head -c 200000 "$DATA" >"$W/small.txt"
./prepare_data --shard-tokens 20000 -o "$W/ms/p" "$W/small.txt" >/dev/null
M=(-j "$W/ms/p_val.bin" --layers 1 --channels 16 --heads 2 -t 16 -b 2 -m 1 --max-seq-len 32 -v 10000 --shuffle 0)
./train_gpt -i "$W/ms/p_train_*.bin" "${M[@]}" -x 700 -o "$W/ms/run" >/dev/null 2>&1
n_shards=$(ls "$W"/ms/p_train_*.bin | wc -l)
expect_error "resume with 1 of the run's $n_shards training shards" "the run was trained on $n_shards shards" \
    ./train_gpt -i "$W/ms/p_train_000000.bin" "${M[@]}" -x 705 -o "$W/ms/run" -y 1
./train_gpt -i "$W/ms/p_train_*.bin" "${M[@]}" -x 705 -o "$W/ms/run" -y 1 >/dev/null 2>&1 && pass "  ... and with its own shards it resumes" ||
    fail "resume with the run's own shards"

echo "== the outlier guard (-sl, -sg)"
G=("${RUN[@]}" --layers 1 --channels 32 -k constant -sl 1 -sg 1 --keep-last 0)
"${G[@]}" -x 200 -o "$W/guard" >"$W/guard.log" 2>&1
skips=$(grep -c ' skipped .* z-score' "$W/guard/log.txt")
late=$(awk '$3 == "skipped" && $2 > 150' "$W/guard/log.txt" | wc -l) # skips after the resume need the saved windows
"${G[@]}" -x 150 -o "$W/guard2" >/dev/null 2>&1 && "${G[@]}" -x 200 -o "$W/guard2" -y 1 >/dev/null 2>&1
steps_logged() { grep -v val_loss "$1" | cut -d' ' -f1-8; } # the steps, without timings
if [ "$late" -gt 0 ] && grep -q "update skipped: .* z-score" "$W/guard.log" &&
    [ "$(steps_logged "$W/guard/log.txt")" = "$(steps_logged "$W/guard2/log.txt")" ]; then
    pass "-sl 1 -sg 1 skip $skips updates whose loss or gradient norm is an outlier over the last 128 steps, printed and logged; stopped at 150 and resumed, the run makes the same $late skips after 150 (the windows are in the checkpoint)"
else
    fail "outlier guard: $skips skips, $late after step 150; $(diff <(steps_logged "$W/guard/log.txt") <(steps_logged "$W/guard2/log.txt") | head -n 4)"
fi
exit $((fails > 0))
