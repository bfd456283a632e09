/*
 * feed-server.c - feed.Feed under the name given as argv[1] for the gRPC
 * gateway's stream tests: count sends as the client's window allows (its
 * writable handler), hold sends its items, prints "holding <n> left
 * <ms> ms" (the time the caller has left, or "left none") and then keeps
 * the stream open until the caller gives up, when the abandon handler
 * prints "abandoned <reason>"; forever sends as the window allows until
 * the caller gives up ("abandoned <reason> sent <items>").
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lrpc/lrpc.h>

#include "feed-server.h"

struct counting {
	uint32_t next, n;
	bool fail;
};

static void
gone(lrpc_rpc_call *call, void *userdata)
{
	printf("abandoned %s\n",
	       strerror(-lrpc_rpc_call_get_abandon_reason(call)));
	fflush(stdout);
	free(userdata);
	/* Frees the stream. */
	lrpc_rpc_stream_end(lrpc_rpc_call_get_stream(call));
}

static void
pump(lrpc_rpc_stream *s, void *userdata)
{
	struct counting *c = userdata;
	char text[32];

	for (; c->next < c->n; c->next++) {
		snprintf(text, sizeof(text), "item %u", c->next);
		int r = feed_count_send(s, c->next, text);
		if (r == -EAGAIN)
			return;
		if (r < 0)
			return;   /* nobody reads: the abandon handler ends it */
	}
	lrpc_rpc_call_set_abandon_handler(lrpc_rpc_stream_get_call(s), NULL,
					  NULL);
	if (c->fail) {
		lrpc_rpc_call_set_error_message(lrpc_rpc_stream_get_call(s),
						"stopped on request");
		feed_count_fail(s, FEED_ERROR_STOPPED);
	} else {
		feed_count_end(s);
	}
	free(c);
}

static int
on_count(lrpc_rpc_stream *s, void *userdata, uint32_t n, bool fail)
{
	struct counting *c = calloc(1, sizeof(*c));

	(void)userdata;
	if (!c)
		return -ENOMEM;
	c->n = n;
	c->fail = fail;
	lrpc_rpc_stream_set_writable_handler(s, pump, c);
	lrpc_rpc_call_set_abandon_handler(lrpc_rpc_stream_get_call(s), gone,
					  c);
	pump(s, c);
	return 0;
}

static int
on_hold(lrpc_rpc_stream *s, void *userdata, uint32_t n)
{
	lrpc_rpc_call *call = lrpc_rpc_stream_get_call(s);
	uint64_t left = LRPC_TIMEOUT_INFINITE;

	(void)userdata;
	for (uint32_t i = 0; i < n; i++)
		if (feed_hold_send(s, i) < 0)
			break;
	lrpc_rpc_call_set_abandon_handler(call, gone, NULL);
	(void)lrpc_rpc_call_get_time_left(call, &left);
	if (left == LRPC_TIMEOUT_INFINITE)
		printf("holding %u left none\n", n);
	else
		printf("holding %u left %llu ms\n", n,
		       (unsigned long long)(left / LRPC_USEC_PER_MSEC));
	fflush(stdout);
	return 0;
}

struct flooding {
	uint32_t sent;
	uint8_t *data;
	uint32_t size;
};

static void
flood_gone(lrpc_rpc_call *call, void *userdata)
{
	struct flooding *f = userdata;

	printf("abandoned %s sent %u\n",
	       strerror(-lrpc_rpc_call_get_abandon_reason(call)), f->sent);
	fflush(stdout);
	free(f->data);
	free(f);
	lrpc_rpc_stream_end(lrpc_rpc_call_get_stream(call));
}

static void
flood(lrpc_rpc_stream *s, void *userdata)
{
	struct flooding *f = userdata;
	lrpc_bytes b = { f->data, f->size };

	while (feed_forever_send(s, f->sent, b) == 0)
		f->sent++;
}

static int
on_forever(lrpc_rpc_stream *s, void *userdata, uint32_t size)
{
	struct flooding *f = calloc(1, sizeof(*f));

	(void)userdata;
	if (!f)
		return -ENOMEM;
	if (size > 65536)
		return -EINVAL;
	f->size = size;
	f->data = calloc(1, size ? size : 1);
	if (!f->data) {
		free(f);
		return -ENOMEM;
	}
	lrpc_rpc_stream_set_writable_handler(s, flood, f);
	lrpc_rpc_call_set_abandon_handler(lrpc_rpc_stream_get_call(s),
					  flood_gone, f);
	flood(s, f);
	return 0;
}

static void
on_signal(lrpc_loop *loop, int signo, void *userdata)
{
	(void)signo;
	(void)userdata;
	lrpc_loop_quit(loop);
}

int
main(int argc, char **argv)
{
	static const struct feed_handlers handlers = {
		.count = on_count,
		.hold = on_hold,
		.forever = on_forever,
	};
	lrpc_server *server = NULL;
	lrpc_loop *loop;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: feed-server NAME\n");
		return 2;
	}
	r = lrpc_loop_new(&loop);
	if (r < 0)
		return 1;
	r = lrpc_loop_add_signal(loop, SIGTERM, on_signal, NULL);
	if (r >= 0)
		r = lrpc_server_new(&server, argv[1], NULL, NULL, NULL);
	if (r >= 0)
		r = lrpc_server_attach_loop(server, loop);
	if (r >= 0)
		r = feed_serve(server, &handlers, NULL);
	if (r >= 0)
		r = lrpc_server_start(server);
	if (r < 0) {
		fprintf(stderr, "feed-server: %s\n", strerror(-r));
		return 1;
	}
	printf("serving %s\n", argv[1]);
	fflush(stdout);
	r = lrpc_loop_run(loop);
	lrpc_server_unref(server);
	lrpc_loop_unref(loop);
	return r < 0;
}
