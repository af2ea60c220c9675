/*
 * Cooperative cancellation.  A signal handler (SIGINT, SIGTERM) calls
 * cancel_request(); long-running loops (compression, downloads, sleeps) poll
 * cancel_requested() and unwind with CB_ERR_INTERRUPTED, removing their temp
 * files on the way out.
 */
#ifndef CBSYNC_CANCEL_H
#define CBSYNC_CANCEL_H

#include <stdbool.h>

void cancel_request(void);
void cancel_reset(void);
bool cancel_requested(void);

/* Install SIGINT/SIGTERM handlers that request cancellation (for CLI verbs). */
void cancel_install_handlers(void);

#endif
