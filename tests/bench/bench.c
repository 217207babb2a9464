/*
 * bench.c - the benchmark tool of telemt: one binary with three roles,
 * driven by tests/bench/run.sh.
 *
 *   bench dc    --listen HOST:PORT ...        fake DC (dc.c)
 *   bench relay --listen HOST:PORT --to HOST:PORT [--workers N]
 *                                             no-crypto baseline (relay.c)
 *   bench load  --target HOST:PORT --mode M TEST ...
 *                                             load client (load.c)
 *
 * This file holds main() and the helpers the roles share.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "net.h"

void
set_nodelay(int fd)
{
    int one = 1;

    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int
bench_listen(const char *who, const char *addr)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd;

    if (net_parse_addr(addr, &ss, &len) != 0) {
        fprintf(stderr, "bench %s: bad address %s\n", who, addr);
        return -1;
    }
    fd = net_listen((struct sockaddr *)&ss, len, 4096);
    if (fd < 0)
        fprintf(stderr, "bench %s: listen %s: %s\n", who, addr,
            strerror(errno));
    return fd;
}

int
bench_accept(const char *who, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd >= 0) {
            set_nodelay(fd);
            return fd;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            fprintf(stderr, "bench %s: accept: %s\n", who, strerror(errno));
            usleep(10000);
        }
        return -1;
    }
}

int
ep_ctl(int ep, int op, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event e = { .events = events, .data.u64 = data };

    if (epoll_ctl(ep, op, fd, &e) == 0)
        return 0;
    perror("bench: epoll_ctl");
    return -1;
}

int
main(int argc, char **argv)
{
    /* Sockets are written with MSG_NOSIGNAL, but a closed stdout pipe
     * must not kill a run before it prints its result either. */
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 2 && strcmp(argv[1], "dc") == 0)
        return bench_dc(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "relay") == 0)
        return bench_relay(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "load") == 0)
        return bench_load(argc - 1, argv + 1);
    fprintf(stderr, "usage: bench dc|relay|load [options] (run a role "
        "without options for its usage)\n");
    return 2;
}
