# Helpers the shell tests share (sourced): results, expected errors, loss comparisons.
fails=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

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

# loss_diff REF_LOG LOG: the largest relative difference of LOG's train_loss lines from REF_LOG's, over
# LOG's steps (a resumed run logs only its own); "inf" when LOG has a step REF_LOG lacks
loss_diff() {
    python3 - "$1" "$2" <<'PY'
import sys
def losses(path):
    return {int(l.split()[1]): float(l.split()[3]) for l in open(path) if " train_loss " in l}
a, b = losses(sys.argv[1]), losses(sys.argv[2])
print(max(abs(b[s] - a[s]) / abs(a[s]) for s in b) if b and set(b) <= set(a) else "inf")
PY
}

# within X TOL: X <= TOL
within() { python3 -c "import sys; sys.exit(0 if float('$1') <= float('$2') else 1)"; }
