/*
 * render_prom.c - the /metrics body (Prometheus text format 0.0.4) from a
 * snapshot of the shared region; the families are listed in
 * render_prom.h.  Called by admin.c and the unit tests.  It works on the
 * snapshot only and never reads or writes the region.
 *
 * The process-wide, per-user and per-DC families come from the X-macro
 * lists of stats_fields.h: a few entries are mapped to nicer families
 * below (several counters become one family with a label), and any other
 * entry is exported as telemt_[user_|dc_]<name>_total with its own help,
 * so a counter added there shows up here without a change.
 */
#include "render_prom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define U(x)    ((unsigned long long)(x))
#define FAMILY_LEN      128

/* Each X-macro list's fields by index, so the maps below name them. */
enum {
#define X(name, help) PC_##name,
    STATS_COUNTERS(X)
#undef X
    PC_COUNT
};
enum {
#define X(name, help) PU_##name,
    STATS_USER_FIELDS(X)
#undef X
    PU_COUNT
};
enum {
#define X(name, help) PD_##name,
    STATS_DC_FIELDS(X)
#undef X
    PD_COUNT
};
enum {
#define X(name, help) PP_##name,
    STATS_UPSTREAM_FIELDS(X)
#undef X
    PP_COUNT
};

/*
 * How one X-macro field is exported.  A field without an entry (all
 * zero) is its own counter family, telemt_[SCOPE_]NAME_total, with the
 * field's help.
 */
struct prom_map {
    int hidden;                         /* not exported */
    const char *family;                 /* NULL: the default name */
    const char *help;                   /* of the family; NULL: the field's */
    const char *lname, *lval;           /* an extra label, or NULL */
    double scale;                       /* 0: an integer as is */
};

static const struct prom_map counter_maps[PC_COUNT] = {
    [PC_conn_accepted] = { 0, "telemt_connections_accepted_total",
      "client connections accepted", NULL, NULL, 0 },
    [PC_conn_refused_limit] = { 0, "telemt_connections_refused_total",
      "client connections closed at once, by reason (limit: "
      "max_connections reached, thread: no thread could start)",
      "reason", "limit", 0 },
    [PC_conn_refused_thread] = { 0, "telemt_connections_refused_total",
      NULL, "reason", "thread", 0 },
    /* The per-DC families below add up to these two. */
    [PC_dc_connect_ok] = { .hidden = 1 },
    [PC_dc_connect_fail] = { .hidden = 1 },
    [PC_bytes_client_to_dc] = { 0, "telemt_traffic_bytes_total",
      "payload bytes relayed, by direction", "direction", "client_to_dc",
      0 },
    [PC_bytes_dc_to_client] = { 0, "telemt_traffic_bytes_total", NULL,
      "direction", "dc_to_client", 0 },
    [PC_mask_relayed] = { 0, "telemt_mask_relayed_total", NULL, NULL, NULL,
      0 },
    [PC_mask_connect_fail] = { 0, "telemt_mask_connect_failures_total",
      NULL, NULL, NULL, 0 },
    [PC_conn_handed_out] = { 0, "telemt_handoff_connections_total",
      "connections moved at binary upgrades, by result (out: handed to a "
      "new binary, in: taken over from an old one, failed: kept by the "
      "old one)", "result", "out", 0 },
    [PC_conn_handed_in] = { 0, "telemt_handoff_connections_total", NULL,
      "result", "in", 0 },
    [PC_conn_handoff_failed] = { 0, "telemt_handoff_connections_total",
      NULL, "result", "failed", 0 },
    [PC_me_fail_connect] = { 0, "telemt_me_connection_failures_total",
      "ME connections that failed or ended, by reason (connect, nonce, "
      "clock_skew, handshake: before it was up; frame, silent, closed: "
      "after)", "reason", "connect", 0 },
    [PC_me_fail_nonce] = { 0, "telemt_me_connection_failures_total",
      NULL, "reason", "nonce", 0 },
    [PC_me_fail_clock_skew] = { 0, "telemt_me_connection_failures_total",
      NULL, "reason", "clock_skew", 0 },
    [PC_me_fail_handshake] = { 0, "telemt_me_connection_failures_total",
      NULL, "reason", "handshake", 0 },
    [PC_me_fail_frame] = { 0, "telemt_me_connection_failures_total",
      NULL, "reason", "frame", 0 },
    [PC_me_fail_silent] = { 0, "telemt_me_connection_failures_total",
      NULL, "reason", "silent", 0 },
    [PC_me_fail_closed] = { 0, "telemt_me_connection_failures_total",
      NULL, "reason", "closed", 0 },
    [PC_me_packets_up] = { 0, "telemt_me_packets_total",
      "packets relayed through ME connections, by direction", "direction",
      "client_to_dc", 0 },
    [PC_me_packets_down] = { 0, "telemt_me_packets_total", NULL,
      "direction", "dc_to_client", 0 },
    [PC_me_bytes_up] = { 0, "telemt_me_bytes_total",
      "packet bytes relayed through ME connections, by direction",
      "direction", "client_to_dc", 0 },
    [PC_me_bytes_down] = { 0, "telemt_me_bytes_total", NULL, "direction",
      "dc_to_client", 0 },
    [PC_me_fetch_ok] = { 0, "telemt_me_fetches_total",
      "fetches of the ME secret and lists, by result (ok, failed: "
      "unreachable or HTTP error, rejected: fetched or read but invalid)",
      "result", "ok", 0 },
    [PC_me_fetch_failed] = { 0, "telemt_me_fetches_total", NULL, "result",
      "failed", 0 },
    [PC_dc_probes_ok] = { 0, "telemt_dc_probes_total",
      "probe connects of DC addresses (dc_probe_interval), by result",
      "result", "ok", 0 },
    [PC_dc_probes_failed] = { 0, "telemt_dc_probes_total", NULL, "result",
      "failed", 0 },
    [PC_me_inputs_rejected] = { 0, "telemt_me_fetches_total", NULL,
      "result", "rejected", 0 },
};

static const struct prom_map user_maps[PU_COUNT] = {
    [PU_connections] = { 0, "telemt_user_connections_total",
      "connections accepted for the user (handshake done)", NULL, NULL,
      0 },
    [PU_bytes_client_to_dc] = { 0, "telemt_user_bytes_total",
      "payload bytes relayed for the user, by direction", "direction",
      "client_to_dc", 0 },
    [PU_bytes_dc_to_client] = { 0, "telemt_user_bytes_total", NULL,
      "direction", "dc_to_client", 0 },
};

static const struct prom_map dc_maps[PD_COUNT] = {
    [PD_connections] = { 0, "telemt_dc_connections_total",
      "connections established to the DC", NULL, NULL, 0 },
    [PD_connect_failures] = { 0, "telemt_dc_connect_failures_total",
      "dials to the DC that failed on every address", NULL, NULL, 0 },
    [PD_connect_us_sum] = { 0, "telemt_dc_connect_time_seconds_total",
      "seconds spent connecting to the DC (successful dials), summed",
      NULL, NULL, 1e-6 },
};

/* One exported series family member: an X-macro field of one scope. */
struct member {
    char family[FAMILY_LEN];
    const char *help;
    const char *lname, *lval;
    double scale;
    int field;                          /* index in the scope's list */
};

/* Append text with the given characters escaped (HELP or label value). */
static void
prom_escape(struct abuf *b, const char *s, int quote)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            abuf_add(b, "\\\\", 2);
        else if (*s == '\n')
            abuf_add(b, "\\n", 2);
        else if (quote && *s == '"')
            abuf_add(b, "\\\"", 2);
        else
            abuf_add(b, s, 1);
    }
}

/* The # HELP and # TYPE lines of a family. */
static void
family_head(struct abuf *b, const char *name, const char *type,
    const char *help)
{
    abuf_printf(b, "# HELP %s ", name);
    prom_escape(b, help, 0);
    abuf_printf(b, "\n# TYPE %s %s\n", name, type);
}

/* Append ,name="value" (or name="value" first) with the value escaped. */
static void
label(struct abuf *b, const char *name, const char *value, int first)
{
    abuf_printf(b, "%s%s=\"", first ? "" : ",", name);
    prom_escape(b, value, 1);
    abuf_puts(b, "\"");
}

/* A sample line with up to two labels (NULL name = absent). */
static void
sample(struct abuf *b, const char *name, const char *l1, const char *v1,
    const char *l2, const char *v2, uint64_t v)
{
    abuf_puts(b, name);
    if (l1 != NULL || l2 != NULL) {
        abuf_puts(b, "{");
        if (l1 != NULL)
            label(b, l1, v1, 1);
        if (l2 != NULL)
            label(b, l2, v2, l1 == NULL);
        abuf_puts(b, "}");
    }
    abuf_printf(b, " %llu\n", U(v));
}

/* A one-sample gauge family. */
static void
gauge1(struct abuf *b, const char *name, const char *help, uint64_t v)
{
    family_head(b, name, "gauge", help);
    sample(b, name, NULL, NULL, NULL, NULL, v);
}

/*
 * How field idx of a scope ("" for the process-wide counters, "user",
 * "dc") is exported, from that scope's map; 0, or -1 if it is not.
 */
static int
member_of(const struct prom_map *maps, const char *scope, const char *field,
    const char *help, int idx, struct member *m)
{
    const struct prom_map *p = &maps[idx];

    memset(m, 0, sizeof(*m));
    m->field = idx;
    if (p->hidden)
        return -1;
    if (p->family != NULL)
        snprintf(m->family, sizeof(m->family), "%s", p->family);
    else
        snprintf(m->family, sizeof(m->family), "telemt_%s%s%s_total",
            scope, scope[0] != '\0' ? "_" : "", field);
    m->help = p->help != NULL ? p->help : help;
    m->lname = p->lname;
    m->lval = p->lval;
    m->scale = p->scale;
    return 0;
}

/*
 * Emit the counter families of members m[0..nm) for nent entities: entity
 * e has the label ename=evals[e] (none if ename is NULL) and the field
 * values vals[e * nfields + field].  A family's members are emitted
 * together, under the help of its first member.
 */
static void
emit_members(struct abuf *b, const struct member *m, int nm, int nent,
    const char *ename, const char *const *evals, const uint64_t *vals,
    int nfields)
{
    for (int i = 0; i < nm; i++) {
        int seen = 0;

        for (int j = 0; j < i && !seen; j++)
            seen = strcmp(m[j].family, m[i].family) == 0;
        if (seen)
            continue;
        family_head(b, m[i].family, "counter", m[i].help);
        for (int j = i; j < nm; j++) {
            if (strcmp(m[j].family, m[i].family) != 0)
                continue;
            for (int e = 0; e < nent; e++) {
                uint64_t v = vals[e * nfields + m[j].field];

                if (m[j].scale == 0) {
                    sample(b, m[j].family, ename,
                        ename ? evals[e] : NULL, m[j].lname, m[j].lval, v);
                    continue;
                }
                abuf_puts(b, m[j].family);
                if (ename != NULL || m[j].lname != NULL) {
                    abuf_puts(b, "{");
                    if (ename != NULL)
                        label(b, ename, evals[e], 1);
                    if (m[j].lname != NULL)
                        label(b, m[j].lname, m[j].lval, ename == NULL);
                    abuf_puts(b, "}");
                }
                abuf_printf(b, " %.6f\n", (double)v * m[j].scale);
            }
        }
    }
}

static void
prom_counters(struct abuf *b, const struct admin_snap *s)
{
    struct member m[64];
    uint64_t vals[64];
    int nm = 0, nf = 0;

#define X(field, help)                                                    \
    vals[nf] = s->c.field;                                                \
    if (nm < 64 &&                                                        \
        member_of(counter_maps, "", #field, help, nf, &m[nm]) == 0)       \
        nm++;                                                             \
    nf++;
    STATS_COUNTERS(X)
#undef X
    _Static_assert(sizeof(s->c) / sizeof(uint64_t) <= 64, "counters");
    emit_members(b, m, nm, 1, NULL, NULL, vals, nf);
}

static void
prom_dcs(struct abuf *b, const struct admin_snap *s)
{
    enum { NF = 0
#define X(field, help) + 1
        STATS_DC_FIELDS(X)
#undef X
    };
    struct member m[NF];
    uint64_t vals[STATS_NDCS * NF];
    char names[STATS_NDCS][16];
    const char *evals[STATS_NDCS];
    int nm = 0, nf = 0, ne = 0;

#define X(field, help)                                                    \
    if (member_of(dc_maps, "dc", #field, help, nf, &m[nm]) == 0)          \
        nm++;                                                             \
    nf++;
    STATS_DC_FIELDS(X)
#undef X
    for (int d = 0; d < STATS_NDCS; d++) {
        const struct admin_snap_dc *dc = &s->dcs[d];
        int f = 0;

        if (dc->connections == 0 && dc->connect_failures == 0 &&
            dc->me_opened == 0 && dc->me_failed == 0)
            continue;
        snprintf(names[ne], sizeof(names[ne]), "%d", dc->index);
        evals[ne] = names[ne];
#define X(field, help) vals[ne * nf + f++] = dc->field;
        STATS_DC_FIELDS(X)
#undef X
        ne++;
    }
    emit_members(b, m, nm, ne, "dc", evals, vals, nf);
}

/* The families of one DC address (labels dc, addr): what a slot holds. */
enum dc_addr_family {
    DAF_UP, DAF_IN_ROW, DAF_LAST, DAF_AVG,
#define X(field, help) DAF_##field,
    STATS_DC_ADDR_FIELDS(X)
#undef X
    DAF_COUNT
};

/* Family f's value of address d, as text. */
static void
dc_addr_value(const struct admin_snap_dc_addr *d, int f, char *out,
    size_t outlen)
{
    switch (f) {
    case DAF_UP:
        snprintf(out, outlen, "%d", d->state == ADMIN_DC_ADDR_UP);
        return;
    case DAF_IN_ROW:
        snprintf(out, outlen, "%u", d->fails_in_row);
        return;
    case DAF_LAST:
        snprintf(out, outlen, "%.6f", (double)d->last_us / 1e6);
        return;
    case DAF_AVG:
        snprintf(out, outlen, "%.6f", (double)d->avg_us / 1e6);
        return;
#define X(field, help)                                                    \
    case DAF_##field:                                                     \
        snprintf(out, outlen, "%llu", U(d->field));                       \
        return;
    STATS_DC_ADDR_FIELDS(X)
#undef X
    }
    snprintf(out, outlen, "0");
}

static void
prom_dc_addrs(struct abuf *b, const struct admin_snap *s)
{
    static const struct {
        const char *name, *type, *help;
    } fams[DAF_COUNT] = {
        [DAF_UP] = { "telemt_dc_addr_up", "gauge",
          "1 if the DC address answered its last connect, 0 if that "
          "failed or none finished yet" },
        [DAF_IN_ROW] = { "telemt_dc_addr_failures_in_row", "gauge",
          "connects to the DC address that failed since it last answered" },
        [DAF_LAST] = { "telemt_dc_addr_connect_seconds", "gauge",
          "time the DC address's last successful connect took; 0 = none" },
        [DAF_AVG] = { "telemt_dc_addr_connect_avg_seconds", "gauge",
          "moving average of its successful connect times; 0 = none" },
#define X(field, help)                                                    \
        [DAF_##field] = { "telemt_dc_addr_" #field "_total", "counter",   \
          help },
        STATS_DC_ADDR_FIELDS(X)
#undef X
    };
    char dc[16], v[32];

    if (s->ndc_addrs == 0)
        return;
    for (int f = 0; f < DAF_COUNT; f++) {
        family_head(b, fams[f].name, fams[f].type, fams[f].help);
        for (int i = 0; i < s->ndc_addrs; i++) {
            const struct admin_snap_dc_addr *d = &s->dc_addrs[i];

            snprintf(dc, sizeof(dc), "%d", d->dc);
            dc_addr_value(d, f, v, sizeof(v));
            abuf_puts(b, fams[f].name);
            abuf_puts(b, "{");
            label(b, "dc", dc, 1);
            label(b, "addr", d->addr, 0);
            abuf_printf(b, "} %s\n", v);
        }
    }
}

/* The SOCKS5 upstreams: telemt_upstream_<field>_total, a gauge. */
static void
prom_upstreams(struct abuf *b, const struct admin_snap *s)
{
    static const struct prom_map up_maps[PP_COUNT];     /* all default */
    struct member m[PP_COUNT];
    uint64_t vals[STATS_MAX_UPSTREAMS * PP_COUNT];
    const char *evals[STATS_MAX_UPSTREAMS];
    int nm = 0, nf = 0;

    if (s->nupstreams == 0)
        return;
#define X(field, help)                                                    \
    if (member_of(up_maps, "upstream", #field, help, nf, &m[nm]) == 0)    \
        nm++;                                                             \
    nf++;
    STATS_UPSTREAM_FIELDS(X)
#undef X
    for (int e = 0; e < s->nupstreams; e++) {
        int f = 0;

        evals[e] = s->upstreams[e].name;
#define X(field, help) vals[e * nf + f++] = s->upstreams[e].field;
        STATS_UPSTREAM_FIELDS(X)
#undef X
    }
    emit_members(b, m, nm, s->nupstreams, "upstream", evals, vals, nf);
    family_head(b, "telemt_upstream_backed_off", "gauge", "worker "
        "processes holding the upstream backed off after a failure");
    for (int e = 0; e < s->nupstreams; e++)
        sample(b, "telemt_upstream_backed_off", "upstream", evals[e], NULL,
            NULL, s->upstreams[e].backed_off);
}

static void
prom_users(struct abuf *b, const struct admin_snap *s)
{
    enum { NF = 0
#define X(field, help) + 1
        STATS_USER_FIELDS(X)
#undef X
    };
    struct member m[NF];
    uint64_t *vals;
    const char **evals;
    int nm = 0, nf = 0;

    vals = calloc((size_t)(s->nusers > 0 ? s->nusers : 1) * NF,
        sizeof(*vals));
    evals = calloc(s->nusers > 0 ? (size_t)s->nusers : 1, sizeof(*evals));
    if (vals == NULL || evals == NULL) {
        free(vals);
        free(evals);
        b->failed = 1;
        return;
    }
#define X(field, help)                                                    \
    if (member_of(user_maps, "user", #field, help, nf, &m[nm]) == 0)      \
        nm++;                                                             \
    nf++;
    STATS_USER_FIELDS(X)
#undef X
    for (int i = 0; i < s->nusers; i++) {
        const struct admin_snap_user *u = &s->users[i];
        int f = 0;

        evals[i] = u->name;
#define X(field, help) vals[i * nf + f++] = u->field;
        STATS_USER_FIELDS(X)
#undef X
    }

    family_head(b, "telemt_user_connections_active", "gauge",
        "open relayed connections of the user");
    for (int i = 0; i < s->nusers; i++)
        sample(b, "telemt_user_connections_active", "user",
            s->users[i].name, NULL, NULL, s->users[i].active);
    emit_members(b, m, nm, s->nusers, "user", evals, vals, nf);
    family_head(b, "telemt_user_unique_ips", "gauge",
        "distinct client addresses of the user within unique_ips_window");
    for (int i = 0; i < s->nusers; i++)
        sample(b, "telemt_user_unique_ips", "user", s->users[i].name, NULL,
            NULL, s->users[i].ips_recent);
    family_head(b, "telemt_user_refused_total", "counter",
        "the user's connections refused after a valid handshake, or cut, "
        "by reason (disabled, expired, quota, conns, ips)");
    for (int i = 0; i < s->nusers; i++) {
#define X(rname, reason, help)                                            \
        sample(b, "telemt_user_refused_total", "user", s->users[i].name,  \
            "reason", #rname, s->users[i].refused[STATS_UR_##rname]);
        STATS_USER_REFUSALS(X)
#undef X
    }
    family_head(b, "telemt_user_quota_used_bytes", "gauge",
        "bytes the user relayed this quota period, both ways");
    for (int i = 0; i < s->nusers; i++)
        sample(b, "telemt_user_quota_used_bytes", "user", s->users[i].name,
            NULL, NULL, s->users[i].quota_used);
    family_head(b, "telemt_user_quota_limit_bytes", "gauge",
        "the user's data_quota_bytes; 0 = no quota");
    for (int i = 0; i < s->nusers; i++)
        sample(b, "telemt_user_quota_limit_bytes", "user", s->users[i].name,
            NULL, NULL, s->users[i].limits != NULL ?
            (uint64_t)s->users[i].limits->data_quota_bytes : 0);
    family_head(b, "telemt_user_last_seen_timestamp_seconds", "gauge",
        "unix time of the user's last connection; 0 = never");
    for (int i = 0; i < s->nusers; i++)
        sample(b, "telemt_user_last_seen_timestamp_seconds", "user",
            s->users[i].name, NULL, NULL,
            s->users[i].last_seen > 0 ? (uint64_t)s->users[i].last_seen : 0);
    free(vals);
    free(evals);
}

static void
prom_workers(struct abuf *b, const struct admin_snap *s)
{
    static const struct {
        const char *name, *type, *help;
    } fams[] = {
        { "telemt_worker_up", "gauge",
          "1 if the worker slot runs a live process" },
        { "telemt_worker_connections_active", "gauge",
          "client connections the worker has open" },
        { "telemt_worker_connections_total", "counter",
          "client connections the slot's current worker accepted" },
        { "telemt_worker_restarts_total", "counter",
          "times the worker slot was respawned" },
    };
    char slot[16];
    uint64_t active;

    for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
        family_head(b, fams[f].name, fams[f].type, fams[f].help);
        for (int i = 0; i < s->nworkers; i++) {
            const struct admin_snap_worker *w = &s->workers[i];
            uint64_t v = f == 0 ? (uint64_t)w->up : f == 1 ? w->active :
                f == 2 ? w->total : w->restarts;

            snprintf(slot, sizeof(slot), "%d", i);
            sample(b, fams[f].name, "worker", slot, NULL, NULL, v);
        }
    }
    gauge1(b, "telemt_workers_expected", "worker slots configured",
        (uint64_t)s->nworkers);
    active = 0;
    for (int i = 0; i < s->ndraining; i++)
        active += s->draining[i].active;
    gauge1(b, "telemt_workers_draining",
        "old-generation workers finishing their connections",
        (uint64_t)s->ndraining);
    gauge1(b, "telemt_draining_connections_active",
        "client connections open in draining workers", active);
}

static void
prom_hist(struct abuf *b, const char *name, const char *help,
    const struct admin_snap_hist *h)
{
    static const int64_t bounds[] = STATS_HIST_BOUNDS_US;
    char full[FAMILY_LEN];

    snprintf(full, sizeof(full), "telemt_%s", name);
    family_head(b, full, "histogram", help);
    for (int k = 0; k < STATS_HIST_NBOUNDS; k++)
        abuf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", full,
            (double)bounds[k] / 1e6, U(h->cum[k]));
    abuf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", full,
        U(h->cum[STATS_HIST_NBOUNDS]));
    abuf_printf(b, "%s_sum %.6f\n", full, (double)h->sum_us / 1e6);
    abuf_printf(b, "%s_count %llu\n", full, U(h->cum[STATS_HIST_NBOUNDS]));
}

void
render_prom(struct abuf *b, const struct admin_snap *s)
{
    static const char *const hs_names[] = {
#define X(name, verdict, help) #name,
        STATS_HS_OUTCOMES(X)
#undef X
    };

    family_head(b, "telemt_build_info", "gauge",
        "always 1; the version is a label");
    sample(b, "telemt_build_info", "version", TELEMT_VERSION, NULL, NULL, 1);
    gauge1(b, "telemt_start_time_seconds",
        "unix time the shared region was created",
        s->start_time > 0 ? (uint64_t)s->start_time : 0);
    gauge1(b, "telemt_uptime_seconds",
        "seconds since start_time, by the monotonic clock",
        (uint64_t)s->uptime);
    gauge1(b, "telemt_config_generation",
        "configuration generation (bumped on every reload)", s->generation);

    prom_counters(b, s);
    gauge1(b, "telemt_connections_active", "client connections open now",
        s->active);

    family_head(b, "telemt_handshakes_total", "counter",
        "client handshakes by outcome (ok_* accepted, the rest refused or "
        "closed)");
    for (int i = 0; i < STATS_HS_COUNT; i++)
        sample(b, "telemt_handshakes_total", "reason", hs_names[i], NULL,
            NULL, s->hs[i]);

    prom_dcs(b, s);
    prom_dc_addrs(b, s);
    prom_upstreams(b, s);
    prom_users(b, s);
    prom_workers(b, s);

    gauge1(b, "telemt_tls_profile_cert_bytes",
        "certificate record size learnt from mask_host; 0 = none yet",
        s->tls_cert_len);
    gauge1(b, "telemt_replay_entries",
        "handshakes remembered in the replay table", s->replay_entries);

#define X(name, help) prom_hist(b, #name, help, &s->hist[STATS_HIST_##name]);
    STATS_HISTOGRAMS(X)
#undef X
}
