/*
 * render_qr.h - a QR code of a text (a proxy link) as an SVG image, for
 * the admin endpoint's GET /api/v1/users/NAME/qr.svg and the page's QR
 * codes.  The encoding is libqrencode's.
 */
#ifndef TELEMT_RENDER_QR_H
#define TELEMT_RENDER_QR_H

#include "abuf.h"

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

#endif
