#!/usr/bin/env bash
# The CUDA trainer against the CPU trainer, on a GPU (CI, which has none, only compiles the CUDA code).
# One command; it ends with a pass/fail table:
#
#   make && bash dev/test_cuda.sh        (TINYSHAKESPEARE=path overrides the text, as in dev/test_cli.sh)
#
# For every attention variant with both optimizers, from the same checkpoint and batch:
#   - one step's loss, logits and every gradient tensor (--dump-step, compared by dev/compare_dumps):
#       fp32 matmuls: loss and logits within 1e-5 relative, each gradient within 1e-4 of its largest entry
#       bf16 matmuls: loss within 2e-2, logits and gradients within 5e-2
#   - ten training steps: every logged loss within 1e-4 relative (fp32) or 5e-2 (bf16)
#   - greedy KV-cache decoding from the 10-step checkpoint: the CPU's text (fp32), 48 tokens (bf16)
# then a GPU run stopped and resumed is bit-identical (fp32 and bf16), a CPU checkpoint continues on the
# GPU and a GPU checkpoint on the CPU with the losses of an uninterrupted run (within 1e-4, fp32), and,
# with 2 GPUs, 2 processes equal 1 with twice the micro-batch, under MPI and through --dist-init, and with
# gradient accumulation (each multi-process run under a 300 s timeout, so a stuck rendezvous fails).
set -u
cd "$(dirname "$0")/.."
make -s train_gpt train_gptcu prepare_data dev/compare_dumps || exit 1
DATA=${TINYSHAKESPEARE:-../shared/data/tinyshakespeare.txt}
[ -f "$DATA" ] || { echo "error: $DATA not found; set TINYSHAKESPEARE=path/to/input.txt"; exit 1; }
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
W=$(mktemp -d /tmp/gptc_cuda_XXXXXX)
trap 'rm -rf "$W"' EXIT
./prepare_data -o "$W/ts/ts" "$DATA" >/dev/null
rows=()
record() { rows+=("$(printf '%-44s %-5s %s' "$1" "$2" "$3")"); echo "$2 $1 $3"; }

source dev/testlib.sh

SMALL=(-i "$W/ts/ts_train.bin" -j "$W/ts/ts_val.bin" --layers 2 --channels 64 --heads 4 -b 4 -t 64 -v 5 -m 2 -l 3e-3 -u 2)
for variant in "mha" "gqa --kv-heads 2" "mqa" "gta --kv-heads 2" "mla" "gla --latent-groups 2"; do
    for opt in adamw muon; do
        name="${variant%% *}-$opt"
        dir="$W/$name"
        V=(--attn $variant --optimizer "$opt")
        # the shared start: one CPU step, so that every tensor and the optimizer state are non-trivial
        ./train_gpt "${SMALL[@]}" "${V[@]}" -x 1 -o "$dir/init" >"$dir.init.log" 2>&1 || { record "$name: setup" FAIL "$(tail -n 2 "$dir.init.log")"; continue; }
        init="$dir/init/ckpt_00000001.safetensors"
        ./train_gpt "${SMALL[@]}" "${V[@]}" -e "$init" --dump-step "$dir/cpu.dump" >/dev/null 2>&1
        for prec in fp32 bf16; do
            if [ $prec = fp32 ]; then tol=(--tol-loss 1e-5 --tol-logits 1e-5 --tol-grads 1e-4) steps_tol=1e-4
            else tol=(--tol-loss 2e-2 --tol-logits 5e-2 --tol-grads 5e-2) steps_tol=5e-2; fi
            ./train_gptcu "${SMALL[@]}" "${V[@]}" -e "$init" --precision $prec --dump-step "$dir/gpu.$prec.dump" >"$dir.$prec.log" 2>&1
            if ./dev/compare_dumps "$dir/cpu.dump" "$dir/gpu.$prec.dump" "${tol[@]}" >"$dir.$prec.cmp" 2>&1; then
                record "$name $prec: loss, logits, gradients" ok "$(tail -n 1 "$dir.$prec.cmp")"
            else
                record "$name $prec: loss, logits, gradients" FAIL "$(grep -m3 FAIL "$dir.$prec.cmp" | tr -s ' ' | tr '\n' ';')"
            fi
            ./train_gpt "${SMALL[@]}" "${V[@]}" -e "$init" -x 10 -o "$dir/cpu10" >/dev/null 2>&1
            ./train_gptcu "${SMALL[@]}" "${V[@]}" -e "$init" -x 10 --precision $prec -o "$dir/gpu10.$prec" >"$dir.$prec.steps.log" 2>&1
            d=$(loss_diff "$dir/cpu10/log.txt" "$dir/gpu10.$prec/log.txt")
            within "$d" $steps_tol && record "$name $prec: 10 steps of losses" ok "max rel diff $d" ||
                record "$name $prec: 10 steps of losses" FAIL "max rel diff $d (tolerance $steps_tol); $(tail -n 1 "$dir.$prec.steps.log")"
            if [ $opt = adamw ]; then
                # KV-cache decoding: greedy text from the 10-step checkpoint, the same on both trainers
                # (fp32), and a bf16 decode that runs to the end
                SAMPLE=(sample -e "$dir/cpu10/ckpt_00000010.safetensors" --prompt "ROMEO:" -g 48 --temperature 0)
                ./train_gptcu "${SAMPLE[@]}" --precision $prec >"$dir.$prec.sample" 2>&1
                gpu_text=$(sed -n '/^---$/,/^---$/p' "$dir.$prec.sample")
                if [ $prec = fp32 ]; then
                    cpu_text=$(./train_gpt "${SAMPLE[@]}" 2>&1 | sed -n '/^---$/,/^---$/p')
                    [ -n "$gpu_text" ] && [ "$gpu_text" = "$cpu_text" ] && record "$name fp32: greedy KV-cache decode = CPU's" ok "" ||
                        record "$name fp32: greedy KV-cache decode = CPU's" FAIL "GPU '$gpu_text' vs CPU '$cpu_text'"
                else
                    grep -q "^generated 48 tokens" "$dir.$prec.sample" && record "$name bf16: KV-cache decode of 48 tokens" ok "" ||
                        record "$name bf16: KV-cache decode of 48 tokens" FAIL "$(tail -n 1 "$dir.$prec.sample")"
                fi
            fi
            rm -rf "$dir/cpu10"
        done
    done
done

# stop and resume on the GPU: bit-identical
for prec in fp32 bf16; do
    RUN=(./train_gptcu "${SMALL[@]}" --attn gqa --kv-heads 2 --optimizer muon -x 10 -n 5 --keep-last 0 --precision $prec)
    "${RUN[@]}" -o "$W/A.$prec" >/dev/null 2>&1
    mkdir -p "$W/B.$prec"
    cp "$W/A.$prec/ckpt_00000005.safetensors" "$W/B.$prec/"
    "${RUN[@]}" -o "$W/B.$prec" -y 1 >/dev/null 2>&1
    cmp -s "$W/A.$prec/ckpt_00000010.safetensors" "$W/B.$prec/ckpt_00000010.safetensors" &&
        record "GPU resume $prec: final checkpoint bit-identical" ok "" || record "GPU resume $prec: final checkpoint bit-identical" FAIL ""
done

# a checkpoint continues on the other trainer with the losses of an uninterrupted run
CROSS=("${SMALL[@]}" --attn mla --optimizer adamw -x 10 -n 5 --keep-last 0)
./train_gpt "${CROSS[@]}" -o "$W/cpu" >/dev/null 2>&1
./train_gptcu "${CROSS[@]}" --precision fp32 -o "$W/gpu" >/dev/null 2>&1
mkdir -p "$W/cpu2gpu" "$W/gpu2cpu"
cp "$W/cpu/ckpt_00000005.safetensors" "$W/cpu2gpu/"
cp "$W/gpu/ckpt_00000005.safetensors" "$W/gpu2cpu/"
./train_gptcu "${CROSS[@]}" --precision fp32 -o "$W/cpu2gpu" -y 1 >/dev/null 2>&1
./train_gpt "${CROSS[@]}" -o "$W/gpu2cpu" -y 1 >/dev/null 2>&1
d=$(loss_diff "$W/cpu/log.txt" "$W/cpu2gpu/log.txt" 5)
within "$d" 1e-4 && record "CPU checkpoint continued on the GPU" ok "max rel diff $d" || record "CPU checkpoint continued on the GPU" FAIL "$d"
d=$(loss_diff "$W/gpu/log.txt" "$W/gpu2cpu/log.txt" 5)
within "$d" 1e-4 && record "GPU checkpoint continued on the CPU" ok "max rel diff $d" || record "GPU checkpoint continued on the CPU" FAIL "$d"

# several GPUs (when there are 2): 2 processes with micro-batch B give the losses of 1 with 2B, under
# MPI (a USE_MPI build in a copy) and through --dist-init file:, with and without ZeRO-1
gpus=$(nvidia-smi -L 2>/dev/null | wc -l)
if [ "$gpus" -ge 2 ]; then
    DP=("${SMALL[@]}" --attn gqa --kv-heads 2 --optimizer muon -x 10 --precision fp32)
    ./train_gptcu "${DP[@]}" -b 8 -o "$W/dp1" >/dev/null 2>&1
    if command -v mpicc >/dev/null; then
        rm -rf "$W/mpisrc" && mkdir "$W/mpisrc" && cp -r train_gpt.cu llmc Makefile "$W/mpisrc/" && make -s -C "$W/mpisrc" train_gptcu USE_MPI=1 >/dev/null 2>&1
        for z in 0 1; do
            timeout 300 mpirun --allow-run-as-root -np 2 "$W/mpisrc/train_gptcu" "${DP[@]}" -b 4 -z $z -o "$W/dp2mpi.$z" >/dev/null 2>&1
            d=$(loss_diff "$W/dp1/log.txt" "$W/dp2mpi.$z/log.txt")
            within "$d" 1e-4 && record "2 GPUs under MPI, -z $z: = 1 GPU with 2B" ok "max rel diff $d" || record "2 GPUs under MPI, -z $z" FAIL "$d"
        done
    fi
    # two_processes REF_DIR OUT_DIR FLAGS...: ranks 0 and 1 through --dist-init file:, compared with REF_DIR
    two_processes() {
        local ref=$1 out=$2 r
        shift 2
        for r in 0 1; do
            timeout 300 ./train_gptcu "${DP[@]}" "$@" --num-processes 2 --process-rank $r --dist-init "file:$out.id" -o "$out" >/dev/null 2>&1 &
        done
        wait
        loss_diff "$ref/log.txt" "$out/log.txt"
    }
    d=$(two_processes "$W/dp1" "$W/dp2file" -b 4 -z 1)
    within "$d" 1e-4 && record "2 GPUs through --dist-init file:, ZeRO-1: = 1 GPU with 2B" ok "max rel diff $d" ||
        record "2 GPUs through --dist-init file:" FAIL "$d"
    # with gradient accumulation (2 micro-steps: only the last one's backward averages, overlapped)
    ./train_gptcu "${DP[@]}" -b 4 -d 512 -o "$W/dp1acc" >/dev/null 2>&1
    d=$(two_processes "$W/dp1acc" "$W/dp2acc" -b 2 -d 512)
    within "$d" 1e-4 && record "2 GPUs x B=2, 2 micro-steps: = 1 GPU x B=4, 2 micro-steps" ok "max rel diff $d" ||
        record "2 GPUs with gradient accumulation" FAIL "$d"
else
    echo "skip: the multi-GPU checks need 2 GPUs ($gpus here)"
fi

echo
echo "== CUDA trainer vs CPU trainer"
printf '%s\n' "${rows[@]}"
fails=$(printf '%s\n' "${rows[@]}" | grep -c ' FAIL ')
echo "$fails of ${#rows[@]} checks failed"
exit $((fails > 0))
