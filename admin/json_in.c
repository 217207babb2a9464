/*
 * json_in.c - a strict reader of flat JSON objects (see json_in.h).  The
 * bytes come from an HTTP client: every length is bounded, nothing is
 * recursive, and \u escapes are turned into UTF-8 (no lone surrogates,
 * no NUL).
 */
#include "json_in.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rd {
    const char *p, *end;
    char *err;
    size_t errlen;
    const char *start;
};

static int
rd_fail(struct rd *r, const char *why)
{
    snprintf(r->err, r->errlen, "bad JSON at byte %zu: %s",
        (size_t)(r->p - r->start), why);
    return -1;
}

static void
rd_space(struct rd *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' ||
        *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static int
rd_hex4(struct rd *r, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c;

        if (r->p >= r->end)
            return rd_fail(r, "a short \\u escape");
        c = *r->p++;
        *v <<= 4;
        if (c >= '0' && c <= '9')
            *v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            *v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            *v |= (unsigned)(c - 'A' + 10);
        else
            return rd_fail(r, "a bad \\u escape");
    }
    return 0;
}

/* Append code point cp as UTF-8 to out[*n..cap); -1 if no room. */
static int
put_utf8(char *out, size_t *n, size_t cap, unsigned cp)
{
    char b[4];
    size_t k;

    if (cp < 0x80) {
        b[0] = (char)cp;
        k = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xc0 | cp >> 6);
        b[1] = (char)(0x80 | (cp & 0x3f));
        k = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xe0 | cp >> 12);
        b[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        b[2] = (char)(0x80 | (cp & 0x3f));
        k = 3;
    } else {
        b[0] = (char)(0xf0 | cp >> 18);
        b[1] = (char)(0x80 | (cp >> 12 & 0x3f));
        b[2] = (char)(0x80 | (cp >> 6 & 0x3f));
        b[3] = (char)(0x80 | (cp & 0x3f));
        k = 4;
    }
    if (*n + k >= cap)
        return -1;
    memcpy(out + *n, b, k);
    *n += k;
    return 0;
}

/* A string, the opening quote next; into out (NUL-terminated). */
static int
rd_string(struct rd *r, char *out, size_t cap)
{
    size_t n = 0;

    if (r->p >= r->end || *r->p != '"')
        return rd_fail(r, "a string was expected");
    r->p++;
    for (;;) {
        unsigned char c;
        unsigned cp, lo;

        if (r->p >= r->end)
            return rd_fail(r, "an unterminated string");
        c = (unsigned char)*r->p++;
        if (c == '"')
            break;
        if (c < 0x20)
            return rd_fail(r, "a control character in a string");
        if (c != '\\') {
            if (n + 1 >= cap)
                return rd_fail(r, "a string too long");
            out[n++] = (char)c;
            continue;
        }
        if (r->p >= r->end)
            return rd_fail(r, "an unterminated escape");
        c = (unsigned char)*r->p++;
        switch (c) {
        case '"': case '\\': case '/':
            cp = c;
            break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
            if (rd_hex4(r, &cp) != 0)
                return -1;
            if (cp >= 0xd800 && cp < 0xdc00) {
                if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u')
                    return rd_fail(r, "a lone surrogate");
                r->p += 2;
                if (rd_hex4(r, &lo) != 0)
                    return -1;
                if (lo < 0xdc00 || lo >= 0xe000)
                    return rd_fail(r, "a lone surrogate");
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp < 0xe000) {
                return rd_fail(r, "a lone surrogate");
            }
            if (cp == 0)
                return rd_fail(r, "\\u0000 in a string");
            break;
        default:
            return rd_fail(r, "a bad escape");
        }
        if (put_utf8(out, &n, cap, cp) != 0)
            return rd_fail(r, "a string too long");
    }
    out[n] = '\0';
    return 0;
}

static int
rd_value(struct rd *r, struct json_in_member *m)
{
    size_t left = (size_t)(r->end - r->p);

    if (left == 0)
        return rd_fail(r, "a value was expected");
    if (*r->p == '"') {
        m->type = JSON_IN_STRING;
        return rd_string(r, m->str, sizeof(m->str));
    }
    if (left >= 4 && memcmp(r->p, "true", 4) == 0) {
        r->p += 4;
        m->type = JSON_IN_BOOL;
        m->num = 1;
        return 0;
    }
    if (left >= 5 && memcmp(r->p, "false", 5) == 0) {
        r->p += 5;
        m->type = JSON_IN_BOOL;
        m->num = 0;
        return 0;
    }
    if (left >= 4 && memcmp(r->p, "null", 4) == 0) {
        r->p += 4;
        m->type = JSON_IN_NULL;
        return 0;
    }
    if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9')) {
        char num[24], *e;
        size_t n = 0;

        while (r->p < r->end && n + 1 < sizeof(num) &&
            (*r->p == '-' || (*r->p >= '0' && *r->p <= '9')))
            num[n++] = *r->p++;
        num[n] = '\0';
        if (r->p < r->end && (*r->p == '.' || *r->p == 'e' ||
            *r->p == 'E' || (*r->p >= '0' && *r->p <= '9')))
            return rd_fail(r, "only integers are taken");
        if (num[n - 1] == '-' || strchr(num + 1, '-') != NULL)
            return rd_fail(r, "a misplaced '-'");
        if ((num[0] == '0' && n > 1) || (num[0] == '-' && num[1] == '0' &&
            n > 2))
            return rd_fail(r, "a number with a leading zero");
        errno = 0;
        m->num = strtoll(num, &e, 10);
        if (errno != 0 || *e != '\0')
            return rd_fail(r, "a number out of range");
        m->type = JSON_IN_INT;
        return 0;
    }
    if (*r->p == '{' || *r->p == '[')
        return rd_fail(r, "objects and arrays are not taken here");
    return rd_fail(r, "a value was expected");
}

int
json_in_parse(const char *text, size_t len, struct json_in *out, char *err,
    size_t errlen)
{
    struct rd r = { text, text + len, err, errlen, text };

    out->n = 0;
    rd_space(&r);
    if (r.p >= r.end || *r.p != '{')
        return rd_fail(&r, "an object was expected");
    r.p++;
    rd_space(&r);
    if (r.p < r.end && *r.p == '}') {
        r.p++;
    } else {
        for (;;) {
            struct json_in_member *m;

            if (out->n == JSON_IN_MAX)
                return rd_fail(&r, "too many members");
            m = &out->m[out->n];
            rd_space(&r);
            if (rd_string(&r, m->key, sizeof(m->key)) != 0)
                return -1;
            if (json_in_get(out, m->key) != NULL)
                return rd_fail(&r, "a key given twice");
            rd_space(&r);
            if (r.p >= r.end || *r.p != ':')
                return rd_fail(&r, "':' was expected");
            r.p++;
            rd_space(&r);
            if (rd_value(&r, m) != 0)
                return -1;
            out->n++;
            rd_space(&r);
            if (r.p < r.end && *r.p == ',') {
                r.p++;
                continue;
            }
            if (r.p < r.end && *r.p == '}') {
                r.p++;
                break;
            }
            return rd_fail(&r, "',' or '}' was expected");
        }
    }
    rd_space(&r);
    if (r.p != r.end)
        return rd_fail(&r, "bytes after the object");
    return 0;
}

const struct json_in_member *
json_in_get(const struct json_in *j, const char *key)
{
    for (int i = 0; i < j->n; i++)
        if (strcmp(j->m[i].key, key) == 0)
            return &j->m[i];
    return NULL;
}
