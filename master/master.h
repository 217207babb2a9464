/*
 * master.h - the supervisor's state (no .c): the config snapshot, the
 * listening sockets of every worker slot, the shared region, the worker
 * processes (one per slot, each with its control channel), the admin
 * process, and an upgrade in flight.  Only the master process touches it.
 */
#ifndef TELEMT_MASTER_H
#define TELEMT_MASTER_H

#include <sys/types.h>

#include <limits.h>
#include <signal.h>
#include <stdint.h>

#include "config.h"
#include "inherit.h"
#include "privs.h"
#include "stats.h"
#include "util.h"

#define MASTER_MAX_SLOTS        64
#define MASTER_MAX_LISTEN       2       /* IPv4 and IPv6 per slot */

struct slot {
    int nfds;
    int fds[MASTER_MAX_LISTEN];         /* owned by the master, for life */
    pid_t pid;                          /* 0 when not running */
    int ctl_fd;                         /* our end of its channel, -1 */
    int give_fd;                        /* the sending end of its hand-over
                                         * socket (offered to an old
                                         * binary at an upgrade), -1 */
    int row;                            /* its row in the region */
    int64_t started_ms;
    int64_t respawn_at_ms;              /* 0 = not waiting */
    int quick_deaths;                   /* for back-off */
};

/*
 * ME inputs (me_fetch.c): the proxy secret, the IPv4 and the IPv6 list,
 * each with where it came from, and the one fetching child.
 */
enum { ME_SRC_SECRET, ME_SRC_V4, ME_SRC_V6, ME_NSRC };
/* Each input's cached copy in state_dir, by ME_SRC_* (the doctor reads
 * the lists there too). */
#define ME_CACHE_NAMES \
    { "me_secret.cache", "me_config.cache", "me_config_v6.cache" }
#define ME_FROM_LEN     (PATH_BUF_LEN + 64)

struct me_src {
    uint8_t *data;                      /* NUL-terminated copy; NULL: none */
    size_t len;
    char from[ME_FROM_LEN];             /* "file P", "URL U", "cache P" */
    char last_err[320];                 /* a file's failure, logged once */
};

struct me_state {
    struct me_src src[ME_NSRC];
    pid_t pid;                          /* the fetching child, 0 = none */
    int fd;                             /* its pipe's reading end, -1 */
    int which;                          /* the source it fetches */
    char *url;                          /* from this URL (a reload may
                                         * change the key meanwhile) */
    int killed;                         /* it took too long */
    int64_t started_ms, next_ms;        /* its start; the next round */
    int todo;                           /* 1 << source: fetches to start */
    int on;                             /* use_middle_proxy as last seen */
    uint8_t *rx;                        /* what the child wrote so far */
    size_t rxlen;
    uint8_t *bundle;                    /* what the workers were sent */
    size_t bundle_len;
};

struct master {
    struct config *cfg;
    int foreground;
    char exe[PATH_MAX];                 /* this binary's path, for USR2 */
    char **argv;
    struct privs privs;
    struct stats_region *stats;
    int region_fd;                      /* memfd, handed over on upgrade */
    int *user_slot;                     /* cfg->users[i] -> region slot */
    uint64_t generation;                /* bumped on every reload */
    int nslots;
    struct slot slots[MASTER_MAX_SLOTS];
    int death_pipe[2];                  /* [1] only ever held by us */
    struct slot admin;                  /* the admin process (no fds) */
    int admin_fd;                       /* admin_listen, bound by us, -1 */
    int admin_now;                      /* respawn it without back-off */
    pid_t probe_pid;                    /* tls_emulation probe, 0 = none */
    int64_t probe_next_ms;
    int inherited;                      /* we are a new binary (USR2) */
    pid_t old_pid;                      /* then: the master we replace */
    pid_t upgrade_pid;                  /* new binary starting, 0 = none */
    int upgrade_fd;                     /* its READY pipe, -1 = none */
    int offer_fd;                       /* its hand-over offers (to the old
                                         * binary), or ours to it; -1 */
    int ready_fd;                       /* ours to write READY to, -1 */
    int pidfile_ours;                   /* we wrote cfg->pidfile */
    int64_t quota_tick_ms, quota_saved_ms;  /* quota.c's last rounds */
    struct me_state me;                 /* me_fetch.c */
};

/* listen.c: open every slot's sockets; exits with a message on failure. */
void listen_open(struct master *m);
/*
 * listen.c: take over sockets inherited from an old binary (fds), each
 * matched to the config by its address; open whatever is missing, close
 * what is no longer configured.  Exits with a message on failure.
 */
void listen_adopt(struct master *m, const int *fds, int nfds);
/*
 * listen.c: set client_mss (TCP_MAXSEG; 0 = the kernel's own) on every
 * client listening socket: at start, after an adoption, at a reload that
 * changes it.  Logs the value unless it is 0 and say_off is 0.
 */
void listen_set_mss(const struct master *m, int say_off);
/* TCP_NODELAY, client_ack_timeout and client_keepalive's timings on
 * every listening socket, for the connections to inherit. */
void listen_set_client_opts(const struct master *m);
/*
 * listen.c: a listening socket on addr ("IPv4:port", "[IPv6]:port")
 * without SO_REUSEPORT, for the admin endpoint; the fd, or -1 with errno.
 */
int listen_admin(const char *addr);
/*
 * listen.c: keep an admin socket inherited from an old binary (fd, -1 =
 * none) if it is bound to admin_listen; else close it.  Returns the fd
 * kept or -1.
 */
int listen_admin_adopt(const struct master *m, int fd);
/*
 * spawn.c: the one way a child is made.  The child starts with every
 * signal blocked (it sets up what it handles itself), closes every
 * descriptor the master holds but keep[0..nkeep), logs as role and, if
 * drop, runs as user/group.  Returns as fork() does.
 */
pid_t spawn_fork(struct master *m, const char *role, const int *keep,
    int nkeep, int drop);
/* spawn.c: fork the worker of slot i; 0, or -1 if fork failed. */
int spawn_worker(struct master *m, int i);
/*
 * spawn.c: if admin_listen is set, bind it (unless bound already) and fork
 * the admin process on it; a taken port is retried with back-off.
 */
void spawn_admin_start(struct master *m);
/* spawn.c: reap every dead child; stopping: schedule no respawn. */
void spawn_reap(struct master *m, int stopping);
/* spawn.c: start the children whose (re)start time has come. */
void spawn_due(struct master *m);
/* spawn.c: how many children (workers, admin, probe) are alive. */
int spawn_children_left(const struct master *m);
/* spawn.c: send sig to every live child. */
void spawn_signal_all(struct master *m, int sig);
/*
 * quota.c: at start (after the user slots), read the quota usage kept in
 * state_dir into a fresh region, then publish every user's limits.
 */
void quota_start(struct master *m);
/* quota.c: publish the running config's limits (after a reload too). */
void quota_publish(struct master *m);
/* quota.c: each loop round: publish once a second (a quota period may
 * have turned over), write the usage every quota_save_interval. */
void quota_tick(struct master *m);
/*
 * replace.c: make dfd/name hold exactly data[0..len) (mode 0600), through
 * a new file renamed over it; no link is followed.  0, or -1 with errno.
 */
int replace_file_at(int dfd, const char *name, const char *data,
    size_t len);
/*
 * quota.c: state_dir, made if missing and checked (ours, writable by
 * nobody else, no symbolic link); a descriptor, or -1 logged with
 * "; <unkept> is not kept".
 */
int state_dir_open(const struct config *cfg, const char *unkept);
/*
 * me_fetch.c: at start, before the first worker: with use_middle_proxy,
 * take the ME files and, for a URL, its cache in state_dir; the fetches
 * start with the loop.
 */
void me_fetch_start(struct master *m);
/* me_fetch.c: each loop round: the fetching child's output, its 40 s
 * deadline, the refresh rounds. */
void me_fetch_tick(struct master *m);
/* me_fetch.c: SIGHUP: re-read the files and fetch the URLs now. */
void me_fetch_reload(struct master *m);
/* me_fetch.c: hand worker slot i the current ME inputs (after a spawn). */
void me_fetch_send(struct master *m, int i);
/* quota.c: write the usage now (at a stop, before an upgrade). */
void quota_save(struct master *m);
/* loop.c: the signals the master blocks and takes synchronously. */
void master_sigset(sigset_t *set);
/* loop.c: the master's loop; returns the exit code after a stop. */
int master_loop(struct master *m);
/*
 * reload.c: SIGHUP: re-read the config; keep running on the old if bad,
 * else hand it to every worker over its control channel.
 */
void reload_run(struct master *m);
/*
 * reload.c: put n, parsed from text, in place of the running config as a
 * reload does (the workers and the admin get text); frees text.
 */
void reload_apply(struct master *m, char *text, struct config *n);
/*
 * users_edit.c: take the users API's writes the admin process sent
 * (CTL_USERS), apply each through users_file and an in-place reload,
 * and answer it (CTL_USERS_DONE).  Each loop round.
 */
void users_edit_poll(struct master *m);
/* reload.c: map users to region slots and mark who is configured. */
void reload_user_slots(struct master *m);
/* upgrade.c: SIGUSR2: start the binary at m->exe with our sockets. */
void upgrade_start(struct master *m);
/*
 * upgrade.c: check the new binary's READY pipe; returns 1 once it is
 * ready (we should stop), 0 while waiting; rolls back if it died.
 */
int upgrade_poll(struct master *m);
/*
 * upgrade.c: in a new binary, parse TELEMT_INHERIT into in and check that
 * each descriptor is what its field says (listening TCP sockets, the
 * region's memfd, a pipe's write end, the offer socket).  Returns 1 if
 * inherited, 0 if the variable is absent (in is empty); exits 1 with a
 * message if it is malformed or a descriptor is not what it claims.
 */
int upgrade_inherited(struct inherit *in);
/*
 * upgrade.c: in a new binary whose workers run, before READY: offer the
 * old binary every worker's hand-over socket over m->offer_fd (closed).
 */
void upgrade_offer(struct master *m);
/*
 * upgrade.c: in the old binary once the new one is ready: tell each
 * worker to hand its connections over (or, if the new binary carries
 * another state-record version or offered nothing, to drain them).
 */
void upgrade_handover(struct master *m);

#endif
