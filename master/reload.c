/*
 * reload.c - SIGHUP: re-read the config and apply it in place, without a
 * new process and without dropping a connection.
 *
 * A bad file is logged and changes nothing.  A good one becomes the
 * master's snapshot, and its text goes to every worker over the worker's
 * control channel (a sealed memfd; the workers have no right to read the
 * file).  Each worker parses it, swaps it in for new connections and
 * closes only the connections of removed users (reload_drop_removed_users)
 * and of users whose secret changed (worker/adopt.c).  Keys marked
 * RESTART in config_keys.h keep their running values, with a warning
 * naming each.  The admin process takes the text over its own channel
 * too; only a moved admin_listen restarts it, on the new socket (the
 * master holds it, so the port is never free for someone else to take).
 * A new admin_listen is bound before the old socket goes; if it cannot
 * be, the old address stays.
 */
#include "master.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
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

static void
reload_warn_kept(const char *key, const char *running, const char *file)
{
    log_warnx("reload: %s changed from %s to %s; that takes a restart or "
        "an upgrade (USR2); keeping %s", key, running, file, running);
}

/* Hand text to child s (if running); 0 if it has it, else -1. */
static int
reload_send_one(struct slot *s, const struct ctl_msg *msg, int fd,
    const char *what)
{
    if (s->pid <= 0 || s->ctl_fd < 0)
        return -1;
    if (ctl_send(s->ctl_fd, msg, fd) == 0)
        return 0;
    /* It runs on the old config: replace it, as after a crash. */
    log_warn("reload: cannot hand the config to the %s (pid %d); "
        "restarting it", what, (int)s->pid);
    kill(s->pid, SIGKILL);
    return -1;
}

/* Hand text to every running worker (and the admin process if admin is
 * set); returns how many workers got it. */
static int
reload_send(struct master *m, const char *text, int admin)
{
    struct ctl_msg msg = { .type = CTL_CONFIG, .generation = m->generation };
    int fd = ctl_text_fd(text, strlen(text)), sent = 0;
    char what[32];

    if (fd == -1) {
        log_warn("reload: memfd for the config text");
        return 0;
    }
    for (int i = 0; i < m->nslots; i++) {
        snprintf(what, sizeof(what), "worker %d", i);
        sent += reload_send_one(&m->slots[i], &msg, fd, what) == 0;
    }
    if (admin)
        (void)reload_send_one(&m->admin, &msg, fd, "admin process");
    close(fd);
    return sent;
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
    char *text = config_file_text(m->cfg->path, err, sizeof(err));
    struct config *n = NULL;

    if (text != NULL)
        n = config_parse_text(m->cfg->path, text, err, sizeof(err));
    if (n == NULL) {
        log_errorx("reload: %s; still running on the previous config",
            err);
        free(text);
        return;
    }
    reload_apply(m, text, n);
}

void
reload_apply(struct master *m, char *text, struct config *n)
{
    struct config *old = m->cfg;
    int removed = 0, sent, admin_fd = m->admin_fd;

    (void)config_keep_restart(n, old, reload_warn_kept);
    reload_admin_listen(m, n, old);
    for (int i = 0; i < old->nusers; i++) {
        int kept = 0;

        for (int j = 0; j < n->nusers && !kept; j++)
            kept = strcmp(old->users[i].name, n->users[j].name) == 0;
        removed += !kept;
    }
    m->cfg = n;
    m->generation++;
    if (n->client_mss != old->client_mss)
        listen_set_mss(m, 1);
    if (n->client_keepalive != old->client_keepalive ||
        n->client_ack_timeout != old->client_ack_timeout)
        listen_set_client_opts(m);
    atomic_store(&m->stats->generation, m->generation);
    /* Before the workers look their users up in the region. */
    reload_user_slots(m);
    quota_publish(m);
    log_set_level((enum log_level)n->log_level);
    /* The admin process takes the new config in place, unless it must
     * serve another socket now. */
    sent = reload_send(m, text, m->admin_fd == admin_fd);
    free(text);
    if (m->admin.pid > 0 && m->admin_fd != admin_fd) {
        m->admin_now = 1;
        kill(m->admin.pid, SIGTERM);
    } else if (m->admin.pid <= 0 && n->admin_listen[0] != '\0') {
        m->admin.respawn_at_ms = 1;
    }
    log_info("reload: generation %llu: %d users (%d removed), handed to %d "
        "of %d workers", (unsigned long long)m->generation, n->nusers,
        removed, sent, m->nslots);
    config_free(old);
}
