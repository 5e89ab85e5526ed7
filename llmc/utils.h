/*
Small host utilities shared by both trainers and the tools: fatal errors that name the
file, line and a fix, checked allocation and file I/O, timing, and directory helpers.
Every failure here exits with status 1 after printing one clear message.
*/
#ifndef LLMC_UTILS_H
#define LLMC_UTILS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

// ----------------------------------------------------------------------------
// fatal errors: "error: <what>" plus, when given, "hint: <how to fix it>"

// called before exiting on an error: a multi-process run aborts every process (distributed.h)
static void (*die_hook)(void) = NULL;

static void die_at(const char* file, int line, const char* hint, const char* fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));
static void die_at(const char* file, int line, const char* hint, const char* fmt, ...) {
    fflush(stdout);
    fprintf(stderr, "error: ");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    if (hint != NULL && hint[0] != '\0') { fprintf(stderr, "hint: %s\n", hint); }
    fprintf(stderr, "  (raised at %s:%d)\n", file, line);
    if (die_hook) die_hook();
    exit(EXIT_FAILURE);
}
// die("...", args) for plain errors; die_hint("how to fix", "...", args) when a fix is known
#define die(...) die_at(__FILE__, __LINE__, NULL, __VA_ARGS__)
#define die_hint(hint, ...) die_at(__FILE__, __LINE__, hint, __VA_ARGS__)

// A refusal described for the caller to act on (skip a bad checkpoint and take an older one, or die): the
// checks that must not exit write one and return -1 through problem().
typedef struct {
    char what[1024], hint[512];
} Problem;

static int problem(Problem* p, const char* hint, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
static int problem(Problem* p, const char* hint, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->what, sizeof(p->what), fmt, ap);
    va_end(ap);
    snprintf(p->hint, sizeof(p->hint), "%s", hint ? hint : "");
    return -1;
}
#define die_problem(p) die_at(__FILE__, __LINE__, (p)->hint, "%s", (p)->what)

// ----------------------------------------------------------------------------
// checked allocation and file I/O

static void* malloc_check_at(size_t size, const char* file, int line) {
    void* ptr = malloc(size > 0 ? size : 1);
    if (ptr == NULL) {
        die_at(file, line, "reduce the batch size (-b), sequence length (-t) or model size",
               "could not allocate %.1f MiB", size / 1048576.0);
    }
    return ptr;
}
#define mallocCheck(size) malloc_check_at(size, __FILE__, __LINE__)

// this machine's physical memory in bytes (0 when unknown)
static double physical_memory_bytes(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? (double)pages * page : 0;
}

static void* calloc_check_at(size_t count, size_t size, const char* file, int line) {
    void* ptr = malloc_check_at(count * size, file, line);
    memset(ptr, 0, count * size);
    return ptr;
}
#define callocCheck(count, size) calloc_check_at(count, size, __FILE__, __LINE__)

static FILE* fopen_check_at(const char* path, const char* mode, const char* file, int line) {
    FILE* fp = fopen(path, mode);
    if (fp == NULL) {
        die_at(file, line, "check that the path exists and is readable (or writable)",
               "could not open '%s' (mode %s): %s", path, mode, strerror(errno));
    }
    return fp;
}
#define fopenCheck(path, mode) fopen_check_at(path, mode, __FILE__, __LINE__)

// fread that dies on a short read; `path` only names the file in the message
static void fread_check_at(void* ptr, size_t size, size_t count, FILE* fp, const char* path,
                           const char* file, int line) {
    size_t got = fread(ptr, size, count, fp);
    if (got != count) {
        die_at(file, line, "the file is truncated or corrupt; re-create or re-download it",
               "short read from '%s': wanted %zu items of %zu bytes, got %zu", path, count, size,
               got);
    }
}
#define freadCheck(ptr, size, count, fp, path) \
    fread_check_at(ptr, size, count, fp, path, __FILE__, __LINE__)

static void fwrite_check_at(const void* ptr, size_t size, size_t count, FILE* fp, const char* path,
                            const char* file, int line) {
    if (fwrite(ptr, size, count, fp) != count) {
        die_at(file, line, "check free disk space and permissions", "write to '%s' failed: %s",
               path, strerror(errno));
    }
}
#define fwriteCheck(ptr, size, count, fp, path) \
    fwrite_check_at(ptr, size, count, fp, path, __FILE__, __LINE__)

static void fseek_check_at(FILE* fp, long offset, int whence, const char* path, const char* file,
                           int line) {
    if (fseek(fp, offset, whence) != 0) {
        die_at(file, line, "the file may be truncated", "seek to %ld in '%s' failed: %s", offset,
               path, strerror(errno));
    }
}
#define fseekCheck(fp, offset, whence, path) \
    fseek_check_at(fp, offset, whence, path, __FILE__, __LINE__)

static long file_size_or_die(const char* path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        die_hint("check the path", "cannot stat '%s': %s", path, strerror(errno));
    }
    return (long)st.st_size;
}

static int file_exists(const char* path) {
    struct stat st;
    return stat(path, &st) == 0;
}

// mkdir -p: creates the directory and every missing parent; existing directories are fine
static void make_dir_or_die(const char* path) {
    char partial[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(partial)) die_hint("pass a shorter -o path", "directory path '%.64s...' is empty or too long", path);
    memcpy(partial, path, n + 1);
    for (size_t i = 1; i <= n; i++) { // create each prefix that ends at a '/' (or the end)
        if (partial[i] != '/' && partial[i] != '\0') continue;
        char c = partial[i];
        partial[i] = '\0';
        struct stat st;
        if (mkdir(partial, 0755) != 0 && !(errno == EEXIST && stat(partial, &st) == 0 && S_ISDIR(st.st_mode))) {
            die_hint("check the -o path and its permissions", "cannot create directory '%s': %s", partial,
                     errno == EEXIST ? "a file of that name is in the way" : strerror(errno));
        }
        partial[i] = c;
    }
}

// fsync a directory so that a rename inside it is durable
static void fsync_dir(const char* dir) {
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

// directory part of a path, "." when there is none
static void path_dirname(char* out, size_t outlen, const char* path) {
    const char* slash = strrchr(path, '/');
    if (slash == NULL) {
        snprintf(out, outlen, ".");
    } else if (slash == path) {
        snprintf(out, outlen, "/");
    } else {
        snprintf(out, outlen, "%.*s", (int)(slash - path), path);
    }
}

// ----------------------------------------------------------------------------
// atomic file writes: the data goes to "<path>.tmp", which atomic_commit fsyncs and renames over path
// (then fsyncs the directory). A crash or a failed write never leaves a partial file under path, and a
// failure removes the temporary file before dying.

typedef struct {
    FILE* fp;
    const char* path;
    char tmp[4104];
} AtomicFile;

static void atomic_fail(AtomicFile* f, const char* what) __attribute__((noreturn));
static void atomic_fail(AtomicFile* f, const char* what) {
    int e = errno;
    if (f->fp) fclose(f->fp);
    unlink(f->tmp);
    die_hint("check free disk space and permissions; any previous file at that path is untouched", "%s '%s' failed: %s", what,
             f->tmp, strerror(e));
}

static void atomic_open(AtomicFile* f, const char* path) {
    f->path = path;
    snprintf(f->tmp, sizeof(f->tmp), "%s.tmp", path);
    f->fp = fopen(f->tmp, "wb");
    if (f->fp == NULL) atomic_fail(f, "creating");
}

static void atomic_write(AtomicFile* f, const void* data, size_t bytes) {
    if (bytes > 0 && fwrite(data, 1, bytes, f->fp) != bytes) atomic_fail(f, "writing");
}

static void atomic_commit(AtomicFile* f) {
    if (fflush(f->fp) != 0 || fsync(fileno(f->fp)) != 0) atomic_fail(f, "flushing");
    int closed = fclose(f->fp);
    f->fp = NULL;
    if (closed != 0) atomic_fail(f, "closing");
    if (rename(f->tmp, f->path) != 0) atomic_fail(f, "renaming");
    char dir[4096];
    path_dirname(dir, sizeof(dir), f->path);
    fsync_dir(dir);
}

// What every program does first: stdout line-buffered (progress shows as it happens, also through a pipe),
// and a write beyond the file-size limit (ulimit -f) fails with EFBIG, which the writers report, instead of
// killing the process with SIGXFSZ and no message.
static void process_setup(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGXFSZ, SIG_IGN);
}

// ----------------------------------------------------------------------------
// timing

static double wall_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// ----------------------------------------------------------------------------
// small integer and string helpers

static int imin(int a, int b) { return a < b ? a : b; }
static int round_up(int x, int multiple) { return (x + multiple - 1) / multiple * multiple; }



static int parse_int_or_die(const char* s, const char* what) {
    char* end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < -2147483647L || v > 2147483647L) {
        die("%s: '%s' is not an integer", what, s);
    }
    return (int)v;
}

static double parse_double_or_die(const char* s, const char* what) {
    char* end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0') { die("%s: '%s' is not a number", what, s); }
    return v;
}

// printf into a fresh heap string
static char* str_printf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static char* str_printf(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char* s = (char*)mallocCheck((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static uint64_t parse_u64_or_die(const char* s, const char* what) {
    char* end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    // strtoull takes "-1" as 2^64 - 1: a sign is refused
    if (errno != 0 || end == s || *end != '\0' || strchr(s, '-') != NULL) { die("%s: '%s' is not an unsigned integer", what, s); }
    return (uint64_t)v;
}

#endif // LLMC_UTILS_H
