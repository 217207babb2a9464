/*
 * upgrade.c - SIGUSR2: replace the running binary without dropping a
 * connection, as nginx does.
 *
 * Old master: rename the pid file to <pidfile>.oldbin, fork, and exec the
 * binary at the same path with
 * TELEMT_INHERIT="listen=3,4;shm=5;ready=6;admin=7;offer=8"
 * (common/inherit.h) naming the listening sockets, the shared region's
 * memfd, the write end of a READY pipe, the admin socket and one end of
 * an offer socket (only these lose close-on-exec, in the child).  The new
 * master parses the list strictly and checks each descriptor is what its
 * field says before it trusts any (it runs as root), validates its
 * config, adopts the sockets, attaches the region, starts its workers,
 * offers each worker's hand-over socket on the offer socket (with its
 * state-record version), writes the pid file and writes "1" to the pipe.
 * Only then does the old master stop accepting: each of its workers gets
 * one of the offered sockets and moves every live connection over
 * (worker/handoff.c), and the old master exits once they have.  With
 * another record version (or no offer) the old workers drain instead, for
 * upgrade_drain_timeout.  If the new binary exits or closes the pipe
 * first, the old master renames its pid file back and carries on.
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

#include "../worker/handoff.h"
#include "ctl.h"
#include "inherit.h"
#include "log.h"
#include "util.h"

_Static_assert(MASTER_MAX_SLOTS * MASTER_MAX_LISTEN <= INHERIT_MAX_LISTEN,
    "TELEMT_INHERIT holds every slot's listening sockets");

static void
upgrade_rename_pidfile(struct master *m, int forward)
{
    char old[PATH_BUF_LEN];
    int r;

    if (!m->pidfile_ours)
        return;
    snprintf(old, sizeof(old), "%s.oldbin", m->cfg->pidfile);
    r = forward ? rename(m->cfg->pidfile, old) : rename(old,
        m->cfg->pidfile);
    if (r == -1)
        log_warn("rename of the pid file %s", forward ? "to .oldbin" :
            "back from .oldbin");
    else
        log_info("pid file renamed %s", forward ? "to .oldbin" :
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
    int p[2], o[2], keep[INHERIT_MAX_FDS], nkeep;
    struct inherit in;
    sigset_t set;
    pid_t pid;

    if (m->upgrade_pid > 0 || m->upgrade_fd >= 0) {
        log_warnx("SIGUSR2: an upgrade is already in progress");
        return;
    }
    if (m->old_pid > 0 && getppid() == m->old_pid) {
        log_warnx("SIGUSR2: the old binary (pid %d) still runs; let it "
            "finish first", (int)m->old_pid);
        return;
    }
    if (m->region_fd < 0) {
        log_warnx("SIGUSR2: no region descriptor to hand over");
        return;
    }
    /* The new binary keeps the region; the file is for a crash of it. */
    quota_save(m);
    if (pipe2(p, O_CLOEXEC) == -1) {
        log_warn("SIGUSR2: pipe");
        return;
    }
    if (ctl_pair(o) == -1) {
        log_warn("SIGUSR2: socketpair");
        close(p[0]);
        close(p[1]);
        return;
    }
    inherit_init(&in);
    for (int i = 0; i < m->nslots; i++)
        for (int k = 0; k < m->slots[i].nfds; k++)
            in.listen[in.nlisten++] = m->slots[i].fds[k];
    in.shm = m->region_fd;
    in.ready = p[1];
    in.admin = m->admin_fd;
    in.offer = o[1];
    if (inherit_format(&in, env, sizeof(env)) != 0) {
        log_warnx("SIGUSR2: the descriptor list does not fit in %s",
            INHERIT_ENV);
        close(p[0]);
        close(p[1]);
        close(o[0]);
        close(o[1]);
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
        close(o[0]);
        close(o[1]);
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
        master_sigset(&set);
        sigprocmask(SIG_SETMASK, &set, NULL);
        execv(m->exe, m->argv);
        log_warn("SIGUSR2: execv(%s)", m->exe);
        _exit(127);
    }
    close(p[1]);
    close(o[1]);
    m->upgrade_pid = pid;
    m->upgrade_fd = p[0];
    m->offer_fd = o[0];
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
    close(m->offer_fd);
    m->offer_fd = -1;
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

/* 1 if fd is a Unix SOCK_SEQPACKET socket (the offer socket). */
static int
upgrade_is_seqpacket(int fd)
{
    int type, domain;
    socklen_t len = sizeof(type), dlen = sizeof(domain);

    return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
        getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) == 0 &&
        type == SOCK_SEQPACKET && domain == AF_UNIX;
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
    if (in->offer >= 0 && !upgrade_is_seqpacket(in->offer))
        fatalx("%s: offer: descriptor %d is not a Unix SEQPACKET socket; "
            "refusing to start", INHERIT_ENV, in->offer);
    unsetenv(INHERIT_ENV);
    /* Ours now; nothing we start later may inherit them by accident. */
    n = inherit_fds(in, fds);
    for (int i = 0; i < n; i++)
        if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) == -1)
            fatal("%s: fcntl(%d, F_SETFD)", INHERIT_ENV, fds[i]);
    return 1;
}

void
upgrade_offer(struct master *m)
{
    int n = 0;

    for (int i = 0; i < m->nslots; i++) {
        struct ctl_msg msg = { .type = CTL_OFFER, .arg = HANDOFF_VERSION,
            .generation = (uint64_t)i };

        if (m->slots[i].give_fd < 0)
            continue;
        if (ctl_send(m->offer_fd, &msg, m->slots[i].give_fd) == -1) {
            log_warn("upgrade: offering worker %d's hand-over socket", i);
            continue;
        }
        n++;
    }
    log_info("upgrade: offered %d worker(s) to the old binary for its "
        "connections (state record version %d)", n, HANDOFF_VERSION);
    close(m->offer_fd);
    m->offer_fd = -1;
}

void
upgrade_handover(struct master *m)
{
    int give[MASTER_MAX_SLOTS], ngive = 0, other = 0, fd, handed = 0;
    struct ctl_msg msg;

    /* The offers were queued before READY was written: all here now. */
    while (m->offer_fd >= 0 && ctl_recv(m->offer_fd, &msg, &fd) == 1) {
        if (msg.type != CTL_OFFER || fd < 0 || ngive == MASTER_MAX_SLOTS ||
            msg.arg != HANDOFF_VERSION) {
            if (msg.type == CTL_OFFER && msg.arg != HANDOFF_VERSION)
                other = (int)msg.arg;
            if (fd >= 0)
                close(fd);
            continue;
        }
        give[ngive++] = fd;
    }
    if (m->offer_fd >= 0)
        close(m->offer_fd);
    m->offer_fd = -1;
    if (ngive == 0)
        log_warnx("upgrade: %s; this binary's connections drain here "
            "instead%s", other != 0 ? "the new binary's connection state "
            "record has another version" : "the new binary offered no "
            "worker to hand connections to", m->cfg->upgrade_drain_timeout >
            0 ? " (for up to upgrade_drain_timeout)" : " until they end");
    if (other != 0)
        log_warnx("upgrade: state record version %d there, %d here", other,
            HANDOFF_VERSION);
    for (int i = 0; i < m->nslots; i++) {
        struct ctl_msg h = { .type = CTL_HANDOFF,
            .arg = (uint32_t)m->cfg->upgrade_drain_timeout,
            .generation = m->generation };
        struct slot *s = &m->slots[i];

        if (s->pid <= 0 || s->ctl_fd < 0)
            continue;
        if (ctl_send(s->ctl_fd, &h, ngive > 0 ? give[i % ngive] : -1) == -1)
            log_warn("upgrade: telling worker %d to hand over", i);
        else
            handed += ngive > 0;
    }
    for (int i = 0; i < ngive; i++)
        close(give[i]);
    if (handed > 0)
        log_info("upgrade: %d worker(s) hand their connections to %d new "
            "one(s)", handed, ngive);
}
