#!/usr/bin/env bash
# Command-line tests of the GPT-2 tokenizer and data preparation: llm.c's tiny Shakespeare shards reproduced
# byte for byte, the general form (several files, shards, either tokenizer, blank-line sections), llm.c's
# tokenizer file, the vocabulary download script, and damaged or missing vocabulary files and bad flags,
# each of which must fail with a message naming the file or flag. Never touches the network. llm.c's
# gpt2_tokenizer.bin is not shipped: --save-tokenizer writes it, checked against llm.c's sha256.
#
#   make test                    (builds first; or: bash dev/test_tokenizer.sh after make)
#   GPT2_VOCAB=dir TINYSHAKESPEARE=path bash dev/test_tokenizer.sh   to use other copies of the data
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
W=$(mktemp -d /tmp/gptc_tok_XXXXXX)
trap 'rm -rf "$W"' EXIT
source dev/testlib.sh
[ -f "$VOCAB/r50k_base.tiktoken" ] || { echo "FAIL $VOCAB/r50k_base.tiktoken not found: run make data (or set GPT2_VOCAB=dir)"; exit 1; }

sha() { sha256sum "$1" | cut -d' ' -f1; }
ntokens() { echo $((($(stat -c %s "$1") - 1024) / 2)); }
first_token() { od -An -tu2 -j1024 -N2 "$1" | tr -d ' '; }

# llm.c's gpt2_tokenizer.bin, written from the shipped r50k_base.tiktoken
LLMC_TOKENIZER_SHA=6f3abc21e444e4e8300e225f4e03da48ea121cf17e30f67009b8dad7a66c2f13
./prepare_data --tokenizer gpt2 --vocab "$VOCAB" --save-tokenizer "$W/gpt2_tokenizer.bin" >/dev/null 2>&1 &&
    [ "$(sha "$W/gpt2_tokenizer.bin")" = $LLMC_TOKENIZER_SHA ] &&
    pass "--save-tokenizer writes llm.c's gpt2_tokenizer.bin byte for byte (sha256 ${LLMC_TOKENIZER_SHA:0:8})" ||
    fail "--save-tokenizer output differs from llm.c's gpt2_tokenizer.bin"

# ---------------------------------------------------------------------------
echo "== llm.c's tiny Shakespeare"
LLMC=(--tokenizer gpt2 --docs sections --val-at start --val-tokens 32768)
VAL_SHA=fe99db720dc7c83e694806d4e047a952909411da1daccde4ccc2e55f40882a62
TRAIN_SHA=8a70606be574040c26d225694f5f9759973b419852d22f7fe5c118e1b359dcc8
for v in "$VOCAB" "$VOCAB/encoder.json" "$W/gpt2_tokenizer.bin"; do
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
./prepare_data --tokenizer gpt2 --vocab "$VOCAB/encoder.json" --save-tokenizer "$W/from_json.bin" >/dev/null 2>&1 &&
    cmp -s "$W/from_json.bin" "$W/gpt2_tokenizer.bin" &&
    pass "--save-tokenizer from encoder.json + vocab.bpe writes the same gpt2_tokenizer.bin" || fail "--save-tokenizer from encoder.json differs"

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
# The shipped files under their own names are checked against GPT-2's sha256 before parsing; the parsers'
# own messages are tested on damaged copies under other names (which load with a warning naming their hash).
# damaged NAME DIR CMD...: DIR holds intact encoder.json and vocab.bpe, and NAME from CMD's output
damaged() {
    local name=$1 dir=$2
    shift 2
    mkdir -p "$dir"
    for f in encoder.json vocab.bpe; do [ "$f" = "$name" ] || cat "$VOCAB/$f" >"$dir/$f"; done
    "$@" >"$dir/$name"
}
prep() { ./prepare_data --tokenizer gpt2 --vocab "$1" -o "$W/out/x" "$W/a.txt"; }
# one bit flipped turns ' intrusive' into ' intrusite': it would parse, so only the hash can catch it
mkdir -p "$W/flip"
python3 - "$VOCAB/r50k_base.tiktoken" "$W/flip/r50k_base.tiktoken" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[656115] ^= 0x02
open(sys.argv[2], "wb").write(data)
PY
expect_error "r50k_base.tiktoken with one bit flipped" "'$W/flip/r50k_base.tiktoken' has sha256 " prep "$W/flip"
cp "$W/flip/r50k_base.tiktoken" "$W/flip/renamed.tiktoken"
./prepare_data --tokenizer gpt2 --vocab "$W/flip/renamed.tiktoken" -o "$W/renamed/x" "$W/a.txt" 2>&1 | grep -q "warning: '$W/flip/renamed.tiktoken' is not one of GPT-2's published vocabulary files by name; loading it unchecked (sha256 " &&
    pass "a vocabulary under another name loads with a warning that names its sha256" || fail "no warning for an unknown vocabulary file"
damaged encoder.json "$W/v0" head -c 500000 "$VOCAB/encoder.json"
expect_error "encoder.json truncated, under its own name" "'$W/v0/encoder.json' has sha256 " prep "$W/v0/encoder.json"
damaged v1.tiktoken "$W/v1" head -c 400000 "$VOCAB/r50k_base.tiktoken"
expect_error "a .tiktoken cut mid-line" "'$W/v1/v1.tiktoken' line" prep "$W/v1/v1.tiktoken"
damaged v2.tiktoken "$W/v2" head -n 30000 "$VOCAB/r50k_base.tiktoken"
expect_error "a .tiktoken cut at a line" "'$W/v2/v2.tiktoken' has 30000 tokens, GPT-2's r50k_base has 50256" prep "$W/v2/v2.tiktoken"
damaged v3.tiktoken "$W/v3" sed '100s/^[^ ]*/#not_base64#/' "$VOCAB/r50k_base.tiktoken"
expect_error "a .tiktoken with a bad line" "'$W/v3/v3.tiktoken' line 100: '#not_base64#' is not base64" prep "$W/v3/v3.tiktoken"
damaged v4.json "$W/v4" head -c 500000 "$VOCAB/encoder.json"
expect_error "an encoder .json truncated" "(not GPT-2's encoder.json, or truncated)" prep "$W/v4/v4.json"
damaged v5.json "$W/v5" sed 's/"\\"": 1,/"\\"": 0,/' "$VOCAB/encoder.json"
expect_error "an encoder .json with an id twice" "'$W/v5/v5.json' byte 9: id 0 appears twice" prep "$W/v5/v5.json"
damaged v6.bpe "$W/v6" sed '2s/.*/Ġt Ġt/' "$VOCAB/vocab.bpe"
expect_error "merges that do not match encoder.json" "'$W/v6/v6.bpe' line 2: merge 'Ġt Ġt' uses or makes a token that '$W/v6/encoder.json' does not have" \
    prep "$W/v6/v6.bpe"
expect_error "  ... with the fix" "must come from the same GPT-2 release" prep "$W/v6/v6.bpe"
damaged v7.bpe "$W/v7" head -n 40000 "$VOCAB/vocab.bpe"
expect_error "merges truncated" "'$W/v7/v7.bpe' has 39999 merges, GPT-2 has 50000" prep "$W/v7/v7.bpe"
damaged v8.bin "$W/v8" head -c 200000 "$W/gpt2_tokenizer.bin"
expect_error "an llm.c tokenizer .bin truncated" "'$W/v8/v8.bin' byte" prep "$W/v8/v8.bin"
expect_error "  ... naming the cause" "the file ends inside token" prep "$W/v8/v8.bin"
damaged v9.bin "$W/v9" head -c 1024 "$DATA"
expect_error "a .bin that is no llm.c tokenizer" "'$W/v9/v9.bin' has magic" prep "$W/v9/v9.bin"
# dev/fuzz regression: an empty token used to do pointer arithmetic on NULL before the refusal
damaged v11.bin "$W/v11" bash -c "head -c 1024 '$W/gpt2_tokenizer.bin'; printf '\\0'"
expect_error "an llm.c tokenizer .bin whose first token is empty" "'$W/v11/v11.bin' byte 1024: token 0 is empty" prep "$W/v11/v11.bin"
mkdir -p "$W/v10" && cp "$VOCAB/encoder.json" "$W/v10/"
expect_error "encoder.json without vocab.bpe" "'$W/v10/encoder.json' needs '$W/v10/vocab.bpe' beside it" prep "$W/v10/encoder.json"
mkdir -p "$W/empty"
expect_error "a directory without a vocabulary" "no GPT-2 vocabulary in '$W/empty'" prep "$W/empty"
expect_error "a file that is no vocabulary" "'$DATA' is not a GPT-2 vocabulary file" prep "$DATA"
mkdir -p "$W/cwd"
expect_error "the default vocabulary missing" "run \`make data\`" \
    bash -c "cd '$W/cwd' && '$ROOT/prepare_data' --tokenizer gpt2 -o out/x '$W/a.txt'"
expect_error "unknown tokenizer" "unknown tokenizer 'gpt3' (known: bytes, gpt2)" ./prepare_data --tokenizer gpt3 -o "$W/out/x" "$W/a.txt"
expect_error "a vocabulary for the byte tokenizer" "tokenizer 'bytes' reads no vocabulary" ./prepare_data --vocab "$VOCAB" -o "$W/out/x" "$W/a.txt"
expect_error "unknown --docs" "unknown --docs 'paragraphs'" ./prepare_data --docs paragraphs -o "$W/out/x" "$W/a.txt"
expect_error "unknown --val-at" "unknown --val-at 'middle'" ./prepare_data --val-at middle -o "$W/out/x" "$W/a.txt"
[ ! -e "$W/out/x_train.bin" ] && pass "no shard was written by a failed run" || fail "a failed run wrote shards"

[ $fails -eq 0 ]
