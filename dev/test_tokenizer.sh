#!/usr/bin/env bash
# Command-line tests of the GPT-2 tokenizer and data preparation: llm.c's tiny Shakespeare shards reproduced
# byte for byte, the general form (several files, shards, either tokenizer, blank-line sections), llm.c's
# tokenizer file, the vocabulary download script, and damaged or missing vocabulary files and bad flags,
# each of which must fail with a message naming the file or flag. Never touches the network.
#
#   make test                    (builds first; or: bash dev/test_tokenizer.sh after make)
#   GPT2_VOCAB=dir TINYSHAKESPEARE=path bash dev/test_tokenizer.sh   to use other copies of the data
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
DATA=${TINYSHAKESPEARE:-../shared/data/tinyshakespeare.txt}
VOCAB=${GPT2_VOCAB:-../shared/data/gpt2}
[ -f "$DATA" ] || { echo "error: $DATA not found; set TINYSHAKESPEARE=path/to/input.txt"; exit 1; }
[ -f "$VOCAB/r50k_base.tiktoken" ] || { echo "error: $VOCAB/r50k_base.tiktoken not found; set GPT2_VOCAB=dir"; exit 1; }
W=$(mktemp -d /tmp/gptc_tok_XXXXXX)
trap 'rm -rf "$W"' EXIT
source dev/testlib.sh

sha() { sha256sum "$1" | cut -d' ' -f1; }
ntokens() { echo $((($(stat -c %s "$1") - 1024) / 2)); }
first_token() { od -An -tu2 -j1024 -N2 "$1" | tr -d ' '; }

# ---------------------------------------------------------------------------
echo "== llm.c's tiny Shakespeare"
LLMC=(--tokenizer gpt2 --docs sections --val-at start --val-tokens 32768)
VAL_SHA=fe99db720dc7c83e694806d4e047a952909411da1daccde4ccc2e55f40882a62
TRAIN_SHA=8a70606be574040c26d225694f5f9759973b419852d22f7fe5c118e1b359dcc8
for v in "$VOCAB" "$VOCAB/encoder.json" "$VOCAB/gpt2_tokenizer.bin"; do
    rm -rf "$W/llmc"
    ./prepare_data "${LLMC[@]}" --vocab "$v" -o "$W/llmc/tiny_shakespeare" "$DATA" >"$W/llmc.log" 2>&1 ||
        fail "prepare_data (vocabulary $v) failed: $(tail -n 3 "$W/llmc.log")"
    V="$W/llmc/tiny_shakespeare_val.bin"
    T="$W/llmc/tiny_shakespeare_train.bin"
    if [ -f "$V" ] && [ -f "$T" ] && [ "$(sha "$V")" = $VAL_SHA ] && [ "$(sha "$T")" = $TRAIN_SHA ]; then
        pass "vocabulary $(basename "$v"): val $(ntokens "$V") tokens sha256 ${VAL_SHA:0:8}, train $(ntokens "$T") tokens sha256 ${TRAIN_SHA:0:8} (llm.c's files)"
    else
        fail "vocabulary $v: shards differ from llm.c's: $(ls "$W/llmc" 2>&1)"
    fi
done

echo "== the general form"
head -c 300000 "$DATA" >"$W/a.txt"
tail -c 200000 "$DATA" >"$W/b.txt"
./prepare_data --tokenizer gpt2 --vocab "$VOCAB" --shard-tokens 40000 --val-tokens 10000 -o "$W/multi/m" "$W/a.txt" "$W/b.txt" >"$W/multi.log" 2>&1
n_shards=$(ls "$W"/multi/m_train_*.bin 2>/dev/null | wc -l)
n_train=0
for f in "$W"/multi/m_train_*.bin; do n_train=$((n_train + $(ntokens "$f"))); done
if [ "$n_shards" -ge 3 ] && [ "$(first_token "$W/multi/m_train_000000.bin")" = 50256 ] && [ -f "$W/multi/m_val.bin" ] &&
    [ "$(ntokens "$W/multi/m_val.bin")" = 10000 ] && [ $n_train -gt 100000 ] && [ $n_train -lt 200000 ]; then
    pass "gpt2, 2 files: $n_train train tokens in $n_shards shards of <= 40,000 starting with end-of-text 50256, 10,000 val"
else
    fail "gpt2 general form: $n_shards train shards, $n_train tokens: $(tail -n 3 "$W/multi.log")"
fi
./prepare_data --docs sections -o "$W/sec/s" "$DATA" >"$W/sec.log" 2>&1
n_sections=$(python3 -c 'import sys; print(open(sys.argv[1], "rb").read().count(b"\n\n") + 1)' "$DATA")
n_all=$(($(ntokens "$W/sec/s_train.bin") + $(ntokens "$W/sec/s_val.bin")))
if [ $n_all -eq $(($(stat -c %s "$DATA") + n_sections)) ] && [ "$(first_token "$W/sec/s_train.bin")" = 256 ]; then
    pass "bytes, --docs sections: $n_all tokens = file bytes + one end-of-text per section ($n_sections)"
else
    fail "bytes, --docs sections: $n_all tokens, expected bytes + $n_sections: $(tail -n 3 "$W/sec.log")"
fi
./prepare_data --tokenizer gpt2 --vocab "$VOCAB/encoder.json" --save-tokenizer "$W/gpt2_tokenizer.bin" >/dev/null 2>&1 &&
    cmp -s "$W/gpt2_tokenizer.bin" "$VOCAB/gpt2_tokenizer.bin" &&
    pass "--save-tokenizer writes llm.c's gpt2_tokenizer.bin byte for byte" || fail "--save-tokenizer output differs from llm.c's"

echo "== the download script (a file:// mirror; never the network)"
MIRROR="file://$(realpath "$VOCAB")"
GPT2_VOCAB_URL=$MIRROR bash data/get_gpt2_vocab.sh "$W/dl" r50k_base.tiktoken encoder.json vocab.bpe >/dev/null 2>&1 &&
    cmp -s "$W/dl/r50k_base.tiktoken" "$VOCAB/r50k_base.tiktoken" && cmp -s "$W/dl/encoder.json" "$VOCAB/encoder.json" &&
    cmp -s "$W/dl/vocab.bpe" "$VOCAB/vocab.bpe" && pass "get_gpt2_vocab.sh fetches the three files and verifies their sha256" ||
    fail "get_gpt2_vocab.sh could not fetch from $MIRROR"
GPT2_VOCAB_URL=file:///nonexistent bash data/get_gpt2_vocab.sh "$W/dl" 2>&1 | grep -q "already there" &&
    pass "get_gpt2_vocab.sh keeps a verified file without downloading" || fail "get_gpt2_vocab.sh re-downloaded a verified file"
mkdir -p "$W/badmirror"
head -c 1000 "$VOCAB/r50k_base.tiktoken" >"$W/badmirror/r50k_base.tiktoken"
expect_error "download with the wrong checksum" "expected 306cd27f" env GPT2_VOCAB_URL="file://$W/badmirror" bash data/get_gpt2_vocab.sh "$W/dl2"
[ ! -e "$W/dl2/r50k_base.tiktoken" ] && [ ! -e "$W/dl2/r50k_base.tiktoken.part" ] && pass "a download that fails its checksum leaves no file" ||
    fail "bad download kept"
expect_error "download while offline" "--vocab PATH" env GPT2_VOCAB_URL=file:///nonexistent bash data/get_gpt2_vocab.sh "$W/dl3"
expect_error "download of an unknown file" "unknown vocabulary file 'vocab.json'" bash data/get_gpt2_vocab.sh "$W/dl3" vocab.json

echo "== damaged and missing vocabularies, bad flags"
# damaged copy NAME DIR CMD...: DIR gets the other files intact and NAME from CMD's output
damaged() {
    local name=$1 dir=$2
    shift 2
    mkdir -p "$dir"
    for f in r50k_base.tiktoken encoder.json vocab.bpe gpt2_tokenizer.bin; do [ "$f" = "$name" ] || cat "$VOCAB/$f" >"$dir/$f"; done
    "$@" >"$dir/$name"
}
prep() { ./prepare_data --tokenizer gpt2 --vocab "$1" -o "$W/out/x" "$W/a.txt"; }
damaged r50k_base.tiktoken "$W/v1" head -c 400000 "$VOCAB/r50k_base.tiktoken"
expect_error "r50k_base.tiktoken cut mid-line" "'$W/v1/r50k_base.tiktoken' line" prep "$W/v1"
damaged r50k_base.tiktoken "$W/v2" head -n 30000 "$VOCAB/r50k_base.tiktoken"
expect_error "r50k_base.tiktoken cut at a line" "'$W/v2/r50k_base.tiktoken' has 30000 tokens, GPT-2's r50k_base has 50256" prep "$W/v2"
damaged r50k_base.tiktoken "$W/v3" sed '100s/^[^ ]*/#not_base64#/' "$VOCAB/r50k_base.tiktoken"
expect_error "r50k_base.tiktoken with a bad line" "'$W/v3/r50k_base.tiktoken' line 100: '#not_base64#' is not base64" prep "$W/v3"
damaged encoder.json "$W/v4" head -c 500000 "$VOCAB/encoder.json"
expect_error "encoder.json truncated" "(not GPT-2's encoder.json, or truncated)" prep "$W/v4/encoder.json"
damaged encoder.json "$W/v5" sed 's/"\\"": 1,/"\\"": 0,/' "$VOCAB/encoder.json"
expect_error "encoder.json with an id twice" "'$W/v5/encoder.json' byte 9: id 0 appears twice" prep "$W/v5/encoder.json"
damaged vocab.bpe "$W/v6" sed '2s/.*/Ġt Ġt/' "$VOCAB/vocab.bpe"
expect_error "vocab.bpe that does not match encoder.json" "'$W/v6/vocab.bpe' line 2: merge 'Ġt Ġt' uses or makes a token that '$W/v6/encoder.json' does not have" \
    prep "$W/v6/vocab.bpe"
expect_error "  ... with the fix" "must come from the same GPT-2 release" prep "$W/v6/encoder.json"
damaged vocab.bpe "$W/v7" head -n 40000 "$VOCAB/vocab.bpe"
expect_error "vocab.bpe truncated" "'$W/v7/vocab.bpe' has 39999 merges, GPT-2 has 50000" prep "$W/v7/vocab.bpe"
damaged gpt2_tokenizer.bin "$W/v8" head -c 200000 "$VOCAB/gpt2_tokenizer.bin"
expect_error "gpt2_tokenizer.bin truncated" "'$W/v8/gpt2_tokenizer.bin' byte" prep "$W/v8/gpt2_tokenizer.bin"
expect_error "  ... naming the cause" "the file ends inside token" prep "$W/v8/gpt2_tokenizer.bin"
damaged gpt2_tokenizer.bin "$W/v9" head -c 1024 "$DATA"
expect_error "gpt2_tokenizer.bin that is not one" "'$W/v9/gpt2_tokenizer.bin' has magic" prep "$W/v9/gpt2_tokenizer.bin"
# dev/fuzz regression: an empty token used to do pointer arithmetic on NULL before the refusal
damaged gpt2_tokenizer.bin "$W/v11" bash -c "head -c 1024 '$VOCAB/gpt2_tokenizer.bin'; printf '\\0'"
expect_error "gpt2_tokenizer.bin whose first token is empty" "'$W/v11/gpt2_tokenizer.bin' byte 1024: token 0 is empty" prep "$W/v11/gpt2_tokenizer.bin"
mkdir -p "$W/v10" && cp "$VOCAB/encoder.json" "$W/v10/"
expect_error "encoder.json without vocab.bpe" "'$W/v10/encoder.json' needs '$W/v10/vocab.bpe' beside it" prep "$W/v10/encoder.json"
mkdir -p "$W/empty"
expect_error "a directory without a vocabulary" "no GPT-2 vocabulary in '$W/empty'" prep "$W/empty"
expect_error "a file that is no vocabulary" "'$DATA' is not a GPT-2 vocabulary file" prep "$DATA"
mkdir -p "$W/cwd"
expect_error "the default vocabulary missing" "run \`bash data/get_gpt2_vocab.sh\`" \
    bash -c "cd '$W/cwd' && '$ROOT/prepare_data' --tokenizer gpt2 -o out/x '$W/a.txt'"
expect_error "unknown tokenizer" "unknown tokenizer 'gpt3' (known: bytes, gpt2)" ./prepare_data --tokenizer gpt3 -o "$W/out/x" "$W/a.txt"
expect_error "a vocabulary for the byte tokenizer" "tokenizer 'bytes' reads no vocabulary" ./prepare_data --vocab "$VOCAB" -o "$W/out/x" "$W/a.txt"
expect_error "unknown --docs" "unknown --docs 'paragraphs'" ./prepare_data --docs paragraphs -o "$W/out/x" "$W/a.txt"
expect_error "unknown --val-at" "unknown --val-at 'middle'" ./prepare_data --val-at middle -o "$W/out/x" "$W/a.txt"
[ ! -e "$W/out/x_train.bin" ] && pass "no shard was written by a failed run" || fail "a failed run wrote shards"

echo
if [ $fails -eq 0 ]; then echo "all tokenizer CLI tests passed"; else echo "FAILED: $fails tokenizer CLI test(s)"; fi
[ $fails -eq 0 ]
