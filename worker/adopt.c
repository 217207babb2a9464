/*
 * adopt.c - applies a reload inside a running worker (see adopt.h).
 *
 * The master validated the file before handing it over; the worker
 * parses the same text again only because a config is a tree of
 * pointers and cannot cross a process boundary as it is.  Connections
 * keep the snapshot they started with (a reference each), so nothing in
 * flight sees a value change under it; the old snapshot is freed by
 * whichever connection lets it go last.
 */
#include "adopt.h"

#include "conn.h"
#include "log.h"
#include "me_pool.h"

void
adopt_config(struct worker *w, const struct ctl_msg *m, int fd)
{
    unsigned long long gen = (unsigned long long)m->generation;
    unsigned long long had = (unsigned long long)w->snap->generation;
    char err[CONFIG_ERR_LEN];
    struct snapshot *sn, *old;
    int dropped;

    sn = snapshot_from_text_fd(fd, m->generation, w->snap, w->stats, err,
        sizeof(err));
    if (sn == NULL) {
        log_warnx("reload: generation %llu: %s; keeping generation %llu",
            gen, err, had);
        return;
    }
    if (sn->cfg->mode_tls && !w->keys_started) {
        if (keys_start(&w->keys) != 0) {
            log_warnx("reload: generation %llu: cannot start the key share "
                "thread; keeping generation %llu", gen, had);
            snapshot_release(sn);
            return;
        }
        w->keys_started = 1;
    }
    if (w->me_pool != NULL)
        me_pool_set_config(w->me_pool, sn->cfg);
    pthread_mutex_lock(&w->all_lock);
    old = w->snap;
    w->snap = sn;
    dropped = conn_drop_gone(w);
    pthread_mutex_unlock(&w->all_lock);
    snapshot_release(old);
    /* The hints name users by index, and the indexes have moved. */
    for (int i = 0; i < WORKER_USER_HINTS; i++)
        atomic_store_explicit(&w->user_hint[i], 0, memory_order_relaxed);
    log_set_level((enum log_level)sn->cfg->log_level);
    atomic_store(&w->me->generation, m->generation);
    if (dropped > 0)
        log_info("reload: generation %llu: closed %d connection(s) of "
            "removed users or changed secrets", gen, dropped);
    log_info("reload: generation %llu applied: %d users", gen,
        sn->cfg->nusers);
}
