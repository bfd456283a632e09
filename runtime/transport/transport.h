/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The transport seam.  A transport moves whole messages on three logical
 * channels of one connection and tells the IPC core which fds to wait on.
 * The connection's unix socket (the "main" socket) always exists: the
 * handshake runs on it and its hang-up is the death signal for every
 * transport.
 */
#ifndef LRPC_TRANSPORT_H
#define LRPC_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <lrpc/loop.h>
#include <lrpc/types.h>

typedef enum lrpc__chan {
	LRPC__CHAN_REQUEST = 0,  /* client -> server */
	LRPC__CHAN_RESPONSE = 1, /* server -> client */
	LRPC__CHAN_EVENT = 2,    /* server -> client */
	LRPC__N_CHAN
} lrpc__chan;

/* Message kinds, in lrpc_msg_header.flags: framing facts every layer
 * checks (the IPC core stamps them, transports refuse other values). */
#define LRPC__MSG_KIND_MASK 0x3u
#define LRPC__MSG_REQUEST 0x1u
#define LRPC__MSG_RESPONSE 0x2u
#define LRPC__MSG_EVENT 0x3u
/*
 * Bits 8-15 of the flags: how many fds travel with the message (only
 * once both sides offered fd passing in the handshake; until then, and
 * above the negotiated count, receivers refuse any of these bits).
 */
#define LRPC__MSG_FDS_SHIFT 8
#define LRPC__MSG_FDS_MASK 0xff00u
/* Most fds one message can carry: the kernel's SCM_MAX_FD. */
#define LRPC__MSG_FDS_LIMIT 253u

static inline unsigned
lrpc__msg_n_fds(uint32_t flags)
{
	return (flags & LRPC__MSG_FDS_MASK) >> LRPC__MSG_FDS_SHIFT;
}

/* Most fds a transport hands over in the handshake. */
#define LRPC__MAX_FDS 4

/* Size of the page lrpc__tconn_ops.t_shared_page() offers. */
#define LRPC__SHARED_PAGE_SIZE 4096u

typedef struct lrpc__tconn lrpc__tconn;

typedef struct lrpc__fdset {
	int fds[LRPC__MAX_FDS];
	unsigned n;
} lrpc__fdset;

void lrpc__fdset_close(lrpc__fdset *s);

/* Roles a transport connection plays. */
typedef enum lrpc__role {
	LRPC__ROLE_SERVER,
	LRPC__ROLE_CLIENT,
} lrpc__role;

/*
 * A handshake capability a transport takes up (the others are the IPC
 * core's, ipc/ipc-handshake.h): the socket transport's channels travel on
 * SOCK_SEQPACKET socketpairs the server passes in the welcome, a message
 * per record where the socket buffers allow (docs/wire.md, "Record
 * sockets"); without it, on stream sockets.
 */
#define LRPC__CAP_RECORDS (1u << 2)

/* Capabilities of a transport (lrpc__transport.caps). */
typedef enum lrpc__tcaps {
	/*
	 * t_shared_page() returns a page of memory both sides map (the
	 * server may write it, the client must only read it); without this
	 * the IPC core brings a page of its own.
	 */
	LRPC__TCAP_SHARED_PAGE = 1u << 0,
	/*
	 * Data does not wake the peer by itself: a side about to sleep must
	 * say so (t_arm), and checking for data is a memory read (t_ready),
	 * so spinning on it before sleeping makes sense.  Without this the
	 * transport's fds carry the data and t_arm/t_disarm/t_kick are
	 * no-ops.
	 */
	LRPC__TCAP_WAKEUPS = 1u << 1,
} lrpc__tcaps;

/*
 * The listener role: the server side of a connection, built on a socket
 * the IPC core accepted.  One const table per transport; every member
 * required.
 */
typedef struct lrpc__listener_ops {
	size_t struct_size;
	/*
	 * Build the transport of a just-accepted connection whose main
	 * socket is @sock (not owned), for messages up to @max_msg bytes.
	 * @caps holds the handshake capabilities (LRPC__CAP_*) the client
	 * offered and the server would accept; the transport clears those
	 * it does not take up (what is left goes into the welcome).  Fills
	 * @pass with fds for the client, in the order the wire documents;
	 * they stay owned by @pass (the caller closes them once they were
	 * sent).  Never blocks.  Errors: -ENOMEM, or the errno of the
	 * system call that failed; nothing is left allocated.
	 */
	int (*l_accept)(lrpc__tconn **ret, int sock, uint32_t max_msg,
			uint64_t *caps, lrpc__fdset *pass);
} lrpc__listener_ops;

/* The connector role: the client side, from what the handshake brought. */
typedef struct lrpc__connector_ops {
	size_t struct_size;
	/*
	 * Adopt the fds the welcome brought for the transport: taken from
	 * @fds on success and on failure.  @caps: the capabilities the
	 * welcome accepted (already checked to be a subset of the offer).
	 * Every fd is checked for type, seals and size before use: they come
	 * from the peer.  Never blocks.  Errors: -EPROTO (wrong number or
	 * kind of fds), -EBADF/-EPERM (an fd that is not what it must be),
	 * -ENOMEM.
	 */
	int (*c_adopt)(lrpc__tconn **ret, int sock, uint32_t max_msg,
		       uint64_t caps, lrpc__fdset *fds);
} lrpc__connector_ops;

/*
 * The connection role: moving whole messages on three logical channels.
 * Every member is required.  Unless said otherwise members never block and
 * return 0 or a negative errno; a "fatal" error means the connection must
 * be closed.  Headers are the IPC core's business: what a transport is
 * given is already in wire form, and what it hands up has only been
 * checked for size and kind.
 */
typedef struct lrpc__tconn_ops {
	size_t struct_size;
	/* Free everything the transport owns (not the main socket). */
	void (*t_free)(lrpc__tconn *t);
	/*
	 * Send one message of @size bytes (gathered from @iov) on @chan.
	 * All or nothing: 0 when the transport took the whole message (it
	 * may still be on its way: see t_flush), -EAGAIN when it took
	 * nothing and the caller should wait for t_wait_fd(out=true).
	 * Fatal: anything else.
	 */
	int (*t_send)(lrpc__tconn *t, lrpc__chan chan, const struct iovec *iov,
		      size_t n_iov, size_t size);
	/* Push data taken earlier: 0 when none is left, -EAGAIN if some is. */
	int (*t_flush)(lrpc__tconn *t, lrpc__chan chan);
	/* True if data taken by t_send is still waiting to go out. */
	bool (*t_pending)(lrpc__tconn *t, lrpc__chan chan);
	/*
	 * Peek at the next complete message on @chan.  Returns 1 and a view
	 * in private memory the peer cannot change (aligned, header checked:
	 * size between the header size and the negotiated maximum, the
	 * channel's kind), 0 if none is complete yet (if @fill, one read was
	 * tried first), or a fatal error (-ECONNRESET: peer gone; -EBADMSG:
	 * protocol broken).  The same message is returned until t_release.
	 */
	int (*t_recv)(lrpc__tconn *t, lrpc__chan chan, bool fill,
		      const lrpc_msg_header **ret_msg, size_t *ret_size);
	/* True if part of a message (not a whole one) is buffered on @chan. */
	bool (*t_partial)(lrpc__tconn *t, lrpc__chan chan);
	/* Drop the message last returned by t_recv on @chan. */
	void (*t_release)(lrpc__tconn *t, lrpc__chan chan);
	/*
	 * The fd and poll events that signal progress on @chan: incoming
	 * data (out=false) or room to send (out=true).  -1 if the channel
	 * has no fd of its own (then the main socket is used).
	 */
	int (*t_wait_fd)(lrpc__tconn *t, lrpc__chan chan, bool out,
			 uint32_t *ret_events);
	/*
	 * The page shared with the peer (LRPC__SHARED_PAGE_SIZE bytes,
	 * zero-filled at creation), for transports with
	 * LRPC__TCAP_SHARED_PAGE; NULL for the others.  Its content is the
	 * IPC core's.
	 */
	void *(*t_shared_page)(lrpc__tconn *t);

	/*
	 * Sleeping and waking (LRPC__TCAP_WAKEUPS; no-ops otherwise).  A
	 * side that found nothing to do on @chan (no data; with @out, no
	 * room) may poll t_ready (a memory read, no syscall), then calls
	 * t_arm before sleeping on t_wait_fd: 1 means the condition already
	 * holds (do not sleep), 0 sleep, <0 the connection is broken.  After
	 * waking (or giving up) it calls t_disarm, which also clears the
	 * wake-up fd.  t_kick makes the caller's own wake-up fd readable (to
	 * hand work found while awake to a poll loop).  When to spin and for
	 * how long is the IPC core's policy (ipc/ipc-wait.h).
	 */
	/*
	 * Publish the CPU we run on and tell whether the peer last ran on
	 * another one (false: waiting for it by spinning would only keep it
	 * from running).
	 */
	bool (*t_spin_ok)(lrpc__tconn *t);
	bool (*t_ready)(lrpc__tconn *t, lrpc__chan chan, bool out);
	int (*t_arm)(lrpc__tconn *t, lrpc__chan chan, bool out);
	void (*t_disarm)(lrpc__tconn *t, lrpc__chan chan, bool out);
	void (*t_kick)(lrpc__tconn *t);

	/*
	 * Zero-copy send: a buffer of @size bytes to write one message
	 * into (directly into shared memory where the transport has it),
	 * then t_commit with the final size (<= reserved; header in wire
	 * form).  -EAGAIN when there is no room, -EMSGSIZE when it can never
	 * fit.  Only one reservation per channel at a time; t_cancel drops
	 * it.
	 */
	int (*t_reserve)(lrpc__tconn *t, lrpc__chan chan, size_t size,
			 void **ret_buf);
	int (*t_commit)(lrpc__tconn *t, lrpc__chan chan, size_t size);
	void (*t_cancel)(lrpc__tconn *t, lrpc__chan chan);

	/*
	 * Give back the memory only large messages needed (docs/shm.md,
	 * "Giving memory back"): ring pages beyond the first
	 * LRPC__TRIM_KEEP bytes, private buffers beyond as many.  Only what
	 * is not in use: unread data, an open reservation or a view keep
	 * theirs.  Called by the IPC core once the connection was idle for a
	 * while; cheap to call again (a few system calls), never fails.
	 */
	void (*t_trim)(lrpc__tconn *t);
	/*
	 * What the connection holds now, in bytes: pages of shared memory
	 * allocated for its rings (both sides see the same), and resident
	 * pages of its private buffers on this side.
	 */
	void (*t_held)(lrpc__tconn *t, uint64_t *ret_ring, uint64_t *ret_buf);
	/*
	 * Hold the peer's wake-ups (true): a send or release that would wake
	 * the peer only notes that it owes one; releasing the hold (false)
	 * wakes the peer once if it was owed.  NULL for transports without
	 * wake-ups.  The server holds a connection's wake-ups while a handler
	 * sends it events, so a burst (a broadcast loop, many events in one
	 * handler) rings each client once.
	 */
	void (*t_hold_wakes)(lrpc__tconn *t, bool hold);

	/*
	 * Fd passing (docs/wire.md, "Fds of messages"), once the handshake
	 * negotiated it.  t_fd_limits: from now on accept messages carrying
	 * up to @per_msg fds, and hold at most @per_conn received fds at
	 * once (in messages not released yet); 0 (the start): none.
	 * Anything else -- more or fewer fds than a header declares, fds
	 * where none were declared, a truncated list, over a cap -- is a
	 * fatal -EBADMSG, and every fd received for it is closed.
	 */
	void (*t_fd_limits)(lrpc__tconn *t, unsigned per_msg,
			    unsigned per_conn);
	/*
	 * As t_send, with @n_fds fds attached (the header's flags already
	 * say how many).  The fds are borrowed: once this returns they are
	 * in the kernel's hands (or, on -EAGAIN, were never taken).
	 */
	int (*t_send_fds)(lrpc__tconn *t, lrpc__chan chan,
			  const struct iovec *iov, size_t n_iov, size_t size,
			  const int *fds, unsigned n_fds);
	/*
	 * The fds of the message t_recv returned on @chan: how many, and
	 * take one (the caller owns it then; -EBADF if it was taken,
	 * -ENXIO if there is no such index).  t_release closes those
	 * still there.
	 */
	unsigned (*t_msg_n_fds)(lrpc__tconn *t, lrpc__chan chan);
	int (*t_take_fd)(lrpc__tconn *t, lrpc__chan chan, unsigned i);

	/*
	 * Optional (NULL: the transport has no such read).  As t_recv with
	 * fill, for a caller about to copy the message out into @buf (@cap
	 * bytes): when nothing is buffered on @chan the read goes into @buf
	 * first.  2 when the next message landed there whole (header
	 * checked as t_recv checks it, no fds; *@ret_size its size; nothing
	 * to release); otherwise 1, 0 or an error as t_recv, and @buf's
	 * content is undefined.
	 */
	int (*t_recv_into)(lrpc__tconn *t, lrpc__chan chan, void *buf,
			   size_t cap, const lrpc_msg_header **ret_msg,
			   size_t *ret_size);
	/*
	 * Optional (NULL: never).  True while a send waits for room on the
	 * main socket rather than in the channel (the shm transport's fd
	 * packets, when the peer is slow to take them): the caller watches
	 * the main socket for room and tries again then.  Meanwhile
	 * t_ready(out) is false and t_arm(out) says sleep.
	 */
	bool (*t_main_blocked)(lrpc__tconn *t);
} lrpc__tconn_ops;

/*
 * A transport: its name, capabilities and one const ops table per role.
 * Looked up by type; checked once, at the first lookup.
 */
typedef struct lrpc__transport {
	size_t struct_size;
	lrpc_transport type;
	const char *name;
	uint32_t caps; /* lrpc__tcaps */
	const lrpc__listener_ops *listener;
	const lrpc__connector_ops *connector;
	const lrpc__tconn_ops *conn;
} lrpc__transport;

/* Look up a transport by type; NULL if this build lacks it. */
const lrpc__transport *lrpc__transport_get(lrpc_transport type);
/* Resolve LRPC_TRANSPORT_BEST to the best transport available. */
lrpc_transport lrpc__transport_best(void);

extern const lrpc__transport lrpc__socket_transport;
/*
 * Whether this process offers and takes up record sockets
 * (LRPC__CAP_RECORDS): yes unless LRPC_SOCKET_RECORDS=0 is in the
 * environment (a diagnostic switch, docs/wire.md).
 */
bool lrpc__socket_records_enabled(void);
/* Override that for this process (tests of mixed peers). */
void lrpc__socket_records_set(bool enabled);
extern const lrpc__transport lrpc__shm_transport;

/* Total length of an iovec, or SIZE_MAX on overflow. */
size_t lrpc__iov_length(const struct iovec *iov, size_t n);

/* Bytes of a ring and of a private buffer that a trim keeps: what small
 * messages use, and where large records start (LRPC__RING_REWIND_MIN). */
#define LRPC__TRIM_KEEP (16u * 1024u)

/*
 * Give the whole pages inside [@p + @keep, @p + @len) back to the kernel:
 * private memory of ours (malloc'd, with nothing in it we still need),
 * which reads as zeros afterwards.  The allocation itself stays.
 */
void lrpc__mem_discard(void *p, size_t len, size_t keep);
/* Resident bytes of the pages [@p, @p + @len) touches (mincore(2)). */
uint64_t lrpc__mem_resident(const void *p, size_t len);

/* Check that @fd is a non-blocking eventfd: a hostile server could pass
 * a file instead, and we would write into it.  0, -EBADF or -errno. */
int lrpc__eventfd_check(int fd);

/*
 * Fds received with a message, held until taken or released.  Both
 * transports keep one per channel; @held counts every fd of the
 * connection that is received and not yet taken or closed.
 */
typedef struct lrpc__msg_fds {
	int *fds;
	unsigned n;
} lrpc__msg_fds;

/* Attach @n fds to @mh, in @ctl (CMSG_SPACE(sizeof(int) * n) bytes). */
void lrpc__cmsg_put_fds(struct msghdr *mh, void *ctl, const int *fds,
			unsigned n);
/*
 * Collect the fds of a received @mh into a new array (*ret, *ret_n; NULL
 * and 0 when there are none).  Any control message other than
 * SCM_RIGHTS, more than @max fds, or MSG_CTRUNC: every fd is closed and
 * -EBADMSG returned.  -ENOMEM closes them too.
 */
int lrpc__cmsg_take_fds(struct msghdr *mh, unsigned max, int **ret,
			unsigned *ret_n);
/* Close the fds still in @m and free it; @held drops by as many. */
void lrpc__msg_fds_clear(lrpc__msg_fds *m, unsigned *held);
/* Take fd @i of @m (see t_take_fd). */
int lrpc__msg_fds_take(lrpc__msg_fds *m, unsigned i, unsigned *held);

/* Check that @fd is a memfd sealed against resizing, of @size bytes or more. */
int lrpc__memfd_check(int fd, uint64_t size);

#endif
