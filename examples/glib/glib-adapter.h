/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * glib-adapter.h - drive lrpc objects from a GLib main context.
 *
 * An lrpc_glib turns lrpc's poll operations (lrpc/loop.h) into GSources on
 * one GMainContext: a source per watched fd, a one-shot source per job and
 * per timer.  Use it as
 *
 *	lrpc_glib *a = lrpc_glib_new(NULL);
 *	lrpc_server_set_poll(server, lrpc_glib_get_poll_ops(), a);
 *	...
 *	g_main_loop_run(main_loop);
 *	lrpc_server_close(server);
 *	lrpc_glib_drain(a, 1000);
 *	lrpc_server_unref(server);
 *	lrpc_glib_free(a);
 *
 * Everything happens in the thread that runs the context; the adapter is
 * not thread-safe.  This file is meant to be copied into applications.
 */
#ifndef LRPC_GLIB_ADAPTER_H
#define LRPC_GLIB_ADAPTER_H

#include <glib.h>

#include <lrpc/lrpc.h>

typedef struct lrpc_glib lrpc_glib;

/*
 * Create an adapter attaching its sources to @context (NULL: the global
 * default context).  Takes a reference on the context.  Returns NULL only
 * if GLib cannot allocate, which GLib treats as fatal anyway.
 */
lrpc_glib *lrpc_glib_new(GMainContext *context);

/*
 * Destroy every source still registered and free the adapter.  Call it
 * after the lrpc objects using the adapter are gone; jobs still queued
 * then are dropped without running (see lrpc_glib_drain()).
 */
void lrpc_glib_free(lrpc_glib *a);

/* The ops table to pass, with the adapter as loop_data, to lrpc. */
const lrpc_poll_ops *lrpc_glib_get_poll_ops(void);

/*
 * Run the context until no job queued through the adapter is left, or
 * @timeout_ms passed.  lrpc keeps objects alive until their jobs ran, so
 * call this after closing a server and before dropping it.  Returns the
 * number of jobs still queued (0 when done).
 */
unsigned lrpc_glib_drain(lrpc_glib *a, int timeout_ms);

/* Number of fds, jobs and timers registered now (for tests). */
void lrpc_glib_get_counts(lrpc_glib *a, unsigned *ret_fds,
			  unsigned *ret_jobs, unsigned *ret_timers);

#endif
