/*
 * config.h - the immutable configuration snapshot and its loader.
 *
 * config_load() parses a libconfig file, validates every key strictly and
 * returns a snapshot that nobody modifies afterwards; a reload builds a new
 * one.  Every error names the file and line: "FILE:LINE: what is wrong".
 * The keys themselves are listed once, in config_keys.h.
 */
#ifndef TELEMT_CONFIG_H
#define TELEMT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config_keys.h"
#include "proto.h"

#define CONFIG_MAX_USERS        4096
#define CONFIG_MAX_DC_ADDRS     16
#define CONFIG_MAX_UPSTREAMS    16      /* = STATS_MAX_UPSTREAMS */
#define CONFIG_SOCKS_CRED_MAX   255     /* RFC 1929: one length byte */
#define CONFIG_ERR_LEN          512
#define CONFIG_MAX_TEXT         (16 << 20)      /* bytes of config file */

/* The C type of each per-user field type of CONFIG_USER_FIELDS. */
#define CONFIG_UFIELD_BOOL(f)       bool f;
#define CONFIG_UFIELD_COUNT(f)      int64_t f;      /* 0 = no limit */
#define CONFIG_UFIELD_TIME(f)       int64_t f;      /* unix s; 0 = never */
#define CONFIG_UFIELD_TAG(f)        struct config_ad_tag f;

/* A user's ad_tag setting (ME mode). */
enum config_tag_kind {
    CONFIG_TAG_INHERIT = 0,             /* "": the global ad_tag */
    CONFIG_TAG_OWN,                     /* its own tag */
    CONFIG_TAG_DIRECT                   /* "direct": no ME, no tag */
};
#define CONFIG_AD_TAG_LEN           16

struct config_ad_tag {
    int kind;                           /* enum config_tag_kind */
    uint8_t tag[CONFIG_AD_TAG_LEN];     /* CONFIG_TAG_OWN */
};

struct config_user {
    char *name;                         /* setting name, [A-Za-z][A-Za-z0-9_-]* */
    uint8_t secret[SECRET_LEN];
#define X(name, type, field, min, max, def, help) CONFIG_UFIELD_##type(field)
    CONFIG_USER_FIELDS(X)
#undef X
};

struct config_dc_override {
    int dc;                             /* signed DC index, never 0 */
    int naddrs;                         /* 1..CONFIG_MAX_DC_ADDRS */
    char **addrs;                       /* "host:port" or "[v6]:port" */
};

/* One entry of upstreams: a SOCKS5 proxy outgoing connections go by. */
struct config_upstream {
    char *address;                      /* "host:port" or "[v6]:port" */
    int weight;                         /* share of the picks, 1..1000 */
    char *username;                     /* "" = no RFC 1929 auth */
    char *password;                     /* "" unless username is set */
};

/*
 * The C type of each key type of config_keys.h: a key's field in struct
 * config is made from its row, so a new key is one row there.  List
 * types get a count beside them (nusers, ntls_domains, ...).
 */
#define CONFIG_FIELD_INT(f)         int f;
#define CONFIG_FIELD_BOOL(f)        bool f;
#define CONFIG_FIELD_LOGLVL(f)      int f;      /* enum log_level */
#define CONFIG_FIELD_SNIACT(f)      int f;      /* enum config_sni_action */
#define CONFIG_FIELD_IPV4(f)        char *f;    /* "" = unset or off */
#define CONFIG_FIELD_IPV6(f)        char *f;
#define CONFIG_FIELD_HOST(f)        char *f;
#define CONFIG_FIELD_ADDR(f)        char *f;
#define CONFIG_FIELD_PATH(f)        char *f;
#define CONFIG_FIELD_HOSTPORT(f)    char *f;
#define CONFIG_FIELD_TOKEN(f)       char *f;
#define CONFIG_FIELD_UNAME(f)       char *f;
#define CONFIG_FIELD_ADTAG(f)       char *f;    /* "" or 32 hex digits */
#define CONFIG_FIELD_URL(f)         char *f;
#define CONFIG_FIELD_IFNAME(f)      char *f;    /* "" = any interface */
#define CONFIG_FIELD_UPSTREAMS(f)   int n##f; struct config_upstream *f;
#define CONFIG_FIELD_USERS(f)       int n##f; struct config_user *f;
#define CONFIG_FIELD_USERDEFS(f)    struct config_user f;   /* no name */
#define CONFIG_FIELD_DCLIST(f)      int n##f; struct config_dc_override *f;
#define CONFIG_FIELD_HOSTLIST(f)    int n##f; char **f;
#define CONFIG_FIELD_CIDRLIST(f)    int n##f; char **f;

/* unknown_sni_action: what a fake-TLS hello with an SNI not ours gets. */
enum config_sni_action {
    CONFIG_SNI_MASK,                    /* relayed to mask_host */
    CONFIG_SNI_DROP,                    /* closed after a short wait */
    CONFIG_SNI_REJECT,                  /* unrecognized_name alert */
    CONFIG_SNI_ACCEPT                   /* SNI not checked */
};

/*
 * A loaded config.  Some fields hold resolved values (README): workers
 * 0 became the CPU count, mask_host "" became tls_domain, public_port 0
 * became port, tls_domains starts with tls_domain, and every user's
 * per-user fields hold its own value or else user_defaults' (which hold
 * the file's or else CONFIG_USER_FIELDS' defaults).
 */
struct config {
    char *path;                         /* the file it was loaded from */
#define X(name, type, field, apply, min, max, def, help)                  \
    CONFIG_FIELD_##type(field)
    CONFIG_KEYS(X)
#undef X
};

/*
 * Load and validate path.  On success returns a new snapshot (free with
 * config_free()).  On failure returns NULL and writes "FILE:LINE: message"
 * (or "FILE: message" where no line applies) into err.
 */
struct config *config_load(const char *path, char *err, size_t errlen);
/*
 * The two halves of config_load(): read path's text (a regular file of at
 * most CONFIG_MAX_TEXT bytes without NUL; free() it), and parse a text as
 * if it were the file at path.  NULL and err as for config_load().
 */
char *config_file_text(const char *path, char *err, size_t errlen);
struct config *config_parse_text(const char *path, const char *text,
    char *err, size_t errlen);
/* 1 if s is a user name: a letter, then letters, digits, '_' or '-'. */
bool config_is_user_name(const char *s);
/* An RFC 3339 UTC time "YYYY-MM-DDTHH:MM:SSZ" into *out; NULL, or why
 * it is not one ("is not a valid date and time"). */
const char *config_parse_time(const char *v, int64_t *out);
/*
 * Where config_file_text() joins users_file's text, a line of its own;
 * no file may hold it (config_file_text() refuses one that does), so
 * config_parse_text() takes it only as config_file_text() wrote it.
 */
#define CONFIG_USERS_MARK       "#@telemt users_file "
/* path's own text (no users_file joined; nofollow: O_NOFOLLOW); NULL and
 * err as for config_load(). */
char *config_read_text(const char *path, int nofollow, char *err,
    size_t errlen);
/* text with the users file's text (from users_path) joined as
 * config_file_text() joins it; free() it. */
char *config_join_users(const char *text, const char *users_path,
    const char *users);
/*
 * A users file holding users[0..n): each user's secret and the fields
 * that differ from cfg's user_defaults, in the loader's syntax; free() it.
 */
char *config_users_text(const struct config *cfg,
    const struct config_user *users, int n);
/* Called for each restart-only key that a reload keeps: name, the
 * running value and the file's value, both formatted as in the file. */
typedef void config_kept_fn(const char *key, const char *running,
    const char *file);
/*
 * A reload: give every restart-only key of n (config_keys.h, "RESTART")
 * the value it has in old, calling kept (if not NULL) for each one that
 * differed.  Returns how many differed.
 */
int config_keep_restart(struct config *n, const struct config *old,
    config_kept_fn *kept);
/* Free a snapshot and everything it owns; NULL is fine. */
void config_free(struct config *cfg);
/* Print the key table (name, type, default, meaning) as Markdown rows. */
void config_print_keys(FILE *out);
/* Print the per-user field table (CONFIG_USER_FIELDS) the same way. */
void config_print_user_fields(FILE *out);

#endif
