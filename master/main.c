/*
 * main.c - telemt's entry point: command line, config, start-up order.
 *
 * Start-up is fail-fast, in stages: parse_args(), the config loaded and
 * validated, preflight() (the user to drop to, a hand-over from the old
 * binary, a pid file) before anything is bound, so a bad file costs
 * nothing but a message ("FILE:LINE: what is wrong") and exit status 1;
 * then start(): the shared region, the listening sockets (or those of
 * the binary we replace, USR2), detaching unless -f, workers and admin,
 * the pid file, and only then the word "ready" to whoever waits (the
 * shell that started us, or the old binary); then the master loop.
 */
#include "master.h"

#include <sys/auxv.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "doctor.h"
#include "links.h"
#include "log.h"
#include "tlsprobe.h"
#include "xmem.h"

/* Tells two builds of one version apart (the upgrade scenario's). */
#ifndef TELEMT_BUILD_TAG
#define TELEMT_BUILD_TAG ""
#endif

/*
 * Every flag: long name, the short one (or a code above 255 for a flag
 * that has none) and its help.  getopt_long()'s table, its short-option
 * string and the usage text are all built from this one list; the
 * README's flag table is checked against the usage (make check-readme).
 */
enum {
    FLAG_CONFIG_KEYS = 256, FLAG_USER_FIELDS, FLAG_COUNTERS, FLAG_DOCTOR,
};
#define MAIN_FLAGS(X)                                                       \
    X("foreground", 'f', "stay in the foreground, log to stderr or "       \
      "log_file")                                                           \
    X("test", 't', "check the config and exit (0 ok, 1 bad)")              \
    X("links", 'l', "print every user's tg:// and t.me links, then exit")  \
    X("version", 'V', "print the version and exit")                        \
    X("help", 'h', "print this help and exit")                             \
    X("config-keys", FLAG_CONFIG_KEYS, "print the config key table "       \
      "(Markdown)")                                                         \
    X("user-fields", FLAG_USER_FIELDS, "print the per-user field table "   \
      "(Markdown)")                                                         \
    X("counters", FLAG_COUNTERS, "print the counter table (Markdown)")    \
    X("doctor", FLAG_DOCTOR, "check the clock, DCs, mask host and limits " \
      "from here, then exit (1: a check failed)")

static const struct flag {
    const char *name;
    int code;
    const char *help;
} flags[] = {
#define X(name, code, help) { name, code, help },
    MAIN_FLAGS(X)
#undef X
};
#define NFLAGS  (sizeof(flags) / sizeof(flags[0]))

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: telemt [-f] [-t] [--links] [--doctor] CONFIG\n"
        "       telemt -V | -h | --config-keys | --user-fields | "
        "--counters\n");
    for (size_t i = 0; i < NFLAGS; i++) {
        char left[32];

        if (flags[i].code < 256)
            snprintf(left, sizeof(left), "-%c, --%s", flags[i].code,
                flags[i].name);
        else
            snprintf(left, sizeof(left), "    --%s", flags[i].name);
        fprintf(out, "  %-17s %s\n", left, flags[i].help);
    }
    fprintf(out,
        "environment: TELEMT_LOG=error|warn|info|debug overrides log_level\n"
        "signals: TERM/INT stop gracefully, HUP reloads the config, USR1\n"
        "reopens the log file, USR2 upgrades to the binary at this path\n");
}

/* Absolute path of this binary as started, for the USR2 re-exec. */
static void
find_exe(struct master *m, const char *argv0)
{
    if (strchr(argv0, '/') != NULL && realpath(argv0, m->exe) != NULL)
        return;
    /* Found through PATH: /proc knows; fine unless replaced in place. */
    ssize_t n = readlink("/proc/self/exe", m->exe, sizeof(m->exe) - 1);

    if (n <= 0)
        fatal("cannot find this binary's path");
    m->exe[n] = '\0';
}

/* Where log lines go once we are a daemon (or with log_file). */
static void
setup_log_sink(const struct master *m)
{
    if (m->cfg->log_file[0] != '\0') {
        if (log_to_file(m->cfg->log_file) == -1)
            fatal("cannot open log_file %s (only a regular file with a "
                "single link is opened, never through a symbolic link)",
                m->cfg->log_file);
        privs_give_log(&m->privs, m->cfg->log_file);
    } else if (!m->foreground) {
        log_to_syslog();
    }
}

/* The shared region: inherited from the old binary, or a fresh one. */
static void
setup_region(struct master *m, int inherited_fd)
{
    uint32_t cap = (uint32_t)m->cfg->replay_capacity;

    m->region_fd = -1;
    if (inherited_fd >= 0) {
        m->stats = stats_attach(inherited_fd, cap);
        if (m->stats != NULL) {
            m->region_fd = inherited_fd;
            m->generation = atomic_load(&m->stats->generation) + 1;
            atomic_store(&m->stats->generation, m->generation);
            log_info("upgrade: keeping the shared region (counters and "
                "replay table)");
            return;
        }
        log_warnx("upgrade: the inherited region does not match this "
            "binary's layout; starting a fresh region (counters reset)");
        close(inherited_fd);
    }
    m->stats = stats_create(cap, (uint32_t)m->cfg->replay_window,
        &m->region_fd);
    if (m->stats == NULL)
        fatal("cannot create the shared region");
}

/* What the command line asks for. */
enum action { RUN, TEST, LINKS, DOCTOR };

/*
 * The flags and the config path.  Returns -1 to go on with *act, or an
 * exit status (the flags that answer and exit: -V, -h, --config-keys,
 * --user-fields, --counters, and a bad command line).
 */
static int
parse_args(int argc, char **argv, struct master *m, enum action *act)
{
    struct option longopts[NFLAGS + 1];
    char shorts[NFLAGS + 1];
    size_t ns = 0;
    int ch;

    for (size_t i = 0; i < NFLAGS; i++) {
        longopts[i] = (struct option){ flags[i].name, no_argument, NULL,
            flags[i].code };
        if (flags[i].code < 256)
            shorts[ns++] = (char)flags[i].code;
    }
    longopts[NFLAGS] = (struct option){ NULL, 0, NULL, 0 };
    shorts[ns] = '\0';
    *act = RUN;
    while ((ch = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
        switch (ch) {
        case 'f': m->foreground = 1; break;
        case 't': *act = TEST; break;
        case 'l': *act = LINKS; break;
        case FLAG_DOCTOR: *act = DOCTOR; break;
        case 'V': printf("telemt %s%s\n", TELEMT_VERSION, TELEMT_BUILD_TAG);
            return 0;
        case 'h': usage(stdout); return 0;
        case FLAG_CONFIG_KEYS: config_print_keys(stdout); return 0;
        case FLAG_USER_FIELDS: config_print_user_fields(stdout); return 0;
        case FLAG_COUNTERS: stats_print_counters(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    return -1;
}

/* Every descriptor field closed (-1) before anything can fail. */
static void
master_init(struct master *m, char **argv)
{
    m->argv = argv;
    m->upgrade_fd = m->offer_fd = m->ready_fd = m->admin_fd = -1;
    for (int i = 0; i < MASTER_MAX_SLOTS; i++)
        m->slots[i].ctl_fd = m->slots[i].give_fd = -1;
    m->admin.ctl_fd = m->admin.give_fd = -1;
    m->death_pipe[0] = m->death_pipe[1] = -1;
    m->me.fd = -1;
}

/*
 * Reload and upgrade re-read the file after chdir("/"): keep its path
 * absolute from here on, in the config and in the argv the new binary
 * gets (its own copy: a reload frees the snapshot that owns cfg->path).
 */
static void
absolute_config_path(struct master *m, char **argp)
{
    char abs[PATH_MAX];

    if (realpath(*argp, abs) == NULL)
        fatal("realpath(%s)", *argp);
    free(m->cfg->path);
    m->cfg->path = xstrdup(abs);
    *argp = xstrdup(abs);
}

/* log_level, unless TELEMT_LOG overrides it; -1 if that is bad. */
static int
set_log_level(const struct config *cfg)
{
    const char *env = getenv("TELEMT_LOG");
    int lvl = cfg->log_level;

    if (env != NULL && env[0] != '\0' && (lvl = log_level_parse(env)) < 0) {
        fprintf(stderr, "telemt: TELEMT_LOG=%s: expected error, warn, "
            "info or debug\n", env);
        return -1;
    }
    log_set_level((enum log_level)lvl);
    return 0;
}

/*
 * What can still fail with a plain message and status 1, before any
 * side effect: the user to drop to, this binary's path, a hand-over
 * from the binary we replace, a live pid file of another instance.
 */
static int
preflight(struct master *m, struct inherit *in, const char *argv0)
{
    char err[CONFIG_ERR_LEN];

    if (set_log_level(m->cfg) != 0)
        return -1;
    if (privs_resolve(m->cfg, &m->privs, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    find_exe(m, argv0);
    m->inherited = upgrade_inherited(in);
    m->ready_fd = in->ready;
    if (!m->inherited && !m->foreground && m->cfg->pidfile[0] != '\0') {
        pid_t other = pidfile_alive(m->cfg->pidfile);

        if (other > 0) {
            fprintf(stderr, "telemt: already running as pid %d (pid file "
                "%s)\n", (int)other, m->cfg->pidfile);
            return -1;
        }
    }
    return 0;
}

/*
 * From a checked config to serving: the region, the sockets (ours or the
 * old binary's), detaching, the log sink, workers and admin, the pid
 * file, and "ready" to whoever waits.  Any failure here is fatal.
 */
static void
start(struct master *m, struct inherit *in)
{
    sigset_t set;

    /* Signals are taken synchronously by the master loop; block first. */
    master_sigset(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Inherited SIG_IGN would have the kernel reap our children unseen:
     * no worker respawn, and a stop that waits for them forever. */
    signal(SIGCHLD, SIG_DFL);

    privs_raise_nofile(m->cfg);
    /* A new binary's stderr may be /dev/null: log where it will log. */
    if (m->inherited)
        setup_log_sink(m);
    setup_region(m, in->shm);
    reload_user_slots(m);
    quota_start(m);
    if (m->cfg->tls_emulation)
        (void)tlsprobe_load_cache(m->cfg, m->stats);
    m->nslots = m->cfg->workers > MASTER_MAX_SLOTS ? MASTER_MAX_SLOTS
        : m->cfg->workers;
    atomic_store(&m->stats->nworkers, (uint32_t)m->nslots);
    if (m->inherited) {
        m->offer_fd = in->offer;        /* our children close it */
        m->old_pid = getppid();
        listen_adopt(m, in->listen, in->nlisten);
    } else {
        listen_open(m);
    }
    m->admin_fd = listen_admin_adopt(m, in->admin);
    if (!m->foreground && !m->inherited)
        m->ready_fd = daemon_start();
    if (!m->inherited)
        setup_log_sink(m);
    if (pipe2(m->death_pipe, O_CLOEXEC) == -1)
        fatal("pipe");
    me_fetch_start(m);
    for (int i = 0; i < m->nslots; i++)
        if (spawn_worker(m, i) != 0)
            fatalx("cannot start worker %d", i);
    spawn_admin_start(m);
    if (m->inherited)
        upgrade_offer(m);
    if (!m->foreground && m->cfg->pidfile[0] != '\0') {
        if (pidfile_write(m->cfg->pidfile) == -1)
            fatal("cannot write the pid file %s", m->cfg->pidfile);
        m->pidfile_ours = 1;
    }
    log_info("telemt %s%s started%s: %d workers, %d users", TELEMT_VERSION,
        TELEMT_BUILD_TAG, m->inherited ? " (upgrade)" : "", m->nslots,
        m->cfg->nusers);
    daemon_ready(m->ready_fd);
    m->ready_fd = -1;
    if (!m->foreground && !m->inherited && m->cfg->log_file[0] == '\0')
        daemon_close_stderr();
}

/*
 * glibc's malloc is tuned for a few long-lived threads; telemt has one
 * per connection, and three of its defaults cost an idle or a closed
 * connection memory that nothing gets back (README, "Performance"):
 * - tcache: what a client's thread freed in its handshake stays cached
 *   with that thread while the client idles (~1.2 KiB each);
 * - 8 arenas per CPU: the connections' allocations spread over 16
 *   heaps, whose holes keep ~2 MiB per worker after a crowd closes;
 * - a 40 MiB cache of dead threads' stacks, whose top pages stay
 *   resident (~1.2 MiB per worker).
 * Measured, none of them buys handshake CPU here (parked threads stand
 * in for the stack cache).  Tunables are read only at exec, so the
 * process starts itself once more with them set, keeping whatever
 * GLIBC_TUNABLES already says about each.  If the exec fails it goes
 * on with glibc's defaults.
 */
#define MALLOC_STACK_CACHE      (2 * 1024 * 1024)

#define MALLOC_TUNED_MARK       "TELEMT_MALLOC_TUNED"

static void
reexec_tuned_malloc(char **argv)
{
    const char *was = getenv("GLIBC_TUNABLES");
    char add[160], exe[PATH_MAX], *v;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    size_t n = 0;
    ssize_t len;
    struct { const char *key; long value; } want[] = {
        { "glibc.malloc.tcache_count", 0 },
        { "glibc.malloc.arena_max", ncpu > 0 ? ncpu : 2 },
        { "glibc.pthread.stack_cache_size", MALLOC_STACK_CACHE },
    };

    /*
     * Once only: setuid or file capabilities (AT_SECURE) have glibc drop
     * these tunables, and each image would re-execute the next.
     */
    if (getenv(MALLOC_TUNED_MARK) != NULL) {
        (void)unsetenv(MALLOC_TUNED_MARK);
        return;
    }
    if (getauxval(AT_SECURE) != 0)
        return;
    add[0] = '\0';
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (was != NULL && strstr(was, want[i].key) != NULL)
            continue;
        n += (size_t)snprintf(add + n, sizeof(add) - n, "%s%s=%ld",
            n > 0 ? ":" : "", want[i].key, want[i].value);
    }
    if (n == 0 || n >= sizeof(add))
        return;
    /* This binary as find_exe() names it: under valgrind /proc/self/exe
     * is the tool's own (readlink() is told the truth). */
    if (strchr(argv[0], '/') != NULL) {
        if (realpath(argv[0], exe) == NULL)
            return;
    } else if ((len = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
        exe[len] = '\0';
    } else {
        return;
    }
    if (asprintf(&v, "%s%s%s", was != NULL ? was : "",
        was != NULL && was[0] != '\0' ? ":" : "", add) < 0)
        return;
    if (setenv("GLIBC_TUNABLES", v, 1) == 0 &&
        setenv(MALLOC_TUNED_MARK, "1", 1) == 0)
        (void)execv(exe, argv);
    free(v);
    (void)unsetenv(MALLOC_TUNED_MARK);
    if (was != NULL)
        (void)setenv("GLIBC_TUNABLES", was, 1);
    else
        (void)unsetenv("GLIBC_TUNABLES");
}

int
main(int argc, char **argv)
{
    static struct master m;
    char err[CONFIG_ERR_LEN];
    struct inherit in;
    enum action act;
    int rc;

    reexec_tuned_malloc(argv);
    if ((rc = parse_args(argc, argv, &m, &act)) >= 0)
        return rc;
    log_set_role("master");
    master_init(&m, argv);
    m.cfg = config_load(argv[optind], err, sizeof(err));
    if (m.cfg == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (act == TEST) {
        fprintf(stderr, "telemt: %s: configuration is valid\n",
            m.cfg->path);
        config_free(m.cfg);
        return 0;
    }
    if (act == LINKS) {
        rc = links_print(m.cfg, stdout, err, sizeof(err));
        if (rc != 0)
            fprintf(stderr, "%s\n", err);
        config_free(m.cfg);
        return rc == 0 ? 0 : 1;
    }
    if (act == DOCTOR) {
        /* Dials out, but only here: the daemon never runs it. */
        rc = doctor_run(m.cfg, stdout);
        config_free(m.cfg);
        return rc;
    }
    absolute_config_path(&m, &argv[optind]);
    if (preflight(&m, &in, argv[0]) != 0)
        return 1;
    start(&m, &in);
    rc = master_loop(&m);
    free(m.user_slot);
    config_free(m.cfg);
    stats_destroy(m.stats);
    return rc;
}
