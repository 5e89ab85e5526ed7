/*
The rendezvous of processes launched without MPI (llmc/rendezvous.h): forked processes exchange a
secret through a shared file and through TCP on localhost, and a process left waiting stops with a
message instead of hanging.

    make test   (or: make dev/test_rendezvous && ./dev/test_rendezvous)
*/
#include <sys/wait.h>
#include "../llmc/rendezvous.h"

static int failures = 0;

// starts `ranks` processes that meet through `method`; each checks it holds rank 0's secret
static void meet(const char* label, const char* method, int ranks) {
    fflush(stdout); // children must not inherit buffered output
    for (int r = 0; r < ranks; r++) {
        if (fork() == 0) {
            unsigned char secret[128];
            for (int i = 0; i < 128; i++) secret[i] = r == 0 ? (unsigned char)(i * 7 + 3) : 0;
            rendezvous(method, r, ranks, secret, sizeof(secret));
            for (int i = 0; i < 128; i++) {
                if (secret[i] != (unsigned char)(i * 7 + 3)) _exit(2);
            }
            _exit(0);
        }
    }
    int ok = 1, status;
    for (int r = 0; r < ranks; r++) {
        wait(&status);
        ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    printf("%s %s: %d processes share rank 0's secret\n", ok ? "ok  " : "FAIL", label, ranks);
    failures += !ok;
}

int main(void) {
    char dir[] = "/tmp/gptc_rdv_XXXXXX", method[256];
    if (mkdtemp(dir) == NULL) die("mkdtemp failed");
    snprintf(method, sizeof(method), "file:%s/nccl_id", dir);
    meet("file", method, 3);
    int port = 20000 + (int)(getpid() % 20000);
    snprintf(method, sizeof(method), "tcp:127.0.0.1:%d", port);
    meet("tcp", method, 4);
    // bad --dist-init values stop the process with a message (exit 1)
    fflush(stdout);
    if (fork() == 0) {
        char secret[8];
        rendezvous("tcp:no-such-host.invalid:1", 1, 2, secret, sizeof(secret));
        _exit(0);
    }
    int status;
    wait(&status);
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 1;
    printf("%s an unresolvable tcp host: exit %d with a message\n", ok ? "ok  " : "FAIL", WEXITSTATUS(status));
    failures += !ok;
    fflush(stdout);
    if (fork() == 0) {
        char secret[8];
        rendezvous("udp:x", 1, 2, secret, sizeof(secret));
        _exit(0);
    }
    wait(&status);
    ok = WIFEXITED(status) && WEXITSTATUS(status) == 1;
    printf("%s an unknown --dist-init method: exit %d with a message\n", ok ? "ok  " : "FAIL", WEXITSTATUS(status));
    failures += !ok;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
    printf(failures ? "%d rendezvous tests FAILED\n" : "all rendezvous tests passed\n", failures);
    return failures ? 1 : 0;
}
