/*
 * render_json.c - the admin endpoint's JSON bodies (schema in
 * render_json.h), built from an admin_snap (admin_snap.h) into an abuf.
 * Called from the admin process's HTTP thread and from the unit tests;
 * no JSON library.
 */
#include "render_json.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "links.h"
#include "util.h"

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
/* One user setting, by its CONFIG_USER_FIELDS type. */
static void
json_user_setting_BOOL(struct abuf *b, const char *name, bool v)
{
    abuf_printf(b, ",\"%s\":%s", name, v ? "true" : "false");
}

static void
json_user_setting_COUNT(struct abuf *b, const char *name, int64_t v)
{
    abuf_printf(b, ",\"%s\":%lld", name, (long long)v);
}

/* An RFC 3339 UTC time, as the config writes it, or null when 0. */
static void
json_user_setting_TIME(struct abuf *b, const char *name, int64_t v)
{
    char when[32];
    time_t t = (time_t)v;
    struct tm tm;

    if (v == 0 || gmtime_r(&t, &tm) == NULL) {
        abuf_printf(b, ",\"%s\":null", name);
        return;
    }
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    abuf_printf(b, ",\"%s\":\"%s\"", name, when);
}

static void
json_user_setting_TAG(struct abuf *b, const char *name,
    struct config_ad_tag v)
{
    char hex[2 * CONFIG_AD_TAG_LEN + 1];

    if (v.kind == CONFIG_TAG_OWN) {
        hex_encode(v.tag, sizeof(v.tag), hex);
        abuf_printf(b, ",\"%s\":\"%s\"", name, hex);
    } else if (v.kind == CONFIG_TAG_DIRECT) {
        abuf_printf(b, ",\"%s\":\"direct\"", name);
    } else {
        abuf_printf(b, ",\"%s\":null", name);
    }
}

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
    /* Its settings under their config names, then what they count. */
    if (u->limits != NULL) {
#define X(name, type, field, min, max, def, help) \
        json_user_setting_##type(b, name, u->limits->field);
        CONFIG_USER_FIELDS(X)
#undef X
    }
    abuf_printf(b, ",\"quota_used_bytes\":%llu,\"quota_period_start\":",
        U(u->quota_used));
    json_time_or_null(b, u->quota_period);
    abuf_puts(b, ",\"refused\":{");
#define X(name, reason, help) \
    abuf_printf(b, "%s\"%s\":%llu", STATS_UR_##name ? "," : "", #name, \
        U(u->refused[STATS_UR_##name]));
    STATS_USER_REFUSALS(X)
#undef X
    abuf_puts(b, "}");
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

/* A duration in ms as seconds, or null for -1 (never). */
static void
json_age_or_null(struct abuf *b, const char *name, int64_t ms)
{
    if (ms < 0)
        abuf_printf(b, ",\"%s\":null", name);
    else
        abuf_printf(b, ",\"%s\":%.3f", name, (double)ms / 1000.0);
}

/* A connect time in us as ms, or null for 0 (never connected). */
static void
json_ms_or_null(struct abuf *b, const char *name, int64_t us)
{
    if (us <= 0)
        abuf_printf(b, ",\"%s\":null", name);
    else
        abuf_printf(b, ",\"%s\":%.3f", name, (double)us / 1000.0);
}

static void
json_dc_addrs_array(struct abuf *b, const struct admin_snap *s)
{
    static const char *const states[] = { "unknown", "up", "down" };

    abuf_puts(b, "[");
    for (int i = 0; i < s->ndc_addrs; i++) {
        const struct admin_snap_dc_addr *d = &s->dc_addrs[i];

        abuf_printf(b, "%s{\"dc\":%d,\"addr\":", i ? "," : "", d->dc);
        abuf_json_str(b, d->addr);
        abuf_printf(b, ",\"state\":\"%s\",\"up\":%s", states[d->state],
            d->state == ADMIN_DC_ADDR_UP ? "true" : "false");
#define X(field, help) abuf_printf(b, ",\"%s\":%llu", #field, U(d->field));
        STATS_DC_ADDR_FIELDS(X)
#undef X
        abuf_printf(b, ",\"failures_in_row\":%u", d->fails_in_row);
        json_ms_or_null(b, "last_connect_ms", d->last_us);
        json_ms_or_null(b, "avg_connect_ms", d->avg_us);
        json_age_or_null(b, "last_ok_ago_s", d->ok_age_ms);
        json_age_or_null(b, "last_fail_ago_s", d->fail_age_ms);
        abuf_printf(b, ",\"retry_in_s\":%.3f}",
            (double)d->retry_in_ms / 1000.0);
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
#define X(name, verdict, help) #name,
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
        (long long)s->uptime,
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
#define X(name, reason, help)                                             \
    abuf_printf(b, ",\"user_%s\":%llu", #name,                            \
        U(s->user_refused[STATS_UR_##name]));
    STATS_USER_REFUSALS(X)
#undef X
    abuf_printf(b, ",\"conn_active\":%llu}", U(s->active));

    abuf_puts(b, ",\"dcs\":[");
    first = 1;
    for (int d = 0; d < STATS_NDCS; d++) {
        const struct admin_snap_dc *dc = &s->dcs[d];

        if (dc->connections == 0 && dc->connect_failures == 0 &&
            dc->me_opened == 0 && dc->me_failed == 0)
            continue;
        abuf_printf(b, "%s{\"dc\":%d,\"connections\":%llu,"
            "\"connect_failures\":%llu,\"connect_ms_avg\":%.3f,"
            "\"me_up\":%llu,\"me_opened\":%llu,\"me_closed\":%llu,"
            "\"me_failed\":%llu}",
            first ? "" : ",", dc->index, U(dc->connections),
            U(dc->connect_failures), dc->connections == 0 ? 0.0 :
            (double)dc->connect_us_sum / (double)dc->connections / 1000.0,
            U(dc->me_opened >= dc->me_closed ? dc->me_opened - dc->me_closed :
            0), U(dc->me_opened), U(dc->me_closed), U(dc->me_failed));
        first = 0;
    }
    abuf_puts(b, "]");

    abuf_puts(b, ",\"dc_addrs\":");
    json_dc_addrs_array(b, s);

    abuf_puts(b, ",\"upstreams\":[");
    for (int i = 0; i < s->nupstreams; i++) {
        const struct admin_snap_upstream *u = &s->upstreams[i];

        abuf_puts(b, i ? ",{\"address\":" : "{\"address\":");
        abuf_json_str(b, u->name);
#define X(field, help) abuf_printf(b, ",\"%s\":%llu", #field, U(u->field));
        STATS_UPSTREAM_FIELDS(X)
#undef X
        abuf_printf(b, ",\"backed_off\":%u}", u->backed_off);
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

/* render_json_users()'s links_fn: one element of a "links" array. */
struct json_links_arg {
    struct abuf *b;
    int n;
};

static void
json_link(void *arg, const struct proxy_link *l)
{
    struct json_links_arg *j = arg;

    abuf_printf(j->b, "%s{\"mode\":\"%s\"", j->n++ ? "," : "", l->mode);
    if (l->domain[0] != '\0') {
        abuf_puts(j->b, ",\"domain\":");
        abuf_json_str(j->b, l->domain);
    }
    /* Percent-encoded: nothing in them needs a JSON escape. */
    abuf_printf(j->b, ",\"tg\":\"%s\",\"tme\":\"%s\"}", l->tg, l->tme);
}

/* User i, with its secret and links if with_secrets. */
static void
json_user(struct abuf *b, const struct admin_snap *s, int i,
    int with_secrets)
{
    struct json_links_arg j = { b, 0 };
    char hex[2 * SECRET_LEN + 1];
    int rc;

    abuf_puts(b, "{");
    json_user_fields(b, &s->users[i]);
    if (!with_secrets) {
        abuf_puts(b, "}");
        return;
    }
    hex_encode(s->cfg->users[i].secret, SECRET_LEN, hex);
    abuf_printf(b, ",\"secret\":\"%s\",\"links\":[", hex);
    rc = links_each(s->cfg, i, json_link, &j);
    abuf_puts(b, "]");
    if (rc == LINKS_NO_HOST)
        abuf_puts(b, ",\"links_error\":\"set public_host\"");
    else if (rc != 0)
        abuf_puts(b, ",\"links_error\":\"public_host or tls_domain "
            "too long for a link\"");
    abuf_puts(b, "}");
}

void
render_json_users(struct abuf *b, const struct admin_snap *s,
    int with_secrets)
{
    abuf_puts(b, "{");
    if (!with_secrets)
        abuf_puts(b, "\"links_omitted\":\"" RENDER_JSON_LINKS_OMITTED
            "\",");
    abuf_puts(b, "\"users\":[");
    for (int i = 0; i < s->nusers; i++) {
        if (i > 0)
            abuf_puts(b, ",");
        json_user(b, s, i, with_secrets);
    }
    abuf_puts(b, "]}\n");
}

void
render_json_user(struct abuf *b, const struct admin_snap *s, int i,
    int with_secrets)
{
    json_user(b, s, i, with_secrets);
    abuf_puts(b, "\n");
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
        "\"workers_expected\":%d",
        admin_snap_healthy(s) ? "ok" : "degraded", s->workers_up,
        s->nworkers);
    if (s->nstale > 0) {
        abuf_puts(b, ",\"stale_workers\":[");
        for (int i = 0; i < s->nstale; i++)
            abuf_printf(b, "%s{\"slot\":%d,\"pid\":%d,"
                "\"heartbeat_age_ms\":%lld}", i ? "," : "",
                s->stale[i].slot, (int)s->stale[i].pid,
                (long long)s->stale[i].age_ms);
        abuf_puts(b, "]");
    }
    abuf_puts(b, "}\n");
}

void
render_json_error(struct abuf *b, const char *code, const char *message)
{
    abuf_puts(b, "{\"error\":{\"code\":");
    abuf_json_str(b, code);
    abuf_puts(b, ",\"message\":");
    abuf_json_str(b, message);
    abuf_puts(b, "}}\n");
}
