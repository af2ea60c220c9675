/*
 * Health and metrics over HTTP for probes and monitoring, when
 * [metrics] listen is set: GET /livez answers "ok" while the agent runs (for
 * a liveness probe); GET /healthz answers "ok" while every remote works, and
 * 503 with one line per remote that is failing (a remote the agent cannot
 * sync is not healthy, however well the process runs); GET /metrics the
 * Prometheus text format.  The listener (libmicrohttpd, on
 * its own thread) serves a copy of the agent's state that the event loop
 * publishes whenever it changes, so a scrape never waits for the loop.
 * Clients cannot hold it hostage: each request must be complete within a
 * few seconds of the connection opening (or of the previous request's end),
 * however slowly it trickles in, and the number of connections is limited
 * in all and per client address (metrics.c says how).  Listening on an
 * address other than loopback logs a warning.
 */
#ifndef CBSYNC_METRICS_H
#define CBSYNC_METRICS_H

#include "agent/daemon/state.h"
#include "common/result.h"

#include <stdbool.h>

struct metrics;

/* Listen on "HOST:PORT" (validated by conf). */
enum result metrics_start(struct metrics **out, const char *listen, struct error *err);

/* Replace the state the listener serves. */
void metrics_publish(struct metrics *m, const struct agent_state *s);

/* Render the Prometheus text for a state (newly allocated). */
char *metrics_render(const struct agent_state *s);

/* The /healthz text for a state (newly allocated): "ok\n", or one line per
 * failing remote; *healthy says which. */
char *metrics_health(const struct agent_state *s, bool *healthy);

void metrics_stop(struct metrics *m);

#endif
