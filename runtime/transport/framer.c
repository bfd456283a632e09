/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "framer.h"
#include "transport.h"
#include "util.h"

/* Reads go into a small buffer first; it grows only for a record whose
 * (validated) header says it is larger, so an idle connection costs little. */
#define FRAMER_INITIAL_CAP (64u * 1024u)

void
lrpc__framer_init(lrpc__framer *f, uint32_t max_msg, uint32_t kind)
{
	*f = (lrpc__framer){ .max_msg = max_msg, .kind = kind };
	f->batches_tail = &f->batches;
}

void
lrpc__framer_set_records(lrpc__framer *f)
{
	assert(!f->buf);
	f->records = true;
	f->room = LRPC_ALIGN8((size_t)f->max_msg);
}

void
lrpc__framer_set_fds(lrpc__framer *f, unsigned per_msg, unsigned per_conn,
		     unsigned *held)
{
	f->fd_max = per_msg;
	f->fd_held_max = per_conn;
	f->fd_held = held;
}

static void
framer_drop_fds(lrpc__framer *f)
{
	lrpc__fd_batch *b;

	while ((b = f->batches)) {
		f->batches = b->next;
		lrpc__msg_fds_clear(&b->fds, f->fd_held);
		free(b);
	}
	f->batches_tail = &f->batches;
	if (f->cur_fds.n)
		lrpc__msg_fds_clear(&f->cur_fds, f->fd_held);
	f->matched = false;
}

void
lrpc__framer_done(lrpc__framer *f)
{
	framer_drop_fds(f);
	if (f->records && f->buf)
		munmap(f->buf, f->cap);
	else
		free(f->buf);
	f->buf = NULL;
	f->cap = f->head = f->tail = f->cur = 0;
}

size_t
lrpc__framer_buffered(const lrpc__framer *f)
{
	return f->tail - f->head;
}

static int
framer_validate(const lrpc__framer *f, const lrpc_msg_header *h)
{
	if (h->size < sizeof(*h) || h->size > f->max_msg)
		return -EBADMSG;
	if (f->kind && (h->flags & LRPC__MSG_KIND_MASK) != f->kind)
		return -EBADMSG;
	if (h->flags & ~(LRPC__MSG_KIND_MASK |
			 (f->fd_max ? LRPC__MSG_FDS_MASK : 0)))
		return -EBADMSG;
	if (lrpc__msg_n_fds(h->flags) > f->fd_max)
		return -EBADMSG;
	return 0;
}

/* Move what is buffered to the start of the buffer. */
static void
framer_compact(lrpc__framer *f)
{
	if (f->head == 0)
		return;
	memmove(f->buf, f->buf + f->head, f->tail - f->head);
	f->tail -= f->head;
	f->head = 0;
}

/*
 * Record mode: a read needs room for the largest record at the tail.  What
 * is buffered when a read is due is less than one message (the IPC core
 * takes every whole one first), so after compacting, a mapping of twice
 * the largest record always has it.  Its pages cost memory only once a
 * record lands in them (and trimming gives them back).
 */
static int
framer_reserve_record(lrpc__framer *f)
{
	if (!f->buf) {
		size_t cap = (2 * f->room + 4095) & ~(size_t)4095;
		void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			       -1, 0);
		if (p == MAP_FAILED)
			return -ENOMEM;
		f->buf = p;
		f->cap = cap;
	}
	if (f->cap - f->tail < f->room)
		framer_compact(f);
	return f->cap - f->tail < f->room ? -EBADMSG : 0;
}

/* Make room for @need bytes from head: compact, then grow. */
static int
framer_reserve(lrpc__framer *f, size_t need)
{
	if (f->cap - f->head < need || f->tail == f->head)
		framer_compact(f);
	if (f->cap - f->head >= need)
		return 0;
	size_t ncap = LRPC_MAX(need + f->head, (size_t)FRAMER_INITIAL_CAP);
	uint8_t *nbuf = realloc(f->buf, ncap);
	if (!nbuf)
		return -ENOMEM;
	f->buf = nbuf;
	f->cap = ncap;
	return 0;
}

/*
 * Read what the stream has.  Records never carry fds: a peer that attaches
 * some breaks the protocol.  A plain recv() would let the kernel drop them
 * silently; recvmsg() with room for a few sees them, closes every one it
 * got, and reports the connection broken -- also when the kernel had to
 * cut the list short (MSG_CTRUNC: it closed the rest itself).
 */
static ssize_t framer_recv(int fd, struct iovec *iov, size_t n_iov);

/*
 * Read with fds allowed.  The kernel ends a read of a stream socket
 * right after the first segment that carries fds, and a sender attaches
 * them to the segment holding the first byte of their record: so the
 * fds of a read belong to the last record that starts in the bytes it
 * read (framer_match()).  Room for exactly the negotiated count: more
 * comes back as MSG_CTRUNC.
 */
static ssize_t
framer_recv_fds(lrpc__framer *f, int fd, struct iovec *iov, size_t n_iov)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * LRPC__MSG_FDS_LIMIT)];
	} ctl;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = n_iov,
			     .msg_control = ctl.buf,
			     .msg_controllen = CMSG_SPACE(sizeof(int) *
							  f->fd_max) };
	lrpc__fd_batch *b;
	unsigned n_fds;
	int *fds;
	ssize_t n;
	int r;

	n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return errno == EINTR ? -EAGAIN : -errno;
	r = lrpc__cmsg_take_fds(&mh, f->fd_max, &fds, &n_fds);
	if (r < 0)
		return r;
	/* A record cut short (MSG_TRUNC) was larger than any message; fds
	 * with no bytes or over the cap break the protocol too. */
	bool bad = (mh.msg_flags & MSG_TRUNC) ||
		   (n_fds > 0 &&
		    (n == 0 || *f->fd_held + n_fds > f->fd_held_max));
	if (n_fds == 0)
		return bad ? -EBADMSG : n;
	if (bad || !(b = calloc(1, sizeof(*b)))) {
		lrpc__msg_fds fl = { .fds = fds, .n = n_fds };
		unsigned held = n_fds;
		lrpc__msg_fds_clear(&fl, &held);
		return bad ? -EBADMSG : -ENOMEM;
	}
	b->start = f->head_off + (f->tail - f->head);
	b->end = b->start + (uint64_t)n;
	b->fds.fds = fds;
	b->fds.n = n_fds;
	*f->fd_held += n_fds;
	*f->batches_tail = b;
	f->batches_tail = &b->next;
	return n;
}

/* Pair the complete record at head (@padded bytes) with its fds. */
static int
framer_match(lrpc__framer *f, const lrpc_msg_header *h, size_t padded)
{
	lrpc__fd_batch *b = f->batches;
	uint64_t start = f->head_off;
	unsigned decl = lrpc__msg_n_fds(h->flags);

	if (f->matched)
		return 0;
	/* Fds that came with bytes no record starts in: nobody's. */
	if (b && b->end <= start)
		return -EBADMSG;
	if (b && b->start <= start && start + padded >= b->end) {
		if (decl != b->fds.n)
			return -EBADMSG;
		f->cur_fds = b->fds;
		f->batches = b->next;
		if (!f->batches)
			f->batches_tail = &f->batches;
		free(b);
	} else if (decl != 0) {
		return -EBADMSG;
	}
	f->matched = true;
	return 0;
}

static ssize_t
framer_recv(int fd, struct iovec *iov, size_t n_iov)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} ctl;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = n_iov,
			     .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	ssize_t n;

	n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return errno == EINTR ? -EAGAIN : -errno;
	if (mh.msg_controllen == 0 && !(mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC)))
		return n;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c;
	     c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int got;
			memcpy(&got, CMSG_DATA(c) + i * sizeof(int),
			       sizeof(got));
			close(got);
		}
	}
	return -EBADMSG;
}

/* One read into @iov, fds allowed where they were negotiated. */
static ssize_t
framer_read(lrpc__framer *f, int fd, struct iovec *iov, size_t n_iov)
{
	return f->fd_max ? framer_recv_fds(f, fd, iov, n_iov)
			 : framer_recv(fd, iov, n_iov);
}

int
lrpc__framer_fill(lrpc__framer *f, int fd)
{
	size_t need = sizeof(lrpc_msg_header), len;
	ssize_t n;
	int r;

	if (f->records) {
		r = framer_reserve_record(f);
		if (r < 0)
			return r;
		goto read;
	}
	/* If a header is already here, we know (and have checked) how much
	 * the record needs; make sure it fits. */
	if (lrpc__framer_buffered(f) >= sizeof(lrpc_msg_header)) {
		const lrpc_msg_header *h =
			(const lrpc_msg_header *)(f->buf + f->head);
		r = framer_validate(f, h);
		if (r < 0)
			return r;
		need = LRPC_ALIGN8((size_t)h->size);
	}
	r = framer_reserve(f, LRPC_MAX(need, (size_t)FRAMER_INITIAL_CAP / 2));
	if (r < 0) {
		r = framer_reserve(f, need);
		if (r < 0)
			return r;
	}
read:
	/* A record longer than the largest message comes back cut
	 * (MSG_TRUNC): refused. */
	len = f->records ? f->room : f->cap - f->tail;
	struct iovec iov = { .iov_base = f->buf + f->tail, .iov_len = len };
	n = framer_read(f, fd, &iov, 1);
	if (n < 0)
		return (int)n;
	if (n == 0)
		return -ECONNRESET;
	f->tail += (size_t)n;
	return (int)LRPC_MIN((size_t)n, (size_t)INT32_MAX);
}

/*
 * Record mode, nothing buffered: read the next record into @buf first and
 * what does not fit after it into our own buffer, in one recvmsg().  A
 * record that is exactly one valid message without fds stays in @buf (2:
 * the caller's copy is the only one); anything else is moved into our
 * buffer as if read there (the caller's bytes are scratch then).
 */
int
lrpc__framer_fill_into(lrpc__framer *f, int fd, void *buf, size_t cap,
		       size_t *ret_size)
{
	unsigned held = f->fd_held ? *f->fd_held : 0;
	size_t mine;
	ssize_t n;
	int r;

	assert(f->records && lrpc__framer_buffered(f) == 0);
	r = framer_reserve_record(f);
	if (r < 0)
		return r;
	/* Room for the largest record in all, no more (MSG_TRUNC beyond). */
	mine = LRPC_MIN(cap, f->room) & ~(size_t)7;
	struct iovec iov[2] = {
		{ .iov_base = buf, .iov_len = mine },
		{ .iov_base = f->buf + f->tail, .iov_len = f->room - mine },
	};
	n = framer_read(f, fd, iov, 2);
	if (n < 0)
		return (int)n;
	if (n == 0)
		return -ECONNRESET;
	if ((size_t)n <= mine && (size_t)n >= sizeof(lrpc_msg_header) &&
	    (!f->fd_held || *f->fd_held == held)) {
		const lrpc_msg_header *h = buf;
		if (framer_validate(f, h) == 0 &&
		    LRPC_ALIGN8((size_t)h->size) == (size_t)n &&
		    lrpc__msg_n_fds(h->flags) == 0) {
			*ret_size = h->size;
			return 2;
		}
	}
	/* Not a message of its own: put the bytes where a fill would
	 * have (any fds were recorded against exactly these bytes). */
	size_t front = LRPC_MIN((size_t)n, mine);
	memmove(f->buf + f->tail + front, f->buf + f->tail, (size_t)n - front);
	memcpy(f->buf + f->tail, buf, front);
	f->tail += (size_t)n;
	return 1;
}

int
lrpc__framer_peek(lrpc__framer *f, const lrpc_msg_header **ret_msg,
		  size_t *ret_size)
{
	const lrpc_msg_header *h;
	size_t padded;
	int r;

	if (lrpc__framer_buffered(f) < sizeof(*h))
		return 0;
	h = (const lrpc_msg_header *)(f->buf + f->head);
	r = framer_validate(f, h);
	if (r < 0)
		return r;
	padded = LRPC_ALIGN8((size_t)h->size);
	if (lrpc__framer_buffered(f) < padded)
		return 0;
	if (f->fd_max) {
		r = framer_match(f, h, padded);
		if (r < 0)
			return r;
	}
	f->cur = padded;
	*ret_msg = h;
	*ret_size = h->size;
	return 1;
}

void
lrpc__framer_consume(lrpc__framer *f)
{
	assert(f->cur > 0 && f->cur <= lrpc__framer_buffered(f));
	if (f->cur_fds.n)
		lrpc__msg_fds_clear(&f->cur_fds, f->fd_held);
	f->matched = false;
	f->head += f->cur;
	f->head_off += f->cur;
	f->cur = 0;
	if (f->head == f->tail)
		f->head = f->tail = 0;
}
