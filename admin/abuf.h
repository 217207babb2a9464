/*
 * abuf.h - a growable NUL-terminated text buffer for response bodies.
 */
#ifndef TELEMT_ABUF_H
#define TELEMT_ABUF_H

#include <stddef.h>

/* failed is set once out of memory; later appends then do nothing. */
struct abuf {
    char *p;
    size_t len, cap;
    int failed;
};

/* Start an empty buffer (no allocation yet). */
void abuf_init(struct abuf *b);
/* Release the buffer's memory and empty it. */
void abuf_free(struct abuf *b);
/* Append n bytes. */
void abuf_add(struct abuf *b, const char *s, size_t n);
/* Append a C string. */
void abuf_puts(struct abuf *b, const char *s);
/* Append printf-formatted text. */
void abuf_printf(struct abuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
