/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc_loop on epoll.
 *
 * Everything the loop waits for is an fd in one level-triggered epoll set:
 * the user's fds, a timerfd armed to the earliest timer deadline, an eventfd
 * that is readable while jobs are queued and, once a signal is registered, a
 * signalfd.  So the epoll fd itself is readable exactly when
 * lrpc_loop_run_once(loop, 0) has work, which is what pull-style users of
 * lrpc_loop_get_fd() rely on.
 *
 * One iteration: epoll_wait(), then the fd callbacks (signals included) in
 * the order epoll returned them, then the expired timers in deadline order,
 * then the jobs that were queued when the job phase started.
 *
 * The loop is single-threaded: every call must come from the thread that
 * drives it.
 *
 * This file owns the epoll set, the object's lifetime and the iteration;
 * the fd table, the timers, the jobs and the signals have a file each
 * (listed in loop-internal.h) and reach epoll only through the
 * lrpc__loop_watch_*() calls below.
 */
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>

#include "loop-internal.h"

/* The header promises poll(2) values; the conversions below rely on nothing
 * more than that, but say it loudly if a libc ever disagrees. */
_Static_assert(LRPC_POLL_IN == POLLIN, "LRPC_POLL_IN != POLLIN");
_Static_assert(LRPC_POLL_OUT == POLLOUT, "LRPC_POLL_OUT != POLLOUT");
_Static_assert(LRPC_POLL_ERR == POLLERR, "LRPC_POLL_ERR != POLLERR");
_Static_assert(LRPC_POLL_HUP == POLLHUP, "LRPC_POLL_HUP != POLLHUP");

/* Events collected per epoll_wait(); the rest wait for the next round. */
#define LOOP_MAX_EVENTS 64

/* ---- the epoll set ----------------------------------------------------- */

/*
 * Internal fds are registered with generation 0, which no user watch ever
 * has, so they can be told apart from a user fd in one compare.
 */
static uint64_t
epoll_data_pack(int fd, uint32_t gen)
{
	return (uint64_t)gen << 32 | (uint32_t)fd;
}

static uint32_t
events_to_epoll(uint32_t events)
{
	uint32_t e = 0;

	if (events & LRPC_POLL_IN)
		e |= EPOLLIN;
	if (events & LRPC_POLL_OUT)
		e |= EPOLLOUT;
	if (events & LRPC_POLL_ERR)
		e |= EPOLLERR;
	/*
	 * Peer half-close (EPOLLRDHUP) is only asked for when the caller asks
	 * for HUP explicitly: otherwise a writer waiting for POLLOUT would see
	 * "HUP" while the peer can still read everything it sends.
	 */
	if (events & LRPC_POLL_HUP)
		e |= EPOLLHUP | EPOLLRDHUP;
	return e;
}

static uint32_t
events_from_epoll(uint32_t e)
{
	uint32_t events = 0;

	if (e & EPOLLIN)
		events |= LRPC_POLL_IN;
	if (e & EPOLLOUT)
		events |= LRPC_POLL_OUT;
	if (e & EPOLLERR)
		events |= LRPC_POLL_ERR;
	if (e & (EPOLLHUP | EPOLLRDHUP))
		events |= LRPC_POLL_HUP;
	return events;
}

int
lrpc__loop_watch_add(lrpc_loop *l, int fd, uint32_t events, uint32_t gen)
{
	struct epoll_event ev = {
		.events = events_to_epoll(events),
		.data.u64 = epoll_data_pack(fd, gen),
	};

	return lrpc__negerrno(epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, fd, &ev));
}

int
lrpc__loop_watch_mod(lrpc_loop *l, int fd, uint32_t events, uint32_t gen)
{
	struct epoll_event ev = {
		.events = events_to_epoll(events),
		.data.u64 = epoll_data_pack(fd, gen),
	};

	return lrpc__negerrno(epoll_ctl(l->epoll_fd, EPOLL_CTL_MOD, fd, &ev));
}

int
lrpc__loop_watch_del(lrpc_loop *l, int fd)
{
	return lrpc__negerrno(epoll_ctl(l->epoll_fd, EPOLL_CTL_DEL, fd, NULL));
}

/* ---- lifetime ---------------------------------------------------------- */

static void
loop_free(lrpc_loop *l)
{
	lrpc__log_debug("loop %p: freed", (void *)l);
	/* Pending jobs and timers are dropped without being called: nobody
	 * is left to run them and their owners hold no reference on us. */
	lrpc__loop_jobs_done(l);
	free(l->timers);
	free(l->heap);
	free(l->fds);
	/* Blocked signals stay blocked: the mask belongs to the threads that
	 * called lrpc_loop_add_signal(), which may still rely on it. */
	lrpc__safe_close(l->signal_fd);
	lrpc__safe_close(l->event_fd);
	lrpc__safe_close(l->timer_fd);
	lrpc__safe_close(l->epoll_fd);
	free(l);
}

LRPC_DEFINE_REF_UNREF(LRPC_EXPORT, lrpc_loop, lrpc_loop, loop_free)

static void
loop_unrefp(lrpc_loop **p)
{
	lrpc_loop_unref(*p);
}

LRPC_EXPORT int
lrpc_loop_new(lrpc_loop **ret)
{
	_lrpc_cleanup_(loop_unrefp) lrpc_loop *l = NULL;
	int r;

	lrpc_return_if_fail(ret, -EINVAL);

	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->n_ref = 1;
	l->origin_pid = lrpc__getpid();
	l->epoll_fd = l->timer_fd = l->event_fd = l->signal_fd = -1;
	l->timer_free = LOOP_TIMER_NONE;
	sigemptyset(&l->sigmask);

	l->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epoll_fd < 0)
		return -errno;
	l->timer_fd = timerfd_create(CLOCK_MONOTONIC,
				     TFD_CLOEXEC | TFD_NONBLOCK);
	if (l->timer_fd < 0)
		return -errno;
	l->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->event_fd < 0)
		return -errno;
	r = lrpc__loop_watch_add(l, l->timer_fd, LRPC_POLL_IN, /* gen= */ 0);
	if (r < 0)
		return r;
	r = lrpc__loop_watch_add(l, l->event_fd, LRPC_POLL_IN, /* gen= */ 0);
	if (r < 0)
		return r;

	*ret = LRPC_TAKE_PTR(l);
	return 0;
}

LRPC_EXPORT int
lrpc_loop_get_fd(lrpc_loop *loop)
{
	lrpc_return_if_fail(loop, -EINVAL);
	lrpc_return_if_fail(!lrpc__loop_origin_changed(loop), -ECHILD);
	return loop->epoll_fd;
}

/* ---- dispatch ---------------------------------------------------------- */

static int
loop_dispatch_event(lrpc_loop *l, const struct epoll_event *ev)
{
	int fd = (int)(uint32_t)ev->data.u64;
	uint32_t gen = (uint32_t)(ev->data.u64 >> 32);

	if (gen != 0)
		return lrpc__loop_fd_dispatch(l, fd, gen,
					      events_from_epoll(ev->events));
	if (fd == l->timer_fd)
		lrpc__loop_timerfd_fired(l);
	else if (fd == l->signal_fd)
		return lrpc__loop_signals_dispatch(l);
	/* The eventfd is drained by the job phase. */
	return 0;
}

LRPC_EXPORT int
lrpc_loop_run_once(lrpc_loop *loop, uint64_t timeout_usec)
{
	_lrpc_cleanup_(loop_unrefp) lrpc_loop *ref = NULL;
	struct epoll_event evs[LOOP_MAX_EVENTS];
	int n, r, count = 0;

	lrpc_return_if_fail(loop, -EINVAL);
	lrpc_return_if_fail(!lrpc__loop_origin_changed(loop), -ECHILD);

	n = epoll_wait(loop->epoll_fd, evs, LOOP_MAX_EVENTS,
		       lrpc__timeout_poll_ms(timeout_usec));
	if (n < 0)
		return errno == EINTR ? 0 : -errno;

	/* Any callback may drop the last reference the caller had. */
	ref = lrpc_loop_ref(loop);

	for (int i = 0; i < n; i++)
		count += loop_dispatch_event(loop, &evs[i]);
	r = lrpc__loop_timers_dispatch(loop, &count);
	if (r < 0)
		return r;
	count += lrpc__loop_jobs_dispatch(loop);
	return count;
}

LRPC_EXPORT int
lrpc_loop_run(lrpc_loop *loop)
{
	_lrpc_cleanup_(loop_unrefp) lrpc_loop *ref = NULL;
	int r = 0;

	lrpc_return_if_fail(loop, -EINVAL);
	lrpc_return_if_fail(!lrpc__loop_origin_changed(loop), -ECHILD);

	ref = lrpc_loop_ref(loop);
	/* A quit requested before run() makes it return at once. */
	while (!loop->quit) {
		r = lrpc_loop_run_once(loop, LRPC_TIMEOUT_INFINITE);
		if (r < 0)
			break;
	}
	/* Consumed, so that the loop can be run again. */
	loop->quit = false;
	return r < 0 ? r : 0;
}

LRPC_EXPORT void
lrpc_loop_quit(lrpc_loop *loop)
{
	if (!loop)
		return;
	loop->quit = true;
}
