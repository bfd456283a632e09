/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc/server.h - serving a named lrpc service.
 *
 * A server listens on a name, authenticates each new connection in the
 * accept callback, and routes every request to a handler through its
 * selector.  Per connection there is a synchronous channel (requests and
 * their responses, in order) and an asynchronous event channel (server to
 * client).
 *
 * Threading: a server and its connections belong to the thread that drives
 * its loop.  No call may be made on them from another thread.  Objects record
 * the pid that created them; calls from a forked child return -ECHILD.
 */
#ifndef LRPC_SERVER_H
#define LRPC_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <lrpc/loop.h>
#include <lrpc/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lrpc_server lrpc_server;
/** One accepted client connection of a server. */
typedef struct lrpc_conn lrpc_conn;

/** Server flags (lrpc_server_opts.flags). */
typedef enum lrpc_server_flags {
	/** Refuse (-EPERM) every peer whose uid is not 0. */
	LRPC_SERVER_ROOT_ONLY = 1 << 0,
	/**
	 * Refuse (-EPERM) every peer whose uid differs from the server's,
	 * and every peer whose uid is the overflow uid (an id not mapped
	 * into the server's user namespace; "nobody", 65534, by default).
	 */
	LRPC_SERVER_SAME_UID = 1 << 1,
	/**
	 * Always bind a socket of our own.  Without this flag,
	 * lrpc_server_start() first looks for a listening socket a service
	 * manager passed to the process (systemd socket activation:
	 * LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES) that is bound to the
	 * service's abstract or filesystem address or named after the
	 * service, and serves that one (docs/api.md, "Socket activation").
	 */
	LRPC_SERVER_NO_ACTIVATION = 1 << 2,
	/**
	 * Do not serve the built-in interface lrpc.Service (ping, info,
	 * describe, stats; idl/lrpc-service.idl, docs/tools.md) that every
	 * server with an RPC interface answers otherwise: its calls then
	 * get "no such interface" (-EOPNOTSUPP on the client).
	 */
	LRPC_SERVER_NO_INTROSPECTION = 1 << 3,
	/**
	 * Answer lrpc.Service.describe and .stats only to peers with the
	 * server's uid or uid 0; others get -EPERM (ping and info stay
	 * open to every accepted peer).
	 */
	LRPC_SERVER_INTROSPECTION_SAME_UID = 1 << 4,
} lrpc_server_flags;

/**
 * Per-service callbacks.  Every member may be NULL; a NULL accept accepts
 * every peer the built-in policy (flags and limits) lets through.
 */
typedef struct lrpc_server_callbacks {
	/**
	 * Set to sizeof(lrpc_server_callbacks).  The struct grows at its
	 * end in later versions: a smaller one (from an older header) gets
	 * defaults for what it lacks; a larger one is refused with -E2BIG
	 * unless every member this library does not know is 0.
	 */
	size_t struct_size;
	/**
	 * A peer finished the handshake.  @peer holds the credentials the
	 * kernel recorded when it connected, as seen from the server's user
	 * namespace: ids not mapped there show as the overflow uid and gid
	 * (65534 by default), which are nobody's.  Return 0 to accept or a
	 * negative errno to refuse; that errno is what the client's connect
	 * returns.  Nothing is allocated for a refused peer and no other
	 * callback runs for it.
	 */
	int (*accept)(lrpc_server *s, const lrpc_peer *peer, void *userdata);
	/**
	 * An accepted connection is ready: the client's connect has
	 * succeeded.  Events may be sent from here.
	 */
	void (*created)(lrpc_conn *c, void *userdata);
	/**
	 * The connection is closing (the peer went away, lrpc_conn_close()
	 * or the server was closed).  Runs once, and only if created ran.
	 * Return non-zero to be called again a little later (the connection is
	 * kept until this returns 0); nothing can be sent any more.
	 */
	int (*closed)(lrpc_conn *c, void *userdata);
	/**
	 * The connection is about to be freed.  Runs exactly once for every
	 * accepted connection, also when created never ran, after the last
	 * reference is gone.  The connection's user context is still readable.
	 */
	void (*destroyed)(lrpc_conn *c, void *userdata);
} lrpc_server_callbacks;

/** Options for lrpc_server_new(); NULL means all defaults. */
typedef struct lrpc_server_opts {
	/**
	 * Set to sizeof(lrpc_server_opts).  The struct grows at its
	 * end in later versions: a smaller one (from an older header) gets
	 * defaults for what it lacks; a larger one is refused with -E2BIG
	 * unless every member this library does not know is 0.
	 */
	size_t struct_size;
	/** Transport offered; LRPC_TRANSPORT_BEST (0) picks the fastest. */
	lrpc_transport transport;
	/** lrpc_server_flags. */
	uint32_t flags;
	/**
	 * Negotiated message size floor and ceiling (bytes, header included).
	 * A client asking for less gets the floor, more gets the ceiling.
	 * 0: defaults (floor 4 KiB, ceiling LRPC_DEFAULT_MAX_MSG_SIZE * 64).
	 */
	uint32_t min_msg_size;
	uint32_t max_msg_size;
	/** Most accepted connections at once; 0: 1024.  Refused with -EBUSY. */
	uint32_t max_connections;
	/** Most accepted connections per peer uid; 0: no limit.  -EUSERS. */
	uint32_t max_connections_per_uid;
	/** Most connections still in the handshake; 0: 64. */
	uint32_t max_pending;
	/** A peer must finish the handshake within this (µs); 0: 5 s. */
	uint64_t handshake_timeout_usec;
	/**
	 * Bytes a connection may have queued in the server per channel (once
	 * for responses, once for events, so that an event flood never
	 * blocks responses) before sends on that channel return -EAGAIN; 0:
	 * 4 * negotiated size, at least 1 MiB.  Flow control starts when the
	 * response queue reaches half of it.
	 */
	uint32_t max_queued_bytes;
	/** Filesystem-socket mode (permission bits); 0: 0666. */
	uint32_t socket_mode;
	/**
	 * A client that leaves responses or events queued in the server
	 * without reading any of them for this long (µs) is disconnected;
	 * 0: 30 s, LRPC_TIMEOUT_INFINITE: never.
	 */
	uint64_t stall_timeout_usec;
	/**
	 * A client that starts a request and does not finish sending it
	 * within this (µs) is disconnected (a half-sent request pins server
	 * memory); 0: 10 s, LRPC_TIMEOUT_INFINITE: never.
	 */
	uint64_t read_timeout_usec;
	/**
	 * Most RPC calls of one connection answered later (deferred by
	 * their handler, LRPC_RPC_LATER) and not answered yet, over every
	 * interface; 0: 1024.  While a connection has that many, each call
	 * it sends is answered at once with -EBUSY ("lrpc.Busy") before any
	 * handler runs, so that a client cannot pin server memory with calls
	 * it never lets finish.
	 */
	uint32_t max_deferred_calls;
	/**
	 * Memory give-back (since 1.1): once a connection that moved large
	 * messages has been idle this long (µs), the memory it only needed
	 * for them is given back: the pages of its shared-memory rings
	 * beyond the first 16 KiB, and the server's private copy and
	 * receive buffers beyond as many (docs/shm.md).  Nothing is given
	 * back while the connection is busy.  The check runs on a timer of
	 * the server's loop every quarter of this time, so memory goes back
	 * between 1 and 1.25 times it after the last message.  0: 750 ms
	 * (back within 1 s), LRPC_TIMEOUT_INFINITE: never.
	 */
	uint64_t idle_trim_usec;
	/**
	 * Fd passing (since 1.3; docs/api.md, "Passing fds"): the most fds
	 * one message may carry, either way.  Offered in the handshake; the
	 * smaller of the two sides' limits applies, and a peer that offers
	 * none (an older library, or LRPC_NO_FDS) gets none: sending fds to
	 * it fails with -EOPNOTSUPP.  0: LRPC_DEFAULT_MAX_FDS_PER_MSG; at
	 * most LRPC_MAX_FDS_PER_MSG.
	 */
	uint32_t max_fds_per_msg;
	/**
	 * The most fds this side holds for one connection, received and
	 * not yet taken or released (the message they came with not
	 * handled yet): a peer that sends more is disconnected.  Keep it
	 * at least 4 * max_fds_per_msg.  0: LRPC_DEFAULT_MAX_FDS_PER_CONN.
	 */
	uint32_t max_fds_per_conn;
} lrpc_server_opts;

/**
 * A message handler.  @msg points at the whole message (header included,
 * @size bytes, already validated: msg->size == size) in memory the peer
 * cannot change; it is valid until the handler returns.
 *
 * Return 0 when the request is handled (a response, if any, was sent or
 * will be sent later), or a negative errno: if the handler has not sent a
 * response, the library then sends a header-only response carrying that
 * errno.  Either way the connection stays up.
 */
typedef int (*lrpc_handler_fn)(lrpc_conn *c, const lrpc_msg_header *msg,
			       size_t size, void *userdata);

/**
 * A user-defined selector, consulted before the id table.  Return 1 and
 * fill *ret_fn / *ret_userdata to route the message, 0 to fall through to
 * the id table and the fallback handler, or a negative errno to answer the
 * message with that error.
 */
typedef int (*lrpc_selector_fn)(lrpc_conn *c, const lrpc_msg_header *msg,
				void *selector_data, lrpc_handler_fn *ret_fn,
				void **ret_userdata);

/** Per-service statistics (lrpc_server_get_stats()). */
typedef struct lrpc_server_stats {
	uint32_t active_connections;
	uint32_t pending_connections;
	uint64_t closed_connections;
	uint64_t refused_connections;
} lrpc_server_stats;

/** Per-connection statistics (lrpc_conn_get_stats()). */
typedef struct lrpc_conn_stats {
	pid_t client_pid;
	uint64_t requests;
	uint64_t responses;
	uint64_t events;
	/** Sends that could not go out at once and were queued. */
	uint64_t send_retries;
	/** Receives that found no complete message (partial reads). */
	uint64_t recv_retries;
	/** Events queued in the server now. */
	uint32_t events_queued;
	/** Bytes queued in the server now (responses and events). */
	uint32_t bytes_queued;
	/** 1 while the client is told to stop sending, else 0. */
	int32_t flow_control_state;
	/** How many times flow control was switched on. */
	uint64_t flow_control_count;
	/**
	 * Responses and events given up: above the negotiated size, the
	 * queue full, the connection closing, or (RPC) results that could
	 * not be encoded.  Each failure was returned to the code that sent;
	 * the first one per connection is also logged (warning).
	 */
	uint64_t undelivered;
	/**
	 * Bytes of shared memory this connection's rings hold now (shm
	 * transport; 0 with sockets): the pages allocated in its memfd,
	 * which both processes map (since 1.1).
	 */
	uint64_t ring_bytes;
	/**
	 * Bytes of private memory the server holds for this connection
	 * now: resident pages of its copy, receive and send buffers, and
	 * the responses and events queued (since 1.1).
	 */
	uint64_t buffer_bytes;
} lrpc_conn_stats;

/**
 * Create a server for @name (1..LRPC_NAME_MAX characters from
 * [A-Za-z0-9._-], not starting with '.').  Nothing listens until
 * lrpc_server_start().  @cb and @opts are copied; NULL means defaults.
 * @userdata is passed to every callback and is the service context.
 * Errors: -EINVAL (bad name or options), -E2BIG (@cb or @opts from a
 * newer header sets something this library does not have), -ENOMEM.
 */
LRPC_EXPORT int lrpc_server_new(lrpc_server **ret, const char *name,
				const lrpc_server_callbacks *cb,
				const lrpc_server_opts *opts, void *userdata);

/**
 * Drive the server from a foreign loop through @ops (see loop.h).  Must be
 * called before lrpc_server_start(); @ops must outlive the server.  Without
 * it the server uses an lrpc_loop of its own (see lrpc_server_get_fd()).
 * Errors: -EINVAL (bad table), -EBUSY (already started).
 */
LRPC_EXPORT int lrpc_server_set_poll(lrpc_server *s, const lrpc_poll_ops *ops,
				     void *loop_data);
/** Shorthand for lrpc_server_set_poll() with an lrpc_loop. */
LRPC_EXPORT int lrpc_server_attach_loop(lrpc_server *s, lrpc_loop *loop);

/**
 * Bind the name and start accepting.  Errors: -EADDRINUSE (another
 * process serves this name; never taken over), -EACCES/-EPERM (filesystem
 * socket directory unsafe or not writable), -EBUSY (already started), or
 * the errno of socket()/bind()/listen().
 */
LRPC_EXPORT int lrpc_server_start(lrpc_server *s);

/**
 * Stop listening and disconnect every connection (their closed callbacks
 * run).  Idempotent; the server must still be unref'd.
 */
LRPC_EXPORT void lrpc_server_close(lrpc_server *s);

LRPC_EXPORT lrpc_server *lrpc_server_ref(lrpc_server *s);
/** Drop a reference; the last one closes and frees.  Returns NULL. */
LRPC_EXPORT lrpc_server *lrpc_server_unref(lrpc_server *s);

/* --- Pull-style integration (server uses its own lrpc_loop) --- */

/**
 * An fd to poll for LRPC_POLL_IN (the server's private loop); -EBUSY if
 * lrpc_server_set_poll() was used.
 */
LRPC_EXPORT int lrpc_server_get_fd(lrpc_server *s);
/** Events to poll the fd for (always LRPC_POLL_IN). */
LRPC_EXPORT int lrpc_server_get_events(lrpc_server *s);
/**
 * Microseconds until lrpc_server_process() must run even if the fd is not
 * readable; UINT64_MAX for none.  Always 0 or UINT64_MAX here: timers live
 * in the fd.
 */
LRPC_EXPORT int lrpc_server_get_timeout(lrpc_server *s, uint64_t *ret_usec);
/** Do the pending work without blocking: >0 did work, 0 idle, <0 error. */
LRPC_EXPORT int lrpc_server_process(lrpc_server *s);
/**
 * Wait up to @timeout_usec and process (a convenience for simple
 * servers).  -EBUSY if lrpc_server_set_poll() was used.
 */
LRPC_EXPORT int lrpc_server_run_once(lrpc_server *s, uint64_t timeout_usec);

/* --- Selector --- */

/**
 * Route messages with @id to @fn.  -EEXIST if @id has a handler,
 * -ENOMEM.
 */
LRPC_EXPORT int lrpc_server_add_handler(lrpc_server *s, int32_t id,
					lrpc_handler_fn fn, void *userdata);
/** Remove the handler of @id; -ENOENT if none. */
LRPC_EXPORT int lrpc_server_remove_handler(lrpc_server *s, int32_t id);
/**
 * Handler for every id without one (NULL: those get a -ENOSYS response).
 */
LRPC_EXPORT int lrpc_server_set_fallback(lrpc_server *s, lrpc_handler_fn fn,
					 void *userdata);
/** Install a selector function consulted before the id table (NULL removes). */
LRPC_EXPORT int lrpc_server_set_selector(lrpc_server *s, lrpc_selector_fn fn,
					 void *selector_data);

/* --- Service-wide settings and state --- */

/** The service context passed to every callback (lrpc_server_new()). */
LRPC_EXPORT void *lrpc_server_get_userdata(lrpc_server *s);
/** Replace the service context; callbacks get the new one from now on. */
LRPC_EXPORT void lrpc_server_set_userdata(lrpc_server *s, void *userdata);
/** The service name; owned by the server, valid as long as it. */
LRPC_EXPORT const char *lrpc_server_get_name(lrpc_server *s);
/** The transport this server offers (never LRPC_TRANSPORT_BEST). */
LRPC_EXPORT lrpc_transport lrpc_server_get_transport(lrpc_server *s);

/**
 * The "stop sending" switch (libqb's rate limit OFF): while on, every
 * client's send returns -EAGAIN; requests already sent are still served.
 */
LRPC_EXPORT int lrpc_server_set_stop_sending(lrpc_server *s, bool stop);
/**
 * Spin budget in microseconds: after serving a connection's requests, how
 * long the server keeps polling its shared memory for the next one before
 * going back to its loop (shm only; bounded to 1 ms of work per
 * connection per wake-up in total, for fairness).  0 disables.  Default
 * 20 us.
 */
LRPC_EXPORT int lrpc_server_set_spin(lrpc_server *s, uint64_t usec);
/** Fill @ret (of @size bytes: pass sizeof(*ret)). */
LRPC_EXPORT int lrpc_server_get_stats(lrpc_server *s, lrpc_server_stats *ret,
				      size_t size);

/**
 * Iterate over the accepted, not yet closed connections:
 * lrpc_server_get_first_conn(), then lrpc_conn_get_next() until NULL.  No
 * references are taken; do not free connections while iterating except
 * the current one through lrpc_conn_close().
 */
LRPC_EXPORT lrpc_conn *lrpc_server_get_first_conn(lrpc_server *s);
LRPC_EXPORT lrpc_conn *lrpc_conn_get_next(lrpc_conn *c);

/* --- Connections --- */

/** Take a reference (to keep the connection beyond its callbacks). */
LRPC_EXPORT lrpc_conn *lrpc_conn_ref(lrpc_conn *c);
/** Drop a reference; the last one runs destroyed and frees.  Returns NULL. */
LRPC_EXPORT lrpc_conn *lrpc_conn_unref(lrpc_conn *c);
/** The server this connection belongs to (no reference taken). */
LRPC_EXPORT lrpc_server *lrpc_conn_get_server(lrpc_conn *c);
/** The application's per-connection pointer (NULL until set). */
LRPC_EXPORT void *lrpc_conn_get_userdata(lrpc_conn *c);
/** Set the per-connection pointer; still readable in destroyed. */
LRPC_EXPORT void lrpc_conn_set_userdata(lrpc_conn *c, void *userdata);
/**
 * Fill @ret with the peer's credentials; ret->groups points into the
 * connection and is valid as long as it.  -EINVAL for a NULL argument.
 */
LRPC_EXPORT int lrpc_conn_get_peer(lrpc_conn *c, lrpc_peer *ret);
/** Negotiated maximum message size of this connection. */
LRPC_EXPORT uint32_t lrpc_conn_get_max_msg_size(lrpc_conn *c);
/** The transport of this connection (the server's). */
LRPC_EXPORT lrpc_transport lrpc_conn_get_transport(lrpc_conn *c);
/** True until the connection starts closing. */
LRPC_EXPORT bool lrpc_conn_is_connected(lrpc_conn *c);

/**
 * Send a response (in request order).  @data starts with an
 * lrpc_msg_header whose size equals @size.  The data is copied or sent
 * before return; the caller keeps ownership.
 * Errors: -EINVAL (header size mismatch), -EMSGSIZE (above the negotiated
 * size), -EAGAIN (the client is not reading and the per-connection queue is
 * full), -ENOTCONN (closing or closed).
 */
LRPC_EXPORT int lrpc_conn_send_response(lrpc_conn *c, const void *data,
					size_t size);
LRPC_EXPORT int lrpc_conn_send_responsev(lrpc_conn *c, const struct iovec *iov,
					 size_t n_iov);
/**
 * Send an event: as lrpc_conn_send_response(), on the event channel.
 * Sent from inside a handler, events reach their client when the handler
 * returns (or at the connection's next response, or over a socket once
 * 64 KiB of them gathered), so that a burst or a broadcast costs each
 * client one wake-up (shm) or one write (socket); sent from anywhere
 * else, at once.
 */
LRPC_EXPORT int lrpc_conn_send_event(lrpc_conn *c, const void *data,
				     size_t size);
LRPC_EXPORT int lrpc_conn_send_eventv(lrpc_conn *c, const struct iovec *iov,
				      size_t n_iov);
/**
 * As lrpc_conn_send_responsev() and lrpc_conn_send_eventv(), with @n_fds
 * fds attached (since 1.3).  The fds are borrowed: the caller may close
 * them as soon as this returns.  (A message that must wait in the
 * connection's queue keeps duplicates of its own, closed once it is
 * sent or dropped.)  The client takes them with lrpc_client_take_fd().
 * Errors: as the calls without fds; -EOPNOTSUPP (the client takes no
 * fds), -E2BIG (more than lrpc_conn_get_max_fds()), -EBADF (one of @fds
 * is not open), -EINVAL.  Nothing is sent on any of these.
 */
LRPC_EXPORT int lrpc_conn_send_responsev_fds(lrpc_conn *c,
					     const struct iovec *iov,
					     size_t n_iov, const int *fds,
					     unsigned n_fds);
LRPC_EXPORT int lrpc_conn_send_eventv_fds(lrpc_conn *c,
					  const struct iovec *iov,
					  size_t n_iov, const int *fds,
					  unsigned n_fds);
/**
 * The number of fds that came with @msg, the request whose handler is
 * running (>= 0), or -ENOENT for any other message.  Fds not taken are
 * closed when the handler returns.
 */
LRPC_EXPORT int lrpc_conn_get_n_fds(lrpc_conn *c, const lrpc_msg_header *msg);
/**
 * Take fd @i of @msg while its handler runs: the caller's from now on
 * (close-on-exec set).  Returns the fd, or -ENOENT (not the request being
 * handled), -ENXIO (no fd @i), -EBADF (taken already).
 */
LRPC_EXPORT int lrpc_conn_take_fd(lrpc_conn *c, const lrpc_msg_header *msg,
				  unsigned i);
/** Most fds one message may carry on this connection; 0: none. */
LRPC_EXPORT unsigned lrpc_conn_get_max_fds(lrpc_conn *c);

/**
 * Zero-copy sending: reserve room for a response (or an event) of @size
 * bytes and write it in place: directly into the client's shared memory
 * with the shm transport when the channel has room, else into a queue
 * entry sent in order later.  Fill the header's id (and error) and the
 * payload, then lrpc_conn_commit() with the final size (<= @size); the
 * library sets the header's size, flags and seq.  One reservation per
 * connection at a time; other sends return -EBUSY meanwhile.
 * Errors: -EINVAL (size below a header), -EMSGSIZE, -EAGAIN (queue full),
 * -EBUSY, -ENOTCONN.
 */
LRPC_EXPORT int lrpc_conn_reserve_response(lrpc_conn *c, size_t size,
					   void **ret_buf);
LRPC_EXPORT int lrpc_conn_reserve_event(lrpc_conn *c, size_t size,
					void **ret_buf);
/** Send what was reserved.  -EINVAL without a reservation. */
LRPC_EXPORT int lrpc_conn_commit(lrpc_conn *c, size_t size);
/** Drop the open reservation without sending anything (none: no-op). */
LRPC_EXPORT void lrpc_conn_discard_reservation(lrpc_conn *c);

/** Send a header-only response with id @id and status @error (<= 0). */
LRPC_EXPORT int lrpc_conn_send_error(lrpc_conn *c, int32_t id, int error);

/**
 * Close the connection (the closed callback runs, the client sees
 * -ENOTCONN).  Safe inside a handler: the teardown runs after the handler
 * returns.  Idempotent.
 */
LRPC_EXPORT void lrpc_conn_close(lrpc_conn *c);
/** Fill @ret (of @size bytes: pass sizeof(*ret)). */
LRPC_EXPORT int lrpc_conn_get_stats(lrpc_conn *c, lrpc_conn_stats *ret,
				    size_t size);

#ifdef __cplusplus
}
#endif

#endif
