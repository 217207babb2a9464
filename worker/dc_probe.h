/*
 * dc_probe.h - probes of idle DC addresses (dc_probe_interval), run by
 * the worker's main loop on a connection thread.
 */
#ifndef TELEMT_DC_PROBE_H
#define TELEMT_DC_PROBE_H

#include <stdint.h>

#include "worker.h"

/*
 * Main thread, every loop turn at monotonic ms now: start a probe round
 * if dc_probe_interval is on, a round is due and none runs.
 */
void dc_probe_tick(struct worker *w, int64_t now);

#endif
