/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Hostile peers on the wire (HARDENING groups A and C): raw unix sockets
 * that speak the handshake and the record framing by hand and then break
 * the rules, against a real server process.  Every test also keeps an
 * honest lrpc client connected and checks that it is still served, and
 * that the server exits clean (every accepted connection destroyed once).
 *
 * Every wait is a poll() with a timeout, so a bug shows up as a failed
 * assertion and not as a hung test.
 *
 * The handshake tests run on every transport.  The record tests speak the
 * socket transport's framing on the main socket and are skipped for the
 * others (shared-memory rings have their own hostile tests, HARDENING B);
 * there, bytes on the main socket are ignored, which is tested too.
 */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "ipc/ipc-handshake.h"
#include "transport/transport.h"

#define HDR_SIZE sizeof(lrpc_msg_header)
#define WIRE(n) (((size_t)(n) + 7u) & ~(size_t)7u)
/* Upper bound for anything the server should do "at once". */
#define SOON_MS 2000
/* The raw clients ask for this message size in their hello. */
#define RAW_MAX_MSG (64u * 1024u)

/* A handler the tests add next to the standard ones: statistics. */
#define H_STATS 100

struct stats_reply {
	lrpc_msg_header hdr;
	/* Of the connection that asked. */
	uint64_t requests;
	uint64_t recv_retries;
	/* Over every connection of the server. */
	uint64_t max_flow_control_count;
	uint32_t any_flow_control_state;
	uint32_t max_bytes_queued;
};

static int
h_stats(lrpc_conn *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	struct stats_reply r = { .hdr = { .size = sizeof(r), .id = m->id } };
	lrpc_conn_stats st;
	lrpc_server *s = lrpc_conn_get_server(c);

	if (lrpc_conn_get_stats(c, &st, sizeof(st)) < 0)
		return -EIO;
	r.requests = st.requests;
	r.recv_retries = st.recv_retries;
	for (lrpc_conn *o = lrpc_server_get_first_conn(s); o;
	     o = lrpc_conn_get_next(o)) {
		if (lrpc_conn_get_stats(o, &st, sizeof(st)) < 0)
			return -EIO;
		if (st.flow_control_count > r.max_flow_control_count)
			r.max_flow_control_count = st.flow_control_count;
		if (st.flow_control_state)
			r.any_flow_control_state = 1;
		if (st.bytes_queued > r.max_bytes_queued)
			r.max_bytes_queued = st.bytes_queued;
	}
	return lrpc_conn_send_response(c, &r, sizeof(r));
}

/* Who the server thinks the asking connection's peer is. */
#define H_WHO 102

struct who_reply {
	lrpc_msg_header hdr;
	int32_t pid;
	uint32_t uid, gid, pad;
};

static int
h_who(lrpc_conn *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	struct who_reply r = { .hdr = { .size = sizeof(r), .id = m->id } };
	lrpc_peer peer;

	if (lrpc_conn_get_peer(c, &peer) < 0)
		return -EIO;
	r.pid = (int32_t)peer.pid;
	r.uid = (uint32_t)peer.uid;
	r.gid = (uint32_t)peer.gid;
	return lrpc_conn_send_response(c, &r, sizeof(r));
}

static void
hostile_setup(lrpc_server *s, lrpc_loop *loop, void *arg)
{
	th_standard_handlers(s, loop, arg);
	lrpc_server_add_handler(s, H_STATS, h_stats, NULL);
	lrpc_server_add_handler(s, H_WHO, h_who, NULL);
}

/* The transport of the running test: the raw clients ask for it. */
static lrpc_transport raw_transport;

static th_server *
spawn(void **state, const lrpc_server_opts *opts)
{
	th_server *s;

	raw_transport = ((const th_ctx *)*state)->transport;
	s = th_server_spawn(*state, NULL, opts, hostile_setup, NULL);
	assert_non_null(s);
	return s;
}

/* --- The honest client --- */

static lrpc_client *
honest_connect(void **state)
{
	lrpc_client *c = NULL;

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	th_echo(c, 100, 1, SOON_MS);
	return c;
}

/* --- Raw sockets --- */

typedef struct raw {
	int fd;
	int fds[TH_RAW_MAX_FDS]; /* received with the welcome */
	unsigned n_fds;
	lrpc__welcome w;
	uint32_t max_msg;
} raw;

/* Connect a stream socket to the service, nothing sent. */
static int
raw_connect_fd(const th_ctx *ctx)
{
	int fd = -1;

	assert_int_equal(th_raw_connect(ctx, &fd), 0);
	return fd;
}

static void
raw_close(raw *r)
{
	for (unsigned i = 0; i < r->n_fds; i++)
		close(r->fds[i]);
	r->n_fds = 0;
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

/*
 * True if the server closes @fd within @timeout_ms, checked without
 * reading anything (reading would count as progress).
 */
static bool
expect_hangup(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };
	int n;

	do
		n = poll(&p, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	return n > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* True if @fd is neither closed nor readable for @ms. */
static bool
stays_quiet(int fd, int ms)
{
	return !th_wait_fd(fd, POLLIN | POLLRDHUP, ms);
}

/* Check a welcome that accepted us. */
static void
raw_check_welcome_ok(raw *r)
{
	assert_int_equal(r->w.magic, LRPC__WELCOME_MAGIC);
	assert_int_equal(r->w.version, LRPC_PROTOCOL_VERSION);
	assert_int_equal(r->w.status, 0);
	assert_int_equal(r->w.transport, raw_transport);
	assert_int_equal(r->w.n_fds, r->n_fds);
	assert_in_range(r->n_fds, 1, LRPC__MAX_FDS);
	r->max_msg = r->w.max_msg_size;
	assert_int_equal(r->max_msg, RAW_MAX_MSG);
}

/* A raw client that finished the handshake. */
static raw
raw_open(void **state)
{
	raw r = { .fd = raw_connect_fd(*state) };

	assert_int_equal(th_raw_handshake(r.fd, raw_transport, RAW_MAX_MSG,
					  &r.w, r.fds, &r.n_fds, SOON_MS),
			 1);
	raw_check_welcome_ok(&r);
	return r;
}

/* Build a request record (padded) into @buf; returns the wire length. */
static size_t
make_req(uint8_t *buf, size_t size, int32_t id, uint64_t seq, unsigned seed)
{
	lrpc_msg_header *h = (lrpc_msg_header *)buf;

	th_fill(buf, size, id, seed);
	h->flags = LRPC__MSG_REQUEST;
	h->seq = seq;
	memset(buf + size, 0, WIRE(size) - size);
	return WIRE(size);
}

/*
 * Read one response record into @buf (padding included).  Returns its
 * size, 0 at end of stream, or a negative errno.
 */
static int
raw_read_msg(int fd, uint8_t *buf, size_t cap, int timeout_ms)
{
	const lrpc_msg_header *h = (const lrpc_msg_header *)buf;
	int r;

	r = th_raw_recv_exact(fd, buf, HDR_SIZE, timeout_ms);
	if (r <= 0)
		return r;
	if (h->size < HDR_SIZE || WIRE(h->size) > cap ||
	    (h->flags & LRPC__MSG_KIND_MASK) != LRPC__MSG_RESPONSE)
		return -EBADMSG;
	if (WIRE(h->size) > HDR_SIZE) {
		r = th_raw_recv_exact(fd, buf + HDR_SIZE,
				      WIRE(h->size) - HDR_SIZE, timeout_ms);
		if (r <= 0)
			return r < 0 ? r : -EPIPE;
	}
	return (int)h->size;
}

/* Expect the echo of a request built by make_req(size, TH_ECHO, seq, seed). */
static void
raw_expect_echo(int fd, size_t size, uint64_t seq, unsigned seed)
{
	static uint8_t buf[RAW_MAX_MSG];
	const lrpc_msg_header *h = (const lrpc_msg_header *)buf;

	assert_int_equal(raw_read_msg(fd, buf, sizeof(buf), SOON_MS),
			 (int)size);
	assert_int_equal(h->id, TH_ECHO);
	assert_int_equal(h->error, 0);
	assert_int_equal(h->seq, seq);
	assert_true(th_check(buf, size, seed));
}

/* A full echo round trip on a raw connection. */
static void
raw_echo(raw *r, size_t size, uint64_t seq, unsigned seed)
{
	static uint8_t req[RAW_MAX_MSG];

	th_raw_send_all(r->fd, req, make_req(req, size, TH_ECHO, seq, seed));
	raw_expect_echo(r->fd, size, seq, seed);
}

/* Ask the server for this raw connection's statistics. */
static void
raw_stats(raw *r, uint64_t seq, struct stats_reply *ret)
{
	uint8_t req[HDR_SIZE], buf[256];

	th_raw_send_all(r->fd, req, make_req(req, HDR_SIZE, H_STATS, seq, 0));
	assert_int_equal(raw_read_msg(r->fd, buf, sizeof(buf), SOON_MS),
			 (int)sizeof(*ret));
	memcpy(ret, buf, sizeof(*ret));
	assert_int_equal(ret->hdr.seq, seq);
}

static void
honest_stats(lrpc_client *c, struct stats_reply *ret)
{
	lrpc_msg_header h = { .size = sizeof(h), .id = H_STATS };

	assert_int_equal(th_call(c, &h, sizeof(h), ret, sizeof(*ret),
					  SOON_MS),
			 (int)sizeof(*ret));
}

/*
 * Tests listed TH_ON_SOCKET below write records on the main socket, which
 * is the socket transport's framing: with shm requests travel in the ring
 * (test-shm.c attacks that), so they are not run there.
 */

/* --- A: bad records --- */

static void
test_hostile_truncated_header_then_close(void **state)
{
	th_server *s = spawn(state, NULL);
	lrpc_client *c = honest_connect(state);
	uint8_t req[64];

	for (size_t cut = 1; cut < HDR_SIZE; cut += 7) {
		raw r = raw_open(state);
		make_req(req, sizeof(req), TH_ECHO, 1, 0);
		th_raw_send_all(r.fd, req, cut);
		th_msleep(20);
		raw_close(&r);
		/* The server notices the end and frees the connection. */
		assert_true(th_server_expect(s, "destroyed", SOON_MS, NULL, 0));
		th_echo(c, 200, (unsigned)cut, SOON_MS);
	}
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

static void
test_hostile_bad_declared_size_dropped(void **state)
{
	th_server *s = spawn(state, NULL);
	lrpc_client *c = honest_connect(state);
	const uint32_t sizes[] = { 0, 1, HDR_SIZE - 1, RAW_MAX_MSG + 1,
				   RAW_MAX_MSG + 8, INT32_MAX, UINT32_MAX,
				   (uint32_t)INT32_MAX + 1 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		raw r = raw_open(state);
		uint8_t req[128];
		lrpc_msg_header *h = (lrpc_msg_header *)req;

		/* A good request first proves the connection worked. */
		raw_echo(&r, 64, 1, (unsigned)i);
		make_req(req, sizeof(req), TH_ECHO, 2, 0);
		h->size = sizes[i];
		th_raw_send_all(r.fd, req, sizeof(req));
		assert_true(th_raw_expect_eof(r.fd, SOON_MS, NULL));
		assert_true(th_server_expect(s, "destroyed", SOON_MS, NULL, 0));
		raw_close(&r);
		th_echo(c, 300, (unsigned)i, SOON_MS);
	}
	/* The largest valid size still works: the cap is exactly the
	 * negotiated size. */
	raw r = raw_open(state);
	raw_echo(&r, RAW_MAX_MSG, 3, 7);
	raw_close(&r);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

/*
 * A record announced larger than what follows, then silence: the partial
 * record waits in that connection's buffer (bounded by the negotiated
 * size), the loop keeps serving everyone else, and the connection stays
 * until the peer completes the record, goes away, or read_timeout_ms
 * (default 10 s, see the next test) passes.
 */
static void
test_hostile_stalled_record_does_not_block(void **state)
{
	th_server *s = spawn(state, NULL);
	lrpc_client *c = honest_connect(state);
	static uint8_t req[8192];
	raw r = raw_open(state);
	size_t wire = make_req(req, 5000, TH_ECHO, 9, 3);

	th_raw_send_all(r.fd, req, 1000);
	long t0 = th_now_ms();
	for (unsigned i = 0; i < 20; i++)
		th_echo(c, 1000, i, SOON_MS);
	/* Twenty round trips while the stalled record sits there. */
	assert_true(th_now_ms() - t0 < SOON_MS);
	/* Another connection can be made and served meanwhile, too. */
	lrpc_client *c2 = NULL;
	assert_int_equal(th_connect(*state, &c2, NULL), 0);
	th_echo(c2, 500, 5, SOON_MS);
	lrpc_client_unref(c2);
	/* The stalled connection is kept, with what it sent so far. */
	assert_true(stays_quiet(r.fd, 300));
	/* More of it, still incomplete: still nothing. */
	th_raw_send_all(r.fd, req + 1000, 2000);
	assert_true(stays_quiet(r.fd, 100));
	th_raw_send_all(r.fd, req + 3000, wire - 3000);
	raw_expect_echo(r.fd, 5000, 9, 3);
	/* Stall again and go away: the half record is dropped with it. */
	th_raw_send_all(r.fd, req, 100);
	raw_close(&r);
	assert_true(th_server_expect(s, "destroyed", SOON_MS, NULL, 0));
	th_echo(c, 100, 77, SOON_MS);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

/* HARDENING A3: a request left half sent is dropped at the read timeout;
 * one completed in pieces within it is served. */
static void
test_hostile_half_sent_request_read_timeout(void **state)
{
	lrpc_server_opts o = { .struct_size = sizeof(o),
			       .read_timeout_usec = 400 * LRPC_USEC_PER_MSEC};
	th_server *s = spawn(state, &o);
	lrpc_client *c = honest_connect(state);
	static uint8_t req[8192];
	raw r = raw_open(state);
	size_t wire = make_req(req, 5000, TH_ECHO, 9, 3);

	th_raw_send_all(r.fd, req, 1000);
	th_msleep(150);
	th_raw_send_all(r.fd, req + 1000, 1000);
	th_msleep(150);
	th_raw_send_all(r.fd, req + 2000, wire - 2000);
	raw_expect_echo(r.fd, 5000, 9, 3);

	long t0 = th_now_ms();
	th_raw_send_all(r.fd, req, 1000);
	th_echo(c, 1000, 1, SOON_MS);
	assert_true(expect_hangup(r.fd, 3000));
	long dt = th_now_ms() - t0;
	assert_true(dt >= 350);
	assert_true(dt < 2500);
	raw_close(&r);
	assert_true(th_server_expect(s, "destroyed", SOON_MS, NULL, 0));
	th_echo(c, 100, 2, SOON_MS);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

static void
test_hostile_trailing_garbage_dropped(void **state)
{
	th_server *s = spawn(state, NULL);
	lrpc_client *c = honest_connect(state);
	const uint8_t fills[] = { 0x00, 0xab, 0xff };

	for (size_t i = 0; i < sizeof(fills); i++) {
		raw r = raw_open(state);
		uint8_t buf[256];
		/* A record of 40 bytes (48 on the wire) followed by 48 bytes
		 * that are not a record: the declared size is smaller than
		 * what was sent. */
		size_t wire = make_req(buf, 40, TH_ECHO, 1, (unsigned)i);
		memset(buf + wire, fills[i], 48);
		th_raw_send_all(r.fd, buf, wire + 48);
		/* The good record is answered; then the garbage is taken for
		 * a header, found invalid and the connection dropped. */
		raw_expect_echo(r.fd, 40, 1, (unsigned)i);
		assert_true(th_raw_expect_eof(r.fd, SOON_MS, NULL));
		raw_close(&r);
		assert_true(th_server_expect(s, "destroyed", SOON_MS, NULL, 0));
		th_echo(c, 100, (unsigned)i, SOON_MS);
	}
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

static void
test_hostile_bad_kind_flags_dropped(void **state)
{
	th_server *s = spawn(state, NULL);
	lrpc_client *c = honest_connect(state);
	const uint32_t flags[] = {
		0,
		LRPC__MSG_RESPONSE,
		LRPC__MSG_EVENT,
		LRPC__MSG_REQUEST | 0x4u,
		LRPC__MSG_REQUEST | 0x100u,
		LRPC__MSG_REQUEST | 0x80000000u,
		0xffffffffu,
	};

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		raw r = raw_open(state);
		uint8_t req[64];

		make_req(req, sizeof(req), TH_ECHO, 1, 0);
		((lrpc_msg_header *)req)->flags = flags[i];
		th_raw_send_all(r.fd, req, sizeof(req));
		size_t extra = 1;
		assert_true(th_raw_expect_eof(r.fd, SOON_MS, &extra));
		/* Dropped without being dispatched: no response came. */
		assert_int_equal(extra, 0);
		raw_close(&r);
		assert_true(th_server_expect(s, "destroyed", SOON_MS, NULL, 0));
		th_echo(c, 64, (unsigned)i, SOON_MS);
	}
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

/* --- A4/A5: fragmentation and coalescing --- */

/* Send @len bytes one byte per send(), pausing so that the server sees
 * the pieces separately. */
static void
send_bytewise(int fd, const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		th_raw_send_all(fd, buf + i, 1);
		if (i < HDR_SIZE + 8 || i % 16 == 0)
			th_msleep(1);
	}
}

static void
test_hostile_one_byte_sends(void **state)
{
	th_server *s = spawn(state, NULL);
	lrpc_client *c = honest_connect(state);
	raw r = raw_open(state);
	static uint8_t req[512], one[512], frag[512];
	struct stats_reply st0, st1;
	size_t size = 301, wire = make_req(req, size, TH_ECHO, 42, 11);

	/* The reference: the same bytes in one write. */
	th_raw_send_all(r.fd, req, wire);
	assert_int_equal(raw_read_msg(r.fd, one, sizeof(one), SOON_MS),
			 (int)size);
	raw_stats(&r, 43, &st0);

	send_bytewise(r.fd, req, wire);
	th_echo(c, 100, 2, SOON_MS); /* served while the bytes trickle */
	assert_int_equal(raw_read_msg(r.fd, frag, sizeof(frag), SOON_MS),
			 (int)size);
	assert_memory_equal(one, frag, WIRE(size));
	assert_true(th_check(frag, size, 11));
	/* The server did see partial records (this is what was tested). */
	raw_stats(&r, 44, &st1);
	assert_true(st1.recv_retries > st0.recv_retries + 10);
	assert_int_equal(st1.requests, st0.requests + 2);
	raw_close(&r);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

static void
test_hostile_random_fragments(void **state)
{
	th_server *s = spawn(state, NULL);
	lrpc_client *c = honest_connect(state);
	raw r = raw_open(state);
	const size_t sizes[] = { HDR_SIZE, 25, 31, 32, 100, 1000, 4097, 20000 };
	enum { N = sizeof(sizes) / sizeof(sizes[0]) };
	static uint8_t stream[64 * 1024], ref[N][20480], got[20480];
	size_t off[N + 1], total = 0;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();

	print_message("random fragments: seed %u\n", seed);
	/* References: each message in one write. */
	for (size_t i = 0; i < N; i++) {
		off[i] = total;
		total += make_req(stream + total, sizes[i], TH_ECHO, 100 + i,
				  (unsigned)i);
		th_raw_send_all(r.fd, stream + off[i], total - off[i]);
		assert_int_equal(raw_read_msg(r.fd, ref[i], sizeof(ref[i]),
					      SOON_MS),
				 (int)sizes[i]);
	}
	off[N] = total;
	assert_true(total <= sizeof(stream));

	/* The whole stream again, in random pieces of 1..143 bytes. */
	for (unsigned round = 0; round < 3; round++) {
		size_t pos = 0;
		while (pos < total) {
			size_t n = 1 + (size_t)(rand_r(&seed) % 143);
			if (n > total - pos)
				n = total - pos;
			th_raw_send_all(r.fd, stream + pos, n);
			pos += n;
			if (rand_r(&seed) % 4 == 0)
				th_msleep(1);
		}
		for (size_t i = 0; i < N; i++) {
			assert_int_equal(raw_read_msg(r.fd, got, sizeof(got),
						      SOON_MS),
					 (int)sizes[i]);
			assert_memory_equal(got, ref[i], WIRE(sizes[i]));
		}
		th_echo(c, 200, round, SOON_MS);
	}
	/* Exactly once: nothing more comes. */
	assert_true(stays_quiet(r.fd, 100));
	raw_close(&r);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

static void
test_hostile_coalesced_and_split(void **state)
{
	th_server *s = spawn(state, NULL);
	lrpc_client *c = honest_connect(state);
	raw r = raw_open(state);
	static uint8_t buf[8192];
	size_t a, b;

	/* Two whole records in one send(): both answered, in order. */
	a = make_req(buf, 100, TH_ECHO, 1, 1);
	b = make_req(buf + a, 200, TH_ECHO, 2, 2);
	th_raw_send_all(r.fd, buf, a + b);
	raw_expect_echo(r.fd, 100, 1, 1);
	raw_expect_echo(r.fd, 200, 2, 2);

	/* One record plus the first part of the next (its header cut in
	 * the middle), then the rest. */
	a = make_req(buf, 300, TH_ECHO, 3, 3);
	b = make_req(buf + a, 1000, TH_ECHO, 4, 4);
	th_raw_send_all(r.fd, buf, a + 10);
	raw_expect_echo(r.fd, 300, 3, 3);
	assert_true(stays_quiet(r.fd, 50));
	th_raw_send_all(r.fd, buf + a + 10, 500);
	assert_true(stays_quiet(r.fd, 50));
	/* ...and the rest together with a third whole record. */
	size_t d = make_req(buf + a + b, 40, TH_ECHO, 5, 5);
	th_raw_send_all(r.fd, buf + a + 510, b - 510 + d);
	raw_expect_echo(r.fd, 1000, 4, 4);
	raw_expect_echo(r.fd, 40, 5, 5);
	assert_true(stays_quiet(r.fd, 100));

	/* Many small records in one send(). */
	size_t pos = 0;
	for (unsigned i = 0; i < 50; i++)
		pos += make_req(buf + pos, HDR_SIZE + i, TH_ECHO, 10 + i, i);
	th_raw_send_all(r.fd, buf, pos);
	for (unsigned i = 0; i < 50; i++)
		raw_expect_echo(r.fd, HDR_SIZE + i, 10 + i, i);
	assert_true(stays_quiet(r.fd, 100));
	th_echo(c, 100, 9, SOON_MS);
	raw_close(&r);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

/* --- The handshake --- */

static void
test_hostile_bad_hello_dropped_without_welcome(void **state)
{
	th_server *s = spawn(state, NULL);
	lrpc_client *c = honest_connect(state);

	for (unsigned i = 0; i < 4; i++) {
		raw r = { .fd = raw_connect_fd(*state) };
		lrpc__hello h;
		size_t got = 1;

		th_raw_hello_init(&h, raw_transport, RAW_MAX_MSG);
		if (i == 0)
			h.magic = 0xdeadbeef;
		else if (i == 1)
			h.magic = LRPC__WELCOME_MAGIC; /* a reflected welcome */
		else if (i == 2)
			h.flags = 1; /* reserved, must be 0 */
		else
			memset(&h, 0xff, sizeof(h));
		th_raw_send_all(r.fd, &h, sizeof(h));
		/* No welcome, not a byte: just the end. */
		assert_true(th_raw_expect_eof(r.fd, SOON_MS, &got));
		assert_int_equal(got, 0);
		raw_close(&r);
		th_echo(c, 100, i, SOON_MS);
	}
	lrpc_client_unref(c);
	/* None of them reached the accept callback: only the honest one. */
	assert_int_equal(th_server_count(s, "accept", 100), 1);
	assert_int_equal(th_server_stop(s), 0);
}

static void
test_hostile_wrong_version_refused(void **state)
{
	th_server *s = spawn(state, NULL);
	lrpc_client *c = honest_connect(state);

	for (unsigned i = 0; i < 3; i++) {
		raw r = { .fd = raw_connect_fd(*state) };
		lrpc__hello h;

		th_raw_hello_init(&h, raw_transport, RAW_MAX_MSG);
		if (i == 0)
			h.version = LRPC_PROTOCOL_VERSION + 1;
		else if (i == 1)
			h.version = 0xffff;
		else
			h.transport = 0x7777; /* no such transport */
		th_raw_send_all(r.fd, &h, sizeof(h));
		assert_int_equal(th_raw_read_welcome(r.fd, &r.w, r.fds,
						     &r.n_fds, SOON_MS),
				 1);
		assert_int_equal(r.w.magic, LRPC__WELCOME_MAGIC);
		assert_int_equal(r.w.version, LRPC_PROTOCOL_VERSION);
		assert_int_equal(r.w.status, -EPROTONOSUPPORT);
		assert_int_equal(r.w.n_fds, 0);
		assert_int_equal(r.n_fds, 0);
		size_t extra = 1;
		assert_true(th_raw_expect_eof(r.fd, SOON_MS, &extra));
		assert_int_equal(extra, 0);
		raw_close(&r);
		th_echo(c, 100, i, SOON_MS);
	}
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

static void
test_hostile_hello_one_byte_at_a_time(void **state)
{
	th_server *s = spawn(state, NULL);
	lrpc_client *c = honest_connect(state);
	raw r = { .fd = raw_connect_fd(*state) };
	lrpc__hello h;

	th_raw_hello_init(&h, raw_transport, RAW_MAX_MSG);
	for (size_t i = 0; i < sizeof(h); i++) {
		th_raw_send_all(r.fd, (uint8_t *)&h + i, 1);
		th_msleep(2);
		/* Nothing comes back before the hello is complete. */
		if (i + 1 < sizeof(h))
			assert_true(stays_quiet(r.fd, 0));
	}
	assert_int_equal(
		th_raw_read_welcome(r.fd, &r.w, r.fds, &r.n_fds, SOON_MS), 1);
	raw_check_welcome_ok(&r);
	if (raw_transport == LRPC_TRANSPORT_SOCKET)
		raw_echo(&r, 1234, 1, 5);
	th_echo(c, 100, 5, SOON_MS);
	raw_close(&r);
	assert_true(th_server_expect(s, "destroyed", SOON_MS, NULL, 0));
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

static void
test_hostile_requests_before_welcome(void **state)
{
	th_server *s = spawn(state, NULL);
	lrpc_client *c = honest_connect(state);
	static uint8_t buf[4096];

	/* The hello and two requests in one send(). */
	raw r = { .fd = raw_connect_fd(*state) };
	th_raw_hello_init((lrpc__hello *)buf, raw_transport, RAW_MAX_MSG);
	size_t pos = sizeof(lrpc__hello);
	pos += make_req(buf + pos, 100, TH_ECHO, 1, 1);
	pos += make_req(buf + pos, 1000, TH_ECHO, 2, 2);
	th_raw_send_all(r.fd, buf, pos);
	assert_int_equal(
		th_raw_read_welcome(r.fd, &r.w, r.fds, &r.n_fds, SOON_MS), 1);
	raw_check_welcome_ok(&r);
	raw_expect_echo(r.fd, 100, 1, 1);
	raw_expect_echo(r.fd, 1000, 2, 2);
	raw_close(&r);

	/* The hello, then requests, then only later read the welcome. */
	r = (raw){ .fd = raw_connect_fd(*state) };
	th_raw_hello_init((lrpc__hello *)buf, raw_transport, RAW_MAX_MSG);
	th_raw_send_all(r.fd, buf, sizeof(lrpc__hello));
	th_raw_send_all(r.fd, buf, make_req(buf, 64, TH_ECHO, 3, 3));
	th_msleep(50);
	assert_int_equal(
		th_raw_read_welcome(r.fd, &r.w, r.fds, &r.n_fds, SOON_MS), 1);
	raw_check_welcome_ok(&r);
	raw_expect_echo(r.fd, 64, 3, 3);
	raw_close(&r);

	th_echo(c, 100, 3, SOON_MS);
	assert_int_equal(th_server_count(s, "destroyed", 500), 2);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

/*
 * Callbacks for clients that vanish mid-handshake.  A peer that is gone
 * before its welcome could be sent was accepted (destroyed runs for it, as
 * server.h promises) but created never ran.  The harness counts created
 * calls as accepted connections, so such a connection is counted here, in
 * destroyed, through the harness's own created callback; "early" marks it.
 */
static void
vc_created(lrpc_conn *c, void *ud)
{
	lrpc_conn_set_userdata(c, c);
	th_report("created %d", (int)th_conn_peer(c).pid);
}

static void
vc_destroyed(lrpc_conn *c, void *ud)
{
	if (lrpc_conn_get_userdata(c) != c) {
		th_report("early %d", (int)th_conn_peer(c).pid);
		th_reporting_callbacks.created(c, ud);
	}
	th_report("destroyed %d", (int)th_conn_peer(c).pid);
}

/* Clients that die at every step of the handshake and the first call. */
static void
test_hostile_vanishing_clients(void **state)
{
	lrpc_server_callbacks cb = th_reporting_callbacks;
	cb.created = vc_created;
	cb.destroyed = vc_destroyed;
	raw_transport = ((const th_ctx *)*state)->transport;
	th_server *s = th_server_spawn(*state, &cb, NULL, hostile_setup, NULL);
	assert_non_null(s);
	lrpc_client *c = honest_connect(state);
	static uint8_t buf[4096];
	unsigned accepted = 0;

	for (unsigned i = 0; i < 30; i++) {
		raw r = { .fd = raw_connect_fd(*state) };
		lrpc__hello *h = (lrpc__hello *)buf;
		size_t len;

		th_raw_hello_init(h, raw_transport, RAW_MAX_MSG);
		len = make_req(buf + sizeof(*h), 2000, TH_ECHO, 1, 1) +
		      sizeof(*h);
		switch (i % 5) {
		case 0: /* nothing at all */
			len = 0;
			break;
		case 1: /* half a hello */
			len = sizeof(*h) / 2;
			break;
		case 2: /* a hello, gone before the welcome */
			len = sizeof(*h);
			accepted++;
			break;
		case 3: /* a hello and half a request */
			len = sizeof(*h) + 1000;
			accepted++;
			break;
		default: /* a hello and a whole request, never read */
			accepted++;
			break;
		}
		th_raw_send_all(r.fd, buf, len);
		raw_close(&r);
	}
	th_echo(c, 100, 1, SOON_MS);
	/* Every accepted one is destroyed exactly once (stop checks it);
	 * they must all be gone well before that. */
	assert_int_equal(th_server_count(s, "destroyed", 500), (int)accepted);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

/* --- C27: connections that never finish the handshake --- */

static void
test_hostile_silent_client_timed_out(void **state)
{
	lrpc_server_opts o = { .struct_size = sizeof(o),
			       .handshake_timeout_usec = 300 * LRPC_USEC_PER_MSEC};
	th_server *s = spawn(state, &o);
	int silent = raw_connect_fd(*state);
	long t0 = th_now_ms();

	/* An honest client connects and is served well within the time
	 * the silent one is allowed. */
	lrpc_client *c = honest_connect(state);
	th_echo(c, 1000, 2, SOON_MS);
	assert_true(th_now_ms() - t0 < 250);
	long quiet = 200 - (th_now_ms() - t0);
	assert_true(stays_quiet(silent, quiet > 0 ? (int)quiet : 0));
	/* Then the silent one is dropped, at the timeout, not much later. */
	assert_true(th_raw_expect_eof(silent, SOON_MS, NULL));
	long dt = th_now_ms() - t0;
	assert_true(dt >= 280);
	assert_true(dt < 1500);
	close(silent);
	th_echo(c, 100, 3, SOON_MS);
	lrpc_client_unref(c);
	/* A timed-out peer was never accepted: no callbacks ran for it. */
	assert_int_equal(th_server_count(s, "accept", 100), 1);
	assert_int_equal(th_server_stop(s), 0);
}

/*
 * The handshake slots are full: a newcomer is let in, and the oldest
 * pending connection of the uid holding the most slots is closed instead
 * (fair admission, docs/api.md), so silent connections cannot lock anyone
 * out.
 */
static void
test_hostile_max_pending(void **state)
{
	lrpc_server_opts o = { .struct_size = sizeof(o),
			       .max_pending = 4,
			       .handshake_timeout_usec = 600 * LRPC_USEC_PER_MSEC};
	th_server *s = spawn(state, &o);
	lrpc_client *c = honest_connect(state), *c2 = NULL;
	int silent[4], extra[3];

	for (int i = 0; i < 4; i++) {
		silent[i] = raw_connect_fd(*state);
		/* In order: the oldest is the first one evicted. */
		th_msleep(10);
	}
	long t0 = th_now_ms();
	/* Let the server accept them before the extra ones come. */
	th_echo(c, 100, 1, SOON_MS);
	th_msleep(50);
	for (int i = 0; i < 3; i++) {
		extra[i] = raw_connect_fd(*state);
		/* Each newcomer pushes out the oldest silent one. */
		assert_true(th_raw_expect_eof(silent[i], 300, NULL));
		assert_true(stays_quiet(extra[i], 20));
	}
	assert_true(stays_quiet(silent[3], 0));
	/* An established connection is not affected... */
	th_echo(c, 100, 2, SOON_MS);
	/* ...and a new client gets in although the slots are full. */
	assert_int_equal(th_connect(*state, &c2, NULL), 0);
	th_echo(c2, 100, 3, SOON_MS);
	assert_true(th_now_ms() - t0 < 550);
	/* The silent ones still time out. */
	assert_true(th_raw_expect_eof(silent[3], SOON_MS, NULL));
	for (int i = 0; i < 3; i++)
		assert_true(th_raw_expect_eof(extra[i], SOON_MS, NULL));
	for (int i = 0; i < 4; i++)
		close(silent[i]);
	for (int i = 0; i < 3; i++)
		close(extra[i]);
	lrpc_client_unref(c2);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

/* HARDENING C28: the server runs with only this many fds to spare. */
#define C28_SPARE_FDS 24
/* Payload u32: 1 = the server takes every fd it has left, 0 = gives them
 * back; the response's payload is the number it held (u32). */
#define H_HOG 101

static int hog_fds[C28_SPARE_FDS * 2];
static int n_hog;

static int
h_hog(lrpc_conn *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	uint32_t on;

	if (size < sizeof(*m) + sizeof(on))
		return -EINVAL;
	memcpy(&on, m + 1, sizeof(on));
	while (on && n_hog < (int)(sizeof(hog_fds) / sizeof(*hog_fds))) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			break;
		hog_fds[n_hog++] = fd;
	}
	struct {
		lrpc_msg_header h;
		uint32_t taken, pad;
	} r = { .h = { .size = sizeof(r), .id = m->id },
		.taken = (uint32_t)n_hog };
	while (!on && n_hog > 0)
		close(hog_fds[--n_hog]);
	return lrpc_conn_send_response(c, &r, sizeof(r));
}

static void
low_fds_setup(lrpc_server *s, lrpc_loop *loop, void *arg)
{
	struct rlimit rl;

	hostile_setup(s, loop, arg);
	lrpc_server_add_handler(s, H_HOG, h_hog, NULL);
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = (rlim_t)th_count_fds() + C28_SPARE_FDS;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		th_report("setrlimit failed: %d", errno);
}

/* H_HOG through @c: the number of fds the server took, or -errno. */
static int
hog(lrpc_client *c, uint32_t on)
{
	struct {
		lrpc_msg_header h;
		uint32_t on, pad;
	} req = { .h = { .size = sizeof(req), .id = H_HOG }, .on = on };
	struct {
		lrpc_msg_header h;
		uint32_t taken, pad;
	} resp;
	int r = th_call(c, &req, sizeof(req), &resp, sizeof(resp), SOON_MS);

	if (r < 0)
		return r;
	if (r != (int)sizeof(resp))
		return -EBADMSG;
	return (int)resp.taken;
}

/*
 * HARDENING C28: with the server's RLIMIT_NOFILE nearly used up by
 * clients, connections beyond it fail on the client's side, the server
 * does not spin on the accept that keeps failing (it pauses), serves the
 * clients it has, and takes new ones again once fds are free.
 */
static void
test_hostile_c28_out_of_fds(void **state)
{
	th_server *s = th_server_spawn(*state, NULL, NULL, low_fds_setup,
				       NULL);
	lrpc_client_opts co = { .struct_size = sizeof(co),
				.connect_timeout_usec =
					300 * LRPC_USEC_PER_MSEC };
	lrpc_client *c[C28_SPARE_FDS + 1] = { NULL }, *late = NULL;
	int n = 0, r = 0;
	long cpu0, cpu1, t0;

	assert_non_null(s);
	raw_transport = ((const th_ctx *)*state)->transport;
	/* Fill the server's fd table. */
	while (n < C28_SPARE_FDS + 1) {
		r = th_connect(*state, &c[n], &co);
		if (r < 0)
			break;
		n++;
	}
	print_message("out of fds after %d clients: %s\n", n, strerror(-r));
	assert_true(r < 0);
	assert_true(n >= 1);
	/* Now the server has no fd left at all, so accept() itself fails
	 * with EMFILE... */
	assert_true(hog(c[0], 1) >= 0);
	/* ...while one more client waits in the backlog: the server must
	 * not spin on it.  Without the pause this costs a whole CPU. */
	co.connect_timeout_usec = 1000 * LRPC_USEC_PER_MSEC;
	cpu0 = th_proc_cpu_ms(th_server_pid(s));
	t0 = th_now_ms();
	r = th_connect(*state, &late, &co);
	cpu1 = th_proc_cpu_ms(th_server_pid(s));
	print_message("server CPU while out of fds: %ld ms in %ld ms\n",
		      cpu1 - cpu0, th_now_ms() - t0);
	assert_true(r < 0);
	assert_true(cpu0 >= 0 && cpu1 >= 0);
	assert_true(cpu1 - cpu0 < 300);
	/* The clients it has are served meanwhile. */
	for (int i = 0; i < n; i++)
		th_echo(c[i], 100, (unsigned)i, SOON_MS);
	/* Free some fds: new clients get in again. */
	assert_true(hog(c[0], 0) >= 0);
	for (int i = 0; i < n / 2 + 1; i++)
		c[i] = lrpc_client_unref(c[i]);
	co.connect_timeout_usec = 2000 * LRPC_USEC_PER_MSEC;
	assert_int_equal(th_connect(*state, &late, &co), 0);
	th_echo(late, 100, 7, SOON_MS);
	lrpc_client_unref(late);
	for (int i = 0; i < n; i++)
		lrpc_client_unref(c[i]);
	assert_int_equal(th_server_stop(s), 0);
}

/*
 * A flooder keeps FLOOD_N silent connections open, re-opening each one the
 * server closes, as fast as it can, for @ms -- as uid @uid when that is not
 * ours (the test then needs root).
 */
#define FLOOD_N 32
struct flood {
	const th_ctx *ctx;
	int ms;
	uid_t uid;
};

static int
flood_run(void *arg)
{
	struct flood *f = arg;
	int fds[FLOOD_N];
	long end;

	if (f->uid != geteuid() &&
	    (setgroups(0, NULL) < 0 || setgid(f->uid) < 0 ||
	     setuid(f->uid) < 0))
		return 2;
	for (int i = 0; i < FLOOD_N; i++)
		fds[i] = -1;
	end = th_now_ms() + f->ms;
	while (th_now_ms() < end) {
		for (int i = 0; i < FLOOD_N; i++) {
			char b;
			if (fds[i] >= 0 && recv(fds[i], &b, 1, MSG_DONTWAIT) ==
						   -1 &&
			    errno == EAGAIN)
				continue;
			if (fds[i] >= 0)
				close(fds[i]);
			fds[i] = -1;
			(void)th_raw_connect(f->ctx, &fds[i]);
		}
		th_msleep(1);
	}
	for (int i = 0; i < FLOOD_N; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return 0;
}

/* Connect and make a call, retrying failed connects, within @limit_ms;
 * returns how long it took, or -1. */
static long
honest_attempt(void **state, long limit_ms)
{
	long t0 = th_now_ms();
	lrpc_client_opts o = { .struct_size = sizeof(o),
			       .transport = ((th_ctx *)*state)->transport };

	while (th_now_ms() - t0 < limit_ms) {
		lrpc_client *c = NULL;
		if (lrpc_client_new(&c, ((th_ctx *)*state)->name, &o) == 0) {
			th_echo(c, 100, 7, SOON_MS);
			lrpc_client_unref(c);
			return th_now_ms() - t0;
		}
	}
	return -1;
}

static void
flood_and_connect(void **state, uid_t flooder, long limit_ms)
{
	lrpc_server_opts o = { .struct_size = sizeof(o), .max_pending = 8 };
	th_server *s = spawn(state, &o);
	struct flood f = { .ctx = *state, .ms = 1500, .uid = flooder };
	pid_t pid = th_fork_helper(flood_run, &f);
	long worst = 0;

	/* Let the flood fill every slot first. */
	th_msleep(200);
	for (int i = 0; i < 5; i++) {
		long took = honest_attempt(state, limit_ms);
		assert_true(took >= 0);
		if (took > worst)
			worst = took;
		th_msleep(50);
	}
	print_message("flood by uid %u: honest client of uid %u in at most "
		      "%ld ms\n",
		      (unsigned)flooder, (unsigned)geteuid(), worst);
	assert_int_equal(th_wait_helper(pid), 0);
	assert_int_equal(th_server_stop(s), 0);
}

/* HARDENING C27: another uid's flood does not delay an honest client. */
static void
test_hostile_flood_other_uid(void **state)
{
	if (geteuid() != 0) {
		print_message("needs root to flood as another uid\n");
		skip();
	}
	flood_and_connect(state, 65534, 100);
}

/* A flood from our own uid: honest clients still get through. */
static void
test_hostile_flood_same_uid(void **state)
{
	flood_and_connect(state, geteuid(), 1000);
}

/* --- Flow control --- */

/*
 * Send copies of the request in @req (its seq numbered from 1) without
 * reading anything, until no byte could be sent for 300 ms.  *off is how
 * far the last, partial request got.  The honest client @c is served all
 * along.  Returns the number of whole requests sent.
 */
static uint64_t
push_until_stalled(raw *r, uint8_t *req, size_t wire, size_t *off,
		   lrpc_client *c)
{
	enum { MAX_MSGS = 4000 };
	uint64_t n_sent = 0;
	int sz = 16 * 1024;

	/* Small buffers on our side make the stall come sooner. */
	assert_int_equal(setsockopt(r->fd, SOL_SOCKET, SO_SNDBUF, &sz,
				    sizeof(sz)),
			 0);
	assert_int_equal(setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &sz,
				    sizeof(sz)),
			 0);
	((lrpc_msg_header *)req)->seq = 1;
	*off = 0;
	for (;;) {
		ssize_t n = send(r->fd, req + *off, wire - *off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN) {
			/* Stalled for good: the server stopped reading. */
			if (!th_wait_fd(r->fd, POLLOUT, 300))
				return n_sent;
			continue;
		}
		assert_true(n > 0);
		*off += (size_t)n;
		if (*off == wire) {
			n_sent++;
			*off = 0;
			((lrpc_msg_header *)req)->seq = n_sent + 1;
			/* Without flow control this would go on forever. */
			assert_true(n_sent < MAX_MSGS);
			if (n_sent % 16 == 0)
				th_echo(c, 100, (unsigned)n_sent, SOON_MS);
		}
	}
}

/*
 * A client that sends requests but never reads the responses.  The server
 * queues responses up to max_queued_bytes / 2, then stops reading that
 * client (flow control); the client's socket fills and its sends block.
 * Once it reads again every request gets exactly one response, in order.
 */
static void
test_hostile_never_reads_responses(void **state)
{
	enum { SIZE = 8192 };
	lrpc_server_opts o = { .struct_size = sizeof(o),
			       .max_queued_bytes = 64 * 1024 };
	th_server *s = spawn(state, &o);
	lrpc_client *c = honest_connect(state);
	raw r = raw_open(state);
	static uint8_t req[WIRE(SIZE)], resp[WIRE(SIZE)];
	struct stats_reply st;
	size_t off = 0;
	uint64_t n_sent; /* whole requests sent */

	make_req(req, SIZE, TH_ECHO, 1, 1);
	n_sent = push_until_stalled(&r, req, sizeof(req), &off, c);
	th_echo(c, 100, 1, SOON_MS);
	honest_stats(c, &st);
	assert_true(st.max_flow_control_count > 0);
	assert_int_equal(st.any_flow_control_state, 1);
	/* Memory per connection stays bounded by the queue limit (plus the
	 * one response that crossed it). */
	assert_true(st.max_bytes_queued <= 64 * 1024 + WIRE(SIZE));

	/* Now read: every request sent (the partial one completed) gets
	 * exactly one response, in order. */
	uint64_t expect = n_sent + (off > 0), got = 0;
	long deadline = th_now_ms() + 5000;
	while (got < expect) {
		struct pollfd p = { .fd = r.fd,
				    .events = POLLIN | (off > 0 ? POLLOUT : 0) };
		assert_true(th_now_ms() < deadline);
		assert_true(poll(&p, 1, SOON_MS) > 0);
		if (p.revents & POLLOUT) {
			ssize_t n = send(r.fd, req + off, sizeof(req) - off,
					 MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n > 0 && (off += (size_t)n) == sizeof(req))
				off = 0;
		}
		if (p.revents & POLLIN) {
			assert_int_equal(raw_read_msg(r.fd, resp, sizeof(resp),
						      SOON_MS),
					 SIZE);
			got++;
			assert_int_equal(
				((lrpc_msg_header *)resp)->seq, got);
			assert_true(th_check(resp, SIZE, 1));
		}
	}
	assert_true(stays_quiet(r.fd, 100));
	/* Flow control is off again, and the connection works normally. */
	raw_echo(&r, 100, 999, 2);
	honest_stats(c, &st);
	assert_int_equal(st.any_flow_control_state, 0);
	raw_close(&r);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

/*
 * The same client with a short stall timeout: it is disconnected once its
 * queued responses made no progress for that long (HARDENING B24/C30).
 */
static void
test_hostile_stalled_reader_disconnected(void **state)
{
	enum { SIZE = 8192 };
	lrpc_server_opts o = { .struct_size = sizeof(o),
			       .max_queued_bytes = 64 * 1024,
			       .stall_timeout_usec = 400 * LRPC_USEC_PER_MSEC};
	th_server *s = spawn(state, &o);
	lrpc_client *c = honest_connect(state);
	raw r = raw_open(state);
	static uint8_t req[WIRE(SIZE)];
	size_t off;

	make_req(req, SIZE, TH_ECHO, 1, 1);
	assert_true(push_until_stalled(&r, req, sizeof(req), &off, c) > 0);
	long t0 = th_now_ms();
	assert_true(expect_hangup(r.fd, 3000));
	/* At the timeout (counted from the last progress, before t0). */
	assert_true(th_now_ms() - t0 < 1500);
	assert_true(th_server_expect(s, "destroyed", SOON_MS, NULL, 0));
	/* A client that reads is not affected by the timeout. */
	th_echo(c, 100, 1, SOON_MS);
	th_msleep(600);
	th_echo(c, 100, 2, SOON_MS);
	raw_close(&r);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

/*
 * Garbage on the main socket after the handshake: dropped (socket
 * transport, where it is taken for a record), or ignored (transports that
 * use the socket only as a hang-up signal), and either way the server does
 * not spin on it.
 */
static void
test_hostile_main_socket_garbage(void **state)
{
	th_server *s = spawn(state, NULL);
	lrpc_client *c = honest_connect(state);
	raw r = raw_open(state);
	static uint8_t junk[32 * 1024];
	size_t sent = 0;

	memset(junk, 0x5a, sizeof(junk));
	while (sent < sizeof(junk)) {
		ssize_t n = send(r.fd, junk + sent, sizeof(junk) - sent,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n <= 0)
			break; /* full (ignored) or reset (dropped) */
		sent += (size_t)n;
	}
	assert_true(sent > 0);
	if (raw_transport == LRPC_TRANSPORT_SOCKET) {
		assert_true(th_raw_expect_eof(r.fd, SOON_MS, NULL));
		assert_true(th_server_expect(s, "destroyed", SOON_MS, NULL, 0));
	}
	long t0 = th_proc_cpu_ms(th_server_pid(s));
	assert_true(t0 >= 0);
	th_echo(c, 100, 1, SOON_MS);
	assert_true(stays_quiet(r.fd, 300) ||
		    raw_transport == LRPC_TRANSPORT_SOCKET);
	th_echo(c, 100, 2, SOON_MS);
	/* Well under half of the 300 ms: an eighth of a second. */
	assert_true(th_proc_cpu_ms(th_server_pid(s)) - t0 < 125);
	raw_close(&r);
	if (raw_transport != LRPC_TRANSPORT_SOCKET)
		assert_true(th_server_expect(s, "destroyed", SOON_MS, NULL, 0));
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

/* The most fds one message can carry (the kernel's SCM_MAX_FD). */
#define MAX_FDS_PER_MSG 253

/*
 * Send an echo request with @n fds of /dev/null attached on @fd; the
 * result of sendmsg() (our copies of the fds are closed either way).
 */
static ssize_t
send_request_with_fds(int fd, unsigned n)
{
	uint8_t req[64];
	int fds[MAX_FDS_PER_MSG];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(fds))];
	} ctl;
	struct iovec iov = { .iov_base = req, .iov_len = sizeof(req) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = CMSG_SPACE(n * sizeof(int)),
	};
	struct cmsghdr *cm;
	ssize_t r;

	assert_true(n >= 1 && n <= MAX_FDS_PER_MSG);
	memset(&ctl, 0, sizeof(ctl));
	cm = CMSG_FIRSTHDR(&mh);
	th_fill(req, sizeof(req), TH_ECHO, 3);
	((lrpc_msg_header *)req)->flags = LRPC__MSG_REQUEST;
	for (unsigned i = 0; i < n; i++) {
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		assert_true(fds[i] >= 0);
	}
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
	r = sendmsg(fd, &mh, MSG_NOSIGNAL);
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
	return r;
}

/*
 * HARDENING F47: credentials are the connecting process's, fixed at
 * connect.  A client of uid 4321 connects and hands its connection to a
 * process of uid 0, which goes on calling: the server still sees uid 4321
 * and the first process's pid.  And credentials the sender attaches to a
 * request (SCM_CREDENTIALS, here claiming root) change nothing.  Needs root
 * for the uid change; the SCM_CREDENTIALS half runs as anyone.
 */
struct handing_client {
	const th_ctx *ctx;
	int chan; /* where the connection goes */
};

static int
handing_client_main(void *arg)
{
	struct handing_client *h = arg;
	lrpc__welcome w;
	int fds[1 + TH_RAW_MAX_FDS], fd = -1;
	unsigned n_fds = 0;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(fds))];
	} ctl;
	char byte = 'x';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *cm;

	if (getuid() == 0 && (setgid(4321) < 0 || setuid(4321) < 0))
		return 2;
	if (th_raw_connect(h->ctx, &fd) < 0)
		return 3;
	if (th_raw_handshake(fd, LRPC_TRANSPORT_SOCKET, RAW_MAX_MSG, &w,
			     fds + 1, &n_fds, SOON_MS) != 1 || w.status != 0)
		return 4;
	/* The whole connection: the main socket and the welcome's fds. */
	fds[0] = fd;
	memset(&ctl, 0, sizeof(ctl));
	mh.msg_controllen = CMSG_SPACE((1 + n_fds) * sizeof(int));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN((1 + n_fds) * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, (1 + n_fds) * sizeof(int));
	return sendmsg(h->chan, &mh, 0) == 1 ? 0 : 5;
}

/* Receive the fds sent with SCM_RIGHTS on @chan into @fds (room for
 * 1 + TH_RAW_MAX_FDS); returns how many. */
static int
recv_fds(int chan, int *fds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE((1 + TH_RAW_MAX_FDS) * sizeof(int))];
	} ctl;
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *cm;
	int n = 0;

	memset(&ctl, 0, sizeof(ctl));
	if (recvmsg(chan, &mh, MSG_CMSG_CLOEXEC) != 1)
		return 0;
	cm = CMSG_FIRSTHDR(&mh);
	if (cm && cm->cmsg_level == SOL_SOCKET &&
	    cm->cmsg_type == SCM_RIGHTS) {
		n = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		memcpy(fds, CMSG_DATA(cm), (size_t)n * sizeof(int));
	}
	return n;
}

/* Ask H_WHO on a raw connection; @creds: attach SCM_CREDENTIALS claiming
 * ours (as root: uid 0). */
static struct who_reply
raw_who(int fd, uint64_t seq, bool creds)
{
	static uint8_t buf[RAW_MAX_MSG];
	uint8_t req[HDR_SIZE];
	size_t wire = make_req(req, HDR_SIZE, H_WHO, seq, 0);
	struct who_reply r;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct ucred))];
	} ctl;
	struct iovec iov = { .iov_base = req, .iov_len = wire };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (creds) {
		struct ucred uc = { .pid = getpid(), .uid = geteuid(),
				    .gid = getegid() };
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_CREDENTIALS;
		cm->cmsg_len = CMSG_LEN(sizeof(uc));
		memcpy(CMSG_DATA(cm), &uc, sizeof(uc));
	}
	assert_int_equal(sendmsg(fd, &mh, MSG_NOSIGNAL), (ssize_t)wire);
	assert_int_equal(raw_read_msg(fd, buf, sizeof(buf), SOON_MS),
			 (int)sizeof(r));
	memcpy(&r, buf, sizeof(r));
	assert_int_equal(r.hdr.error, 0);
	return r;
}

static void
test_hostile_f47_credentials_fixed_at_connect(void **state)
{
	th_server *s = spawn(state, NULL);
	int sp[2];
	struct handing_client h = { .ctx = *state };
	uid_t want = getuid() == 0 ? 4321 : getuid();
	struct who_reply w;
	pid_t pid;
	int fds[1 + TH_RAW_MAX_FDS], n, fd;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				    sp),
			 0);
	h.chan = sp[1];
	pid = th_fork_helper(handing_client_main, &h);
	assert_true(pid > 0);
	n = recv_fds(sp[0], fds);
	assert_int_equal(th_wait_helper(pid), 0);
	close(sp[0]);
	close(sp[1]);
	assert_true(n >= 1);
	fd = fds[0];
	/* The connecting process is gone; we call on its connection. */
	w = raw_who(fd, 1, false);
	assert_int_equal(w.uid, want);
	assert_int_equal(w.pid, pid);
	/* Our own credentials attached to a request: ignored. */
	w = raw_who(fd, 2, true);
	assert_int_equal(w.uid, want);
	assert_int_equal(w.pid, pid);
	print_message("connection handed from pid %d (uid %u) to pid %d (uid "
		      "%u): the server sees pid %d, uid %u\n", (int)pid,
		      (unsigned)want, (int)getpid(), (unsigned)getuid(),
		      (int)w.pid, (unsigned)w.uid);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	assert_int_equal(th_server_stop(s), 0);
}

/*
 * HARDENING F48: the client is gone (exited and reaped) before the server
 * looks at its connection, so the kernel has no live process behind the
 * credentials any more.  The connection is refused or, if admitted, under
 * the ids the client really had; never as root, never as pid 0.
 */
struct gone_client {
	const th_ctx *ctx;
	uid_t uid;
};

static int
gone_client_main(void *arg)
{
	struct gone_client *g = arg;
	lrpc__hello h;
	int fd = -1;

	if (getuid() == 0 && (setgid(g->uid) < 0 || setuid(g->uid) < 0))
		return 2;
	if (th_raw_connect(g->ctx, &fd) < 0)
		return 3;
	th_raw_hello_init(&h, raw_transport, RAW_MAX_MSG);
	if (send(fd, &h, sizeof(h), MSG_NOSIGNAL) != (ssize_t)sizeof(h))
		return 4;
	return 0; /* exits with the connection open, hello sent */
}

static void
test_hostile_f48_client_gone_before_accept(void **state)
{
	th_server *s = spawn(state, NULL);
	lrpc_client *c = honest_connect(state);
	struct gone_client g = { .ctx = *state,
				 .uid = getuid() == 0 ? 4321 : getuid() };
	char line[256];
	int pid, seen_pid = -1;
	unsigned seen_uid = 0;

	/* The honest client's own accept line first. */
	assert_true(th_server_expect(s, "accept", SOON_MS, line, sizeof(line)));
	/* The server sleeps while the client connects and goes. */
	assert_int_equal(kill(th_server_pid(s), SIGSTOP), 0);
	pid = th_fork_helper(gone_client_main, &g);
	assert_true(pid > 0);
	assert_int_equal(th_wait_helper(pid), 0);
	assert_int_equal(kill(th_server_pid(s), SIGCONT), 0);
	if (th_server_expect(s, "accept", 1000, line, sizeof(line))) {
		assert_int_equal(sscanf(line, "accept %d %u", &seen_pid,
					&seen_uid),
				 2);
		assert_int_equal(seen_pid, pid);
		assert_int_equal(seen_uid, g.uid);
	}
	print_message("client gone before accept: %s\n",
		      seen_pid < 0 ? "refused" : line);
	/* The server carries on. */
	th_echo(c, 100, 4, SOON_MS);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

/*
 * HARDENING A11: the padding after a record's payload is ignored
 * (docs/wire.md): garbage there changes nothing, and the next record is
 * read from the right place.
 */
static void
test_hostile_padding_ignored(void **state)
{
	static uint8_t req[RAW_MAX_MSG];
	th_server *s = spawn(state, NULL);
	raw r = raw_open(state);
	uint64_t seq = 1;

	for (size_t size = 97; size <= 103; size++, seq++) {
		size_t wire = make_req(req, size, TH_ECHO, seq, (unsigned)size);

		assert_true(wire > size);
		memset(req + size, 0xA5, wire - size);
		th_raw_send_all(r.fd, req, wire);
		raw_expect_echo(r.fd, size, seq, (unsigned)size);
	}
	raw_close(&r);
	assert_int_equal(th_server_stop(s), 0);
}

/*
 * HARDENING A14/A15: a request with fds attached (a few, or more than the
 * reader has room for) is a broken peer: its connection is dropped, every
 * fd it sent is closed, and the server holds as many fds as before.
 */
static void
test_hostile_fds_on_request(void **state)
{
	const unsigned counts[] = { 2, 40 };
	th_server *s = spawn(state, NULL);
	lrpc_client *c = honest_connect(state);

	for (size_t k = 0; k < 2; k++) {
		th_echo(c, 100, (unsigned)k, SOON_MS);
		int before = th_proc_count_fds(th_server_pid(s), NULL);
		assert_true(before >= 0);
		raw r = raw_open(state);

		assert_int_equal(send_request_with_fds(r.fd, counts[k]), 64);
		assert_true(th_raw_expect_eof(r.fd, SOON_MS, NULL));
		assert_true(th_server_expect(s, "destroyed", SOON_MS, NULL,
					     0));
		raw_close(&r);
		/* The connection's own fds are gone too, and nothing the
		 * peer sent stayed behind. */
		th_echo(c, 100, 9, SOON_MS);
		assert_int_equal(th_proc_count_fds(th_server_pid(s), NULL), before);
	}
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

/*
 * HARDENING C29: an fd flood.  Peer after peer sends requests carrying
 * the most fds a message can hold, several in a row without waiting; each
 * is dropped at its first, and afterwards the server holds exactly the fds
 * it held before while an honest client was served throughout.
 */
#define C29_ROUNDS 50

static void
test_hostile_c29_fd_flood(void **state)
{
	th_server *s = spawn(state, NULL);
	lrpc_client *c = honest_connect(state);
	int before = th_proc_count_fds(th_server_pid(s), NULL), peak = before;
	assert_true(before >= 0);

	for (int k = 0; k < C29_ROUNDS; k++) {
		raw r = raw_open(state);

		assert_int_equal(send_request_with_fds(r.fd, MAX_FDS_PER_MSG),
				 64);
		/* More, until the server's drop shows (then these fail). */
		for (int i = 0; i < 3; i++)
			(void)send_request_with_fds(r.fd, MAX_FDS_PER_MSG);
		int n = th_proc_count_fds(th_server_pid(s), NULL);
		if (n > peak)
			peak = n;
		assert_true(th_raw_expect_eof(r.fd, SOON_MS, NULL));
		raw_close(&r);
		if (k % 10 == 0)
			th_echo(c, 100, (unsigned)k, SOON_MS);
	}
	assert_int_equal(th_server_count(s, "destroyed", SOON_MS),
			 C29_ROUNDS);
	th_echo(c, 100, 1, SOON_MS);
	print_message("fd flood: %d x %d fds; server fds %d before, %d at "
		      "most, %d after\n", C29_ROUNDS, 4 * MAX_FDS_PER_MSG,
		      before, peak, th_proc_count_fds(th_server_pid(s), NULL));
	assert_int_equal(th_proc_count_fds(th_server_pid(s), NULL), before);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

int
main(void)
{
	const th_test tests[] = {
		TH_TEST_ON(test_hostile_truncated_header_then_close, TH_ON_SOCKET),
		TH_TEST_ON(test_hostile_bad_declared_size_dropped, TH_ON_SOCKET),
		TH_TEST_ON(test_hostile_stalled_record_does_not_block, TH_ON_SOCKET),
		TH_TEST_ON(test_hostile_half_sent_request_read_timeout, TH_ON_SOCKET),
		TH_TEST_ON(test_hostile_trailing_garbage_dropped, TH_ON_SOCKET),
		TH_TEST_ON(test_hostile_bad_kind_flags_dropped, TH_ON_SOCKET),
		TH_TEST_ON(test_hostile_one_byte_sends, TH_ON_SOCKET),
		TH_TEST_ON(test_hostile_random_fragments, TH_ON_SOCKET),
		TH_TEST_ON(test_hostile_coalesced_and_split, TH_ON_SOCKET),
		TH_TEST_ON(test_hostile_bad_hello_dropped_without_welcome, TH_ON_ALL),
		TH_TEST_ON(test_hostile_wrong_version_refused, TH_ON_ALL),
		TH_TEST_ON(test_hostile_hello_one_byte_at_a_time, TH_ON_ALL),
		TH_TEST_ON(test_hostile_requests_before_welcome, TH_ON_SOCKET),
		TH_TEST_ON(test_hostile_vanishing_clients, TH_ON_ALL),
		TH_TEST_ON(test_hostile_silent_client_timed_out, TH_ON_ALL),
		TH_TEST_ON(test_hostile_max_pending, TH_ON_ALL),
		TH_TEST_ON(test_hostile_flood_other_uid, TH_ON_ALL),
		TH_TEST_ON(test_hostile_flood_same_uid, TH_ON_ALL),
		TH_TEST_ON(test_hostile_c28_out_of_fds, TH_ON_ALL),
		TH_TEST_ON(test_hostile_f48_client_gone_before_accept, TH_ON_ALL),
		TH_TEST_ON(test_hostile_f47_credentials_fixed_at_connect, TH_ON_SOCKET),
		TH_TEST_ON(test_hostile_never_reads_responses, TH_ON_SOCKET),
		TH_TEST_ON(test_hostile_stalled_reader_disconnected, TH_ON_SOCKET),
		TH_TEST_ON(test_hostile_main_socket_garbage, TH_ON_ALL),
		TH_TEST_ON(test_hostile_padding_ignored, TH_ON_SOCKET),
		TH_TEST_ON(test_hostile_fds_on_request, TH_ON_SOCKET),
		TH_TEST_ON(test_hostile_c29_fd_flood, TH_ON_SOCKET),
	};
	return th_run_group("hostile", tests, sizeof(tests) / sizeof(tests[0]));
}
