/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the socket transport's framer (runtime/transport/
 * framer.c) reassembling records from a byte stream the peer controls, cut
 * at points the fuzzer chooses.
 *
 * Input: one byte of set-up (the kind the framer expects, the negotiated
 * maximum, record mode, a reader's buffer), then chunks (a length byte
 * and that many bytes), each written into a real socket -- a stream, or
 * in record mode a SOCK_SEQPACKET pair, one record per chunk -- and read
 * with lrpc__framer_fill() before the next (in record mode with a
 * reader's buffer, lrpc__framer_fill_into() whenever nothing is
 * buffered: a message it leaves in that buffer must be the next record
 * of the model, whole).
 * The records the framer hands out are compared with a plain model of the
 * stream: exactly the records the stream holds, in order, whole, 8-byte
 * aligned, each with a valid header, and -EBADMSG exactly where the first
 * invalid header is -- with no buffer grown for the size it claimed.
 */
#include <errno.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz-common.h"
#include "transport/framer.h"
#include "transport/transport.h"

#define ALIGN8(x) (((x) + 7u) & ~(size_t)7u)

static const uint32_t max_sizes[] = { 24, 64, 4096, 1u << 20 };

typedef struct model {
	uint8_t *buf; /* every byte written so far */
	size_t len;
	size_t pos; /* start of the next record the framer must deliver */
	uint32_t max_msg, kind;
} model;

/* What the stream holds at m->pos: 1 a record (its padded size in
 * *ret_size), 0 incomplete, -1 an invalid header. */
static int
model_next(const model *m, size_t *ret_size)
{
	lrpc_msg_header h;

	if (m->len - m->pos < sizeof(h))
		return 0;
	memcpy(&h, m->buf + m->pos, sizeof(h));
	if (h.size < sizeof(h) || h.size > m->max_msg ||
	    (h.flags & ~LRPC__MSG_KIND_MASK) ||
	    (m->kind && (h.flags & LRPC__MSG_KIND_MASK) != m->kind))
		return -1;
	if (m->len - m->pos < ALIGN8((size_t)h.size))
		return 0;
	*ret_size = ALIGN8((size_t)h.size);
	return 1;
}

/* Take every record the framer has; false once the stream is broken. */
static int
drain(lrpc__framer *f, model *m)
{
	for (;;) {
		const lrpc_msg_header *msg;
		size_t size, want = 0;
		int r = lrpc__framer_peek(f, &msg, &size);
		int e = model_next(m, &want);

		if (r == -EBADMSG) {
			FZ_CHECK(e < 0);
			return -1;
		}
		FZ_CHECK(r == 0 || r == 1);
		if (r == 0) {
			FZ_CHECK(e == 0);
			return 0;
		}
		FZ_CHECK(e == 1);
		FZ_CHECK(((uintptr_t)msg & 7) == 0);
		FZ_CHECK(size >= sizeof(*msg) && size <= m->max_msg);
		FZ_CHECK(ALIGN8(size) == want);
		FZ_CHECK(memcmp(msg, m->buf + m->pos, size) == 0);
		lrpc__framer_consume(f);
		m->pos += want;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_in in = { data, size };
	uint8_t setup = fz_u8(&in);
	model m = { .max_msg = max_sizes[(setup >> 2) & 3],
		    .kind = setup & 3 };
	static const size_t ucaps[] = { 0, 24, 64, 4096 };
	bool rec = setup & 0x10, into = rec && (setup & 0x20);
	size_t ucap = ucaps[setup >> 6];
	uint8_t ubuf[4096];
	lrpc__framer f;
	int sv[2], broken = 0;

	m.buf = malloc(size + 1);
	FZ_CHECK(m.buf);
	FZ_CHECK(socketpair(AF_UNIX,
			    (rec ? SOCK_SEQPACKET : SOCK_STREAM) |
				    SOCK_NONBLOCK | SOCK_CLOEXEC,
			    0, sv) == 0);
	lrpc__framer_init(&f, m.max_msg, m.kind);
	if (rec)
		lrpc__framer_set_records(&f);
	while (in.left > 0 && !broken) {
		const uint8_t *chunk;
		size_t n = fz_chunk(&in, &chunk);

		/* At most 255 bytes: an empty socket buffer always takes
		 * them whole. */
		/* (An empty record would read as the end of the stream.) */
		if (n > 0)
			FZ_CHECK(write(sv[1], chunk, n) == (ssize_t)n);
		memcpy(m.buf + m.len, chunk, n);
		m.len += n;
		for (;;) {
			size_t got = 0, want = 0;
			int r;

			if (into && lrpc__framer_buffered(&f) == 0) {
				r = lrpc__framer_fill_into(&f, sv[0], ubuf,
							   ucap, &got);
				if (r == 2) {
					/* One whole message, ours only. */
					FZ_CHECK(model_next(&m, &want) == 1);
					FZ_CHECK(want == ALIGN8(got));
					FZ_CHECK(memcmp(ubuf, m.buf + m.pos,
							got) == 0);
					FZ_CHECK(lrpc__framer_buffered(&f) ==
						 0);
					m.pos += want;
					continue;
				}
			} else {
				r = lrpc__framer_fill(&f, sv[0]);
			}
			if (r == -EAGAIN)
				break;
			if (r == -EBADMSG) {
				/* A header already buffered was invalid, or
				 * a record was longer than any message. */
				size_t dummy;
				FZ_CHECK((rec && n > ALIGN8((size_t)m.max_msg)) ||
					 model_next(&m, &dummy) < 0);
				broken = 1;
				break;
			}
			FZ_CHECK(r > 0);
			if (drain(&f, &m) < 0) {
				broken = 1;
				break;
			}
		}
		/* Never more memory than the largest valid record needs. */
		if (rec)
			FZ_CHECK(f.cap <= ((2 * ALIGN8((size_t)m.max_msg) +
					    4095) & ~(size_t)4095));
		else
			FZ_CHECK(f.cap <= 64u * 1024u +
					 ALIGN8((size_t)m.max_msg));
	}
	if (!broken) {
		/* End of stream: what is left is an incomplete record. */
		close(sv[1]);
		sv[1] = -1;
		int r;
		while ((r = lrpc__framer_fill(&f, sv[0])) > 0)
			;
		FZ_CHECK(r == -ECONNRESET || r == -EBADMSG);
		FZ_CHECK(lrpc__framer_buffered(&f) == m.len - m.pos);
	}
	lrpc__framer_done(&f);
	close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	free(m.buf);
	return 0;
}
