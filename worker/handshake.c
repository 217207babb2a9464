/*
 * handshake.c - reads the client's first bytes under the handshake
 * deadline and decides who the client is.
 *
 * Every byte read is kept in c->hs: masking replays them to the mask
 * host.  States: SNIFF (a TLS hello or an obfuscated2 header?) ->
 * TLS_HELLO (whole record, SNI, digest per user, time window, replay) ->
 * TLS_ANSWER (ServerHello written) -> TLS_INNER (64-byte header from
 * ApplicationData records) -> OBFS2 (try every user's secret, check the
 * tag against the enabled modes, replay) -> verdict.  The whole machine
 * runs under one deadline, so a slow drip cannot outlive it, and it never
 * waits for more bytes than a real server would need to answer: first
 * bytes no client sends end the handshake at once.
 */
#include "handshake.h"

#include <netinet/in.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "faketls.h"
#include "log.h"
#include "net.h"
#include "proto.h"
#include "relay.h"
#include "srcguard.h"
#include "threads.h"
#include "util.h"

#define HS_INITIAL_CAP          4096
#define HS_MAX_CAP              65536
#define HS_BOOT_TIME_MAX        (2 * 86400)     /* "time since boot" form */
/* unknown_sni_action drop: how long a server that gave up takes. */
#define HS_DROP_MIN_MS          200
#define HS_DROP_MAX_MS          1500

const char *
handshake_verdict_name(enum hs_verdict v)
{
    static const char *const names[] = {
        "ok",
#define X(name, verdict, help) #name,
        STATS_HS_REFUSALS(X)
#undef X
    };

    return (unsigned)v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

/* Read until c->hs holds at least want bytes; a verdict if it cannot. */
static enum hs_verdict
hs_fill(struct conn *c, size_t want, int64_t deadline)
{
    sigset_t wake;
    size_t got;
    int r;

    if (want <= c->hslen)
        return HS_OK;
    if (want > HS_MAX_CAP)
        return HS_BAD_TLS;
    if (want > c->hscap) {
        size_t cap = want + HS_INITIAL_CAP;
        uint8_t *p;

        if (cap > HS_MAX_CAP)
            cap = HS_MAX_CAP;
        p = realloc(c->hs, cap);
        if (p == NULL)
            return HS_ERROR;
        c->hs = p;
        c->hscap = cap;
    }
    /* An eviction (conn_hs_enter()) sets c->evicted and wakes us with
     * RELAY_WAKE_SIG; an upgrade's wake-up is for relays only. */
    sigfillset(&wake);
    sigdelset(&wake, RELAY_WAKE_SIG);
    do {
        /* Evicted: what has already arrived is still read (a client
         * whose bytes are in may yet prove itself), nothing waited for. */
        if (atomic_load(&c->evicted))
            deadline = mono_ms();
        r = net_read_atleast(c->cfd, c->hs + c->hslen, want - c->hslen,
            c->hscap - c->hslen, deadline, &wake, &got);
        c->hslen += got;
    } while (r == NET_INTR);
    if (r >= 0 && c->hslen >= want)
        return HS_OK;
    if (r == NET_TIMEOUT)
        return HS_TIMEOUT;
    if (r == NET_EOF) {
        c->client_eof = 1;
        return HS_EOF;
    }
    return HS_ERROR;
}

/* Remember a handshake's fingerprint; HS_REPLAY if it was seen before. */
static enum hs_verdict
hs_replay_check(struct conn *c, const uint8_t *fp)
{
    int r = replay_check_insert(stats_replay(c->w->stats), fp,
        mono_ms() / 1000);

    if (r < 0)
        return HS_ERROR;
    return r == 1 ? HS_REPLAY : HS_OK;
}

/* Which mode a tag belongs to, and whether that mode is on. */
static int
tag_allowed(const struct config *cfg, uint32_t tag, int in_tls,
    enum hs_mode *mode)
{
    if (in_tls) {
        *mode = HS_MODE_TLS;
        return tag == TAG_PADDED ? cfg->mode_tls : cfg->mode_classic;
    }
    if (tag == TAG_PADDED) {
        *mode = HS_MODE_SECURE;
        return cfg->mode_secure;
    }
    *mode = HS_MODE_CLASSIC;
    return cfg->mode_classic;
}

/*
 * Users are tried one secret at a time, so with many users a handshake
 * costs one HMAC (fake TLS) or one SHA-256 + AES block (obfuscated2) per
 * user.  A client reconnects from the same address again and again, so
 * the user an address last authenticated as is tried first, alone and
 * at once; only when it does not match does the client search every
 * user, which takes its address's turn (hs_search_begin()).  A client
 * without a valid secret goes through every user whatever the hints
 * hold, so a prober's timing does not depend on them.
 */
static uint32_t
hs_addr_hash(const struct sockaddr_storage *ss)
{
    const uint8_t *p;
    size_t n;
    uint32_t h = 2166136261u;

    if (ss->ss_family == AF_INET6) {
        p = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
        n = 8;                              /* a /64: one host */
    } else {
        p = (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
        n = 4;
    }
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static int
hs_hint_get(const struct conn *c)
{
    uint32_t h = hs_addr_hash(&c->peer_addr);
    uint32_t v = atomic_load_explicit(
        &c->w->user_hint[h % WORKER_USER_HINTS], memory_order_relaxed);

    if ((v >> 16) != (h >> 16) || (v & 0xffff) == 0 ||
        (int)(v & 0xffff) > c->cfg->nusers)
        return -1;
    return (int)(v & 0xffff) - 1;
}

static void
hs_hint_set(const struct conn *c, int user)
{
    uint32_t h = hs_addr_hash(&c->peer_addr);

    atomic_store_explicit(&c->w->user_hint[h % WORKER_USER_HINTS],
        (h >> 16) << 16 | (uint32_t)(user + 1), memory_order_relaxed);
}

/*
 * A search of every user's secret costs a prober's address its turn
 * (srcguard.h): wait until fewer than search_per_addr run for it and its
 * failures' wait is over.  HS_OK with *held = 1 when a turn was taken;
 * an eviction or the deadline end the wait (the client is then masked
 * like any that is too slow).  Only the hinted user is tried before it,
 * so a client its address proved before never waits.
 */
static enum hs_verdict
hs_search_begin(struct conn *c, int64_t deadline, int *held)
{
    int waited = 0;

    *held = 0;
    if (c->src == NULL)
        return HS_OK;
    for (;;) {
        int64_t now = mono_ms(), retry;
        struct timespec ts;

        if (srcguard_search_begin(c->src, c->src_key,
            c->cfg->search_per_addr, now, &retry)) {
            *held = 1;
            if (waited)
                STATS_ADD(c->w->stats, search_waited, 1);
            return HS_OK;
        }
        waited = 1;
        if (atomic_load(&c->evicted) || now >= deadline)
            return HS_TIMEOUT;
        /* Waiters poll at staggered times, so none is always first. */
        retry = retry > 20 ? 20 : retry;
        retry += mono_us() % 3;
        if (retry > deadline - now)
            retry = deadline - now;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)retry * 1000000L;
        (void)nanosleep(&ts, NULL);     /* an eviction's signal cuts it */
    }
}

static void
hs_search_end(struct conn *c, int held, int failed)
{
    if (held)
        srcguard_search_end(c->src, c->src_key, failed, mono_ms(),
            c->cfg->fail_delay_max);
}

/*
 * Find the user whose secret turns hdr's tag into a valid one for an
 * enabled mode; in fake TLS only the user the hello proved (only_user).
 * A match in a disabled mode is remembered so the refusal says why.
 */
static enum hs_verdict
hs_obfs2_match(const struct config *cfg, const uint8_t *hdr, int in_tls,
    int only_user, struct hs_result *r)
{
    enum hs_verdict v = HS_BAD_SECRET;

    for (int u = 0; u < cfg->nusers; u++) {
        enum hs_mode mode;
        uint32_t tag;
        int16_t dc;

        if (only_user >= 0 && u != only_user)
            continue;
        if (!obfs2_match(hdr, cfg->users[u].secret, &tag, &dc, &r->keys))
            continue;
        if (!tag_allowed(cfg, tag, in_tls, &mode)) {
            v = HS_MODE_DISABLED;
            continue;
        }
        r->user = u;
        r->tag = tag;
        r->dc = dc;
        r->mode = mode;
        /* Fast mode: the DC encrypts for the client, no c_enc.  ME
         * mode re-frames every packet, so it always needs one. */
        if (obfs2_streams(hdr, &r->keys, &r->c_dec,
            cfg->fast_mode && !cfg->use_middle_proxy ? NULL : &r->c_enc) != 0)
            return HS_ERROR;
        return HS_OK;
    }
    return v;
}

/*
 * 1 if the hello's SNI is ours (tls_domain or one of tls_domains), or
 * unknown_sni_action is accept, or there is none: some clients send no
 * SNI at all, and such a hello is judged by its digest.
 */
static int
hs_sni_ok(const struct config *cfg, const struct faketls_hello *h)
{
    if (!h->has_sni || cfg->unknown_sni_action == CONFIG_SNI_ACCEPT)
        return 1;
    for (int i = 0; i < cfg->ntls_domains; i++)
        if (strcasecmp(h->sni, cfg->tls_domains[i]) == 0)
            return 1;
    return 0;
}

/* Read and throw away what the client sends until the deadline, its EOF
 * or an eviction, so that our close is a FIN and not a reset. */
static void
hs_drain(struct conn *c, int64_t until)
{
    uint8_t sink[512];
    sigset_t wake;
    size_t got;
    int r;

    sigfillset(&wake);
    sigdelset(&wake, RELAY_WAKE_SIG);
    do {
        if (atomic_load(&c->evicted))
            return;
        r = net_read_atleast(c->cfd, sink, sizeof(sink), sizeof(sink),
            until, &wake, &got);
    } while (r > 0 || r == NET_INTR);
    if (r == NET_EOF)
        c->client_eof = 1;
}

/*
 * unknown_sni_action for a hello that names a host we do not serve (or
 * names none and has no valid digest).  mask: HS_BAD_SNI, and conn.c
 * relays it to mask_host.  reject: the alert nginx sends (no alert says
 * more: it is sent before any key exchange, in the clear) and a close.
 * drop: silence, then a close, as from a server that gave up on it.
 * Both set c->answered: what the client got is our answer, not to be
 * followed by the mask host's.
 */
static enum hs_verdict
hs_sni_refuse(struct conn *c, int64_t deadline)
{
    const struct config *cfg = c->cfg;
    uint16_t r;
    int64_t until;

    switch (cfg->unknown_sni_action) {
    case CONFIG_SNI_REJECT:
        c->answered = 1;
        (void)net_write_all(c->cfd, faketls_alert_unrecognized_name,
            FAKETLS_ALERT_LEN, deadline);
        return HS_SNI_REJECT;
    case CONFIG_SNI_DROP:
        c->answered = 1;
        if (random_bytes((uint8_t *)&r, sizeof(r)) != 0)
            r = 0;
        until = mono_ms() + HS_DROP_MIN_MS +
            r % (HS_DROP_MAX_MS - HS_DROP_MIN_MS + 1);
        hs_drain(c, until < deadline ? until : deadline);
        return HS_SNI_DROP;
    default:
        return HS_BAD_SNI;
    }
}

/* The client's timestamp against the configured window. */
static int
hs_time_ok(const struct config *cfg, uint32_t ts)
{
    int64_t now = (int64_t)time(NULL), skew = (int64_t)ts - now;

    if (ts < HS_BOOT_TIME_MAX)
        return cfg->tls_accept_boot_time;
    return skew <= cfg->tls_time_skew && -skew <= cfg->tls_time_skew;
}

/* TLS_HELLO and TLS_ANSWER: authenticate the hello and answer it. */
static enum hs_verdict
hs_tls_hello(struct conn *c, int64_t deadline, struct faketls_hello *h,
    int *user)
{
    const struct config *cfg = c->cfg;
    uint8_t key_share[32], *answer, *cert;
    size_t need, cert_len, len;
    enum hs_verdict v;
    uint32_t ts = 0, span;
    int r, hint, held;

    for (;;) {
        switch (faketls_sniff(c->hs, c->hslen, &need)) {
        case FAKETLS_NEED_MORE:
            if ((v = hs_fill(c, need, deadline)) != HS_OK)
                return v;
            continue;
        case FAKETLS_NOT_TLS:
            return HS_NOT_TLS;
        case FAKETLS_BAD_LENGTH:
            return HS_BAD_TLS;
        case FAKETLS_COMPLETE:
            break;
        }
        break;
    }
    if (faketls_parse_hello(c->hs, need, h) != 0)
        return HS_BAD_TLS;
    /* Before the digest: a name we do not serve gets the same answer
     * whoever sends it. */
    if (!hs_sni_ok(cfg, h)) {
        log_debug("%s: SNI '%s' is not ours", c->peer, h->sni);
        return hs_sni_refuse(c, deadline);
    }
    *user = -1;
    hint = hs_hint_get(c);
    if (hint >= 0 && faketls_verify(c->hs, need, cfg->users[hint].secret,
        &ts))
        *user = hint;
    if (*user < 0) {
        if ((v = hs_search_begin(c, deadline, &held)) != HS_OK)
            return v;
        for (int u = 0; u < cfg->nusers && *user < 0; u++)
            if (u != hint &&
                faketls_verify(c->hs, need, cfg->users[u].secret, &ts))
                *user = u;
        hs_search_end(c, held, *user < 0);
    }
    /* No SNI and no valid digest: a prober's hello like any other. */
    if (*user < 0 && !h->has_sni &&
        (cfg->unknown_sni_action == CONFIG_SNI_REJECT ||
        cfg->unknown_sni_action == CONFIG_SNI_DROP))
        return hs_sni_refuse(c, deadline);
    if (*user < 0)
        return HS_BAD_DIGEST;
    if (!hs_time_ok(cfg, ts)) {
        log_debug("%s: hello time %u is %lld s from ours", c->peer, ts,
            (long long)ts - (long long)time(NULL));
        return HS_STALE_TIME;
    }
    /* The client random is the hello's fingerprint. */
    if ((v = hs_replay_check(c, h->random)) != HS_OK)
        return v;

    /* A certificate-sized ApplicationData record: the mask host's size
     * when tls_emulation learnt it, else a random one in range. */
    cert_len = atomic_load(&c->w->stats->tls_cert_len);
    if (cert_len == 0) {
        span = (uint32_t)(cfg->tls_cert_len_max - cfg->tls_cert_len_min + 1);
        if (random_bytes((uint8_t *)&cert_len, sizeof(cert_len)) != 0)
            return HS_ERROR;
        cert_len = (size_t)cfg->tls_cert_len_min + cert_len % span;
    } else {
        /* What the mask host would answer this hello's ALPN offer. */
        cert_len = faketls_flight_len(cert_len, (enum faketls_alpn)
            atomic_load(&c->w->stats->tls_alpn), h->alpn);
    }
    /* Answer first, random certificate bytes after it (never overlapping:
     * the answer shifts with the session id length).  In the relay's
     * buffers-to-be at the bottom of the stack: up to 33 KiB of heap for
     * a moment per client would leave holes under every idle one. */
    if ((answer = threads_buf(FAKETLS_ANSWER_FIXED + 2 * cert_len)) == NULL)
        return HS_ERROR;
    cert = answer + FAKETLS_ANSWER_FIXED + cert_len;
    if (keys_take(&c->w->keys, key_share) != 0 ||
        random_fill(cert, cert_len) != 0) {
        threads_buf_free(answer);
        return HS_ERROR;
    }
    len = faketls_build_answer(h, cfg->users[*user].secret, key_share,
        cert, cert_len, answer, FAKETLS_ANSWER_FIXED + cert_len);
    c->answered = 1;
    /* Proven: no eviction may take it now (max_handshakes is for those
     * that have shown nothing yet). */
    conn_hs_leave(c);
    /* tls_first_flight_segment: the answer in small segments of its own,
     * for middleboxes that judge a server by its first flight's packet
     * sizes; the relay after it writes as usual. */
    r = len == 0 ? NET_ERR : net_write_segments(c->cfd, answer, len,
        (size_t)cfg->tls_first_flight_segment, deadline);
    threads_buf_free(answer);
    if (r == NET_TIMEOUT)
        return HS_TIMEOUT;
    return r == 0 ? HS_OK : HS_ERROR;
}

/*
 * TLS_INNER: unwrap ApplicationData records in place in c->hs until the
 * 64-byte obfuscated2 header is there.  The reader state carries on into
 * the relay.
 */
static enum hs_verdict
hs_tls_inner(struct conn *c, int64_t deadline, size_t start,
    struct hs_result *r, size_t *pay_end)
{
    size_t raw = start;
    enum hs_verdict v;

    *pay_end = start;
    memset(&r->rec, 0, sizeof(r->rec));
    /* The client answers our ServerHello a round trip from now: a read
     * before the wait would only find nothing (hs_fill() sees to the
     * deadline and the rest). */
    if (raw == c->hslen) {
        sigset_t wake;

        sigfillset(&wake);
        sigdelset(&wake, RELAY_WAKE_SIG);
        (void)net_wait_readable(c->cfd, deadline, &wake);
    }
    while (*pay_end - start < OBFS2_HEADER_LEN) {
        enum tlsrec_status st;
        size_t out;

        if (raw == c->hslen &&
            (v = hs_fill(c, c->hslen + 1, deadline)) != HS_OK)
            return v;
        /* Output never overtakes input, so in-place is safe. */
        st = tlsrec_unwrap(&r->rec, c->hs + raw, c->hslen - raw,
            c->hs + *pay_end, &out);
        raw = c->hslen;
        *pay_end += out;
        if (st == TLSREC_ERROR)
            return HS_BAD_TLS;
        if (st == TLSREC_ALERT)
            return HS_EOF;
    }
    return HS_OK;
}

/*
 * OBFS2 on c->hs[0..64): one match over the users, then the replay check
 * (bytes 8.. are the fingerprint).  On HS_OK r holds the client; else r
 * holds nothing to free.
 */
static enum hs_verdict
hs_obfs2_header(struct conn *c, const struct config *cfg, int64_t deadline,
    struct hs_result *r)
{
    int hint = hs_hint_get(c), held;
    enum hs_verdict v = HS_BAD_SECRET;

    if (hint >= 0)
        v = hs_obfs2_match(cfg, c->hs, 0, hint, r);
    if (v != HS_OK) {
        if ((v = hs_search_begin(c, deadline, &held)) != HS_OK)
            return v;
        v = hs_obfs2_match(cfg, c->hs, 0, -1, r);
        hs_search_end(c, held, v == HS_BAD_SECRET || v == HS_MODE_DISABLED);
    }
    if (v == HS_OK)
        v = hs_replay_check(c, c->hs + 8);
    if (v == HS_OK) {
        hs_hint_set(c, r->user);
        r->early = c->hs + OBFS2_HEADER_LEN;
        r->early_len = c->hslen - OBFS2_HEADER_LEN;
    } else {
        ctr_free(r->c_dec);
        ctr_free(r->c_enc);
        r->c_dec = r->c_enc = NULL;
    }
    return v;
}

/*
 * SNIFF, for a start that looks like a TLS record: a hello, or with
 * classic or secure on an obfuscated2 header whose random first bytes
 * look like one.  faketls_classify() says what to do next; the header is
 * matched at most once, as soon as its 64 bytes are there, so a header
 * costs a prober no more than elsewhere and a client never waits for a
 * record length it did not mean.  A real hello matches a header only by
 * chance (3 tags in 2^32 per user, as any random bytes do; never tdlib's
 * 517-byte hello, which starts 16 03 01 02), and is verified first when
 * it is whole.  HS_OK and *is_obfs2 = 1: r holds the obfuscated2 client;
 * HS_OK and *is_obfs2 = 0: the hello in h from user *user was answered;
 * HS_NOT_TLS: no TLS record; else a refusal.
 */
static enum hs_verdict
hs_sniff_record(struct conn *c, const struct config *cfg, int64_t deadline,
    struct faketls_hello *h, int *user, struct hs_result *r, int *is_obfs2)
{
    int obfs2 = cfg->mode_classic || cfg->mode_secure, hello = 1;
    enum hs_verdict v, refusal = HS_BAD_TLS;
    size_t need;

    *is_obfs2 = 0;
    for (;;) {
        switch (faketls_classify(c->hs, c->hslen, obfs2, hello, &need)) {
        case FAKETLS_READ:
            if ((v = hs_fill(c, need, deadline)) != HS_OK)
                return v;
            break;
        case FAKETLS_OBFS2:
            obfs2 = 0;
            v = hs_obfs2_header(c, cfg, deadline, r);
            if (v != HS_BAD_SECRET) {
                *is_obfs2 = v == HS_OK;
                return v;
            }
            break;
        case FAKETLS_HELLO:
            hello = 0;
            v = hs_tls_hello(c, deadline, h, user);
            /* Not a signed hello: perhaps a header after all. */
            if (v != HS_BAD_TLS && v != HS_BAD_DIGEST)
                return v;
            refusal = v;
            break;
        case FAKETLS_NOT_RECORD:
            return HS_NOT_TLS;
        case FAKETLS_REFUSE:
            return refusal;
        }
    }
}

enum hs_verdict
handshake_run(struct conn *c, struct hs_result *r)
{
    const struct config *cfg = c->cfg;
    int64_t deadline = c->started_ms + (int64_t)cfg->handshake_timeout * 1000;
    enum hs_verdict v;

    memset(r, 0, sizeof(*r));
    c->hs = malloc(HS_INITIAL_CAP);
    if (c->hs == NULL)
        return HS_ERROR;
    c->hscap = HS_INITIAL_CAP;
    c->hslen = 0;

    /* SNIFF: the first bytes tell a TLS record from an obfuscated2 header. */
    if ((v = hs_fill(c, 1, deadline)) != HS_OK)
        return v;
    if (cfg->mode_tls && c->hs[0] == TLS_REC_HANDSHAKE) {
        struct faketls_hello h;
        size_t pay_end;
        int user, is_obfs2;

        v = hs_sniff_record(c, cfg, deadline, &h, &user, r, &is_obfs2);
        if (v == HS_NOT_TLS && (cfg->mode_classic || cfg->mode_secure))
            goto obfs2;     /* an obfuscated2 header may start with 0x16 */
        if (v != HS_OK || is_obfs2)
            return v;
        v = hs_tls_inner(c, deadline, h.record_len, r, &pay_end);
        if (v != HS_OK)
            return v;
        v = hs_obfs2_match(cfg, c->hs + h.record_len, 1, user, r);
        if (v == HS_OK) {
            hs_hint_set(c, r->user);
            r->tls = 1;
            r->early = c->hs + h.record_len + OBFS2_HEADER_LEN;
            r->early_len = pay_end - h.record_len - OBFS2_HEADER_LEN;
        }
        return v;
    }
    if (!cfg->mode_classic && !cfg->mode_secure)
        return HS_NOT_TLS;

obfs2:
    /* OBFS2: the 64-byte header (no client starts one with bytes that a
     * real protocol uses), then any early data already read. */
    while (c->hslen < OBFS2_HEADER_LEN) {
        if (obfs2_prefix_impossible(c->hs, c->hslen))
            return HS_BAD_HEADER;
        if ((v = hs_fill(c, c->hslen + 1, deadline)) != HS_OK)
            return v;
    }
    if (obfs2_prefix_impossible(c->hs, c->hslen))
        return HS_BAD_HEADER;
    return hs_obfs2_header(c, cfg, deadline, r);
}
