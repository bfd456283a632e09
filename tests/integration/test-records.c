/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Record sockets (docs/wire.md, "Record sockets"): the socket transport's
 * SOCK_SEQPACKET channels, against a real server process.  What the
 * handshake agrees with peers that offer them and peers that do not;
 * messages a raw peer cuts into records or packs into one; records that
 * break the rules, each dropping only that connection while an honest
 * client goes on being served.  Socket transport only.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "ipc/ipc-handshake.h"
#include "transport/transport.h"

#define SOON_MS 2000
#define HDR_SIZE sizeof(lrpc_msg_header)
#define WIRE(n) (((size_t)(n) + 7u) & ~(size_t)7u)

typedef struct rec_peer {
	int fd; /* main socket */
	int fds[TH_RAW_MAX_FDS];
	unsigned n_fds;
	lrpc__welcome w;
	int ev_fd, rpc_fd; /* the record pairs' ends, or -1 */
} rec_peer;

static th_server *
spawn_standard(void **state)
{
	th_server *s = th_server_spawn(*state, NULL, NULL,
				       th_standard_handlers, NULL);
	assert_non_null(s);
	return s;
}

static void
no_records_setup(lrpc_server *s, lrpc_loop *loop, void *arg)
{
	lrpc__socket_records_set(false);
	th_standard_handlers(s, loop, arg);
}

static int
sock_type(int fd)
{
	int type = -1;
	socklen_t l = sizeof(type);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) == 0 ? type : -1;
}

/* Record sockets among this process's fds. */
static int
count_seqpacket_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		n += sock_type(fd) == SOCK_SEQPACKET;
	return n;
}

/* A raw client: the handshake by hand, offering record sockets if
 * @offer, for messages up to @max_msg. */
static rec_peer
peer_open(void **state, bool offer, uint32_t max_msg)
{
	rec_peer p = { .ev_fd = -1, .rpc_fd = -1 };
	lrpc__hello h;

	assert_int_equal(th_raw_connect(*state, &p.fd), 0);
	th_raw_hello_init(&h, LRPC_TRANSPORT_SOCKET, max_msg);
	if (offer)
		h.reserved[0] |= LRPC__CAP_RECORDS;
	th_raw_send_all(p.fd, &h, sizeof(h));
	assert_int_equal(th_raw_read_welcome(p.fd, &p.w, p.fds, &p.n_fds,
					     SOON_MS),
			 1);
	assert_int_equal(p.w.status, 0);
	assert_int_equal(p.w.n_fds, p.n_fds);
	if (p.w.reserved & LRPC__CAP_RECORDS) {
		/* The core's control page, then events, then calls. */
		assert_int_equal(p.n_fds, 3);
		p.ev_fd = p.fds[1];
		p.rpc_fd = p.fds[2];
	}
	return p;
}

static void
peer_close(rec_peer *p)
{
	for (unsigned i = 0; i < p->n_fds; i++)
		close(p->fds[i]);
	close(p->fd);
	p->n_fds = 0;
	p->fd = -1;
}

/* Send one record (all of @buf) on @fd. */
static void
send_record(int fd, const void *buf, size_t len)
{
	assert_true(th_wait_fd(fd, POLLOUT, SOON_MS));
	assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

/*
 * Read one message from the record socket @fd into @buf, record by
 * record; returns its size or a negative errno (0: end of stream).
 */
static ssize_t
recv_msg(int fd, uint8_t *buf, size_t cap, unsigned *ret_records)
{
	const lrpc_msg_header *h = (const lrpc_msg_header *)buf;
	size_t got = 0;

	*ret_records = 0;
	while (got < HDR_SIZE || got < WIRE(h->size)) {
		if (!th_wait_fd(fd, POLLIN, SOON_MS))
			return -ETIMEDOUT;
		ssize_t n = recv(fd, buf + got, cap - got, MSG_DONTWAIT);
		if (n <= 0)
			return n < 0 ? -errno : 0;
		got += (size_t)n;
		(*ret_records)++;
		if (got >= HDR_SIZE && WIRE(h->size) > cap)
			return -EMSGSIZE;
	}
	assert_int_equal(got, WIRE(h->size));
	return (ssize_t)h->size;
}

static uint8_t *
make_req(size_t size, uint64_t seq, unsigned seed)
{
	uint8_t *b = calloc(1, WIRE(size));
	lrpc_msg_header *h = (lrpc_msg_header *)b;

	assert_non_null(b);
	th_fill(b, size, TH_ECHO, seed);
	h->flags = LRPC__MSG_REQUEST;
	h->seq = seq;
	return b;
}

static void
expect_echo(rec_peer *p, size_t size, uint64_t seq, unsigned seed,
	    unsigned *ret_records)
{
	size_t cap = WIRE(size) + 64;
	uint8_t *buf = malloc(cap);
	const lrpc_msg_header *h = (const lrpc_msg_header *)buf;

	assert_non_null(buf);
	assert_int_equal(recv_msg(p->rpc_fd, buf, cap, ret_records),
			 (ssize_t)size);
	assert_int_equal(h->id, TH_ECHO);
	assert_int_equal(h->error, 0);
	assert_int_equal(h->seq, seq);
	assert_true(th_check(buf, size, seed));
	free(buf);
}

/* Offered, the records are agreed: both pairs are SOCK_SEQPACKET, and an
 * echo's request and response are one record each.  Not offered (a peer
 * that predates them), the server answers as before: one stream socket
 * for events, calls on the main socket. */
static void
test_records_negotiated(void **state)
{
	th_server *s = spawn_standard(state);
	lrpc_client *c = NULL;
	int seq_before = count_seqpacket_fds();

	/* An lrpc client takes them up: two more record sockets here. */
	assert_int_equal(th_connect(*state, &c, NULL), 0);
	assert_int_equal(count_seqpacket_fds(), seq_before + 2);
	th_echo(c, 100, 1, SOON_MS);
	lrpc_client_unref(c);

	rec_peer p = peer_open(state, true, 64 * 1024);
	unsigned records;

	assert_int_equal(p.w.reserved & LRPC__CAP_RECORDS, LRPC__CAP_RECORDS);
	assert_int_equal(sock_type(p.ev_fd), SOCK_SEQPACKET);
	assert_int_equal(sock_type(p.rpc_fd), SOCK_SEQPACKET);
	uint8_t *req = make_req(40000, 7, 3);
	send_record(p.rpc_fd, req, WIRE(40000));
	expect_echo(&p, 40000, 7, 3, &records);
	assert_int_equal(records, 1);
	free(req);
	peer_close(&p);

	p = peer_open(state, false, 64 * 1024);
	assert_int_equal(p.w.reserved & LRPC__CAP_RECORDS, 0);
	assert_int_equal(p.n_fds, 2);
	assert_int_equal(sock_type(p.fds[1]), SOCK_STREAM);
	peer_close(&p);
	assert_int_equal(th_server_stop(s), 0);
}

/* One side without record sockets, the other with them: they agree on
 * streams, and calls, events and fds all work. */
static void
test_records_mixed_peers(void **state)
{
	for (int k = 0; k < 2; k++) {
		/* k 0: an older client; k 1: an older server. */
		th_server *s = th_server_spawn(*state, NULL, NULL,
					       k == 0 ? th_standard_handlers
						      : no_records_setup,
					       NULL);
		lrpc_client *c = NULL;

		assert_non_null(s);
		if (k == 0)
			lrpc__socket_records_set(false);
		int seq_before = count_seqpacket_fds();
		assert_int_equal(th_connect(*state, &c, NULL), 0);
		lrpc__socket_records_set(true);
		/* Streams it is, either way. */
		assert_int_equal(count_seqpacket_fds(), seq_before);
		for (unsigned i = 0; i < 50; i++)
			th_echo(c, 32 + i * 80, i, SOON_MS);
		lrpc_client_unref(c);
		if (k == 1) {
			/* The older server did not take the offer up. */
			rec_peer p = peer_open(state, true, 64 * 1024);
			assert_int_equal(p.w.reserved & LRPC__CAP_RECORDS, 0);
			assert_int_equal(sock_type(p.fds[1]), SOCK_STREAM);
			peer_close(&p);
		}
		assert_int_equal(th_server_stop(s), 0);
	}
}

/* A message cut into three records, and two messages in one record: the
 * server reassembles the first and takes both of the second. */
static void
test_records_split_and_packed(void **state)
{
	th_server *s = spawn_standard(state);
	rec_peer p = peer_open(state, true, 64 * 1024);
	uint8_t *a = make_req(30000, 1, 5);
	unsigned records;

	send_record(p.rpc_fd, a, 10);
	send_record(p.rpc_fd, a + 10, 20000);
	send_record(p.rpc_fd, a + 20010, WIRE(30000) - 20010);
	expect_echo(&p, 30000, 1, 5, &records);

	uint8_t *b = make_req(100, 2, 6), *c = make_req(300, 3, 7);
	uint8_t both[WIRE(100) + WIRE(300)];
	memcpy(both, b, WIRE(100));
	memcpy(both + WIRE(100), c, WIRE(300));
	send_record(p.rpc_fd, both, sizeof(both));
	expect_echo(&p, 100, 2, 6, &records);
	expect_echo(&p, 300, 3, 7, &records);
	free(a);
	free(b);
	free(c);
	peer_close(&p);
	assert_int_equal(th_server_stop(s), 0);
}

/* True once the server dropped the connection: its end of the record
 * pair is closed. */
static bool
dropped(rec_peer *p)
{
	uint8_t buf[256];

	for (int i = 0; i < 100; i++) {
		if (!th_wait_fd(p->rpc_fd, POLLIN | POLLRDHUP, SOON_MS))
			return false;
		ssize_t n = recv(p->rpc_fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			return true;
	}
	return false;
}

/* Records that break the rules: one longer than the largest message,
 * an empty one, one carrying fds it does not declare.  Each drops its
 * connection (closing what it received), and nobody else notices. */
static void
test_records_hostile_dropped(void **state)
{
	th_server *s = spawn_standard(state);
	lrpc_client *c = NULL;
	uint32_t max = 16 * 1024;

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	th_echo(c, 64, 1, SOON_MS);
	int before = th_proc_count_fds(th_server_pid(s), NULL);
	for (int kind = 0; kind < 3; kind++) {
		th_raw_offer_fds = kind == 2 ? 4 : 0;
		rec_peer p = peer_open(state, true, max);
		th_raw_offer_fds = 0;
		uint8_t *req = make_req(max + 64, 9, 1);
		((lrpc_msg_header *)req)->size = 64;

		if (kind == 0) {
			/* Our end's buffer is the server's choice: room for
			 * two of the largest records, so this one fits. */
			send_record(p.rpc_fd, req, max + 64);
		} else if (kind == 1) {
			send_record(p.rpc_fd, req, 0);
		} else {
			int fd = memfd_create("x", MFD_CLOEXEC);
			union {
				struct cmsghdr align;
				char buf[CMSG_SPACE(sizeof(int))];
			} ctl;
			struct iovec iov = { req, 64 };
			struct msghdr mh = { .msg_iov = &iov,
					     .msg_iovlen = 1 };
			lrpc__cmsg_put_fds(&mh, ctl.buf, &fd, 1);
			assert_int_equal(sendmsg(p.rpc_fd, &mh, MSG_NOSIGNAL),
					 64);
			close(fd);
		}
		assert_true(dropped(&p));
		assert_true(th_server_expect(s, "destroyed", SOON_MS, NULL, 0));
		free(req);
		peer_close(&p);
		th_echo(c, 64, (unsigned)kind, SOON_MS);
	}
	/* Every fd of the dropped connections is closed, the memfd too. */
	int n = -1;
	for (int k = 0; k < 200 && n != before; k++) {
		n = th_proc_count_fds(th_server_pid(s), NULL);
		if (n != before)
			th_msleep(10);
	}
	assert_int_equal(n, before);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

/* A peer whose send buffer is small cuts a 1 MiB request into records of
 * 8 KiB; the server puts it together, and answers it in records as large
 * as its own buffer allows. */
static void
test_records_large_message_small_records(void **state)
{
	th_server *s = spawn_standard(state);
	size_t size = 1024 * 1024 - 64;
	rec_peer p = peer_open(state, true, 1024 * 1024);
	uint8_t *req = make_req(size, 11, 9);
	unsigned records;

	for (size_t off = 0; off < WIRE(size); off += 8192)
		send_record(p.rpc_fd, req + off,
			    WIRE(size) - off < 8192 ? WIRE(size) - off : 8192);
	expect_echo(&p, size, 11, 9, &records);
	assert_true(records >= 1);
	free(req);
	peer_close(&p);
	assert_int_equal(th_server_stop(s), 0);
}

/* A server allowing 16 MiB messages sizes the peer's record buffer to
 * at most 8 MiB (4 MiB asked, doubled by the kernel): a client cannot make
 * it pin more kernel memory than that, and a 16 MiB message still goes
 * through, in several records. */
static void
test_records_buffer_bounded(void **state)
{
	lrpc_server_opts opts = { .struct_size = sizeof(opts),
				  .max_msg_size = 16u << 20 };
	th_server *s = th_server_spawn(*state, NULL, &opts,
				       th_standard_handlers, NULL);
	size_t size = (16u << 20) - 64;
	int sb = 0;
	socklen_t l = sizeof(sb);
	unsigned records;

	assert_non_null(s);
	rec_peer p = peer_open(state, true, 16u << 20);
	assert_int_equal(p.w.max_msg_size, 16u << 20);
	assert_int_equal(getsockopt(p.rpc_fd, SOL_SOCKET, SO_SNDBUF, &sb, &l),
			 0);
	assert_true(sb > 0 && sb <= 8 * 1024 * 1024 + 65536);
	uint8_t *req = make_req(size, 12, 4);
	for (size_t off = 0; off < WIRE(size); off += (size_t)sb / 4)
		send_record(p.rpc_fd, req + off,
			    WIRE(size) - off < (size_t)sb / 4 ? WIRE(size) - off
							       : (size_t)sb / 4);
	expect_echo(&p, size, 12, 4, &records);
	/* The server's records: no larger than its own bounded buffer. */
	assert_true(records >= 2);
	free(req);
	peer_close(&p);
	assert_int_equal(th_server_stop(s), 0);
}

int
main(void)
{
	static const th_test tests[] = {
		TH_TEST_ON(test_records_negotiated, TH_ON_SOCKET),
		TH_TEST_ON(test_records_mixed_peers, TH_ON_SOCKET),
		TH_TEST_ON(test_records_split_and_packed, TH_ON_SOCKET),
		TH_TEST_ON(test_records_hostile_dropped, TH_ON_SOCKET),
		TH_TEST_ON(test_records_large_message_small_records,
			   TH_ON_SOCKET),
		TH_TEST_ON(test_records_buffer_bounded, TH_ON_SOCKET),
	};

	return th_run_group("records", tests, sizeof(tests) / sizeof(tests[0]));
}
