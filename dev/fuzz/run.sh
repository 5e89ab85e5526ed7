#!/usr/bin/env bash
# Runs fuzz targets one after another (one process, one core) for SECONDS each:
#   bash run.sh SECONDS TARGET...        (from dev/fuzz, after `make` and `make seeds`; `make run` does all)
# Each target reads its seeds (build/seeds/<target>) and its corpus (build/corpus/<target>, kept and grown
# between runs), prints its executions and whether it found anything, and appends a line to
# build/ledger.tsv (date, target, seconds, executions, executions/s, result). A finding's input is saved in
# build/findings/<target>/ (crash-*, leak-*, timeout-*, oom-*); reproduce it with ./build/<target> FILE.
# Exits non-zero when any target found something or could not run.
set -u
cd "$(dirname "$0")"
SECONDS_EACH=${1:?usage: run.sh SECONDS TARGET...}
shift
B=build
mkdir -p $B/logs
LEDGER=$B/ledger.tsv
[ -f $LEDGER ] || printf 'date\ttarget\tseconds\texecutions\texec_per_s\tresult\n' >$LEDGER
status=0

options() {
    case $1 in
        fuzz_checkpoint) echo "-max_len=32768 -timeout=20" ;;
        fuzz_llmc_model) echo "-max_len=8192 -timeout=20" ;;
        fuzz_shard) echo "-max_len=4096 -timeout=20" ;;
        fuzz_vocab) echo "-max_len=8192 -timeout=20" ;;
        fuzz_vocab_full) echo "-max_len=512 -timeout=120" ;;
        fuzz_encode) echo "-max_len=16384 -timeout=20" ;;
        *) echo "" ;;
    esac
}

findings() { ls $B/findings/$1 2>/dev/null | grep -cE '^(crash|leak|timeout|oom)-'; }

for t in "$@"; do
    [ -x $B/$t ] || { echo "$t: not built (make -C dev/fuzz)"; status=1; continue; }
    mkdir -p $B/corpus/$t $B/findings/$t
    before=$(findings $t)
    log=$B/logs/$t.log
    # one process; die() messages (stderr) are closed off: libFuzzer's and the sanitizers' output is kept
    ./$B/$t $(options $t) -max_total_time="$SECONDS_EACH" -print_final_stats=1 -close_fd_mask=3 \
        -artifact_prefix=$B/findings/$t/ $B/corpus/$t $B/seeds/$t >"$log" 2>&1
    rc=$?
    execs=$(grep -m1 '^stat::number_of_executed_units:' "$log" | awk '{print $2}')
    [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')
    [ -n "$execs" ] || execs=0
    per_s=$(grep -m1 '^stat::average_exec_per_sec:' "$log" | awk '{print $2}')
    [ -n "$per_s" ] || per_s=0
    after=$(findings $t)
    if [ "$after" -gt "$before" ]; then
        result="FINDING"
        echo "$t: $execs executions ($per_s/s): FOUND $((after - before)) new input(s) in $B/findings/$t/; log $log:"
        grep -E 'ERROR|FUZZ FINDING|runtime error|SUMMARY|Test unit written' "$log" | head -n 8 | sed 's/^/    /'
        status=1
    elif [ $rc -ne 0 ]; then
        result="ERROR rc=$rc"
        echo "$t: exited with status $rc after $execs executions; log $log:"
        tail -n 12 "$log" | sed 's/^/    /'
        status=1
    else
        result="ok"
        echo "$t: $execs executions in ${SECONDS_EACH}s ($per_s/s), corpus $(ls $B/corpus/$t | wc -l) inputs, no findings"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$t" "$SECONDS_EACH" "$execs" "$per_s" "$result" >>$LEDGER
done
echo "executions so far per target (build/ledger.tsv):"
awk -F'\t' 'NR > 1 { sum[$2] += $4 } END { for (t in sum) printf "    %-18s %d\n", t, sum[t] }' $LEDGER | sort
exit $status
