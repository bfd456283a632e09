/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc/client.h - connecting to an lrpc service.
 *
 * A client has a synchronous channel (requests out, responses back, in order)
 * and an event channel (server to client).  Calls that wait take a timeout
 * in microseconds (types.h): 0 does not wait (-EAGAIN when nothing is
 * there), LRPC_TIMEOUT_INFINITE waits without limit, anything else ends in
 * -ETIMEDOUT.
 *
 * A client lives in any event loop, like a server: push style through
 * lrpc_client_set_poll() / lrpc_client_attach_loop(), or pull style through
 * lrpc_client_get_fd(), lrpc_client_get_events(), lrpc_client_get_timeout()
 * and lrpc_client_process().  Blocking calls work in either mode.
 *
 * Errors common to every call: -ENOTCONN once the server is gone (the client
 * then reports is_connected false), -ETIMEDOUT when the timeout expires,
 * -EMSGSIZE above the negotiated size, -EAGAIN while the server says stop
 * (flow control) or the channel is full, -ECHILD from a forked child.
 *
 * Threading: a client is used from one thread at a time.  Use one client per
 * thread to scale.
 */
#ifndef LRPC_CLIENT_H
#define LRPC_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <lrpc/loop.h>
#include <lrpc/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lrpc_client lrpc_client;

/** Options for connecting; NULL means all defaults. */
typedef struct lrpc_client_opts {
	/**
	 * Set to sizeof(lrpc_client_opts).  The struct grows at its
	 * end in later versions: a smaller one (from an older header) gets
	 * defaults for what it lacks; a larger one is refused with -E2BIG
	 * unless every member this library does not know is 0.
	 */
	size_t struct_size;
	/** Transport wanted; LRPC_TRANSPORT_BEST (0) takes the server's. */
	lrpc_transport transport;
	/** Largest message wanted (header included); 0: 1 MiB. */
	uint32_t max_msg_size;
	/**
	 * Connect and handshake timeout (µs); 0: 5 s, LRPC_TIMEOUT_INFINITE:
	 * none.
	 */
	uint64_t connect_timeout_usec;
	/**
	 * Send timeout (µs) for lrpc_client_send[v]() and
	 * lrpc_client_reserve(): how long a send may wait for room once the
	 * message does not fit at once; 0: 5 s, LRPC_TIMEOUT_INFINITE: none.
	 */
	uint64_t send_timeout_usec;
	/**
	 * If true, refuse (-EACCES) a server whose uid is not @server_uid.
	 * Checked on the kernel's credentials of the listening socket right
	 * after connect, before anything is sent.
	 */
	bool require_server_uid;
	uid_t server_uid;
	/**
	 * Memory give-back (since 1.1): once the client that moved large
	 * messages has been idle this long (µs), the memory it only needed
	 * for them is given back: the pages of the request ring beyond the
	 * first 16 KiB, its mapping of the server's rings, and private
	 * receive buffers beyond 16 KiB (docs/shm.md).  A client attached
	 * to a loop (lrpc_client_set_poll() or lrpc_client_get_fd()) does
	 * it from a timer of that loop; any other client only at the start
	 * of its next call after that much idle time, since it never runs
	 * in between.  0: 750 ms, LRPC_TIMEOUT_INFINITE: never.
	 */
	uint64_t idle_trim_usec;
	/**
	 * Wait for the service (since 1.2): while nobody serves the name,
	 * lrpc_client_new() keeps trying for up to this long (µs) and then
	 * fails with -ETIMEDOUT, instead of failing at once with -ENOENT or
	 * -ECONNREFUSED.  In filesystem-socket mode it watches the runtime
	 * directory (inotify), so the server is reached as soon as it
	 * listens; abstract names are retried with a backoff that grows to
	 * 50 ms.  The connect timeout covers the handshake from the moment
	 * the server answered.  lrpc_client_new_async() does not wait.
	 * 0: do not wait, LRPC_TIMEOUT_INFINITE: no limit.
	 */
	uint64_t wait_usec;
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
} lrpc_client_opts;

/** Completion of lrpc_client_new_async(): @status is 0 or -errno. */
typedef void (*lrpc_client_connect_fn)(lrpc_client *c, int status,
				       void *userdata);
/** The connection ended (lrpc_client_set_closed_handler()). */
typedef void (*lrpc_client_closed_fn)(lrpc_client *c, int reason,
				      void *userdata);
/**
 * Receives one message during lrpc_client_process(): @msg is valid until
 * the callback returns.
 */
typedef void (*lrpc_client_msg_fn)(lrpc_client *c, const lrpc_msg_header *msg,
				   size_t size, void *userdata);

/**
 * Create a client connected to the service @name: connect and finish the
 * handshake, waiting at most opts->connect_timeout_usec.  On success *ret
 * owns one reference.
 * Errors: -EINVAL (bad name/options), -E2BIG (@opts from a newer
 * header sets something this library does not have), -ECONNREFUSED or
 * -ENOENT (nobody serves @name), -EACCES (server uid refused),
 * -ETIMEDOUT, -EPROTO (the server spoke something else), or the errno the
 * server's accept callback returned (-EPERM, -EBUSY and -EUSERS for its
 * limits, ...).
 */
LRPC_EXPORT int lrpc_client_new(lrpc_client **ret, const char *name,
				    const lrpc_client_opts *opts);

/**
 * Create a client and start connecting without blocking.  On success *ret
 * owns one reference and @cb runs from lrpc_client_process() once the
 * handshake finished or failed (attach the client to a loop, or poll
 * lrpc_client_get_fd() and honour lrpc_client_get_timeout()).  If this call
 * fails, @cb never runs.
 */
LRPC_EXPORT int lrpc_client_new_async(lrpc_client **ret, const char *name,
					  const lrpc_client_opts *opts,
					  lrpc_client_connect_fn cb,
					  void *userdata);

/** Take a reference; returns @c. */
LRPC_EXPORT lrpc_client *lrpc_client_ref(lrpc_client *c);
/**
 * Drop a reference (NULL is fine); the last one closes and frees.
 * Returns NULL.
 */
LRPC_EXPORT lrpc_client *lrpc_client_unref(lrpc_client *c);
/**
 * Close the connection now: its fds leave the loop it is attached to and
 * later calls return -ENOTCONN.  Idempotent; the client must still be
 * unref'd.
 */
LRPC_EXPORT void lrpc_client_close(lrpc_client *c);

/**
 * Send one request (one-way unless the server answers it; read answers
 * with lrpc_client_recv()).  @data starts with an lrpc_msg_header whose
 * size equals @size; the data is sent or copied before return.
 * A message is never torn: if the transport takes only part of it, the
 * library keeps the rest and sends it before anything else.
 * Errors: -EINVAL (header size mismatch or shorter than a header),
 * -EMSGSIZE, -EAGAIN (the server said stop, or still no room after the
 * send timeout; nothing of this message was sent), -ENOTCONN.
 */
LRPC_EXPORT int lrpc_client_send(lrpc_client *c, const void *data, size_t size);
/** As lrpc_client_send(), the message gathered from @iov. */
LRPC_EXPORT int lrpc_client_sendv(lrpc_client *c, const struct iovec *iov,
				  size_t n_iov);

/**
 * As lrpc_client_sendv(), with @n_fds fds attached to the message (since
 * 1.3).  The fds are borrowed: the library duplicates none, and the
 * caller may close them as soon as this returns (they are in the kernel's
 * hands by then).  The server takes them while it handles the message
 * (lrpc_conn_take_fd()).  Errors: as lrpc_client_sendv(); -EOPNOTSUPP
 * (the server does not take fds: an older library, or fd passing turned
 * off on either side), -E2BIG (more than lrpc_client_get_max_fds()),
 * -EBADF (one of @fds is not open), -EINVAL (@fds NULL with @n_fds > 0).
 * Nothing is sent on any of these.
 */
LRPC_EXPORT int lrpc_client_sendv_fds(lrpc_client *c, const struct iovec *iov,
				      size_t n_iov, const int *fds,
				      unsigned n_fds);
/**
 * Fds received with @msg: a message of a view (lrpc_client_recv_view(),
 * lrpc_client_recv_event_view()) until it is released, or the one a
 * response or event handler was given, while it runs.  The count of fds
 * the message carries (>= 0), or -ENOENT when @msg is none of those.
 * Received fds belong to the message: those not taken are closed when it
 * is released (lrpc_client_recv() and lrpc_client_call() release at once,
 * so their fds are always closed).
 */
LRPC_EXPORT int lrpc_client_get_n_fds(lrpc_client *c,
				      const lrpc_msg_header *msg);
/**
 * Take fd @i of @msg (see lrpc_client_get_n_fds()): it is the caller's
 * from now on (close-on-exec set).  Returns the fd, or -ENOENT (not a
 * current message), -ENXIO (no fd @i), -EBADF (taken already).
 */
LRPC_EXPORT int lrpc_client_take_fd(lrpc_client *c, const lrpc_msg_header *msg,
				    unsigned i);
/** Most fds one message may carry on this connection; 0: none. */
LRPC_EXPORT unsigned lrpc_client_get_max_fds(lrpc_client *c);

/**
 * Receive the next response into @buf (@cap bytes), waiting up to
 * @timeout_usec; *ret_size (may be NULL) gets its size.  Returns 0.  A
 * response larger than @cap stays queued and -EMSGSIZE is returned.
 */
LRPC_EXPORT int lrpc_client_recv(lrpc_client *c, void *buf, size_t cap,
				 uint64_t timeout_usec, size_t *ret_size);

/**
 * Send a request gathered from @iov and wait for its response: a
 * synchronous call.  The response goes to @buf (@cap bytes) and its size
 * to *ret_size (may be NULL).  Returns 0.  Responses left over from earlier
 * calls that timed out are recognised by their sequence number and
 * dropped.  The timeout covers both the send and the wait.
 */
LRPC_EXPORT int lrpc_client_callv(lrpc_client *c, const struct iovec *iov,
				  size_t n_iov, void *buf, size_t cap,
				  uint64_t timeout_usec, size_t *ret_size);
/** lrpc_client_callv() with one buffer. */
LRPC_EXPORT int lrpc_client_call(lrpc_client *c, const void *req, size_t size,
				 void *buf, size_t cap, uint64_t timeout_usec,
				 size_t *ret_size);

/** Receive the next event into @buf; as lrpc_client_recv(). */
LRPC_EXPORT int lrpc_client_recv_event(lrpc_client *c, void *buf, size_t cap,
				       uint64_t timeout_usec,
				       size_t *ret_size);

/* --- Zero-copy --- */

/**
 * Reserve room for a request of @size bytes and return where to write it
 * (in shared memory with the shm transport, so the message is built in
 * place; in a private buffer otherwise).  Fill the header's id and the
 * payload, then lrpc_client_commit() (or lrpc_client_discard_reservation()).
 * The library sets the header's size, flags and seq at commit.  One
 * reservation at a time.
 * Errors: as lrpc_client_send(); -EBUSY if a reservation is open.
 */
LRPC_EXPORT int lrpc_client_reserve(lrpc_client *c, size_t size,
				    void **ret_buf);
/**
 * Send the reserved request, @size bytes (at most what was reserved).
 * Its response is read with lrpc_client_recv() or lrpc_client_recv_view().
 * -EINVAL without a reservation or with a larger size.
 */
LRPC_EXPORT int lrpc_client_commit(lrpc_client *c, size_t size);
/** Drop the open reservation without sending anything (none: no-op). */
LRPC_EXPORT void lrpc_client_discard_reservation(lrpc_client *c);

/**
 * Receive the next response without copying it: *ret_msg points into the
 * transport's memory (with shm, memory the server can still write: read
 * each field once) and stays valid until lrpc_client_release().
 * *ret_size is the transport's record length, checked against the header.
 * Returns 0.  One view per channel at a time (-EBUSY otherwise).
 */
LRPC_EXPORT int lrpc_client_recv_view(lrpc_client *c, uint64_t timeout_usec,
				      const lrpc_msg_header **ret_msg,
				      size_t *ret_size);
/** As lrpc_client_recv_view(), for the next event. */
LRPC_EXPORT int lrpc_client_recv_event_view(lrpc_client *c,
					    uint64_t timeout_usec,
					    const lrpc_msg_header **ret_msg,
					    size_t *ret_size);
/** Give back a view; @msg is what a *_view() call returned. */
LRPC_EXPORT int lrpc_client_release(lrpc_client *c,
				    const lrpc_msg_header *msg);

/**
 * Spin budget in microseconds: how long a waiting call busy-polls shared
 * memory for its answer before going to sleep (shm transport only; sockets
 * always sleep in poll()).  0 disables spinning.  Default 20 us: about one
 * sleep/wake-up cycle of two processes on different CPUs, so an answer
 * that comes later costs at most twice what sleeping at once would.
 */
LRPC_EXPORT int lrpc_client_set_spin(lrpc_client *c, uint64_t usec);

/* --- Loop integration --- */

/**
 * Drive the client from a loop through @ops (see loop.h), push style: the
 * client adds its fds and timers to the loop and runs
 * lrpc_client_process() itself whenever there is work.  May be called at
 * any time while the client is not yet attached; @ops and the loop must
 * outlive the client (or its lrpc_client_close()).
 * Errors: -EINVAL (bad table), -EBUSY (already attached, or
 * lrpc_client_get_fd() was used), -ENOTCONN, or what the loop's fd_add
 * returned.
 */
LRPC_EXPORT int lrpc_client_set_poll(lrpc_client *c, const lrpc_poll_ops *ops,
				     void *loop_data);
/** Shorthand for lrpc_client_set_poll() with an lrpc_loop. */
LRPC_EXPORT int lrpc_client_attach_loop(lrpc_client *c, lrpc_loop *loop);

/**
 * Pull style: one fd to poll for lrpc_client_get_events(), readable when
 * there is something for lrpc_client_process() (an event, a response, the
 * end of an async connect, or the server going away).  The fd belongs to
 * the client.  -EBUSY if the client is attached to a loop (push style).
 */
LRPC_EXPORT int lrpc_client_get_fd(lrpc_client *c);
/** Events to poll the fd for (always LRPC_POLL_IN). */
LRPC_EXPORT int lrpc_client_get_events(lrpc_client *c);
/**
 * Microseconds until lrpc_client_process() must run even if the fd is not
 * readable (the connect timeout), or LRPC_TIMEOUT_INFINITE.
 */
LRPC_EXPORT int lrpc_client_get_timeout(lrpc_client *c, uint64_t *ret_usec);
/**
 * Do pending work without blocking: finish an async connect, hand queued
 * events and responses to the callbacks set below (messages without a
 * callback stay queued for the recv calls).  Returns >0 if it did work, 0
 * if idle, or a negative errno (-ENOTCONN once the server is gone).
 */
LRPC_EXPORT int lrpc_client_process(lrpc_client *c);
/**
 * Wait up to @timeout_usec for work, then process it (a convenience for
 * simple pull-style clients).  Returns as lrpc_client_process(), 0 when
 * nothing came.  -EBUSY if the client is attached to a loop.
 */
LRPC_EXPORT int lrpc_client_run_once(lrpc_client *c, uint64_t timeout_usec);
/** Callback for events during process (NULL: leave them for recv_event). */
LRPC_EXPORT void lrpc_client_set_event_handler(lrpc_client *c,
					       lrpc_client_msg_fn fn,
					       void *userdata);
/** Callback for responses during process (NULL: leave them for recv). */
LRPC_EXPORT void lrpc_client_set_response_handler(lrpc_client *c,
						  lrpc_client_msg_fn fn,
						  void *userdata);
/**
 * Callback run once when the connection ends for any reason (the server
 * went away or broke the protocol: @reason is its negative errno, or
 * lrpc_client_close(): -ECANCELED).  It runs from lrpc_client_process() --
 * in push style from the loop -- never from inside another lrpc call, and
 * only for a client that was connected.  NULL removes it.
 */
LRPC_EXPORT void lrpc_client_set_closed_handler(lrpc_client *c,
						lrpc_client_closed_fn fn,
						void *userdata);

/* --- State --- */

/** The application's pointer for this client (NULL until set). */
LRPC_EXPORT void *lrpc_client_get_userdata(lrpc_client *c);
/** Set the application's pointer; lrpc never looks at it. */
LRPC_EXPORT void lrpc_client_set_userdata(lrpc_client *c, void *userdata);
/** True while connected and the server has not gone away. */
LRPC_EXPORT bool lrpc_client_is_connected(lrpc_client *c);
/** Negotiated maximum message size (header included), 0 if not connected. */
LRPC_EXPORT uint32_t lrpc_client_get_max_msg_size(lrpc_client *c);
/** The transport in use; LRPC_TRANSPORT_BEST (0) if not connected. */
LRPC_EXPORT lrpc_transport lrpc_client_get_transport(lrpc_client *c);
/**
 * The server's pid/uid/gid as the kernel recorded them for its listening
 * socket (groups are not available: n_groups is 0).  -ENOTCONN before the
 * connection exists.
 */
LRPC_EXPORT int lrpc_client_get_peer(lrpc_client *c, lrpc_peer *ret);

#ifdef __cplusplus
}
#endif

#endif
