/*
 * tlsprobe.c - measures the mask host's TLS 1.3 first flight.
 *
 * A TLS 1.3 server answers a ClientHello with ServerHello, (CCS,) and its
 * encrypted EncryptedExtensions / Certificate / CertificateVerify /
 * Finished in one or more ApplicationData records, all without waiting
 * for the client.  Their total size is what a prober compares, so that
 * is what the fake answer imitates.  The server's ALPN choice is inside
 * EncryptedExtensions, seen only as part of that size; a second, real
 * TLS 1.3 handshake (OpenSSL, certificate not checked) offering what the
 * first hello offers (h2, http/1.1) learns it, so that a client offering
 * something else gets a flight as long as the mask host would send it
 * (faketls_flight_len()).  The probe runs in a child of the
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

#include <openssl/ssl.h>

#include "faketls.h"
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
    char path[PATH_BUF_LEN], buf[128], alpn[16] = "unknown";
    struct stat st;
    unsigned len;
    long long at;
    ssize_t n;
    int fd, ok, a;

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
    /* A cache of an older version has no alpn: unknown. */
    ok = sscanf(buf, "cert_len %u at %lld alpn %15s", &len, &at, alpn) >= 2 &&
        len >= 64 && len <= 16384;
    a = faketls_alpn_parse(alpn);
    if (!ok || a < 0) {
        log_warnx("%s: not a TLS profile; ignored", path);
        return -1;
    }
    atomic_store(&s->tls_cert_len, len);
    atomic_store(&s->tls_alpn, (uint32_t)a);
    atomic_store(&s->tls_profile_at, (int64_t)at);
    log_info("TLS profile of %s:%d from %s: certificate flight %u bytes, "
        "ALPN %s", cfg->mask_host, cfg->mask_port, path, len, alpn);
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
cache_store(const struct config *cfg, uint32_t len, enum faketls_alpn alpn,
    int64_t at)
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
    n = snprintf(line, sizeof(line), "cert_len %u at %lld alpn %s\n", len,
        (long long)at, faketls_alpn_name(alpn));
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

/* Drive a non-blocking SSL_connect() until done or the deadline. */
static int
alpn_connect(SSL *ssl, int fd, int64_t deadline)
{
    int rc;

    while ((rc = SSL_connect(ssl)) != 1) {
        int e = SSL_get_error(ssl, rc);
        struct pollfd p = { .fd = fd };
        int64_t left = deadline - mono_ms();

        p.events = e == SSL_ERROR_WANT_READ ? POLLIN :
            e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
        if (p.events == 0 || left <= 0 || poll(&p, 1, (int)left) < 0)
            return -1;
    }
    return 0;
}

int
tlsprobe_alpn(const struct config *cfg, enum faketls_alpn *alpn, char *why,
    size_t whylen)
{
    /* What tlshello_build() offers, in the wire form. */
    static const unsigned char offer[] = "\x02h2\x08http/1.1";
    int64_t deadline = mono_ms() + PROBE_DEADLINE_MS;
    const unsigned char *sel = NULL;
    unsigned sel_len = 0;
    SSL_CTX *ctx;
    SSL *ssl = NULL;
    char desc[300];
    int fd = -1, rc = -1;

    snprintf(why, whylen, "cannot set up a TLS client");
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) !=
        1 || SSL_CTX_set_alpn_protos(ctx, offer, sizeof(offer) - 1) != 0 ||
        (ssl = SSL_new(ctx)) == NULL ||
        SSL_set_tlsext_host_name(ssl, cfg->tls_domain) != 1)
        goto out;
    SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
    fd = net_dial(cfg->mask_host, cfg->mask_port,
        cfg->prefer_ipv6 ? AF_INET6 : AF_INET, cfg->mask_connect_timeout,
        desc, sizeof(desc));
    if (fd < 0) {
        snprintf(why, whylen, "cannot connect to %s", desc);
        goto out;
    }
    if (SSL_set_fd(ssl, fd) != 1 || alpn_connect(ssl, fd, deadline) != 0) {
        snprintf(why, whylen, "no TLS 1.3 handshake with %s", desc);
        goto out;
    }
    SSL_get0_alpn_selected(ssl, &sel, &sel_len);
    if (sel_len == 2 && memcmp(sel, "h2", 2) == 0)
        *alpn = FAKETLS_ALPN_H2;
    else if (sel_len == 8 && memcmp(sel, "http/1.1", 8) == 0)
        *alpn = FAKETLS_ALPN_HTTP11;
    else
        *alpn = FAKETLS_ALPN_NONE;  /* a server picks from the offer */
    rc = 0;
out:
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    if (fd >= 0)
        close(fd);
    return rc;
}

void
tlsprobe_main(const struct config *cfg, struct stats_region *s)
{
    enum faketls_alpn alpn = FAKETLS_ALPN_UNKNOWN;
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
    /* The size stands without the ALPN: the flight is then sent as
     * learnt, whatever the client offers. */
    if (tlsprobe_alpn(cfg, &alpn, why, sizeof(why)) != 0)
        log_warnx("ALPN of %s:%d not learnt: %s", cfg->mask_host,
            cfg->mask_port, why);
    /* The ALPN first: a worker reading the new size must not pair it
     * with the ALPN of an older profile. */
    atomic_store(&s->tls_alpn, (uint32_t)alpn);
    atomic_store(&s->tls_cert_len, len);
    atomic_store(&s->tls_profile_at, (int64_t)time(NULL));
    cache_store(cfg, len, alpn, (int64_t)time(NULL));
    log_info("TLS profile of %s:%d: certificate flight %u bytes, ALPN %s",
        cfg->mask_host, cfg->mask_port, len, faketls_alpn_name(alpn));
    _exit(0);
}
