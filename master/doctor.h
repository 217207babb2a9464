/*
 * doctor.h - telemt --doctor CONFIG: checks, from this machine, what a
 * loaded config depends on outside the proxy (the clock against the mask
 * host's Date, the DCs and ME proxies, the mask host's TLS, tls_domain's
 * addresses, public_host:public_port, the descriptor and thread limits)
 * and prints one line per check with the fix for each problem.  Only
 * the command line runs it: the daemon never dials out for it.
 */
#ifndef TELEMT_DOCTOR_H
#define TELEMT_DOCTOR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

enum doctor_status { DOCTOR_OK, DOCTOR_WARN, DOCTOR_FAIL };

#define DOCTOR_TEXT     768

/* One check's verdict: what it found, and (for a problem) the fix. */
struct doctor_line {
    int status;                         /* enum doctor_status */
    char what[DOCTOR_TEXT];             /* "name: what was found" */
    char fix[DOCTOR_TEXT];              /* "" when there is nothing to do */
};

/*
 * Run every check against cfg and print the lines to out, then a
 * summary.  Returns the exit status: 1 if any check FAILed, else 0
 * (warnings alone are 0).  Bounded in time: a check that has not
 * finished after DOCTOR_TOTAL_MS is reported as a failure; if one is
 * still running then, doctor_run() flushes out and _exit()s with the
 * status instead of returning (cfg stays in use by that thread).
 */
int doctor_run(const struct config *cfg, FILE *out);

/*
 * An HTTP Date value (RFC 9110 5.6.7: IMF-fixdate, and the obsolete RFC
 * 850 and asctime forms a recipient must accept) in s[0..n) as Unix
 * seconds.  0, or -1 if it is none of them.  Pure.
 */
int doctor_http_date(const char *s, size_t n, int64_t *t);
/*
 * The Date header of an HTTP response head in p[0..n) (a status line,
 * then header lines; the head may be cut short).  0 with *t, -1 if the
 * head has no valid Date, -2 if it is not an HTTP response.  Pure.
 */
int doctor_find_date(const char *p, size_t n, int64_t *t);

/* What the machine allows; DOCTOR_UNLIMITED for no limit (or unknown). */
#define DOCTOR_UNLIMITED        UINT64_MAX
struct doctor_limits {
    uint64_t nofile_soft, nofile_hard;  /* RLIMIT_NOFILE, as we run */
    uint64_t nr_open;                   /* fs.nr_open: the hard cap */
    uint64_t file_max;                  /* fs.file-max: all processes */
    uint64_t nproc;                     /* RLIMIT_NPROC (soft) */
    uint64_t threads_max;               /* kernel.threads-max */
    uint64_t pid_max;                   /* kernel.pid_max */
    uint64_t max_map_count;             /* vm.max_map_count */
    uint64_t as;                        /* RLIMIT_AS (soft), bytes */
    int overcommit;                     /* vm.overcommit_memory */
    uint64_t commit_limit;              /* CommitLimit, bytes */
    int root;                           /* the master starts as root */
    int workers_root;                   /* the workers stay uid 0 */
};

/* Per worker at max_connections: what the limits are weighed against. */
struct doctor_need {
    uint64_t conns;                     /* max_connections + masked */
    uint64_t fds;                       /* 2 per connection + slack */
    uint64_t threads;                   /* 1 per connection + slack */
    uint64_t maps;                      /* 2 per thread stack + slack */
    uint64_t stack_bytes;               /* threads x (stack + guard) */
    uint64_t nofile;                    /* RLIMIT_NOFILE a worker gets */
    int nofile_fails;                   /* max_open_files > fs.nr_open */
};

/* The need of one worker of cfg and the descriptor limit it would get
 * (privs_raise_nofile()'s rule) under lim.  Pure. */
void doctor_need(const struct config *cfg, const struct doctor_limits *lim,
    struct doctor_need *need);
/*
 * The three limit checks (descriptors, threads, thread stacks) of cfg
 * under lim into out[0..3).  Returns 3.  Pure.
 */
int doctor_limits_check(const struct config *cfg,
    const struct doctor_limits *lim, struct doctor_line *out);
/* This process's limits and the kernel's (/proc/sys), for cfg. */
void doctor_limits_read(const struct config *cfg, struct doctor_limits *lim);

#endif
