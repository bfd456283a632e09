/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Streamed replies, client side: starting a stream, items handed to a
 * callback or queued for an iterator, credit granted as items are
 * consumed, and the end.  A stream is a pending call whose reply is a
 * sequence of ITEM messages closed by an END or ERROR.
 *
 * Memory stays bounded by the window: the server may have at most
 * `window` items in flight or unconsumed (granted - consumed), so an
 * iterator's queue never holds more, and a server that sends more breaks
 * the protocol (its connection is dropped).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rpc-client-internal.h"

/* An item received, not yet handed out by the iterator. */
typedef struct iter_item {
	const uint8_t *data; /* the item's encoding: malloc'd, or in @view */
	size_t size;
	/* The received message it lies in, held until it is decoded (only
	 * ever the oldest item: the iterator waited for it); or NULL. */
	const lrpc_msg_header *view;
} iter_item;

static void
iter_item_done(lrpc_rpc_client *rc, const iter_item *qi)
{
	if (qi->view)
		lrpc_client_release(rc->c, qi->view);
	else
		free((void *)qi->data);
}

struct lrpc_rpc_iter {
	unsigned n_ref;
	lrpc_rpc_client *rc; /* strong reference */
	const lrpc_rpc_interface *iface;
	const lrpc_rpc_method *method;
	uint64_t call_id;
	rpc_cstream st;
	iter_item *queue; /* ring of st.window entries */
	uint32_t head, count;
	bool ended;
	int status;
	lrpc_rpc_error error;
};

LRPC_EXPORT int
lrpc_rpc_client_set_stream_window(lrpc_rpc_client *rc, uint32_t items)
{
	RPC_CHECK(rc);
	lrpc_return_if_fail(items <= LRPC_RPC_STREAM_MAX_WINDOW, -EINVAL);
	rc->stream_window = items ? items : LRPC_RPC_STREAM_WINDOW;
	return 0;
}

LRPC_EXPORT int
lrpc_rpc_client_set_stream_hold(lrpc_rpc_client *rc, uint64_t call_id)
{
	pending *pp;

	RPC_CHECK(rc);
	pp = lrpc__rpcc_tab_find(rc, call_id);
	/* An iterator consumes as it hands items out already. */
	if (!pp || !pp->stream || pp->stream->iter)
		return -ENOENT;
	pp->stream->manual = true;
	return 0;
}

static void grant(lrpc_rpc_client *rc, const pending *p, bool now);

LRPC_EXPORT int
lrpc_rpc_client_release_stream_items(lrpc_rpc_client *rc, uint64_t call_id,
			       uint32_t items)
{
	pending *pp;

	RPC_CHECK(rc);
	pp = lrpc__rpcc_tab_find(rc, call_id);
	if (!pp || !pp->stream || !pp->stream->manual)
		return -ENOENT;
	lrpc_return_if_fail(items <= pp->stream->held, -EINVAL);
	pp->stream->held -= items;
	pp->stream->consumed += items;
	grant(rc, pp, false);
	return 0;
}

/* Grant the server what was consumed, once that is half the window (a
 * credit per item would double the messages). */
static void
grant(lrpc_rpc_client *rc, const pending *p, bool now)
{
	rpc_cstream *st = p->stream;
	uint32_t max = lrpc_client_get_max_msg_size(rc->c);

	if (st->consumed == 0 ||
	    (!(now && st->unsent) &&
	     st->consumed < LRPC_MAX(st->window / 2, 1u)))
		return;
	lrpc__rpc_header h = {
		.call_id = p->id,
		.method = p->method->ordinal,
		.kind = LRPC__RPC_CREDIT,
		.version = p->iface->version,
		.hash = st->consumed,
	};
	int n = lrpc__rpc_build(&rc->sbuf, p->iface->id, &h, 0, NULL, NULL,
				NULL, max ? max : 1);
	/* Not sent (the server said stop): kept for the next try, at the
	 * latest before the iterator sleeps. */
	st->unsent = true;
	if (n > 0 && lrpc_client_send(rc->c, rc->sbuf.data, (size_t)n) == 0) {
		st->outstanding += st->consumed;
		st->consumed = 0;
		st->unsent = false;
	}
}

/* Wake an iterator waiting for its next item or end. */
static void
iter_wake(lrpc_rpc_client *rc, lrpc_rpc_iter *it)
{
	for (waiter *w = rc->waiters; w; w = w->prev)
		if (w->iter == it)
			w->done = true;
}

void
lrpc__rpcc_stream_fail(lrpc_rpc_client *rc, const pending *p, int status,
		       const lrpc_rpc_error *err)
{
	lrpc_rpc_error e = { 0 };
	lrpc_rpc_iter *it = p->stream->iter;

	if (err)
		e = *err;
	e.code = status;
	e.name = status ? (e.name ? e.name
				  : lrpc__rpcc_error_name(p->method, status))
			: NULL;
	if (status == -ETIMEDOUT && !e.message[0])
		snprintf(e.message, sizeof(e.message),
			 "%s: the stream did not end within the call's "
			 "timeout",
			 p->method->name);
	if (it) {
		it->ended = true;
		it->status = status;
		it->error = e;
		iter_wake(rc, it);
		return;
	}
	free(p->stream);
	if (p->complete)
		p->complete(rc, status, NULL, &e, p->fn, p->userdata);
}

/* An answer that breaks the protocol ends the stream as lrpc.BadMessage. */
static void __attribute__((format(printf, 3, 4)))
stream_malformed(lrpc_rpc_client *rc, pending *pp, const char *fmt, ...)
{
	lrpc_rpc_error e = { .name = "lrpc.BadMessage" };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e.message, sizeof(e.message), fmt, ap);
	va_end(ap);
	pending p = *pp;
	lrpc__rpcc_tab_remove(rc, pp);
	lrpc__rpcc_send_cancel(rc, &p);
	lrpc__rpcc_stream_fail(rc, &p, -EBADMSG, &e);
}

/* One item for an async stream: decoded and handed to the callback. */
static void
item_deliver(lrpc_rpc_client *rc, pending *pp, lrpc__rd *r)
{
	lrpc__codec_err detail;
	uint64_t id = pp->id;
	void *item;
	int n;

	lrpc_arena_reset(&rc->arena);
	n = lrpc_arena_alloc(&rc->arena, pp->method->reply->size, 16, &item);
	if (n == 0)
		n = lrpc__rpc_decode(r, pp->method->reply, item, &rc->arena,
				     &detail);
	if (n == -ENOBUFS || n == -ENOMEM) {
		/* Ours, not the server's: the stream cannot go on. */
		pending p = *pp;
		lrpc__rpcc_tab_remove(rc, pp);
		lrpc__rpcc_send_cancel(rc, &p);
		lrpc__rpcc_stream_fail(rc, &p, -ENOMEM, NULL);
		lrpc_arena_reset(&rc->arena);
		return;
	}
	if (n < 0) {
		char msg[128];

		(void)lrpc__codec_err_format(&detail, pp->method->reply->name,
					     msg, sizeof(msg));
		stream_malformed(rc, pp, "%s", msg);
		lrpc_arena_reset(&rc->arena);
		return;
	}
	pp->stream->item(rc, item, pp->stream->item_fn, pp->userdata);
	lrpc_arena_reset(&rc->arena);
	/* The callback may have cancelled the stream, or made calls that
	 * moved the table. */
	pp = lrpc__rpcc_tab_find(rc, id);
	if (!pp || !pp->stream)
		return;
	if (pp->stream->manual) {
		pp->stream->held++;
		return;
	}
	pp->stream->consumed++;
	grant(rc, pp, false);
}

/* One item for an iterator: a copy waits in its queue. */
static void
item_queue(lrpc_rpc_client *rc, pending *pp, lrpc__rd *r)
{
	lrpc_rpc_iter *it = pp->stream->iter;
	size_t size = lrpc__rd_left(r);
	uint8_t *copy;

	/* The window bounds the queue: received = outstanding granted. */
	assert(it->count < it->st.window);
	if (rc->lend_view && rc->lend_iter == it && it->count == 0) {
		/* The iterator waits for this one: it decodes it in place,
		 * then gives the message back. */
		it->queue[it->head] = (iter_item){ .data = r->p, .size = size,
						   .view = rc->lend_view };
		rc->lend_taken = true;
		it->count++;
		iter_wake(rc, it);
		return;
	}
	copy = malloc(size ? size : 1);
	if (!copy) {
		pending p = *pp;
		lrpc__rpcc_tab_remove(rc, pp);
		lrpc__rpcc_send_cancel(rc, &p);
		lrpc__rpcc_stream_fail(rc, &p, -ENOMEM, NULL);
		return;
	}
	memcpy(copy, r->p, size);
	it->queue[(it->head + it->count) % it->st.window] =
		(iter_item){ .data = copy, .size = size };
	it->count++;
	iter_wake(rc, it);
}

void
lrpc__rpcc_stream_on_message(lrpc_rpc_client *rc, pending *pp,
			     const lrpc__rpc_header *h, lrpc__rd *r)
{
	rpc_cstream *st = pp->stream;

	if (h->kind == LRPC__RPC_ITEM) {
		if (h->status != 0) {
			stream_malformed(rc, pp, "an item with status %d",
					 (int)h->status);
			return;
		}
		if (st->outstanding == 0) {
			/* Beyond the credit: the server ignores flow
			 * control, and so our memory bound. */
			stream_malformed(rc, pp, "more items than the %u "
						 "granted",
					 (unsigned)st->window);
			lrpc__log_warning("lrpc rpc: the server sent more "
					  "stream items than granted: "
					  "dropping the connection");
			(void)lrpc__client_broken(rc->c, -EPROTO);
			return;
		}
		st->outstanding--;
		if (st->iter)
			item_queue(rc, pp, r);
		else
			item_deliver(rc, pp, r);
		return;
	}
	pending p = *pp;
	lrpc_rpc_error e = { 0 };
	const char *why = NULL;
	int status = 0;

	if (h->kind == LRPC__RPC_END) {
		if (h->status != 0 || lrpc__rd_left(r) != 0)
			why = "an end with a status or a payload";
	} else if (h->kind == LRPC__RPC_ERROR) {
		/* Checks the status and the message as for calls. */
		status = lrpc__rpcc_decode_reply(h, r, p.method, NULL, NULL,
						 &e);
	} else {
		why = "an answer that is no item or end";
	}
	if (why) {
		stream_malformed(rc, pp, "%s", why);
		return;
	}
	lrpc__rpcc_tab_remove(rc, pp);
	lrpc__rpcc_stream_fail(rc, &p, status, status ? &e : NULL);
}

/* Send the request of a stream and list it as pending with @st. */
static int
stream_start(lrpc_rpc_client *rc, const lrpc_rpc_interface *iface,
	     const lrpc_rpc_method *method, const void *req,
	     uint64_t timeout_usec, pending *p, lrpc_rpc_error *ret_error)
{
	uint64_t deadline;
	int r;

	RPC_CHECK(rc);
	lrpc_return_if_fail(iface && method && req, -EINVAL);
	lrpc_return_if_fail(method->kind == LRPC_RPC_STREAM, -EINVAL);
	deadline = lrpc__deadline_from_usec(timeout_usec, rc->timeout_usec);
	r = lrpc__rpcc_prepare_call(rc, iface, method, deadline, ret_error);
	if (r < 0)
		return r;
	unsigned common = (unsigned)r;
	lrpc__rpc_header h = {
		.call_id = ++rc->next_call_id,
		.method = method->ordinal,
		.kind = LRPC__RPC_REQUEST,
		.version = iface->version,
		.reserved = (uint16_t)p->stream->window,
		.hash = lrpc__rpc_time_left_ms(deadline, lrpc__now_usec()),
	};
	if ((rc->n_pending + 1) * 2 > rc->tab_cap) {
		r = lrpc__rpcc_tab_grow(rc);
		if (r < 0)
			return r;
	}
	r = lrpc__rpcc_send_msg(rc, iface, &h, common, method->request, req,
				ret_error);
	if (r < 0)
		return r;
	p->id = h.call_id;
	p->deadline = deadline;
	p->iface = iface;
	p->method = method;
	r = lrpc__rpcc_tab_insert(rc, p);
	assert(r == 0);
	lrpc__rpcc_note_deadline(rc, deadline);
	return 0;
}

LRPC_EXPORT int
lrpc_rpc_client_call_stream(lrpc_rpc_client *rc,
			     const lrpc_rpc_interface *iface,
			     const lrpc_rpc_method *method, const void *req,
			     lrpc_rpc_item_fn item, void (*item_fn)(void),
			     lrpc_rpc_complete_fn end, void (*end_fn)(void),
			     void *userdata, uint64_t timeout_usec,
			     uint64_t *ret_call_id)
{
	rpc_cstream *st;
	int r;

	RPC_CHECK(rc);
	lrpc_return_if_fail(item && end, -EINVAL);
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->item = item;
	st->item_fn = item_fn;
	st->window = st->outstanding = rc->stream_window;
	pending p = { .complete = end, .fn = end_fn, .userdata = userdata,
		      .stream = st };
	r = stream_start(rc, iface, method, req, timeout_usec, &p, NULL);
	if (r < 0) {
		free(st);
		return r;
	}
	if (ret_call_id)
		*ret_call_id = p.id;
	return 0;
}

LRPC_EXPORT void
lrpc_rpc_iter_close(lrpc_rpc_iter *it)
{
	if (!it || it->ended)
		return;
	pending *pp = lrpc__rpcc_tab_find(it->rc, it->call_id);
	if (pp && pp->stream == &it->st) {
		pending p = *pp;
		lrpc__rpcc_tab_remove(it->rc, pp);
		lrpc__rpcc_send_cancel(it->rc, &p);
		lrpc__rpcc_stream_fail(it->rc, &p, -ECANCELED, NULL);
	}
	if (!it->ended) {
		it->ended = true;
		it->status = -ECANCELED;
	}
}

static void
iter_free(lrpc_rpc_iter *it)
{
	lrpc_rpc_iter_close(it);
	for (uint32_t i = 0; i < it->count; i++)
		iter_item_done(it->rc,
			       &it->queue[(it->head + i) % it->st.window]);
	free(it->queue);
	lrpc_rpc_client_unref(it->rc);
	free(it);
}

LRPC_DEFINE_REF_UNREF(LRPC_EXPORT, lrpc_rpc_iter, lrpc_rpc_iter, iter_free)

LRPC_EXPORT int
lrpc_rpc_iter_new(lrpc_rpc_iter **ret, lrpc_rpc_client *rc,
		  const lrpc_rpc_interface *iface,
		  const lrpc_rpc_method *method, const void *req,
		  uint64_t timeout_usec, lrpc_rpc_error *ret_error)
{
	lrpc_rpc_iter *it;
	int r;

	RPC_CHECK(rc);
	lrpc_return_if_fail(ret, -EINVAL);
	if (ret_error)
		memset(ret_error, 0, sizeof(*ret_error));
	it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->n_ref = 1;
	it->st.window = it->st.outstanding = rc->stream_window;
	it->st.iter = it;
	it->queue = calloc(it->st.window, sizeof(*it->queue));
	if (!it->queue) {
		free(it);
		return -ENOMEM;
	}
	it->rc = lrpc_rpc_client_ref(rc);
	it->iface = iface;
	it->method = method;
	pending p = { .stream = &it->st };
	r = stream_start(rc, iface, method, req, timeout_usec, &p, ret_error);
	if (r < 0) {
		it->ended = true; /* nothing listed to cancel */
		lrpc_rpc_iter_unref(it);
		if (ret_error) {
			ret_error->code = r;
			ret_error->name = lrpc__rpcc_error_name(method, r);
		}
		return r;
	}
	it->call_id = p.id;
	*ret = it;
	return 0;
}

/* Hand out the oldest queued item: decoded into @item, then granted. */
static int
iter_pop(lrpc_rpc_iter *it, void *item, lrpc_arena *arena,
	 lrpc_rpc_error *ret_error)
{
	iter_item qi = it->queue[it->head];
	lrpc__rd r = { .p = qi.data, .end = qi.data + qi.size };
	lrpc__codec_err detail;
	int n;

	it->head = (it->head + 1) % it->st.window;
	it->count--;
	n = lrpc__rpc_decode(&r, it->method->reply, item, arena,
			     ret_error ? &detail : NULL);
	iter_item_done(it->rc, &qi);
	pending *pp = lrpc__rpcc_tab_find(it->rc, it->call_id);
	if (n == 0) {
		it->st.consumed++;
		if (pp && pp->stream == &it->st)
			grant(it->rc, pp, false);
		return 1;
	}
	memset(item, 0, it->method->reply->size);
	if (n == -EBADMSG) {
		lrpc_rpc_error e = { .name = "lrpc.BadMessage" };

		if (ret_error)
			(void)lrpc__codec_err_format(&detail,
						     it->method->reply->name,
						     e.message,
						     sizeof(e.message));
		/* The rest of the stream is not worth reading. */
		if (pp && pp->stream == &it->st) {
			pending p = *pp;
			lrpc__rpcc_tab_remove(it->rc, pp);
			lrpc__rpcc_send_cancel(it->rc, &p);
			lrpc__rpcc_stream_fail(it->rc, &p, n, &e);
		} else {
			it->ended = true;
			it->status = n;
			it->error = e;
		}
		if (ret_error)
			*ret_error = it->error;
		return n;
	}
	/* The caller's arena is full: this item is lost, the stream is not
	 * (the item counts as consumed). */
	it->st.consumed++;
	if (pp && pp->stream == &it->st)
		grant(it->rc, pp, false);
	if (ret_error) {
		ret_error->code = n;
		ret_error->name = "lrpc.Errno";
	}
	return n;
}

LRPC_EXPORT int
lrpc_rpc_iter_next(lrpc_rpc_iter *it, void *item, lrpc_arena *arena,
		   lrpc_rpc_error *ret_error)
{
	lrpc_rpc_client *rc;
	int r;

	lrpc_return_if_fail(it && item, -EINVAL);
	rc = it->rc;
	memset(item, 0, it->method->reply->size);
	if (ret_error)
		memset(ret_error, 0, sizeof(*ret_error));
	for (;;) {
		if (it->count)
			return iter_pop(it, item, arena, ret_error);
		if (it->ended)
			break;
		pending *pp = lrpc__rpcc_tab_find(rc, it->call_id);
		if (!pp || pp->stream != &it->st) {
			/* Not listed any more, without an end: lost. */
			it->ended = true;
			it->status = -ENOTCONN;
			break;
		}
		/* Credit a failed send kept, before sleeping on it. */
		grant(rc, pp, true);
		uint64_t deadline = pp->deadline;
		waiter w = { .id = it->call_id, .iter = it };
		r = rc->closing ? -ENOTCONN : lrpc__rpcc_wait(rc, &w, deadline);
		if (r == -ETIMEDOUT)
			lrpc__rpcc_expire(rc);
		if (r < 0 && !it->ended && it->count == 0) {
			pp = lrpc__rpcc_tab_find(rc, it->call_id);
			if (pp && pp->stream == &it->st) {
				pending p = *pp;
				lrpc__rpcc_tab_remove(rc, pp);
				lrpc__rpcc_send_cancel(rc, &p);
				lrpc__rpcc_stream_fail(rc, &p, r, NULL);
			} else {
				it->ended = true;
				it->status = r;
			}
		}
	}
	if (ret_error && it->status)
		*ret_error = it->error;
	if (it->status > 0)
		return -EREMOTEIO;
	return it->status;
}
