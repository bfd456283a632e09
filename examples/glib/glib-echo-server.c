/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The echo service (examples/echo/echo.h) under a GLib main loop, through
 * the installed adapter lrpc-glib (lrpc/glib.h): ECHO answers with the same bytes,
 * SUBSCRIBE with an empty response and a burst of events, QUIT stops.
 *
 * Usage: glib-echo-server [NAME [TRANSPORT [HANDSHAKE_TIMEOUT_MS]]]
 * with TRANSPORT one of best (the default), socket, shm.
 *
 * Exits 0 after QUIT, SIGTERM or SIGINT if every connection was destroyed,
 * 1 otherwise.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib-unix.h>
#include <glib.h>

#include "../echo/echo.h"
#include <lrpc/glib.h>

static GMainLoop *main_loop;
/* Connections created and not destroyed yet; event bursts in progress. */
static unsigned live_conns, live_bursts;


/* Iterate the default context until no job queued through @a is left (lrpc
 * keeps objects alive until their jobs ran), or @timeout_ms passed.
 * Returns the number of jobs still queued. */
static unsigned
drain(lrpc_glib *a, int timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	unsigned n_jobs;

	for (;;) {
		lrpc_glib_get_counts(a, NULL, &n_jobs, NULL);
		if (n_jobs == 0 || g_get_monotonic_time() >= deadline)
			return n_jobs;
		g_main_context_iteration(NULL, FALSE);
	}
}

static void
on_created(lrpc_conn *c, void *userdata)
{
	/* Marks the connection as counted in live_conns. */
	lrpc_conn_set_userdata(c, c);
	live_conns++;
}

static void
on_destroyed(lrpc_conn *c, void *userdata)
{
	/* A peer gone before its welcome was accepted (destroyed runs) but
	 * never created. */
	if (lrpc_conn_get_userdata(c) == c)
		live_conns--;
}

static int
on_echo(lrpc_conn *c, const lrpc_msg_header *msg, size_t size, void *ud)
{
	return lrpc_conn_send_response(c, msg, size);
}

/* Events the socket and the server's queue cannot take yet are sent from
 * a GLib timeout, a little later: the loop never blocks on a client. */
struct burst {
	lrpc_conn *conn;
	uint32_t next, n;
};

static gboolean
burst_continue(gpointer data)
{
	struct burst *b = data;

	while (b->next < b->n && lrpc_conn_is_connected(b->conn)) {
		struct echo_event ev = {
			.hdr = { .size = sizeof(ev), .id = ECHO_MSG_SUBSCRIBE },
			.seq = b->next,
		};
		int r = lrpc_conn_send_event(b->conn, &ev, sizeof(ev));
		if (r == -EAGAIN)
			return G_SOURCE_CONTINUE;
		if (r < 0)
			break;
		b->next++;
	}
	lrpc_conn_unref(b->conn);
	g_free(b);
	live_bursts--;
	return G_SOURCE_REMOVE;
}

static int
on_subscribe(lrpc_conn *c, const lrpc_msg_header *msg, size_t size, void *ud)
{
	const struct echo_subscribe *sub = (const void *)msg;
	lrpc_msg_header ok = { .size = sizeof(ok), .id = msg->id };
	struct burst *b;
	int r;

	if (size < sizeof(*sub))
		return -EINVAL;
	r = lrpc_conn_send_response(c, &ok, sizeof(ok));
	if (r < 0)
		return r;
	b = g_new0(struct burst, 1);
	b->conn = lrpc_conn_ref(c);
	b->n = sub->n_events;
	live_bursts++;
	if (burst_continue(b) == G_SOURCE_CONTINUE)
		g_timeout_add(1, burst_continue, b);
	return 0;
}

static int
on_quit(lrpc_conn *c, const lrpc_msg_header *msg, size_t size, void *ud)
{
	lrpc_msg_header ok = { .size = sizeof(ok), .id = msg->id };

	g_main_loop_quit(main_loop);
	return lrpc_conn_send_response(c, &ok, sizeof(ok));
}

static gboolean
on_signal(gpointer data)
{
	g_main_loop_quit(main_loop);
	return G_SOURCE_CONTINUE;
}

static int
parse_transport(const char *text, lrpc_transport *ret)
{
	for (int t = 0; t < _LRPC_TRANSPORT_MAX; t++) {
		const char *tn = lrpc_transport_name((lrpc_transport)t);
		if (tn && strcmp(tn, text) == 0) {
			*ret = (lrpc_transport)t;
			return 0;
		}
	}
	return -EINVAL;
}

int
main(int argc, char **argv)
{
	lrpc_server_callbacks cb = {
		.struct_size = sizeof(cb),
		.created = on_created,
		.destroyed = on_destroyed,
	};
	lrpc_server_opts opts = { .struct_size = sizeof(opts) };
	const char *name = argc > 1 ? argv[1] : ECHO_SERVICE;
	lrpc_server *s = NULL;
	lrpc_glib *a;
	int r;

	if (argc > 2 && parse_transport(argv[2], &opts.transport) < 0) {
		fprintf(stderr, "glib-echo-server: unknown transport '%s'\n",
			argv[2]);
		return 2;
	}
	if (argc > 3)
		opts.handshake_timeout_usec =
			(uint64_t)strtoul(argv[3], NULL, 10) * LRPC_USEC_PER_MSEC;
	setvbuf(stdout, NULL, _IOLBF, 0);
	main_loop = g_main_loop_new(NULL, FALSE);
	if (lrpc_glib_new(&a, NULL) < 0)
		return 1;
	g_unix_signal_add(SIGTERM, on_signal, NULL);
	g_unix_signal_add(SIGINT, on_signal, NULL);

	r = lrpc_server_new(&s, name, &cb, &opts, NULL);
	if (r < 0)
		goto fail;
	if ((r = lrpc_server_set_poll(s, lrpc_glib_get_poll_ops(), a)) < 0 ||
	    (r = lrpc_server_add_handler(s, ECHO_MSG_ECHO, on_echo, NULL)) < 0 ||
	    (r = lrpc_server_add_handler(s, ECHO_MSG_SUBSCRIBE, on_subscribe,
					 NULL)) < 0 ||
	    (r = lrpc_server_add_handler(s, ECHO_MSG_QUIT, on_quit, NULL)) < 0 ||
	    (r = lrpc_server_start(s)) < 0)
		goto fail;
	printf("glib-echo-server: serving '%s' over %s\n", name,
	       lrpc_transport_name(lrpc_server_get_transport(s)));

	g_main_loop_run(main_loop);

	/* Close, then let the jobs and bursts that still hold connections
	 * run, so that every connection is destroyed before we check. */
	lrpc_server_close(s);
	for (int i = 0; i < 100 && (drain(a, 10) > 0 || live_bursts);
	     i++)
		g_main_context_iteration(NULL, FALSE);
	s = lrpc_server_unref(s);
	drain(a, 1000);
	unsigned n_fds, n_jobs, n_timers;
	lrpc_glib_get_counts(a, &n_fds, &n_jobs, &n_timers);
	a = lrpc_glib_unref(a);
	g_main_loop_unref(main_loop);
	printf("glib-echo-server: stopped (%u connections, %u fds, %u jobs, "
	       "%u timers left)\n",
	       live_conns, n_fds, n_jobs, n_timers);
	return live_conns == 0 && n_fds == 0 && n_jobs == 0 && n_timers == 0
		       ? 0
		       : 1;
fail:
	fprintf(stderr, "glib-echo-server: %s\n", strerror(-r));
	lrpc_server_unref(s);
	a = lrpc_glib_unref(a);
	g_main_loop_unref(main_loop);
	return 1;
}
