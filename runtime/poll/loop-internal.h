/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The loop object, shared by the files that make up lrpc_loop:
 *
 *   loop-epoll.c   lifetime, run/run_once/quit, the epoll set and dispatch
 *   loop-fd.c      the table of user fd watches
 *   loop-timer.c   the timer heap and the timerfd
 *   loop-job.c     the job queue and its eventfd
 *   loop-signal.c  signals through a signalfd
 *   loop-ops.c     lrpc_loop behind the lrpc_poll_ops seam
 *
 * loop-epoll.c explains the design.  Only loop-epoll.c talks to epoll;
 * the other files register their fds through lrpc__loop_watch_*().
 */
#ifndef LRPC_RUNTIME_LOOP_INTERNAL_H
#define LRPC_RUNTIME_LOOP_INTERNAL_H

#include <signal.h>

#include <lrpc/loop.h>

#include "util.h"

/* The end of the timer free list (lrpc_loop.timer_free). */
#define LOOP_TIMER_NONE UINT32_MAX

/* Private to the file named on each. */
typedef struct loop_fd loop_fd;       /* loop-fd.c */
typedef struct loop_timer loop_timer; /* loop-timer.c */
typedef struct loop_job loop_job;     /* loop-job.c */

typedef struct loop_signal {
	lrpc_signal_fn cb;
	void *userdata;
} loop_signal;

struct lrpc_loop {
	unsigned n_ref;
	pid_t origin_pid;
	bool quit;

	int epoll_fd;
	int timer_fd;
	int event_fd;
	int signal_fd; /* -1 until the first lrpc_loop_add_signal() */

	/* fd watches, indexed by fd. */
	loop_fd *fds;
	size_t n_fds;
	uint32_t fd_gen;

	/*
	 * Timers: slots hold the timers and never move a live timer to
	 * another index, the heap holds slot indices ordered by (deadline,
	 * seq).  Both arrays have timer_cap entries.
	 */
	loop_timer *timers;
	uint32_t *heap;
	size_t timer_cap;
	size_t n_heap;
	uint32_t timer_free; /* free slot list head, or LOOP_TIMER_NONE */
	uint64_t timer_seq;
	bool timer_armed;
	uint64_t timer_armed_at;

	/* Jobs: FIFO; the eventfd is readable while this is non-empty. */
	loop_job *jobs_head;
	loop_job *jobs_tail;

	sigset_t sigmask;
	loop_signal signals[_NSIG];
};

static inline bool
lrpc__loop_origin_changed(const lrpc_loop *l)
{
	/* epoll sets and signalfds are shared with the parent after fork();
	 * touching them from the child would steal the parent's events. */
	return l->origin_pid != lrpc__getpid();
}

/* Read and discard an eventfd/timerfd counter; nothing to read is fine. */
static inline void
lrpc__loop_drain(int fd)
{
	uint64_t v;

	(void)!read(fd, &v, sizeof(v));
}

/* ---- loop-epoll.c: the epoll set --------------------------------------- */

/*
 * Watch @fd for @events (LRPC_POLL_*) under generation @gen, which comes
 * back with each event.  Generation 0 marks the loop's own fds (timerfd,
 * eventfd, signalfd); user watches never have it.  Returns 0 or the
 * -errno of epoll_ctl().
 */
int lrpc__loop_watch_add(lrpc_loop *l, int fd, uint32_t events, uint32_t gen);
/* Change what @fd is watched for and its generation; as above. */
int lrpc__loop_watch_mod(lrpc_loop *l, int fd, uint32_t events, uint32_t gen);
/* Stop watching @fd.  Returns 0 or the -errno of epoll_ctl(). */
int lrpc__loop_watch_del(lrpc_loop *l, int fd);

/* ---- loop-fd.c --------------------------------------------------------- */

/*
 * Run the callback of the watch on @fd for @revents (LRPC_POLL_*), if the
 * watch still has generation @gen.  Returns the number of callbacks run.
 */
int lrpc__loop_fd_dispatch(lrpc_loop *l, int fd, uint32_t gen,
			   uint32_t revents);

/* ---- loop-timer.c ------------------------------------------------------ */

/* The timerfd is readable: consume it and have the timer phase re-arm it. */
void lrpc__loop_timerfd_fired(lrpc_loop *l);
/*
 * Run the expired timers, adding each one run to *@count, and re-arm the
 * timerfd.  Returns 0 or the -errno of timerfd_settime().
 */
int lrpc__loop_timers_dispatch(lrpc_loop *l, int *count);

/* ---- loop-job.c -------------------------------------------------------- */

/* Run the jobs queued so far; returns how many ran. */
int lrpc__loop_jobs_dispatch(lrpc_loop *l);
/* Free the queued jobs without running them. */
void lrpc__loop_jobs_done(lrpc_loop *l);

/* ---- loop-signal.c ----------------------------------------------------- */

/* Read the signalfd and run the handlers; returns how many ran. */
int lrpc__loop_signals_dispatch(lrpc_loop *l);

#endif
