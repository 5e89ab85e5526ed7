/*
safetensors: the checkpoint container (https://github.com/huggingface/safetensors).

File layout:
    uint64 little-endian N | N bytes of JSON header | raw little-endian tensor data
The header maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to
the start of the data section) plus an optional "__metadata__" object of string -> string.

The reader validates everything a truncated or corrupt file could get wrong (header length, JSON,
dtypes, shapes against byte ranges, the exact file size) and reports the first problem as text so
that the caller can name the file and decide (die, or skip a bad checkpoint and take an older one).
The writer is atomic: it writes "<path>.tmp", fsyncs it, renames it over <path> and fsyncs the
directory, so a process killed mid-write never leaves a half-written file under the final name.
*/
#ifndef LLMC_SAFETENSORS_H
#define LLMC_SAFETENSORS_H

#include <ctype.h>
#include "utils.h"

#define ST_MAX_NDIM 4
#define ST_MAX_HEADER (64u << 20) // refuse headers over 64 MiB: no honest checkpoint has one

typedef struct {
    char* name;
    char dtype[8]; // "F32", "F64", "BF16", ...
    int ndim;
    int64_t shape[ST_MAX_NDIM];
    uint64_t begin, end; // byte range within the data section
} SafeTensorInfo;

typedef struct {
    char* path;
    uint64_t data_start; // 8 + header length
    int num_tensors;
    SafeTensorInfo* tensors;
    int num_meta;
    char** meta_keys;
    char** meta_values;
} SafeTensors;

static size_t st_dtype_size(const char* dtype) {
    if (strcmp(dtype, "F64") == 0 || strcmp(dtype, "I64") == 0 || strcmp(dtype, "U64") == 0) return 8;
    if (strcmp(dtype, "F32") == 0 || strcmp(dtype, "I32") == 0 || strcmp(dtype, "U32") == 0) return 4;
    if (strcmp(dtype, "F16") == 0 || strcmp(dtype, "BF16") == 0 || strcmp(dtype, "I16") == 0 ||
        strcmp(dtype, "U16") == 0) return 2;
    if (strcmp(dtype, "I8") == 0 || strcmp(dtype, "U8") == 0 || strcmp(dtype, "BOOL") == 0) return 1;
    return 0;
}

// ----------------------------------------------------------------------------
// a minimal JSON reader for the header schema: objects, arrays of integers, strings

typedef struct {
    const char* s;
    size_t pos, len;
    char* err; // first error, written once
    size_t errlen;
} StJsonCursor;

static int st_json_fail(StJsonCursor* c, const char* what) {
    if (c->err[0] == '\0') snprintf(c->err, c->errlen, "bad JSON header at byte %zu: %s", c->pos, what);
    return -1;
}

static void st_json_skip_ws(StJsonCursor* c) {
    while (c->pos < c->len && isspace((unsigned char)c->s[c->pos])) c->pos++;
}

static int st_json_expect(StJsonCursor* c, char ch) {
    st_json_skip_ws(c);
    if (c->pos >= c->len || c->s[c->pos] != ch) {
        char msg[32];
        snprintf(msg, sizeof(msg), "expected '%c'", ch);
        return st_json_fail(c, msg);
    }
    c->pos++;
    return 0;
}

// true (and consumes it) when the next non-space character is ch
static int st_json_accept(StJsonCursor* c, char ch) {
    st_json_skip_ws(c);
    if (c->pos < c->len && c->s[c->pos] == ch) {
        c->pos++;
        return 1;
    }
    return 0;
}

// parses a JSON string into a fresh heap buffer (UTF-8, \uXXXX decoded); NULL on error
static char* st_json_string(StJsonCursor* c) {
    if (st_json_expect(c, '"') != 0) return NULL;
    char* out = (char*)mallocCheck(c->len - c->pos + 1); // decoded is never longer than encoded
    size_t n = 0;
    while (c->pos < c->len && c->s[c->pos] != '"') {
        unsigned char ch = (unsigned char)c->s[c->pos++];
        if (ch < 0x20) { free(out); st_json_fail(c, "control character in string"); return NULL; }
        if (ch != '\\') { out[n++] = (char)ch; continue; }
        if (c->pos >= c->len) break;
        char esc = c->s[c->pos++];
        switch (esc) {
            case '"': out[n++] = '"'; break;
            case '\\': out[n++] = '\\'; break;
            case '/': out[n++] = '/'; break;
            case 'b': out[n++] = '\b'; break;
            case 'f': out[n++] = '\f'; break;
            case 'n': out[n++] = '\n'; break;
            case 'r': out[n++] = '\r'; break;
            case 't': out[n++] = '\t'; break;
            case 'u': {
                unsigned cp = 0;
                for (int i = 0; i < 4; i++) {
                    if (c->pos >= c->len || !isxdigit((unsigned char)c->s[c->pos])) {
                        free(out); st_json_fail(c, "bad \\u escape"); return NULL;
                    }
                    char h = c->s[c->pos++];
                    cp = cp * 16 + (unsigned)(isdigit((unsigned char)h) ? h - '0' : (tolower(h) - 'a' + 10));
                }
                // surrogate pairs are not needed for our names; encode the code point as UTF-8
                if (cp < 0x80) { out[n++] = (char)cp; }
                else if (cp < 0x800) { out[n++] = (char)(0xC0 | (cp >> 6)); out[n++] = (char)(0x80 | (cp & 0x3F)); }
                else { out[n++] = (char)(0xE0 | (cp >> 12)); out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[n++] = (char)(0x80 | (cp & 0x3F)); }
                break;
            }
            default: free(out); st_json_fail(c, "unknown escape in string"); return NULL;
        }
    }
    if (c->pos >= c->len) { free(out); st_json_fail(c, "unterminated string"); return NULL; }
    c->pos++; // closing quote
    out[n] = '\0';
    return out;
}

static int st_json_uint(StJsonCursor* c, uint64_t* out) {
    st_json_skip_ws(c);
    if (c->pos >= c->len || !isdigit((unsigned char)c->s[c->pos])) return st_json_fail(c, "expected a non-negative integer");
    uint64_t v = 0;
    while (c->pos < c->len && isdigit((unsigned char)c->s[c->pos])) {
        uint64_t d = (uint64_t)(c->s[c->pos++] - '0');
        if (v > (UINT64_MAX - d) / 10) return st_json_fail(c, "integer overflow");
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

// [int, int, ...] into out (at most maxn); returns the count or -1
static int st_json_uint_array(StJsonCursor* c, uint64_t* out, int maxn) {
    if (st_json_expect(c, '[') != 0) return -1;
    int n = 0;
    if (st_json_accept(c, ']')) return 0;
    do {
        if (n >= maxn) return st_json_fail(c, "array too long");
        if (st_json_uint(c, &out[n++]) != 0) return -1;
    } while (st_json_accept(c, ','));
    if (st_json_expect(c, ']') != 0) return -1;
    return n;
}

// ----------------------------------------------------------------------------
// reader

static void safetensors_close(SafeTensors* st) {
    for (int i = 0; i < st->num_tensors; i++) free(st->tensors[i].name);
    for (int i = 0; i < st->num_meta; i++) { free(st->meta_keys[i]); free(st->meta_values[i]); }
    free(st->tensors);
    free(st->meta_keys);
    free(st->meta_values);
    free(st->path);
    memset(st, 0, sizeof(*st));
}

// parses one tensor entry {"dtype":..., "shape":[...], "data_offsets":[b,e]}
static int st_parse_tensor(StJsonCursor* c, SafeTensorInfo* t) {
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    if (st_json_expect(c, '{') != 0) return -1;
    do {
        char* key = st_json_string(c);
        if (key == NULL || st_json_expect(c, ':') != 0) { free(key); return -1; }
        int rc = 0;
        if (strcmp(key, "dtype") == 0) {
            char* dt = st_json_string(c);
            if (dt == NULL) rc = -1;
            else if (st_dtype_size(dt) == 0 || strlen(dt) >= sizeof(t->dtype)) rc = st_json_fail(c, "unknown dtype");
            else { strcpy(t->dtype, dt); have_dtype = 1; }
            free(dt);
        } else if (strcmp(key, "shape") == 0) {
            uint64_t dims[ST_MAX_NDIM];
            int nd = st_json_uint_array(c, dims, ST_MAX_NDIM);
            if (nd < 0) rc = -1;
            else { t->ndim = nd; for (int i = 0; i < nd; i++) t->shape[i] = (int64_t)dims[i]; have_shape = 1; }
            // a dimension past INT64_MAX would be negative in shape[] (a dev/fuzz/fuzz_checkpoint finding)
            for (int i = 0; rc == 0 && i < nd; i++) {
                if (dims[i] > (uint64_t)INT64_MAX) rc = st_json_fail(c, "dimension too large");
            }
        } else if (strcmp(key, "data_offsets") == 0) {
            uint64_t off[2];
            if (st_json_uint_array(c, off, 2) != 2) rc = st_json_fail(c, "data_offsets must hold 2 integers");
            else { t->begin = off[0]; t->end = off[1]; have_offsets = 1; }
        } else {
            rc = st_json_fail(c, "unexpected key in tensor entry");
        }
        free(key);
        if (rc != 0) return -1;
    } while (st_json_accept(c, ','));
    if (st_json_expect(c, '}') != 0) return -1;
    if (!(have_dtype && have_shape && have_offsets)) return st_json_fail(c, "tensor entry lacks dtype, shape or data_offsets");
    return 0;
}

static int st_parse_metadata(StJsonCursor* c, SafeTensors* st) {
    if (st_json_expect(c, '{') != 0) return -1;
    if (st_json_accept(c, '}')) return 0;
    do {
        char* key = st_json_string(c);
        if (key == NULL) return -1;
        char* value = (st_json_expect(c, ':') == 0) ? st_json_string(c) : NULL;
        if (value == NULL) { free(key); return st_json_fail(c, "metadata values must be strings"); }
        st->meta_keys = (char**)realloc(st->meta_keys, (st->num_meta + 1) * sizeof(char*));
        st->meta_values = (char**)realloc(st->meta_values, (st->num_meta + 1) * sizeof(char*));
        st->meta_keys[st->num_meta] = key;
        st->meta_values[st->num_meta] = value;
        st->num_meta++;
    } while (st_json_accept(c, ','));
    return st_json_expect(c, '}');
}

// Opens and validates a safetensors file. Returns 0, or -1 with a message in err (st left empty).
static int safetensors_open(SafeTensors* st, const char* path, char* err, size_t errlen) {
    memset(st, 0, sizeof(*st));
    err[0] = '\0';
    struct stat info;
    if (stat(path, &info) == 0 && !S_ISREG(info.st_mode)) { snprintf(err, errlen, "it is a directory or device, not a file"); return -1; }
    FILE* fp = fopen(path, "rb");
    if (fp == NULL) { snprintf(err, errlen, "cannot open: %s", strerror(errno)); return -1; }
    fseek(fp, 0, SEEK_END);
    long fsize = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint64_t header_len = 0;
    if (fsize < 8 || fread(&header_len, 8, 1, fp) != 1) {
        snprintf(err, errlen, "file is %ld bytes, too short for a safetensors header", fsize);
        fclose(fp);
        return -1;
    }
    if (header_len == 0 || header_len > ST_MAX_HEADER || header_len > (uint64_t)fsize - 8) {
        snprintf(err, errlen, "header length %llu does not fit the file size %ld (truncated or not safetensors)",
                 (unsigned long long)header_len, fsize);
        fclose(fp);
        return -1;
    }
    char* header = (char*)mallocCheck(header_len + 1);
    size_t got = fread(header, 1, header_len, fp);
    fclose(fp);
    header[header_len] = '\0';
    if (got != header_len) { snprintf(err, errlen, "short read of the header"); free(header); return -1; }

    StJsonCursor c = {header, 0, header_len, err, errlen};
    st->path = strdup(path);
    st->data_start = 8 + header_len;
    int rc = st_json_expect(&c, '{');
    if (rc == 0 && !st_json_accept(&c, '}')) {
        do {
            char* key = st_json_string(&c);
            if (key == NULL || st_json_expect(&c, ':') != 0) { free(key); rc = -1; break; }
            if (strcmp(key, "__metadata__") == 0) {
                free(key);
                if (st_parse_metadata(&c, st) != 0) { rc = -1; break; }
                continue;
            }
            st->tensors = (SafeTensorInfo*)realloc(st->tensors, (st->num_tensors + 1) * sizeof(SafeTensorInfo));
            SafeTensorInfo* t = &st->tensors[st->num_tensors++];
            memset(t, 0, sizeof(*t));
            t->name = key;
            if (st_parse_tensor(&c, t) != 0) { rc = -1; break; }
        } while (st_json_accept(&c, ','));
        if (rc == 0) rc = st_json_expect(&c, '}');
    }
    free(header);
    // every tensor's byte range must match its shape and lie inside the data section, and the data
    // section must end exactly at the end of the file (a truncated file fails here)
    uint64_t data_len = (uint64_t)fsize - st->data_start, data_end = 0;
    for (int i = 0; rc == 0 && i < st->num_tensors; i++) {
        SafeTensorInfo* t = &st->tensors[i];
        // the shape's byte count without wrapping: a product that wraps 64 bits (e.g. [2^62, 4] of U8 is
        // 2^64 = 0 bytes) must not pass as a small tensor (a dev/fuzz/fuzz_checkpoint finding)
        uint64_t bytes = st_dtype_size(t->dtype);
        int wraps = 0;
        for (int d = 0; d < t->ndim; d++) {
            uint64_t dim = (uint64_t)t->shape[d];
            if (dim != 0 && bytes > UINT64_MAX / dim) wraps = 1;
            bytes *= dim;
        }
        if (wraps || t->end < t->begin || t->end - t->begin != bytes) {
            snprintf(err, errlen, "tensor '%s': byte range [%llu, %llu) does not match its shape and dtype",
                     t->name, (unsigned long long)t->begin, (unsigned long long)t->end);
            rc = -1;
        } else if (t->end > data_len) {
            snprintf(err, errlen, "tensor '%s' ends at byte %llu but the data section has %llu bytes (file truncated)",
                     t->name, (unsigned long long)t->end, (unsigned long long)data_len);
            rc = -1;
        }
        if (t->end > data_end) data_end = t->end;
    }
    if (rc == 0 && data_end != data_len) {
        snprintf(err, errlen, "data section is %llu bytes but the tensors cover %llu (file truncated or padded)",
                 (unsigned long long)data_len, (unsigned long long)data_end);
        rc = -1;
    }
    if (rc != 0) { safetensors_close(st); return -1; }
    return 0;
}

static const char* safetensors_meta(const SafeTensors* st, const char* key) {
    for (int i = 0; i < st->num_meta; i++) {
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
    }
    return NULL;
}

static const SafeTensorInfo* safetensors_find(const SafeTensors* st, const char* name) {
    for (int i = 0; i < st->num_tensors; i++) {
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    }
    return NULL;
}

// Converts n floats between "F32", "F64" and "BF16" (BF16 only as a source: the top half of an fp32).
static void convert_floats(void* dst, const char* dst_dtype, const void* src, const char* src_dtype, size_t n) {
    int dst64 = strcmp(dst_dtype, "F64") == 0;
    for (size_t i = 0; i < n; i++) {
        double v;
        if (strcmp(src_dtype, "F64") == 0) {
            v = ((const double*)src)[i];
        } else if (strcmp(src_dtype, "F32") == 0) {
            v = ((const float*)src)[i];
        } else {
            uint32_t bits = (uint32_t)((const uint16_t*)src)[i] << 16;
            float f;
            memcpy(&f, &bits, 4);
            v = f;
        }
        if (dst64) ((double*)dst)[i] = v;
        else ((float*)dst)[i] = (float)v;
    }
}

static int is_float_dtype(const char* dtype) {
    return strcmp(dtype, "F32") == 0 || strcmp(dtype, "F64") == 0 || strcmp(dtype, "BF16") == 0;
}

// Reads tensor t into dst as dst_dtype ("F32" or "F64"), converting from F32, F64 or BF16.
static void safetensors_read(const SafeTensors* st, const SafeTensorInfo* t, void* dst, const char* dst_dtype) {
    size_t nbytes = (size_t)(t->end - t->begin);
    int same = strcmp(t->dtype, dst_dtype) == 0;
    if (!same && !is_float_dtype(t->dtype)) {
        die("'%s': tensor '%s' has dtype %s, which cannot be converted to %s", st->path, t->name, t->dtype, dst_dtype);
    }
    FILE* fp = fopenCheck(st->path, "rb");
    fseekCheck(fp, (long)(st->data_start + t->begin), SEEK_SET, st->path);
    if (same) {
        freadCheck(dst, 1, nbytes, fp, st->path);
    } else {
        void* buf = mallocCheck(nbytes);
        freadCheck(buf, 1, nbytes, fp, st->path);
        convert_floats(dst, dst_dtype, buf, t->dtype, nbytes / st_dtype_size(t->dtype));
        free(buf);
    }
    fclose(fp);
}

// ----------------------------------------------------------------------------
// writer

typedef struct {
    const char* name;
    const char* dtype;
    int ndim;
    int64_t shape[ST_MAX_NDIM];
    const void* data;
} SafeTensorWrite;

// appends s as a JSON string literal
static void st_json_put_string(FILE* fp, const char* s) {
    fputc('"', fp);
    for (const unsigned char* p = (const unsigned char*)s; *p; p++) {
        if (*p == '"' || *p == '\\') { fputc('\\', fp); fputc(*p, fp); }
        else if (*p == '\n') fputs("\\n", fp);
        else if (*p == '\t') fputs("\\t", fp);
        else if (*p < 0x20) fprintf(fp, "\\u%04x", *p);
        else fputc(*p, fp);
    }
    fputc('"', fp);
}

static size_t st_tensor_bytes(const SafeTensorWrite* t) {
    size_t n = st_dtype_size(t->dtype);
    for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
    return n;
}

// Writes path atomically (utils.h: temp file, fsync, rename). Dies on failure, leaving any existing file
// at path untouched.
static void safetensors_write(const char* path, int num_meta, char* const* meta_keys, char* const* meta_values,
                              int num_tensors, const SafeTensorWrite* tensors) {
    // the header is built in memory first, so its length is known before anything is written
    char* header = NULL;
    size_t header_len = 0;
    FILE* hp = open_memstream(&header, &header_len);
    fputc('{', hp);
    if (num_meta > 0) {
        fputs("\"__metadata__\":{", hp);
        for (int i = 0; i < num_meta; i++) {
            if (i > 0) fputc(',', hp);
            st_json_put_string(hp, meta_keys[i]);
            fputc(':', hp);
            st_json_put_string(hp, meta_values[i]);
        }
        fputc('}', hp);
    }
    size_t offset = 0;
    for (int i = 0; i < num_tensors; i++) {
        const SafeTensorWrite* t = &tensors[i];
        if (num_meta > 0 || i > 0) fputc(',', hp);
        st_json_put_string(hp, t->name);
        fprintf(hp, ":{\"dtype\":\"%s\",\"shape\":[", t->dtype);
        for (int d = 0; d < t->ndim; d++) fprintf(hp, d ? ",%lld" : "%lld", (long long)t->shape[d]);
        size_t nbytes = st_tensor_bytes(t);
        fprintf(hp, "],\"data_offsets\":[%zu,%zu]}", offset, offset + nbytes);
        offset += nbytes;
    }
    fputc('}', hp);
    while (ftell(hp) % 8 != 0) fputc(' ', hp); // pad with spaces so the data starts 8-byte aligned
    fclose(hp);

    AtomicFile f;
    atomic_open(&f, path);
    uint64_t hl = header_len;
    atomic_write(&f, &hl, 8);
    atomic_write(&f, header, header_len);
    free(header);
    for (int i = 0; i < num_tensors; i++) atomic_write(&f, tensors[i].data, st_tensor_bytes(&tensors[i]));
    atomic_commit(&f);
}

#endif // LLMC_SAFETENSORS_H
