/*
 * dc_table.c - Telegram's production DCs, port 443 (docs/protocol.md
 * 3.3).  dc_overrides in the config replace any of them.
 */
#include "dc_table.h"

#include <stddef.h>

#include "proto.h"

static const char *const dc_main[DC_MAX_BUILTIN + 1][2] = {
    { NULL, NULL },
    { "149.154.175.50:443", "[2001:b28:f23d:f001::a]:443" },
    { "149.154.167.51:443", "[2001:67c:04e8:f002::a]:443" },
    { "149.154.175.100:443", "[2001:b28:f23d:f003::a]:443" },
    { "149.154.167.91:443", "[2001:67c:04e8:f004::a]:443" },
    { "149.154.171.5:443", "[2001:b28:f23f:f005::a]:443" },
};
static const char *const dc_203[] = { "91.105.192.100:443" };

const int dc_builtin_ids[] = { 1, 2, 3, 4, 5, DC_SPECIAL_203 };
const int dc_nbuiltin = (int)(sizeof(dc_builtin_ids) /
    sizeof(dc_builtin_ids[0]));

int
dc_builtin(int dc, const char *const **addrs)
{
    if (dc >= 1 && dc <= DC_MAX_BUILTIN) {
        *addrs = dc_main[dc];
        return 2;
    }
    if (dc == DC_SPECIAL_203) {
        *addrs = dc_203;
        return 1;
    }
    return 0;
}
