/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * IDL fds through generated stubs (rpc-fds.idl), on every transport: a
 * result, a parameter, struct fields, list elements, an optional, a union
 * case, nested structs and an event argument; @kind checks; ownership
 * (received fds belong to the arena until taken); the fd counts of both
 * processes after 10^4 calls and after every bad message; requests built
 * by hand whose fds do not match what they carry.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "rpc-fds-client.h"
#include "rpc-fds-server.h"
#include "rpc/rpc-internal.h"

#define TIMEOUT (20 * LRPC_USEC_PER_SEC)

/* --- The server ------------------------------------------------------------ */

static int
h_open(lrpc_rpc_call *call, void *ud, const char *path, int *ret_f,
       uint64_t *ret_size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	/* Ours: closed with the call's arena, once the reply is sent. */
	if (fstat(fd, &st) < 0 ||
	    lrpc_arena_add_fd(lrpc_rpc_call_get_arena(call), fd) < 0) {
		close(fd);
		return -EIO;
	}
	*ret_f = fd;
	*ret_size = (uint64_t)st.st_size;
	return 0;
}

static int
h_share(lrpc_rpc_call *call, void *ud, const rfd_bundle *b,
	uint32_t *ret_count)
{
	uint32_t n = 2 + (uint32_t)b->extra.count + (b->log ? 1 : 0);

	for (size_t i = 0; i < b->more.count; i++)
		n += 2;
	/* Borrowed: the request's own fds go back as an event. */
	if (b->log)
		(void)rfd_files_emit_ready(lrpc_rpc_call_get_conn(call), *b->log,
				     &b->main);
	*ret_count = n;
	return 0;
}

static int
h_pass(lrpc_rpc_call *call, void *ud, rfd_fd_list fds, const int *extra,
       const rfd_handle *h, rfd_fd_list *ret_back)
{
	/* The fds received, sent back; the arena closes them after. */
	*ret_back = fds;
	return extra && h->tag == RFD_HANDLE_SOCK ? 0 : -EINVAL;
}

static int
h_drop(lrpc_rpc_call *call, void *ud, int f)
{
	th_report("drop %d", f >= 0);
	return 0;
}

static const struct rfd_files_handlers handlers = {
	.open = h_open,
	.share = h_share,
	.pass = h_pass,
	.drop = h_drop,
};

static void
setup(lrpc_server *s, lrpc_loop *loop, void *arg)
{
	assert_int_equal(rfd_files_serve(s, &handlers, NULL), 0);
}

/* --- Helpers --------------------------------------------------------------- */

static bool
same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int
memfd(const char *text)
{
	int fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	return fd;
}

/* Wait a little for the server's count of fds whose target starts with
 * @prefix (NULL: all) to come back to @want. */
static int
server_fds_settle_prefix(th_rpc_fixture *f, const char *prefix, int want)
{
	int n = -1;

	for (int k = 0; k < 200; k++) {
		n = th_proc_count_fds(th_server_pid(f->server), prefix);
		if (n == want)
			break;
		th_msleep(10);
	}
	return n;
}

/*
 * The server's fd count once it is done with every call so far: it
 * closes the fds of a call after sending the reply, so a call without
 * fds (open of a path that is not there) is answered only after that.
 */
static int
server_fds_now(th_rpc_fixture *f)
{
	int fd = -1;
	uint64_t size;

	assert_int_equal(rfd_files_open(f->rc, "/nonexistent/lrpc", &fd, &size,
					NULL, TIMEOUT, NULL),
			 -ENOENT);
	return th_proc_count_fds(th_server_pid(f->server), NULL);
}

/* --- Tests ----------------------------------------------------------------- */

/* A result: the server opens a file; the fd arrives, is the caller's once
 * taken, and closed with the arena when not. */
static void
test_rpc_fds_result(void **state)
{
	char path[] = "/tmp/lrpc-fds-XXXXXX", buf[16] = { 0 };
	uint8_t ab[256];
	lrpc_arena arena;
	th_rpc_fixture f;
	uint64_t size;
	int fd, tmp = mkstemp(path);

	assert_true(tmp >= 0);
	assert_int_equal(write(tmp, "hello", 5), 5);
	close(tmp);
	th_rpc_fixture_start(state, &f, setup);
	lrpc_arena_init(&arena, ab, sizeof(ab), 0);
	int mine = th_count_fds();

	assert_int_equal(rfd_files_open(f.rc, path, &fd, &size, &arena, TIMEOUT,
				  NULL),
			 0);
	assert_int_equal(size, 5);
	assert_int_equal(th_count_fds(), mine + 1);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 5);
	assert_string_equal(buf, "hello");
	int got = lrpc_arena_take_fd(&arena, &fd);
	assert_true(got >= 0);
	assert_int_equal(fd, -1);
	assert_int_equal(lrpc_arena_take_fd(&arena, &fd), -EBADF);
	lrpc_arena_reset(&arena);
	/* Taken: still open after the reset. */
	assert_true(fcntl(got, F_GETFD) >= 0);
	close(got);
	/* Not taken: closed by the reset. */
	assert_int_equal(rfd_files_open(f.rc, path, &fd, &size, &arena, TIMEOUT,
				  NULL),
			 0);
	assert_int_equal(th_count_fds(), mine + 1);
	lrpc_arena_reset(&arena);
	assert_int_equal(th_count_fds(), mine);
	/* An arena over a buffer that may not grow holds fds as well. */
	lrpc_arena_done(&arena);
	unlink(path);
	th_rpc_fixture_stop(&f);
}

struct ready {
	lrpc_rpc_client *rc;
	int want_p, want_f;
	int n;
};

static void
on_ready(void *userdata, int p, const rfd_opened *o)
{
	struct ready *r = userdata;
	lrpc_arena *a = lrpc_rpc_client_get_arena(r->rc);
	int taken = lrpc_arena_take_fd(a, &p);

	assert_true(taken >= 0);
	assert_true(same_file(taken, r->want_p));
	assert_true(same_file(o->f, r->want_f));
	assert_string_equal(o->path, "main");
	close(taken);
	r->n++;
}

/* Every position at once: struct fields, a list, an optional, nested
 * structs in a list; the server sends some back as an event. */
static void
test_rpc_fds_every_position(void **state)
{
	static const struct rfd_files_events events = { .ready = on_ready };
	th_rpc_fixture f;
	int p[2], q[2], m1 = memfd("a"), m2 = memfd("b");
	uint32_t count = 0;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(pipe2(q, O_CLOEXEC), 0);
	th_rpc_fixture_start(state, &f, setup);
	struct ready r = { .rc = f.rc, .want_p = q[0], .want_f = p[0] };
	assert_int_equal(rfd_files_listen(f.rc, &events, &r), 0);
	int extra[2] = { m2, p[1] };
	rfd_opened more[2] = { { .f = p[0], .data = m1, .path = "x" },
			       { .f = q[1], .data = m2, .path = "y" } };
	rfd_bundle b = {
		.main = { .f = p[0], .data = m1, .path = "main" },
		.extra = { .items = extra, .count = 2 },
		.log = &q[0],
		.more = { .items = more, .count = 2 },
	};
	int theirs = server_fds_now(&f);
	int mine = th_count_fds();

	assert_int_equal(rfd_files_share(f.rc, &b, &count, TIMEOUT, NULL), 0);
	assert_int_equal(count, 9);
	for (int i = 0; i < 100 && r.n == 0; i++)
		(void)lrpc_rpc_client_run_once(f.rc, 50 * 1000);
	assert_int_equal(r.n, 1);
	assert_int_equal(th_count_fds(), mine);
	assert_int_equal(server_fds_now(&f), theirs);
	th_rpc_fixture_stop(&f);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
	close(m1);
	close(m2);
}

/* 10^4 calls with fds in a list, an optional and a union: the same files
 * come back, and neither process keeps any fd. */
static void
test_rpc_fds_many_calls(void **state)
{
	th_rpc_fixture f;
	int sp[2], m = memfd("m");
	uint8_t ab[512];
	lrpc_arena arena;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp),
			 0);
	th_rpc_fixture_start(state, &f, setup);
	lrpc_arena_init(&arena, ab, sizeof(ab), LRPC_ARENA_UNLIMITED);
	int list[3] = { m, sp[0], sp[1] };
	rfd_handle h = { .tag = RFD_HANDLE_SOCK, .u.sock = sp[1] };
	rfd_fd_list back;

	/* A warm-up call, so that lazily opened fds are counted. */
	assert_int_equal(rfd_files_pass(f.rc, (rfd_fd_list){ list, 3 }, &m, &h,
				  &back, &arena, TIMEOUT, NULL),
			 0);
	lrpc_arena_reset(&arena);
	int theirs = server_fds_now(&f);
	int mine = th_count_fds();
	for (unsigned i = 0; i < 10000; i++) {
		unsigned n = 1 + i % 3;
		assert_int_equal(rfd_files_pass(f.rc, (rfd_fd_list){ list, n }, &m,
					  &h, &back, &arena, TIMEOUT, NULL),
				 0);
		assert_int_equal(back.count, n);
		if (i % 1000 == 0)
			for (unsigned k = 0; k < n; k++)
				assert_true(same_file(
					((const int *)back.items)[k], list[k]));
		lrpc_arena_reset(&arena);
	}
	assert_int_equal(th_count_fds(), mine);
	assert_int_equal(server_fds_now(&f), theirs);
	lrpc_arena_done(&arena);
	th_rpc_fixture_stop(&f);
	close(sp[0]);
	close(sp[1]);
	close(m);
}

/* An fd of another kind than its @kind: the message is refused, every fd
 * closed, the connection dropped. */
static void
test_rpc_fds_wrong_kind(void **state)
{
	th_rpc_fixture f;
	int p[2];
	uint32_t count = 0;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	th_rpc_fixture_start(state, &f, setup);
	assert_int_equal(lrpc_rpc_client_negotiate(f.rc, &rfd_files__interface,
						   TIMEOUT),
			 1);
	int pipes = th_proc_count_fds(th_server_pid(f.server), "pipe:");
	/* data must be a memfd: a pipe is not. */
	rfd_bundle b = { .main = { .f = p[0], .data = p[1], .path = "x" } };
	assert_true(rfd_files_share(f.rc, &b, &count, TIMEOUT, NULL) != 0);
	for (int i = 0; i < 100 && lrpc_client_is_connected(f.c); i++)
		th_msleep(10);
	assert_false(lrpc_client_is_connected(f.c));
	assert_int_equal(server_fds_settle_prefix(&f, "pipe:", pipes), pipes);
	th_rpc_fixture_stop(&f);
	close(p[0]);
	close(p[1]);
}

/*
 * A request for @method built by hand: @body (the struct's field count
 * and fields) after the RPC header, sent with @n_fds fresh memfds.
 */
static void
send_by_hand(lrpc_client *c, uint16_t method, bool oneway, const void *body,
	     size_t body_len, unsigned n_fds)
{
	uint8_t buf[256] = { 0 };
	lrpc__wr w = { .buf = buf + sizeof(lrpc_msg_header),
		       .cap = sizeof(buf) - sizeof(lrpc_msg_header) };
	lrpc__rpc_header rh = { .call_id = oneway ? 0 : 7, .method = method,
				.kind = oneway ? LRPC__RPC_ONEWAY
					       : LRPC__RPC_REQUEST,
				.version = 1 };
	lrpc_msg_header *h = (lrpc_msg_header *)buf;
	int fds[4];

	lrpc__rpc_header_write(&w, &rh);
	lrpc__wr_u32(&w, (uint32_t)body_len);
	lrpc__wr_bytes(&w, body, body_len);
	h->size = (uint32_t)(sizeof(lrpc_msg_header) + w.pos);
	h->id = (int32_t)rfd_files__interface.id;
	for (unsigned i = 0; i < n_fds; i++)
		fds[i] = memfd("h");
	struct iovec iov = { .iov_base = buf, .iov_len = h->size };
	assert_int_equal(lrpc_client_sendv_fds(c, &iov, 1, fds, n_fds), 0);
	for (unsigned i = 0; i < n_fds; i++)
		close(fds[i]);
}

/* Fds that do not match what the message carries: more than it uses, an
 * index out of range, an index used twice, fds for a method that takes
 * none.  Each time: dropped, the server's fd count back where it was. */
static void
test_rpc_fds_hand_built(void **state)
{
	/* drop(fd f): field count 1, the index. */
	static const uint8_t drop0[] = { 1, 0, 0, 0, 0, 0 };
	static const uint8_t drop5[] = { 1, 0, 5, 0, 0, 0 };
	/* pass(fds: [0, 0], extra: absent, h: none = 0): field count 3,
	 * the list, the optional, the union (tag 2, then a u32). */
	static const uint8_t pass00[] = { 3, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0,
					  0, 0, 0, 0, 2, 0, 0, 0, 0 };
	/* open("x"): a string, no fd. */
	static const uint8_t open_x[] = { 1, 0, 1, 0, 0, 0, 'x' };
	static const struct {
		uint16_t method;
		bool oneway;
		const uint8_t *body;
		size_t len;
		unsigned n_fds;
		bool ok;
	} cases[] = {
		{ 3, true, drop0, sizeof(drop0), 1, true },
		{ 3, true, drop0, sizeof(drop0), 2, false },
		{ 3, true, drop5, sizeof(drop5), 1, false },
		{ 2, false, pass00, sizeof(pass00), 2, false },
		{ 0, false, open_x, sizeof(open_x), 1, false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		th_rpc_fixture f;

		th_rpc_fixture_start(state, &f, setup);
		assert_int_equal(lrpc_rpc_client_negotiate(f.rc,
							   &rfd_files__interface,
							   TIMEOUT),
				 1);
		int theirs = server_fds_now(&f);
		send_by_hand(f.c, cases[i].method, cases[i].oneway,
			     cases[i].body, cases[i].len, cases[i].n_fds);
		if (cases[i].ok) {
			char line[64];
			assert_true(th_server_expect(f.server, "drop", 5000,
						     line, sizeof(line)));
			assert_string_equal(line, "drop 1");
			assert_true(lrpc_client_is_connected(f.c));
			assert_int_equal(server_fds_now(&f), theirs);
		} else {
			for (int k = 0; k < 200 && lrpc_client_is_connected(f.c);
			     k++) {
				(void)lrpc_client_process(f.c);
				th_msleep(10);
			}
			assert_false(lrpc_client_is_connected(f.c));
			/* Every memfd it was sent is closed. */
			assert_int_equal(server_fds_settle_prefix(
						 &f, "/memfd:h ", 0),
					 0);
		}
		th_rpc_fixture_stop(&f);
	}
}

int
main(void)
{
	static const th_test tests[] = {
		TH_TEST_ON(test_rpc_fds_result, TH_ON_ALL),
		TH_TEST_ON(test_rpc_fds_every_position, TH_ON_ALL),
		TH_TEST_ON(test_rpc_fds_many_calls, TH_ON_ALL),
		TH_TEST_ON(test_rpc_fds_wrong_kind, TH_ON_ALL),
		TH_TEST_ON(test_rpc_fds_hand_built, TH_ON_ALL),
	};

	return th_run_group("rpc-fds", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
