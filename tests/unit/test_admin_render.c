/*
 * test_admin_render.c - the admin endpoint's bodies from a region filled
 * by hand: the JSON of /api/v1/stats, /users, /workers and /healthz
 * (exact members, links, escaping, and that python3 parses it when
 * /usr/bin/python3 exists) and the Prometheus text (exact lines,
 * cumulative buckets, escaped labels; promtool check metrics when
 * /usr/bin/promtool exists).  Needs admin/render_json.o and
 * admin/render_prom.o in the unit test link (the Makefile has them).  Works
 * with CK_FORK=no.
 */
#include <check.h>

#include <sys/wait.h>
#include <netinet/in.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../admin/render_json.h"
#include "../../admin/render_prom.h"
#include "stats.h"
#include "testutil.h"

#define NOW             1700000000
#define NOW_MS          ((int64_t)NOW * 1000)   /* monotonic, in the tests */
#define DEAD_PID        2147483000      /* above any pid_max */

/* A region and config as the admin process would see them. */
struct fixture {
    struct stats_region *r;
    struct config cfg;
    struct config_user users[2];
    char *domains[2];
    int slots[2];
    struct admin_ctx ctx;
};

static void
set_row(struct stats_region *r, int row, int32_t pid, int slot,
    uint32_t state, uint64_t gen, int64_t started, uint64_t active,
    uint64_t total)
{
    atomic_store(&r->workers[row].pid, pid);
    atomic_store(&r->workers[row].slot, slot);
    atomic_store(&r->workers[row].state, state);
    atomic_store(&r->workers[row].generation, gen);
    atomic_store(&r->workers[row].started_at, started);
    atomic_store(&r->workers[row].active, active);
    atomic_store(&r->workers[row].total, total);
}

static void
fixture_init(struct fixture *f, char *name0, char *name1)
{
    uint8_t fp[REPLAY_FP_LEN] = { 1 };
    struct sockaddr_in a = { .sin_family = AF_INET };
    struct stats_region *r;
    int dc2 = stats_dc_slot(2), dcm2 = stats_dc_slot(-2);
    int other = stats_dc_slot(999);

    memset(f, 0, sizeof(*f));
    r = f->r = stats_create(1024, 600, NULL);
    ck_assert_ptr_nonnull(r);
    atomic_store(&r->start_time, NOW - 100);
    /* The monotonic clock reads NOW_MS too: 100 s of uptime. */
    atomic_store(&r->start_mono_ms, (int64_t)(NOW - 100) * 1000);
    atomic_store(&r->generation, 3);

    f->users[0].name = name0;
    f->users[1].name = name1;
    f->users[0].enabled = f->users[1].enabled = true;
    f->users[0].max_tcp_conns = 20;
    f->users[0].data_quota_bytes = 1000;
    f->users[0].quota_reset_day = 1;
    f->users[0].expiration = NOW + 100;
    unhex("00112233445566778899aabbccddeeff", f->users[0].secret, 16);
    unhex("fedcba9876543210fedcba9876543210", f->users[1].secret, 16);
    f->domains[0] = (char *)"www.example.com";
    f->domains[1] = (char *)"cdn.example.org";
    f->cfg = (struct config){
        .path = (char *)"x.conf", .port = 443, .nusers = 2,
        .users = f->users, .mode_classic = true, .mode_secure = true,
        .mode_tls = true, .tls_domain = f->domains[0],
        .ntls_domains = 2, .tls_domains = f->domains,
        .public_host = (char *)"proxy.example.net", .public_port = 8443,
        .listen_ipv4 = (char *)"0.0.0.0", .listen_ipv6 = (char *)"",
        .admin_token = (char *)"", .admin_listen = (char *)"",
        .unique_ips_window = 300,
    };
    /* Slots out of config order, so the order must come from user_slot. */
    f->slots[1] = stats_user_slot(r, name1);
    f->slots[0] = stats_user_slot(r, name0);
    f->ctx = (struct admin_ctx){
        .cfg = &f->cfg, .stats = r, .user_slot = f->slots, .death_fd = -1,
    };

    STATS_ADD(r, conn_accepted, 7);
    STATS_ADD(r, conn_refused_limit, 1);
    STATS_ADD(r, conn_refused_thread, 2);
    STATS_ADD(r, dc_connect_ok, 5);
    STATS_ADD(r, dc_connect_fail, 1);
    STATS_ADD(r, bytes_client_to_dc, 300108);
    STATS_ADD(r, bytes_dc_to_client, 100024);
    STATS_ADD(r, mask_relayed, 4);
    STATS_ADD(r, mask_connect_fail, 3);
    STATS_HS(r, ok_classic);
    STATS_HS(r, ok_classic);
    STATS_HS(r, ok_classic);
    STATS_HS(r, ok_secure);
    STATS_HS(r, ok_secure);
    STATS_HS(r, bad_secret);
    STATS_HS(r, error);

    /*
     * Slots: 0 runs us (alive), 1 has no worker (respawn pending), 2 a
     * worker whose pid is gone.  Row 3 is slot 0's worker of an older
     * generation, draining; row 4 a row being claimed (not shown).
     */
    atomic_store(&r->nworkers, 3);
    set_row(r, 0, (int32_t)getpid(), 0, STATS_WORKER_RUNNING, 3, NOW - 50,
        2, 6);
    set_row(r, 1, DEAD_PID, 2, STATS_WORKER_RUNNING, 3, NOW - 10, 1, 0);
    set_row(r, 3, (int32_t)getppid(), 0, STATS_WORKER_DRAINING, 2,
        NOW - 90, 4, 9);
    set_row(r, 4, (int32_t)getpid(), 1, STATS_WORKER_EMPTY, 3, NOW, 0, 0);
    atomic_store(&r->slot_restarts[0], 1);
    atomic_store(&r->slot_restarts[1], 2);

    atomic_store(&r->users[f->slots[0]].connections, 3);
    atomic_store(&r->users[f->slots[0]].bytes_client_to_dc, 300108);
    atomic_store(&r->users[f->slots[0]].bytes_dc_to_client, 24);
    atomic_store(&r->users[f->slots[0]].last_seen, NOW - 5);
    atomic_store(&r->users[f->slots[0]].quota_used, 600);
    atomic_store(&r->users[f->slots[0]].quota_period, NOW - 50);
    atomic_store(&r->users[f->slots[0]].refused[STATS_UR_quota], 1);
    atomic_store(&r->users[f->slots[0]].refused[STATS_UR_conns], 2);
    atomic_store(&r->user_active[0][f->slots[0]], 2);
    atomic_store(&r->user_active[3][f->slots[0]], 1);
    a.sin_addr.s_addr = htonl(0x7f000001);
    stats_ip_seen(r, f->slots[0], stats_ip_hash((struct sockaddr *)&a),
        NOW - 10, 300);
    a.sin_addr.s_addr = htonl(0x0a000001);
    stats_ip_seen(r, f->slots[0], stats_ip_hash((struct sockaddr *)&a),
        NOW - 20, 300);
    a.sin_addr.s_addr = htonl(0x0a000002);
    stats_ip_seen(r, f->slots[0], stats_ip_hash((struct sockaddr *)&a),
        NOW - 1000, 300);
    atomic_store(&r->users[f->slots[1]].connections, 2);
    atomic_store(&r->users[f->slots[1]].bytes_client_to_dc, 74);
    atomic_store(&r->users[f->slots[1]].bytes_dc_to_client, 100000);

    atomic_store(&r->dcs[dc2].connections, 4);
    atomic_store(&r->dcs[dc2].connect_us_sum, 6000);
    atomic_store(&r->dcs[dcm2].connections, 1);
    atomic_store(&r->dcs[dcm2].connect_us_sum, 500);
    atomic_store(&r->dcs[other].connect_failures, 1);

    stats_observe(r, STATS_HIST_handshake_seconds, 500);
    stats_observe(r, STATS_HIST_handshake_seconds, 1000);
    stats_observe(r, STATS_HIST_handshake_seconds, 3000);
    stats_observe(r, STATS_HIST_handshake_seconds, 20000000);
    stats_observe(r, STATS_HIST_dc_connect_seconds, 1500);

    ck_assert_int_eq(replay_check_insert(stats_replay(r), fp, 100), 0);
    fp[0] = 2;
    ck_assert_int_eq(replay_check_insert(stats_replay(r), fp, 100), 0);
    atomic_store(&r->tls_cert_len, 3917);
    atomic_store(&r->tls_profile_at, NOW - 30);
}

static void
fixture_free(struct fixture *f)
{
    stats_destroy(f->r);
}

/* Assert that text contains needle, printing the text if not. */
#define ck_assert_has(text, needle) \
    ck_assert_msg(strstr((text), (needle)) != NULL, \
        "missing: %s\n---- in:\n%s", (needle), (text))

/* Pipe text to a command; its exit status, or -1 if it cannot run. */
static int
pipe_to(const char *prog, const char *cmd, const char *text)
{
    FILE *p;
    int st;

    if (access(prog, X_OK) != 0)
        return -1;
    p = popen(cmd, "w");
    if (p == NULL)
        return -1;
    fputs(text, p);
    st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* The JSON must parse (when python3 is there to say so). */
static void
check_json_parses(const char *text)
{
    int rc = pipe_to("/usr/bin/python3", "/usr/bin/python3 -c "
        "'import json,sys; json.load(sys.stdin)'", text);

    ck_assert_msg(rc == -1 || rc == 0, "python3 rejects the JSON (%d):\n%s",
        rc, text);
}

START_TEST(test_abuf)
{
    struct abuf b;
    char big[300];

    abuf_init(&b);
    abuf_json_str(&b, "a\"b\\c\nd\te\x01<&>\x7f\xc3\xa9");
    ck_assert_str_eq(b.p, "\"a\\\"b\\\\c\\nd\\te\\u0001\\u003c\\u0026"
        "\\u003e\\u007f\xc3\xa9\"");
    abuf_free(&b);
    ck_assert_ptr_null(b.p);

    /* Growth across many appends, and one printf larger than a step. */
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (int i = 0; i < 1000; i++)
        abuf_printf(&b, "%s%d", big, i);
    ck_assert_int_eq(b.failed, 0);
    ck_assert_uint_eq(b.len, 1000 * 299 + 10 + 90 * 2 + 900 * 3);
    ck_assert_uint_eq(strlen(b.p), b.len);
    ck_assert_int_eq(memcmp(b.p + b.len - 302, big, 299), 0);
    ck_assert_str_eq(b.p + b.len - 3, "999");
    abuf_free(&b);
}
END_TEST

START_TEST(test_stats_json)
{
    struct fixture f;
    struct admin_snap *s;
    char want[1024];
    struct admin_sample h[2] = {
        { NOW - 2, 1, 6, 1000, 2000 }, { NOW, 3, 7, 300108, 100024 },
    };
    struct abuf b;

    fixture_init(&f, "alice", "bob");
    s = admin_snap_take(&f.ctx, NOW, NOW_MS);
    ck_assert_ptr_nonnull(s);
    abuf_init(&b);
    render_json_stats(&b, s, h, 2);
    ck_assert_int_eq(b.failed, 0);
    ck_assert_has(b.p, "{\"version\":\"" TELEMT_VERSION "\",\"now\":"
        "1700000000,\"start_time\":1699999900,\"uptime_seconds\":100,"
        "\"generation\":3,");
    ck_assert_has(b.p, "\"connections\":{\"active\":7,\"accepted\":7,"
        "\"refused_limit\":1,\"refused_thread\":2}");
    ck_assert_has(b.p, "\"traffic\":{\"client_to_dc_bytes\":300108,"
        "\"dc_to_client_bytes\":100024}");
    ck_assert_has(b.p, "\"handshakes\":{\"ok_classic\":3,\"ok_secure\":2,"
        "\"ok_tls\":0,\"bad_secret\":1,");
    ck_assert_has(b.p, "\"error\":1,\"sni_drop\":0,\"sni_reject\":0,"
        "\"evicted\":0,\"evicted_addr\":0}");
    ck_assert_has(b.p, "\"masking\":{\"relayed\":4,\"connect_failures\":3}");
    ck_assert_has(b.p, "\"counters\":{\"conn_accepted\":7,"
        "\"conn_refused_limit\":1,\"conn_refused_thread\":2,"
        "\"dc_connect_ok\":5,\"dc_connect_fail\":1,"
        "\"bytes_client_to_dc\":300108,\"bytes_dc_to_client\":100024,"
        "\"mask_relayed\":4,\"mask_connect_fail\":3,");
    ck_assert_has(b.p, "\"conn_handed_out\":0,\"conn_handed_in\":0,"
        "\"conn_handoff_failed\":0,\"me_clients\":0,");
    ck_assert_has(b.p, "\"me_inputs_rejected\":0,");
    ck_assert_has(b.p, "\"dc_probes_failed\":0,"
        "\"user_disabled\":0,\"user_expired\":0,"
        "\"user_quota\":0,\"user_conns\":0,\"user_ips\":0,"
        "\"conn_active\":7}");
#define NO_ME ",\"me_up\":0,\"me_opened\":0,\"me_closed\":0,\"me_failed\":0}"
    ck_assert_has(b.p, "\"dcs\":[{\"dc\":2,\"connections\":4,"
        "\"connect_failures\":0,\"connect_ms_avg\":1.500" NO_ME ",{\"dc\":-2,"
        "\"connections\":1,\"connect_failures\":0,\"connect_ms_avg\":0.500"
        NO_ME ",{\"dc\":0,\"connections\":0,\"connect_failures\":1,"
        "\"connect_ms_avg\":0.000" NO_ME "]");
#undef NO_ME
    /* Config order, though bob took the first slot. */
    ck_assert_has(b.p, "\"users\":[{\"name\":\"alice\",\"active\":3,"
        "\"connections\":3,\"bytes_client_to_dc\":300108,"
        "\"bytes_dc_to_client\":24,\"last_seen\":1699999995,"
        "\"unique_ips_recent\":2,\"enabled\":true,\"max_tcp_conns\":20,"
        "\"max_unique_ips\":0,\"data_quota_bytes\":1000,"
        "\"quota_reset_day\":1,\"expiration\":\"2023-11-14T22:15:00Z\","
        "\"rate_limit_up_bps\":0,\"rate_limit_down_bps\":0,"
        "\"ad_tag\":null,\"quota_used_bytes\":600,\"quota_period_start\":1699999950,"
        "\"refused\":{\"disabled\":0,\"expired\":0,\"quota\":1,"
        "\"conns\":2,\"ips\":0}},{\"name\":\"bob\",\"active\":0,"
        "\"connections\":2,\"bytes_client_to_dc\":74,"
        "\"bytes_dc_to_client\":100000,\"last_seen\":null,"
        "\"unique_ips_recent\":0,\"enabled\":true,\"max_tcp_conns\":0,"
        "\"max_unique_ips\":0,\"data_quota_bytes\":0,"
        "\"quota_reset_day\":0,\"expiration\":null,"
        "\"rate_limit_up_bps\":0,\"rate_limit_down_bps\":0,"
        "\"ad_tag\":null,\"quota_used_bytes\":0,\"quota_period_start\":null,"
        "\"refused\":{\"disabled\":0,\"expired\":0,\"quota\":0,"
        "\"conns\":0,\"ips\":0}}]");
    snprintf(want, sizeof(want), "\"workers\":[{\"slot\":0,\"pid\":%d,"
        "\"state\":\"running\",\"started_at\":1699999950,\"active\":2,"
        "\"total\":6,\"restarts\":1,\"generation\":3,\"up\":true},"
        "{\"slot\":1,\"pid\":0,\"state\":\"dead\",\"started_at\":0,"
        "\"active\":0,\"total\":0,\"restarts\":2,\"generation\":0,"
        "\"up\":false},{\"slot\":2,\"pid\":2147483000,\"state\":"
        "\"running\",\"started_at\":1699999990,\"active\":1,\"total\":0,"
        "\"restarts\":0,\"generation\":3,\"up\":false}],"
        "\"workers_expected\":3,\"workers_up\":1,\"draining\":[{\"slot\":0,"
        "\"pid\":%d,\"generation\":2,\"started_at\":1699999910,"
        "\"active\":4,\"total\":9}],", (int)getpid(), (int)getppid());
    ck_assert_has(b.p, want);
    ck_assert_has(b.p, "\"handshake_seconds\":{\"buckets\":[{\"le\":0.001,"
        "\"count\":2},{\"le\":0.0025,\"count\":2},{\"le\":0.005,"
        "\"count\":3},{\"le\":0.01,\"count\":3},");
    ck_assert_has(b.p, "{\"le\":10,\"count\":3},{\"le\":\"+Inf\","
        "\"count\":4}],\"sum\":20.004500,\"count\":4}");
    ck_assert_has(b.p, "\"dc_connect_seconds\":{\"buckets\":[{\"le\":0.001,"
        "\"count\":0},{\"le\":0.0025,\"count\":1},");
    ck_assert_has(b.p, "\"tls_profile\":{\"cert_len\":3917,"
        "\"learnt_at\":1699999970},\"replay_entries\":2,");
    ck_assert_has(b.p, "\"history\":[{\"t\":1699999998,\"active\":1,"
        "\"accepted\":6,\"client_to_dc_bytes\":1000,"
        "\"dc_to_client_bytes\":2000},{\"t\":1700000000,\"active\":3,"
        "\"accepted\":7,\"client_to_dc_bytes\":300108,"
        "\"dc_to_client_bytes\":100024}]}\n");
    check_json_parses(b.p);
    abuf_free(&b);

    /* Nothing learnt, no history: nulls and an empty array. */
    s->tls_cert_len = 0;
    s->tls_profile_at = 0;
    render_json_stats(&b, s, NULL, 0);
    ck_assert_has(b.p, "\"tls_profile\":{\"cert_len\":null,"
        "\"learnt_at\":null}");
    ck_assert_has(b.p, "\"history\":[]}");
    check_json_parses(b.p);
    abuf_free(&b);
    admin_snap_free(s);
    fixture_free(&f);
}
END_TEST

START_TEST(test_users_json)
{
    struct fixture f;
    struct admin_snap *s;
    struct abuf b;

    fixture_init(&f, "alice", "bob");
    s = admin_snap_take(&f.ctx, NOW, NOW_MS);
    abuf_init(&b);
    render_json_users(&b, s, 1);
    ck_assert_int_eq(b.failed, 0);
    ck_assert_has(b.p, "{\"users\":[{\"name\":\"alice\",\"active\":3,");
    ck_assert_has(b.p, "\"conns\":2,\"ips\":0},\"secret\":"
        "\"00112233445566778899aabbccddeeff\",\"links\":[{\"mode\":"
        "\"classic\",\"tg\":\"tg://proxy?server=proxy.example.net&port=8443"
        "&secret=00112233445566778899aabbccddeeff\",\"tme\":\"https://t.me/"
        "proxy?server=proxy.example.net&port=8443&secret="
        "00112233445566778899aabbccddeeff\"},{\"mode\":\"secure\",\"tg\":"
        "\"tg://proxy?server=proxy.example.net&port=8443&secret="
        "dd00112233445566778899aabbccddeeff\",");
    ck_assert_has(b.p, "{\"mode\":\"tls\",\"domain\":\"www.example.com\","
        "\"tg\":\"tg://proxy?server=proxy.example.net&port=8443&secret="
        "ee00112233445566778899aabbccddeeff7777772e6578616d706c652e636f6d\"");
    ck_assert_has(b.p, "{\"mode\":\"tls\",\"domain\":\"cdn.example.org\","
        "\"tg\":\"tg://proxy?server=proxy.example.net&port=8443&secret="
        "ee00112233445566778899aabbccddeeff63646e2e6578616d706c652e6f7267\","
        "\"tme\":\"https://t.me/proxy?server=proxy.example.net&port=8443"
        "&secret=ee00112233445566778899aabbccddeeff63646e2e6578616d706c652e"
        "6f7267\"}]},{\"name\":\"bob\"");
    ck_assert_ptr_null(strstr(b.p, "links_error"));
    check_json_parses(b.p);
    abuf_free(&b);

    /* The listen address when not a wildcard, URL-encoded. */
    f.cfg.public_host = (char *)"";
    f.cfg.listen_ipv4 = (char *)"";
    f.cfg.listen_ipv6 = (char *)"2001:db8::1";
    f.cfg.mode_classic = f.cfg.mode_tls = false;
    render_json_users(&b, s, 1);
    ck_assert_has(b.p, "\"links\":[{\"mode\":\"secure\",\"tg\":"
        "\"tg://proxy?server=2001%3Adb8%3A%3A1&port=8443&secret="
        "dd00112233445566778899aabbccddeeff\",");
    check_json_parses(b.p);
    abuf_free(&b);

    /* No host at all. */
    f.cfg.listen_ipv4 = (char *)"0.0.0.0";
    f.cfg.listen_ipv6 = (char *)"::";
    render_json_users(&b, s, 1);
    ck_assert_has(b.p, "\"ips\":0},\"secret\":"
        "\"00112233445566778899aabbccddeeff\",\"links\":[],"
        "\"links_error\":\"set public_host\"},{\"name\":\"bob\"");
    check_json_parses(b.p);
    abuf_free(&b);

    /* Without a token: no links, no secret, and a word on why. */
    f.cfg.public_host = (char *)"proxy.example.net";
    render_json_users(&b, s, 0);
    ck_assert_has(b.p, "{\"links_omitted\":\"" RENDER_JSON_LINKS_OMITTED
        "\",\"users\":[{\"name\":\"alice\",");
    ck_assert_has(b.p, "\"ips\":0}},{\"name\":\"bob\"");
    ck_assert_ptr_null(strstr(b.p, "\"links\""));
    ck_assert_ptr_null(strstr(b.p, "secret="));
    ck_assert_ptr_null(strstr(b.p, "00112233445566778899aabbccddeeff"));
    ck_assert_ptr_null(strstr(b.p, "fedcba9876543210fedcba9876543210"));
    check_json_parses(b.p);
    abuf_free(&b);
    admin_snap_free(s);
    fixture_free(&f);
}
END_TEST

START_TEST(test_workers_health_json)
{
    struct fixture f;
    struct admin_snap *s;
    struct abuf b;

    fixture_init(&f, "alice", "bob");
    s = admin_snap_take(&f.ctx, NOW, NOW_MS);
    abuf_init(&b);
    render_json_workers(&b, s);
    ck_assert_has(b.p, "{\"workers\":[{\"slot\":0,");
    ck_assert_has(b.p, "],\"workers_expected\":3,\"workers_up\":1,"
        "\"draining\":[{\"slot\":0,");
    ck_assert_has(b.p, "\"active\":4,\"total\":9}]}\n");
    check_json_parses(b.p);
    abuf_free(&b);
    ck_assert_int_eq(admin_snap_healthy(s), 0);
    render_json_health(&b, s);
    ck_assert_str_eq(b.p, "{\"status\":\"degraded\",\"workers_up\":1,"
        "\"workers_expected\":3}\n");
    abuf_free(&b);
    admin_snap_free(s);

    /* Every slot running with a live pid: healthy. */
    atomic_store(&f.r->nworkers, 1);
    s = admin_snap_take(&f.ctx, NOW, NOW_MS);
    ck_assert_int_eq(admin_snap_healthy(s), 1);
    render_json_health(&b, s);
    ck_assert_str_eq(b.p, "{\"status\":\"ok\",\"workers_up\":1,"
        "\"workers_expected\":1}\n");
    abuf_free(&b);
    admin_snap_free(s);

    /* A heartbeat just under the bound is fine; at it, the worker is
     * stale (alive, accepting nobody) and named. */
    atomic_store(&f.r->workers[0].heartbeat_ms,
        NOW_MS - STATS_HEARTBEAT_STALE_MS + 1);
    s = admin_snap_take(&f.ctx, NOW, NOW_MS);
    ck_assert_int_eq(admin_snap_healthy(s), 1);
    admin_snap_free(s);
    atomic_store(&f.r->workers[0].heartbeat_ms,
        NOW_MS - STATS_HEARTBEAT_STALE_MS);
    s = admin_snap_take(&f.ctx, NOW, NOW_MS);
    ck_assert_int_eq(admin_snap_healthy(s), 0);
    render_json_health(&b, s);
    {
        char want[200];

        snprintf(want, sizeof(want), "{\"status\":\"degraded\","
            "\"workers_up\":1,\"workers_expected\":1,\"stale_workers\":"
            "[{\"slot\":0,\"pid\":%d,\"heartbeat_age_ms\":%d}]}\n",
            (int)getpid(), STATS_HEARTBEAT_STALE_MS);
        ck_assert_str_eq(b.p, want);
    }
    abuf_free(&b);
    admin_snap_free(s);
    fixture_free(&f);
}
END_TEST

START_TEST(test_json_escaped_names)
{
    struct fixture f;
    struct admin_snap *s;
    struct abuf b;

    fixture_init(&f, "we\"ird\\na\nme", "bob");
    s = admin_snap_take(&f.ctx, NOW, NOW_MS);
    abuf_init(&b);
    render_json_stats(&b, s, NULL, 0);
    ck_assert_has(b.p, "{\"name\":\"we\\\"ird\\\\na\\nme\",");
    check_json_parses(b.p);
    abuf_free(&b);
    render_prom(&b, s);
    ck_assert_has(b.p, "telemt_user_connections_total"
        "{user=\"we\\\"ird\\\\na\\nme\"} 3\n");
    abuf_free(&b);
    admin_snap_free(s);
    fixture_free(&f);
}
END_TEST

START_TEST(test_prom)
{
    static const char *const lines[] = {
        "# HELP telemt_build_info ",
        "# TYPE telemt_build_info gauge\n",
        "telemt_build_info{version=\"" TELEMT_VERSION "\"} 1\n",
        "telemt_uptime_seconds 100\n",
        "telemt_start_time_seconds 1699999900\n",
        "telemt_config_generation 3\n",
        "# TYPE telemt_connections_accepted_total counter\n"
        "telemt_connections_accepted_total 7\n",
        "# TYPE telemt_connections_refused_total counter\n"
        "telemt_connections_refused_total{reason=\"limit\"} 1\n"
        "telemt_connections_refused_total{reason=\"thread\"} 2\n",
        "# TYPE telemt_connections_active gauge\n"
        "telemt_connections_active 7\n",
        "# TYPE telemt_traffic_bytes_total counter\n"
        "telemt_traffic_bytes_total{direction=\"client_to_dc\"} 300108\n"
        "telemt_traffic_bytes_total{direction=\"dc_to_client\"} 100024\n",
        "telemt_mask_relayed_total 4\n",
        "telemt_mask_connect_failures_total 3\n",
        "# TYPE telemt_handshakes_total counter\n"
        "telemt_handshakes_total{reason=\"ok_classic\"} 3\n"
        "telemt_handshakes_total{reason=\"ok_secure\"} 2\n"
        "telemt_handshakes_total{reason=\"ok_tls\"} 0\n"
        "telemt_handshakes_total{reason=\"bad_secret\"} 1\n",
        "telemt_handshakes_total{reason=\"error\"} 1\n",
        "# TYPE telemt_dc_connections_total counter\n"
        "telemt_dc_connections_total{dc=\"2\"} 4\n"
        "telemt_dc_connections_total{dc=\"-2\"} 1\n"
        "telemt_dc_connections_total{dc=\"0\"} 0\n",
        "telemt_dc_connect_failures_total{dc=\"0\"} 1\n",
        "telemt_dc_connect_time_seconds_total{dc=\"2\"} 0.006000\n",
        "# TYPE telemt_user_connections_active gauge\n"
        "telemt_user_connections_active{user=\"alice\"} 3\n"
        "telemt_user_connections_active{user=\"bob\"} 0\n",
        "# TYPE telemt_user_connections_total counter\n"
        "telemt_user_connections_total{user=\"alice\"} 3\n"
        "telemt_user_connections_total{user=\"bob\"} 2\n",
        "# TYPE telemt_user_bytes_total counter\n"
        "telemt_user_bytes_total{user=\"alice\",direction=\"client_to_dc\"}"
        " 300108\n"
        "telemt_user_bytes_total{user=\"bob\",direction=\"client_to_dc\"}"
        " 74\n"
        "telemt_user_bytes_total{user=\"alice\",direction=\"dc_to_client\"}"
        " 24\n"
        "telemt_user_bytes_total{user=\"bob\",direction=\"dc_to_client\"}"
        " 100000\n",
        "telemt_user_unique_ips{user=\"alice\"} 2\n",
        "telemt_user_last_seen_timestamp_seconds{user=\"alice\"} "
        "1699999995\n",
        "telemt_worker_up{worker=\"0\"} 1\n"
        "telemt_worker_up{worker=\"1\"} 0\n"
        "telemt_worker_up{worker=\"2\"} 0\n",
        "telemt_worker_connections_active{worker=\"0\"} 2\n",
        "telemt_worker_connections_total{worker=\"0\"} 6\n",
        "telemt_workers_expected 3\n",
        "telemt_workers_draining 1\n",
        "telemt_draining_connections_active 4\n",
        "telemt_worker_restarts_total{worker=\"0\"} 1\n"
        "telemt_worker_restarts_total{worker=\"1\"} 2\n"
        "telemt_worker_restarts_total{worker=\"2\"} 0\n",
        "telemt_tls_profile_cert_bytes 3917\n",
        "telemt_replay_entries 2\n",
        "# TYPE telemt_handshake_seconds histogram\n"
        "telemt_handshake_seconds_bucket{le=\"0.001\"} 2\n"
        "telemt_handshake_seconds_bucket{le=\"0.0025\"} 2\n"
        "telemt_handshake_seconds_bucket{le=\"0.005\"} 3\n"
        "telemt_handshake_seconds_bucket{le=\"0.01\"} 3\n"
        "telemt_handshake_seconds_bucket{le=\"0.025\"} 3\n"
        "telemt_handshake_seconds_bucket{le=\"0.05\"} 3\n"
        "telemt_handshake_seconds_bucket{le=\"0.1\"} 3\n"
        "telemt_handshake_seconds_bucket{le=\"0.25\"} 3\n"
        "telemt_handshake_seconds_bucket{le=\"0.5\"} 3\n"
        "telemt_handshake_seconds_bucket{le=\"1\"} 3\n"
        "telemt_handshake_seconds_bucket{le=\"2.5\"} 3\n"
        "telemt_handshake_seconds_bucket{le=\"5\"} 3\n"
        "telemt_handshake_seconds_bucket{le=\"10\"} 3\n"
        "telemt_handshake_seconds_bucket{le=\"+Inf\"} 4\n"
        "telemt_handshake_seconds_sum 20.004500\n"
        "telemt_handshake_seconds_count 4\n",
        "# TYPE telemt_dc_connect_seconds histogram\n"
        "telemt_dc_connect_seconds_bucket{le=\"0.001\"} 0\n"
        "telemt_dc_connect_seconds_bucket{le=\"0.0025\"} 1\n",
        "telemt_dc_connect_seconds_bucket{le=\"+Inf\"} 1\n"
        "telemt_dc_connect_seconds_sum 0.001500\n"
        "telemt_dc_connect_seconds_count 1\n",
    };
    struct fixture f;
    struct admin_snap *s;
    struct abuf b;
    int rc;

    fixture_init(&f, "alice", "bob");
    s = admin_snap_take(&f.ctx, NOW, NOW_MS);
    abuf_init(&b);
    render_prom(&b, s);
    ck_assert_int_eq(b.failed, 0);
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        ck_assert_has(b.p, lines[i]);
    /* The sums of the per-DC families are not exported twice. */
    ck_assert_ptr_null(strstr(b.p, "telemt_dc_connect_ok"));
    ck_assert_ptr_null(strstr(b.p, "telemt_dc_connect_fail_"));
    /* Every family has exactly one HELP and one TYPE, and they come first. */
    for (const char *p = b.p; *p != '\0';) {
        const char *nl = strchr(p, '\n');

        ck_assert_ptr_nonnull(nl);
        if (strncmp(p, "# HELP ", 7) == 0) {
            char name[128], type[160];
            size_t n = strcspn(p + 7, " ");

            ck_assert_uint_lt(n, sizeof(name));
            memcpy(name, p + 7, n);
            name[n] = '\0';
            snprintf(type, sizeof(type), "# TYPE %s ", name);
            ck_assert_int_eq(strncmp(nl + 1, type, strlen(type)), 0);
            snprintf(type, sizeof(type), "\n# TYPE %s ", name);
            ck_assert_msg(strstr(nl + 1, type) == NULL, "TYPE twice: %s",
                name);
            snprintf(type, sizeof(type), "\n# HELP %s ", name);
            ck_assert_msg(strstr(nl, type) == NULL, "HELP twice: %s",
                name);
        }
        p = nl + 1;
    }
    rc = pipe_to("/usr/bin/promtool", "/usr/bin/promtool check metrics "
        ">&2", b.p);
    ck_assert_msg(rc == -1 || rc == 0, "promtool check metrics: %d", rc);
    abuf_free(&b);
    admin_snap_free(s);
    fixture_free(&f);
}
END_TEST

Suite *admin_render_suite(void);

Suite *
admin_render_suite(void)
{
    Suite *s = suite_create("admin_render");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_abuf);
    tcase_add_test(tc, test_stats_json);
    tcase_add_test(tc, test_users_json);
    tcase_add_test(tc, test_workers_health_json);
    tcase_add_test(tc, test_json_escaped_names);
    tcase_add_test(tc, test_prom);
    suite_add_tcase(s, tc);
    return s;
}
