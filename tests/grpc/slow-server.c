/*
 * slow-server.c - kv.Store under the name given as argv[1] for the gRPC
 * gateway's tests: get of a key starting with "slow" is kept (deferred)
 * and never answered, and when its caller gives up the abandon handler
 * prints "abandoned <key> <reason>" on stdout; every other get fails with
 * NOT_FOUND.  The other methods are not served.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lrpc/lrpc.h>

#include "kv-server.h"

static void
on_abandon(lrpc_rpc_call *call, void *userdata)
{
	char *key = userdata;

	printf("abandoned %s %s\n", key,
	       strerror(-lrpc_rpc_call_get_abandon_reason(call)));
	fflush(stdout);
	free(key);
	kv_store_get_reply_error(call, -ECANCELED);
}

static int
on_get(lrpc_rpc_call *call, void *userdata, const char *key,
       kv_entry *ret_entry)
{
	char *copy;

	(void)userdata;
	(void)ret_entry;
	if (strncmp(key, "slow", 4) != 0)
		return KV_ERROR_NOT_FOUND;
	copy = strdup(key);
	if (!copy)
		return -ENOMEM;
	lrpc_rpc_call_set_abandon_handler(call, on_abandon, copy);
	printf("holding %s\n", key);
	fflush(stdout);
	return LRPC_RPC_LATER;
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
	static const struct kv_store_handlers handlers = { .get = on_get };
	lrpc_server *server = NULL;
	lrpc_loop *loop;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: slow-server NAME\n");
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
		r = kv_store_serve(server, &handlers, NULL);
	if (r >= 0)
		r = lrpc_server_start(server);
	if (r < 0) {
		fprintf(stderr, "slow-server: %s\n", strerror(-r));
		return 1;
	}
	printf("serving %s\n", argv[1]);
	fflush(stdout);
	r = lrpc_loop_run(loop);
	lrpc_server_unref(server);
	lrpc_loop_unref(loop);
	return r < 0;
}
