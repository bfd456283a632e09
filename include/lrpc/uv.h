/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc/uv.h - lrpc_poll_ops on a libuv loop
 * (library lrpc-uv, pkg-config lrpc-uv).
 *
 *	lrpc_uv *a;
 *	lrpc_uv_new(&a, loop);
 *	lrpc_server_set_poll(server, lrpc_uv_get_poll_ops(), a);
 *	(run the loop)
 *	...
 *	lrpc_server_close(server);
 *	lrpc_server_unref(server);
 *	(run the loop until lrpc_uv_get_counts() reports no job)
 *	a = lrpc_uv_unref(a);
 *
 * uv_poll_init() puts every fd watched in non-blocking mode (lrpc's own
 * fds already are).  Everything happens in the thread that runs the loop; the adapter is not
 * thread-safe.
 */
#ifndef LRPC_UV_H
#define LRPC_UV_H

#include <uv.h>

#include <lrpc/loop.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lrpc_uv lrpc_uv;

/**
 * Create an adapter that registers its watches on @loop, which must
 * outlive it.  On success *ret owns one reference.
 * Errors: -EINVAL (@loop is NULL), -ENOMEM.
 */
LRPC_EXPORT int lrpc_uv_new(lrpc_uv **ret, uv_loop_t *loop);
/** Take a reference; returns @a. */
LRPC_EXPORT lrpc_uv *lrpc_uv_ref(lrpc_uv *a);
/**
 * Drop a reference (NULL is fine); the last one removes every watch still
 * registered, dropping queued jobs without running them, so drop it after
 * the lrpc objects using the adapter are gone and their jobs ran.  The
 * libuv handles it closes are freed by the loop's next iteration (run it
 * before uv_loop_close()).  Returns NULL.
 */
LRPC_EXPORT lrpc_uv *lrpc_uv_unref(lrpc_uv *a);
/** The table to pass, with the adapter as loop_data, to lrpc's set_poll. */
LRPC_EXPORT const lrpc_poll_ops *lrpc_uv_get_poll_ops(void);
/** Number of fds, jobs and timers registered now (any pointer may be NULL). */
LRPC_EXPORT void lrpc_uv_get_counts(lrpc_uv *a, unsigned *ret_fds,
				    unsigned *ret_jobs, unsigned *ret_timers);

#ifdef __cplusplus
}
#endif

#endif
