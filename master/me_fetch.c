/*
 * me_fetch.c - the master's ME inputs (docs/protocol.md 8.1): the proxy
 * secret and the IPv4 and IPv6 ME lists, each read from its *_file key
 * or fetched from its *_url key every me_refresh_interval, validated,
 * cached in state_dir, and handed to every worker (CTL_ME) whenever the
 * three together change and to every worker just spawned.
 *
 * The master is root and never parses a network answer itself on the
 * wire: a fetch is a short-lived child (spawn_fork(), dropped to the
 * workers' user) that runs libcurl and writes "O" and the body, or "E"
 * and why not, to a pipe, then exits.  The master reads the pipe each
 * loop round without blocking, kills a child that takes more than
 * ME_FETCH_DEADLINE_MS, and validates what arrived like any other file.
 * One child at a time, one URL each: the three are fetched in turn.
 * A result that fails or does not validate is logged and counted and
 * the previous value stays.  At start the cache comes first, so a proxy
 * whose URLs are unreachable (core.telegram.org is blocked in places)
 * still starts with the last good inputs.
 */
#include "master.h"

#include <sys/stat.h>

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "log.h"
#include "me_inputs.h"
#include "util.h"
#include "xmem.h"

#define ME_FETCH_MAX            (1 << 20)       /* a file or a body */
#define ME_FETCH_DEADLINE_MS    40000
#define ME_CONNECT_TIMEOUT      10              /* seconds, libcurl's */
#define ME_TRANSFER_TIMEOUT     30
/* What a worker accepts: both lists at their largest, a secret, the
 * headers. */
#define ME_BUNDLE_MAX           (2 * ME_LIST_MAX_TEXT + ME_SECRET_MAX + 128)

static const char *const me_what[ME_NSRC] = {
    "proxy secret", "IPv4 list", "IPv6 list"
};
static const char *const me_cache[ME_NSRC] = ME_CACHE_NAMES;

static const char *
me_file_key(const struct config *cfg, int k)
{
    return k == ME_SRC_SECRET ? cfg->me_secret_file :
        k == ME_SRC_V4 ? cfg->me_config_file : cfg->me_config_v6_file;
}

static const char *
me_url_key(const struct config *cfg, int k)
{
    return k == ME_SRC_SECRET ? cfg->me_secret_url :
        k == ME_SRC_V4 ? cfg->me_config_url : cfg->me_config_v6_url;
}

/* NULL if data[0..len) is a good value for source k, else why not. */
static const char *
me_check(int k, const uint8_t *data, size_t len, char *err, size_t errlen)
{
    if (k == ME_SRC_SECRET)
        return me_inputs_check_secret(data, len);
    if (me_inputs_check_list((const char *)data, len, k == ME_SRC_V6, err,
        errlen) != 0)
        return err;
    return NULL;
}

/* Source k becomes data[0..len) from `from` (copied). */
static void
me_take(struct me_src *s, const uint8_t *data, size_t len, const char *from)
{
    uint8_t *copy = xmalloc(len + 1);

    memcpy(copy, data, len);
    copy[len] = '\0';
    free(s->data);
    s->data = copy;
    s->len = len;
    snprintf(s->from, sizeof(s->from), "%s", from);
    s->last_err[0] = '\0';
}

/*
 * Read dfd/name (AT_FDCWD for a path): a regular file of at most
 * ME_FETCH_MAX bytes, never through a symbolic link.  The bytes
 * (malloc()ed) with *len, or NULL with why in err.
 */
static uint8_t *
me_read_file(int dfd, const char *name, size_t *len, char *err,
    size_t errlen)
{
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
        O_CLOEXEC);
    struct stat st;
    uint8_t *p;
    size_t got = 0;

    if (fd == -1) {
        int saved = errno;              /* the caller tells ENOENT apart */

        snprintf(err, errlen, "cannot open it: %s%s", strerror(saved),
            saved == ELOOP ? " (a symbolic link is never followed)" : "");
        errno = saved;
        return NULL;
    }
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
        st.st_size > ME_FETCH_MAX) {
        snprintf(err, errlen, "not a regular file of at most %d bytes",
            ME_FETCH_MAX);
        close(fd);
        return NULL;
    }
    p = xmalloc(ME_FETCH_MAX + 1);
    /* One byte past the limit: a file that grew since fstat(). */
    while (got <= ME_FETCH_MAX) {
        ssize_t n = read(fd, p + got, ME_FETCH_MAX + 1 - got);

        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            snprintf(err, errlen, "cannot read it: %s", strerror(errno));
            close(fd);
            free(p);
            return NULL;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (got > ME_FETCH_MAX) {
        snprintf(err, errlen, "more than %d bytes", ME_FETCH_MAX);
        free(p);
        return NULL;
    }
    *len = got;
    return p;
}

/* The number of entries and of clusters (distinct dc) of a good list. */
static void
me_list_counts(const struct me_src *s, int v6, int *entries, int *clusters)
{
    struct me_list l;
    char err[128];

    *entries = *clusters = 0;
    if (s->data == NULL || me_list_parse((const char *)s->data, s->len, v6,
        &l, err, sizeof(err)) != 0)
        return;
    *entries = l.n;
    for (int i = 0; i < l.n; i++) {
        int seen = 0;

        for (int j = 0; j < i && !seen; j++)
            seen = l.e[j].dc == l.e[i].dc;
        *clusters += !seen;
    }
    me_list_free(&l);
}

static void
me_describe_list(char *out, size_t outlen, const char *name,
    const struct me_src *s, int v6)
{
    int entries, clusters;

    if (s->data == NULL) {
        snprintf(out, outlen, "%s list none", name);
        return;
    }
    me_list_counts(s, v6, &entries, &clusters);
    snprintf(out, outlen, "%s list %d %s in %d %s (from %s)", name,
        entries, entries == 1 ? "entry" : "entries", clusters,
        clusters == 1 ? "cluster" : "clusters", s->from);
}

/* Send worker slot i the bundle in memfd fd; 0, or -1 (it is replaced). */
static int
me_send_fd(struct master *m, int i, int fd)
{
    struct ctl_msg msg = { .type = CTL_ME, .generation = m->generation };
    struct slot *s = &m->slots[i];

    if (s->pid <= 0 || s->ctl_fd < 0)
        return -1;
    if (ctl_send(s->ctl_fd, &msg, fd) == 0)
        return 0;
    /* A worker without the current inputs: replace it, as after a crash;
     * the new one gets them at its spawn. */
    log_warn("cannot hand the ME inputs to worker %d (pid %d); restarting "
        "it", i, (int)s->pid);
    kill(s->pid, SIGKILL);
    return -1;
}

void
me_fetch_send(struct master *m, int i)
{
    int fd;

    if (m->me.bundle == NULL)
        return;
    if ((fd = ctl_text_fd((const char *)m->me.bundle,
        m->me.bundle_len)) == -1) {
        log_warn("memfd for the ME inputs");
        return;
    }
    (void)me_send_fd(m, i, fd);
    close(fd);
}

/* The three together as the workers would get them; if that is not what
 * they have, log it and hand it to every worker. */
static void
me_publish(struct master *m)
{
    struct me_state *st = &m->me;
    struct me_inputs in = { .secret_len = 0 };
    char v4[ME_FROM_LEN + 64], v6[ME_FROM_LEN + 64];
    uint8_t *b;
    size_t len;
    int fd, sent = 0;

    if (st->src[ME_SRC_SECRET].data != NULL) {
        memcpy(in.secret, st->src[ME_SRC_SECRET].data,
            st->src[ME_SRC_SECRET].len);
        in.secret_len = st->src[ME_SRC_SECRET].len;
    }
    in.v4 = (char *)st->src[ME_SRC_V4].data;
    in.v4_len = st->src[ME_SRC_V4].len;
    in.v6 = (char *)st->src[ME_SRC_V6].data;
    in.v6_len = st->src[ME_SRC_V6].len;
    if ((b = me_inputs_encode(&in, &len)) == NULL)
        fatalx("out of memory");
    if (st->bundle != NULL && st->bundle_len == len &&
        memcmp(st->bundle, b, len) == 0) {
        free(b);
        return;
    }
    free(st->bundle);
    st->bundle = b;
    st->bundle_len = len;
    me_describe_list(v4, sizeof(v4), "IPv4", &st->src[ME_SRC_V4], 0);
    me_describe_list(v6, sizeof(v6), "IPv6", &st->src[ME_SRC_V6], 1);
    if (in.secret_len > 0)
        log_info("ME inputs: secret %zu bytes (from %s), %s, %s",
            in.secret_len, st->src[ME_SRC_SECRET].from, v4, v6);
    else
        log_info("ME inputs: secret none, %s, %s", v4, v6);
    if ((fd = ctl_text_fd((const char *)b, len)) == -1) {
        log_warn("memfd for the ME inputs");
        return;
    }
    for (int i = 0; i < m->nslots; i++)
        sent += me_send_fd(m, i, fd) == 0;
    close(fd);
    log_debug("ME inputs handed to %d of %d workers", sent, m->nslots);
}

/* A value of source k that did not validate or could not be had. */
static void
me_ignored(struct me_state *st, int k, const char *from, const char *why)
{
    log_warnx("ME %s from %s ignored: %s; %s", me_what[k], from, why,
        st->src[k].data != NULL ? "keeping the previous one" :
        "none yet");
}

/* state_dir, if set and usable; -1 otherwise (a problem is logged). */
static int
me_state_dir(const struct config *cfg)
{
    if (cfg->state_dir[0] == '\0')
        return -1;
    return state_dir_open(cfg, "the ME inputs cache");
}

/* At start (or ME turned on): each URL source takes its cache. */
static void
me_load_caches(struct master *m)
{
    char err[256], from[ME_FROM_LEN], why[300];
    int dfd = -1;

    for (int k = 0; k < ME_NSRC; k++) {
        uint8_t *p;
        size_t len;
        const char *bad;

        if (me_file_key(m->cfg, k)[0] != '\0' ||
            me_url_key(m->cfg, k)[0] == '\0' || m->me.src[k].data != NULL)
            continue;
        if (dfd < 0 && (dfd = me_state_dir(m->cfg)) < 0)
            return;
        snprintf(from, sizeof(from), "cache %s/%s", m->cfg->state_dir,
            me_cache[k]);
        if ((p = me_read_file(dfd, me_cache[k], &len, err,
            sizeof(err))) == NULL) {
            if (errno != ENOENT)
                me_ignored(&m->me, k, from, err);
            continue;
        }
        if ((bad = me_check(k, p, len, why, sizeof(why))) != NULL) {
            STATS_ADD(m->stats, me_inputs_rejected, 1);
            me_ignored(&m->me, k, from, bad);
        } else {
            me_take(&m->me.src[k], p, len, from);
        }
        free(p);
    }
    if (dfd >= 0)
        close(dfd);
}

/* Source k's file, read again; a failure logged once until it changes. */
static void
me_read_source_file(struct master *m, int k, const char *path)
{
    struct me_src *s = &m->me.src[k];
    char err[256], from[ME_FROM_LEN], why[300];
    const char *bad;
    uint8_t *p;
    size_t len;

    snprintf(from, sizeof(from), "file %s", path);
    if ((p = me_read_file(AT_FDCWD, path, &len, err, sizeof(err))) == NULL)
        bad = err;
    else if ((bad = me_check(k, p, len, why, sizeof(why))) != NULL)
        STATS_ADD(m->stats, me_inputs_rejected, 1);
    if (bad == NULL) {
        me_take(s, p, len, from);
    } else if (strcmp(bad, s->last_err) != 0) {
        me_ignored(&m->me, k, from, bad);
        snprintf(s->last_err, sizeof(s->last_err), "%s", bad);
    }
    free(p);
}

/*
 * A refresh round: files re-read, URL fetches queued; a source with
 * neither key has no value (a secret or an IPv4 list is needed: warn
 * once a start or a reload).
 */
static void
me_round(struct master *m, int warn)
{
    for (int k = 0; k < ME_NSRC; k++) {
        const char *file = me_file_key(m->cfg, k);

        if (file[0] != '\0') {
            me_read_source_file(m, k, file);
        } else if (me_url_key(m->cfg, k)[0] != '\0') {
            m->me.todo |= 1 << k;
        } else {
            free(m->me.src[k].data);
            m->me.src[k].data = NULL;
            m->me.src[k].len = 0;
            if (warn && k != ME_SRC_V6)
                log_warnx("use_middle_proxy is on but there is no %s: set "
                    "%s or %s", me_what[k], k == ME_SRC_SECRET ?
                    "me_secret_file" : "me_config_file", k == ME_SRC_SECRET ?
                    "me_secret_url" : "me_config_url");
        }
    }
    m->me.next_ms = mono_ms() + (int64_t)m->cfg->me_refresh_interval * 1000;
    /* With fetches to come, the workers get the round's result when they
     * are done; but at a start or reload they get what we have now (the
     * cache, the files). */
    if (warn || m->me.todo == 0)
        me_publish(m);
}

void
me_fetch_start(struct master *m)
{
    m->me.on = m->cfg->use_middle_proxy;
    if (!m->me.on)
        return;
    me_load_caches(m);
    me_round(m, 1);
}

void
me_fetch_reload(struct master *m)
{
    int was = m->me.on;

    m->me.on = m->cfg->use_middle_proxy;
    if (!m->me.on) {
        if (was)
            log_info("use_middle_proxy is off: the ME inputs are no longer "
                "refreshed");
        m->me.todo = 0;
        return;
    }
    if (!was)
        me_load_caches(m);
    for (int k = 0; k < ME_NSRC; k++)
        m->me.src[k].last_err[0] = '\0';
    me_round(m, 1);
}

/* libcurl's body, kept up to ME_FETCH_MAX bytes. */
struct me_body {
    uint8_t *p;
    size_t len;
    int over;
};

static size_t
me_body_write(char *data, size_t size, size_t nmemb, void *arg)
{
    struct me_body *b = arg;
    size_t n = size * nmemb;

    if (n > ME_FETCH_MAX - b->len) {
        b->over = 1;
        return 0;                       /* libcurl stops: a write error */
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return n;
}

static void
me_child_write(int fd, const void *p, size_t len)
{
    const uint8_t *q = p;

    while (len > 0) {
        ssize_t n = write(fd, q, len);

        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0)
            _exit(1);
        q += n;
        len -= (size_t)n;
    }
}

/* The fetching child: url into fd as "O" body or "E" why; exits. */
static void __attribute__((noreturn))
me_child(const char *url, int fd)
{
    static uint8_t body[ME_FETCH_MAX];
    struct me_body b = { .p = body };
    char errbuf[CURL_ERROR_SIZE] = "", why[CURL_ERROR_SIZE + 64];
    sigset_t none;
    CURLcode rc;
    CURL *c;
    long status = 0;

    /* Killable by the master's TERM at a stop; the write end is ours. */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
        (c = curl_easy_init()) == NULL) {
        me_child_write(fd, "Ecannot set up libcurl", 22);
        _exit(1);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)ME_CONNECT_TIMEOUT);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)ME_TRANSFER_TIMEOUT);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE, (long)ME_FETCH_MAX);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "telemt/" TELEMT_VERSION);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, me_body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    rc = curl_easy_perform(c);
    (void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    /* Redirects are not followed: a 3xx body is no file of ours. */
    if (rc == CURLE_OK && (status < 200 || status > 299)) {
        snprintf(why, sizeof(why), "HTTP status %ld (redirects are not "
            "followed)", status);
        me_child_write(fd, "E", 1);
        me_child_write(fd, why, strlen(why));
        _exit(1);
    }
    if (rc == CURLE_OK) {
        me_child_write(fd, "O", 1);
        me_child_write(fd, b.p, b.len);
        _exit(0);
    }
    if (b.over || rc == CURLE_FILESIZE_EXCEEDED)
        snprintf(why, sizeof(why), "more than %d bytes", ME_FETCH_MAX);
    else if (rc == CURLE_HTTP_RETURNED_ERROR)
        snprintf(why, sizeof(why), "HTTP status %ld", status);
    else
        snprintf(why, sizeof(why), "%s", errbuf[0] != '\0' ? errbuf :
            curl_easy_strerror(rc));
    me_child_write(fd, "E", 1);
    me_child_write(fd, why, strlen(why));
    _exit(1);
}

/* Start the child that fetches source k's URL. */
static void
me_fetch_begin(struct master *m, int k)
{
    const char *url = me_url_key(m->cfg, k);
    int p[2];
    pid_t pid;

    if (pipe2(p, O_CLOEXEC) == -1) {
        log_warn("pipe for the ME fetch");
        return;
    }
    pid = spawn_fork(m, "mefetch", &p[1], 1, 1);
    if (pid == 0) {
        close(p[0]);
        me_child(url, p[1]);
    }
    close(p[1]);
    if (pid == -1) {
        log_warn("fork for the ME fetch");
        close(p[0]);
        return;
    }
    (void)fcntl(p[0], F_SETFL, O_NONBLOCK);
    m->me.pid = pid;
    m->me.fd = p[0];
    m->me.which = k;
    free(m->me.url);
    m->me.url = xstrdup(url);
    m->me.killed = 0;
    m->me.started_ms = mono_ms();
    m->me.rxlen = 0;
    if (m->me.rx == NULL)
        m->me.rx = xmalloc(ME_FETCH_MAX + CURL_ERROR_SIZE + 64);
    log_debug("ME fetch of the %s from %s started (pid %d)", me_what[k], url,
        (int)pid);
}

/* The child's output is complete: take it, or say why not. */
static void
me_fetch_done(struct master *m)
{
    struct me_state *st = &m->me;
    int k = st->which;
    const char *bad;
    char from[ME_FROM_LEN], why[CURL_ERROR_SIZE + 128];
    const uint8_t *body = st->rx + 1;
    size_t len = st->rxlen > 0 ? st->rxlen - 1 : 0;

    /* A reload since gave the source another URL or a file: not ours. */
    if (me_file_key(m->cfg, k)[0] != '\0' ||
        strcmp(me_url_key(m->cfg, k), st->url) != 0)
        return;
    snprintf(from, sizeof(from), "URL %s", st->url);
    if (st->rxlen == 0 || (st->rx[0] != 'O' && st->rx[0] != 'E')) {
        STATS_ADD(m->stats, me_fetch_failed, 1);
        me_ignored(st, k, from, st->killed ? "fetch failed: no answer "
            "within 40 s (the fetch was killed)" : "fetch failed: the "
            "fetching process died");
        return;
    }
    if (st->rx[0] == 'E') {
        snprintf(why, sizeof(why), "fetch failed: %.*s",
            (int)(len < CURL_ERROR_SIZE ? len : CURL_ERROR_SIZE), body);
        STATS_ADD(m->stats, me_fetch_failed, 1);
        me_ignored(st, k, from, why);
        return;
    }
    if ((bad = me_check(k, body, len, why, sizeof(why))) != NULL) {
        STATS_ADD(m->stats, me_inputs_rejected, 1);
        me_ignored(st, k, from, bad);
        return;
    }
    STATS_ADD(m->stats, me_fetch_ok, 1);
    me_take(&st->src[k], body, len, from);
    {
        int dfd = me_state_dir(m->cfg);

        if (dfd >= 0) {
            if (replace_file_at(dfd, me_cache[k], (const char *)body,
                len) != 0)
                log_warn("state_dir %s: cannot write %s", m->cfg->state_dir,
                    me_cache[k]);
            close(dfd);
        }
    }
}

/* Read what the child wrote; at EOF, take it. */
static void
me_fetch_read(struct master *m)
{
    struct me_state *st = &m->me;
    size_t cap = ME_FETCH_MAX + CURL_ERROR_SIZE + 64;

    for (;;) {
        ssize_t n;
        uint8_t sink[4096];

        /* Past the cap the child is not ours to believe: drain, drop. */
        if (st->rxlen < cap)
            n = read(st->fd, st->rx + st->rxlen, cap - st->rxlen);
        else
            n = read(st->fd, sink, sizeof(sink));
        if (n > 0) {
            if (st->rxlen < cap)
                st->rxlen += (size_t)n;
            continue;
        }
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && errno == EAGAIN)
            return;
        break;                          /* EOF or an error: it is done */
    }
    close(st->fd);
    st->fd = -1;
    if (st->rxlen > ME_FETCH_MAX + 1) {
        st->rxlen = 0;                  /* "died": a child out of bounds */
    }
    if (!st->on)
        return;
    me_fetch_done(m);
    /* Announced once a round is complete, not half of it. */
    if (st->todo == 0)
        me_publish(m);
}

void
me_fetch_tick(struct master *m)
{
    struct me_state *st = &m->me;

    if (st->fd >= 0) {
        me_fetch_read(m);
        if (st->fd >= 0 && st->pid > 0 && !st->killed &&
            mono_ms() - st->started_ms >= ME_FETCH_DEADLINE_MS) {
            kill(st->pid, SIGKILL);     /* its pipe ends: read next round */
            st->killed = 1;
        }
    }
    if (!st->on)
        return;
    if (mono_ms() >= st->next_ms)
        me_round(m, 0);
    /* One child at a time; the last one reaped (spawn_reap()) first. */
    if (st->todo != 0 && st->pid == 0 && st->fd < 0) {
        int k = __builtin_ctz((unsigned)st->todo);

        st->todo &= ~(1 << k);
        if (me_url_key(m->cfg, k)[0] != '\0' &&
            me_file_key(m->cfg, k)[0] == '\0')
            me_fetch_begin(m, k);
    }
}
