/*
 * test_config.c - Check suite for common/config.c.
 *
 * Loads the configs in tests/data/good and checks every field, and loads
 * each tests/data/bad/NAME.conf, expecting exactly the one-line message in
 * NAME.err; the bad directory is listed at suite build time, so a new pair
 * of files is a new test.  Edge cases are written to temporary files.
 * Runs with the repository root as the working directory.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "config.h"
#include "log.h"

#define BAD_DIR     "tests/data/bad"
#define GOOD_DIR    "tests/data/good"

Suite *config_suite(void);

/* Names (without ".conf") of the bad configs; filled by config_suite(). */
static char **bad_names;
static int nbad;

static const uint8_t alice_secret[SECRET_LEN] = {
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef
};

/* Read the first line of path, without its newline, into buf. */
static void
read_line(const char *path, char *buf, size_t len)
{
    FILE *fp = fopen(path, "r");

    ck_assert_msg(fp != NULL, "cannot open %s", path);
    if (fgets(buf, (int)len, fp) == NULL)
        buf[0] = '\0';
    fclose(fp);
    buf[strcspn(buf, "\n")] = '\0';
}

/*
 * Write text to a fresh temporary file and load it.  The file's name is
 * left in path (at least 64 bytes) so messages can be compared.
 */
static struct config *
load_text(const char *text, char *path, char *err, size_t errlen)
{
    struct config *cfg;
    FILE *fp;
    int fd;

    strcpy(path, "/tmp/test_config_XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ne(fd, -1);
    fp = fdopen(fd, "w");
    ck_assert_ptr_nonnull(fp);
    fputs(text, fp);
    fclose(fp);
    cfg = config_load(path, err, errlen);
    unlink(path);
    return cfg;
}

/* Load text that must fail; compare the message after "PATH:". */
static void
expect_error(const char *text, const char *want)
{
    char path[64], err[CONFIG_ERR_LEN], full[CONFIG_ERR_LEN + 64];
    struct config *cfg = load_text(text, path, err, sizeof(err));

    if (cfg != NULL)
        config_free(cfg);
    ck_assert_msg(cfg == NULL, "loaded but should fail: %s", text);
    snprintf(full, sizeof(full), "%s:%s", path, want);
    ck_assert_str_eq(err, full);
}

/* Load text that must succeed. */
static struct config *
expect_ok(const char *text)
{
    char path[64], err[CONFIG_ERR_LEN];
    struct config *cfg = load_text(text, path, err, sizeof(err));

    ck_assert_msg(cfg != NULL, "should load: %s", err);
    return cfg;
}

#define USERS1  "users = { alice = \"0123456789abcdef0123456789abcdef\"; };\n"
#define DOMAIN  "tls_domain = \"www.example.com\";\n"

START_TEST(test_bad)
{
    char conf[256], errpath[256], want[CONFIG_ERR_LEN], err[CONFIG_ERR_LEN];
    struct config *cfg;

    snprintf(conf, sizeof(conf), "%s/%s.conf", BAD_DIR, bad_names[_i]);
    snprintf(errpath, sizeof(errpath), "%s/%s.err", BAD_DIR, bad_names[_i]);
    read_line(errpath, want, sizeof(want));
    cfg = config_load(conf, err, sizeof(err));
    if (cfg != NULL)
        config_free(cfg);
    ck_assert_msg(cfg == NULL, "%s loaded but should fail", conf);
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_bad_count)
{
    /* Guards against running from the wrong directory and testing nothing. */
    ck_assert_int_ge(nbad, 14);
}
END_TEST

START_TEST(test_minimal)
{
    char err[CONFIG_ERR_LEN];
    struct config *cfg = config_load(GOOD_DIR "/minimal.conf", err,
        sizeof(err));
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_str_eq(cfg->path, GOOD_DIR "/minimal.conf");
    ck_assert_int_eq(cfg->port, 443);
    ck_assert_str_eq(cfg->listen_ipv4, "0.0.0.0");
    ck_assert_str_eq(cfg->listen_ipv6, "");
    ck_assert_int_eq(cfg->workers, ncpu < 1 ? 1 : ncpu > 64 ? 64 : ncpu);
    ck_assert_int_eq(cfg->max_connections, 10000);
    ck_assert_int_eq(cfg->thread_stack_size, 262144);
    ck_assert_int_eq(cfg->backlog, 4096);
    ck_assert_int_eq(cfg->nusers, 1);
    ck_assert_str_eq(cfg->users[0].name, "alice");
    ck_assert_mem_eq(cfg->users[0].secret, alice_secret, SECRET_LEN);
    ck_assert(!cfg->mode_classic);
    ck_assert(!cfg->mode_secure);
    ck_assert(cfg->mode_tls);
    ck_assert_str_eq(cfg->tls_domain, "www.example.com");
    ck_assert(cfg->mask);
    ck_assert_str_eq(cfg->mask_host, "www.example.com");
    ck_assert_int_eq(cfg->mask_port, 443);
    ck_assert(!cfg->prefer_ipv6);
    ck_assert(cfg->fast_mode);
    ck_assert_int_eq(cfg->client_keepalive, 60);
    ck_assert_int_eq(cfg->client_ack_timeout, 300);
    ck_assert_int_eq(cfg->handshake_timeout, 10);
    ck_assert_int_eq(cfg->dc_connect_timeout, 10);
    ck_assert_int_eq(cfg->dc_retry_after, 30);
    ck_assert_int_eq(cfg->dc_probe_interval, 0);
    ck_assert_int_eq(cfg->default_dc, 2);
    ck_assert_int_eq(cfg->ndc_overrides, 0);
    ck_assert_str_eq(cfg->public_host, "");
    ck_assert_int_eq(cfg->public_port, 443);
    ck_assert_int_eq(cfg->log_level, LOG_LVL_INFO);
    config_free(cfg);
}
END_TEST

START_TEST(test_full)
{
    static const uint8_t bob[SECRET_LEN] = {
        0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
        0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10
    };
    static const uint8_t carol[SECRET_LEN] = { [SECRET_LEN - 1] = 1 };
    char err[CONFIG_ERR_LEN];
    struct config *cfg = config_load(GOOD_DIR "/full.conf", err,
        sizeof(err));
    struct config_dc_override *o;

    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_int_eq(cfg->port, 8443);
    ck_assert_str_eq(cfg->listen_ipv4, "127.0.0.1");
    ck_assert_str_eq(cfg->listen_ipv6, "::1");
    ck_assert_int_eq(cfg->workers, 3);
    ck_assert_int_eq(cfg->max_connections, 500);
    ck_assert_int_eq(cfg->thread_stack_size, 131072);
    ck_assert_int_eq(cfg->backlog, 128);
    ck_assert_int_eq(cfg->nusers, 3);
    ck_assert_str_eq(cfg->users[0].name, "alice");
    ck_assert_mem_eq(cfg->users[0].secret, alice_secret, SECRET_LEN);
    ck_assert_str_eq(cfg->users[1].name, "bob");
    ck_assert_mem_eq(cfg->users[1].secret, bob, SECRET_LEN);
    ck_assert_str_eq(cfg->users[2].name, "carol_2-x");
    ck_assert_mem_eq(cfg->users[2].secret, carol, SECRET_LEN);
    ck_assert(cfg->mode_classic);
    ck_assert(cfg->mode_secure);
    ck_assert(!cfg->mode_tls);
    ck_assert_str_eq(cfg->tls_domain, "cdn.example.org");
    ck_assert(!cfg->mask);
    ck_assert_str_eq(cfg->mask_host, "mask.example.net");
    ck_assert_int_eq(cfg->mask_port, 8080);
    ck_assert(cfg->prefer_ipv6);
    ck_assert(!cfg->fast_mode);
    ck_assert_int_eq(cfg->client_keepalive, 0);
    ck_assert_int_eq(cfg->client_ack_timeout, 0);
    ck_assert_int_eq(cfg->handshake_timeout, 300);
    ck_assert_int_eq(cfg->dc_connect_timeout, 1);
    ck_assert_int_eq(cfg->dc_retry_after, 5);
    ck_assert_int_eq(cfg->dc_probe_interval, 60);
    ck_assert_int_eq(cfg->default_dc, 4);
    ck_assert_int_eq(cfg->ndc_overrides, 3);
    o = &cfg->dc_overrides[0];
    ck_assert_int_eq(o->dc, 2);
    ck_assert_int_eq(o->naddrs, 2);
    ck_assert_str_eq(o->addrs[0], "127.0.0.1:20001");
    ck_assert_str_eq(o->addrs[1], "dc2.example.com:443");
    o = &cfg->dc_overrides[1];
    ck_assert_int_eq(o->dc, -2);
    ck_assert_int_eq(o->naddrs, 1);
    ck_assert_str_eq(o->addrs[0], "10.0.0.2:8888");
    o = &cfg->dc_overrides[2];
    ck_assert_int_eq(o->dc, 203);
    ck_assert_int_eq(o->naddrs, 1);
    ck_assert_str_eq(o->addrs[0], "203.example.com:65535");
    ck_assert_str_eq(cfg->public_host, "proxy.example.com");
    ck_assert_int_eq(cfg->public_port, 443);
    ck_assert_int_eq(cfg->log_level, LOG_LVL_DEBUG);
    config_free(cfg);
}
END_TEST

START_TEST(test_dc_ipv6)
{
    char err[CONFIG_ERR_LEN];
    struct config *cfg = config_load(GOOD_DIR "/dc_ipv6.conf", err,
        sizeof(err));

    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_str_eq(cfg->listen_ipv4, "");
    ck_assert_str_eq(cfg->listen_ipv6, "::");
    ck_assert(!cfg->mode_classic);
    ck_assert(cfg->mode_secure);
    ck_assert(!cfg->mode_tls);
    /* No tls_domain is needed without modes.tls; mask_host follows it. */
    ck_assert_str_eq(cfg->tls_domain, "");
    ck_assert_str_eq(cfg->mask_host, "");
    ck_assert_int_eq(cfg->ndc_overrides, 2);
    ck_assert_int_eq(cfg->dc_overrides[0].dc, 2);
    ck_assert_int_eq(cfg->dc_overrides[0].naddrs, 3);
    ck_assert_str_eq(cfg->dc_overrides[0].addrs[0], "[2001:db8::1]:443");
    ck_assert_str_eq(cfg->dc_overrides[0].addrs[1], "127.0.0.1:20001");
    ck_assert_str_eq(cfg->dc_overrides[0].addrs[2], "[::1]:20001");
    ck_assert_int_eq(cfg->dc_overrides[1].dc, -4);
    ck_assert_int_eq(cfg->dc_overrides[1].naddrs, 1);
    ck_assert_str_eq(cfg->dc_overrides[1].addrs[0],
        "[::ffff:192.0.2.1]:8888");
    ck_assert_str_eq(cfg->public_host, "2001:db8::10");
    config_free(cfg);
}
END_TEST

START_TEST(test_upstreams)
{
    char err[CONFIG_ERR_LEN];
    struct config *cfg = config_load(GOOD_DIR "/upstreams.conf", err,
        sizeof(err));
    const struct config_upstream *u;

    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_str_eq(cfg->dc_bind_ipv4, "127.0.0.2");
    ck_assert_str_eq(cfg->dc_bind_ipv6, "::1");
    ck_assert_str_eq(cfg->dc_bind_interface, "lo");
    ck_assert_int_eq(cfg->nupstreams, 3);
    u = &cfg->upstreams[0];
    ck_assert_str_eq(u->address, "127.0.0.1:1080");
    ck_assert_int_eq(u->weight, 1);
    ck_assert_str_eq(u->username, "");
    ck_assert_str_eq(u->password, "");
    u = &cfg->upstreams[1];
    ck_assert_str_eq(u->address, "socks.example.net:1081");
    ck_assert_int_eq(u->weight, 1000);
    ck_assert_str_eq(u->username, "tm");
    ck_assert_str_eq(u->password, "p@ss word");
    u = &cfg->upstreams[2];
    ck_assert_str_eq(u->address, "[::1]:1082");
    ck_assert_int_eq(u->weight, 3);
    config_free(cfg);
    /* None: connect directly, from wherever the kernel picks. */
    cfg = config_load(GOOD_DIR "/dc_ipv6.conf", err, sizeof(err));
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_int_eq(cfg->nupstreams, 0);
    ck_assert_str_eq(cfg->dc_bind_interface, "");
    config_free(cfg);
}
END_TEST

START_TEST(test_not_found)
{
    char err[CONFIG_ERR_LEN];

    ck_assert_ptr_null(config_load("tests/data/no_such.conf", err,
        sizeof(err)));
    ck_assert_str_eq(err, "tests/data/no_such.conf: cannot read: "
        "No such file or directory");
}
END_TEST

START_TEST(test_free_null)
{
    config_free(NULL);
}
END_TEST

START_TEST(test_small_err_buffer)
{
    char err[8];

    memset(err, 'x', sizeof(err));
    ck_assert_ptr_null(config_load(BAD_DIR "/port_range.conf", err,
        sizeof(err)));
    ck_assert_str_eq(err, "tests/d");
    /* No buffer at all is allowed too. */
    ck_assert_ptr_null(config_load(BAD_DIR "/port_range.conf", NULL, 0));
}
END_TEST

START_TEST(test_int64_and_types)
{
    struct config *cfg;

    cfg = expect_ok(USERS1 DOMAIN "port = 8443L;\nworkers = 0x2;\n");
    ck_assert_int_eq(cfg->port, 8443);
    ck_assert_int_eq(cfg->workers, 2);
    config_free(cfg);
    expect_error(USERS1 DOMAIN "port = 70000000000L;\n",
        "3: port: 70000000000 is out of range 1..65535");
    expect_error(USERS1 DOMAIN "port = 443.0;\n",
        "3: port: expected an integer, got a float");
    expect_error(USERS1 DOMAIN "fast_mode = \"yes\";\n",
        "3: fast_mode: expected true or false, got a string");
    expect_error(USERS1 DOMAIN "tls_domain2 = 1;\n",
        "3: unknown key 'tls_domain2'");
    expect_error(USERS1 DOMAIN "modes = true;\n",
        "3: modes: expected a group, got a boolean");
    expect_error(USERS1 DOMAIN "public_host = 5;\n",
        "3: public_host: expected a string, got an integer");
    expect_error(USERS1 DOMAIN "workers = -1;\n",
        "3: workers: -1 is out of range 0..64");
    expect_error(USERS1 DOMAIN "users2 = { };\n",
        "3: unknown key 'users2'");
}
END_TEST

START_TEST(test_resolved)
{
    struct config *cfg;

    cfg = expect_ok(USERS1 DOMAIN "port = 8443;\nmask_host = \"10.1.2.3\";\n"
        "workers = 5;\nlog_level = \"WARN\";\n");
    ck_assert_int_eq(cfg->public_port, 8443);
    ck_assert_str_eq(cfg->mask_host, "10.1.2.3");
    ck_assert_int_eq(cfg->workers, 5);
    ck_assert_int_eq(cfg->log_level, LOG_LVL_WARN);
    config_free(cfg);
    cfg = expect_ok(USERS1 DOMAIN "port = 8443;\npublic_port = 1;\n");
    ck_assert_int_eq(cfg->public_port, 1);
    config_free(cfg);
}
END_TEST

/* Build a users group of n users with distinct secrets. */
static char *
users_text(int n)
{
    size_t len = 64 + (size_t)n * 64;
    char *s = malloc(len), *p = s;

    ck_assert_ptr_nonnull(s);
    p += sprintf(p, "%susers = {\n", DOMAIN);
    for (int i = 0; i < n; i++)
        p += sprintf(p, "u%d = \"%032x\";\n", i, (unsigned)i);
    strcpy(p, "};\n");
    return s;
}

START_TEST(test_user_limits)
{
    struct config *cfg;
    char *text, want[128];

    text = users_text(CONFIG_MAX_USERS);
    cfg = expect_ok(text);
    ck_assert_int_eq(cfg->nusers, CONFIG_MAX_USERS);
    ck_assert_str_eq(cfg->users[CONFIG_MAX_USERS - 1].name, "u4095");
    ck_assert_int_eq(cfg->users[CONFIG_MAX_USERS - 1].secret[15], 0xff);
    config_free(cfg);
    free(text);

    text = users_text(CONFIG_MAX_USERS + 1);
    snprintf(want, sizeof(want), "2: users: %d users, at most %d are "
        "allowed", CONFIG_MAX_USERS + 1, CONFIG_MAX_USERS);
    expect_error(text, want);
    free(text);

    expect_error(DOMAIN "users = { a*b = \"0123456789abcdef0123456789abcdef\";"
        " };\n", "2: users.a*b: user name must be a letter followed by "
        "letters, digits, '_' or '-'");
    expect_error(DOMAIN "users = { alice = 1; };\n",
        "2: users.alice: expected a string of 32 hex digits or a group "
        "{ secret = \"...\"; ... }, got an integer");
}
END_TEST

#define BOB_HEX     "fedcba9876543210fedcba9876543210"
#define ALICE_HEX   "0123456789abcdef0123456789abcdef"

/* 2027-03-01T00:00:00Z and 2028-02-29T23:59:59Z in unix seconds. */
#define T_2027_03_01    1803859200LL
#define T_2028_02_29    1835481599LL

/* Every field of the group form, and defaults from user_defaults. */
START_TEST(test_user_fields)
{
    struct config *cfg;
    const struct config_user *a, *b, *c;

    /* Without user_defaults: the CONFIG_USER_FIELDS defaults. */
    cfg = expect_ok(USERS1 DOMAIN);
    a = &cfg->users[0];
    ck_assert(a->enabled);
    ck_assert_int_eq(a->max_tcp_conns, 0);
    ck_assert_int_eq(a->max_unique_ips, 0);
    ck_assert_int_eq(a->data_quota_bytes, 0);
    ck_assert_int_eq(a->quota_reset_day, 0);
    ck_assert_int_eq(a->expiration, 0);
    ck_assert_int_eq(a->rate_limit_up_bps, 0);
    ck_assert_int_eq(a->rate_limit_down_bps, 0);
    ck_assert(cfg->user_defaults.enabled);
    ck_assert_int_eq(cfg->unique_ips_window, 300);
    ck_assert_str_eq(cfg->state_dir, "/var/lib/telemt");
    ck_assert_int_eq(cfg->quota_save_interval, 60);
    config_free(cfg);

    /* user_defaults after users still applies to them. */
    cfg = expect_ok(DOMAIN "users = {\n"
        "  alice = \"" ALICE_HEX "\";\n"
        "  bob = { secret = \"" BOB_HEX "\"; enabled = false;\n"
        "    max_tcp_conns = 20; max_unique_ips = 3;\n"
        "    data_quota_bytes = 53687091200L; quota_reset_day = 1;\n"
        "    expiration = \"2027-03-01T00:00:00Z\";\n"
        "    rate_limit_up_bps = 1048576; rate_limit_down_bps = 4194304; };\n"
        "  carol = { secret = \"000000000000000000000000000000ff\";\n"
        "    max_tcp_conns = 0; expiration = \"\"; };\n"
        "};\n"
        "user_defaults = { max_tcp_conns = 7; max_unique_ips = 2;\n"
        "  data_quota_bytes = 1000; quota_reset_day = 28;\n"
        "  expiration = \"2028-02-29T23:59:59Z\";\n"
        "  rate_limit_up_bps = 9223372036854775807L;\n"
        "  rate_limit_down_bps = 5; enabled = true; };\n"
        "unique_ips_window = 86400;\nstate_dir = \"/srv/telemt\";\n"
        "quota_save_interval = 1;\n");
    ck_assert_int_eq(cfg->nusers, 3);
    a = &cfg->users[0];
    b = &cfg->users[1];
    c = &cfg->users[2];
    /* The short form gets every default. */
    ck_assert_str_eq(a->name, "alice");
    ck_assert_mem_eq(a->secret, alice_secret, SECRET_LEN);
    ck_assert(a->enabled);
    ck_assert_int_eq(a->max_tcp_conns, 7);
    ck_assert_int_eq(a->max_unique_ips, 2);
    ck_assert_int_eq(a->data_quota_bytes, 1000);
    ck_assert_int_eq(a->quota_reset_day, 28);
    ck_assert_int_eq(a->expiration, T_2028_02_29);
    ck_assert_int_eq(a->rate_limit_up_bps, INT64_MAX);
    ck_assert_int_eq(a->rate_limit_down_bps, 5);
    /* The group form: every field its own. */
    ck_assert_str_eq(b->name, "bob");
    ck_assert_int_eq(b->secret[0], 0xfe);
    ck_assert_int_eq(b->secret[15], 0x10);
    ck_assert(!b->enabled);
    ck_assert_int_eq(b->max_tcp_conns, 20);
    ck_assert_int_eq(b->max_unique_ips, 3);
    ck_assert_int_eq(b->data_quota_bytes, 53687091200LL);
    ck_assert_int_eq(b->quota_reset_day, 1);
    ck_assert_int_eq(b->expiration, T_2027_03_01);
    ck_assert_int_eq(b->rate_limit_up_bps, 1048576);
    ck_assert_int_eq(b->rate_limit_down_bps, 4194304);
    /* An explicit 0 / "" wins over a default; the rest are defaults. */
    ck_assert_int_eq(c->secret[15], 0xff);
    ck_assert_int_eq(c->max_tcp_conns, 0);
    ck_assert_int_eq(c->expiration, 0);
    ck_assert_int_eq(c->max_unique_ips, 2);
    ck_assert_int_eq(c->data_quota_bytes, 1000);
    ck_assert_int_eq(cfg->user_defaults.max_tcp_conns, 7);
    ck_assert_ptr_null(cfg->user_defaults.name);
    ck_assert_int_eq(cfg->unique_ips_window, 86400);
    ck_assert_str_eq(cfg->state_dir, "/srv/telemt");
    ck_assert_int_eq(cfg->quota_save_interval, 1);
    config_free(cfg);

    /* A group with only the secret; the limits' upper bounds. */
    cfg = expect_ok(DOMAIN "users = { bob = { secret = \"" BOB_HEX "\"; "
        "max_tcp_conns = 1000000; max_unique_ips = 32; "
        "expiration = \"9999-12-31T23:59:59Z\"; }; };\n");
    ck_assert_int_eq(cfg->users[0].max_tcp_conns, 1000000);
    ck_assert_int_eq(cfg->users[0].max_unique_ips, 32);
    ck_assert_int_eq(cfg->users[0].expiration, 253402300799LL);
    config_free(cfg);
    cfg = expect_ok(DOMAIN "users = { bob = { secret = \"" BOB_HEX "\"; "
        "}; };\nuser_defaults = { };\n");
    ck_assert(cfg->users[0].enabled);
    config_free(cfg);
}
END_TEST

/* "DOMAIN users = { bob = { secret; <field> }; };" must fail at line 2. */
static void
expect_bob_error(const char *field, const char *want)
{
    char text[1024];

    snprintf(text, sizeof(text), DOMAIN "users = { bob = { secret = \""
        BOB_HEX "\"; %s }; };\n", field);
    expect_error(text, want);
}

START_TEST(test_user_field_errors)
{
    expect_bob_error("enabled = 1;",
        "2: users.bob.enabled: expected true or false, got an integer");
    expect_bob_error("max_tcp_conns = \"20\";",
        "2: users.bob.max_tcp_conns: expected an integer, got a string");
    expect_bob_error("max_tcp_conns = 1.5;",
        "2: users.bob.max_tcp_conns: expected an integer, got a float");
    expect_bob_error("max_tcp_conns = 1000001;",
        "2: users.bob.max_tcp_conns: 1000001 is out of range 0..1000000");
    expect_bob_error("max_unique_ips = -1;",
        "2: users.bob.max_unique_ips: -1 is out of range 0..32");
    expect_bob_error("quota_reset_day = 29;",
        "2: users.bob.quota_reset_day: 29 is out of range 0..28");
    expect_bob_error("data_quota_bytes = -5L;",
        "2: users.bob.data_quota_bytes: -5 is out of range "
        "0..9223372036854775807");
    expect_bob_error("rate_limit_up_bps = [ 1 ];",
        "2: users.bob.rate_limit_up_bps: expected an integer, got an array");
    expect_bob_error("max_conns = 5;",
        "2: unknown key 'users.bob.max_conns'");
    expect_bob_error("limits = { max_tcp_conns = 5; };",
        "2: unknown key 'users.bob.limits'");
    expect_bob_error("expiration = 1803859200;",
        "2: users.bob.expiration: expected a string "
        "\"YYYY-MM-DDTHH:MM:SSZ\", got an integer");
    expect_bob_error("expiration = \"2027-02-30T00:00:00Z\";",
        "2: users.bob.expiration: '2027-02-30T00:00:00Z' is not a valid "
        "date and time");
    expect_bob_error("expiration = \"2027-02-29T00:00:00Z\";",
        "2: users.bob.expiration: '2027-02-29T00:00:00Z' is not a valid "
        "date and time");
    expect_bob_error("expiration = \"2100-02-29T00:00:00Z\";",
        "2: users.bob.expiration: '2100-02-29T00:00:00Z' is not a valid "
        "date and time");
    expect_bob_error("expiration = \"2027-13-01T00:00:00Z\";",
        "2: users.bob.expiration: '2027-13-01T00:00:00Z' is not a valid "
        "date and time");
    expect_bob_error("expiration = \"2027-03-01T24:00:00Z\";",
        "2: users.bob.expiration: '2027-03-01T24:00:00Z' is not a valid "
        "date and time");
    expect_bob_error("expiration = \"2027-03-01T23:59:60Z\";",
        "2: users.bob.expiration: '2027-03-01T23:59:60Z' is not a valid "
        "date and time");
    expect_bob_error("expiration = \"2027-03-01 00:00:00\";",
        "2: users.bob.expiration: '2027-03-01 00:00:00' is not a UTC time "
        "YYYY-MM-DDTHH:MM:SSZ");
    expect_bob_error("expiration = \"2027-03-01T00:00:00+01:00\";",
        "2: users.bob.expiration: '2027-03-01T00:00:00+01:00' is not a "
        "UTC time YYYY-MM-DDTHH:MM:SSZ");
    expect_bob_error("expiration = \"2027-03-01t00:00:00z\";",
        "2: users.bob.expiration: '2027-03-01t00:00:00z' is not a UTC time "
        "YYYY-MM-DDTHH:MM:SSZ");
    expect_bob_error("expiration = \"2027-03-01T00:00:00.5Z\";",
        "2: users.bob.expiration: '2027-03-01T00:00:00.5Z' is not a UTC "
        "time YYYY-MM-DDTHH:MM:SSZ");
    expect_bob_error("expiration = \"1970-01-01T00:00:00Z\";",
        "2: users.bob.expiration: '1970-01-01T00:00:00Z' is not after "
        "1970-01-01T00:00:00Z");
    expect_bob_error("expiration = \"1969-12-31T23:59:59Z\";",
        "2: users.bob.expiration: '1969-12-31T23:59:59Z' is not after "
        "1970-01-01T00:00:00Z");
    expect_error(DOMAIN "users = { bob = { secret = 5; }; };\n",
        "2: users.bob.secret: expected a string of 32 hex digits, got an "
        "integer");

    expect_error(DOMAIN "users = { bob = { max_tcp_conns = 2; }; };\n",
        "2: users.bob: secret is missing");
    expect_error(DOMAIN "users = {\n bob = {\n  secret = \"abc\";\n }; };\n",
        "4: users.bob: secret must be 32 hex digits, not 3 characters");
    expect_error(DOMAIN "users = { bob = ( \"" BOB_HEX "\" ); };\n",
        "2: users.bob: expected a string of 32 hex digits or a group "
        "{ secret = \"...\"; ... }, got a list");
    expect_error(DOMAIN "users = { a = \"" BOB_HEX "\";\n"
        "b = { secret = \"" BOB_HEX "\"; }; };\n",
        "3: users.b: same secret as users.a (line 2); a secret must "
        "identify one user");

    /* user_defaults: the same checks, no secret, any place in the file. */
    expect_error(USERS1 DOMAIN "user_defaults = { secret = \"" ALICE_HEX
        "\"; };\n", "3: user_defaults.secret: a secret belongs to one "
        "user; set it in users");
    expect_error(USERS1 DOMAIN "user_defaults = { max_tcp = 1; };\n",
        "3: unknown key 'user_defaults.max_tcp'");
    expect_error(USERS1 DOMAIN "user_defaults = { enabled = \"no\"; };\n",
        "3: user_defaults.enabled: expected true or false, got a string");
    expect_error(USERS1 DOMAIN "user_defaults = { quota_reset_day = 31; };\n",
        "3: user_defaults.quota_reset_day: 31 is out of range 0..28");
    expect_error(USERS1 DOMAIN "user_defaults = 5;\n",
        "3: user_defaults: expected a group of per-user fields, got an "
        "integer");
    /* Parsed first: its error comes before an earlier line's. */
    expect_error(DOMAIN "port = 0;\n" USERS1 "user_defaults = { "
        "expiration = \"x\"; };\n", "4: user_defaults.expiration: 'x' is "
        "not a UTC time YYYY-MM-DDTHH:MM:SSZ");

    /* The plain keys beside them. */
    expect_error(USERS1 DOMAIN "unique_ips_window = 0;\n",
        "3: unique_ips_window: 0 is out of range 1..86400");
    expect_error(USERS1 DOMAIN "quota_save_interval = 3601;\n",
        "3: quota_save_interval: 3601 is out of range 1..3600");
    expect_error(USERS1 DOMAIN "state_dir = 5;\n",
        "3: state_dir: expected a string, got an integer");
    /* state_dir must be usable once some user has a quota. */
    expect_error(USERS1 DOMAIN "state_dir = \"\";\nuser_defaults = { "
        "data_quota_bytes = 1; };\n", "3: state_dir: '' is not an absolute "
        "path; users.alice has data_quota_bytes, whose usage is kept "
        "there");
    expect_error(DOMAIN "users = { bob = { secret = \"" BOB_HEX "\"; "
        "data_quota_bytes = 1; }; };\nstate_dir = \"var\";\n",
        "3: state_dir: 'var' is not an absolute path; users.bob has "
        "data_quota_bytes, whose usage is kept there");
    config_free(expect_ok(USERS1 DOMAIN "state_dir = \"\";\n"));
}
END_TEST

/* libconfig 1.5 wraps a wide literal without L; the loader refuses it. */
START_TEST(test_wide_int)
{
    struct config *cfg;

    expect_error(DOMAIN "users = { bob = { secret = \"" BOB_HEX "\";\n"
        "data_quota_bytes = 107374182400; }; };\n", "3: 107374182400 does "
        "not fit in 32 bits; write it as 107374182400L (libconfig would "
        "silently wrap it)");
    expect_error(USERS1 DOMAIN "workers = 0x100000000;\n", "3: 0x100000000 "
        "does not fit in 32 bits; write it as 0x100000000L (libconfig would "
        "silently wrap it)");
    expect_error(USERS1 DOMAIN "workers = -2147483649;\n", "3: -2147483649 "
        "does not fit in 32 bits; write it as -2147483649L (libconfig "
        "would silently wrap it)");
    /* Within 32 bits, with L, in strings, comments and names: fine. */
    cfg = expect_ok(DOMAIN "users = { u4294967296 = { secret = \""
        BOB_HEX "\"; # 4294967296\n"
        "/* 4294967296\n */ data_quota_bytes = 4294967296L; // 4294967296\n"
        "rate_limit_up_bps = 2147483647; }; };\n"
        "public_host = \"4294967296.example\";\n");
    ck_assert_int_eq(cfg->users[0].data_quota_bytes, 4294967296LL);
    ck_assert_int_eq(cfg->users[0].rate_limit_up_bps, 2147483647);
    config_free(cfg);
    expect_error(USERS1 DOMAIN "workers = -2147483648;\n",
        "3: workers: -2147483648 is out of range 0..64");
}
END_TEST

/* The README's per-user table: one row per CONFIG_USER_FIELDS entry. */
START_TEST(test_print_user_fields)
{
    static const char *const names[] = {
#define X(name, type, field, lo, hi, def, help) name,
        CONFIG_USER_FIELDS(X)
#undef X
    };
    size_t nnames = sizeof(names) / sizeof(names[0]), len = 0, row = 0;
    char *buf = NULL, *line, *save = NULL;
    FILE *fp = open_memstream(&buf, &len);

    ck_assert_ptr_nonnull(fp);
    config_print_user_fields(fp);
    fclose(fp);
    ck_assert_ptr_nonnull(strstr(buf, "\n| enabled | bool | true | "));
    ck_assert_ptr_nonnull(strstr(buf, "\n| max_tcp_conns | int | 0 | "));
    ck_assert_ptr_nonnull(strstr(buf, " (0..1000000) |\n"));
    ck_assert_ptr_nonnull(strstr(buf, "\n| expiration | string | \"\" | "));
    for (line = strtok_r(buf, "\n", &save); line != NULL;
        line = strtok_r(NULL, "\n", &save), row++) {
        char want[64];
        int bars = 0;

        for (char *p = line; *p != '\0'; p++)
            bars += *p == '|';
        ck_assert_msg(bars == 5, "row %zu has %d '|': %s", row, bars, line);
        if (row == 0) {
            ck_assert_str_eq(line, "| field | type | default | meaning |");
        } else if (row == 1) {
            ck_assert_str_eq(line, "|---|---|---|---|");
        } else {
            ck_assert_uint_lt(row - 2, nnames);
            snprintf(want, sizeof(want), "| %s | ", names[row - 2]);
            ck_assert_msg(strncmp(line, want, strlen(want)) == 0,
                "row %zu is %s, want %s", row, line, want);
        }
    }
    ck_assert_uint_eq(row, nnames + 2);
    free(buf);
}
END_TEST

/* Addresses dc_overrides must accept, and ones it must refuse. */
static const char *const good_addrs[] = {
    "1.2.3.4:1", "localhost:65535", "a-b.example.com:443", "[::]:443",
    "[2001:db8::1]:80", "dc4:00443", "x1.example.123a:8888",
};

static const struct {
    const char *addr, *why;
} bad_addrs[] = {
    { "1.2.3.4", "has no port (want host:port or [IPv6]:port)" },
    { "1.2.3.4:", "has no port (want host:port or [IPv6]:port)" },
    { "[::1]", "has no port (want host:port or [IPv6]:port)" },
    { "[::1]443", "has no port (want host:port or [IPv6]:port)" },
    { "[::1:443", "has no closing ']'" },
    { "[1.2.3.4]:443", "has a bad IPv6 address" },
    { "::1:443", "needs brackets around the IPv6 address" },
    { ":443", "has no host" },
    { "1.2.3.4:0", "has a bad port (want 1..65535)" },
    { "1.2.3.4:123456", "has a bad port (want 1..65535)" },
    { "1.2.3.4:-1", "has a bad port (want 1..65535)" },
    { "1.2.3.4:44a", "has a bad port (want 1..65535)" },
    { "1.2.3:443", "has a bad host (want an IPv4 address or a host name)" },
    { "-a.com:443", "has a bad host (want an IPv4 address or a host name)" },
    { "a-.com:443", "has a bad host (want an IPv4 address or a host name)" },
    { "a..b:443", "has a bad host (want an IPv4 address or a host name)" },
    { "a_b.com:443", "has a bad host (want an IPv4 address or a host name)" },
};

START_TEST(test_dc_addresses)
{
    char text[512], want[256];
    struct config *cfg;

    for (size_t i = 0; i < sizeof(good_addrs) / sizeof(good_addrs[0]);
        i++) {
        snprintf(text, sizeof(text), USERS1 DOMAIN "dc_overrides = ( { "
            "dc = 1; addresses = [ \"%s\" ]; } );\n", good_addrs[i]);
        cfg = expect_ok(text);
        ck_assert_str_eq(cfg->dc_overrides[0].addrs[0], good_addrs[i]);
        config_free(cfg);
    }
    for (size_t i = 0; i < sizeof(bad_addrs) / sizeof(bad_addrs[0]); i++) {
        snprintf(text, sizeof(text), USERS1 DOMAIN "dc_overrides = ( { "
            "dc = 1; addresses = [ \"%s\" ]; } );\n", bad_addrs[i].addr);
        snprintf(want, sizeof(want), "3: dc_overrides[0].addresses[0]: "
            "'%s' %s", bad_addrs[i].addr, bad_addrs[i].why);
        expect_error(text, want);
    }
}
END_TEST

START_TEST(test_dc_shapes)
{
    char text[2048], *p;
    struct config *cfg;

    p = text + sprintf(text, USERS1 DOMAIN "dc_overrides = ( { dc = -32768;"
        " addresses = [ ");
    for (int i = 0; i < CONFIG_MAX_DC_ADDRS; i++)
        p += sprintf(p, "%s\"10.0.0.%d:443\"", i ? ", " : "", i + 1);
    strcpy(p, " ]; } );\n");
    cfg = expect_ok(text);
    ck_assert_int_eq(cfg->dc_overrides[0].dc, -32768);
    ck_assert_int_eq(cfg->dc_overrides[0].naddrs, CONFIG_MAX_DC_ADDRS);
    config_free(cfg);
    strcpy(p, ", \"10.0.1.1:443\" ]; } );\n");
    expect_error(text, "3: dc_overrides[0].addresses: 17 addresses, at "
        "most 16 are allowed");

    cfg = expect_ok(USERS1 DOMAIN "dc_overrides = ( );\n");
    ck_assert_int_eq(cfg->ndc_overrides, 0);
    config_free(cfg);
    expect_error(USERS1 DOMAIN "dc_overrides = ( { dc = 32768; addresses = "
        "[ \"a.b:1\" ]; } );\n", "3: dc_overrides[0].dc: 32768 is out of "
        "range -32768..32767");
    expect_error(USERS1 DOMAIN "dc_overrides = ( { addresses = "
        "[ \"a.b:1\" ]; } );\n", "3: dc_overrides[0]: dc is missing");
    expect_error(USERS1 DOMAIN "dc_overrides = ( { dc = 1; } );\n",
        "3: dc_overrides[0]: addresses is missing");
    expect_error(USERS1 DOMAIN "dc_overrides = ( { dc = 1; addresses = "
        "[ ]; } );\n", "3: dc_overrides[0].addresses: at least one address "
        "is required");
    expect_error(USERS1 DOMAIN "dc_overrides = ( { dc = 1; addresses = "
        "( \"a.b:1\", 5 ); } );\n", "3: dc_overrides[0].addresses[1]: "
        "expected a string, got an integer");
    expect_error(USERS1 DOMAIN "dc_overrides = { dc = 1; };\n",
        "3: dc_overrides: expected a list ( { dc = N; addresses = [...]; }, "
        "... ), got a group");
    expect_error(USERS1 DOMAIN "dc_overrides = ( 1 );\n",
        "3: dc_overrides[0]: expected a group { dc = N; addresses = [...]; "
        "}, got an integer");
}
END_TEST

START_TEST(test_host_names)
{
    char text[1024], want[1024], label[64], host[300];
    struct config *cfg;

    memset(label, 'a', 63);
    label[63] = '\0';
    /* 4 labels of 63 plus 3 dots = 255; trimmed to exactly 253. */
    snprintf(host, sizeof(host), "%s.%s.%s.%s", label, label, label, label);
    host[253] = '\0';
    snprintf(text, sizeof(text), USERS1 "tls_domain = \"%s\";\n", host);
    cfg = expect_ok(text);
    ck_assert_uint_eq(strlen(cfg->tls_domain), 253);
    config_free(cfg);

    snprintf(text, sizeof(text), USERS1 "tls_domain = \"%sa\";\n", host);
    snprintf(want, sizeof(want), "2: tls_domain: '%sa' is not a valid "
        "host name", host);
    expect_error(text, want);

    /* A 64-character label. */
    snprintf(text, sizeof(text), USERS1 "tls_domain = \"%sa.com\";\n",
        label);
    snprintf(want, sizeof(want), "2: tls_domain: '%sa.com' is not a valid "
        "host name", label);
    expect_error(text, want);
    expect_error(USERS1 "tls_domain = \"1.2.3.4\";\n",
        "2: tls_domain: '1.2.3.4' is not a valid host name");
    expect_error(USERS1 "tls_domain = \"example.com.\";\n",
        "2: tls_domain: 'example.com.' is not a valid host name");
    expect_error(USERS1 DOMAIN "mask_host = \"a b\";\n",
        "3: mask_host: 'a b' is not a host name or IP address");
    expect_error(USERS1 DOMAIN "listen_ipv6 = \"1.2.3.4\";\n",
        "3: listen_ipv6: '1.2.3.4' is not an IPv6 address");
    /* An escaped newline in a value must not split the message. */
    expect_error(USERS1 DOMAIN "public_host = \"a\\nb\";\n",
        "3: public_host: 'a?b' is not a host name or IP address");
}
END_TEST

/* unknown_sni_action and the tls_sni_strict it replaced. */
START_TEST(test_sni_action)
{
    static const struct {
        const char *text;
        int want;
    } good[] = {
        { "", CONFIG_SNI_MASK },
        { "unknown_sni_action = \"mask\";\n", CONFIG_SNI_MASK },
        { "unknown_sni_action = \"drop\";\n", CONFIG_SNI_DROP },
        { "unknown_sni_action = \"reject\";\n", CONFIG_SNI_REJECT },
        { "unknown_sni_action = \"accept\";\n", CONFIG_SNI_ACCEPT },
        /* An old config: loads, with a warning. */
        { "tls_sni_strict = false;\n", CONFIG_SNI_ACCEPT },
        { "tls_sni_strict = true;\n", CONFIG_SNI_MASK },
        { "tls_sni_strict = true;\nunknown_sni_action = \"reject\";\n",
          CONFIG_SNI_REJECT },
        { "tls_sni_strict = false;\nunknown_sni_action = \"accept\";\n",
          CONFIG_SNI_ACCEPT },
    };
    char text[512];

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct config *cfg;

        snprintf(text, sizeof(text), USERS1 DOMAIN "%s", good[i].text);
        cfg = expect_ok(text);
        ck_assert_msg(cfg->unknown_sni_action == good[i].want, "%s",
            good[i].text);
        config_free(cfg);
    }
    expect_error(USERS1 DOMAIN "unknown_sni_action = \"close\";\n",
        "3: unknown_sni_action: 'close' is not one of mask, drop, reject, "
        "accept");
    expect_error(USERS1 DOMAIN "unknown_sni_action = 1;\n",
        "3: unknown_sni_action: expected a string, got an integer");
    expect_error(USERS1 DOMAIN "tls_sni_strict = false;\n"
        "unknown_sni_action = \"drop\";\n",
        "3: tls_sni_strict: false contradicts unknown_sni_action (line 4); "
        "remove tls_sni_strict, which unknown_sni_action replaces");
    expect_error(USERS1 DOMAIN "unknown_sni_action = \"accept\";\n"
        "tls_sni_strict = true;\n",
        "4: tls_sni_strict: true contradicts unknown_sni_action (line 3); "
        "remove tls_sni_strict, which unknown_sni_action replaces");
}
END_TEST

START_TEST(test_print_keys)
{
    /* The rows are config_keys.h's, in its order: README order. */
    static const char *const names[] = {
#define X(name, type, field, reload, lo, hi, def, help) name,
        CONFIG_KEYS(X)
#undef X
    };
    size_t nnames = sizeof(names) / sizeof(names[0]), len = 0, row = 0;
    char *buf = NULL, *line, *save = NULL;
    FILE *fp = open_memstream(&buf, &len);

    ck_assert_ptr_nonnull(fp);
    config_print_keys(fp);
    fclose(fp);
    ck_assert_ptr_nonnull(strstr(buf, "\n| port | int | restart | 443 | "));
    ck_assert_ptr_nonnull(strstr(buf, "\n| users | group | live | "));
    for (line = strtok_r(buf, "\n", &save); line != NULL;
        line = strtok_r(NULL, "\n", &save), row++) {
        char want[64];
        int bars = 0;

        for (char *p = line; *p != '\0'; p++)
            bars += *p == '|';
        ck_assert_msg(bars == 6, "row %zu has %d '|': %s", row, bars, line);
        if (row == 0) {
            ck_assert_str_eq(line,
                "| key | type | reload | default | meaning |");
        } else if (row == 1) {
            ck_assert_str_eq(line, "|---|---|---|---|---|");
        } else {
            ck_assert_uint_lt(row - 2, nnames);
            snprintf(want, sizeof(want), "| %s | ", names[row - 2]);
            ck_assert_msg(strncmp(line, want, strlen(want)) == 0,
                "row %zu is %s, want %s", row, line, want);
        }
    }
    ck_assert_uint_eq(row, nnames + 2);
    free(buf);
}
END_TEST

static int nkept;
static char kept_log[512];

static void
note_kept(const char *key, const char *running, const char *file)
{
    size_t n = strlen(kept_log);

    snprintf(kept_log + n, sizeof(kept_log) - n, "%s%s=%s<-%s",
        nkept++ ? " " : "", key, running, file);
}

/* A reload keeps restart-only keys (and says which), applies the rest. */
START_TEST(test_keep_restart)
{
    struct config *old = expect_ok(USERS1 DOMAIN "port = 1443;\n"
        "workers = 2;\nlog_file = \"/tmp/a.log\";\nmax_connections = 5;\n"
        "allow_root = false;\n");
    struct config *n = expect_ok(USERS1 DOMAIN "port = 2443;\n"
        "workers = 2;\nlog_file = \"/tmp/b.log\";\nmax_connections = 9;\n"
        "allow_root = true;\nlisten_ipv4 = \"127.0.0.1\";\n");

    nkept = 0;
    kept_log[0] = '\0';
    ck_assert_int_eq(config_keep_restart(n, old, note_kept), 4);
    ck_assert_str_eq(kept_log, "port=1443<-2443 "
        "listen_ipv4=\"0.0.0.0\"<-\"127.0.0.1\" "
        "log_file=\"/tmp/a.log\"<-\"/tmp/b.log\" allow_root=false<-true");
    ck_assert_int_eq(n->port, 1443);
    ck_assert_str_eq(n->listen_ipv4, "0.0.0.0");
    ck_assert_str_eq(n->log_file, "/tmp/a.log");
    ck_assert(!n->allow_root);
    ck_assert_int_eq(n->max_connections, 9);      /* live: applied */
    ck_assert_int_eq(config_keep_restart(n, old, NULL), 0);
    config_free(n);
    config_free(old);
}
END_TEST

/* The text a worker gets parses as the file did; errors name the path. */
START_TEST(test_parse_text)
{
    char err[CONFIG_ERR_LEN];
    struct config *cfg = config_parse_text("/etc/x.conf",
        USERS1 DOMAIN "port = 3443;\n", err, sizeof(err));

    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_int_eq(cfg->port, 3443);
    ck_assert_str_eq(cfg->path, "/etc/x.conf");
    config_free(cfg);
    ck_assert_ptr_null(config_parse_text("/etc/x.conf",
        USERS1 DOMAIN "\nport = ;\n", err, sizeof(err)));
    ck_assert_str_eq(err, "/etc/x.conf:4: syntax error");
    ck_assert_ptr_null(config_parse_text("/etc/x.conf",
        USERS1 DOMAIN "port = 0;\n", err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "/etc/x.conf:3: port"));
    ck_assert_ptr_null(config_file_text("/", err, sizeof(err)));
    ck_assert_str_eq(err, "/: cannot read: not a regular file");
}
END_TEST

/* client_mss and tls_first_flight_segment: off by default, their
 * smallest and largest values load, 0 turns them off again. */
START_TEST(test_segment_keys)
{
    struct config *cfg = expect_ok(USERS1 DOMAIN);

    ck_assert_int_eq(cfg->client_mss, 0);
    ck_assert_int_eq(cfg->tls_first_flight_segment, 0);
    config_free(cfg);
    cfg = expect_ok(USERS1 DOMAIN "client_mss = 88;\n"
        "tls_first_flight_segment = 64;\n");
    ck_assert_int_eq(cfg->client_mss, 88);
    ck_assert_int_eq(cfg->tls_first_flight_segment, 64);
    config_free(cfg);
    cfg = expect_ok(USERS1 DOMAIN "client_mss = 32767;\n"
        "tls_first_flight_segment = 16384;\n");
    ck_assert_int_eq(cfg->client_mss, 32767);
    ck_assert_int_eq(cfg->tls_first_flight_segment, 16384);
    config_free(cfg);
    cfg = expect_ok(USERS1 DOMAIN "client_mss = 0;\n"
        "tls_first_flight_segment = 0;\n");
    ck_assert_int_eq(cfg->client_mss, 0);
    ck_assert_int_eq(cfg->tls_first_flight_segment, 0);
    config_free(cfg);
}
END_TEST

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* List BAD_DIR/ *.conf into bad_names, sorted so runs are repeatable. */
static void
collect_bad(void)
{
    DIR *d = opendir(BAD_DIR);
    struct dirent *de;
    int cap = 0;

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);

        if (n <= 5 || strcmp(de->d_name + n - 5, ".conf") != 0)
            continue;
        if (nbad == cap) {
            cap = cap ? 2 * cap : 32;
            bad_names = realloc(bad_names, (size_t)cap * sizeof(*bad_names));
            if (bad_names == NULL)
                abort();
        }
        bad_names[nbad] = strndup(de->d_name, n - 5);
        if (bad_names[nbad] == NULL)
            abort();
        nbad++;
    }
    closedir(d);
    qsort(bad_names, (size_t)nbad, sizeof(*bad_names), cmp_names);
}

/* users_file: its users joined, its problems at its own lines, nothing
 * else allowed in it, the mark refused in either file, and the writer's
 * output read back to the same users. */
START_TEST(test_users_file)
{
    char upath[] = "/tmp/test_users_XXXXXX", main[600], err[CONFIG_ERR_LEN];
    char want[CONFIG_ERR_LEN + 64], *text;
    struct config *cfg, *again;
    FILE *fp;
    int fd;

    fd = mkstemp(upath);
    ck_assert_int_ne(fd, -1);
    fp = fdopen(fd, "w");
    fputs("users = {\n  alice = \"00112233445566778899aabbccddeeff\";\n"
        "  bob = { secret = \"fedcba9876543210fedcba9876543210\";\n"
        "          max_tcp_conns = 4; expiration = \"2027-03-01T00:00:00Z\"; };\n"
        "};\n", fp);
    fclose(fp);
    snprintf(main, sizeof(main), "port = 8443;\n"
        "modes = { classic = true; tls = false; };\n"
        "users_file = \"%s\";\n"
        "user_defaults = { max_unique_ips = 2; };\n", upath);
    {
        char mpath[64];

        cfg = load_text(main, mpath, err, sizeof(err));
    }
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_int_eq(cfg->nusers, 2);
    ck_assert_str_eq(cfg->users[1].name, "bob");
    ck_assert_int_eq(cfg->users[1].max_tcp_conns, 4);
    ck_assert_int_eq(cfg->users[1].max_unique_ips, 2);
    /* What the users API writes reads back to the same users. */
    text = config_users_text(cfg, cfg->users, cfg->nusers);
    ck_assert_ptr_null(strstr(text, "max_unique_ips"));
    fp = fopen(upath, "w");
    fputs(text, fp);
    fclose(fp);
    free(text);
    {
        char mpath[64];

        again = load_text(main, mpath, err, sizeof(err));
    }
    ck_assert_msg(again != NULL, "%s", err);
    ck_assert_int_eq(again->nusers, 2);
    ck_assert_int_eq(again->users[1].max_tcp_conns, 4);
    ck_assert_int_eq(again->users[1].expiration, cfg->users[1].expiration);
    ck_assert_int_eq(memcmp(again->users[1].secret, cfg->users[1].secret,
        SECRET_LEN), 0);
    config_free(again);
    config_free(cfg);

    /* A problem in it is told at its own line; other keys are refused. */
    fp = fopen(upath, "w");
    fputs("users = {\n  alice = \"00112233445566778899aabbccddeeff\";\n"
        "  bob = { secret = \"fedcba9876543210fedcba9876543210\"; "
        "max_tcp_conns = -1; };\n};\n", fp);
    fclose(fp);
    {
        char mpath[64];

        cfg = load_text(main, mpath, err, sizeof(err));
    }
    ck_assert_ptr_null(cfg);
    snprintf(want, sizeof(want), "%s:3: users.bob.max_tcp_conns: -1 is out "
        "of range 0..1000000", upath);
    ck_assert_str_eq(err, want);
    fp = fopen(upath, "w");
    fputs("users = { alice = \"00112233445566778899aabbccddeeff\"; };\n"
        "workers = 3;\n", fp);
    fclose(fp);
    {
        char mpath[64];

        cfg = load_text(main, mpath, err, sizeof(err));
    }
    ck_assert_ptr_null(cfg);
    snprintf(want, sizeof(want), "%s:2: workers: only users belongs in "
        "users_file", upath);
    ck_assert_str_eq(err, want);
    fp = fopen(upath, "w");
    fputs("users = { alice = \"00112233445566778899aabbccddeeff\"; };\n"
        CONFIG_USERS_MARK "/etc/x\n", fp);
    fclose(fp);
    {
        char mpath[64];

        cfg = load_text(main, mpath, err, sizeof(err));
    }
    ck_assert_ptr_null(cfg);
    ck_assert_ptr_nonnull(strstr(err, "is reserved for telemt's own use"));
    unlink(upath);
}
END_TEST

/* PROXY protocol keys: off by default; a second CIDRLIST of its own. */
START_TEST(test_proxy_protocol)
{
    struct config *cfg = expect_ok(USERS1 DOMAIN);

    ck_assert(!cfg->proxy_protocol);
    ck_assert_int_eq(cfg->nproxy_protocol_trusted, 0);
    ck_assert_int_eq(cfg->mask_proxy_protocol, 0);
    config_free(cfg);
    cfg = expect_ok(USERS1 DOMAIN "proxy_protocol = true;\n"
        "proxy_protocol_trusted = [ \"10.0.0.0/8\", \"::1/128\" ];\n"
        "admin_whitelist = [ \"192.168.0.0/16\" ];\n"
        "mask_proxy_protocol = 2;\n");
    ck_assert(cfg->proxy_protocol);
    ck_assert_int_eq(cfg->nproxy_protocol_trusted, 2);
    ck_assert_str_eq(cfg->proxy_protocol_trusted[0], "10.0.0.0/8");
    ck_assert_str_eq(cfg->proxy_protocol_trusted[1], "::1/128");
    ck_assert_int_eq(cfg->nadmin_whitelist, 1);
    ck_assert_str_eq(cfg->admin_whitelist[0], "192.168.0.0/16");
    ck_assert_int_eq(cfg->mask_proxy_protocol, 2);
    config_free(cfg);
}
END_TEST

Suite *
config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");

    collect_bad();
    tcase_add_test(tc, test_bad_count);
    tcase_add_loop_test(tc, test_bad, 0, nbad);
    tcase_add_test(tc, test_minimal);
    tcase_add_test(tc, test_full);
    tcase_add_test(tc, test_dc_ipv6);
    tcase_add_test(tc, test_upstreams);
    tcase_add_test(tc, test_not_found);
    tcase_add_test(tc, test_free_null);
    tcase_add_test(tc, test_small_err_buffer);
    tcase_add_test(tc, test_int64_and_types);
    tcase_add_test(tc, test_resolved);
    tcase_add_test(tc, test_user_limits);
    tcase_add_test(tc, test_user_fields);
    tcase_add_test(tc, test_user_field_errors);
    tcase_add_test(tc, test_print_user_fields);
    tcase_add_test(tc, test_wide_int);
    tcase_add_test(tc, test_dc_addresses);
    tcase_add_test(tc, test_dc_shapes);
    tcase_add_test(tc, test_host_names);
    tcase_add_test(tc, test_sni_action);
    tcase_add_test(tc, test_print_keys);
    tcase_add_test(tc, test_keep_restart);
    tcase_add_test(tc, test_parse_text);
    tcase_add_test(tc, test_users_file);
    tcase_add_test(tc, test_proxy_protocol);
    tcase_add_test(tc, test_segment_keys);
    /* 4096 users under ASan take a moment. */
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}
