#!/usr/bin/env bash
# Trains MHA, GQA-4, MQA, GTA-4, MLA, GLA-2 and Memory Mosaics (mosaic; mosaic+pmem with the persistent
# memory in place of the MLP) on tiny Shakespeare (byte tokens) at matched parameter counts
# (--match-params: the MLP, or the persistent memory, absorbs the difference, as the GLA/GTA paper does)
# and equal tokens; then reruns the --rerun-top best variants with seed --rerun-seed, so that their
# differences can be read against the seeds' spread. Writes OUT/attention.csv, OUT/attention.png (val loss
# vs tokens) and OUT/attention.md (final val loss per seed, the training time each variant needs to reach
# the same val loss, parameters, KV bytes per token, train and decode tokens/s). The defaults take about
# two hours on 2 quiet cores; every size is a flag, so the same script drives larger runs. Finished runs
# are kept: run it again to continue where it stopped.
#
#   scripts/compare_attention.sh [--out DIR] [--steps N] [--layers L] [--channels C] [--heads H]
#                                [--seq-len T] [--batch B] [--lr LR] [--val-every N] [--decode-tokens N]
#                                [--variants "mha gqa ..."] [--rerun-top N] [--rerun-seed S] [--data PATH]
#                                [--trainer ./train_gpt]
set -euo pipefail
cd "$(dirname "$0")/.."

out=out/compare_attention
steps=1000
layers=6
channels=384
heads=8
seq_len=256
batch=4
lr=1e-3
val_every=100
decode_tokens=1000
variants="mha gqa mqa gta mla gla mosaic mosaic+pmem"
rerun_top=3
rerun_seed=2
data=data/tinyshakespeare/input.txt
trainer=./train_gpt
FLAGS="out steps layers channels heads seq_len batch lr val_every decode_tokens variants rerun_top rerun_seed data trainer"
source "$(dirname "$0")/flags.sh"
parse_flags "$@"
[ -x "$trainer" ] || make -s train_gpt prepare_data
make -s data # unpacks the tiny Shakespeare and GPT-2 vocabulary the repository ships
mkdir -p "$out"
shards="$out/data/tinyshakespeare_bytes"
./prepare_data -o "$shards" "$data" >/dev/null

# each variant at its paper defaults: GQA and GTA with 4 kv heads, GLA with 2 latent groups; Memory
# Mosaics as their reference (no positions, one persistent memory)
flags_of() {
    case $1 in
        mha | mqa | mla | mosaic) echo "--attn $1" ;;
        gqa | gta) echo "--attn $1 --kv-heads 4" ;;
        gla) echo "--attn gla --latent-groups 2" ;;
        mosaic+pmem) echo "--attn mosaic --mlp pmem" ;;
        *) echo "error: unknown variant $1 (mha gqa mqa gta mla gla mosaic mosaic+pmem)" >&2; exit 1 ;;
    esac
}
for v in $variants; do flags_of "$v" >/dev/null; done # an unknown name stops the script before any run

# train VARIANT SEED RUN_DIR: the run (unless finished already), then greedy decoding from its checkpoint
train() {
    local v=$1 seed=$2 run=$3
    if [ -f "$run/ckpt_$(printf %08d "$steps").safetensors" ] && [ -f "$run/decode.log" ]; then
        echo "== $v (seed $seed): done already ($run), skipping"
        return
    fi
    rm -rf "$run"
    mkdir -p "$run"
    echo "== $v (seed $seed): $steps steps of B=$batch T=$seq_len, L=$layers C=$channels H=$heads ($(date +%H:%M:%S))"
    # shellcheck disable=SC2046
    "$trainer" -i "${shards}_train*.bin" -j "${shards}_val*.bin" $(flags_of "$v") --match-params 1 --seed "$seed" \
        --layers "$layers" --channels "$channels" --heads "$heads" -b "$batch" -t "$seq_len" -x "$steps" \
        -l "$lr" -u $((steps / 20)) -q 0.1 -v "$val_every" -m 40 --keep-last 1 -o "$run" >"$run/train.log" 2>&1 ||
        { tail -n 5 "$run/train.log"; exit 1; }
    grep -E "^(--match-params|parameters:|KV cache|average)" "$run/train.log"
    grep -E "val loss" "$run/train.log" | tail -n 1
    # decode speed over a long context: greedy, from end-of-text, up to decode_tokens positions
    "$trainer" sample -e "$run/ckpt_$(printf %08d "$steps").safetensors" -g "$decode_tokens" --temperature 0 \
        >"$run/decode.log" 2>&1 || { tail -n 5 "$run/decode.log"; exit 1; }
    grep "tokens/s" "$run/decode.log"
}

runs=()
for v in $variants; do
    train "$v" 1337 "$out/$v"
    runs+=("$out/$v")
done
# the best --rerun-top variants by final val loss, again with another seed (run names VARIANT_s<seed>)
final_loss() { grep '^step [0-9]* val_loss' "$1/log.txt" | tail -n 1 | cut -d' ' -f4; }
if [ "$rerun_top" -gt 0 ]; then
    top=$(for v in $variants; do echo "$(final_loss "$out/$v") $v"; done | sort -g | head -n "$rerun_top" | cut -d' ' -f2)
    for v in $top; do
        train "$v" "$rerun_seed" "$out/${v}_s$rerun_seed"
        runs+=("$out/${v}_s$rerun_seed")
    done
fi

python3 scripts/runs.py csv "$out/attention.csv" "${runs[@]}"
python3 scripts/runs.py attention-table "$out/attention.md" "${runs[@]}"
python3 scripts/runs.py plot "$out/attention.png" "$out/attention.csv" --x tokens \
    --title "tiny Shakespeare bytes: L=$layers C=$channels H=$heads, matched parameters, $steps steps of $((batch * seq_len)) tokens"
