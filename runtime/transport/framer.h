/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reassembles lrpc messages from a byte stream into private, 8-byte
 * aligned memory.  Every header is validated before its size is used.
 */
#ifndef LRPC_FRAMER_H
#define LRPC_FRAMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lrpc/types.h>

#include "transport.h"

/* The fds one read brought, and the stream bytes [start, end) it read. */
typedef struct lrpc__fd_batch {
	struct lrpc__fd_batch *next;
	uint64_t start, end;
	lrpc__msg_fds fds;
} lrpc__fd_batch;

typedef struct lrpc__framer {
	uint8_t *buf;
	size_t cap;  /* allocated bytes */
	size_t head; /* start of the first unconsumed record */
	size_t tail; /* end of received data */
	uint32_t max_msg;
	uint32_t kind; /* expected kind in header flags, 0: any */
	/* Record mode (lrpc__framer_set_records()): every read is one
	 * record of at most @room bytes, into a mapping of 2 * @room. */
	bool records;
	size_t room;
	size_t cur;    /* padded size of the record last peeked, 0: none */
	/* Fd passing (lrpc__framer_set_fds()); fd_max 0: no record may
	 * carry fds. */
	unsigned fd_max;
	unsigned fd_held_max;
	unsigned *fd_held;
	uint64_t head_off; /* stream offset of buf[head] */
	lrpc__fd_batch *batches, **batches_tail; /* oldest first */
	bool matched;          /* the peeked record has its fds in cur_fds */
	lrpc__msg_fds cur_fds; /* the fds of the record last peeked */
} lrpc__framer;

void lrpc__framer_init(lrpc__framer *f, uint32_t max_msg, uint32_t kind);
/*
 * Read from a record socket (SOCK_SEQPACKET) from now on: each read takes
 * one record of up to LRPC_ALIGN8(max_msg) bytes, whole messages or parts
 * of one, and a record that would not fit is a protocol error (the kernel
 * would have cut it).  Call before the first fill.
 */
void lrpc__framer_set_records(lrpc__framer *f);
void lrpc__framer_done(lrpc__framer *f);
/*
 * One recv() from @fd into the buffer.  Returns the bytes read, -EAGAIN,
 * -ECONNRESET at end of stream, -ENOMEM, or another fatal errno.
 */
int lrpc__framer_fill(lrpc__framer *f, int fd);
/*
 * Record mode with nothing buffered: one read into @buf (@cap bytes) and
 * on into the buffer.  2 when the read brought exactly one valid message
 * without fds, which is then in @buf (*@ret_size its size) and nowhere
 * else; 1 when it brought anything else, now in the buffer as a fill
 * would have put it (@buf's content is then undefined); or an error as
 * lrpc__framer_fill()'s.
 */
int lrpc__framer_fill_into(lrpc__framer *f, int fd, void *buf, size_t cap,
			   size_t *ret_size);
/*
 * Peek at the next complete record: 1 and a view, 0 if incomplete,
 * -EBADMSG if the header is invalid (size out of range, wrong kind).
 */
int lrpc__framer_peek(lrpc__framer *f, const lrpc_msg_header **ret_msg,
		      size_t *ret_size);
/*
 * Accept records carrying up to @per_msg fds, as long as *@held (shared by
 * the connection's framers) stays at most @per_conn.
 */
void lrpc__framer_set_fds(lrpc__framer *f, unsigned per_msg,
			  unsigned per_conn, unsigned *held);
/* Consume the record last peeked (closing its fds not taken). */
void lrpc__framer_consume(lrpc__framer *f);
/* Bytes received but not consumed. */
size_t lrpc__framer_buffered(const lrpc__framer *f);

#endif
