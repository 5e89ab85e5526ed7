# The comparison scripts' command line (sourced): `--some-flag VALUE` sets the script's variable some_flag
# when FLAGS lists it; -h or --help prints the script's opening comment. Anything else is refused with a
# message and the usage.
#
#   FLAGS="out steps layers"; source scripts/flags.sh; parse_flags "$@"

usage() { sed -n '2,/^[^#]/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

parse_flags() {
    while [ $# -gt 0 ]; do
        case $1 in -h | --help) usage; exit 0 ;; esac
        local name=${1#--}
        name=${name//-/_}
        if [[ $1 != --* ]] || [[ " $FLAGS " != *" $name "* ]]; then
            echo "error: unknown flag $1" >&2
            usage >&2
            exit 1
        fi
        [ $# -ge 2 ] || { echo "error: flag $1 needs a value" >&2; exit 1; }
        printf -v "$name" '%s' "$2"
        shift 2
    done
}
