/*
 * config.c - libconfig file -> immutable struct config snapshot.
 *
 * Called by the master at start-up, on reload and for -t, and by the
 * workers on the text the master hands them at a reload.  Parsing is
 * driven by the table in config_keys.h: every setting in the file must
 * match a key there, every value is checked against its type and bounds,
 * defaults fill in afterwards and cross-checks run last.  The first
 * problem found is reported as "FILE:LINE: key: what is wrong".
 */
#include "config.h"

#include <sys/stat.h>

#include <arpa/inet.h>
#include <net/if.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libconfig.h>

#include "log.h"
#include "net.h"
#include "util.h"
#include "xmem.h"

enum ck_type {
    CK_INT,
    CK_BOOL,
    CK_IPV4,
    CK_IPV6,
    CK_HOST,
    CK_ADDR,
    CK_LOGLVL,
    CK_SNIACT,
    CK_USERS,
    CK_USERDEFS,
    CK_DCLIST,
    CK_HOSTLIST,
    CK_PATH,
    CK_HOSTPORT,
    CK_TOKEN,
    CK_CIDRLIST,
    CK_UNAME,
    CK_ADTAG,
    CK_URL,
    CK_IFNAME,
    CK_UPSTREAMS
};

struct ck_key {
    const char *name;
    enum ck_type type;
    size_t off;                         /* of the field in struct config */
    size_t noff;                        /* CIDRLIST: of its count */
    int restart;                        /* a reload keeps the running value */
    long long min, max;
    long long idef;                     /* INT, BOOL */
    const char *sdef;                   /* string types; table text */
    const char *help;
};

/* Which member of struct ck_key a type's default goes into. */
#define CK_DEF_INT(d)       .idef = (d)
#define CK_DEF_BOOL(d)      .idef = (d)
#define CK_DEF_IPV4(d)      .sdef = (d)
#define CK_DEF_IPV6(d)      .sdef = (d)
#define CK_DEF_HOST(d)      .sdef = (d)
#define CK_DEF_ADDR(d)      .sdef = (d)
#define CK_DEF_LOGLVL(d)    .sdef = (d)
#define CK_DEF_SNIACT(d)    .sdef = (d)
#define CK_DEF_USERS(d)     .sdef = (d)
#define CK_DEF_USERDEFS(d)  .sdef = (d)
#define CK_DEF_DCLIST(d)    .sdef = (d)
#define CK_DEF_HOSTLIST(d)  .sdef = (d)
#define CK_DEF_PATH(d)      .sdef = (d)
#define CK_DEF_HOSTPORT(d)  .sdef = (d)
#define CK_DEF_TOKEN(d)     .sdef = (d)
#define CK_DEF_CIDRLIST(d)  .sdef = (d)
#define CK_DEF_UNAME(d)     .sdef = (d)
#define CK_DEF_ADTAG(d)     .sdef = (d)
#define CK_DEF_URL(d)       .sdef = (d)
#define CK_DEF_IFNAME(d)    .sdef = (d)
#define CK_DEF_UPSTREAMS(d) .sdef = (d)

/* Where a list type's count is (CONFIG_FIELD_CIDRLIST's n##f). */
#define CK_NOFF_INT(f)      0
#define CK_NOFF_BOOL(f)     0
#define CK_NOFF_IPV4(f)     0
#define CK_NOFF_IPV6(f)     0
#define CK_NOFF_HOST(f)     0
#define CK_NOFF_ADDR(f)     0
#define CK_NOFF_LOGLVL(f)   0
#define CK_NOFF_USERS(f)    0
#define CK_NOFF_USERDEFS(f) 0
#define CK_NOFF_DCLIST(f)   0
#define CK_NOFF_HOSTLIST(f) 0
#define CK_NOFF_PATH(f)     0
#define CK_NOFF_HOSTPORT(f) 0
#define CK_NOFF_TOKEN(f)    0
#define CK_NOFF_CIDRLIST(f) offsetof(struct config, n##f)
#define CK_NOFF_UNAME(f)    0
#define CK_NOFF_ADTAG(f)    0
#define CK_NOFF_URL(f)      0
#define CK_NOFF_SNIACT(f)   0
#define CK_NOFF_IFNAME(f)   0
#define CK_NOFF_UPSTREAMS(f) 0

#define CK_LIVE             0
#define CK_RESTART          1
#define CK_ENTRY(n, t, f, a, lo, hi, d, h)                                  \
    { .name = (n), .type = CK_##t, .off = offsetof(struct config, f),      \
      .noff = CK_NOFF_##t(f), .restart = CK_##a, .min = (lo), .max = (hi), \
      CK_DEF_##t(d), .help = (h) },
#define CK_INDEX(n, t, f, a, lo, hi, d, h)  CKI_##f,

static const struct ck_key ck_keys[] = { CONFIG_KEYS(CK_ENTRY) };
enum { CONFIG_KEYS(CK_INDEX) CK_NKEYS };

/* The per-user fields of CONFIG_USER_FIELDS, as a table like ck_keys. */
enum cu_type {
    CU_BOOL,
    CU_COUNT,
    CU_TIME,
    CU_TAG
};

struct cu_field {
    const char *name;
    enum cu_type type;
    size_t off;                         /* of the field in config_user */
    long long min, max;
    long long def;                      /* BOOL, COUNT; TIME: 0 */
    const char *help;
};

#define CU_ENTRY(n, t, f, lo, hi, d, h)                                     \
    { .name = (n), .type = CU_##t, .off = offsetof(struct config_user, f), \
      .min = (lo), .max = (hi), .def = (d), .help = (h) },

static const struct cu_field cu_fields[] = { CONFIG_USER_FIELDS(CU_ENTRY) };
#define CU_NFIELDS  (sizeof(cu_fields) / sizeof(cu_fields[0]))

/* Longest dotted key name we build; longer names are unknown anyway. */
#define CK_NAME_LEN         128
#define HOSTNAME_MAX        253
#define LABEL_MAX           63

/* Everything one config_load() call needs; lives on its stack. */
struct ck_ctx {
    const char *path;
    char *err;
    size_t errlen;
    struct config *cfg;
    bool seen[CK_NKEYS];
    int line[CK_NKEYS];                 /* where each seen key was set */
    /* The users file's text starts after line ubase (0: none). */
    int ubase;
    char upath[PATH_BUF_LEN];
};

static int ck_fail(struct ck_ctx *c, const config_setting_t *s,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int ck_fail_line(struct ck_ctx *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Write "FILE:LINE: message", or "FILE: message" when line is 0, into the
 * caller's buffer.  Returns -1 so callers can "return ck_fail(...)".
 */
static int
ck_vfail(struct ck_ctx *c, const char *file, int line, const char *fmt,
    va_list ap)
{
    char msg[CONFIG_ERR_LEN];

    if (c->err == NULL || c->errlen == 0)
        return -1;
    if (c->ubase > 0 && line > c->ubase && file == c->path) {
        file = c->upath;
        line -= c->ubase;
    }
    vsnprintf(msg, sizeof(msg), fmt, ap);
    /* Values are quoted in messages; keep a crafted one to one line. */
    for (char *p = msg; *p != '\0'; p++)
        if (iscntrl((unsigned char)*p))
            *p = '?';
    if (line > 0)
        snprintf(c->err, c->errlen, "%s:%d: %s", file, line, msg);
    else
        snprintf(c->err, c->errlen, "%s: %s", file, msg);
    return -1;
}

/* Report a problem with setting s, at its line. */
static int
ck_fail(struct ck_ctx *c, const config_setting_t *s, const char *fmt, ...)
{
    const char *file = config_setting_source_file(s);
    va_list ap;

    /* The file differs from path only inside an @include'd file. */
    if (file == NULL)
        file = c->path;
    va_start(ap, fmt);
    ck_vfail(c, file, (int)config_setting_source_line(s), fmt, ap);
    va_end(ap);
    return -1;
}

/* Report a problem found with no setting at hand; line 0 means none. */
static int
ck_fail_line(struct ck_ctx *c, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ck_vfail(c, c->path, line, fmt, ap);
    va_end(ap);
    return -1;
}

static const char *
ck_type_name(int type)
{
    switch (type) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        return "an integer";
    case CONFIG_TYPE_FLOAT:
        return "a float";
    case CONFIG_TYPE_STRING:
        return "a string";
    case CONFIG_TYPE_BOOL:
        return "a boolean";
    case CONFIG_TYPE_GROUP:
        return "a group";
    case CONFIG_TYPE_ARRAY:
        return "an array";
    case CONFIG_TYPE_LIST:
        return "a list";
    default:
        return "something else";
    }
}

static const char *
ck_table_type(enum ck_type type)
{
    switch (type) {
    case CK_INT:
        return "int";
    case CK_BOOL:
        return "bool";
    case CK_USERS:
    case CK_USERDEFS:
        return "group";
    case CK_DCLIST:
    case CK_UPSTREAMS:
        return "list";
    case CK_HOSTLIST:
    case CK_CIDRLIST:
        return "array";
    default:
        return "string";
    }
}

static int
ck_find(const char *name)
{
    for (int i = 0; i < CK_NKEYS; i++)
        if (strcmp(ck_keys[i].name, name) == 0)
            return i;
    return -1;
}

/* True if some key is a member of a group called name ("modes"). */
static bool
ck_is_group(const char *name)
{
    size_t n = strlen(name);

    for (int i = 0; i < CK_NKEYS; i++)
        if (strncmp(ck_keys[i].name, name, n) == 0 &&
            ck_keys[i].name[n] == '.')
            return true;
    return false;
}

/*
 * Read an integer setting into *out.  libconfig gives INT for plain
 * literals and INT64 for ones with an L suffix; both are fine if in range.
 */
static int
ck_get_int(struct ck_ctx *c, const config_setting_t *s, const char *name,
    long long min, long long max, long long *out)
{
    int type = config_setting_type(s);
    long long v;

    if (type == CONFIG_TYPE_INT)
        v = config_setting_get_int(s);
    else if (type == CONFIG_TYPE_INT64)
        v = config_setting_get_int64(s);
    else
        return ck_fail(c, s, "%s: expected an integer, got %s", name,
            ck_type_name(type));
    if (v < min || v > max)
        return ck_fail(c, s, "%s: %lld is out of range %lld..%lld", name,
            v, min, max);
    *out = v;
    return 0;
}

static bool
ck_is_ipv4(const char *s)
{
    struct in_addr a;

    return inet_pton(AF_INET, s, &a) == 1;
}

static bool
ck_is_ipv6(const char *s)
{
    struct in6_addr a;

    return inet_pton(AF_INET6, s, &a) == 1;
}

/*
 * A DNS host name: labels of 1..63 letters, digits and '-', not starting
 * or ending with '-', 1..253 characters in all.  The last label may not be
 * all digits (no top-level domain is), so "1.2.3.256" is neither an IPv4
 * address nor a host name.  len lets callers test part of a string.
 */
static bool
ck_is_hostname(const char *s, size_t len)
{
    size_t label = 0;
    bool digits = true;

    if (len == 0 || len > HOSTNAME_MAX)
        return false;
    for (size_t i = 0; i <= len; i++) {
        unsigned char ch = i < len ? (unsigned char)s[i] : '.';

        if (ch == '.') {
            if (label == 0 || label > LABEL_MAX || s[i - 1] == '-')
                return false;
            if (i == len)
                break;
            label = 0;
            digits = true;
            continue;
        }
        if (!isalnum(ch) && ch != '-')
            return false;
        if (ch == '-' && label == 0)
            return false;
        if (!isdigit(ch))
            digits = false;
        label++;
    }
    return !digits;
}

/*
 * Check a dc_overrides address: "A.B.C.D:port", "[IPv6]:port" or
 * "hostname:port" with port 1..65535.  Returns NULL if fine, else what is
 * wrong, to follow the quoted address in a message.
 */
static const char *
ck_check_hostport(const char *s)
{
    char buf[64];
    const char *host, *port, *end;
    size_t hlen;
    long v = 0;

    if (s[0] == '[') {
        host = s + 1;
        end = strchr(host, ']');
        if (end == NULL)
            return "has no closing ']'";
        hlen = (size_t)(end - host);
        if (hlen >= sizeof(buf))
            return "has a bad IPv6 address";
        memcpy(buf, host, hlen);
        buf[hlen] = '\0';
        if (!ck_is_ipv6(buf))
            return "has a bad IPv6 address";
        if (end[1] != ':')
            return "has no port (want host:port or [IPv6]:port)";
        port = end + 2;
    } else {
        end = strrchr(s, ':');
        if (end == NULL)
            return "has no port (want host:port or [IPv6]:port)";
        hlen = (size_t)(end - s);
        if (memchr(s, ':', hlen) != NULL)
            return "needs brackets around the IPv6 address";
        if (hlen == 0)
            return "has no host";
        if (hlen < sizeof(buf)) {
            memcpy(buf, s, hlen);
            buf[hlen] = '\0';
        } else {
            buf[0] = '\0';
        }
        if (!ck_is_ipv4(buf) && !ck_is_hostname(s, hlen))
            return "has a bad host (want an IPv4 address or a host name)";
        port = end + 1;
    }
    if (*port == '\0')
        return "has no port (want host:port or [IPv6]:port)";
    for (const char *p = port; *p != '\0'; p++) {
        if (!isdigit((unsigned char)*p) || p - port >= 5)
            return "has a bad port (want 1..65535)";
        v = v * 10 + (*p - '0');
    }
    if (v < 1 || v > 65535)
        return "has a bad port (want 1..65535)";
    return NULL;
}

/* Validate a string key's value against its type; NULL if fine. */
static const char *
ck_check_string(enum ck_type type, const char *v)
{
    if (*v == '\0')
        return NULL;
    switch (type) {
    case CK_IPV4:
        return ck_is_ipv4(v) ? NULL : "is not an IPv4 address";
    case CK_IPV6:
        return ck_is_ipv6(v) ? NULL : "is not an IPv6 address";
    case CK_HOST:
        return ck_is_hostname(v, strlen(v)) ? NULL :
            "is not a valid host name";
    case CK_ADDR:
        return ck_is_ipv4(v) || ck_is_ipv6(v) ||
            ck_is_hostname(v, strlen(v)) ? NULL :
            "is not a host name or IP address";
    case CK_PATH:
        return strlen(v) < PATH_LEN && strchr(v, '\n') == NULL ? NULL :
            "is not a usable path";
    case CK_HOSTPORT: {
        struct sockaddr_storage ss;
        socklen_t len;
        char host[INET6_ADDRSTRLEN + 2];
        int port;

        return net_split_hostport(v, host, sizeof(host), &port) == 0 &&
            net_parse_literal(host, port, &ss, &len) == 0 ? NULL :
            "is not \"IPv4:port\" or \"[IPv6]:port\"";
    }
    case CK_UNAME: {
        size_t n = strlen(v);

        if (n > 32 || !((v[0] >= 'a' && v[0] <= 'z') || v[0] == '_'))
            return "is not a user or group name";
        for (size_t i = 1; i < n; i++)
            if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' &&
                v[i] <= '9') || v[i] == '_' || v[i] == '-' ||
                (v[i] == '$' && i == n - 1)))
                return "is not a user or group name";
        return NULL;
    }
    case CK_ADTAG: {
        uint8_t tag[CONFIG_AD_TAG_LEN];

        return strlen(v) == 2 * CONFIG_AD_TAG_LEN &&
            hex_decode(v, tag, sizeof(tag)) == 0 ? NULL :
            "is not an ad tag (32 hex digits, from @MTProxybot)";
    }
    case CK_URL: {
        size_t n = strlen(v);

        if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
            return "is not an http:// or https:// URL";
        for (size_t i = 0; i < n; i++)
            if (v[i] <= ' ' || v[i] > '~')
                return "must be printable ASCII without spaces";
        return n < 1024 ? NULL : "is longer than 1023 characters";
    }
    case CK_IFNAME: {
        size_t n = strlen(v);

        /* The kernel's rule (dev_valid_name()): below IFNAMSIZ, no '/',
         * ':' or white space, not "." or "..". */
        if (n >= IF_NAMESIZE || strcmp(v, ".") == 0 || strcmp(v, "..") == 0)
            return "is not a network interface name";
        for (size_t i = 0; i < n; i++)
            if (v[i] <= ' ' || v[i] > '~' || v[i] == '/' || v[i] == ':')
                return "is not a network interface name";
        return NULL;
    }
    case CK_TOKEN: {
        size_t n = strlen(v);

        for (size_t i = 0; i < n; i++)
            if (v[i] <= ' ' || v[i] > '~')
                return "must be printable ASCII without spaces";
        return n >= 16 && n <= 256 ? NULL :
            "must be 16 to 256 characters long";
    }
    default:
        return NULL;
    }
}

static void *
ck_field(struct config *cfg, const struct ck_key *k)
{
    return (char *)cfg + k->off;
}

/* A user name must also be usable as a metrics label and in JSON. */
bool
config_is_user_name(const char *s)
{
    if (!isalpha((unsigned char)s[0]))
        return false;
    for (s++; *s != '\0'; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            return false;
    return true;
}

/*
 * "YYYY-MM-DDTHH:MM:SSZ" -> unix seconds in *out.  Only this one RFC 3339
 * form: UTC with 'Z', no fraction, no offset, so a value names the same
 * instant whatever the server's time zone.  NULL if fine, else what is
 * wrong, to follow the quoted value in a message.
 */
const char *
config_parse_time(const char *v, int64_t *out)
{
    static const char form[] = "dddd-dd-ddTdd:dd:ddZ";
    static const int mdays[12] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };
    /* Where each number of form starts, and its digits. */
    static const int at[6] = { 0, 5, 8, 11, 14, 17 };
    static const int width[6] = { 4, 2, 2, 2, 2, 2 };
    int f[6], leap, days;
    struct tm tm;
    time_t t;

    if (strlen(v) != sizeof(form) - 1)
        return "is not a UTC time YYYY-MM-DDTHH:MM:SSZ";
    for (size_t i = 0; i < sizeof(form) - 1; i++)
        if (form[i] == 'd' ? !isdigit((unsigned char)v[i]) :
            v[i] != form[i])
            return "is not a UTC time YYYY-MM-DDTHH:MM:SSZ";
    for (int i = 0; i < 6; i++) {
        f[i] = 0;
        for (int j = 0; j < width[i]; j++)
            f[i] = f[i] * 10 + (v[at[i] + j] - '0');
    }
    leap = (f[0] % 4 == 0 && f[0] % 100 != 0) || f[0] % 400 == 0;
    days = f[1] >= 1 && f[1] <= 12 ? mdays[f[1] - 1] + (f[1] == 2 && leap) :
        0;
    if (f[2] < 1 || f[2] > days || f[3] > 23 || f[4] > 59 || f[5] > 59)
        return "is not a valid date and time";
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = f[0] - 1900;
    tm.tm_mon = f[1] - 1;
    tm.tm_mday = f[2];
    tm.tm_hour = f[3];
    tm.tm_min = f[4];
    tm.tm_sec = f[5];
    t = timegm(&tm);
    /* 0 is "never"; nothing can expire before the epoch either. */
    if (t <= 0)
        return "is not after 1970-01-01T00:00:00Z";
    *out = (int64_t)t;
    return NULL;
}

/* A user's ad_tag: "" (the global one), "direct" or 32 hex digits. */
static int
ck_parse_tag(struct ck_ctx *c, const char *name, const config_setting_t *s,
    struct config_ad_tag *t)
{
    const char *v;

    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return ck_fail(c, s, "%s: expected a string (32 hex digits, "
            "\"direct\" or \"\"), got %s", name,
            ck_type_name(config_setting_type(s)));
    v = config_setting_get_string(s);
    memset(t, 0, sizeof(*t));
    if (*v == '\0')
        t->kind = CONFIG_TAG_INHERIT;
    else if (strcmp(v, "direct") == 0)
        t->kind = CONFIG_TAG_DIRECT;
    else if (strlen(v) == 2 * CONFIG_AD_TAG_LEN &&
        hex_decode(v, t->tag, sizeof(t->tag)) == 0)
        t->kind = CONFIG_TAG_OWN;
    else
        return ck_fail(c, s, "%s: '%s' is not an ad tag (32 hex digits "
            "from @MTProxybot), \"direct\" or \"\"", name, v);
    return 0;
}

/* One per-user field f from setting s into cu; name is its dotted name. */
static int
ck_parse_ufield(struct ck_ctx *c, const char *name, const struct cu_field *f,
    const config_setting_t *s, struct config_user *cu)
{
    void *field = (char *)cu + f->off;
    int type = config_setting_type(s);
    const char *v, *why;
    long long n;
    int64_t t = 0;

    switch (f->type) {
    case CU_BOOL:
        if (type != CONFIG_TYPE_BOOL)
            return ck_fail(c, s, "%s: expected true or false, got %s",
                name, ck_type_name(type));
        *(bool *)field = config_setting_get_bool(s) != 0;
        return 0;
    case CU_COUNT:
        if (ck_get_int(c, s, name, f->min, f->max, &n) == -1)
            return -1;
        *(int64_t *)field = (int64_t)n;
        return 0;
    case CU_TIME:
        if (type != CONFIG_TYPE_STRING)
            return ck_fail(c, s, "%s: expected a string "
                "\"YYYY-MM-DDTHH:MM:SSZ\", got %s", name,
                ck_type_name(type));
        v = config_setting_get_string(s);
        if (*v != '\0' && (why = config_parse_time(v, &t)) != NULL)
            return ck_fail(c, s, "%s: '%s' %s", name, v, why);
        *(int64_t *)field = t;
        return 0;
    case CU_TAG:
        return ck_parse_tag(c, name, s, (struct config_ad_tag *)field);
    }
    return 0;
}

static const struct cu_field *
ck_find_ufield(const char *name)
{
    for (size_t i = 0; i < CU_NFIELDS; i++)
        if (strcmp(cu_fields[i].name, name) == 0)
            return &cu_fields[i];
    return NULL;
}

/*
 * The members of group g into cu: a user's group form (name "users.bob";
 * its secret setting is left in *secret, NULL if it has none) or
 * user_defaults (secret NULL: no secret allowed).
 */
static int
ck_parse_ufields(struct ck_ctx *c, const char *name,
    const config_setting_t *g, struct config_user *cu,
    const config_setting_t **secret)
{
    if (secret != NULL)
        *secret = NULL;
    for (int i = 0; i < config_setting_length(g); i++) {
        const config_setting_t *m = config_setting_get_elem(g, i);
        const char *mname = config_setting_name(m);
        const struct cu_field *f;
        char fname[CK_NAME_LEN];

        snprintf(fname, sizeof(fname), "%s.%s", name, mname);
        if (strcmp(mname, "secret") == 0) {
            if (secret == NULL)
                return ck_fail(c, m, "%s: a secret belongs to one user; "
                    "set it in users", fname);
            *secret = m;
            continue;
        }
        if ((f = ck_find_ufield(mname)) == NULL)
            return ck_fail(c, m, "unknown key '%s'", fname);
        if (ck_parse_ufield(c, fname, f, m, cu) == -1)
            return -1;
    }
    return 0;
}

/* The secret of user name, from setting s (a string), into cu. */
static int
ck_parse_secret(struct ck_ctx *c, const char *name, const config_setting_t *s,
    struct config_user *cu)
{
    const char *hex;
    size_t len;

    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return ck_fail(c, s, "%s.secret: expected a string of %d hex "
            "digits, got %s", name, 2 * SECRET_LEN,
            ck_type_name(config_setting_type(s)));
    hex = config_setting_get_string(s);
    len = strlen(hex);
    if (len != 2 * SECRET_LEN)
        return ck_fail(c, s, "%s: secret must be %d hex digits, not %zu "
            "characters", name, 2 * SECRET_LEN, len);
    if (hex_decode(hex, cu->secret, SECRET_LEN) == -1)
        return ck_fail(c, s, "%s: secret must be %d hex digits; '%c' is "
            "not one", name, 2 * SECRET_LEN,
            hex[strspn(hex, "0123456789abcdefABCDEF")]);
    return 0;
}

/*
 * One users entry u into cu, which starts as user_defaults: the short
 * form name = "hex" or the group form name = { secret = "hex"; ... }.
 */
static int
ck_parse_user(struct ck_ctx *c, const struct ck_key *k,
    const config_setting_t *u, struct config_user *cu)
{
    const char *uname = config_setting_name(u);
    const config_setting_t *secret = u;
    char name[CK_NAME_LEN];

    snprintf(name, sizeof(name), "%s.%s", k->name, uname);
    if (!config_is_user_name(uname))
        return ck_fail(c, u, "%s: user name must be a letter followed by "
            "letters, digits, '_' or '-'", name);
    *cu = c->cfg->user_defaults;
    switch (config_setting_type(u)) {
    case CONFIG_TYPE_STRING:
        break;
    case CONFIG_TYPE_GROUP:
        if (ck_parse_ufields(c, name, u, cu, &secret) == -1)
            return -1;
        if (secret == NULL)
            return ck_fail(c, u, "%s: secret is missing", name);
        break;
    default:
        return ck_fail(c, u, "%s: expected a string of %d hex digits or a "
            "group { secret = \"...\"; ... }, got %s", name, 2 * SECRET_LEN,
            ck_type_name(config_setting_type(u)));
    }
    if (ck_parse_secret(c, name, secret, cu) == -1)
        return -1;
    cu->name = xstrdup(uname);
    return 0;
}

static int
ck_parse_users(struct ck_ctx *c, const struct ck_key *k,
    const config_setting_t *s)
{
    struct config *cfg = c->cfg;
    int n;

    if (config_setting_type(s) != CONFIG_TYPE_GROUP)
        return ck_fail(c, s, "%s: expected a group of name = \"secret\", "
            "got %s", k->name, ck_type_name(config_setting_type(s)));
    n = config_setting_length(s);
    if (n < k->min)
        return ck_fail(c, s, "%s: the group is empty; at least one user is "
            "required", k->name);
    if (n > k->max)
        return ck_fail(c, s, "%s: %d users, at most %lld are allowed",
            k->name, n, k->max);
    cfg->users = xcalloc((size_t)n, sizeof(*cfg->users));
    for (int i = 0; i < n; i++) {
        const config_setting_t *u = config_setting_get_elem(s, i);
        struct config_user *cu = &cfg->users[i];

        if (ck_parse_user(c, k, u, cu) == -1)
            return -1;
        cfg->nusers = i + 1;
        /* Quadratic, but n <= CONFIG_MAX_USERS and it runs once a load. */
        for (int j = 0; j < i; j++)
            if (memcmp(cfg->users[j].secret, cu->secret, SECRET_LEN) == 0)
                return ck_fail(c, u, "%s.%s: same secret as %s.%s (line "
                    "%d); a secret must identify one user", k->name,
                    cu->name, k->name, cfg->users[j].name,
                    (int)config_setting_source_line(
                        config_setting_get_elem(s, j)));
    }
    return 0;
}

/*
 * user_defaults: the CONFIG_USER_FIELDS defaults, then the file's values.
 * config_parse_text() runs this before the rest of the file, so users
 * start from it wherever it is written.
 */
static void
ck_user_defaults_init(struct config_user *cu)
{
    memset(cu, 0, sizeof(*cu));
    for (size_t i = 0; i < CU_NFIELDS; i++) {
        void *field = (char *)cu + cu_fields[i].off;

        if (cu_fields[i].type == CU_BOOL)
            *(bool *)field = cu_fields[i].def != 0;
        else if (cu_fields[i].type != CU_TAG)   /* TAG: inherit, zeros */
            *(int64_t *)field = (int64_t)cu_fields[i].def;
    }
}

static int
ck_parse_user_defaults(struct ck_ctx *c, const struct ck_key *k,
    const config_setting_t *s)
{
    if (config_setting_type(s) != CONFIG_TYPE_GROUP)
        return ck_fail(c, s, "%s: expected a group of per-user fields, "
            "got %s", k->name, ck_type_name(config_setting_type(s)));
    return ck_parse_ufields(c, k->name, s, &c->cfg->user_defaults, NULL);
}

/* The addresses of one dc_overrides entry; name is "dc_overrides[i]". */
static int
ck_parse_dc_addrs(struct ck_ctx *c, const char *name,
    const config_setting_t *s, struct config_dc_override *o)
{
    int type = config_setting_type(s);
    int n;

    if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
        return ck_fail(c, s, "%s.addresses: expected an array of "
            "\"host:port\" strings, got %s", name, ck_type_name(type));
    n = config_setting_length(s);
    if (n < 1)
        return ck_fail(c, s, "%s.addresses: at least one address is "
            "required", name);
    if (n > CONFIG_MAX_DC_ADDRS)
        return ck_fail(c, s, "%s.addresses: %d addresses, at most %d are "
            "allowed", name, n, CONFIG_MAX_DC_ADDRS);
    o->addrs = xcalloc((size_t)n, sizeof(*o->addrs));
    for (int i = 0; i < n; i++) {
        const config_setting_t *a = config_setting_get_elem(s, i);
        const char *v, *why;

        if (config_setting_type(a) != CONFIG_TYPE_STRING)
            return ck_fail(c, a, "%s.addresses[%d]: expected a string, "
                "got %s", name, i, ck_type_name(config_setting_type(a)));
        v = config_setting_get_string(a);
        if ((why = ck_check_hostport(v)) != NULL)
            return ck_fail(c, a, "%s.addresses[%d]: '%s' %s", name, i, v,
                why);
        o->addrs[i] = xstrdup(v);
        o->naddrs = i + 1;
    }
    return 0;
}

static int
ck_parse_dclist(struct ck_ctx *c, const struct ck_key *k,
    const config_setting_t *s)
{
    struct config *cfg = c->cfg;
    int n;

    if (config_setting_type(s) != CONFIG_TYPE_LIST)
        return ck_fail(c, s, "%s: expected a list ( { dc = N; addresses = "
            "[...]; }, ... ), got %s", k->name,
            ck_type_name(config_setting_type(s)));
    n = config_setting_length(s);
    cfg->dc_overrides = xcalloc((size_t)n, sizeof(*cfg->dc_overrides));
    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(s, i);
        const config_setting_t *dc = NULL, *addrs = NULL;
        struct config_dc_override *o = &cfg->dc_overrides[i];
        char name[CK_NAME_LEN];
        long long v;

        /* Counted first so config_free() sees a half-built entry. */
        cfg->ndc_overrides = i + 1;
        snprintf(name, sizeof(name), "%s[%d]", k->name, i);
        if (config_setting_type(g) != CONFIG_TYPE_GROUP)
            return ck_fail(c, g, "%s: expected a group { dc = N; "
                "addresses = [...]; }, got %s", name,
                ck_type_name(config_setting_type(g)));
        for (int j = 0; j < config_setting_length(g); j++) {
            const config_setting_t *m = config_setting_get_elem(g, j);
            const char *mname = config_setting_name(m);

            if (strcmp(mname, "dc") == 0)
                dc = m;
            else if (strcmp(mname, "addresses") == 0)
                addrs = m;
            else
                return ck_fail(c, m, "unknown key '%s.%s'", name, mname);
        }
        if (dc == NULL)
            return ck_fail(c, g, "%s: dc is missing", name);
        if (addrs == NULL)
            return ck_fail(c, g, "%s: addresses is missing", name);
        snprintf(name, sizeof(name), "%s[%d].dc", k->name, i);
        if (ck_get_int(c, dc, name, k->min, k->max, &v) == -1)
            return -1;
        if (v == 0)
            return ck_fail(c, dc, "%s: 0 is not a valid DC; DC indices are "
                "non-zero", name);
        o->dc = (int)v;
        for (int j = 0; j < i; j++)
            if (cfg->dc_overrides[j].dc == o->dc)
                return ck_fail(c, dc, "%s: DC %d is already overridden "
                    "by %s[%d]", name, o->dc, k->name, j);
        snprintf(name, sizeof(name), "%s[%d]", k->name, i);
        if (ck_parse_dc_addrs(c, name, addrs, o) == -1)
            return -1;
    }
    return 0;
}

/* A string member of an upstreams entry: 1..max bytes, or NULL. */
static int
ck_upstream_str(struct ck_ctx *c, const char *name, const char *member,
    const config_setting_t *m, size_t max, char **out)
{
    const char *v;

    if (config_setting_type(m) != CONFIG_TYPE_STRING)
        return ck_fail(c, m, "%s.%s: expected a string, got %s", name,
            member, ck_type_name(config_setting_type(m)));
    v = config_setting_get_string(m);
    if (*v == '\0' || strlen(v) > max)
        return ck_fail(c, m, "%s.%s: must be 1 to %zu bytes long", name,
            member, max);
    free(*out);
    *out = xstrdup(v);
    return 0;
}

/* The members of upstreams[i], g, into u; name is "upstreams[i]". */
static int
ck_parse_upstream(struct ck_ctx *c, const struct ck_key *k, const char *name,
    const config_setting_t *g, struct config_upstream *u)
{
    const config_setting_t *type = NULL, *addr = NULL, *user = NULL;
    const config_setting_t *pass = NULL;
    const char *v, *why;
    long long w;

    for (int j = 0; j < config_setting_length(g); j++) {
        const config_setting_t *m = config_setting_get_elem(g, j);
        const char *mname = config_setting_name(m);
        char member[2 * CK_NAME_LEN];

        /* A member name is the file's, of any length: cut, not refused. */
        (void)snprintf(member, sizeof(member), "%.*s.%.*s", CK_NAME_LEN - 1,
            name, CK_NAME_LEN - 1, mname);
        if (strcmp(mname, "type") == 0)
            type = m;
        else if (strcmp(mname, "address") == 0)
            addr = m;
        else if (strcmp(mname, "username") == 0)
            user = m;
        else if (strcmp(mname, "password") == 0)
            pass = m;
        else if (strcmp(mname, "weight") != 0)
            return ck_fail(c, m, "unknown key '%s'", member);
        else if (ck_get_int(c, m, member, k->min, k->max, &w) == -1)
            return -1;
        else
            u->weight = (int)w;
    }
    if (type == NULL)
        return ck_fail(c, g, "%s: type is missing (type = \"socks5\";)",
            name);
    if (config_setting_type(type) != CONFIG_TYPE_STRING ||
        strcmp(config_setting_get_string(type), "socks5") != 0)
        return ck_fail(c, type, "%s.type: only \"socks5\" is supported",
            name);
    if (addr == NULL)
        return ck_fail(c, g, "%s: address is missing", name);
    if (config_setting_type(addr) != CONFIG_TYPE_STRING)
        return ck_fail(c, addr, "%s.address: expected a string, got %s",
            name, ck_type_name(config_setting_type(addr)));
    v = config_setting_get_string(addr);
    if ((why = ck_check_hostport(v)) != NULL)
        return ck_fail(c, addr, "%s.address: '%s' %s", name, v, why);
    u->address = xstrdup(v);
    if ((user == NULL) != (pass == NULL))
        return ck_fail(c, user != NULL ? user : pass, "%s: username and "
            "password go together (RFC 1929)", name);
    if (user != NULL && (ck_upstream_str(c, name, "username", user,
        CONFIG_SOCKS_CRED_MAX, &u->username) == -1 ||
        ck_upstream_str(c, name, "password", pass, CONFIG_SOCKS_CRED_MAX,
        &u->password) == -1))
        return -1;
    return 0;
}

static int
ck_parse_upstreams(struct ck_ctx *c, const struct ck_key *k,
    const config_setting_t *s)
{
    struct config *cfg = c->cfg;
    int n;

    if (config_setting_type(s) != CONFIG_TYPE_LIST)
        return ck_fail(c, s, "%s: expected a list ( { type = \"socks5\"; "
            "address = \"host:port\"; }, ... ), got %s", k->name,
            ck_type_name(config_setting_type(s)));
    n = config_setting_length(s);
    if (n > CONFIG_MAX_UPSTREAMS)
        return ck_fail(c, s, "%s: %d entries, at most %d allowed", k->name,
            n, CONFIG_MAX_UPSTREAMS);
    cfg->upstreams = xcalloc((size_t)n + 1, sizeof(*cfg->upstreams));
    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(s, i);
        struct config_upstream *u = &cfg->upstreams[i];
        char name[CK_NAME_LEN];

        /* Counted first so config_free() sees a half-built entry. */
        cfg->nupstreams = i + 1;
        u->weight = 1;
        u->username = xstrdup("");
        u->password = xstrdup("");
        snprintf(name, sizeof(name), "%s[%d]", k->name, i);
        if (config_setting_type(g) != CONFIG_TYPE_GROUP)
            return ck_fail(c, g, "%s: expected a group { type = "
                "\"socks5\"; address = \"host:port\"; }, got %s", name,
                ck_type_name(config_setting_type(g)));
        if (ck_parse_upstream(c, k, name, g, u) == -1)
            return -1;
        for (int j = 0; j < i; j++)
            if (strcmp(cfg->upstreams[j].address, u->address) == 0)
                return ck_fail(c, g, "%s: '%s' is already %s[%d]", name,
                    u->address, k->name, j);
    }
    return 0;
}

/* Validators for the string arrays: NULL if fine, else what is wrong. */
static const char *
ck_elem_host(const char *v)
{
    return ck_is_hostname(v, strlen(v)) ? NULL : "is not a valid host name";
}

static const char *
ck_elem_cidr(const char *v)
{
    struct net_cidr net;

    return net_parse_cidr(v, &net) == 0 ? NULL :
        "is not an address/prefix network";
}

/*
 * An array of strings, each checked by valid(), copied into *out[skip..]
 * (*n counts the filled slots, the skipped ones included): tls_domains
 * keeps slot 0 for tls_domain, admin_whitelist skips none.
 */
static int
ck_parse_strlist(struct ck_ctx *c, const struct ck_key *k,
    const config_setting_t *s, const char *(*valid)(const char *),
    int skip, char ***out, int *n)
{
    int len;

    if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
        config_setting_type(s) != CONFIG_TYPE_LIST)
        return ck_fail(c, s, "%s: expected an array of strings, got %s",
            k->name, ck_type_name(config_setting_type(s)));
    len = config_setting_length(s);
    if (len > k->max)
        return ck_fail(c, s, "%s: %d entries, at most %lld allowed",
            k->name, len, k->max);
    *out = xcalloc((size_t)len + (size_t)skip + 1, sizeof(char *));
    *n = skip;
    for (int i = 0; i < len; i++) {
        const config_setting_t *e = config_setting_get_elem(s, i);
        const char *v, *why;

        if (config_setting_type(e) != CONFIG_TYPE_STRING)
            return ck_fail(c, e, "%s[%d]: expected a string, got %s",
                k->name, i, ck_type_name(config_setting_type(e)));
        v = config_setting_get_string(e);
        if ((why = valid(v)) != NULL)
            return ck_fail(c, e, "%s[%d]: '%s' %s", k->name, i, v, why);
        (*out)[(*n)++] = xstrdup(v);
    }
    return 0;
}

/* Parse one setting s that matched key k. */
/* unknown_sni_action's names (enum config_sni_action); -1 if none. */
static int
ck_sni_action(const char *v)
{
    static const char *const names[] = {
        [CONFIG_SNI_MASK] = "mask",
        [CONFIG_SNI_DROP] = "drop",
        [CONFIG_SNI_REJECT] = "reject",
        [CONFIG_SNI_ACCEPT] = "accept",
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(v, names[i]) == 0)
            return (int)i;
    return -1;
}

static int
ck_parse_key(struct ck_ctx *c, int idx, const config_setting_t *s)
{
    const struct ck_key *k = &ck_keys[idx];
    void *field = ck_field(c->cfg, k);
    int type = config_setting_type(s);
    const char *v, *why;
    long long n;

    c->seen[idx] = true;
    c->line[idx] = (int)config_setting_source_line(s);
    switch (k->type) {
    case CK_INT:
        if (ck_get_int(c, s, k->name, k->min, k->max, &n) == -1)
            return -1;
        *(int *)field = (int)n;
        return 0;
    case CK_BOOL:
        if (type != CONFIG_TYPE_BOOL)
            return ck_fail(c, s, "%s: expected true or false, got %s",
                k->name, ck_type_name(type));
        *(bool *)field = config_setting_get_bool(s) != 0;
        return 0;
    case CK_USERS:
        return ck_parse_users(c, k, s);
    case CK_USERDEFS:
        return ck_parse_user_defaults(c, k, s);
    case CK_DCLIST:
        return ck_parse_dclist(c, k, s);
    case CK_UPSTREAMS:
        return ck_parse_upstreams(c, k, s);
    case CK_HOSTLIST:
        return ck_parse_strlist(c, k, s, ck_elem_host, 1,
            &c->cfg->tls_domains, &c->cfg->ntls_domains);
    case CK_CIDRLIST:
        return ck_parse_strlist(c, k, s, ck_elem_cidr, 0, (char ***)field,
            (int *)(void *)((char *)c->cfg + k->noff));
    default:
        break;
    }
    if (type != CONFIG_TYPE_STRING)
        return ck_fail(c, s, "%s: expected a string, got %s", k->name,
            ck_type_name(type));
    v = config_setting_get_string(s);
    if (k->type == CK_LOGLVL) {
        int lvl = log_level_parse(v);

        if (lvl == -1)
            return ck_fail(c, s, "%s: '%s' is not one of error, warn, "
                "info, debug", k->name, v);
        *(int *)field = lvl;
        return 0;
    }
    if (k->type == CK_SNIACT) {
        int act = ck_sni_action(v);

        if (act == -1)
            return ck_fail(c, s, "%s: '%s' is not one of mask, drop, "
                "reject, accept", k->name, v);
        *(int *)field = act;
        return 0;
    }
    if ((why = ck_check_string(k->type, v)) != NULL)
        return ck_fail(c, s, "%s: '%s' %s", k->name, v, why);
    *(char **)field = xstrdup(v);
    return 0;
}

/*
 * Match every member of group g against the table; prefix is the dotted
 * name of g ("" for the root).  Members of a known group recurse.
 */
static int
ck_parse_group(struct ck_ctx *c, const config_setting_t *g,
    const char *prefix)
{
    for (int i = 0; i < config_setting_length(g); i++) {
        const config_setting_t *s = config_setting_get_elem(g, i);
        char name[CK_NAME_LEN];
        int idx;

        snprintf(name, sizeof(name), "%s%s%s", prefix,
            *prefix != '\0' ? "." : "", config_setting_name(s));
        if ((idx = ck_find(name)) != -1) {
            /* Parsed first, by config_parse_text(). */
            if (ck_keys[idx].type == CK_USERDEFS)
                continue;
            if (ck_parse_key(c, idx, s) == -1)
                return -1;
        } else if (ck_is_group(name)) {
            if (config_setting_type(s) != CONFIG_TYPE_GROUP)
                return ck_fail(c, s, "%s: expected a group, got %s", name,
                    ck_type_name(config_setting_type(s)));
            if (ck_parse_group(c, s, name) == -1)
                return -1;
        } else {
            return ck_fail(c, s, "unknown key '%s'", name);
        }
    }
    return 0;
}

/* Give every key the file did not set its default. */
static void
ck_defaults(struct ck_ctx *c)
{
    for (int i = 0; i < CK_NKEYS; i++) {
        const struct ck_key *k = &ck_keys[i];
        void *field = ck_field(c->cfg, k);

        if (c->seen[i])
            continue;
        switch (k->type) {
        case CK_INT:
            *(int *)field = (int)k->idef;
            break;
        case CK_BOOL:
            *(bool *)field = k->idef != 0;
            break;
        case CK_LOGLVL:
            *(int *)field = log_level_parse(k->sdef);
            break;
        case CK_SNIACT:
            *(int *)field = ck_sni_action(k->sdef);
            break;
        case CK_USERS:
        case CK_USERDEFS:
        case CK_DCLIST:
        case CK_HOSTLIST:
        case CK_CIDRLIST:
        case CK_UPSTREAMS:
            break;
        default:
            *(char **)field = xstrdup(k->sdef);
            break;
        }
    }
}

/* Turn "0 / empty means something else" values into what they mean. */
static void
ck_resolve(struct ck_ctx *c)
{
    struct config *cfg = c->cfg;

    if (cfg->workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);

        /* Stay within the bound an explicit value would have to meet. */
        if (n < 1)
            n = 1;
        if (n > ck_keys[CKI_workers].max)
            n = (long)ck_keys[CKI_workers].max;
        cfg->workers = (int)n;
    }
    if (cfg->mask_host[0] == '\0') {
        free(cfg->mask_host);
        cfg->mask_host = xstrdup(cfg->tls_domain);
    }
    if (cfg->public_port == 0)
        cfg->public_port = cfg->port;
    if (cfg->tls_domains == NULL) {
        cfg->tls_domains = xcalloc(1, sizeof(char *));
        cfg->ntls_domains = 1;
    }
    cfg->tls_domains[0] = xstrdup(cfg->tls_domain);
    if (cfg->tls_domain[0] == '\0')
        cfg->ntls_domains = 0;
}

/*
 * Line of key idx if the file set it, else 0; ck_fail() then leaves the
 * line out.
 */
static int
ck_line(struct ck_ctx *c, int idx)
{
    return c->seen[idx] ? c->line[idx] : 0;
}

/*
 * tls_sni_strict came before unknown_sni_action: an old config still
 * loads, with a warning saying what to write instead; one that sets both
 * in contradiction does not.
 */
static int
ck_sni_legacy(struct ck_ctx *c)
{
    struct config *cfg = c->cfg;
    int line = ck_line(c, CKI_tls_sni_strict);
    int accept = cfg->unknown_sni_action == CONFIG_SNI_ACCEPT;

    if (!c->seen[CKI_tls_sni_strict])
        return 0;
    if (c->seen[CKI_unknown_sni_action] && accept == cfg->tls_sni_strict)
        return ck_fail_line(c, line, "tls_sni_strict: %s contradicts "
            "unknown_sni_action (line %d); remove tls_sni_strict, which "
            "unknown_sni_action replaces", cfg->tls_sni_strict ? "true" :
            "false", ck_line(c, CKI_unknown_sni_action));
    if (!cfg->tls_sni_strict)
        cfg->unknown_sni_action = CONFIG_SNI_ACCEPT;
    log_warnx("%s:%d: tls_sni_strict is deprecated; write "
        "unknown_sni_action = \"%s\" instead", c->path, line,
        cfg->tls_sni_strict ? "mask" : "accept");
    return 0;
}

/* Rules that involve more than one key; run after defaults. */
static int
ck_cross_check(struct ck_ctx *c)
{
    struct config *cfg = c->cfg;
    int line;

    if (!c->seen[CKI_users])
        return ck_fail_line(c, 0, "users: missing; at least one user is "
            "required");
    if (!cfg->mode_classic && !cfg->mode_secure && !cfg->mode_tls) {
        /* modes.tls defaults to true, so the file must have set it. */
        return ck_fail_line(c, ck_line(c, CKI_mode_tls), "modes: no mode "
            "is enabled; set classic, secure or tls to true");
    }
    if (cfg->mode_tls && cfg->tls_domain[0] == '\0') {
        line = ck_line(c, CKI_tls_domain);
        if (line == 0)
            line = ck_line(c, CKI_mode_tls);
        return ck_fail_line(c, line, "tls_domain: required when modes.tls "
            "is true");
    }
    if (cfg->admin_listen[0] != '\0' && cfg->admin_token[0] == '\0' &&
        cfg->nadmin_whitelist == 0) {
        struct sockaddr_storage ss;
        socklen_t len;
        char host[INET6_ADDRSTRLEN + 2];
        int port;

        if (net_split_hostport(cfg->admin_listen, host, sizeof(host),
            &port) == 0 && net_parse_literal(host, port, &ss, &len) == 0 &&
            !net_is_loopback((struct sockaddr *)&ss))
            return ck_fail_line(c, ck_line(c, CKI_admin_listen),
                "admin_listen: %s is not a loopback address; set "
                "admin_token or admin_whitelist (or both)",
                cfg->admin_listen);
    }
    /* Nobody trusted would refuse every client: surely not meant. */
    if (cfg->proxy_protocol && cfg->nproxy_protocol_trusted == 0)
        return ck_fail_line(c, ck_line(c, CKI_proxy_protocol),
            "proxy_protocol: true needs proxy_protocol_trusted, the "
            "networks of the load balancers that send the headers");
    if (cfg->tls_cert_len_min > cfg->tls_cert_len_max)
        return ck_fail_line(c, ck_line(c, CKI_tls_cert_len_max),
            "tls_cert_len_max: %d is below tls_cert_len_min %d",
            cfg->tls_cert_len_max, cfg->tls_cert_len_min);
    if (cfg->mode_tls && cfg->replay_window < 2 * cfg->tls_time_skew) {
        line = ck_line(c, CKI_replay_window);
        if (line == 0)
            line = ck_line(c, CKI_tls_time_skew);
        return ck_fail_line(c, line, "replay_window: %d is less than twice "
            "tls_time_skew (%d): a replayed hello could outlive its entry",
            cfg->replay_window, cfg->tls_time_skew);
    }
    /* The default wait follows a short handshake_timeout down. */
    if (!c->seen[CKI_fail_delay_max] &&
        cfg->fail_delay_max > cfg->handshake_timeout * 250)
        cfg->fail_delay_max = cfg->handshake_timeout * 250;
    if (cfg->fail_delay_max * 2 >= cfg->handshake_timeout * 1000) {
        line = ck_line(c, CKI_fail_delay_max);
        if (line == 0)
            line = ck_line(c, CKI_handshake_timeout);
        return ck_fail_line(c, line, "fail_delay_max: %d ms is not below "
            "half of handshake_timeout (%d s): a valid client from an "
            "address that failed before could time out waiting",
            cfg->fail_delay_max, cfg->handshake_timeout);
    }
    if (ck_sni_legacy(c) == -1)
        return -1;
    if (cfg->ntls_domains > 1 && cfg->tls_domain[0] == '\0')
        return ck_fail_line(c, ck_line(c, CKI_tls_domains), "tls_domains: "
            "set tls_domain too; it is the first of the names");
    for (int i = 0; i < cfg->nusers; i++)
        if (cfg->users[i].data_quota_bytes > 0 && cfg->state_dir[0] != '/')
            return ck_fail_line(c, ck_line(c, CKI_state_dir), "state_dir: "
                "'%s' is not an absolute path; users.%s has "
                "data_quota_bytes, whose usage is kept there",
                cfg->state_dir, cfg->users[i].name);
    if (cfg->listen_ipv4[0] == '\0' && cfg->listen_ipv6[0] == '\0') {
        line = ck_line(c, CKI_listen_ipv4);
        if (ck_line(c, CKI_listen_ipv6) > line)
            line = ck_line(c, CKI_listen_ipv6);
        return ck_fail_line(c, line, "listen_ipv4, listen_ipv6: both are "
            "empty; set at least one");
    }
    /* Linux refuses an MSS below TCP_MIN_MSS (88) with EINVAL. */
    if (cfg->client_mss > 0 && cfg->client_mss < 88)
        return ck_fail_line(c, ck_line(c, CKI_client_mss), "client_mss: "
            "%d is below 88, the smallest MSS the kernel accepts; 0 turns "
            "it off", cfg->client_mss);
    /* Smaller pieces only add segments (and round trips) to each
     * handshake; no middlebox is known to need them. */
    if (cfg->tls_first_flight_segment > 0 &&
        cfg->tls_first_flight_segment < 64)
        return ck_fail_line(c, ck_line(c, CKI_tls_first_flight_segment),
            "tls_first_flight_segment: %d is below 64; 0 turns it off",
            cfg->tls_first_flight_segment);
    return 0;
}

/* path's text, a regular file of at most CONFIG_MAX_TEXT bytes without
 * NUL (flags: more open() flags, O_NOFOLLOW); NULL with the error in c. */
static char *
ck_read_file(struct ck_ctx *c, const char *path, int flags)
{
    struct stat st;
    char *text;
    size_t got = 0;
    int fd;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | flags)) == -1) {
        ck_fail_line(c, 0, "cannot read: %s", strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) == -1) {
        ck_fail_line(c, 0, "cannot read: %s", strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX_TEXT) {
        ck_fail_line(c, 0, "cannot read: %s", !S_ISREG(st.st_mode) ?
            "not a regular file" : "larger than 16 MiB");
        close(fd);
        return NULL;
    }
    text = xmalloc((size_t)st.st_size + 1);
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, text + got, (size_t)st.st_size - got);

        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    text[got] = '\0';
    if (got != (size_t)st.st_size || strlen(text) != got) {
        ck_fail_line(c, 0, "cannot read: %s", got != (size_t)st.st_size ?
            "short read" : "NUL byte in the file");
        free(text);
        return NULL;
    }
    return text;
}

/*
 * The users file joins the text after a marker line, so that the workers
 * (which read no file) get the users too and a problem in them is told
 * at its line of the users file.
 */
#define CK_USERS_MARK   CONFIG_USERS_MARK

/* A file's text may not hold the mark; 0, or -1 with the error in c. */
static int
ck_no_mark(struct ck_ctx *c, const char *text)
{
    const char *m = strstr(text, CK_USERS_MARK);
    int line = 1;

    if (m == NULL)
        return 0;
    for (const char *p = text; p < m; p++)
        line += *p == '\n';
    return ck_fail_line(c, line, "'%s' is reserved for telemt's own use",
        CK_USERS_MARK);
}

char *
config_file_text(const char *path, char *err, size_t errlen)
{
    struct ck_ctx c;
    char *text, *users, *all;
    const char *ufile = NULL;
    config_t lc;

    memset(&c, 0, sizeof(c));
    c.path = path;
    c.err = err;
    c.errlen = errlen;
    if ((text = ck_read_file(&c, path, 0)) == NULL)
        return NULL;
    if (ck_no_mark(&c, text) != 0) {
        free(text);
        return NULL;
    }
    /* Only users_file is looked at here; the parse checks the rest. */
    config_init(&lc);
    if (config_read_string(&lc, text) != CONFIG_TRUE ||
        config_lookup_string(&lc, "users_file", &ufile) != CONFIG_TRUE ||
        ufile[0] == '\0' || strchr(ufile, '\n') != NULL) {
        config_destroy(&lc);
        return text;                    /* none, or the parse will say */
    }
    c.path = ufile;
    users = ck_read_file(&c, ufile, O_NOFOLLOW);
    if (users != NULL && ck_no_mark(&c, users) != 0) {
        free(users);
        users = NULL;
    }
    if (users == NULL) {
        config_destroy(&lc);
        free(text);
        return NULL;
    }
    all = config_join_users(text, ufile, users);
    config_destroy(&lc);
    free(text);
    free(users);
    return all;
}

char *
config_read_text(const char *path, int nofollow, char *err, size_t errlen)
{
    struct ck_ctx c;

    memset(&c, 0, sizeof(c));
    c.path = path;
    c.err = err;
    c.errlen = errlen;
    return ck_read_file(&c, path, nofollow ? O_NOFOLLOW : 0);
}

char *
config_join_users(const char *text, const char *users_path,
    const char *users)
{
    size_t n = strlen(text) + strlen(CK_USERS_MARK) + strlen(users_path) +
        strlen(users) + 4;
    char *all = xmalloc(n);

    snprintf(all, n, "%s\n%s%s\n%s", text, CK_USERS_MARK, users_path, users);
    return all;
}

/* Append printf text to the growing *buf (of *len bytes, *cap room). */
static void __attribute__((format(printf, 4, 5)))
ck_append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    va_list ap;
    char *p;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < *cap - *len)
            break;
        *cap = *cap * 2 + (size_t)(n > 0 ? n : 0);
        if ((p = realloc(*buf, *cap)) == NULL)
            fatalx("out of memory");
        *buf = p;
    }
    *len += (size_t)n;
}

/* One per-user field, written the way the loader reads it, when it
 * differs from the default d; by its CONFIG_USER_FIELDS type. */
static void
ck_write_BOOL(char **b, size_t *l, size_t *c, const char *name, bool v,
    bool d)
{
    if (v != d)
        ck_append(b, l, c, " %s = %s;", name, v ? "true" : "false");
}

static void
ck_write_COUNT(char **b, size_t *l, size_t *c, const char *name, int64_t v,
    int64_t d)
{
    if (v != d)
        ck_append(b, l, c, " %s = %lld%s;", name, (long long)v,
            v > INT32_MAX || v < INT32_MIN ? "L" : "");
}

static void
ck_write_TIME(char **b, size_t *l, size_t *c, const char *name, int64_t v,
    int64_t d)
{
    char when[32] = "";
    time_t t = (time_t)v;
    struct tm tm;

    if (v == d)
        return;
    if (v != 0 && gmtime_r(&t, &tm) != NULL)
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    ck_append(b, l, c, " %s = \"%s\";", name, when);
}

static void
ck_write_TAG(char **b, size_t *l, size_t *c, const char *name,
    struct config_ad_tag v, struct config_ad_tag d)
{
    char hex[2 * CONFIG_AD_TAG_LEN + 1];

    if (v.kind == d.kind && (v.kind != CONFIG_TAG_OWN ||
        memcmp(v.tag, d.tag, sizeof(v.tag)) == 0))
        return;
    if (v.kind == CONFIG_TAG_OWN)
        hex_encode(v.tag, sizeof(v.tag), hex);
    ck_append(b, l, c, " %s = \"%s\";", name, v.kind == CONFIG_TAG_OWN ?
        hex : v.kind == CONFIG_TAG_DIRECT ? "direct" : "");
}

char *
config_users_text(const struct config *cfg, const struct config_user *users,
    int n)
{
    const struct config_user *d = &cfg->user_defaults;
    size_t len = 0, cap = 4096;
    char *b = xmalloc(cap), hex[2 * SECRET_LEN + 1];

    b[0] = '\0';
    ck_append(&b, &len, &cap, "# written by telemt (the users API); "
        "edits are kept, comments are not\nusers = {\n");
    for (int i = 0; i < n; i++) {
        const struct config_user *u = &users[i];

        hex_encode(u->secret, SECRET_LEN, hex);
        ck_append(&b, &len, &cap, "  %s = { secret = \"%s\";", u->name, hex);
#define X(name, type, field, min, max, def, help) \
        ck_write_##type(&b, &len, &cap, name, u->field, d->field);
        CONFIG_USER_FIELDS(X)
#undef X
        ck_append(&b, &len, &cap, " };\n");
    }
    ck_append(&b, &len, &cap, "};\n");
    return b;
}

/*
 * libconfig 1.5 wraps an integer literal that needs more than 32 bits and
 * has no L suffix, without a word (4294967296 reads as 0): a quota of
 * 100 GiB would silently become no limit.  Find the first such literal
 * in text, outside strings and comments, and copy it into lit.  Returns
 * its line, or 0 if there is none.  An @include'd file is libconfig's to
 * read and is not looked at.
 */
static int
ck_find_wide_int(const char *text, char *lit, size_t litlen)
{
    const char *p = text;
    int line = 1;

    while (*p != '\0') {
        if (*p == '\n') {
            line++;
            p++;
        } else if (*p == '"') {
            for (p++; *p != '\0' && *p != '"'; p++) {
                if (*p == '\\' && p[1] != '\0')
                    p++;
                line += *p == '\n';
            }
            p += *p != '\0';
        } else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
            while (*p != '\0' && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            for (p += 2; *p != '\0' && !(p[0] == '*' && p[1] == '/'); p++)
                line += *p == '\n';
            p += *p != '\0' ? 2 : 0;
        } else if (isalpha((unsigned char)*p) || *p == '_' || *p == '*') {
            /* A setting name, which may hold digits ("u1"). */
            while (isalnum((unsigned char)*p) || *p == '_' || *p == '-' ||
                *p == '*')
                p++;
        } else if (isdigit((unsigned char)*p)) {
            const char *start = p;
            bool neg = start > text && start[-1] == '-';
            int base = p[0] == '0' && (p[1] == 'x' || p[1] == 'X') ? 16 : 10;
            unsigned long long v;

            p += base == 16 ? 2 : 0;
            while (base == 16 ? isxdigit((unsigned char)*p) :
                isdigit((unsigned char)*p))
                p++;
            if (base == 10 && (*p == '.' || *p == 'e' || *p == 'E')) {
                /* A float. */
                while (isalnum((unsigned char)*p) || *p == '.' ||
                    ((*p == '+' || *p == '-') && (p[-1] == 'e' ||
                    p[-1] == 'E')))
                    p++;
                continue;
            }
            if (*p == 'L')
                continue;
            errno = 0;
            v = strtoull(start, NULL, base);
            if (errno == ERANGE || v > (unsigned long long)INT_MAX + neg) {
                snprintf(lit, litlen, "%s%.*s", neg ? "-" : "",
                    (int)(p - start), start);
                return line;
            }
        } else {
            p++;
        }
    }
    return 0;
}

/* Where the users file begins in text (config_file_text()), if it does. */
static void
ck_users_mark(struct ck_ctx *c, const char *text)
{
    const char *m = strstr(text, "\n" CK_USERS_MARK);
    size_t n;

    if (m == NULL)
        return;
    c->ubase = 2;                       /* the mark's own line, 1-based */
    for (const char *p = text; p < m; p++)
        c->ubase += *p == '\n';
    m += 1 + strlen(CK_USERS_MARK);
    n = strcspn(m, "\n");
    if (n >= sizeof(c->upath))
        n = sizeof(c->upath) - 1;
    memcpy(c->upath, m, n);
    c->upath[n] = '\0';
}

/* A users file holds users and nothing else. */
static int
ck_users_only(struct ck_ctx *c, const config_setting_t *root)
{
    if (c->ubase == 0)
        return 0;
    for (int i = 0; i < config_setting_length(root); i++) {
        const config_setting_t *s = config_setting_get_elem(root, i);

        if ((int)config_setting_source_line(s) > c->ubase &&
            strcmp(config_setting_name(s), "users") != 0)
            return ck_fail(c, s, "%s: only users belongs in users_file",
                config_setting_name(s));
    }
    return 0;
}

struct config *
config_parse_text(const char *path, const char *text, char *err,
    size_t errlen)
{
    struct ck_ctx c;
    const config_setting_t *ud;
    char lit[32];
    config_t lc;
    int rc;

    memset(&c, 0, sizeof(c));
    c.path = path;
    c.err = err;
    c.errlen = errlen;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    ck_users_mark(&c, text);

    config_init(&lc);
    if (config_read_string(&lc, text) != CONFIG_TRUE) {
        const char *file = config_error_file(&lc);

        ck_fail_line(&c, config_error_line(&lc), "%s",
            config_error_text(&lc));
        if (file != NULL && err != NULL && errlen > 0)
            snprintf(err, errlen, "%s:%d: %s", file, config_error_line(&lc),
                config_error_text(&lc));
        config_destroy(&lc);
        return NULL;
    }
    if (ck_users_only(&c, config_root_setting(&lc)) != 0) {
        config_destroy(&lc);
        return NULL;
    }

    if ((rc = ck_find_wide_int(text, lit, sizeof(lit))) != 0) {
        ck_fail_line(&c, rc, "%s does not fit in 32 bits; write it as %sL "
            "(libconfig would silently wrap it)", lit, lit);
        config_destroy(&lc);
        return NULL;
    }
    c.cfg = xcalloc(1, sizeof(*c.cfg));
    c.cfg->path = xstrdup(path);
    ck_user_defaults_init(&c.cfg->user_defaults);
    ud = config_setting_get_member(config_root_setting(&lc),
        ck_keys[CKI_user_defaults].name);
    rc = ud != NULL ? ck_parse_key(&c, CKI_user_defaults, ud) : 0;
    /* Every string is copied out before config_destroy(). */
    if (rc == 0)
        rc = ck_parse_group(&c, config_root_setting(&lc), "");
    config_destroy(&lc);
    if (rc == 0) {
        ck_defaults(&c);
        rc = ck_cross_check(&c);
    }
    if (rc == -1) {
        config_free(c.cfg);
        return NULL;
    }
    ck_resolve(&c);
    return c.cfg;
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
    char *text = config_file_text(path, err, errlen);
    struct config *cfg;

    if (text == NULL)
        return NULL;
    cfg = config_parse_text(path, text, err, errlen);
    free(text);
    return cfg;
}

/* 1 for the types whose field is one char * the snapshot owns. */
static int
ck_is_string(enum ck_type t)
{
    switch (t) {
    case CK_IPV4:
    case CK_IPV6:
    case CK_HOST:
    case CK_ADDR:
    case CK_PATH:
    case CK_HOSTPORT:
    case CK_TOKEN:
    case CK_UNAME:
    case CK_ADTAG:
    case CK_URL:
    case CK_IFNAME:
        return 1;
    default:
        return 0;
    }
}

/* The running value of a restart-only key, as the reload warning shows it. */
static void
ck_format(const struct config *cfg, const struct ck_key *k, char *buf,
    size_t len)
{
    const void *f = (const char *)cfg + k->off;

    switch (k->type) {
    case CK_INT:
        snprintf(buf, len, "%d", *(const int *)f);
        break;
    case CK_BOOL:
        snprintf(buf, len, "%s", *(const bool *)f ? "true" : "false");
        break;
    default:
        snprintf(buf, len, "\"%s\"", *(char *const *)f);
        break;
    }
}

int
config_keep_restart(struct config *n, const struct config *old,
    config_kept_fn *kept)
{
    int count = 0;

    for (int i = 0; i < CK_NKEYS; i++) {
        const struct ck_key *k = &ck_keys[i];
        char was[300], now[300];
        void *nf = (char *)n + k->off;
        const void *of = (const char *)old + k->off;
        int same;

        if (!k->restart)
            continue;
        switch (k->type) {
        case CK_INT:
            same = *(int *)nf == *(const int *)of;
            break;
        case CK_BOOL:
            same = *(bool *)nf == *(const bool *)of;
            break;
        default:
            if (ck_is_string(k->type)) {
                same = strcmp(*(char **)nf, *(char *const *)of) == 0;
                break;
            }
            panic("config key %s: RESTART is for scalar keys only", k->name);
        }
        if (same)
            continue;
        if (kept != NULL) {
            ck_format(old, k, was, sizeof(was));
            ck_format(n, k, now, sizeof(now));
            kept(k->name, was, now);
        }
        switch (k->type) {
        case CK_INT:
            *(int *)nf = *(const int *)of;
            break;
        case CK_BOOL:
            *(bool *)nf = *(const bool *)of;
            break;
        default:
            free(*(char **)nf);
            *(char **)nf = xstrdup(*(char *const *)of);
            break;
        }
        count++;
    }
    return count;
}

void
config_free(struct config *cfg)
{
    if (cfg == NULL)
        return;
    for (int i = 0; i < CK_NKEYS; i++)
        if (ck_is_string(ck_keys[i].type))
            free(*(char **)ck_field(cfg, &ck_keys[i]));
    for (int i = 0; i < cfg->nusers; i++)
        free(cfg->users[i].name);
    free(cfg->users);
    for (int i = 0; i < cfg->ndc_overrides; i++) {
        for (int j = 0; j < cfg->dc_overrides[i].naddrs; j++)
            free(cfg->dc_overrides[i].addrs[j]);
        free(cfg->dc_overrides[i].addrs);
    }
    free(cfg->dc_overrides);
    for (int i = 0; i < cfg->nupstreams; i++) {
        free(cfg->upstreams[i].address);
        free(cfg->upstreams[i].username);
        free(cfg->upstreams[i].password);
    }
    free(cfg->upstreams);
    for (int i = 0; i < CK_NKEYS; i++) {
        char **list;
        int n;

        if (ck_keys[i].type != CK_CIDRLIST)
            continue;
        list = *(char ***)ck_field(cfg, &ck_keys[i]);
        n = *(int *)(void *)((char *)cfg + ck_keys[i].noff);
        for (int j = 0; j < n; j++)
            free(list[j]);
        free(list);
    }
    if (cfg->tls_domains != NULL) {
        /* Slot 0 (tls_domain) exists even when ntls_domains is 0. */
        int n = cfg->ntls_domains > 0 ? cfg->ntls_domains : 1;

        for (int i = 0; i < n; i++)
            free(cfg->tls_domains[i]);
        free(cfg->tls_domains);
    }
    free(cfg->path);
    free(cfg);
}

void
config_print_keys(FILE *out)
{
    fprintf(out, "| key | type | reload | default | meaning |\n");
    fprintf(out, "|---|---|---|---|---|\n");
    for (int i = 0; i < CK_NKEYS; i++) {
        const struct ck_key *k = &ck_keys[i];

        fprintf(out, "| %s | %s | %s | ", k->name, ck_table_type(k->type),
            k->restart ? "restart" : "live");
        switch (k->type) {
        case CK_INT:
            fprintf(out, "%lld | %s (%lld..%lld) |\n", k->idef, k->help,
                k->min, k->max);
            break;
        case CK_BOOL:
            fprintf(out, "%s | %s |\n", k->idef ? "true" : "false",
                k->help);
            break;
        case CK_USERS:
            fprintf(out, "%s | %s (%lld..%lld users) |\n", k->sdef, k->help,
                k->min, k->max);
            break;
        case CK_USERDEFS:
            fprintf(out, "%s | %s |\n", k->sdef, k->help);
            break;
        case CK_DCLIST:
            fprintf(out, "%s | %s (dc %lld..%lld, 1..%d addresses) |\n",
                k->sdef, k->help, k->min, k->max, CONFIG_MAX_DC_ADDRS);
            break;
        case CK_HOSTLIST:
        case CK_CIDRLIST:
            fprintf(out, "%s | %s (at most %lld) |\n", k->sdef, k->help,
                k->max);
            break;
        case CK_UPSTREAMS:
            fprintf(out, "%s | %s (at most %d; weight %lld..%lld, default "
                "1) |\n", k->sdef, k->help, CONFIG_MAX_UPSTREAMS, k->min,
                k->max);
            break;
        default:
            fprintf(out, "\"%s\" | %s |\n", k->sdef, k->help);
            break;
        }
    }
}

void
config_print_user_fields(FILE *out)
{
    fprintf(out, "| field | type | default | meaning |\n");
    fprintf(out, "|---|---|---|---|\n");
    for (size_t i = 0; i < CU_NFIELDS; i++) {
        const struct cu_field *f = &cu_fields[i];

        switch (f->type) {
        case CU_BOOL:
            fprintf(out, "| %s | bool | %s | %s |\n", f->name,
                f->def ? "true" : "false", f->help);
            break;
        case CU_COUNT:
            fprintf(out, "| %s | int | %lld | %s (%lld..%lld) |\n", f->name,
                f->def, f->help, f->min, f->max);
            break;
        case CU_TIME:
            fprintf(out, "| %s | string | \"\" | %s (\"YYYY-MM-DDTHH:MM:SSZ\", "
                "UTC) |\n", f->name, f->help);
            break;
        case CU_TAG:
            fprintf(out, "| %s | string | \"\" | %s |\n", f->name, f->help);
            break;
        }
    }
}
