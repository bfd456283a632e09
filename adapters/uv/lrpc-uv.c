/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc-uv: lrpc_poll_ops on a libuv loop.
 *
 * fds: one uv_poll_t each, found by fd in a table indexed by fd.  libuv
 * polls level-triggered.  It reports a hang-up or an error as the events
 * that were asked for, so a watch for errors only (events 0) goes to an
 * epoll set of the adapter's own instead (errset.h).  UV_DISCONNECT is not
 * a way out: it is EPOLLRDHUP, which a socket whose own reading side was
 * shut down (lrpc's event sockets) reports for ever.  On an
 * error libuv stops the handle and passes a negative status: the handle is
 * started again and the error reported as LRPC_POLL_ERR, so that it stays
 * level-triggered like every other watch.  uv_poll_stop() also forgets the
 * events already collected for the fd in this iteration, which is the
 * fd_del contract.
 *
 * Jobs: a queue run by one uv_idle_t, which also keeps the loop from
 * blocking while jobs wait.  Each run takes only the jobs queued before it
 * started, so that a job that queues another cannot starve the fds.
 *
 * Timers: one uv_timer_t each.  libuv counts whole milliseconds on
 * CLOCK_MONOTONIC_COARSE, truncated, from the time it cached when the
 * iteration began: the cache is refreshed and the delay rounded up to
 * whole milliseconds, plus one, plus the coarse clock's resolution, so
 * that a timer never fires early by CLOCK_MONOTONIC.  The handle is the timer's record,
 * freed when it fires or is deleted (lrpc never deletes a timer that
 * fired).
 *
 * Closing a libuv handle completes in the loop, so every handle owns its
 * own memory and frees it in its close callback: dropping the adapter
 * leaves nothing but handles the next loop iteration finishes closing.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lrpc/uv.h>

#include "../errset.h"
#include "../fdtable.h"
#include "../monotonic.h"

typedef struct uv_watch {
	uv_poll_t poll;
	lrpc_uv *a;
	int fd;
	uint32_t id;
	bool in_errset; /* events 0: watched in the adapter's epoll set */
	int uv_events;
	lrpc_poll_fd_fn cb;
	void *cb_data;
} uv_watch;

typedef struct uv_job {
	struct uv_job *next;
	lrpc_poll_fn cb;
	void *cb_data;
} uv_job;

typedef struct uv_tmr {
	uv_timer_t timer;
	lrpc_uv *a;
	struct uv_tmr *prev, *next;
	lrpc_poll_fn cb;
	void *cb_data;
	uint64_t due; /* CLOCK_MONOTONIC µs: never fire before */
} uv_tmr;

struct lrpc_uv {
	unsigned n_ref;
	uv_loop_t *loop;
	fdtable watches; /* uv_watch * by fd */
	unsigned n_fds;
	uint32_t next_id;
	int errset;            /* epoll set of the watches for errors only */
	uv_poll_t *errset_poll;
	unsigned n_errset;     /* watches in it */
	uv_idle_t *idle; /* runs the jobs; closed with the adapter */
	uv_job *jobs, **jobs_tail;
	unsigned n_jobs;
	uv_tmr *timers;
	unsigned n_timers;
	uint64_t slack_ms; /* 1 ms + resolution of CLOCK_MONOTONIC_COARSE */
};

static int
to_uv(uint32_t events)
{
	int ev = 0;

	if (events & LRPC_POLL_IN)
		ev |= UV_READABLE;
	if (events & LRPC_POLL_OUT)
		ev |= UV_WRITABLE;
	return ev;
}

static void
handle_free(uv_handle_t *h)
{
	free(h);
}

static void
watch_cb(uv_poll_t *handle, int status, int uv_events)
{
	uv_watch *w = handle->data;
	uint32_t ev = 0;

	if (status < 0) {
		/* libuv stopped the handle; keep watching, as epoll would. */
		uv_poll_start(&w->poll, w->uv_events, watch_cb);
		ev = LRPC_POLL_ERR;
	} else {
		if (uv_events & UV_READABLE)
			ev |= LRPC_POLL_IN;
		if (uv_events & UV_WRITABLE)
			ev |= LRPC_POLL_OUT;
	}
	if (ev)
		w->cb(w->fd, ev, w->cb_data);
}

static void
errset_leave(lrpc_uv *a, uv_watch *w)
{
	errset_del(a->errset, w->fd);
	w->in_errset = false;
	if (--a->n_errset == 0)
		uv_unref((uv_handle_t *)a->errset_poll);
}

/* Watch @w for @events: in libuv, or for errors only in the adapter's set. */
static int
watch_apply(lrpc_uv *a, uv_watch *w, uint32_t events)
{
	int r;

	w->uv_events = to_uv(events);
	if (w->uv_events) {
		if (w->in_errset)
			errset_leave(a, w);
		return uv_poll_start(&w->poll, w->uv_events, watch_cb);
	}
	uv_poll_stop(&w->poll);
	if (w->in_errset)
		return 0;
	r = errset_add(a->errset, w->fd, w->id);
	if (r < 0)
		return r;
	w->in_errset = true;
	/* Like every other watch, it keeps the loop running. */
	if (a->n_errset++ == 0)
		uv_ref((uv_handle_t *)a->errset_poll);
	return 0;
}

static uv_watch *
watch_find(lrpc_uv *a, int fd)
{
	return fdtable_get(&a->watches, fd);
}

static void
errset_cb(uv_poll_t *handle, int status, int uv_events)
{
	lrpc_uv *a = handle->data;
	struct epoll_event evs[ERRSET_BATCH];
	int n = errset_collect(a->errset, evs);

	for (int i = 0; i < n; i++) {
		int fd = errset_fd(&evs[i]);
		uv_watch *w = watch_find(a, fd);

		/* Deleted, replaced or moved out since it was collected. */
		if (!w || w->id != errset_id(&evs[i]) || !w->in_errset)
			continue;
		w->cb(fd, errset_revents(&evs[i]), w->cb_data);
	}
}

static int
uv_fd_add(void *loop_data, int fd, uint32_t events, lrpc_poll_fd_fn cb,
	  void *cb_data)
{
	lrpc_uv *a = loop_data;
	uv_watch *w;
	int r;

	if (fd < 0 || !cb)
		return -EINVAL;
	if (watch_find(a, fd))
		return -EEXIST;
	r = fdtable_reserve(&a->watches, fd);
	if (r < 0)
		return r;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	r = uv_poll_init(a->loop, &w->poll, fd);
	if (r < 0) {
		free(w);
		return r; /* libuv's errors are negative errnos on Linux */
	}
	w->poll.data = w;
	w->a = a;
	w->fd = fd;
	w->id = ++a->next_id;
	w->cb = cb;
	w->cb_data = cb_data;
	r = watch_apply(a, w, events);
	if (r < 0) {
		uv_close((uv_handle_t *)&w->poll, handle_free);
		return r;
	}
	a->watches.slot[fd] = w;
	a->n_fds++;
	return 0;
}

static int
uv_fd_mod(void *loop_data, int fd, uint32_t events)
{
	uv_watch *w = watch_find(loop_data, fd);

	if (!w)
		return -ENOENT;
	return watch_apply(loop_data, w, events);
}

static void
watch_drop(lrpc_uv *a, uv_watch *w)
{
	a->watches.slot[w->fd] = NULL;
	a->n_fds--;
	if (w->in_errset)
		errset_leave(a, w);
	uv_poll_stop(&w->poll);
	uv_close((uv_handle_t *)&w->poll, handle_free);
}

static int
uv_fd_del(void *loop_data, int fd)
{
	lrpc_uv *a = loop_data;
	uv_watch *w = watch_find(a, fd);

	if (!w)
		return -ENOENT;
	watch_drop(a, w);
	return 0;
}

static void
idle_cb(uv_idle_t *idle)
{
	lrpc_uv *a = idle->data;
	uv_job *batch = a->jobs;

	/* Only the jobs queued so far; those they queue run next time. */
	a->jobs = NULL;
	a->jobs_tail = &a->jobs;
	uv_idle_stop(idle);
	/* A job may drop the last reference to the adapter, which frees
	 * neither the batch nor this handle, so hold one. */
	a->n_ref++;
	while (batch) {
		uv_job *j = batch;

		batch = j->next;
		a->n_jobs--;
		j->cb(j->cb_data);
		free(j);
	}
	if (a->jobs && a->n_ref > 1)
		uv_idle_start(idle, idle_cb);
	lrpc_uv_unref(a);
}

static int
uv_job_add(void *loop_data, lrpc_poll_fn cb, void *cb_data)
{
	lrpc_uv *a = loop_data;
	uv_job *j;

	if (!cb)
		return -EINVAL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->cb = cb;
	j->cb_data = cb_data;
	*a->jobs_tail = j;
	a->jobs_tail = &j->next;
	a->n_jobs++;
	uv_idle_start(a->idle, idle_cb);
	return 0;
}

static void
tmr_unlink(uv_tmr *t)
{
	lrpc_uv *a = t->a;

	if (t->prev)
		t->prev->next = t->next;
	else
		a->timers = t->next;
	if (t->next)
		t->next->prev = t->prev;
	a->n_timers--;
}

static void
tmr_cb(uv_timer_t *timer)
{
	uv_tmr *t = timer->data;
	uint64_t now = mono_usec();

	/* libuv's millisecond clock can still fire a little early: wait out
	 * the rest rather than break loop.h's promise. */
	if (now < t->due) {
		uint64_t left = t->due - now;
		uv_update_time(t->a->loop);
		if (uv_timer_start(&t->timer, tmr_cb,
				   left / 1000 + (left % 1000 != 0) +
					   t->a->slack_ms,
				   0) == 0)
			return;
	}

	/* The handle is dead from now on, also inside the callback. */
	tmr_unlink(t);
	uv_close((uv_handle_t *)&t->timer, handle_free);
	t->cb(t->cb_data);
}

static int
uv_timer_add_(void *loop_data, uint64_t usec, lrpc_poll_fn cb,
	      void *cb_data, void **ret_handle)
{
	lrpc_uv *a = loop_data;
	uint64_t ms = usec / 1000 + (usec % 1000 != 0) + a->slack_ms;
	uv_tmr *t;
	int r;

	if (!cb)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	r = uv_timer_init(a->loop, &t->timer);
	if (r < 0) {
		free(t);
		return r;
	}
	t->timer.data = t;
	t->a = a;
	t->cb = cb;
	t->cb_data = cb_data;
	t->due = mono_usec() + usec;
	uv_update_time(a->loop);
	r = uv_timer_start(&t->timer, tmr_cb, ms, 0);
	if (r < 0) {
		uv_close((uv_handle_t *)&t->timer, handle_free);
		return r;
	}
	t->next = a->timers;
	if (t->next)
		t->next->prev = t;
	a->timers = t;
	a->n_timers++;
	if (ret_handle)
		*ret_handle = t;
	return 0;
}

static int
uv_timer_del(void *loop_data, void *handle)
{
	uv_tmr *t = handle;

	if (!t || t->a != loop_data)
		return -ENOENT;
	tmr_unlink(t);
	uv_timer_stop(&t->timer);
	uv_close((uv_handle_t *)&t->timer, handle_free);
	return 0;
}

static const lrpc_poll_ops uv_poll_ops = {
	.struct_size = sizeof(lrpc_poll_ops),
	.fd_add = uv_fd_add,
	.fd_mod = uv_fd_mod,
	.fd_del = uv_fd_del,
	.job_add = uv_job_add,
	.timer_add = uv_timer_add_,
	.timer_del = uv_timer_del,
};

LRPC_EXPORT const lrpc_poll_ops *
lrpc_uv_get_poll_ops(void)
{
	return &uv_poll_ops;
}

LRPC_EXPORT int
lrpc_uv_new(lrpc_uv **ret, uv_loop_t *loop)
{
	struct timespec res;
	lrpc_uv *a;
	int r;

	if (!ret || !loop)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->idle = calloc(1, sizeof(*a->idle));
	if (!a->idle) {
		free(a);
		return -ENOMEM;
	}
	r = uv_idle_init(loop, a->idle);
	if (r < 0) {
		free(a->idle);
		free(a);
		return r;
	}
	a->idle->data = a;
	a->slack_ms = 1;
	if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0)
		a->slack_ms += ((uint64_t)res.tv_sec * 1000000000u +
				(uint64_t)res.tv_nsec + 999999u) / 1000000u;
	a->errset = errset_open();
	a->errset_poll = calloc(1, sizeof(*a->errset_poll));
	if (a->errset < 0 || !a->errset_poll ||
	    uv_poll_init(loop, a->errset_poll, a->errset) < 0) {
		free(a->errset_poll);
		if (a->errset >= 0)
			close(a->errset);
		uv_close((uv_handle_t *)a->idle, handle_free);
		free(a);
		return -ENOMEM;
	}
	a->errset_poll->data = a;
	uv_poll_start(a->errset_poll, UV_READABLE, errset_cb);
	/* Only lrpc's own watches keep the loop running. */
	uv_unref((uv_handle_t *)a->errset_poll);
	a->n_ref = 1;
	a->loop = loop;
	a->jobs_tail = &a->jobs;
	*ret = a;
	return 0;
}

LRPC_EXPORT lrpc_uv *
lrpc_uv_ref(lrpc_uv *a)
{
	if (a)
		a->n_ref++;
	return a;
}

LRPC_EXPORT lrpc_uv *
lrpc_uv_unref(lrpc_uv *a)
{
	if (!a || --a->n_ref > 0)
		return NULL;
	for (size_t fd = 0; fd < a->watches.cap; fd++)
		if (a->watches.slot[fd])
			watch_drop(a, a->watches.slot[fd]);
	free(a->watches.slot);
	while (a->timers)
		uv_timer_del(a, a->timers);
	while (a->jobs) {
		uv_job *j = a->jobs;

		a->jobs = j->next;
		free(j);
	}
	uv_idle_stop(a->idle);
	uv_close((uv_handle_t *)a->idle, handle_free);
	uv_poll_stop(a->errset_poll);
	uv_close((uv_handle_t *)a->errset_poll, handle_free);
	close(a->errset);
	free(a);
	return NULL;
}

LRPC_EXPORT void
lrpc_uv_get_counts(lrpc_uv *a, unsigned *ret_fds, unsigned *ret_jobs,
		   unsigned *ret_timers)
{
	if (ret_fds)
		*ret_fds = a ? a->n_fds : 0;
	if (ret_jobs)
		*ret_jobs = a ? a->n_jobs : 0;
	if (ret_timers)
		*ret_timers = a ? a->n_timers : 0;
}
