# Sourced by the data/get_*.sh scripts: one verified download.
#
#   fetch_verified URL DEST SHA256 HINT
#
# Downloads URL (curl, else wget) to DEST.part, checks its sha256 and only then moves it to DEST. On any
# failure it removes the partial file, prints the error and HINT (how to supply the file by hand) and
# exits 1. A DEST that already has the right sha256 is kept as it is.
fetch_verified() {
    local url=$1 dest=$2 sha256=$3 hint=$4 fetched=0 got
    if [ -f "$dest" ] && [ "$(sha256sum "$dest" | cut -d' ' -f1)" = "$sha256" ]; then
        echo "ok: $dest (already there, sha256 verified)"
        return 0
    fi
    mkdir -p "$(dirname "$dest")"
    echo "downloading $url -> $dest"
    if command -v curl >/dev/null; then
        curl -fsSL --retry 2 --connect-timeout 10 -o "$dest.part" "$url" && fetched=1
    elif command -v wget >/dev/null; then
        wget -q -T 10 -O "$dest.part" "$url" && fetched=1
    fi
    if [ $fetched = 0 ]; then
        rm -f "$dest.part"
        echo "error: could not download $url" >&2
        echo "hint: $hint" >&2
        exit 1
    fi
    got=$(sha256sum "$dest.part" | cut -d' ' -f1)
    if [ "$got" != "$sha256" ]; then
        rm -f "$dest.part"
        echo "error: the download of $url has sha256 $got, expected $sha256 (a different or damaged file); nothing was kept" >&2
        exit 1
    fi
    mv "$dest.part" "$dest"
    echo "ok: $dest (sha256 verified)"
}
