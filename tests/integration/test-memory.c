/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Memory give-back (issue 16, docs/shm.md "Giving memory back"): after one
 * large call and an idle period, a connection holds a few pages again, on
 * both sides; a client that never runs in between gives its share back at
 * its next call.  Bounds are tolerant (64 KiB after a 1 MiB call) and
 * every wait is for a condition with a generous deadline, not a sleep
 * that must be long enough.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define H_HELD 100 /* respond with what the other connections hold */

#define IDLE_USEC (50u * 1000u)
#define BIG (1024u * 1024u - 4096u)
#define SMALL_BOUND (64u * 1024u)
#define DEADLINE_MS 10000

typedef struct held_reply {
	lrpc_msg_header h;
	uint64_t ring;     /* largest ring_bytes of another connection */
	uint64_t buf;      /* largest buffer_bytes of another connection */
	uint64_t map_rss;  /* largest resident memfd mapping of the server */
} held_reply;

/* The largest resident size (bytes) of one mapping of an shm memfd in
 * process @pid (0: self). */
static uint64_t
memfd_map_rss(pid_t pid)
{
	char path[64], line[512];
	uint64_t best = 0;
	bool in = false;
	FILE *f;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/smaps");
	f = fopen(path, "re");
	if (!f)
		return UINT64_MAX;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long kb, lo, hi;

		if (sscanf(line, "%llx-%llx ", &lo, &hi) == 2)
			in = strstr(line, "/memfd:lrpc-shm") != NULL;
		else if (sscanf(line, "Rss: %llu kB", &kb) == 1 && in) {
			if (kb * 1024u > best)
				best = kb * 1024u;
			in = false;
		}
	}
	fclose(f);
	return best;
}

static int
h_held(lrpc_conn *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	held_reply r = { .h = { .size = sizeof(r), .id = m->id } };
	lrpc_server *s = lrpc_conn_get_server(c);

	for (lrpc_conn *o = lrpc_server_get_first_conn(s); o;
	     o = lrpc_conn_get_next(o)) {
		lrpc_conn_stats st;

		if (o == c || lrpc_conn_get_stats(o, &st, sizeof(st)) < 0)
			continue;
		if (st.ring_bytes > r.ring)
			r.ring = st.ring_bytes;
		if (st.buffer_bytes > r.buf)
			r.buf = st.buffer_bytes;
	}
	r.map_rss = memfd_map_rss(0);
	return lrpc_conn_send_response(c, &r, sizeof(r));
}

static void
mem_setup(lrpc_server *s, lrpc_loop *loop, void *arg)
{
	th_standard_handlers(s, loop, arg);
	lrpc_server_add_handler(s, H_HELD, h_held, NULL);
}

static th_server *
mem_spawn(void **state)
{
	lrpc_server_opts o = { .struct_size = sizeof(o),
			       .idle_trim_usec = IDLE_USEC };
	th_server *s = th_server_spawn(*state, NULL, &o, mem_setup, NULL);

	assert_non_null(s);
	return s;
}

static held_reply
held(lrpc_client *observer)
{
	held_reply r;
	lrpc_msg_header q = { .size = sizeof(q), .id = H_HELD };

	assert_int_equal(th_call(observer, &q, sizeof(q), &r, sizeof(r),
				 DEADLINE_MS),
			 (int)sizeof(r));
	return r;
}

/* One echo call of BIG bytes. */
static void
big_call(lrpc_client *c)
{
	uint8_t *req = malloc(BIG), *resp = malloc(BIG);

	assert_non_null(req);
	assert_non_null(resp);
	th_fill(req, BIG, TH_ECHO, 7);
	assert_int_equal(th_call(c, req, BIG, resp, BIG, DEADLINE_MS),
			 (int)BIG);
	assert_true(th_check(resp, BIG, 7));
	free(req);
	free(resp);
}

static bool
is_shm(void **state)
{
	return ((const th_ctx *)*state)->transport == LRPC_TRANSPORT_SHM;
}

/* A connection that made no call holds the idle cost only. */
static void
test_memory_idle_connection(void **state)
{
	th_server *s = mem_spawn(state);
	lrpc_client *a = NULL, *obs = NULL;
	held_reply r;

	assert_int_equal(th_connect(*state, &a, NULL), 0);
	assert_int_equal(th_connect(*state, &obs, NULL), 0);
	r = held(obs);
	assert_true(r.ring <= 16u * 1024u);
	assert_true(r.buf <= 16u * 1024u);
	lrpc_client_unref(a);
	lrpc_client_unref(obs);
	assert_int_equal(th_server_stop(s), 0);
}

/*
 * A client in a loop: after a 1 MiB call both sides give back what it
 * needed once the connection idled (server timer, client loop timer).
 */
static void
test_memory_given_back_when_idle(void **state)
{
	lrpc_client_opts co = { .struct_size = sizeof(co),
				.idle_trim_usec = IDLE_USEC };
	th_server *s = mem_spawn(state);
	lrpc_client *a = NULL, *obs = NULL;
	lrpc_loop *loop = NULL;
	held_reply r;
	long deadline;

	assert_int_equal(lrpc_loop_new(&loop), 0);
	assert_int_equal(th_connect(*state, &a, &co), 0);
	assert_int_equal(lrpc_client_attach_loop(a, loop), 0);
	assert_int_equal(th_connect(*state, &obs, NULL), 0);

	big_call(a);
	r = held(obs);
	if (is_shm(state)) {
		/* Request and response each took a MiB of the rings. */
		assert_true(r.ring >= BIG);
		assert_true(r.map_rss >= BIG);
		assert_true(memfd_map_rss(0) >= BIG);
	} else {
		assert_true(r.buf >= BIG / 2);
	}

	deadline = th_now_ms() + DEADLINE_MS;
	for (;;) {
		assert_true(lrpc_loop_run_once(loop, 20000) >= 0);
		r = held(obs);
		if (r.ring + r.buf <= SMALL_BOUND &&
		    (!is_shm(state) || (r.map_rss <= SMALL_BOUND &&
					memfd_map_rss(0) <= SMALL_BOUND)))
			break;
		assert_true(th_now_ms() < deadline);
	}
	/* And the connection works as before. */
	big_call(a);
	th_echo(a, 100, 3, DEADLINE_MS);

	lrpc_client_unref(a);
	lrpc_client_unref(obs);
	lrpc_loop_unref(loop);
	assert_int_equal(th_server_stop(s), 0);
}

/*
 * A plain synchronous client never runs while idle: the server gives back
 * its side at once (its own mapping of the request ring included), the
 * client its request ring at its next call.
 */
static void
test_memory_sync_client_at_next_call(void **state)
{
	lrpc_client_opts co = { .struct_size = sizeof(co),
				.idle_trim_usec = IDLE_USEC };
	th_server *s = mem_spawn(state);
	lrpc_client *a = NULL, *obs = NULL;
	held_reply r;
	long deadline;

	assert_int_equal(th_connect(*state, &a, &co), 0);
	assert_int_equal(th_connect(*state, &obs, NULL), 0);
	big_call(a);

	deadline = th_now_ms() + DEADLINE_MS;
	for (;;) {
		th_msleep(20);
		r = held(obs);
		if (r.buf <= SMALL_BOUND && r.map_rss <= SMALL_BOUND)
			break;
		assert_true(th_now_ms() < deadline);
	}
	if (is_shm(state)) {
		/* The request ring is the client's to give back. */
		assert_true(r.ring >= BIG);
		assert_true(memfd_map_rss(0) >= BIG);
	}
	/* Idle for four times the idle time, then one small call. */
	th_msleep(4 * IDLE_USEC / 1000);
	th_echo(a, 100, 5, DEADLINE_MS);
	r = held(obs);
	assert_true(r.ring <= SMALL_BOUND);
	if (is_shm(state))
		assert_true(memfd_map_rss(0) <= SMALL_BOUND);

	lrpc_client_unref(a);
	lrpc_client_unref(obs);
	assert_int_equal(th_server_stop(s), 0);
}

/* Never means never: LRPC_TIMEOUT_INFINITE keeps everything. */
static void
test_memory_never(void **state)
{
	lrpc_server_opts o = { .struct_size = sizeof(o),
			       .idle_trim_usec = LRPC_TIMEOUT_INFINITE };
	th_server *s = th_server_spawn(*state, NULL, &o, mem_setup, NULL);
	lrpc_client *a = NULL, *obs = NULL;
	held_reply r;

	assert_non_null(s);
	assert_int_equal(th_connect(*state, &a, NULL), 0);
	assert_int_equal(th_connect(*state, &obs, NULL), 0);
	big_call(a);
	th_msleep(200);
	r = held(obs);
	if (is_shm(state))
		assert_true(r.map_rss >= BIG);
	else
		assert_true(r.buf >= BIG / 2);
	lrpc_client_unref(a);
	lrpc_client_unref(obs);
	assert_int_equal(th_server_stop(s), 0);
}

int
main(void)
{
	static const th_test tests[] = {
		TH_TEST_ON(test_memory_idle_connection, TH_ON_ALL),
		TH_TEST_ON(test_memory_given_back_when_idle, TH_ON_ALL),
		TH_TEST_ON(test_memory_sync_client_at_next_call, TH_ON_ALL),
		TH_TEST_ON(test_memory_never, TH_ON_ALL),
	};

	return th_run_group("memory", tests, sizeof(tests) / sizeof(tests[0]));
}
