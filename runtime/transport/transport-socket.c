/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The socket transport: requests and responses travel on the connection's
 * main unix stream socket, events on a second stream socket (one end of a
 * socketpair the server creates and passes in the handshake), so an event
 * can never be taken for a response.  See docs/wire.md for why streams and
 * not SOCK_SEQPACKET.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "framer.h"
#include "transport.h"
#include "util.h"

/* Socket buffer size asked for; the kernel caps it at wmem_max/rmem_max
 * for unprivileged processes, which is fine: it only saves syscalls. */
#define SOCK_BUF_SIZE (1024 * 1024)

struct sock_out {
	/* The unsent tail of a message the transport already took. */
	uint8_t *buf;
	size_t cap;
	size_t len;
	size_t off;
};

struct lrpc__tconn {
	lrpc__role role;
	int main_fd;  /* not owned */
	int event_fd; /* owned */
	uint32_t max_msg;
	lrpc__framer in[LRPC__N_CHAN];
	struct sock_out out[LRPC__N_CHAN];
	/* t_reserve buffers: private memory, sent at t_commit. */
	uint8_t *resv[LRPC__N_CHAN];
	size_t resv_cap[LRPC__N_CHAN];
	/* t_hold_wakes: events gather in out[] and leave in one write. */
	bool corked;
	unsigned fds_held; /* received fds not yet taken or closed */
};

/* Most bytes corked events gather before they are written anyway. */
#define CORK_MAX (64 * 1024)

static int
sock_chan_fd(lrpc__tconn *t, lrpc__chan chan)
{
	return chan == LRPC__CHAN_EVENT ? t->event_fd : t->main_fd;
}

static void
sock_set_bufs(int fd)
{
	int v = SOCK_BUF_SIZE;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
}

static lrpc__tconn *
sock_alloc(lrpc__role role, int sock, uint32_t max_msg)
{
	lrpc__tconn *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->role = role;
	t->main_fd = sock;
	t->event_fd = -1;
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
	free(t);
}

static int
sock_accept(lrpc__tconn **ret, int sock, uint32_t max_msg, lrpc__fdset *pass)
{
	lrpc__tconn *t;
	int sv[2], r;

	t = sock_alloc(LRPC__ROLE_SERVER, sock, max_msg);
	if (!t)
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
		       sv) < 0) {
		r = -errno;
		sock_free(t);
		return r;
	}
	t->event_fd = sv[0];
	sock_set_bufs(sv[0]);
	sock_set_bufs(sock);
	/* Events only flow one way; the client's end never writes. */
	(void)shutdown(sv[0], SHUT_RD);
	pass->n = 0;
	pass->fds[pass->n++] = sv[1];
	*ret = t;
	return 0;
}

static int
sock_check_stream(int fd)
{
	int type = 0, domain = 0;
	socklen_t l = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0)
		return -EBADF;
	l = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l) < 0)
		return -EBADF;
	if (type != SOCK_STREAM || domain != AF_UNIX)
		return -EBADF;
	return 0;
}

static int
sock_adopt(lrpc__tconn **ret, int sock, uint32_t max_msg, lrpc__fdset *fds)
{
	lrpc__tconn *t;
	int r;

	if (fds->n != 1) {
		lrpc__fdset_close(fds);
		return -EPROTO;
	}
	r = sock_check_stream(fds->fds[0]);
	if (r < 0) {
		lrpc__fdset_close(fds);
		return r;
	}
	t = sock_alloc(LRPC__ROLE_CLIENT, sock, max_msg);
	if (!t) {
		lrpc__fdset_close(fds);
		return -ENOMEM;
	}
	t->event_fd = fds->fds[0];
	fds->n = 0;
	if (fcntl(t->event_fd, F_SETFL, O_RDWR | O_NONBLOCK) < 0) {
		r = -errno;
		sock_free(t);
		return r;
	}
	sock_set_bufs(sock);
	*ret = t;
	return 0;
}

static int
sock_flush(lrpc__tconn *t, lrpc__chan chan)
{
	struct sock_out *o = &t->out[chan];
	ssize_t n;

	while (o->off < o->len) {
		n = send(sock_chan_fd(t, chan), o->buf + o->off, o->len - o->off,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return -EAGAIN;
			return errno == EPIPE ? -ECONNRESET : -errno;
		}
		o->off += (size_t)n;
	}
	o->off = o->len = 0;
	/* Keep small buffers for reuse; give back large ones. */
	if (o->cap > 256 * 1024) {
		free(o->buf);
		o->buf = NULL;
		o->cap = 0;
	}
	return 0;
}

/* Keep a copy of the record's bytes after the first @done of @wire,
 * after whatever is still pending. */
static int
sock_keep_tail(struct sock_out *o, const struct iovec *iov, size_t n_iov,
	       size_t wire, size_t done)
{
	size_t keep = wire - done, have = o->len - o->off;

	if (o->off > 0) {
		memmove(o->buf, o->buf + o->off, have);
		o->off = 0;
		o->len = have;
	}
	if (o->cap < have + keep) {
		uint8_t *nbuf = realloc(o->buf, have + keep);
		if (!nbuf)
			return -ENOMEM; /* fatal: the stream is torn */
		o->buf = nbuf;
		o->cap = have + keep;
	}
	uint8_t *buf = o->buf + have;
	size_t pos = 0, skip = done;
	for (size_t i = 0; i < n_iov; i++) {
		size_t len = iov[i].iov_len, off = LRPC_MIN(skip, len);
		skip -= off;
		memcpy(buf + pos, (const uint8_t *)iov[i].iov_base + off,
		       len - off);
		pos += len - off;
	}
	assert(pos == keep);
	o->len = have + keep;
	return 0;
}

/*
 * Send a record.  With @take, a record that cannot go out at once is kept
 * whole (t_commit must not fail for lack of room: the room was checked at
 * t_reserve); without, -EAGAIN means nothing was taken.
 */
static int
sock_send_record(lrpc__tconn *t, lrpc__chan chan, const struct iovec *iov,
		 size_t n_iov, size_t size, bool take, const int *fds,
		 unsigned n_fds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * LRPC__MSG_FDS_LIMIT)];
	} ctl;
	struct sock_out *o = &t->out[chan];
	struct msghdr mh = { .msg_iov = (struct iovec *)iov,
			     .msg_iovlen = n_iov };
	size_t wire = LRPC_ALIGN8(size), done;
	ssize_t n;
	int r;

	/* Corked: gather the record behind the others; they leave together
	 * when the cork comes off or they grow past CORK_MAX. */
	if (t->corked && chan == LRPC__CHAN_EVENT && n_fds == 0 &&
	    o->len - o->off + wire > CORK_MAX && o->len > 0) {
		r = sock_flush(t, chan);
		if (r < 0 && (r != -EAGAIN || !take))
			return r;
	}
	/* (A record with fds is never gathered: they must ride with its
	 * first byte, below, once what was gathered is out.) */
	if (t->corked && chan == LRPC__CHAN_EVENT && n_fds == 0 &&
	    o->len - o->off + wire <= CORK_MAX) {
		done = 0;
		goto keep;
	}
	if (o->len > 0) {
		r = sock_flush(t, chan);
		if (r < 0 && (r != -EAGAIN || !take))
			return r;
	}
	if (n_fds > 0) {
		/* The fds must ride with the record's first byte: not while
		 * the stream is mid-record (docs/wire.md). */
		assert(!take && n_fds <= LRPC__MSG_FDS_LIMIT);
		if (o->len > 0)
			return -EAGAIN;
		lrpc__cmsg_put_fds(&mh, ctl.buf, fds, n_fds);
	}
	if (o->len > 0) {
		n = 0; /* the stream is busy with an earlier record */
	} else {
		do
			n = sendmsg(sock_chan_fd(t, chan), &mh,
				    MSG_DONTWAIT | MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			if (errno != EAGAIN)
				return errno == EPIPE ? -ECONNRESET : -errno;
			if (!take)
				return -EAGAIN;
			n = 0;
		}
	}
	done = (size_t)n;
	if (done == wire)
		return 0;

	/* Partial write: the stream is now mid-record, so the rest must go
	 * out before anything else. */
keep:
	return sock_keep_tail(o, iov, n_iov, wire, done);
}

static int
sock_send(lrpc__tconn *t, lrpc__chan chan, const struct iovec *iov,
	  size_t n_iov, size_t size)
{
	return sock_send_record(t, chan, iov, n_iov, size, false, NULL, 0);
}

static int
sock_send_fds(lrpc__tconn *t, lrpc__chan chan, const struct iovec *iov,
	      size_t n_iov, size_t size, const int *fds, unsigned n_fds)
{
	return sock_send_record(t, chan, iov, n_iov, size, false, fds, n_fds);
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

/*
 * Sockets have no wake-ups to hold: what a burst of events costs here is
 * a write each.  Held, events gather and leave in one write when the
 * hold ends (what is left after a full socket goes out as the core
 * flushes, like any partly written record).
 */
static void
sock_hold_wakes(lrpc__tconn *t, bool hold)
{
	t->corked = hold;
	if (!hold)
		(void)sock_flush(t, LRPC__CHAN_EVENT);
}

static int
sock_reserve(lrpc__tconn *t, lrpc__chan chan, size_t size, void **ret_buf)
{
	size_t wire = LRPC_ALIGN8(size);

	if (size > t->max_msg)
		return -EMSGSIZE;
	/* Room is "nothing of an earlier record still pending". */
	if (t->out[chan].len > 0) {
		int r = sock_flush(t, chan);
		if (r < 0)
			return r;
	}
	if (t->resv_cap[chan] < wire) {
		uint8_t *b = realloc(t->resv[chan], wire);
		if (!b)
			return -ENOMEM;
		t->resv[chan] = b;
		t->resv_cap[chan] = wire;
	}
	*ret_buf = t->resv[chan];
	return 0;
}

static int
sock_commit(lrpc__tconn *t, lrpc__chan chan, size_t size)
{
	size_t wire = LRPC_ALIGN8(size);
	struct iovec iov = { .iov_base = t->resv[chan], .iov_len = wire };
	int r;

	assert(t->resv[chan] && wire <= t->resv_cap[chan]);
	memset(t->resv[chan] + size, 0, wire - size);
	r = sock_send_record(t, chan, &iov, 1, size, true, NULL, 0);
	/* Do not keep a huge buffer around for one large message. */
	if (t->resv_cap[chan] > 256 * 1024) {
		free(t->resv[chan]);
		t->resv[chan] = NULL;
		t->resv_cap[chan] = 0;
	}
	return r;
}

static void
sock_cancel(lrpc__tconn *t, lrpc__chan chan)
{
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

static bool
sock_pending(lrpc__tconn *t, lrpc__chan chan)
{
	/* Corked events wait for the cork to come off, not for room. */
	return t->out[chan].len > 0 &&
	       !(t->corked && chan == LRPC__CHAN_EVENT);
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
	.t_send = sock_send,
	.t_flush = sock_flush,
	.t_pending = sock_pending,
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
	.t_reserve = sock_reserve,
	.t_commit = sock_commit,
	.t_cancel = sock_cancel,
	.t_trim = sock_trim,
	.t_held = sock_held,
	.t_hold_wakes = sock_hold_wakes,
	.t_fd_limits = sock_fd_limits,
	.t_send_fds = sock_send_fds,
	.t_msg_n_fds = sock_msg_n_fds,
	.t_take_fd = sock_take_fd,
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
