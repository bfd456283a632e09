/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The RPC client: the object and its loop integration, replies matched to
 * the calls waiting for them, and events delivered to listeners.
 */
#include <stdio.h>
#include <string.h>

#include "rpc-client-internal.h"

static void
complete_call(lrpc_rpc_client *rc, const pending *p, int status,
	      const void *rep, const lrpc_rpc_error *err)
{
	if (p->complete)
		p->complete(rc, status, rep, err, p->fn, p->userdata);
}

/* Complete @p (already out of the table) with the error @status. */
void
lrpc__rpcc_fail_one(lrpc_rpc_client *rc, const pending *p, int status)
{
	lrpc_rpc_error err = {
		.code = status,
		.name = lrpc__rpcc_error_name(p->method, status),
	};
	void *rep = NULL;

	if (p->stream) {
		lrpc__rpcc_stream_fail(rc, p, status, NULL);
		return;
	}
	lrpc_arena_reset(&rc->arena);
	if (p->method->reply &&
	    lrpc_arena_alloc(&rc->arena, p->method->reply->size, 16, &rep) <
		    0)
		rep = NULL;
	if (status == -ETIMEDOUT)
		snprintf(err.message, sizeof(err.message),
			 "%s: no reply within the call's timeout",
			 p->method->name);
	complete_call(rc, p, status, rep, &err);
	lrpc_arena_reset(&rc->arena);
}

/* Fail every pending async call with @status (each callback once). */
void
lrpc__rpcc_fail_all(lrpc_rpc_client *rc, int status)
{
	for (size_t i = 0; i < rc->tab_cap; i++) {
		while (rc->tab && rc->tab[i].id) {
			pending p = rc->tab[i];
			lrpc__rpcc_tab_remove(rc, &rc->tab[i]);
			lrpc__rpcc_fail_one(rc, &p, status);
		}
	}
	for (waiter *w = rc->waiters; w; w = w->prev)
		if (!w->done) {
			w->done = true;
			w->status = status;
		}
}

/* A message from the response channel, from a sync wait or dispatch. */
void
lrpc__rpcc_on_response(lrpc_rpc_client *rc, const lrpc_msg_header *msg,
		       size_t size, lrpc__rd_fds *fds)
{
	lrpc__rd r = { .p = (const uint8_t *)msg + sizeof(*msg),
		       .end = (const uint8_t *)msg + size,
		       .borrow = rc->decode_borrow,
		       .fds = fds };
	lrpc__rpc_header h;

	if (size < LRPC__RPC_HDR_SIZE) {
		/* A core-level answer without RPC header: the server has no
		 * handler for this interface id.  Only a negotiation can
		 * meet that (calls are made after one succeeded). */
		for (waiter *w = rc->waiters; w; w = w->prev)
			if (w->hello && !w->done &&
			    (uint32_t)msg->id == w->iface_id) {
				w->done = true;
				w->status = msg->error == -ENOSYS ||
							    msg->error == 0
						    ? -EOPNOTSUPP
						    : msg->error;
				return;
			}
		lrpc__log_debug("lrpc rpc: dropping a core response (%d)",
				(int)msg->error);
		return;
	}
	(void)lrpc__rpc_header_read(&r, &h);
	for (waiter *w = rc->waiters; w; w = w->prev) {
		if (w->done || w->iter || w->id != h.call_id)
			continue;
		w->done = true;
		if (w->hello) {
			w->reply = h;
			w->status = h.kind == LRPC__RPC_HELLO_REPLY
					    ? h.status
					    : (h.kind == LRPC__RPC_ERROR &&
							       h.status < 0
						       ? h.status
						       : -EPROTO);
			if (h.kind == LRPC__RPC_HELLO_REPLY &&
			    h.status == -EPROTO && lrpc__rd_left(&r))
				w->form = lrpc__rpc_read_form(&r);
			return;
		}
		/* Any other kind fails the call, with a message. */
		w->status = lrpc__rpcc_decode_reply(&h, &r, w->method, w->rep, w->arena,
					 w->error);
		return;
	}
	pending *pp = lrpc__rpcc_tab_find(rc, h.call_id);
	if (pp && pp->stream) {
		lrpc__rpcc_stream_on_message(rc, pp, &h, &r);
		return;
	}
	/* Items of a stream cancelled or timed out may still come. */
	if (h.kind != LRPC__RPC_REPLY && h.kind != LRPC__RPC_ERROR)
		return;
	if (!pp) {
		/* A late reply: its call timed out or was cancelled. */
		return;
	}
	pending p = *pp;
	lrpc_rpc_error err;
	void *rep = NULL;
	int status;

	lrpc__rpcc_tab_remove(rc, pp);
	lrpc_arena_reset(&rc->arena);
	if (p.method->reply) {
		status = lrpc_arena_alloc(&rc->arena, p.method->reply->size,
					  16, &rep);
		if (status < 0)
			rep = NULL;
	}
	status = lrpc__rpcc_decode_reply(&h, &r, p.method, rep, &rc->arena, &err);
	complete_call(rc, &p, status, rep, &err);
	lrpc_arena_reset(&rc->arena);
}

static void
on_response_cb(lrpc_client *c, const lrpc_msg_header *msg, size_t size,
	       void *userdata)
{
	int fdv[LRPC_MAX_FDS_PER_MSG];
	lrpc__rd_fds st, *fds = lrpc__rpcc_take_fds(userdata, msg, fdv, &st);

	lrpc__rpcc_on_response(userdata, msg, size, fds);
	lrpc__rpcc_fds_done(userdata, fds);
}

iface_state *
lrpc__rpcc_iface_find(lrpc_rpc_client *rc, uint32_t id)
{
	for (size_t i = 0; i < rc->n_ifaces; i++)
		if (rc->ifaces[i].iface->id == id)
			return &rc->ifaces[i];
	return NULL;
}

iface_state *
lrpc__rpcc_iface_get(lrpc_rpc_client *rc, const lrpc_rpc_interface *iface)
{
	iface_state *st = lrpc__rpcc_iface_find(rc, iface->id);

	if (st)
		return st;
	st = realloc(rc->ifaces, (rc->n_ifaces + 1) * sizeof(*st));
	if (!st)
		return NULL;
	rc->ifaces = st;
	st = &rc->ifaces[rc->n_ifaces++];
	*st = (iface_state){ .iface = iface };
	return st;
}

static void on_event(lrpc_rpc_client *rc, const lrpc_msg_header *msg,
		     size_t size, lrpc__rd_fds *fds);

static void
on_event_cb(lrpc_client *c, const lrpc_msg_header *msg, size_t size,
	    void *userdata)
{
	lrpc_rpc_client *rc = userdata;
	int fdv[LRPC_MAX_FDS_PER_MSG];
	lrpc__rd_fds fst, *fds = lrpc__rpcc_take_fds(rc, msg, fdv, &fst);

	on_event(rc, msg, size, fds);
	lrpc__rpcc_fds_done(rc, fds);
}

static void
on_event(lrpc_rpc_client *rc, const lrpc_msg_header *msg, size_t size,
	 lrpc__rd_fds *fds)
{
	lrpc__rd r = { .p = (const uint8_t *)msg + sizeof(*msg),
		       .end = (const uint8_t *)msg + size,
		       .fds = fds };
	lrpc__rpc_header h;
	iface_state *st = lrpc__rpcc_iface_find(rc, (uint32_t)msg->id);

	if (!st || !st->listener || !lrpc__rpc_header_read(&r, &h) ||
	    h.kind != LRPC__RPC_EVENT)
		return;
	const lrpc_rpc_method *m = lrpc__rpc_find_method(st->iface, h.method);
	if (!m || m->kind != LRPC_RPC_EVENT)
		return; /* newer than our version of the interface */
	lrpc_rpc_notify_fn fn = st->listener->notify[m - st->iface->methods];
	void *args;
	lrpc_arena_reset(&rc->arena);
	if (!fn || lrpc_arena_alloc(&rc->arena, m->request->size, 16, &args) < 0)
		return;
	if (lrpc__rpc_decode(&r, m->request, args, &rc->arena, NULL) < 0 ||
	    lrpc__rd_left(&r) != 0) {
		lrpc__log_debug("lrpc rpc: dropping a malformed event %s",
				m->name);
		return;
	}
	fn(st->listener_obj, st->listener_data, args);
	lrpc_arena_reset(&rc->arena);
}

/* The connection ended (in push style nobody else would tell the calls). */
static void
on_closed_cb(lrpc_client *c, int reason, void *userdata)
{
	lrpc_rpc_client *rc = lrpc_rpc_client_ref(userdata);

	lrpc__rpcc_fail_all(rc, -ENOTCONN);
	if (rc->closed_fn)
		rc->closed_fn(rc, reason, rc->closed_data);
	lrpc__rpcc_reconnect_start(rc, reason);
	lrpc_rpc_client_unref(rc);
}

LRPC_EXPORT int
lrpc_rpc_client_set_borrow_bytes(lrpc_rpc_client *rc, bool borrow)
{
	RPC_CHECK(rc);
	rc->borrow_bytes = borrow;
	if (!borrow)
		lrpc__rpcc_release_held(rc);
	return 0;
}

LRPC_EXPORT int
lrpc_rpc_client_release_reply(lrpc_rpc_client *rc)
{
	RPC_CHECK(rc);
	lrpc__rpcc_release_held(rc);
	return 0;
}

LRPC_EXPORT void
lrpc_rpc_client_set_closed_handler(lrpc_rpc_client *rc,
				   lrpc_rpc_client_closed_fn fn,
				   void *userdata)
{
	if (!rc)
		return;
	rc->closed_fn = fn;
	rc->closed_data = userdata;
}

/* --- Object -------------------------------------------------------------- */

void
lrpc__rpcc_set_handlers(lrpc_rpc_client *rc)
{
	lrpc_client_set_response_handler(rc->c, on_response_cb, rc);
	lrpc_client_set_event_handler(rc->c, on_event_cb, rc);
	lrpc_client_set_closed_handler(rc->c, on_closed_cb, rc);
}

LRPC_EXPORT int
lrpc_rpc_client_new(lrpc_rpc_client **ret, lrpc_client *c)
{
	lrpc_rpc_client *rc;

	lrpc_return_if_fail(ret && c, -EINVAL);
	if (!lrpc_client_is_connected(c))
		return -ENOTCONN;
	rc = calloc(1, sizeof(*rc));
	if (!rc)
		return -ENOMEM;
	rc->n_ref = 1;
	rc->next_deadline = UINT64_MAX;
	rc->timeout_usec = LRPC_RPC_DEFAULT_TIMEOUT_USEC;
	rc->stream_window = LRPC_RPC_STREAM_WINDOW;
	rc->c = lrpc_client_ref(c);
	lrpc_arena_init(&rc->arena, rc->arena_buf, sizeof(rc->arena_buf),
			LRPC_ARENA_UNLIMITED);
	lrpc__rpcc_set_handlers(rc);
	*ret = rc;
	return 0;
}

static void
rpc_client_free(lrpc_rpc_client *rc)
{
	rc->closing = true;
	lrpc__rpcc_reconnect_stop(rc);
	lrpc__rpcc_release_held(rc);
	if (rc->timer)
		(void)rc->pops->timer_del(rc->loop_data, rc->timer);
	rc->timer = NULL;
	lrpc__rpcc_fail_all(rc, -ECANCELED);
	lrpc_client_set_response_handler(rc->c, NULL, NULL);
	lrpc_client_set_event_handler(rc->c, NULL, NULL);
	lrpc_client_set_closed_handler(rc->c, NULL, NULL);
	lrpc_client_unref(rc->c);
	free(rc->tab);
	free(rc->ifaces);
	free(rc->rbuf);
	lrpc__rpc_buf_done(&rc->sbuf);
	lrpc_arena_done(&rc->arena);
	free(rc);
}

LRPC_DEFINE_REF_UNREF(LRPC_EXPORT, lrpc_rpc_client, lrpc_rpc_client,
		      rpc_client_free)

LRPC_EXPORT lrpc_client *
lrpc_rpc_client_get_client(lrpc_rpc_client *rc)
{
	return rc ? rc->c : NULL;
}

LRPC_EXPORT int
lrpc_rpc_client_set_default_timeout(lrpc_rpc_client *rc,
				    uint64_t timeout_usec)
{
	lrpc_return_if_fail(rc, -EINVAL);
	rc->timeout_usec = timeout_usec == LRPC_TIMEOUT_DEFAULT
				   ? LRPC_RPC_DEFAULT_TIMEOUT_USEC
				   : timeout_usec;
	return 0;
}

LRPC_EXPORT lrpc_arena *
lrpc_rpc_client_get_arena(lrpc_rpc_client *rc)
{
	return rc ? &rc->arena : NULL;
}

LRPC_EXPORT size_t
lrpc_rpc_client_get_n_pending(lrpc_rpc_client *rc)
{
	return rc ? rc->n_pending : 0;
}

LRPC_EXPORT int
lrpc_rpc_client_set_poll(lrpc_rpc_client *rc, const lrpc_poll_ops *ops,
			 void *loop_data)
{
	int r;

	RPC_CHECK(rc);
	r = lrpc_client_set_poll(rc->c, ops, loop_data);
	if (r < 0)
		return r;
	/* The deadlines of async calls need a timer of the same loop. */
	rc->pops = ops;
	rc->loop_data = loop_data;
	lrpc__rpcc_rpc_timer_arm(rc);
	return 0;
}

LRPC_EXPORT int
lrpc_rpc_client_attach_loop(lrpc_rpc_client *rc, lrpc_loop *loop)
{
	lrpc_return_if_fail(loop, -EINVAL);
	return lrpc_rpc_client_set_poll(rc, lrpc_loop_get_poll_ops(), loop);
}

LRPC_EXPORT int
lrpc_rpc_client_get_fd(lrpc_rpc_client *rc)
{
	RPC_CHECK(rc);
	return lrpc_client_get_fd(rc->c);
}

LRPC_EXPORT int
lrpc_rpc_client_get_events(lrpc_rpc_client *rc)
{
	RPC_CHECK(rc);
	return lrpc_client_get_events(rc->c);
}

LRPC_EXPORT int
lrpc_rpc_client_get_timeout(lrpc_rpc_client *rc, uint64_t *ret_usec)
{
	int r;

	RPC_CHECK(rc);
	r = lrpc_client_get_timeout(rc->c, ret_usec);
	if (r < 0 || rc->next_deadline == UINT64_MAX)
		return r;
	uint64_t left = lrpc__deadline_left_usec(rc->next_deadline);
	if (left < *ret_usec)
		*ret_usec = left;
	return 0;
}

LRPC_EXPORT int
lrpc_rpc_client_process(lrpc_rpc_client *rc)
{
	int r;

	RPC_CHECK(rc);
	/* A held reply view would keep the other replies queued. */
	lrpc__rpcc_release_held(rc);
	lrpc__rpcc_expire(rc);
	r = lrpc_client_process(rc->c);
	if (r == -ENOTCONN)
		lrpc__rpcc_fail_all(rc, -ENOTCONN);
	return r;
}

LRPC_EXPORT int
lrpc_rpc_client_run_once(lrpc_rpc_client *rc, uint64_t timeout_usec)
{
	int r;

	RPC_CHECK(rc);
	/* Messages already buffered in the transport do not make the fd
	 * readable: deliver those first. */
	r = lrpc_rpc_client_process(rc);
	if (r != 0)
		return r;
	/* Wake for the next deadline of an async call too. */
	uint64_t due = lrpc__deadline_left_usec(rc->next_deadline);
	r = lrpc__client_wait_readable(rc->c, LRPC_MIN(timeout_usec, due));
	if (r < 0)
		return r;
	if (r == 0) {
		lrpc__rpcc_expire(rc);
		return 0;
	}
	r = lrpc_rpc_client_process(rc);
	/* Readable but nothing delivered: on transports whose data does not
	 * travel on the main socket, that may be the server hanging up. */
	if (r == 0 && !lrpc_client_is_connected(rc->c)) {
		lrpc__rpcc_fail_all(rc, -ENOTCONN);
		return -ENOTCONN;
	}
	return r;
}

LRPC_EXPORT int
lrpc_rpc_client_set_listener(lrpc_rpc_client *rc,
			     const lrpc_rpc_listener *table,
			     const void *listener, void *userdata)
{
	iface_state *st;

	RPC_CHECK(rc);
	lrpc_return_if_fail(table && table->struct_size >= sizeof(*table) &&
				    table->notify &&
				    lrpc__rpc_interface_valid(table->iface),
			    -EINVAL);
	st = lrpc__rpcc_iface_get(rc, table->iface);
	if (!st)
		return -ENOMEM;
	st->listener = listener ? table : NULL;
	st->listener_obj = listener;
	st->listener_data = userdata;
	return 0;
}
