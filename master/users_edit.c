/*
 * users_edit.c - the master's side of the users API: the admin process
 * (unprivileged, so hostile to us) sends each write as a small text in a
 * sealed memfd (CTL_USERS); we apply it to the running users, write
 * users_file (a temporary file renamed into place, never through a
 * symbolic link), and put the result in place with the in-place reload,
 * so no other connection notices; then we answer (CTL_USERS_DONE).
 * Every value goes back through the config loader before anything is
 * written, so the API can set nothing a file could not.
 *
 * The request text, one item a line:
 *   op add|patch|delete|rotate|reset-quota
 *   name NAME
 *   secret HEX                 (add, patch: optional)
 *   set FIELD VALUE            (a CONFIG_USER_FIELDS name; true/false, an
 *                               integer, or a UTC time, "-" for none)
 */
#include "master.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "ctl.h"
#include "log.h"
#include "util.h"
#include "xmem.h"

#define EDIT_MAX_TEXT   16384
#define EDIT_MAX_SET    16

struct edit {
    char op[16];
    char name[STATS_USER_NAME];
    char secret[2 * SECRET_LEN + 1];    /* "" = none given */
    int nset;
    struct {
        char field[32];
        char value[64];
    } set[EDIT_MAX_SET];
};

struct answer {
    unsigned status;
    const char *code;
    char message[CONFIG_ERR_LEN + 64];
};

static void
answer(struct answer *a, unsigned status, const char *code, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static void
answer(struct answer *a, unsigned status, const char *code, const char *fmt,
    ...)
{
    va_list ap;

    a->status = status;
    a->code = code;
    va_start(ap, fmt);
    vsnprintf(a->message, sizeof(a->message), fmt, ap);
    va_end(ap);
}

/* 1 if every byte of s is in set. */
static int
only(const char *s, const char *set)
{
    return s[strspn(s, set)] == '\0';
}

/* Parse the request text strictly; 0, or -1 with the answer set. */
static int
edit_parse(char *text, struct edit *e, struct answer *a)
{
    char *line, *save = NULL;

    memset(e, 0, sizeof(*e));
    for (line = strtok_r(text, "\n", &save); line != NULL;
        line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' '), *v;

        if (sp == NULL)
            goto bad;
        *sp = '\0';
        v = sp + 1;
        if (strcmp(line, "op") == 0 && strlen(v) < sizeof(e->op)) {
            strcpy(e->op, v);
        } else if (strcmp(line, "name") == 0 && strlen(v) < sizeof(e->name)
            && config_is_user_name(v)) {
            strcpy(e->name, v);
        } else if (strcmp(line, "secret") == 0 &&
            strlen(v) == 2 * SECRET_LEN && only(v, "0123456789abcdefABCDEF")) {
            strcpy(e->secret, v);
        } else if (strcmp(line, "set") == 0 && e->nset < EDIT_MAX_SET) {
            char *val = strchr(v, ' ');

            if (val == NULL || val - v >= (long)sizeof(e->set[0].field) ||
                strlen(val + 1) >= sizeof(e->set[0].value))
                goto bad;
            *val++ = '\0';
            strcpy(e->set[e->nset].field, v);
            strcpy(e->set[e->nset].value, val);
            e->nset++;
        } else {
            goto bad;
        }
    }
    if (e->op[0] != '\0' && e->name[0] != '\0')
        return 0;
bad:
    answer(a, 400, "bad_request", "the admin process sent a request this "
        "master does not read");
    return -1;
}

/* One field from its text, by its CONFIG_USER_FIELDS type. */
static int
edit_set_BOOL(bool *f, const char *name, const char *v, struct answer *a)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
        *f = v[0] == 't';
        return 0;
    }
    answer(a, 400, "invalid_field", "%s: true or false", name);
    return -1;
}

static int
edit_set_COUNT(int64_t *f, const char *name, const char *v, struct answer *a)
{
    char *end;
    long long n;

    errno = 0;
    n = strtoll(v, &end, 10);
    if (*v == '\0' || *end != '\0' || errno != 0) {
        answer(a, 400, "invalid_field", "%s: an integer", name);
        return -1;
    }
    *f = (int64_t)n;                    /* the loader checks the bounds */
    return 0;
}

static int
edit_set_TIME(int64_t *f, const char *name, const char *v, struct answer *a)
{
    const char *why;

    if (strcmp(v, "-") == 0) {
        *f = 0;
        return 0;
    }
    if ((why = config_parse_time(v, f)) != NULL) {
        answer(a, 400, "invalid_field", "%s: '%s' %s", name, v, why);
        return -1;
    }
    return 0;
}

static int
edit_set_TAG(struct config_ad_tag *f, const char *name, const char *v,
    struct answer *a)
{
    memset(f, 0, sizeof(*f));
    if (strcmp(v, "-") == 0)
        f->kind = CONFIG_TAG_INHERIT;
    else if (strcmp(v, "direct") == 0)
        f->kind = CONFIG_TAG_DIRECT;
    else if (strlen(v) == 2 * CONFIG_AD_TAG_LEN &&
        hex_decode(v, f->tag, sizeof(f->tag)) == 0)
        f->kind = CONFIG_TAG_OWN;
    else {
        answer(a, 400, "invalid_field", "%s: 32 hex digits, \"direct\" or "
            "null", name);
        return -1;
    }
    return 0;
}

/* Set one field of u from its text; 0, or -1 with the answer set. */
static int
edit_set(struct config_user *u, const char *field, const char *v,
    struct answer *a)
{
#define X(name, type, f, min, max, def, help)                             \
    if (strcmp(field, name) == 0)                                         \
        return edit_set_##type(&u->f, name, v, a);
    /* cppcheck-suppress unknownMacro ; defined in config_keys.h */
    CONFIG_USER_FIELDS(X)
#undef X
    answer(a, 400, "unknown_field", "%s is not a user field", field);
    return -1;
}

/* A secret no other of the n users has, at index `self` (-1: none). */
static int
edit_secret(struct config_user *users, int n, int self, const char *hex,
    struct answer *a)
{
    uint8_t s[SECRET_LEN];

    if (hex[0] != '\0')
        (void)hex_decode(hex, s, SECRET_LEN);
    else if (random_bytes(s, SECRET_LEN) != 0) {
        answer(a, 500, "internal", "no random bytes for a secret");
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (i != self && memcmp(users[i].secret, s, SECRET_LEN) == 0) {
            answer(a, 409, "duplicate_secret", "user %s has that secret",
                users[i].name);
            return -1;
        }
    memcpy(users[self].secret, s, SECRET_LEN);
    return 0;
}

/* Make path hold text (replace_file_at() in its directory, which is
 * opened without following a link).  0, or -1 (errno). */
static int
edit_write_file(const char *path, const char *text)
{
    char dir[PATH_BUF_LEN], base[PATH_BUF_LEN];
    int dfd, rc, saved;

    snprintf(dir, sizeof(dir), "%s", path);
    snprintf(base, sizeof(base), "%s", path);
    dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
        O_CLOEXEC);
    if (dfd == -1)
        return -1;
    rc = replace_file_at(dfd, basename(base), text, strlen(text));
    saved = errno;
    close(dfd);
    errno = saved;
    return rc;
}

/* Run one write; the answer in *a, the generation carrying it in *gen. */
static void
edit_run(struct master *m, struct edit *e, struct answer *a)
{
    const struct config *cfg = m->cfg;
    struct config_user *users;
    struct config *n;
    char err[CONFIG_ERR_LEN], *utext, *main, *full;
    int nu = cfg->nusers, at = -1, add = strcmp(e->op, "add") == 0;

    if (cfg->users_file[0] == '\0') {
        answer(a, 409, "no_users_file", "set users_file in the config to "
            "manage users through the API");
        return;
    }
    for (int i = 0; i < nu; i++)
        if (strcmp(cfg->users[i].name, e->name) == 0)
            at = i;
    if (add && at >= 0) {
        answer(a, 409, "exists", "user %s exists", e->name);
        return;
    }
    if (!add && at < 0) {
        answer(a, 404, "not_found", "no user %s", e->name);
        return;
    }
    if (strcmp(e->op, "reset-quota") == 0) {
        atomic_store(&m->stats->users[m->user_slot[at]].quota_used, 0);
        log_info("users API: user %s: quota usage reset", e->name);
        answer(a, 200, "ok", "%s", e->name);
        return;
    }
    /* Shallow copies: the names stay cfg's until it is replaced. */
    users = xcalloc((size_t)nu + 1, sizeof(*users));
    memcpy(users, cfg->users, (size_t)nu * sizeof(*users));
    if (add) {
        at = nu++;
        users[at] = cfg->user_defaults;
        users[at].name = e->name;
    }
    if (strcmp(e->op, "delete") == 0) {
        memmove(&users[at], &users[at + 1], (size_t)(nu - at - 1) *
            sizeof(*users));
        nu--;
    } else if (strcmp(e->op, "add") != 0 && strcmp(e->op, "patch") != 0 &&
        strcmp(e->op, "rotate") != 0) {
        answer(a, 400, "bad_request", "no such operation");
        free(users);
        return;
    } else {
        for (int i = 0; i < e->nset; i++)
            if (edit_set(&users[at], e->set[i].field, e->set[i].value, a))
                goto out;
        if ((add || e->secret[0] != '\0' || strcmp(e->op, "rotate") == 0) &&
            edit_secret(users, nu, at, strcmp(e->op, "rotate") == 0 ? "" :
            e->secret, a) != 0)
            goto out;
    }
    /* The whole config as it would be, through the loader. */
    utext = config_users_text(cfg, users, nu);
    main = config_read_text(cfg->path, 0, err, sizeof(err));
    if (main == NULL) {
        answer(a, 500, "internal", "%s", err);
        free(utext);
        goto out;
    }
    full = config_join_users(main, cfg->users_file, utext);
    free(main);
    n = config_parse_text(cfg->path, full, err, sizeof(err));
    if (n == NULL) {
        answer(a, 400, "invalid", "%s", err);
        free(full);
        free(utext);
        goto out;
    }
    if (edit_write_file(cfg->users_file, utext) != 0) {
        answer(a, 500, "internal", "cannot write %s: %s", cfg->users_file,
            strerror(errno));
        config_free(n);
        free(full);
        free(utext);
        goto out;
    }
    free(utext);
    log_info("users API: %s %s", e->op, e->name);
    reload_apply(m, full, n);           /* frees full; replaces cfg */
    answer(a, add ? 201 : 200, "ok", "%s", e->name);
out:
    free(users);
}

void
users_edit_poll(struct master *m)
{
    struct ctl_msg msg, done;
    struct answer a;
    struct edit e;
    char *text, reply[sizeof(a.message) + 64];
    int fd, rfd;

    while (m->admin.pid > 0 && m->admin.ctl_fd >= 0 &&
        ctl_recv(m->admin.ctl_fd, &msg, &fd) == 1) {
        if (msg.type != CTL_USERS || fd < 0) {
            log_warnx("the admin process sent a message of type %u; "
                "ignored", (unsigned)msg.type);
            if (fd >= 0)
                close(fd);
            continue;
        }
        text = ctl_fd_text(fd, EDIT_MAX_TEXT);
        close(fd);
        if (text == NULL)
            answer(&a, 400, "bad_request", "an unreadable request");
        else if (edit_parse(text, &e, &a) == 0)
            edit_run(m, &e, &a);
        free(text);
        snprintf(reply, sizeof(reply), "%u %s\n%s", a.status, a.code,
            a.message);
        rfd = ctl_text_fd(reply, strlen(reply));
        done = (struct ctl_msg){ .type = CTL_USERS_DONE, .arg = msg.arg,
            .generation = m->generation };
        if (rfd < 0 || ctl_send(m->admin.ctl_fd, &done, rfd) != 0)
            log_warnx("users API: cannot answer the admin process");
        if (rfd >= 0)
            close(rfd);
    }
}
