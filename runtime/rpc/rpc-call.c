/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A call being served: its answer now or later (deferred), results that
 * cannot go out, and abandonment when nobody waits any more (the client
 * cancelled, gave up at its deadline, or went away).
 */
#include <stdio.h>
#include <string.h>

#include "rpc-server-internal.h"

static size_t
call_bucket(const rpc_peer *p, uint64_t call_id)
{
	uint64_t x = call_id ^ p->hash_key;

	/* splitmix64's finalizer: every bit of the id reaches the bucket
	 * bits, so ids that differ only high up still spread. */
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return (size_t)x & (p->n_buckets - 1);
}

static void
bucket_push(rpc_peer *p, lrpc_rpc_call *call)
{
	lrpc_rpc_call **head = &p->buckets[call_bucket(p, call->call_id)];

	call->peer_prev = NULL;
	call->peer_next = *head;
	if (*head)
		(*head)->peer_prev = call;
	*head = call;
}

/* Twice the buckets once there are as many calls as buckets; without
 * memory for it the chains just grow longer. */
static void
peer_grow(rpc_peer *p)
{
	uint32_t old_n = p->n_buckets;
	lrpc_rpc_call **old = p->buckets;
	lrpc_rpc_call **b;

	if (old_n > UINT32_MAX / 2)
		return;
	b = calloc((size_t)old_n * 2, sizeof(*b));
	if (!b)
		return;
	p->buckets = b;
	p->n_buckets = old_n * 2;
	for (uint32_t i = 0; i < old_n; i++)
		while (old[i]) {
			lrpc_rpc_call *call = old[i];
			old[i] = call->peer_next;
			bucket_push(p, call);
		}
	if (old != p->inline_buckets)
		free(old);
}

/* Take a deferred call off its connection's table. */
void
lrpc__rpcs_call_unlist(lrpc_rpc_call *call)
{
	rpc_peer *p = call->peer;

	if (!p)
		return;
	if (call->peer_prev)
		call->peer_prev->peer_next = call->peer_next;
	else
		p->buckets[call_bucket(p, call->call_id)] = call->peer_next;
	if (call->peer_next)
		call->peer_next->peer_prev = call->peer_prev;
	p->n_deferred--;
	call->peer = NULL;
	call->peer_prev = call->peer_next = NULL;
}

/* Put a deferred call in its connection's table (if it has a peer). */
void
lrpc__rpcs_call_list(lrpc_rpc_call *call, rpc_peer *p)
{
	if (!p)
		return;
	if (p->n_deferred >= p->n_buckets)
		peer_grow(p);
	call->peer = p;
	bucket_push(p, call);
	p->n_deferred++;
}

lrpc_rpc_call *
lrpc__rpcs_call_find(rpc_peer *p, uint64_t call_id)
{
	for (lrpc_rpc_call *call = p->buckets[call_bucket(p, call_id)]; call;
	     call = call->peer_next)
		if (call->call_id == call_id)
			return call;
	return NULL;
}

void
lrpc__rpcs_call_uncount(lrpc_rpc_call *call)
{
	if (!call->counted)
		return;
	call->counted = false;
	(void)lrpc__conn_count_deferred(call->conn, -1);
}

void
lrpc__rpcs_call_free(lrpc_rpc_call *call)
{
	rpc_service *svc = call->svc;

	lrpc__rpcs_call_unlist(call);
	if (call->conn) {
		lrpc_conn *conn = call->conn;
		lrpc__rpcs_call_uncount(call);
		call->conn = NULL;
		lrpc_conn_unref(conn);
	}
	if (svc->n_free_calls < MAX_FREE_CALLS && svc->n_ref > 1) {
		call->next = svc->free_calls;
		svc->free_calls = call;
		svc->n_free_calls++;
	} else {
		free(call);
	}
	lrpc__rpcs_svc_unref(svc);
}

/*
 * Results that cannot go out as they are: the caller still gets an answer
 * at once -- an error reply saying why -- and the server counts and logs
 * it.  Returns the error for the code that produced the results.
 */
static int
call_results_failed(lrpc_rpc_call *call, int err, const void *rep)
{
	rpc_service *svc = call->svc;
	size_t size = 0;

	if (err == -EMSGSIZE) {
		(void)lrpc_rpc_encode(call->method->reply, rep, NULL, 0, &size);
		snprintf(call->message, sizeof(call->message),
			 "%s: results of %zu bytes do not fit in the "
			 "negotiated maximum of %u bytes",
			 call->method->name, size + LRPC__RPC_HDR_SIZE,
			 lrpc_conn_get_max_msg_size(call->conn));
	} else if (err == -EINVAL || err == -EPROTONOSUPPORT) {
		/* Measure again, cold, for the field and the rule. */
		lrpc__codec_err detail;
		lrpc__wr w = {
			.buf = NULL,
			.cap = 0,
			.peer = (uint16_t)LRPC_MIN(call->peer_version,
						   svc->table->version),
		};

		if (lrpc__rpc_encode(&w, call->method->reply, rep, &detail) < 0)
			(void)lrpc__codec_err_format(&detail,
						     call->method->reply->name,
						     call->message,
						     sizeof(call->message));
	}
	lrpc__conn_note_undelivered(call->conn, false, err,
				    size + LRPC__RPC_HDR_SIZE);
	(void)lrpc__rpcs_send_status(svc, call->conn, call->call_id,
			  call->method->ordinal, err,
			  call->message[0] ? call->message : NULL);
	return err;
}

static int
call_answer(lrpc_rpc_call *call, int status, const void *rep)
{
	rpc_service *svc = call->svc;
	int r;

	if (call->abandoned)
		return call->abandoned;
	if (!call->conn || !lrpc_conn_is_connected(call->conn))
		return -ENOTCONN;
	if (status < -4095)
		status = -EIO;
	if (status == 0 && call->stream) {
		lrpc__rpc_header h = {
			.call_id = call->call_id,
			.method = call->method->ordinal,
			.kind = LRPC__RPC_END,
			.version = svc->table->version,
		};
		return lrpc__rpcs_svc_send(svc, call->conn, false, &h, 0, NULL,
					   NULL, NULL);
	}
	if (status == 0) {
		lrpc__rpc_header h = {
			.call_id = call->call_id,
			.method = call->method->ordinal,
			.kind = LRPC__RPC_REPLY,
			.version = svc->table->version,
		};
		r = lrpc__rpcs_svc_send(svc, call->conn, false, &h,
					LRPC_MIN(call->peer_version,
						 svc->table->version),
					call->method->reply, rep, NULL);
		/* Results above a @max, invalid UTF-8 (-EINVAL), too
		 * large for this connection (-EMSGSIZE), or a value newer
		 * than the caller's version (-EPROTONOSUPPORT). */
		if (r == -EINVAL || r == -EMSGSIZE || r == -EPROTONOSUPPORT)
			return call_results_failed(call, r, rep);
		return r;
	}
	return lrpc__rpcs_send_status(svc, call->conn, call->call_id,
			   call->method->ordinal, status,
			   call->message[0] ? call->message : NULL);
}

/* Send the answer to @call: results @rep when @status is 0. */
int
lrpc__rpcs_call_answer(lrpc_rpc_call *call, int status, const void *rep)
{
	int r;

	call->svc->sent = 0;
	r = call_answer(call, status, rep);
	lrpc__rpcs_stats_answer(call, status, r);
	return r;
}

/* Nobody waits for @call's answer any more: say why, once. */
void
lrpc__rpcs_call_abandon(lrpc_rpc_call *call, int reason)
{
	if (call->abandoned)
		return;
	call->abandoned = reason;
	if (call->abandon)
		call->abandon(call, call->abandon_data);
}

void
lrpc__rpcs_call_on_close(lrpc_rpc_call *call)
{
	lrpc_conn *conn = call->conn;

	/* The client is gone: drop the connection now (its memory must not
	 * wait for a reply that may never come) and tell the owner. */
	lrpc__rpcs_call_unlist(call);
	lrpc__rpcs_call_uncount(call);
	call->conn = NULL;
	lrpc_conn_unref(conn);
	lrpc__rpcs_call_abandon(call, -ENOTCONN);
}

/* --- Calls ---------------------------------------------------------------- */

LRPC_EXPORT lrpc_conn *
lrpc_rpc_call_get_conn(lrpc_rpc_call *call)
{
	return call ? call->conn : NULL;
}

LRPC_EXPORT unsigned
lrpc_rpc_call_get_peer_version(lrpc_rpc_call *call)
{
	return call ? call->peer_version : 0;
}

LRPC_EXPORT lrpc_arena *
lrpc_rpc_call_get_arena(lrpc_rpc_call *call)
{
	return call ? &call->svc->arena : NULL;
}

LRPC_EXPORT int
lrpc_rpc_call_get_abandon_reason(lrpc_rpc_call *call)
{
	return call ? call->abandoned : 0;
}

LRPC_EXPORT int
lrpc_rpc_call_get_time_left(lrpc_rpc_call *call, uint64_t *ret_usec)
{
	uint64_t now;

	lrpc_return_if_fail(call && ret_usec, -EINVAL);
	if (call->deadline == UINT64_MAX) {
		*ret_usec = LRPC_TIMEOUT_INFINITE;
		return 0;
	}
	now = lrpc__now_coarse_usec();
	*ret_usec = call->deadline <= now ? 0 : call->deadline - now;
	return 0;
}

LRPC_EXPORT int
lrpc_rpc_call_set_error_message(lrpc_rpc_call *call, const char *message)
{
	lrpc_return_if_fail(call && message, -EINVAL);
	snprintf(call->message, sizeof(call->message), "%s", message);
	return 0;
}

LRPC_EXPORT int
lrpc_rpc_call_set_abandon_handler(lrpc_rpc_call *call, lrpc_rpc_abandon_fn fn,
				  void *userdata)
{
	lrpc_return_if_fail(call, -EINVAL);
	call->abandon = fn;
	call->abandon_data = userdata;
	return 0;
}

static int
call_finish(lrpc_rpc_call *call, int status, const void *rep)
{
	int r;

	if (call->replied)
		return -EALREADY;
	r = lrpc__rpcs_call_answer(call, status, rep);
	call->replied = true;
	if (call->in_handler)
		return r; /* lrpc__rpcs_svc_handle frees it after the handler */
	lrpc__rpcs_call_free(call);
	return r;
}

int
lrpc__rpcs_call_finish(lrpc_rpc_call *call, int status)
{
	return call_finish(call, status, NULL);
}

LRPC_EXPORT int
lrpc_rpc_call_reply(lrpc_rpc_call *call, const void *rep)
{
	lrpc_return_if_fail(call && !call->stream, -EINVAL);
	lrpc_return_if_fail(rep || !call->method->reply, -EINVAL);
	return call_finish(call, 0, rep);
}

LRPC_EXPORT int
lrpc_rpc_call_reply_error(lrpc_rpc_call *call, int code)
{
	lrpc_return_if_fail(call, -EINVAL);
	if (code == 0 || code == LRPC_RPC_LATER)
		code = -EINVAL;
	return call_finish(call, code, NULL);
}

/*
 * A cancel from the client (it cancelled the call or its deadline passed):
 * tell the deferred call with that id, if this connection has one.  An id
 * that is not deferred here -- answered already, never sent, another
 * connection's -- is ignored and counted: a client cannot reach calls that
 * are not its own.
 */
void
lrpc__rpcs_handle_cancel(rpc_service *svc, lrpc_conn *conn, const lrpc__rpc_header *h)
{
	rpc_peer *p = lrpc__rpcs_peer_find(svc, conn);
	lrpc_rpc_call *call;

	if (!p)
		return;
	call = lrpc__rpcs_call_find(p, h->call_id);
	if (call) {
		if (!call->abandoned)
			lrpc__rpcs_call_abandon(call, -ECANCELED);
		return;
	}
	p->stray_cancels++;
	lrpc__log_debug("lrpc rpc: cancel of call %llu, not deferred on this "
			"connection: ignored",
			(unsigned long long)h->call_id);
}
