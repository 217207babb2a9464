/*
 * test_qr.c - render_qr_svg() (admin/render_qr.c): the SVG is one white
 * square and one path, its viewBox is the symbol plus a 4-module quiet
 * zone, the path drawn back into a grid is exactly libqrencode's matrix
 * for the text (and leaves the quiet zone white), longer texts give
 * bigger symbols, the bytes are the same for the same text, and a text no
 * QR code holds fails the buffer.  render_qr_user(), the qr.svg route's
 * body: the code of the right link, and its JSON errors (no admin_token,
 * unknown user, index past the links or not a number, no host).
 */
#include <check.h>

#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../admin/render_qr.h"
#include "links.h"
#include "testutil.h"

#define LINK "tg://proxy?server=proxy.example.com&port=443&secret=" \
    "ee00112233445566778899aabbccddeeff7777772e676f6f676c652e636f6d"

/* The number of times needle occurs in hay. */
static int
count(const char *hay, const char *needle)
{
    int n = 0;

    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* text's SVG; the caller frees it. */
static char *
svg_of(const char *text)
{
    struct abuf b;

    abuf_init(&b);
    render_qr_svg(&b, text);
    ck_assert_msg(!b.failed, "render_qr_svg failed for a %zu-byte text",
        strlen(text));
    ck_assert_ptr_nonnull(b.p);
    return b.p;
}

/* The side of svg's square viewBox, checked to be "0 0 N N". */
static int
svg_side(const char *svg)
{
    const char *vb = strstr(svg, "viewBox=\"");
    int w, h;

    ck_assert_ptr_nonnull(vb);
    ck_assert_int_eq(sscanf(vb, "viewBox=\"0 0 %d %d\"", &w, &h), 2);
    ck_assert_int_eq(w, h);
    return w;
}

/*
 * Draw svg's path into grid (side x side, 1 = dark): each subpath must be
 * "Mx yhNv1h-Nz", a run of N modules on row y, inside the viewBox.
 */
static void
svg_draw(const char *svg, int side, unsigned char *grid)
{
    const char *p = strstr(svg, " d=\"");

    ck_assert_ptr_nonnull(p);
    p += 4;
    memset(grid, 0, (size_t)side * (size_t)side);
    while (*p != '"') {
        int x, y, n, back, used = 0;

        ck_assert_msg(sscanf(p, "M%d %dh%dv1h-%dz%n", &x, &y, &n, &back,
            &used) == 4 && used > 0, "bad subpath at '%.20s'", p);
        ck_assert_int_eq(n, back);
        ck_assert(n > 0 && x >= 0 && y >= 0 && x + n <= side && y < side);
        for (int i = 0; i < n; i++) {
            ck_assert_msg(!grid[y * side + x + i], "module drawn twice");
            grid[y * side + x + i] = 1;
        }
        p += used;
    }
}

START_TEST(test_qr_well_formed)
{
    char *svg = svg_of(LINK);
    size_t len = strlen(svg);

    ck_assert(strncmp(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" ",
        40) == 0);
    ck_assert_str_eq(svg + len - 7, "</svg>\n");
    ck_assert_int_eq(count(svg, "<svg"), 1);
    ck_assert_int_eq(count(svg, "<path"), 1);
    ck_assert_int_eq(count(svg, "<rect"), 1);
    ck_assert_int_eq(count(svg, "<"), 4);       /* svg, rect, path, /svg */
    ck_assert_int_eq(count(svg, "shape-rendering=\"crispEdges\""), 1);
    ck_assert_int_eq(count(svg, "\"/>"), 2);
    /* The link's bytes are in the image, not in the markup. */
    ck_assert_ptr_null(strstr(svg, "secret"));
    ck_assert(len < 16384);
    free(svg);
}
END_TEST

START_TEST(test_qr_matrix)
{
    char *svg = svg_of(LINK);
    QRcode *qr = QRcode_encodeString(LINK, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    int side = svg_side(svg), q = RENDER_QR_QUIET, dark = 0;
    unsigned char *grid;

    ck_assert_ptr_nonnull(qr);
    ck_assert_int_eq(side, qr->width + 2 * q);
    ck_assert_int_eq((qr->width - 17) % 4, 0);  /* 17 + 4 * version */
    grid = malloc((size_t)side * (size_t)side);
    ck_assert_ptr_nonnull(grid);
    svg_draw(svg, side, grid);
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++) {
            int in = x >= q && y >= q && x < side - q && y < side - q;
            int want = in ? qr->data[(y - q) * qr->width + x - q] & 1 : 0;

            ck_assert_msg(grid[y * side + x] == want,
                "module (%d,%d) is %d, libqrencode says %d", x, y,
                grid[y * side + x], want);
            dark += want;
        }
    /* The finder pattern's corner: a dark module at the symbol's origin. */
    ck_assert_int_eq(grid[q * side + q], 1);
    ck_assert(dark > side);
    free(grid);
    QRcode_free(qr);
    free(svg);
}
END_TEST

START_TEST(test_qr_grows_and_repeats)
{
    char long_text[600];
    char *small, *big, *again;

    memset(long_text, 'a', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    small = svg_of("tg://proxy?server=a&port=1&secret=00");
    big = svg_of(long_text);
    ck_assert_int_lt(svg_side(small), svg_side(big));
    ck_assert_int_lt(strlen(small), strlen(big));
    again = svg_of("tg://proxy?server=a&port=1&secret=00");
    ck_assert_str_eq(small, again);
    free(again);
    again = svg_of(LINK);
    ck_assert_str_ne(small, again);
    free(again);
    free(small);
    free(big);
}
END_TEST

START_TEST(test_qr_fails_cleanly)
{
    size_t n = 8000;                    /* beyond version 40's capacity */
    char *huge = malloc(n + 1);
    struct abuf b;

    ck_assert_ptr_nonnull(huge);
    memset(huge, 'x', n);
    huge[n] = '\0';
    abuf_init(&b);
    render_qr_svg(&b, huge);
    ck_assert_int_eq(b.failed, 1);
    abuf_free(&b);
    /* An empty text has no QR code either. */
    abuf_init(&b);
    render_qr_svg(&b, "");
    ck_assert_int_eq(b.failed, 1);
    abuf_free(&b);
    /* A failed buffer stays failed and untouched. */
    abuf_init(&b);
    b.failed = 1;
    render_qr_svg(&b, LINK);
    ck_assert_ptr_null(b.p);
    abuf_free(&b);
    free(huge);
}
END_TEST

/* A config of one user (secure and tls links) inside a snapshot. */
struct qr_fixture {
    struct config_user u[2];
    char *domains[1];
    struct config cfg;
    struct admin_snap s;
};

static void
qr_fixture_init(struct qr_fixture *f, const char *token)
{
    memset(f, 0, sizeof(*f));
    f->u[0].name = (char *)"alice";
    f->u[1].name = (char *)"bob";
    unhex("00112233445566778899aabbccddeeff", f->u[0].secret, 16);
    unhex("ffeeddccbbaa99887766554433221100", f->u[1].secret, 16);
    f->domains[0] = (char *)"www.example.com";
    f->cfg = (struct config){
        .path = (char *)"x.conf", .nusers = 2, .users = f->u,
        .mode_secure = true, .mode_tls = true,
        .tls_domain = (char *)"www.example.com",
        .ntls_domains = 1, .tls_domains = f->domains,
        .public_host = (char *)"203.0.113.5", .public_port = 443,
        .listen_ipv4 = (char *)"0.0.0.0", .listen_ipv6 = (char *)"",
        .admin_token = unconst(token),
    };
    f->s.cfg = &f->cfg;
}

/* user's link's body and status into *body (the caller frees it). */
static unsigned
qr_route(struct qr_fixture *f, const char *user, const char *link,
    char **body)
{
    struct abuf b;
    unsigned status;

    abuf_init(&b);
    status = render_qr_user(&b, &f->s, user, link);
    ck_assert(!b.failed);
    ck_assert_ptr_nonnull(b.p);
    *body = b.p;
    return status;
}

START_TEST(test_qr_route)
{
    static const char *const want[] = {
        "tg://proxy?server=203.0.113.5&port=443&secret="
        "ddffeeddccbbaa99887766554433221100",
        "tg://proxy?server=203.0.113.5&port=443&secret="
        "eeffeeddccbbaa998877665544332211007777772e6578616d706c652e636f6d",
    };
    struct qr_fixture f;
    char *body, *svg;

    qr_fixture_init(&f, "0123456789abcdef0123");
    for (int i = 0; i < 2; i++) {
        const char *arg = i == 0 ? NULL : "1";

        ck_assert_int_eq(qr_route(&f, "bob", arg, &body), 200);
        svg = svg_of(want[i]);
        ck_assert_str_eq(body, svg);
        free(svg);
        free(body);
    }
    ck_assert_int_eq(qr_route(&f, "bob", "0", &body), 200);
    svg = svg_of(want[0]);
    ck_assert_str_eq(body, svg);
    free(svg);
    free(body);
    /* alice's first link is not bob's. */
    ck_assert_int_eq(qr_route(&f, "alice", NULL, &body), 200);
    svg = svg_of(want[0]);
    ck_assert_str_ne(body, svg);
    free(svg);
    free(body);
}
END_TEST

START_TEST(test_qr_route_errors)
{
    static const struct {
        const char *token, *user, *link;
        unsigned status;
        const char *has;
    } cases[] = {
        { "", "bob", NULL, 404, "\"no_links\"" },
        { "", "bob", NULL, 404, "admin_token" },
        { "", "nobody", NULL, 404, "\"no_links\"" },
        { "0123456789abcdef0123", "nobody", NULL, 404, "\"not_found\"" },
        { "0123456789abcdef0123", "bob", "2", 404, "no link of this index" },
        { "0123456789abcdef0123", "bob", "9999", 404, "\"not_found\"" },
        { "0123456789abcdef0123", "bob", "x", 400, "\"bad_request\"" },
        { "0123456789abcdef0123", "bob", "-1", 400, "\"bad_request\"" },
        { "0123456789abcdef0123", "bob", "", 400, "\"bad_request\"" },
        { "0123456789abcdef0123", "bob", "1x", 400, "\"bad_request\"" },
        { "0123456789abcdef0123", "bob", "12345", 400, "\"bad_request\"" },
    };
    struct qr_fixture f;
    char *body;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        qr_fixture_init(&f, cases[i].token);
        ck_assert_int_eq(qr_route(&f, cases[i].user, cases[i].link, &body),
            cases[i].status);
        ck_assert_msg(strncmp(body, "{\"error\":{\"code\":", 17) == 0 &&
            strstr(body, cases[i].has) != NULL, "case %zu: %s", i, body);
        free(body);
    }
    /* No host to put in the links. */
    qr_fixture_init(&f, "0123456789abcdef0123");
    f.cfg.public_host = (char *)"";
    ck_assert_int_eq(qr_route(&f, "bob", NULL, &body), 404);
    ck_assert_ptr_nonnull(strstr(body, "public_host"));
    free(body);
}
END_TEST

Suite *qr_suite(void);

Suite *
qr_suite(void)
{
    Suite *s = suite_create("qr");
    TCase *tc = tcase_create("qr");

    tcase_add_test(tc, test_qr_well_formed);
    tcase_add_test(tc, test_qr_matrix);
    tcase_add_test(tc, test_qr_grows_and_repeats);
    tcase_add_test(tc, test_qr_fails_cleanly);
    tcase_add_test(tc, test_qr_route);
    tcase_add_test(tc, test_qr_route_errors);
    suite_add_tcase(s, tc);
    return s;
}
