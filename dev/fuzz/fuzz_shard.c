/*
libFuzzer target: token shards (shard_check and the data loader, llmc/dataloader.h) on any bytes.

The input is a file. shard_check must refuse it with a message, or accept it and return a token count n
with the file exactly 1024 + 2n bytes. An accepted shard then goes through the data loader as the trainer
uses it (dataloader_init on its path, a few batches with B = 1 and a T the shard can hold, shuffled, or
read as --online 1's stream when the header's unused 4th word has bit 8 set, with a vocabulary of 65536
tokens, or 257 when that word is odd): every batch's inputs and targets must be the
shard's tokens at the batch's offset, or the loader dies naming an id beyond the vocabulary. A die() is a
clean refusal.
*/
#include "fuzz_common.h"

static DataLoader* live_loader = NULL; // globfree()d after a die: glob's memory is the C library's

static void free_glob(void) {
    if (live_loader != NULL) globfree(&live_loader->glob);
    live_loader = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    char path[512];
    fuzz_write_file(path, sizeof(path), "shard.bin", data, size);
    fuzz_on_die = free_glob;
    if (setjmp(fuzz_env) == 0) {
        fuzz_begin();
        size_t n = shard_check(path);
        if (size != SHARD_HEADER_BYTES + 2 * n) fuzz_fail("shard_check accepted %zu tokens in a %zu-byte file", n, size);
        if (n >= 2) {
            static DataLoader dl;
            int T = (int)(n - 1 < 8 ? n - 1 : 8);
            int vocab = (data[12] & 1) ? 257 : 65536; // header[3], unused by the format: bytes' vocabulary or the largest
            live_loader = &dl;
            dataloader_init(&dl, path, 1, T, vocab, 42, (data[13] & 1) ? DATA_STREAM : DATA_SHUFFLED);
            const uint16_t* tokens = (const uint16_t*)(data + SHARD_HEADER_BYTES);
            for (int b = 0; b < 3 && (size_t)b < dl.batches_per_epoch; b++) { // a stream is read once
                dataloader_next_batch(&dl);
                // the batch read is the shard's tokens from some offset: find it through the first input
                int ok = 0;
                for (size_t start = 0; !ok && start + T < n + 0; start += (size_t)T) {
                    uint16_t first;
                    memcpy(&first, (const uint8_t*)tokens + 2 * start, 2);
                    if (first != dl.inputs[0]) continue;
                    ok = 1;
                    for (int i = 0; ok && i < T; i++) {
                        uint16_t x, y;
                        memcpy(&x, (const uint8_t*)tokens + 2 * (start + i), 2);
                        memcpy(&y, (const uint8_t*)tokens + 2 * (start + i + 1), 2);
                        ok = dl.inputs[i] == x && dl.targets[i] == y;
                    }
                }
                if (!ok) fuzz_fail("batch %d is not the shard's tokens at any batch offset", b);
            }
            live_loader = NULL;
            dataloader_free(&dl);
        }
        fuzz_end(FUZZ_STRICT);
    }
    return 0;
}
