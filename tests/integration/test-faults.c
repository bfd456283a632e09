/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * HARDENING D39, fault injection: each allocation, mmap, memfd_create,
 * eventfd, socket, accept4, connect and send the library makes on the
 * connect and call paths fails in turn (fault.c, through the linker's
 * --wrap), once per run, on the client and then on the server, until a
 * run where no failure was left to inject.  Each run ends in an error
 * return or a correct answer, never a crash; the client's fds and memfd
 * mappings are back to where they were after every run, the server keeps
 * serving and its fds come back too, and in the ASan build LeakSanitizer
 * checks both processes for leaks at exit (the server's exit status is
 * checked).
 *
 * lrpc_server_add_interface() fails each of its allocations in turn
 * (lrpc.Service's included): it returns the error and serves nothing, or
 * returns 0 and the interface and lrpc.Service are both served.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fault.h"
#include "harness.h"
#include "ipc/ipc-seam.h"
#include "lrpc-service-types.h"
#include "rpc-types-server.h"

#define TIMEOUT_USEC (2 * LRPC_USEC_PER_SEC)
#define MAX_RUNS 5000

enum {
	FI_ARM = 60,    /* payload u32 n: respond, then fail the n-th call */
	FI_DISARM = 61, /* respond with a fi_result */
	FI_FDS = 62,    /* respond with a fi_result: the server's fd count */
};

typedef struct fi_result {
	lrpc_msg_header h;
	uint32_t fired;
	uint32_t calls;
	int32_t fds;
	char what[20];
} fi_result;

static int
h_arm(lrpc_conn *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	uint32_t n;
	int r;

	if (size < sizeof(*m) + sizeof(n))
		return -EINVAL;
	memcpy(&n, m + 1, sizeof(n));
	r = lrpc_conn_send_error(c, m->id, 0);
	fault_arm(n);
	return r;
}

static int
h_result(lrpc_conn *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	unsigned long calls = 0;
	fi_result res = { .h = { .size = sizeof(res), .id = m->id } };

	res.fired = fault_disarm(&calls);
	res.calls = (uint32_t)calls;
	res.fds = th_count_fds();
	snprintf(res.what, sizeof(res.what), "%s", fault_last());
	return lrpc_conn_send_response(c, &res, sizeof(res));
}

static void
faults_setup(lrpc_server *s, lrpc_loop *loop, void *arg)
{
	th_standard_handlers(s, loop, arg);
	lrpc_server_add_handler(s, FI_ARM, h_arm, NULL);
	lrpc_server_add_handler(s, FI_DISARM, h_result, NULL);
	lrpc_server_add_handler(s, FI_FDS, h_result, NULL);
}

/*
 * Connect, call twice (the first call may set things up that the second
 * reuses), close.  Returns 0 or the first error; a call that succeeds
 * must have the right answer.
 */
static int
connect_call_close(const th_ctx *ctx, unsigned seed)
{
	lrpc_client_opts o = { .struct_size = sizeof(o),
			       .transport = ctx->transport };
	uint8_t req[512], resp[512];
	lrpc_client *c = NULL;
	size_t got = 0;
	int r;

	th_fill(req, sizeof(req), TH_ECHO, seed);
	r = lrpc_client_new(&c, ctx->name, &o);
	for (int i = 0; r == 0 && i < 2; i++) {
		memset(resp, 0, sizeof(resp));
		r = lrpc_client_call(c, req, sizeof(req), resp, sizeof(resp),
				     TIMEOUT_USEC, &got);
		if (r == 0 && (got != sizeof(req) ||
			       !th_check(resp, sizeof(req), seed)))
			r = 1; /* a wrong answer: the caller fails */
	}
	lrpc_client_unref(c);
	return r;
}

/* FI_DISARM or FI_FDS on @c. */
static int
ask(lrpc_client *c, int32_t id, fi_result *ret)
{
	lrpc_msg_header h = { .size = sizeof(h), .id = id };
	size_t got = 0;
	int r = lrpc_client_call(c, &h, sizeof(h), ret, sizeof(*ret),
				 TIMEOUT_USEC, &got);

	return r < 0 ? r : got == sizeof(*ret) ? 0 : -EBADMSG;
}

/*
 * The client's side: the n-th wrapped call of a connect, two calls and a
 * close fails, for n = 1, 2, ... until one run has no n-th call.
 */
static void
test_faults_d39_client(void **state)
{
	const th_ctx *ctx = *state;
	th_server *s = th_server_spawn(ctx, NULL, NULL, faults_setup, NULL);
	int fds0 = th_count_fds();
	int maps0 = th_proc_count_maps(getpid(), "/memfd:");
	unsigned long n, calls = 0;
	unsigned errors = 0;

	lrpc_client *c = NULL;

	assert_non_null(s);
	/* Once without failures first: the server is up and listening. */
	assert_int_equal(th_connect(ctx, &c, NULL), 0);
	lrpc_client_unref(c);
	for (n = 1; n < MAX_RUNS; n++) {
		fault_arm(n);
		int r = connect_call_close(ctx, (unsigned)n);
		bool fired = fault_disarm(&calls);
		if (r > 0)
			fail_msg("run %lu (%s failed): a wrong answer", n,
				 fault_last());
		if (!fired) {
			assert_int_equal(r, 0);
			break;
		}
		if (r < 0)
			errors++;
		if (th_count_fds() != fds0 ||
		    th_proc_count_maps(getpid(), "/memfd:") != maps0)
			fail_msg("run %lu (%s failed, %d): fds %d, were %d", n,
				 fault_last(), r, th_count_fds(), fds0);
	}
	assert_true(n < MAX_RUNS);
	print_message("client: %lu wrapped calls, each failed once: %u runs "
		      "ended in an error, the others recovered\n",
		      calls, errors);
	assert_int_equal(connect_call_close(ctx, 0), 0);
	assert_int_equal(th_server_stop(s), 0);
}

/*
 * The server's side: a control connection arms the server to fail its
 * n-th wrapped call; another client connects, calls twice and closes;
 * the control connection disarms and learns whether the failure came.
 */
static void
test_faults_d39_server(void **state)
{
	const th_ctx *ctx = *state;
	th_server *s = th_server_spawn(ctx, NULL, NULL, faults_setup, NULL);
	uint8_t arm[sizeof(lrpc_msg_header) + sizeof(uint32_t)];
	lrpc_client *ctl = NULL;
	fi_result res;
	unsigned long n;
	unsigned errors = 0, calls = 0;
	int fds0;

	assert_non_null(s);
	assert_int_equal(th_connect(ctx, &ctl, NULL), 0);
	assert_int_equal(ask(ctl, FI_FDS, &res), 0);
	fds0 = res.fds;
	for (n = 1; n < MAX_RUNS; n++) {
		uint32_t nth = (uint32_t)n;
		int r;

		th_fill(arm, sizeof(arm), FI_ARM, 0);
		memcpy(arm + sizeof(lrpc_msg_header), &nth, sizeof(nth));
		r = th_call(ctl, arm, sizeof(arm), arm, sizeof(arm), 2000);
		assert_true(r >= 0);
		r = connect_call_close(ctx, (unsigned)n);
		if (r > 0)
			fail_msg("run %lu: a wrong answer", n);
		if (r < 0)
			errors++;
		/* The failure may have cost the control connection. */
		if (ask(ctl, FI_DISARM, &res) < 0) {
			ctl = lrpc_client_unref(ctl);
			assert_int_equal(th_connect(ctx, &ctl, NULL), 0);
			assert_int_equal(ask(ctl, FI_DISARM, &res), 0);
		}
		if (!res.fired) {
			assert_int_equal(r, 0);
			calls = res.calls;
			break;
		}
	}
	assert_true(n < MAX_RUNS);
	/* The server's fds come back once the clients' are closed. */
	for (int i = 0; i < 100; i++) {
		assert_int_equal(ask(ctl, FI_FDS, &res), 0);
		if (res.fds == fds0)
			break;
		th_msleep(10);
	}
	assert_int_equal(res.fds, fds0);
	print_message("server: %u wrapped calls, each failed once: %u runs "
		      "ended in an error for the client\n",
		      calls, errors);
	lrpc_client_unref(ctl);
	assert_int_equal(connect_call_close(ctx, 0), 0);
	assert_int_equal(th_server_stop(s), 0);
}

static int
h_add(lrpc_rpc_call *call, void *ud, int32_t a, int32_t b, int32_t *ret_sum)
{
	*ret_sum = a + b;
	return 0;
}

static const struct rt_types_handlers types_handlers = { .add = h_add };

static void
test_faults_add_interface(void **state)
{
	const th_ctx *ctx = *state;
	unsigned long n, calls = 0;
	unsigned errors = 0;

	for (n = 1; n < MAX_RUNS; n++) {
		lrpc_server *s;
		bool fired;
		int r;

		assert_int_equal(lrpc_server_new(&s, ctx->name, NULL, NULL,
						 NULL),
				 0);
		fault_arm(n);
		r = rt_types_serve(s, &types_handlers, NULL);
		fired = fault_disarm(&calls);
		int types = lrpc__server_find_handler(s, RT_TYPES_INTERFACE_ID,
						      NULL, NULL);
		int svc = lrpc__server_find_handler(s, LRPC_SERVICE_INTERFACE_ID,
						    NULL, NULL);
		if (r < 0) {
			assert_int_equal(r, -ENOMEM);
			assert_int_equal(types, 0);
			errors++;
		} else {
			assert_int_equal(r, 0);
			assert_int_equal(types, 1);
			assert_int_equal(svc, 1);
		}
		lrpc_server_unref(s);
		if (!fired)
			break;
	}
	assert_true(n < MAX_RUNS);
	print_message("add_interface: %lu runs, %u ended in -ENOMEM\n", n,
		      errors);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TH_TEST(test_faults_d39_client),
		TH_TEST(test_faults_d39_server),
		TH_TEST(test_faults_add_interface),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("faults", tests, NULL, NULL);
}
