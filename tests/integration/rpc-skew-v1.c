/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The version-1 peer of test-rpc.c's skew tests, built from
 * skew-v1/rpc-skew.idl.  "server NAME TRANSPORT" serves version 1 until SIGTERM;
 * "client NAME TRANSPORT" checks a version-2 server from the old side and exits 0
 * when everything held.  Built from skew-bad/rpc-skew.idl, a diverging fork,
 * "diverging-client NAME TRANSPORT" checks that its calls are refused with
 * the first difference named.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rpc-skew-client.h"
#include "rpc-skew-server.h"

#define CHECK(x)                                                            \
	do {                                                                \
		if (!(x)) {                                                 \
			fprintf(stderr, "rpc-skew-v1: %s:%d: %s\n", __FILE__, \
				__LINE__, #x);                              \
			return 1;                                           \
		}                                                           \
	} while (0)

static int
h_put(lrpc_rpc_call *call, void *ud, const skew_item *item,
      skew_item *ret_echoed)
{
	*ret_echoed = *item;
	return 0;
}

static int
h_old(lrpc_rpc_call *call, void *ud, uint32_t x, uint32_t *ret_y)
{
	*ret_y = x + 1;
	return 0;
}

static int
h_find(lrpc_rpc_call *call, void *ud, const char *name, uint32_t *ret_count)
{
	*ret_count = 7;
	return 0;
}

static int
h_paint(lrpc_rpc_call *call, void *ud, skew_color color, skew_color *ret_was)
{
	*ret_was = color;
	return 0;
}

static int
h_draw(lrpc_rpc_call *call, void *ud, const skew_shape *shape,
       skew_shape *ret_drawn)
{
	*ret_drawn = *shape;
	return 0;
}

static const struct skew_evolving_handlers handlers = {
	.put = h_put,
	.find = h_find,
	.paint = h_paint,
	.draw = h_draw,
	.old = h_old,
};

static void
on_signal(lrpc_loop *loop, int signo, void *ud)
{
	lrpc_loop_quit(loop);
}

static lrpc_transport transport;

static int
run_server(const char *name)
{
	lrpc_server_opts opts = { .struct_size = sizeof(opts),
				  .transport = transport };
	lrpc_loop *loop;
	lrpc_server *s;

	CHECK(lrpc_loop_new(&loop) == 0);
	CHECK(lrpc_loop_add_signal(loop, SIGTERM, on_signal, NULL) == 0);
	CHECK(lrpc_server_new(&s, name, NULL, &opts, NULL) == 0);
	CHECK(lrpc_server_attach_loop(s, loop) == 0);
	CHECK(skew_evolving_serve(s, &handlers, NULL) == 0);
	CHECK(lrpc_server_start(s) == 0);
	CHECK(lrpc_loop_run(loop) >= 0);
	lrpc_server_unref(s);
	lrpc_loop_unref(loop);
	return 0;
}

/* Connect to @name, retrying while the server starts; NULL on failure. */
static lrpc_client *
connect_retry(const char *name)
{
	lrpc_client_opts opts = { .struct_size = sizeof(opts),
				  .transport = transport };
	lrpc_client *c = NULL;
	int r = -1;

	for (int i = 0; i < 200 && r < 0; i++) {
		r = lrpc_client_new(&c, name, &opts);
		if (r < 0)
			usleep(10000);
	}
	return r == 0 ? c : NULL;
}

static unsigned notes;

static void
on_note(void *ud, const char *text)
{
	notes++;
}

static int
run_client(const char *name)
{
	static const struct skew_evolving_events ev = { .note = on_note };
	lrpc_client *c = NULL;
	lrpc_rpc_client *rc;
	skew_item item = { .name = "old", .legacy = 99 }, back;
	lrpc_arena arena;

	c = connect_retry(name);
	CHECK(c);
	CHECK(lrpc_rpc_client_new(&rc, c) == 0);
	CHECK(skew_evolving_listen(rc, &ev, NULL) == 0);
	lrpc_arena_init(&arena, NULL, 0, LRPC_ARENA_UNLIMITED);
	/* Version 1 both speak. */
	CHECK(lrpc_rpc_client_negotiate(rc, &skew_evolving__interface,
					 LRPC_TIMEOUT_DEFAULT) == 1);
	/* The v2 server sets "weight" (v2 only): this decoder skips it. */
	CHECK(skew_evolving_put(rc, &item, &back, &arena, LRPC_TIMEOUT_DEFAULT,
				NULL) == 0);
	CHECK(strcmp(back.name, "old") == 0);
	/* The v2 server retired "legacy": it reads it, drops it, and sends
	 * the default back. */
	CHECK(back.legacy == 0);
	uint32_t y = 0;
	CHECK(skew_evolving_old(rc, 1, &y, LRPC_TIMEOUT_DEFAULT, NULL) == 0);
	CHECK(y == 101); /* the v2 server answers x + 100 */
	for (int i = 0; i < 50 && notes == 0; i++)
		lrpc_rpc_client_run_once(rc, 100 * LRPC_USEC_PER_MSEC);
	CHECK(notes == 1);

	/* The v2 server answers BLUE, which this side would reject: the
	 * server refuses to send it and says why, at once. */
	lrpc_rpc_error err;
	skew_color was = SKEW_COLOR_RED;
	CHECK(skew_evolving_paint(rc, SKEW_COLOR_GREEN, &was,
				  LRPC_TIMEOUT_DEFAULT,
				  &err) == -EPROTONOSUPPORT);
	CHECK(strstr(err.message, "was: BLUE of skew.Color is @since(2)"));
	/* The server saw the default of the parameter this side lacks. */
	uint32_t count = 0;
	CHECK(skew_evolving_find(rc, "x", &count, LRPC_TIMEOUT_DEFAULT,
				 NULL) == 0);
	CHECK(count == 1);
	skew_shape shape = { .tag = SKEW_SHAPE_CIRCLE, .u.circle = 3 }, drawn;
	CHECK(skew_evolving_draw(rc, &shape, &drawn, LRPC_TIMEOUT_DEFAULT,
				 NULL) == 0);
	CHECK(drawn.tag == SKEW_SHAPE_CIRCLE && drawn.u.circle == 3);
	lrpc_arena_done(&arena);
	lrpc_rpc_client_unref(rc);
	lrpc_client_unref(c);
	return 0;
}

static int
run_diverging_client(const char *name)
{
	lrpc_client *c = NULL;
	lrpc_rpc_client *rc;
	skew_item item = { .name = "fork" }, back;
	lrpc_rpc_error err;
	lrpc_arena arena;

	c = connect_retry(name);
	CHECK(c);
	CHECK(lrpc_rpc_client_new(&rc, c) == 0);
	lrpc_arena_init(&arena, NULL, 0, LRPC_ARENA_UNLIMITED);
	/* Refused at the negotiation, with the place of the difference;
	 * and again, at once, by every later call. */
	for (int i = 0; i < 2; i++) {
		CHECK(skew_evolving_put(rc, &item, &back, &arena,
					LRPC_TIMEOUT_DEFAULT,
					&err) == -EPROTO);
		CHECK(strstr(err.message, "skew.Evolving version 1 differs "
					  "from the server's at line 2 "
					  "(method put)"));
	}
	lrpc_arena_done(&arena);
	lrpc_rpc_client_unref(rc);
	lrpc_client_unref(c);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	transport = (lrpc_transport)atoi(argv[3]);
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(argv[1], "server") == 0)
		return run_server(argv[2]);
	if (strcmp(argv[1], "client") == 0)
		return run_client(argv[2]);
	if (strcmp(argv[1], "diverging-client") == 0)
		return run_diverging_client(argv[2]);
	return 2;
}
