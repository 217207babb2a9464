/*
 * inherit.c - builds and parses TELEMT_INHERIT (see inherit.h).  The old
 * master builds it; the new binary parses it before it trusts any
 * descriptor, so the parser takes nothing it was not made to take: a
 * lenient one would let a stray or hostile environment hand a root
 * master descriptors it then serves or writes to.
 */
#include "inherit.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define INHERIT_ONE     ((size_t)-1)    /* a field of one descriptor */

/* One row per field: where its descriptors go in struct inherit. */
static const struct inherit_field {
    const char *name;
    size_t off;                 /* the descriptor, or the array */
    size_t count_off;           /* the array's count, or INHERIT_ONE */
    int max;                    /* descriptors it may hold */
    int required;
} inherit_fields[] = {
    { "listen", offsetof(struct inherit, listen),
      offsetof(struct inherit, nlisten), INHERIT_MAX_LISTEN, 1 },
    { "shm", offsetof(struct inherit, shm), INHERIT_ONE, 1, 1 },
    { "ready", offsetof(struct inherit, ready), INHERIT_ONE, 1, 1 },
    { "admin", offsetof(struct inherit, admin), INHERIT_ONE, 1, 0 },
    { "offer", offsetof(struct inherit, offer), INHERIT_ONE, 1, 0 },
};

#define INHERIT_NFIELDS \
    ((int)(sizeof(inherit_fields) / sizeof(inherit_fields[0])))

_Static_assert(INHERIT_MAX_LISTEN + INHERIT_NFIELDS <= INHERIT_MAX_FDS,
    "INHERIT_MAX_FDS holds every descriptor of every field");

static int *
field_fds(const struct inherit_field *f, struct inherit *in)
{
    return (int *)(void *)((char *)in + f->off);
}

static const int *
field_cfds(const struct inherit_field *f, const struct inherit *in)
{
    return (const int *)(const void *)((const char *)in + f->off);
}

/* How many descriptors field f holds in in. */
static int
field_count(const struct inherit_field *f, const struct inherit *in)
{
    if (f->count_off == INHERIT_ONE)
        return *field_cfds(f, in) >= 0;
    return *(const int *)(const void *)((const char *)in + f->count_off);
}

void
inherit_init(struct inherit *in)
{
    memset(in, 0, sizeof(*in));
    for (int i = 0; i < INHERIT_NFIELDS; i++)
        if (inherit_fields[i].count_off == INHERIT_ONE)
            *field_fds(&inherit_fields[i], in) = -1;
}

int
inherit_fds(const struct inherit *in, int *out)
{
    int n = 0;

    for (int i = 0; i < INHERIT_NFIELDS; i++) {
        const struct inherit_field *f = &inherit_fields[i];
        int c = field_count(f, in);

        for (int k = 0; k < c && n < INHERIT_MAX_FDS; k++)
            out[n++] = field_cfds(f, in)[k];
    }
    return n;
}

/* Append to out[*n..outlen); -1 once it does not fit. */
static int __attribute__((format(printf, 4, 5)))
inherit_put(char *out, size_t outlen, size_t *n, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vsnprintf(out + *n, outlen - *n, fmt, ap);
    va_end(ap);
    if (r < 0 || (size_t)r >= outlen - *n)
        return -1;
    *n += (size_t)r;
    return 0;
}

int
inherit_format(const struct inherit *in, char *out, size_t outlen)
{
    size_t n = 0;

    if (outlen == 0)
        return -1;
    out[0] = '\0';
    for (int i = 0; i < INHERIT_NFIELDS; i++) {
        const struct inherit_field *f = &inherit_fields[i];
        int c = field_count(f, in);

        if (c == 0)
            continue;
        if (inherit_put(out, outlen, &n, "%s%s=", n > 0 ? ";" : "",
            f->name) != 0)
            return -1;
        for (int k = 0; k < c; k++)
            if (inherit_put(out, outlen, &n, "%s%d", k > 0 ? "," : "",
                field_cfds(f, in)[k]) != 0)
                return -1;
    }
    return 0;
}

static int __attribute__((format(printf, 3, 4)))
inherit_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/*
 * One descriptor at *sp: digits only, no leading zero, 3..INHERIT_MAX_FD.
 * Returns it and moves *sp past it, or -1.
 */
static int
inherit_number(const char **sp)
{
    const char *s = *sp;
    long v = 0;

    if (*s < '1' || *s > '9')
        return -1;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s++ - '0');
        if (v > INHERIT_MAX_FD)
            return -1;
    }
    *sp = s;
    return (int)v;
}

/* inherit_parse() but for clearing in on failure. */
static int
inherit_parse_fields(const char *s, struct inherit *in, char *err,
    size_t errlen)
{
    int seen[INHERIT_NFIELDS] = { 0 }, all[INHERIT_MAX_FDS], nall = 0;
    const char *s0 = s;
    size_t len = strnlen(s, INHERIT_MAX_LEN);

    if (len == 0)
        return inherit_fail(err, errlen, "empty");
    if (len >= INHERIT_MAX_LEN)
        return inherit_fail(err, errlen, "longer than %d bytes",
            INHERIT_MAX_LEN - 1);
    for (;;) {
        const struct inherit_field *f;
        const char *eq = s;
        int fi, *fds, count = 0;

        while (*eq >= 'a' && *eq <= 'z')
            eq++;
        if (*eq != '=' || eq == s)
            return inherit_fail(err, errlen, "expected NAME=FD at byte "
                "%zu", (size_t)(s - s0));
        for (fi = 0; fi < INHERIT_NFIELDS; fi++)
            if (strlen(inherit_fields[fi].name) == (size_t)(eq - s) &&
                memcmp(inherit_fields[fi].name, s, (size_t)(eq - s)) == 0)
                break;
        if (fi == INHERIT_NFIELDS)      /* quoted: it is all a-z */
            return inherit_fail(err, errlen, "unknown field \"%.*s\"",
                (int)(eq - s) > 16 ? 16 : (int)(eq - s), s);
        f = &inherit_fields[fi];
        if (seen[fi]++)
            return inherit_fail(err, errlen, "field %s given twice",
                f->name);
        fds = field_fds(f, in);
        s = eq + 1;
        for (;;) {
            int fd = inherit_number(&s);

            if (fd < 0)
                return inherit_fail(err, errlen, "%s: expected a "
                    "descriptor (3..%d, digits only) at byte %zu",
                    f->name, INHERIT_MAX_FD, (size_t)(s - s0));
            if (fd < 3)
                return inherit_fail(err, errlen, "%s: %d is a standard "
                    "stream", f->name, fd);
            for (int k = 0; k < nall; k++)
                if (all[k] == fd)
                    return inherit_fail(err, errlen, "%s: descriptor %d "
                        "named twice", f->name, fd);
            if (count == f->max)
                return inherit_fail(err, errlen, "%s: more than %d "
                    "descriptor(s)", f->name, f->max);
            all[nall++] = fd;
            fds[count++] = fd;
            if (*s != ',')
                break;
            s++;
        }
        if (f->count_off != INHERIT_ONE)
            *(int *)(void *)((char *)in + f->count_off) = count;
        if (*s == '\0')
            break;
        if (*s != ';')
            return inherit_fail(err, errlen, "%s: unexpected byte at %zu",
                f->name, (size_t)(s - s0));
        s++;
    }
    for (int i = 0; i < INHERIT_NFIELDS; i++)
        if (inherit_fields[i].required && !seen[i])
            return inherit_fail(err, errlen, "field %s is missing",
                inherit_fields[i].name);
    return 0;
}

int
inherit_parse(const char *s, struct inherit *in, char *err, size_t errlen)
{
    inherit_init(in);
    if (inherit_parse_fields(s, in, err, errlen) == 0)
        return 0;
    inherit_init(in);
    return -1;
}
