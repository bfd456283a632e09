/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Memory give-back on the client.  Once the client moved LRPC__TRIM_KEEP
 * bytes since its last trim, it notes the (coarse) time of each operation;
 * after idle_trim_usec without one, its transport gives back what only
 * large messages needed.  An attached client has a timer of its loop for
 * that; any other one runs only when called, so it trims at the start of
 * its next operation after an idle period (docs/shm.md).
 */
#include "ipc-client-internal.h"

static void client_on_trim_timer(void *userdata);

static void
client_trim_arm(lrpc_client *c, uint64_t usec)
{
	if (c->trim_timer || !c->pops || c->state != CLIENT_CONNECTED)
		return;
	(void)c->pops->timer_add(c->loop_data, usec, client_on_trim_timer, c,
				 &c->trim_timer);
}

/* Give back now unless a view or a reservation is open: true if done. */
static bool
client_trim(lrpc_client *c)
{
	if (c->state != CLIENT_CONNECTED || !c->t || c->reserved)
		return false;
	for (int ch = 0; ch < LRPC__N_CHAN; ch++)
		if (c->viewing[ch])
			return false;
	c->tops->t_trim(c->t);
	c->trim_bytes = 0;
	c->trim_pending = false;
	lrpc__client_trim_detach(c);
	return true;
}

static void
client_on_trim_timer(void *userdata)
{
	lrpc_client *c = userdata;
	uint64_t idle = c->opts.idle_trim_usec;
	uint64_t quiet = lrpc__now_coarse_usec() - c->trim_last;

	c->trim_timer = NULL;
	if (!c->trim_pending)
		return;
	if (quiet >= idle && client_trim(c))
		return;
	/* Busy since: come back when it may have been idle long enough
	 * (a coarse-clock tick later, so as not to come back too early). */
	client_trim_arm(c, (quiet < idle ? idle - quiet : idle) + 5000);
}

void
lrpc__client_trim_start(lrpc_client *c)
{
	if (c->opts.idle_trim_usec == LRPC_TIMEOUT_INFINITE) {
		c->trim_bytes = 0;
		return;
	}
	c->trim_pending = true;
	c->trim_last = lrpc__now_coarse_usec();
	client_trim_arm(c, c->opts.idle_trim_usec + 5000);
}

void
lrpc__client_trim_op(lrpc_client *c)
{
	uint64_t now = lrpc__now_coarse_usec();

	if (now - c->trim_last >= c->opts.idle_trim_usec && client_trim(c))
		return;
	c->trim_last = now;
}

void
lrpc__client_trim_attach(lrpc_client *c)
{
	if (c->trim_pending)
		client_trim_arm(c, c->opts.idle_trim_usec + 5000);
}

void
lrpc__client_trim_detach(lrpc_client *c)
{
	if (c->trim_timer) {
		(void)c->pops->timer_del(c->loop_data, c->trim_timer);
		c->trim_timer = NULL;
	}
}
