/*
 * render_json.c - snapshots of the shared region and the admin endpoint's
 * JSON bodies (schema in render_json.h), plus the small text buffer that
 * render_prom.c shares.  Called from the admin process's HTTP thread and
 * from the unit tests.  Only reads the region (it is mapped read-only in
 * the admin process: a write would crash it); no JSON library.
 */
#include "render_json.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "links.h"

#define LD(x)   atomic_load_explicit(&(x), memory_order_relaxed)
#define ABUF_MIN        4096

/* --- the buffer ------------------------------------------------------- */

void
abuf_init(struct abuf *b)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

void
abuf_free(struct abuf *b)
{
    free(b->p);
    abuf_init(b);
}

/* Make room for n more bytes and the NUL; 0, or -1 (failed is set). */
static int
abuf_reserve(struct abuf *b, size_t n)
{
    size_t cap = b->cap ? b->cap : ABUF_MIN;
    char *p;

    if (b->failed)
        return -1;
    if (b->len + n + 1 <= b->cap)
        return 0;
    while (cap < b->len + n + 1) {
        if (cap > SIZE_MAX / 2) {
            b->failed = 1;
            return -1;
        }
        cap *= 2;
    }
    p = realloc(b->p, cap);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void
abuf_add(struct abuf *b, const char *s, size_t n)
{
    if (abuf_reserve(b, n) != 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void
abuf_puts(struct abuf *b, const char *s)
{
    abuf_add(b, s, strlen(s));
}

void
abuf_printf(struct abuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (abuf_reserve(b, 128) != 0)
        return;
    va_start(ap, fmt);
    n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n >= b->cap - b->len) {
        if (abuf_reserve(b, (size_t)n) != 0)
            return;
        va_start(ap, fmt);
        (void)vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void
abuf_json_str(struct abuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    abuf_add(b, "\"", 1);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

        switch (c) {
        case '"':
            abuf_add(b, "\\\"", 2);
            break;
        case '\\':
            abuf_add(b, "\\\\", 2);
            break;
        case '\n':
            abuf_add(b, "\\n", 2);
            break;
        case '\r':
            abuf_add(b, "\\r", 2);
            break;
        case '\t':
            abuf_add(b, "\\t", 2);
            break;
        default:
            /* Controls, and <>& so the text is safe inside HTML too. */
            if (c < 0x20 || c == 0x7f || c == '<' || c == '>' || c == '&')
                abuf_add(b, esc, sizeof(esc));
            else
                abuf_add(b, (const char *)&c, 1);
        }
    }
    abuf_add(b, "\"", 1);
}

/* --- the snapshot ----------------------------------------------------- */

/* 1 if a process with this pid exists (ours or not). */
static int
pid_alive(int32_t pid)
{
    return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

struct admin_snap *
admin_snap_take(const struct admin_ctx *a, int64_t now)
{
    static const int64_t bounds[] = STATS_HIST_BOUNDS_US;
    const struct stats_region *r = a->stats;
    const struct config *cfg = a->cfg;
    struct admin_snap *s = calloc(1, sizeof(*s));
    uint32_t nw;

    _Static_assert(sizeof(bounds) / sizeof(bounds[0]) == STATS_HIST_NBOUNDS,
        "STATS_HIST_BOUNDS_US has STATS_HIST_NBOUNDS entries");
    if (s == NULL)
        return NULL;
    s->users = calloc(cfg->nusers > 0 ? (size_t)cfg->nusers : 1,
        sizeof(*s->users));
    if (s->users == NULL) {
        free(s);
        return NULL;
    }
    s->cfg = cfg;
    s->now = now;
    s->start_time = LD(r->start_time);
    s->generation = LD(r->generation);
#define X(field, help) s->c.field = LD(r->c.field);
    STATS_COUNTERS(X)
#undef X
    for (int i = 0; i < STATS_HS_COUNT; i++)
        s->hs[i] = LD(r->hs[i]);

    for (int h = 0; h < STATS_HIST_COUNT; h++) {
        uint64_t cum = 0;

        /* Cumulative from one read of each bucket: +Inf is the count. */
        for (int k = 0; k <= STATS_HIST_NBOUNDS; k++) {
            cum += LD(r->hist[h].bucket[k]);
            s->hist[h].cum[k] = cum;
        }
        s->hist[h].sum_us = LD(r->hist[h].sum_us);
    }

    for (int w = 0; w < STATS_MAX_WORKERS; w++)
        s->active += LD(r->workers[w].active);
    nw = LD(r->nworkers);
    s->nworkers = nw > STATS_MAX_WORKERS ? STATS_MAX_WORKERS : (int)nw;
    for (int i = 0; i < s->nworkers; i++) {
        s->workers[i].slot = i;
        s->workers[i].restarts = LD(r->slot_restarts[i]);
    }
    for (int row = 0; row < STATS_MAX_WORKERS; row++) {
        const struct stats_worker *rw = &r->workers[row];
        uint32_t state = LD(rw->state);
        struct admin_snap_worker x, *cur;

        if (state != STATS_WORKER_RUNNING && state != STATS_WORKER_DRAINING)
            continue;                   /* free, or being forked */
        x = (struct admin_snap_worker){
            .slot = LD(rw->slot), .pid = LD(rw->pid),
            .generation = LD(rw->generation),
            .started_at = LD(rw->started_at), .active = LD(rw->active),
            .total = LD(rw->total),
        };
        x.up = pid_alive(x.pid);
        if (x.pid == 0)
            continue;                   /* freed while we read it */
        if (state == STATS_WORKER_DRAINING || x.slot < 0 ||
            x.slot >= s->nworkers) {
            s->draining[s->ndraining++] = x;
            continue;
        }
        /* The newest generation's worker is the slot's. */
        cur = &s->workers[x.slot];
        if (cur->pid == 0 || x.generation > cur->generation) {
            x.restarts = cur->restarts;
            *cur = x;
        }
    }
    for (int i = 0; i < s->nworkers; i++)
        s->workers_up += s->workers[i].up;

    s->nusers = cfg->nusers;
    for (int i = 0; i < cfg->nusers; i++) {
        struct admin_snap_user *su = &s->users[i];
        int u = a->user_slot != NULL ? a->user_slot[i] : -1;

        su->name = cfg->users[i].name;
        if (u < 0 || u >= STATS_MAX_USERS)
            continue;                   /* no slot: all zero */
#define X(field, help) su->field = LD(r->users[u].field);
        STATS_USER_FIELDS(X)
#undef X
        su->active = stats_user_active(r, u);
        su->last_seen = LD(r->users[u].last_seen);
        su->ips_recent = stats_ips_recent(r, u, now);
    }

    for (int d = 0; d < STATS_NDCS; d++) {
        s->dcs[d].index = stats_dc_index(d);
#define X(field, help) s->dcs[d].field = LD(r->dcs[d].field);
        STATS_DC_FIELDS(X)
#undef X
    }

    s->tls_cert_len = LD(r->tls_cert_len);
    s->tls_profile_at = LD(r->tls_profile_at);
    /* replay_count() only loads atomics: the cast drops const, no write. */
    s->replay_entries = replay_count((struct replay_table *)
        ((const char *)r + r->replay_off));
    return s;
}

void
admin_snap_free(struct admin_snap *s)
{
    if (s == NULL)
        return;
    free(s->users);
    free(s);
}

int
admin_snap_healthy(const struct admin_snap *s)
{
    return s->workers_up == s->nworkers;
}

void
admin_sample_take(const struct stats_region *r, int64_t now,
    struct admin_sample *out)
{
    out->t = now;
    out->active = 0;
    for (int w = 0; w < STATS_MAX_WORKERS; w++)
        out->active += LD(r->workers[w].active);
    out->accepted = LD(r->c.conn_accepted);
    out->client_to_dc = LD(r->c.bytes_client_to_dc);
    out->dc_to_client = LD(r->c.bytes_dc_to_client);
}

/* --- JSON pieces ------------------------------------------------------ */

#define U(x)    ((unsigned long long)(x))

/* A unix time, or null when 0 (never). */
static void
json_time_or_null(struct abuf *b, int64_t t)
{
    if (t == 0)
        abuf_puts(b, "null");
    else
        abuf_printf(b, "%lld", (long long)t);
}

/* A USER object's members, without the braces. */
static void
json_user_fields(struct abuf *b, const struct admin_snap_user *u)
{
    abuf_puts(b, "\"name\":");
    abuf_json_str(b, u->name);
    abuf_printf(b, ",\"active\":%llu", U(u->active));
#define X(field, help) abuf_printf(b, ",\"%s\":%llu", #field, U(u->field));
    STATS_USER_FIELDS(X)
#undef X
    abuf_puts(b, ",\"last_seen\":");
    json_time_or_null(b, u->last_seen);
    abuf_printf(b, ",\"unique_ips_recent\":%u", u->ips_recent);
}

static void
json_workers_array(struct abuf *b, const struct admin_snap *s)
{
    abuf_puts(b, "[");
    for (int i = 0; i < s->nworkers; i++) {
        const struct admin_snap_worker *w = &s->workers[i];

        abuf_printf(b, "%s{\"slot\":%d,\"pid\":%d,\"state\":\"%s\","
            "\"started_at\":%lld,\"active\":%llu,\"total\":%llu,"
            "\"restarts\":%llu,\"generation\":%llu,\"up\":%s}",
            i ? "," : "", i, (int)w->pid, w->pid != 0 ? "running" : "dead",
            (long long)w->started_at, U(w->active), U(w->total),
            U(w->restarts), U(w->generation), w->up ? "true" : "false");
    }
    abuf_puts(b, "]");
}

static void
json_draining_array(struct abuf *b, const struct admin_snap *s)
{
    abuf_puts(b, "[");
    for (int i = 0; i < s->ndraining; i++) {
        const struct admin_snap_worker *w = &s->draining[i];

        abuf_printf(b, "%s{\"slot\":%d,\"pid\":%d,\"generation\":%llu,"
            "\"started_at\":%lld,\"active\":%llu,\"total\":%llu}",
            i ? "," : "", w->slot, (int)w->pid, U(w->generation),
            (long long)w->started_at, U(w->active), U(w->total));
    }
    abuf_puts(b, "]");
}

static void
json_hist(struct abuf *b, const struct admin_snap_hist *h)
{
    static const int64_t bounds[] = STATS_HIST_BOUNDS_US;

    abuf_puts(b, "{\"buckets\":[");
    for (int k = 0; k < STATS_HIST_NBOUNDS; k++)
        abuf_printf(b, "{\"le\":%g,\"count\":%llu},",
            (double)bounds[k] / 1e6, U(h->cum[k]));
    abuf_printf(b, "{\"le\":\"+Inf\",\"count\":%llu}],\"sum\":%.6f,"
        "\"count\":%llu}", U(h->cum[STATS_HIST_NBOUNDS]),
        (double)h->sum_us / 1e6, U(h->cum[STATS_HIST_NBOUNDS]));
}

/* --- bodies ----------------------------------------------------------- */

void
render_json_stats(struct abuf *b, const struct admin_snap *s,
    const struct admin_sample *hist, int nhist)
{
    static const char *const hs_names[] = {
#define X(name, help) #name,
        STATS_HS_OUTCOMES(X)
#undef X
    };
    static const char *const hist_names[] = {
#define X(name, help) #name,
        STATS_HISTOGRAMS(X)
#undef X
    };
    int first;

    abuf_puts(b, "{\"version\":");
    abuf_json_str(b, TELEMT_VERSION);
    abuf_printf(b, ",\"now\":%lld,\"start_time\":%lld,"
        "\"uptime_seconds\":%lld,\"generation\":%llu",
        (long long)s->now, (long long)s->start_time,
        (long long)(s->now > s->start_time ? s->now - s->start_time : 0),
        U(s->generation));
    abuf_printf(b, ",\"connections\":{\"active\":%llu,\"accepted\":%llu,"
        "\"refused_limit\":%llu,\"refused_thread\":%llu}", U(s->active),
        U(s->c.conn_accepted), U(s->c.conn_refused_limit),
        U(s->c.conn_refused_thread));
    abuf_printf(b, ",\"traffic\":{\"client_to_dc_bytes\":%llu,"
        "\"dc_to_client_bytes\":%llu}", U(s->c.bytes_client_to_dc),
        U(s->c.bytes_dc_to_client));

    abuf_puts(b, ",\"handshakes\":{");
    for (int i = 0; i < STATS_HS_COUNT; i++)
        abuf_printf(b, "%s\"%s\":%llu", i ? "," : "", hs_names[i],
            U(s->hs[i]));
    abuf_puts(b, "}");
    abuf_printf(b, ",\"masking\":{\"relayed\":%llu,"
        "\"connect_failures\":%llu}", U(s->c.mask_relayed),
        U(s->c.mask_connect_fail));

    /* Every counter under the name of the master's "stats:" line. */
    abuf_puts(b, ",\"counters\":{");
    first = 1;
#define X(field, help)                                                    \
    abuf_printf(b, "%s\"%s\":%llu", first ? "" : ",", #field,             \
        U(s->c.field));                                                   \
    first = 0;
    STATS_COUNTERS(X)
#undef X
    abuf_printf(b, ",\"conn_active\":%llu}", U(s->active));

    abuf_puts(b, ",\"dcs\":[");
    first = 1;
    for (int d = 0; d < STATS_NDCS; d++) {
        const struct admin_snap_dc *dc = &s->dcs[d];

        if (dc->connections == 0 && dc->connect_failures == 0)
            continue;
        abuf_printf(b, "%s{\"dc\":%d,\"connections\":%llu,"
            "\"connect_failures\":%llu,\"connect_ms_avg\":%.3f}",
            first ? "" : ",", dc->index, U(dc->connections),
            U(dc->connect_failures), dc->connections == 0 ? 0.0 :
            (double)dc->connect_us_sum / (double)dc->connections / 1000.0);
        first = 0;
    }
    abuf_puts(b, "]");

    abuf_puts(b, ",\"users\":[");
    for (int i = 0; i < s->nusers; i++) {
        abuf_puts(b, i ? ",{" : "{");
        json_user_fields(b, &s->users[i]);
        abuf_puts(b, "}");
    }
    abuf_puts(b, "],\"workers\":");
    json_workers_array(b, s);
    abuf_printf(b, ",\"workers_expected\":%d,\"workers_up\":%d",
        s->nworkers, s->workers_up);
    abuf_puts(b, ",\"draining\":");
    json_draining_array(b, s);

    abuf_puts(b, ",\"histograms\":{");
    for (int h = 0; h < STATS_HIST_COUNT; h++) {
        abuf_printf(b, "%s\"%s\":", h ? "," : "", hist_names[h]);
        json_hist(b, &s->hist[h]);
    }
    abuf_puts(b, "}");

    abuf_puts(b, ",\"tls_profile\":{\"cert_len\":");
    if (s->tls_cert_len == 0)
        abuf_puts(b, "null");
    else
        abuf_printf(b, "%u", (unsigned)s->tls_cert_len);
    abuf_puts(b, ",\"learnt_at\":");
    json_time_or_null(b, s->tls_profile_at);
    abuf_printf(b, "},\"replay_entries\":%llu", U(s->replay_entries));

    abuf_puts(b, ",\"history\":[");
    for (int i = 0; i < nhist; i++)
        abuf_printf(b, "%s{\"t\":%lld,\"active\":%llu,\"accepted\":%llu,"
            "\"client_to_dc_bytes\":%llu,\"dc_to_client_bytes\":%llu}",
            i ? "," : "", (long long)hist[i].t, U(hist[i].active),
            U(hist[i].accepted), U(hist[i].client_to_dc),
            U(hist[i].dc_to_client));
    abuf_puts(b, "]}\n");
}

/* Percent-encode a query value: everything but RFC 3986 unreserved. */
static void
url_encode(struct abuf *b, const char *in)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *in != '\0'; in++) {
        unsigned char c = (unsigned char)*in;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~') {
            abuf_add(b, (const char *)&c, 1);
        } else {
            char e[3] = { '%', hex[c >> 4], hex[c & 15] };

            abuf_add(b, e, 3);
        }
    }
}

/* The host links carry (as links_print() picks it), or NULL if none. */
static const char *
links_host(const struct config *cfg)
{
    if (cfg->public_host[0] != '\0')
        return cfg->public_host;
    if (cfg->listen_ipv4[0] != '\0' && strcmp(cfg->listen_ipv4, "0.0.0.0"))
        return cfg->listen_ipv4;
    if (cfg->listen_ipv6[0] != '\0' && strcmp(cfg->listen_ipv6, "::"))
        return cfg->listen_ipv6;
    return NULL;
}

/* The "links" array of config user i (host already URL-encoded). */
static void
json_links(struct abuf *b, const struct config *cfg, int i,
    const char *server)
{
    static const char *const names[] = { "classic", "secure", "tls" };
    const bool on[] = { cfg->mode_classic, cfg->mode_secure, cfg->mode_tls };
    char secret[1024];
    int first = 1;

    abuf_puts(b, "[");
    for (int m = LINK_CLASSIC; m <= LINK_TLS; m++) {
        int ndom = m == LINK_TLS ? cfg->ntls_domains : 1;

        if (!on[m])
            continue;
        for (int d = 0; d < ndom; d++) {
            const char *dom = m == LINK_TLS ? cfg->tls_domains[d] : "";

            if (links_secret((enum link_mode)m, cfg->users[i].secret, dom,
                secret, sizeof(secret)) != 0)
                continue;               /* a domain too long for a link */
            abuf_printf(b, "%s{\"mode\":\"%s\"", first ? "" : ",",
                names[m]);
            if (m == LINK_TLS) {
                abuf_puts(b, ",\"domain\":");
                abuf_json_str(b, dom);
            }
            abuf_printf(b, ",\"tg\":\"tg://proxy?server=%s&port=%d"
                "&secret=%s\"", server, cfg->public_port, secret);
            abuf_printf(b, ",\"tme\":\"https://t.me/proxy?server=%s"
                "&port=%d&secret=%s\"}", server, cfg->public_port, secret);
            first = 0;
        }
    }
    abuf_puts(b, "]");
}

void
render_json_users(struct abuf *b, const struct admin_snap *s,
    int with_secrets)
{
    const char *host = links_host(s->cfg);
    struct abuf server;

    /* The encoded host has only unreserved characters and %XX. */
    abuf_init(&server);
    if (host != NULL)
        url_encode(&server, host);
    if (server.failed) {
        b->failed = 1;
        return;
    }
    abuf_puts(b, "{");
    if (!with_secrets)
        abuf_puts(b, "\"links_omitted\":\"" RENDER_JSON_LINKS_OMITTED
            "\",");
    abuf_puts(b, "\"users\":[");
    for (int i = 0; i < s->nusers; i++) {
        abuf_puts(b, i ? ",{" : "{");
        json_user_fields(b, &s->users[i]);
        if (!with_secrets) {
            abuf_puts(b, "}");
            continue;
        }
        abuf_puts(b, ",\"links\":");
        if (host != NULL)
            json_links(b, s->cfg, i, server.p != NULL ? server.p : "");
        else
            abuf_puts(b, "[],\"links_error\":\"set public_host\"");
        abuf_puts(b, "}");
    }
    abuf_puts(b, "]}\n");
    abuf_free(&server);
}

void
render_json_workers(struct abuf *b, const struct admin_snap *s)
{
    abuf_puts(b, "{\"workers\":");
    json_workers_array(b, s);
    abuf_printf(b, ",\"workers_expected\":%d,\"workers_up\":%d,"
        "\"draining\":", s->nworkers, s->workers_up);
    json_draining_array(b, s);
    abuf_puts(b, "}\n");
}

void
render_json_health(struct abuf *b, const struct admin_snap *s)
{
    abuf_printf(b, "{\"status\":\"%s\",\"workers_up\":%d,"
        "\"workers_expected\":%d}\n",
        admin_snap_healthy(s) ? "ok" : "degraded", s->workers_up,
        s->nworkers);
}
