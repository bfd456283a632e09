/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc/event.h - lrpc_poll_ops on a libevent event base
 * (library lrpc-event, pkg-config lrpc-event).
 *
 *	lrpc_event *a;
 *	lrpc_event_new(&a, loop);
 *	lrpc_server_set_poll(server, lrpc_event_get_poll_ops(), a);
 *	(run the loop)
 *	...
 *	lrpc_server_close(server);
 *	lrpc_server_unref(server);
 *	(run the loop until lrpc_event_get_counts() reports no job)
 *	a = lrpc_event_unref(a);
 *
 * Everything happens in the thread that runs the loop; the adapter is not
 * thread-safe.
 */
#ifndef LRPC_EVENT_H
#define LRPC_EVENT_H

#include <event2/event.h>

#include <lrpc/loop.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lrpc_event lrpc_event;

/**
 * Create an adapter that registers its watches on @loop, which must
 * outlive it.  On success *ret owns one reference.
 * Errors: -EINVAL (@loop is NULL), -ENOMEM.
 */
LRPC_EXPORT int lrpc_event_new(lrpc_event **ret, struct event_base *loop);
/** Take a reference; returns @a. */
LRPC_EXPORT lrpc_event *lrpc_event_ref(lrpc_event *a);
/**
 * Drop a reference (NULL is fine); the last one removes every watch still
 * registered, dropping queued jobs without running them, so drop it after
 * the lrpc objects using the adapter are gone and their jobs ran.  Returns
 * NULL.
 */
LRPC_EXPORT lrpc_event *lrpc_event_unref(lrpc_event *a);
/** The table to pass, with the adapter as loop_data, to lrpc's set_poll. */
LRPC_EXPORT const lrpc_poll_ops *lrpc_event_get_poll_ops(void);
/** Number of fds, jobs and timers registered now (any pointer may be NULL). */
LRPC_EXPORT void lrpc_event_get_counts(lrpc_event *a, unsigned *ret_fds,
				       unsigned *ret_jobs, unsigned *ret_timers);

#ifdef __cplusplus
}
#endif

#endif
