/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The RPC server: one core handler per served interface, request decoding,
 * typed dispatch through the generated table, replies (now or deferred),
 * version negotiation and events.
 */
#include <stdio.h>
#include <string.h>

#include "ipc/ipc-seam.h"
#include "rpc-internal.h"
#include "util.h"

typedef struct rpc_peer {
	struct rpc_peer *next;
	lrpc_conn *conn; /* no reference: removed by the close hook */
	uint16_t version;
	struct rpc_service *svc;
} rpc_peer;

typedef struct rpc_service {
	unsigned n_ref;
	lrpc_server *server; /* NULL once the server is freed */
	const lrpc_rpc_dispatch *table;
	const void *handlers;
	void *userdata;
	rpc_peer *peers;
	lrpc_rpc_call *free_calls;
	unsigned n_free_calls;
	lrpc__rpc_buf sbuf;
	lrpc_arena arena;
	uint8_t arena_buf[4096];
} rpc_service;

struct lrpc_rpc_call {
	lrpc_rpc_call *next; /* free list */
	rpc_service *svc;    /* strong reference */
	lrpc_conn *conn;     /* strong reference while deferred; NULL once the
			      * client went away */
	const lrpc_rpc_method *method;
	uint64_t call_id;
	uint16_t peer_version;
	bool in_handler;
	bool deferred;
	bool replied;
	lrpc_rpc_abandon_fn abandon;
	void *abandon_data;
	char message[128];
};

#define MAX_FREE_CALLS 64

static void
svc_free(rpc_service *svc)
{
	while (svc->free_calls) {
		lrpc_rpc_call *c = svc->free_calls;
		svc->free_calls = c->next;
		free(c);
	}
	lrpc__rpc_buf_done(&svc->sbuf);
	lrpc_arena_done(&svc->arena);
	free(svc);
}

LRPC_DEFINE_REF_UNREF(static, rpc_service, svc, svc_free)

static lrpc_rpc_call *
call_new(rpc_service *svc)
{
	lrpc_rpc_call *call = svc->free_calls;

	/* Recycled call objects keep a scalar-only method free of malloc. */
	if (call) {
		svc->free_calls = call->next;
		svc->n_free_calls--;
	} else {
		call = malloc(sizeof(*call));
		if (!call)
			return NULL;
	}
	memset(call, 0, sizeof(*call));
	call->svc = svc_ref(svc);
	return call;
}

static void
call_free(lrpc_rpc_call *call)
{
	rpc_service *svc = call->svc;

	if (call->conn) {
		lrpc_conn *conn = call->conn;
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
	svc_unref(svc);
}

static rpc_peer *
peer_find(rpc_service *svc, lrpc_conn *conn)
{
	for (rpc_peer *p = svc->peers; p; p = p->next)
		if (p->conn == conn)
			return p;
	return NULL;
}

static void
peer_on_close(void *object, void *data)
{
	rpc_peer *peer = data;
	rpc_service *svc = peer->svc;

	for (rpc_peer **p = &svc->peers; *p; p = &(*p)->next)
		if (*p == peer) {
			*p = peer->next;
			break;
		}
	free(peer);
	svc_unref(svc);
}

static int
svc_send(rpc_service *svc, lrpc_conn *conn, bool event,
	 const lrpc__rpc_header *h, const lrpc_rpc_type *type,
	 const void *value, const char *message)
{
	int n = lrpc__rpc_build(&svc->sbuf, svc->table->iface->id, h, type,
				value, message,
				lrpc_conn_get_max_msg_size(conn));
	if (n < 0)
		return n;
	return event ? lrpc_conn_send_event(conn, svc->sbuf.data, (size_t)n)
		     : lrpc_conn_send_response(conn, svc->sbuf.data,
					       (size_t)n);
}

static int
send_status(rpc_service *svc, lrpc_conn *conn, uint64_t call_id,
	    uint16_t method, int status, const char *message)
{
	lrpc__rpc_header h = {
		.call_id = call_id,
		.method = method,
		.kind = LRPC__RPC_ERROR,
		.version = svc->table->version,
		.status = status,
	};
	return svc_send(svc, conn, false, &h, NULL, NULL, message);
}

/* Send the answer to @call: results @rep when @status is 0. */
static int
call_answer(lrpc_rpc_call *call, int status, const void *rep)
{
	rpc_service *svc = call->svc;
	int r;

	if (!call->conn || !lrpc_conn_is_connected(call->conn))
		return -ENOTCONN;
	if (status < -4095)
		status = -EIO;
	if (status == 0) {
		lrpc__rpc_header h = {
			.call_id = call->call_id,
			.method = call->method->ordinal,
			.kind = LRPC__RPC_REPLY,
			.version = svc->table->version,
		};
		r = svc_send(svc, call->conn, false, &h, call->method->reply,
			     rep, NULL);
		if (r != -EINVAL)
			return r;
		/* The handler's results cannot be encoded (above a @max,
		 * invalid UTF-8, ...): the caller still gets an answer. */
		status = -EINVAL;
	}
	r = send_status(svc, call->conn, call->call_id, call->method->ordinal,
			status, call->message[0] ? call->message : NULL);
	return r < 0 ? r : (status == -EINVAL && rep ? -EINVAL : 0);
}

static int
handle_hello(rpc_service *svc, lrpc_conn *conn, const lrpc__rpc_header *req)
{
	const lrpc_rpc_interface *iface = svc->table->iface;
	unsigned mine = svc->table->version;
	unsigned common = LRPC_MIN(mine, (unsigned)req->version);
	int status = 0;

	if (req->version == 0)
		status = -EPROTO;
	else if (req->version <= mine &&
		 iface->hashes[req->version - 1] != req->hash)
		status = -EPROTO;
	if (status == 0) {
		rpc_peer *p = peer_find(svc, conn);
		if (!p) {
			p = calloc(1, sizeof(*p));
			if (p && lrpc__conn_add_close_hook(conn, peer_on_close,
							   p) == 0) {
				p->conn = conn;
				p->svc = svc_ref(svc);
				p->next = svc->peers;
				svc->peers = p;
			} else {
				free(p);
				p = NULL;
			}
		}
		if (p)
			p->version = req->version;
	}
	lrpc__rpc_header h = {
		.call_id = req->call_id,
		.kind = LRPC__RPC_HELLO_REPLY,
		.version = (uint16_t)mine,
		.status = status,
		.hash = common ? iface->hashes[common - 1] : 0,
	};
	return svc_send(svc, conn, false, &h, NULL, NULL, NULL);
}

static void
call_on_close(void *object, void *data)
{
	lrpc_rpc_call *call = data;
	lrpc_conn *conn = call->conn;

	/* The client is gone: drop the connection now (its memory must not
	 * wait for a reply that may never come) and tell the owner. */
	call->conn = NULL;
	lrpc_conn_unref(conn);
	if (call->abandon)
		call->abandon(call, call->abandon_data);
}

/* The method @h asks for, if this table serves it as that kind. */
static const lrpc_rpc_method *
svc_method(const lrpc_rpc_dispatch *table, const lrpc__rpc_header *h,
	   bool oneway)
{
	const lrpc_rpc_method *m = lrpc__rpc_find_method(table->iface,
							 h->method);

	if (!m || m->since > table->version ||
	    m->kind != (oneway ? LRPC_RPC_ONEWAY : LRPC_RPC_CALL) ||
	    !table->invoke[m - table->iface->methods])
		return NULL;
	return m;
}

/*
 * Decode the arguments of @call into the arena and run its handler.
 * Returns what the handler returned, or the decode error (-EBADMSG for bad
 * data, -ENOMEM when the arena cannot grow); *ret_rep is the results.
 */
static int
svc_invoke(rpc_service *svc, lrpc_rpc_call *call, lrpc__rd *r,
	   void **ret_rep)
{
	const lrpc_rpc_method *m = call->method;
	void *req = NULL;
	int status;

	*ret_rep = NULL;
	lrpc_arena_reset(&svc->arena);
	status = lrpc_arena_alloc(&svc->arena, m->request->size, 16, &req);
	if (status == 0 && m->reply)
		status = lrpc_arena_alloc(&svc->arena, m->reply->size, 16,
					  ret_rep);
	if (status == 0) {
		status = lrpc__rpc_decode(r, m->request, req, &svc->arena);
		if (status == 0 && lrpc__rd_left(r) != 0)
			status = -EBADMSG;
		if (status == -ENOBUFS || status == -ENOMEM)
			status = -ENOMEM;
		else if (status < 0)
			status = -EBADMSG;
	}
	if (status == 0) {
		call->in_handler = true;
		status = svc->table->invoke[m - svc->table->iface->methods](
			call, svc->handlers, svc->userdata, req, *ret_rep);
		call->in_handler = false;
	}
	return status;
}

/* After the handler: answer now, keep the call for later, or drop it. */
static void
svc_finish(lrpc_conn *conn, lrpc_rpc_call *call, bool oneway, int status,
	   void *rep)
{
	if (oneway) {
		call->conn = NULL;
		call_free(call);
	} else if (status == LRPC_RPC_LATER && !call->replied) {
		/* Deferred: the call now holds the connection, and learns
		 * through a close hook if the client goes away. */
		if (lrpc__conn_add_close_hook(conn, call_on_close, call) < 0) {
			call->conn = NULL;
			call_free(call);
		} else {
			call->conn = lrpc_conn_ref(conn);
			call->deferred = true;
		}
	} else {
		if (!call->replied)
			(void)call_answer(call,
					  status == LRPC_RPC_LATER ? 0 : status,
					  rep);
		call->conn = NULL;
		call_free(call);
	}
}

static int
svc_handle(lrpc_conn *conn, const lrpc_msg_header *msg, size_t size,
	   void *userdata)
{
	rpc_service *svc = userdata;
	lrpc__rd r = { .p = (const uint8_t *)msg + sizeof(*msg),
		       .end = (const uint8_t *)msg + size };
	lrpc__rpc_header h;
	const lrpc_rpc_method *m;
	lrpc_rpc_call *call;
	void *rep;
	int status;

	if (!lrpc__rpc_header_read(&r, &h))
		return -EBADMSG; /* no call id to answer: a core error */
	if (h.kind == LRPC__RPC_HELLO) {
		(void)handle_hello(svc, conn, &h);
		return 0;
	}
	if (h.kind != LRPC__RPC_REQUEST && h.kind != LRPC__RPC_ONEWAY) {
		(void)send_status(svc, conn, h.call_id, h.method, -EBADMSG,
				  NULL);
		return 0;
	}
	bool oneway = h.kind == LRPC__RPC_ONEWAY;
	m = svc_method(svc->table, &h, oneway);
	if (!m) {
		if (!oneway)
			(void)send_status(svc, conn, h.call_id, h.method,
					  -EOPNOTSUPP, NULL);
		return 0;
	}
	call = call_new(svc);
	if (!call)
		return oneway ? 0 : send_status(svc, conn, h.call_id,
						h.method, -ENOMEM, NULL);
	call->conn = conn; /* borrowed while the handler runs */
	call->method = m;
	call->call_id = h.call_id;
	call->peer_version = h.version;
	status = svc_invoke(svc, call, &r, &rep);
	svc_finish(conn, call, oneway, status, rep);
	lrpc_arena_reset(&svc->arena);
	return 0;
}

static void
svc_on_server_free(void *object, void *data)
{
	rpc_service *svc = data;

	svc->server = NULL;
	svc_unref(svc);
}

LRPC_EXPORT int
lrpc_server_add_interface(lrpc_server *s, const lrpc_rpc_dispatch *table,
			  const void *handlers, void *userdata)
{
	rpc_service *svc;
	int r;

	lrpc_return_if_fail(s && table && handlers, -EINVAL);
	lrpc_return_if_fail(table->struct_size >= sizeof(*table) &&
				    table->invoke &&
				    lrpc__rpc_interface_valid(table->iface) &&
				    table->version == table->iface->version,
			    -EINVAL);
	svc = calloc(1, sizeof(*svc));
	if (!svc)
		return -ENOMEM;
	svc->n_ref = 1;
	svc->server = s;
	svc->table = table;
	svc->handlers = handlers;
	svc->userdata = userdata;
	lrpc_arena_init(&svc->arena, svc->arena_buf, sizeof(svc->arena_buf),
			LRPC_ARENA_UNLIMITED);
	r = lrpc_server_add_handler(s, (int32_t)table->iface->id, svc_handle,
				    svc);
	if (r < 0) {
		svc_unref(svc);
		return r;
	}
	r = lrpc__server_add_free_hook(s, svc_on_server_free, svc);
	if (r < 0) {
		(void)lrpc_server_remove_handler(s, (int32_t)table->iface->id);
		svc_unref(svc);
		return r;
	}
	return 0;
}

/* The service serving @iface on @s, found through the selector. */
static rpc_service *
svc_lookup(lrpc_server *s, const lrpc_rpc_interface *iface)
{
	lrpc_handler_fn fn;
	void *svc;

	if (lrpc__server_find_handler(s, (int32_t)iface->id, &fn, &svc) == 1 &&
	    fn == svc_handle)
		return svc;
	return NULL;
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
	r = call_answer(call, status, rep);
	call->replied = true;
	if (call->in_handler)
		return r; /* svc_handle frees it after the handler */
	if (call->deferred && call->conn)
		(void)lrpc__conn_remove_close_hook(call->conn, call_on_close,
						   call);
	call_free(call);
	return r;
}

LRPC_EXPORT int
lrpc_rpc_call_reply(lrpc_rpc_call *call, const void *rep)
{
	lrpc_return_if_fail(call, -EINVAL);
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

/* --- Events ------------------------------------------------------------- */

static int
emit_one(rpc_service *svc, lrpc_conn *conn, const lrpc_rpc_method *m,
	 const void *args, bool skip_old)
{
	rpc_peer *p = peer_find(svc, conn);

	/* A peer that negotiated an older version would drop the event. */
	if (p && p->version < m->since)
		return -EPROTONOSUPPORT;
	lrpc__rpc_header h = {
		.method = m->ordinal,
		.kind = LRPC__RPC_EVENT,
		.version = svc->table->version,
	};
	return svc_send(svc, conn, true, &h, m->request, args, NULL);
}

static int
emit_check(const lrpc_rpc_interface *iface, const lrpc_rpc_method *m,
	   const void *args)
{
	if (!iface || !m || !args || m < iface->methods ||
	    m >= iface->methods + iface->n_methods ||
	    m->kind != LRPC_RPC_EVENT)
		return -EINVAL;
	return 0;
}

LRPC_EXPORT int
lrpc_conn_emit(lrpc_conn *conn, const lrpc_rpc_interface *iface,
	      const lrpc_rpc_method *method, const void *args)
{
	rpc_service *svc;
	int r;

	lrpc_return_if_fail(conn, -EINVAL);
	r = emit_check(iface, method, args);
	if (r < 0)
		return r;
	if (!lrpc_conn_is_connected(conn))
		return -ENOTCONN;
	svc = svc_lookup(lrpc_conn_get_server(conn), iface);
	if (!svc)
		return -EINVAL;
	return emit_one(svc, conn, method, args, false);
}

LRPC_EXPORT int
lrpc_server_broadcast(lrpc_server *s, const lrpc_rpc_interface *iface,
		   const lrpc_rpc_method *method, const void *args)
{
	rpc_service *svc;
	int r, n = 0;

	lrpc_return_if_fail(s, -EINVAL);
	r = emit_check(iface, method, args);
	if (r < 0)
		return r;
	svc = svc_lookup(s, iface);
	if (!svc)
		return -EINVAL;
	for (lrpc_conn *c = lrpc_server_get_first_conn(s); c;
	     c = lrpc_conn_get_next(c)) {
		r = emit_one(svc, c, method, args, true);
		if (r == -EINVAL || r == -EMSGSIZE || r == -ENOMEM)
			return r;
		if (r == 0)
			n++;
	}
	return n;
}
