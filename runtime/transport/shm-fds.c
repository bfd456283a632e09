/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fd passing for the shm transport (see shm-fds.h). */
#include <string.h>
#include <sys/socket.h>

#include "shm-conn.h"
#include "util.h"

int
lrpc__shm_fds_send(lrpc__shm_fds *s, lrpc__chan chan, const int *fds,
		   unsigned n_fds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * LRPC__MSG_FDS_LIMIT)];
	} ctl;
	lrpc__shm_fd_tag tag = { .chan = (uint8_t)chan,
				 .n_fds = (uint8_t)n_fds,
				 .seq = s->seq_out[chan] };
	struct iovec iov = { .iov_base = &tag, .iov_len = sizeof(tag) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	assert(n_fds > 0 && n_fds <= LRPC__MSG_FDS_LIMIT);
	lrpc__cmsg_put_fds(&mh, ctl.buf, fds, n_fds);
	do
		n = sendmsg(s->sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EPIPE ? -ECONNRESET : -errno;
	/* 8 bytes go whole or not at all into a stream socket's buffer. */
	if ((size_t)n != sizeof(tag))
		return -EPROTO;
	s->seq_out[chan]++;
	return 0;
}

/*
 * Read one packet from the main socket into a new stash entry: a valid
 * tag of a channel this side receives on, exactly as many fds as it
 * says, the next rank of its channel, within the cap.  -EAGAIN when
 * there is none.
 */
static int
fds_read_packet(lrpc__shm_fds *s)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * LRPC__MSG_FDS_LIMIT)];
	} ctl;
	lrpc__shm_fd_tag tag;
	/* Room for exactly the negotiated count: more is MSG_CTRUNC. */
	struct iovec iov = { .iov_base = &tag, .iov_len = sizeof(tag) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = ctl.buf,
			     .msg_controllen = CMSG_SPACE(sizeof(int) *
							  s->per_msg) };
	lrpc__shm_fd_packet *p, **tail;
	lrpc__msg_fds m;
	unsigned n_fds, tmp, queued = 0;
	ssize_t n;
	int *fds, r;

	/* A read of a stream socket ends after a packet with fds: one
	 * read, one packet, whatever else is queued behind it. */
	do
		n = recvmsg(s->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	r = lrpc__cmsg_take_fds(&mh, s->per_msg, &fds, &n_fds);
	if (r < 0)
		return r;
	m = (lrpc__msg_fds){ .fds = fds, .n = n_fds };
	tmp = n_fds;
	if (n == 0) {
		lrpc__msg_fds_clear(&m, &tmp);
		return -ECONNRESET;
	}
	if ((size_t)n != sizeof(tag) || tag.chan >= LRPC__N_CHAN ||
	    !(s->recv_chans & (1u << tag.chan)) || tag.zero != 0 ||
	    tag.n_fds == 0 || n_fds != tag.n_fds ||
	    s->held + n_fds > s->per_conn) {
		lrpc__msg_fds_clear(&m, &tmp);
		return -EBADMSG;
	}
	for (tail = &s->stash[tag.chan]; *tail; tail = &(*tail)->next)
		queued++;
	if (tag.seq != s->seq_in[tag.chan] + queued ||
	    !(p = calloc(1, sizeof(*p)))) {
		lrpc__msg_fds_clear(&m, &tmp);
		return tag.seq != s->seq_in[tag.chan] + queued ? -EBADMSG
							       : -ENOMEM;
	}
	p->fds = m;
	*tail = p;
	s->held += n_fds;
	return 0;
}

int
lrpc__shm_fds_match(lrpc__shm_fds *s, lrpc__chan chan, uint32_t flags)
{
	unsigned decl = lrpc__msg_n_fds(flags);
	lrpc__shm_fd_packet *p;
	int r;

	if (s->matched[chan] || decl == 0) {
		s->matched[chan] = true;
		return 0;
	}
	if (decl > s->per_msg)
		return -EBADMSG;
	/*
	 * Responses and events share the socket: a packet of the other
	 * channel that comes first waits in its stash.  The sender sent
	 * ours before publishing the record, so it is there, or the peer
	 * is broken.
	 */
	while (!s->stash[chan]) {
		r = fds_read_packet(s);
		if (r < 0)
			return r == -EAGAIN ? -EBADMSG : r;
	}
	p = s->stash[chan];
	if (p->fds.n != decl)
		return -EBADMSG;
	s->stash[chan] = p->next;
	s->cur[chan] = p->fds;
	free(p);
	s->seq_in[chan]++;
	s->matched[chan] = true;
	return 0;
}

void
lrpc__shm_fds_release(lrpc__shm_fds *s, lrpc__chan chan)
{
	lrpc__msg_fds_clear(&s->cur[chan], &s->held);
	s->matched[chan] = false;
}

void
lrpc__shm_fds_done(lrpc__shm_fds *s)
{
	for (int i = 0; i < LRPC__N_CHAN; i++) {
		lrpc__shm_fd_packet *p;

		lrpc__shm_fds_release(s, (lrpc__chan)i);
		while ((p = s->stash[i])) {
			s->stash[i] = p->next;
			lrpc__msg_fds_clear(&p->fds, &s->held);
			free(p);
		}
	}
}

int
lrpc__shm_send_fds(lrpc__tconn *t, lrpc__chan chan, const struct iovec *iov,
		   size_t n_iov, size_t size, const int *fds, unsigned n_fds)
{
	lrpc__ring *r = &t->ring[chan];
	uint8_t *p;
	int err;

	if (size > t->max_msg)
		return -EMSGSIZE;
	p = lrpc__ring_reserve(r, (uint32_t)size, &err);
	if (!p) {
		if (err == -EAGAIN)
			t->want[chan] = (uint32_t)size;
		return err;
	}
	if (n_fds > 0) {
		err = lrpc__shm_fds_send(&t->fds, chan, fds, n_fds);
		t->main_blocked = err == -EAGAIN;
		if (err < 0) {
			lrpc__ring_cancel(r);
			return err;
		}
	}
	/* The iovec carries padding to 8 bytes the ring does not need. */
	size_t left = size;
	for (size_t i = 0; i < n_iov && left > 0; i++) {
		size_t k = LRPC_MIN(iov[i].iov_len, left);
		memcpy(p, iov[i].iov_base, k);
		p += k;
		left -= k;
	}
	t->want[chan] = 0;
	if (lrpc__ring_commit(r, (uint32_t)size))
		lrpc__shm_wake_peer(t);
	return 0;
}

void
lrpc__shm_fd_limits(lrpc__tconn *t, unsigned per_msg, unsigned per_conn)
{
	t->fds.per_msg = per_msg;
	t->fds.per_conn = per_conn;
}

unsigned
lrpc__shm_msg_n_fds(lrpc__tconn *t, lrpc__chan chan)
{
	return t->fds.cur[chan].n;
}

int
lrpc__shm_take_fd(lrpc__tconn *t, lrpc__chan chan, unsigned i)
{
	return lrpc__msg_fds_take(&t->fds.cur[chan], i, &t->fds.held);
}
