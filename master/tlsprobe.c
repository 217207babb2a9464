/*
 * tlsprobe.c - measures the mask host's TLS 1.3 first flight.
 *
 * A TLS 1.3 server answers a ClientHello with ServerHello, (CCS,) and its
 * encrypted EncryptedExtensions / Certificate / CertificateVerify /
 * Finished in one or more ApplicationData records, all without waiting
 * for the client.  Their total size is what a prober compares, so that
 * is what the fake answer imitates.  The probe runs in a child of the
 * master (the master never blocks on the network); the result goes into
 * the shared region for the workers and into a cache file for restarts.
 * The cache directory belongs to the workers' user (the probe writes it),
 * so the master, reading it as root, opens nothing there that is not a
 * regular file, never follows a symbolic link and never waits on a FIFO.
 */
#include "tlsprobe.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "net.h"
#include "proto.h"
#include "tlshello.h"
#include "util.h"

#define PROBE_DEADLINE_MS       5000
#define PROBE_QUIET_MS          300     /* flight over after this silence */
#define PROBE_BUF               65536

static void
cache_path(const struct config *cfg, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/tls-profile-%s-%d", cfg->tls_emulation_cache,
        cfg->mask_host, cfg->mask_port);
}

int
tlsprobe_load_cache(const struct config *cfg, struct stats_region *s)
{
    char path[PATH_BUF_LEN], buf[128];
    struct stat st;
    unsigned len;
    long long at;
    ssize_t n;
    int fd, ok;

    if (cfg->tls_emulation_cache[0] == '\0')
        return -1;
    cache_path(cfg, path, sizeof(path));
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
        O_CLOEXEC);
    if (fd == -1) {
        if (errno != ENOENT)
            log_warn("open(%s); no cached TLS profile", path);
        return -1;
    }
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        log_warnx("%s is not a regular file; no cached TLS profile",
            path);
        close(fd);
        return -1;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0)
        n = 0;
    buf[n] = '\0';
    ok = sscanf(buf, "cert_len %u at %lld", &len, &at) == 2 && len >= 64 &&
        len <= 16384;
    if (!ok) {
        log_warnx("%s: not a TLS profile; ignored", path);
        return -1;
    }
    atomic_store(&s->tls_cert_len, len);
    atomic_store(&s->tls_profile_at, (int64_t)at);
    log_info("TLS profile of %s:%d from %s: certificate flight %u bytes",
        cfg->mask_host, cfg->mask_port, path, len);
    return 0;
}

/* A new file of ours for the cache's next version; -1 with errno. */
static int
cache_create(const char *tmp)
{
    return open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK |
        O_NOCTTY | O_CLOEXEC, 0644);
}

static void
cache_store(const struct config *cfg, uint32_t len, int64_t at)
{
    char path[PATH_BUF_LEN], tmp[PATH_BUF_LEN + 16], line[64];
    int fd, n;

    if (cfg->tls_emulation_cache[0] == '\0')
        return;
    cache_path(cfg, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
    fd = cache_create(tmp);
    if (fd == -1 && errno == EEXIST && unlink(tmp) == 0)
        fd = cache_create(tmp);         /* a stale one of a dead probe */
    if (fd == -1) {
        log_warn("cannot write the TLS profile cache: open(%s)", tmp);
        return;
    }
    n = snprintf(line, sizeof(line), "cert_len %u at %lld\n", len,
        (long long)at);
    if (write(fd, line, (size_t)n) != n) {
        log_warn("cannot write the TLS profile cache: write(%s)", tmp);
        close(fd);
        unlink(tmp);
        return;
    }
    if (close(fd) != 0 || rename(tmp, path) == -1) {
        log_warn("cannot write the TLS profile cache: rename(%s)", path);
        unlink(tmp);
    }
}

int
tlsprobe_walk(const uint8_t *buf, size_t len, uint32_t *appdata)
{
    size_t off = 0;
    int hello = 0;

    *appdata = 0;
    while (off + 5 <= len) {
        size_t rl = (size_t)buf[off + 3] << 8 | buf[off + 4];

        if (off + 5 + rl > len)
            break;
        switch (buf[off]) {
        case TLS_REC_HANDSHAKE:
            hello = 1;
            break;
        case TLS_REC_CCS:
            break;
        case TLS_REC_APPDATA:
            if (!hello)
                return -1;
            *appdata += (uint32_t)rl;
            break;
        default:
            return -1;
        }
        off += 5 + rl;
    }
    return hello;
}

int
tlsprobe_run(const struct config *cfg, uint32_t *len, char *why,
    size_t whylen)
{
    uint8_t hello[TLSHELLO_DEFAULT_SIZE], *buf;
    int64_t deadline = mono_ms() + PROBE_DEADLINE_MS, quiet_until = 0;
    size_t have = 0;
    char desc[300];
    uint32_t total = 0;
    int fd, r = 0;

    if (tlshello_build(hello, sizeof(hello), cfg->tls_domain, NULL, 0) == 0) {
        snprintf(why, whylen, "cannot build a ClientHello");
        return -1;
    }
    fd = net_dial(cfg->mask_host, cfg->mask_port,
        cfg->prefer_ipv6 ? AF_INET6 : AF_INET, cfg->mask_connect_timeout,
        desc, sizeof(desc));
    if (fd < 0) {
        snprintf(why, whylen, "cannot connect to %s", desc);
        return -1;
    }
    if ((buf = malloc(PROBE_BUF)) == NULL ||
        net_write_all(fd, hello, sizeof(hello), deadline) != 0) {
        snprintf(why, whylen, "cannot send the hello to %s", desc);
        free(buf);
        close(fd);
        return -1;
    }
    /* Read until the flight stops: PROBE_QUIET_MS after its last byte. */
    for (;;) {
        int64_t now = mono_ms(), until = quiet_until ? quiet_until : deadline;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t n;

        if (now >= until || have == PROBE_BUF)
            break;
        if (poll(&p, 1, (int)(until - now)) <= 0)
            continue;
        n = read(fd, buf + have, PROBE_BUF - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        r = tlsprobe_walk(buf, have, &total);
        if (r < 0)
            break;
        if (total > 0)
            quiet_until = mono_ms() + PROBE_QUIET_MS;
    }
    close(fd);
    free(buf);
    if (r <= 0 || total == 0) {
        snprintf(why, whylen, "%s sent no TLS 1.3 certificate flight",
            desc);
        return -1;
    }
    *len = total < 64 ? 64 : total > 16384 ? 16384 : total;
    return 0;
}

void
tlsprobe_main(const struct config *cfg, struct stats_region *s)
{
    char why[400];
    uint32_t len;
    sigset_t stop;

    /* Nothing to hand over: a stop (TERM, INT) ends the probe at once. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigprocmask(SIG_UNBLOCK, &stop, NULL);
    if (tlsprobe_run(cfg, &len, why, sizeof(why)) != 0) {
        log_warnx("TLS profile of %s:%d not learnt: %s; fake certificates "
            "stay %s", cfg->mask_host, cfg->mask_port, why,
            atomic_load(&s->tls_cert_len) ? "at the last size learnt"
            : "in tls_cert_len_min..tls_cert_len_max");
        _exit(1);
    }
    atomic_store(&s->tls_cert_len, len);
    atomic_store(&s->tls_profile_at, (int64_t)time(NULL));
    cache_store(cfg, len, (int64_t)time(NULL));
    log_info("TLS profile of %s:%d: certificate flight %u bytes",
        cfg->mask_host, cfg->mask_port, len);
    _exit(0);
}
