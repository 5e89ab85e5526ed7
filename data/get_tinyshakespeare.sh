#!/usr/bin/env bash
# Fetches tiny Shakespeare (char-rnn's input.txt, the file llm.c and nanoGPT download) to $1 and checks
# its sha256. Offline, it says how to supply the file instead. TINYSHAKESPEARE_URL names a mirror.
set -euo pipefail
source "$(dirname "$0")/fetch.sh"
dest=${1:-data/tinyshakespeare/input.txt}
url=${TINYSHAKESPEARE_URL:-https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt}
sha256=86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed
fetch_verified "$url" "$dest" "$sha256" "supply the file yourself: copy char-rnn's tinyshakespeare input.txt (1,115,394 bytes,
      sha256 $sha256) to $dest, or point make at a copy: make train DATA=/path/to/input.txt"
