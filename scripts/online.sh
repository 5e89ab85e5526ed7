#!/usr/bin/env bash
# Online (prequential) learning on one stream: tiny Shakespeare (or --data) read once, in bytes and in GPT-2
# tokens, each batch scored before the model learns from it (--online 1, docs/design.md §5). Every setting
# is judged by the stream's code length under the learner, its summed prequential loss in bits:
#   1. AdamW (the first row) against Muon;
#   2. the attention variants at MHA's parameter count (AdamW, no memory; gqa and gta with H/2 kv heads,
#      mosaic with the persistent memory, the Memory Mosaics reference's architecture);
#   3. a carried memory of each lane's past: --carry T and 4T against none (MHA, AdamW), and --carry T for
#      each variant in --carried (mosaic's leaky sums then run on through the whole stream);
# each with every seed in --seeds. Writes OUT/online.md (the table), OUT/online.png (the running prequential
# bits/byte of every run) and a directory per run. Defaults take about an hour on 2 cores (a seed's runs:
# 11 minutes over bytes, 18 over GPT-2 tokens); every size is a flag, and --trainer runs another trainer
# with the same flags.
#
#   scripts/online.sh [--out DIR] [--data PATH] [--streams "bytes gpt2"] [--vocab PATH] [--layers L]
#       [--channels C] [--heads H] [--seq-len T] [--lanes B] [--lr X] [--muon-lr X] [--warmup N]
#       [--variants "gqa gta mla mosaic"] [--carried "mosaic"] [--seeds "1 2"] [--trainer PATH]
set -euo pipefail
cd "$(dirname "$0")/.."

out=out/online
data=data/tinyshakespeare/input.txt
streams="bytes gpt2"
vocab=""
layers=4
channels=128
heads=4
seq_len=64
lanes=8
lr=2e-3
muon_lr=0.02
warmup=20
variants="gqa gta mla mosaic"
carried="mosaic"
seeds="1 2"
trainer=./train_gpt
FLAGS="out data streams vocab layers channels heads seq_len lanes lr muon_lr warmup variants carried seeds trainer"
source "$(dirname "$0")/flags.sh"
parse_flags "$@"
[ -x "$trainer" ] || make -s train_gpt prepare_data
make -s data # unpacks the tiny Shakespeare and GPT-2 vocabulary the repository ships
mkdir -p "$out"
vocab_flags=()
[ -n "$vocab" ] && vocab_flags=(--vocab "$vocab")

# the stream: all but the last 8192 tokens, which are the validation split the trainer evaluates at the end
for stream in $streams; do
    ./prepare_data --tokenizer "$stream" "${vocab_flags[@]}" --val-tokens 8192 -o "$out/data/$stream" "$data" >/dev/null
done

# run STREAM SETTING SEED FLAGS...: trains out/STREAM-SETTING_sSEED over the whole stream unless it finished before
runs=()
run() {
    local stream=$1 setting=$2 seed=$3 dir="$out/$1-$2_s$3"
    shift 3
    runs+=("$dir")
    if ! grep -q '^stream code_length_bits' "$dir/log.txt" 2>/dev/null; then
        rm -rf "$dir"
        mkdir -p "$dir"
        local t0=$SECONDS
        "$trainer" -i "$out/data/${stream}_train.bin" -j "$out/data/${stream}_val.bin" --tokenizer "$stream" "${vocab_flags[@]}" \
            --online 1 --layers "$layers" --channels "$channels" --heads "$heads" -t "$seq_len" -b "$lanes" -l "$lr" \
            --muon-lr "$muon_lr" -k constant -u "$warmup" -v 0 -m 4 --seed "$seed" --keep-last 1 "$@" -o "$dir" \
            >"$dir/train.log" 2>&1 || { tail -n 5 "$dir/train.log" >&2; exit 1; }
        echo "  $(basename "$dir"): $(sed -n 's/^online: the stream.s code length under the learner is \([0-9.]*\) bits.*, \([0-9.]*\) bits\/byte$/\1 bits, \2 bits\/byte/p' "$dir/train.log") ($((SECONDS - t0)) s)"
    fi
}

# a variant's flags: gqa and gta with half as many kv heads as query heads (at their default, H, gqa is mha)
variant_flags() {
    case $1 in
        gqa | gta) echo "--attn $1 --kv-heads $((heads > 1 ? heads / 2 : 1))" ;;
        mosaic) echo "--attn mosaic --mlp pmem" ;;
        *) echo "--attn $1" ;;
    esac
}

echo "online learning: streams '$streams', L=$layers C=$channels H=$heads, $lanes lanes of T=$seq_len, seeds '$seeds'"
for stream in $streams; do
    for seed in $seeds; do
        run "$stream" adamw "$seed" --optimizer adamw
        run "$stream" muon "$seed" --optimizer muon
        for v in $variants; do run "$stream" "$v" "$seed" $(variant_flags "$v") --match-params 1; done
        run "$stream" "carry-$seq_len" "$seed" --carry "$seq_len"
        run "$stream" "carry-$((4 * seq_len))" "$seed" --carry $((4 * seq_len))
        for v in $carried; do run "$stream" "$v-carry-$seq_len" "$seed" $(variant_flags "$v") --match-params 1 --carry "$seq_len"; done
    done
done
python3 scripts/runs.py online "$out/online" "${runs[@]}"
