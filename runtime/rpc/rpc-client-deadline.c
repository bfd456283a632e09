/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Deadlines of async calls: the earliest one is remembered, a timer of the
 * loop the RPC client is attached to fires for it (or process/run_once do,
 * pull style), and calls whose deadline passed end with -ETIMEDOUT once,
 * cancelled on the server.
 */
#include <stdio.h>

#include "rpc-client-internal.h"

static void
on_rpc_timer(void *userdata)
{
	lrpc_rpc_client *rc = lrpc_rpc_client_ref(userdata);

	rc->timer = NULL;
	lrpc__rpcc_expire(rc);
	lrpc_rpc_client_unref(rc);
}

/* One loop timer, at the earliest deadline, when attached push style. */
void
lrpc__rpcc_rpc_timer_arm(lrpc_rpc_client *rc)
{
	uint64_t now;

	if (!rc->pops || rc->closing || rc->next_deadline == UINT64_MAX)
		return;
	if (rc->timer && rc->timer_at <= rc->next_deadline)
		return;
	if (rc->timer)
		(void)rc->pops->timer_del(rc->loop_data, rc->timer);
	rc->timer = NULL;
	now = lrpc__now_usec();
	if (rc->pops->timer_add(rc->loop_data,
				rc->next_deadline > now ? rc->next_deadline -
								  now
							: 0,
				on_rpc_timer, rc, &rc->timer) < 0) {
		rc->timer = NULL;
		return;
	}
	rc->timer_at = rc->next_deadline;
}

void
lrpc__rpcc_note_deadline(lrpc_rpc_client *rc, uint64_t deadline)
{
	if (deadline < rc->next_deadline) {
		rc->next_deadline = deadline;
		lrpc__rpcc_rpc_timer_arm(rc);
	}
}

/* The earliest deadline of a pending call, or one already passed. */
static pending *
find_due(lrpc_rpc_client *rc, uint64_t now, uint64_t *ret_next)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < rc->tab_cap; i++) {
		if (!rc->tab[i].id)
			continue;
		if (rc->tab[i].deadline <= now)
			return &rc->tab[i];
		if (rc->tab[i].deadline < next)
			next = rc->tab[i].deadline;
	}
	*ret_next = next;
	return NULL;
}

void
lrpc__rpcc_expire(lrpc_rpc_client *rc)
{
	uint64_t now = lrpc__now_usec(), next;
	pending *due;

	if (now < rc->next_deadline)
		return;
	/* Rare (a deadline passed, or the remembered one was stale): a
	 * scan of the table is cheaper than keeping a heap per call. */
	lrpc_rpc_client_ref(rc);
	while (!rc->closing && (due = find_due(rc, now, &next))) {
		pending p = *due;
		lrpc__rpcc_tab_remove(rc, due);
		lrpc__rpcc_send_cancel(rc, &p);
		lrpc__rpcc_fail_one(rc, &p, -ETIMEDOUT);
	}
	rc->next_deadline = rc->closing ? UINT64_MAX : next;
	lrpc__rpcc_rpc_timer_arm(rc);
	lrpc_rpc_client_unref(rc);
}
