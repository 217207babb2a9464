/*
 * upgrade.c - SIGUSR2: replace the running binary without dropping a
 * connection, as nginx does.
 *
 * Old master: rename the pid file to <pidfile>.oldbin, fork, and exec the
 * binary at the same path with TELEMT_INHERIT="listen=3,4;shm=5;ready=6"
 * (common/inherit.h) naming the listening sockets, the shared region's
 * memfd, the write end of a READY pipe and the admin socket (only these
 * lose close-on-exec, in the child).  The new master parses the list
 * strictly and checks each descriptor is what its field says before it
 * trusts any (it runs as root), validates its config, adopts the
 * sockets, attaches the region, starts its workers, writes the pid file
 * and writes "1" to the pipe; only then does the old master stop (its
 * workers drain).  If the new binary exits or closes the pipe first, the
 * old master renames its pid file back and carries on.
 */
#include "master.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inherit.h"
#include "log.h"

_Static_assert(MASTER_MAX_SLOTS * MASTER_MAX_LISTEN <= INHERIT_MAX_LISTEN,
    "TELEMT_INHERIT holds every slot's listening sockets");

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
    char env[INHERIT_MAX_LEN];
    int p[2], keep[INHERIT_MAX_FDS], nkeep;
    struct inherit in;
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
    inherit_init(&in);
    for (int i = 0; i < m->nslots; i++)
        for (int k = 0; k < m->slots[i].nfds; k++)
            in.listen[in.nlisten++] = m->slots[i].fds[k];
    in.shm = m->region_fd;
    in.ready = p[1];
    in.admin = m->admin_fd;
    if (inherit_format(&in, env, sizeof(env)) != 0) {
        log_warnx("SIGUSR2: the descriptor list does not fit in %s",
            INHERIT_ENV);
        close(p[0]);
        close(p[1]);
        return;
    }
    /* The child keeps, and the new binary inherits, exactly the list. */
    nkeep = inherit_fds(&in, keep);
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
        for (int i = 0; i < nkeep; i++)
            if (clear_cloexec(keep[i]) == -1)
                fatal("SIGUSR2: fcntl(%d, F_SETFD)", keep[i]);
        setenv(INHERIT_ENV, env, 1);
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

/* 1 if fd is a listening TCP socket (IPv4 or IPv6). */
static int
upgrade_is_listener(int fd)
{
    int acc = 0, type = 0, dom = 0, proto = 0;
    socklen_t l1 = sizeof(acc), l2 = sizeof(type), l3 = sizeof(dom);
    socklen_t l4 = sizeof(proto);

    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l1) == 0 &&
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l2) == 0 &&
        getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l3) == 0 &&
        getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l4) == 0 &&
        acc == 1 && type == SOCK_STREAM && proto == IPPROTO_TCP &&
        (dom == AF_INET || dom == AF_INET6);
}

/*
 * 1 if fd is the shared region's memfd: a regular file that answers
 * F_GET_SEALS (memfd and tmpfs files only) and, where /proc says, named
 * as stats_create() names it.  Its layout is stats_attach()'s to check.
 */
static int
upgrade_is_region(int fd)
{
    char proc[64], link[128];
    struct stat st;
    ssize_t n;

    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
        fcntl(fd, F_GET_SEALS) == -1)
        return 0;
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    n = readlink(proc, link, sizeof(link) - 1);
    if (n == -1)
        return 1;                       /* no /proc: the seals must do */
    link[n] = '\0';
    return strncmp(link, "/memfd:" STATS_REGION_NAME " ",
        strlen("/memfd:" STATS_REGION_NAME " ")) == 0;
}

/* 1 if fd is the write end of a pipe or FIFO. */
static int
upgrade_is_pipe_writer(int fd)
{
    struct stat st;
    int fl = fcntl(fd, F_GETFL);

    return fl != -1 && (fl & O_ACCMODE) == O_WRONLY && fstat(fd, &st) == 0 &&
        S_ISFIFO(st.st_mode);
}

int
upgrade_inherited(struct inherit *in)
{
    const char *env = getenv(INHERIT_ENV);
    char err[200];
    int fds[INHERIT_MAX_FDS], n;

    inherit_init(in);
    if (env == NULL)
        return 0;
    /* Only an old master sets it; anything it did not build is refused
     * (exit 1: an old master then rolls back) rather than guessed at. */
    if (inherit_parse(env, in, err, sizeof(err)) != 0)
        fatalx("%s: %s; refusing to start", INHERIT_ENV, err);
    for (int i = 0; i < in->nlisten; i++)
        if (!upgrade_is_listener(in->listen[i]))
            fatalx("%s: listen: descriptor %d is not a listening TCP "
                "socket; refusing to start", INHERIT_ENV, in->listen[i]);
    if (!upgrade_is_region(in->shm))
        fatalx("%s: shm: descriptor %d is not the shared region's memfd; "
            "refusing to start", INHERIT_ENV, in->shm);
    if (!upgrade_is_pipe_writer(in->ready))
        fatalx("%s: ready: descriptor %d is not a pipe's write end; "
            "refusing to start", INHERIT_ENV, in->ready);
    if (in->admin >= 0 && !upgrade_is_listener(in->admin))
        fatalx("%s: admin: descriptor %d is not a listening TCP socket; "
            "refusing to start", INHERIT_ENV, in->admin);
    unsetenv(INHERIT_ENV);
    /* Ours now; nothing we start later may inherit them by accident. */
    n = inherit_fds(in, fds);
    for (int i = 0; i < n; i++)
        if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) == -1)
            fatal("%s: fcntl(%d, F_SETFD)", INHERIT_ENV, fds[i]);
    return 1;
}
