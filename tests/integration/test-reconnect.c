/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The RPC client's reconnect (lrpc_rpc_client_set_reconnect()): a server
 * restarted under 100 clients in one loop, a server that never comes back,
 * and a version-1 server replaced by a version-2 one.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "rpc-skew-client.h"
#include "rpc-skew-server.h"

#define TIMEOUT (2 * LRPC_USEC_PER_SEC)
#define N_CLIENTS 100

static int
h_put(lrpc_rpc_call *call, void *ud, const skew_item *item,
      skew_item *ret_echoed)
{
	*ret_echoed = *item;
	return 0;
}

static int
h_twice(lrpc_rpc_call *call, void *ud, uint32_t n, uint32_t *ret_doubled)
{
	*ret_doubled = 2 * n;
	return 0;
}

static const struct skew_evolving_handlers handlers = {
	.put = h_put,
	.twice = h_twice,
};

static void
v2_setup(lrpc_server *s, lrpc_loop *loop, void *arg)
{
	assert_int_equal(skew_evolving_serve(s, &handlers, NULL), 0);
}

/* What the callbacks saw, over every client of a test. */
static struct seen {
	int closed;
	int reconnected;
	int failed;
	int last_status;
	int reason;
	long closed_ms;
	long done_ms;
} seen;

static void
on_closed(lrpc_rpc_client *rc, int reason, void *ud)
{
	seen.closed++;
	seen.reason = reason;
	seen.closed_ms = th_now_ms();
}

static void
on_reconnect(lrpc_rpc_client *rc, int status, void *ud)
{
	if (status == 0)
		seen.reconnected++;
	else
		seen.failed++;
	seen.last_status = status;
	seen.done_ms = th_now_ms();
}

/* Run @loop until *@count reaches @want or @ms pass. */
static void
run_until(lrpc_loop *loop, const int *count, int want, int ms)
{
	long end = th_now_ms() + ms;

	while (*count < want && th_now_ms() < end)
		assert_true(lrpc_loop_run_once(loop, 20 * LRPC_USEC_PER_MSEC) >=
			    0);
}

/* Let the loop run what the clients queued (jobs hold references), then
 * free it. */
static void
loop_finish(lrpc_loop *loop)
{
	int none = 0;

	run_until(loop, &none, 1, 50);
	lrpc_loop_unref(loop);
}

static lrpc_rpc_client *
reconnecting_client(const th_ctx *ctx, lrpc_loop *loop,
		    const lrpc_rpc_reconnect_opts *ro)
{
	lrpc_client *c = NULL;
	lrpc_rpc_client *rc = NULL;
	int r = -1;

	for (int i = 0; i < 200 && r < 0; i++) {
		r = th_connect(ctx, &c, NULL);
		if (r < 0)
			th_msleep(10);
	}
	assert_int_equal(r, 0);
	assert_int_equal(lrpc_rpc_client_new(&rc, c), 0);
	lrpc_client_unref(c);
	assert_int_equal(lrpc_rpc_client_attach_loop(rc, loop), 0);
	lrpc_rpc_client_set_closed_handler(rc, on_closed, NULL);
	assert_int_equal(lrpc_rpc_client_set_reconnect(rc, ro), 0);
	return rc;
}

static void
test_reconnect_restart_100(void **state)
{
	th_ctx *ctx = *state;
	lrpc_rpc_reconnect_opts ro = { .struct_size = sizeof(ro),
				       .deadline_usec = 20 * LRPC_USEC_PER_SEC,
				       .backoff_max_usec =
					       100 * LRPC_USEC_PER_MSEC,
				       .fn = on_reconnect };
	lrpc_rpc_client *rc[N_CLIENTS];
	lrpc_loop *loop = NULL;
	uint32_t d = 0;

	seen = (struct seen){ 0 };
	assert_int_equal(lrpc_loop_new(&loop), 0);
	th_server *s = th_server_spawn(ctx, NULL, NULL, v2_setup, NULL);
	for (int i = 0; i < N_CLIENTS; i++) {
		rc[i] = reconnecting_client(ctx, loop, &ro);
		assert_int_equal(skew_evolving_twice(rc[i], 1, &d, TIMEOUT,
						     NULL),
				 0);
	}
	assert_int_equal(th_server_stop(s), 0);
	run_until(loop, &seen.closed, N_CLIENTS, 5000);
	assert_int_equal(seen.closed, N_CLIENTS);
	/* Meanwhile calls fail at once. */
	long t0 = th_now_ms();
	for (int i = 0; i < N_CLIENTS; i++)
		assert_int_equal(skew_evolving_twice(rc[i], 1, &d, TIMEOUT,
						     NULL),
				 -ENOTCONN);
	assert_true(th_now_ms() - t0 < 500);
	assert_int_equal(seen.reconnected, 0);

	s = th_server_spawn(ctx, NULL, NULL, v2_setup, NULL);
	run_until(loop, &seen.reconnected, N_CLIENTS, 10000);
	assert_int_equal(seen.reconnected, N_CLIENTS);
	assert_int_equal(seen.failed, 0);
	for (int i = 0; i < N_CLIENTS; i++) {
		assert_int_equal(skew_evolving_twice(rc[i], (uint32_t)i, &d,
						     TIMEOUT, NULL),
				 0);
		assert_int_equal(d, 2 * (uint32_t)i);
	}
	for (int i = 0; i < N_CLIENTS; i++)
		lrpc_rpc_client_unref(rc[i]);
	assert_int_equal(th_server_stop(s), 0);
	loop_finish(loop);
}

static void
test_reconnect_never_back(void **state)
{
	th_ctx *ctx = *state;
	lrpc_rpc_reconnect_opts ro = { .struct_size = sizeof(ro),
				       .deadline_usec = 300 * LRPC_USEC_PER_MSEC,
				       .backoff_max_usec =
					       50 * LRPC_USEC_PER_MSEC,
				       .fn = on_reconnect };
	lrpc_loop *loop = NULL;
	uint32_t d = 0;

	seen = (struct seen){ 0 };
	assert_int_equal(lrpc_loop_new(&loop), 0);
	th_server *s = th_server_spawn(ctx, NULL, NULL, v2_setup, NULL);
	lrpc_rpc_client *rc = reconnecting_client(ctx, loop, &ro);
	assert_int_equal(th_server_stop(s), 0);
	run_until(loop, &seen.failed, 1, 3000);
	assert_int_equal(seen.closed, 1);
	assert_int_equal(seen.failed, 1);
	assert_int_equal(seen.last_status, -ETIMEDOUT);
	long took = seen.done_ms - seen.closed_ms;
	assert_true(took >= 300);
	assert_true(took < 300 + 150);
	assert_int_equal(skew_evolving_twice(rc, 1, &d, TIMEOUT, NULL),
			 -ENOTCONN);
	/* Nothing runs after giving up. */
	run_until(loop, &seen.reconnected, 1, 200);
	assert_int_equal(seen.reconnected + seen.failed, 1);
	lrpc_rpc_client_unref(rc);
	loop_finish(loop);
}

static void
test_reconnect_version_change(void **state)
{
	th_ctx *ctx = *state;
	lrpc_rpc_reconnect_opts ro = { .struct_size = sizeof(ro),
				       .fn = on_reconnect };
	const char *helper = getenv("RPC_SKEW_V1");
	char transport[16];
	lrpc_loop *loop = NULL;
	uint32_t d = 0;
	seen = (struct seen){ 0 };
	assert_non_null(helper);
	snprintf(transport, sizeof(transport), "%d", (int)ctx->transport);
	const char *const argv[] = { helper, "server", ctx->name, transport,
				     NULL };
	pid_t pid = th_spawn_exec(argv, false);
	assert_true(pid > 0);
	assert_int_equal(lrpc_loop_new(&loop), 0);
	lrpc_rpc_client *rc = reconnecting_client(ctx, loop, &ro);
	assert_int_equal(lrpc_rpc_client_negotiate(
				 rc, &skew_evolving__interface, TIMEOUT),
			 1);
	assert_int_equal(skew_evolving_twice(rc, 3, &d, TIMEOUT, NULL),
			 -EPROTONOSUPPORT);

	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(th_wait_helper(pid), 0);
	run_until(loop, &seen.closed, 1, 3000);
	assert_int_equal(seen.closed, 1);
	th_server *s = th_server_spawn(ctx, NULL, NULL, v2_setup, NULL);
	run_until(loop, &seen.reconnected, 1, 5000);
	assert_int_equal(seen.reconnected, 1);
	/* Negotiated again with the new server: version 2 both ways. */
	assert_int_equal(lrpc_rpc_client_negotiate(
				 rc, &skew_evolving__interface, TIMEOUT),
			 2);
	assert_int_equal(skew_evolving_twice(rc, 3, &d, TIMEOUT, NULL), 0);
	assert_int_equal(d, 6);
	lrpc_rpc_client_unref(rc);
	assert_int_equal(th_server_stop(s), 0);
	loop_finish(loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TH_TEST(test_reconnect_restart_100),
		TH_TEST(test_reconnect_never_back),
		TH_TEST(test_reconnect_version_change),
	};
	return cmocka_run_group_tests_name("reconnect", tests, NULL, NULL);
}
