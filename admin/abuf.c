/*
 * abuf.c - the admin endpoint's growable text buffer: every response body
 * (JSON, Prometheus text, errors) is appended to one and handed to
 * libmicrohttpd whole.  Out of memory sets failed once and turns every
 * later append into a no-op, so a renderer checks once, at the end.
 */
#include "abuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ABUF_MIN        4096

void
abuf_init(struct abuf *b)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

void
abuf_free(struct abuf *b)
{
    free(b->p);
    abuf_init(b);
}

/* Make room for n more bytes and the NUL; 0, or -1 (failed is set). */
static int
abuf_reserve(struct abuf *b, size_t n)
{
    size_t cap = b->cap ? b->cap : ABUF_MIN;
    char *p;

    if (b->failed)
        return -1;
    if (b->len + n + 1 <= b->cap)
        return 0;
    while (cap < b->len + n + 1) {
        if (cap > SIZE_MAX / 2) {
            b->failed = 1;
            return -1;
        }
        cap *= 2;
    }
    p = realloc(b->p, cap);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void
abuf_add(struct abuf *b, const char *s, size_t n)
{
    if (abuf_reserve(b, n) != 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void
abuf_puts(struct abuf *b, const char *s)
{
    abuf_add(b, s, strlen(s));
}

void
abuf_printf(struct abuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (abuf_reserve(b, 128) != 0)
        return;
    va_start(ap, fmt);
    n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n >= b->cap - b->len) {
        if (abuf_reserve(b, (size_t)n) != 0)
            return;
        va_start(ap, fmt);
        (void)vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}
