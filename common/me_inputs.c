/*
 * me_inputs.c - the ME inputs (proxy secret, IPv4 and IPv6 ME lists):
 * their validation, which the master applies to every file it reads or
 * fetches before it replaces a good value, and the bundle it hands the
 * workers (format in me_inputs.h).  A bundle comes from our own master,
 * but it is still parsed as if it could be anything: a worker must not
 * read past it whatever it says.
 */
#include "me_inputs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ME_BUNDLE_MAGIC         "TMEI1\n"

const char *
me_inputs_check_secret(const uint8_t *p, size_t n)
{
    static char why[64];

    (void)p;
    if (n >= ME_SECRET_MIN && n <= ME_SECRET_MAX)
        return NULL;
    snprintf(why, sizeof(why), "%zu bytes, not %d..%d", n, ME_SECRET_MIN,
        ME_SECRET_MAX);
    return why;
}

int
me_inputs_check_list(const char *text, size_t n, int v6, char *err,
    size_t errlen)
{
    struct me_list l;

    if (n > ME_LIST_MAX_TEXT) {
        snprintf(err, errlen, "%zu bytes, more than %d", n,
            ME_LIST_MAX_TEXT);
        return -1;
    }
    /* The worker gets the text as a C string: a NUL would cut it. */
    if (memchr(text, '\0', n) != NULL) {
        snprintf(err, errlen, "holds a NUL byte");
        return -1;
    }
    if (me_list_parse(text, n, v6, &l, err, errlen) != 0)
        return -1;
    me_list_free(&l);
    return 0;
}

/* Append "NAME LEN\n" p[0..n) "\n" at out (room checked by the caller). */
static size_t
me_put_section(uint8_t *out, const char *name, const void *p, size_t n)
{
    int h = sprintf((char *)out, "%s %zu\n", name, n);

    if (n > 0)
        memcpy(out + h, p, n);
    out[(size_t)h + n] = '\n';
    return (size_t)h + n + 1;
}

uint8_t *
me_inputs_encode(const struct me_inputs *in, size_t *len)
{
    /* Magic, three headers of at most "secret " + 20 digits + "\n", the
     * bodies and their newlines, and sprintf()'s last NUL. */
    size_t room = sizeof(ME_BUNDLE_MAGIC) + 3 * 32 + in->secret_len +
        in->v4_len + in->v6_len + 1;
    uint8_t *out = malloc(room);
    size_t off;

    if (out == NULL)
        return NULL;
    memcpy(out, ME_BUNDLE_MAGIC, strlen(ME_BUNDLE_MAGIC));
    off = strlen(ME_BUNDLE_MAGIC);
    off += me_put_section(out + off, "secret", in->secret, in->secret_len);
    off += me_put_section(out + off, "v4", in->v4, in->v4 ? in->v4_len : 0);
    off += me_put_section(out + off, "v6", in->v6, in->v6 ? in->v6_len : 0);
    *len = off;
    return out;
}

/*
 * Take the section name from p[*off..n): its length in *len and where
 * its bytes start in *body; *off moves past it.  0, or -1.
 */
static int
me_get_section(const uint8_t *p, size_t n, size_t *off, const char *name,
    size_t max, size_t *body, size_t *len)
{
    size_t nl = strlen(name), i = *off, v = 0;
    int digits = 0;

    if (n - i < nl + 1 || memcmp(p + i, name, nl) != 0 || p[i + nl] != ' ')
        return -1;
    for (i += nl + 1; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
        if (++digits > 8)
            return -1;
        v = v * 10 + (size_t)(p[i] - '0');
    }
    if (digits == 0 || i >= n || p[i] != '\n' || v > max)
        return -1;
    i++;
    if (n - i < v + 1 || p[i + v] != '\n')
        return -1;
    *body = i;
    *len = v;
    *off = i + v + 1;
    return 0;
}

/* A list section into a NUL-terminated copy (NULL/0 if empty). */
static int
me_take_list(const uint8_t *p, size_t len, char **text, size_t *tlen)
{
    *text = NULL;
    *tlen = 0;
    if (len == 0)
        return 0;
    if (memchr(p, '\0', len) != NULL || (*text = malloc(len + 1)) == NULL)
        return -1;
    memcpy(*text, p, len);
    (*text)[len] = '\0';
    *tlen = len;
    return 0;
}

int
me_inputs_decode(const uint8_t *p, size_t n, struct me_inputs *out)
{
    size_t off = strlen(ME_BUNDLE_MAGIC), sb, sl, b4, l4, b6, l6;

    memset(out, 0, sizeof(*out));
    if (n < off || memcmp(p, ME_BUNDLE_MAGIC, off) != 0 ||
        me_get_section(p, n, &off, "secret", ME_SECRET_MAX, &sb, &sl) ||
        me_get_section(p, n, &off, "v4", ME_LIST_MAX_TEXT, &b4, &l4) ||
        me_get_section(p, n, &off, "v6", ME_LIST_MAX_TEXT, &b6, &l6) ||
        off != n)
        return -1;
    memcpy(out->secret, p + sb, sl);
    out->secret_len = sl;
    if (me_take_list(p + b4, l4, &out->v4, &out->v4_len) != 0 ||
        me_take_list(p + b6, l6, &out->v6, &out->v6_len) != 0) {
        me_inputs_free(out);
        return -1;
    }
    return 0;
}

void
me_inputs_free(struct me_inputs *in)
{
    free(in->v4);
    free(in->v6);
    memset(in, 0, sizeof(*in));
}
