/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The RPC server: one core handler per served interface, request decoding,
 * typed dispatch through the generated table, version negotiation and
 * cancels from clients.
 */
#include <stdio.h>
#include <string.h>

#include "rpc-server-internal.h"

#define BUSY_MESSAGE                                                        \
	"too many calls of this connection wait to be answered later "     \
	"(the server's max_deferred_calls)"

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
	lrpc__rpcs_access_done(svc);
	free(svc->stats);
	free(svc);
}

LRPC_DEFINE_REF_UNREF(, rpc_service, lrpc__rpcs_svc, svc_free)

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
	call->svc = lrpc__rpcs_svc_ref(svc);
	return call;
}

rpc_peer *
lrpc__rpcs_peer_find(rpc_service *svc, lrpc_conn *conn)
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
	/* Its deferred calls learn it here, one by one (an abandon handler
	 * may answer others of them: each is taken off as it goes). */
	for (uint32_t i = 0; i < peer->n_buckets; i++)
		while (peer->buckets[i])
			lrpc__rpcs_call_on_close(peer->buckets[i]);
	if (peer->buckets != peer->inline_buckets)
		free(peer->buckets);
	free(peer);
	lrpc__rpcs_svc_unref(svc);
}

/* The peer record of @conn, made at its first hello or its first call
 * answered later (unnegotiated, version 0); NULL without memory. */
static rpc_peer *
peer_get(rpc_service *svc, lrpc_conn *conn)
{
	rpc_peer *p = lrpc__rpcs_peer_find(svc, conn);

	if (p)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p || lrpc__conn_add_close_hook(conn, peer_on_close, p) < 0) {
		free(p);
		return NULL;
	}
	p->conn = conn;
	p->svc = lrpc__rpcs_svc_ref(svc);
	p->buckets = p->inline_buckets;
	p->n_buckets = sizeof(p->inline_buckets) / sizeof(p->inline_buckets[0]);
	/* Not secret, but not known to the client either. */
	p->hash_key = (uint64_t)(uintptr_t)p * UINT64_C(0x9e3779b97f4a7c15) ^
		      lrpc__now_coarse_usec();
	p->next = svc->peers;
	svc->peers = p;
	return p;
}

int
lrpc__rpcs_svc_send(rpc_service *svc, lrpc_conn *conn, bool event,
		    const lrpc__rpc_header *h, unsigned peer,
		    const lrpc_rpc_type *type,
		    const void *value, const char *message)
{
	uint64_t small[LRPC__RPC_SMALL / 8];
	lrpc__rpc_fds fds;
	size_t size;
	void *buf;
	int n = lrpc__rpc_measure_into(small, sizeof(small),
				       svc->table->iface->id, h, peer, type,
				       value,
				       message,
				       lrpc_conn_get_max_msg_size(conn), &size,
				       /* detail= */ NULL, &fds);
	if (n < 0) {
		/* An event that never reached the core is lost all the
		 * same (results are handled by the call, which answers). */
		if (event && (n == -EMSGSIZE || n == -EINVAL ||
			      n == -EPROTONOSUPPORT)) {
			size_t want = 0;
			(void)lrpc_rpc_encode(type, value, NULL, 0, &want);
			lrpc__conn_note_undelivered(conn, true, n,
						    want + LRPC__RPC_HDR_SIZE);
		}
		return n;
	}
	if (fds.n > 0)
		return lrpc__rpcs_send_fds(svc, conn, event, h, peer, type,
					   value, message, small,
					   sizeof(small), size, &fds);
	/* Encoded straight into the client's ring where it has room (or a
	 * queue entry): no private copy of the answer on its way out (a
	 * small one was built on the way and is copied). */
	n = event ? lrpc_conn_reserve_event(conn, size, &buf)
		  : lrpc_conn_reserve_response(conn, size, &buf);
	if (n < 0)
		return n;
	svc->sent = size;
	if (size <= sizeof(small))
		memcpy(buf, small, size);
	else
		n = lrpc__rpc_write(buf, size, svc->table->iface->id, h, peer,
				    type,
				    value, message);
	if (n < 0) {
		lrpc_conn_discard_reservation(conn);
		return n;
	}
	return lrpc_conn_commit(conn, size);
}

int
lrpc__rpcs_send_status(rpc_service *svc, lrpc_conn *conn, uint64_t call_id,
	    uint16_t method, int status, const char *message)
{
	lrpc__rpc_header h = {
		.call_id = call_id,
		.method = method,
		.kind = LRPC__RPC_ERROR,
		.version = svc->table->version,
		.status = status,
	};
	return lrpc__rpcs_svc_send(svc, conn, false, &h, 0, NULL, NULL,
				   message);
}

/*
 * The client's hash at the version both will speak: from its list of
 * every version's hash, or (a client that sent none) from the header when
 * its version is not above ours.  False when neither says.
 */
static bool
client_hash(const lrpc__rpc_header *req, lrpc__rd *r, unsigned common,
	    unsigned mine, uint32_t *ret)
{
	uint8_t buf[512];
	lrpc_arena arena;
	lrpc_list hashes = { 0 };
	bool found = false;

	if (lrpc__rd_left(r)) {
		lrpc_arena_init(&arena, buf, sizeof(buf), 65536u * 4u);
		if (lrpc__rpc_decode(r, &lrpc__rpc_hello_hashes_type, &hashes,
				     &arena, NULL) == 0 &&
		    hashes.count >= common) {
			memcpy(ret, (const uint32_t *)hashes.items + common - 1,
			       sizeof(*ret));
			found = true;
		}
		lrpc_arena_done(&arena);
		if (found)
			return true;
	}
	if (req->version <= mine) {
		*ret = req->hash;
		return true;
	}
	return false;
}

static int
handle_hello(rpc_service *svc, lrpc_conn *conn, const lrpc__rpc_header *req,
	     lrpc__rd *r)
{
	const lrpc_rpc_interface *iface = svc->table->iface;
	unsigned mine = svc->table->version;
	unsigned common = LRPC_MIN(mine, (unsigned)req->version);
	const char *form = NULL;
	uint32_t theirs = 0;
	int status = 0;

	if (req->version == 0)
		status = -EPROTO;
	else if (client_hash(req, r, common, mine, &theirs) &&
		 iface->hashes[common - 1] != theirs)
		status = -EPROTO;
	rpc_peer *p = req->version ? peer_get(svc, conn) : NULL;
	if (p && status == 0) {
		p->version = req->version;
		p->diff_version = 0;
	} else if (status == -EPROTO && req->version) {
		lrpc_peer who = { 0 };
		(void)lrpc_conn_get_peer(conn, &who);
		lrpc__log_warning("lrpc rpc: %s: refused a client (pid %d, uid "
				  "%u) at version %u: its interface differs "
				  "(hash %08x, ours %08x)",
				  iface->name, (int)who.pid,
				  (unsigned)who.uid, common, theirs,
				  iface->hashes[common - 1]);
		/* Our form lets the client name the first difference; it
		 * answers with its own, for our log. */
		form = lrpc__rpc_form(iface, common);
		if (p && form)
			p->diff_version = (uint16_t)common;
	}
	lrpc__rpc_header h = {
		.call_id = req->call_id,
		.kind = LRPC__RPC_HELLO_REPLY,
		.version = (uint16_t)mine,
		.status = status,
		.hash = common ? iface->hashes[common - 1] : 0,
	};
	int n = -EMSGSIZE;
	if (form)
		n = lrpc__rpcs_svc_send(svc, conn, false, &h, 0,
					&lrpc__rpc_hello_form_type, &form,
					NULL);
	/* Without the form (too large for the connection) the refusal
	 * still goes out, and the client explains it with less. */
	if (n == -EMSGSIZE)
		n = lrpc__rpcs_svc_send(svc, conn, false, &h, 0, NULL, NULL,
					NULL);
	return n;
}

/*
 * The client's canonical form after we refused its hello: log the first
 * difference, once per refusal (a client cannot fill the log with them).
 */
static void
handle_hello_diff(rpc_service *svc, lrpc_conn *conn,
		  const lrpc__rpc_header *h, lrpc__rd *r)
{
	rpc_peer *p = lrpc__rpcs_peer_find(svc, conn);
	char detail[1024];
	lrpc_peer who = { 0 };

	if (!p || !p->diff_version || h->version != p->diff_version) {
		lrpc__log_debug("lrpc rpc: unexpected hello diff: ignored");
		return;
	}
	p->diff_version = 0;
	char *theirs = lrpc__rpc_read_form(r);
	(void)lrpc_conn_get_peer(conn, &who);
	lrpc__rpc_form_diff(svc->table->iface, h->version, theirs, "client",
			    detail, sizeof(detail));
	lrpc__log_warning("lrpc rpc: client pid %d, uid %u: %s",
			  (int)who.pid, (unsigned)who.uid, detail);
	free(theirs);
}

/* The method @h asks for, if this table serves it as that kind. */
static const lrpc_rpc_method *
svc_method(const lrpc_rpc_dispatch *table, const lrpc__rpc_header *h,
	   bool oneway)
{
	const lrpc_rpc_method *m = lrpc__rpc_find_method(table->iface,
							 h->method);

	if (!m || m->since > table->version ||
	    (oneway ? m->kind != LRPC_RPC_ONEWAY
		    : m->kind != LRPC_RPC_CALL && m->kind != LRPC_RPC_STREAM) ||
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
	if (status == 0 && m->reply && !call->stream)
		status = lrpc_arena_alloc(&svc->arena, m->reply->size, 16,
					  ret_rep);
	if (status == 0) {
		lrpc__codec_err detail;

		status = lrpc__rpc_decode(r, m->request, req, &svc->arena,
					  &detail);
		if (status == 0 && lrpc__rd_left(r) != 0)
			status = -EBADMSG;
		if (status == -ENOBUFS || status == -ENOMEM)
			status = -ENOMEM;
		else if (status < 0)
			status = -EBADMSG;
		/* The caller learns which field broke which rule
		 * (lrpc.InvalidArgument with this text). */
		if (status < 0)
			(void)lrpc__codec_err_format(&detail, m->request->name,
						     call->message,
						     sizeof(call->message));
	}
	if (status == 0) {
		lrpc_peer who;
		const lrpc_peer *saved = NULL;
		bool known = lrpc_conn_get_peer(call->conn, &who) == 0;

		if (known)
			saved = lrpc__rpcs_caller_enter(&who);
		call->in_handler = true;
		status = svc->table->invoke[m - svc->table->iface->methods](
			call, svc->handlers, svc->userdata, req, *ret_rep);
		call->in_handler = false;
		if (known)
			lrpc__rpcs_caller_leave(saved);
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
		lrpc__rpcs_call_free(call);
	} else if ((status == LRPC_RPC_LATER ||
		    (status == 0 && call->stream)) && !call->replied) {
		/* Deferred: the call now holds the connection and stays in
		 * its peer's table, for cancels and for the close of the
		 * connection.  The handler holds the call, so it is kept even
		 * without a peer (no memory for one): its answer then finds
		 * the connection gone, and nothing else reaches it.  A
		 * stream stays like this until it ends. */
		call->conn = lrpc_conn_ref(conn);
		call->deferred = true;
		rpc_peer *p = lrpc__rpcs_peer_find(call->svc, conn);
		if (!p && (p = peer_get(call->svc, conn)))
			/* No hello: not held to a version (for events). */
			p->version = call->svc->table->version;
		lrpc__rpcs_call_list(call, p);
	} else {
		if (!call->replied)
			(void)lrpc__rpcs_call_answer(call,
					  status == LRPC_RPC_LATER ? 0 : status,
					  rep);
		lrpc__rpcs_call_uncount(call);
		call->conn = NULL;
		lrpc__rpcs_call_free(call);
	}
}

/*
 * A request for a method this table does not serve as that kind.  A call
 * gets "no such method"; a oneway message gets no answer -- unless it names
 * a method that is a call here (a peer that disagrees on the method's
 * kind): then, if it carries a call id, an error reply says so, rather than
 * leave anyone waiting.
 */
static void
svc_refuse(rpc_service *svc, lrpc_conn *conn, const lrpc__rpc_header *h,
	   bool oneway)
{
	const lrpc_rpc_method *m =
		lrpc__rpc_find_method(svc->table->iface, h->method);
	char msg[128];

	if (!oneway) {
		(void)lrpc__rpcs_send_status(svc, conn, h->call_id, h->method,
					     -EOPNOTSUPP, NULL);
		return;
	}
	if (!m || m->kind != LRPC_RPC_CALL || h->call_id == 0)
		return;
	snprintf(msg, sizeof(msg), "%s.%s is a call, sent as oneway",
		 svc->table->iface->name, m->name);
	(void)lrpc__rpcs_send_status(svc, conn, h->call_id, h->method,
				     -EBADMSG, msg);
}

int
lrpc__rpcs_svc_handle_msg(lrpc_conn *conn, const lrpc_msg_header *msg,
			  size_t size, rpc_service *svc, lrpc__rd_fds *fds)
{
	/* The request is private memory (the core copied it out of shared
	 * memory) valid while the handler runs, as long as the arena holding
	 * the other arguments: `bytes` arguments point into it, uncopied. */
	lrpc__rd r = { .p = (const uint8_t *)msg + sizeof(*msg),
		       .end = (const uint8_t *)msg + size,
		       .borrow = true,
		       .fds = fds };
	lrpc__rpc_header h;
	const lrpc_rpc_method *m;
	lrpc_rpc_call *call;
	void *rep;
	int status;

	if (!lrpc__rpc_header_read(&r, &h))
		return -EBADMSG; /* no call id to answer: a core error */
	if (h.kind == LRPC__RPC_HELLO) {
		(void)handle_hello(svc, conn, &h, &r);
		return 0;
	}
	if (h.kind == LRPC__RPC_HELLO_DIFF) {
		handle_hello_diff(svc, conn, &h, &r);
		return 0;
	}
	if (h.kind == LRPC__RPC_CANCEL || h.kind == LRPC__RPC_CREDIT) {
		/* Never answered: the client expects nothing back. */
		if (h.kind == LRPC__RPC_CREDIT)
			lrpc__rpcs_stream_credit(svc, conn, &h, lrpc__rd_left(&r));
		else if (lrpc__rd_left(&r) == 0)
			lrpc__rpcs_handle_cancel(svc, conn, &h);
		return 0;
	}
	if (h.kind != LRPC__RPC_REQUEST && h.kind != LRPC__RPC_ONEWAY) {
		(void)lrpc__rpcs_send_status(svc, conn, h.call_id, h.method, -EBADMSG,
				  NULL);
		return 0;
	}
	bool oneway = h.kind == LRPC__RPC_ONEWAY;
	m = svc_method(svc->table, &h, oneway);
	if (!m) {
		svc_refuse(svc, conn, &h, oneway);
		return 0;
	}
	if (lrpc__rpcs_access_refused(svc, conn, m, &h, oneway))
		return 0;
	/* Each call may be answered later: past the connection's share of
	 * those, it is refused before its handler runs, at once. */
	if (!oneway && lrpc__conn_count_deferred(conn, 1) < 0)
		return lrpc__rpcs_send_status(svc, conn, h.call_id, h.method,
					      -EBUSY, BUSY_MESSAGE);
	call = call_new(svc);
	if (!call) {
		if (oneway)
			return 0;
		(void)lrpc__conn_count_deferred(conn, -1);
		return lrpc__rpcs_send_status(svc, conn, h.call_id, h.method,
					      -ENOMEM, NULL);
	}
	call->counted = !oneway;
	call->conn = conn; /* borrowed while the handler runs */
	call->method = m;
	call->call_id = h.call_id;
	call->peer_version = h.version;
	call->stream = m->kind == LRPC_RPC_STREAM;
	call->credit = call->stream ? lrpc__rpcs_stream_window(h.reserved) : 0;
	/* Milliseconds travel: a coarse clock is exact enough, and costs
	 * nothing on the call path. */
	call->deadline = h.hash ? lrpc__now_coarse_usec() +
					  (uint64_t)h.hash * 1000u
				: UINT64_MAX;
	lrpc__rpcs_stats_request(svc, call, m, size);
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
	lrpc__rpcs_svc_unref(svc);
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
	r = lrpc__rpcs_access_setup(svc);
	if (r < 0) {
		lrpc__rpcs_svc_unref(svc);
		return r;
	}
	r = lrpc_server_add_handler(s, (int32_t)table->iface->id, lrpc__rpcs_svc_handle,
				    svc);
	if (r < 0) {
		lrpc__rpcs_svc_unref(svc);
		return r;
	}
	r = lrpc__server_add_free_hook(s, svc_on_server_free, svc);
	if (r < 0) {
		(void)lrpc_server_remove_handler(s, (int32_t)table->iface->id);
		lrpc__rpcs_svc_unref(svc);
		return r;
	}
	/* A server that answers lrpc.Service must answer it about every
	 * interface it serves: without memory for that, the interface is
	 * not served either (the free hook drops @svc with the server). */
	r = lrpc__rpcs_introspect_add(svc);
	if (r < 0) {
		(void)lrpc_server_remove_handler(s, (int32_t)table->iface->id);
		return r;
	}
	return 0;
}

/* The service serving @iface on @s, found through the selector. */
rpc_service *
lrpc__rpcs_svc_lookup(lrpc_server *s, const lrpc_rpc_interface *iface)
{
	lrpc_handler_fn fn;
	void *svc;

	if (lrpc__server_find_handler(s, (int32_t)iface->id, &fn, &svc) == 1 &&
	    fn == lrpc__rpcs_svc_handle)
		return svc;
	return NULL;
}
