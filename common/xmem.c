/*
 * xmem.c - allocators that exit on OOM, for start-up and config code only.
 */
#include "xmem.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

void *
xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        fatalx("out of memory allocating %zu bytes", n);
    return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

    if (p == NULL)
        fatalx("out of memory allocating %zu x %zu bytes", nmemb, size);
    return p;
}

char *
xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);

    memcpy(p, s, n);
    return p;
}
