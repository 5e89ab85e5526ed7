#!/usr/bin/env bash
# Unpacks a file the repository ships (data/packed/NAME.gz) to DEST and checks it against its sha256 in
# data/packed/SHA256SUMS; only a file that checks out is moved into place (via DEST.part), so DEST is
# either absent or exactly the shipped file. A DEST that already has the right sha256 is kept.
#
#   bash data/unpack.sh NAME DEST        e.g. bash data/unpack.sh r50k_base.tiktoken data/gpt2/r50k_base.tiktoken
#
# `make data` runs it for every shipped file; make train and make test do so themselves.
set -euo pipefail
name=$1 dest=$2
packed="$(dirname "$0")/packed"
sha256() { if command -v sha256sum >/dev/null; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -d' ' -f1; }
want=$(awk -v n="$name" '$2 == n { print $1 }' "$packed/SHA256SUMS")
if [ -z "$want" ] || [ ! -f "$packed/$name.gz" ]; then
    echo "error: $packed has no $name.gz with a sha256 in SHA256SUMS" >&2
    echo "hint: the clone is incomplete: git checkout -- data/packed" >&2
    exit 1
fi
if [ -f "$dest" ] && [ "$(sha256 "$dest")" = "$want" ]; then
    touch "$dest" # newer than the packed file, so make does not ask again
    exit 0
fi
mkdir -p "$(dirname "$dest")"
if ! gzip -dc "$packed/$name.gz" >"$dest.part"; then
    rm -f "$dest.part"
    echo "error: could not decompress $packed/$name.gz" >&2
    echo "hint: the file is damaged: git checkout -- data/packed/$name.gz" >&2
    exit 1
fi
got=$(sha256 "$dest.part")
if [ "$got" != "$want" ]; then
    rm -f "$dest.part"
    echo "error: $packed/$name.gz unpacks to a file with sha256 $got, expected $want; nothing was written" >&2
    echo "hint: the packed file is damaged: git checkout -- data/packed/$name.gz" >&2
    exit 1
fi
mv "$dest.part" "$dest"
echo "unpacked $dest (sha256 verified)"
