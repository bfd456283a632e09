/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the shared-memory transport's ring consumers, fed a
 * ring image the peer controls (docs/shm.md, "Rings").
 *
 * A real server/client pair of lrpc__tconn is built over one memfd
 * (l_accept, c_adopt), and the harness maps the memfd a third time to play
 * the hostile peer of one channel: the client's request ring (read by the
 * server, which copies out), the server's response or event ring (read by
 * the client, which gets views), or -- as a hostile consumer -- the
 * consumer index of the response ring the server writes.
 *
 * Input: a set-up byte (negotiated maximum, fresh connection or
 * mid-stream, channel); for mid-stream, honest traffic first (a count and
 * message sizes: the indices move and wrap); then up to three rounds of a
 * hostile image: a producer index (relative to the consumer's, or raw) and
 * bytes written at the consumer's position, after each of which the
 * victim reads what it can.  Whatever the image, a victim hands out only
 * whole records with a valid header, inside its data area, and once it has
 * refused the ring the connection ends; a producer never writes outside
 * its data area.
 */
#include <errno.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fuzz-common.h"
#include "transport/shm-layout.h"
#include "transport/shm-ring.h"
#include "transport/transport.h"

static const uint32_t max_sizes[] = { 64, 4096, 65536, 4096 };

typedef struct pair {
	const lrpc__tconn_ops *ops;
	lrpc__tconn *srv, *cli;
	uint8_t *map; /* the hostile peer's own mapping */
	uint64_t total, cap;
	uint32_t max_msg;
	int sv[2];
} pair;

static void
pair_open(pair *p, uint32_t max_msg)
{
	const lrpc__transport *tr = lrpc__transport_get(LRPC_TRANSPORT_SHM);
	lrpc__fdset pass = { .n = 0 };
	int memfd;

	FZ_CHECK(tr);
	p->ops = tr->conn;
	p->max_msg = max_msg;
	p->cap = lrpc__ring_capacity(max_msg);
	p->total = LRPC__SHM_DATA_OFF + LRPC__N_CHAN * p->cap;
	FZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p->sv) == 0);
	uint64_t caps = 0;
	FZ_CHECK(tr->listener->l_accept(&p->srv, p->sv[0], max_msg, &caps,
					&pass) == 0);
	FZ_CHECK(pass.n == 3);
	memfd = dup(pass.fds[0]);
	FZ_CHECK(memfd >= 0);
	FZ_CHECK(tr->connector->c_adopt(&p->cli, p->sv[1], max_msg, caps,
					&pass) == 0);
	p->map = mmap(NULL, p->total, PROT_READ | PROT_WRITE, MAP_SHARED,
		      memfd, 0);
	FZ_CHECK(p->map != MAP_FAILED);
	close(memfd);
}

static void
pair_close(pair *p)
{
	p->ops->t_free(p->srv);
	p->ops->t_free(p->cli);
	munmap(p->map, p->total);
	close(p->sv[0]);
	close(p->sv[1]);
}

static lrpc__ring_shared *
ring_header(pair *p, lrpc__chan chan)
{
	return (lrpc__ring_shared *)(void *)(p->map + LRPC__SHM_RINGS_OFF +
					     chan * sizeof(lrpc__ring_shared));
}

static uint8_t *
ring_data(uint8_t *base, pair *p, lrpc__chan chan)
{
	return base + LRPC__SHM_DATA_OFF + chan * p->cap;
}

static uint32_t
kind_of(lrpc__chan chan)
{
	return chan == LRPC__CHAN_REQUEST    ? LRPC__MSG_REQUEST
	       : chan == LRPC__CHAN_RESPONSE ? LRPC__MSG_RESPONSE
					     : LRPC__MSG_EVENT;
}

/* An honest message of about @size bytes from the channel's producer. */
static int
send_honest(pair *p, lrpc__chan chan, uint32_t size)
{
	static uint8_t buf[65536];
	lrpc_msg_header h = { .flags = kind_of(chan) };
	struct iovec iov = { .iov_base = buf, .iov_len = 0 };

	if (size < sizeof(h))
		size = sizeof(h);
	if (size > p->max_msg)
		size = p->max_msg;
	h.size = size;
	memcpy(buf, &h, sizeof(h));
	iov.iov_len = size;
	return p->ops->t_send(chan == LRPC__CHAN_REQUEST ? p->cli : p->srv,
			      chan, &iov, 1, size);
}

/* The victim reads what it can; returns -1 once it refused something
 * (the connection would be dropped). */
static int
consume(pair *p, lrpc__chan chan)
{
	lrpc__tconn *t = chan == LRPC__CHAN_REQUEST ? p->srv : p->cli;

	for (int i = 0; i < 64; i++) {
		const lrpc_msg_header *msg;
		size_t size;
		int r = p->ops->t_recv(t, chan, false, &msg, &size);

		if (r == 0)
			return 0;
		if (r < 0) {
			/* The connection is dropped here. */
			FZ_CHECK(r == -EBADMSG);
			return -1;
		}
		FZ_CHECK(r == 1);
		FZ_CHECK(size >= sizeof(*msg) && size <= p->max_msg);
		if (chan != LRPC__CHAN_REQUEST) {
			/* A view into the client's own mapping of the ring:
			 * inside the channel's data area. */
			uint8_t *base = p->ops->t_shared_page(t);
			const uint8_t *lo = ring_data(base, p, chan);
			const uint8_t *m = (const uint8_t *)msg;
			FZ_CHECK(m >= lo && m + size <= lo + p->cap);
		} else {
			/* The server's private copy: its header agrees. */
			FZ_CHECK(msg->size == size);
			FZ_CHECK(msg->flags == LRPC__MSG_REQUEST);
		}
		/* Every byte handed out is readable (ASan watches the
		 * server's copy). */
		volatile uint8_t sum = 0;
		for (size_t k = 0; k < size; k++)
			sum ^= ((const uint8_t *)msg)[k];
		(void)sum;
		p->ops->t_release(t, chan);
	}
	return 0;
}

/* The hostile producer: a producer index and bytes at the consumer's
 * position. */
static void
write_image(pair *p, lrpc__chan chan, fz_in *in)
{
	lrpc__ring_shared *sh = ring_header(p, chan);
	uint8_t *data = ring_data(p->map, p, chan);
	uint64_t cons = atomic_load(&sh->cons);
	uint8_t how = fz_u8(in);
	uint64_t prod;
	uint16_t len = fz_u16(in);
	uint64_t at = cons + (how & 0x80 ? fz_u16(in) : 0);

	if (len > in->left)
		len = (uint16_t)in->left;
	for (uint16_t i = 0; i < len; i++)
		data[(at + i) & (p->cap - 1)] = in->p[i];
	in->p += len;
	in->left -= len;
	switch (how & 3) {
	case 0: /* just what was written, rounded to records */
		prod = cons + ((len + 7u) & ~7u);
		break;
	case 1:
		prod = cons + fz_u32(in);
		break;
	case 2:
		prod = cons - fz_u16(in); /* backwards */
		break;
	default:
		prod = fz_u64(in);
		break;
	}
	atomic_store(&sh->prod, prod);
}

/* The hostile consumer of the response ring: the server writes only
 * inside that ring's data area whatever index it is shown. */
static void
hostile_consumer(pair *p, fz_in *in)
{
	lrpc__ring_shared *sh = ring_header(p, LRPC__CHAN_RESPONSE);
	uint8_t *ev = ring_data(p->map, p, LRPC__CHAN_EVENT);

	for (int round = 0; round < 4 && in->left > 0; round++) {
		uint8_t how = fz_u8(in);
		uint64_t prod = atomic_load(&sh->prod);

		atomic_store(&sh->cons, how & 1 ? fz_u64(in)
						: prod - fz_u32(in));
		for (int i = 0; i < 8; i++) {
			int r = send_honest(p, LRPC__CHAN_RESPONSE,
					    fz_u16(in));
			FZ_CHECK(r == 0 || r == -EAGAIN || r == -EPROTO);
			if (r == -EPROTO)
				break;
		}
	}
	/* The event ring right after it was never written. */
	for (uint64_t i = 0; i < p->cap; i++)
		FZ_CHECK(ev[i] == 0);
	FZ_CHECK(p->map[LRPC__SHM_DATA_OFF - 1] == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_in in = { data, size };
	uint8_t setup = fz_u8(&in);
	unsigned which = (setup >> 3) & 3;
	lrpc__chan chan = which == 3 ? LRPC__CHAN_RESPONSE : (lrpc__chan)which;
	pair p;

	pair_open(&p, max_sizes[setup & 3]);
	if (setup & 4) {
		/* Mid-stream: honest traffic on the channel first. */
		unsigned n = fz_u8(&in);
		for (unsigned i = 0; i < n; i++) {
			FZ_CHECK(send_honest(&p, chan, fz_u16(&in)) == 0);
			FZ_CHECK(consume(&p, chan) == 0);
		}
	}
	if (which == 3) {
		hostile_consumer(&p, &in);
	} else {
		for (int round = 0; round < 3 && in.left > 0; round++) {
			write_image(&p, chan, &in);
			if (consume(&p, chan) < 0)
				break;
		}
	}
	pair_close(&p);
	return 0;
}
