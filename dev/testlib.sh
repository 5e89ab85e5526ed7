# Helpers the shell tests share (sourced): result lines (dev/run_tests.sh counts them), expected errors,
# loss comparisons, the data the repository ships (make data unpacks it) and optional parts.
fails=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
# skip PART REASON INSTALL: checks that need an optional part this machine lacks
skip() { echo "SKIP $1: $2; install: $3"; }

DATA=${TINYSHAKESPEARE:-data/tinyshakespeare/input.txt}
VOCAB=${GPT2_VOCAB:-data/gpt2}
[ -f "$DATA" ] || { echo "FAIL test data $DATA not found: run make data (or set TINYSHAKESPEARE=path/to/input.txt)"; exit 1; }

# whether the build encodes with the gpt2 tokenizer (make passes HAVE_PCRE2; standalone, the build's stamp says)
have_pcre2() { [ "${HAVE_PCRE2:-}" = 1 ] || grep -q -- -DHAVE_PCRE2 .build/c.config 2>/dev/null; }
# whether python3 can import every module named
have_python() { python3 -c "import $(IFS=,; echo "$*")" 2>/dev/null; }

# expect_error WHAT MESSAGE CMD...: CMD must exit non-zero and print MESSAGE
expect_error() {
    local what=$1 msg=$2 out rc
    shift 2
    out=$("$@" 2>&1)
    rc=$?
    if [ $rc -ne 0 ] && grep -qF -- "$msg" <<<"$out"; then
        pass "$what: exit $rc, $(grep -m1 '^error' <<<"$out")"
    else
        fail "$what: exit $rc, expected a message containing '$msg'; got: $(tail -n 3 <<<"$out")"
    fi
}

# loss_diff REF_LOG LOG [RESUMED_AT]: the largest relative difference of LOG's train_loss lines from
# REF_LOG's; LOG must log exactly REF_LOG's steps after RESUMED_AT (default 0: all of them; a run resumed
# at step k logs only its own), else "inf", so a run that died early cannot pass on the steps it made
loss_diff() {
    python3 - "$1" "$2" "${3:-0}" <<'PY'
import sys
def losses(path):
    return {int(l.split()[1]): float(l.split()[3]) for l in open(path) if " train_loss " in l}
a, b, resumed_at = losses(sys.argv[1]), losses(sys.argv[2]), int(sys.argv[3])
expected = {s for s in a if s > resumed_at}
print(max(abs(b[s] - a[s]) / abs(a[s]) for s in b) if b and set(b) == expected else "inf")
PY
}

# within X TOL: X <= TOL
within() { python3 -c "import sys; sys.exit(0 if float('$1') <= float('$2') else 1)"; }
