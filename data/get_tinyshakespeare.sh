#!/usr/bin/env bash
# Fetches tiny Shakespeare (char-rnn's input.txt, the file llm.c and nanoGPT download) to $1 and checks
# its sha256. Offline, it says how to supply the file instead. TINYSHAKESPEARE_URL names a mirror.
set -euo pipefail
dest=${1:-data/tinyshakespeare/input.txt}
url=${TINYSHAKESPEARE_URL:-https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt}
sha256=86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed
offline_help() {
    rm -f "$dest.part"
    echo "error: could not download tiny Shakespeare from $url" >&2
    echo "hint: supply the file yourself: copy char-rnn's tinyshakespeare input.txt (1,115,394 bytes," >&2
    echo "      sha256 $sha256) to $dest, or point make at a copy: make train DATA=/path/to/input.txt" >&2
    exit 1
}
mkdir -p "$(dirname "$dest")"
echo "downloading $url -> $dest"
if command -v curl >/dev/null; then
    curl -fsSL --retry 2 --connect-timeout 10 -o "$dest.part" "$url" || offline_help
elif command -v wget >/dev/null; then
    wget -q -T 10 -O "$dest.part" "$url" || offline_help
else
    offline_help
fi
got=$(sha256sum "$dest.part" | cut -d' ' -f1)
if [ "$got" != "$sha256" ]; then
    rm -f "$dest.part"
    echo "error: the download has sha256 $got, expected $sha256 (a different or damaged file); nothing was kept" >&2
    exit 1
fi
mv "$dest.part" "$dest"
echo "ok: $dest (sha256 verified)"
