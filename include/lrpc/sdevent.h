/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc/sdevent.h - lrpc_poll_ops on a sd-event loop
 * (library lrpc-sdevent, pkg-config lrpc-sdevent).
 *
 *	lrpc_sdevent *a;
 *	lrpc_sdevent_new(&a, loop);
 *	lrpc_server_set_poll(server, lrpc_sdevent_get_poll_ops(), a);
 *	(run the loop)
 *	...
 *	lrpc_server_close(server);
 *	lrpc_server_unref(server);
 *	(run the loop until lrpc_sdevent_get_counts() reports no job)
 *	a = lrpc_sdevent_unref(a);
 *
 * Everything happens in the thread that runs the loop; the adapter is not
 * thread-safe.
 */
#ifndef LRPC_SDEVENT_H
#define LRPC_SDEVENT_H

#include <systemd/sd-event.h>

#include <lrpc/loop.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lrpc_sdevent lrpc_sdevent;

/**
 * Create an adapter that registers its sources on @loop, of which it takes
 * a reference.  On success *ret owns one reference.
 * Errors: -EINVAL (@loop is NULL), -ENOMEM.
 */
LRPC_EXPORT int lrpc_sdevent_new(lrpc_sdevent **ret, sd_event *loop);
/** Take a reference; returns @a. */
LRPC_EXPORT lrpc_sdevent *lrpc_sdevent_ref(lrpc_sdevent *a);
/**
 * Drop a reference (NULL is fine); the last one removes every watch still
 * registered, dropping queued jobs without running them, so drop it after
 * the lrpc objects using the adapter are gone and their jobs ran.  Returns
 * NULL.
 */
LRPC_EXPORT lrpc_sdevent *lrpc_sdevent_unref(lrpc_sdevent *a);
/** The table to pass, with the adapter as loop_data, to lrpc's set_poll. */
LRPC_EXPORT const lrpc_poll_ops *lrpc_sdevent_get_poll_ops(void);
/** Number of fds, jobs and timers registered now (any pointer may be NULL). */
LRPC_EXPORT void lrpc_sdevent_get_counts(lrpc_sdevent *a, unsigned *ret_fds,
					 unsigned *ret_jobs, unsigned *ret_timers);

#ifdef __cplusplus
}
#endif

#endif
