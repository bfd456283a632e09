/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Memory give-back on the server: a connection that moved more than a few
 * small messages goes on the server's trim list; a timer of the loop checks
 * that list (never the idle connections that are not on it) every quarter
 * of the idle time, and a connection found without traffic for the whole
 * idle time gives back what its transport only needed for large messages
 * and leaves the list.  A busy connection stays on the list untouched:
 * back-to-back large calls keep their memory (docs/shm.md).
 */
#include "ipc-internal.h"

static uint64_t
conn_activity(lrpc_conn *c)
{
	return c->stats.requests + c->stats.responses + c->stats.events;
}

static void server_on_trim_timer(void *userdata);

static void
server_trim_arm(lrpc_server *s)
{
	if (s->trim_timer || !s->trims || s->closed)
		return;
	(void)s->pops->timer_add(s->loop_data, s->opts.idle_trim_usec / 4,
				 server_on_trim_timer, s, &s->trim_timer);
}

void
lrpc__conn_trim_list(lrpc_conn *c)
{
	lrpc_server *s = c->server;

	if (s->opts.idle_trim_usec == LRPC_TIMEOUT_INFINITE ||
	    c->state != CONN_ACTIVE) {
		c->trim_bytes = 0;
		return;
	}
	c->trim_prev = NULL;
	c->trim_next = s->trims;
	if (s->trims)
		s->trims->trim_prev = c;
	s->trims = c;
	c->trim_listed = true;
	c->trim_seen = conn_activity(c);
	c->trim_active = lrpc__now_usec();
	server_trim_arm(s);
}

void
lrpc__conn_trim_unlist(lrpc_conn *c)
{
	lrpc_server *s = c->server;

	if (!c->trim_listed)
		return;
	if (c->trim_prev)
		c->trim_prev->trim_next = c->trim_next;
	else
		s->trims = c->trim_next;
	if (c->trim_next)
		c->trim_next->trim_prev = c->trim_prev;
	c->trim_prev = c->trim_next = NULL;
	c->trim_listed = false;
}

static void
conn_trim_check(lrpc_conn *c, uint64_t now)
{
	lrpc_server *s = c->server;
	uint64_t act = conn_activity(c);

	if (c->state != CONN_ACTIVE || !c->t) {
		lrpc__conn_trim_unlist(c);
		return;
	}
	/* An open reservation or queued messages are traffic too. */
	if (act != c->trim_seen || c->resv_chan >= 0 ||
	    c->q[LRPC__CHAN_RESPONSE].count > 0 ||
	    c->q[LRPC__CHAN_EVENT].count > 0) {
		c->trim_seen = act;
		c->trim_active = now;
		return;
	}
	if (now - c->trim_active < s->opts.idle_trim_usec)
		return;
	c->tops->t_trim(c->t);
	c->trim_bytes = 0;
	lrpc__conn_trim_unlist(c);
}

static void
server_on_trim_timer(void *userdata)
{
	lrpc_server *s = userdata;
	uint64_t now = lrpc__now_usec();
	lrpc_conn *c, *next;

	s->trim_timer = NULL;
	for (c = s->trims; c; c = next) {
		next = c->trim_next;
		conn_trim_check(c, now);
	}
	server_trim_arm(s);
}

void
lrpc__server_trim_stop(lrpc_server *s)
{
	if (s->trim_timer) {
		s->pops->timer_del(s->loop_data, s->trim_timer);
		s->trim_timer = NULL;
	}
}
