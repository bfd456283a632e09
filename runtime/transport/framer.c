/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>
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
}

void
lrpc__framer_done(lrpc__framer *f)
{
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
	if (h->flags & ~LRPC__MSG_KIND_MASK)
		return -EBADMSG;
	return 0;
}

/* Make room for @need bytes from head: compact, then grow. */
static int
framer_reserve(lrpc__framer *f, size_t need)
{
	if (f->head > 0 && (f->cap - f->head < need || f->tail == f->head)) {
		memmove(f->buf, f->buf + f->head, f->tail - f->head);
		f->tail -= f->head;
		f->head = 0;
	}
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

int
lrpc__framer_fill(lrpc__framer *f, int fd)
{
	size_t need = sizeof(lrpc_msg_header);
	ssize_t n;
	int r;

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
	n = recv(fd, f->buf + f->tail, f->cap - f->tail, MSG_DONTWAIT);
	if (n < 0)
		return errno == EINTR ? -EAGAIN : -errno;
	if (n == 0)
		return -ECONNRESET;
	f->tail += (size_t)n;
	return (int)LRPC_MIN((size_t)n, (size_t)INT32_MAX);
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
	f->cur = padded;
	*ret_msg = h;
	*ret_size = h->size;
	return 1;
}

void
lrpc__framer_consume(lrpc__framer *f)
{
	assert(f->cur > 0 && f->cur <= lrpc__framer_buffered(f));
	f->head += f->cur;
	f->cur = 0;
	if (f->head == f->tail)
		f->head = f->tail = 0;
}
