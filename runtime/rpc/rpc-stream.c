/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Streamed replies, server side: a call of a STREAM method sends items
 * within the credit its client granted, then an end or an error.  The
 * stream is the call (deferred until it ends), so cancels, deadlines and
 * the client going away reach it through the call's abandon handler.
 */
#include <string.h>

#include "rpc-server-internal.h"

uint32_t
lrpc__rpcs_stream_window(uint16_t asked)
{
	if (asked == 0)
		return LRPC_RPC_STREAM_WINDOW;
	return LRPC_MIN((uint32_t)asked, (uint32_t)LRPC_RPC_STREAM_MAX_WINDOW);
}

/*
 * More credit for one of this connection's streams.  Credit for any other
 * call id -- ended, never a stream, another connection's -- or with a
 * payload or a count of 0 is ignored and counted; credit adding up beyond
 * LRPC_RPC_STREAM_MAX_WINDOW is capped there, so that a client cannot make
 * the server queue more than that for it.
 */
void
lrpc__rpcs_stream_credit(rpc_service *svc, lrpc_conn *conn,
			 const lrpc__rpc_header *h, size_t payload)
{
	rpc_peer *p = lrpc__rpcs_peer_find(svc, conn);
	lrpc_rpc_call *call;

	if (!p)
		return;
	call = lrpc__rpcs_call_find(p, h->call_id);
	if (!call || !call->stream || call->abandoned || payload != 0 ||
	    h->hash == 0) {
		p->stray_credits++;
		lrpc__log_debug("lrpc rpc: credit for call %llu, no stream of "
				"this connection: ignored",
				(unsigned long long)h->call_id);
		return;
	}
	uint32_t room = LRPC_RPC_STREAM_MAX_WINDOW - call->credit;
	call->credit += LRPC_MIN(h->hash, room);
	if (call->want_writable && call->credit) {
		call->want_writable = false;
		/* May send, end (and so free the call): not touched after. */
		if (call->writable)
			call->writable((lrpc_rpc_stream *)call,
				       call->writable_data);
	}
}

/* The stream object is the call under another name (rpc.h). */
static lrpc_rpc_call *
stream_call(lrpc_rpc_stream *stream)
{
	lrpc_rpc_call *call = (lrpc_rpc_call *)stream;

	return call && call->stream ? call : NULL;
}

LRPC_EXPORT lrpc_rpc_stream *
lrpc_rpc_call_get_stream(lrpc_rpc_call *call)
{
	return call && call->stream ? (lrpc_rpc_stream *)call : NULL;
}

LRPC_EXPORT lrpc_rpc_call *
lrpc_rpc_stream_get_call(lrpc_rpc_stream *stream)
{
	return stream_call(stream);
}

LRPC_EXPORT uint32_t
lrpc_rpc_stream_get_credit(lrpc_rpc_stream *stream)
{
	lrpc_rpc_call *call = stream_call(stream);

	return call && !call->abandoned && !call->replied ? call->credit : 0;
}

LRPC_EXPORT int
lrpc_rpc_stream_set_writable_handler(lrpc_rpc_stream *stream,
				     lrpc_rpc_stream_writable_fn fn,
				     void *userdata)
{
	lrpc_rpc_call *call = stream_call(stream);

	lrpc_return_if_fail(call, -EINVAL);
	call->writable = fn;
	call->writable_data = userdata;
	return 0;
}

LRPC_EXPORT int
lrpc_rpc_stream_send(lrpc_rpc_stream *stream, const void *item)
{
	lrpc_rpc_call *call = stream_call(stream);
	int r;

	lrpc_return_if_fail(call && item, -EINVAL);
	if (call->replied)
		return -EALREADY;
	if (call->abandoned)
		return call->abandoned;
	if (!call->conn || !lrpc_conn_is_connected(call->conn))
		return -ENOTCONN;
	if (call->credit == 0) {
		call->want_writable = true;
		return -EAGAIN;
	}
	rpc_service *svc = call->svc;
	lrpc__rpc_header h = {
		.call_id = call->call_id,
		.method = call->method->ordinal,
		.kind = LRPC__RPC_ITEM,
		.version = svc->table->version,
	};
	r = lrpc__rpcs_svc_send(svc, call->conn, false, &h,
				LRPC_MIN(call->peer_version,
					 svc->table->version),
				call->method->reply, item, NULL);
	if (r == 0)
		call->credit--;
	else if (r == -EAGAIN)
		/* The connection's queue is full (large items): the next
		 * credit says when to try again. */
		call->want_writable = true;
	return r;
}

LRPC_EXPORT int
lrpc_rpc_stream_end(lrpc_rpc_stream *stream)
{
	lrpc_rpc_call *call = stream_call(stream);

	lrpc_return_if_fail(call, -EINVAL);
	return lrpc__rpcs_call_finish(call, 0);
}

LRPC_EXPORT int
lrpc_rpc_stream_fail(lrpc_rpc_stream *stream, int code)
{
	lrpc_rpc_call *call = stream_call(stream);

	lrpc_return_if_fail(call, -EINVAL);
	if (code == 0 || code == LRPC_RPC_LATER)
		code = -EINVAL;
	return lrpc__rpcs_call_finish(call, code);
}
