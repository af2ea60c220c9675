/*
 * Cancellation flag set from signal handlers.
 */
#include "common/cancel.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>

static atomic_int cancelled;

void cancel_request(void)
{
	atomic_store(&cancelled, 1);
}

void cancel_reset(void)
{
	atomic_store(&cancelled, 0);
}

bool cancel_requested(void)
{
	return atomic_load(&cancelled) != 0;
}

static void on_signal(int sig)
{
	(void)sig;
	cancel_request();
}

void cancel_install_handlers(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}
