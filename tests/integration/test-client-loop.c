/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Clients on any loop: a client driven push style by an lrpc_loop
 * (lrpc_client_attach_loop()), and pull style (lrpc_client_get_fd() +
 * poll() + lrpc_client_process()), against a real server process, on every
 * transport.  Events, responses, the end of an async connect and the
 * server going away all arrive through the loop.  (The GLib-driven client
 * is in test-glib.c.)
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

typedef struct seen {
	int events;
	uint32_t next_seq; /* the seq the next event must carry */
	bool in_order;
	int responses;
	int32_t last_status;
	int connected; /* async connect: calls of the connect callback */
	int connect_status;
	int closed;
	int closed_reason;
	lrpc_loop *loop; /* quit when @want is reached */
	int want_events;
	int want_responses;
} seen;

static void
seen_maybe_quit(seen *s)
{
	if (s->loop && s->events >= s->want_events &&
	    s->responses >= s->want_responses)
		lrpc_loop_quit(s->loop);
}

static void
on_event(lrpc_client *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	seen *s = ud;
	uint32_t seq;

	assert_int_equal(m->id, TH_EVENTS);
	assert_true(size >= sizeof(*m) + sizeof(seq));
	memcpy(&seq, m + 1, sizeof(seq));
	if (seq != s->next_seq)
		s->in_order = false;
	s->next_seq = seq + 1;
	s->events++;
	seen_maybe_quit(s);
}

static void
on_response(lrpc_client *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	seen *s = ud;

	s->responses++;
	s->last_status = m->error;
	seen_maybe_quit(s);
}

static void
on_closed(lrpc_client *c, int reason, void *ud)
{
	seen *s = ud;

	s->closed++;
	s->closed_reason = reason;
	if (s->loop)
		lrpc_loop_quit(s->loop);
}

static void
on_connected(lrpc_client *c, int status, void *ud)
{
	seen *s = ud;

	s->connected++;
	s->connect_status = status;
	if (s->loop)
		lrpc_loop_quit(s->loop);
}

static void
handlers_set(lrpc_client *c, seen *s)
{
	s->in_order = true;
	lrpc_client_set_event_handler(c, on_event, s);
	lrpc_client_set_response_handler(c, on_response, s);
	lrpc_client_set_closed_handler(c, on_closed, s);
}

/* Ask for @n events (TH_EVENTS answers first, then sends them). */
static void
ask_events(lrpc_client *c, uint32_t n)
{
	struct {
		lrpc_msg_header h;
		uint32_t n, pad;
	} req = { .h = { .size = sizeof(req), .id = TH_EVENTS }, .n = n };

	assert_int_equal(lrpc_client_send(c, &req, sizeof(req)), 0);
}

/* Run @loop until it quits or @ms pass (a timer quits it). */
static void
quit_cb(void *ud)
{
	*(bool *)ud = true;
}

static bool
loop_run_for(lrpc_loop *loop, seen *s, int ms)
{
	bool expired = false;
	void *timer = NULL;

	s->loop = loop;
	assert_int_equal(lrpc_loop_add_timer(loop, th_usec(ms), quit_cb,
					     &expired, &timer),
			 0);
	while (!expired && !(s->events >= s->want_events &&
			     s->responses >= s->want_responses &&
			     s->want_events + s->want_responses > 0) &&
	       !s->closed && !s->connected)
		assert_true(lrpc_loop_run_once(loop, LRPC_TIMEOUT_INFINITE) >=
			    0);
	if (!expired)
		assert_int_equal(lrpc_loop_del_timer(loop, timer), 0);
	s->loop = NULL;
	return !expired;
}

static void
test_client_loop_push_events_and_responses(void **state)
{
	th_server *srv = th_server_spawn(*state, NULL, NULL,
					 th_standard_handlers, NULL);
	lrpc_loop *loop;
	lrpc_client *c;
	seen s = { 0 };

	assert_non_null(srv);
	assert_int_equal(lrpc_loop_new(&loop), 0);
	assert_int_equal(th_connect(*state, &c, NULL), 0);
	handlers_set(c, &s);
	assert_int_equal(lrpc_client_attach_loop(c, loop), 0);
	/* Attached once: a second loop, or the pull-style fd, is refused. */
	assert_int_equal(lrpc_client_attach_loop(c, loop), -EBUSY);
	assert_int_equal(lrpc_client_get_fd(c), -EBUSY);
	assert_int_equal(lrpc_client_run_once(c, 0), -EBUSY);

	ask_events(c, 500);
	s.want_events = 500;
	s.want_responses = 1;
	assert_true(loop_run_for(loop, &s, 10000));
	assert_int_equal(s.responses, 1);
	assert_int_equal(s.last_status, 0);
	assert_int_equal(s.events, 500);
	assert_true(s.in_order);

	/* A second round on the same attachment (its events count from 0). */
	s.next_seq = 0;
	ask_events(c, 20);
	s.want_events = 520;
	s.want_responses = 2;
	assert_true(loop_run_for(loop, &s, 10000));
	assert_int_equal(s.events, 520);
	assert_true(s.in_order);
	assert_int_equal(s.closed, 0);

	c = lrpc_client_unref(c);
	loop = lrpc_loop_unref(loop);
	assert_int_equal(th_server_stop(srv), 0);
}

/* A blocking call on an attached client; events that arrived meanwhile
 * still come through the loop afterwards. */
static void
test_client_loop_push_sync_call_between(void **state)
{
	th_server *srv = th_server_spawn(*state, NULL, NULL,
					 th_standard_handlers, NULL);
	lrpc_loop *loop;
	lrpc_client *c;
	seen s = { 0 };

	assert_non_null(srv);
	assert_int_equal(lrpc_loop_new(&loop), 0);
	assert_int_equal(th_connect(*state, &c, NULL), 0);
	assert_int_equal(lrpc_client_attach_loop(c, loop), 0);
	s.in_order = true;
	lrpc_client_set_event_handler(c, on_event, &s);

	/* TH_EVENTS answered synchronously (no response handler is set, so
	 * the response is left for the blocking call). */
	struct {
		lrpc_msg_header h;
		uint32_t n, pad;
	} req = { .h = { .size = sizeof(req), .id = TH_EVENTS }, .n = 50 };
	uint8_t buf[256];
	assert_int_equal(th_call(c, &req, sizeof(req), buf, sizeof(buf),
				 5000),
			 (int)sizeof(lrpc_msg_header));
	for (int i = 0; i < 3; i++)
		th_echo(c, 100, (unsigned)i, 5000);
	s.want_events = 50;
	assert_true(loop_run_for(loop, &s, 10000));
	assert_int_equal(s.events, 50);
	assert_true(s.in_order);

	c = lrpc_client_unref(c);
	loop = lrpc_loop_unref(loop);
	assert_int_equal(th_server_stop(srv), 0);
}

/*
 * A response nobody has a handler for waits for a blocking recv; it must
 * not keep the loop busy meanwhile (a level-triggered fd that stays
 * readable would run the client over and over).
 */
static void
test_client_loop_push_unhandled_response_idle(void **state)
{
	th_server *srv = th_server_spawn(*state, NULL, NULL,
					 th_standard_handlers, NULL);
	uint8_t req[64], resp[64];
	lrpc_loop *loop;
	lrpc_client *c;
	int idle = 0;

	assert_non_null(srv);
	assert_int_equal(lrpc_loop_new(&loop), 0);
	assert_int_equal(th_connect(*state, &c, NULL), 0);
	assert_int_equal(lrpc_client_attach_loop(c, loop), 0);
	th_fill(req, sizeof(req), TH_ECHO, 5);
	assert_int_equal(lrpc_client_send(c, req, sizeof(req)), 0);
	th_msleep(50); /* the response is there now */
	for (int i = 0; i < 20 && idle < 3; i++)
		idle = lrpc_loop_run_once(loop, 20 * LRPC_USEC_PER_MSEC) == 0
			       ? idle + 1
			       : 0;
	assert_int_equal(idle, 3);
	assert_int_equal(th_recv(c, resp, sizeof(resp), 1000),
			 (int)sizeof(resp));
	assert_true(th_check(resp, sizeof(resp), 5));
	c = lrpc_client_unref(c);
	loop = lrpc_loop_unref(loop);
	assert_int_equal(th_server_stop(srv), 0);
}

static void
test_client_loop_push_async_connect(void **state)
{
	const th_ctx *ctx = *state;
	th_server *srv = th_server_spawn(*state, NULL, NULL,
					 th_standard_handlers, NULL);
	lrpc_client_opts o = { .struct_size = sizeof(o),
			       .transport = ctx->transport };
	lrpc_loop *loop;
	lrpc_client *c;
	seen s = { 0 };
	uint64_t t;

	assert_non_null(srv);
	assert_int_equal(lrpc_loop_new(&loop), 0);
	assert_int_equal(lrpc_client_new_async(&c, ctx->name, &o,
					       on_connected, &s),
			 0);
	assert_int_equal(lrpc_client_get_timeout(c, &t), 0);
	assert_true(t > 0 && t <= 5 * LRPC_USEC_PER_SEC);
	assert_int_equal(lrpc_client_attach_loop(c, loop), 0);
	assert_true(loop_run_for(loop, &s, 5000));
	assert_int_equal(s.connected, 1);
	assert_int_equal(s.connect_status, 0);
	assert_true(lrpc_client_is_connected(c));
	assert_int_equal(lrpc_client_get_transport(c),
			 ctx->transport ? ctx->transport
					: LRPC_TRANSPORT_SHM);
	assert_int_equal(lrpc_client_get_timeout(c, &t), 0);
	assert_true(t == LRPC_TIMEOUT_INFINITE);

	/* The connection then works through the same loop. */
	handlers_set(c, &s);
	s.connected = 0;
	ask_events(c, 10);
	s.want_events = 10;
	s.want_responses = 1;
	assert_true(loop_run_for(loop, &s, 5000));
	assert_int_equal(s.events, 10);

	c = lrpc_client_unref(c);
	loop = lrpc_loop_unref(loop);
	assert_int_equal(th_server_stop(srv), 0);
}

/* The server dies: the closed handler runs from the loop, the client's
 * fds leave it (the loop then sleeps instead of spinning on a hang-up). */
static void
test_client_loop_push_server_gone(void **state)
{
	th_server *srv = th_server_spawn(*state, NULL, NULL,
					 th_standard_handlers, NULL);
	lrpc_loop *loop;
	lrpc_client *c;
	seen s = { 0 };

	assert_non_null(srv);
	assert_int_equal(lrpc_loop_new(&loop), 0);
	assert_int_equal(th_connect(*state, &c, NULL), 0);
	handlers_set(c, &s);
	assert_int_equal(lrpc_client_attach_loop(c, loop), 0);
	th_echo(c, 64, 1, 5000);
	th_server_kill(srv);
	assert_true(loop_run_for(loop, &s, 5000));
	assert_int_equal(s.closed, 1);
	assert_true(s.closed_reason < 0);
	assert_false(lrpc_client_is_connected(c));
	assert_int_equal(lrpc_client_process(c), -ENOTCONN);
	/* Nothing of the client is left in the loop. */
	assert_int_equal(lrpc_loop_run_once(loop, 50 * LRPC_USEC_PER_MSEC),
			 0);
	assert_int_equal(s.closed, 1);

	c = lrpc_client_unref(c);
	loop = lrpc_loop_unref(loop);
}

/* lrpc_client_close() on an attached client: fds leave the loop, the
 * closed handler says -ECANCELED, once. */
static void
test_client_loop_push_close(void **state)
{
	th_server *srv = th_server_spawn(*state, NULL, NULL,
					 th_standard_handlers, NULL);
	lrpc_loop *loop;
	lrpc_client *c;
	seen s = { 0 };

	assert_non_null(srv);
	assert_int_equal(lrpc_loop_new(&loop), 0);
	assert_int_equal(th_connect(*state, &c, NULL), 0);
	handlers_set(c, &s);
	assert_int_equal(lrpc_client_attach_loop(c, loop), 0);
	lrpc_client_close(c);
	lrpc_client_close(c);
	assert_true(loop_run_for(loop, &s, 5000));
	assert_int_equal(s.closed, 1);
	assert_int_equal(s.closed_reason, -ECANCELED);
	assert_int_equal(lrpc_client_attach_loop(c, loop), -EBUSY);
	c = lrpc_client_unref(c);
	assert_int_equal(lrpc_loop_run_once(loop, 20 * LRPC_USEC_PER_MSEC),
			 0);
	loop = lrpc_loop_unref(loop);
	assert_int_equal(th_server_stop(srv), 0);
}

/* Pull style: poll the client's one fd, call process when it is ready. */
static int
pull_until(lrpc_client *c, seen *s, int want_events, int want_responses,
	   int ms)
{
	long end = th_now_ms() + ms;
	int r = 0;

	while (th_now_ms() < end && !s->closed &&
	       (s->events < want_events || s->responses < want_responses)) {
		int fd = lrpc_client_get_fd(c);
		assert_true(fd >= 0);
		assert_int_equal(lrpc_client_get_events(c), LRPC_POLL_IN);
		if (!th_wait_fd(fd, POLLIN, 100))
			continue;
		r = lrpc_client_process(c);
		if (r < 0)
			break;
	}
	return r;
}

static void
test_client_loop_pull(void **state)
{
	th_server *srv = th_server_spawn(*state, NULL, NULL,
					 th_standard_handlers, NULL);
	lrpc_client *c;
	seen s = { 0 };

	assert_non_null(srv);
	assert_int_equal(th_connect(*state, &c, NULL), 0);
	handlers_set(c, &s);
	int fd = lrpc_client_get_fd(c);
	assert_true(fd >= 0);
	assert_int_equal(lrpc_client_get_fd(c), fd);
	/* Pulled: no loop may be attached any more. */
	lrpc_loop *loop;
	assert_int_equal(lrpc_loop_new(&loop), 0);
	assert_int_equal(lrpc_client_attach_loop(c, loop), -EBUSY);
	loop = lrpc_loop_unref(loop);

	/* Nothing there: process is idle. */
	assert_int_equal(lrpc_client_process(c), 0);
	ask_events(c, 300);
	assert_true(pull_until(c, &s, 300, 1, 10000) >= 0);
	assert_int_equal(s.responses, 1);
	assert_int_equal(s.events, 300);
	assert_true(s.in_order);

	/* run_once waits, then processes. */
	ask_events(c, 5);
	for (int i = 0; i < 100 && s.events < 305; i++)
		assert_true(lrpc_client_run_once(c, 100 * LRPC_USEC_PER_MSEC) >=
			    0);
	assert_int_equal(s.events, 305);

	/* The server goes away: process reports it, the handler runs once. */
	th_server_kill(srv);
	int r = 0;
	for (int i = 0; i < 100 && !s.closed; i++) {
		if (th_wait_fd(fd, POLLIN, 100))
			r = lrpc_client_process(c);
	}
	assert_int_equal(s.closed, 1);
	assert_int_equal(r, -ENOTCONN);
	assert_true(s.closed_reason < 0);
	assert_int_equal(lrpc_client_process(c), -ENOTCONN);
	assert_int_equal(s.closed, 1);
	c = lrpc_client_unref(c);
}

/* Pull style with an async connect: the fd tells when it finished. */
static void
test_client_loop_pull_async_connect(void **state)
{
	const th_ctx *ctx = *state;
	th_server *srv = th_server_spawn(*state, NULL, NULL,
					 th_standard_handlers, NULL);
	lrpc_client_opts o = { .struct_size = sizeof(o),
			       .transport = ctx->transport };
	lrpc_client *c;
	seen s = { 0 };

	assert_non_null(srv);
	assert_int_equal(lrpc_client_new_async(&c, ctx->name, &o,
					       on_connected, &s),
			 0);
	int fd = lrpc_client_get_fd(c);
	assert_true(fd >= 0);
	for (int i = 0; i < 50 && !s.connected; i++)
		if (th_wait_fd(fd, POLLIN, 100))
			assert_true(lrpc_client_process(c) >= 0);
	assert_int_equal(s.connected, 1);
	assert_int_equal(s.connect_status, 0);
	th_echo(c, 200, 7, 5000);
	handlers_set(c, &s);
	ask_events(c, 3);
	assert_true(pull_until(c, &s, 3, 1, 5000) >= 0);
	assert_int_equal(s.events, 3);
	c = lrpc_client_unref(c);
	assert_int_equal(th_server_stop(srv), 0);
}

static int
fake_fd_add(void *l, int fd, uint32_t ev, lrpc_poll_fd_fn cb, void *d)
{
	return -ENOSPC;
}
static int
fake_fd_mod(void *l, int fd, uint32_t ev)
{
	return 0;
}
static int
fake_fd_del(void *l, int fd)
{
	return 0;
}
static int
fake_job_add(void *l, lrpc_poll_fn cb, void *d)
{
	return 0;
}
static int
fake_timer_add(void *l, uint64_t usec, lrpc_poll_fn cb, void *d, void **h)
{
	return 0;
}
static int
fake_timer_del(void *l, void *h)
{
	return 0;
}

/* Bad tables are refused; a loop that refuses the fds fails the attach
 * with its error and leaves the client as it was. */
static void
test_client_loop_set_poll_errors(void **state)
{
	static const lrpc_poll_ops refusing = {
		.struct_size = sizeof(lrpc_poll_ops),
		.fd_add = fake_fd_add,
		.fd_mod = fake_fd_mod,
		.fd_del = fake_fd_del,
		.job_add = fake_job_add,
		.timer_add = fake_timer_add,
		.timer_del = fake_timer_del,
	};
	lrpc_poll_ops small = refusing;
	th_server *srv = th_server_spawn(*state, NULL, NULL,
					 th_standard_handlers, NULL);
	lrpc_client *c;

	assert_non_null(srv);
	assert_int_equal(th_connect(*state, &c, NULL), 0);
	small.struct_size = sizeof(small) - 1;
	assert_int_equal(lrpc_client_set_poll(c, NULL, NULL), -EINVAL);
	assert_int_equal(lrpc_client_set_poll(c, &small, NULL), -EINVAL);
	assert_int_equal(lrpc_client_attach_loop(c, NULL), -EINVAL);
	assert_int_equal(lrpc_client_set_poll(NULL, &refusing, NULL),
			 -EINVAL);
	assert_int_equal(lrpc_client_set_poll(c, &refusing, NULL), -ENOSPC);
	/* Still usable, and still free to attach elsewhere. */
	th_echo(c, 32, 3, 5000);
	assert_true(lrpc_client_get_fd(c) >= 0);
	c = lrpc_client_unref(c);
	assert_int_equal(th_server_stop(srv), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TH_TEST(test_client_loop_push_events_and_responses),
		TH_TEST(test_client_loop_push_sync_call_between),
		TH_TEST(test_client_loop_push_unhandled_response_idle),
		TH_TEST(test_client_loop_push_async_connect),
		TH_TEST(test_client_loop_push_server_gone),
		TH_TEST(test_client_loop_push_close),
		TH_TEST(test_client_loop_pull),
		TH_TEST(test_client_loop_pull_async_connect),
		TH_TEST(test_client_loop_set_poll_errors),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("client-loop", tests, NULL, NULL);
}
