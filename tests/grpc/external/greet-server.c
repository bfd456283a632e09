/*
 * greet-server.c - greet.Greeter under the name given as argv[1]; prints
 * "serving" once it listens and stops on SIGTERM.
 */
#include <signal.h>
#include <stdio.h>

#include "greet-server.h"

static char buf[128];

static int
greet(lrpc_rpc_call *call, void *userdata, const char *name,
      const char **ret_greeting)
{
	(void)call;
	(void)userdata;
	if (!name[0])
		return GREET_ERROR_EMPTY_NAME;
	snprintf(buf, sizeof(buf), "hello, %s", name);
	*ret_greeting = buf;
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
	static const struct greet_greeter_handlers handlers = { .greet = greet };
	lrpc_server *s = NULL;
	lrpc_loop *loop;
	int r;

	if (argc != 2 || lrpc_loop_new(&loop) < 0)
		return 2;
	r = lrpc_loop_add_signal(loop, SIGTERM, on_signal, NULL);
	if (r >= 0)
		r = lrpc_server_new(&s, argv[1], NULL, NULL, NULL);
	if (r >= 0)
		r = lrpc_server_attach_loop(s, loop);
	if (r >= 0)
		r = greet_greeter_serve(s, &handlers, NULL);
	if (r >= 0)
		r = lrpc_server_start(s);
	if (r < 0)
		return 1;
	printf("serving %s\n", argv[1]);
	fflush(stdout);
	r = lrpc_loop_run(loop);
	lrpc_server_unref(s);
	lrpc_loop_unref(loop);
	return r < 0;
}
