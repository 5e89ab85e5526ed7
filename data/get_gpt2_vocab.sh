#!/usr/bin/env bash
# Fetches GPT-2's vocabulary (the files tiktoken downloads from OpenAI's public storage) into DIR and checks
# each file's sha256. The gpt2 tokenizer needs only r50k_base.tiktoken, the default; encoder.json + vocab.bpe
# are GPT-2's original form of the same vocabulary.
#
#   bash data/get_gpt2_vocab.sh [DIR [FILE ...]]     DIR: data/gpt2; FILE: r50k_base.tiktoken, encoder.json, vocab.bpe
#
# Files already in DIR with the right sha256 are kept. Offline, it says how to supply the files instead.
# GPT2_VOCAB_URL names a mirror: a directory URL that holds the files under these names.
set -euo pipefail
source "$(dirname "$0")/fetch.sh"
dir=${1:-data/gpt2}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- r50k_base.tiktoken
openai=https://openaipublic.blob.core.windows.net
for name in "$@"; do
    case $name in
        r50k_base.tiktoken) sha256=306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930 url=$openai/encodings ;;
        encoder.json) sha256=196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783 url=$openai/gpt-2/encodings/main ;;
        vocab.bpe) sha256=1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5 url=$openai/gpt-2/encodings/main ;;
        *)
            echo "error: unknown vocabulary file '$name'" >&2
            echo "hint: choose from r50k_base.tiktoken, encoder.json, vocab.bpe" >&2
            exit 1 ;;
    esac
    fetch_verified "${GPT2_VOCAB_URL:-$url}/$name" "$dir/$name" "$sha256" "supply the vocabulary yourself: copy $name (sha256 $sha256) into $dir,
      or pass the path of a copy to the programs (--vocab PATH); GPT2_VOCAB_URL=URL fetches from a mirror"
done
