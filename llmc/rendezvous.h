/*
How processes launched without MPI share a secret (NCCL's unique id) before they can talk: rank 0 makes
it and publishes it, the others wait for it (llm.c's file and TCP methods). Host code only.

    file:PATH      rank 0 writes PATH atomically; the others poll until it appears (a shared filesystem)
    tcp:HOST:PORT  rank 0 listens on PORT and sends it to each of the others as they connect to HOST

Either way a process waits at most RENDEZVOUS_SECONDS, then stops with a message naming the method.
*/
#ifndef LLMC_RENDEZVOUS_H
#define LLMC_RENDEZVOUS_H

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "utils.h"

#define RENDEZVOUS_SECONDS 120

static void rendezvous_file(const char* path, int rank, void* secret, size_t bytes) {
    if (rank == 0) {
        AtomicFile f;
        atomic_open(&f, path);
        atomic_write(&f, secret, bytes);
        atomic_commit(&f);
        return;
    }
    double t0 = wall_seconds();
    while (!file_exists(path) || file_size_or_die(path) != (long)bytes) {
        if (wall_seconds() - t0 > RENDEZVOUS_SECONDS) {
            die_hint("start rank 0 with the same --dist-init, on a filesystem every process sees; remove a stale file first",
                     "rank %d waited %d s for '%s'", rank, RENDEZVOUS_SECONDS, path);
        }
        usleep(100000);
    }
    FILE* fp = fopenCheck(path, "rb");
    freadCheck(secret, 1, bytes, fp, path);
    fclose(fp);
}

static void rendezvous_tcp(const char* host, int port, int rank, int ranks, void* secret, size_t bytes) {
    double t0 = wall_seconds();
    if (rank == 0) {
        int server = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        struct sockaddr_in addr;
        memset(&addr, 0, sizeof(addr));
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_ANY);
        addr.sin_port = htons((uint16_t)port);
        if (bind(server, (struct sockaddr*)&addr, sizeof(addr)) != 0 || listen(server, ranks) != 0) {
            die_hint("choose a free --dist-init port", "rank 0 cannot listen on port %d: %s", port, strerror(errno));
        }
        for (int i = 1; i < ranks; i++) {
            int client = accept(server, NULL, NULL);
            if (client < 0 || send(client, secret, bytes, 0) != (ssize_t)bytes) die("rank 0 could not send the rendezvous secret: %s", strerror(errno));
            close(client);
        }
        close(server);
        return;
    }
    struct addrinfo hints, *info = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    char port_text[16];
    snprintf(port_text, sizeof(port_text), "%d", port);
    if (getaddrinfo(host, port_text, &hints, &info) != 0) die_hint("check the host in --dist-init tcp:HOST:PORT", "cannot resolve '%s'", host);
    for (;;) {
        int sock = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(sock, info->ai_addr, info->ai_addrlen) == 0) {
            size_t got = 0;
            while (got < bytes) {
                ssize_t n = recv(sock, (char*)secret + got, bytes - got, 0);
                if (n <= 0) die("rank %d lost the connection to rank 0 during the rendezvous", rank);
                got += (size_t)n;
            }
            close(sock);
            break;
        }
        close(sock);
        if (wall_seconds() - t0 > RENDEZVOUS_SECONDS) {
            die_hint("start rank 0 with the same --dist-init and check that its port is reachable", "rank %d could not reach %s:%d for %d s",
                     rank, host, port, RENDEZVOUS_SECONDS);
        }
        usleep(100000);
    }
    freeaddrinfo(info);
}

// Shares `bytes` of secret from rank 0 with every rank, as --dist-init says.
static void rendezvous(const char* method, int rank, int ranks, void* secret, size_t bytes) {
    if (strncmp(method, "file:", 5) == 0) {
        rendezvous_file(method + 5, rank, secret, bytes);
        return;
    }
    char host[256];
    int port;
    if (sscanf(method, "tcp:%255[^:]:%d", host, &port) == 2) {
        rendezvous_tcp(host, port, rank, ranks, secret, bytes);
        return;
    }
    die_hint("use --dist-init file:PATH or tcp:HOST:PORT", "unknown --dist-init '%s'", method);
}

#endif // LLMC_RENDEZVOUS_H
