#!/usr/bin/env bash
# Muon vs AdamW on tiny Shakespeare (GPT-2 BPE tokens when the vocabulary is at hand, else bytes), for one
# model and token budget, each optimizer tuned fairly:
#   1. AdamW: a learning-rate sweep (--adamw-lrs);
#   2. Muon:  a sweep of Muon's lr (--muon-lrs; its AdamW group, the embedding/norms/biases, takes AdamW's
#             best lr), then Muon's weight decay at its best lr (--muon-wds, beside 0);
#   3. the best setting of each again with every further seed (--seeds).
# Writes OUT/muon.csv (every logged step of every run), OUT/muon_tokens.png and OUT/muon_time.png (val loss
# of the best settings against tokens and against training time) and OUT/muon.md (every run's final val
# loss and step time, the optimizer step's share, and the tokens Muon needs to reach AdamW's best final
# loss). Defaults take about 90 minutes on 2 cores; every size is a flag, and --trainer runs another
# trainer with the same flags.
#
#   scripts/muon_vs_adamw.sh [--out DIR] [--steps N] [--layers L] [--channels C] [--heads H] [--seq-len T]
#       [--batch B] [--accum N] [--tokenizer gpt2|bytes] [--vocab PATH] [--adamw-lrs "..."] [--muon-lrs "..."]
#       [--muon-wds "..."] [--seeds "1 2"] [--val-every N] [--val-batches N] [--data PATH] [--trainer PATH]
set -euo pipefail
cd "$(dirname "$0")/.."

out=out/muon_vs_adamw
steps=600
layers=4
channels=256
heads=4
seq_len=64
batch=16
accum=1
tokenizer=auto
vocab=""
adamw_lrs="3e-4 1e-3 3e-3 1e-2"
muon_lrs="0.01 0.02 0.04 0.08"
muon_wds="0.1"
seeds="1 2"
val_every=50
val_batches=16
data=data/tinyshakespeare/input.txt
trainer=./train_gpt
FLAGS="out steps layers channels heads seq_len batch accum tokenizer vocab adamw_lrs muon_lrs muon_wds seeds val_every val_batches data trainer"
source "$(dirname "$0")/flags.sh"
parse_flags "$@"
[ -x "$trainer" ] || make -s train_gpt prepare_data
make -s data # unpacks the tiny Shakespeare and GPT-2 vocabulary the repository ships
mkdir -p "$out"

# the data: llm.c's GPT-2 tiny Shakespeare shards, or bytes when no GPT-2 vocabulary is found
if [ "$tokenizer" = auto ]; then
    if [ -n "$vocab" ] || [ -e data/gpt2/r50k_base.tiktoken ]; then tokenizer=gpt2; else tokenizer=bytes; fi
fi
vocab_flags=()
if [ "$tokenizer" = gpt2 ]; then
    [ -n "$vocab" ] && vocab_flags=(--vocab "$vocab")
    ./prepare_data --tokenizer gpt2 "${vocab_flags[@]}" --docs sections --val-at start --val-tokens 32768 \
        -o "$out/data/tiny_shakespeare" "$data" >/dev/null
else
    ./prepare_data -o "$out/data/tiny_shakespeare" "$data" >/dev/null
fi
common=(-i "$out/data/tiny_shakespeare_train*.bin" -j "$out/data/tiny_shakespeare_val*.bin" --tokenizer "$tokenizer"
    "${vocab_flags[@]}" --layers "$layers" --channels "$channels" --heads "$heads" -t "$seq_len" -b "$batch"
    -d $((batch * seq_len * accum)) -x "$steps" -u $((steps / 10)) -q 0.1 -v "$val_every" -m "$val_batches" -c 0.1
    --keep-last 1)
echo "Muon vs AdamW: $tokenizer tokens, L=$layers C=$channels H=$heads, $steps steps of $((batch * seq_len * accum)) tokens"

# run NAME FLAGS...: trains out/NAME unless it finished before; prints its final val loss
run() {
    local name=$1 dir="$out/$1"
    shift
    if [ ! -f "$dir/ckpt_$(printf %08d "$steps").safetensors" ]; then
        rm -rf "$dir"
        mkdir -p "$dir"
        "$trainer" "${common[@]}" "$@" -o "$dir" >"$dir/train.log" 2>&1 || { tail -n 5 "$dir/train.log" >&2; exit 1; }
    fi
    awk '/val_loss/ {v = $4} END {print v}' "$dir/log.txt"
}

# best NAME...: the run with the lowest final val loss
best() {
    local b="" bv=1e9 v
    for name in "$@"; do
        v=$(awk '/val_loss/ {v = $4} END {print v}' "$out/$name/log.txt")
        if python3 -c "import sys; sys.exit(0 if float('$v') < float('$bv') else 1)"; then b=$name; bv=$v; fi
    done
    echo "$b"
}

first_seed=${seeds%% *}
adamw_runs=()
for lr in $adamw_lrs; do
    name="adamw_lr${lr}_s$first_seed"
    echo "$(date +%H:%M:%S) $name: val loss $(run "$name" --optimizer adamw -l "$lr" --seed "$first_seed")"
    adamw_runs+=("$name")
done
best_adamw=$(best "${adamw_runs[@]}")
adamw_lr=${best_adamw#adamw_lr}
adamw_lr=${adamw_lr%_s*}
echo "best AdamW: lr $adamw_lr"

muon_runs=()
for mlr in $muon_lrs; do
    name="muon_lr${mlr}_wd0_s$first_seed"
    echo "$(date +%H:%M:%S) $name: val loss $(run "$name" --optimizer muon -l "$adamw_lr" --muon-lr "$mlr" --muon-wd 0 --seed "$first_seed")"
    muon_runs+=("$name")
done
best_lr_run=$(best "${muon_runs[@]}")
muon_lr=${best_lr_run#muon_lr}
muon_lr=${muon_lr%%_wd*}
for wd in $muon_wds; do
    name="muon_lr${muon_lr}_wd${wd}_s$first_seed"
    echo "$(date +%H:%M:%S) $name: val loss $(run "$name" --optimizer muon -l "$adamw_lr" --muon-lr "$muon_lr" --muon-wd "$wd" --seed "$first_seed")"
    muon_runs+=("$name")
done
best_muon=$(best "${muon_runs[@]}")
muon_wd=${best_muon#*_wd}
muon_wd=${muon_wd%_s*}
echo "best Muon: lr $muon_lr, weight decay $muon_wd (AdamW group lr $adamw_lr)"

best_runs=("$best_adamw" "$best_muon")
for seed in ${seeds#"$first_seed"}; do
    a="adamw_lr${adamw_lr}_s$seed"
    m="muon_lr${muon_lr}_wd${muon_wd}_s$seed"
    echo "$(date +%H:%M:%S) $a: val loss $(run "$a" --optimizer adamw -l "$adamw_lr" --seed "$seed")"
    echo "$(date +%H:%M:%S) $m: val loss $(run "$m" --optimizer muon -l "$adamw_lr" --muon-lr "$muon_lr" --muon-wd "$muon_wd" --seed "$seed")"
    adamw_runs+=("$a")
    muon_runs+=("$m")
    best_runs+=("$a" "$m")
done

python3 scripts/runs.py csv "$out/muon.csv" "${adamw_runs[@]/#/$out/}" "${muon_runs[@]/#/$out/}"
python3 scripts/runs.py csv "$out/muon_best.csv" "${best_runs[@]/#/$out/}"
title="tiny Shakespeare ($tokenizer): L=$layers C=$channels H=$heads, best AdamW and Muon settings, seeds $seeds"
python3 scripts/runs.py plot "$out/muon_tokens.png" "$out/muon_best.csv" --x tokens --title "$title"
python3 scripts/runs.py plot "$out/muon_time.png" "$out/muon_best.csv" --x seconds --title "$title"
python3 scripts/runs.py muon-table "$out/muon.md" "${adamw_runs[@]/#/$out/}" -- "${muon_runs[@]/#/$out/}"
