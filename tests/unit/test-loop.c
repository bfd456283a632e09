/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests for the built-in epoll loop and the poll ops check. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lrpc/loop.h>

#include "poll/poll-internal.h"
#include "util.h"

/* Safety cap for loops waiting on timers, so a bug fails instead of hangs. */
#define MAX_ROUNDS 100

typedef struct fixture {
	int n_fds;
	lrpc_loop *loop;
} fixture;

static int
count_fds(void)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->n_fds = count_fds();
	assert_true(f->n_fds > 0);
	assert_int_equal(lrpc_loop_new(&f->loop), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fixture *f = *state;
	int before = f->n_fds;

	f->loop = lrpc_loop_unref(f->loop);
	free(f);
	/* Every fd a test opened, and every fd the loop owns, is closed. */
	assert_int_equal(count_fds(), before);
	return 0;
}

static lrpc_loop *
fixture_loop(void **state)
{
	return ((fixture *)*state)->loop;
}

static void
make_pipe(int p[2])
{
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
}

static void
write_byte(int fd)
{
	assert_int_equal(write(fd, "x", 1), 1);
}

static void
close_pipe(int p[2])
{
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	p[0] = p[1] = -1;
}

/* ---- fds --------------------------------------------------------------- */

typedef struct fd_ctx {
	lrpc_loop *loop;
	int calls;
	int fd;
	uint32_t revents;
	/* For the cross-deletion tests. */
	struct fd_ctx *other;
	int *own_pipe;
	int new_pipe[2];
	struct fd_ctx *new_ctx;
	bool drain;
} fd_ctx;

static void
fd_count_cb(int fd, uint32_t revents, void *cb_data)
{
	fd_ctx *c = cb_data;
	char buf[16];

	c->calls++;
	c->fd = fd;
	c->revents = revents;
	if (c->drain)
		(void)!read(fd, buf, sizeof(buf));
}

static void
test_loop_new_unref(void **state)
{
	lrpc_loop *loop = NULL;

	(void)state;
	assert_int_equal(lrpc_loop_new(&loop), 0);
	assert_non_null(loop);
	assert_true(lrpc_loop_get_fd(loop) >= 0);
	assert_ptr_equal(lrpc_loop_ref(loop), loop);
	assert_null(lrpc_loop_unref(loop));
	assert_null(lrpc_loop_unref(loop));
	assert_null(lrpc_loop_unref(NULL));
	assert_null(lrpc_loop_ref(NULL));
}

static void
test_loop_fd_readable(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	fd_ctx c = { .drain = true };
	int p[2];

	make_pipe(p);
	assert_int_equal(lrpc_loop_add_fd(loop, p[0], LRPC_POLL_IN,
					  fd_count_cb, &c),
			 0);
	assert_int_equal(lrpc_loop_run_once(loop, 0), 0);
	assert_int_equal(c.calls, 0);

	write_byte(p[1]);
	assert_int_equal(lrpc_loop_run_once(loop, 1000 * LRPC_USEC_PER_MSEC), 1);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.fd, p[0]);
	assert_int_equal(c.revents, LRPC_POLL_IN);

	/* Drained by the callback: nothing more to do. */
	assert_int_equal(lrpc_loop_run_once(loop, 0), 0);
	assert_int_equal(c.calls, 1);

	assert_int_equal(lrpc_loop_del_fd(loop, p[0]), 0);
	close_pipe(p);
}

static void
test_loop_fd_level_triggered(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	fd_ctx c = { .drain = false };
	int p[2];

	make_pipe(p);
	assert_int_equal(lrpc_loop_add_fd(loop, p[0], LRPC_POLL_IN,
					  fd_count_cb, &c),
			 0);
	write_byte(p[1]);
	assert_int_equal(lrpc_loop_run_once(loop, 0), 1);
	assert_int_equal(lrpc_loop_run_once(loop, 0), 1);
	assert_int_equal(lrpc_loop_run_once(loop, 0), 1);
	assert_int_equal(c.calls, 3);
	assert_int_equal(lrpc_loop_del_fd(loop, p[0]), 0);
	close_pipe(p);
}

static void
test_loop_fd_hup(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	fd_ctx c = {};
	int p[2];

	make_pipe(p);
	/* HUP is reported without being asked for. */
	assert_int_equal(lrpc_loop_add_fd(loop, p[0], 0, fd_count_cb, &c), 0);
	close(p[1]);
	p[1] = -1;
	assert_int_equal(lrpc_loop_run_once(loop, 0), 1);
	assert_int_equal(c.revents, LRPC_POLL_HUP);
	assert_int_equal(lrpc_loop_del_fd(loop, p[0]), 0);
	close_pipe(p);
}

static void
test_loop_fd_mod(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	fd_ctx c = {};
	int p[2];

	make_pipe(p);
	/* The write end is always writable; nothing until OUT is asked. */
	assert_int_equal(lrpc_loop_add_fd(loop, p[1], 0, fd_count_cb, &c), 0);
	assert_int_equal(lrpc_loop_run_once(loop, 0), 0);

	assert_int_equal(lrpc_loop_mod_fd(loop, p[1], LRPC_POLL_OUT), 0);
	assert_int_equal(lrpc_loop_run_once(loop, 0), 1);
	assert_int_equal(c.revents, LRPC_POLL_OUT);

	assert_int_equal(lrpc_loop_mod_fd(loop, p[1], 0), 0);
	assert_int_equal(lrpc_loop_run_once(loop, 0), 0);
	assert_int_equal(c.calls, 1);

	assert_int_equal(lrpc_loop_mod_fd(loop, p[0], LRPC_POLL_IN), -ENOENT);
	assert_int_equal(lrpc_loop_del_fd(loop, p[1]), 0);
	assert_int_equal(lrpc_loop_mod_fd(loop, p[1], LRPC_POLL_OUT), -ENOENT);
	close_pipe(p);
}

static void
fd_never_cb(int fd, uint32_t revents, void *cb_data)
{
	fd_ctx *c = cb_data;

	c->calls++;
}

/*
 * Deletes the other watch, closes its pipe and watches a fresh, readable
 * pipe that usually gets the same fd number; the stale event collected for
 * the old fd must reach neither the old nor the new callback.
 */
static void
fd_kill_other_cb(int fd, uint32_t revents, void *cb_data)
{
	fd_ctx *c = cb_data;
	fd_ctx *o = c->other;

	c->calls++;
	if (!o || o->calls < 0)
		return;
	assert_int_equal(lrpc_loop_del_fd(c->loop, o->own_pipe[0]), 0);
	close_pipe(o->own_pipe);
	o->calls = -1000; /* marks it dead; any later call stays negative */

	make_pipe(c->new_pipe);
	write_byte(c->new_pipe[1]);
	assert_int_equal(lrpc_loop_add_fd(c->loop, c->new_pipe[0],
					  LRPC_POLL_IN, fd_never_cb,
					  c->new_ctx),
			 0);
	c->other = NULL;
	o->other = NULL;
}

static void
test_loop_fd_del_in_batch(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	fd_ctx fresh_a = {}, fresh_b = {};
	fd_ctx a = { .loop = loop, .new_ctx = &fresh_a,
		     .new_pipe = { -1, -1 } };
	fd_ctx b = { .loop = loop, .new_ctx = &fresh_b,
		     .new_pipe = { -1, -1 } };
	int pa[2], pb[2];

	make_pipe(pa);
	make_pipe(pb);
	a.other = &b;
	b.other = &a;
	a.own_pipe = pa;
	b.own_pipe = pb;
	assert_int_equal(lrpc_loop_add_fd(loop, pa[0], LRPC_POLL_IN,
					  fd_kill_other_cb, &a),
			 0);
	assert_int_equal(lrpc_loop_add_fd(loop, pb[0], LRPC_POLL_IN,
					  fd_kill_other_cb, &b),
			 0);
	write_byte(pa[1]);
	write_byte(pb[1]);

	/* Both were ready in one batch; whichever ran first killed the
	 * other, which must not run. */
	assert_int_equal(lrpc_loop_run_once(loop, 0), 1);
	fd_ctx *winner = a.calls == 1 ? &a : &b;
	fd_ctx *loser = a.calls == 1 ? &b : &a;
	assert_int_equal(winner->calls, 1);
	assert_int_equal(loser->calls, -1000);
	/* The fresh fd was added after the batch was collected. */
	assert_int_equal(winner->new_ctx->calls, 0);

	/* Next iteration: the survivor (level-triggered) and the fresh fd. */
	assert_int_equal(lrpc_loop_run_once(loop, 0), 2);
	assert_int_equal(winner->calls, 2);
	assert_int_equal(loser->calls, -1000);
	assert_int_equal(winner->new_ctx->calls, 1);

	int *winner_pipe = winner == &a ? pa : pb;
	assert_int_equal(lrpc_loop_del_fd(loop, winner_pipe[0]), 0);
	assert_int_equal(lrpc_loop_del_fd(loop, winner->new_pipe[0]), 0);
	close_pipe(winner_pipe);
	close_pipe(winner->new_pipe);
}

/* Stops the other watch from wanting IN; its event, already collected in
 * this batch, must not be delivered. */
static void
fd_mod_other_cb(int fd, uint32_t revents, void *cb_data)
{
	fd_ctx *c = cb_data;

	c->calls++;
	if (c->other && c->other->calls == 0) {
		assert_int_equal(lrpc_loop_mod_fd(c->loop, c->other->fd, 0), 0);
		c->other->other = NULL;
	}
}

static void
test_loop_fd_mod_in_batch(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	fd_ctx a = { .loop = loop }, b = { .loop = loop };
	int pa[2], pb[2];

	make_pipe(pa);
	make_pipe(pb);
	a.other = &b;
	b.other = &a;
	a.fd = pa[0];
	b.fd = pb[0];
	assert_int_equal(lrpc_loop_add_fd(loop, pa[0], LRPC_POLL_IN,
					  fd_mod_other_cb, &a),
			 0);
	assert_int_equal(lrpc_loop_add_fd(loop, pb[0], LRPC_POLL_IN,
					  fd_mod_other_cb, &b),
			 0);
	write_byte(pa[1]);
	write_byte(pb[1]);
	assert_int_equal(lrpc_loop_run_once(loop, 0), 1);
	assert_int_equal(a.calls + b.calls, 1);
	assert_int_equal(lrpc_loop_run_once(loop, 0), 1);
	assert_int_equal(a.calls + b.calls, 2);
	assert_int_equal(lrpc_loop_del_fd(loop, pa[0]), 0);
	assert_int_equal(lrpc_loop_del_fd(loop, pb[0]), 0);
	close_pipe(pa);
	close_pipe(pb);
}

static void
fd_del_self_cb(int fd, uint32_t revents, void *cb_data)
{
	fd_ctx *c = cb_data;

	c->calls++;
	assert_int_equal(lrpc_loop_del_fd(c->loop, fd), 0);
	assert_int_equal(lrpc_loop_del_fd(c->loop, fd), -ENOENT);
}

static void
test_loop_fd_del_self(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	fd_ctx c = { .loop = loop };
	int p[2];

	make_pipe(p);
	assert_int_equal(lrpc_loop_add_fd(loop, p[0], LRPC_POLL_IN,
					  fd_del_self_cb, &c),
			 0);
	write_byte(p[1]);
	assert_int_equal(lrpc_loop_run_once(loop, 0), 1);
	assert_int_equal(lrpc_loop_run_once(loop, 0), 0);
	assert_int_equal(c.calls, 1);
	close_pipe(p);
}

static void
test_loop_fd_add_eexist(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	fd_ctx c = {};
	int p[2];

	make_pipe(p);
	assert_int_equal(lrpc_loop_add_fd(loop, p[0], LRPC_POLL_IN,
					  fd_count_cb, &c),
			 0);
	assert_int_equal(lrpc_loop_add_fd(loop, p[0], LRPC_POLL_IN,
					  fd_count_cb, &c),
			 -EEXIST);
	/* The loop's own fd and a closed fd are refused by the kernel. */
	assert_int_equal(lrpc_loop_add_fd(loop, lrpc_loop_get_fd(loop),
					  LRPC_POLL_IN, fd_count_cb, &c),
			 -EINVAL);
	assert_int_equal(lrpc_loop_add_fd(loop, p[1], LRPC_POLL_OUT,
					  fd_count_cb, &c),
			 0);
	assert_int_equal(lrpc_loop_del_fd(loop, p[0]), 0);
	assert_int_equal(lrpc_loop_del_fd(loop, p[0]), -ENOENT);
	assert_int_equal(lrpc_loop_del_fd(loop, p[1]), 0);
	close_pipe(p);
	assert_int_equal(lrpc_loop_add_fd(loop, 1000000, LRPC_POLL_IN,
					  fd_count_cb, &c),
			 -EBADF);
}

/* ---- jobs -------------------------------------------------------------- */

typedef struct job_ctx {
	lrpc_loop *loop;
	int order[8];
	int n;
} job_ctx;

typedef struct job_item {
	job_ctx *ctx;
	int id;
} job_item;

static void
job_record_cb(void *cb_data)
{
	job_item *it = cb_data;

	assert_true(it->ctx->n < (int)LRPC_ELEMENTSOF(it->ctx->order));
	it->ctx->order[it->ctx->n++] = it->id;
}

static void
test_loop_jobs_fifo(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	job_ctx ctx = {};
	job_item items[4];

	for (int i = 0; i < 4; i++) {
		items[i] = (job_item){ .ctx = &ctx, .id = i };
		assert_int_equal(lrpc_loop_add_job(loop, job_record_cb,
						   &items[i]),
				 0);
	}
	assert_int_equal(lrpc_loop_run_once(loop, 0), 4);
	assert_int_equal(ctx.n, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(ctx.order[i], i);
	assert_int_equal(lrpc_loop_run_once(loop, 0), 0);
}

static job_item chained_second;

static void
job_chain_cb(void *cb_data)
{
	job_item *it = cb_data;

	job_record_cb(it);
	assert_int_equal(lrpc_loop_add_job(it->ctx->loop, job_record_cb,
					   &chained_second),
			 0);
}

static void
test_loop_jobs_added_from_job_run_next_iteration(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	job_ctx ctx = { .loop = loop };
	job_item first = { .ctx = &ctx, .id = 1 };

	chained_second = (job_item){ .ctx = &ctx, .id = 2 };
	assert_int_equal(lrpc_loop_add_job(loop, job_chain_cb, &first), 0);
	assert_int_equal(lrpc_loop_run_once(loop, 0), 1);
	assert_int_equal(ctx.n, 1);
	/* The job queued from a job keeps the loop fd readable. */
	struct pollfd pfd = { .fd = lrpc_loop_get_fd(loop), .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 0), 1);
	assert_int_equal(lrpc_loop_run_once(loop, 0), 1);
	assert_int_equal(ctx.n, 2);
	assert_int_equal(ctx.order[0], 1);
	assert_int_equal(ctx.order[1], 2);
	assert_int_equal(lrpc_loop_run_once(loop, 0), 0);
}

static void
test_loop_get_fd_readable_with_job(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	job_ctx ctx = {};
	job_item it = { .ctx = &ctx, .id = 7 };
	struct pollfd pfd = { .fd = lrpc_loop_get_fd(loop), .events = POLLIN };

	assert_int_equal(poll(&pfd, 1, 0), 0);
	assert_int_equal(lrpc_loop_add_job(loop, job_record_cb, &it), 0);
	assert_int_equal(poll(&pfd, 1, 0), 1);
	assert_true(pfd.revents & POLLIN);
	assert_int_equal(lrpc_loop_run_once(loop, 0), 1);
	assert_int_equal(ctx.n, 1);
	pfd.revents = 0;
	assert_int_equal(poll(&pfd, 1, 0), 0);
}

/* ---- timers ------------------------------------------------------------ */

typedef struct timer_ctx {
	lrpc_loop *loop;
	int order[8];
	int n;
	void *handle;
	int del_r;
} timer_ctx;

typedef struct timer_item {
	timer_ctx *ctx;
	int id;
} timer_item;

static void
timer_record_cb(void *cb_data)
{
	timer_item *it = cb_data;

	assert_true(it->ctx->n < (int)LRPC_ELEMENTSOF(it->ctx->order));
	it->ctx->order[it->ctx->n++] = it->id;
}

static void
test_loop_timers_order(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	timer_ctx ctx = {};
	timer_item items[3] = {
		{ &ctx, 30 }, { &ctx, 10 }, { &ctx, 20 },
	};
	int rounds = 0;

	for (int i = 0; i < 3; i++)
		assert_int_equal(lrpc_loop_add_timer(loop,
						     (uint64_t)items[i].id *
							     1000,
						     timer_record_cb,
						     &items[i], NULL),
				 0);
	while (ctx.n < 3 && rounds++ < MAX_ROUNDS)
		assert_true(lrpc_loop_run_once(loop, LRPC_TIMEOUT_INFINITE) >= 0);
	assert_int_equal(ctx.n, 3);
	assert_int_equal(ctx.order[0], 10);
	assert_int_equal(ctx.order[1], 20);
	assert_int_equal(ctx.order[2], 30);
}

static void
test_loop_timers_same_iteration_order(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	timer_ctx ctx = {};
	timer_item items[5] = {
		{ &ctx, 3 }, { &ctx, 1 }, { &ctx, 2 }, { &ctx, 4 }, { &ctx, 5 },
	};

	/* Deadlines 3, 1, 2 ms, then two equal ones that keep add order. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(lrpc_loop_add_timer(loop,
						     (uint64_t)items[i].id *
							     1000,
						     timer_record_cb,
						     &items[i], NULL),
				 0);
	assert_int_equal(lrpc_loop_add_timer(loop, 0, timer_record_cb,
					     &items[3], NULL),
			 0);
	assert_int_equal(lrpc_loop_add_timer(loop, 0, timer_record_cb,
					     &items[4], NULL),
			 0);
	usleep(20 * 1000);
	assert_int_equal(lrpc_loop_run_once(loop, 0), 5);
	assert_int_equal(ctx.order[0], 4);
	assert_int_equal(ctx.order[1], 5);
	assert_int_equal(ctx.order[2], 1);
	assert_int_equal(ctx.order[3], 2);
	assert_int_equal(ctx.order[4], 3);
}

static void
timer_fail_cb(void *cb_data)
{
	fail_msg("cancelled timer or job ran");
}

static void
test_loop_timer_del(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	timer_ctx ctx = {};
	timer_item keep = { &ctx, 1 };
	void *h1 = NULL, *h2 = NULL, *h3 = NULL;

	assert_int_equal(lrpc_loop_add_timer(loop, 5000, timer_fail_cb, NULL,
					     &h1),
			 0);
	assert_int_equal(lrpc_loop_add_timer(loop, 10000, timer_record_cb,
					     &keep, &h2),
			 0);
	assert_int_equal(lrpc_loop_add_timer(loop, 1000, timer_fail_cb, NULL,
					     &h3),
			 0);
	assert_non_null(h1);
	assert_ptr_not_equal(h1, h2);
	/* Deleting the earliest one must re-arm the timerfd for the rest. */
	assert_int_equal(lrpc_loop_del_timer(loop, h3), 0);
	assert_int_equal(lrpc_loop_del_timer(loop, h1), 0);
	assert_int_equal(lrpc_loop_del_timer(loop, h1), -ENOENT);

	for (int rounds = 0; ctx.n < 1 && rounds < MAX_ROUNDS; rounds++)
		assert_true(lrpc_loop_run_once(loop, LRPC_TIMEOUT_INFINITE) >= 0);
	assert_int_equal(ctx.n, 1);
	assert_int_equal(lrpc_loop_run_once(loop, 20 * LRPC_USEC_PER_MSEC), 0);
	assert_int_equal(lrpc_loop_del_timer(loop, h2), -ENOENT);
}

static void
timer_del_self_cb(void *cb_data)
{
	timer_ctx *ctx = cb_data;

	ctx->n++;
	ctx->del_r = lrpc_loop_del_timer(ctx->loop, ctx->handle);
}

static void
test_loop_timer_del_after_fire(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	timer_ctx ctx = { .loop = loop };
	void *h = NULL, *reused = NULL;

	assert_int_equal(lrpc_loop_add_timer(loop, 0, timer_del_self_cb, &ctx,
					     &ctx.handle),
			 0);
	h = ctx.handle;
	assert_int_equal(lrpc_loop_run_once(loop, 1000 * LRPC_USEC_PER_MSEC), 1);
	assert_int_equal(ctx.n, 1);
	/* Stale inside its own callback and afterwards. */
	assert_int_equal(ctx.del_r, -ENOENT);
	assert_int_equal(lrpc_loop_del_timer(loop, h), -ENOENT);

	/* A new timer may reuse the storage; the old handle stays dead. */
	assert_int_equal(lrpc_loop_add_timer(loop, 1000000, timer_fail_cb,
					     NULL, &reused),
			 0);
	assert_ptr_not_equal(reused, h);
	assert_int_equal(lrpc_loop_del_timer(loop, h), -ENOENT);
	/* Made-up handles are answered without being dereferenced. */
	assert_int_equal(lrpc_loop_del_timer(loop, (void *)(uintptr_t)0x1234),
			 -ENOENT);
	assert_int_equal(lrpc_loop_del_timer(loop, (void *)UINTPTR_MAX),
			 -ENOENT);
	assert_int_equal(lrpc_loop_del_timer(loop, reused), 0);
}

static void
timer_readd_cb(void *cb_data)
{
	timer_ctx *ctx = cb_data;

	ctx->n++;
	assert_int_equal(lrpc_loop_add_timer(ctx->loop, 0, timer_readd_cb, ctx,
					     &ctx->handle),
			 0);
}

static void
test_loop_timer_zero_no_starvation(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	timer_ctx ctx = { .loop = loop };
	job_ctx jctx = {};
	job_item job = { .ctx = &jctx, .id = 1 };

	assert_int_equal(lrpc_loop_add_timer(loop, 0, timer_readd_cb, &ctx,
					     &ctx.handle),
			 0);
	/* One timer per iteration, and the job still gets its turn. */
	assert_int_equal(lrpc_loop_add_job(loop, job_record_cb, &job), 0);
	assert_int_equal(lrpc_loop_run_once(loop, 1000 * LRPC_USEC_PER_MSEC), 2);
	assert_int_equal(ctx.n, 1);
	assert_int_equal(jctx.n, 1);
	assert_int_equal(lrpc_loop_run_once(loop, 1000 * LRPC_USEC_PER_MSEC), 1);
	assert_int_equal(ctx.n, 2);
	assert_int_equal(lrpc_loop_run_once(loop, 1000 * LRPC_USEC_PER_MSEC), 1);
	assert_int_equal(ctx.n, 3);
	assert_int_equal(lrpc_loop_del_timer(loop, ctx.handle), 0);
	assert_int_equal(lrpc_loop_run_once(loop, 0), 0);
}

static void
test_loop_timer_far_future(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	void *h = NULL;

	/* Saturates instead of overflowing; never fires. */
	assert_int_equal(lrpc_loop_add_timer(loop, UINT64_MAX, timer_fail_cb,
					     NULL, &h),
			 0);
	assert_int_equal(lrpc_loop_run_once(loop, 10 * LRPC_USEC_PER_MSEC), 0);
	assert_int_equal(lrpc_loop_del_timer(loop, h), 0);
}

static void
test_loop_timer_many(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	void *h[200];

	/* Forces the slot and heap arrays to grow, then empties them in an
	 * order that exercises removal from the middle of the heap. */
	for (int i = 0; i < 200; i++) {
		uint64_t usec = 1000000 + (uint64_t)(i * 7919 % 200);

		assert_int_equal(lrpc_loop_add_timer(loop, usec, timer_fail_cb,
						     NULL, &h[i]),
				 0);
	}
	for (int i = 0; i < 200; i += 2)
		assert_int_equal(lrpc_loop_del_timer(loop, h[i]), 0);
	for (int i = 199; i > 0; i -= 2)
		assert_int_equal(lrpc_loop_del_timer(loop, h[i]), 0);
	for (int i = 0; i < 200; i++)
		assert_int_equal(lrpc_loop_del_timer(loop, h[i]), -ENOENT);
	assert_int_equal(lrpc_loop_run_once(loop, 0), 0);
}

typedef struct heap_ctx {
	int fired[100];
	int n;
} heap_ctx;

typedef struct heap_item {
	heap_ctx *ctx;
	int deadline;
} heap_item;

static void
heap_record_cb(void *cb_data)
{
	heap_item *it = cb_data;

	assert_true(it->ctx->n < (int)LRPC_ELEMENTSOF(it->ctx->fired));
	it->ctx->fired[it->ctx->n++] = it->deadline;
}

static void
test_loop_timer_heap_order_after_deletes(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	heap_ctx ctx = {};
	heap_item items[100];
	void *h[100];
	int kept = 0;

	/*
	 * Scrambled deadlines, every third one cancelled: the survivors must
	 * all fire in one iteration, in non-decreasing order.  Deadlines are
	 * taken from one base so that slow adds (valgrind) cannot reorder
	 * them; the 10 ms steps dwarf the drift between our clock read and
	 * the loop's (1 ms steps did not, under valgrind on a busy machine).
	 */
	uint64_t base = lrpc__now_usec() + 50000;

	for (int i = 0; i < 100; i++) {
		uint64_t at;

		items[i] = (heap_item){ &ctx, i * 37 % 100 };
		at = base + (uint64_t)items[i].deadline * 10000;
		assert_int_equal(lrpc_loop_add_timer(loop,
						     at - lrpc__now_usec(),
						     heap_record_cb, &items[i],
						     &h[i]),
				 0);
	}
	/* Deleted in yet another order, so that removals from the middle
	 * need both sift directions. */
	for (int k = 0; k < 100; k++) {
		int i = k * 61 % 100;

		if (items[i].deadline % 3 == 0)
			assert_int_equal(lrpc_loop_del_timer(loop, h[i]), 0);
		else
			kept++;
	}
	usleep(1100 * 1000);
	assert_int_equal(lrpc_loop_run_once(loop, 0), kept);
	assert_int_equal(ctx.n, kept);
	for (int i = 1; i < ctx.n; i++)
		assert_true(ctx.fired[i - 1] <= ctx.fired[i]);
}

static void
test_loop_timer_del_sifts_up(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	static const int deadlines[] = { 17, 10, 11, 13, 15, 14, 4 };
	static const int expect[] = { 4, 10, 11, 13, 14, 15 };
	heap_ctx ctx = {};
	heap_item items[LRPC_ELEMENTSOF(deadlines)];
	void *h[LRPC_ELEMENTSOF(deadlines)];
	uint64_t base = lrpc__now_usec() + 10000;

	/*
	 * Added in this order the heap is 4 / 13 10 / 17 15 14 11.  Deleting
	 * 17 moves the last leaf (11) under 13, where it has to move up or
	 * it would fire after 13.
	 */
	for (size_t i = 0; i < LRPC_ELEMENTSOF(deadlines); i++) {
		uint64_t at = base + (uint64_t)deadlines[i] * 1000;

		items[i] = (heap_item){ &ctx, deadlines[i] };
		assert_int_equal(lrpc_loop_add_timer(loop,
						     at - lrpc__now_usec(),
						     heap_record_cb, &items[i],
						     &h[i]),
				 0);
	}
	assert_int_equal(lrpc_loop_del_timer(loop, h[0]), 0);
	usleep(40 * 1000);
	assert_int_equal(lrpc_loop_run_once(loop, 0),
			 (int)LRPC_ELEMENTSOF(expect));
	for (size_t i = 0; i < LRPC_ELEMENTSOF(expect); i++)
		assert_int_equal(ctx.fired[i], expect[i]);
}

/* ---- run / quit -------------------------------------------------------- */

static void
quit_cb(void *cb_data)
{
	lrpc_loop_quit(cb_data);
}

static void
test_loop_run_quit(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	timer_ctx ctx = {};
	timer_item it = { &ctx, 1 };

	assert_int_equal(lrpc_loop_add_timer(loop, 1000, timer_record_cb, &it,
					     NULL),
			 0);
	assert_int_equal(lrpc_loop_add_timer(loop, 5000, quit_cb, loop, NULL),
			 0);
	assert_int_equal(lrpc_loop_run(loop), 0);
	assert_int_equal(ctx.n, 1);

	/* Quit is consumed: the loop runs again, here until a job quits. */
	assert_int_equal(lrpc_loop_add_job(loop, quit_cb, loop), 0);
	assert_int_equal(lrpc_loop_run(loop), 0);

	/* Quit before run: returns at once. */
	lrpc_loop_quit(loop);
	assert_int_equal(lrpc_loop_run(loop), 0);
}

static void
unref_job_cb(void *cb_data)
{
	lrpc_loop_unref(cb_data);
}

static void
test_loop_unref_in_callback(void **state)
{
	fixture *f = *state;
	lrpc_loop *loop = f->loop;
	job_ctx ctx = {};
	job_item it = { .ctx = &ctx, .id = 1 };

	/* The job drops the only reference; run_once keeps the loop alive
	 * until it returns, so the job after it still runs. */
	assert_int_equal(lrpc_loop_add_job(loop, unref_job_cb, loop), 0);
	assert_int_equal(lrpc_loop_add_job(loop, job_record_cb, &it), 0);
	f->loop = NULL;
	assert_int_equal(lrpc_loop_run_once(loop, 0), 2);
	assert_int_equal(ctx.n, 1);
}

static void
test_loop_unref_drops_pending(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	fd_ctx c = {};
	int p[2];

	/* Teardown frees these without calling them (checked by ASan and
	 * valgrind for leaks, by timer_fail_cb for calls). */
	for (int i = 0; i < 5; i++) {
		assert_int_equal(lrpc_loop_add_job(loop, timer_fail_cb, NULL),
				 0);
		assert_int_equal(lrpc_loop_add_timer(loop, (uint64_t)i,
						     timer_fail_cb, NULL,
						     NULL),
				 0);
	}
	make_pipe(p);
	assert_int_equal(lrpc_loop_add_fd(loop, p[1], LRPC_POLL_OUT,
					  fd_count_cb, &c),
			 0);
	close_pipe(p);
}

/* ---- signals ----------------------------------------------------------- */

typedef struct sig_ctx {
	lrpc_loop *loop;
	int signo;
	int calls;
} sig_ctx;

static void
signal_cb(lrpc_loop *loop, int signo, void *userdata)
{
	sig_ctx *s = userdata;

	assert_ptr_equal(loop, s->loop);
	s->signo = signo;
	s->calls++;
}

static void
test_loop_signal(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	sig_ctx s = { .loop = loop };
	sigset_t set, old;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &old), 0);

	assert_int_equal(lrpc_loop_add_signal(loop, SIGUSR1, signal_cb, &s),
			 0);
	assert_int_equal(lrpc_loop_add_signal(loop, SIGUSR1, signal_cb, &s),
			 -EEXIST);
	assert_int_equal(lrpc_loop_add_signal(loop, SIGKILL, signal_cb, &s),
			 -EINVAL);
	assert_int_equal(lrpc_loop_add_signal(loop, SIGSTOP, signal_cb, &s),
			 -EINVAL);
	assert_int_equal(lrpc_loop_add_signal(loop, 0, signal_cb, &s),
			 -EINVAL);
	assert_int_equal(lrpc_loop_add_signal(loop, _NSIG, signal_cb, &s),
			 -EINVAL);
	assert_int_equal(lrpc_loop_add_signal(loop, SIGUSR2, NULL, &s),
			 -EINVAL);

	assert_int_equal(raise(SIGUSR1), 0);
	assert_int_equal(lrpc_loop_run_once(loop, 1000 * LRPC_USEC_PER_MSEC), 1);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.signo, SIGUSR1);
	assert_int_equal(lrpc_loop_run_once(loop, 0), 0);

	/* A second signal widens the same signalfd. */
	assert_int_equal(lrpc_loop_add_signal(loop, SIGUSR2, signal_cb, &s),
			 0);
	assert_int_equal(raise(SIGUSR2), 0);
	assert_int_equal(lrpc_loop_run_once(loop, 1000 * LRPC_USEC_PER_MSEC), 1);
	assert_int_equal(s.signo, SIGUSR2);

	/* The loop leaves the mask alone; restore it for the other tests. */
	assert_int_equal(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}

/* ---- poll ops ---------------------------------------------------------- */

static void
test_loop_poll_ops(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	const lrpc_poll_ops *ops = lrpc_loop_get_poll_ops();
	job_ctx jctx = {};
	job_item it = { .ctx = &jctx, .id = 1 };
	fd_ctx c = { .drain = true };
	void *h = NULL;
	int p[2];

	assert_non_null(ops);
	assert_int_equal(ops->struct_size, sizeof(lrpc_poll_ops));
	assert_int_equal(lrpc__poll_ops_check(ops), 0);

	make_pipe(p);
	assert_int_equal(ops->fd_add(loop, p[0], LRPC_POLL_IN, fd_count_cb,
				     &c),
			 0);
	assert_int_equal(ops->fd_mod(loop, p[0], LRPC_POLL_IN), 0);
	assert_int_equal(ops->job_add(loop, job_record_cb, &it), 0);
	assert_int_equal(ops->timer_add(loop, 1000000, timer_fail_cb, NULL,
					&h),
			 0);
	write_byte(p[1]);
	assert_int_equal(lrpc_loop_run_once(loop, 0), 2);
	assert_int_equal(c.calls, 1);
	assert_int_equal(jctx.n, 1);
	assert_int_equal(ops->timer_del(loop, h), 0);
	assert_int_equal(ops->timer_del(loop, h), -ENOENT);
	assert_int_equal(ops->fd_del(loop, p[0]), 0);
	close_pipe(p);
}

static void
test_loop_poll_ops_check_inval(void **state)
{
	const lrpc_poll_ops *ops = lrpc_loop_get_poll_ops();
	struct {
		lrpc_poll_ops ops;
		void *future_member;
	} big = { .ops = *ops };
	lrpc_poll_ops t;

	(void)state;
	assert_int_equal(lrpc__poll_ops_check(NULL), -EINVAL);

	/* A newer, larger table is fine; an older, smaller one is not. */
	big.ops.struct_size = sizeof(big);
	assert_int_equal(lrpc__poll_ops_check(&big.ops), 0);
	t = *ops;
	t.struct_size = sizeof(lrpc_poll_ops) - 1;
	assert_int_equal(lrpc__poll_ops_check(&t), -EINVAL);
	t.struct_size = 0;
	assert_int_equal(lrpc__poll_ops_check(&t), -EINVAL);

#define CHECK_NULL_MEMBER(m)                                               \
	do {                                                               \
		t = *ops;                                                  \
		t.m = NULL;                                                \
		assert_int_equal(lrpc__poll_ops_check(&t), -EINVAL);       \
	} while (0)
	CHECK_NULL_MEMBER(fd_add);
	CHECK_NULL_MEMBER(fd_mod);
	CHECK_NULL_MEMBER(fd_del);
	CHECK_NULL_MEMBER(job_add);
	CHECK_NULL_MEMBER(timer_add);
	CHECK_NULL_MEMBER(timer_del);
#undef CHECK_NULL_MEMBER
}

/* ---- argument checks --------------------------------------------------- */

static void
fd_dummy_cb(int fd, uint32_t revents, void *cb_data)
{
}

static void
test_loop_inval(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	void *h = (void *)(uintptr_t)0x1;
	int p[2];

	assert_int_equal(lrpc_loop_new(NULL), -EINVAL);
	assert_int_equal(lrpc_loop_get_fd(NULL), -EINVAL);
	assert_int_equal(lrpc_loop_run(NULL), -EINVAL);
	assert_int_equal(lrpc_loop_run_once(NULL, 0), -EINVAL);
	lrpc_loop_quit(NULL);

	make_pipe(p);
	assert_int_equal(lrpc_loop_add_fd(NULL, p[0], LRPC_POLL_IN,
					  fd_dummy_cb, NULL),
			 -EINVAL);
	assert_int_equal(lrpc_loop_add_fd(loop, -1, LRPC_POLL_IN, fd_dummy_cb,
					  NULL),
			 -EINVAL);
	assert_int_equal(lrpc_loop_add_fd(loop, p[0], LRPC_POLL_IN, NULL,
					  NULL),
			 -EINVAL);
	assert_int_equal(lrpc_loop_add_fd(loop, p[0], 0x8000, fd_dummy_cb,
					  NULL),
			 -EINVAL);
	assert_int_equal(lrpc_loop_mod_fd(NULL, p[0], 0), -EINVAL);
	assert_int_equal(lrpc_loop_mod_fd(loop, -1, 0), -EINVAL);
	assert_int_equal(lrpc_loop_mod_fd(loop, p[0], 0), -ENOENT);
	assert_int_equal(lrpc_loop_del_fd(NULL, p[0]), -EINVAL);
	assert_int_equal(lrpc_loop_del_fd(loop, -1), -EINVAL);
	assert_int_equal(lrpc_loop_del_fd(loop, p[0]), -ENOENT);
	assert_int_equal(lrpc_loop_add_fd(loop, p[0], LRPC_POLL_IN,
					  fd_dummy_cb, NULL),
			 0);
	assert_int_equal(lrpc_loop_mod_fd(loop, p[0], 0x8000), -EINVAL);
	assert_int_equal(lrpc_loop_del_fd(loop, p[0]), 0);
	close_pipe(p);

	assert_int_equal(lrpc_loop_add_job(NULL, timer_fail_cb, NULL),
			 -EINVAL);
	assert_int_equal(lrpc_loop_add_job(loop, NULL, NULL), -EINVAL);
	assert_int_equal(lrpc_loop_add_timer(NULL, 0, timer_fail_cb, NULL,
					     &h),
			 -EINVAL);
	assert_int_equal(lrpc_loop_add_timer(loop, 0, NULL, NULL, &h),
			 -EINVAL);
	/* ret_handle is not clobbered on failure. */
	assert_ptr_equal(h, (void *)(uintptr_t)0x1);
	assert_int_equal(lrpc_loop_del_timer(NULL, h), -EINVAL);
	assert_int_equal(lrpc_loop_del_timer(loop, NULL), -EINVAL);
	assert_int_equal(lrpc_loop_add_signal(NULL, SIGUSR1, NULL, NULL),
			 -EINVAL);
	assert_int_equal(lrpc_loop_run_once(loop, 0), 0);
}

static void
test_loop_forked_child_echild(void **state)
{
	lrpc_loop *loop = fixture_loop(state);
	int status;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* No cmocka in the child: report through the exit code. */
		bool ok = lrpc_loop_add_job(loop, timer_fail_cb, NULL) ==
				  -ECHILD &&
			  lrpc_loop_run_once(loop, 0) == -ECHILD &&
			  lrpc_loop_get_fd(loop) == -ECHILD;
		_exit(ok ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

#define LOOP_TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		LOOP_TEST(test_loop_new_unref),
		LOOP_TEST(test_loop_fd_readable),
		LOOP_TEST(test_loop_fd_level_triggered),
		LOOP_TEST(test_loop_fd_hup),
		LOOP_TEST(test_loop_fd_mod),
		LOOP_TEST(test_loop_fd_del_in_batch),
		LOOP_TEST(test_loop_fd_mod_in_batch),
		LOOP_TEST(test_loop_fd_del_self),
		LOOP_TEST(test_loop_fd_add_eexist),
		LOOP_TEST(test_loop_jobs_fifo),
		LOOP_TEST(test_loop_jobs_added_from_job_run_next_iteration),
		LOOP_TEST(test_loop_get_fd_readable_with_job),
		LOOP_TEST(test_loop_timers_order),
		LOOP_TEST(test_loop_timers_same_iteration_order),
		LOOP_TEST(test_loop_timer_del),
		LOOP_TEST(test_loop_timer_del_after_fire),
		LOOP_TEST(test_loop_timer_zero_no_starvation),
		LOOP_TEST(test_loop_timer_far_future),
		LOOP_TEST(test_loop_timer_many),
		LOOP_TEST(test_loop_timer_heap_order_after_deletes),
		LOOP_TEST(test_loop_timer_del_sifts_up),
		LOOP_TEST(test_loop_run_quit),
		LOOP_TEST(test_loop_unref_in_callback),
		LOOP_TEST(test_loop_unref_drops_pending),
		LOOP_TEST(test_loop_signal),
		LOOP_TEST(test_loop_poll_ops),
		LOOP_TEST(test_loop_poll_ops_check_inval),
		LOOP_TEST(test_loop_inval),
		LOOP_TEST(test_loop_forked_child_echild),
	};

	return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
