/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The socket transport.  Events travel on a socketpair of their own, which
 * the server creates and passes in the handshake, so an event can never be
 * taken for a response.  With record sockets (LRPC__CAP_RECORDS, both
 * sides new enough) requests and responses travel on a second socketpair
 * and both pairs are SOCK_SEQPACKET: a message is one record (or, where
 * the socket buffers are smaller than the largest message, a few), which
 * the kernel moves as one buffer and hands over with one wake-up.  Without
 * them requests and responses share the connection's main stream socket,
 * and the event pair is a stream too: a stream cuts a large message into
 * many small kernel buffers.  docs/wire.md, "Record sockets".
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "socket-conn.h"
#include "util.h"

/* -1 until first asked; threads may ask at once (they agree). */
static _Atomic int records_enabled = -1;

void
lrpc__socket_records_set(bool enabled)
{
	atomic_store_explicit(&records_enabled, enabled, memory_order_relaxed);
}

bool
lrpc__socket_records_enabled(void)
{
	int enabled = atomic_load_explicit(&records_enabled,
					   memory_order_relaxed);

	if (enabled < 0) {
		/* secure_getenv: a setuid program is not steered by its
		 * caller. */
		const char *e = secure_getenv("LRPC_SOCKET_RECORDS");
		enabled = !(e && strcmp(e, "0") == 0);
		atomic_store_explicit(&records_enabled, enabled,
				      memory_order_relaxed);
	}
	return enabled;
}

/*
 * Ask for a send buffer that holds two of the largest records, so one can
 * be read while the next is written (the kernel doubles what we ask for):
 * forced past wmem_max where we may (CAP_NET_ADMIN), else as much as
 * wmem_max allows.  No more: the buffers of records in flight are pages
 * the kernel allocates and the reader copies out of, and the fewer there
 * are, the more of them are still in cache when they come round again
 * (64 KiB one-way messages: about 10 % faster than with twice as much).
 * Never more than RECORD_BUF_MAX either: a peer may fill its buffer with
 * kernel memory we do not read yet, and larger messages go in several
 * records anyway.
 */
#define RECORD_BUF_MAX (4u * 1024u * 1024u)

static void
record_set_buf(int fd, size_t room)
{
	int v = (int)LRPC_MIN(room + 4096, (size_t)RECORD_BUF_MAX);

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

/*
 * The largest record to send on @fd: the kernel refuses a record over
 * its send buffer less 32 bytes (EMSGSIZE); half of that keeps two in
 * flight.  Never more than a whole message, never less than 64 bytes.
 */
static size_t
record_chunk(int fd, size_t room)
{
	int sb = 0;
	socklen_t l = sizeof(sb);
	size_t c = 64;

	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, &l) == 0 && sb > 128)
		c = LRPC_MAX(((size_t)sb - 32) / 2, (size_t)64);
	return LRPC_MIN(c, room) & ~(size_t)7;
}

static void
sock_set_bufs(int fd)
{
	int v = SOCK_BUF_SIZE;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
}

static lrpc__tconn *
sock_alloc(lrpc__role role, int sock, uint32_t max_msg, bool records)
{
	lrpc__tconn *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->role = role;
	t->main_fd = sock;
	t->event_fd = -1;
	t->rpc_fd = -1;
	t->records = records;
	t->max_msg = max_msg;
	if (role == LRPC__ROLE_SERVER) {
		lrpc__framer_init(&t->in[LRPC__CHAN_REQUEST], max_msg,
				  LRPC__MSG_REQUEST);
	} else {
		lrpc__framer_init(&t->in[LRPC__CHAN_RESPONSE], max_msg,
				  LRPC__MSG_RESPONSE);
		lrpc__framer_init(&t->in[LRPC__CHAN_EVENT], max_msg,
				  LRPC__MSG_EVENT);
	}
	if (records)
		for (int i = 0; i < LRPC__N_CHAN; i++)
			lrpc__framer_set_records(&t->in[i]);
	return t;
}

static void
sock_free(lrpc__tconn *t)
{
	if (!t)
		return;
	for (int i = 0; i < LRPC__N_CHAN; i++) {
		lrpc__framer_done(&t->in[i]);
		free(t->out[i].buf);
		free(t->resv[i]);
	}
	lrpc__safe_close(t->event_fd);
	lrpc__safe_close(t->rpc_fd);
	free(t);
}

static int
sock_accept(lrpc__tconn **ret, int sock, uint32_t max_msg, uint64_t *caps,
	    lrpc__fdset *pass)
{
	bool rec = *caps & LRPC__CAP_RECORDS;
	int type = (rec ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_CLOEXEC |
		   SOCK_NONBLOCK;
	size_t room = LRPC_ALIGN8((size_t)max_msg);
	lrpc__tconn *t;
	int sv[2], rp[2], r;

	t = sock_alloc(LRPC__ROLE_SERVER, sock, max_msg, rec);
	if (!t)
		return -ENOMEM;
	if (socketpair(AF_UNIX, type, 0, sv) < 0) {
		r = -errno;
		sock_free(t);
		return r;
	}
	t->event_fd = sv[0];
	pass->n = 0;
	pass->fds[pass->n++] = sv[1];
	/* Events only flow one way; the client's end never writes. */
	(void)shutdown(sv[0], SHUT_RD);
	if (!rec) {
		sock_set_bufs(sv[0]);
		sock_set_bufs(sock);
		*ret = t;
		return 0;
	}
	if (socketpair(AF_UNIX, type, 0, rp) < 0) {
		r = -errno;
		lrpc__fdset_close(pass);
		sock_free(t);
		return r;
	}
	t->rpc_fd = rp[0];
	pass->fds[pass->n++] = rp[1];
	/* Both ends' buffers are ours to size: the client's end sends its
	 * requests, and it reads back what it got. */
	record_set_buf(sv[0], room);
	record_set_buf(rp[0], room);
	record_set_buf(rp[1], room);
	t->chunk[LRPC__CHAN_RESPONSE] = record_chunk(rp[0], room);
	t->chunk[LRPC__CHAN_EVENT] = record_chunk(sv[0], room);
	*ret = t;
	return 0;
}

static int
sock_check_type(int fd, int want)
{
	int type = 0, domain = 0;
	socklen_t l = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0)
		return -EBADF;
	l = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l) < 0)
		return -EBADF;
	if (type != want || domain != AF_UNIX)
		return -EBADF;
	return 0;
}

static int
sock_adopt(lrpc__tconn **ret, int sock, uint32_t max_msg, uint64_t caps,
	   lrpc__fdset *fds)
{
	bool rec = caps & LRPC__CAP_RECORDS;
	int type = rec ? SOCK_SEQPACKET : SOCK_STREAM;
	lrpc__tconn *t;
	int r = 0;

	if (fds->n != (rec ? 2u : 1u)) {
		lrpc__fdset_close(fds);
		return -EPROTO;
	}
	for (unsigned i = 0; i < fds->n && r == 0; i++)
		r = sock_check_type(fds->fds[i], type);
	if (r < 0) {
		lrpc__fdset_close(fds);
		return r;
	}
	t = sock_alloc(LRPC__ROLE_CLIENT, sock, max_msg, rec);
	if (!t) {
		lrpc__fdset_close(fds);
		return -ENOMEM;
	}
	t->event_fd = fds->fds[0];
	if (rec)
		t->rpc_fd = fds->fds[1];
	fds->n = 0;
	if (fcntl(t->event_fd, F_SETFL, O_RDWR | O_NONBLOCK) < 0 ||
	    (rec && fcntl(t->rpc_fd, F_SETFL, O_RDWR | O_NONBLOCK) < 0)) {
		r = -errno;
		sock_free(t);
		return r;
	}
	if (rec)
		t->chunk[LRPC__CHAN_REQUEST] =
			record_chunk(t->rpc_fd, LRPC_ALIGN8((size_t)max_msg));
	else
		sock_set_bufs(sock);
	*ret = t;
	return 0;
}

static void
sock_fd_limits(lrpc__tconn *t, unsigned per_msg, unsigned per_conn)
{
	for (int i = 0; i < LRPC__N_CHAN; i++)
		lrpc__framer_set_fds(&t->in[i], per_msg, per_conn,
				     &t->fds_held);
}

static unsigned
sock_msg_n_fds(lrpc__tconn *t, lrpc__chan chan)
{
	return t->in[chan].cur_fds.n;
}

static int
sock_take_fd(lrpc__tconn *t, lrpc__chan chan, unsigned i)
{
	return lrpc__msg_fds_take(&t->in[chan].cur_fds, i, &t->fds_held);
}


static bool
sock_spin_ok(lrpc__tconn *t)
{
	return false;
}

static bool
sock_ready(lrpc__tconn *t, lrpc__chan chan, bool out)
{
	return false;
}

static int
sock_arm(lrpc__tconn *t, lrpc__chan chan, bool out)
{
	return 0;
}

static void
sock_disarm(lrpc__tconn *t, lrpc__chan chan, bool out)
{
}

static void
sock_kick(lrpc__tconn *t)
{
}

static int
sock_recv(lrpc__tconn *t, lrpc__chan chan, bool fill,
	  const lrpc_msg_header **ret_msg, size_t *ret_size)
{
	lrpc__framer *f = &t->in[chan];
	int r;

	r = lrpc__framer_peek(f, ret_msg, ret_size);
	if (r != 0 || !fill)
		return r;
	r = lrpc__framer_fill(f, sock_chan_fd(t, chan));
	if (r == -EAGAIN)
		return 0;
	if (r < 0)
		return r;
	return lrpc__framer_peek(f, ret_msg, ret_size);
}

static int
sock_recv_into(lrpc__tconn *t, lrpc__chan chan, void *buf, size_t cap,
	       const lrpc_msg_header **ret_msg, size_t *ret_size)
{
	lrpc__framer *f = &t->in[chan];
	int r;

	if (!f->records || lrpc__framer_buffered(f) > 0)
		return sock_recv(t, chan, true, ret_msg, ret_size);
	r = lrpc__framer_fill_into(f, sock_chan_fd(t, chan), buf, cap,
				   ret_size);
	if (r == 2)
		return 2;
	if (r == -EAGAIN)
		return 0;
	if (r < 0)
		return r;
	return lrpc__framer_peek(f, ret_msg, ret_size);
}

static bool
sock_partial(lrpc__tconn *t, lrpc__chan chan)
{
	return lrpc__framer_buffered(&t->in[chan]) > 0;
}

static void
sock_release(lrpc__tconn *t, lrpc__chan chan)
{
	lrpc__framer_consume(&t->in[chan]);
}

static int
sock_wait_fd(lrpc__tconn *t, lrpc__chan chan, bool out, uint32_t *ret_events)
{
	*ret_events = out ? LRPC_POLL_OUT : LRPC_POLL_IN;
	return sock_chan_fd(t, chan);
}

static void *
sock_shared_page(lrpc__tconn *t)
{
	return NULL;
}

/*
 * Give back what only large messages needed: the receive buffers beyond
 * their first LRPC__TRIM_KEEP bytes when they hold nothing, a send tail
 * buffer once it is sent, the reservation buffers (the IPC core never
 * trims while a reservation is open).  What the kernel buffers in the
 * sockets is not ours to give back: it is freed as soon as it is read.
 */
static void
sock_trim(lrpc__tconn *t)
{
	for (int i = 0; i < LRPC__N_CHAN; i++) {
		lrpc__framer *f = &t->in[i];
		struct sock_out *o = &t->out[i];

		if (f->cur == 0 && lrpc__framer_buffered(f) == 0)
			lrpc__mem_discard(f->buf, f->cap, LRPC__TRIM_KEEP);
		if (o->len == 0) {
			free(o->buf);
			o->buf = NULL;
			o->cap = 0;
		}
		lrpc__mem_discard(t->resv[i], t->resv_cap[i],
				  LRPC__TRIM_KEEP);
	}
}

static void
sock_held(lrpc__tconn *t, uint64_t *ret_ring, uint64_t *ret_buf)
{
	uint64_t n = 0;

	for (int i = 0; i < LRPC__N_CHAN; i++) {
		n += lrpc__mem_resident(t->in[i].buf, t->in[i].cap);
		n += lrpc__mem_resident(t->out[i].buf, t->out[i].cap);
		n += lrpc__mem_resident(t->resv[i], t->resv_cap[i]);
	}
	*ret_ring = 0;
	*ret_buf = n;
}

static const lrpc__listener_ops socket_listener_ops = {
	.struct_size = sizeof(lrpc__listener_ops),
	.l_accept = sock_accept,
};

static const lrpc__connector_ops socket_connector_ops = {
	.struct_size = sizeof(lrpc__connector_ops),
	.c_adopt = sock_adopt,
};

static const lrpc__tconn_ops socket_conn_ops = {
	.struct_size = sizeof(lrpc__tconn_ops),
	.t_free = sock_free,
	.t_send = lrpc__sock_send,
	.t_flush = lrpc__sock_flush,
	.t_pending = lrpc__sock_pending,
	.t_recv = sock_recv,
	.t_partial = sock_partial,
	.t_release = sock_release,
	.t_wait_fd = sock_wait_fd,
	.t_shared_page = sock_shared_page,
	.t_spin_ok = sock_spin_ok,
	.t_ready = sock_ready,
	.t_arm = sock_arm,
	.t_disarm = sock_disarm,
	.t_kick = sock_kick,
	.t_reserve = lrpc__sock_reserve,
	.t_commit = lrpc__sock_commit,
	.t_cancel = lrpc__sock_cancel,
	.t_trim = sock_trim,
	.t_held = sock_held,
	.t_hold_wakes = lrpc__sock_hold_wakes,
	.t_fd_limits = sock_fd_limits,
	.t_send_fds = lrpc__sock_send_fds,
	.t_msg_n_fds = sock_msg_n_fds,
	.t_take_fd = sock_take_fd,
	.t_recv_into = sock_recv_into,
};

const lrpc__transport lrpc__socket_transport = {
	.struct_size = sizeof(lrpc__transport),
	.type = LRPC_TRANSPORT_SOCKET,
	.name = "socket",
	/* The sockets carry the data and wake the peer themselves. */
	.caps = 0,
	.listener = &socket_listener_ops,
	.connector = &socket_connector_ops,
	.conn = &socket_conn_ops,
};
