/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fds attached to core messages (docs/wire.md, "Fds of messages"): both
 * directions, both channels, the negotiation with peers that take none,
 * the fd counts of both processes after many messages, and hostile peers
 * that declare more or fewer fds than they attach (HARDENING A14/A15).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "transport/transport.h"

#define SOON_MS 5000

enum {
	H_FD_ECHO = 20,   /* answer with the request's fds attached */
	H_FD_EVENT = 21,  /* send the request's fds back as an event */
	H_FD_IGNORE = 22, /* take nothing; answer u32 count of fds */
	H_FD_SEND = 23,   /* answer with an fd of the server's own; the
			   * response's error is what the send returned */
	H_FD_BOTH = 24,   /* an event with the request's fds, then the
			   * response with them */
	H_FD_FLOOD = 25,  /* payload n: n events with an fd each; answer
			   * u32 how many were taken */
};

typedef struct fd_msg {
	lrpc_msg_header h;
	uint32_t n;
	uint32_t pad;
} fd_msg;

/* Take every fd of @msg into @fds (at most 16); returns the count. */
static unsigned
srv_take_all(lrpc_conn *c, const lrpc_msg_header *msg, int *fds)
{
	int n = lrpc_conn_get_n_fds(c, msg);

	if (n < 0 || n > 16)
		return 0;
	for (int i = 0; i < n; i++)
		fds[i] = lrpc_conn_take_fd(c, msg, (unsigned)i);
	return (unsigned)n;
}

static void
srv_close_all(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static int
h_fd_echo(lrpc_conn *c, const lrpc_msg_header *msg, size_t size, void *ud)
{
	int fds[16];
	unsigned n = srv_take_all(c, msg, fds);
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = size };
	int r = lrpc_conn_send_responsev_fds(c, &iov, 1, fds, n);

	/* Borrowed: ours to close as soon as the send returned. */
	srv_close_all(fds, n);
	return r;
}

static int
h_fd_event(lrpc_conn *c, const lrpc_msg_header *msg, size_t size, void *ud)
{
	int fds[16];
	unsigned n = srv_take_all(c, msg, fds);
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = size };
	lrpc_msg_header ok = { .size = sizeof(ok), .id = msg->id };
	int r = lrpc_conn_send_eventv_fds(c, &iov, 1, fds, n);

	srv_close_all(fds, n);
	if (r < 0)
		return r;
	return lrpc_conn_send_response(c, &ok, sizeof(ok));
}

static int
h_fd_both(lrpc_conn *c, const lrpc_msg_header *msg, size_t size, void *ud)
{
	int fds[16];
	unsigned n = srv_take_all(c, msg, fds);
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = size };
	int r = lrpc_conn_send_eventv_fds(c, &iov, 1, fds, n);

	if (r == 0)
		r = lrpc_conn_send_responsev_fds(c, &iov, 1, fds, n);
	srv_close_all(fds, n);
	return r;
}

static int
h_fd_ignore(lrpc_conn *c, const lrpc_msg_header *msg, size_t size, void *ud)
{
	fd_msg m = { .h = { .size = sizeof(m), .id = msg->id } };

	m.n = (uint32_t)lrpc_conn_get_n_fds(c, msg);
	return lrpc_conn_send_response(c, &m, sizeof(m));
}

static int
h_fd_send(lrpc_conn *c, const lrpc_msg_header *msg, size_t size, void *ud)
{
	lrpc_msg_header h = { .size = sizeof(h), .id = msg->id };
	struct iovec iov = { .iov_base = &h, .iov_len = sizeof(h) };
	int fd = memfd_create("srv", MFD_CLOEXEC), r;

	r = lrpc_conn_send_responsev_fds(c, &iov, 1, &fd, 1);
	close(fd);
	if (r < 0)
		h.error = r;
	if (r < 0)
		return lrpc_conn_send_response(c, &h, sizeof(h));
	return 0;
}

static int
h_fd_flood(lrpc_conn *c, const lrpc_msg_header *msg, size_t size, void *ud)
{
	fd_msg m = { .h = { .size = sizeof(m), .id = msg->id } };
	fd_msg ev = { .h = { .size = sizeof(ev), .id = H_FD_FLOOD } };
	struct iovec iov = { .iov_base = &ev, .iov_len = sizeof(ev) };
	int fd = memfd_create("flood", MFD_CLOEXEC);
	uint32_t n = 0;

	if (size >= sizeof(m))
		memcpy(&n, (const uint8_t *)msg + sizeof(msg[0]), sizeof(n));
	for (m.n = 0; m.n < n; m.n++) {
		ev.n = m.n;
		if (lrpc_conn_send_eventv_fds(c, &iov, 1, &fd, 1) < 0)
			break;
	}
	close(fd);
	return lrpc_conn_send_response(c, &m, sizeof(m));
}

static void
fd_setup(lrpc_server *s, lrpc_loop *loop, void *arg)
{
	lrpc_server_add_handler(s, H_FD_FLOOD, h_fd_flood, NULL);
	lrpc_server_add_handler(s, H_FD_ECHO, h_fd_echo, NULL);
	lrpc_server_add_handler(s, H_FD_EVENT, h_fd_event, NULL);
	lrpc_server_add_handler(s, H_FD_IGNORE, h_fd_ignore, NULL);
	lrpc_server_add_handler(s, H_FD_SEND, h_fd_send, NULL);
	lrpc_server_add_handler(s, H_FD_BOTH, h_fd_both, NULL);
	th_standard_handlers(s, loop, arg);
}

static th_server *
spawn(void **state, const lrpc_server_opts *opts)
{
	th_server *s = th_server_spawn(*state, NULL, opts, fd_setup, NULL);

	assert_non_null(s);
	return s;
}

static bool
same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Send @n fds with id @id and check what comes back on @event or the
 * response channel carries the same files. */
static void
roundtrip(lrpc_client *c, int32_t id, const int *fds, unsigned n,
	  bool event)
{
	fd_msg m = { .h = { .size = sizeof(m), .id = id }, .n = n };
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	const lrpc_msg_header *v;
	size_t size;

	assert_int_equal(lrpc_client_sendv_fds(c, &iov, 1, fds, n), 0);
	if (event) {
		assert_int_equal(th_recv_event_view(c, &v, &size, SOON_MS),
				 (int)sizeof(m));
	} else {
		assert_int_equal(th_recv_view(c, &v, &size, SOON_MS),
				 (int)sizeof(m));
	}
	assert_int_equal(v->id, id);
	assert_int_equal(lrpc_client_get_n_fds(c, v), (int)n);
	for (unsigned i = 0; i < n; i++) {
		/* Take half of them; the rest close with the release. */
		if (i % 2)
			continue;
		int fd = lrpc_client_take_fd(c, v, i);
		assert_true(fd >= 0);
		assert_true(same_file(fd, fds[i]));
		assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
		assert_int_equal(lrpc_client_take_fd(c, v, i), -EBADF);
		close(fd);
	}
	assert_int_equal(lrpc_client_take_fd(c, v, n), -ENXIO);
	assert_int_equal(lrpc_client_release(c, v), 0);
	if (event) {
		uint8_t buf[64];
		assert_int_equal(th_recv(c, buf, sizeof(buf), SOON_MS),
				 (int)sizeof(lrpc_msg_header));
	}
}

/* Fds of many kinds, both ways, both channels, 10^4 messages: every fd
 * either process received is closed or taken, none is left behind. */
static void
test_fds_roundtrip_counts(void **state)
{
	th_server *s = spawn(state, NULL);
	lrpc_client *c;
	int p[2], sp[2], fds[6];

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	assert_int_equal(lrpc_client_get_max_fds(c),
			 LRPC_DEFAULT_MAX_FDS_PER_MSG);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp),
			 0);
	fds[0] = memfd_create("a", MFD_CLOEXEC);
	fds[1] = p[0];
	fds[2] = p[1];
	fds[3] = sp[0];
	fds[4] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fds[5] = sp[1];
	th_echo(c, 64, 1, SOON_MS);
	int mine = th_count_fds();
	int theirs = th_proc_count_fds(th_server_pid(s), NULL);
	assert_true(mine > 0 && theirs > 0);

	for (unsigned i = 0; i < 10000; i++) {
		unsigned n = 1 + i % 6;
		roundtrip(c, i % 3 == 2 ? H_FD_EVENT : H_FD_ECHO, fds, n,
			  i % 3 == 2);
	}
	/* Fds the handler did not take are closed after it. */
	fd_msg m = { .h = { .size = sizeof(m), .id = H_FD_IGNORE } };
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	fd_msg ans;
	assert_int_equal(lrpc_client_sendv_fds(c, &iov, 1, fds, 6), 0);
	assert_int_equal(th_recv(c, &ans, sizeof(ans), SOON_MS),
			 (int)sizeof(ans));
	assert_int_equal(ans.n, 6);
	/* lrpc_client_recv() copies and releases: the fds of a response
	 * read that way are closed. */
	m.h.id = H_FD_ECHO;
	assert_int_equal(lrpc_client_sendv_fds(c, &iov, 1, fds, 3), 0);
	assert_int_equal(th_recv(c, &ans, sizeof(ans), SOON_MS),
			 (int)sizeof(ans));

	th_echo(c, 64, 2, SOON_MS);
	assert_int_equal(th_count_fds(), mine);
	assert_int_equal(th_proc_count_fds(th_server_pid(s), NULL), theirs);
	for (int i = 0; i < 6; i++)
		close(fds[i]);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

/* Take fd 0 of view @v and check it is @want's file. */
static void
take_check(lrpc_client *c, const lrpc_msg_header *v, int want)
{
	int fd = lrpc_client_take_fd(c, v, 0);

	assert_true(fd >= 0);
	assert_true(same_file(fd, want));
	close(fd);
}

/* An event and a response, both with fds, read in the other order than
 * they were sent: each message gets its own (with shm both sets travel on
 * the one main socket, the event's first). */
static void
test_fds_event_and_response_interleaved(void **state)
{
	th_server *s = spawn(state, NULL);
	fd_msg m = { .h = { .size = sizeof(m), .id = H_FD_BOTH } };
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	const lrpc_msg_header *v;
	size_t size;
	lrpc_client *c;
	int a = memfd_create("a", MFD_CLOEXEC), b = memfd_create("b",
								 MFD_CLOEXEC);

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	for (int i = 0; i < 20; i++) {
		int fd = i % 2 ? a : b;
		assert_int_equal(lrpc_client_sendv_fds(c, &iov, 1, &fd, 1), 0);
		assert_int_equal(th_recv_view(c, &v, &size, SOON_MS),
				 (int)sizeof(m));
		take_check(c, v, fd);
		assert_int_equal(lrpc_client_release(c, v), 0);
	}
	for (int i = 0; i < 20; i++) {
		assert_int_equal(th_recv_event_view(c, &v, &size, SOON_MS),
				 (int)sizeof(m));
		take_check(c, v, i % 2 ? a : b);
		assert_int_equal(lrpc_client_release(c, v), 0);
	}
	assert_true(lrpc_client_is_connected(c));
	lrpc_client_unref(c);
	close(a);
	close(b);
	assert_int_equal(th_server_stop(s), 0);
}

/* The caller's mistakes: nothing is sent, the connection stays. */
static void
test_fds_bad_arguments(void **state)
{
	th_server *s = spawn(state, NULL);
	lrpc_client *c;
	fd_msg m = { .h = { .size = sizeof(m), .id = H_FD_ECHO } };
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	int fds[LRPC_DEFAULT_MAX_FDS_PER_MSG + 1];

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	for (unsigned i = 0; i < LRPC_DEFAULT_MAX_FDS_PER_MSG + 1; i++)
		fds[i] = 0;
	assert_int_equal(lrpc_client_sendv_fds(c, &iov, 1, fds,
					       LRPC_DEFAULT_MAX_FDS_PER_MSG +
						       1),
			 -E2BIG);
	fds[0] = 999;
	assert_int_equal(lrpc_client_sendv_fds(c, &iov, 1, fds, 1), -EBADF);
	assert_int_equal(lrpc_client_sendv_fds(c, &iov, 1, NULL, 1), -EINVAL);
	/* Not a current message. */
	assert_int_equal(lrpc_client_take_fd(c, &m.h, 0), -ENOENT);
	assert_int_equal(lrpc_client_get_n_fds(c, &m.h), -ENOENT);
	th_echo(c, 64, 1, SOON_MS);
	assert_true(lrpc_client_is_connected(c));
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

/* A side that turned fd passing off looks like an older peer: the other
 * side's sends with fds fail at once with -EOPNOTSUPP, nothing is lost
 * silently, and messages without fds flow as before. */
static void
test_fds_peer_without_capability(void **state)
{
	lrpc_server_opts so = { .struct_size = sizeof(so),
				.max_fds_per_msg = LRPC_NO_FDS };
	lrpc_client_opts co = { .struct_size = sizeof(co),
				.max_fds_per_msg = LRPC_NO_FDS };
	fd_msg m = { .h = { .size = sizeof(m), .id = H_FD_ECHO } };
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	lrpc_msg_header ans;
	int fd = memfd_create("x", MFD_CLOEXEC);
	lrpc_client *c;
	th_server *s;

	/* A server without fds. */
	s = spawn(state, &so);
	assert_int_equal(th_connect(*state, &c, NULL), 0);
	assert_int_equal(lrpc_client_get_max_fds(c), 0);
	assert_int_equal(lrpc_client_sendv_fds(c, &iov, 1, &fd, 1),
			 -EOPNOTSUPP);
	th_echo(c, 64, 1, SOON_MS);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);

	/* A client without fds: the server's send fails the same way. */
	s = spawn(state, NULL);
	assert_int_equal(th_connect(*state, &c, &co), 0);
	assert_int_equal(lrpc_client_get_max_fds(c), 0);
	lrpc_msg_header q = { .size = sizeof(q), .id = H_FD_SEND };
	assert_int_equal(th_call(c, &q, sizeof(q), &ans, sizeof(ans), SOON_MS),
			 (int)sizeof(ans));
	assert_int_equal(ans.error, -EOPNOTSUPP);
	th_echo(c, 64, 2, SOON_MS);
	lrpc_client_unref(c);

	/* Both with: the server's own fd arrives. */
	assert_int_equal(th_connect(*state, &c, NULL), 0);
	const lrpc_msg_header *v;
	size_t size;
	struct iovec qv = { .iov_base = &q, .iov_len = sizeof(q) };
	assert_int_equal(lrpc_client_sendv(c, &qv, 1), 0);
	assert_int_equal(th_recv_view(c, &v, &size, SOON_MS), (int)sizeof(q));
	assert_int_equal(v->error, 0);
	assert_int_equal(lrpc_client_get_n_fds(c, v), 1);
	int got = lrpc_client_take_fd(c, v, 0);
	assert_true(got >= 0);
	assert_int_equal(lrpc_client_release(c, v), 0);
	close(got);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
	close(fd);
}

/* The limits are the smaller side's. */
static void
test_fds_limits_negotiated(void **state)
{
	lrpc_server_opts so = { .struct_size = sizeof(so),
				.max_fds_per_msg = 3 };
	lrpc_client_opts co = { .struct_size = sizeof(co),
				.max_fds_per_msg = 2 };
	th_server *s = spawn(state, &so);
	lrpc_client *c;
	int fds[3];

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	assert_int_equal(lrpc_client_get_max_fds(c), 3);
	for (int i = 0; i < 3; i++)
		fds[i] = memfd_create("l", MFD_CLOEXEC);
	roundtrip(c, H_FD_ECHO, fds, 3, false);
	lrpc_client_unref(c);
	assert_int_equal(th_connect(*state, &c, &co), 0);
	assert_int_equal(lrpc_client_get_max_fds(c), 2);
	roundtrip(c, H_FD_ECHO, fds, 2, false);
	fd_msg m = { .h = { .size = sizeof(m), .id = H_FD_ECHO } };
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	assert_int_equal(lrpc_client_sendv_fds(c, &iov, 1, fds, 3), -E2BIG);
	lrpc_client_unref(c);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	/* Options that make no sense are refused. */
	lrpc_client_opts bad = { .struct_size = sizeof(bad),
				 .max_fds_per_msg = LRPC_MAX_FDS_PER_MSG + 1 };
	assert_int_equal(lrpc_client_new(&c, "x", &bad), -EINVAL);
	bad.max_fds_per_msg = 8;
	bad.max_fds_per_conn = 4;
	assert_int_equal(lrpc_client_new(&c, "x", &bad), -EINVAL);
	assert_int_equal(th_server_stop(s), 0);
}

/* Wait a little for the server's fd count to come back to @want. */
static int
server_fds_settle(th_server *s, int want)
{
	int n = -1;

	for (int k = 0; k < 200; k++) {
		n = th_proc_count_fds(th_server_pid(s), NULL);
		if (n == want)
			break;
		th_msleep(10);
	}
	return n;
}

/* --- Hostile peers by hand (socket transport: records on the socket) --- */

/* The fds of the last raw welcome: kept open (closing the event socket
 * would end the connection), closed by raw_close(). */
static int raw_got[TH_RAW_MAX_FDS];
static unsigned raw_n_got;

static void
raw_close(int fd)
{
	for (unsigned i = 0; i < raw_n_got; i++)
		close(raw_got[i]);
	raw_n_got = 0;
	close(fd);
}

/* A raw client that offered fds and finished the handshake. */
static int
raw_open(void **state, unsigned offer, lrpc__welcome *w)
{
	int fd;
	int *got = raw_got;
	unsigned n_got = 0;

	assert_int_equal(th_raw_connect(*state, &fd), 0);
	th_raw_offer_fds = offer;
	assert_int_equal(th_raw_handshake(fd, LRPC_TRANSPORT_SOCKET, 4096, w,
					  got, &n_got, SOON_MS),
			 1);
	th_raw_offer_fds = 0;
	raw_n_got = n_got;
	assert_int_equal(w->status, 0);
	return fd;
}

/* A request declaring @decl fds, with @n_fds fds attached. */
static int
raw_send(int fd, int32_t id, uint64_t seq, unsigned decl, unsigned n_fds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 16)];
	} ctl;
	fd_msg m = { .h = { .size = sizeof(m), .id = id, .seq = seq } };
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[16];

	m.h.flags = LRPC__MSG_REQUEST | decl << LRPC__MSG_FDS_SHIFT;
	for (unsigned i = 0; i < n_fds; i++)
		fds[i] = memfd_create("h", MFD_CLOEXEC);
	if (n_fds)
		lrpc__cmsg_put_fds(&mh, ctl.buf, fds, n_fds);
	ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	for (unsigned i = 0; i < n_fds; i++)
		close(fds[i]);
	return n == (ssize_t)sizeof(m) ? 0 : -1;
}

static void
test_fds_hostile_socket(void **state)
{
	static const struct {
		unsigned offer, decl, sent;
		bool ok;
	} cases[] = {
		{ 4, 1, 1, true },   /* the honest case, for contrast */
		{ 4, 4, 4, true },
		{ 4, 2, 1, false },  /* fewer fds than declared */
		{ 4, 1, 2, false },  /* more */
		{ 4, 1, 0, false },  /* declared, none attached */
		{ 4, 0, 1, false },  /* attached to a message declaring none */
		{ 4, 4, 6, false },  /* over the cap: MSG_CTRUNC */
		{ 4, 5, 5, false },  /* a header over the cap */
		{ 0, 1, 1, false },  /* a peer that did not negotiate fds */
		{ 0, 0, 1, false },
	};
	lrpc_server_opts so = { .struct_size = sizeof(so),
				.max_fds_per_msg = 4 };
	th_server *s = spawn(state, &so);
	lrpc_client *c;

	/* A client of ours, so the server keeps its first fds open. */
	assert_int_equal(th_connect(*state, &c, NULL), 0);
	th_echo(c, 64, 1, SOON_MS);
	int before = th_proc_count_fds(th_server_pid(s), NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		lrpc__welcome w;
		int fd = raw_open(state, cases[i].offer, &w);

		assert_int_equal(w.reserved, cases[i].offer ? LRPC__CAP_FDS : 0);
		assert_int_equal(w.flags, cases[i].offer ? 4 : 0);
		assert_int_equal(raw_send(fd, H_FD_IGNORE, 1, cases[i].decl,
					  cases[i].sent),
				 0);
		if (cases[i].ok) {
			fd_msg ans;
			assert_int_equal(th_raw_recv_exact(fd, &ans,
							   sizeof(ans),
							   SOON_MS),
					 (int)sizeof(ans));
			assert_int_equal(ans.n, cases[i].decl);
			/* Two in a row, to see the pairing go on. */
			assert_int_equal(raw_send(fd, H_FD_IGNORE, 2, 1, 1), 0);
			assert_int_equal(th_raw_recv_exact(fd, &ans,
							   sizeof(ans),
							   SOON_MS),
					 (int)sizeof(ans));
			assert_int_equal(ans.n, 1);
		} else {
			assert_true(th_raw_expect_eof(fd, SOON_MS, NULL));
		}
		raw_close(fd);
		/* Every fd it received was closed; the server stays. */
		assert_int_equal(server_fds_settle(s, before), before);
		th_echo(c, 64, (unsigned)i, SOON_MS);
	}
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

/* Over the per-connection cap: fds held by records not yet handled. */
static void
test_fds_hostile_conn_cap(void **state)
{
	lrpc_server_opts so = { .struct_size = sizeof(so),
				.max_fds_per_msg = 4,
				.max_fds_per_conn = 4 };
	th_server *s = spawn(state, &so);
	lrpc__welcome w;
	lrpc_client *c;
	int before, fd;

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	th_echo(c, 64, 1, SOON_MS);
	before = th_proc_count_fds(th_server_pid(s), NULL);
	fd = raw_open(state, 4, &w);
	/* A record with 4 fds, whose last byte comes later: its fds are
	 * held; the next read brings 4 more, over the cap. */
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} ctl;
	fd_msg m = { .h = { .size = sizeof(m), .id = H_FD_IGNORE, .seq = 1 } };
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) - 8 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[4];
	m.h.flags = LRPC__MSG_REQUEST | 4u << LRPC__MSG_FDS_SHIFT;
	for (int i = 0; i < 4; i++)
		fds[i] = memfd_create("c", MFD_CLOEXEC);
	lrpc__cmsg_put_fds(&mh, ctl.buf, fds, 4);
	assert_int_equal(sendmsg(fd, &mh, MSG_NOSIGNAL), sizeof(m) - 8);
	th_msleep(50);
	iov.iov_base = (uint8_t *)&m + sizeof(m) - 8;
	iov.iov_len = 8;
	assert_int_equal(sendmsg(fd, &mh, MSG_NOSIGNAL), 8);
	assert_true(th_raw_expect_eof(fd, SOON_MS, NULL));
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	raw_close(fd);
	assert_int_equal(server_fds_settle(s, before), before);
	th_echo(c, 64, 2, SOON_MS);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

/*
 * A client that does not read its events while the server sends many
 * with fds: what does not fit waits in the server's queue, and the
 * server sleeps until there is room (over shm the fds' packets fill the
 * main socket long before the ring: the server must wait for that
 * socket, not spin on a ring with room).  Then every event arrives, in
 * order, each with its fd.
 */
static void
test_fds_slow_reader_server_sleeps(void **state)
{
	th_server *s = spawn(state, NULL);
	lrpc_client *c = NULL;
	fd_msg req = { .h = { .size = sizeof(req), .id = H_FD_FLOOD },
		       .n = 600 };
	fd_msg rep;
	const lrpc_msg_header *v;
	size_t size;

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	assert_int_equal(th_call(c, &req, sizeof(req), &rep, sizeof(rep),
				 SOON_MS),
			 (int)sizeof(rep));
	assert_int_equal(rep.n, 600);
	long cpu0 = th_proc_cpu_ms(th_server_pid(s));
	th_msleep(1000);
	long cpu1 = th_proc_cpu_ms(th_server_pid(s));
	assert_true(cpu0 >= 0 && cpu1 >= 0);
	printf("server CPU while the client did not read: %ld ms\n",
	       cpu1 - cpu0);
	assert_true(cpu1 - cpu0 < 200);
	for (uint32_t i = 0; i < 600; i++) {
		assert_int_equal(th_recv_event_view(c, &v, &size, SOON_MS),
				 (int)sizeof(fd_msg));
		assert_int_equal(((const fd_msg *)v)->n, i);
		assert_int_equal(lrpc_client_get_n_fds(c, v), 1);
		assert_int_equal(lrpc_client_release(c, v), 0);
	}
	th_echo(c, 64, 1, SOON_MS);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

int
main(void)
{
	static const th_test tests[] = {
		TH_TEST_ON(test_fds_roundtrip_counts, TH_ON_ALL),
		TH_TEST_ON(test_fds_bad_arguments, TH_ON_ALL),
		TH_TEST_ON(test_fds_event_and_response_interleaved, TH_ON_ALL),
		TH_TEST_ON(test_fds_peer_without_capability, TH_ON_ALL),
		TH_TEST_ON(test_fds_limits_negotiated, TH_ON_ALL),
		TH_TEST_ON(test_fds_slow_reader_server_sleeps, TH_ON_ALL),
		TH_TEST_ON(test_fds_hostile_socket, TH_ON_SOCKET),
		TH_TEST_ON(test_fds_hostile_conn_cap, TH_ON_SOCKET),
	};

	return th_run_group("fds", tests, sizeof(tests) / sizeof(tests[0]));
}
