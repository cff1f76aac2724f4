/* fuzz_config.c: pushpin.conf text parsing and value handling via tt_config_load_text.
 * Inputs that mention "include" are skipped: an include reads files from disk, which a
 * fuzzer must not steer (device files, /proc). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (memmem(data, size, "include", 7))
        return 0;
    struct tt_config cfg;
    char err[256];
    tt_config_defaults(&cfg);
    /* a fixed libdir keeps the run independent of the host's /usr/lib/pushpin */
    cfg.libdir = strdup("/nonexistent-lib");
    int rc = tt_config_load_text(&cfg, (const char *)data, size, "/nonexistent/pushpin.conf", err,
                                 sizeof(err));
    if (rc == 0) {
        if (cfg.num_http_ports < 1 || cfg.num_http_ports > TT_MAX_LISTEN)
            abort();
        if (cfg.routesfile && cfg.routesfile[0] != '/')
            abort();
    } else if (strnlen(err, sizeof(err)) == 0) {
        abort(); /* every failure explains itself */
    }
    tt_config_deinit(&cfg);

    /* the port list parser on its own */
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    struct tt_listen_addr out[TT_MAX_LISTEN];
    int n = 0;
    (void)tt_config_parse_ports(s, out, TT_MAX_LISTEN, &n);
    free(s);
    return 0;
}
