/*
 * admin.c - the admin process: a libmicrohttpd server on admin_listen
 * serving the stats page, JSON (render_json.h) and Prometheus metrics
 * (render_prom.h), plus a thread that samples the region every 2 s for
 * the page's 10-minute history.  Forked by the master (spawn.c); the
 * region is mapped read-only here, so nothing in this process may ever
 * write to it.  It never touches client traffic.
 *
 * Clients outside admin_whitelist are closed at accept, before they hold
 * one of the ADMIN_CONN_LIMIT slots, and one address holds at most
 * admin_max_per_ip of them; each connection gets admin_request_timeout
 * per request, counted from accept or the previous answer, which no
 * trickle of bytes extends (libmicrohttpd's own timeout restarts at each
 * byte): the main thread shuts such connections down (conn_reap()).
 * Lines about refused clients are rate-limited, so they cannot fill the
 * log.  Every request is answered on its first callback: the client
 * address against admin_whitelist again (403; a reload may have changed
 * it), the Host header (421: DNS rebinding), the bearer token (401), the
 * method (405), a body (413), then the route (404).  Secrets and links
 * are only shown with admin_token set (and so checked).  The main thread owns the
 * signals (a signalfd: TERM/INT stop, USR1 reopens the log file) and the
 * master's death pipe (EOF: stop).  The listening socket is the master's
 * (bound once, kept across reloads and upgrades): this process only
 * accepts on it, and at a stop lets its requests finish first.
 */
#include "admin.h"

#include <sys/signalfd.h>
#include <sys/socket.h>

#include <errno.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "admin_req.h"
#include "ctl.h"
#include "log.h"
#include "util.h"
#include "net.h"
#include "render_html.h"
#include "render_json.h"
#include "render_prom.h"
#include "render_qr.h"
#include "users_api.h"
#include "admin_snap.h"

#define ADMIN_CONN_LIMIT        64
#define ADMIN_CONN_TIMEOUT_S    10
#define ADMIN_CONN_MEMORY       (32 * 1024)     /* headers beyond: 431 */
#define ADMIN_DRAIN_MS          1000    /* requests in progress at a stop */
#define ADMIN_REAP_MS           250     /* how often request timeouts are checked */
#define ADMIN_BODY_MAX          65536   /* a write's body, at most */
#define STR_(x)                 #x
#define STR(x)                  STR_(x)

#define CT_JSON         "application/json"
#define CT_PROM         "text/plain; version=0.0.4; charset=utf-8"
#define CT_HTML         "text/html; charset=utf-8"
#define CT_TEXT         "text/plain; charset=utf-8"
#define CT_SVG          "image/svg+xml"

static struct admin_state {
    /* The config requests see: replaced by the main thread at a reload,
     * read by libmicrohttpd's one thread inside admin_handler(); both
     * under cfg_lock, so a request never sees half of a reload. */
    pthread_mutex_t cfg_lock;
    struct admin_ctx *a;
    int nwhite;
    struct net_cidr *white;             /* admin_whitelist, parsed */

    pthread_mutex_t lock;               /* guards the history and stop */
    pthread_cond_t wake;
    int stop;
    int sampler_running;
    pthread_t sampler;
    struct admin_sample hist[ADMIN_HISTORY_LEN];
    int hist_head, hist_n;              /* oldest at hist_head */

    /* The open connections, for conn_reap(): filled and emptied by
     * libmicrohttpd's thread (conn_notify()), read by the main thread.
     * libmicrohttpd tells of a close before it closes the descriptor, so
     * under conn_lock a slot's fd is still that connection's. */
    pthread_mutex_t conn_lock;
    struct conn_slot {
        int used, cut;
        int fd;
        int64_t since_ms;               /* accept or the last answer */
        struct sockaddr_storage peer;
        socklen_t peerlen;
    } conns[ADMIN_CONN_LIMIT];

    /* Budgets for lines a client can cause; under log_lock. */
    pthread_mutex_t log_lock;
    struct log_rl rl_refused, rl_mhd, rl_cut;
} st;

/* *con_cls once a request is answered. */
static int answered;

/* A write's body while it arrives: *con_cls until it is all in. */
struct upload {
    const struct route *rt;             /* the write's route */
    struct admin_req q;
    char *p;
    size_t len;
    int too_big;
};

/* --- history ---------------------------------------------------------- */

static void *
sampler_main(void *arg)
{
    struct timespec next, now;

    (void)arg;
    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&st.lock);
    while (!st.stop) {
        struct admin_sample s;
        int at;

        admin_sample_take(st.a->stats, (int64_t)time(NULL), &s);
        at = (st.hist_head + st.hist_n) % ADMIN_HISTORY_LEN;
        st.hist[at] = s;
        if (st.hist_n < ADMIN_HISTORY_LEN)
            st.hist_n++;
        else
            st.hist_head = (st.hist_head + 1) % ADMIN_HISTORY_LEN;
        next.tv_sec += ADMIN_HISTORY_STEP_S;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (next.tv_sec < now.tv_sec)
            next = now;                 /* we were stopped: no burst */
        while (!st.stop &&
            pthread_cond_timedwait(&st.wake, &st.lock, &next) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&st.lock);
    return NULL;
}

static void
sampler_start(void)
{
    pthread_condattr_t ca;

    if (pthread_mutex_init(&st.lock, NULL) != 0 ||
        pthread_condattr_init(&ca) != 0)
        fatalx("cannot set up the history lock");
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&st.wake, &ca) != 0)
        fatalx("cannot set up the history condition");
    pthread_condattr_destroy(&ca);
    if (pthread_create(&st.sampler, NULL, sampler_main, NULL) != 0)
        log_warnx("cannot start the history thread; no history");
    else
        st.sampler_running = 1;
}

static void
sampler_stop(void)
{
    if (!st.sampler_running)
        return;
    pthread_mutex_lock(&st.lock);
    st.stop = 1;
    pthread_cond_signal(&st.wake);
    pthread_mutex_unlock(&st.lock);
    pthread_join(st.sampler, NULL);
    st.sampler_running = 0;
}

/* Copy the history, oldest first, into out; returns the count. */
static int
history_copy(struct admin_sample *out)
{
    int n;

    pthread_mutex_lock(&st.lock);
    n = st.hist_n;
    for (int i = 0; i < n; i++)
        out[i] = st.hist[(st.hist_head + i) % ADMIN_HISTORY_LEN];
    pthread_mutex_unlock(&st.lock);
    return n;
}

/* --- responses -------------------------------------------------------- */

/* Headers every answer carries: type, no caching, no sniffing/framing. */
static void
add_common_headers(struct MHD_Response *r, const char *ctype)
{
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
}

static enum MHD_Result
respond(struct MHD_Connection *conn, unsigned status, const char *ctype,
    struct abuf *body)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    if (body->failed) {
        abuf_free(body);
        abuf_puts(body, "out of memory\n");
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        ctype = CT_TEXT;
        if (body->failed)
            return MHD_NO;
    }
    if (body->p == NULL)
        r = MHD_create_response_from_buffer(0, (void *)"",
            MHD_RESPMEM_PERSISTENT);
    else
        r = MHD_create_response_from_buffer(body->len, body->p,
            MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        abuf_free(body);
        return MHD_NO;
    }
    abuf_init(body);                    /* the response owns the memory */
    add_common_headers(r, ctype);
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
            "Bearer realm=\"telemt\"");
    if (status == MHD_HTTP_CONTENT_TOO_LARGE)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* A short text/plain answer. */
static enum MHD_Result
respond_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
    struct abuf b;

    abuf_init(&b);
    abuf_puts(&b, text);
    return respond(conn, status, CT_TEXT, &b);
}

/* --- routes ----------------------------------------------------------- */

/* The body of a route, from snapshot s into b; returns the HTTP status. */
typedef unsigned route_render(struct abuf *b, const struct admin_snap *s,
    const struct admin_req *q);

static unsigned
route_metrics(struct abuf *b, const struct admin_snap *s, const struct admin_req *q)
{
    (void)q;
    render_prom(b, s);
    return MHD_HTTP_OK;
}

static unsigned
route_stats(struct abuf *b, const struct admin_snap *s, const struct admin_req *q)
{
    (void)q;
    struct admin_sample *hist = malloc(sizeof(*hist) * ADMIN_HISTORY_LEN);

    if (hist == NULL) {
        b->failed = 1;
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    render_json_stats(b, s, hist, history_copy(hist));
    free(hist);
    return MHD_HTTP_OK;
}

static unsigned
route_users(struct abuf *b, const struct admin_snap *s, const struct admin_req *q)
{
    (void)q;
    /* auth_ok() let us here: with a token set, it was checked. */
    render_json_users(b, s, st.a->cfg->admin_token[0] != '\0');
    return MHD_HTTP_OK;
}

static unsigned
route_workers(struct abuf *b, const struct admin_snap *s, const struct admin_req *q)
{
    (void)q;
    render_json_workers(b, s);
    return MHD_HTTP_OK;
}

static unsigned
route_health(struct abuf *b, const struct admin_snap *s, const struct admin_req *q)
{
    (void)q;
    render_json_health(b, s);
    return admin_snap_healthy(s) ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
}

static unsigned
route_user_qr(struct abuf *b, const struct admin_snap *s,
    const struct admin_req *q)
{
    return render_qr_user(b, s, q->name, MHD_lookup_connection_value(q->conn,
        MHD_GET_ARGUMENT_KIND, "link"));
}

/*
 * Every path the endpoint serves, with its methods, and nothing else: any
 * other path is 404, another method 405 (Allow: the path's methods).  A
 * "*" segment is a user name (q->name).  The page (no renderer) comes
 * straight from the binary and holds no numbers (it fetches them with
 * the token from its #token= fragment), so it is the one route a browser
 * may GET without the token.  The writes (POST, PATCH, DELETE) need
 * admin_token configured and a JSON body (users_api.c).
 */
static const struct route {
    const char *path;
    unsigned methods;
    const char *ctype;
    route_render *render;               /* NULL: the page */
} routes[] = {
    { "/",                  ADMIN_GET,  CT_HTML,    NULL },
    { "/metrics",           ADMIN_GET,  CT_PROM,    route_metrics },
    { "/api/v1/stats",      ADMIN_GET,  CT_JSON,    route_stats },
    { "/api/v1/users",      ADMIN_GET,  CT_JSON,    route_users },
    { "/api/v1/users",      ADMIN_POST, CT_JSON,    users_api_add },
    { "/api/v1/users/*",    ADMIN_GET,  CT_JSON,    users_api_get },
    { "/api/v1/users/*",    ADMIN_PATCH, CT_JSON,   users_api_patch },
    { "/api/v1/users/*",    ADMIN_DELETE, CT_JSON,  users_api_delete },
    { "/api/v1/users/*/disable", ADMIN_POST, CT_JSON, users_api_disable },
    { "/api/v1/users/*/enable", ADMIN_POST, CT_JSON, users_api_enable },
    { "/api/v1/users/*/rotate-secret", ADMIN_POST, CT_JSON,
      users_api_rotate },
    { "/api/v1/users/*/reset-quota", ADMIN_POST, CT_JSON,
      users_api_reset_quota },
    { "/api/v1/users/*/qr.svg", ADMIN_GET, CT_SVG,  route_user_qr },
    { "/api/v1/workers",    ADMIN_GET,  CT_JSON,    route_workers },
    { "/healthz",           ADMIN_GET,  CT_JSON,    route_health },
};

/* 1 if url matches pattern, a "*" segment copied into name (a user
 * name's characters only, so nothing else can match it). */
static int
route_match(const char *pattern, const char *url, char *name,
    size_t namelen)
{
    while (*pattern != '\0') {
        if (*pattern == '*') {
            size_t n = strcspn(url, "/");

            if (n == 0 || n >= namelen)
                return 0;
            memcpy(name, url, n);
            name[n] = '\0';
            if (!config_is_user_name(name))
                return 0;
            url += n;
            pattern++;
            continue;
        }
        if (*pattern++ != *url++)
            return 0;
    }
    return *url == '\0';
}

/*
 * The route for url and method, its "*" in q->name; NULL if none, with
 * *allow the methods the path takes (0: no such path).
 */
static const struct route *
route_find(const char *url, unsigned method, struct admin_req *q,
    unsigned *allow)
{
    const struct route *found = NULL;
    char name[sizeof(q->name)];

    *allow = 0;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (!route_match(routes[i].path, url, name, sizeof(name)))
            continue;
        *allow |= routes[i].methods;
        if ((routes[i].methods & method) != 0 && found == NULL) {
            found = &routes[i];
            memcpy(q->name, name, sizeof(name));
        }
    }
    return found;
}

/* The Allow header's value for methods. */
static void
route_allow(unsigned methods, char *out, size_t outlen)
{
    static const struct { unsigned m; const char *name; } names[] = {
        { ADMIN_GET, "GET, HEAD" }, { ADMIN_POST, "POST" },
        { ADMIN_PATCH, "PATCH" }, { ADMIN_DELETE, "DELETE" },
    };

    out[0] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (methods & names[i].m)
            snprintf(out + strlen(out), outlen - strlen(out), "%s%s",
                out[0] != '\0' ? ", " : "", names[i].name);
}

/* {"error": {"code": CODE, "message": MESSAGE}}, the API's errors. */
static enum MHD_Result
respond_api_error(struct MHD_Connection *conn, unsigned status,
    const char *code, const char *message)
{
    struct abuf b;

    abuf_init(&b);
    render_json_error(&b, code, message);
    return respond(conn, status, CT_JSON, &b);
}

static enum MHD_Result
respond_not_allowed(struct MHD_Connection *conn, const char *allow)
{
    struct MHD_Response *r;
    enum MHD_Result ret;
    struct abuf b;

    abuf_init(&b);
    render_json_error(&b, "method_not_allowed", "this path takes only these "
        "methods (the Allow header)");
    if (b.failed || (r = MHD_create_response_from_buffer(b.len, b.p,
        MHD_RESPMEM_MUST_FREE)) == NULL) {
        abuf_free(&b);
        return MHD_NO;
    }
    add_common_headers(r, CT_JSON);
    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    ret = MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, r);
    MHD_destroy_response(r);
    return ret;
}

/* The page, straight from the binary's read-only data. */
static enum MHD_Result
respond_page(struct MHD_Connection *conn, const struct route *rt)
{
    size_t len;
    const char *page = render_html_page(&len);
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(len, unconst(page),
        MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    add_common_headers(r, rt->ctype);
    ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* Route rt's body, rendered from a fresh snapshot. */
static enum MHD_Result
respond_route(struct MHD_Connection *conn, const struct route *rt,
    const struct admin_req *q)
{
    struct admin_snap *s;
    unsigned status;
    struct abuf b;

    if (rt->render == NULL)
        return respond_page(conn, rt);
    abuf_init(&b);
    s = admin_snap_take(st.a, (int64_t)time(NULL), mono_ms());
    if (s == NULL) {
        b.failed = 1;
        return respond(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, CT_TEXT, &b);
    }
    status = rt->render(&b, s, q);
    admin_snap_free(s);
    /* A renderer's 4xx body is a JSON error, whatever its route serves
     * (an SVG route's 404). */
    return respond(conn, status, status >= 400 && status < 500 ? CT_JSON :
        rt->ctype, &b);
}

unsigned
admin_with_snap(struct abuf *b, unsigned (*fn)(struct abuf *b,
    const struct admin_snap *s, void *arg), void *arg)
{
    struct admin_snap *s;
    unsigned status;

    pthread_mutex_lock(&st.cfg_lock);
    s = admin_snap_take(st.a, (int64_t)time(NULL), mono_ms());
    if (s == NULL) {
        pthread_mutex_unlock(&st.cfg_lock);
        b->failed = 1;
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    status = fn(b, s, arg);
    admin_snap_free(s);
    pthread_mutex_unlock(&st.cfg_lock);
    return status;
}

uint64_t
admin_generation(void)
{
    uint64_t g;

    pthread_mutex_lock(&st.cfg_lock);
    g = st.a->snap->generation;
    pthread_mutex_unlock(&st.cfg_lock);
    return g;
}

int
admin_workers_at(uint64_t gen)
{
    const struct stats_region *r = st.a->stats;

    for (int i = 0; i < STATS_MAX_WORKERS; i++) {
        const struct stats_worker *w = &r->workers[i];

        if (atomic_load(&w->state) == STATS_WORKER_RUNNING &&
            atomic_load(&w->pid) != 0 && atomic_load(&w->generation) < gen)
            return 0;
    }
    return 1;
}

/* --- access control --------------------------------------------------- */

/* 1 if the request carries "Authorization: Bearer <admin_token>", or
 * no token is configured. */
static int
auth_ok(struct MHD_Connection *conn)
{
    const char *token = st.a->cfg->admin_token;

    if (token[0] == '\0')
        return 1;
    return admin_bearer_ok(MHD_lookup_connection_value(conn,
        MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION), token);
}

/* A line about a client through budget rl (log_warnx_limited()). */
#define log_limited(rl, ...) log_warnx_limited((rl), &st.log_lock, __VA_ARGS__)

/* 1 if addr is in admin_whitelist or there is none; cfg_lock held. */
static int
addr_ok(const struct sockaddr *addr)
{
    if (st.nwhite == 0)
        return 1;
    if (addr == NULL)
        return 0;
    for (int i = 0; i < st.nwhite; i++)
        if (net_cidr_match(&st.white[i], addr))
            return 1;
    return 0;
}

/* libmicrohttpd's accept policy: outsiders never get a slot. */
static enum MHD_Result
accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    char who[80];
    int ok;

    (void)cls;
    (void)addrlen;
    pthread_mutex_lock(&st.cfg_lock);
    ok = addr_ok(addr);
    pthread_mutex_unlock(&st.cfg_lock);
    if (!ok) {
        if (addr != NULL)
            net_format(addr, who, sizeof(who));
        else
            strcpy(who, "?");
        log_limited(&st.rl_refused, "refused admin client %s: not in "
            "admin_whitelist", who);
    }
    return ok ? MHD_YES : MHD_NO;
}

/* libmicrohttpd's word on an opened or closed connection. */
static void
conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
    struct conn_slot *c = *socket_context;

    (void)cls;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (c != NULL) {
            pthread_mutex_lock(&st.conn_lock);
            c->used = 0;
            pthread_mutex_unlock(&st.conn_lock);
            *socket_context = NULL;
        }
        return;
    }
    if (code != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn,
            MHD_CONNECTION_INFO_CONNECTION_FD);

        if (ci == NULL)
            return;
        pthread_mutex_lock(&st.conn_lock);
        for (int i = 0; i < ADMIN_CONN_LIMIT; i++) {
            if (st.conns[i].used)
                continue;
            c = &st.conns[i];
            c->used = 1;
            c->cut = 0;
            c->fd = (int)ci->connect_fd;
            c->since_ms = mono_ms();
            c->peerlen = sizeof(c->peer);
            if (getpeername(c->fd, (struct sockaddr *)&c->peer,
                &c->peerlen) == -1)
                c->peerlen = 0;
            *socket_context = c;
            break;
        }
        pthread_mutex_unlock(&st.conn_lock);
    }
}

/* A request was answered (or given up): the next one gets a fresh term. */
static void
request_done(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn,
        MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_slot *c;

    (void)cls;
    (void)toe;
    /* A write whose body never came whole. */
    if (*con_cls != NULL && *con_cls != (void *)&answered) {
        struct upload *up = *con_cls;

        free(up->p);
        free(up);
        *con_cls = NULL;
    }
    if (ci == NULL || (c = ci->socket_context) == NULL)
        return;
    pthread_mutex_lock(&st.conn_lock);
    c->since_ms = mono_ms();
    pthread_mutex_unlock(&st.conn_lock);
}

/*
 * Shut down connections whose request ran past admin_request_timeout;
 * libmicrohttpd sees the end and closes them.  The descriptor is checked
 * to still lead to the same peer, in case it was reused after all.
 */
static void
conn_reap(void)
{
    int64_t now = mono_ms(), limit;
    int ncut = 0;

    pthread_mutex_lock(&st.cfg_lock);
    limit = (int64_t)st.a->cfg->admin_request_timeout * 1000;
    pthread_mutex_unlock(&st.cfg_lock);
    pthread_mutex_lock(&st.conn_lock);
    for (int i = 0; i < ADMIN_CONN_LIMIT; i++) {
        struct conn_slot *c = &st.conns[i];
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);

        if (!c->used || c->cut || now - c->since_ms < limit)
            continue;
        c->cut = 1;
        if (c->peerlen == 0 ||
            getpeername(c->fd, (struct sockaddr *)&ss, &len) == -1 ||
            len != c->peerlen || memcmp(&ss, &c->peer, len) != 0)
            continue;
        shutdown(c->fd, SHUT_RDWR);
        ncut++;
    }
    pthread_mutex_unlock(&st.conn_lock);
    if (ncut > 0)
        log_limited(&st.rl_cut, "closed %d admin connection%s: request "
            "not done within admin_request_timeout", ncut,
            ncut == 1 ? "" : "s");
}

/* 1 if the client may talk to us (no whitelist, or it is in it). */
static int
client_ok(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci;

    if (st.nwhite == 0)
        return 1;
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return ci != NULL && addr_ok(ci->client_addr);
}

/* 1 if the request announces a body. */
static int
has_body(struct MHD_Connection *conn)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
        MHD_HTTP_HEADER_CONTENT_LENGTH);

    if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
        MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL)
        return 1;
    return cl != NULL && strspn(cl, "0 \t") != strlen(cl);
}

/* --- the request handler ---------------------------------------------- */

/* Copy s for a log line: controls become '?', long ones are cut. */
static void
printable(const char *s, char *out, size_t outlen)
{
    size_t i;

    for (i = 0; s[i] != '\0' && i + 1 < outlen; i++)
        out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    out[i] = '\0';
}

static unsigned
method_of(const char *m)
{
    if (strcmp(m, MHD_HTTP_METHOD_GET) == 0 ||
        strcmp(m, MHD_HTTP_METHOD_HEAD) == 0)
        return ADMIN_GET;
    if (strcmp(m, MHD_HTTP_METHOD_POST) == 0)
        return ADMIN_POST;
    if (strcmp(m, MHD_HTTP_METHOD_PATCH) == 0)
        return ADMIN_PATCH;
    if (strcmp(m, MHD_HTTP_METHOD_DELETE) == 0)
        return ADMIN_DELETE;
    return 0;
}

/* 1 if the request says its body is JSON. */
static int
body_is_json(struct MHD_Connection *conn)
{
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
        MHD_HTTP_HEADER_CONTENT_TYPE);
    size_t n = strlen(CT_JSON);

    return ct != NULL && strncasecmp(ct, CT_JSON, n) == 0 &&
        (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/*
 * Answer one request from its headers, or for a write (its checks
 * passed) start taking its body: *con_cls becomes the upload.  Called
 * with cfg_lock held.
 */
static enum MHD_Result
admin_route(struct MHD_Connection *conn, const char *url, const char *method,
    void **con_cls)
{
    struct admin_req q = { .conn = conn, .method = method_of(method) };
    unsigned allow;
    const struct route *rt = route_find(url, q.method, &q, &allow);
    struct upload *up;
    char allowed[64];

    if (log_get_level() >= LOG_LVL_DEBUG) {
        char m[16], u[200];

        printable(method, m, sizeof(m));
        printable(url, u, sizeof(u));
        log_debug("%s %s", m, u);
    }
    if (!client_ok(conn))
        return respond_text(conn, MHD_HTTP_FORBIDDEN, "forbidden\n");
    if (!admin_host_ok(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
        MHD_HTTP_HEADER_HOST), st.a->cfg->admin_listen)) {
        log_limited(&st.rl_refused, "refused an admin request: its Host "
            "header does not name %s or localhost", st.a->cfg->admin_listen);
        return respond_text(conn, MHD_HTTP_MISDIRECTED_REQUEST,
            "the Host header must name this endpoint or localhost\n");
    }
    if (!(rt != NULL && rt->render == NULL) && !auth_ok(conn))
        return respond_api_error(conn, MHD_HTTP_UNAUTHORIZED,
            "unauthorized",
            "a valid Authorization: Bearer token is required");
    if (allow == 0)
        return respond_api_error(conn, MHD_HTTP_NOT_FOUND, "not_found",
            "no such endpoint");
    if (rt == NULL) {
        route_allow(allow, allowed, sizeof(allowed));
        return respond_not_allowed(conn, allowed);
    }
    if (q.method == ADMIN_GET) {
        if (has_body(conn))
            return respond_text(conn, MHD_HTTP_CONTENT_TOO_LARGE,
                "request bodies are not accepted\n");
        return respond_route(conn, rt, &q);
    }
    /* A write. */
    if (st.a->cfg->admin_token[0] == '\0')
        return respond_api_error(conn, MHD_HTTP_FORBIDDEN, "no_admin_token",
            "writes need admin_token set in the config");
    if (has_body(conn) && !body_is_json(conn))
        return respond_api_error(conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type", "the body must be application/json");
    if ((up = calloc(1, sizeof(*up))) == NULL)
        return MHD_NO;
    up->rt = rt;
    up->q = q;
    *con_cls = up;
    return MHD_YES;
}

/* The whole body of a write is in: run it (without cfg_lock: it waits
 * for the master, whose reload takes that lock in our main thread). */
static enum MHD_Result
admin_write(struct MHD_Connection *conn, struct upload *up)
{
    unsigned status;
    struct abuf b;

    if (up->too_big)
        return respond_api_error(conn, MHD_HTTP_CONTENT_TOO_LARGE,
            "too_large", "the body is over " STR(ADMIN_BODY_MAX) " bytes");
    up->q.body = up->p != NULL ? up->p : "";
    up->q.body_len = up->len;
    abuf_init(&b);
    status = up->rt->render(&b, NULL, &up->q);
    return respond(conn, status, up->rt->ctype, &b);
}

static enum MHD_Result
admin_handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
    struct upload *up = *con_cls;
    enum MHD_Result ret;

    (void)cls;
    (void)version;
    if (up == (void *)&answered) {
        /* A body after our answer: drop it; the connection closes. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (up != NULL) {
        if (*upload_data_size > 0) {
            size_t n = *upload_data_size;

            if (!up->too_big && up->len + n <= ADMIN_BODY_MAX) {
                char *p = realloc(up->p, up->len + n + 1);

                if (p == NULL)
                    return MHD_NO;
                memcpy(p + up->len, upload_data, n);
                up->len += n;
                p[up->len] = '\0';
                up->p = p;
            } else {
                up->too_big = 1;
            }
            *upload_data_size = 0;
            return MHD_YES;
        }
        *con_cls = &answered;
        ret = admin_write(conn, up);
        free(up->p);
        free(up);
        return ret;
    }
    *con_cls = &answered;
    pthread_mutex_lock(&st.cfg_lock);
    ret = admin_route(conn, url, method, con_cls);
    pthread_mutex_unlock(&st.cfg_lock);
    return ret;
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    /* Mostly about clients (over the limits, gone mid-request). */
    log_limited(&st.rl_mhd, "libmicrohttpd: %s", msg);
}

/* --- the process ------------------------------------------------------ */

static int
admin_signalfd(void)
{
    static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };

    /* Before any thread starts, so that every thread inherits the mask. */
    return signalfd_block_all(sigs, (int)(sizeof(sigs) / sizeof(sigs[0])));
}

/* cfg's admin_whitelist, parsed (the loader checked it); NULL if none
 * or out of memory (*n = -1 then). */
static struct net_cidr *
parse_whitelist(const struct config *cfg, int *n)
{
    struct net_cidr *white;

    *n = cfg->nadmin_whitelist;
    if (*n == 0)
        return NULL;
    if ((white = calloc((size_t)*n, sizeof(*white))) == NULL) {
        *n = -1;
        return NULL;
    }
    for (int i = 0; i < *n; i++)
        if (net_parse_cidr(cfg->admin_whitelist[i], &white[i]) != 0) {
            free(white);
            *n = -1;
            return NULL;
        }
    return white;
}

/* The master's messages; a reload swaps the config in.  0 on EOF. */
static int
admin_ctl(struct admin_ctx *a)
{
    char err[CONFIG_ERR_LEN];
    struct snapshot *sn, *old;
    struct net_cidr *white, *oldwhite;
    struct ctl_msg m;
    int fd, r, nwhite;

    while ((r = ctl_recv(a->ctl_fd, &m, &fd)) == 1) {
        if (m.type == CTL_USERS_DONE && fd >= 0) {
            users_api_done(&m, fd);
            continue;
        }
        if (m.type != CTL_CONFIG || fd < 0) {
            log_warnx("control message of type %u ignored", m.type);
            if (fd >= 0)
                close(fd);
            continue;
        }
        sn = snapshot_from_text_fd(fd, m.generation, a->snap, a->stats, err,
            sizeof(err));
        white = sn != NULL ? parse_whitelist(sn->cfg, &nwhite) : NULL;
        if (sn == NULL || nwhite < 0) {
            log_warnx("reload: generation %llu: %s; keeping generation %llu",
                (unsigned long long)m.generation, sn == NULL ? err :
                "out of memory for admin_whitelist",
                (unsigned long long)a->snap->generation);
            snapshot_release(sn);
            continue;
        }
        pthread_mutex_lock(&st.cfg_lock);
        old = a->snap;
        oldwhite = st.white;
        a->snap = sn;
        a->cfg = sn->cfg;
        a->user_slot = sn->user_slot;
        st.white = white;
        st.nwhite = nwhite;
        pthread_mutex_unlock(&st.cfg_lock);
        snapshot_release(old);
        free(oldwhite);
        log_set_level((enum log_level)sn->cfg->log_level);
        log_info("reload: generation %llu applied: %d users%s%s",
            (unsigned long long)m.generation, sn->cfg->nusers,
            sn->cfg->admin_token[0] != '\0' ? ", bearer token" : "",
            st.nwhite > 0 ? ", whitelist" : "");
    }
    return r != 0;
}

/* Serve on the socket the master bound (it keeps its own copy). */
static struct MHD_Daemon *
admin_listen(const struct admin_ctx *a)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
        MHD_USE_ERROR_LOG | MHD_USE_ITC;
    struct MHD_Daemon *d;

    if (getsockname(a->listen_fd, (struct sockaddr *)&ss, &len) == -1)
        fatal("getsockname(%s)", a->cfg->admin_listen);
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    d = MHD_start_daemon(flags, 0, accept_policy, NULL, admin_handler, NULL,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, conn_notify, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned int)a->cfg->admin_max_per_ip,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)a->listen_fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)ADMIN_CONN_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)ADMIN_CONN_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)ADMIN_CONN_MEMORY,
        MHD_OPTION_END);
    if (d == NULL) {
        log_errorx("cannot serve the admin endpoint on %s",
            a->cfg->admin_listen);
        exit(1);
    }
    return d;
}

/*
 * Stop accepting (the next admin process takes what is queued on the
 * master's socket) and give the requests in progress up to
 * ADMIN_DRAIN_MS to finish, so that a reload costs a scraper nothing.
 */
static void
admin_drain(struct MHD_Daemon *d)
{
    int64_t until = mono_ms() + ADMIN_DRAIN_MS;
    MHD_socket fd = MHD_quiesce_daemon(d);

    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    while (mono_ms() < until) {
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(d,
            MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

        if (di == NULL || di->num_connections == 0)
            break;
        usleep(10 * 1000);
    }
}

void
admin_main(struct admin_ctx *a)
{
    struct pollfd pfd[3];
    struct MHD_Daemon *d;
    int64_t next_reap;
    int sfd;

    st.a = a;
    a->cfg = a->snap->cfg;
    a->user_slot = a->snap->user_slot;
    if (pthread_mutex_init(&st.cfg_lock, NULL) != 0 ||
        pthread_mutex_init(&st.conn_lock, NULL) != 0 ||
        pthread_mutex_init(&st.log_lock, NULL) != 0)
        fatalx("cannot set up the admin locks");
    sfd = admin_signalfd();
    st.white = parse_whitelist(a->cfg, &st.nwhite);
    if (st.nwhite < 0)
        fatalx("out of memory for admin_whitelist");
    sampler_start();                    /* before any request can come */
    users_api_init(a->ctl_fd);
    d = admin_listen(a);
    log_info("admin endpoint on http://%s/%s%s", a->cfg->admin_listen,
        a->cfg->admin_token[0] != '\0' ? " (bearer token)" : "",
        st.nwhite > 0 ? " (whitelist)" : "");

    pfd[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
    pfd[1] = (struct pollfd){ .fd = a->death_fd, .events = POLLIN };
    pfd[2] = (struct pollfd){ .fd = a->ctl_fd, .events = POLLIN };
    next_reap = mono_ms() + ADMIN_REAP_MS;
    for (;;) {
        int64_t now = mono_ms();

        if (now >= next_reap) {
            conn_reap();
            next_reap = now + ADMIN_REAP_MS;
        }
        if (poll(pfd, 3, (int)(next_reap - now)) == -1) {
            if (errno == EINTR)
                continue;
            fatal("poll");
        }
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            int stop = 0;

            while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGUSR1) {
                    if (log_reopen() == -1)
                        log_warn("cannot reopen the log file");
                } else if (si.ssi_signo != SIGHUP) {
                    stop = 1;           /* HUP: the master reloads */
                }
            }
            if (stop) {
                log_info("signal: stopping");
                break;
            }
        }
        if ((pfd[2].revents & (POLLIN | POLLHUP)) && !admin_ctl(a)) {
            log_warnx("master is gone, exiting");
            break;
        }
        if (pfd[1].revents & (POLLIN | POLLHUP)) {
            char c;

            if (read(a->death_fd, &c, 1) <= 0) {
                log_warnx("master is gone, exiting");
                break;
            }
        }
    }
    admin_drain(d);
    MHD_stop_daemon(d);
    sampler_stop();
    free(st.white);
    snapshot_release(a->snap);
    close(sfd);
    exit(0);
}
