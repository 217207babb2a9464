/*
 * render_qr.h - a QR code of a text (a proxy link) as an SVG image, for
 * the admin endpoint's GET /api/v1/users/NAME/qr.svg and the page's QR
 * codes.  The encoding is libqrencode's.
 */
#ifndef TELEMT_RENDER_QR_H
#define TELEMT_RENDER_QR_H

#include "abuf.h"
#include "admin_snap.h"

/* Quiet zone around the symbol, in modules (ISO/IEC 18004 asks for 4). */
#define RENDER_QR_QUIET 4

/*
 * Append the SVG of text's QR code (error correction level M, the
 * smallest version that holds it) to b: a white square, then one <path>
 * of the dark modules, viewBox in modules (the symbol plus the quiet
 * zone), shape-rendering crispEdges.  The same text gives the same
 * bytes.  On any error (text too long for a QR code, out of memory)
 * b->failed is set.
 */
void render_qr_svg(struct abuf *b, const char *text);

#define RENDER_QR_NO_HOST "the links need public_host, or a listen " \
    "address that is not a wildcard"
/*
 * The body of GET /api/v1/users/NAME/qr.svg?link=LINK: the QR code of
 * the tg:// form of user name's link number LINK (links_each() order;
 * NULL: 0).  Returns 200, or with a JSON error in b: 404 without
 * admin_token configured (links carry secrets: RENDER_JSON_LINKS_OMITTED),
 * for an unknown user, a link index past the user's links or a config
 * without a host for links; 400 if LINK is not a decimal index.
 */
unsigned render_qr_user(struct abuf *b, const struct admin_snap *s,
    const char *name, const char *link);

#endif
