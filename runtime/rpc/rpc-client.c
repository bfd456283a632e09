/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The RPC client: a call table of async calls in flight (an open-addressing
 * hash keyed by call id), synchronous calls that keep delivering other
 * replies while they wait, per-interface version negotiation, and event
 * listeners.
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "rpc-internal.h"
#include "util.h"

typedef struct pending {
	uint64_t id; /* 0: empty slot */
	const lrpc_rpc_method *method;
	lrpc_rpc_complete_fn complete;
	void (*fn)(void);
	void *userdata;
} pending;

typedef struct iface_state {
	const lrpc_rpc_interface *iface;
	uint16_t common; /* version both speak; 0: not negotiated */
	const lrpc_rpc_listener *listener;
	const void *listener_obj;
	void *listener_data;
} iface_state;

/* A synchronous call (or negotiation) waiting; they nest when a callback
 * run during a wait makes a call of its own. */
typedef struct waiter {
	struct waiter *prev;
	uint64_t id;
	uint32_t iface_id;
	bool hello;
	bool done;
	int status;
	const lrpc_rpc_method *method;
	void *rep;
	lrpc_arena *arena;
	lrpc_rpc_error *error;
	lrpc__rpc_header reply; /* hello: the server's answer */
} waiter;

struct lrpc_rpc_client {
	unsigned n_ref;
	lrpc_client *c;
	bool closing;
	uint64_t next_call_id;
	uint64_t timeout_usec;
	pending *tab;
	size_t tab_cap; /* power of two or 0 */
	size_t n_pending;
	iface_state *ifaces;
	size_t n_ifaces;
	waiter *waiters;
	lrpc__rpc_buf sbuf;
	uint8_t *rbuf;
	size_t rcap;
	lrpc_arena arena; /* async replies and events */
	uint8_t arena_buf[2048];
};

#define RPC_CHECK(rc)                                                       \
	do {                                                                \
		lrpc_return_if_fail(rc, -EINVAL);                           \
		if ((rc)->closing)                                          \
			return -ENOTCONN;                                   \
	} while (0)

/* --- Call table ---------------------------------------------------------- */

static size_t
slot_of(const lrpc_rpc_client *rc, uint64_t id)
{
	return (size_t)((id * UINT64_C(0x9e3779b97f4a7c15)) >> 32) &
	       (rc->tab_cap - 1);
}

static pending *
tab_find(lrpc_rpc_client *rc, uint64_t id)
{
	if (!rc->tab_cap)
		return NULL;
	for (size_t i = slot_of(rc, id);; i = (i + 1) & (rc->tab_cap - 1)) {
		if (rc->tab[i].id == id)
			return &rc->tab[i];
		if (rc->tab[i].id == 0)
			return NULL;
	}
}

static int tab_insert(lrpc_rpc_client *rc, const pending *p);

static int
tab_grow(lrpc_rpc_client *rc)
{
	size_t cap = rc->tab_cap ? rc->tab_cap * 2 : 64;
	pending *old = rc->tab, *tab = calloc(cap, sizeof(*tab));
	size_t old_cap = rc->tab_cap;

	if (!tab)
		return -ENOMEM;
	rc->tab = tab;
	rc->tab_cap = cap;
	rc->n_pending = 0;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].id)
			(void)tab_insert(rc, &old[i]);
	free(old);
	return 0;
}

static int
tab_insert(lrpc_rpc_client *rc, const pending *p)
{
	if ((rc->n_pending + 1) * 2 > rc->tab_cap) {
		int r = tab_grow(rc);
		if (r < 0)
			return r;
	}
	size_t i = slot_of(rc, p->id);
	while (rc->tab[i].id)
		i = (i + 1) & (rc->tab_cap - 1);
	rc->tab[i] = *p;
	rc->n_pending++;
	return 0;
}

/* Remove by backward shifting, so lookups never need tombstones. */
static void
tab_remove(lrpc_rpc_client *rc, pending *p)
{
	size_t mask = rc->tab_cap - 1;
	size_t i = (size_t)(p - rc->tab), j = i;

	for (;;) {
		j = (j + 1) & mask;
		if (!rc->tab[j].id)
			break;
		size_t k = slot_of(rc, rc->tab[j].id);
		/* Move j into the hole at i unless its home k lies
		 * cyclically in (i, j]. */
		bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
		if (!stays) {
			rc->tab[i] = rc->tab[j];
			i = j;
		}
	}
	rc->tab[i].id = 0;
	rc->n_pending--;
}

static void
complete_call(lrpc_rpc_client *rc, const pending *p, int status,
	      const void *rep, const lrpc_rpc_error *err)
{
	if (p->complete)
		p->complete(rc, status, rep, err, p->fn, p->userdata);
}

/* Fail every pending async call with @status (each callback once). */
static void
fail_all(lrpc_rpc_client *rc, int status)
{
	lrpc_rpc_error err = { .code = status, .name = "lrpc.Errno" };

	for (size_t i = 0; i < rc->tab_cap; i++) {
		while (rc->tab && rc->tab[i].id) {
			pending p = rc->tab[i];
			tab_remove(rc, &rc->tab[i]);
			lrpc_arena_reset(&rc->arena);
			void *rep = NULL;
			if (p.method->reply &&
			    lrpc_arena_alloc(&rc->arena, p.method->reply->size,
					     16, &rep) < 0)
				rep = NULL;
			complete_call(rc, &p, status, rep, &err);
		}
	}
	lrpc_arena_reset(&rc->arena);
	for (waiter *w = rc->waiters; w; w = w->prev)
		if (!w->done) {
			w->done = true;
			w->status = status;
		}
}

/* --- Replies ------------------------------------------------------------- */

static const char *
error_name(const lrpc_rpc_method *m, int status)
{
	if (status > 0) {
		for (uint32_t i = 0; m && i < m->n_errors; i++)
			if (m->errors[i].value == status)
				return m->errors[i].name;
		return "lrpc.UnknownError";
	}
	return status == -EOPNOTSUPP ? "lrpc.NoSuchMethod" : "lrpc.Errno";
}

/*
 * Decode a REPLY or ERROR for @m into @rep (zeroed) / @err; returns the
 * call's status.
 */
static int
decode_reply(const lrpc__rpc_header *h, lrpc__rd *r,
	     const lrpc_rpc_method *m, void *rep, lrpc_arena *arena,
	     lrpc_rpc_error *err)
{
	int status;

	if (err) {
		memset(err, 0, sizeof(*err));
	}
	if (h->kind == LRPC__RPC_ERROR) {
		uint32_t len;
		status = h->status;
		if (status == 0 || status < -4095 || !lrpc__rd_u32(r, &len) ||
		    len > lrpc__rd_left(r) || len != lrpc__rd_left(r))
			status = -EBADMSG;
		else if (err) {
			size_t n = LRPC_MIN((size_t)len, sizeof(err->message) - 1);
			memcpy(err->message, r->p, n);
			err->message[n] = 0;
		}
	} else if (h->status != 0) {
		status = -EBADMSG;
	} else if (m->reply) {
		status = rep ? lrpc__rpc_decode(r, m->reply, rep, arena) : 0;
		if (status == 0 && rep && lrpc__rd_left(r) != 0)
			status = -EBADMSG;
		if (status < 0 && rep)
			memset(rep, 0, m->reply->size);
	} else {
		status = 0;
	}
	if (err) {
		err->code = status;
		err->name = status ? error_name(m, status) : NULL;
	}
	return status;
}

/* A message from the response channel, from a sync wait or dispatch. */
static void
on_response(lrpc_rpc_client *rc, const lrpc_msg_header *msg, size_t size)
{
	lrpc__rd r = { .p = (const uint8_t *)msg + sizeof(*msg),
		       .end = (const uint8_t *)msg + size };
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
		if (w->done || w->id != h.call_id)
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
			return;
		}
		if (h.kind != LRPC__RPC_REPLY && h.kind != LRPC__RPC_ERROR) {
			w->status = -EBADMSG;
			return;
		}
		w->status = decode_reply(&h, &r, w->method, w->rep, w->arena,
					 w->error);
		return;
	}
	if (h.kind != LRPC__RPC_REPLY && h.kind != LRPC__RPC_ERROR)
		return;
	pending *pp = tab_find(rc, h.call_id);
	if (!pp) {
		/* A late reply: its call timed out or was cancelled. */
		return;
	}
	pending p = *pp;
	lrpc_rpc_error err;
	void *rep = NULL;
	int status;

	tab_remove(rc, pp);
	lrpc_arena_reset(&rc->arena);
	if (p.method->reply) {
		status = lrpc_arena_alloc(&rc->arena, p.method->reply->size,
					  16, &rep);
		if (status < 0)
			rep = NULL;
	}
	status = decode_reply(&h, &r, p.method, rep, &rc->arena, &err);
	complete_call(rc, &p, status, rep, &err);
	lrpc_arena_reset(&rc->arena);
}

static void
on_response_cb(lrpc_client *c, const lrpc_msg_header *msg, size_t size,
	       void *userdata)
{
	on_response(userdata, msg, size);
}

static iface_state *
iface_find(lrpc_rpc_client *rc, uint32_t id)
{
	for (size_t i = 0; i < rc->n_ifaces; i++)
		if (rc->ifaces[i].iface->id == id)
			return &rc->ifaces[i];
	return NULL;
}

static iface_state *
iface_get(lrpc_rpc_client *rc, const lrpc_rpc_interface *iface)
{
	iface_state *st = iface_find(rc, iface->id);

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

static void
on_event_cb(lrpc_client *c, const lrpc_msg_header *msg, size_t size,
	    void *userdata)
{
	lrpc_rpc_client *rc = userdata;
	lrpc__rd r = { .p = (const uint8_t *)msg + sizeof(*msg),
		       .end = (const uint8_t *)msg + size };
	lrpc__rpc_header h;
	iface_state *st = iface_find(rc, (uint32_t)msg->id);

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
	if (lrpc__rpc_decode(&r, m->request, args, &rc->arena) < 0 ||
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
	fail_all(userdata, -ENOTCONN);
}

/* --- Object -------------------------------------------------------------- */

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
	rc->timeout_usec = LRPC_RPC_DEFAULT_TIMEOUT_USEC;
	rc->c = lrpc_client_ref(c);
	lrpc_arena_init(&rc->arena, rc->arena_buf, sizeof(rc->arena_buf),
			LRPC_ARENA_UNLIMITED);
	lrpc_client_set_response_handler(c, on_response_cb, rc);
	lrpc_client_set_event_handler(c, on_event_cb, rc);
	lrpc_client_set_closed_handler(c, on_closed_cb, rc);
	*ret = rc;
	return 0;
}

static void
rpc_client_free(lrpc_rpc_client *rc)
{
	rc->closing = true;
	fail_all(rc, -ECANCELED);
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

LRPC_EXPORT size_t
lrpc_rpc_client_get_n_pending(lrpc_rpc_client *rc)
{
	return rc ? rc->n_pending : 0;
}

LRPC_EXPORT int
lrpc_rpc_client_set_poll(lrpc_rpc_client *rc, const lrpc_poll_ops *ops,
			 void *loop_data)
{
	RPC_CHECK(rc);
	return lrpc_client_set_poll(rc->c, ops, loop_data);
}

LRPC_EXPORT int
lrpc_rpc_client_attach_loop(lrpc_rpc_client *rc, lrpc_loop *loop)
{
	RPC_CHECK(rc);
	return lrpc_client_attach_loop(rc->c, loop);
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
	RPC_CHECK(rc);
	return lrpc_client_get_timeout(rc->c, ret_usec);
}

LRPC_EXPORT int
lrpc_rpc_client_process(lrpc_rpc_client *rc)
{
	int r;

	RPC_CHECK(rc);
	r = lrpc_client_process(rc->c);
	if (r == -ENOTCONN)
		fail_all(rc, -ENOTCONN);
	return r;
}

LRPC_EXPORT int
lrpc_rpc_client_run_once(lrpc_rpc_client *rc, uint64_t timeout_usec)
{
	struct pollfd p;
	int r;

	RPC_CHECK(rc);
	/* Messages already buffered in the transport do not make the fd
	 * readable: deliver those first. */
	r = lrpc_rpc_client_process(rc);
	if (r != 0)
		return r;
	p = (struct pollfd){ .fd = lrpc_client_get_fd(rc->c),
			     .events = POLLIN };
	if (p.fd < 0)
		return p.fd;
	r = poll(&p, 1, lrpc__timeout_poll_ms(timeout_usec));
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (r == 0)
		return 0;
	r = lrpc_rpc_client_process(rc);
	/* Readable but nothing delivered: on transports whose data does not
	 * travel on the main socket, that may be the server hanging up. */
	if (r == 0 && !lrpc_client_is_connected(rc->c)) {
		fail_all(rc, -ENOTCONN);
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
	st = iface_get(rc, table->iface);
	if (!st)
		return -ENOMEM;
	st->listener = listener ? table : NULL;
	st->listener_obj = listener;
	st->listener_data = userdata;
	return 0;
}

/* --- Calls --------------------------------------------------------------- */

static uint64_t
deadline_of(lrpc_rpc_client *rc, uint64_t timeout_usec)
{
	return lrpc__deadline_from_usec(timeout_usec, rc->timeout_usec);
}

/* Receive and handle responses until @w is done or the deadline passes. */
static int
wait_for(lrpc_rpc_client *rc, waiter *w, uint64_t deadline)
{
	int n = 0;

	w->prev = rc->waiters;
	rc->waiters = w;
	while (!w->done) {
		uint64_t left = lrpc__deadline_left_usec(deadline);
		size_t size = 0;
		if (left == 0) {
			n = -ETIMEDOUT;
			break;
		}
		if (!rc->rbuf) {
			rc->rcap = 64 * 1024;
			rc->rbuf = malloc(rc->rcap);
			if (!rc->rbuf) {
				n = -ENOMEM;
				break;
			}
		}
		n = lrpc_client_recv(rc->c, rc->rbuf, rc->rcap, left, &size);
		if (n == -EMSGSIZE && rc->rcap < lrpc_client_get_max_msg_size(rc->c)) {
			size_t cap = lrpc_client_get_max_msg_size(rc->c);
			uint8_t *b = realloc(rc->rbuf, cap);
			if (!b) {
				n = -ENOMEM;
				break;
			}
			rc->rbuf = b;
			rc->rcap = cap;
			continue;
		}
		if (n == -EAGAIN)
			n = -ETIMEDOUT;
		if (n < 0)
			break;
		on_response(rc, (const lrpc_msg_header *)rc->rbuf, size);
	}
	rc->waiters = w->prev;
	if (w->done)
		return 0;
	if (n == -ENOTCONN)
		fail_all(rc, -ENOTCONN);
	return n;
}

static int
send_msg(lrpc_rpc_client *rc, const lrpc_rpc_interface *iface,
	 const lrpc__rpc_header *h, const lrpc_rpc_type *type,
	 const void *value)
{
	uint32_t max = lrpc_client_get_max_msg_size(rc->c);
	int n, r;

	n = lrpc__rpc_build(&rc->sbuf, iface->id, h, type, value, NULL,
			    max ? max : 1);
	if (n < 0)
		return max ? n : -ENOTCONN;
	r = lrpc_client_send(rc->c, rc->sbuf.data, (size_t)n);
	if (r == -ENOTCONN)
		fail_all(rc, -ENOTCONN);
	return r;
}

static int
negotiate(lrpc_rpc_client *rc, const lrpc_rpc_interface *iface,
	  uint64_t deadline, iface_state **ret)
{
	iface_state *st;
	int r;

	if (!lrpc__rpc_interface_valid(iface))
		return -EINVAL;
	st = iface_get(rc, iface);
	if (!st)
		return -ENOMEM;
	if (st->common) {
		*ret = st;
		return st->common;
	}
	lrpc__rpc_header h = {
		.call_id = ++rc->next_call_id,
		.kind = LRPC__RPC_HELLO,
		.version = iface->version,
		.hash = iface->hashes[iface->version - 1],
	};
	r = send_msg(rc, iface, &h, NULL, NULL);
	if (r < 0)
		return r;
	waiter w = { .id = h.call_id, .iface_id = iface->id, .hello = true };
	r = wait_for(rc, &w, deadline);
	if (r < 0)
		return r;
	if (w.status < 0)
		return w.status;
	if (w.status > 0 || w.reply.version == 0)
		return -EPROTO;
	unsigned common = LRPC_MIN(w.reply.version, iface->version);
	/* Both know the canonical hash at the lower version: equal hashes
	 * mean the same IDL up to there. */
	if (iface->hashes[common - 1] != w.reply.hash)
		return -EPROTO;
	/* iface_get may have moved the array during the wait. */
	st = iface_find(rc, iface->id);
	st->common = (uint16_t)common;
	*ret = st;
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

static int
prepare_call(lrpc_rpc_client *rc, const lrpc_rpc_interface *iface,
	     const lrpc_rpc_method *method, uint64_t deadline)
{
	iface_state *st;
	int r;

	r = negotiate(rc, iface, deadline, &st);
	if (r < 0)
		return r;
	if (method < iface->methods ||
	    method >= iface->methods + iface->n_methods ||
	    method->kind == LRPC_RPC_EVENT)
		return -EINVAL;
	if (method->since > st->common)
		return -EPROTONOSUPPORT;
	return 0;
}

static void
set_error(lrpc_rpc_error *err, const lrpc_rpc_method *m, int status)
{
	if (!err)
		return;
	memset(err, 0, sizeof(*err));
	err->code = status;
	err->name = status ? error_name(m, status) : NULL;
}

LRPC_EXPORT int
lrpc_rpc_client_call(lrpc_rpc_client *rc, const lrpc_rpc_interface *iface,
		     const lrpc_rpc_method *method, const void *req, void *rep,
		     lrpc_arena *arena, uint64_t timeout_usec,
		     lrpc_rpc_error *ret_error)
{
	uint64_t deadline;
	int r;

	RPC_CHECK(rc);
	lrpc_return_if_fail(iface && method && req, -EINVAL);
	lrpc_return_if_fail(method->kind == LRPC_RPC_CALL, -EINVAL);
	if (rep)
		memset(rep, 0, method->reply->size);
	deadline = deadline_of(rc, timeout_usec);
	r = prepare_call(rc, iface, method, deadline);
	if (r < 0)
		goto fail;
	lrpc__rpc_header h = {
		.call_id = ++rc->next_call_id,
		.method = method->ordinal,
		.kind = LRPC__RPC_REQUEST,
		.version = iface->version,
	};
	r = send_msg(rc, iface, &h, method->request, req);
	if (r < 0)
		goto fail;
	waiter w = { .id = h.call_id, .method = method, .rep = rep,
		     .arena = arena, .error = ret_error };
	r = wait_for(rc, &w, deadline);
	if (r < 0)
		goto fail;
	/* decode_reply filled ret_error. */
	return w.status;
fail:
	set_error(ret_error, method, r);
	return r;
}

LRPC_EXPORT int
lrpc_rpc_client_call_async(lrpc_rpc_client *rc, const lrpc_rpc_interface *iface,
			   const lrpc_rpc_method *method, const void *req,
			   lrpc_rpc_complete_fn complete, void (*fn)(void),
			   void *userdata, uint64_t *ret_call_id)
{
	int r;

	RPC_CHECK(rc);
	lrpc_return_if_fail(iface && method && req, -EINVAL);
	lrpc_return_if_fail(method->kind == LRPC_RPC_ONEWAY ||
				    (method->kind == LRPC_RPC_CALL && complete),
			    -EINVAL);
	r = prepare_call(rc, iface, method,
			 deadline_of(rc, LRPC_TIMEOUT_DEFAULT));
	if (r < 0)
		return r;
	lrpc__rpc_header h = {
		.call_id = ++rc->next_call_id,
		.method = method->ordinal,
		.kind = method->kind == LRPC_RPC_CALL ? LRPC__RPC_REQUEST
						      : LRPC__RPC_ONEWAY,
		.version = iface->version,
	};
	if (method->kind == LRPC_RPC_CALL) {
		/* Make room first, so that a send is never followed by a
		 * failure to remember it. */
		if ((rc->n_pending + 1) * 2 > rc->tab_cap) {
			r = tab_grow(rc);
			if (r < 0)
				return r;
		}
	}
	r = send_msg(rc, iface, &h, method->request, req);
	if (r < 0)
		return r;
	if (method->kind == LRPC_RPC_CALL) {
		pending p = { .id = h.call_id, .method = method,
			      .complete = complete, .fn = fn,
			      .userdata = userdata };
		r = tab_insert(rc, &p);
		assert(r == 0);
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
	p = tab_find(rc, call_id);
	if (!p)
		return -ENOENT;
	tab_remove(rc, p);
	return 0;
}
