/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The socket transport with record sockets (LRPC__CAP_RECORDS), driven
 * directly through its ops in one process: a server and a client side
 * built on a socketpair, as the handshake would build them.  What a
 * record carries and how messages are cut into records is checked here;
 * test-records.c checks the same against a real server process.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "transport/transport.h"

#define MAX_MSG (1024u * 1024u)
#define WIRE(n) (((size_t)(n) + 7u) & ~(size_t)7u)

typedef struct pair {
	int sv[2];
	lrpc__tconn *srv, *cli;
	const lrpc__tconn_ops *ops;
	int cli_rpc_fd; /* the client's end of the record pair */
} pair;

/* Build both sides; with @cli_sndbuf, shrink the client's send buffer
 * first, so that its messages are cut into records of about that size. */
static void
pair_open_fds(pair *p, int cli_sndbuf, bool records, bool fds)
{
	const lrpc__transport *tr = &lrpc__socket_transport;
	uint64_t caps = records ? LRPC__CAP_RECORDS : 0;
	lrpc__fdset pass = { .n = 0 };

	p->ops = tr->conn;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
						     SOCK_NONBLOCK,
				    0, p->sv),
			 0);
	assert_int_equal(tr->listener->l_accept(&p->srv, p->sv[0], MAX_MSG,
						&caps, &pass),
			 0);
	assert_int_equal(caps, records ? LRPC__CAP_RECORDS : 0);
	assert_int_equal(pass.n, records ? 2 : 1);
	p->cli_rpc_fd = records ? pass.fds[1] : p->sv[1];
	if (cli_sndbuf > 0)
		assert_int_equal(setsockopt(pass.fds[records ? 1 : 0],
					    SOL_SOCKET, SO_SNDBUF, &cli_sndbuf,
					    sizeof(cli_sndbuf)),
				 0);
	assert_int_equal(tr->connector->c_adopt(&p->cli, p->sv[1], MAX_MSG,
						caps, &pass),
			 0);
	assert_int_equal(pass.n, 0);
	if (fds) {
		p->ops->t_fd_limits(p->srv, 8, 32);
		p->ops->t_fd_limits(p->cli, 8, 32);
	}
}

static void
pair_open(pair *p, int cli_sndbuf, bool records)
{
	pair_open_fds(p, cli_sndbuf, records, true);
}

static void
pair_close(pair *p)
{
	p->ops->t_free(p->srv);
	p->ops->t_free(p->cli);
	close(p->sv[0]);
	close(p->sv[1]);
}

static uint8_t *
make_msg(size_t size, uint32_t kind, unsigned seed, unsigned n_fds)
{
	uint8_t *b = calloc(1, WIRE(size));
	lrpc_msg_header *h = (lrpc_msg_header *)b;

	assert_non_null(b);
	for (size_t i = sizeof(*h); i < size; i++)
		b[i] = (uint8_t)(i * 7 + seed);
	h->size = (uint32_t)size;
	h->id = 5;
	h->seq = seed;
	h->flags = kind | (n_fds << LRPC__MSG_FDS_SHIFT);
	return b;
}

/*
 * Deliver what @from sent on @chan to @to: flush and read in turns until
 * one whole message is there.  Returns it (valid until t_release).
 */
static const lrpc_msg_header *
pump(pair *p, lrpc__tconn *from, lrpc__tconn *to, lrpc__chan chan,
     size_t *ret_size)
{
	const lrpc_msg_header *m = NULL;

	for (int i = 0; i < 100000; i++) {
		int r = p->ops->t_flush(from, chan);
		assert_true(r == 0 || r == -EAGAIN);
		r = p->ops->t_recv(to, chan, true, &m, ret_size);
		assert_true(r >= 0);
		if (r == 1)
			return m;
	}
	fail_msg("no message came through");
	return NULL;
}

static void
check_msg(const lrpc_msg_header *m, size_t size, const uint8_t *want)
{
	assert_int_equal(m->size, size);
	assert_memory_equal(m, want, size);
}

/* A 1 MiB request through a 4 KiB send buffer: hundreds of records, each
 * taken whole, the message reassembled byte for byte. */
static void
test_records_large_message_in_many_records(void **state)
{
	pair p;
	size_t size = MAX_MSG - 24, got;
	uint8_t *msg = make_msg(size, LRPC__MSG_REQUEST, 3, 0);
	/* Three entries, cut at odd places, to cross record boundaries. */
	struct iovec iov[3] = { { msg, 5000 },
				{ msg + 5000, 77777 },
				{ msg + 82777, WIRE(size) - 82777 } };

	pair_open(&p, 4096, true);
	assert_int_equal(p.ops->t_send(p.cli, LRPC__CHAN_REQUEST, iov, 3,
				       size),
			 0);
	/* Most of it is still ours to push. */
	assert_true(p.ops->t_pending(p.cli, LRPC__CHAN_REQUEST));
	const lrpc_msg_header *m =
		pump(&p, p.cli, p.srv, LRPC__CHAN_REQUEST, &got);
	check_msg(m, size, msg);
	p.ops->t_release(p.srv, LRPC__CHAN_REQUEST);
	assert_false(p.ops->t_pending(p.cli, LRPC__CHAN_REQUEST));
	free(msg);
	pair_close(&p);
}

/* With room in the buffers a message is one record: one recv() on the
 * other side takes all of it. */
static void
test_records_message_is_one_record(void **state)
{
	pair p;
	size_t size = 200000, got;
	uint8_t *msg = make_msg(size, LRPC__MSG_RESPONSE, 9, 0);
	struct iovec iov = { msg, WIRE(size) };
	uint8_t buf[512];
	ssize_t n;

	pair_open(&p, 0, true);
	assert_int_equal(p.ops->t_send(p.srv, LRPC__CHAN_RESPONSE, &iov, 1,
				       size),
			 0);
	assert_false(p.ops->t_pending(p.srv, LRPC__CHAN_RESPONSE));
	/* Peek at the record as the kernel holds it: its whole length. */
	n = recv(p.cli_rpc_fd, buf, sizeof(buf), MSG_PEEK | MSG_TRUNC);
	assert_int_equal(n, WIRE(size));
	const lrpc_msg_header *m =
		pump(&p, p.srv, p.cli, LRPC__CHAN_RESPONSE, &got);
	check_msg(m, size, msg);
	p.ops->t_release(p.cli, LRPC__CHAN_RESPONSE);
	free(msg);
	pair_close(&p);
}

static bool
same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Fds ride with the first record of a message cut into many. */
static void
test_records_fds_with_a_split_message(void **state)
{
	pair p;
	size_t size = 100000, got;
	uint8_t *msg = make_msg(size, LRPC__MSG_REQUEST, 4, 2);
	struct iovec iov = { msg, WIRE(size) };
	int fds[2] = { open("/dev/null", O_RDONLY | O_CLOEXEC),
		       memfd_create("x", MFD_CLOEXEC) };

	pair_open(&p, 4096, true);
	assert_int_equal(p.ops->t_send_fds(p.cli, LRPC__CHAN_REQUEST, &iov, 1,
					   size, fds, 2),
			 0);
	const lrpc_msg_header *m =
		pump(&p, p.cli, p.srv, LRPC__CHAN_REQUEST, &got);
	check_msg(m, size, msg);
	assert_int_equal(p.ops->t_msg_n_fds(p.srv, LRPC__CHAN_REQUEST), 2);
	for (unsigned i = 0; i < 2; i++) {
		int fd = p.ops->t_take_fd(p.srv, LRPC__CHAN_REQUEST, i);
		assert_true(fd >= 0);
		assert_true(same_file(fd, fds[i]));
		close(fd);
	}
	p.ops->t_release(p.srv, LRPC__CHAN_REQUEST);
	close(fds[0]);
	close(fds[1]);
	free(msg);
	pair_close(&p);
}

/* Events corked by a handler leave as one record and come out as the
 * same messages, in order. */
static void
test_records_corked_events_share_a_record(void **state)
{
	pair p;
	uint8_t *msgs[20];
	uint8_t peek[64];
	size_t got;

	pair_open(&p, 0, true);
	p.ops->t_hold_wakes(p.srv, true);
	for (unsigned i = 0; i < 20; i++) {
		msgs[i] = make_msg(40 + i, LRPC__MSG_EVENT, i, 0);
		struct iovec iov = { msgs[i], WIRE(40 + i) };
		assert_int_equal(p.ops->t_send(p.srv, LRPC__CHAN_EVENT, &iov,
					       1, 40 + i),
				 0);
	}
	p.ops->t_hold_wakes(p.srv, false);
	uint32_t ev;
	int efd = -1;
	/* The client's event socket: one record holding all twenty. */
	efd = p.ops->t_wait_fd(p.cli, LRPC__CHAN_EVENT, false, &ev);
	size_t total = 0;
	for (unsigned i = 0; i < 20; i++)
		total += WIRE(40 + i);
	assert_int_equal(recv(efd, peek, sizeof(peek), MSG_PEEK | MSG_TRUNC),
			 (ssize_t)total);
	for (unsigned i = 0; i < 20; i++) {
		const lrpc_msg_header *m =
			pump(&p, p.srv, p.cli, LRPC__CHAN_EVENT, &got);
		check_msg(m, 40 + i, msgs[i]);
		p.ops->t_release(p.cli, LRPC__CHAN_EVENT);
		free(msgs[i]);
	}
	pair_close(&p);
}

/* Records the peer writes by hand: too large, empty, with fds nobody
 * declared (with fd passing agreed and without).  Each breaks only this
 * connection, with an error. */
static void
test_records_hostile_records(void **state)
{
	const lrpc_msg_header *m;
	size_t got;

	for (int kind = 0; kind < 6; kind++) {
		bool fds = kind >= 3;
		pair p;
		size_t len = kind % 3 == 0 ? WIRE(MAX_MSG) + 8 : 64;
		uint8_t *rec = make_msg(len, LRPC__MSG_REQUEST, 1, 0);
		int big = (int)(4 * MAX_MSG);

		pair_open_fds(&p, 0, true, fds);
		assert_int_equal(setsockopt(p.cli_rpc_fd, SOL_SOCKET,
					    SO_SNDBUFFORCE, &big, sizeof(big)) ==
						 0 ||
					 setsockopt(p.cli_rpc_fd, SOL_SOCKET,
						    SO_SNDBUF, &big,
						    sizeof(big)) == 0,
				 1);
		if (kind % 3 == 0) {
			((lrpc_msg_header *)rec)->size = 64;
			ssize_t n = send(p.cli_rpc_fd, rec, len, MSG_DONTWAIT);
			if (n < 0 && errno == EMSGSIZE) {
				/* This kernel's buffers cannot even carry
				 * it: nothing to refuse. */
				free(rec);
				pair_close(&p);
				continue;
			}
			assert_int_equal(n, (ssize_t)len);
		} else if (kind % 3 == 1) {
			assert_int_equal(send(p.cli_rpc_fd, rec, 0,
					      MSG_DONTWAIT),
					 0);
		} else {
			int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			union {
				struct cmsghdr align;
				char buf[CMSG_SPACE(sizeof(int))];
			} ctl;
			struct iovec iov = { rec, 64 };
			struct msghdr mh = { .msg_iov = &iov,
					     .msg_iovlen = 1 };
			lrpc__cmsg_put_fds(&mh, ctl.buf, &fd, 1);
			assert_int_equal(sendmsg(p.cli_rpc_fd, &mh,
						 MSG_DONTWAIT),
					 64);
			close(fd);
		}
		int r = p.ops->t_recv(p.srv, LRPC__CHAN_REQUEST, true, &m,
				      &got);
		assert_int_equal(r, kind % 3 == 1 ? -ECONNRESET : -EBADMSG);
		free(rec);
		pair_close(&p);
	}
}

/* A reader that copies messages out has the kernel put a record that is
 * one whole message straight into its buffer; anything else (too large
 * for it, several messages, fds) comes through the framer as before,
 * unchanged and in order. */
static void
test_records_recv_into_caller_buffer(void **state)
{
	pair p;
	const lrpc_msg_header *m = NULL;
	size_t got = 0;
	uint8_t *buf = malloc(MAX_MSG);
	uint8_t *a = make_msg(70000, LRPC__MSG_RESPONSE, 1, 0);
	uint8_t *b = make_msg(300, LRPC__MSG_RESPONSE, 2, 0);
	uint8_t *c = make_msg(500, LRPC__MSG_RESPONSE, 3, 0);
	uint8_t *d = make_msg(64, LRPC__MSG_RESPONSE, 4, 1);
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	assert_non_null(buf);
	pair_open(&p, 0, true);
	/* Nothing there yet. */
	assert_int_equal(p.ops->t_recv_into(p.cli, LRPC__CHAN_RESPONSE, buf,
					    MAX_MSG, &m, &got),
			 0);
	/* One message, room for it: in the buffer, nothing to release. */
	struct iovec iov = { a, WIRE(70000) };
	assert_int_equal(p.ops->t_send(p.srv, LRPC__CHAN_RESPONSE, &iov, 1,
				       70000),
			 0);
	assert_int_equal(p.ops->t_recv_into(p.cli, LRPC__CHAN_RESPONSE, buf,
					    MAX_MSG, &m, &got),
			 2);
	assert_int_equal(got, 70000);
	assert_memory_equal(buf, a, 70000);
	assert_false(p.ops->t_partial(p.cli, LRPC__CHAN_RESPONSE));
	/* Too large for the buffer: a view, the message whole. */
	assert_int_equal(p.ops->t_send(p.srv, LRPC__CHAN_RESPONSE, &iov, 1,
				       70000),
			 0);
	assert_int_equal(p.ops->t_recv_into(p.cli, LRPC__CHAN_RESPONSE, buf,
					    4096, &m, &got),
			 1);
	check_msg(m, 70000, a);
	p.ops->t_release(p.cli, LRPC__CHAN_RESPONSE);
	/* Two messages in one record (written by hand): views, in order. */
	uint8_t two[WIRE(300) + WIRE(500)];
	memcpy(two, b, WIRE(300));
	memcpy(two + WIRE(300), c, WIRE(500));
	uint32_t ev;
	int srv_fd = p.ops->t_wait_fd(p.srv, LRPC__CHAN_RESPONSE, true, &ev);
	assert_int_equal(send(srv_fd, two, sizeof(two), MSG_DONTWAIT),
			 (ssize_t)sizeof(two));
	assert_int_equal(p.ops->t_recv_into(p.cli, LRPC__CHAN_RESPONSE, buf,
					    MAX_MSG, &m, &got),
			 1);
	check_msg(m, 300, b);
	p.ops->t_release(p.cli, LRPC__CHAN_RESPONSE);
	assert_int_equal(p.ops->t_recv(p.cli, LRPC__CHAN_RESPONSE, false, &m,
				       &got),
			 1);
	check_msg(m, 500, c);
	p.ops->t_release(p.cli, LRPC__CHAN_RESPONSE);
	/* A record of two bytes (a message cut there by hand): nothing
	 * whole yet, and @buf not taken for a message. */
	assert_int_equal(send(srv_fd, b, 2, MSG_DONTWAIT), 2);
	assert_int_equal(p.ops->t_recv_into(p.cli, LRPC__CHAN_RESPONSE, buf,
					    MAX_MSG, &m, &got),
			 0);
	assert_int_equal(send(srv_fd, b + 2, WIRE(300) - 2, MSG_DONTWAIT),
			 (ssize_t)WIRE(300) - 2);
	assert_int_equal(p.ops->t_recv_into(p.cli, LRPC__CHAN_RESPONSE, buf,
					    MAX_MSG, &m, &got),
			 1);
	check_msg(m, 300, b);
	p.ops->t_release(p.cli, LRPC__CHAN_RESPONSE);
	/* A message with an fd: a view, and the fd with it. */
	iov = (struct iovec){ d, WIRE(64) };
	assert_int_equal(p.ops->t_send_fds(p.srv, LRPC__CHAN_RESPONSE, &iov, 1,
					   64, &fd, 1),
			 0);
	assert_int_equal(p.ops->t_recv_into(p.cli, LRPC__CHAN_RESPONSE, buf,
					    MAX_MSG, &m, &got),
			 1);
	check_msg(m, 64, d);
	assert_int_equal(p.ops->t_msg_n_fds(p.cli, LRPC__CHAN_RESPONSE), 1);
	p.ops->t_release(p.cli, LRPC__CHAN_RESPONSE);
	close(fd);
	free(a);
	free(b);
	free(c);
	free(d);
	free(buf);
	pair_close(&p);
}

/* Without the capability both pairs are streams, as older peers expect. */
static void
test_records_off_is_streams(void **state)
{
	pair p;
	int type = 0;
	socklen_t l = sizeof(type);
	uint32_t ev;
	size_t size = 300000, got;
	uint8_t *msg = make_msg(size, LRPC__MSG_EVENT, 2, 0);
	struct iovec iov = { msg, WIRE(size) };

	pair_open(&p, 0, false);
	int efd = p.ops->t_wait_fd(p.cli, LRPC__CHAN_EVENT, false, &ev);
	assert_int_equal(getsockopt(efd, SOL_SOCKET, SO_TYPE, &type, &l), 0);
	assert_int_equal(type, SOCK_STREAM);
	assert_int_equal(p.ops->t_wait_fd(p.cli, LRPC__CHAN_RESPONSE, false,
					  &ev),
			 p.sv[1]);
	assert_int_equal(p.ops->t_send(p.srv, LRPC__CHAN_EVENT, &iov, 1, size),
			 0);
	const lrpc_msg_header *m =
		pump(&p, p.srv, p.cli, LRPC__CHAN_EVENT, &got);
	check_msg(m, size, msg);
	p.ops->t_release(p.cli, LRPC__CHAN_EVENT);
	free(msg);
	pair_close(&p);
}

/* A client handed stream sockets where records were agreed (or the
 * other way round) refuses them. */
static void
test_records_adopt_checks_socket_types(void **state)
{
	const lrpc__transport *tr = &lrpc__socket_transport;
	int sv[2], a[2], b[2];
	lrpc__tconn *t = NULL;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	for (int k = 0; k < 2; k++) {
		lrpc__fdset fds = { .n = 0 };
		uint64_t caps = k == 0 ? LRPC__CAP_RECORDS : 0;
		int type = k == 0 ? SOCK_STREAM : SOCK_SEQPACKET;

		assert_int_equal(socketpair(AF_UNIX, type, 0, a), 0);
		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, b), 0);
		fds.fds[fds.n++] = a[1];
		if (k == 0)
			fds.fds[fds.n++] = b[1];
		else
			close(b[1]);
		assert_int_equal(tr->connector->c_adopt(&t, sv[1], MAX_MSG,
							caps, &fds),
				 -EBADF);
		assert_int_equal(fds.n, 0);
		close(a[0]);
		close(b[0]);
	}
	close(sv[0]);
	close(sv[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records_large_message_in_many_records),
		cmocka_unit_test(test_records_message_is_one_record),
		cmocka_unit_test(test_records_fds_with_a_split_message),
		cmocka_unit_test(test_records_corked_events_share_a_record),
		cmocka_unit_test(test_records_hostile_records),
		cmocka_unit_test(test_records_recv_into_caller_buffer),
		cmocka_unit_test(test_records_off_is_streams),
		cmocka_unit_test(test_records_adopt_checks_socket_types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
