#!/usr/bin/env bash
# Data-parallel training on the CPU under MPI (train_gpt_mpi = make USE_MPI=1's train_gpt), as CI runs it:
#   - 2 processes with micro-batch B give the losses of 1 process with micro-batch 2B on the same data,
#     for 10 steps, with AdamW and with Muon, with and without ZeRO-1 (-z 1), and with gradient
#     accumulation: within 1e-5 relative;
#   - a run saved by 2 processes resumes with 1 and with 2 and continues as the uninterrupted run;
#   - online with --carry (mha, gla, mosaic with pmem): 2 processes x B = 1 process x 2B in losses and in the checkpoint's
#     memory of all lanes; saved by 2, resumed by 2 (bit-identical) and by 1 x 2B; other lanes refused;
#   - a process that fails (a bad shard on one rank) stops every process with its message, no hang.
#
#   make test   (or: make train_gpt train_gpt_mpi prepare_data && bash dev/test_mpi.sh)
set -u
cd "$(dirname "$0")/.."
source dev/testlib.sh
if ! command -v mpirun >/dev/null || [ ! -x ./train_gpt_mpi ]; then
    skip mpi "the MPI tests need mpirun and train_gpt_mpi" "apt-get install openmpi-bin libopenmpi-dev; make train_gpt_mpi"
    exit 0
fi
W=$(mktemp -d /tmp/gptc_mpi_XXXXXX)
trap 'rm -rf "$W"' EXIT
export OMP_NUM_THREADS=1 # one thread per process: two processes fill the two cores
# under the sanitizers (make test SANITIZE=1), OpenMPI's own dlopened components leak at exit, unsymbolised, so
# LeakSanitizer cannot suppress them by name: leak checks run in the single-process tests of the same code
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
MPIRUN=(timeout 300 mpirun --oversubscribe --allow-run-as-root -np 2)
./prepare_data -o "$W/ts" "$DATA" >/dev/null
RUN=(-i "$W/ts_train.bin" -j "$W/ts_val.bin" --layers 2 --channels 64 --heads 4 -t 64 -v 5 -m 2 -l 3e-3 -u 2 -x 10 --keep-last 0)


for opt in adamw muon; do
    ./train_gpt "${RUN[@]}" --optimizer $opt -b 8 -o "$W/one.$opt" >/dev/null 2>&1 || fail "1 process $opt run failed"
    for z in 0 1; do
        out="$W/two.$opt.z$z"
        "${MPIRUN[@]}" ./train_gpt_mpi "${RUN[@]}" --optimizer $opt -b 4 -z $z -n 5 -o "$out" >"$out.log" 2>&1 || fail "2 processes $opt -z $z failed: $(tail -n 3 "$out.log")"
        d=$(loss_diff "$W/one.$opt/log.txt" "$out/log.txt")
        within "$d" 1e-5 && pass "$opt -z $z: 2 processes x B=4 = 1 process x B=8 over 10 steps (max rel diff $d)" ||
            fail "$opt -z $z: 2 processes x B=4 vs 1 x B=8: max rel diff $d"
    done
done
# with gradient accumulation: each process sums 2 micro-steps before the average
./train_gpt "${RUN[@]}" --optimizer muon -b 4 -d 512 -o "$W/one.accum" >/dev/null 2>&1 || fail "1 process with -d 512 failed"
"${MPIRUN[@]}" ./train_gpt_mpi "${RUN[@]}" --optimizer muon -b 2 -d 512 -z 1 -o "$W/two.accum" >"$W/two.accum.log" 2>&1 ||
    fail "2 processes with -d 512 failed: $(tail -n 3 "$W/two.accum.log")"
d=$(loss_diff "$W/one.accum/log.txt" "$W/two.accum/log.txt")
within "$d" 1e-5 && pass "muon -z 1, 2 micro-steps: 2 processes x B=2 = 1 process x B=4 (max rel diff $d)" ||
    fail "2 processes x B=2 vs 1 x B=4 with -d 512: max rel diff $d"
grep -q "batch: B=4 T=64 x 2 process(es), 512 tokens/step" "$W/two.muon.z1.log" && grep -q "2 process(es) x 1 CPU thread(s), ZeRO-1" "$W/two.muon.z1.log" &&
    pass "a 2-process ZeRO-1 run says so" || fail "run summary: $(grep batch: "$W/two.muon.z1.log")"

# saved by 2 processes with ZeRO-1 (the state gathered into one file), resumed by 1 and by 2
for resume in "1 8" "2 4"; do
    set -- $resume
    dir="$W/resume$1"
    mkdir -p "$dir"
    cp "$W/two.muon.z1/ckpt_00000005.safetensors" "$dir/"
    if [ "$1" = 1 ]; then ./train_gpt "${RUN[@]}" --optimizer muon -b "$2" -o "$dir" -y 1 >"$dir.log" 2>&1
    else "${MPIRUN[@]}" ./train_gpt_mpi "${RUN[@]}" --optimizer muon -b "$2" -z 1 -o "$dir" -y 1 >"$dir.log" 2>&1; fi
    d=$(loss_diff "$W/two.muon.z1/log.txt" "$dir/log.txt" 5)
    within "$d" 1e-5 && pass "saved by 2 ZeRO-1 processes at step 5, resumed by $1 process(es) with B=$2: steps 6-10 continue (max rel diff $d)" ||
        fail "resume by $1 process(es): max rel diff $d; $(tail -n 2 "$dir.log")"
done
python3 - "$W/two.muon.z1/ckpt_00000010.safetensors" "$W/two.muon.z0/ckpt_00000010.safetensors" <<'EOF' && pass "the ZeRO-1 checkpoint holds the whole optimizer state: the same tensors as without ZeRO" || fail "ZeRO-1 checkpoint tensors differ from -z 0's"
import json, struct, sys
def names(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return sorted(k for k in json.loads(f.read(n)) if k != "__metadata__")
sys.exit(0 if names(sys.argv[1]) == names(sys.argv[2]) else 1)
EOF

# --online 1 --carry K: each process keeps the memory of its own lanes; a checkpoint holds all P*B lanes
# (rank 0 gathers them), so it resumes on any P' x B' of the same lanes
memory_diff() { # the largest |difference| of two checkpoints' carry.memory over the first's largest |value|; "inf" if shaped apart
    python3 - "$1" "$2" <<'PY'
import array, json, struct, sys
def memory(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        t = json.loads(f.read(n))["carry.memory"]
        f.seek(8 + n + t["data_offsets"][0])
        return t["shape"], array.array("f", f.read(t["data_offsets"][1] - t["data_offsets"][0]))
(sa, a), (sb, b) = memory(sys.argv[1]), memory(sys.argv[2])
print(max(abs(x - y) for x, y in zip(a, b)) / max(abs(x) for x in a) if sa == sb else "inf")
PY
}
for variant in "mha" "gla --latent-groups 2" "mosaic --mlp pmem"; do
    name=carry-${variant%% *}
    CRUN=("${RUN[@]}" --attn $variant --online 1 --carry 96 -n 5)
    ./train_gpt "${CRUN[@]}" -b 8 -o "$W/one.$name" >/dev/null 2>&1 || fail "1 process $name run failed"
    "${MPIRUN[@]}" ./train_gpt_mpi "${CRUN[@]}" -b 4 -o "$W/two.$name" >"$W/two.$name.log" 2>&1 || fail "2 processes $name failed: $(tail -n 3 "$W/two.$name.log")"
    d=$(loss_diff "$W/one.$name/log.txt" "$W/two.$name/log.txt")
    m=$(memory_diff "$W/one.$name/ckpt_00000010.safetensors" "$W/two.$name/ckpt_00000010.safetensors")
    within "$d" 1e-5 && within "$m" 1e-5 && pass "--carry 96 ($variant): 2 processes x B=4 = 1 process x B=8 over 10 steps (max rel diff $d), and the checkpoint's memory of all 8 lanes ($m)" ||
        fail "--carry 96 ($variant): 2 processes x B=4 vs 1 x B=8: losses max rel diff $d, memory $m"
    # saved by 2 processes at step 5, resumed by 2 (the same arithmetic: bit-identical) and by 1 x B=8
    for resume in "2 4" "1 8"; do
        set -- $resume
        dir="$W/$name.resume$1"
        mkdir -p "$dir"
        cp "$W/two.$name/ckpt_00000005.safetensors" "$dir/"
        if [ "$1" = 1 ]; then ./train_gpt "${CRUN[@]}" -b "$2" -o "$dir" -y 1 >"$dir.log" 2>&1
        else "${MPIRUN[@]}" ./train_gpt_mpi "${CRUN[@]}" -b "$2" -o "$dir" -y 1 >"$dir.log" 2>&1; fi
        d=$(loss_diff "$W/two.$name/log.txt" "$dir/log.txt" 5)
        m=$(memory_diff "$W/two.$name/ckpt_00000010.safetensors" "$dir/ckpt_00000010.safetensors")
        if [ "$1" = 2 ]; then
            cmp -s "$W/two.$name/ckpt_00000010.safetensors" "$dir/ckpt_00000010.safetensors" && [ "$d" = 0.0 ] &&
                pass "--carry 96 ($variant): saved by 2 processes at step 5, resumed by 2: steps 6-10 and the final checkpoint are bit-identical" ||
                fail "--carry 96 ($variant) resumed by 2 processes: max rel diff $d, memory $m; $(tail -n 2 "$dir.log")"
        else
            within "$d" 1e-5 && within "$m" 1e-5 && pass "--carry 96 ($variant): saved by 2 processes x B=4 at step 5, resumed by 1 x B=8: steps 6-10 continue (max rel diff $d, memory $m)" ||
                fail "--carry 96 ($variant) resumed by 1 process: max rel diff $d, memory $m; $(tail -n 2 "$dir.log")"
        fi
    done
done
# another number of lanes would continue other streams: refused, with the -b that fits
for lanes in "1 4" "2 2"; do
    set -- $lanes
    cmd=(./train_gpt) && [ "$1" = 2 ] && cmd=("${MPIRUN[@]}" ./train_gpt_mpi)
    expect_error "--carry: resuming 8 lanes with $1 process(es) x B=$2" "hint: resume with -t 64 -d -1 and -b 8 / processes, so that the stream's lanes (and their --carry memory) continue exactly" \
        "${cmd[@]}" "${RUN[@]}" --online 1 --carry 96 -n 5 -b "$2" -o "$W/two.carry-mha" -y 1
done

# one rank meets a bad shard: every process stops, with the message, instead of hanging
python3 - "$W/bad.bin" <<'EOF'
import struct, sys
open(sys.argv[1], "wb").write(struct.pack("<256i", *([1234, 1, 100] + [0] * 253)) + b"\0" * 200)
EOF
start=$(date +%s)
out=$(timeout 120 mpirun --oversubscribe --allow-run-as-root -np 1 ./train_gpt_mpi "${RUN[@]}" -b 4 : \
    -np 1 ./train_gpt_mpi "${RUN[@]}" -b 4 -i "$W/bad.bin" 2>&1)
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "has magic 1234" <<<"$out"; then
    pass "a bad shard on rank 1 stops both processes in $(( $(date +%s) - start )) s (exit $rc): $(grep -m1 -o 'has magic.*' <<<"$out")"
else
    fail "bad shard on one rank: exit $rc (124 = hung until the timeout)"
fi

# the plain (non-MPI) build under mpirun would run 2 independent trainings into one -o: it refuses
expect_error "mpirun -np 2 of the non-MPI train_gpt" "rebuild with MPI: make USE_MPI=1" "${MPIRUN[@]}" ./train_gpt "${RUN[@]}" -b 4 -o "$W/plain"
[ ! -e "$W/plain/ckpt_00000010.safetensors" ] && pass "  ... and trains nothing" || fail "the non-MPI build trained under mpirun"

exit $((fails > 0))
