/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The RPC server's state, shared by its files:
 *
 *   rpc-server.c  serving an interface: dispatch, negotiation, cancels
 *   rpc-call.c    a call being served: answers now or later, abandon
 *   rpc-emit.c    events to one connection or all
 *   rpc-introspect.c  the built-in lrpc.Service and the call statistics
 *   rpc-tap.c     lrpc.Service.tap: copies of every message to monitors
 */
#ifndef LRPC_RPC_SERVER_INTERNAL_H
#define LRPC_RPC_SERVER_INTERNAL_H

#include "ipc/ipc-seam.h"
#include "rpc-hello.h"
#include "rpc-internal.h"
#include "util.h"

typedef struct rpc_peer {
	struct rpc_peer *next;
	lrpc_conn *conn; /* no reference: removed by the close hook */
	uint16_t version;
	/* A hello refused for a different interface at this version: the
	 * client may send its form once, to name the difference in our
	 * log (0: nothing expected). */
	uint16_t diff_version;
	struct rpc_service *svc;
	/*
	 * Deferred calls of this connection, hashed by call id for cancels
	 * (chains through peer_prev/peer_next): @n_buckets, a power of two,
	 * grows with them; the first buckets are inline, so that a call can
	 * always be listed.  The key keeps a client from aiming its call ids
	 * at one chain; max_deferred_calls bounds a chain anyway.
	 */
	struct lrpc_rpc_call **buckets;
	uint32_t n_buckets;
	uint32_t n_deferred;
	uint64_t hash_key;
	struct lrpc_rpc_call *inline_buckets[8];
	/* Cancels for a call id that is not deferred here: ignored. */
	uint64_t stray_cancels;
	/* Credit for a call id that is no stream of this connection, or
	 * malformed: ignored. */
	uint64_t stray_credits;
} rpc_peer;

/* Latency buckets of the statistics (lrpc.HISTOGRAM_BUCKETS). */
#define RPC_STATS_BUCKETS 24
/* Distinct error statuses counted per method; the rest go in "other". */
#define RPC_STATS_STATUSES 8

/* Counters of one method, read by lrpc.Service.stats. */
typedef struct rpc_method_stats {
	uint64_t calls;
	uint64_t errors;
	uint64_t bytes_in;
	uint64_t bytes_out;
	int32_t status[RPC_STATS_STATUSES]; /* 0: free slot */
	uint64_t by_status[RPC_STATS_STATUSES];
	uint64_t other_errors;
	uint64_t latency[RPC_STATS_BUCKETS];
} rpc_method_stats;

/* Group names of one method's policy, resolved; -1: unknown here. */
typedef struct rpc_group_gids {
	uint32_t n;
	gid_t *gids;
} rpc_group_gids;

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
	/* Per method (by index), when the built-in lrpc.Service serves
	 * this server (NULL otherwise: nobody could read them). */
	rpc_method_stats *stats;
	/* Size of the last message lrpc__rpcs_svc_send() committed. */
	size_t sent;
	/* Calls refused by the IDL's @access or the access hook. */
	uint64_t access_denied;
	/* Per method (by index), the gids of the groups its policy names,
	 * resolved when the interface was added (rpc-access.c); NULL when
	 * no policy names a group. */
	rpc_group_gids *group_gids;
	lrpc_rpc_access_fn access_fn;
	void *access_data;
	/* The next interface of the same server, for lrpc.Service. */
	struct rpc_service *intro_next;
	uint8_t arena_buf[4096];
} rpc_service;

struct lrpc_rpc_call {
	lrpc_rpc_call *next; /* free list */
	rpc_service *svc;    /* strong reference */
	lrpc_conn *conn;     /* strong reference while deferred; NULL once the
			      * client went away */
	const lrpc_rpc_method *method;
	uint64_t call_id;
	uint64_t deadline; /* the caller's, monotonic µs; UINT64_MAX: none */
	uint64_t start;    /* arrival, monotonic µs (statistics only) */
	rpc_peer *peer;    /* while deferred and listed there */
	lrpc_rpc_call *peer_prev, *peer_next;
	uint16_t peer_version;
	int abandoned;     /* 0, -ECANCELED or -ENOTCONN */
	bool in_handler;
	bool counted;      /* in its connection's deferred count */
	bool deferred;
	bool replied;
	/* A call of a STREAM method: @credit items may be sent now; a send
	 * that found none sets @want_writable, and the next credit runs
	 * @writable. */
	bool stream;
	bool want_writable;
	uint32_t credit;
	lrpc_rpc_stream_writable_fn writable;
	void *writable_data;
	lrpc_rpc_abandon_fn abandon;
	void *abandon_data;
	char message[128];
};

#define MAX_FREE_CALLS 64

/* rpc-server.c */
rpc_service *lrpc__rpcs_svc_ref(rpc_service *svc);
rpc_service *lrpc__rpcs_svc_unref(rpc_service *svc);
/* The core handler of a served interface (selector entry). */
int lrpc__rpcs_svc_handle(lrpc_conn *conn, const lrpc_msg_header *msg,
			  size_t size, void *userdata);
/* The service serving @iface on @s, or NULL. */
rpc_service *lrpc__rpcs_svc_lookup(lrpc_server *s,
				   const lrpc_rpc_interface *iface);
/* The negotiated state of @conn for @svc, or NULL before its hello. */
rpc_peer *lrpc__rpcs_peer_find(rpc_service *svc, lrpc_conn *conn);
/*
 * Build and send one message (a response, or with @event an event) for a
 * peer at version @peer (0: not known).
 */
/* The handler behind lrpc__rpcs_svc_handle(), given the request's fds
 * (NULL: none), taken from the core (rpc-fds.c). */
int lrpc__rpcs_svc_handle_msg(lrpc_conn *conn, const lrpc_msg_header *msg,
			      size_t size, rpc_service *svc,
			      lrpc__rd_fds *fds);
/* lrpc__rpcs_svc_send() of a message with fds: from a private copy. */
int lrpc__rpcs_send_fds(rpc_service *svc, lrpc_conn *conn, bool event,
			const lrpc__rpc_header *h, unsigned peer,
			const lrpc_rpc_type *type, const void *value,
			const char *message, void *small, size_t small_cap,
			size_t size, const lrpc__rpc_fds *fds);
int lrpc__rpcs_svc_send(rpc_service *svc, lrpc_conn *conn, bool event,
			const lrpc__rpc_header *h, unsigned peer,
			const lrpc_rpc_type *type,
			const void *value, const char *message);
/*
 * The IDL's @access for @m and the caller on @conn (rpc-access.c): false
 * if the call may go on; true if it was refused (-EPERM answered, or a
 * oneway dropped) and counted.
 */
bool lrpc__rpcs_access_refused(rpc_service *svc, lrpc_conn *conn,
			       const lrpc_rpc_method *m,
			       const lrpc__rpc_header *h, bool oneway);
/* A cancel from the client on @conn (rpc-call.c). */
void lrpc__rpcs_handle_cancel(rpc_service *svc, lrpc_conn *conn,
			      const lrpc__rpc_header *h);
/* Resolve the group names of @svc's policies (at add; 0 or -ENOMEM). */
int lrpc__rpcs_access_setup(rpc_service *svc);
void lrpc__rpcs_access_done(rpc_service *svc);
/* While a handler or access hook runs on this thread: its caller. */
const lrpc_peer *lrpc__rpcs_caller_enter(const lrpc_peer *peer);
void lrpc__rpcs_caller_leave(const lrpc_peer *saved);
/* An error reply with @status and an optional @message. */
int lrpc__rpcs_send_status(rpc_service *svc, lrpc_conn *conn,
			   uint64_t call_id, uint16_t method, int status,
			   const char *message);

/* rpc-introspect.c */
/*
 * @svc was added to its server: serve lrpc.Service there too (unless the
 * server's flags say not to) and count @svc's calls for it.
 */
int lrpc__rpcs_introspect_add(rpc_service *svc);
/* A request of method @m of @size bytes arrived for @call. */
static inline void
lrpc__rpcs_stats_request(rpc_service *svc, lrpc_rpc_call *call,
			 const lrpc_rpc_method *m, size_t size)
{
	if (svc->stats) {
		rpc_method_stats *st = &svc->stats[m - svc->table->iface->methods];
		st->calls++;
		st->bytes_in += size;
		call->start = lrpc__now_usec();
	}
}
/* @call was answered with @status; sending it returned @r. */
void lrpc__rpcs_stats_answer(lrpc_rpc_call *call, int status, int r);

/* rpc-tap.c */
typedef struct rpc_tap rpc_tap;
/*
 * Make @conn a monitor of its server (creating *@tapp at the first),
 * copying up to @want bytes of each message (0: what fits); *ret_snap is
 * the size granted.  @builtin is lrpc.Service, which sends the events.
 * Returns 0 or -ENOMEM.
 */
int lrpc__rpcs_tap_add(rpc_tap **tapp, rpc_service *builtin, lrpc_conn *conn,
		       uint32_t want, uint32_t *ret_snap);
/* The server is being freed (every connection is gone). */
void lrpc__rpcs_tap_free(rpc_tap *tap);

/* rpc-stream.c */
/* The initial credit a stream request asks for (its header's reserved). */
uint32_t lrpc__rpcs_stream_window(uint16_t asked);
/* A CREDIT message from the client of @conn. */
void lrpc__rpcs_stream_credit(rpc_service *svc, lrpc_conn *conn,
			      const lrpc__rpc_header *h, size_t payload);

/* rpc-call.c */
void lrpc__rpcs_call_free(lrpc_rpc_call *call);
/* Answer @call once (a stream: its end or failure) and free it unless
 * its handler runs; -EALREADY when answered before. */
int lrpc__rpcs_call_finish(lrpc_rpc_call *call, int status);
/* Send the answer: results @rep when @status is 0, else an error. */
int lrpc__rpcs_call_answer(lrpc_rpc_call *call, int status, const void *rep);
/* A deferred call on / off its connection's table (for cancels). */
void lrpc__rpcs_call_list(lrpc_rpc_call *call, rpc_peer *p);
void lrpc__rpcs_call_unlist(lrpc_rpc_call *call);
/* The deferred call @call_id of @p, or NULL. */
lrpc_rpc_call *lrpc__rpcs_call_find(rpc_peer *p, uint64_t call_id);
/* Leave its connection's count of calls that may be answered later. */
void lrpc__rpcs_call_uncount(lrpc_rpc_call *call);
/* Nobody waits for the answer any more (-ECANCELED, -ENOTCONN). */
void lrpc__rpcs_call_abandon(lrpc_rpc_call *call, int reason);
/* A deferred call's connection is closing. */
void lrpc__rpcs_call_on_close(lrpc_rpc_call *call);

#endif
