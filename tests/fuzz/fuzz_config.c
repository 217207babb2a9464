/*
 * fuzz_config.c - libFuzzer target for the config loader: the text of a
 * file through config_parse_text(), libconfig's parser and every check
 * telemt adds.  A refusal must say "fuzz.conf:LINE: why" or
 * "fuzz.conf: why"; an accepted config is freed again (LeakSanitizer).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text, err[512];
    struct config *cfg;

    /* A file with a NUL, or with the users_file mark, is refused before
     * parsing (config_file_text). */
    if (size > 65536 || memchr(data, 0, size) != NULL ||
        memmem(data, size, CONFIG_USERS_MARK, strlen(CONFIG_USERS_MARK)) ||
        (text = malloc(size + 1)) == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    err[0] = '\0';
    cfg = config_parse_text("fuzz.conf", text, err, sizeof(err));
    if (cfg != NULL)
        config_free(cfg);
    else if (strncmp(err, "fuzz.conf:", 10) != 0 || err[10] == '\0')
        abort();
    free(text);
    return 0;
}
