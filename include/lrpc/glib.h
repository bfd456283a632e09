/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc/glib.h - lrpc_poll_ops on a GLib main context (library lrpc-glib,
 * pkg-config lrpc-glib).
 *
 *	lrpc_glib *a;
 *	lrpc_glib_new(&a, NULL);
 *	lrpc_server_set_poll(server, lrpc_glib_get_poll_ops(), a);
 *	g_main_loop_run(main_loop);
 *	...
 *	lrpc_server_close(server);
 *	lrpc_server_unref(server);
 *	(iterate the context until lrpc_glib_get_counts() reports no job)
 *	a = lrpc_glib_unref(a);
 *
 * Everything happens in the thread that runs the context; the adapter is
 * not thread-safe.
 */
#ifndef LRPC_GLIB_H
#define LRPC_GLIB_H

#include <glib.h>

#include <lrpc/loop.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lrpc_glib lrpc_glib;

/**
 * Create an adapter that attaches its sources to @context (NULL: the global
 * default context), of which it takes a reference.  On success *ret owns
 * one reference.  Errors: -ENOMEM.
 */
LRPC_EXPORT int lrpc_glib_new(lrpc_glib **ret, GMainContext *context);
/** Take a reference; returns @a. */
LRPC_EXPORT lrpc_glib *lrpc_glib_ref(lrpc_glib *a);
/**
 * Drop a reference (NULL is fine); the last one destroys every source still
 * registered, dropping queued jobs without running them, so drop it after
 * the lrpc objects using the adapter are gone and their jobs ran.  Returns
 * NULL.
 */
LRPC_EXPORT lrpc_glib *lrpc_glib_unref(lrpc_glib *a);
/** The table to pass, with the adapter as loop_data, to lrpc's set_poll. */
LRPC_EXPORT const lrpc_poll_ops *lrpc_glib_get_poll_ops(void);
/** Number of fds, jobs and timers registered now (any pointer may be NULL). */
LRPC_EXPORT void lrpc_glib_get_counts(lrpc_glib *a, unsigned *ret_fds,
				      unsigned *ret_jobs, unsigned *ret_timers);

#ifdef __cplusplus
}
#endif

#endif
