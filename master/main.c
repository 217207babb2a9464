/*
 * main.c - telemt's entry point: command line, config, start-up order.
 *
 * Start-up is fail-fast: the config is loaded and validated before
 * anything is bound, so a bad file costs nothing but a message
 * ("FILE:LINE: what is wrong") and exit status 1.  Then: counters,
 * listening sockets, (daemonise unless -f), workers, supervision.
 */
#include "master.h"

#include <sys/resource.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "links.h"
#include "log.h"
#include "tlsprobe.h"

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: telemt [-f] [-t] [--links] CONFIG\n"
        "       telemt -V | -h | --config-keys\n"
        "  -f, --foreground  stay in the foreground, log to stderr\n"
        "  -t, --test        check the config and exit (0 ok, 1 bad)\n"
        "  -l, --links       print tg:// and t.me links for every user and\n"
        "                    enabled mode, then exit\n"
        "  -V, --version     print the version and exit\n"
        "  -h, --help        print this help and exit\n"
        "      --config-keys print the config key table (Markdown)\n"
        "environment: TELEMT_LOG=error|warn|info|debug overrides log_level\n");
}

/* Raise the soft open-files limit to the hard one: two fds a client. */
static void
raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
            log_warn("setrlimit(RLIMIT_NOFILE)");
    }
}

/*
 * Detach from the terminal.  The parent waits on a pipe and exits 0 only
 * once the child reports that its workers run (non-zero otherwise).
 */
static int
daemon_start(void)
{
    int p[2], null;
    char c;
    pid_t pid;

    if (pipe2(p, O_CLOEXEC) == -1)
        fatal("pipe");
    pid = fork();
    if (pid == -1)
        fatal("fork");
    if (pid > 0) {
        close(p[1]);
        _exit(read(p[0], &c, 1) == 1 ? 0 : 1);
    }
    close(p[0]);
    if (setsid() == -1)
        fatal("setsid");
    if (chdir("/") == -1)
        fatal("chdir(/)");
    null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null == -1)
        fatal("open(/dev/null)");
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    close(null);
    return p[1];
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "foreground", no_argument, NULL, 'f' },
        { "test", no_argument, NULL, 't' },
        { "links", no_argument, NULL, 'l' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { "config-keys", no_argument, NULL, 'K' },
        { NULL, 0, NULL, 0 },
    };
    int foreground = 0, test = 0, links = 0, ch, ready_fd = -1;
    const char *env;
    char err[CONFIG_ERR_LEN];
    struct master m;
    sigset_t set;

    while ((ch = getopt_long(argc, argv, "ftlVh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'f': foreground = 1; break;
        case 't': test = 1; break;
        case 'l': links = 1; break;
        case 'V': printf("telemt %s\n", TELEMT_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        case 'K': config_print_keys(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }

    log_set_role("master");
    memset(&m, 0, sizeof(m));
    m.cfg = config_load(argv[optind], err, sizeof(err));
    if (m.cfg == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (test) {
        fprintf(stderr, "telemt: %s: configuration is valid\n",
            m.cfg->path);
        config_free(m.cfg);
        return 0;
    }
    if (links) {
        int rc = links_print(m.cfg, stdout, err, sizeof(err));

        if (rc != 0)
            fprintf(stderr, "%s\n", err);
        config_free(m.cfg);
        return rc == 0 ? 0 : 1;
    }
    log_set_level((enum log_level)m.cfg->log_level);
    if ((env = getenv("TELEMT_LOG")) != NULL && env[0] != '\0') {
        int lvl = log_level_parse(env);

        if (lvl < 0) {
            fprintf(stderr, "telemt: TELEMT_LOG=%s: expected error, warn, "
                "info or debug\n", env);
            return 1;
        }
        log_set_level((enum log_level)lvl);
    }

    /* Signals are taken synchronously by the master loop; block first. */
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    raise_nofile();
    m.stats = stats_create((uint32_t)m.cfg->replay_capacity,
        (uint32_t)m.cfg->replay_window);
    if (m.stats == NULL)
        fatal("cannot create the shared region");
    if (m.cfg->tls_emulation)
        (void)tlsprobe_load_cache(m.cfg, m.stats);
    m.nslots = m.cfg->workers > MASTER_MAX_SLOTS ? MASTER_MAX_SLOTS
        : m.cfg->workers;
    listen_open(&m);
    if (!foreground)
        ready_fd = daemon_start();
    if (pipe2(m.death_pipe, O_CLOEXEC) == -1)
        fatal("pipe");
    for (int i = 0; i < m.nslots; i++)
        if (spawn_worker(&m, i) != 0)
            fatalx("cannot start worker %d", i);
    log_info("telemt %s started: %d workers, %d users", TELEMT_VERSION,
        m.nslots, m.cfg->nusers);
    if (ready_fd != -1) {
        (void)!write(ready_fd, "1", 1);
        close(ready_fd);
    }
    ch = spawn_loop(&m);
    config_free(m.cfg);
    stats_destroy(m.stats);
    return ch;
}
