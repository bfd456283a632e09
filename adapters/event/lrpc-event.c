/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc-event: lrpc_poll_ops on a libevent event base.
 *
 * fds: one persistent struct event each, found by fd in a table indexed by
 * fd.  libevent polls level-triggered unless asked for EV_ET, and
 * event_del() also takes an event off the active queue, so a deleted fd's
 * callback never runs after fd_del, even if it was already ready in this
 * iteration.  Changing the events is event_del(), event_assign() and
 * event_add() again, which libevent allows inside the event's own
 * callback.
 *
 * Hang-ups: libevent's epoll backend turns EPOLLHUP and EPOLLERR into
 * EV_READ|EV_WRITE and reports them only to an event that asked for one of
 * those, so a watch for errors only (events 0) goes to an epoll set of
 * the adapter's own instead (errset.h).  EV_CLOSED is not a way out: it is EPOLLRDHUP, which a socket whose own reading side was
 * shut down (lrpc's event sockets) reports for ever.
 *
 * Jobs: events with no fd added with a zero timeout, so that they run in
 * the next iteration, after the fds polled: a job that queues another
 * cannot starve the fds.  Timers: one event each with its timeout.  A
 * timer's handle
 * is its record, freed when it fires or is deleted (lrpc never deletes a
 * timer that fired).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lrpc/event.h>

#include "../errset.h"
#include "../fdtable.h"
#include "../monotonic.h"

typedef struct ev_watch {
	struct event *ev;
	lrpc_event *a;
	int fd;
	uint32_t id;
	bool in_errset; /* events 0: watched in the adapter's epoll set */
	lrpc_poll_fd_fn cb;
	void *cb_data;
} ev_watch;

/* A job or a timer: a one-shot event on a list of its kind. */
typedef struct ev_once {
	struct event *ev;
	lrpc_event *a;
	struct ev_once *prev, *next;
	struct ev_once **head;
	unsigned *count;
	lrpc_poll_fn cb;
	void *cb_data;
	uint64_t due; /* timers: CLOCK_MONOTONIC µs, never fire before */
} ev_once;

struct lrpc_event {
	unsigned n_ref;
	struct event_base *base;
	fdtable watches; /* ev_watch * by fd */
	unsigned n_fds;
	uint32_t next_id;
	int errset;                /* epoll set of the watches for errors only */
	struct event *errset_ev;
	ev_once *jobs, *timers;
	unsigned n_jobs, n_timers;
	uint64_t coarse_usec; /* resolution of CLOCK_MONOTONIC_COARSE */
};

static short
to_ev(uint32_t events)
{
	short ev = EV_PERSIST;

	if (events & LRPC_POLL_IN)
		ev |= EV_READ;
	if (events & LRPC_POLL_OUT)
		ev |= EV_WRITE;
	return ev;
}

static void
watch_cb(evutil_socket_t fd, short what, void *arg)
{
	ev_watch *w = arg;
	uint32_t ev = 0;

	if (what & EV_READ)
		ev |= LRPC_POLL_IN;
	if (what & EV_WRITE)
		ev |= LRPC_POLL_OUT;
	if (ev)
		w->cb(w->fd, ev, w->cb_data);
}

/* Watch @w for @events: in libevent, or for errors only in the adapter's
 * set.  @w->ev is not added on entry. */
static int
watch_apply(lrpc_event *a, ev_watch *w, uint32_t events)
{
	int r;

	if (events & (LRPC_POLL_IN | LRPC_POLL_OUT)) {
		if (w->in_errset)
			errset_del(a->errset, w->fd);
		w->in_errset = false;
		if (event_assign(w->ev, a->base, w->fd, to_ev(events),
				 watch_cb, w) < 0 ||
		    event_add(w->ev, NULL) < 0)
			return -EINVAL;
		return 0;
	}
	if (w->in_errset)
		return 0;
	r = errset_add(a->errset, w->fd, w->id);
	if (r == 0)
		w->in_errset = true;
	return r;
}

static ev_watch *
watch_find(lrpc_event *a, int fd)
{
	return fdtable_get(&a->watches, fd);
}

static void
errset_cb(evutil_socket_t fd_, short what, void *arg)
{
	lrpc_event *a = arg;
	struct epoll_event evs[ERRSET_BATCH];
	int n = errset_collect(a->errset, evs);

	for (int i = 0; i < n; i++) {
		int fd = errset_fd(&evs[i]);
		ev_watch *w = watch_find(a, fd);

		/* Deleted, replaced or moved out since it was collected. */
		if (!w || w->id != errset_id(&evs[i]) || !w->in_errset)
			continue;
		w->cb(fd, errset_revents(&evs[i]), w->cb_data);
	}
}

static int
event_fd_add(void *loop_data, int fd, uint32_t events, lrpc_poll_fd_fn cb,
	     void *cb_data)
{
	lrpc_event *a = loop_data;
	ev_watch *w;
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
	w->a = a;
	w->fd = fd;
	w->id = ++a->next_id;
	w->cb = cb;
	w->cb_data = cb_data;
	w->ev = event_new(a->base, fd, to_ev(events), watch_cb, w);
	if (!w->ev) {
		free(w);
		return -ENOMEM;
	}
	r = watch_apply(a, w, events);
	if (r < 0) {
		event_free(w->ev);
		free(w);
		return r;
	}
	a->watches.slot[fd] = w;
	a->n_fds++;
	return 0;
}

static int
event_fd_mod(void *loop_data, int fd, uint32_t events)
{
	lrpc_event *a = loop_data;
	ev_watch *w = watch_find(a, fd);

	if (!w)
		return -ENOENT;
	event_del(w->ev);
	return watch_apply(a, w, events);
}

static void
watch_drop(lrpc_event *a, ev_watch *w)
{
	a->watches.slot[w->fd] = NULL;
	a->n_fds--;
	if (w->in_errset)
		errset_del(a->errset, w->fd);
	event_free(w->ev);
	free(w);
}

static int
event_fd_del(void *loop_data, int fd)
{
	lrpc_event *a = loop_data;
	ev_watch *w = watch_find(a, fd);

	if (!w)
		return -ENOENT;
	watch_drop(a, w);
	return 0;
}

static void
once_unlink(ev_once *o)
{
	if (o->prev)
		o->prev->next = o->next;
	else
		*o->head = o->next;
	if (o->next)
		o->next->prev = o->prev;
	(*o->count)--;
	event_free(o->ev);
}

static void
once_cb(evutil_socket_t fd, short what, void *arg)
{
	ev_once *o = arg;
	lrpc_poll_fn cb = o->cb;
	void *cb_data = o->cb_data;
	uint64_t now = o->due ? mono_usec() : 0;

	/* libevent's cached, possibly coarse clock can still fire a little
	 * early: wait out the rest rather than break loop.h's promise. */
	if (now < o->due) {
		uint64_t left = o->due - now + o->a->coarse_usec;
		struct timeval tv = { .tv_sec = (time_t)(left / 1000000),
				      .tv_usec = (suseconds_t)(left % 1000000) };
		event_base_update_cache_time(o->a->base);
		if (event_add(o->ev, &tv) == 0)
			return;
	}

	/* Gone before the callback runs, which may drop the adapter. */
	once_unlink(o);
	free(o);
	cb(cb_data);
}

static int
once_add(lrpc_event *a, ev_once **head, unsigned *count, uint64_t usec,
	 lrpc_poll_fn cb, void *cb_data, ev_once **ret)
{
	struct timeval tv;
	ev_once *o;

	if (!cb)
		return -EINVAL;
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	/* libevent counts from the time it cached when the iteration began,
	 * on a clock that may be CLOCK_MONOTONIC_COARSE: refresh the cache
	 * and add the coarse clock's resolution, so as never to fire early. */
	if (usec > 0) {
		o->due = mono_usec() + usec;
		event_base_update_cache_time(a->base);
		usec += a->coarse_usec;
	}
	tv.tv_sec = (time_t)(usec / 1000000);
	tv.tv_usec = (suseconds_t)(usec % 1000000);
	o->ev = event_new(a->base, -1, 0, once_cb, o);
	if (!o->ev || event_add(o->ev, &tv) < 0) {
		if (o->ev)
			event_free(o->ev);
		free(o);
		return -ENOMEM;
	}
	o->a = a;
	o->cb = cb;
	o->cb_data = cb_data;
	o->head = head;
	o->count = count;
	o->next = *head;
	if (o->next)
		o->next->prev = o;
	*head = o;
	(*count)++;
	*ret = o;
	return 0;
}

static int
event_job_add(void *loop_data, lrpc_poll_fn cb, void *cb_data)
{
	lrpc_event *a = loop_data;
	ev_once *o;

	return once_add(a, &a->jobs, &a->n_jobs, 0, cb, cb_data, &o);
}

static int
event_timer_add(void *loop_data, uint64_t usec, lrpc_poll_fn cb,
		void *cb_data, void **ret_handle)
{
	lrpc_event *a = loop_data;
	ev_once *o;
	int r;

	r = once_add(a, &a->timers, &a->n_timers, usec, cb, cb_data, &o);
	if (r == 0 && ret_handle)
		*ret_handle = o;
	return r;
}

static int
event_timer_del(void *loop_data, void *handle)
{
	ev_once *o = handle;

	if (!o || o->a != loop_data)
		return -ENOENT;
	once_unlink(o);
	free(o);
	return 0;
}

static const lrpc_poll_ops event_poll_ops = {
	.struct_size = sizeof(lrpc_poll_ops),
	.fd_add = event_fd_add,
	.fd_mod = event_fd_mod,
	.fd_del = event_fd_del,
	.job_add = event_job_add,
	.timer_add = event_timer_add,
	.timer_del = event_timer_del,
};

LRPC_EXPORT const lrpc_poll_ops *
lrpc_event_get_poll_ops(void)
{
	return &event_poll_ops;
}

LRPC_EXPORT int
lrpc_event_new(lrpc_event **ret, struct event_base *base)
{
	struct timespec res;
	lrpc_event *a;

	if (!ret || !base)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->n_ref = 1;
	a->base = base;
	a->errset = errset_open();
	if (a->errset >= 0)
		a->errset_ev = event_new(base, a->errset, EV_READ | EV_PERSIST,
					 errset_cb, a);
	if (!a->errset_ev || event_add(a->errset_ev, NULL) < 0) {
		if (a->errset_ev)
			event_free(a->errset_ev);
		if (a->errset >= 0)
			close(a->errset);
		free(a);
		return -ENOMEM;
	}
	if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0)
		a->coarse_usec = (uint64_t)res.tv_sec * 1000000u +
				 ((uint64_t)res.tv_nsec + 999u) / 1000u;
	*ret = a;
	return 0;
}

LRPC_EXPORT lrpc_event *
lrpc_event_ref(lrpc_event *a)
{
	if (a)
		a->n_ref++;
	return a;
}

LRPC_EXPORT lrpc_event *
lrpc_event_unref(lrpc_event *a)
{
	if (!a || --a->n_ref > 0)
		return NULL;
	for (size_t fd = 0; fd < a->watches.cap; fd++)
		if (a->watches.slot[fd])
			watch_drop(a, a->watches.slot[fd]);
	free(a->watches.slot);
	while (a->timers)
		event_timer_del(a, a->timers);
	while (a->jobs) {
		ev_once *o = a->jobs;

		once_unlink(o);
		free(o);
	}
	event_free(a->errset_ev);
	close(a->errset);
	free(a);
	return NULL;
}

LRPC_EXPORT void
lrpc_event_get_counts(lrpc_event *a, unsigned *ret_fds, unsigned *ret_jobs,
		      unsigned *ret_timers)
{
	if (ret_fds)
		*ret_fds = a ? a->n_fds : 0;
	if (ret_jobs)
		*ret_jobs = a ? a->n_jobs : 0;
	if (ret_timers)
		*ret_timers = a ? a->n_timers : 0;
}
