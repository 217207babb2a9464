/*
 * render_qr.c - QR codes as SVG (render_qr.h).  libqrencode does the
 * encoding (data, Reed-Solomon error correction, masking); this file only
 * draws its module matrix.  A row's run of dark modules is one subpath,
 * so a link's code is a few kilobytes.  render_qr_user() is the body of
 * the qr.svg route: it picks the link from the snapshot's config.
 */
#include "render_qr.h"

#include <microhttpd.h>
#include <qrencode.h>
#include <stdlib.h>
#include <string.h>

#include "links.h"
#include "render_json.h"

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

/* render_qr_user()'s links_fn: keep the want-th link's tg:// form. */
struct qr_pick {
    int want, seen;
    char tg[LINKS_URL_MAX];
};

static void
qr_pick(void *arg, const struct proxy_link *l)
{
    struct qr_pick *p = arg;

    if (p->seen++ == p->want)
        memcpy(p->tg, l->tg, sizeof(p->tg));
}

/* A link argument as an index: 1 to 4 decimal digits (far beyond any
 * user's links); -1 if not. */
static int
link_index(const char *link)
{
    size_t n;

    if (link == NULL)
        return 0;
    n = strspn(link, "0123456789");
    if (n == 0 || n > 4 || link[n] != '\0')
        return -1;
    return atoi(link);
}

unsigned
render_qr_user(struct abuf *b, const struct admin_snap *s, const char *name,
    const char *link)
{
    const struct config *cfg = s->cfg;
    struct qr_pick p = { .want = link_index(link) };
    int user = -1, rc;

    if (cfg->admin_token[0] == '\0') {
        render_json_error(b, "no_links", RENDER_JSON_LINKS_OMITTED);
        return MHD_HTTP_NOT_FOUND;
    }
    for (int i = 0; i < cfg->nusers && user < 0; i++)
        if (strcmp(cfg->users[i].name, name) == 0)
            user = i;
    if (user < 0) {
        render_json_error(b, "not_found", "no such user");
        return MHD_HTTP_NOT_FOUND;
    }
    if (p.want < 0) {
        render_json_error(b, "bad_request", "link must be a link's index: "
            "0, 1, ... in the order of the user's links");
        return MHD_HTTP_BAD_REQUEST;
    }
    rc = links_each(cfg, user, qr_pick, &p);
    if (rc == LINKS_NO_HOST) {
        render_json_error(b, "no_links", RENDER_QR_NO_HOST);
        return MHD_HTTP_NOT_FOUND;
    }
    if (p.want >= p.seen) {
        render_json_error(b, "not_found", "the user has no link of this "
            "index (GET /api/v1/users lists them)");
        return MHD_HTTP_NOT_FOUND;
    }
    render_qr_svg(b, p.tg);
    return MHD_HTTP_OK;
}
