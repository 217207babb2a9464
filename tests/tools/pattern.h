/*
 * pattern.h - what the test tools say to each other through the proxy:
 * the "TMT1" command frame payload that mtclient sends as its first
 * transport frame, and the deterministic pattern byte stream that both
 * fakedc and mtclient generate from the command's seed and verify.
 * Header-only (static inline), shared by tests/tools/fakedc.c and
 * tests/tools/mtclient.c.
 */
#ifndef TELEMT_TESTS_PATTERN_H
#define TELEMT_TESTS_PATTERN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * Command payload, 32 bytes (a multiple of 4, so it frames as is):
 *   [0,4)   "TMT1"
 *   [4,12)  command name, ASCII, NUL padded: "ECHO", "SOURCE", "SINK"
 *   [12,20) byte count n, uint64 LE (SOURCE and SINK; informative for ECHO)
 *   [20,28) pattern seed, uint64 LE
 *   [28,32) zero
 */
#define CMD_MAGIC       "TMT1"
#define CMD_LEN         32
#define CMD_NAME_LEN    8

struct test_cmd {
    char name[CMD_NAME_LEN + 1];
    uint64_t bytes;
    uint64_t seed;
};

static inline void
pattern_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t
pattern_get64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static inline void
cmd_encode(const struct test_cmd *c, uint8_t out[CMD_LEN])
{
    memset(out, 0, CMD_LEN);
    memcpy(out, CMD_MAGIC, 4);
    memcpy(out + 4, c->name, strnlen(c->name, CMD_NAME_LEN));
    pattern_put64(out + 12, c->bytes);
    pattern_put64(out + 20, c->seed);
}

/* 1 if the payload starts with the magic (it is meant as a command). */
static inline int
cmd_is_cmd(const uint8_t *p, size_t len)
{
    return len >= 4 && memcmp(p, CMD_MAGIC, 4) == 0;
}

/* Parse a command payload; 0 on success, -1 if too short or bad name. */
static inline int
cmd_decode(const uint8_t *p, size_t len, struct test_cmd *c)
{
    if (len < CMD_LEN || !cmd_is_cmd(p, len))
        return -1;
    memcpy(c->name, p + 4, CMD_NAME_LEN);
    c->name[CMD_NAME_LEN] = '\0';
    for (size_t i = 0; c->name[i] != '\0'; i++)
        if (c->name[i] < 'A' || c->name[i] > 'Z')
            return -1;
    c->bytes = pattern_get64(p + 12);
    c->seed = pattern_get64(p + 20);
    return 0;
}

/*
 * The pattern stream: splitmix64 outputs, each written as 8 bytes LE.
 * Byte k of the stream depends only on the seed and k.
 */
struct pattern {
    uint64_t state;
    uint8_t word[8];
    unsigned used;                      /* bytes of word already consumed */
};

static inline void
pattern_init(struct pattern *p, uint64_t seed)
{
    p->state = seed;
    p->used = 8;
}

static inline void
pattern_next_word(struct pattern *p)
{
    uint64_t z;

    p->state += 0x9e3779b97f4a7c15ull;
    z = p->state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    pattern_put64(p->word, z ^ (z >> 31));
    p->used = 0;
}

/*
 * Write the next n stream bytes into buf: the rest of the current word,
 * then whole words (the benchmark makes gigabytes of this), then the
 * start of a word the next call goes on with.
 */
static inline void
pattern_fill(struct pattern *p, uint8_t *buf, size_t n)
{
    size_t i = 0;

    while (i < n && p->used < 8)
        buf[i++] = p->word[p->used++];
    for (; n - i >= 8; i += 8) {
        pattern_next_word(p);
        memcpy(buf + i, p->word, 8);
        p->used = 8;
    }
    if (i < n) {
        pattern_next_word(p);
        while (i < n)
            buf[i++] = p->word[p->used++];
    }
}

/*
 * Compare buf with the next n stream bytes (consuming them).  Returns n if
 * all match, else the index of the first mismatch (the stream is then
 * positioned after the whole n bytes anyway).
 */
static inline size_t
pattern_check(struct pattern *p, const uint8_t *buf, size_t n)
{
    uint8_t tmp[16384];
    size_t done = 0, bad = n;

    while (done < n) {
        size_t chunk = n - done < sizeof(tmp) ? n - done : sizeof(tmp);

        pattern_fill(p, tmp, chunk);
        if (bad == n && memcmp(tmp, buf + done, chunk) != 0) {
            for (size_t j = 0; j < chunk; j++)
                if (tmp[j] != buf[done + j]) {
                    bad = done + j;
                    break;
                }
        }
        done += chunk;
    }
    return bad;
}

#endif
