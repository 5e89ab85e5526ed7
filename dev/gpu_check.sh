#!/usr/bin/env bash
# Everything a GPU can tell us about the CUDA trainer, in one command, sized for 8 minutes on one
# H100/H200 (not yet timed on one):
#
#   bash dev/gpu_check.sh OUTDIR             on a machine with an NVIDIA GPU
#   bash dev/gpu_check.sh --dry-run OUTDIR   anywhere, in under a minute (dev/test_gpu_check.sh runs it
#                                            for make test): every CPU-side step, each GPU command
#                                            printed as "would run: ...", no GPU needed
#
# It builds train_gptcu, dev/bench_gpu and the kernel lab for the GPU it finds (only that architecture,
# from nvidia-smi's compute capability), then:
#   - the kernel lab (make -C dev/cuda run): one row per kernel family;
#   - for mha, gqa, mqa, gta, mla, gla, mosaic with adamw and with muon, from one CPU checkpoint, in fp32 and bf16:
#     one step's loss, logits and every gradient (--dump-step, dev/compare_dumps; fp32: loss and logits
#     within 1e-5 relative, gradients within 1e-4 of each tensor's largest entry; bf16: 2e-2 / 5e-2 / 5e-2)
#     and ten steps of losses (1e-4 fp32, 5e-2 bf16) against the CPU trainer; greedy KV-cache decoding
#     (adamw): the CPU's text in fp32, 48 tokens in bf16;
#   - a GPU run stopped and resumed bit-identical (fp32, bf16); a CPU checkpoint continued on the GPU and
#     a GPU checkpoint on the CPU with the uninterrupted run's losses (1e-4);
#   - one GPU against the CPU (fp32, as above): learned positions, no biases, MLA and GLA with a plain
#     query projection (--q-rank 0), partial RoPE with GQA, Memory Mosaics' persistent memory, online training
#     with a carried memory (--online 1 --carry, the core's queries against memory + segment), gradient accumulation (-d > B*T), an llm.c v3
#     model file (-e, with greedy decoding), ZeRO-1 (-z 1) stopped and resumed, and a ZeRO-1 checkpoint
#     written by 2 CPU processes under MPI continued on the GPU;
#   - with 2 GPUs (else one SKIP row each): 2 processes with micro-batch B give the losses of 1 with 2B
#     under MPI (-z 0 and -z 1) and through --dist-init file: (ZeRO-1; the NCCL all-reduce overlapped
#     with the backward), with gradient accumulation, and a 2-GPU ZeRO-1 checkpoint resumed by 1 and by 2
#     GPUs; each multi-process run under a timeout;
#   - make bench-gpu: GPT-2 124M at T=1024, every variant with both optimizers, 3 timed steps each.
#
# OUTDIR gets summary.txt (one row per check: PASS / FAIL / SKIP and its figure), lab.txt (the kernel
# lab's output), bench.txt (the benchmark table) and logs.txt (every command and its output); the
# summary is printed at the end. Results print as they come in the tests' form: "ok   ", "FAIL ",
# "SKIP <part>: <reason>; install: <command>". Exit status: 0 when nothing failed, 1 when a check failed,
# 2 on bad usage, and 77 (automake's "skipped") without a GPU: no nvidia-smi, nvidia-smi failing, or no
# GPU listed, after one line "SKIP gpu_check: no GPU (<what nvidia-smi said>)". The dry run checks that
# every CPU reference it would compare against exists and is finite, and that each GPU command's flags
# pass the trainers' parser and validation (dev/check_args, the code train_gptcu runs before the device).
#
# Environment: TINYSHAKESPEARE=path (default data/tinyshakespeare/input.txt, from `make data`);
# GPU_CHECK_JOBS (GPU processes at once, default 6: the models are tiny); GPU_CHECK_TIMEOUT (seconds per
# GPU run, default 120); GPU_CHECK_BUDGET (seconds from the start after which no GPU command starts and
# running ones are stopped, default 480: a hang costs its rows, not the session's GPU time);
# GPU_CHECK_KEEP=1 keeps the work directory; GPU_CHECK_NVIDIA_SMI (the nvidia-smi to ask; the tests
# point it at stand-ins).
set -u
cd "$(dirname "$0")/.." || exit 2
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1 && shift
if [ $# -ne 1 ] || [ "${1#-}" != "$1" ]; then
    echo "usage: bash dev/gpu_check.sh [--dry-run] OUTDIR" >&2
    exit 2
fi
mkdir -p "$1" || exit 2
OUT=$(cd "$1" && pwd)
START=$(date +%s)
SMI=${GPU_CHECK_NVIDIA_SMI:-nvidia-smi}
TIMEOUT=${GPU_CHECK_TIMEOUT:-120}
BUDGET=${GPU_CHECK_BUDGET:-480}
rm -f "$OUT/summary.txt" "$OUT/logs.txt" "$OUT/lab.txt" "$OUT/bench.txt"

# ---------------------------------------------------------------------------
# the GPUs: gpu_lines holds nvidia-smi's "compute_cap, name, memory, driver, compute mode" per GPU; on
# failure smi_said says why
smi_said=""
gpu_lines=""
query_gpus() {
    local out rc
    if ! command -v "$SMI" >/dev/null 2>&1; then
        smi_said="$SMI not found"
        return 1
    fi
    out=$("$SMI" --query-gpu=compute_cap,name,memory.total,driver_version,compute_mode --format=csv,noheader 2>&1)
    rc=$?
    if [ $rc -ne 0 ]; then
        smi_said="$SMI exit $rc: $(head -n 1 <<<"$out")"
        return 1
    fi
    gpu_lines=$(grep -E '^ *[0-9]+\.[0-9]+ *,' <<<"$out")
    if [ -z "$gpu_lines" ]; then
        smi_said="$SMI lists no GPU: $(head -n 1 <<<"${out:-(no output)}")"
        return 1
    fi
}
if query_gpus; then
    NGPU=$(wc -l <<<"$gpu_lines")
elif [ $DRY = 1 ]; then
    NGPU=0
else
    echo "SKIP gpu_check: no GPU ($smi_said)" | tee "$OUT/summary.txt"
    exit 77
fi
# -gencode for each distinct compute capability ("9.0" -> sm_90); a dry run without a GPU shows sm_90's
caps=$(cut -d, -f1 <<<"$gpu_lines" | tr -d ' .' | sort -u)
[ -n "$caps" ] || caps=90
ARCH=""
SM=""
for c in $caps; do
    ARCH+="${ARCH:+ }-gencode arch=compute_$c,code=sm_$c"
    SM+="${SM:+,}sm_$c"
done
# several processes share one GPU unless its compute mode forbids it
GPU_JOBS=${GPU_CHECK_JOBS:-6}
grep -qiE 'exclusive|prohibited' <<<"$gpu_lines" && GPU_JOBS=1

DATA=${TINYSHAKESPEARE:-data/tinyshakespeare/input.txt}
# the repository's own copy, unpacked by make data where it is not yet
[ -f "$DATA" ] || [ -n "${TINYSHAKESPEARE:-}" ] || make -s data >/dev/null 2>&1
if [ ! -f "$DATA" ]; then
    echo "FAIL gpu_check setup: $DATA not found (run make data, or set TINYSHAKESPEARE=path/to/input.txt)" | tee "$OUT/summary.txt"
    exit 1
fi
W=$(mktemp -d /tmp/gptc_gpu_check_XXXXXX)
[ "${GPU_CHECK_KEEP:-0}" = 1 ] || trap 'rm -rf "$W"' EXIT
LOG=$W/logs
mkdir -p "$LOG"
: >"$W/order"
exec 3>&1 # the terminal, for lines printed from inside logged commands
source dev/testlib.sh
CPU_JOBS=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
export OMP_NUM_THREADS=1 # the CPU references are tiny: one thread each, many at once

# ---------------------------------------------------------------------------
# results: one row per check in summary.txt, and a line in the tests' form as it comes in
rows=()
# record STATUS NAME FIGURE: STATUS is PASS, FAIL or SKIP (FIGURE then: "reason; install: command")
record() {
    local tag
    case $1 in PASS) tag="ok  " ;; FAIL) tag="FAIL" ;; *) tag="SKIP" ;; esac
    rows+=("$(printf '%-6s %-72s %s' "$1" "$2" "$3")")
    echo "$tag $2${3:+: $3}"
}
# ok_if COND_STATUS NAME FIGURE: PASS when COND_STATUS is 0, else FAIL
ok_if() { if [ "$1" = 0 ]; then record PASS "$2" "$3"; else record FAIL "$2" "$3"; fi; }

# commands: each logged to $LOG/NAME.log (its exit status in NAME.rc) and, at the end, into logs.txt
q() { printf '%q ' "$@"; }
x() { # echo the command, then run it
    echo "\$ $(q "$@")"
    "$@"
}
run_logged() { # NAME CMD...: in the foreground
    local name=$1
    shift
    echo "$name" >>"$W/order"
    { "$@"; echo $? >"$LOG/$name.rc"; } >"$LOG/$name.log" 2>&1
}
job() { # NAME CMD...: in the background, at most $MAXJOBS at once (`wait` collects them)
    local name=$1
    shift
    echo "$name" >>"$W/order"
    while [ "$(jobs -rp | wc -l)" -ge "$MAXJOBS" ]; do wait -n; done
    { "$@"; echo $? >"$LOG/$name.rc"; } >"$LOG/$name.log" 2>&1 &
}
gjob() { if [ $DRY = 1 ]; then run_logged "$@"; else job "$@"; fi; } # a dry run prints GPU commands in order
# why NAME: "" when job NAME exited 0, else its exit status and error line
why() {
    local rc
    rc=$(cat "$LOG/$1.rc" 2>/dev/null || echo "none")
    [ "$rc" = 0 ] && return 0
    [ "$rc" = 124 ] && echo "$1 timed out: $(grep -m1 '^error' "$LOG/$1.log" || echo "over $TIMEOUT s, or the time budget was spent")" && return 1
    echo "$1 exit $rc: $(grep -m1 '^error' "$LOG/$1.log" || tail -n 1 "$LOG/$1.log")"
    return 1
}
collect_logs() {
    local name
    while read -r name; do
        echo "==> $name (exit $(cat "$LOG/$name.rc" 2>/dev/null || echo '?')) <=="
        cat "$LOG/$name.log" 2>/dev/null
        echo
    done <"$W/order" >"$OUT/logs.txt"
}

# would CMD...: a GPU step a dry run does not run; it prints it (with NOTE="..." after it) and counts it
would() {
    local line
    line=$(q "$@")
    echo "would run: ${line//$W/\$W}${NOTE:+ # $NOTE}" | tee -a "$W/would" >&3
}
# argcheck ARGS...: a dry run's check that the trainers' parser takes ARGS (dev/check_args: llmc/args.h's
# parse and validation, what train_gptcu runs before it looks for a GPU)
ARGCHECK=0
argcheck() {
    [ $ARGCHECK = 1 ] || return 0
    local out
    if out=$(./dev/check_args "$@" 2>&1); then echo ok >>"$W/argcheck.ok"
    else echo "$(q "$@"): $(grep -m1 '^error' <<<"$out")" >>"$W/argcheck.fail"; fi
}
# limit SECONDS: echoes the timeout for a GPU command, SECONDS or what is left of the budget; fails
# (with an error line) when nothing is left
limit() {
    local left=$((START + BUDGET - $(date +%s)))
    if [ $left -le 0 ]; then
        echo "error: not started: gpu_check's time budget of $BUDGET s (GPU_CHECK_BUDGET) is spent" >&2
        return 1
    fi
    echo $((left < $1 ? left : $1))
}
budgeted() { # SECONDS CMD...: CMD under timeout, within the budget (exit 124 when it is spent)
    local t
    t=$(limit "$1") || return 124
    shift
    x timeout "$t" "$@"
}
gpu() { # the CUDA trainer, under a timeout (a dry run prints it)
    if [ $DRY = 1 ]; then
        would ./train_gptcu "$@"
        argcheck "$@"
        return 0
    fi
    budgeted "$TIMEOUT" ./train_gptcu "$@"
}
cpu() { x ./train_gpt "$@"; }
# files only GPU runs make: a dry run skips what handles them
on_gpu() { [ $DRY = 1 ] || x "$@"; }
finish() {
    collect_logs
    local total=$(($(date +%s) - START)) p f s
    p=$(printf '%s\n' "${rows[@]}" | grep -c '^PASS')
    f=$(printf '%s\n' "${rows[@]}" | grep -c '^FAIL')
    s=$(printf '%s\n' "${rows[@]}" | grep -c '^SKIP')
    {
        echo "gpu_check$([ $DRY = 1 ] && echo ' --dry-run'): $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
        if [ "$NGPU" -gt 0 ]; then
            IFS=, read -r cap gname mem driver mode <<<"$(head -n 1 <<<"$gpu_lines")"
            echo "GPU: $NGPU x ${gname# } (${mem# }, compute capability $cap), driver ${driver# }, compute mode ${mode# }; built for $SM with $(nvcc_version)"
        else
            echo "GPU: none (dry run)"
        fi
        printf '%-6s %-72s %s\n' "status" "check" "figure"
        printf '%s\n' "${rows[@]}"
        echo "$((p + f + s)) checks: $p PASS, $f FAIL, $s SKIP; $((total / 60)) min $((total % 60)) s${phase_times:+ ($phase_times)}"
    } >"$OUT/summary.txt"
    echo
    sed 's/^/  /' "$OUT/summary.txt" # indented, so that its rows are not read as new result lines
    echo "results in $OUT: summary.txt, logs.txt$([ -f "$OUT/lab.txt" ] && echo ', lab.txt')$([ -f "$OUT/bench.txt" ] && echo ', bench.txt')"
    [ "$f" -eq 0 ]
    exit $?
}
phase_times=""
phase_start=$(date +%s)
phase_done() { # NAME: adds NAME's seconds to the summary's last line
    local now
    now=$(date +%s)
    phase_times+="${phase_times:+, }$1 $((now - phase_start)) s"
    phase_start=$now
    collect_logs
}
NVCC=$(command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
nvcc_version() { [ -n "$NVCC" ] && echo "nvcc $("$NVCC" --version | grep -o 'release [0-9.]*' | cut -d' ' -f2)" || echo "no nvcc"; }
HAVE_MPI=0
command -v mpicc >/dev/null && command -v mpirun >/dev/null && HAVE_MPI=1
MPIRUN=(mpirun --allow-run-as-root --oversubscribe -np 2)

# ---------------------------------------------------------------------------
# build: the CPU tools first (the references need them), then the CUDA targets for this GPU only
echo "== gpu_check$([ $DRY = 1 ] && echo ' --dry-run'): $([ "$NGPU" -gt 0 ] && echo "$NGPU GPU(s), $SM" || echo "no GPU here (the commands show $SM)"), data $DATA"
echo "work directory \$W=$W$([ "${GPU_CHECK_KEEP:-0}" = 1 ] && echo ' (kept)')"
CPU_TOOLS=(train_gpt prepare_data dev/compare_dumps)
[ $HAVE_MPI = 1 ] && CPU_TOOLS+=(train_gpt_mpi)
run_logged build.cpu x make -j"$CPU_JOBS" "${CPU_TOOLS[@]}"
if ! why build.cpu >/dev/null; then
    record FAIL "build: ${CPU_TOOLS[*]}" "$(why build.cpu)"
    finish
fi
build_cuda() {
    local t0=$SECONDS
    x rm -f train_gptcu dev/bench_gpu
    x make -C dev/cuda clean
    x make -j"$CPU_JOBS" GPU_ARCH="$ARCH" train_gptcu dev/bench_gpu || return 1
    x make -C dev/cuda -j"$CPU_JOBS" GPU_ARCH="$ARCH" all || return 1
    echo "built in $((SECONDS - t0)) s"
}
# the MPI build of train_gptcu, in a copy so that ./train_gptcu stays the plain one
build_mpi() {
    x rm -rf "$W/mpisrc"
    x mkdir "$W/mpisrc"
    x cp -r train_gpt.cu llmc Makefile "$W/mpisrc/"
    x make -C "$W/mpisrc" GPU_ARCH="$ARCH" train_gptcu USE_MPI=1
}
MAXJOBS=$CPU_JOBS
if [ $DRY = 1 ]; then
    would make -j"$CPU_JOBS" GPU_ARCH="$ARCH" train_gptcu dev/bench_gpu
    would make -C dev/cuda -j"$CPU_JOBS" GPU_ARCH="$ARCH" all
    NOTE="a copy of the sources, with 2 GPUs and mpicc" would make -C "$W/mpisrc" GPU_ARCH="$ARCH" train_gptcu USE_MPI=1
    # the parser check needs a train_gptcu built from these sources
    run_logged build.check_args x make dev/check_args
    if why build.check_args >/dev/null; then ARGCHECK=1
    else record FAIL "dry run: build dev/check_args" "$(why build.check_args)"; fi
else
    [ -n "$NVCC" ] || { record FAIL "build for $SM" "nvcc not found: install the CUDA toolkit or put nvcc on PATH"; finish; }
    job build.cuda build_cuda
    [ "$NGPU" -ge 2 ] && [ $HAVE_MPI = 1 ] && job build.mpi build_mpi
fi

# ---------------------------------------------------------------------------
# the CPU references (in the background while nvcc builds)
run_logged data x ./prepare_data -o "$W/ts/ts" "$DATA"
BASE=(-i "$W/ts/ts_train.bin" -j "$W/ts/ts_val.bin" --layers 2 --channels 64 --heads 4 -t 64 -v 5 -m 2 -l 3e-3 -u 2)
# most GPU runs skip the peak's 8192^3 matmul (it only sets the MFU figure, and several runs share the
# GPU); the resume runs and the cross run measure it, as a user's run does
FP32=(--precision fp32 --peak-gflops 1000)
SAMPLE=(--prompt "ROMEO:" -g 48 --temperature 0)
VARIANTS=("mha" "gqa --kv-heads 2" "mqa" "gta --kv-heads 2" "mla" "gla --latent-groups 2" "mosaic")
# id|what|flags: one GPU against the CPU, for what the variant loop does not reach
COVER=("learned|learned positions (mha --pos learned)|--attn mha --pos learned --optimizer adamw"
    "nobias|no biases (gqa --bias 0)|--attn gqa --kv-heads 2 --bias 0 --optimizer muon"
    "mla-q0|MLA, plain query projection (--q-rank 0)|--attn mla --q-rank 0 --optimizer adamw"
    "gla-q0|GLA, plain query projection (--q-rank 0)|--attn gla --latent-groups 2 --q-rank 0 --optimizer muon"
    "rope8|GQA, partial RoPE (--rope-dim 8 of 16)|--attn gqa --kv-heads 2 --rope-dim 8 --optimizer adamw"
    "pmem|Memory Mosaics with the persistent memory (--mlp pmem --pmem-count 2)|--attn mosaic --mlp pmem --pmem-count 2 --optimizer muon"
    "carry|online training over a carried memory (gqa --online 1 --carry 96: queries against memory + segment)|--attn gqa --kv-heads 2 --online 1 --carry 96 --optimizer adamw"
    "carry-gla|online training over carried latents (gla --online 1 --carry 96)|--attn gla --latent-groups 2 --online 1 --carry 96 --optimizer muon"
    "carry-mosaic|online training over carried Memory Mosaics (mosaic --mlp pmem --online 1 --carry 96: the leaky sums continue)|--attn mosaic --mlp pmem --pmem-count 2 --online 1 --carry 96 --optimizer muon")

# cpu_refs DIR FLAGS...: DIR/init (one CPU step: every tensor and the optimizer state non-trivial), then
# from it one step's dump and ten steps
cpu_refs() {
    local d=$1
    shift
    x mkdir -p "$d"
    cpu "$@" -x 1 -o "$d/init" || return 1
    cpu "$@" -e "$d/init/ckpt_00000001.safetensors" --dump-step "$d/cpu.dump" || return 1
    cpu "$@" -e "$d/init/ckpt_00000001.safetensors" -x 10 -o "$d/cpu10"
}
# cpu_sample CKPT OUTFILE: greedy text
cpu_sample() { cpu sample -e "$1" "${SAMPLE[@]}" >"$2" 2>&1; local rc=$?; cat "$2"; return $rc; }

# the llm.c v3 model file (llm.c's header and tensor order, as dev/test_gpt.c writes it): GPT-2's
# layout (MHA, learned positions, biases, F = 4C) at L=2, C=64, H=4, byte vocabulary padded to 320
write_llmc_model() {
    python3 - "$1" <<'PY'
import array, random, struct, sys
L, H, C, V, Vp, T = 2, 4, 64, 257, 320, 64
rng = random.Random(20240326)
def normal(n, std, mean=0.0):
    return array.array("f", (mean + rng.gauss(0.0, std) for _ in range(n)))
wte = normal(Vp * C, 0.02)
for i in range(V * C, Vp * C): wte[i] = 0.0  # the padding rows, as llm.c leaves them
tensors = [wte, normal(T * C, 0.01), normal(L * C, 0.1, 1.0), normal(L * C, 0.02), normal(L * 3 * C * C, 0.02),
           normal(L * 3 * C, 0.02), normal(L * C * C, 0.02), normal(L * C, 0.02), normal(L * C, 0.1, 1.0), normal(L * C, 0.02),
           normal(L * 4 * C * C, 0.02), normal(L * 4 * C, 0.02), normal(L * C * 4 * C, 0.02), normal(L * C, 0.02),
           normal(C, 0.1, 1.0), normal(C, 0.02)]
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<256i", *([20240326, 3, T, V, L, H, C, Vp] + [0] * 248)))
    for t in tensors:
        f.write(t.tobytes())
PY
}
llmc_refs() {
    local d=$W/llmc
    x mkdir -p "$d"
    x write_llmc_model "$d/model.bin" || return 1
    cpu "${BASE[@]}" -b 4 --optimizer adamw -e "$d/model.bin" --dump-step "$d/cpu.dump" || return 1
    cpu "${BASE[@]}" -b 4 --optimizer adamw -e "$d/model.bin" -x 10 -o "$d/cpu10" || return 1
    cpu_sample "$d/model.bin" "$d/cpu.sample"
}
ACCUM=(--attn mha --optimizer muon -b 2 -d 256) # 2 micro-steps of 2 x 64 tokens
CROSS=("${BASE[@]}" -b 4 --attn mla --optimizer adamw -x 10 -n 5 --keep-last 0)
ZERO=(--attn gqa --kv-heads 2 --optimizer muon)
ZRUN=(-x 10 -n 5 --keep-last 0) # ten steps, keeping the step-5 checkpoint
zero_mpi_refs() { # a ZeRO-1 checkpoint at step 5 from 2 CPU processes, which one GPU continues
    x mkdir -p "$W/zmpi"
    x timeout 300 "${MPIRUN[@]}" ./train_gpt_mpi "${BASE[@]}" "${ZERO[@]}" "${ZRUN[@]}" -b 4 -z 1 -e "$W/zero/init/ckpt_00000001.safetensors" -o "$W/zmpi/two"
}

MAXJOBS=$CPU_JOBS
for v in "${VARIANTS[@]}"; do
    for opt in adamw muon; do
        name=${v%% *}-$opt
        job "cpu.$name" cpu_refs "$W/$name" "${BASE[@]}" -b 4 --attn $v --optimizer $opt
    done
done
for c in "${COVER[@]}"; do
    IFS='|' read -r id what flags <<<"$c"
    job "cpu.$id" cpu_refs "$W/$id" "${BASE[@]}" -b 4 $flags
done
job cpu.accum cpu_refs "$W/accum" "${BASE[@]}" "${ACCUM[@]}"
job cpu.llmc llmc_refs
job cpu.cross cpu "${CROSS[@]}" -o "$W/cross.cpu"
job cpu.zero cpu_refs "$W/zero" "${BASE[@]}" "${ZERO[@]}" -b 4 -z 1
wait
for name in mha-adamw gqa-adamw mqa-adamw gta-adamw mla-adamw gla-adamw mosaic-adamw; do
    job "cpu.$name.sample" cpu_sample "$W/$name/cpu10/ckpt_00000010.safetensors" "$W/$name/cpu.sample"
done
[ $HAVE_MPI = 1 ] && job cpu.zmpi zero_mpi_refs
wait
phase_done "$([ $DRY = 0 ] && echo "build and ")CPU references"

if [ $DRY = 0 ]; then
    if ! why build.cuda >/dev/null; then
        record FAIL "build for $SM: train_gptcu, dev/bench_gpu, kernel lab" "$(why build.cuda)"
        finish
    fi
    record PASS "build for $SM: train_gptcu, dev/bench_gpu, kernel lab" "$(grep -m1 '^built in' "$LOG/build.cuda.log")"
fi

# ---------------------------------------------------------------------------
# the kernel lab, alone on the GPU (it times its kernels): one row per program
if [ $DRY = 1 ]; then
    would make -C dev/cuda GPU_ARCH="$ARCH" run
else
    run_logged lab budgeted 300 make -C dev/cuda GPU_ARCH="$ARCH" run
    cp "$LOG/lab.log" "$OUT/lab.txt"
    for p in layernorm matmul attention elementwise optimizer mosaic; do
        section=$(sed -n "/^== $p\$/,/^== $p: exit/p" "$LOG/lab.log")
        n_ok=$(grep -c '^ok ' <<<"$section")
        n_fail=$(grep -c '^FAIL' <<<"$section")
        rc=$(grep -o "^== $p: exit [0-9]*" <<<"$section" | grep -o '[0-9]*$')
        if [ "$rc" = 0 ] && [ "$n_fail" = 0 ] && [ "$n_ok" -gt 0 ]; then
            record PASS "kernel lab: $p" "$n_ok checks ok"
        elif [ -z "$rc" ]; then
            record FAIL "kernel lab: $p" "did not finish: $(tail -n 1 "$LOG/lab.log")"
        elif [ "$n_fail" = 0 ]; then
            record FAIL "kernel lab: $p" "exit $rc after $n_ok checks: $(grep -m1 '^error' <<<"$section" || tail -n 2 <<<"$section" | head -n 1)"
        else
            record FAIL "kernel lab: $p" "exit $rc, $n_fail of $((n_ok + n_fail)) checks failed, e.g. $(grep -m1 '^FAIL' <<<"$section" | tr -s ' ')"
        fi
    done
    phase_done "kernel lab"
fi

# ---------------------------------------------------------------------------
# one GPU: every run at once (GPU_JOBS at a time), then the comparisons
gpu_resume() { # PREC: 10 steps, and 5 + 5 resumed from the step-5 checkpoint
    local run=(--precision "$1" "${BASE[@]}" -b 4 --attn gqa --kv-heads 2 --optimizer muon -x 10 -n 5 --keep-last 0)
    x mkdir -p "$W/resume.$1"
    gpu "${run[@]}" -o "$W/resume.$1/A" || return 1
    on_gpu mkdir -p "$W/resume.$1/B"
    on_gpu cp "$W/resume.$1/A/ckpt_00000005.safetensors" "$W/resume.$1/B/"
    gpu "${run[@]}" -o "$W/resume.$1/B" -y 1
}
gpu_cpu2gpu() { # the CPU's step-5 checkpoint continued on the GPU
    x mkdir -p "$W/cross.cpu2gpu"
    x cp "$W/cross.cpu/ckpt_00000005.safetensors" "$W/cross.cpu2gpu/"
    gpu "${FP32[@]}" "${CROSS[@]}" -o "$W/cross.cpu2gpu" -y 1
}
gpu_zero() { # ZeRO-1 on one GPU: 10 steps, and 5 + 5 resumed
    local run=("${FP32[@]}" "${BASE[@]}" "${ZERO[@]}" "${ZRUN[@]}" -b 4 -z 1)
    gpu "${run[@]}" -e "$W/zero/init/ckpt_00000001.safetensors" -o "$W/zero/gpu10" || return 1
    on_gpu mkdir -p "$W/zero/gpu5"
    on_gpu cp "$W/zero/gpu10/ckpt_00000005.safetensors" "$W/zero/gpu5/"
    gpu "${run[@]}" -o "$W/zero/gpu5" -y 1
}
gpu_zmpi() { # the 2-CPU-process ZeRO-1 checkpoint continued by one GPU with twice the micro-batch
    x mkdir -p "$W/zmpi/gpu"
    x cp "$W/zmpi/two/ckpt_00000005.safetensors" "$W/zmpi/gpu/"
    gpu "${FP32[@]}" "${BASE[@]}" "${ZERO[@]}" "${ZRUN[@]}" -b 8 -o "$W/zmpi/gpu" -y 1
}
DP=("${BASE[@]}" --attn gqa --kv-heads 2 --optimizer muon -x 10 --precision fp32 --peak-gflops 1000)

MAXJOBS=$GPU_JOBS
for v in "${VARIANTS[@]}"; do
    for opt in adamw muon; do
        name=${v%% *}-$opt
        d=$W/$name
        V=("${BASE[@]}" -b 4 --attn $v --optimizer $opt -e "$d/init/ckpt_00000001.safetensors")
        for prec in fp32 bf16; do
            P=(--precision $prec --peak-gflops 1000)
            gjob "gpu.$name.$prec.dump" gpu "${P[@]}" "${V[@]}" --dump-step "$d/gpu.$prec.dump"
            gjob "gpu.$name.$prec.steps" gpu "${P[@]}" "${V[@]}" -x 10 -o "$d/gpu10.$prec"
            if [ $opt = adamw ]; then
                gjob "gpu.$name.$prec.sample" gpu sample -e "$d/cpu10/ckpt_00000010.safetensors" "${SAMPLE[@]}" --precision $prec
            fi
        done
    done
done
for c in "${COVER[@]}"; do
    IFS='|' read -r id what flags <<<"$c"
    V=("${BASE[@]}" -b 4 $flags -e "$W/$id/init/ckpt_00000001.safetensors")
    gjob "gpu.$id.dump" gpu "${FP32[@]}" "${V[@]}" --dump-step "$W/$id/gpu.dump"
    gjob "gpu.$id.steps" gpu "${FP32[@]}" "${V[@]}" -x 10 -o "$W/$id/gpu10"
done
gjob gpu.accum.steps gpu "${FP32[@]}" "${BASE[@]}" "${ACCUM[@]}" -e "$W/accum/init/ckpt_00000001.safetensors" -x 10 -o "$W/accum/gpu10"
LLMC=("${BASE[@]}" -b 4 --optimizer adamw -e "$W/llmc/model.bin")
gjob gpu.llmc.dump gpu "${FP32[@]}" "${LLMC[@]}" --dump-step "$W/llmc/gpu.dump"
gjob gpu.llmc.steps gpu "${FP32[@]}" "${LLMC[@]}" -x 10 -o "$W/llmc/gpu10"
gjob gpu.llmc.sample gpu sample -e "$W/llmc/model.bin" "${SAMPLE[@]}" --precision fp32
gjob gpu.resume.fp32 gpu_resume fp32
gjob gpu.resume.bf16 gpu_resume bf16
gjob gpu.cross gpu --precision fp32 "${CROSS[@]}" -o "$W/cross.gpu"
gjob gpu.cpu2gpu gpu_cpu2gpu
gjob gpu.zero gpu_zero
[ $HAVE_MPI = 1 ] && gjob gpu.zmpi gpu_zmpi
if [ "$NGPU" -ge 2 ] || [ $DRY = 1 ]; then # the one-GPU references of the 2-GPU checks
    gjob gpu.dp1 gpu "${DP[@]}" -b 8 -o "$W/dp1"
    gjob gpu.dp1acc gpu "${DP[@]}" -b 4 -d 512 -o "$W/dp1acc"
fi
wait
# the GPU's step-5 checkpoint continued on the CPU
gpu2cpu() {
    x mkdir -p "$W/cross.gpu2cpu"
    x cp "$W/cross.gpu/ckpt_00000005.safetensors" "$W/cross.gpu2cpu/"
    cpu "${CROSS[@]}" -o "$W/cross.gpu2cpu" -y 1
}
if [ $DRY = 1 ]; then NOTE="CPU, after copying the GPU's step-5 checkpoint there" would ./train_gpt "${CROSS[@]}" -o "$W/cross.gpu2cpu" -y 1
elif why gpu.cross >/dev/null; then run_logged after.gpu2cpu gpu2cpu; fi
[ $DRY = 0 ] && phase_done "one GPU"

# ---------------------------------------------------------------------------
# the comparisons
# check_dump NAME REF OTHER TOLERANCES...: dev/compare_dumps
check_dump() {
    local name=$1 ref=$2 other=$3 last job
    shift 3
    job=compare.$(tr -c 'A-Za-z0-9.-' '_' <<<"$name")
    run_logged "$job" x ./dev/compare_dumps "$ref" "$other" "$@"
    last=$(tail -n 1 "$LOG/$job.log")
    if why "$job" >/dev/null; then record PASS "$name" "${last#ok: }"
    else record FAIL "$name" "$(grep -m1 '^error' "$LOG/$job.log" || echo "${last#FAIL: }")"; fi
}
# check_steps NAME REF_LOG LOG TOL [RESUMED_AT]: loss_diff within TOL
check_steps() {
    local d
    d=$(loss_diff "$2" "$3" "${5:-0}" 2>/dev/null)
    within "${d:-inf}" "$4" 2>/dev/null
    ok_if $? "$1" "max rel diff $(LC_ALL=C printf '%.2e' "${d:-inf}" 2>/dev/null || echo "$d") (tolerance $4)$([ "${d:-inf}" = inf ] && echo ': a log is missing or has other steps')"
}
text() { sed -n '/^---$/,/^---$/p' "$1" 2>/dev/null; }
# check_text NAME GPU_JOB CPU_FILE: the GPU's greedy text is the CPU's
check_text() {
    local g c
    g=$(text "$LOG/$2.log")
    c=$(text "$3")
    if [ -n "$g" ] && [ "$g" = "$c" ]; then record PASS "$1" "$(sed '1d;$d' <<<"$g" | wc -c) bytes of text equal"
    elif [ -z "$g" ]; then record FAIL "$1" "no GPU text: $(why "$2")"
    else record FAIL "$1" "GPU '$(tr '\n' ' ' <<<"$g" | cut -c 1-80)' vs CPU '$(tr '\n' ' ' <<<"$c" | cut -c 1-80)'"; fi
}
# failed JOB NAME...: a FAIL row for each NAME when JOB failed (so a dead run never passes on stale files)
failed() {
    local job=$1 msg
    shift
    msg=$(why "$job") && return 1
    for n in "$@"; do record FAIL "$n" "$msg"; done
    return 0
}
# the dry run's check of a CPU reference: the dump compares with itself (so it exists and is finite), the
# ten steps are logged, the greedy text is there
dry_refs() { # NAME JOB DIR [SAMPLE_FILE]
    local what="" bad=""
    why "$2" >/dev/null || bad="$(why "$2")"
    if [ -z "$bad" ] && [ -f "$3/cpu.dump" ]; then
        ./dev/compare_dumps "$3/cpu.dump" "$3/cpu.dump" >/dev/null 2>&1 && what+="dump finite" || bad="the CPU dump fails against itself (not finite?)"
    fi
    if [ -z "$bad" ]; then
        d=$(loss_diff "$3/cpu10/log.txt" "$3/cpu10/log.txt" 2>/dev/null)
        [ "$d" = 0.0 ] && what+="${what:+, }10 steps logged" || bad="ten CPU steps: '$d'"
    fi
    if [ -z "$bad" ] && [ -n "${4:-}" ]; then
        [ -n "$(text "$4")" ] && what+=", greedy text" || bad="no greedy text in $4"
    fi
    [ -z "$bad" ] && record PASS "$1: CPU references" "$what" || record FAIL "$1: CPU references" "$bad"
}

# the dry run's checks, at its end: every CPU reference, and the GPU commands' flags
dry_checks() {
    for v in "${VARIANTS[@]}"; do
        for opt in adamw muon; do
            name=${v%% *}-$opt
            dry_refs "$name" "cpu.$name" "$W/$name" $([ $opt = adamw ] && echo "$W/$name/cpu.sample")
        done
    done
    for c in "${COVER[@]}" "accum|gradient accumulation (-b 2 -d 256)|"; do
        IFS='|' read -r id what flags <<<"$c"
        dry_refs "$what" "cpu.$id" "$W/$id"
    done
    dry_refs "llm.c v3 model file" cpu.llmc "$W/llmc" "$W/llmc/cpu.sample"
    dry_refs "ZeRO-1 on one process" cpu.zero "$W/zero"
    d=$(loss_diff "$W/cross.cpu/log.txt" "$W/cross.cpu/log.txt" 2>/dev/null)
    [ "$d" = 0.0 ] && [ -f "$W/cross.cpu/ckpt_00000005.safetensors" ] && record PASS "checkpoint hand-over: CPU references" "10 steps logged, step-5 checkpoint" ||
        record FAIL "checkpoint hand-over: CPU references" "$(why cpu.cross || echo "log: '$d'")"
    if [ $HAVE_MPI = 1 ]; then
        [ -f "$W/zmpi/two/ckpt_00000005.safetensors" ] && record PASS "ZeRO-1 checkpoint from 2 CPU processes (MPI)" "step-5 checkpoint written" ||
            record FAIL "ZeRO-1 checkpoint from 2 CPU processes (MPI)" "$(why cpu.zmpi)"
    else
        record SKIP "ZeRO-1 checkpoint from 2 CPU processes (MPI)" "no mpicc/mpirun; install: apt-get install openmpi-bin libopenmpi-dev"
    fi
    if [ $ARGCHECK = 1 ]; then
        n_ok=$(cat "$W/argcheck.ok" 2>/dev/null | wc -l)
        if [ -s "$W/argcheck.fail" ]; then
            record FAIL "dry run: GPU flags through the trainers' parser" "$(wc -l <"$W/argcheck.fail") refused, e.g. $(head -n 1 "$W/argcheck.fail")"
        else
            record PASS "dry run: GPU flags through the trainers' parser" "$n_ok train_gptcu commands parse (dev/check_args)"
        fi
    fi
}

if [ $DRY = 0 ]; then
    # a CPU reference that failed gets a row of its own (the comparisons that needed it fail too)
    for j in $(grep '^cpu\.' "$W/order"); do msg=$(why "$j") || record FAIL "CPU reference $j" "$msg"; done
    for v in "${VARIANTS[@]}"; do
        for opt in adamw muon; do
            name=${v%% *}-$opt
            d=$W/$name
            for prec in fp32 bf16; do
                if [ $prec = fp32 ]; then tol=(--tol-loss 1e-5 --tol-logits 1e-5 --tol-grads 1e-4) steps_tol=1e-4
                else tol=(--tol-loss 2e-2 --tol-logits 5e-2 --tol-grads 5e-2) steps_tol=5e-2; fi
                failed "gpu.$name.$prec.dump" "$name $prec: loss, logits, gradients" || check_dump "$name $prec: loss, logits, gradients" "$d/cpu.dump" "$d/gpu.$prec.dump" "${tol[@]}"
                failed "gpu.$name.$prec.steps" "$name $prec: 10 steps of losses" || check_steps "$name $prec: 10 steps of losses" "$d/cpu10/log.txt" "$d/gpu10.$prec/log.txt" $steps_tol
            done
            if [ $opt = adamw ]; then
                failed "gpu.$name.fp32.sample" "$name fp32: greedy KV-cache decode = CPU's" || check_text "$name fp32: greedy KV-cache decode = CPU's" "gpu.$name.fp32.sample" "$d/cpu.sample"
                n="$name bf16: KV-cache decode of 48 tokens"
                if failed "gpu.$name.bf16.sample" "$n"; then :
                elif grep -q "^generated 48 tokens" "$LOG/gpu.$name.bf16.sample.log"; then
                    record PASS "$n" "$(grep -m1 -o '^generated 48 tokens[^(]*' "$LOG/gpu.$name.bf16.sample.log")"
                else record FAIL "$n" "$(tail -n 1 "$LOG/gpu.$name.bf16.sample.log")"; fi
            fi
        done
    done
    for prec in fp32 bf16; do
        n="GPU resume $prec: 5 + 5 steps = 10, checkpoint bit-identical"
        failed "gpu.resume.$prec" "$n" || { cmp -s "$W/resume.$prec/A/ckpt_00000010.safetensors" "$W/resume.$prec/B/ckpt_00000010.safetensors"; ok_if $? "$n" ""; }
    done
    n="CPU checkpoint (step 5) continued on the GPU"
    failed gpu.cpu2gpu "$n" || check_steps "$n" "$W/cross.cpu/log.txt" "$W/cross.cpu2gpu/log.txt" 1e-4 5
    n="GPU checkpoint (step 5) continued on the CPU"
    failed gpu.cross "$n" || failed after.gpu2cpu "$n" || check_steps "$n" "$W/cross.gpu/log.txt" "$W/cross.gpu2cpu/log.txt" 1e-4 5
    for c in "${COVER[@]}"; do
        IFS='|' read -r id what flags <<<"$c"
        failed "gpu.$id.dump" "$what fp32: loss, logits, gradients" ||
            check_dump "$what fp32: loss, logits, gradients" "$W/$id/cpu.dump" "$W/$id/gpu.dump" --tol-loss 1e-5 --tol-logits 1e-5 --tol-grads 1e-4
        failed "gpu.$id.steps" "$what fp32: 10 steps of losses" || check_steps "$what fp32: 10 steps of losses" "$W/$id/cpu10/log.txt" "$W/$id/gpu10/log.txt" 1e-4
    done
    n="gradient accumulation (-b 2 -d 256) fp32: 10 steps of losses"
    failed gpu.accum.steps "$n" || check_steps "$n" "$W/accum/cpu10/log.txt" "$W/accum/gpu10/log.txt" 1e-4
    n="llm.c v3 model file (-e) fp32: loss, logits, gradients"
    failed gpu.llmc.dump "$n" || check_dump "$n" "$W/llmc/cpu.dump" "$W/llmc/gpu.dump" --tol-loss 1e-5 --tol-logits 1e-5 --tol-grads 1e-4
    n="llm.c v3 model file (-e) fp32: 10 steps of losses"
    failed gpu.llmc.steps "$n" || check_steps "$n" "$W/llmc/cpu10/log.txt" "$W/llmc/gpu10/log.txt" 1e-4
    n="llm.c v3 model file fp32: greedy decode (learned positions) = CPU's"
    failed gpu.llmc.sample "$n" || check_text "$n" gpu.llmc.sample "$W/llmc/cpu.sample"
    n="ZeRO-1 on one GPU (-z 1) fp32: 10 steps = CPU's"
    failed gpu.zero "$n" || check_steps "$n" "$W/zero/cpu10/log.txt" "$W/zero/gpu10/log.txt" 1e-4
    n="ZeRO-1 on one GPU: 5 + 5 steps = 10, checkpoint bit-identical"
    failed gpu.zero "$n" || { cmp -s "$W/zero/gpu10/ckpt_00000010.safetensors" "$W/zero/gpu5/ckpt_00000010.safetensors"; ok_if $? "$n" ""; }
    n="ZeRO-1 checkpoint of 2 CPU processes (MPI) continued on 1 GPU"
    if [ $HAVE_MPI = 1 ]; then
        failed cpu.zmpi "$n" || failed gpu.zmpi "$n" || check_steps "$n" "$W/zmpi/two/log.txt" "$W/zmpi/gpu/log.txt" 1e-4 5
    else
        record SKIP "$n" "no mpicc/mpirun; install: apt-get install openmpi-bin libopenmpi-dev"
    fi
fi

# ---------------------------------------------------------------------------
# 2 GPUs: 2 processes x B = 1 x 2B, under MPI and through --dist-init file:, each run under a timeout
# two_processes OUT FLAGS...: ranks 0 and 1 meeting through a file
two_processes() {
    local out=$1 r t
    shift
    if [ $DRY = 1 ]; then
        for r in 0 1; do
            NOTE="both ranks at once" would timeout "$TIMEOUT" ./train_gptcu "${DP[@]}" "$@" --num-processes 2 --process-rank $r --dist-init "file:$out.id" -o "$out"
            argcheck "${DP[@]}" "$@" --num-processes 2 --process-rank $r --dist-init "file:$out.id" -o "$out"
        done
        return 0
    fi
    t=$(limit "$TIMEOUT") || return 124
    for r in 0 1; do
        x timeout "$t" ./train_gptcu "${DP[@]}" "$@" --num-processes 2 --process-rank $r --dist-init "file:$out.id" -o "$out" &
    done
    wait
}
mpi_gpus() { # OUT FLAGS...: 2 processes under mpirun (the MPI build)
    local out=$1
    shift
    if [ $DRY = 1 ]; then
        would timeout "$TIMEOUT" "${MPIRUN[@]}" "$W/mpisrc/train_gptcu" "${DP[@]}" "$@" -o "$out"
        argcheck "${DP[@]}" "$@" -o "$out"
        return 0
    fi
    budgeted "$TIMEOUT" "${MPIRUN[@]}" "$W/mpisrc/train_gptcu" "${DP[@]}" "$@" -o "$out"
}
zero_resume() { # by 1 GPU (B=8) and by 2 (B=4, ZeRO-1), from the 2-GPU ZeRO-1 run's step-5 checkpoint
    x mkdir -p "$W/dpr1" "$W/dpr2"
    on_gpu cp "$W/dp2file/ckpt_00000005.safetensors" "$W/dpr1/"
    on_gpu cp "$W/dp2file/ckpt_00000005.safetensors" "$W/dpr2/"
    gpu "${DP[@]}" -b 8 -o "$W/dpr1" -y 1
    two_processes "$W/dpr2" -b 4 -z 1 -y 1
}
MULTI=("2 GPUs under MPI, -z 0 = 1 GPU with 2B"
    "2 GPUs under MPI, -z 1 (ZeRO-1) = 1 GPU with 2B"
    "2 GPUs, --dist-init file:, ZeRO-1 (NCCL overlap) = 1 GPU with 2B"
    "2 GPUs x B=2 x 2 micro-steps = 1 GPU x B=4 x 2"
    "2-GPU ZeRO-1 checkpoint (step 5) resumed by 1 GPU"
    "2-GPU ZeRO-1 checkpoint (step 5) resumed by 2 GPUs")
if [ $DRY = 1 ] || [ "$NGPU" -ge 2 ]; then
    for z in 0 1; do run_logged "gpu2.mpi.z$z" mpi_gpus "$W/dp2mpi.$z" -b 4 -z $z; done
    run_logged gpu2.file two_processes "$W/dp2file" -b 4 -z 1 -n 5 --keep-last 0
    run_logged gpu2.accum two_processes "$W/dp2acc" -b 2 -d 512
    run_logged gpu2.resume zero_resume
fi
if [ $DRY = 0 ] && [ "$NGPU" -ge 2 ]; then
    for z in 0 1; do
        n=${MULTI[$z]}
        if [ $HAVE_MPI = 0 ]; then record SKIP "$n" "no mpicc/mpirun; install: apt-get install openmpi-bin libopenmpi-dev"
        else failed build.mpi "$n" || failed "gpu2.mpi.z$z" "$n" || check_steps "$n" "$W/dp1/log.txt" "$W/dp2mpi.$z/log.txt" 1e-4; fi
    done
    failed gpu2.file "${MULTI[2]}" || check_steps "${MULTI[2]}" "$W/dp1/log.txt" "$W/dp2file/log.txt" 1e-4
    failed gpu2.accum "${MULTI[3]}" || check_steps "${MULTI[3]}" "$W/dp1acc/log.txt" "$W/dp2acc/log.txt" 1e-4
    failed gpu2.resume "${MULTI[4]}" "${MULTI[5]}" || {
        check_steps "${MULTI[4]}" "$W/dp2file/log.txt" "$W/dpr1/log.txt" 1e-4 5
        check_steps "${MULTI[5]}" "$W/dp2file/log.txt" "$W/dpr2/log.txt" 1e-4 5
    }
    phase_done "2 GPUs"
elif [ $DRY = 0 ]; then
    for n in "${MULTI[@]}"; do record SKIP "$n" "needs 2 GPUs, $NGPU here; install: none (run on a machine with 2 or more GPUs)"; done
fi

# ---------------------------------------------------------------------------
# the benchmark, alone on the GPU: GPT-2 124M at T=1024, 16 rows of 3 timed steps
BENCH=(make bench-gpu GPU_ARCH="$ARCH" BENCH_GPU_FLAGS="--preset gpt2-1k --table 1 --steps 3")
if [ $DRY = 1 ]; then
    would "${BENCH[@]}"
else
    run_logged bench budgeted 300 "${BENCH[@]}"
    cp "$LOG/bench.log" "$OUT/bench.txt"
    row=$(grep -m1 -E '^\| mha +\| adamw \|' "$LOG/bench.log")
    rows_done=$(grep -cE '^\| (mha|gqa|mqa|gta|mla|gla|mosaic|mosaic\+pmem) +\| (adamw|muon) ' "$LOG/bench.log")
    if why bench >/dev/null && [ "$rows_done" = 16 ]; then
        # | attn | opt | params | F | fwd | bwd | opt | step ms | tok/s | GFLOP/s | % peak | ...
        record PASS "make bench-gpu: GPT-2 124M, T=1024, 16 rows" "$(awk -F'|' '{gsub(/ /, "", $0); print "mha+adamw " $9 " ms/step, " $10 " tok/s, " $12 " of the measured peak"}' <<<"$row")"
    else
        record FAIL "make bench-gpu: GPT-2 124M, T=1024, 16 rows" "$rows_done rows; $(why bench)"
    fi
    phase_done bench
fi

if [ $DRY = 1 ]; then
    echo "$(wc -l <"$W/would") commands would run (listed above)"
    dry_checks
fi
finish
