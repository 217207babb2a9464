/*
 * users_api.c - the users API (see users_api.h).  A write's JSON body is
 * read here, in the unprivileged admin process, into a few lines of
 * plain text for the master (users_edit.c), which applies it through
 * users_file and an in-place reload and says which generation carries
 * it; the answer waits until this process and every running worker run
 * that generation, so a client that connects next sees the change.
 * Field names are the config's (CONFIG_USER_FIELDS), plus "username" and
 * "secret".
 */
#include "users_api.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json_in.h"
#include "log.h"
#include "render_json.h"
#include "util.h"

#define API_MASTER_MS   5000            /* the master's answer, at most */
#define API_LIVE_MS     3000            /* the change live everywhere */
#define API_REQ_MAX     4096

static struct {
    pthread_mutex_t lock;               /* one write at a time */
    pthread_mutex_t done_lock;
    pthread_cond_t done_cv;
    int ctl_fd;
    uint32_t seq;                       /* the write in flight */
    int have;                           /* its answer came */
    unsigned status;
    char code[32];
    char message[1024];
    uint64_t generation;
} api = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .done_lock = PTHREAD_MUTEX_INITIALIZER,
    .done_cv = PTHREAD_COND_INITIALIZER,
    .ctl_fd = -1,
};

void
users_api_init(int ctl_fd)
{
    api.ctl_fd = ctl_fd;
}

void
users_api_done(const struct ctl_msg *m, int fd)
{
    char *text = ctl_fd_text(fd, 2048);
    unsigned status = 0;
    char code[32] = "";
    int n = 0;

    close(fd);
    if (text == NULL || sscanf(text, "%u %31s%n", &status, code, &n) != 2) {
        log_warnx("users API: an unreadable answer from the master");
        free(text);
        return;
    }
    pthread_mutex_lock(&api.done_lock);
    if (m->arg == api.seq && !api.have) {
        api.status = status;
        snprintf(api.code, sizeof(api.code), "%s", code);
        snprintf(api.message, sizeof(api.message), "%s",
            text[n] == '\n' ? text + n + 1 : "");
        api.generation = m->generation;
        api.have = 1;
        pthread_cond_broadcast(&api.done_cv);
    }
    pthread_mutex_unlock(&api.done_lock);
    free(text);
}

/* An error answer: the status, {"error": {"code", "message"}}. */
static unsigned
api_error(struct abuf *b, unsigned status, const char *code,
    const char *message)
{
    render_json_error(b, code, message);
    return status;
}

/* Find user q->name in s and render it; 404 if it is not there. */
static unsigned
api_render_user(struct abuf *b, const struct admin_snap *s, void *arg)
{
    const char *name = arg;

    for (int i = 0; i < s->nusers; i++)
        if (strcmp(s->cfg->users[i].name, name) == 0) {
            render_json_user(b, s, i, s->cfg->admin_token[0] != '\0');
            return 200;
        }
    return api_error(b, 404, "not_found", "no such user");
}

unsigned
users_api_get(struct abuf *b, const struct admin_snap *s,
    const struct admin_req *q)
{
    return api_render_user(b, s, unconst(q->name));
}

/* Append "set FIELD VALUE" for member mb of a user field; 0, or the
 * 400 answer's status with b written. */
static unsigned
api_field(struct abuf *b, char *req, size_t cap,
    const struct json_in_member *mb)
{
    char line[160], msg[256];
    int known = 0;

#define TYPE_BOOL   JSON_IN_BOOL
#define TYPE_COUNT  JSON_IN_INT
#define TYPE_TIME   JSON_IN_STRING
#define TYPE_TAG    JSON_IN_STRING
#define X(name, ftype, field, min, max, def, help)                        \
    if (strcmp(mb->key, name) == 0) {                                     \
        known = 1;                                                        \
        if (mb->type != TYPE_##ftype &&                                   \
            !(TYPE_##ftype == JSON_IN_STRING && mb->type == JSON_IN_NULL))\
            goto bad_type;                                                \
    }
    CONFIG_USER_FIELDS(X)
#undef X
#undef TYPE_BOOL
#undef TYPE_COUNT
#undef TYPE_TIME
#undef TYPE_TAG
    if (!known) {
        snprintf(msg, sizeof(msg), "%.64s is not a user field", mb->key);
        return api_error(b, 400, "unknown_field", msg);
    }
    if (mb->type == JSON_IN_BOOL)
        snprintf(line, sizeof(line), "set %s %s\n", mb->key,
            mb->num ? "true" : "false");
    else if (mb->type == JSON_IN_INT)
        snprintf(line, sizeof(line), "set %s %lld\n", mb->key,
            (long long)mb->num);
    else if (mb->type == JSON_IN_NULL || mb->str[0] == '\0')
        snprintf(line, sizeof(line), "set %s -\n", mb->key);
    else if (strlen(mb->str) <= 2 * CONFIG_AD_TAG_LEN &&
        mb->str[strspn(mb->str, "0123456789-:TZabcdefABCDEFirt")] == '\0')
        snprintf(line, sizeof(line), "set %s %s\n", mb->key, mb->str);
    else
        goto bad_type;
    if (strlen(req) + strlen(line) >= cap)
        return api_error(b, 400, "bad_request", "too many fields");
    strcat(req, line);
    return 0;
bad_type:
    snprintf(msg, sizeof(msg), "%.64s: wrong type (booleans: true/false, "
        "limits: integers, expiration: \"YYYY-MM-DDTHH:MM:SSZ\" or null, "
        "ad_tag: 32 hex digits, \"direct\" or null)",
        mb->key);
    return api_error(b, 400, "invalid_field", msg);
}

/* Send req to the master and wait for its answer; 0, or -1. */
static int
api_ask(const char *req)
{
    struct ctl_msg m = { .type = CTL_USERS };
    struct timespec until;
    int fd, rc = 0;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += API_MASTER_MS / 1000;
    pthread_mutex_lock(&api.done_lock);
    m.arg = ++api.seq;
    api.have = 0;
    pthread_mutex_unlock(&api.done_lock);
    if ((fd = ctl_text_fd(req, strlen(req))) < 0)
        return -1;
    if (ctl_send(api.ctl_fd, &m, fd) != 0) {
        close(fd);
        return -1;
    }
    close(fd);
    pthread_mutex_lock(&api.done_lock);
    while (!api.have && rc == 0)
        rc = pthread_cond_timedwait(&api.done_cv, &api.done_lock, &until);
    rc = api.have ? 0 : -1;
    pthread_mutex_unlock(&api.done_lock);
    return rc;
}

/* Wait (bounded) until generation gen is live everywhere. */
static int
api_wait_live(uint64_t gen)
{
    int64_t until = mono_ms() + API_LIVE_MS;

    while (mono_ms() < until) {
        if (admin_generation() >= gen && admin_workers_at(gen))
            return 0;
        usleep(10000);
    }
    return -1;
}

/*
 * One write: op on user name, the body's fields (add and patch), or none;
 * the answer the user as it is now (or {"deleted"}).
 */
static unsigned
api_write(struct abuf *b, const struct admin_req *q, const char *op,
    const char *name, int fields, const char *set_enabled)
{
    struct json_in *j = NULL;
    char req[API_REQ_MAX], err[160], uname[STATS_USER_NAME];
    struct abuf last;
    unsigned status = 0;

    snprintf(uname, sizeof(uname), "%s", name != NULL ? name : "");
    snprintf(req, sizeof(req), "op %s\n", op);
    if (q->body_len > 0 || fields) {
        j = malloc(sizeof(*j));
        if (j == NULL) {
            b->failed = 1;
            return 500;
        }
        if (json_in_parse(q->body, q->body_len, j, err,
            sizeof(err)) != 0) {
            free(j);
            return api_error(b, 400, "bad_json", err);
        }
        for (int i = 0; i < j->n && status == 0; i++) {
            const struct json_in_member *mb = &j->m[i];

            if (strcmp(mb->key, "username") == 0 && fields == 2) {
                if (mb->type != JSON_IN_STRING) {
                    status = api_error(b, 400, "invalid_field",
                        "username: a string");
                    break;
                }
                snprintf(uname, sizeof(uname), "%s", mb->str);
                if (strlen(mb->str) >= sizeof(uname) ||
                    !config_is_user_name(mb->str))
                    status = api_error(b, 400, "invalid_field", "username: a "
                        "letter, then letters, digits, '_' or '-' (at most "
                        "63)");
            } else if (strcmp(mb->key, "secret") == 0 && fields) {
                if (mb->type != JSON_IN_STRING || strlen(mb->str) != 32 ||
                    mb->str[strspn(mb->str, "0123456789abcdefABCDEF")] != '\0')
                    status = api_error(b, 400, "invalid_field",
                        "secret: 32 hex digits");
                else
                    snprintf(req + strlen(req), sizeof(req) - strlen(req),
                        "secret %s\n", mb->str);
            } else if (fields) {
                status = api_field(b, req, sizeof(req), mb);
            } else {
                status = api_error(b, 400, "unknown_field",
                    "this call takes no fields");
            }
        }
        free(j);
        if (status != 0)
            return status;
    }
    if (uname[0] == '\0')
        return api_error(b, 400, "invalid_field", "username is required");
    snprintf(req + strlen(req), sizeof(req) - strlen(req), "name %s\n%s",
        uname, set_enabled != NULL ? set_enabled : "");

    /* A deleted user's answer is its last state, taken before. */
    abuf_init(&last);
    if (strcmp(op, "delete") == 0 &&
        (status = admin_with_snap(&last, api_render_user, uname)) != 200) {
        abuf_add(b, last.p != NULL ? last.p : "", last.len);
        abuf_free(&last);
        return status;
    }
    pthread_mutex_lock(&api.lock);
    if (api_ask(req) != 0) {
        abuf_free(&last);
        pthread_mutex_unlock(&api.lock);
        return api_error(b, 503, "master_unavailable", "the master did not "
            "answer in time");
    }
    status = api.status;
    if (status >= 300) {
        render_json_error(b, api.code, api.message);
        pthread_mutex_unlock(&api.lock);
        abuf_free(&last);
        return status;
    }
    if (api_wait_live(api.generation) != 0)
        log_warnx("users API: generation %llu was not live everywhere "
            "within %d ms", (unsigned long long)api.generation, API_LIVE_MS);
    pthread_mutex_unlock(&api.lock);
    if (strcmp(op, "delete") == 0) {
        abuf_puts(b, "{\"deleted\":");
        abuf_json_str(b, uname);
        abuf_puts(b, ",\"user\":");
        abuf_add(b, last.p != NULL ? last.p : "null\n", last.p != NULL ?
            last.len - 1 : 4);          /* without its newline */
        abuf_puts(b, "}\n");
        abuf_free(&last);
        return status;
    }
    {
        unsigned st2 = admin_with_snap(b, api_render_user, uname);

        return st2 == 200 ? status : st2;
    }
}

unsigned
users_api_add(struct abuf *b, const struct admin_snap *s,
    const struct admin_req *q)
{
    (void)s;
    return api_write(b, q, "add", NULL, 2, NULL);
}

unsigned
users_api_patch(struct abuf *b, const struct admin_snap *s,
    const struct admin_req *q)
{
    (void)s;
    return api_write(b, q, "patch", q->name, 1, NULL);
}

unsigned
users_api_delete(struct abuf *b, const struct admin_snap *s,
    const struct admin_req *q)
{
    (void)s;
    return api_write(b, q, "delete", q->name, 0, NULL);
}

unsigned
users_api_disable(struct abuf *b, const struct admin_snap *s,
    const struct admin_req *q)
{
    (void)s;
    return api_write(b, q, "patch", q->name, 0, "set enabled false\n");
}

unsigned
users_api_enable(struct abuf *b, const struct admin_snap *s,
    const struct admin_req *q)
{
    (void)s;
    return api_write(b, q, "patch", q->name, 0, "set enabled true\n");
}

unsigned
users_api_rotate(struct abuf *b, const struct admin_snap *s,
    const struct admin_req *q)
{
    (void)s;
    return api_write(b, q, "rotate", q->name, 0, NULL);
}

unsigned
users_api_reset_quota(struct abuf *b, const struct admin_snap *s,
    const struct admin_req *q)
{
    (void)s;
    return api_write(b, q, "reset-quota", q->name, 0, NULL);
}
