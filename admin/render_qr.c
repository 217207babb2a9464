/*
 * render_qr.c - QR codes as SVG (render_qr.h).  libqrencode does the
 * encoding (data, Reed-Solomon error correction, masking); this file only
 * draws its module matrix.  A row's run of dark modules is one subpath,
 * so a link's code is a few kilobytes.
 */
#include "render_qr.h"

#include <qrencode.h>

/* libqrencode: the low bit of a module's byte says it is dark. */
#define QR_DARK(m)      ((m) & 1)

/* The subpaths of row y's dark runs, in the quiet-zone-shifted frame. */
static void
row_path(struct abuf *b, const unsigned char *row, int width, int y)
{
    int x = 0;

    while (x < width) {
        int start;

        if (!QR_DARK(row[x])) {
            x++;
            continue;
        }
        start = x;
        while (x < width && QR_DARK(row[x]))
            x++;
        abuf_printf(b, "M%d %dh%dv1h-%dz", start + RENDER_QR_QUIET,
            y + RENDER_QR_QUIET, x - start, x - start);
    }
}

void
render_qr_svg(struct abuf *b, const char *text)
{
    QRcode *qr;
    int side;

    if (b->failed)
        return;
    qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (qr == NULL) {
        b->failed = 1;                  /* EINVAL, ERANGE or ENOMEM */
        return;
    }
    side = qr->width + 2 * RENDER_QR_QUIET;
    abuf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" "
        "viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
        "shape-rendering=\"crispEdges\">"
        "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>"
        "<path fill=\"#000\" d=\"", side, side, side * 4, side * 4, side,
        side);
    for (int y = 0; y < qr->width; y++)
        row_path(b, qr->data + (size_t)y * (size_t)qr->width, qr->width, y);
    abuf_puts(b, "\"/></svg>\n");
    QRcode_free(qr);
}
