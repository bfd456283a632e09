/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The RPC client's calls: synchronous calls that keep delivering other
 * replies while they wait, async calls, cancellation, and the per-interface
 * version negotiation the first call of an interface does.
 */
#include <stdio.h>
#include <string.h>

#include "rpc-client-internal.h"

/* --- Calls --------------------------------------------------------------- */

static uint64_t
deadline_of(lrpc_rpc_client *rc, uint64_t timeout_usec)
{
	return lrpc__deadline_from_usec(timeout_usec, rc->timeout_usec);
}

/*
 * A call's deadline, the time left to send with it (ms, rounded up; 0:
 * none) and the timeout itself, from one reading of the clock: the clock
 * is a noticeable part of a small call.
 */
static uint64_t
call_deadline(lrpc_rpc_client *rc, uint64_t timeout_usec, uint32_t *ret_ms,
	      uint64_t *ret_timeout)
{
	uint64_t now, ms;

	if (timeout_usec == LRPC_TIMEOUT_DEFAULT)
		timeout_usec = rc->timeout_usec;
	*ret_timeout = timeout_usec;
	if (timeout_usec >= LRPC_TIMEOUT_DEFAULT) {
		*ret_ms = 0;
		return UINT64_MAX;
	}
	ms = timeout_usec / 1000 + (timeout_usec % 1000 != 0);
	*ret_ms = ms == 0 ? 1 : ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
	now = lrpc__now_usec();
	return timeout_usec >= UINT64_MAX - now ? UINT64_MAX
						: now + timeout_usec;
}

void
lrpc__rpcc_release_held(lrpc_rpc_client *rc)
{
	if (!rc->held)
		return;
	lrpc_client_release(rc->c, rc->held);
	rc->held = NULL;
}

/* Is the response at @msg the answer a sync call waits for?  (The call id
 * is read once; the decode reads the header again and decides for good.) */
static bool
awaited(lrpc_rpc_client *rc, const lrpc_msg_header *msg, size_t size)
{
	uint64_t id;

	if (size < LRPC__RPC_HDR_SIZE)
		return true; /* a core-level answer: nothing of it is kept */
	memcpy(&id, (const uint8_t *)msg + sizeof(*msg), sizeof(id));
	for (waiter *w = rc->waiters; w; w = w->prev)
		if (!w->done && w->id == id)
			return true;
	return false;
}

/* A response for an async call, whose callback may make calls of its own:
 * it is handled from a private copy, so the view can be given back. */
static int
on_response_copied(lrpc_rpc_client *rc, const lrpc_msg_header *view,
		   size_t size)
{
	if (rc->rcap < size) {
		uint8_t *b = realloc(rc->rbuf, size);
		if (!b)
			return -ENOMEM;
		rc->rbuf = b;
		rc->rcap = size;
	}
	int fdv[LRPC_MAX_FDS_PER_MSG];
	lrpc__rd_fds st, *fds = lrpc__rpcc_take_fds(rc, view, fdv, &st);

	memcpy(rc->rbuf, view, size);
	lrpc_client_release(rc->c, view);
	lrpc__rpcc_on_response(rc, (const lrpc_msg_header *)rc->rbuf, size,
			       fds);
	lrpc__rpcc_fds_done(rc, fds);
	return 0;
}

/*
 * Receive and handle responses until @w is done or the deadline passes.
 * The awaited reply is decoded where it lies (no copy of the message):
 * the decoder reads every byte once and checks what it keeps.  The first
 * wait reads the coarse clock: the caller just read the fine one, and a
 * tick of imprecision costs nothing, where a reading costs a noticeable
 * part of a small call.
 */
int
lrpc__rpcc_wait(lrpc_rpc_client *rc, waiter *w, uint64_t deadline)
{
	int n = 0;

	w->prev = rc->waiters;
	rc->waiters = w;
	for (bool first = true; !w->done; first = false) {
		uint64_t now = first ? lrpc__now_coarse_usec() : lrpc__now_usec();
		uint64_t left = deadline == UINT64_MAX ? UINT64_MAX
				: deadline > now	? deadline - now
							: 0;
		const lrpc_msg_header *view;
		size_t size = 0;
		if (left == 0) {
			n = -ETIMEDOUT;
			break;
		}
		n = lrpc_client_recv_view(rc->c, left, &view, &size);
		if (n == -EAGAIN)
			n = -ETIMEDOUT;
		if (n < 0)
			break;
		if (awaited(rc, view, size)) {
			/* A sync reply may lend its bytes (when asked): then
			 * the view stays until the next call or a release. */
			bool lend = rc->borrow_bytes && w->rep && !w->hello;
			int fdv[LRPC_MAX_FDS_PER_MSG];
			lrpc__rd_fds st;
			lrpc__rd_fds *fds =
				lrpc__rpcc_take_fds(rc, view, fdv, &st);
			rc->decode_borrow = lend;
			/* An item for the iterator waiting here may stay
			 * where it lies until it decodes it (no copy) --
			 * unless fds came with it: those are matched to the
			 * message now. */
			rc->lend_view = w->iter && !fds ? view : NULL;
			rc->lend_iter = w->iter;
			rc->lend_taken = false;
			lrpc__rpcc_on_response(rc, view, size, fds);
			rc->decode_borrow = false;
			rc->lend_view = NULL;
			lrpc__rpcc_fds_done(rc, fds);
			if (lend && w->done)
				rc->held = view;
			else if (!rc->lend_taken)
				lrpc_client_release(rc->c, view);
		} else {
			n = on_response_copied(rc, view, size);
			if (n < 0) {
				lrpc_client_release(rc->c, view);
				break;
			}
		}
	}
	rc->waiters = w->prev;
	if (w->done)
		return 0;
	if (n == -ENOTCONN)
		lrpc__rpcc_fail_all(rc, -ENOTCONN);
	return n;
}

int
lrpc__rpcc_send_msg(lrpc_rpc_client *rc, const lrpc_rpc_interface *iface,
	 const lrpc__rpc_header *h, unsigned peer, const lrpc_rpc_type *type,
	 const void *value, lrpc_rpc_error *ret_error)
{
	uint32_t max = lrpc_client_get_max_msg_size(rc->c);
	uint64_t small[LRPC__RPC_SMALL / 8];
	lrpc__codec_err detail;
	lrpc__rpc_fds fds;
	size_t size;
	void *buf;
	int r;

	r = lrpc__rpc_measure_into(small, sizeof(small), iface->id, h, peer,
				   type, value, NULL, max ? max : 1, &size,
				   ret_error ? &detail : NULL, &fds);
	if (r < 0 && !max)
		return -ENOTCONN;
	if (r < 0) {
		/* Say which field broke which rule, or how large it was. */
		if (ret_error && (r == -EINVAL || r == -EMSGSIZE ||
				  r == -EPROTONOSUPPORT))
			(void)lrpc__codec_err_format(&detail, type->name,
						     ret_error->message,
						     sizeof(ret_error->message));
		return r;
	}
	if (fds.n > 0) {
		r = lrpc__rpcc_send_fds(rc, iface, h, peer, type, value,
					small, sizeof(small), size, &fds);
	} else {
	/* Encoded straight into the transport (the ring, with shm): no
	 * private copy of the request on its way out. */
	r = lrpc_client_reserve(rc->c, size, &buf);
	if (r == 0) {
		if (size <= sizeof(small)) {
			memcpy(buf, small, size);
		} else {
			r = lrpc__rpc_write(buf, size, iface->id, h, peer,
					    type, value, NULL);
		}
		if (r < 0)
			lrpc_client_discard_reservation(rc->c);
		else
			r = lrpc_client_commit(rc->c, size);
	}
	}
	if (r == -ENOTCONN)
		lrpc__rpcc_fail_all(rc, -ENOTCONN);
	return r;
}

void
lrpc__rpcc_send_cancel(lrpc_rpc_client *rc, const pending *p)
{
	lrpc__rpc_header h = {
		.call_id = p->id,
		.method = p->method->ordinal,
		.kind = LRPC__RPC_CANCEL,
		.version = p->iface->version,
	};

	uint32_t max = lrpc_client_get_max_msg_size(rc->c);
	int n;

	/* Best effort: if it cannot go out, the server finishes the call
	 * and its reply is dropped here as one for an unknown call.  A lost
	 * connection is reported by the next call or process, not from
	 * inside a cancel. */
	n = lrpc__rpc_build(&rc->sbuf, p->iface->id, &h, 0, NULL, NULL, NULL,
			    max ? max : 1);
	if (n > 0)
		(void)lrpc_client_send(rc->c, rc->sbuf.data, (size_t)n);
}

/*
 * The server's interface differs at @common: say where, here (the log and
 * every call's error) and, when the server sent its form and so waits for
 * ours, to the server, which logs the same difference.
 */
static void
refused(lrpc_rpc_client *rc, const lrpc_rpc_interface *iface,
	iface_state *st, unsigned common, const waiter *w)
{
	char detail[1024];

	lrpc__rpc_form_diff(iface, common, w->form, "server", detail,
			    sizeof(detail));
	lrpc__log_warning("lrpc rpc: %s", detail);
	st->refused = -EPROTO;
	/* The start says which interface, version and line. */
	size_t n = strnlen(detail, sizeof(st->refusal) - 1);
	memcpy(st->refusal, detail, n);
	st->refusal[n] = '\0';
	const char *ours = lrpc__rpc_form(iface, common);
	if (w->status == -EPROTO && ours) {
		lrpc__rpc_header h = {
			.call_id = ++rc->next_call_id,
			.kind = LRPC__RPC_HELLO_DIFF,
			.version = (uint16_t)common,
		};
		/* Best effort: only the server's log misses it. */
		(void)lrpc__rpcc_send_msg(rc, iface, &h, 0, &lrpc__rpc_hello_form_type,
			       &ours, NULL);
	}
}

static int
negotiate(lrpc_rpc_client *rc, const lrpc_rpc_interface *iface,
	  uint64_t deadline, iface_state **ret)
{
	iface_state *st;
	int r;

	/* Every call comes here: a table already checked and negotiated is
	 * not checked again. */
	if (iface) {
		st = lrpc__rpcc_iface_find(rc, iface->id);
		if (st && st->iface == iface && st->common) {
			*ret = st;
			return st->common;
		}
	}
	if (!lrpc__rpc_interface_valid(iface))
		return -EINVAL;
	st = lrpc__rpcc_iface_get(rc, iface);
	if (!st)
		return -ENOMEM;
	if (st->common || st->refused) {
		*ret = st;
		return st->refused ? st->refused : st->common;
	}
	lrpc__rpc_header h = {
		.call_id = ++rc->next_call_id,
		.kind = LRPC__RPC_HELLO,
		.version = iface->version,
		.hash = iface->hashes[iface->version - 1],
	};
	/* Every version's hash, so that the server can compare at the
	 * version both will speak even when ours is newer. */
	lrpc_list hashes = { .items = iface->hashes, .count = iface->version };
	r = lrpc__rpcc_send_msg(rc, iface, &h, 0, &lrpc__rpc_hello_hashes_type, &hashes,
		     NULL);
	if (r < 0)
		return r;
	waiter w = { .id = h.call_id, .iface_id = iface->id, .hello = true };
	r = lrpc__rpcc_wait(rc, &w, deadline);
	if (r < 0 || (w.status < 0 && w.status != -EPROTO)) {
		free(w.form);
		return r < 0 ? r : w.status;
	}
	if (w.status > 0 || w.reply.version == 0) {
		free(w.form);
		return -EPROTO;
	}
	unsigned common = LRPC_MIN(w.reply.version, iface->version);
	/* lrpc__rpcc_iface_get may have moved the array during the wait. */
	st = lrpc__rpcc_iface_find(rc, iface->id);
	*ret = st;
	/* Both know the canonical hash at the lower version: equal hashes
	 * mean the same bytes on the wire at that version. */
	if (w.status == -EPROTO || iface->hashes[common - 1] != w.reply.hash) {
		refused(rc, iface, st, common, &w);
		free(w.form);
		return -EPROTO;
	}
	free(w.form);
	st->common = (uint16_t)common;
	return (int)common;
}

LRPC_EXPORT int
lrpc_rpc_client_negotiate(lrpc_rpc_client *rc, const lrpc_rpc_interface *iface,
			  uint64_t timeout_usec)
{
	iface_state *st;

	RPC_CHECK(rc);
	return negotiate(rc, iface, deadline_of(rc, timeout_usec), &st);
}

int
lrpc__rpcc_prepare_call(lrpc_rpc_client *rc, const lrpc_rpc_interface *iface,
	     const lrpc_rpc_method *method, uint64_t deadline,
	     lrpc_rpc_error *ret_error)
{
	iface_state *st = NULL;
	int r;

	r = negotiate(rc, iface, deadline, &st);
	if (r == -EPROTO && st && st->refused && ret_error)
		snprintf(ret_error->message, sizeof(ret_error->message), "%s",
			 st->refusal);
	if (r < 0)
		return r;
	if (method < iface->methods ||
	    method >= iface->methods + iface->n_methods ||
	    method->kind == LRPC_RPC_EVENT)
		return -EINVAL;
	if (method->since > st->common)
		return -EPROTONOSUPPORT;
	return st->common;
}

/* Fill @err for a call that failed here; a message already written (by
 * send_msg) is kept. */
static void
set_error(lrpc_rpc_error *err, const lrpc_rpc_method *m, int status)
{
	if (!err)
		return;
	err->code = status;
	err->name = status ? lrpc__rpcc_error_name(m, status) : NULL;
	if (status == -ETIMEDOUT && !err->message[0])
		snprintf(err->message, sizeof(err->message),
			 "%s: no reply within the call's timeout",
			 m->request->name);
}

LRPC_EXPORT int
lrpc_rpc_client_call(lrpc_rpc_client *rc, const lrpc_rpc_interface *iface,
		     const lrpc_rpc_method *method, const void *req, void *rep,
		     lrpc_arena *arena, uint64_t timeout_usec,
		     lrpc_rpc_error *ret_error)
{
	uint64_t deadline, timeout;
	uint32_t left_ms;
	int r;

	RPC_CHECK(rc);
	lrpc_return_if_fail(iface && method && req, -EINVAL);
	lrpc_return_if_fail(method->kind == LRPC_RPC_CALL, -EINVAL);
	/* The previous reply's borrowed bytes end here. */
	lrpc__rpcc_release_held(rc);
	if (rep)
		memset(rep, 0, method->reply->size);
	if (ret_error)
		memset(ret_error, 0, sizeof(*ret_error));
	deadline = call_deadline(rc, timeout_usec, &left_ms, &timeout);
	r = lrpc__rpcc_prepare_call(rc, iface, method, deadline, ret_error);
	if (r < 0)
		goto fail;
	unsigned common = (unsigned)r;
	lrpc__rpc_header h = {
		.call_id = ++rc->next_call_id,
		.method = method->ordinal,
		.kind = LRPC__RPC_REQUEST,
		.version = iface->version,
		.hash = left_ms,
	};
	r = lrpc__rpcc_send_msg(rc, iface, &h, common, method->request, req, ret_error);
	if (r < 0)
		goto fail;
	waiter w = { .id = h.call_id, .method = method, .rep = rep,
		     .arena = arena, .error = ret_error };
	r = lrpc__rpcc_wait(rc, &w, deadline);
	if (r == -ETIMEDOUT) {
		/* Nobody waits for it any more: let the server know. */
		pending p = { .id = h.call_id, .iface = iface,
			      .method = method };
		lrpc__rpcc_send_cancel(rc, &p);
	}
	if (r < 0)
		goto fail;
	/* lrpc__rpcc_decode_reply filled ret_error. */
	return w.status;
fail:
	set_error(ret_error, method, r);
	return r;
}

LRPC_EXPORT int
lrpc_rpc_client_call_async(lrpc_rpc_client *rc, const lrpc_rpc_interface *iface,
			   const lrpc_rpc_method *method, const void *req,
			   lrpc_rpc_complete_fn complete, void (*fn)(void),
			   void *userdata, uint64_t timeout_usec,
			   uint64_t *ret_call_id)
{
	uint64_t deadline;
	int r;

	RPC_CHECK(rc);
	lrpc_return_if_fail(iface && method && req, -EINVAL);
	lrpc_return_if_fail(method->kind == LRPC_RPC_ONEWAY ||
				    (method->kind == LRPC_RPC_CALL && complete),
			    -EINVAL);
	deadline = deadline_of(rc, timeout_usec);
	r = lrpc__rpcc_prepare_call(rc, iface, method, deadline, NULL);
	if (r < 0)
		return r;
	unsigned common = (unsigned)r;
	lrpc__rpc_header h = {
		.call_id = ++rc->next_call_id,
		.method = method->ordinal,
		.kind = method->kind == LRPC_RPC_CALL ? LRPC__RPC_REQUEST
						      : LRPC__RPC_ONEWAY,
		.version = iface->version,
		.hash = lrpc__rpc_time_left_ms(deadline, lrpc__now_usec()),
	};
	if (method->kind == LRPC_RPC_CALL) {
		/* Make room first, so that a send is never followed by a
		 * failure to remember it. */
		if ((rc->n_pending + 1) * 2 > rc->tab_cap) {
			r = lrpc__rpcc_tab_grow(rc);
			if (r < 0)
				return r;
		}
	}
	r = lrpc__rpcc_send_msg(rc, iface, &h, common, method->request, req, NULL);
	if (r < 0)
		return r;
	if (method->kind == LRPC_RPC_CALL) {
		pending p = { .id = h.call_id, .deadline = deadline,
			      .iface = iface, .method = method,
			      .complete = complete, .fn = fn,
			      .userdata = userdata };
		r = lrpc__rpcc_tab_insert(rc, &p);
		assert(r == 0);
		lrpc__rpcc_note_deadline(rc, deadline);
	}
	if (ret_call_id)
		*ret_call_id = h.call_id;
	return 0;
}

LRPC_EXPORT int
lrpc_rpc_client_cancel(lrpc_rpc_client *rc, uint64_t call_id)
{
	pending *p;

	lrpc_return_if_fail(rc && call_id, -EINVAL);
	p = lrpc__rpcc_tab_find(rc, call_id);
	if (!p)
		return -ENOENT;
	pending gone = *p;
	lrpc__rpcc_tab_remove(rc, p);
	lrpc__rpcc_send_cancel(rc, &gone);
	/* An iterator learns it at its next item; an async stream's state
	 * goes (its callbacks never run). */
	if (gone.stream && gone.stream->iter)
		lrpc__rpcc_stream_fail(rc, &gone, -ECANCELED, NULL);
	else
		free(gone.stream);
	return 0;
}
