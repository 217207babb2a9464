/*
 * doctor.c - telemt --doctor CONFIG (doctor.h): the checks, run from the
 * command line only, never by the daemon.
 *
 * Each network check is a thread of its own, so the slowest one bounds
 * the run: every step of a check (a lookup aside) ends by one deadline,
 * DOCTOR_CHECK_MS from the start, and the main thread waits at most
 * DOCTOR_TOTAL_MS for them all.  A check stuck in getaddrinfo() past
 * that is reported as a failure and the process _exit()s around it.  The
 * limits check reads only this process's limits and /proc/sys, in the
 * main thread.  Lines are printed in a fixed order once all are in.
 * Nothing here reads a client's bytes; what the mask host answers is
 * bounded (DOCTOR_HEAD_MAX) and only searched for its Date.
 */
#include "doctor.h"
#include "../worker/threads.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timex.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "dc_table.h"
#include "links.h"
#include "master.h"
#include "me_proto.h"
#include "net.h"
#include "util.h"

#define DOCTOR_CHECK_MS         5000    /* every check's steps end by then */
#define DOCTOR_TOTAL_MS         8000    /* the main thread waits this long */
#define DOCTOR_DIAL_MS          3000    /* one TCP connect, at most */
#define DOCTOR_HEAD_MAX         16384   /* bytes of the mask host's answer */
#define DOCTOR_MAX_LINES        96      /* lines one check may print */
#define DOCTOR_MAX_ADDRS        16      /* addresses of one name */
#define DOCTOR_MAX_DIALS        (ME_LIST_MAX_ENTRIES + 256)
#define DOCTOR_MAX_LOCAL        64      /* this machine's addresses */

/*
 * What a worker holds besides its connections: listening sockets, the
 * control channel, the log, the region, a few pipes (fds); its main and
 * ME threads (threads); the binary's and libraries' mappings, malloc
 * arenas (maps).  ME mode adds me_max_connections per cluster; a list
 * has about DOCTOR_ME_CLUSTERS of them (5 DCs, media and test ones).
 */
/* + each worker's waiting connection threads' epoll sets and eventfd */
#define DOCTOR_FD_SLACK         (64 + THREADS_PARK_MAX + 1)
#define DOCTOR_THREAD_SLACK     16
#define DOCTOR_MAP_SLACK        1024
#define DOCTOR_ME_CLUSTERS      16
#define DOCTOR_GUARD_BYTES      4096    /* glibc's guard page per stack */

/* ---------------------------------------------------------------------
 * HTTP dates (pure)
 */

static const char *const doctor_months[12] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; m 1..12). */
static int64_t
doctor_days(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int
doctor_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* A cursor over the value being parsed. */
struct dcur {
    const char *p, *end;
};

/* Exactly n (or, with n < 0, 1..-n) digits; -1 if not there. */
static int
dcur_num(struct dcur *c, int n, int *out)
{
    int want = n < 0 ? -n : n, got = 0, v = 0;

    while (got < want && c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        v = v * 10 + (*c->p++ - '0');
        got++;
    }
    if (got == 0 || (n > 0 && got != n))
        return -1;
    *out = v;
    return 0;
}

static int
dcur_char(struct dcur *c, char ch)
{
    if (c->p >= c->end || *c->p != ch)
        return -1;
    c->p++;
    return 0;
}

/* A month's three letters (case as written in the RFC). */
static int
dcur_month(struct dcur *c, int *m)
{
    if (c->end - c->p < 3)
        return -1;
    for (int i = 0; i < 12; i++)
        if (memcmp(c->p, doctor_months[i], 3) == 0) {
            *m = i + 1;
            c->p += 3;
            return 0;
        }
    return -1;
}

/* A day name: "Sun" (IMF-fixdate, asctime) or "Sunday" (RFC 850). */
static int
dcur_dayname(struct dcur *c)
{
    const char *s = c->p;

    while (c->p < c->end && ((*c->p >= 'A' && *c->p <= 'Z') ||
        (*c->p >= 'a' && *c->p <= 'z')))
        c->p++;
    return c->p - s >= 3 && c->p - s <= 9 ? 0 : -1;
}

static int
dcur_clock(struct dcur *c, int *h, int *mi, int *s)
{
    return dcur_num(c, 2, h) || dcur_char(c, ':') || dcur_num(c, 2, mi) ||
        dcur_char(c, ':') || dcur_num(c, 2, s) ? -1 : 0;
}

int
doctor_http_date(const char *s, size_t n, int64_t *t)
{
    struct dcur c = { s, s + n };
    int y, m, d, h, mi, sec;

    while (c.end > c.p && (c.end[-1] == ' ' || c.end[-1] == '\t'))
        c.end--;
    if (dcur_dayname(&c) != 0)
        return -1;
    if (dcur_char(&c, ',') == 0) {
        /* "Sun, 06 Nov 1994 08:49:37 GMT" or "Sunday, 06-Nov-94 ..." */
        char sep;

        if (dcur_char(&c, ' ') || dcur_num(&c, 2, &d) || c.p >= c.end)
            return -1;
        sep = *c.p;
        if ((sep != ' ' && sep != '-') || dcur_char(&c, sep) ||
            dcur_month(&c, &m) || dcur_char(&c, sep))
            return -1;
        if (sep == ' ' ? dcur_num(&c, 4, &y) : dcur_num(&c, 2, &y))
            return -1;
        /* RFC 9110: a two-digit year more than 50 years on is the past;
         * for a server's clock now, 70..99 are 19xx. */
        if (sep == '-')
            y += y >= 70 ? 1900 : 2000;
        if (dcur_char(&c, ' ') || dcur_clock(&c, &h, &mi, &sec) ||
            dcur_char(&c, ' ') || c.end - c.p != 3 ||
            memcmp(c.p, "GMT", 3) != 0)
            return -1;
    } else {
        /* asctime: "Sun Nov  6 08:49:37 1994" */
        if (dcur_char(&c, ' ') || dcur_month(&c, &m) || dcur_char(&c, ' '))
            return -1;
        (void)dcur_char(&c, ' ');       /* " 6" pads a one-digit day */
        if (dcur_num(&c, -2, &d) || dcur_char(&c, ' ') ||
            dcur_clock(&c, &h, &mi, &sec) || dcur_char(&c, ' ') ||
            dcur_num(&c, 4, &y) || c.p != c.end)
            return -1;
    }
    {
        static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30,
            31, 30, 31 };
        int dim = mdays[m - 1] + (m == 2 && doctor_leap(y));

        /* 60: a leap second, as the RFCs allow. */
        if (d < 1 || d > dim || h > 23 || mi > 59 || sec > 60)
            return -1;
    }
    *t = doctor_days(y, m, d) * 86400 + h * 3600 + mi * 60 + sec;
    return 0;
}

int
doctor_find_date(const char *p, size_t n, int64_t *t)
{
    const char *end = p + n, *line = p, *eol;

    if (n < 5 || memcmp(p, "HTTP/", 5) != 0)
        return -2;
    /* Skip the status line; then one header a line up to the blank one. */
    for (;;) {
        eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL)
            return -1;
        line = eol + 1;
        eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL)
            return -1;
        {
            const char *e = eol > line && eol[-1] == '\r' ? eol - 1 : eol;
            const char *v = line + 5;

            if (e == line)
                return -1;              /* the end of the head */
            if (e - line >= 5 && strncasecmp(line, "date:", 5) == 0) {
                while (v < e && (*v == ' ' || *v == '\t'))
                    v++;
                return doctor_http_date(v, (size_t)(e - v), t) == 0 ? 0 :
                    -1;
            }
        }
        line = eol;
    }
}

/* ---------------------------------------------------------------------
 * Limits (pure arithmetic, then the reading of them)
 */

static uint64_t
doctor_mul(uint64_t a, uint64_t b)
{
    return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

void
doctor_need(const struct config *cfg, const struct doctor_limits *lim,
    struct doctor_need *need)
{
    uint64_t me = cfg->use_middle_proxy ?
        (uint64_t)DOCTOR_ME_CLUSTERS * (uint64_t)cfg->me_max_connections : 0;

    memset(need, 0, sizeof(*need));
    need->conns = (uint64_t)cfg->max_connections +
        (uint64_t)cfg->mask_max_connections;
    need->fds = 2 * need->conns + DOCTOR_FD_SLACK + me;
    need->threads = need->conns + DOCTOR_THREAD_SLACK;
    need->maps = 2 * need->threads + DOCTOR_MAP_SLACK;
    need->stack_bytes = doctor_mul(need->threads,
        (uint64_t)cfg->thread_stack_size + DOCTOR_GUARD_BYTES);
    /* privs_raise_nofile(): max_open_files, or else the hard limit. */
    if (cfg->max_open_files <= 0) {
        need->nofile = lim->nofile_hard;
        return;
    }
    {
        uint64_t want = (uint64_t)cfg->max_open_files;

        if (want <= lim->nofile_hard)
            need->nofile = want;
        else if (!lim->root)
            need->nofile = lim->nofile_hard;
        else if (want <= lim->nr_open)
            need->nofile = want;
        else {
            /* setrlimit() fails with EPERM: the soft limit stays. */
            need->nofile = lim->nofile_soft;
            need->nofile_fails = 1;
        }
    }
}

/* A limit for a message: "unlimited" or the number. */
static const char *
doctor_lim(uint64_t v, char *buf, size_t len)
{
    if (v == DOCTOR_UNLIMITED)
        snprintf(buf, len, "unlimited");
    else
        snprintf(buf, len, "%llu", (unsigned long long)v);
    return buf;
}

/* The max_connections at which `per` (per connection) fits in `have`,
 * after `fixed` and the masked connections; 0 if none fits. */
static uint64_t
doctor_fit(const struct config *cfg, uint64_t have, uint64_t fixed,
    uint64_t per)
{
    uint64_t n;

    if (have <= fixed)
        return 0;
    n = (have - fixed) / per;
    return n > (uint64_t)cfg->mask_max_connections ?
        n - (uint64_t)cfg->mask_max_connections : 0;
}

static void
doctor_limit_fds(const struct config *cfg, const struct doctor_limits *lim,
    const struct doctor_need *nd, struct doctor_line *l)
{
    uint64_t total = doctor_mul(nd->fds, (uint64_t)cfg->workers);
    char a[24], b[24], c[24];

    l->status = DOCTOR_OK;
    snprintf(l->what, sizeof(l->what), "descriptors: each worker needs "
        "%llu (2 per connection: max_connections %d + mask_max_connections "
        "%d, and %llu more) and gets RLIMIT_NOFILE %s (hard %s, fs.nr_open "
        "%s)", (unsigned long long)nd->fds, cfg->max_connections,
        cfg->mask_max_connections,
        (unsigned long long)(nd->fds - 2 * nd->conns),
        doctor_lim(nd->nofile, a, sizeof(a)),
        doctor_lim(lim->nofile_hard, b, sizeof(b)),
        lim->nr_open == DOCTOR_UNLIMITED ? "unknown" :
        doctor_lim(lim->nr_open, c, sizeof(c)));
    if (nd->nofile_fails) {
        l->status = DOCTOR_FAIL;
        snprintf(l->fix, sizeof(l->fix), "max_open_files = %d is above "
            "fs.nr_open (%llu), so raising the limit fails and the workers "
            "keep %s: sysctl -w fs.nr_open=%d (and in /etc/sysctl.d/), or "
            "lower max_open_files", cfg->max_open_files,
            (unsigned long long)lim->nr_open, a, cfg->max_open_files);
        return;
    }
    if (nd->nofile < nd->fds) {
        l->status = DOCTOR_FAIL;
        snprintf(l->fix, sizeof(l->fix), "a worker runs out of descriptors "
            "at about %llu connections (masked ones included), not %d + %d: "
            "raise the hard limit to %llu (LimitNOFILE=%llu in the systemd "
            "unit, or `ulimit -Hn` / limits.conf where it starts%s)%s, or "
            "lower max_connections to %llu",
            (unsigned long long)(nd->nofile > DOCTOR_FD_SLACK ?
            (nd->nofile - DOCTOR_FD_SLACK) / 2 : 0), cfg->max_connections,
            cfg->mask_max_connections, (unsigned long long)nd->fds,
            (unsigned long long)nd->fds,
            lim->root ? "; as root, max_open_files can raise it too" : "",
            nd->fds > lim->nr_open ? ", and fs.nr_open with it (sysctl -w "
            "fs.nr_open=N)" : "", (unsigned long long)doctor_fit(cfg,
            nd->nofile, DOCTOR_FD_SLACK, 2));
        return;
    }
    if (lim->file_max != DOCTOR_UNLIMITED && total > lim->file_max) {
        l->status = DOCTOR_WARN;
        snprintf(l->fix, sizeof(l->fix), "all %d workers at max_connections "
            "need %llu descriptors, above fs.file-max %llu (every process "
            "of the machine shares it): sysctl -w fs.file-max=%llu",
            cfg->workers, (unsigned long long)total,
            (unsigned long long)lim->file_max,
            (unsigned long long)(total * 2));
    }
}

static void
doctor_limit_threads(const struct config *cfg,
    const struct doctor_limits *lim, const struct doctor_need *nd,
    struct doctor_line *l)
{
    uint64_t workers = cfg->workers > 0 ? (uint64_t)cfg->workers : 1;
    uint64_t total = doctor_mul(nd->threads, workers) + DOCTOR_THREAD_SLACK;
    char a[24], b[24], c[24];

    l->status = DOCTOR_OK;
    snprintf(l->what, sizeof(l->what), "threads: %d workers x %llu (one "
        "per connection) = %llu; RLIMIT_NPROC %s%s, kernel.threads-max %s, "
        "kernel.pid_max %s", cfg->workers, (unsigned long long)nd->threads,
        (unsigned long long)total, doctor_lim(lim->nproc, a, sizeof(a)),
        lim->workers_root ? " (not applied: the workers run as root)" : "",
        doctor_lim(lim->threads_max, b, sizeof(b)),
        doctor_lim(lim->pid_max, c, sizeof(c)));
    if (!lim->workers_root && lim->nproc != DOCTOR_UNLIMITED &&
        total > lim->nproc) {
        /* What one worker's share of the user's tasks leaves. */
        uint64_t share = lim->nproc > DOCTOR_THREAD_SLACK ?
            (lim->nproc - DOCTOR_THREAD_SLACK) / workers : 0;

        l->status = DOCTOR_FAIL;
        snprintf(l->fix, sizeof(l->fix), "RLIMIT_NPROC counts every thread "
            "of the workers' user%s%s%s: raise it to %llu (LimitNPROC=%llu "
            "in the systemd unit, or nproc in limits.conf; the unit's "
            "TasksMax= must allow as many), or lower max_connections to "
            "%llu", cfg->user[0] != '\0' ? " (" : "", cfg->user,
            cfg->user[0] != '\0' ? ")" : "", (unsigned long long)total,
            (unsigned long long)total,
            (unsigned long long)doctor_fit(cfg, share, DOCTOR_THREAD_SLACK,
            1));
        return;
    }
    if (total > lim->threads_max || total > lim->pid_max) {
        l->status = DOCTOR_FAIL;
        snprintf(l->fix, sizeof(l->fix), "the kernel runs out of %s before "
            "every worker reaches max_connections: sysctl -w %s=%llu (and in "
            "/etc/sysctl.d/), or lower max_connections",
            total > lim->threads_max ? "threads" : "pids",
            total > lim->threads_max ? "kernel.threads-max" :
            "kernel.pid_max", (unsigned long long)(total * 2));
    }
}

static void
doctor_limit_stacks(const struct config *cfg,
    const struct doctor_limits *lim, const struct doctor_need *nd,
    struct doctor_line *l)
{
    uint64_t all = doctor_mul(nd->stack_bytes, (uint64_t)cfg->workers);
    char a[24], b[24];

    l->status = DOCTOR_OK;
    snprintf(l->what, sizeof(l->what), "thread stacks: %llu per worker of "
        "%d bytes (thread_stack_size) = %llu MiB of address space and %llu "
        "mappings; vm.max_map_count %s, RLIMIT_AS %s%s",
        (unsigned long long)nd->threads, cfg->thread_stack_size,
        (unsigned long long)(nd->stack_bytes >> 20),
        (unsigned long long)nd->maps,
        doctor_lim(lim->max_map_count, a, sizeof(a)),
        doctor_lim(lim->as, b, sizeof(b)),
        lim->overcommit == 2 ? ", vm.overcommit_memory 2" : "");
    if (nd->maps > lim->max_map_count) {
        l->status = DOCTOR_FAIL;
        snprintf(l->fix, sizeof(l->fix), "each thread stack takes 2 "
            "mappings, so a worker cannot start more than about %llu "
            "threads: sysctl -w vm.max_map_count=%llu (and in "
            "/etc/sysctl.d/), or lower max_connections",
            (unsigned long long)(lim->max_map_count > DOCTOR_MAP_SLACK ?
            (lim->max_map_count - DOCTOR_MAP_SLACK) / 2 : 0),
            (unsigned long long)(nd->maps * 2));
    } else if (lim->as != DOCTOR_UNLIMITED && nd->stack_bytes > lim->as) {
        l->status = DOCTOR_FAIL;
        snprintf(l->fix, sizeof(l->fix), "the stacks alone exceed "
            "RLIMIT_AS: remove the address-space limit (LimitAS=infinity, "
            "ulimit -v unlimited), or lower thread_stack_size or "
            "max_connections");
    } else if (lim->overcommit == 2 && lim->commit_limit !=
        DOCTOR_UNLIMITED && all > lim->commit_limit) {
        l->status = DOCTOR_FAIL;
        snprintf(l->fix, sizeof(l->fix), "with vm.overcommit_memory = 2 "
            "every stack is committed in full: %llu MiB for all workers, "
            "above CommitLimit %llu MiB; lower thread_stack_size or "
            "max_connections, or sysctl -w vm.overcommit_memory=0",
            (unsigned long long)(all >> 20),
            (unsigned long long)(lim->commit_limit >> 20));
    }
}

int
doctor_limits_check(const struct config *cfg,
    const struct doctor_limits *lim, struct doctor_line *out)
{
    struct doctor_need nd;

    doctor_need(cfg, lim, &nd);
    for (int i = 0; i < 3; i++)
        out[i].fix[0] = '\0';
    doctor_limit_fds(cfg, lim, &nd, &out[0]);
    doctor_limit_threads(cfg, lim, &nd, &out[1]);
    doctor_limit_stacks(cfg, lim, &nd, &out[2]);
    return 3;
}

/* A number from a /proc file (the first one on its first line). */
static uint64_t
doctor_proc_num(const char *path)
{
    char buf[64];
    unsigned long long v;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd == -1)
        return DOCTOR_UNLIMITED;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return DOCTOR_UNLIMITED;
    buf[n] = '\0';
    return sscanf(buf, "%llu", &v) == 1 ? (uint64_t)v : DOCTOR_UNLIMITED;
}

/* CommitLimit from /proc/meminfo, in bytes. */
static uint64_t
doctor_commit_limit(void)
{
    FILE *f = fopen("/proc/meminfo", "re");
    char line[128];
    unsigned long long kb;
    uint64_t v = DOCTOR_UNLIMITED;

    if (f == NULL)
        return v;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "CommitLimit: %llu kB", &kb) == 1) {
            v = (uint64_t)kb * 1024;
            break;
        }
    fclose(f);
    return v;
}

static uint64_t
doctor_rlim(rlim_t v)
{
    return v == RLIM_INFINITY ? DOCTOR_UNLIMITED : (uint64_t)v;
}

void
doctor_limits_read(const struct config *cfg, struct doctor_limits *lim)
{
    struct rlimit rl;

    memset(lim, 0, sizeof(*lim));
    lim->nofile_soft = lim->nofile_hard = lim->nproc = lim->as =
        DOCTOR_UNLIMITED;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        lim->nofile_soft = doctor_rlim(rl.rlim_cur);
        lim->nofile_hard = doctor_rlim(rl.rlim_max);
    }
    if (getrlimit(RLIMIT_NPROC, &rl) == 0)
        lim->nproc = doctor_rlim(rl.rlim_cur);
    if (getrlimit(RLIMIT_AS, &rl) == 0)
        lim->as = doctor_rlim(rl.rlim_cur);
    lim->nr_open = doctor_proc_num("/proc/sys/fs/nr_open");
    lim->file_max = doctor_proc_num("/proc/sys/fs/file-max");
    lim->threads_max = doctor_proc_num("/proc/sys/kernel/threads-max");
    lim->pid_max = doctor_proc_num("/proc/sys/kernel/pid_max");
    lim->max_map_count = doctor_proc_num("/proc/sys/vm/max_map_count");
    lim->overcommit = (int)doctor_proc_num("/proc/sys/vm/overcommit_memory");
    lim->commit_limit = doctor_commit_limit();
    lim->root = geteuid() == 0;
    lim->workers_root = lim->root && cfg->user[0] == '\0';
}

/* ---------------------------------------------------------------------
 * The checks' shared machinery
 */

/* One check: a thread filling its own lines. */
struct doctor;
struct doctor_check {
    const char *name;                   /* for one that does not finish */
    void (*run)(struct doctor *, struct doctor_check *);
    struct doctor_line line[DOCTOR_MAX_LINES];
    int n;
    int done;                           /* under doctor.mu */
    int started;
    pthread_t tid;
    struct doctor *d;
};

enum { CHECK_MASK, CHECK_DOMAIN, CHECK_DC, CHECK_PUBLIC, NCHECKS };

struct doctor {
    const struct config *cfg;
    int64_t deadline_ms;                /* mono_ms() every step ends by */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int left;                           /* checks still running */
    struct net_addr local[DOCTOR_MAX_LOCAL];   /* this machine's */
    int nlocal;
    struct doctor_check check[NCHECKS];
};

/* A new line of c with its status and what; its fix starts empty.  Past
 * DOCTOR_MAX_LINES the last line is reused (and says so). */
static struct doctor_line *
doctor_say(struct doctor_check *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static struct doctor_line *
doctor_say(struct doctor_check *c, int status, const char *fmt, ...)
{
    struct doctor_line *l;
    va_list ap;

    if (c->n == DOCTOR_MAX_LINES) {
        l = &c->line[DOCTOR_MAX_LINES - 1];
        if (status > l->status)
            l->status = status;
        snprintf(l->what, sizeof(l->what), "%s: more than %d lines; the "
            "rest are not shown", c->name, DOCTOR_MAX_LINES);
        return l;
    }
    l = &c->line[c->n++];
    l->status = status;
    l->fix[0] = '\0';
    va_start(ap, fmt);
    vsnprintf(l->what, sizeof(l->what), fmt, ap);
    va_end(ap);
    return l;
}

static void
doctor_fix(struct doctor_line *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
doctor_fix(struct doctor_line *l, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(l->fix, sizeof(l->fix), fmt, ap);
    va_end(ap);
}

/* Append to a bounded string. */
static void
doctor_cat(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
doctor_cat(char *buf, size_t len, const char *fmt, ...)
{
    size_t have = strnlen(buf, len);
    va_list ap;

    if (have + 1 >= len)
        return;
    va_start(ap, fmt);
    vsnprintf(buf + have, len - have, fmt, ap);
    va_end(ap);
}

static int
doctor_same_ip(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family)
        return 0;
    if (a->sa_family == AF_INET)
        return ((const struct sockaddr_in *)(const void *)a)->sin_addr.s_addr
            == ((const struct sockaddr_in *)(const void *)b)->sin_addr.s_addr;
    if (a->sa_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)(const void *)a)->
            sin6_addr, &((const struct sockaddr_in6 *)(const void *)b)->
            sin6_addr, sizeof(struct in6_addr)) == 0;
    return 0;
}

/* 1 if sa is one of this machine's addresses (or loopback). */
static int
doctor_is_local(const struct doctor *d, const struct sockaddr *sa)
{
    if (net_is_loopback(sa))
        return 1;
    for (int i = 0; i < d->nlocal; i++)
        if (doctor_same_ip((const struct sockaddr *)&d->local[i].ss, sa))
            return 1;
    return 0;
}

/* This machine's interface addresses, and me_nat_ipv4/6 (a 1:1 NAT's
 * public side is this machine too). */
static void
doctor_local_addrs(struct doctor *d)
{
    struct ifaddrs *ifa, *i;

    if (getifaddrs(&ifa) == 0) {
        for (i = ifa; i != NULL && d->nlocal < DOCTOR_MAX_LOCAL;
            i = i->ifa_next) {
            socklen_t len;

            if (i->ifa_addr == NULL)
                continue;
            if (i->ifa_addr->sa_family == AF_INET)
                len = sizeof(struct sockaddr_in);
            else if (i->ifa_addr->sa_family == AF_INET6)
                len = sizeof(struct sockaddr_in6);
            else
                continue;
            memcpy(&d->local[d->nlocal].ss, i->ifa_addr, len);
            d->local[d->nlocal++].len = len;
        }
        freeifaddrs(ifa);
    }
    if (d->cfg->me_nat_ipv4[0] != '\0')
        d->nlocal = net_resolve(d->cfg->me_nat_ipv4, 0, d->local, d->nlocal,
            DOCTOR_MAX_LOCAL);
    if (d->cfg->me_nat_ipv6[0] != '\0')
        d->nlocal = net_resolve(d->cfg->me_nat_ipv6, 0, d->local, d->nlocal,
            DOCTOR_MAX_LOCAL);
}

static double
doctor_wall(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One address to dial, and what came of it. */
struct doctor_dial {
    struct net_addr a;
    int err;                            /* 0 connected, an errno, or -1 */
    double ms;                          /* connect time when err == 0 */
    int group;                          /* the caller's: which DC etc. */
};

/*
 * Connect to every d[0..n) at once (non-blocking, one poll() over all),
 * each given until deadline_ms; closes every socket again.  err is 0
 * and ms the time it took, ETIMEDOUT past the deadline, or the errno.
 */
static void
doctor_dial_all(struct doctor_dial *d, int n, int64_t deadline_ms)
{
    struct pollfd *p = calloc((size_t)n + 1, sizeof(*p));
    int *idx = calloc((size_t)n + 1, sizeof(*idx));
    int64_t *t0 = calloc((size_t)n + 1, sizeof(*t0));
    int pending = 0;

    if (p == NULL || idx == NULL || t0 == NULL) {
        for (int i = 0; i < n; i++)
            d[i].err = ENOMEM;
        free(p);
        free(idx);
        free(t0);
        return;
    }
    for (int i = 0; i < n; i++) {
        int fd = socket(d[i].a.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
            SOCK_CLOEXEC, 0);

        d[i].err = 0;
        t0[i] = mono_us();
        if (fd == -1) {
            d[i].err = errno;
            continue;
        }
        if (connect(fd, (struct sockaddr *)&d[i].a.ss, d[i].a.len) == 0) {
            d[i].ms = (double)(mono_us() - t0[i]) / 1000.0;
            close(fd);
            continue;
        }
        if (errno != EINPROGRESS) {
            d[i].err = errno;
            close(fd);
            continue;
        }
        p[pending] = (struct pollfd){ .fd = fd, .events = POLLOUT };
        idx[pending++] = i;
    }
    while (pending > 0) {
        int64_t left = deadline_ms - mono_ms();
        int r;

        if (left <= 0)
            break;
        r = poll(p, (nfds_t)pending, (int)left);
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        for (int j = 0; j < pending; j++) {
            int err = 0;
            socklen_t elen = sizeof(err);

            if (p[j].revents == 0)
                continue;
            if (getsockopt(p[j].fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1)
                err = errno;
            d[idx[j]].err = err;
            d[idx[j]].ms = (double)(mono_us() - t0[idx[j]]) / 1000.0;
            close(p[j].fd);
            p[j] = p[--pending];
            idx[j] = idx[pending];
            j--;
        }
    }
    for (int j = 0; j < pending; j++) {
        d[idx[j]].err = ETIMEDOUT;
        close(p[j].fd);
    }
    free(p);
    free(idx);
    free(t0);
}

/* "12.3 ms", "refused", "no answer within 3 s", ... for one dial. */
static void
doctor_dial_text(const struct doctor_dial *x, char *out, size_t len)
{
    char a[80];

    net_format((const struct sockaddr *)&x->a.ss, a, sizeof(a));
    if (x->err == 0)
        snprintf(out, len, "%s %.1f ms", a, x->ms);
    else if (x->err == ECONNREFUSED)
        snprintf(out, len, "%s refused", a);
    else if (x->err == ETIMEDOUT)
        snprintf(out, len, "%s no answer within %d s", a,
            DOCTOR_DIAL_MS / 1000);
    else
        snprintf(out, len, "%s %s", a, strerror(x->err));
}

/* ---------------------------------------------------------------------
 * The mask host: TCP, TLS, its HTTP Date; and the clock against it
 */

/* What one HTTPS exchange with the mask host found. */
struct doctor_tls {
    char addr[100];                     /* the address that answered */
    double connect_ms;
    char version[32], cipher[80];
    int name_ok;                        /* certificate is for tls_domain */
    char cert_name[128];                /* its subject CN, for the line */
    long verify;                        /* X509_V_OK: trusted here */
    int have_date;
    int64_t date;                       /* the Date header's */
    double sent, at;                    /* our clock: request sent, head in */
    char why[256];                      /* the failure, if any */
};

/* Drive one SSL call (SSL_connect/read/write) until done or deadline. */
static int
doctor_ssl_wait(SSL *ssl, int fd, int r, int64_t deadline_ms)
{
    struct pollfd p = { .fd = fd };
    int e = SSL_get_error(ssl, r);
    int64_t left = deadline_ms - mono_ms();

    if (e == SSL_ERROR_WANT_READ)
        p.events = POLLIN;
    else if (e == SSL_ERROR_WANT_WRITE)
        p.events = POLLOUT;
    else
        return -1;
    if (left <= 0 || poll(&p, 1, (int)left) <= 0)
        return -2;
    return 0;
}

static void
doctor_ssl_why(char *why, size_t len, int r, const char *step)
{
    unsigned long e = ERR_get_error();
    char msg[200];

    if (r == -2) {
        snprintf(why, len, "%s: no answer within the check's %d s", step,
            DOCTOR_CHECK_MS / 1000);
        return;
    }
    if (e != 0)
        ERR_error_string_n(e, msg, sizeof(msg));
    else
        snprintf(msg, sizeof(msg), "the connection closed");
    snprintf(why, len, "%s: %s", step, msg);
}

/* HEAD / over ssl; the head's Date into t. */
static int
doctor_http_head(const struct doctor *d, SSL *ssl, int fd, const char *host,
    struct doctor_tls *t)
{
    char req[512], *head = malloc(DOCTOR_HEAD_MAX + 1);
    size_t have = 0;
    int n, r = 0;
    double t0;

    if (head == NULL)
        return -1;
    n = snprintf(req, sizeof(req), "HEAD / HTTP/1.1\r\nHost: %s\r\n"
        "User-Agent: telemt-doctor\r\nAccept: */*\r\nConnection: close\r\n"
        "\r\n", host);
    t0 = doctor_wall();
    while ((r = SSL_write(ssl, req, n)) <= 0)
        if ((r = doctor_ssl_wait(ssl, fd, r, d->deadline_ms)) != 0) {
            doctor_ssl_why(t->why, sizeof(t->why), r, "sending HEAD /");
            free(head);
            return -1;
        }
    while (have < DOCTOR_HEAD_MAX) {
        r = SSL_read(ssl, head + have, (int)(DOCTOR_HEAD_MAX - have));
        if (r > 0) {
            have += (size_t)r;
            head[have] = '\0';
            if (strstr(head, "\r\n\r\n") != NULL ||
                strstr(head, "\n\n") != NULL)
                break;
            continue;
        }
        if (SSL_get_error(ssl, r) == SSL_ERROR_ZERO_RETURN)
            break;
        if ((r = doctor_ssl_wait(ssl, fd, r, d->deadline_ms)) != 0)
            break;
    }
    t->at = doctor_wall();
    t->sent = t0;
    if (doctor_find_date(head, have, &t->date) == 0)
        t->have_date = 1;
    else if (have == 0)
        doctor_ssl_why(t->why, sizeof(t->why), r == -2 ? -2 : -1,
            "waiting for the answer to HEAD /");
    else
        snprintf(t->why, sizeof(t->why), "its answer to HEAD / has no "
            "valid Date header");
    free(head);
    return 0;
}

/* The certificate's names against tls_domain, and its subject's CN. */
static void
doctor_cert(SSL *ssl, const char *domain, struct doctor_tls *t)
{
    X509 *x = SSL_get1_peer_certificate(ssl);

    snprintf(t->cert_name, sizeof(t->cert_name), "(none)");
    if (x == NULL)
        return;
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName,
        t->cert_name, sizeof(t->cert_name));
    t->name_ok = domain[0] != '\0' &&
        X509_check_host(x, domain, 0, 0, NULL) == 1;
    t->verify = SSL_get_verify_result(ssl);
    X509_free(x);
}

static int
doctor_is_literal(const char *host)
{
    struct sockaddr_storage ss;
    socklen_t len;

    return net_parse_literal(host, 0, &ss, &len) == 0;
}

/* TLS with SNI tls_domain over fd, then HEAD /; 0 if the TLS part held. */
static int
doctor_tls_talk(struct doctor *d, int fd, struct doctor_tls *t)
{
    const struct config *cfg = d->cfg;
    const char *sni = cfg->tls_domain[0] != '\0' ? cfg->tls_domain :
        cfg->mask_host;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = NULL;
    int r, rc = -1;

    if (ctx == NULL) {
        snprintf(t->why, sizeof(t->why), "OpenSSL: SSL_CTX_new failed");
        return -1;
    }
    /* Trust is reported, not required: the Date is what is wanted. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    (void)SSL_CTX_set_default_verify_paths(ctx);
    /* RFC 6066 3: no SNI for an address literal. */
    if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1 ||
        (!doctor_is_literal(sni) &&
        /* SSL_set_tlsext_host_name(), without its macro's cast. */
        SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME,
        TLSEXT_NAMETYPE_host_name, unconst(sni)) != 1)) {
        snprintf(t->why, sizeof(t->why), "OpenSSL: cannot set up the "
            "connection");
        goto out;
    }
    while ((r = SSL_connect(ssl)) != 1)
        if ((r = doctor_ssl_wait(ssl, fd, r, d->deadline_ms)) != 0) {
            doctor_ssl_why(t->why, sizeof(t->why), r, "TLS handshake");
            goto out;
        }
    snprintf(t->version, sizeof(t->version), "%s", SSL_get_version(ssl));
    snprintf(t->cipher, sizeof(t->cipher), "%s", SSL_get_cipher_name(ssl));
    doctor_cert(ssl, cfg->tls_domain, t);
    rc = 0;
    (void)doctor_http_head(d, ssl, fd, sni, t);
out:
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

/* The clock line from what the mask host's Date said. */
static void
doctor_clock_line(struct doctor *d, struct doctor_check *c, const char *host,
    const struct doctor_tls *t)
{
    const struct config *cfg = d->cfg;
    struct timex tx = { .modes = 0 };
    int unsynced = adjtimex(&tx) == TIME_ERROR;
    /*
     * The server wrote its Date between our request and the end of its
     * answer, truncated to the second: the estimate compares the two
     * middles, give or take half of each span.
     */
    double skew = (t->sent + t->at) / 2 - ((double)t->date + 0.5);
    double off = skew < 0 ? -skew : skew;
    double slack = 0.5 + (t->at - t->sent) / 2;
    const char *sync = unsynced ? "the kernel says this clock is not "
        "NTP-synchronised" : "the kernel says this clock is synchronised";
    struct doctor_line *l;
    int st = DOCTOR_OK;

    if (off - slack > cfg->tls_time_skew)
        st = cfg->mode_tls ? DOCTOR_FAIL : DOCTOR_WARN;
    else if (off - slack > cfg->tls_time_skew / 2.0 && cfg->mode_tls)
        st = DOCTOR_WARN;
    l = doctor_say(c, st, "clock: %.0f s %s %s's Date (+-%.1f s; "
        "tls_time_skew %d; %s)", off, skew >= 0 ? "ahead of" : "behind",
        host, slack, cfg->tls_time_skew, sync);
    if (st == DOCTOR_OK)
        return;
    if (st == DOCTOR_FAIL)
        doctor_fix(l, "fake TLS refuses every hello whose timestamp differs "
            "from this clock by more than tls_time_skew (%d s), so clients "
            "with a correct clock are all refused now: sync this clock "
            "(timedatectl set-ntp true, or install chrony) and check `date "
            "-u`%s", cfg->tls_time_skew, unsynced ? "" : "; this clock "
            "claims to be synchronised, so the mask host's may be the wrong "
            "one: compare with another server");
    else if (!cfg->mode_tls)
        doctor_fix(l, "fake TLS is off, so no one is refused for it now; "
            "with modes.tls on, every client would be (more than "
            "tls_time_skew, %d s): sync this clock (timedatectl set-ntp "
            "true, or install chrony)", cfg->tls_time_skew);
    else
        doctor_fix(l, "that is over half of tls_time_skew (%d s): clients "
            "whose own clock errs the other way by the rest are refused; "
            "sync this clock (timedatectl set-ntp true, or install chrony)"
            "%s", cfg->tls_time_skew, unsynced ? "" : "; this clock claims "
            "to be synchronised, so the mask host's may be the wrong one");
}

static void
doctor_check_mask(struct doctor *d, struct doctor_check *c)
{
    const struct config *cfg = d->cfg;
    const char *host = cfg->mask_host;
    struct net_addr a[DOCTOR_MAX_ADDRS];
    struct doctor_tls t;
    char tried[DOCTOR_TEXT] = "", hp[300];
    struct doctor_line *l;
    int n, loop = 0, fd = -1;

    memset(&t, 0, sizeof(t));
    if (host[0] == '\0') {
        doctor_say(c, cfg->mode_tls ? DOCTOR_WARN : DOCTOR_OK, "clock: not "
            "checked (no mask_host to ask for the time)");
        doctor_say(c, DOCTOR_OK, "mask host: none (mask_host and tls_domain "
            "are unset)");
        return;
    }
    snprintf(hp, sizeof(hp), "%s:%d", host, cfg->mask_port);
    n = net_resolve(host, cfg->mask_port, a, 0, DOCTOR_MAX_ADDRS);
    for (int i = 0; i < n; i++)
        loop |= cfg->mask_port == cfg->port &&
            doctor_is_local(d, (struct sockaddr *)&a[i].ss);
    for (int i = 0; i < n && fd < 0 && !loop; i++) {
        int64_t t0 = mono_us(), end = mono_ms() + DOCTOR_DIAL_MS;
        char one[100];

        if (end > d->deadline_ms)
            end = d->deadline_ms;
        fd = net_connect((struct sockaddr *)&a[i].ss, a[i].len, end);
        net_format((struct sockaddr *)&a[i].ss, one, sizeof(one));
        if (fd >= 0) {
            t.connect_ms = (double)(mono_us() - t0) / 1000.0;
            snprintf(t.addr, sizeof(t.addr), "%s", one);
        } else {
            doctor_cat(tried, sizeof(tried), "%s%s %s", tried[0] ? ", " : "",
                one, fd == NET_TIMEOUT ? "no answer" : errno == ECONNREFUSED ?
                "refused" : strerror(errno));
        }
    }
    if (fd >= 0 && doctor_tls_talk(d, fd, &t) != 0) {
        close(fd);
        fd = -2;
    } else if (fd >= 0) {
        close(fd);
    }
    /* The clock first: it is the one that locks every client out. */
    if (t.have_date)
        doctor_clock_line(d, c, hp, &t);
    else {
        l = doctor_say(c, DOCTOR_WARN, "clock: not checked (%s gave no "
            "Date%s%s)", hp, t.why[0] ? ": " : "", t.why);
        doctor_fix(l, "fake TLS refuses clients whose clock differs from "
            "this one by more than tls_time_skew (%d s): check the clock "
            "another way (`timedatectl` should say \"System clock "
            "synchronized: yes\")", cfg->tls_time_skew);
    }
    if (n == 0) {
        l = doctor_say(c, DOCTOR_FAIL, "mask host %s: does not resolve", hp);
        doctor_fix(l, "refused clients and probers are closed instead of "
            "being shown a real site: set mask_host%s to a name or address "
            "this machine can resolve, or fix its resolver "
            "(/etc/resolv.conf)", strcmp(cfg->mask_host,
            cfg->tls_domain) == 0 ?
            " (it is tls_domain while unset)" : "");
    } else if (loop) {
        l = doctor_say(c, DOCTOR_FAIL, "mask host %s: that is this machine "
            "on telemt's own port %d", hp, cfg->port);
        doctor_fix(l, "masking would relay every refused client back into "
            "telemt: run the real site for %s on another port (or host) and "
            "point mask_host/mask_port at it (e.g. mask_host = "
            "\"127.0.0.1\"; mask_port = 8443;)", cfg->tls_domain[0] ?
            cfg->tls_domain : host);
    } else if (fd == -1) {
        l = doctor_say(c, DOCTOR_FAIL, "mask host %s: no address answers "
            "(%s)", hp, tried);
        doctor_fix(l, "refused clients and probers are closed instead of "
            "being shown a real site, which gives the proxy away: start "
            "the site on %s, or set mask_host/mask_port to one that runs, "
            "or open the firewall towards it", hp);
    } else if (fd == -2) {
        l = doctor_say(c, DOCTOR_FAIL, "mask host %s: TCP to %s in %.1f ms, "
            "but no TLS (%s)", hp, t.addr, t.connect_ms, t.why);
        doctor_fix(l, "fake-TLS probers expect a real HTTPS site there: "
            "point mask_host/mask_port at a TLS server (port 443 of a web "
            "site), not a plain HTTP or other service");
    } else {
        int v13 = strcmp(t.version, "TLSv1.3") == 0;
        int st = v13 && (t.name_ok || cfg->tls_domain[0] == '\0') ?
            DOCTOR_OK : DOCTOR_WARN;

        l = doctor_say(c, st, "mask host %s: %s TCP %.1f ms, %s %s, "
            "certificate for %s (%s%s%s%s here)%s", hp, t.addr,
            t.connect_ms, t.version, t.cipher, t.cert_name,
            cfg->tls_domain[0] == '\0' ? "" : t.name_ok ?
            "valid for tls_domain " : "NOT valid for tls_domain ",
            cfg->tls_domain, cfg->tls_domain[0] == '\0' ? "" : "; ",
            t.verify == X509_V_OK ? "trusted" : "not trusted",
            cfg->mask ? "" : "; masking is off (mask = false)");
        if (!v13)
            doctor_fix(l, "it answers with %s, but fake TLS answers as TLS "
                "1.3: a prober comparing the two sees the difference; pick "
                "a mask host (and tls_domain) that speaks TLS 1.3",
                t.version);
        else if (st != DOCTOR_OK)
            doctor_fix(l, "a browser sent there for %s gets a certificate "
                "for another name, which gives the proxy away: set "
                "mask_host to a server that serves %s, or tls_domain to a "
                "name it serves", cfg->tls_domain, cfg->tls_domain);
    }
}

/* ---------------------------------------------------------------------
 * tls_domain: what it resolves to, and whether that is this machine
 */

/* One SNI name's line: what it resolves to, and whether that is here. */
static void
doctor_domain_line(struct doctor *d, struct doctor_check *c,
    const char *key, const char *name, const struct net_addr *pub,
    int npub)
{
    const struct config *cfg = d->cfg;
    struct net_addr a[DOCTOR_MAX_ADDRS];
    char list[DOCTOR_TEXT] = "";
    struct doctor_line *l;
    int n, local = 0, mask_self;

    n = net_resolve(name, 443, a, 0, DOCTOR_MAX_ADDRS);
    for (int i = 0; i < n; i++) {
        char one[80], *colon;
        int here = doctor_is_local(d, (struct sockaddr *)&a[i].ss);

        for (int j = 0; j < npub && !here; j++)
            here = doctor_same_ip((struct sockaddr *)&a[i].ss,
                (const struct sockaddr *)&pub[j].ss);
        local |= here;
        net_format((struct sockaddr *)&a[i].ss, one, sizeof(one));
        if ((colon = strrchr(one, ':')) != NULL)
            *colon = '\0';              /* the port means nothing here */
        doctor_cat(list, sizeof(list), "%s%s%s", i ? ", " : "", one,
            here ? " (this machine)" : "");
    }
    mask_self = strcmp(cfg->mask_host, name) == 0;
    if (n == 0) {
        l = doctor_say(c, DOCTOR_WARN, "%s %s: does not resolve from here",
            key, name);
        doctor_fix(l, "clients do not need it resolved (they dial the "
            "link's server), but a censor sees an SNI for a name with no "
            "site behind it%s: use the name of a real HTTPS site",
            mask_self ? ", and mask_host (this name) cannot be reached" :
            "");
    } else if (local && mask_self && cfg->mask_port == cfg->port) {
        l = doctor_say(c, DOCTOR_FAIL, "%s %s: resolves to %s; mask_host is "
            "the same name on telemt's own port %d", key, name, list,
            cfg->port);
        doctor_fix(l, "with the domain pointing here, masking relays "
            "refused clients back into telemt: serve the real site for %s "
            "on another port and set mask_host = \"127.0.0.1\" and "
            "mask_port to it", name);
    } else if (local) {
        doctor_say(c, DOCTOR_OK, "%s %s: resolves to %s: the SNI matches "
            "the server clients reach, so %s:%d must serve a real site for "
            "%s (refused clients and probers are shown it)", key, name,
            list, cfg->mask_host, cfg->mask_port, name);
    } else {
        doctor_say(c, DOCTOR_OK, "%s %s: resolves to %s, not this machine: "
            "clients name another site in their SNI while connecting here "
            "(the usual set-up; a censor that resolves the SNI and compares "
            "can tell; a domain of your own pointed here, with its real "
            "site as mask host, cannot be told)", key, name, list);
    }
}

static void
doctor_check_domain(struct doctor *d, struct doctor_check *c)
{
    const struct config *cfg = d->cfg;
    struct net_addr pub[DOCTOR_MAX_ADDRS];
    int npub = 0;

    if (cfg->tls_domain[0] == '\0') {
        doctor_say(c, DOCTOR_OK, "tls_domain: not set (fake TLS is off)");
        return;
    }
    /* public_host's addresses are this machine too (behind a NAT). */
    if (cfg->public_host[0] != '\0')
        npub = net_resolve(cfg->public_host, 443, pub, 0, DOCTOR_MAX_ADDRS);
    doctor_domain_line(d, c, "tls_domain", cfg->tls_domain, pub, npub);
    /* tls_domains starts with tls_domain (config.h). */
    for (int i = 0; i < cfg->ntls_domains; i++)
        if (strcmp(cfg->tls_domains[i], cfg->tls_domain) != 0)
            doctor_domain_line(d, c, "tls_domains", cfg->tls_domains[i], pub,
                npub);
}

/* ---------------------------------------------------------------------
 * The DCs and the ME proxies
 */

/* One DC index or ME cluster: a group of dials. */
struct doctor_group {
    int dc;
    int me;                             /* an ME cluster, not a DC */
    const char *from;                   /* "built-in", "dc_overrides" */
    char unresolved[256];               /* names that did not resolve */
};

#define DOCTOR_MAX_GROUPS       512

struct doctor_dcs {
    struct doctor_dial dial[DOCTOR_MAX_DIALS];
    int n;
    struct doctor_group g[DOCTOR_MAX_GROUPS];
    int ng;
    int order[DOCTOR_MAX_GROUPS];       /* the order of the lines */
};

/* Lines in reading order: the DCs, then the ME clusters, each by index
 * (1, -1, 2, -2, ..., 203). */
static int
doctor_group_cmp(const void *a, const void *b, void *arg)
{
    const struct doctor_dcs *x = arg;
    const struct doctor_group *p = &x->g[*(const int *)a];
    const struct doctor_group *q = &x->g[*(const int *)b];
    int pa = p->dc < 0 ? -p->dc : p->dc, qa = q->dc < 0 ? -q->dc : q->dc;

    if (p->me != q->me)
        return p->me - q->me;
    if (pa != qa)
        return pa < qa ? -1 : 1;
    return (p->dc < 0) - (q->dc < 0);
}

static int
doctor_overridden(const struct config *cfg, int dc)
{
    for (int i = 0; i < cfg->ndc_overrides; i++)
        if (cfg->dc_overrides[i].dc == dc)
            return 1;
    return 0;
}

/* A group for dc with the addresses spec[0..n) ("host:port"). */
static void
doctor_add_dc(struct doctor_dcs *x, int dc, const char *from,
    const char *const *spec, int n)
{
    struct doctor_group *g;

    if (x->ng == DOCTOR_MAX_GROUPS)
        return;
    g = &x->g[x->ng];
    memset(g, 0, sizeof(*g));
    g->dc = dc;
    g->from = from;
    for (int i = 0; i < n && spec[i] != NULL; i++) {
        struct net_addr a[DOCTOR_MAX_ADDRS];
        char host[256];
        int port, m = 0;

        if (net_split_hostport(spec[i], host, sizeof(host), &port) == 0)
            m = net_resolve(host, port, a, 0, DOCTOR_MAX_ADDRS);
        if (m == 0)
            doctor_cat(g->unresolved, sizeof(g->unresolved), "%s%s",
                g->unresolved[0] ? ", " : "", spec[i]);
        for (int j = 0; j < m && x->n < DOCTOR_MAX_DIALS; j++) {
            x->dial[x->n].a = a[j];
            x->dial[x->n++].group = x->ng;
        }
    }
    x->ng++;
}

/* The ME list of one family: its file, or else the URL's cached copy
 * in state_dir (the name master/me_fetch.c caches it under). */
static int
doctor_me_list(const struct config *cfg, int v6, struct me_list *l,
    char *from, size_t fromlen, char *why, size_t whylen)
{
    const char *file = v6 ? cfg->me_config_v6_file : cfg->me_config_file;
    const char *url = v6 ? cfg->me_config_v6_url : cfg->me_config_url;
    char path[PATH_BUF_LEN], err[CONFIG_ERR_LEN];
    char *text;
    int rc;

    static const char *const cache[ME_NSRC] = ME_CACHE_NAMES;

    if (file[0] != '\0')
        snprintf(path, sizeof(path), "%s", file);
    else if (url[0] != '\0' && cfg->state_dir[0] != '\0')
        snprintf(path, sizeof(path), "%s/%s", cfg->state_dir,
            cache[v6 ? ME_SRC_V6 : ME_SRC_V4]);
    else {
        snprintf(why, whylen, "no %s set", v6 ? "me_config_v6_file or "
            "me_config_v6_url" : "me_config_file or me_config_url");
        return -1;
    }
    snprintf(from, fromlen, "%s", path);
    if ((text = config_read_text(path, 1, err, sizeof(err))) == NULL) {
        snprintf(why, whylen, "%s", err);
        return -1;
    }
    rc = me_list_parse(text, strlen(text), v6, l, err, sizeof(err));
    free(text);
    if (rc != 0)
        snprintf(why, whylen, "%.*s: %s", (int)(whylen / 2), path, err);
    return rc;
}

/* Groups for the clusters of an ME list (both families in one). */
static void
doctor_add_me(struct doctor_dcs *x, const struct me_list *l)
{
    for (int i = 0; i < l->n && x->n < DOCTOR_MAX_DIALS; i++) {
        int g = -1;

        for (int k = 0; k < x->ng && g < 0; k++)
            if (x->g[k].me && x->g[k].dc == l->e[i].dc)
                g = k;
        if (g < 0) {
            if (x->ng == DOCTOR_MAX_GROUPS)
                continue;
            g = x->ng++;
            memset(&x->g[g], 0, sizeof(x->g[g]));
            x->g[g].dc = l->e[i].dc;
            x->g[g].me = 1;
            x->g[g].from = "ME list";
        }
        memcpy(&x->dial[x->n].a.ss, &l->e[i].addr, l->e[i].addrlen);
        x->dial[x->n].a.len = l->e[i].addrlen;
        x->dial[x->n++].group = g;
    }
}

/*
 * One DC's verdict, in the order dc_dial() tries its addresses
 * (net_order(): the preferred family first, then as written): FAIL if
 * none answers; warn if one that does not answer comes before the first
 * that does (every client connection waits on it first); ok otherwise.
 */
static void
doctor_dc_line(struct doctor *d, struct doctor_check *c,
    struct doctor_dcs *x, int g)
{
    const struct config *cfg = d->cfg;
    const struct doctor_group *gr = &x->g[g];
    struct doctor_dial mine[DOCTOR_MAX_ADDRS * CONFIG_MAX_DC_ADDRS];
    char list[DOCTOR_TEXT] = "", bad[DOCTOR_TEXT] = "";
    int n = 0, first_ok = -1, dead_before = 0, nok = 0;
    int pref = cfg->prefer_ipv6 ? AF_INET6 : AF_INET;
    struct doctor_line *l;

    /* Dialling order: the preferred family first, each as written (the
     * stable order net_order() gives dc_dial()); an ME list as is. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < x->n &&
            n < (int)(sizeof(mine) / sizeof(mine[0])); i++) {
            int fam = x->dial[i].a.ss.ss_family;

            if (x->dial[i].group == g && (gr->me ? pass == 0 :
                (fam == pref) == (pass == 0)))
                mine[n++] = x->dial[i];
        }
    for (int i = 0; i < n; i++) {
        const struct doctor_dial *y = &mine[i];
        char one[140];

        doctor_dial_text(y, one, sizeof(one));
        doctor_cat(list, sizeof(list), "%s%s", list[0] ? ", " : "", one);
        if (y->err == 0) {
            nok++;
            if (first_ok < 0)
                first_ok = i;
        } else if (first_ok < 0 || gr->me) {
            /* A DC: those tried before the first that answers; an ME
             * cluster: every one that does not. */
            dead_before |= first_ok < 0;
            doctor_cat(bad, sizeof(bad), "%s%s", bad[0] ? ", " : "", one);
        }
    }
    if (gr->unresolved[0] != '\0')
        doctor_cat(list, sizeof(list), "%s%s does not resolve",
            list[0] ? ", " : "", gr->unresolved);
    if (gr->me) {
        int st = nok == 0 ? (cfg->me_fallback_direct ? DOCTOR_WARN :
            DOCTOR_FAIL) : nok < n ? DOCTOR_WARN : DOCTOR_OK;

        l = doctor_say(c, st, "ME cluster %d: %s", gr->dc, list);
        if (nok == 0)
            doctor_fix(l, "no ME proxy of cluster %d answers, so its clients "
                "%s: open the firewall towards them (TCP, the ports shown), "
                "or refresh the ME list (me_config_url)", gr->dc,
                cfg->me_fallback_direct ? "go straight to the DC, without "
                "the ad tag" : "are closed (me_fallback_direct = false)");
        else if (st != DOCTOR_OK)
            doctor_fix(l, "%s does not answer; the ME connections go to the "
                "others meanwhile: if it stays so, check the firewall or "
                "refresh the ME list", bad);
        return;
    }
    if (nok == 0) {
        l = doctor_say(c, DOCTOR_FAIL, "dc %d (%s): %s", gr->dc, gr->from,
            list[0] ? list : "no address");
        doctor_fix(l, "no address of DC %d answers, so every client of DC "
            "%d fails: %s", gr->dc, gr->dc, gr->from[0] == 'd' ?
            "fix its entry in dc_overrides (host:port of a DC or of a relay "
            "that runs), or remove the entry to use the built-in addresses" :
            "open outgoing TCP to it (firewall, routing), or set "
            "dc_overrides for it");
    } else if (dead_before) {
        l = doctor_say(c, DOCTOR_WARN, "dc %d (%s): %s", gr->dc, gr->from,
            list);
        /* DC health (worker/dc_health.c) moves a failing address last
         * for its back-off; each back-off's end costs one trial dial. */
        doctor_fix(l, "%s: comes before the address that answers; the "
            "proxy tries it last while it keeps failing, but %s "
            "(dc_retry_after, %d s, doubling), and a dial to an address "
            "that does not answer at all waits dc_connect_timeout (%d s): "
            "%s", bad, cfg->dc_probe_interval > 0 ? "a probe tries it "
            "again every dc_probe_interval instead of a client" : "one "
            "client tries it again each time its back-off ends",
            cfg->dc_retry_after, cfg->dc_connect_timeout,
            cfg->prefer_ipv6 ? "if IPv6 does not work here, set "
            "prefer_ipv6 = false; else fix or remove that address" :
            "fix or remove that address (dc_overrides)");
    } else {
        doctor_say(c, DOCTOR_OK, "dc %d (%s): %s%s", gr->dc, gr->from, list,
            nok < n ? " (the ones that fail come after one that answers)" :
            "");
    }
}

/* With use_middle_proxy: the ME lists' lines, their clusters into x. */
static void
doctor_me_groups(struct doctor *d, struct doctor_check *c,
    struct doctor_dcs *x)
{
    const struct config *cfg = d->cfg;
    int nlists = 0;

    for (int v6 = 0; v6 < 2; v6++) {
        char from[PATH_BUF_LEN], why[CONFIG_ERR_LEN + PATH_BUF_LEN];
        struct me_list l;

        if (doctor_me_list(cfg, v6, &l, from, sizeof(from), why,
            sizeof(why)) != 0) {
            if (!v6 || cfg->me_config_v6_file[0] != '\0' ||
                cfg->me_config_v6_url[0] != '\0')
                doctor_say(c, DOCTOR_OK, "ME %s list: none (%s)",
                    v6 ? "IPv6" : "IPv4", why);
            continue;
        }
        nlists++;
        doctor_say(c, DOCTOR_OK, "ME %s list: %d entries from %s",
            v6 ? "IPv6" : "IPv4", l.n, from);
        doctor_add_me(x, &l);
        me_list_free(&l);
    }
    if (nlists == 0) {
        struct doctor_line *l = doctor_say(c, cfg->me_fallback_direct ?
            DOCTOR_WARN : DOCTOR_FAIL, "ME: use_middle_proxy is on but "
            "there is no ME list to check");
        doctor_fix(l, "until one is read, clients %s: set "
            "me_config_file, or me_config_url and a writable state_dir "
            "(the master fetches and caches it there at start)",
            cfg->me_fallback_direct ? "go straight to the DCs without "
            "the ad tag" : "are closed (me_fallback_direct = false)");
    }
}

static void
doctor_check_dc(struct doctor *d, struct doctor_check *c)
{
    const struct config *cfg = d->cfg;
    struct doctor_dcs *x = calloc(1, sizeof(*x));

    if (x == NULL) {
        doctor_say(c, DOCTOR_FAIL, "dc: out of memory");
        return;
    }
    for (int i = 0; i < cfg->ndc_overrides; i++)
        doctor_add_dc(x, cfg->dc_overrides[i].dc, "dc_overrides",
            (const char *const *)cfg->dc_overrides[i].addrs,
            cfg->dc_overrides[i].naddrs);
    for (int k = 0; k < dc_nbuiltin; k++) {
        int dc = dc_builtin_ids[k];
        const char *const *addrs;
        int n = dc_builtin(dc, &addrs);

        if (!doctor_overridden(cfg, dc))
            doctor_add_dc(x, dc, "built-in", addrs, n);
    }
    if (cfg->use_middle_proxy)
        doctor_me_groups(d, c, x);
    {
        int64_t end = mono_ms() + DOCTOR_DIAL_MS;

        doctor_dial_all(x->dial, x->n, end < d->deadline_ms ? end :
            d->deadline_ms);
    }
    for (int g = 0; g < x->ng; g++)
        x->order[g] = g;
    qsort_r(x->order, (size_t)x->ng, sizeof(x->order[0]), doctor_group_cmp,
        x);
    for (int g = 0; g < x->ng; g++)
        doctor_dc_line(d, c, x, x->order[g]);
    free(x);
}

/* ---------------------------------------------------------------------
 * public_host:public_port from here
 */

static void
doctor_check_public(struct doctor *d, struct doctor_check *c)
{
    const struct config *cfg = d->cfg;
    const char *host = links_host(cfg);
    struct doctor_dial x[DOCTOR_MAX_ADDRS];
    struct net_addr a[DOCTOR_MAX_ADDRS];
    char list[DOCTOR_TEXT] = "";
    struct doctor_line *l;
    int n, nok = 0, refused = 0;

    if (host == NULL) {
        l = doctor_say(c, DOCTOR_WARN, "public_host: not set, and telemt "
            "listens on a wildcard address");
        doctor_fix(l, "links (--links, the users API) have no server to "
            "name: set public_host to this machine's public name or "
            "address");
        return;
    }
    n = net_resolve(host, cfg->public_port, a, 0, DOCTOR_MAX_ADDRS);
    if (n == 0) {
        l = doctor_say(c, DOCTOR_FAIL, "public_host %s: does not resolve",
            host);
        doctor_fix(l, "clients cannot reach a server the links name by a "
            "name that does not resolve: fix its DNS record, or set "
            "public_host to this machine's public address");
        return;
    }
    memset(x, 0, sizeof(x));
    for (int i = 0; i < n; i++)
        x[i].a = a[i];
    {
        int64_t end = mono_ms() + DOCTOR_DIAL_MS;

        doctor_dial_all(x, n, end < d->deadline_ms ? end : d->deadline_ms);
    }
    for (int i = 0; i < n; i++) {
        char one[140];

        doctor_dial_text(&x[i], one, sizeof(one));
        doctor_cat(list, sizeof(list), "%s%s", i ? ", " : "", one);
        nok += x[i].err == 0;
        refused += x[i].err == ECONNREFUSED;
    }
    if (nok > 0) {
        doctor_say(c, DOCTOR_OK, "public %s:%d (the links' server): %s",
            host, cfg->public_port, list);
    } else if (refused > 0) {
        l = doctor_say(c, DOCTOR_FAIL, "public %s:%d (the links' server): "
            "%s", host, cfg->public_port, list);
        doctor_fix(l, "nothing accepts there: start telemt if it is not "
            "running; if it is, public_port must be the port it listens on "
            "(port = %d) or one a NAT forwards to it, and public_host this "
            "machine's address", cfg->port);
    } else {
        l = doctor_say(c, DOCTOR_WARN, "public %s:%d (the links' server): "
            "%s", host, cfg->public_port, list);
        doctor_fix(l, "a firewall drops it, or the NAT in front does not "
            "loop connections from inside back: open port %d, and check "
            "from another machine (nc -vz %s %d)", cfg->public_port, host,
            cfg->public_port);
    }
}

/* ---------------------------------------------------------------------
 * The run
 */

static void *
doctor_thread(void *arg)
{
    struct doctor_check *c = arg;
    struct doctor *d = c->d;

    c->run(d, c);
    pthread_mutex_lock(&d->mu);
    c->done = 1;
    d->left--;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

static const char *
doctor_word(int status)
{
    return status == DOCTOR_FAIL ? "FAIL" : status == DOCTOR_WARN ? "warn" :
        "ok";
}

static void
doctor_print(FILE *out, const struct doctor_line *l, int *count)
{
    count[l->status]++;
    fprintf(out, "%-4s  %s\n", doctor_word(l->status), l->what);
    if (l->fix[0] != '\0')
        fprintf(out, "      fix: %s\n", l->fix);
}

int
doctor_run(const struct config *cfg, FILE *out)
{
    /* Static: a check that outlives the wait still writes here. */
    static struct doctor d;
    static void (*const runs[NCHECKS])(struct doctor *,
        struct doctor_check *) = {
        [CHECK_MASK] = doctor_check_mask,
        [CHECK_DOMAIN] = doctor_check_domain,
        [CHECK_DC] = doctor_check_dc,
        [CHECK_PUBLIC] = doctor_check_public,
    };
    static const char *const names[NCHECKS] = {
        [CHECK_MASK] = "clock and mask host",
        [CHECK_DOMAIN] = "tls_domain",
        [CHECK_DC] = "dc",
        [CHECK_PUBLIC] = "public_host",
    };
    struct doctor_line lim_lines[3];
    struct doctor_limits lim;
    struct timespec until;
    int count[3] = { 0, 0, 0 }, stragglers = 0;

    d.cfg = cfg;
    d.deadline_ms = mono_ms() + DOCTOR_CHECK_MS;
    pthread_mutex_init(&d.mu, NULL);
    if (mono_cond_init(&d.cv) != 0) {
        fprintf(stderr, "telemt: --doctor: no monotonic condition "
            "variable\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    /* The limits as the daemon would start with them; then as many
     * descriptors as it would have, for the dials all at once. */
    doctor_limits_read(cfg, &lim);
    (void)nofile_raise_to_hard();
    doctor_local_addrs(&d);
    fprintf(out, "telemt doctor: %s (every check ends within %d s)\n",
        cfg->path, DOCTOR_TOTAL_MS / 1000);
    fflush(out);
    /* Held while they start: one that ends at once waits to count down. */
    pthread_mutex_lock(&d.mu);
    for (int i = 0; i < NCHECKS; i++) {
        struct doctor_check *c = &d.check[i];

        c->name = names[i];
        c->run = runs[i];
        c->d = &d;
        if (pthread_create(&c->tid, NULL, doctor_thread, c) == 0) {
            c->started = 1;
            d.left++;
        } else {
            doctor_say(c, DOCTOR_FAIL, "%s: cannot start its thread",
                c->name);
            c->done = 1;
        }
    }
    pthread_mutex_unlock(&d.mu);
    (void)doctor_limits_check(cfg, &lim, lim_lines);
    until = mono_deadline(DOCTOR_TOTAL_MS);
    pthread_mutex_lock(&d.mu);
    while (d.left > 0)
        if (pthread_cond_timedwait(&d.cv, &d.mu, &until) == ETIMEDOUT)
            break;
    for (int i = 0; i < NCHECKS; i++) {
        struct doctor_check *c = &d.check[i];

        if (!c->done) {
            struct doctor_line l = { .status = DOCTOR_FAIL };

            stragglers++;
            snprintf(l.what, sizeof(l.what), "%s: did not finish within "
                "%d s", c->name, DOCTOR_TOTAL_MS / 1000);
            snprintf(l.fix, sizeof(l.fix), "a name lookup hangs: check "
                "this machine's resolver (/etc/resolv.conf, `getent hosts "
                "NAME`)");
            doctor_print(out, &l, count);
            continue;
        }
        for (int j = 0; j < c->n; j++)
            doctor_print(out, &c->line[j], count);
    }
    pthread_mutex_unlock(&d.mu);
    for (int i = 0; i < 3; i++)
        doctor_print(out, &lim_lines[i], count);
    fprintf(out, "doctor: %d ok, %d warn, %d FAIL\n", count[DOCTOR_OK],
        count[DOCTOR_WARN], count[DOCTOR_FAIL]);
    fflush(out);
    if (stragglers > 0)
        _exit(count[DOCTOR_FAIL] > 0 ? 1 : 0);
    for (int i = 0; i < NCHECKS; i++)
        if (d.check[i].started)
            pthread_join(d.check[i].tid, NULL);
    return count[DOCTOR_FAIL] > 0 ? 1 : 0;
}
