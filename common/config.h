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

#include "proto.h"

#define CONFIG_MAX_USERS        4096
#define CONFIG_MAX_DC_ADDRS     16
#define CONFIG_ERR_LEN          512
#define CONFIG_MAX_TEXT         (16 << 20)      /* bytes of config file */

struct config_user {
    char *name;                         /* setting name, [A-Za-z][A-Za-z0-9_-]* */
    uint8_t secret[SECRET_LEN];
};

struct config_dc_override {
    int dc;                             /* signed DC index, never 0 */
    int naddrs;                         /* 1..CONFIG_MAX_DC_ADDRS */
    char **addrs;                       /* "host:port" or "[v6]:port" */
};

struct config {
    char *path;                         /* the file it was loaded from */
    int port;
    char *listen_ipv4;                  /* "" = off */
    char *listen_ipv6;                  /* "" = off */
    int workers;                        /* resolved: 0 became nproc */
    int max_connections;                /* per worker */
    int thread_stack_size;              /* bytes */
    int backlog;
    int nusers;
    struct config_user *users;
    bool mode_classic, mode_secure, mode_tls;
    char *tls_domain;                   /* "" when unset */
    int ntls_domains;                   /* resolved: tls_domain first, */
    char **tls_domains;                 /* then the tls_domains list */
    bool tls_sni_strict;
    int tls_time_skew;                  /* s */
    bool tls_accept_boot_time;
    int tls_cert_len_min, tls_cert_len_max;
    bool tls_emulation;
    int tls_emulation_interval;         /* s */
    char *tls_emulation_cache;          /* directory, "" = none */
    bool mask;
    char *mask_host;                    /* resolved: "" became tls_domain */
    int mask_port;
    int mask_connect_timeout;           /* s */
    int mask_idle_timeout;              /* s */
    int mask_max_lifetime;              /* s */
    int mask_max_bytes_up;
    int mask_max_bytes_down;
    int mask_max_connections;           /* per worker */
    int replay_window;                  /* s */
    int replay_capacity;
    int max_handshakes;                 /* per worker */
    int max_handshakes_per_addr;        /* over all workers; 0 = off */
    int search_per_addr;
    int fail_delay_max;                 /* ms */
    bool prefer_ipv6;
    bool fast_mode;
    int client_keepalive;               /* s, 0 = off */
    int client_ack_timeout;             /* s, 0 = off */
    int handshake_timeout;              /* s */
    int relay_idle_timeout;             /* s, 0 = never */
    int dc_connect_timeout;             /* s */
    int default_dc;
    int ndc_overrides;
    struct config_dc_override *dc_overrides;
    char *admin_listen;                 /* "" = off */
    char *admin_token;                  /* "" = none */
    int nadmin_whitelist;
    char **admin_whitelist;             /* "addr/prefix" strings */
    int admin_max_per_ip;
    int admin_request_timeout;          /* s */
    char *public_host;                  /* "" when unset */
    int public_port;                    /* resolved: 0 became port */
    int log_level;                      /* enum log_level */
    char *log_file;                     /* "" = stderr / syslog */
    char *pidfile;                      /* "" = none */
    char *user, *group;                 /* "" = do not change */
    bool allow_root;
    int max_open_files;                 /* 0 = the hard limit */
    int shutdown_timeout;               /* s */
    int upgrade_drain_timeout;          /* s, 0 = until they end */
    bool reload_drop_removed_users;
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

#endif
