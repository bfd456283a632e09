/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An echo client (examples/echo/echo.h) under a GLib main loop, through the
 * installed adapter lrpc-glib (lrpc/glib.h): it connects without blocking, subscribes to a
 * burst of events, checks an echo, and stops -- every step driven by the
 * loop (the connect callback, the response and event handlers, the closed
 * handler); nothing here blocks.
 *
 * Usage: glib-echo-client [NAME [TRANSPORT [N_EVENTS]]]
 *
 * Exits 0 if everything arrived in order and the adapter was left with no
 * fd, job or timer, 1 otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "../echo/echo.h"
#include <lrpc/glib.h>

typedef enum step {
	STEP_CONNECTING,
	STEP_SUBSCRIBED, /* waiting for the subscribe response and events */
	STEP_ECHOED,     /* waiting for the echo response */
	STEP_DONE,
	STEP_FAILED,
} step;

typedef struct app {
	GMainLoop *main_loop;
	step step;
	uint32_t n_events, events;
	bool subscribe_answered;
	int error;
} app;

static const char echo_text[] = "hello from GLib";


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
app_fail(app *a, const char *what, int error)
{
	fprintf(stderr, "glib-echo-client: %s: %s\n", what, strerror(-error));
	a->step = STEP_FAILED;
	a->error = error;
	g_main_loop_quit(a->main_loop);
}

static void
send_echo(lrpc_client *c, app *a)
{
	struct {
		lrpc_msg_header hdr;
		char text[sizeof(echo_text)];
	} req = { .hdr = { .size = sizeof(req), .id = ECHO_MSG_ECHO } };
	int r;

	memcpy(req.text, echo_text, sizeof(echo_text));
	a->step = STEP_ECHOED;
	r = lrpc_client_send(c, &req, sizeof(req));
	if (r < 0)
		app_fail(a, "echo", r);
}

static void
maybe_echo(lrpc_client *c, app *a)
{
	if (a->step == STEP_SUBSCRIBED && a->subscribe_answered &&
	    a->events == a->n_events)
		send_echo(c, a);
}

static void
on_event(lrpc_client *c, const lrpc_msg_header *msg, size_t size, void *ud)
{
	app *a = ud;
	struct echo_event ev;

	if (size != sizeof(ev)) {
		app_fail(a, "event size", -EBADMSG);
		return;
	}
	memcpy(&ev, msg, sizeof(ev));
	if (ev.seq != a->events) {
		app_fail(a, "event order", -EBADMSG);
		return;
	}
	a->events++;
	maybe_echo(c, a);
}

static void
on_response(lrpc_client *c, const lrpc_msg_header *msg, size_t size,
	    void *ud)
{
	app *a = ud;

	if (msg->error < 0) {
		app_fail(a, "response", msg->error);
		return;
	}
	if (a->step == STEP_SUBSCRIBED && msg->id == ECHO_MSG_SUBSCRIBE) {
		a->subscribe_answered = true;
		maybe_echo(c, a);
	} else if (a->step == STEP_ECHOED && msg->id == ECHO_MSG_ECHO &&
		   size == sizeof(*msg) + sizeof(echo_text) &&
		   memcmp(msg + 1, echo_text, sizeof(echo_text)) == 0) {
		a->step = STEP_DONE;
		g_main_loop_quit(a->main_loop);
	} else {
		app_fail(a, "unexpected response", -EBADMSG);
	}
}

static void
on_closed(lrpc_client *c, int reason, void *ud)
{
	app *a = ud;

	if (a->step != STEP_DONE)
		app_fail(a, "connection closed", reason);
}

static void
on_connected(lrpc_client *c, int status, void *ud)
{
	app *a = ud;
	struct echo_subscribe sub = {
		.hdr = { .size = sizeof(sub), .id = ECHO_MSG_SUBSCRIBE },
		.n_events = a->n_events,
	};
	int r;

	if (status < 0) {
		app_fail(a, "connect", status);
		return;
	}
	printf("glib-echo-client: connected over %s\n",
	       lrpc_transport_name(lrpc_client_get_transport(c)));
	lrpc_client_set_event_handler(c, on_event, a);
	lrpc_client_set_response_handler(c, on_response, a);
	lrpc_client_set_closed_handler(c, on_closed, a);
	a->step = STEP_SUBSCRIBED;
	r = lrpc_client_send(c, &sub, sizeof(sub));
	if (r < 0)
		app_fail(a, "subscribe", r);
}

static gboolean
on_timeout(gpointer ud)
{
	app_fail(ud, "timed out", -ETIMEDOUT);
	return G_SOURCE_REMOVE;
}

static int
parse_transport(const char *s, lrpc_transport *ret)
{
	for (int t = 0; t < _LRPC_TRANSPORT_MAX; t++) {
		const char *tn = lrpc_transport_name((lrpc_transport)t);
		if (tn && strcmp(tn, s) == 0) {
			*ret = (lrpc_transport)t;
			return 0;
		}
	}
	return -EINVAL;
}

int
main(int argc, char **argv)
{
	lrpc_client_opts opts = { .struct_size = sizeof(opts) };
	const char *name = argc > 1 ? argv[1] : ECHO_SERVICE;
	app a = { .n_events = argc > 3 ? (uint32_t)atoi(argv[3]) : 100 };
	lrpc_client *c = NULL;
	unsigned n_fds, n_jobs, n_timers;
	lrpc_glib *ad;
	int r;

	if (argc > 2 && parse_transport(argv[2], &opts.transport) < 0) {
		fprintf(stderr, "glib-echo-client: unknown transport '%s'\n",
			argv[2]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	a.main_loop = g_main_loop_new(NULL, FALSE);
	if (lrpc_glib_new(&ad, NULL) < 0)
		return 1;
	r = lrpc_client_new_async(&c, name, &opts, on_connected, &a);
	if (r < 0) {
		fprintf(stderr, "glib-echo-client: connect: %s\n",
			strerror(-r));
		goto out;
	}
	r = lrpc_client_set_poll(c, lrpc_glib_get_poll_ops(), ad);
	if (r < 0) {
		fprintf(stderr, "glib-echo-client: set_poll: %s\n",
			strerror(-r));
		goto out;
	}
	guint timeout = g_timeout_add(10000, on_timeout, &a);
	g_main_loop_run(a.main_loop);
	if (a.step != STEP_FAILED)
		g_source_remove(timeout);
	printf("glib-echo-client: %u events, %s\n", a.events,
	       a.step == STEP_DONE ? "echo checked" : "failed");
out:
	/* Closing takes the client's fds and timers out of the loop; the
	 * jobs it queued hold references until they ran. */
	lrpc_client_close(c);
	c = lrpc_client_unref(c);
	drain(ad, 1000);
	lrpc_glib_get_counts(ad, &n_fds, &n_jobs, &n_timers);
	ad = lrpc_glib_unref(ad);
	g_main_loop_unref(a.main_loop);
	if (n_fds || n_jobs || n_timers)
		fprintf(stderr, "glib-echo-client: left in the loop: %u fds, "
				"%u jobs, %u timers\n",
			n_fds, n_jobs, n_timers);
	return a.step == STEP_DONE && !n_fds && !n_jobs && !n_timers ? 0 : 1;
}
