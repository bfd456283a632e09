/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Sending on the socket transport: whole messages, a partly sent one's
 * tail kept until the socket takes it, events corked while a handler
 * runs, reservations for zero-copy senders.  A record socket takes a
 * message in records of at most the channel's chunk (socket-conn.h).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "socket-conn.h"
#include "util.h"

int
lrpc__sock_flush(lrpc__tconn *t, lrpc__chan chan)
{
	struct sock_out *o = &t->out[chan];
	ssize_t n;

	while (o->off < o->len) {
		size_t len = o->len - o->off;

		/* A record socket takes what is left in records: cut where
		 * they may be, not necessarily between messages (the reader
		 * reassembles). */
		if (t->records)
			len = LRPC_MIN(len, t->chunk[chan]);
		n = send(sock_chan_fd(t, chan), o->buf + o->off, len,
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

/* Most iovec entries one record of a message split in records uses;
 * a record cut short by it is still a record. */
#define PART_IOV 32

/*
 * The entries of @iov covering [@off, @off + *@len) into @part; when more
 * than PART_IOV would be needed, *@len shrinks to what they cover.
 */
static size_t
iov_slice(const struct iovec *iov, size_t n_iov, size_t off, size_t *len,
	  struct iovec *part)
{
	size_t n = 0, want = *len, got = 0;

	for (size_t i = 0; i < n_iov && got < want && n < PART_IOV; i++) {
		size_t l = iov[i].iov_len;
		if (off >= l) {
			off -= l;
			continue;
		}
		size_t take = LRPC_MIN(l - off, want - got);
		part[n++] = (struct iovec){
			.iov_base = (uint8_t *)iov[i].iov_base + off,
			.iov_len = take,
		};
		got += take;
		off = 0;
	}
	*len = got;
	return n;
}

/* The most corked events gather on @chan before they are written. */
static size_t
cork_max(const lrpc__tconn *t, lrpc__chan chan)
{
	return t->records ? LRPC_MIN((size_t)CORK_MAX, t->chunk[chan])
			  : (size_t)CORK_MAX;
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
	struct iovec part[PART_IOV];
	size_t wire = LRPC_ALIGN8(size), done = 0;
	ssize_t n;
	int r;

	/* Corked: gather the record behind the others; they leave together
	 * when the cork comes off or they grow past cork_max(). */
	if (t->corked && chan == LRPC__CHAN_EVENT && n_fds == 0 &&
	    o->len - o->off + wire > cork_max(t, chan) && o->len > 0) {
		r = lrpc__sock_flush(t, chan);
		if (r < 0 && (r != -EAGAIN || !take))
			return r;
	}
	/* (A record with fds is never gathered: they must ride with its
	 * first byte, below, once what was gathered is out.) */
	if (t->corked && chan == LRPC__CHAN_EVENT && n_fds == 0 &&
	    o->len - o->off + wire <= cork_max(t, chan))
		goto keep;
	if (o->len > 0) {
		r = lrpc__sock_flush(t, chan);
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
	/* (With something pending the socket is busy with an earlier
	 * record: this one waits behind it.)  A stream takes what it has
	 * room for; a record socket takes records whole, a message in as
	 * many as its send buffer needs, the fds with the first. */
	while (o->len == 0 && done < wire) {
		size_t len = wire - done;

		if (t->records && (len > t->chunk[chan] || done > 0)) {
			len = LRPC_MIN(len, t->chunk[chan]);
			mh.msg_iovlen = iov_slice(iov, n_iov, done, &len, part);
			mh.msg_iov = part;
		}
		do
			n = sendmsg(sock_chan_fd(t, chan), &mh,
				    MSG_DONTWAIT | MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			if (errno != EAGAIN)
				return errno == EPIPE ? -ECONNRESET : -errno;
			if (done == 0 && !take)
				return -EAGAIN;
			break;
		}
		done += (size_t)n;
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		if (!t->records)
			break;
	}
	if (done == wire)
		return 0;

	/* Partly sent: the channel is now mid-record, so the rest must go
	 * out before anything else. */
keep:
	return sock_keep_tail(o, iov, n_iov, wire, done);
}

int
lrpc__sock_send(lrpc__tconn *t, lrpc__chan chan, const struct iovec *iov,
	  size_t n_iov, size_t size)
{
	return sock_send_record(t, chan, iov, n_iov, size, false, NULL, 0);
}

int
lrpc__sock_send_fds(lrpc__tconn *t, lrpc__chan chan, const struct iovec *iov,
	      size_t n_iov, size_t size, const int *fds, unsigned n_fds)
{
	return sock_send_record(t, chan, iov, n_iov, size, false, fds, n_fds);
}

/*
 * Sockets have no wake-ups to hold: what a burst of events costs here is
 * a write each.  Held, events gather and leave in one write when the
 * hold ends (what is left after a full socket goes out as the core
 * flushes, like any partly written record).
 */
void
lrpc__sock_hold_wakes(lrpc__tconn *t, bool hold)
{
	t->corked = hold;
	if (!hold)
		(void)lrpc__sock_flush(t, LRPC__CHAN_EVENT);
}

int
lrpc__sock_reserve(lrpc__tconn *t, lrpc__chan chan, size_t size, void **ret_buf)
{
	size_t wire = LRPC_ALIGN8(size);

	if (size > t->max_msg)
		return -EMSGSIZE;
	/* Room is "nothing of an earlier record still pending". */
	if (t->out[chan].len > 0) {
		int r = lrpc__sock_flush(t, chan);
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

int
lrpc__sock_commit(lrpc__tconn *t, lrpc__chan chan, size_t size)
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

void
lrpc__sock_cancel(lrpc__tconn *t, lrpc__chan chan)
{
}

bool
lrpc__sock_pending(lrpc__tconn *t, lrpc__chan chan)
{
	/* Corked events wait for the cork to come off, not for room. */
	return t->out[chan].len > 0 &&
	       !(t->corked && chan == LRPC__CHAN_EVENT);
}
