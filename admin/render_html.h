/*
 * render_html.h - the stats page (admin/page.html), linked into the
 * binary as data.  Called by admin.c for GET /; the bytes are constant
 * and must never be written or freed.
 */
#ifndef TELEMT_RENDER_HTML_H
#define TELEMT_RENDER_HTML_H

#include <stddef.h>

/* The page's bytes (not NUL-terminated); its length goes into *len. */
const char *render_html_page(size_t *len);

#endif
