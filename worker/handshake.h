/*
 * handshake.h - the client handshake, a sequence of stages: sniff the
 * first bytes, then obfuscated2 (classic/secure) or fake TLS, find the
 * user, enforce the enabled modes; a verdict, never a partial state.
 */
#ifndef TELEMT_HANDSHAKE_H
#define TELEMT_HANDSHAKE_H

#include <stdint.h>

#include "conn.h"
#include "crypto.h"
#include "obfs2.h"
#include "stats_fields.h"
#include "tlsrec.h"

/* Verdicts: HS_OK, or a refusal of STATS_HS_REFUSALS (stats_fields.h),
 * which also names it and gives its counter. */
enum hs_verdict {
    HS_OK = 0,
#define X(name, verdict, help) HS_##verdict,
    STATS_HS_REFUSALS(X)
#undef X
};

enum hs_mode { HS_MODE_CLASSIC, HS_MODE_SECURE, HS_MODE_TLS };

struct hs_result {
    enum hs_mode mode;
    int user;                       /* index into cfg->users */
    uint32_t tag;
    int16_t dc;
    struct obfs2_keys keys;         /* keys.down_* feed fast mode */
    struct ctr *c_dec;              /* client -> proxy, past the header */
    struct ctr *c_enc;              /* proxy -> client; NULL in fast mode */
    uint8_t *early;                 /* client stream bytes (still under */
    size_t early_len;               /* c_dec) read after the header */
    int tls;                        /* fake TLS: rec continues the stream */
    struct tlsrec_reader rec;
};

/*
 * Run the handshake on c->cfd until a verdict or the handshake deadline.
 * On HS_OK, r holds the user, tag, dc and the two client streams (the
 * caller frees them); otherwise r holds nothing to free.  A refusal may
 * be masked unless c->answered (a ServerHello went out); c->client_eof
 * tells whether the client half-closed before the verdict.
 */
enum hs_verdict handshake_run(struct conn *c, struct hs_result *r);
/* A short name for logs ("bad_secret", ...). */
const char *handshake_verdict_name(enum hs_verdict v);

#endif
