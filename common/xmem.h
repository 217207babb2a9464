/*
 * xmem.h - allocation for start-up and config code: never returns NULL,
 * exits with a message on out-of-memory.  Connection threads must not use
 * these; they treat OOM as "close this connection".
 */
#ifndef TELEMT_XMEM_H
#define TELEMT_XMEM_H

#include <stddef.h>

/* malloc that never fails. */
void *xmalloc(size_t n);
/* calloc that never fails. */
void *xcalloc(size_t nmemb, size_t size);
/* strdup that never fails. */
char *xstrdup(const char *s);

#endif
