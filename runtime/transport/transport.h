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

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <lrpc/loop.h>
#include <lrpc/types.h>

typedef enum lrpc__chan {
	LRPC__CHAN_REQUEST = 0,  /* client -> server */
	LRPC__CHAN_RESPONSE = 1, /* server -> client */
	LRPC__CHAN_EVENT = 2,    /* server -> client */
	LRPC__N_CHAN
} lrpc__chan;

/* Message kinds, in lrpc_msg_header.flags (library-owned). */
#define LRPC__MSG_KIND_MASK 0x3u
#define LRPC__MSG_REQUEST 0x1u
#define LRPC__MSG_RESPONSE 0x2u
#define LRPC__MSG_EVENT 0x3u

/* Spin budgets, microseconds (see docs/shm.md for the reasoning). */
#define LRPC__DEFAULT_SPIN_USEC 20u

/* Most fds a transport hands over in the handshake. */
#define LRPC__MAX_FDS 4

/*
 * The control page, shared read-only with the client: the server publishes
 * the "stop sending" switch and flow control here so that a client checks
 * them without a syscall per message.  The client reads each field once
 * into a local and treats any value it does not know as "stop".
 */
#define LRPC__CTL_MAGIC 0x4c43544cu /* "LCTL" */
#define LRPC__CTL_STOP 0x1u         /* service-wide stop-sending switch */
#define LRPC__CTL_FLOW 0x2u         /* this connection is flow-controlled */
#define LRPC__CTL_KNOWN (LRPC__CTL_STOP | LRPC__CTL_FLOW)
#define LRPC__CTL_SIZE 4096u

typedef struct lrpc__ctl {
	uint32_t magic;
	uint32_t version;
	_Atomic uint32_t flags;
} lrpc__ctl;

typedef struct lrpc__tconn lrpc__tconn;

typedef struct lrpc__fdset {
	int fds[LRPC__MAX_FDS];
	unsigned n;
} lrpc__fdset;

void lrpc__fdset_close(lrpc__fdset *s);

/* Roles a transport instance plays. */
typedef enum lrpc__role {
	LRPC__ROLE_SERVER,
	LRPC__ROLE_CLIENT,
} lrpc__role;

/*
 * One const table per transport.  Every member is required.  Unless said
 * otherwise members never block and return 0 or a negative errno; a
 * "fatal" error means the connection must be closed.
 */
typedef struct lrpc__transport_ops {
	size_t struct_size;
	lrpc_transport type;
	const char *name;

	/*
	 * Server side: build the transport of a just-accepted connection whose
	 * main socket is @sock (not owned).  Fills @pass with fds for the
	 * client; they stay owned by @pass (the caller closes them once they
	 * were sent).
	 */
	int (*s_new)(lrpc__tconn **ret, int sock, uint32_t max_msg,
		     lrpc__fdset *pass);
	/*
	 * Client side: adopt the fds received in the handshake (taken from
	 * @fds on success and on failure; every fd is checked for type and
	 * size before use).
	 */
	int (*c_new)(lrpc__tconn **ret, int sock, uint32_t max_msg,
		     lrpc__fdset *fds);
	/* Free everything the transport owns (not the main socket). */
	void (*t_free)(lrpc__tconn *t);

	/*
	 * Send one message of @size bytes (gathered from @iov, header
	 * already in wire form) on @chan.  All or nothing: 0 when the
	 * transport took the whole message (it may still be on its way:
	 * see t_flush), -EAGAIN when it took nothing and the caller should
	 * wait for t_wait_fd(out=true).  Fatal: anything else.
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
	 * size between the header size and the negotiated maximum), 0 if
	 * none is complete yet (if @fill, one read was tried first), or a
	 * fatal error (-ECONNRESET: peer gone; -EBADMSG: protocol broken).
	 * The same message is returned until t_release.
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
	/* The shared control page, or NULL if the transport has none. */
	lrpc__ctl *(*t_ctl)(lrpc__tconn *t);

	/*
	 * Sleeping and waking.  A side that found nothing to do on @chan
	 * (no data; with @out, no room) may spin on t_ready (only if @spin:
	 * it makes no syscall), then calls t_arm before sleeping on
	 * t_wait_fd: 1 means the condition already holds (do not sleep), 0
	 * sleep, <0 the connection is broken.  After waking (or giving up)
	 * it calls t_disarm, which also clears the wake-up fd.  t_kick makes
	 * the caller's own wake-up fd readable (to hand work found while
	 * awake to a poll loop).  Transports whose fds carry the data
	 * itself (sockets) make these no-ops.
	 */
	bool spin;
	/*
	 * Publish the CPU we run on and say whether spinning makes sense:
	 * false when the peer last ran on the same CPU (spinning would only
	 * keep it from running).
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
	 * form, library fields set).  -EAGAIN when there is no room.  Only
	 * one reservation per channel at a time.
	 */
	int (*t_reserve)(lrpc__tconn *t, lrpc__chan chan, size_t size,
			 void **ret_buf);
	int (*t_commit)(lrpc__tconn *t, lrpc__chan chan, size_t size);
	void (*t_cancel)(lrpc__tconn *t, lrpc__chan chan);
} lrpc__transport_ops;

/* Look up a transport by type; NULL if this build lacks it. */
const lrpc__transport_ops *lrpc__transport_get(lrpc_transport type);
/* Resolve LRPC_TRANSPORT_BEST to the best transport available. */
lrpc_transport lrpc__transport_best(void);

extern const lrpc__transport_ops lrpc__socket_transport_ops;
extern const lrpc__transport_ops lrpc__shm_transport_ops;

/*
 * Build the wire iovec for a user message: a private copy of the header
 * with the library-owned fields set, the rest of @in after the header, and
 * zero padding to 8 bytes.  @hdr receives the copy.  Returns the number of
 * entries written to @out (capacity LRPC_IOV_MAX + 2) or -EINVAL.
 * *ret_size is the message size (without padding).
 */
int lrpc__iov_prepare(const struct iovec *in, size_t n_in,
		      lrpc_msg_header *hdr, struct iovec *out,
		      size_t *ret_size);
/* Total length of an iovec, or SIZE_MAX on overflow. */
size_t lrpc__iov_length(const struct iovec *iov, size_t n);

/*
 * Busy-wait until @chan of @t is ready (see t_ready) or the monotonic
 * clock passes @end (µs): true if it became ready.
 */
bool lrpc__transport_spin(const lrpc__transport_ops *ops, lrpc__tconn *t,
			  lrpc__chan chan, bool out, uint64_t end);
/*
 * Extra spinning (µs) for a call or answer of @size bytes: about the time
 * the peer needs to copy it and answer (2 KiB per µs), at most 1 ms.
 */
static inline uint32_t
lrpc__spin_extra_usec(size_t size)
{
	size_t us = size / 2048;
	return (uint32_t)(us < 1000 ? us : 1000);
}

/* Shared control page helpers (server creates, client maps read-only). */
int lrpc__ctl_create(int *ret_fd, lrpc__ctl **ret_ctl);
int lrpc__ctl_map_peer(int fd, const lrpc__ctl **ret_ctl);
void lrpc__ctl_unmap(const lrpc__ctl *ctl);
/* Check that @fd is a memfd sealed against resizing with at least @size bytes. */
int lrpc__memfd_check(int fd, uint64_t size);

#endif
