/* An echo service using only lrpc's public API: answers ECHO with the same
 * bytes, SUBSCRIBE with a burst of events, QUIT by stopping. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "echo.h"

static lrpc_loop *loop;

static int
on_accept(lrpc_server *s, const lrpc_peer *peer, void *userdata)
{
	printf("server: pid %d (uid %u, gid %u) connects\n", (int)peer->pid,
	       (unsigned)peer->uid, (unsigned)peer->gid);
	return 0;
}

static void
on_created(lrpc_conn *c, void *userdata)
{
	lrpc_peer peer;

	if (lrpc_conn_get_peer(c, &peer) == 0)
		printf("server: connection from pid %d ready\n",
		       (int)peer.pid);
}

static int
on_closed(lrpc_conn *c, void *userdata)
{
	lrpc_peer peer;

	if (lrpc_conn_get_peer(c, &peer) == 0)
		printf("server: pid %d went away\n", (int)peer.pid);
	return 0;
}

static int
on_echo(lrpc_conn *c, const lrpc_msg_header *msg, size_t size, void *ud)
{
	return lrpc_conn_send_response(c, msg, size);
}

static int
on_subscribe(lrpc_conn *c, const lrpc_msg_header *msg, size_t size, void *ud)
{
	const struct echo_subscribe *sub = (const void *)msg;
	lrpc_msg_header ok = { .size = sizeof(ok), .id = msg->id };
	int r;

	if (size < sizeof(*sub))
		return -EINVAL;
	r = lrpc_conn_send_response(c, &ok, sizeof(ok));
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < sub->n_events; i++) {
		struct echo_event ev = {
			.hdr = { .size = sizeof(ev), .id = ECHO_MSG_SUBSCRIBE },
			.seq = i,
		};
		r = lrpc_conn_send_event(c, &ev, sizeof(ev));
		if (r < 0)
			return 0; /* the client stopped reading: enough */
	}
	return 0;
}

static int
on_quit(lrpc_conn *c, const lrpc_msg_header *msg, size_t size, void *ud)
{
	lrpc_msg_header ok = { .size = sizeof(ok), .id = msg->id };

	lrpc_loop_quit(loop);
	return lrpc_conn_send_response(c, &ok, sizeof(ok));
}

static void
on_signal(lrpc_loop *l, int signo, void *userdata)
{
	lrpc_loop_quit(l);
}

int
main(void)
{
	lrpc_server_callbacks cb = {
		.struct_size = sizeof(cb),
		.accept = on_accept,
		.created = on_created,
		.closed = on_closed,
	};
	lrpc_server *s = NULL;
	int r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	r = lrpc_loop_new(&loop);
	if (r < 0)
		goto fail;
	lrpc_loop_add_signal(loop, SIGTERM, on_signal, NULL);
	lrpc_loop_add_signal(loop, SIGINT, on_signal, NULL);
	r = lrpc_server_new(&s, ECHO_SERVICE, &cb, /* opts= */ NULL, NULL);
	if (r < 0)
		goto fail;
	if ((r = lrpc_server_attach_loop(s, loop)) < 0 ||
	    (r = lrpc_server_add_handler(s, ECHO_MSG_ECHO, on_echo, NULL)) < 0 ||
	    (r = lrpc_server_add_handler(s, ECHO_MSG_SUBSCRIBE, on_subscribe,
					 NULL)) < 0 ||
	    (r = lrpc_server_add_handler(s, ECHO_MSG_QUIT, on_quit, NULL)) < 0 ||
	    (r = lrpc_server_start(s)) < 0)
		goto fail;
	printf("server: serving '%s' over %s\n", ECHO_SERVICE,
	       lrpc_transport_name(lrpc_server_get_transport(s)));
	r = lrpc_loop_run(loop);
	printf("server: stopping\n");
	lrpc_server_unref(s);
	lrpc_loop_unref(loop);
	return r < 0 ? 1 : 0;
fail:
	fprintf(stderr, "echo-server: %s\n", strerror(-r));
	lrpc_server_unref(s);
	lrpc_loop_unref(loop);
	return 1;
}
