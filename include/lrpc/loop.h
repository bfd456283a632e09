/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc/loop.h - the poll abstraction and the built-in event loop.
 *
 * lrpc never owns the loop.  A server, a client or an RPC client is driven
 * in one of two ways, with the same names on each (x = server, client,
 * rpc_client):
 *
 *  - push style: lrpc_x_set_poll(x, ops, loop_data) with an lrpc_poll_ops
 *    table and a pointer to your loop (or lrpc_x_attach_loop(x, loop) for an
 *    lrpc_loop); lrpc registers its fds, jobs and timers through the table.
 *    Installed adapters give the table for GLib, libuv, libevent and
 *    sd-event (lrpc/glib.h, lrpc/uv.h, lrpc/event.h, lrpc/sdevent.h).
 *  - pull style: ask for one fd (lrpc_x_get_fd()) and its events
 *    (lrpc_x_get_events()), poll it in your loop and call lrpc_x_process()
 *    when it is ready or the timeout from lrpc_x_get_timeout() expires.
 *
 * lrpc_loop is the built-in epoll loop and the default for both.
 */
#ifndef LRPC_LOOP_H
#define LRPC_LOOP_H

#include <stdint.h>
#include <lrpc/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Event bits for the poll ops: the values of poll(2)'s POLLIN etc. */
#define LRPC_POLL_IN 0x001u
#define LRPC_POLL_OUT 0x004u
#define LRPC_POLL_ERR 0x008u
#define LRPC_POLL_HUP 0x010u

/** Called when a watched fd is ready; @revents holds LRPC_POLL_* bits. */
typedef void (*lrpc_poll_fd_fn)(int fd, uint32_t revents, void *cb_data);
/** Called for a job or an expired timer. */
typedef void (*lrpc_poll_fn)(void *cb_data);

/**
 * Operations lrpc needs from an event loop.  The table is const and owned by
 * the caller; lrpc keeps a pointer to it, never a copy, so it must outlive
 * every object using it.  Start it with .struct_size = sizeof(lrpc_poll_ops)
 * so later versions can grow it.  Every member is required.  All calls come
 * from the thread that drives the loop.  Every member returns 0 or a negative
 * errno.
 *
 * Jobs cannot be cancelled: lrpc keeps whatever a job's cb_data points to
 * alive (it holds a reference) until the job has run, so a loop must run
 * every job it accepted, or the objects it belongs to are never freed.
 * Times are on CLOCK_MONOTONIC.
 */
typedef struct lrpc_poll_ops {
	size_t struct_size;
	/**
	 * Watch @fd for @events (LRPC_POLL_IN and/or LRPC_POLL_OUT, or 0 for
	 * errors only; ERR and HUP are always reported).  Level-triggered:
	 * @cb runs on every iteration while the condition holds.  -EEXIST if
	 * @fd is already watched.
	 */
	int (*fd_add)(void *loop_data, int fd, uint32_t events,
		      lrpc_poll_fd_fn cb, void *cb_data);
	/** Change the events of a watched fd; its callback stays. */
	int (*fd_mod)(void *loop_data, int fd, uint32_t events);
	/**
	 * Stop watching @fd.  After return the callback is never called again
	 * for it, even if an event for it was already collected.
	 */
	int (*fd_del)(void *loop_data, int fd);
	/** Run @cb once, soon, from the loop (never from inside job_add). */
	int (*job_add)(void *loop_data, lrpc_poll_fn cb, void *cb_data);
	/**
	 * Run @cb once after @usec microseconds.  *ret_handle (if
	 * @ret_handle is not NULL) identifies the timer for timer_del.  lrpc
	 * never passes a handle to timer_del after its timer fired, so an
	 * adapter may free its bookkeeping when the timer fires.
	 */
	int (*timer_add)(void *loop_data, uint64_t usec, lrpc_poll_fn cb,
			 void *cb_data, void **ret_handle);
	/** Cancel a timer that has not fired yet.  -ENOENT if unknown. */
	int (*timer_del)(void *loop_data, void *handle);
} lrpc_poll_ops;

/** The built-in epoll event loop (epoll + timerfd + jobs + signalfd). */
typedef struct lrpc_loop lrpc_loop;

/** Called when a signal registered with lrpc_loop_add_signal() arrives. */
typedef void (*lrpc_signal_fn)(lrpc_loop *loop, int signo, void *userdata);

/**
 * Create a loop.  On success *ret owns one reference.
 * Errors: -ENOMEM, or the errno of epoll_create1()/timerfd_create().
 */
LRPC_EXPORT int lrpc_loop_new(lrpc_loop **ret);
/** Take a reference; returns @loop. */
LRPC_EXPORT lrpc_loop *lrpc_loop_ref(lrpc_loop *loop);
/** Drop a reference (NULL is fine); frees on the last one; returns NULL. */
LRPC_EXPORT lrpc_loop *lrpc_loop_unref(lrpc_loop *loop);

/**
 * The poll ops of lrpc_loop, to pass with the loop pointer as loop_data to
 * anything that takes an lrpc_poll_ops table.
 */
LRPC_EXPORT const lrpc_poll_ops *lrpc_loop_get_poll_ops(void);

/**
 * Run until lrpc_loop_quit().  Returns 0, or a negative errno if epoll_wait
 * fails with something other than EINTR.
 */
LRPC_EXPORT int lrpc_loop_run(lrpc_loop *loop);
/**
 * Wait at most @timeout_usec (0: do not wait, LRPC_TIMEOUT_INFINITE:
 * forever) and dispatch what is ready.  Returns the number of callbacks run
 * (0 on timeout) or a negative errno.
 */
LRPC_EXPORT int lrpc_loop_run_once(lrpc_loop *loop, uint64_t timeout_usec);
/** Make lrpc_loop_run() return after the current iteration. */
LRPC_EXPORT void lrpc_loop_quit(lrpc_loop *loop);
/** The epoll fd: readable when lrpc_loop_run_once(loop, 0) has work. */
LRPC_EXPORT int lrpc_loop_get_fd(lrpc_loop *loop);

/* Direct use of the loop, same contracts as the poll ops above. */
LRPC_EXPORT int lrpc_loop_add_fd(lrpc_loop *loop, int fd, uint32_t events,
				 lrpc_poll_fd_fn cb, void *cb_data);
LRPC_EXPORT int lrpc_loop_mod_fd(lrpc_loop *loop, int fd, uint32_t events);
LRPC_EXPORT int lrpc_loop_del_fd(lrpc_loop *loop, int fd);
LRPC_EXPORT int lrpc_loop_add_job(lrpc_loop *loop, lrpc_poll_fn cb,
				  void *cb_data);
LRPC_EXPORT int lrpc_loop_add_timer(lrpc_loop *loop, uint64_t usec,
				    lrpc_poll_fn cb, void *cb_data,
				    void **ret_handle);
LRPC_EXPORT int lrpc_loop_del_timer(lrpc_loop *loop, void *handle);

/**
 * Deliver @signo through the loop (signalfd).  The signal is blocked in the
 * calling thread; block it in every other thread yourself (before creating
 * them) or it may be delivered there instead.  It stays blocked after the
 * loop is freed.  A signal set to SIG_IGN never arrives.  One callback per
 * signal: -EEXIST if @signo already has one, -EINVAL for SIGKILL/SIGSTOP.
 *
 * Threading: an lrpc_loop and everything added to it belong to one thread;
 * there is no call to wake it from another thread (use an fd of your own,
 * such as an eventfd, for that).  Calls from a forked child return -ECHILD.
 */
LRPC_EXPORT int lrpc_loop_add_signal(lrpc_loop *loop, int signo,
				     lrpc_signal_fn cb, void *userdata);

#ifdef __cplusplus
}
#endif

#endif
