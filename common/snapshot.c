/*
 * snapshot.c - reference-counted config snapshots (see snapshot.h).
 *
 * Runs in the workers, from the main thread (new, hold) and from any
 * connection thread (release); never allocates with x*(): a failed
 * reload keeps the old snapshot instead of killing the worker.
 */
#include "snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

struct snapshot *
snapshot_new(struct config *cfg, const struct stats_region *s,
    uint64_t generation)
{
    struct snapshot *sn = calloc(1, sizeof(*sn));

    if (sn == NULL || (sn->user_slot = calloc((size_t)cfg->nusers + 1,
        sizeof(int))) == NULL) {
        free(sn);
        config_free(cfg);
        return NULL;
    }
    for (int i = 0; i < cfg->nusers; i++) {
        sn->user_slot[i] = stats_user_find(s, cfg->users[i].name);
        if (sn->user_slot[i] < 0) {
            free(sn->user_slot);
            free(sn);
            config_free(cfg);
            return NULL;
        }
    }
    atomic_init(&sn->refs, 1);
    sn->generation = generation;
    sn->cfg = cfg;
    return sn;
}

void
snapshot_hold(struct snapshot *sn)
{
    atomic_fetch_add_explicit(&sn->refs, 1, memory_order_relaxed);
}

void
snapshot_release(struct snapshot *sn)
{
    if (sn == NULL ||
        atomic_fetch_sub_explicit(&sn->refs, 1, memory_order_acq_rel) != 1)
        return;
    config_free(sn->cfg);
    free(sn->user_slot);
    free(sn);
}

int
snapshot_user(const struct snapshot *sn, const char *name)
{
    for (int i = 0; i < sn->cfg->nusers; i++)
        if (strcmp(sn->cfg->users[i].name, name) == 0)
            return i;
    return -1;
}

struct snapshot *
snapshot_from_text_fd(int fd, uint64_t gen, const struct snapshot *cur,
    const struct stats_region *s, char *err, size_t errlen)
{
    char *text = ctl_fd_text(fd, CONFIG_MAX_TEXT);
    struct snapshot *sn;
    struct config *cfg;

    close(fd);
    if (text == NULL) {
        snprintf(err, errlen, "the master's config is not readable");
        return NULL;
    }
    cfg = config_parse_text(cur->cfg->path, text, err, errlen);
    free(text);
    if (cfg == NULL)
        return NULL;
    (void)config_keep_restart(cfg, cur->cfg, NULL);
    if ((sn = snapshot_new(cfg, s, gen)) == NULL)
        snprintf(err, errlen, "out of memory or a user without a region "
            "slot");
    return sn;
}
