/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The GLib adapter (examples/glib): the echo server running under
 * GMainLoop is exec'd per test and driven by ordinary lrpc clients.  Its
 * exit status says whether every connection was destroyed and every fd,
 * job and timer it registered through the adapter was gone at the end.
 *
 * The server binary comes from argv[1] (meson passes glib_echo_server),
 * else $LRPC_GLIB_ECHO_SERVER, else its place in the build tree next to
 * this test; without one the tests are skipped (exit 77).
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "../../examples/echo/echo.h"

static char server_bin[PATH_MAX];

/* Exec the GLib echo server for ctx->name; returns its pid. */
static pid_t
glib_spawn(const th_ctx *ctx, unsigned handshake_timeout_ms)
{
	char timeout[16];
	pid_t pid;

	snprintf(timeout, sizeof(timeout), "%u", handshake_timeout_ms);
	const char *const argv[] = { server_bin, ctx->name,
				     lrpc_transport_name(ctx->transport),
				     timeout, NULL };
	pid = th_spawn_exec(argv, /* quiet_stdout= */ true);
	assert_true(pid > 0);
	return pid;
}

/* Wait up to @timeout_ms for @pid; its exit status, or -1 (then killed). */
static int
glib_wait(pid_t pid, int timeout_ms)
{
	long deadline = th_now_ms() + timeout_ms;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		if (r < 0 && errno != EINTR)
			return -1;
		if (th_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return -1;
		}
		th_msleep(5);
	}
}

/* Connect, retrying while the exec'd server starts (up to 5 s). */
static lrpc_client *
glib_connect(const th_ctx *ctx)
{
	lrpc_client_opts o = { .struct_size = sizeof(o),
			       .transport = ctx->transport };
	lrpc_client *c = NULL;
	long deadline = th_now_ms() + 5000;
	int r;

	for (;;) {
		r = lrpc_client_new(&c, ctx->name, &o);
		if ((r != -ECONNREFUSED && r != -ENOENT) || th_now_ms() > deadline)
			break;
		th_msleep(5);
	}
	assert_int_equal(r, 0);
	assert_int_equal(lrpc_client_get_transport(c), ctx->transport);
	return c;
}

static void
echo_ok(lrpc_client *c, uint8_t *req, uint8_t *resp, size_t size,
	unsigned seed)
{
	th_fill(req, size, ECHO_MSG_ECHO, seed);
	assert_int_equal(th_call(c, req, size, resp, size, 5000),
			 (int)size);
	assert_int_equal(((lrpc_msg_header *)resp)->id, ECHO_MSG_ECHO);
	assert_int_equal(((lrpc_msg_header *)resp)->error, 0);
	assert_true(th_check(resp, size, seed));
}

/* QUIT: answered, then the server exits cleanly. */
static void
glib_quit(lrpc_client *c, pid_t pid)
{
	lrpc_msg_header q = { .size = sizeof(q), .id = ECHO_MSG_QUIT }, a;

	assert_int_equal(th_call(c, &q, sizeof(q), &a, sizeof(a),
					  2000),
			 (int)sizeof(a));
	assert_int_equal(a.error, 0);
	lrpc_client_unref(c);
	assert_int_equal(glib_wait(pid, 5000), 0);
}

static void
test_glib_echo_sizes(void **state)
{
	const th_ctx *ctx = *state;
	pid_t pid = glib_spawn(ctx, 0);
	lrpc_client *c = glib_connect(ctx);
	uint32_t max = lrpc_client_get_max_msg_size(c);
	const size_t sizes[] = { sizeof(lrpc_msg_header), 25, 100, 4095, 4096,
				 65536, 300000, LRPC_DEFAULT_MAX_MSG_SIZE };
	uint8_t *req = malloc(max + 1), *resp = malloc(max);

	assert_int_equal(max, LRPC_DEFAULT_MAX_MSG_SIZE);
	assert_non_null(req);
	assert_non_null(resp);
	for (unsigned round = 0; round < 3; round++)
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			echo_ok(c, req, resp, sizes[i], round * 16 + i);
	/* Above the maximum: refused locally, the connection stays. */
	th_fill(req, 64, ECHO_MSG_ECHO, 0);
	((lrpc_msg_header *)req)->size = max + 1;
	assert_int_equal(lrpc_client_send(c, req, max + 1), -EMSGSIZE);
	echo_ok(c, req, resp, 64, 99);
	free(req);
	free(resp);
	glib_quit(c, pid);
}

static void
test_glib_events(void **state)
{
	const th_ctx *ctx = *state;
	pid_t pid = glib_spawn(ctx, 0);
	lrpc_client *c = glib_connect(ctx);
	/* More than the server may queue (1 MiB at 32 bytes per event), so
	 * that it has to resume the burst from a GLib timeout. */
	const uint32_t n = 50000;
	struct echo_subscribe sub = {
		.hdr = { .size = sizeof(sub), .id = ECHO_MSG_SUBSCRIBE },
		.n_events = n,
	};
	lrpc_msg_header a;
	struct echo_event ev;
	uint8_t req[256], resp[256];

	assert_int_equal(th_call(c, &sub, sizeof(sub), &a, sizeof(a),
					  2000),
			 (int)sizeof(a));
	assert_int_equal(a.error, 0);
	/* Let the server fill everything up before reading. */
	th_msleep(100);
	for (uint32_t i = 0; i < n; i++) {
		assert_int_equal(th_recv_event(c, &ev, sizeof(ev),
							2000),
				 (int)sizeof(ev));
		assert_int_equal(ev.hdr.id, ECHO_MSG_SUBSCRIBE);
		assert_int_equal(ev.seq, i);
		if (i % 10000 == 0)
			echo_ok(c, req, resp, sizeof(req), i);
	}
	assert_int_equal(th_recv_event(c, &ev, sizeof(ev), 100),
			 -ETIMEDOUT);
	glib_quit(c, pid);
}

static void
test_glib_many_clients(void **state)
{
	const th_ctx *ctx = *state;
	pid_t pid = glib_spawn(ctx, 0);
	enum { N = 8 };
	lrpc_client *c[N];
	uint8_t req[2048], resp[2048];

	for (int i = 0; i < N; i++)
		c[i] = glib_connect(ctx);
	for (unsigned round = 0; round < 20; round++)
		for (int i = 0; i < N; i++)
			echo_ok(c[i], req, resp, 100 + round * 50 + i,
				round + i);
	/* Half of them go away, one in the middle of a burst of events. */
	struct echo_subscribe sub = {
		.hdr = { .size = sizeof(sub), .id = ECHO_MSG_SUBSCRIBE },
		.n_events = 100000,
	};
	assert_int_equal(lrpc_client_send(c[0], &sub, sizeof(sub)), 0);
	th_msleep(20);
	for (int i = 0; i < N / 2; i++)
		lrpc_client_unref(c[i]);
	for (int i = N / 2; i < N; i++)
		echo_ok(c[i], req, resp, 500, i);
	for (int i = N / 2; i < N - 1; i++)
		lrpc_client_unref(c[i]);
	glib_quit(c[N - 1], pid);
}

/* The adapter's timers: a silent peer is dropped at the handshake
 * timeout, and the timers of peers that finish in time are deleted. */
static void
test_glib_handshake_timeout(void **state)
{
	const th_ctx *ctx = *state;
	pid_t pid = glib_spawn(ctx, 300);
	lrpc_client *c = glib_connect(ctx), *c2;
	uint8_t req[128], resp[128];
	size_t extra = 1;
	int fd = -1;

	assert_int_equal(th_raw_connect(ctx, &fd), 0);
	long t0 = th_now_ms();
	/* Others connect and are served meanwhile (their handshake timers
	 * are deleted, not fired: they would drop them otherwise). */
	for (int i = 0; i < 5; i++) {
		c2 = glib_connect(ctx);
		echo_ok(c2, req, resp, sizeof(req), i);
		lrpc_client_unref(c2);
	}
	echo_ok(c, req, resp, sizeof(req), 9);
	/* Dropped with nothing said: an orderly end, not a byte before it. */
	assert_int_equal(th_raw_wait_eof(fd, 3000, &extra), 0);
	assert_int_equal(extra, 0);
	long dt = th_now_ms() - t0;
	assert_true(dt >= 250);
	assert_true(dt < 2000);
	close(fd);
	/* The established connection outlived the timeout. */
	th_msleep(400);
	echo_ok(c, req, resp, sizeof(req), 10);
	glib_quit(c, pid);
}

/* SIGTERM with clients connected: closed, drained and destroyed. */
static void
test_glib_sigterm_with_clients(void **state)
{
	const th_ctx *ctx = *state;
	pid_t pid = glib_spawn(ctx, 0);
	lrpc_client *c1 = glib_connect(ctx), *c2 = glib_connect(ctx);
	uint8_t req[128], resp[128];

	echo_ok(c1, req, resp, sizeof(req), 1);
	echo_ok(c2, req, resp, sizeof(req), 2);
	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(glib_wait(pid, 5000), 0);
	/* The clients see the server gone. */
	th_fill(req, sizeof(req), ECHO_MSG_ECHO, 3);
	assert_int_equal(th_call(c1, req, sizeof(req), resp,
					  sizeof(resp), 2000),
			 -ENOTCONN);
	assert_false(lrpc_client_is_connected(c1));
	lrpc_client_unref(c1);
	lrpc_client_unref(c2);
}

/*
 * The GLib echo client (a client driven push style through the adapter:
 * async connect, events, responses, closed handler) against the GLib echo
 * server; the client exits 0 only if everything arrived in order and it
 * left no fd, job or timer in its loop.
 */
static void
test_glib_client_push_style(void **state)
{
	const th_ctx *ctx = *state;
	char client_bin[PATH_MAX], dir[PATH_MAX];
	pid_t server = glib_spawn(ctx, 0), client;

	snprintf(dir, sizeof(dir), "%s", server_bin);
	snprintf(client_bin, sizeof(client_bin), "%s/glib-echo-client",
		 dirname(dir));
	/* Wait until it serves, with an ordinary client that then asks it
	 * to stop at the end. */
	lrpc_client *c = glib_connect(ctx);
	const char *const argv[] = { client_bin, ctx->name,
				     lrpc_transport_name(ctx->transport), "300",
				     NULL };
	client = th_spawn_exec(argv, /* quiet_stdout= */ true);
	assert_true(client > 0);
	assert_int_equal(glib_wait(client, 15000), 0);
	glib_quit(c, server);
}

static bool
find_server(const char *arg)
{
	const char *env = getenv("LRPC_GLIB_ECHO_SERVER");
	char self[PATH_MAX];
	ssize_t n;

	if (arg && *arg)
		snprintf(server_bin, sizeof(server_bin), "%s", arg);
	else if (env && *env)
		snprintf(server_bin, sizeof(server_bin), "%s", env);
	else {
		/* build/tests/integration/test-glib ->
		 * build/examples/glib/glib-echo-server */
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n <= 0)
			return false;
		self[n] = '\0';
		snprintf(server_bin, sizeof(server_bin),
			 "%s/../../examples/glib/glib-echo-server",
			 dirname(self));
	}
	return access(server_bin, X_OK) == 0;
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		TH_TEST(test_glib_echo_sizes),
		TH_TEST(test_glib_events),
		TH_TEST(test_glib_many_clients),
		TH_TEST(test_glib_handshake_timeout),
		TH_TEST(test_glib_sigterm_with_clients),
		TH_TEST(test_glib_client_push_style),
	};

	if (!find_server(argc > 1 ? argv[1] : NULL)) {
		fprintf(stderr, "test-glib: no glib-echo-server (%s), "
				"skipping\n",
			server_bin);
		return 77;
	}
	return cmocka_run_group_tests_name("glib", tests, NULL, NULL);
}
