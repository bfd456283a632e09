/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The RPC client's state, shared by its files:
 *
 *   rpc-client.c        the object, loop integration, replies and events
 *   rpc-client-table.c  the table of async calls in flight
 *   rpc-client-call.c   sending calls, waiting for replies, negotiation
 */
#ifndef LRPC_RPC_CLIENT_INTERNAL_H
#define LRPC_RPC_CLIENT_INTERNAL_H

#include "ipc/ipc-seam.h"
#include "rpc-hello.h"
#include "rpc-internal.h"
#include "util.h"

/* A stream's state on the client (rpc-client-stream.c). */
typedef struct rpc_cstream {
	lrpc_rpc_item_fn item;
	void (*item_fn)(void);
	uint32_t window;
	uint32_t outstanding; /* granted, not arrived yet */
	uint32_t consumed;    /* handed over, not granted again yet */
	bool unsent;          /* a credit could not be sent: try again */
	bool manual;          /* items consumed by stream_consume() only */
	uint32_t held;        /* manual: delivered, not consumed yet */
	lrpc_rpc_iter *iter;  /* NULL: async (this state is malloc'd) */
} rpc_cstream;

typedef struct pending {
	uint64_t id; /* 0: empty slot */
	uint64_t deadline; /* monotonic µs; UINT64_MAX: none */
	const lrpc_rpc_interface *iface;
	const lrpc_rpc_method *method;
	lrpc_rpc_complete_fn complete;
	void (*fn)(void);
	void *userdata;
	rpc_cstream *stream; /* a call of a STREAM method, else NULL */
} pending;

typedef struct iface_state {
	const lrpc_rpc_interface *iface;
	uint16_t common; /* version both speak; 0: not negotiated */
	/* -EPROTO once the server's interface proved to differ: every call
	 * fails at once with @refusal (the first difference) as its
	 * message; the IDL of a running peer does not change. */
	int refused;
	char refusal[128];
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
	/* Waiting for the next item or end of an iterator (@id is its call
	 * id: its items are handled where they lie). */
	lrpc_rpc_iter *iter;
	int status;
	const lrpc_rpc_method *method;
	void *rep;
	lrpc_arena *arena;
	lrpc_rpc_error *error;
	lrpc__rpc_header reply; /* hello: the server's answer */
	char *form;             /* hello refused: the server's form (malloc) */
} waiter;

struct lrpc_rpc_client {
	unsigned n_ref;
	lrpc_client *c;
	bool closing;
	uint64_t next_call_id;
	uint32_t stream_window; /* of the streams opened from now on */
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
	/* Deadlines of async calls: the earliest one (possibly stale: a
	 * call that completed may have had it), and the loop's timer for it
	 * when the RPC client was attached with lrpc_rpc_client_set_poll(). */
	uint64_t next_deadline;
	const lrpc_poll_ops *pops;
	void *loop_data;
	void *timer;
	uint64_t timer_at;
	/* Borrowed replies (lrpc_rpc_client_set_borrow_bytes()): the view
	 * the last sync reply's `bytes` point into, kept until released. */
	bool borrow_bytes;
	bool decode_borrow; /* the response being decoded may lend bytes */
	const lrpc_msg_header *held;
	/* While the iterator waiting innermost gets a message in place: the
	 * view, and whether its queue kept it (then it releases it). */
	const lrpc_msg_header *lend_view;
	lrpc_rpc_iter *lend_iter;
	bool lend_taken;
	lrpc_rpc_client_closed_fn closed_fn;
	void *closed_data;
	/* Reconnect (rpc-client-reconnect.c): the policy, and while one is
	 * under way its deadline, next backoff, timer and connecting
	 * client. */
	bool rec_on;
	bool rec_active;
	lrpc_rpc_reconnect_opts rec;
	uint64_t rec_deadline;
	uint64_t rec_backoff;
	void *rec_timer;
	lrpc_client *rec_c;
	lrpc_arena arena; /* async replies and events */
	uint8_t arena_buf[2048];
};

#define RPC_CHECK(rc)                                                       \
	do {                                                                \
		lrpc_return_if_fail(rc, -EINVAL);                           \
		if ((rc)->closing)                                          \
			return -ENOTCONN;                                   \
	} while (0)

/* rpc-client-table.c: the calls in flight, by id. */
pending *lrpc__rpcc_tab_find(lrpc_rpc_client *rc, uint64_t id);
/* Insert @p (its id not yet in the table); -ENOMEM. */
int lrpc__rpcc_tab_insert(lrpc_rpc_client *rc, const pending *p);
int lrpc__rpcc_tab_grow(lrpc_rpc_client *rc);
void lrpc__rpcc_tab_remove(lrpc_rpc_client *rc, pending *p);

/* rpc-client-call.c */
/* Negotiate @iface and check @method for a call; the common version. */
int lrpc__rpcc_prepare_call(lrpc_rpc_client *rc,
			    const lrpc_rpc_interface *iface,
			    const lrpc_rpc_method *method, uint64_t deadline,
			    lrpc_rpc_error *ret_error);
/* Build and send one message; on failure @ret_error says why. */
int lrpc__rpcc_send_msg(lrpc_rpc_client *rc, const lrpc_rpc_interface *iface,
			const lrpc__rpc_header *h, unsigned peer,
			const lrpc_rpc_type *type, const void *value,
			lrpc_rpc_error *ret_error);
/* Deliver responses until @w is done or @deadline passes. */
int lrpc__rpcc_wait(lrpc_rpc_client *rc, waiter *w, uint64_t deadline);
/* Give back the reply view held for borrowed bytes, if any. */
void lrpc__rpcc_release_held(lrpc_rpc_client *rc);
/* Tell the server to stop working on @p's call (best effort). */
void lrpc__rpcc_send_cancel(lrpc_rpc_client *rc, const pending *p);

/* rpc-client.c */
/* Complete the async calls whose deadline passed with -ETIMEDOUT (and
 * cancel them on the server); then arm the loop's timer for the next. */
void lrpc__rpcc_expire(lrpc_rpc_client *rc);
/* Remember @deadline of a new async call (and arm the timer for it). */
void lrpc__rpcc_note_deadline(lrpc_rpc_client *rc, uint64_t deadline);
/* Fail every pending async call with @status (each callback once). */
void lrpc__rpcc_fail_all(lrpc_rpc_client *rc, int status);
/* The lrpc_rpc_error name of @status for a call of @m. */
const char *lrpc__rpcc_error_name(const lrpc_rpc_method *m, int status);
/* Decode a reply's results or error into @rep / @err. */
int lrpc__rpcc_decode_reply(const lrpc__rpc_header *h, lrpc__rd *r,
			    const lrpc_rpc_method *m, void *rep,
			    lrpc_arena *arena, lrpc_rpc_error *err);
/* A response arrived: complete its async call or the waiter for it. */
void lrpc__rpcc_on_response(lrpc_rpc_client *rc, const lrpc_msg_header *msg,
			    size_t size, lrpc__rd_fds *fds);
/*
 * Take the fds of @msg (a view, or the message a callback was given) from
 * the core into @fds (storage @fdv); NULL when it has none.
 */
lrpc__rd_fds *lrpc__rpcc_take_fds(lrpc_rpc_client *rc,
				  const lrpc_msg_header *msg, int *fdv,
				  lrpc__rd_fds *fds);
/* Send a message with fds, from a private copy (rpc-fds.c). */
int lrpc__rpcc_send_fds(lrpc_rpc_client *rc, const lrpc_rpc_interface *iface,
			const lrpc__rpc_header *h, unsigned peer,
			const lrpc_rpc_type *type, const void *value,
			void *small, size_t small_cap, size_t size,
			const lrpc__rpc_fds *fds);
/* After the decode: close the fds it did not use; any such fd breaks the
 * protocol and ends the connection. */
void lrpc__rpcc_fds_done(lrpc_rpc_client *rc, lrpc__rd_fds *fds);
/* The state of interface @id, NULL if unknown; _get adds it. */
iface_state *lrpc__rpcc_iface_find(lrpc_rpc_client *rc, uint32_t id);
iface_state *lrpc__rpcc_iface_get(lrpc_rpc_client *rc,
				  const lrpc_rpc_interface *iface);
/* Complete @p (already out of the table) with the error @status. */
void lrpc__rpcc_fail_one(lrpc_rpc_client *rc, const pending *p, int status);

/* Point the wrapped client's handlers at @rc. */
void lrpc__rpcc_set_handlers(lrpc_rpc_client *rc);

/* rpc-client-stream.c */
/* An ITEM, END or ERROR for the stream @pp. */
void lrpc__rpcc_stream_on_message(lrpc_rpc_client *rc, pending *pp,
				  const lrpc__rpc_header *h, lrpc__rd *r);
/* End the stream of @p (already out of the table) with @status. */
void lrpc__rpcc_stream_fail(lrpc_rpc_client *rc, const pending *p,
			    int status, const lrpc_rpc_error *err);

/* rpc-client-reconnect.c */
/* The connection ended with @reason: reconnect if the policy says so. */
void lrpc__rpcc_reconnect_start(lrpc_rpc_client *rc, int reason);
/* Stop a reconnect under way (timer, connecting client). */
void lrpc__rpcc_reconnect_stop(lrpc_rpc_client *rc);

/* rpc-client-deadline.c */
/* Arm the loop's timer for the earliest deadline (push style only). */
void lrpc__rpcc_rpc_timer_arm(lrpc_rpc_client *rc);

#endif
