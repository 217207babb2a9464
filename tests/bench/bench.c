/*
 * bench.c - the benchmark tool of telemt: one binary with three roles,
 * driven by tests/bench/run.sh.
 *
 *   bench dc    --listen HOST:PORT ...        fake DC (dc.c)
 *   bench relay --listen HOST:PORT --to HOST:PORT [--workers N]
 *                                             no-crypto baseline (relay.c)
 *   bench mini  --listen HOST:PORT --to HOST:PORT --secret HEX32
 *               [--workers N]                 minimal fake-TLS proxy
 *                                             (mini.c)
 *   bench load  --target HOST:PORT --mode M TEST ...
 *                                             load client (load.c)
 *
 * This file holds main() and the helpers the roles share, among them
 * the prefork parent of relay and mini.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "net.h"
#include "util.h"

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

static void
kill_all(const pid_t *pids, int n)
{
    for (int i = 0; i < n; i++)
        if (pids[i] > 0)
            (void)kill(pids[i], SIGTERM);
    for (int i = 0; i < n; i++)
        if (pids[i] > 0)
            (void)waitpid(pids[i], NULL, 0);
}

int
bench_prefork(const char *who, const char *listen_s, int workers,
    void (*worker)(const char *listen_s, int ready_fd))
{
    static const int sigs[] = { SIGTERM, SIGINT, SIGCHLD };
    pid_t pids[BENCH_MAX_WORKERS] = { 0 }, parent = getpid(), pid;
    int sfd, pfd[2], up = 0, rc = 0;
    struct signalfd_siginfo si;
    char ok;

    if (nofile_raise_to_hard() != 0)
        perror("bench: setrlimit(RLIMIT_NOFILE)");
    /* Blocked before fork: the workers inherit the mask. */
    sfd = signalfd_block_all(sigs, 3);
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        fprintf(stderr, "bench %s: pipe: %s\n", who, strerror(errno));
        return 1;
    }
    for (int i = 0; i < workers; i++) {
        if ((pids[i] = fork()) < 0) {
            fprintf(stderr, "bench %s: fork: %s\n", who, strerror(errno));
            kill_all(pids, i);
            return 1;
        }
        if (pids[i] == 0) {
            close(pfd[0]);
            close(sfd);
            /* Die with the parent even if it is killed hard. */
            (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() != parent)
                _exit(1);
            worker(listen_s, pfd[1]);
            _exit(1);                   /* not reached */
        }
    }
    close(pfd[1]);
    for (int i = 0; i < workers; i++)
        up += read(pfd[0], &ok, 1) == 1 && ok;
    close(pfd[0]);
    if (up != workers) {
        fprintf(stderr, "bench %s: %d of %d workers failed to start\n",
            who, workers - up, workers);
        kill_all(pids, workers);
        return 1;
    }
    fprintf(stderr, "%s: %d workers on %s\n", who, workers, listen_s);

    /* Until SIGTERM/SIGINT, or a worker's death (then exit 1). */
    while (rc == 0) {
        struct pollfd pf = { .fd = sfd, .events = POLLIN };

        if (poll(&pf, 1, -1) < 0 && errno != EINTR)
            break;
        if (read(sfd, &si, sizeof(si)) != sizeof(si))
            continue;
        if (si.ssi_signo != SIGCHLD)
            break;
        while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
            for (int i = 0; i < workers; i++)
                if (pids[i] == pid) {
                    pids[i] = 0;
                    fprintf(stderr, "bench %s: worker %d died\n", who, i);
                    rc = 1;
                }
    }
    kill_all(pids, workers);
    close(sfd);
    return rc;
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
    if (argc >= 2 && strcmp(argv[1], "mini") == 0)
        return bench_mini(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "load") == 0)
        return bench_load(argc - 1, argv + 1);
    fprintf(stderr, "usage: bench dc|relay|mini|load [options] (run a role "
        "without options for its usage)\n");
    return 2;
}
