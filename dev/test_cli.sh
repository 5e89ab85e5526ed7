#!/usr/bin/env bash
# End-to-end tests of the programs as a user runs them: data preparation, a short training run that
# must learn, bit-exact stop-and-resume, sampling, and bad input (corrupt files, wrong flags, NaN, a
# process killed while writing a checkpoint: dev/test_faults.sh), each of which must fail with a clear message.
#
#   make test                    (builds first; or: bash dev/test_cli.sh after make)
#   TINYSHAKESPEARE=path GPT2_VOCAB=dir bash dev/test_cli.sh   to use other copies of the data (default: make data's)
set -u
cd "$(dirname "$0")/.."
W=$(mktemp -d /tmp/gptc_cli_XXXXXX)
trap 'rm -rf "$W"' EXIT
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
source dev/testlib.sh

# write_shard PATH MAGIC VERSION NTOK_IN_HEADER NTOK_WRITTEN [TOKEN]
write_shard() {
    python3 - "$@" <<'EOF'
import struct, sys
path, magic, version, n_header, n_written = sys.argv[1], *map(int, sys.argv[2:6])
token = int(sys.argv[6]) if len(sys.argv) > 6 else 65
header = [0] * 256
header[0], header[1], header[2] = magic, version, n_header
with open(path, "wb") as f:
    f.write(struct.pack("<256i", *header))
    f.write(struct.pack("<%dH" % n_written, *([token] * n_written)))
EOF
}

# ---------------------------------------------------------------------------
echo "== data preparation"
./prepare_data -o "$W/ts/ts" "$DATA" >"$W/prep.log" 2>&1 || fail "prepare_data failed: $(cat "$W/prep.log")"
TR="$W/ts/ts_train.bin"
VA="$W/ts/ts_val.bin"
n_total=$(( $(stat -c %s "$DATA") + 1 ))
n_train=$(( ($(stat -c %s "$TR") - 1024) / 2 ))
n_val=$(( ($(stat -c %s "$VA") - 1024) / 2 ))
if [ $((n_train + n_val)) -eq $n_total ] && [ "$n_val" -eq $((n_total / 10)) ]; then
    pass "prepare_data: $n_train train + $n_val val tokens = file bytes + 1 end-of-text; val is the last 10%"
else
    fail "prepare_data: token counts $n_train + $n_val, expected $n_total in all"
fi
# several files and several shards; the loader reads them through one glob
head -c 300000 "$DATA" >"$W/a.txt"
tail -c 200000 "$DATA" >"$W/b.txt"
./prepare_data -o "$W/multi/m" --shard-tokens 100000 --val-tokens 50000 "$W/a.txt" "$W/b.txt" >"$W/prep2.log" 2>&1
n_shards=$(ls "$W"/multi/m_train_*.bin 2>/dev/null | wc -l)
if [ "$n_shards" -eq 5 ] && [ -f "$W/multi/m_val.bin" ]; then
    pass "prepare_data: 2 files, 450,002 train tokens in 5 shards of <= 100,000, one val shard"
else
    fail "prepare_data: expected 5 train shards and m_val.bin, got $n_shards: $(ls "$W/multi")"
fi

# the download script: checksum verified, a wrong file refused, offline explains how to supply the file
TINYSHAKESPEARE_URL="file://$(realpath "$DATA")" bash data/get_tinyshakespeare.sh "$W/dl/input.txt" >/dev/null 2>&1 &&
    cmp -s "$W/dl/input.txt" "$DATA" && pass "get_tinyshakespeare.sh: fetches the file and verifies its sha256" ||
    fail "get_tinyshakespeare.sh could not fetch from a file:// mirror"
head -c 1000 "$DATA" >"$W/dl/wrong.txt"
expect_error "download with the wrong checksum" "expected 86c4e6aa" env TINYSHAKESPEARE_URL="file://$W/dl/wrong.txt" bash data/get_tinyshakespeare.sh "$W/dl/x.txt"
[ ! -e "$W/dl/x.txt" ] && [ ! -e "$W/dl/x.txt.part" ] && pass "a download that fails its checksum leaves no file" || fail "bad download kept"
expect_error "download while offline" "make train DATA=/path/to/input.txt" env TINYSHAKESPEARE_URL="file:///nonexistent/input.txt" bash data/get_tinyshakespeare.sh "$W/dl/y.txt"

SMALL=(--layers 2 --channels 64 --heads 4 -b 8 -t 64)

# ---------------------------------------------------------------------------
echo "== a short training run learns"
./train_gpt -i "$TR" -j "$VA" "${SMALL[@]}" -x 300 -l 3e-3 -u 30 -v 300 -m 40 -o "$W/learn" >"$W/learn.log" 2>&1 ||
    fail "training run failed: $(tail -n 5 "$W/learn.log")"
val=$(awk '/val_loss/ {v = $4} END {print v}' "$W/learn/log.txt")
unigram=$(python3 - "$TR" "$VA" <<'EOF'
import array, collections, math, sys
def tokens(path):
    a = array.array("H"); a.frombytes(open(path, "rb").read()[1024:]); return a
train, val = tokens(sys.argv[1]), tokens(sys.argv[2])
counts, n = collections.Counter(train), len(train)
# the best context-free model of the validation bytes: training frequencies, add-one smoothed
print(-sum(math.log((counts[t] + 1) / (n + 257)) for t in val) / len(val))
EOF
)
if python3 -c "import sys; v, u = float('$val'), float('$unigram'); sys.exit(0 if v < u - 0.5 and v < 5.545 - 2 else 1)"; then
    pass "300 steps: val loss $val, below ln(256) = 5.545 and the unigram baseline $unigram by more than 0.5"
else
    fail "300 steps: val loss $val, unigram baseline $unigram, ln(256) 5.545"
fi
grep -q "tok/s" "$W/learn.log" && grep -q "GFLOP/s" "$W/learn.log" && grep -q "norm" "$W/learn.log" &&
    grep -q "KV cache: 128 elements per token per layer, 1024 bytes per token over 2 layers" "$W/learn.log" &&
    pass "step lines print loss, norm, lr, ms, tok/s, GFLOP/s; the run prints KV bytes per token" ||
    fail "step line or KV-cache line missing: $(grep -m2 step "$W/learn.log")"

# ---------------------------------------------------------------------------
echo "== stop and resume is bit-identical"
# shuffled multi-shard data, gradient accumulation (2 micro-batches per step), checkpoints every 10 steps
RUN=(./train_gpt -i "$W/multi/m_train_*.bin" -j "$W/multi/m_val.bin" "${SMALL[@]}" -d 1024 -x 20 -n 10 -v 10 -l 2e-3 -u 5 --keep-last 0)
"${RUN[@]}" -o "$W/A" >"$W/A.log" 2>&1 || fail "uninterrupted run failed: $(tail -n 3 "$W/A.log")"
mkdir -p "$W/B"
cp "$W/A/ckpt_00000010.safetensors" "$W/B/"
"${RUN[@]}" -o "$W/B" -y 1 >"$W/B.log" 2>&1 || fail "resumed run failed: $(tail -n 3 "$W/B.log")"
# the step lines without their timing (the last two fields)
grep -E '^step (1[1-9]|20) train_loss' "$W/A/log.txt" | cut -d' ' -f1-8 >"$W/A.losses"
grep -E '^step (1[1-9]|20) train_loss' "$W/B/log.txt" | cut -d' ' -f1-8 >"$W/B.losses"
if [ "$(wc -l <"$W/A.losses")" -eq 10 ] && cmp -s "$W/A.losses" "$W/B.losses" &&
    cmp -s "$W/A/ckpt_00000020.safetensors" "$W/B/ckpt_00000020.safetensors"; then
    pass "resumed at step 10: steps 11-20 print the same losses, lr and norms to 9 digits, step-20 checkpoints byte-identical"
else
    fail "resume differs: $(diff "$W/A.losses" "$W/B.losses" | head -n 4)"
fi
grep -q "resuming from $W/B/ckpt_00000010.safetensors at step 10" "$W/B.log" &&
    pass "resume reports the checkpoint and step it continues from" || fail "resume message missing"

# ---------------------------------------------------------------------------
echo "== attention variants: resume, sample, parameter matching"
for variant in "gta --kv-heads 2" "mla" "gla --latent-groups 2 --q-rank 0" "mosaic" "mosaic --mlp pmem --pmem-count 2 --optimizer muon"; do
    name=${variant%% *}
    [[ $variant == *pmem* ]] && name+=-pmem
    VRUN=(./train_gpt -i "$W/multi/m_train_*.bin" -j "$W/multi/m_val.bin" --attn $variant --match-params 1 "${SMALL[@]}" -x 6 -n 3 -v 3 -m 2 --keep-last 0)
    "${VRUN[@]}" -o "$W/$name.A" >"$W/$name.A.log" 2>&1 || fail "$name run failed: $(tail -n 3 "$W/$name.A.log")"
    mkdir -p "$W/$name.B"
    cp "$W/$name.A/ckpt_00000003.safetensors" "$W/$name.B/"
    "${VRUN[@]}" -o "$W/$name.B" -y 1 >"$W/$name.B.log" 2>&1
    if cmp -s "$W/$name.A/ckpt_00000006.safetensors" "$W/$name.B/ckpt_00000006.safetensors" &&
        [ "$(grep -E '^step [4-6] ' "$W/$name.A/log.txt" | cut -d' ' -f1-8)" = "$(grep -E '^step [4-6] ' "$W/$name.B/log.txt" | cut -d' ' -f1-8)" ]; then
        pass "$name: stopped at step 3 and resumed, steps 4-6 and the final checkpoint are bit-identical"
    else
        fail "$name: resume differs"
    fi
    grep -qE -- "--match-params: (MLP width F|persistent memory rows P) = " "$W/$name.A.log" &&
        pass "$name: --match-params reports the MLP width (or memory rows) it chose" || fail "$name: no --match-params line"
    kv=$(grep -o 'KV cache: [0-9]* elements per token per layer, [0-9]* bytes per token' "$W/$name.A.log")
    ./train_gpt sample -e "$W/$name.A/ckpt_00000006.safetensors" --prompt "ROMEO:" -g 20 >"$W/$name.sample" 2>&1 &&
        grep -q "generated 20 tokens" "$W/$name.sample" && grep -q "$(sed 's/.* \([0-9]*\) bytes per token/KV cache \1 bytes\/token/' <<<"$kv")" "$W/$name.sample" &&
        pass "$name: sample decodes from the checkpoint ($kv)" || fail "$name: sample failed: $(tail -n 3 "$W/$name.sample")"
done
expect_error "a checkpoint of one variant with flags of another" "--attn gla disagrees with" \
    ./train_gpt -e "$W/mla.A/ckpt_00000006.safetensors" --attn gla -i "$TR" -j "$VA"
expect_error "resuming a variant with another's size flags" "--rope-dim 4 disagrees with" \
    ./train_gpt -i "$W/multi/m_train_*.bin" -j "$W/multi/m_val.bin" --attn mla "${SMALL[@]}" -o "$W/mla.A" -y 1 --rope-dim 4
expect_error "resuming the persistent memory with another count" "--pmem-count 3 disagrees with" \
    ./train_gpt -i "$W/multi/m_train_*.bin" -j "$W/multi/m_val.bin" --attn mosaic --mlp pmem "${SMALL[@]}" -o "$W/mosaic-pmem.A" -y 1 --pmem-count 3
grep -q "optimizer groups: muon .* qkvw \[64x64 | 64x64\] attprojw \[64x64\] pmem_kw \[64x64\] pmem_projw \[64x64\]" "$W/mosaic-pmem.A.log" &&
    grep -q "adamw (lr [0-9.e-]*): .*ctx_beta ctx_kscale ctx_vcoef ctx_vscale .*pmem_beta pmem_kscale pmem_k pmem_v pmem_oscale" "$W/mosaic-pmem.A.log" &&
    pass "mosaic-pmem: W_k, W_v and the projections go to Muon, the scalars and the memories to AdamW" ||
    fail "mosaic-pmem groups: $(grep -A1 'optimizer groups' "$W/mosaic-pmem.A.log")"

# ---------------------------------------------------------------------------
echo "== Muon"
MRUN=(./train_gpt -i "$W/multi/m_train_*.bin" -j "$W/multi/m_val.bin" "${SMALL[@]}" --optimizer muon --muon-momentum-warmup 4
    -d 1024 -x 8 -n 4 -v 4 -m 2 --keep-last 0)
"${MRUN[@]}" -o "$W/M.A" >"$W/M.A.log" 2>&1 || fail "Muon run failed: $(tail -n 3 "$W/M.A.log")"
mkdir -p "$W/M.B"
cp "$W/M.A/ckpt_00000004.safetensors" "$W/M.B/"
"${MRUN[@]}" -o "$W/M.B" -y 1 >"$W/M.B.log" 2>&1
if cmp -s "$W/M.A/ckpt_00000008.safetensors" "$W/M.B/ckpt_00000008.safetensors" &&
    [ "$(grep -E '^step [5-8] ' "$W/M.A/log.txt" | cut -d' ' -f1-8)" = "$(grep -E '^step [5-8] ' "$W/M.B/log.txt" | cut -d' ' -f1-8)" ]; then
    pass "Muon (momentum warmup, gradient accumulation): resumed at step 4, steps 5-8 and the final checkpoint are bit-identical"
else
    fail "Muon resume differs"
fi
grep -q "optimizer groups: muon .* qkvw \[64x64 | 64x64 | 64x64\] attprojw \[64x64\] fcw \[256x64\] fcprojw \[64x256\]" "$W/M.A.log" &&
    grep -q "adamw (lr 0.001): wte ln1w ln1b qkvb attprojb ln2w ln2b fcb fcprojb lnfw lnfb" "$W/M.A.log" &&
    pass "Muon run lists its groups: q/k/v blocks and the hidden matrices to Muon, the rest to AdamW" ||
    fail "group listing: $(grep -A1 'optimizer groups' "$W/M.A.log")"
expect_error "resume with another optimizer" "--reset-optimizer 1" "${MRUN[@]}" -o "$W/M.A" -y 1 -x 10 --optimizer adamw
cp -r "$W/M.A" "$W/M.C"
"${MRUN[@]}" -o "$W/M.C" -y 1 -x 10 --optimizer adamw --reset-optimizer 1 >"$W/M.C.log" 2>&1 &&
    grep -q "starts afresh" "$W/M.C.log" && [ -f "$W/M.C/ckpt_00000010.safetensors" ] &&
    pass "--reset-optimizer 1 switches a Muon run to AdamW with a fresh optimizer state" || fail "reset: $(tail -n 3 "$W/M.C.log")"

# ---------------------------------------------------------------------------
echo "== online (prequential) training"
# same_tensors A B: the two checkpoints hold the same tensors, byte for byte (their metadata may differ)
same_tensors() {
    python3 - "$1" "$2" <<'PY'
import json, struct, sys
def tensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    return {k: raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in header.items() if k != "__metadata__"}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
sys.exit(0 if a and a == b else 1)
PY
}
# one lane, --carry 0: the same run as offline training on the unshuffled loader
ORUN=(./train_gpt -i "$TR" -j "$VA" "${SMALL[@]}" -b 1 -x 6 -v 6 --keep-last 0)
"${ORUN[@]}" --online 1 -o "$W/on1" >"$W/on1.log" 2>&1 || fail "online run failed: $(tail -n 3 "$W/on1.log")"
"${ORUN[@]}" --shuffle 0 -o "$W/off1" >"$W/off1.log" 2>&1 || fail "unshuffled run failed: $(tail -n 3 "$W/off1.log")"
if [ "$(grep -E '^step [1-6] train_loss' "$W/on1/log.txt" | cut -d' ' -f1-8)" = "$(grep -E '^step [1-6] train_loss' "$W/off1/log.txt" | cut -d' ' -f1-8)" ] &&
    [ "$(grep -c '^step [1-6] train_loss' "$W/on1/log.txt")" -eq 6 ] &&
    same_tensors "$W/on1/ckpt_00000006.safetensors" "$W/off1/ckpt_00000006.safetensors"; then
    pass "--online 1 with one lane: the losses, lr, norms and final weights of --shuffle 0 training"
else
    fail "one-lane online differs from unshuffled training: $(diff <(grep train_loss "$W/on1/log.txt" | cut -d' ' -f1-8) <(grep train_loss "$W/off1/log.txt" | cut -d' ' -f1-8) | head -n 4)"
fi
# the tally: 6 steps x 64 tokens, every one a byte of text (the stream's one end-of-text is its first input, never a target)
python3 - "$W/on1/log.txt" <<'PY' && pass "the log's running mean and the final code length are the steps' losses summed (384 tokens = 384 bytes)" || fail "online tally: $(tail -n 2 "$W/on1/log.txt")"
import math, sys
lines = open(sys.argv[1]).read().splitlines()
steps = [l.split() for l in lines if " train_loss " in l]
losses = [float(f[3]) for f in steps]
for i, f in enumerate(steps):
    mean = sum(losses[:i + 1]) / (i + 1)
    assert abs(float(f[f.index("stream_loss") + 1]) - mean) <= 1e-6 * mean, (f, mean)
    assert abs(float(f[f.index("stream_bpb") + 1]) - mean / math.log(2)) <= 1e-6 * mean, f
last = [l.split() for l in lines if l.startswith("stream code_length_bits")][-1]
assert last[3:] == ["tokens", "384", "bytes", "384"], last
assert abs(float(last[2]) - 64 * sum(losses) / math.log(2)) <= 1e-6 * float(last[2]), (last, sum(losses))
PY
# eight lanes, some crossing shard boundaries: each logged loss is a plain evaluation (--dump-step, from the
# previous step's checkpoint) of its batch
PRUN=(./train_gpt -i "$W/multi/m_train_*.bin" -j "$W/multi/m_val.bin" "${SMALL[@]}" --online 1 -v 0 --keep-last 0)
"${PRUN[@]}" -x 4 -n 1 -o "$W/onP" >"$W/onP.log" 2>&1 || fail "online run failed: $(tail -n 3 "$W/onP.log")"
for s in 1 3; do
    mkdir -p "$W/onD$s"
    cp "$W/onP/ckpt_0000000$s.safetensors" "$W/onD$s/"
    "${PRUN[@]}" -x 4 -o "$W/onD$s" -y 1 --dump-step "$W/onD$s/dump.st" >"$W/onD$s.log" 2>&1
    dumped=$(sed -n 's/^wrote .*: loss \([^,]*\), logits.*/\1/p' "$W/onD$s.log")
    logged=$(awk -v s=$((s + 1)) '$1 == "step" && $2 == s && $3 == "train_loss" {print $4}' "$W/onP/log.txt")
    if [ -n "$dumped" ] && [ "$dumped" = "$logged" ]; then
        pass "online step $((s + 1))'s logged loss $logged = a plain evaluation of its batch with step $s's weights"
    else
        fail "online step $((s + 1)): logged loss '$logged', evaluation with step $s's weights '$dumped': $(tail -n 2 "$W/onD$s.log")"
    fi
done
# stop and resume (with gradient accumulation) continues the stream and its tally exactly
ARUN=("${PRUN[@]}" -d 1024 -x 6 -n 3)
"${ARUN[@]}" -o "$W/onA" >"$W/onA.log" 2>&1 || fail "online run failed: $(tail -n 3 "$W/onA.log")"
mkdir -p "$W/onB"
cp "$W/onA/ckpt_00000003.safetensors" "$W/onB/"
"${ARUN[@]}" -o "$W/onB" -y 1 >"$W/onB.log" 2>&1 || fail "resumed online run failed: $(tail -n 3 "$W/onB.log")"
steps_of() { awk '$3 == "train_loss" && $2 > 3 {print $1, $2, $3, $4, $5, $6, $7, $8, $13, $14, $15, $16}' "$1"; }
if cmp -s "$W/onA/ckpt_00000006.safetensors" "$W/onB/ckpt_00000006.safetensors" && [ "$(steps_of "$W/onA/log.txt" | wc -l)" -eq 3 ] &&
    [ "$(steps_of "$W/onA/log.txt")" = "$(steps_of "$W/onB/log.txt")" ] &&
    [ "$(grep '^stream code_length_bits' "$W/onA/log.txt")" = "$(grep '^stream code_length_bits' "$W/onB/log.txt")" ]; then
    pass "online: resumed at step 3, steps 4-6 (losses and running means), the code length and the final checkpoint are bit-identical"
else
    fail "online resume differs: $(diff <(steps_of "$W/onA/log.txt") <(steps_of "$W/onB/log.txt") | head -n 4)"
fi
grep -q "online: the stream's code length under the learner is [0-9.]* bits for 6144 tokens (6144 bytes)" "$W/onA.log" &&
    pass "the run ends printing the stream's code length in bits" || fail "no code length line: $(tail -n 2 "$W/onA.log")"
expect_error "online with shuffling" "--online 1 reads the stream once, in order; it cannot be combined with --shuffle 1" "${ORUN[@]}" --online 1 --shuffle 1
expect_error "resume an online run offline" "pass --online 1 to continue the stream" "${ARUN[@]/--online/--shuffle}" -o "$W/onA" -y 1
expect_error "resume an offline run online" "drop --online 1" "${PRUN[@]}" -d 1024 -x 20 -n 10 -o "$W/A" -y 1
expect_error "more steps than the stream holds" "--online 1: the stream holds 878 steps of 512 tokens, -x is 900" "${PRUN[@]}" -x 900
# --carry: a memory of each lane's past; stop and resume restores it (and the tally) exactly
for variant in "mha" "gta --kv-heads 2" "gla --latent-groups 2" "mosaic --mlp pmem"; do
    name=carry-${variant%% *}
    CRUN=("${PRUN[@]}" --attn $variant --carry 96 -d 1024 -x 6 -n 3)
    "${CRUN[@]}" -o "$W/$name.A" >"$W/$name.A.log" 2>&1 || fail "$name run failed: $(tail -n 3 "$W/$name.A.log")"
    mkdir -p "$W/$name.B"
    cp "$W/$name.A/ckpt_00000003.safetensors" "$W/$name.B/"
    "${CRUN[@]}" -o "$W/$name.B" -y 1 >"$W/$name.B.log" 2>&1 || fail "$name resume failed: $(tail -n 3 "$W/$name.B.log")"
    if cmp -s "$W/$name.A/ckpt_00000006.safetensors" "$W/$name.B/ckpt_00000006.safetensors" && [ "$(steps_of "$W/$name.A/log.txt" | wc -l)" -eq 3 ] &&
        [ "$(steps_of "$W/$name.A/log.txt")" = "$(steps_of "$W/$name.B/log.txt")" ]; then
        pass "--carry 96 ($variant): resumed at step 3 with its memory, steps 4-6 and the final checkpoint are bit-identical"
    else
        fail "$name: resume differs: $(diff <(steps_of "$W/$name.A/log.txt") <(steps_of "$W/$name.B/log.txt") | head -n 4)"
    fi
done
# the memory changes what the model sees: step 1 (an empty memory) scores as without one, step 2 differently
"${PRUN[@]}" --carry 96 -x 2 -o "$W/carryP" >"$W/carryP.log" 2>&1 || fail "carry run failed: $(tail -n 3 "$W/carryP.log")"
loss_at() { awk -v s=$2 '$2 == s && $3 == "train_loss" {print $4}' "$1"; }
[ -n "$(loss_at "$W/carryP/log.txt" 1)" ] && [ "$(loss_at "$W/carryP/log.txt" 1)" = "$(loss_at "$W/onP/log.txt" 1)" ] &&
    [ "$(loss_at "$W/carryP/log.txt" 2)" != "$(loss_at "$W/onP/log.txt" 2)" ] &&
    pass "--carry 96: step 1 (an empty memory) scores as --carry 0, step 2 (step 1's segment as memory) differently" ||
    fail "--carry makes no difference, or changes the first step: $(grep train_loss "$W/carryP/log.txt" | cut -d' ' -f1-4)"
expect_error "--carry without --online" "--carry 64 carries a lane's past into its next segment, which needs --online 1" ./train_gpt --carry 64
expect_error "--carry beyond the positions" "--carry 1000 + -t 64 = 1064 positions exceed the model's maximum sequence length 1024" "${PRUN[@]}" --carry 1000 -x 2
expect_error "resume with another --carry" "resume with --carry 96" "${PRUN[@]}" --carry 32 -d 1024 -x 6 -n 3 -o "$W/carry-mha.A" -y 1
write_shard "$W/tiny_stream.bin" 20240520 1 100 100
expect_error "a stream shorter than one segment per lane" "the stream of 100 tokens in the shards matching '$W/tiny_stream.bin' is shorter than one segment of T per lane, 2 lane(s) x 64 + 1 tokens" \
    "${ORUN[@]}" --online 1 -b 2 -i "$W/tiny_stream.bin"

# ---------------------------------------------------------------------------
echo "== runs.py: the comparison scripts' CSV, tables and plot, from the runs above"
for run in A M.A gta.A mla.A gla.A mosaic.A mosaic-pmem.A; do cp "$W/$run.log" "$W/$run/train.log"; done
python3 scripts/runs.py csv "$W/runs.csv" "$W/A" "$W/M.A" >/dev/null &&
    python3 - "$W/runs.csv" <<'PY' && pass "runs.py csv: every step of both runs at 1024 tokens/step, val losses where evaluated" || fail "runs.py csv: $(head -n 3 "$W/runs.csv")"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert {r["run"] for r in rows} == {"A", "M.A"}, rows[:2]
assert all(int(r["tokens"]) == 1024 * int(r["step"]) for r in rows)
assert {int(r["step"]) for r in rows if r["run"] == "M.A" and r["val_loss"]} == {0, 4, 8}
PY
rm -rf "$W/gta.A_s2" && cp -r "$W/gta.A" "$W/gta.A_s2" # the same variant with "another seed"
python3 scripts/runs.py attention-table "$W/attn.md" "$W/gta.A" "$W/mla.A" "$W/gla.A" "$W/mosaic.A" "$W/mosaic-pmem.A" "$W/gta.A_s2" >/dev/null
for name in gta mla gla mosaic mosaic-pmem; do
    params=$(sed -n 's/^parameters: \([0-9]*\) total/\1/p' "$W/$name.A.log" | python3 -c "print(f'{int(input()):,}')")
    kv=$(sed -n 's/^KV cache: \([0-9]*\) elements.*/\1/p' "$W/$name.A.log")
    width='F=[0-9]*' && [ $name = mosaic-pmem ] && width="P=$(sed -n 's/^model: .*persistent memory [0-9]* x \([0-9]*\) rows.*/\1/p' "$W/$name.A.log")"
    grep -q "^| $name.A | $params | $width | $kv | " "$W/attn.md" && pass "runs.py attention-table: $name's parameters ($params), $width and KV elements ($kv)" ||
        fail "runs.py attention-table: $name: $(cat "$W/attn.md")"
done
python3 - "$W/attn.md" <<'PY' && pass "runs.py attention-table: one row per variant with each seed's final loss; every variant's time to the common val loss" || fail "runs.py attention-table seeds: $(cat "$W/attn.md")"
import sys
rows = [[c.strip() for c in line.split("|")[1:-1]] for line in open(sys.argv[1]) if line.startswith("| ") and "---" not in line][1:]
assert [r[0] for r in rows] == ["gta.A", "mla.A", "gla.A", "mosaic.A", "mosaic-pmem.A"], rows
seeds = rows[0][5].split(", ")
assert len(seeds) == 2 and seeds[0] == seeds[1], rows[0]
assert all(float(r[6].replace(",", "")) >= 0 for r in rows), rows  # n/a fails
PY
python3 scripts/runs.py muon-table "$W/muon.md" "$W/A" -- "$W/M.A" >/dev/null && grep -q "^- best AdamW: A, final val loss" "$W/muon.md" &&
    grep -q "^- best Muon: M.A, final val loss" "$W/muon.md" && pass "runs.py muon-table: the best run of each optimizer" ||
    fail "runs.py muon-table: $(cat "$W/muon.md")"
if have_python matplotlib; then
    python3 scripts/runs.py plot "$W/runs.png" "$W/runs.csv" --x tokens --title "test" >/dev/null && [ -s "$W/runs.png" ] &&
        pass "runs.py plot writes a PNG" || fail "runs.py plot"
else
    skip "runs.py plot" "Python's matplotlib is missing" "python3 -m pip install matplotlib"
fi
expect_error "runs.py on a run without its train.log" "train.log not found" python3 scripts/runs.py csv "$W/x.csv" "$W/B"
# scripts/online.sh's report, from two of the online runs above named as it names its runs
mkdir -p "$W/rep"
for pair in "onA:bytes-adamw_s1" "carry-mha.A:bytes-carry-96_s1"; do
    cp -r "$W/${pair%%:*}" "$W/rep/${pair#*:}"
    cp "$W/${pair%%:*}.log" "$W/rep/${pair#*:}/train.log"
done
python3 scripts/runs.py online "$W/rep/online" "$W/rep/bytes-adamw_s1" "$W/rep/bytes-carry-96_s1" >/dev/null 2>&1
python3 - "$W/rep" <<'PY' && pass "runs.py online: a row per setting with its code length (the log's), bits/byte and difference from the first row" || fail "runs.py online: $(cat "$W/rep/online.md" 2>/dev/null | head -n 8)"
import sys
rep = sys.argv[1]
bits = {}
for name in ("bytes-adamw_s1", "bytes-carry-96_s1"):
    line = [l.split() for l in open(f"{rep}/{name}/log.txt") if l.startswith("stream code_length_bits")][-1]
    bits[name] = (float(line[2]), int(line[6]))
rows = {l.split("|")[1].strip(): [c.strip() for c in l.split("|")[2:5]] for l in open(f"{rep}/online.md") if l.startswith("| ") and "---" not in l}
a, c = bits["bytes-adamw_s1"], bits["bytes-carry-96_s1"]
assert rows["adamw"] == [f"{a[0] / 1e3:,.1f}", f"{a[0] / a[1]:.4f}", "+0.0"], rows
assert rows["carry-96"] == [f"{c[0] / 1e3:,.1f}", f"{c[0] / c[1]:.4f}", f"{(c[0] - a[0]) / 1e3:+,.1f}"], rows
PY
if have_python matplotlib; then
    [ -s "$W/rep/online.png" ] && pass "runs.py online writes the running prequential loss's plot" || fail "runs.py online: no plot"
else
    skip "runs.py online's plot" "Python's matplotlib is missing" "python3 -m pip install matplotlib"
fi

# ---------------------------------------------------------------------------
echo "== GPT-2 tokens"
if have_pcre2; then
    ./prepare_data --tokenizer gpt2 --vocab "$VOCAB" -o "$W/g/g" "$W/a.txt" >"$W/g.log" 2>&1 || fail "gpt2 prepare: $(cat "$W/g.log")"
    GRUN=(./train_gpt --tokenizer gpt2 --vocab "$VOCAB" -i "$W/g/g_train.bin" -j "$W/g/g_val.bin" --layers 1 --channels 32 --heads 2 -b 4 -t 32 -x 3 -v 3 -m 2)
    "${GRUN[@]}" -o "$W/G" >"$W/G.log" 2>&1 && ./train_gpt sample -e "$W/G/ckpt_00000003.safetensors" --vocab "$VOCAB" --prompt "ROMEO:" -g 10 >"$W/G.sample" 2>&1 &&
        grep -q "V=50257 (padded 50304)" "$W/G.log" && grep -q "^ROMEO:" "$W/G.sample" && grep -q "generated 10 tokens" "$W/G.sample" &&
        pass "GPT-2 tokens: train with --tokenizer gpt2 (V=50257, padded 50304) and sample through the checkpoint's tokenizer" ||
        fail "gpt2 run: $(tail -n 3 "$W/G.log" "$W/G.sample")"
    expect_error "a gpt2 checkpoint with byte data" "uses tokenizer 'gpt2', this run 'bytes'" ./train_gpt -e "$W/G/ckpt_00000003.safetensors" -i "$TR" -j "$VA"
    "${GRUN[@]}" -i "$TR" -j "$VA" -x 1 2>&1 | grep -q "warning: the first validation batch holds only token ids < 257" &&
        pass "gpt2 model on byte-tokenized shards: warns that the data looks byte-tokenized" || fail "no byte-data warning"
else
    skip "GPT-2 tokens" "the build has no PCRE2, so the gpt2 tokenizer cannot encode" "apt-get install libpcre2-dev, then make test"
fi

# ---------------------------------------------------------------------------
echo "== --dump-step and compare_dumps (the CPU side of dev/gpu_check.sh)"
DUMP=(./train_gpt "${SMALL[@]}" -i "$TR" -j "$VA" -e "$W/learn/ckpt_00000300.safetensors")
"${DUMP[@]}" --dump-step "$W/d1.dump" >/dev/null 2>&1
"${DUMP[@]}" --dump-step "$W/d2.dump" >/dev/null 2>&1
"${DUMP[@]}" --seed 7 --dump-step "$W/d3.dump" >/dev/null 2>&1
./dev/compare_dumps "$W/d1.dump" "$W/d2.dump" >"$W/cmp12" 2>&1 && grep -q "^ok: 0 of 17 tensors beyond tolerance" "$W/cmp12" &&
    pass "two dumps of the same checkpoint and batch agree in loss, logits and all 15 gradient tensors" || fail "dump comparison: $(tail -n 2 "$W/cmp12")"
./dev/compare_dumps "$W/d1.dump" "$W/d3.dump" >"$W/cmp13" 2>&1; rc=$?
[ $rc -ne 0 ] && grep -q "FAIL" "$W/cmp13" && pass "dumps of another batch (another seed) fail the comparison (exit $rc)" || fail "compare_dumps accepted different dumps"

# ---------------------------------------------------------------------------
echo "== sampling"
CK="$W/learn/ckpt_00000300.safetensors"
./train_gpt sample -e "$CK" --prompt "ROMEO:" -g 60 --temperature 0.8 --top-k 40 --top-p 0.95 --seed 1 >"$W/s1.txt" 2>&1
./train_gpt sample -e "$CK" --prompt "ROMEO:" -g 60 --temperature 0.8 --top-k 40 --top-p 0.95 --seed 1 >"$W/s2.txt" 2>&1
./train_gpt sample -e "$CK" --prompt "ROMEO:" -g 60 --temperature 0.8 --top-k 40 --top-p 0.95 --seed 2 >"$W/s3.txt" 2>&1
text1=$(sed -n '/^---$/,/^---$/p' "$W/s1.txt")
text3=$(sed -n '/^---$/,/^---$/p' "$W/s3.txt")
if grep -q "^ROMEO:" "$W/s1.txt" && grep -q "generated 60 tokens" "$W/s1.txt" && grep -q "tokens/s" "$W/s1.txt" &&
    grep -q "KV cache 1024 bytes/token" "$W/s1.txt" && [ "$(grep -v tokens/s "$W/s1.txt")" = "$(grep -v tokens/s "$W/s2.txt")" ] &&
    [ "$text1" != "$text3" ]; then
    pass "sample: continues the prompt, prints tokens/s and KV bytes/token; same seed same text, other seed other text"
else
    fail "sample output: $(cat "$W/s1.txt")"
fi
./train_gpt sample -o "$W/learn" -g 5 >"$W/s4.txt" 2>&1 && grep -q "checkpoint: $CK" "$W/s4.txt" &&
    pass "sample -o DIR uses the run's newest checkpoint" || fail "sample -o: $(cat "$W/s4.txt")"
if have_python safetensors numpy; then
    python3 - "$CK" <<'EOF' && pass "python safetensors opens the checkpoint: tensors, shapes and metadata as documented" || fail "python safetensors could not read the checkpoint"
import sys
from safetensors import safe_open
with safe_open(sys.argv[1], framework="numpy") as f:
    meta = f.metadata()
    assert meta["format"] == "gptc" and meta["model.num_layers"] == "2" and meta["tokenizer"] == "bytes", meta
    wte = f.get_tensor("wte")
    assert wte.shape == (384, 64) and str(wte.dtype) == "float32", wte.shape
    assert abs(wte[257:]).max() == 0.0, "padded vocabulary rows must be zero"
    assert f.get_tensor("qkvw").shape == (2, 192, 64)
    assert f.get_tensor("opt.adamw.m.fcw").shape == (2, 256, 64)
EOF
else
    skip "safetensors compatibility" "Python's safetensors and numpy are missing" "python3 -m pip install safetensors numpy"
fi
if have_python safetensors numpy; then
    mkdir -p "$W/convert"
    python3 dev/test_convert_mosaic.py "$W/convert" || fails=$((fails + 1)) # it prints its own ok/FAIL lines
else
    skip "the reference Memory Mosaic's conversion" "Python's safetensors and numpy are missing" "python3 -m pip install safetensors numpy"
fi

# ---------------------------------------------------------------------------
echo "== bad input fails clearly and damages nothing"
head -c 5000 "$CK" >"$W/trunc.safetensors"
expect_error "truncated checkpoint" "cannot load checkpoint" ./train_gpt sample -e "$W/trunc.safetensors"
head -c $(( $(stat -c %s "$CK") - 4 )) "$CK" >"$W/trunc2.safetensors"
expect_error "checkpoint missing its last 4 bytes" "file truncated" ./train_gpt -e "$W/trunc2.safetensors" -i "$TR" -j "$VA"
head -c 4096 /dev/urandom >"$W/garbage.safetensors"
expect_error "random bytes as a checkpoint" "cannot load checkpoint" ./train_gpt sample -e "$W/garbage.safetensors"
write_shard "$W/magic.bin" 1234 1 100 100
expect_error "shard with wrong magic" "has magic 1234" ./train_gpt -i "$W/magic.bin" -j "$VA"
write_shard "$W/version.bin" 20240520 7 100 100
expect_error "shard with wrong version" "has version 7" ./train_gpt -i "$W/version.bin" -j "$VA"
write_shard "$W/short.bin" 20240520 1 1000 900
expect_error "shard shorter than its header says" "its header says 1000 tokens" ./train_gpt -i "$W/short.bin" -j "$VA"
expect_error "no shard matches the glob" "no token shards match" ./train_gpt -i "$W/nothing_*.bin" -j "$VA"
# a fresh model's shards are opened before it is built: a model too large for this machine (200B parameters)
# would otherwise fail on memory first, and a buildable one would spend its init first
expect_error "no shard matches, with a model too large to build" "no token shards match" ./train_gpt -i "$W/nothing_*.bin" -j "$VA" \
    --layers 64 --channels 16384 --heads 128
write_shard "$W/bigvocab.bin" 20240520 1 5000 5000 300
expect_error "data with token ids beyond the model's vocabulary" "holds token id 300" ./train_gpt -i "$W/bigvocab.bin" -j "$VA" -e "$CK"
python3 - "$W/llmc_v300.bin" <<'EOF'
import struct, sys
V, Vp, L, H, C, maxT = 300, 384, 1, 2, 8, 16
n = Vp * C + maxT * C + L * (2 * C + 3 * C * C + 3 * C + C * C + C + 2 * C + 4 * C * C + 4 * C + 4 * C * C + C) + 2 * C
header = [0] * 256
header[:8] = [20240326, 3, maxT, V, L, H, C, Vp]
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<256i", *header) + struct.pack("<%df" % n, *([0.01] * n)))
EOF
expect_error "llm.c model whose vocabulary is not the data's" "the model's vocabulary has 300 tokens, tokenizer 'bytes' has 257" \
    ./train_gpt -e "$W/llmc_v300.bin" -i "$TR" -j "$VA"
head -c 3000 "$W/llmc_v300.bin" >"$W/llmc_trunc.bin"
expect_error "truncated llm.c model file" "is 3000 bytes, but its header" ./train_gpt -e "$W/llmc_trunc.bin" -i "$TR" -j "$VA"
# dev/fuzz regression: 2^62 fp32 parameters (L=5, C=2^28, H=1, Vp=2^29, maxT=536870845) are 2^64 bytes, which wrapped to 0,
# so the 1024-byte header alone passed the size check; the model's size limits refuse it now
python3 -c 'import struct, sys; sys.stdout.buffer.write(struct.pack("<256i", *([20240326, 3, 536870845, 257, 5, 1, 1 << 28, 1 << 29] + [0] * 248)))' \
    >"$W/llmc_wraps.bin"
expect_error "llm.c header whose size wraps 64 bits" "model sizes beyond this trainer's limits: layers 5 (at most 4096), channels 268435456 (at most 65536)" \
    ./train_gpt -e "$W/llmc_wraps.bin" -i "$TR" -j "$VA"
expect_error "heads not divisible by kv heads" "--heads 6 is not divisible by --kv-heads 4" ./train_gpt --attn gqa --heads 6 --channels 96 --kv-heads 4
expect_error "kv heads with mha" "--attn mha has 4 kv heads, but --kv-heads 2 was given" ./train_gpt --attn mha --kv-heads 2
expect_error "sequence longer than the model's maximum" "sequence length -t 2048 exceeds the model's maximum 1024" ./train_gpt -t 2048 -i "$TR" -j "$VA"
expect_error "odd head width with RoPE" "RoPE rotates pairs of dims, but the rotated width is 9 (head width C/H = 36/4 = 9)" ./train_gpt --channels 36 --heads 4 -i "$TR" -j "$VA"
expect_error "total batch not a multiple of B*T" "-d 1000 is not a positive multiple of B*T" ./train_gpt -b 4 -t 64 -d 1000
expect_error "RoPE width odd" "RoPE rotates pairs of dims, but the rotated width is 7" ./train_gpt --attn mla --rope-dim 7
expect_error "RoPE width beyond the head" "--rope-dim 40 is larger than the head width C/H = 128/4 = 32" ./train_gpt --attn gta --rope-dim 40
expect_error "latent groups not dividing the heads" "--heads 6 is not divisible by --latent-groups 4" ./train_gpt --attn gla --heads 6 --channels 96 --latent-groups 4
expect_error "GTA kv heads not dividing the heads" "--heads 6 is not divisible by --kv-heads 4" ./train_gpt --attn gta --heads 6 --channels 96 --kv-heads 4
expect_error "latent flags on another variant" "apply to mla and gla, not gqa" ./train_gpt --attn gqa --latent-dim 64
expect_error "positions with Memory Mosaics" "--attn mosaic takes no positions, but --pos rope was given" ./train_gpt --attn mosaic --pos rope
expect_error "persistent memory sizes with the GELU MLP" "--pmem-size and --pmem-count size the persistent memory (--mlp pmem)" ./train_gpt --pmem-size 64
expect_error "an MLP width with the persistent memory" "--mlp-hidden 256 sizes the GELU MLP, but --mlp pmem replaces it" ./train_gpt --mlp pmem --mlp-hidden 256
expect_error "unknown MLP" "unknown --mlp 'swiglu'" ./train_gpt --mlp swiglu
expect_error "unknown flag" "unknown flag '--layer'" ./train_gpt --layer 3
expect_error "unknown attention" "unknown --attn 'xyz'" ./train_gpt --attn xyz -i "$TR" -j "$VA"
expect_error "resume without -o" "-y 1 (resume) needs -o" ./train_gpt -y 1
# values outside a flag's range (its --help states it), NaN included, each refused naming the flag
for bad in "--beta1 5" "--beta2 -1" "--eps -1" "--weight-decay -100" "--grad-clip nan" "--bias 2" "--q-rank -7" "-l inf"; do
    expect_error "$bad" "error: ${bad% *} ${bad#* } is outside its range" ./train_gpt $bad -i "$TR" -j "$VA"
done
expect_error "--seed -1" "flag --seed: '-1' is not an unsigned integer" ./train_gpt --seed -1 -i "$TR" -j "$VA"
for bad in "--temperature nan" "--top-p nan" "--top-p 0"; do
    expect_error "sample $bad" "error: ${bad% *} ${bad#* } is outside its range" ./train_gpt sample $bad
done
expect_error "-x 0 (neither steps nor the epoch's -1)" "-x 0: the number of steps must be positive or -1" ./train_gpt -x 0 -i "$TR" -j "$VA"
expect_error "a non-MPI build started by mpirun with 2 ranks" "rebuild with MPI: make USE_MPI=1" env OMPI_COMM_WORLD_SIZE=2 ./train_gpt -i "$TR" -j "$VA"
expect_error "  ... under MPICH's launcher" "an MPI launcher started 2 of it (PMI_SIZE=2)" env PMI_SIZE=2 ./train_gpt -i "$TR" -j "$VA"
./train_gpt --help | grep -q -- "--precision .*\[fp32\]" && pass "--help shows the CPU trainer's precision default, fp32" ||
    fail "--help: $(./train_gpt --help | grep -- --precision)"
"${RUN[@]}" -x 1 -v 0 -o "$W/deep/er/run" >"$W/deep.log" 2>&1 && [ -f "$W/deep/er/run/ckpt_00000001.safetensors" ] &&
    pass "-o creates every missing parent directory" || fail "-o with missing parents: $(tail -n 3 "$W/deep.log")"
touch "$W/afile"
expect_error "-o through a file" "cannot create directory '$W/afile': a file of that name is in the way" "${RUN[@]}" -x 1 -o "$W/afile/run"
# an existing run is never overwritten, nor resumed with a different model
sum_before=$(sha256sum "$W"/A/*.safetensors)
expect_error "new run into a directory with checkpoints" "already holds checkpoints (newest: step 20)" "${RUN[@]}" -o "$W/A"
expect_error "resume with a different model flag" "--layers 3 disagrees with" "${RUN[@]}" -o "$W/A" -y 1 --layers 3
expect_error "resume with a different batch" "was trained with 8 sequences per micro-step" "${RUN[@]}" -o "$W/A" -y 1 -b 4
[ "$sum_before" = "$(sha256sum "$W"/A/*.safetensors)" ] && pass "the refused runs left every checkpoint in the directory unchanged" ||
    fail "checkpoints changed by a refused run"
# a diverging run: its non-finite steps are skipped, never applied, and after 5 in a row it stops with a clear
# message, its checkpoints intact (a final LayerNorm gain of 3e38 makes every logit overflow)
"${RUN[@]}" -o "$W/nan" -x 4 -n 2 >/dev/null 2>&1
mkdir -p "$W/nan2"
python3 dev/st_edit.py "$W/nan/ckpt_00000004.safetensors" "$W/nan2/ckpt_00000004.safetensors" --fill lnfw=3e38
expect_error "diverging run (logits overflow)" "the training loss or gradient norm was not finite for 5 steps in a row (steps 5-9" \
    "${RUN[@]}" -o "$W/nan2" -y 1 -x 40 -n 2
[ "$(grep -c 'skipped non-finite loss' "$W/nan2/log.txt")" = 4 ] && ./train_gpt sample -e "$W/nan2/ckpt_00000008.safetensors" -g 5 >/dev/null 2>&1 &&
    [ ! -e "$W/nan2/ckpt_00000010.safetensors" ] &&
    pass "  ... its 4 logged skipped updates left the weights as they were, so the checkpoints of steps 6 and 8 load" ||
    fail "skipped updates: $(cat "$W/nan2/log.txt")"
# checkpoints whose contents are not sound are refused, and -y 1 falls back to the newest sound one
CK4="$W/nan/ckpt_00000004.safetensors"
python3 dev/st_edit.py "$CK4" "$W/nanw.safetensors" --poke wte:77=nan
expect_error "a checkpoint with a NaN weight" "tensor 'wte' holds 1 non-finite values (the first at element 77)" ./train_gpt sample -e "$W/nanw.safetensors"
python3 dev/st_edit.py "$CK4" "$W/infm.safetensors" --poke opt.adamw.m.fcw:3=inf
expect_error "a checkpoint with an infinite moment" "tensor 'opt.adamw.m.fcw' holds 1 non-finite values" "${RUN[@]}" -e "$W/infm.safetensors"
python3 dev/st_edit.py "$CK4" "$W/negstep.safetensors" --meta train.step=-3
expect_error "a checkpoint at step -3" "metadata 'train.step' is '-3', not an integer in [0, 2147483647]" ./train_gpt sample -e "$W/negstep.safetensors"
python3 dev/st_edit.py "$CK4" "$W/negopt.safetensors" --meta opt.steps=-1
expect_error "a checkpoint with opt.steps -1" "metadata 'opt.steps' is '-1'" ./train_gpt sample -e "$W/negopt.safetensors"
mkdir -p "$W/fallback"
cp "$W/nan/ckpt_00000002.safetensors" "$W/fallback/"
python3 dev/st_edit.py "$CK4" "$W/fallback/ckpt_00000004.safetensors" --drop lnfw
"${RUN[@]}" -o "$W/fallback" -y 1 -x 4 >"$W/fallback.log" 2>&1 &&
    grep -q "warning: skipping checkpoint '$W/fallback/ckpt_00000004.safetensors': checkpoint '$W/fallback/ckpt_00000004.safetensors' lacks tensor 'lnfw'" "$W/fallback.log" &&
    grep -q "resuming from $W/fallback/ckpt_00000002.safetensors at step 2" "$W/fallback.log" &&
    pass "-y 1 skips a newest checkpoint that lacks a tensor (saying so) and resumes from step 2" || fail "fallback: $(head -n 5 "$W/fallback.log")"

# ---------------------------------------------------------------------------
echo "== the CPU benchmark (a tiny model; its figures are not checked, only that every part runs and agrees)"
./dev/bench_cpu --layers 1 --channels 32 --heads 4 --kv-heads 2 --vocab-size 64 -b 2 -t 16 --pos rope --steps 1 --rounds 2 --table 1 \
    --decode 1 --gemm 1 >"$W/bench.log" 2>&1 &&
    [ "$(grep -c '^| [a-z+]* *| \(adamw\|muon\) ' "$W/bench.log")" -eq 16 ] && grep -q '^| lm head dweight |' "$W/bench.log" &&
    grep -q '^read bandwidth' "$W/bench.log" && grep -q '^step bound (mha + adamw): .* at most [0-9.]*% of the peak' "$W/bench.log" &&
    ! grep -q -i -w 'nan\|inf' "$W/bench.log" &&
    pass "dev/bench_cpu: 8 variants x 2 optimizers over 2 interleaved rounds, decode columns, the GEMM table (against OpenBLAS where installed), the step bound" ||
    fail "dev/bench_cpu: $(tail -n 5 "$W/bench.log")"

exit $((fails > 0))
