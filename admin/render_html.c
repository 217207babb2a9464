/*
 * render_html.c - hands out the stats page that the build embeds from
 * admin/page.html (ld -r -b binary: _binary_page_html_start/_end).
 * Called by admin.c for GET /.  The page is read-only data; nothing here
 * may write to it or build HTML from request input.
 */
#include "render_html.h"

#include <stdint.h>

extern const char _binary_page_html_start[], _binary_page_html_end[];

const char *
render_html_page(size_t *len)
{
    /* Two symbols, not one array: subtract addresses, not pointers. */
    *len = (size_t)((uintptr_t)_binary_page_html_end -
        (uintptr_t)_binary_page_html_start);
    return _binary_page_html_start;
}
