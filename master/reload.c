/*
 * reload.c - SIGHUP: re-read the config and apply it without dropping a
 * connection.
 *
 * A bad file is logged and changes nothing.  A good one becomes the new
 * snapshot: a new generation of workers starts on the same listening
 * sockets (the master owns them, so nothing queued is lost), the old
 * generation stops accepting and drains (closing the connections of users
 * who were removed, if reload_drop_removed_users), and the admin process
 * restarts on the new snapshot (on the socket the master holds, so the
 * port is never free for someone else to take).  A new admin_listen is
 * bound before the old socket goes; if it cannot be, the old address
 * stays.  Keys that would need new sockets or a new region keep their
 * running values, with a warning naming each.
 */
#include "master.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "xmem.h"

void
reload_user_slots(struct master *m)
{
    int *slots = xcalloc((size_t)m->cfg->nusers, sizeof(int));

    for (int u = 0; u < STATS_MAX_USERS; u++)
        atomic_store(&m->stats->users[u].configured, 0);
    for (int i = 0; i < m->cfg->nusers; i++) {
        slots[i] = stats_user_slot(m->stats, m->cfg->users[i].name);
        if (slots[i] < 0)
            fatalx("no room for user %s in the shared region",
                m->cfg->users[i].name);
        atomic_store(&m->stats->users[slots[i]].configured, 1);
    }
    free(m->user_slot);
    m->user_slot = slots;
}

/* Keep a string key's running value if the file changed it. */
static void
reload_keep_str(const char *key, char **newv, const char *oldv)
{
    if (strcmp(*newv, oldv) == 0)
        return;
    log_warnx("reload: %s changed from \"%s\" to \"%s\"; that takes a "
        "restart or an upgrade (USR2); keeping \"%s\"", key, oldv, *newv,
        oldv);
    free(*newv);
    *newv = xstrdup(oldv);
}

static void
reload_keep_int(const char *key, int *newv, int oldv)
{
    if (*newv == oldv)
        return;
    log_warnx("reload: %s changed from %d to %d; that takes a restart or "
        "an upgrade (USR2); keeping %d", key, oldv, *newv, oldv);
    *newv = oldv;
}

/*
 * admin_listen changed: bind the new address before the old socket goes,
 * so that neither port is ever left for someone else to take; if the new
 * one cannot be bound, keep the old one (and the old value in n).  With
 * nothing bound yet (a taken port being retried), the back-off in
 * spawn.c binds the new address.
 */
static void
reload_admin_listen(struct master *m, struct config *n,
    const struct config *old)
{
    int fd;

    if (strcmp(n->admin_listen, old->admin_listen) == 0 || m->admin_fd < 0)
        return;
    if (n->admin_listen[0] == '\0') {
        close(m->admin_fd);             /* turned off */
        m->admin_fd = -1;
        return;
    }
    fd = listen_admin(n->admin_listen);
    if (fd == -1) {
        log_warn("reload: admin_listen: cannot listen on %s; keeping "
            "\"%s\"", n->admin_listen, old->admin_listen);
        free(n->admin_listen);
        n->admin_listen = xstrdup(old->admin_listen);
        return;
    }
    close(m->admin_fd);
    m->admin_fd = fd;
    log_info("reload: admin endpoint moves from %s to %s",
        old->admin_listen, n->admin_listen);
}

void
reload_run(struct master *m)
{
    char err[CONFIG_ERR_LEN];
    struct config *n = config_load(m->cfg->path, err, sizeof(err));
    struct config *old = m->cfg;
    int dropped_users = 0;

    if (n == NULL) {
        log_errorx("reload: %s; still running on the previous config",
            err);
        return;
    }
    reload_keep_int("port", &n->port, old->port);
    reload_keep_str("listen_ipv4", &n->listen_ipv4, old->listen_ipv4);
    reload_keep_str("listen_ipv6", &n->listen_ipv6, old->listen_ipv6);
    reload_keep_int("workers", &n->workers, old->workers);
    reload_keep_int("backlog", &n->backlog, old->backlog);
    reload_keep_int("replay_capacity", &n->replay_capacity,
        old->replay_capacity);
    reload_keep_int("replay_window", &n->replay_window, old->replay_window);
    reload_keep_str("user", &n->user, old->user);
    reload_keep_str("group", &n->group, old->group);
    reload_keep_str("pidfile", &n->pidfile, old->pidfile);
    reload_keep_str("log_file", &n->log_file, old->log_file);
    reload_admin_listen(m, n, old);

    for (int i = 0; i < old->nusers; i++) {
        int kept = 0;

        for (int j = 0; j < n->nusers && !kept; j++)
            kept = strcmp(old->users[i].name, n->users[j].name) == 0;
        dropped_users += !kept;
    }
    m->cfg = n;
    m->generation++;
    atomic_store(&m->stats->generation, m->generation);
    reload_user_slots(m);
    log_set_level((enum log_level)n->log_level);

    /* Old workers drain (QUIT also closes removed users' connections);
     * new ones take over the same sockets at once. */
    for (int i = 0; i < m->nslots; i++) {
        spawn_retire(m, i, n->reload_drop_removed_users ? SIGQUIT :
            SIGTERM);
        if (spawn_worker(m, i) != 0)
            m->slots[i].respawn_at_ms = 1;
    }
    if (m->admin.pid > 0) {
        m->admin_now = 1;
        kill(m->admin.pid, SIGTERM);
    } else if (n->admin_listen[0] != '\0') {
        m->admin.respawn_at_ms = 1;
    }
    log_info("reload: generation %llu: %d users (%d removed), %d workers",
        (unsigned long long)m->generation, n->nusers, dropped_users,
        m->nslots);
    config_free(old);
}
