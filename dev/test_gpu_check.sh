#!/usr/bin/env bash
# dev/gpu_check.sh without a GPU, as make test runs it:
#   - no GPU (nvidia-smi missing, failing, or listing none): one "SKIP gpu_check: no GPU (...)" line
#     naming what nvidia-smi said, exit status 77, before any build;
#   - the dry run: every CPU reference built and checked finite, every GPU command printed and, where
#     train_gptcu is built, put through its parser; it must pass.
# With --plumbing it also runs the whole GPU path with the CPU trainer standing in for train_gptcu (and
# no CUDA build, kernel lab or benchmark, whose rows fail there): every trainer comparison must pass, and
# a stand-in that crashes or computes other numbers must fail its rows (about a minute on 2 cores).
#
#   bash dev/test_gpu_check.sh [--plumbing]      (TINYSHAKESPEARE=path as for gpu_check.sh)
set -u
cd "$(dirname "$0")/.." || exit 2
source dev/testlib.sh
W=$(mktemp -d /tmp/gptc_test_gpu_check_XXXXXX)
trap 'rm -rf "$W"' EXIT

# stand-ins for nvidia-smi on machines without a GPU
printf '#!/bin/sh\necho "NVIDIA-SMI has failed because it couldn'"'"'t communicate with the NVIDIA driver."\nexit 9\n' >"$W/smi-fails"
printf '#!/bin/sh\necho "No devices were found"\nexit 6\n' >"$W/smi-none"
printf '#!/bin/sh\nexit 0\n' >"$W/smi-silent"
chmod +x "$W"/smi-*
for case in "$W/no-such-nvidia-smi|not found" "$W/smi-fails|exit 9: NVIDIA-SMI has failed" "$W/smi-none|exit 6: No devices were found" \
    "$W/smi-silent|lists no GPU"; do
    IFS='|' read -r smi said <<<"$case"
    out=$(GPU_CHECK_NVIDIA_SMI=$smi timeout 60 bash dev/gpu_check.sh "$W/out" 2>&1)
    rc=$?
    if [ $rc -eq 77 ] && [ "$(wc -l <<<"$out")" = 1 ] && grep -q "^SKIP gpu_check: no GPU (.*$said" <<<"$out"; then
        pass "no GPU ($(basename "$smi")): exit 77, '$out'"
    else
        fail "no GPU ($(basename "$smi")): exit $rc, expected 77 and one SKIP line naming '$said'; got: $(head -n 3 <<<"$out")"
    fi
done
bash dev/gpu_check.sh >/dev/null 2>&1
[ $? -eq 2 ] && pass "no OUTDIR: usage, exit 2" || fail "gpu_check.sh without OUTDIR did not exit 2"

# the dry run
start=$(date +%s)
bash dev/gpu_check.sh --dry-run "$W/dry" >"$W/dry.out" 2>&1
rc=$?
n_would=$(grep -c '^would run: ' "$W/dry.out")
n_ok=$(grep -c '^ok   ' "$W/dry.out")
if [ $rc -eq 0 ] && [ "$n_would" -ge 90 ] && [ "$n_ok" -ge 20 ] && [ -s "$W/dry/summary.txt" ] && [ -s "$W/dry/logs.txt" ]; then
    pass "gpu_check.sh --dry-run: $n_ok CPU-side checks ok, $n_would commands printed, in $(($(date +%s) - start)) s"
else
    fail "gpu_check.sh --dry-run: exit $rc, $n_ok ok, $n_would commands; $(grep -m3 -e '^FAIL' -e '^error' "$W/dry.out")"
fi
grep -E '^(FAIL|SKIP) ' "$W/dry.out" # its failures and skips, as it printed them

if [ "${1:-}" = --plumbing ]; then
    # the CPU trainer in train_gptcu's place: flags only the GPU has dropped; a 2-process run becomes
    # rank 0 alone with twice the micro-batch, the other rank exits
    cat >"$W/standin" <<EOF
#!/usr/bin/env bash
args=(); skip=0; prev=""; rank=\${OMPI_COMM_WORLD_RANK:-0}; np=\${OMPI_COMM_WORLD_SIZE:-1}
for a in "\$@"; do
    if [ \$skip = 1 ]; then skip=0; [ "\$prev" = --process-rank ] && rank=\$a; [ "\$prev" = --num-processes ] && np=\$a; continue; fi
    case \$a in --precision|--peak-gflops|--process-rank|--num-processes|--dist-init) skip=1; prev=\$a ;; *) args+=("\$a") ;; esac
done
[ "\$rank" = 0 ] || exit 0
[ "\$np" = 2 ] && for i in "\${!args[@]}"; do [ "\${args[\$i]}" = -b ] && args[\$((i + 1))]=\$((2 * \${args[\$((i + 1))]})); done
unset OMPI_COMM_WORLD_SIZE PMI_SIZE PMIX_SIZE MPI_LOCALNRANKS MV2_COMM_WORLD_SIZE # rank 0 alone: not an MPI run to the trainer
exec "$PWD/train_gpt" "\${args[@]}"
EOF
    # faults: mqa runs crash, gta runs use another seed
    cat >"$W/faulty" <<EOF
#!/usr/bin/env bash
for a in "\$@"; do
    case \$a in mqa) echo "error: a simulated crash" >&2; exit 1 ;; gta) exec "$W/standin" "\$@" --seed 7 ;; esac
done
exec "$W/standin" "\$@"
EOF
    printf '#!/bin/sh\necho "9.0, Stand-in GPU, 81559 MiB, 999.0, Default"\necho "9.0, Stand-in GPU, 81559 MiB, 999.0, Default"\n' >"$W/smi-two"
    chmod +x "$W/standin" "$W/faulty" "$W/smi-two"
    for trainer in standin faulty; do
        # a copy of the script that runs the stand-in, builds nothing with nvcc and runs no lab or benchmark
        sed -e "s#\./train_gptcu#$W/$trainer#g" -e "s#\"\\\$W/mpisrc/train_gptcu\"#$W/standin#" \
            -e '/^build_cuda() {/a\    echo "built in 0 s (stand-in)"; return 0' -e '/^build_mpi() {/a\    return 0' \
            -e 's#make -C dev/cuda GPU_ARCH="\$ARCH" run#false#' -e 's#^BENCH=(make bench-gpu#BENCH=(false#' dev/gpu_check.sh >dev/gpu_check_plumbing.sh
        [ "$(grep -c "$W/$trainer" dev/gpu_check_plumbing.sh)" -ge 5 ] || fail "plumbing: the sed patterns no longer match dev/gpu_check.sh"
        GPU_CHECK_NVIDIA_SMI=$W/smi-two bash dev/gpu_check_plumbing.sh "$W/run.$trainer" >"$W/run.$trainer.out" 2>&1
        rm -f dev/gpu_check_plumbing.sh
        S=$W/run.$trainer/summary.txt
        bad=$(grep '^FAIL' "$S" | grep -v -e 'kernel lab' -e 'bench-gpu')
        if [ $trainer = standin ]; then
            n=$(grep -c '^PASS' "$S")
            [ -z "$bad" ] && [ "$n" -ge 85 ] && pass "plumbing, CPU stand-in on 2 'GPUs': $n trainer checks pass" ||
                fail "plumbing, CPU stand-in: $n PASS; $(head -n 3 <<<"$bad")"
        else
            want=$(grep -cE '^FAIL +(mqa|gta)-' "$S")
            others=$(grep -vE ' (mqa|gta)-' <<<"$bad" | grep -c .)
            [ "$want" = 14 ] && [ "$others" = 0 ] && pass "plumbing, faulty stand-in: its 14 mqa/gta rows fail (crash, other numbers), nothing else" ||
                fail "plumbing, faulty stand-in: $want mqa/gta rows failed (expected 14), $others others: $(head -n 3 <<<"$bad")"
        fi
    done
fi

echo
[ $fails -eq 0 ] && echo "all gpu_check tests passed" || echo "$fails gpu_check tests FAILED"
exit $((fails > 0))
