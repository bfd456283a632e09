/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc-sdevent: lrpc_poll_ops on a systemd sd-event loop.
 *
 * fds: one I/O event source each, found by fd in a table indexed by fd.
 * sd-event polls level-triggered (no EPOLLET is asked for) and reports
 * EPOLLERR and EPOLLHUP whatever was asked for, which is what
 * lrpc_poll_ops promises; a source disabled and released is never
 * dispatched again, even if it was already pending, which is the fd_del
 * contract.
 *
 * Jobs: one-shot defer sources.  Timers: one-shot CLOCK_MONOTONIC time
 * sources with an accuracy of 1 µs (sd-event's default, 250 ms, would
 * let lrpc's deadlines drift).  A timer's handle is its record, freed when
 * it fires or is deleted (lrpc never deletes a timer that fired).  sd-event
 * dispatches one source per iteration, highest priority first; every
 * source here has the default priority.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <lrpc/sdevent.h>

#include "../fdtable.h"

typedef struct sd_watch {
	sd_event_source *src;
	int fd;
	lrpc_poll_fd_fn cb;
	void *cb_data;
} sd_watch;

/* A job or a timer: a one-shot source on a list of its kind. */
typedef struct sd_once {
	sd_event_source *src;
	lrpc_sdevent *a;
	struct sd_once *prev, *next;
	struct sd_once **head;
	unsigned *count;
	lrpc_poll_fn cb;
	void *cb_data;
} sd_once;

struct lrpc_sdevent {
	unsigned n_ref;
	sd_event *event;
	fdtable watches; /* sd_watch * by fd */
	unsigned n_fds;
	sd_once *jobs, *timers;
	unsigned n_jobs, n_timers;
};

static uint32_t
to_epoll(uint32_t events)
{
	uint32_t ev = 0;

	if (events & LRPC_POLL_IN)
		ev |= EPOLLIN;
	if (events & LRPC_POLL_OUT)
		ev |= EPOLLOUT;
	return ev;
}

static int
watch_cb(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	sd_watch *w = userdata;
	uint32_t ev = 0;

	if (revents & EPOLLIN)
		ev |= LRPC_POLL_IN;
	if (revents & EPOLLOUT)
		ev |= LRPC_POLL_OUT;
	if (revents & EPOLLERR)
		ev |= LRPC_POLL_ERR;
	if (revents & EPOLLHUP)
		ev |= LRPC_POLL_HUP;
	if (ev)
		w->cb(w->fd, ev, w->cb_data);
	/* Never an error: sd-event would disable the source. */
	return 0;
}

static sd_watch *
watch_find(lrpc_sdevent *a, int fd)
{
	return fdtable_get(&a->watches, fd);
}

static int
sd_fd_add(void *loop_data, int fd, uint32_t events, lrpc_poll_fd_fn cb,
	  void *cb_data)
{
	lrpc_sdevent *a = loop_data;
	sd_watch *w;
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
	w->fd = fd;
	w->cb = cb;
	w->cb_data = cb_data;
	r = sd_event_add_io(a->event, &w->src, fd, to_epoll(events), watch_cb,
			    w);
	if (r < 0) {
		free(w);
		return r;
	}
	a->watches.slot[fd] = w;
	a->n_fds++;
	return 0;
}

static int
sd_fd_mod(void *loop_data, int fd, uint32_t events)
{
	sd_watch *w = watch_find(loop_data, fd);

	if (!w)
		return -ENOENT;
	return sd_event_source_set_io_events(w->src, to_epoll(events));
}

static void
watch_drop(lrpc_sdevent *a, sd_watch *w)
{
	a->watches.slot[w->fd] = NULL;
	a->n_fds--;
	sd_event_source_disable_unref(w->src);
	free(w);
}

static int
sd_fd_del(void *loop_data, int fd)
{
	lrpc_sdevent *a = loop_data;
	sd_watch *w = watch_find(a, fd);

	if (!w)
		return -ENOENT;
	watch_drop(a, w);
	return 0;
}

static void
once_drop(sd_once *o)
{
	if (o->prev)
		o->prev->next = o->next;
	else
		*o->head = o->next;
	if (o->next)
		o->next->prev = o->prev;
	(*o->count)--;
	sd_event_source_disable_unref(o->src);
	free(o);
}

static void
once_fire(sd_once *o)
{
	lrpc_poll_fn cb = o->cb;
	void *cb_data = o->cb_data;

	/* Gone before the callback runs, which may drop the adapter. */
	once_drop(o);
	cb(cb_data);
}

static int
job_cb(sd_event_source *s, void *userdata)
{
	once_fire(userdata);
	return 0;
}

static int
timer_cb(sd_event_source *s, uint64_t usec, void *userdata)
{
	once_fire(userdata);
	return 0;
}

static sd_once *
once_new(lrpc_sdevent *a, sd_once **head, unsigned *count, lrpc_poll_fn cb,
	 void *cb_data)
{
	sd_once *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->a = a;
	o->cb = cb;
	o->cb_data = cb_data;
	o->head = head;
	o->count = count;
	return o;
}

static void
once_link(sd_once *o)
{
	o->next = *o->head;
	if (o->next)
		o->next->prev = o;
	*o->head = o;
	(*o->count)++;
}

static int
sd_job_add(void *loop_data, lrpc_poll_fn cb, void *cb_data)
{
	lrpc_sdevent *a = loop_data;
	sd_once *o;
	int r;

	if (!cb)
		return -EINVAL;
	o = once_new(a, &a->jobs, &a->n_jobs, cb, cb_data);
	if (!o)
		return -ENOMEM;
	r = sd_event_add_defer(a->event, &o->src, job_cb, o);
	if (r >= 0)
		r = sd_event_source_set_enabled(o->src, SD_EVENT_ONESHOT);
	if (r < 0) {
		sd_event_source_disable_unref(o->src);
		free(o);
		return r;
	}
	once_link(o);
	return 0;
}

static int
sd_timer_add(void *loop_data, uint64_t usec, lrpc_poll_fn cb, void *cb_data,
	     void **ret_handle)
{
	lrpc_sdevent *a = loop_data;
	sd_once *o;
	int r;

	if (!cb)
		return -EINVAL;
	o = once_new(a, &a->timers, &a->n_timers, cb, cb_data);
	if (!o)
		return -ENOMEM;
	r = sd_event_add_time_relative(a->event, &o->src, CLOCK_MONOTONIC,
				       usec, 1, timer_cb, o);
	if (r < 0) {
		free(o);
		return r;
	}
	once_link(o);
	if (ret_handle)
		*ret_handle = o;
	return 0;
}

static int
sd_timer_del(void *loop_data, void *handle)
{
	sd_once *o = handle;

	if (!o || o->a != loop_data)
		return -ENOENT;
	once_drop(o);
	return 0;
}

static const lrpc_poll_ops sdevent_poll_ops = {
	.struct_size = sizeof(lrpc_poll_ops),
	.fd_add = sd_fd_add,
	.fd_mod = sd_fd_mod,
	.fd_del = sd_fd_del,
	.job_add = sd_job_add,
	.timer_add = sd_timer_add,
	.timer_del = sd_timer_del,
};

LRPC_EXPORT const lrpc_poll_ops *
lrpc_sdevent_get_poll_ops(void)
{
	return &sdevent_poll_ops;
}

LRPC_EXPORT int
lrpc_sdevent_new(lrpc_sdevent **ret, sd_event *event)
{
	lrpc_sdevent *a;

	if (!ret || !event)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->n_ref = 1;
	a->event = sd_event_ref(event);
	*ret = a;
	return 0;
}

LRPC_EXPORT lrpc_sdevent *
lrpc_sdevent_ref(lrpc_sdevent *a)
{
	if (a)
		a->n_ref++;
	return a;
}

LRPC_EXPORT lrpc_sdevent *
lrpc_sdevent_unref(lrpc_sdevent *a)
{
	if (!a || --a->n_ref > 0)
		return NULL;
	for (size_t fd = 0; fd < a->watches.cap; fd++)
		if (a->watches.slot[fd])
			watch_drop(a, a->watches.slot[fd]);
	free(a->watches.slot);
	while (a->timers)
		once_drop(a->timers);
	while (a->jobs)
		once_drop(a->jobs);
	sd_event_unref(a->event);
	free(a);
	return NULL;
}

LRPC_EXPORT void
lrpc_sdevent_get_counts(lrpc_sdevent *a, unsigned *ret_fds,
			unsigned *ret_jobs, unsigned *ret_timers)
{
	if (ret_fds)
		*ret_fds = a ? a->n_fds : 0;
	if (ret_jobs)
		*ret_jobs = a ? a->n_jobs : 0;
	if (ret_timers)
		*ret_timers = a ? a->n_timers : 0;
}
