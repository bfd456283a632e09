/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The documented thread rules (docs/api.md, "Threads"), in one process so
 * that ThreadSanitizer sees both sides: a server and its loop belong to
 * one thread, each client to one thread at a time.  `make test` runs this
 * file in a ThreadSanitizer build (HARDENING E41, E43, E45); the other
 * builds run it too, as an ordinary test.
 *
 *  - E41: many threads, each with its own client, calling one server
 *    served by a thread of its own;
 *  - E43: clients that hang up while the server is sending them responses
 *    and events, and a server that hangs up on clients that are sending;
 *  - E45: every request answered exactly once and in order, while flow
 *    control keeps making sends fail with -EAGAIN.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define N_THREADS 6
#define SOON_MS 5000

enum {
	H_ECHO = 1,
	H_EVENTS = 2,     /* payload u32 n: respond, then up to n events */
	H_DISCONNECT = 3, /* hang up on the client */
};

/* --- The server, on a thread of its own ---------------------------------- */

typedef struct server_thread {
	pthread_t thread;
	lrpc_loop *loop;
	lrpc_server *s;
	atomic_bool stop;
	lrpc_server_stats stats; /* read by the server thread at the end */
} server_thread;

static int
h_echo(lrpc_conn *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	return lrpc_conn_send_response(c, m, size);
}

static int
h_events(lrpc_conn *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	uint8_t ev[256];
	uint32_t n;
	int r;

	if (size < sizeof(*m) + sizeof(n))
		return -EINVAL;
	memcpy(&n, m + 1, sizeof(n));
	r = lrpc_conn_send_error(c, m->id, 0);
	th_fill(ev, sizeof(ev), H_EVENTS, 7);
	/* Until the queue is full: the client hangs up meanwhile. */
	for (uint32_t i = 0; r == 0 && i < n; i++)
		r = lrpc_conn_send_event(c, ev, sizeof(ev));
	return 0;
}

static int
h_disconnect(lrpc_conn *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	lrpc_conn_close(c);
	return 0;
}

static void *
server_main(void *arg)
{
	server_thread *st = arg;

	while (!atomic_load(&st->stop))
		(void)lrpc_loop_run_once(st->loop, 10 * LRPC_USEC_PER_MSEC);
	/* What the clients left behind is torn down here, on this thread. */
	for (int i = 0; i < 20; i++)
		(void)lrpc_loop_run_once(st->loop, LRPC_USEC_PER_MSEC);
	(void)lrpc_server_get_stats(st->s, &st->stats, sizeof(st->stats));
	lrpc_server_close(st->s);
	(void)lrpc_loop_run_once(st->loop, 0);
	st->s = lrpc_server_unref(st->s);
	return NULL;
}

static void
server_start(void **state, server_thread *st, uint32_t max_queued)
{
	const th_ctx *ctx = *state;
	lrpc_server_opts o = { .struct_size = sizeof(o),
			       .transport = ctx->transport,
			       .max_queued_bytes = max_queued };

	memset(st, 0, sizeof(*st));
	assert_int_equal(lrpc_loop_new(&st->loop), 0);
	assert_int_equal(lrpc_server_new(&st->s, ctx->name, NULL, &o, NULL),
			 0);
	assert_int_equal(lrpc_server_attach_loop(st->s, st->loop), 0);
	assert_int_equal(lrpc_server_add_handler(st->s, H_ECHO, h_echo, NULL),
			 0);
	assert_int_equal(lrpc_server_add_handler(st->s, H_EVENTS, h_events,
						 NULL),
			 0);
	assert_int_equal(lrpc_server_add_handler(st->s, H_DISCONNECT,
						 h_disconnect, NULL),
			 0);
	assert_int_equal(lrpc_server_start(st->s), 0);
	assert_int_equal(pthread_create(&st->thread, NULL, server_main, st),
			 0);
}

static void
server_stop(server_thread *st)
{
	atomic_store(&st->stop, true);
	assert_int_equal(pthread_join(st->thread, NULL), 0);
	st->loop = lrpc_loop_unref(st->loop);
}

/* --- Client threads ------------------------------------------------------ */

typedef struct client_thread {
	pthread_t thread;
	const th_ctx *ctx;
	unsigned index;
	unsigned calls;
	/* What went wrong, as text (threads do not assert). */
	char error[160];
} client_thread;

#define CT_FAIL(ct, ...)                                                   \
	do {                                                               \
		snprintf((ct)->error, sizeof((ct)->error), __VA_ARGS__);   \
		goto out;                                                  \
	} while (0)

static void
run_threads(client_thread *ct, unsigned n, const th_ctx *ctx,
	    void *(*fn)(void *))
{
	for (unsigned i = 0; i < n; i++) {
		ct[i] = (client_thread){ .ctx = ctx, .index = i };
		assert_int_equal(pthread_create(&ct[i].thread, NULL, fn,
						&ct[i]),
				 0);
	}
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(pthread_join(ct[i].thread, NULL), 0);
		if (ct[i].error[0])
			fail_msg("thread %u: %s", i, ct[i].error);
	}
}

/* A sized call: the response's size, or -errno. */
static int
call(lrpc_client *c, const void *req, size_t size, void *buf, size_t cap)
{
	size_t got = 0;
	int r = lrpc_client_call(c, req, size, buf, cap,
				 (uint64_t)SOON_MS * 1000, &got);

	return r < 0 ? r : (int)got;
}

static void *
e41_client(void *arg)
{
	client_thread *ct = arg;
	uint8_t req[1024], resp[1024];
	lrpc_client *c = NULL;
	int r;

	r = th_connect(ct->ctx, &c, NULL);
	if (r < 0)
		CT_FAIL(ct, "connect: %d", r);
	for (unsigned i = 0; i < 2000; i++) {
		size_t size = 24 + (i * 37u + ct->index) % 1000u;
		unsigned seed = ct->index * 100000u + i;

		th_fill(req, size, H_ECHO, seed);
		r = call(c, req, size, resp, sizeof(resp));
		if (r != (int)size || !th_check(resp, size, seed))
			CT_FAIL(ct, "call %u: %d", i, r);
		ct->calls++;
	}
out:
	lrpc_client_unref(c);
	return NULL;
}

/*
 * HARDENING E41: N_THREADS threads, each with its own client on its own
 * connection, 2000 echo calls each against one server whose loop runs on
 * another thread; every answer is the caller's own.
 */
static void
test_threads_e41_client_per_thread(void **state)
{
	client_thread ct[N_THREADS];
	server_thread st;
	unsigned calls = 0;

	server_start(state, &st, 0);
	run_threads(ct, N_THREADS, *state, e41_client);
	for (unsigned i = 0; i < N_THREADS; i++)
		calls += ct[i].calls;
	assert_int_equal(calls, N_THREADS * 2000);
	server_stop(&st);
	assert_int_equal(st.stats.closed_connections, N_THREADS);
}

static void *
e43_client(void *arg)
{
	client_thread *ct = arg;
	uint8_t req[64], resp[64], ev[512];
	lrpc_client *c = NULL;
	uint32_t n = 5000;
	int r;

	for (unsigned round = 0; round < 30; round++) {
		r = th_connect(ct->ctx, &c, NULL);
		if (r < 0)
			CT_FAIL(ct, "connect %u: %d", round, r);
		switch ((round + ct->index) % 3) {
		case 0:
			/* Hang up while the server sends events. */
			th_fill(req, sizeof(lrpc_msg_header) + sizeof(n),
				H_EVENTS, 0);
			memcpy(req + sizeof(lrpc_msg_header), &n, sizeof(n));
			r = call(c, req, sizeof(lrpc_msg_header) + sizeof(n),
				 resp, sizeof(resp));
			if (r < 0)
				CT_FAIL(ct, "events %u: %d", round, r);
			for (unsigned i = 0; i < round % 4; i++)
				(void)lrpc_client_recv_event(
					c, ev, sizeof(ev),
					(uint64_t)SOON_MS * 1000, NULL);
			break;
		case 1:
			/* Hang up with requests unanswered. */
			for (unsigned i = 0; i < 20; i++) {
				th_fill(req, sizeof(req), H_ECHO, i);
				if (lrpc_client_send(c, req, sizeof(req)) < 0)
					break;
			}
			break;
		default:
			/* The server hangs up while this thread sends. */
			th_fill(req, sizeof(lrpc_msg_header), H_DISCONNECT,
				0);
			(void)lrpc_client_send(c, req,
					       sizeof(lrpc_msg_header));
			for (unsigned i = 0; i < 50; i++) {
				th_fill(req, sizeof(req), H_ECHO, i);
				r = call(c, req, sizeof(req), resp,
					 sizeof(resp));
				if (r == -ENOTCONN)
					break;
				if (r != (int)sizeof(req))
					CT_FAIL(ct, "after hang-up: %d", r);
			}
			if (r != -ENOTCONN)
				CT_FAIL(ct, "still connected: %d", r);
			break;
		}
		c = lrpc_client_unref(c);
		ct->calls++;
	}
out:
	lrpc_client_unref(c);
	return NULL;
}

/*
 * HARDENING E43: clients hang up while the server is sending them events
 * and responses, and the server hangs up on clients that are sending,
 * 30 times per thread; then a client on the same server still gets its
 * answers, and every connection was closed (no reference left over).
 */
static void
test_threads_e43_disconnect_races_sends(void **state)
{
	client_thread ct[N_THREADS];
	uint8_t req[128], resp[128];
	lrpc_client *c = NULL;
	server_thread st;

	server_start(state, &st, 0);
	run_threads(ct, N_THREADS, *state, e43_client);
	assert_int_equal(th_connect(*state, &c, NULL), 0);
	th_fill(req, sizeof(req), H_ECHO, 9);
	assert_int_equal(call(c, req, sizeof(req), resp, sizeof(resp)),
			 (int)sizeof(req));
	assert_true(th_check(resp, sizeof(req), 9));
	lrpc_client_unref(c);
	server_stop(&st);
	assert_int_equal(st.stats.closed_connections, N_THREADS * 30 + 1);
	assert_int_equal(st.stats.active_connections, 0);
}

#define E45_REQUESTS 3000
#define E45_SIZE 2048

static void *
e45_client(void *arg)
{
	client_thread *ct = arg;
	lrpc_client_opts o = { .struct_size = sizeof(o),
			       .max_msg_size = 16 * 1024,
			       .send_timeout_usec = 1 };
	uint8_t req[E45_SIZE], resp[E45_SIZE];
	unsigned sent = 0, got = 0, eagain = 0;
	lrpc_client *c = NULL;
	size_t size;
	int r;

	r = th_connect(ct->ctx, &c, &o);
	if (r < 0)
		CT_FAIL(ct, "connect: %d", r);
	while (got < E45_REQUESTS) {
		/* Send until the server pushes back, then read one. */
		while (sent < E45_REQUESTS) {
			th_fill(req, sizeof(req), H_ECHO,
				ct->index * 100000u + sent);
			r = lrpc_client_send(c, req, sizeof(req));
			if (r == -EAGAIN) {
				eagain++;
				break;
			}
			if (r < 0)
				CT_FAIL(ct, "send %u: %d", sent, r);
			sent++;
		}
		/*
		 * Flow control (the control page) can still say stop for a
		 * moment after the last answer was read: the server lifts it
		 * once its queue has drained, just after moving the last
		 * answers into the ring.  With nothing left to read, try
		 * sending again instead of waiting for an answer that cannot
		 * come.
		 */
		if (got == sent) {
			usleep(100);
			continue;
		}
		r = lrpc_client_recv(c, resp, sizeof(resp),
				     (uint64_t)SOON_MS * 1000, &size);
		if (r < 0)
			CT_FAIL(ct, "recv %u: %d", got, r);
		/* The next answer is that of the oldest request left. */
		if (size != sizeof(resp) ||
		    !th_check(resp, size, ct->index * 100000u + got))
			CT_FAIL(ct, "answer %u: wrong (%zu bytes)", got, size);
		got++;
	}
	/* And nothing more. */
	r = lrpc_client_recv(c, resp, sizeof(resp), 50 * LRPC_USEC_PER_MSEC,
			     &size);
	if (r != -ETIMEDOUT)
		CT_FAIL(ct, "an answer too many: %d", r);
	if (eagain == 0)
		CT_FAIL(ct, "the server never pushed back");
	ct->calls = got;
out:
	lrpc_client_unref(c);
	return NULL;
}

/*
 * HARDENING E45: N_THREADS clients each send 3000 requests as fast as the
 * server lets them, reading an answer only when a send fails with -EAGAIN
 * (the server, with small queues, stops reading and the rings fill):
 * every request is answered exactly once, in order, and nothing else
 * comes.
 */
static void
test_threads_e45_exactly_once_under_eagain(void **state)
{
	client_thread ct[N_THREADS];
	server_thread st;

	server_start(state, &st, 64 * 1024);
	run_threads(ct, N_THREADS, *state, e45_client);
	for (unsigned i = 0; i < N_THREADS; i++)
		assert_int_equal(ct[i].calls, E45_REQUESTS);
	server_stop(&st);
}

int
main(void)
{
	static const th_test tests[] = {
		TH_TEST_ON(test_threads_e41_client_per_thread, TH_ON_ALL),
		TH_TEST_ON(test_threads_e43_disconnect_races_sends, TH_ON_ALL),
		TH_TEST_ON(test_threads_e45_exactly_once_under_eagain,
			   TH_ON_ALL),
	};

	signal(SIGPIPE, SIG_IGN);
	return th_run_group("threads", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
