/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The conformance suite of lrpc_poll_ops implementations: the same tests
 * against the built-in lrpc_loop and every installed adapter (lrpc-glib,
 * lrpc-uv, lrpc-event, lrpc-sdevent).  This file is compiled once per
 * loop, with CF_LOOP_<NAME> defined; the driver section below is the only
 * part that differs.  Every loop runs on every transport
 * (LRPC_TEST_TRANSPORT=socket|shm), which matters for the last tests: a
 * server and many clients in one loop, with calls and events.
 *
 * The contract tested is loop.h's: fds are level-triggered, fd_mod keeps
 * the callback, fd_del stops every later callback (also one already
 * collected in this iteration), timers fire in deadline order and never
 * early, a cancelled timer never fires, a job never runs inside job_add.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <lrpc/lrpc.h>

/* --- Drivers: create a loop, its table and data, iterate, free. --- */

typedef struct cf_loop cf_loop;

#if defined(CF_LOOP_BUILTIN)
#define CF_NAME "builtin"
struct cf_loop {
	lrpc_loop *loop;
};
static void
cf_loop_new(cf_loop *l)
{
	assert_int_equal(lrpc_loop_new(&l->loop), 0);
}
static const lrpc_poll_ops *
cf_ops(void)
{
	return lrpc_loop_get_poll_ops();
}
static void *
cf_data(cf_loop *l)
{
	return l->loop;
}
static void
cf_iterate(cf_loop *l, bool block)
{
	/* Blocking waits are bounded: a broken timer fails, never hangs. */
	assert_true(lrpc_loop_run_once(l->loop, block ? 100000 : 0) >= 0);
}
/* The built-in loop keeps no counts that the API shows. */
static bool
cf_counts(cf_loop *l, unsigned *fds, unsigned *jobs, unsigned *timers)
{
	return false;
}
static void
cf_loop_free(cf_loop *l)
{
	l->loop = lrpc_loop_unref(l->loop);
}
#elif defined(CF_LOOP_GLIB)
#include <lrpc/glib.h>
#define CF_NAME "glib"
struct cf_loop {
	GMainContext *ctx;
	lrpc_glib *a;
};
static void
cf_loop_new(cf_loop *l)
{
	l->ctx = g_main_context_new();
	assert_int_equal(lrpc_glib_new(&l->a, l->ctx), 0);
}
static const lrpc_poll_ops *
cf_ops(void)
{
	return lrpc_glib_get_poll_ops();
}
static void *
cf_data(cf_loop *l)
{
	return l->a;
}
static gboolean
cf_wake(gpointer unused)
{
	return G_SOURCE_REMOVE;
}
static void
cf_iterate(cf_loop *l, bool block)
{
	/* Blocking waits are bounded: a broken timer fails, never hangs. */
	GSource *wake = g_timeout_source_new(100);

	g_source_set_callback(wake, cf_wake, NULL, NULL);
	g_source_attach(wake, l->ctx);
	g_main_context_iteration(l->ctx, block);
	g_source_destroy(wake);
	g_source_unref(wake);
}
static bool
cf_counts(cf_loop *l, unsigned *fds, unsigned *jobs, unsigned *timers)
{
	lrpc_glib_get_counts(l->a, fds, jobs, timers);
	return true;
}
static void
cf_loop_free(cf_loop *l)
{
	l->a = lrpc_glib_unref(l->a);
	g_main_context_unref(l->ctx);
}
#elif defined(CF_LOOP_UV)
#include <lrpc/uv.h>
#define CF_NAME "uv"
struct cf_loop {
	uv_loop_t loop;
	uv_timer_t wake;
	lrpc_uv *a;
};
static void
cf_loop_new(cf_loop *l)
{
	assert_int_equal(uv_loop_init(&l->loop), 0);
	assert_int_equal(uv_timer_init(&l->loop, &l->wake), 0);
	assert_int_equal(lrpc_uv_new(&l->a, &l->loop), 0);
}
static const lrpc_poll_ops *
cf_ops(void)
{
	return lrpc_uv_get_poll_ops();
}
static void *
cf_data(cf_loop *l)
{
	return l->a;
}
static void
cf_wake(uv_timer_t *t)
{
}
static void
cf_iterate(cf_loop *l, bool block)
{
	/* Blocking waits are bounded: a broken timer fails, never hangs. */
	if (block)
		uv_timer_start(&l->wake, cf_wake, 100, 0);
	uv_run(&l->loop, block ? UV_RUN_ONCE : UV_RUN_NOWAIT);
	uv_timer_stop(&l->wake);
}
static bool
cf_counts(cf_loop *l, unsigned *fds, unsigned *jobs, unsigned *timers)
{
	lrpc_uv_get_counts(l->a, fds, jobs, timers);
	return true;
}
static void
cf_loop_free(cf_loop *l)
{
	l->a = lrpc_uv_unref(l->a);
	uv_close((uv_handle_t *)&l->wake, NULL);
	/* Handles finish closing in the loop. */
	uv_run(&l->loop, UV_RUN_NOWAIT);
	assert_int_equal(uv_loop_close(&l->loop), 0);
}
#elif defined(CF_LOOP_EVENT)
#include <lrpc/event.h>
#define CF_NAME "event"
struct cf_loop {
	struct event_base *base;
	lrpc_event *a;
};
static void
cf_loop_new(cf_loop *l)
{
	l->base = event_base_new();
	assert_non_null(l->base);
	assert_int_equal(lrpc_event_new(&l->a, l->base), 0);
}
static const lrpc_poll_ops *
cf_ops(void)
{
	return lrpc_event_get_poll_ops();
}
static void *
cf_data(cf_loop *l)
{
	return l->a;
}
static void
cf_iterate(cf_loop *l, bool block)
{
	struct timeval tv = { .tv_usec = 100000 };

	/* Blocking waits are bounded: a broken timer fails, never hangs. */
	if (block)
		event_base_loopexit(l->base, &tv);
	event_base_loop(l->base, EVLOOP_ONCE | (block ? 0 : EVLOOP_NONBLOCK));
}
static bool
cf_counts(cf_loop *l, unsigned *fds, unsigned *jobs, unsigned *timers)
{
	lrpc_event_get_counts(l->a, fds, jobs, timers);
	return true;
}
static void
cf_loop_free(cf_loop *l)
{
	l->a = lrpc_event_unref(l->a);
	event_base_free(l->base);
}
#elif defined(CF_LOOP_SDEVENT)
#include <lrpc/sdevent.h>
#define CF_NAME "sdevent"
struct cf_loop {
	sd_event *e;
	lrpc_sdevent *a;
};
static void
cf_loop_new(cf_loop *l)
{
	assert_int_equal(sd_event_new(&l->e), 0);
	assert_int_equal(lrpc_sdevent_new(&l->a, l->e), 0);
}
static const lrpc_poll_ops *
cf_ops(void)
{
	return lrpc_sdevent_get_poll_ops();
}
static void *
cf_data(cf_loop *l)
{
	return l->a;
}
static void
cf_iterate(cf_loop *l, bool block)
{
	/* sd-event dispatches one source per iteration. */
	assert_true(sd_event_run(l->e, block ? 100000 : 0) >= 0);
}
static bool
cf_counts(cf_loop *l, unsigned *fds, unsigned *jobs, unsigned *timers)
{
	lrpc_sdevent_get_counts(l->a, fds, jobs, timers);
	return true;
}
static void
cf_loop_free(cf_loop *l)
{
	l->a = lrpc_sdevent_unref(l->a);
	l->e = sd_event_unref(l->e);
}
#else
#error "define CF_LOOP_BUILTIN, _GLIB, _UV, _EVENT or _SDEVENT"
#endif

/* sd-event runs one callback per iteration, the others all ready ones: an
 * "iteration" of the tests below is enough turns to run every ready one. */
#ifdef CF_LOOP_SDEVENT
#define CF_TURNS 8
#else
#define CF_TURNS 1
#endif

static void
cf_turn(cf_loop *l)
{
	for (int i = 0; i < CF_TURNS; i++)
		cf_iterate(l, false);
}

static uint64_t
now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Iterate (blocking) until *@done or @ms passed; returns *@done. */
static bool
cf_run_until(cf_loop *l, const bool *done, int ms)
{
	uint64_t deadline = now_usec() + (uint64_t)ms * 1000u;

	while (!*done && now_usec() < deadline)
		cf_iterate(l, true);
	return *done;
}

static void
cf_expect_empty(cf_loop *l)
{
	unsigned fds = 0, jobs = 0, timers = 0;

	if (!cf_counts(l, &fds, &jobs, &timers))
		return;
	if (fds + jobs + timers)
		print_message("left: %u fds, %u jobs, %u timers\n", fds, jobs,
			      timers);
	assert_int_equal(fds, 0);
	assert_int_equal(jobs, 0);
	assert_int_equal(timers, 0);
}

typedef struct fixture {
	cf_loop l;
	const lrpc_poll_ops *ops;
	void *data;
} fixture;

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	cf_loop_new(&f->l);
	f->ops = cf_ops();
	f->data = cf_data(&f->l);
	assert_int_equal(f->ops->struct_size, sizeof(lrpc_poll_ops));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fixture *f = *state;

	cf_expect_empty(&f->l);
	cf_loop_free(&f->l);
	free(f);
	return 0;
}

/* --- fds --- */

typedef struct fd_rec {
	fixture *f;
	int calls;
	uint32_t revents;   /* union of all calls */
	int del_self;       /* delete own fd in the callback */
	int del_fd;         /* and this one, if >= 0 */
	struct fd_rec *del_rec;
	bool watched;
} fd_rec;

static void
fd_cb(int fd, uint32_t revents, void *cb_data)
{
	fd_rec *r = cb_data;

	assert_true(r->watched);
	r->calls++;
	r->revents |= revents;
	if (r->del_fd >= 0 && r->del_rec->watched) {
		assert_int_equal(r->f->ops->fd_del(r->f->data, r->del_fd), 0);
		r->del_rec->watched = false;
	}
	if (r->del_self) {
		assert_int_equal(r->f->ops->fd_del(r->f->data, fd), 0);
		r->watched = false;
	}
}

static void
rec_init(fd_rec *r, fixture *f)
{
	memset(r, 0, sizeof(*r));
	r->f = f;
	r->del_fd = -1;
}

static void
watch(fixture *f, int fd, uint32_t events, fd_rec *r)
{
	assert_int_equal(f->ops->fd_add(f->data, fd, events, fd_cb, r), 0);
	r->watched = true;
}

static void
unwatch(fixture *f, int fd, fd_rec *r)
{
	assert_int_equal(f->ops->fd_del(f->data, fd), 0);
	r->watched = false;
}

static void
pipe_ready(int p[2])
{
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
}

static void
close_pair(int p[2])
{
	close(p[0]);
	close(p[1]);
}

/* Readable and never read: called on every iteration; then read, never. */
static void
test_fd_level_triggered(void **state)
{
	fixture *f = *state;
	fd_rec r;
	int p[2];
	char c;

	rec_init(&r, f);
	pipe_ready(p);
	watch(f, p[0], LRPC_POLL_IN, &r);
	for (int i = 1; i <= 3; i++) {
		cf_turn(&f->l);
		assert_true(r.calls >= i);
	}
	assert_true(r.revents & LRPC_POLL_IN);
	assert_int_equal(read(p[0], &c, 1), 1);
	r.calls = 0;
	cf_turn(&f->l);
	cf_turn(&f->l);
	assert_int_equal(r.calls, 0);
	unwatch(f, p[0], &r);
	close_pair(p);
}

/* Events 0 (errors only), then OUT, then IN: the callback stays. */
static void
test_fd_mod(void **state)
{
	fixture *f = *state;
	fd_rec r;
	int s[2];

	rec_init(&r, f);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
						     SOCK_CLOEXEC,
				    0, s),
			 0);
	watch(f, s[0], 0, &r);
	cf_turn(&f->l);
	assert_int_equal(r.calls, 0); /* writable, but not asked */
	assert_int_equal(f->ops->fd_mod(f->data, s[0], LRPC_POLL_OUT), 0);
	cf_turn(&f->l);
	assert_true(r.calls >= 1);
	assert_int_equal(r.revents, LRPC_POLL_OUT);
	assert_int_equal(f->ops->fd_mod(f->data, s[0], LRPC_POLL_IN), 0);
	r.calls = 0;
	r.revents = 0;
	cf_turn(&f->l);
	assert_int_equal(r.calls, 0); /* nothing to read */
	assert_int_equal(write(s[1], "x", 1), 1);
	cf_turn(&f->l);
	assert_true(r.calls >= 1);
	assert_int_equal(r.revents, LRPC_POLL_IN);
	/* The contract's errors. */
	assert_int_equal(f->ops->fd_add(f->data, s[0], LRPC_POLL_IN, fd_cb, &r),
			 -EEXIST);
	assert_int_equal(f->ops->fd_mod(f->data, s[1], LRPC_POLL_IN), -ENOENT);
	assert_int_equal(f->ops->fd_del(f->data, s[1]), -ENOENT);
	unwatch(f, s[0], &r);
	assert_int_equal(f->ops->fd_del(f->data, s[0]), -ENOENT);
	close_pair(s);
}

/* Two ready fds, each deleting itself from its callback: once each. */
static void
test_fd_del_self(void **state)
{
	fixture *f = *state;
	fd_rec r[2];
	int p[2][2];

	for (int i = 0; i < 2; i++) {
		rec_init(&r[i], f);
		r[i].del_self = 1;
		pipe_ready(p[i]);
		watch(f, p[i][0], LRPC_POLL_IN, &r[i]);
	}
	for (int i = 0; i < 3; i++)
		cf_turn(&f->l);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(r[i].calls, 1);
		close_pair(p[i]);
	}
}

/*
 * Two fds ready in the same iteration; the first callback deletes the
 * other and itself: the other never runs, although its event was
 * already collected.
 */
static void
test_fd_del_other(void **state)
{
	fixture *f = *state;
	fd_rec r[2];
	int p[2][2];

	for (int i = 0; i < 2; i++) {
		rec_init(&r[i], f);
		r[i].del_self = 1;
		pipe_ready(p[i]);
	}
	for (int i = 0; i < 2; i++) {
		r[i].del_fd = p[1 - i][0];
		r[i].del_rec = &r[1 - i];
		watch(f, p[i][0], LRPC_POLL_IN, &r[i]);
	}
	for (int i = 0; i < 3; i++)
		cf_turn(&f->l);
	assert_int_equal(r[0].calls + r[1].calls, 1);
	for (int i = 0; i < 2; i++)
		close_pair(p[i]);
}

/* The peer goes away: a watch for IN hears of it. */
static void
test_fd_hangup(void **state)
{
	fixture *f = *state;
	fd_rec r;
	int s[2];

	rec_init(&r, f);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
						     SOCK_CLOEXEC,
				    0, s),
			 0);
	watch(f, s[0], LRPC_POLL_IN, &r);
	cf_turn(&f->l);
	assert_int_equal(r.calls, 0);
	close(s[1]);
	cf_turn(&f->l);
	assert_true(r.calls >= 1);
	assert_true(r.revents & (LRPC_POLL_IN | LRPC_POLL_HUP));
	unwatch(f, s[0], &r);
	close(s[0]);
}

/*
 * Watched for errors only (events 0): the peer going away is still
 * reported, as HUP or ERR and nothing else; lrpc depends on it (the shm
 * transport's client hears of a server gone through such a watch).
 * Also after fd_mod from IN back to 0.
 */
static void
test_fd_errors_only(void **state)
{
	fixture *f = *state;
	fd_rec r;
	int s[2];
	char c;

	rec_init(&r, f);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
						     SOCK_CLOEXEC,
				    0, s),
			 0);
	watch(f, s[0], LRPC_POLL_IN, &r);
	assert_int_equal(write(s[1], "x", 1), 1);
	cf_turn(&f->l);
	assert_true(r.calls >= 1);
	assert_int_equal(f->ops->fd_mod(f->data, s[0], 0), 0);
	r.calls = 0;
	r.revents = 0;
	cf_turn(&f->l);
	assert_int_equal(r.calls, 0); /* readable, but not asked */
	close(s[1]);
	for (int i = 0; i < 3; i++)
		cf_turn(&f->l);
	assert_true(r.calls >= 3); /* level-triggered too */
	assert_true(r.revents & (LRPC_POLL_HUP | LRPC_POLL_ERR));
	assert_false(r.revents & (LRPC_POLL_IN | LRPC_POLL_OUT));
	assert_int_equal(read(s[0], &c, 1), 1);
	unwatch(f, s[0], &r);
	close(s[0]);
}

/* --- timers --- */

typedef struct tm_rec {
	fixture *f;
	int *order;
	int *n_fired;
	int id;
	uint64_t due;       /* never fire before this */
	void *cancel;       /* timer to cancel from the callback */
	struct tm_rec *cancel_rec;
	bool pending;
	bool *done;
	int want;
} tm_rec;

static void
tm_cb(void *cb_data)
{
	tm_rec *t = cb_data;

	assert_true(t->pending);
	t->pending = false;
	assert_true(now_usec() >= t->due);
	t->order[(*t->n_fired)++] = t->id;
	if (t->cancel && t->cancel_rec->pending) {
		assert_int_equal(t->f->ops->timer_del(t->f->data, t->cancel),
				 0);
		t->cancel_rec->pending = false;
	}
	if (*t->n_fired == t->want)
		*t->done = true;
}

static void
tm_add(fixture *f, tm_rec *t, int id, uint64_t usec, void **handle)
{
	t->f = f;
	t->id = id;
	t->due = now_usec() + usec;
	t->pending = true;
	assert_int_equal(f->ops->timer_add(f->data, usec, tm_cb, t, handle),
			 0);
}

/* Added out of order, fired in deadline order, none early.  The steps are
 * 50 ms: adding a timer can take milliseconds under valgrind (the first
 * one of sd-event more), and a delay counts from its own add. */
static void
test_timer_order(void **state)
{
	fixture *f = *state;
	static const uint64_t delays[] = { 150000, 50000, 100000, 5000 };
	tm_rec t[4] = { 0 };
	int order[4], n = 0;
	bool done = false;

	for (int i = 0; i < 4; i++) {
		t[i] = (tm_rec){ .order = order, .n_fired = &n, .done = &done,
				 .want = 4 };
		tm_add(f, &t[i], i, delays[i], NULL);
	}
	assert_true(cf_run_until(&f->l, &done, 2000));
	assert_int_equal(order[0], 3);
	assert_int_equal(order[1], 1);
	assert_int_equal(order[2], 2);
	assert_int_equal(order[3], 0);
}

/* A cancelled timer never fires, also when cancelled by a timer that is
 * due at the same time. */
static void
test_timer_cancel(void **state)
{
	fixture *f = *state;
	tm_rec t[4] = { 0 }, last = { 0 };
	void *h[4];
	int order[8], n = 0;
	bool done = false;

	for (int i = 0; i < 4; i++) {
		t[i] = (tm_rec){ .order = order, .n_fired = &n, .done = &done,
				 .want = 100 };
		tm_add(f, &t[i], i, i < 2 ? 5000 : 10000, &h[i]);
	}
	/* 0 and 1 are due together, each cancels the other: one fires.
	 * 2 is cancelled before the loop runs. */
	t[0].cancel = h[1];
	t[0].cancel_rec = &t[1];
	t[1].cancel = h[0];
	t[1].cancel_rec = &t[0];
	assert_int_equal(f->ops->timer_del(f->data, h[2]), 0);
	t[2].pending = false;
	last = (tm_rec){ .order = order, .n_fired = &n, .done = &done,
			 .want = 3 };
	tm_add(f, &last, 9, 40000, NULL);
	assert_true(cf_run_until(&f->l, &done, 2000));
	assert_int_equal(n, 3);
	assert_true(order[0] == 0 || order[0] == 1);
	assert_int_equal(order[1], 3);
	assert_int_equal(order[2], 9);
}

/* --- jobs --- */

typedef struct job_rec {
	fixture *f;
	bool in_add; /* inside job_add: a job must not run now */
	int ran;
	int requeue; /* queue this many more from the callback */
} job_rec;

static void
job_cb(void *cb_data)
{
	job_rec *j = cb_data;

	assert_false(j->in_add);
	j->ran++;
	if (j->requeue > 0) {
		j->requeue--;
		j->in_add = true;
		assert_int_equal(j->f->ops->job_add(j->f->data, job_cb, j), 0);
		j->in_add = false;
	}
}

/* Jobs run once each, from the loop, also those queued by a job; a job
 * that keeps queueing does not starve a ready fd. */
static void
test_jobs(void **state)
{
	fixture *f = *state;
	job_rec j[3] = { 0 };
	fd_rec r;
	int p[2];

	rec_init(&r, f);
	pipe_ready(p);
	watch(f, p[0], LRPC_POLL_IN, &r);
	for (int i = 0; i < 3; i++) {
		j[i].f = f;
		j[i].in_add = true;
		assert_int_equal(f->ops->job_add(f->data, job_cb, &j[i]), 0);
		j[i].in_add = false;
	}
	j[2].requeue = 1000;
	for (int i = 0; i < 50 && (j[2].requeue > 0 || r.calls == 0); i++)
		cf_turn(&f->l);
	assert_int_equal(j[0].ran, 1);
	assert_int_equal(j[1].ran, 1);
	assert_true(r.calls > 0);
	unwatch(f, p[0], &r);
	close_pair(p);
	/* Let the requeueing job run dry: the teardown wants no job left. */
	j[2].requeue = 0;
	for (int i = 0; i < 10; i++)
		cf_turn(&f->l);
}

/* --- a server and many clients in one loop --- */

#define N_CLIENTS 40
#define MSG_PING 1
#define MSG_PONG_EVENT 2

typedef struct app {
	lrpc_server *server;
	lrpc_client *clients[N_CLIENTS];
	int connected, connect_failed, responses, events, closed;
	int conns_live;
	bool all_done;
} app;

typedef struct ping {
	lrpc_msg_header h;
	uint32_t n;
	uint32_t pad;
} ping;

static int
on_ping(lrpc_conn *c, const lrpc_msg_header *msg, size_t size, void *ud)
{
	ping p;

	if (size != sizeof(p))
		return -EINVAL;
	memcpy(&p, msg, sizeof(p));
	/* An event first, then the response carrying n + 1. */
	p.h = (lrpc_msg_header){ .size = sizeof(p), .id = MSG_PONG_EVENT };
	assert_int_equal(lrpc_conn_send_event(c, &p, sizeof(p)), 0);
	p.h = (lrpc_msg_header){ .size = sizeof(p), .id = MSG_PING };
	p.n++;
	return lrpc_conn_send_response(c, &p, sizeof(p));
}

static void
srv_created(lrpc_conn *c, void *ud)
{
	((app *)ud)->conns_live++;
}

static void
srv_destroyed(lrpc_conn *c, void *ud)
{
	((app *)ud)->conns_live--;
}

static void
app_check_done(app *a)
{
	if (a->responses == N_CLIENTS && a->events == N_CLIENTS)
		a->all_done = true;
}

static void
cl_response(lrpc_client *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	app *a = ud;
	ping p;

	assert_int_equal(size, sizeof(p));
	memcpy(&p, m, sizeof(p));
	assert_int_equal(p.h.error, 0);
	/* Each client sent its index. */
	assert_ptr_equal(a->clients[p.n - 1], c);
	a->responses++;
	app_check_done(a);
}

static void
cl_event(lrpc_client *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	app *a = ud;

	assert_int_equal(m->id, MSG_PONG_EVENT);
	a->events++;
	app_check_done(a);
}

static void
cl_closed(lrpc_client *c, int reason, void *ud)
{
	((app *)ud)->closed++;
}

static void
cl_connected(lrpc_client *c, int status, void *ud)
{
	app *a = ud;
	ping p = { .h = { .size = sizeof(p), .id = MSG_PING } };

	if (status < 0) {
		a->connect_failed++;
		return;
	}
	a->connected++;
	for (int i = 0; i < N_CLIENTS; i++)
		if (a->clients[i] == c)
			p.n = (uint32_t)i;
	assert_int_equal(lrpc_client_send(c, &p, sizeof(p)), 0);
}

static lrpc_transport
test_transport(void)
{
	const char *t = getenv("LRPC_TEST_TRANSPORT");

	return t && strcmp(t, "shm") == 0 ? LRPC_TRANSPORT_SHM
					  : LRPC_TRANSPORT_SOCKET;
}

static void
test_server_and_clients(void **state)
{
	fixture *f = *state;
	lrpc_server_callbacks cb = { .struct_size = sizeof(cb),
				     .created = srv_created,
				     .destroyed = srv_destroyed };
	lrpc_server_opts so = { .struct_size = sizeof(so),
				.transport = test_transport() };
	lrpc_client_opts co = { .struct_size = sizeof(co),
				.transport = test_transport() };
	char name[64];
	app a = { 0 };
	bool no_conns;

	snprintf(name, sizeof(name), "cf-%s-%d", CF_NAME, (int)getpid());
	assert_int_equal(lrpc_server_new(&a.server, name, &cb, &so, &a), 0);
	assert_int_equal(lrpc_server_set_poll(a.server, f->ops, f->data), 0);
	assert_int_equal(lrpc_server_add_handler(a.server, MSG_PING, on_ping,
						 NULL),
			 0);
	assert_int_equal(lrpc_server_start(a.server), 0);
	for (int i = 0; i < N_CLIENTS; i++) {
		lrpc_client *c;

		assert_int_equal(lrpc_client_new_async(&c, name, &co,
						       cl_connected, &a),
				 0);
		a.clients[i] = c;
		lrpc_client_set_response_handler(c, cl_response, &a);
		lrpc_client_set_event_handler(c, cl_event, &a);
		lrpc_client_set_closed_handler(c, cl_closed, &a);
		assert_int_equal(lrpc_client_set_poll(c, f->ops, f->data), 0);
	}
	/* The index is sent as n, the response carries n + 1. */
	assert_true(cf_run_until(&f->l, &a.all_done, 20000));
	assert_int_equal(a.connected, N_CLIENTS);
	assert_int_equal(a.connect_failed, 0);
	assert_int_equal(a.conns_live, N_CLIENTS);

	/* The server goes first: every client hears of it. */
	lrpc_server_close(a.server);
	for (int i = 0; i < 2000 && a.closed < N_CLIENTS; i++)
		cf_iterate(&f->l, true);
	assert_int_equal(a.closed, N_CLIENTS);
	for (int i = 0; i < N_CLIENTS; i++) {
		lrpc_client_close(a.clients[i]);
		a.clients[i] = lrpc_client_unref(a.clients[i]);
	}
	a.server = lrpc_server_unref(a.server);
	/* What is left holds references until its jobs ran. */
	no_conns = false;
	for (int i = 0; i < 2000 && !no_conns; i++) {
		unsigned fds = 0, jobs = 0, timers = 0;

		cf_iterate(&f->l, false);
		no_conns = a.conns_live == 0 &&
			   (!cf_counts(&f->l, &fds, &jobs, &timers) ||
			    fds + jobs + timers == 0);
		if (!no_conns)
			usleep(1000);
		if (getenv("CF_DEBUG") && i % 200 == 0)
			print_message("%d: live %d, %u fds %u jobs %u timers\n", i, a.conns_live, fds, jobs, timers);
	}
	assert_int_equal(a.conns_live, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fd_level_triggered, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fd_mod, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_del_self, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fd_del_other, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fd_hangup, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fd_errors_only, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_timer_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_timer_cancel, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_jobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_and_clients, setup,
						teardown),
	};
	char group[64];

	snprintf(group, sizeof(group), "conformance-%s-%s", CF_NAME,
		 test_transport() == LRPC_TRANSPORT_SHM ? "shm" : "socket");
	return cmocka_run_group_tests_name(group, tests, NULL, NULL);
}
