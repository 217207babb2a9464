/*
 * upgrade.c - SIGUSR2: replace the running binary without dropping a
 * connection, as nginx does.
 *
 * Old master: rename the pid file to <pidfile>.oldbin, fork, and exec the
 * binary at the same path with TELEMT_INHERIT="listen=3,4;shm=5;ready=6"
 * naming the listening sockets, the shared region's memfd and the write
 * end of a READY pipe (only these lose close-on-exec, in the child).  The
 * new master validates its config, adopts the sockets, attaches the
 * region, starts its workers, writes the pid file and writes "1" to the
 * pipe; only then does the old master stop (its workers drain).  If the
 * new binary exits or closes the pipe first, the old master renames its
 * pid file back and carries on.
 */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define UPGRADE_ENV             "TELEMT_INHERIT"

static void
upgrade_rename_pidfile(struct master *m, int forward)
{
    char old[1100];
    int r;

    if (!m->pidfile_ours)
        return;
    snprintf(old, sizeof(old), "%s.oldbin", m->cfg->pidfile);
    r = forward ? rename(m->cfg->pidfile, old) : rename(old,
        m->cfg->pidfile);
    if (r == -1)
        log_warn("rename of the pid file %s", forward ? "to .oldbin" :
            "back from .oldbin");
}

static int
clear_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);

    return fl == -1 ? -1 : fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
}

void
upgrade_start(struct master *m)
{
    char env[512];
    size_t n = 0;
    int p[2], keep[MASTER_MAX_SLOTS * MASTER_MAX_LISTEN + 2], nkeep = 0;
    sigset_t set;
    pid_t pid;

    if (m->upgrade_pid > 0 || m->upgrade_fd >= 0) {
        log_warnx("SIGUSR2: an upgrade is already in progress");
        return;
    }
    if (m->inherited && getppid() != 1 && kill(getppid(), 0) == 0) {
        log_warnx("SIGUSR2: the old binary (pid %d) still runs; let it "
            "finish first", (int)getppid());
        return;
    }
    if (m->region_fd < 0) {
        log_warnx("SIGUSR2: no region descriptor to hand over");
        return;
    }
    if (pipe2(p, O_CLOEXEC) == -1) {
        log_warn("SIGUSR2: pipe");
        return;
    }
    n += (size_t)snprintf(env + n, sizeof(env) - n, "listen=");
    for (int i = 0; i < m->nslots; i++)
        for (int k = 0; k < m->slots[i].nfds; k++)
            n += (size_t)snprintf(env + n, sizeof(env) - n, "%s%d",
                env[n - 1] == '=' ? "" : ",", m->slots[i].fds[k]);
    snprintf(env + n, sizeof(env) - n, ";shm=%d;ready=%d", m->region_fd,
        p[1]);
    for (int i = 0; i < m->nslots; i++)
        for (int k = 0; k < m->slots[i].nfds; k++)
            keep[nkeep++] = m->slots[i].fds[k];
    keep[nkeep++] = m->region_fd;
    keep[nkeep++] = p[1];
    upgrade_rename_pidfile(m, 1);
    pid = spawn_fork(m, "master", keep, nkeep, 0);
    if (pid == -1) {
        log_warn("SIGUSR2: fork");
        close(p[0]);
        close(p[1]);
        upgrade_rename_pidfile(m, 0);
        return;
    }
    if (pid == 0) {
        for (int i = 0; i < m->nslots; i++)
            for (int k = 0; k < m->slots[i].nfds; k++)
                clear_cloexec(m->slots[i].fds[k]);
        clear_cloexec(m->region_fd);
        clear_cloexec(p[1]);
        setenv(UPGRADE_ENV, env, 1);
        /* The new binary starts as this master runs: with the signals
         * it takes synchronously blocked, so none is lost or fatal before
         * its loop runs. */
        spawn_sigset(&set);
        sigprocmask(SIG_SETMASK, &set, NULL);
        execv(m->exe, m->argv);
        log_warn("SIGUSR2: execv(%s)", m->exe);
        _exit(127);
    }
    close(p[1]);
    m->upgrade_pid = pid;
    m->upgrade_fd = p[0];
    log_info("SIGUSR2: started %s as pid %d; waiting for it to be ready",
        m->exe, (int)pid);
}

int
upgrade_poll(struct master *m)
{
    struct pollfd pf = { .fd = m->upgrade_fd, .events = POLLIN };
    char c;
    ssize_t r;

    if (poll(&pf, 1, 0) <= 0)
        return 0;
    r = read(m->upgrade_fd, &c, 1);
    if (r == -1 && (errno == EAGAIN || errno == EINTR))
        return 0;
    close(m->upgrade_fd);
    m->upgrade_fd = -1;
    if (r == 1)
        return 1;
    /* EOF without READY: the new binary failed; we keep serving. */
    if (m->upgrade_pid > 0)
        kill(m->upgrade_pid, SIGKILL);
    upgrade_rename_pidfile(m, 0);
    log_errorx("upgrade failed: the new binary exited before it was ready; "
        "still serving with this one");
    return 0;
}

/* Parse "a,b,c" into fds; -1 if malformed. */
static int
parse_fds(const char *s, const char *end, int *fds, int *n, int max)
{
    *n = 0;
    while (s < end) {
        char *e;
        long v = strtol(s, &e, 10);

        if (e == s || v < 0 || v > 1 << 20 || *n >= max)
            return -1;
        fds[(*n)++] = (int)v;
        s = e;
        if (s < end && *s++ != ',')
            return -1;
    }
    return 0;
}

int
upgrade_inherited(int *fds, int *nfds, int maxfds, int *region_fd,
    int *ready_fd)
{
    const char *env = getenv(UPGRADE_ENV), *l, *sh, *rd, *semi;

    if (env == NULL || strncmp(env, "listen=", 7) != 0)
        return -1;
    l = env + 7;
    semi = strchr(l, ';');
    sh = strstr(env, ";shm=");
    rd = strstr(env, ";ready=");
    if (semi == NULL || sh == NULL || rd == NULL ||
        parse_fds(l, semi, fds, nfds, maxfds) != 0)
        return -1;
    *region_fd = atoi(sh + 5);
    *ready_fd = atoi(rd + 7);
    unsetenv(UPGRADE_ENV);
    /* Ours now; nothing we start later may inherit them by accident. */
    for (int i = 0; i < *nfds; i++)
        if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) == -1)
            return -1;
    if (fcntl(*region_fd, F_SETFD, FD_CLOEXEC) == -1 ||
        fcntl(*ready_fd, F_SETFD, FD_CLOEXEC) == -1)
        return -1;
    return 0;
}
