/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The RPC client's reconnect: after the server went away, connect again
 * from timers of the loop the RPC client is attached to, with a growing
 * backoff, until a deadline; then swap the new lrpc_client in and
 * negotiate again, since the server that came back may be another build.
 */
#include "rpc-client-internal.h"

#define RECONNECT_DEADLINE_USEC (30 * LRPC_USEC_PER_SEC)
#define RECONNECT_BACKOFF_MIN_USEC (10 * LRPC_USEC_PER_MSEC)
#define RECONNECT_BACKOFF_MAX_USEC LRPC_USEC_PER_SEC

static void rec_on_timer(void *userdata);

static void
rec_done(lrpc_rpc_client *rc, int status)
{
	rc->rec_active = false;
	if (rc->rec.fn)
		rc->rec.fn(rc, status, rc->rec.userdata);
}

/* The next attempt after the backoff; at the deadline, give up. */
static void
rec_schedule(lrpc_rpc_client *rc)
{
	uint64_t left = lrpc__deadline_left_usec(rc->rec_deadline);
	int r;

	if (left == 0) {
		rec_done(rc, -ETIMEDOUT);
		return;
	}
	uint64_t t = LRPC_MIN(rc->rec_backoff, left);
	rc->rec_backoff =
		LRPC_MIN(rc->rec_backoff * 2, rc->rec.backoff_max_usec);
	r = rc->pops->timer_add(rc->loop_data, t, rec_on_timer, rc,
				&rc->rec_timer);
	if (r < 0) {
		lrpc__log_warning("lrpc rpc: cannot arm the reconnect: %d",
				  r);
		rc->rec_timer = NULL;
		rec_done(rc, r);
	}
}

/* The new connection is up: wrap it instead of the old one. */
static void
rec_adopt(lrpc_rpc_client *rc, lrpc_client *nc)
{
	lrpc_client *old = rc->c;

	lrpc_client_set_response_handler(old, NULL, NULL);
	lrpc_client_set_event_handler(old, NULL, NULL);
	lrpc_client_set_closed_handler(old, NULL, NULL);
	rc->c = nc;
	lrpc__rpcc_set_handlers(rc);
	lrpc_client_unref(old);
	/* What the old server said binds nobody now. */
	for (size_t i = 0; i < rc->n_ifaces; i++) {
		rc->ifaces[i].common = 0;
		rc->ifaces[i].refused = 0;
		rc->ifaces[i].refusal[0] = '\0';
	}
	/* Negotiate now rather than at the next call: the server sends
	 * events only to a connection that said hello for the interface. */
	for (size_t i = 0; i < rc->n_ifaces; i++) {
		int r = lrpc_rpc_client_negotiate(
			rc, rc->ifaces[i].iface,
			lrpc__client_get_opts(nc)->connect_timeout_usec);
		if (r < 0)
			lrpc__log_debug("lrpc rpc: %s after reconnect: %d",
					rc->ifaces[i].iface->name, r);
	}
}

static void
rec_on_connected(lrpc_client *nc, int status, void *userdata)
{
	lrpc_rpc_client *rc = lrpc_rpc_client_ref(userdata);

	rc->rec_c = NULL;
	if (status < 0 || rc->closing) {
		lrpc_client_close(nc);
		lrpc_client_unref(nc);
		if (!rc->closing)
			rec_schedule(rc);
	} else {
		rec_adopt(rc, nc);
		/* Gone again while negotiating: its closed handler starts
		 * over. */
		if (lrpc_client_is_connected(nc))
			rec_done(rc, 0);
	}
	lrpc_rpc_client_unref(rc);
}

static void
rec_on_timer(void *userdata)
{
	lrpc_rpc_client *rc = lrpc_rpc_client_ref(userdata);
	lrpc_client_opts o = *lrpc__client_get_opts(rc->c);
	uint64_t left = lrpc__deadline_left_usec(rc->rec_deadline);
	lrpc_client *nc = NULL;
	int r;

	rc->rec_timer = NULL;
	/* The handshake must not run past the reconnect's deadline. */
	if (left != UINT64_MAX)
		o.connect_timeout_usec =
			LRPC_MIN(o.connect_timeout_usec, LRPC_MAX(left, 1));
	o.wait_usec = 0;
	r = lrpc_client_new_async(&nc, lrpc__client_get_name(rc->c), &o,
				  rec_on_connected, rc);
	if (r == 0) {
		r = lrpc_client_set_poll(nc, rc->pops, rc->loop_data);
		if (r < 0)
			nc = lrpc_client_unref(nc);
	}
	if (r < 0)
		rec_schedule(rc);
	else
		rc->rec_c = nc;
	lrpc_rpc_client_unref(rc);
}

void
lrpc__rpcc_reconnect_start(lrpc_rpc_client *rc, int reason)
{
	/* Closed on purpose, or nobody to run the timers: stay closed. */
	if (!rc->rec_on || rc->rec_active || rc->closing ||
	    reason == -ECANCELED || !rc->pops)
		return;
	rc->rec_active = true;
	rc->rec_deadline = lrpc__deadline_from_usec(rc->rec.deadline_usec, 0);
	rc->rec_backoff = rc->rec.backoff_min_usec;
	rec_schedule(rc);
}

void
lrpc__rpcc_reconnect_stop(lrpc_rpc_client *rc)
{
	if (rc->rec_timer)
		(void)rc->pops->timer_del(rc->loop_data, rc->rec_timer);
	rc->rec_timer = NULL;
	if (rc->rec_c) {
		lrpc_client_close(rc->rec_c);
		rc->rec_c = lrpc_client_unref(rc->rec_c);
	}
	rc->rec_active = false;
}

LRPC_EXPORT int
lrpc_rpc_client_set_reconnect(lrpc_rpc_client *rc,
			      const lrpc_rpc_reconnect_opts *opts)
{
	lrpc_rpc_reconnect_opts o;
	int r;

	RPC_CHECK(rc);
	if (!opts) {
		lrpc__rpcc_reconnect_stop(rc);
		rc->rec_on = false;
		return 0;
	}
	r = lrpc__copy_sized(&o, sizeof(o), opts,
			     LRPC__SIZE_UNTIL(lrpc_rpc_reconnect_opts,
					      userdata));
	if (r < 0)
		return r;
	if (o.deadline_usec == 0 || o.deadline_usec == LRPC_TIMEOUT_DEFAULT)
		o.deadline_usec = RECONNECT_DEADLINE_USEC;
	if (o.backoff_min_usec == 0 ||
	    o.backoff_min_usec >= LRPC_TIMEOUT_DEFAULT)
		o.backoff_min_usec = RECONNECT_BACKOFF_MIN_USEC;
	if (o.backoff_max_usec == 0 ||
	    o.backoff_max_usec >= LRPC_TIMEOUT_DEFAULT)
		o.backoff_max_usec = RECONNECT_BACKOFF_MAX_USEC;
	if (o.backoff_max_usec < o.backoff_min_usec)
		o.backoff_max_usec = o.backoff_min_usec;
	rc->rec = o;
	rc->rec_on = true;
	return 0;
}
