/*
 * quota.c - the master's side of the users' limits: it publishes the
 * limits of the config it runs into the shared region (userlim.h), turns
 * quota periods over on their reset day, and keeps the quota usage in
 * state_dir/quota.state so a restart or a crash loses at most
 * quota_save_interval of it.
 *
 * The master is root and state_dir must not be a path a worker could
 * redirect: the directory is made 0700 if missing, opened without
 * following a symbolic link, and refused unless it is ours and writable
 * by nobody else; the file is written beside it and renamed into place
 * (atomically), read without following a link, and only if it is a
 * regular file.  Workers never touch it.
 */
#include "master.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "userlim.h"
#include "util.h"

#define QUOTA_FILE      "quota.state"
#define QUOTA_MAX_FILE  (1 << 20)
#define QUOTA_HEADER    "# telemt quota usage: user bytes_used period_start\n"

/* 1 if some user of the running config has a quota to keep. */
static int
quota_wanted(const struct config *cfg)
{
    for (int i = 0; i < cfg->nusers; i++)
        if (cfg->users[i].data_quota_bytes > 0)
            return 1;
    return 0;
}

int
state_dir_open(const struct config *cfg, const char *unkept)
{
    struct stat st;
    int fd;

    if (mkdir(cfg->state_dir, 0700) == -1 && errno != EEXIST) {
        log_warn("state_dir %s: cannot create it", cfg->state_dir);
        return -1;
    }
    fd = open(cfg->state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
        O_CLOEXEC);
    if (fd == -1) {
        log_warn("state_dir %s: cannot open it (a symbolic link is never "
            "followed)", cfg->state_dir);
        return -1;
    }
    if (fstat(fd, &st) == -1 || st.st_uid != geteuid() ||
        (st.st_mode & 022) != 0) {
        log_warnx("state_dir %s: must be a directory of uid %d that only "
            "its owner may write to; %s is not kept",
            cfg->state_dir, (int)geteuid(), unkept);
        close(fd);
        return -1;
    }
    return fd;
}

/* The config user of region slot `slot`, or -1. */
static int
quota_user_of_slot(const struct master *m, int slot)
{
    for (int i = 0; i < m->cfg->nusers; i++)
        if (m->user_slot[i] == slot)
            return i;
    return -1;
}

/* Take what one line of the file says; 0, or -1 if it is not a line of
 * ours. */
static int
quota_take_line(struct master *m, char *line)
{
    char name[STATS_USER_NAME + 1];
    unsigned long long used;
    long long period;
    int n = 0, slot;

    if (sscanf(line, "%64s %llu %lld%n", name, &used, &period, &n) != 3 ||
        line[n] != '\0' || period < 0)
        return -1;
    slot = stats_user_find(m->stats, name);
    if (slot < 0 || quota_user_of_slot(m, slot) < 0)
        return 0;                       /* no longer a user: dropped */
    atomic_store(&m->stats->users[slot].quota_used, (uint64_t)used);
    atomic_store(&m->stats->users[slot].quota_period, (int64_t)period);
    return 0;
}

/* Read state_dir's file into the region. */
static void
quota_load(struct master *m, int dfd)
{
    char *buf, *line, *save = NULL;
    struct stat st;
    ssize_t n;
    int fd, lineno = 0, loaded = 0;

    fd = openat(dfd, QUOTA_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
        O_CLOEXEC);
    if (fd == -1) {
        if (errno != ENOENT)
            log_warn("state_dir %s: cannot read %s", m->cfg->state_dir,
                QUOTA_FILE);
        return;
    }
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
        st.st_size > QUOTA_MAX_FILE) {
        log_warnx("state_dir %s: %s is not a regular file of at most %d "
            "bytes; ignored", m->cfg->state_dir, QUOTA_FILE, QUOTA_MAX_FILE);
        close(fd);
        return;
    }
    buf = malloc((size_t)st.st_size + 1);
    n = buf != NULL ? read(fd, buf, (size_t)st.st_size) : -1;
    close(fd);
    if (n < 0) {
        log_warn("state_dir %s: cannot read %s", m->cfg->state_dir,
            QUOTA_FILE);
        free(buf);
        return;
    }
    buf[n] = '\0';
    for (line = strtok_r(buf, "\n", &save); line != NULL;
        line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        if (line[0] == '#')
            continue;
        if (quota_take_line(m, line) != 0)
            log_warnx("%s/%s:%d: not \"user bytes_used period_start\"; "
                "ignored", m->cfg->state_dir, QUOTA_FILE, lineno);
        else
            loaded++;
    }
    free(buf);
    log_info("quota: usage of %d user(s) read from %s/%s", loaded,
        m->cfg->state_dir, QUOTA_FILE);
}

void
quota_save(struct master *m)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f;
    int dfd;

    if (!quota_wanted(m->cfg) ||
        (dfd = state_dir_open(m->cfg, "quota usage")) < 0)
        return;
    if ((f = open_memstream(&text, &len)) == NULL) {
        log_warn("quota: no memory for %s", QUOTA_FILE);
        close(dfd);
        return;
    }
    fputs(QUOTA_HEADER, f);
    for (int i = 0; i < m->cfg->nusers; i++) {
        const struct stats_user *su = &m->stats->users[m->user_slot[i]];

        fprintf(f, "%s %" PRIu64 " %" PRId64 "\n", m->cfg->users[i].name,
            atomic_load(&su->quota_used), atomic_load(&su->quota_period));
    }
    if (fclose(f) != 0 || replace_file_at(dfd, QUOTA_FILE, text, len) != 0)
        log_warn("state_dir %s: cannot write %s", m->cfg->state_dir,
            QUOTA_FILE);
    free(text);
    close(dfd);
}

void
quota_publish(struct master *m)
{
    int64_t now = (int64_t)time(NULL);

    for (int i = 0; i < m->cfg->nusers; i++) {
        const struct config_user *cu = &m->cfg->users[i];
        int64_t was = userlim_publish(m->stats, m->user_slot[i], cu, now);

        if (was >= 0)
            log_info("quota: user %s: a new period (reset day %lld); %lld "
                "bytes were used in the last", cu->name,
                (long long)cu->quota_reset_day, (long long)was);
    }
}

void
quota_start(struct master *m)
{
    int dfd;

    if (!m->inherited && quota_wanted(m->cfg) &&
        (dfd = state_dir_open(m->cfg, "quota usage")) >= 0) {
        quota_load(m, dfd);
        close(dfd);
    }
    quota_publish(m);
    m->quota_saved_ms = m->quota_tick_ms = mono_ms();
}

void
quota_tick(struct master *m)
{
    int64_t now = mono_ms();

    if (now - m->quota_tick_ms >= 1000) {
        quota_publish(m);
        m->quota_tick_ms = now;
    }
    if (now - m->quota_saved_ms >= (int64_t)m->cfg->quota_save_interval *
        1000) {
        quota_save(m);
        m->quota_saved_ms = now;
    }
}
