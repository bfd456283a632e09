/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Serve hello.Greeter in a child process and call it from the parent. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hello-client.h"
#include "hello-server.h"

static char buf[128];

static int
greet(lrpc_rpc_call *call, void *userdata, const char *name,
      const char **ret_greeting)
{
	(void)call;
	(void)userdata;
	if (!name[0])
		return HELLO_ERROR_EMPTY_NAME;
	snprintf(buf, sizeof(buf), "hello, %s", name);
	*ret_greeting = buf;
	return 0;
}

static const struct hello_greeter_handlers handlers = { .greet = greet };

static int
serve(const char *name)
{
	lrpc_server *s;

	if (lrpc_server_new(&s, name, NULL, NULL, NULL) < 0 ||
	    hello_greeter_serve(s, &handlers, NULL) < 0 ||
	    lrpc_server_start(s) < 0)
		return 1;
	for (;;)
		lrpc_server_run_once(s, 1000 * LRPC_USEC_PER_MSEC);
}

int
main(void)
{
	char name[64];
	lrpc_client *c = NULL;
	lrpc_rpc_client *rc;
	lrpc_arena arena;
	const char *greeting;
	int r = -1, status;

	snprintf(name, sizeof(name), "lrpc-external-%d", (int)getpid());
	pid_t pid = fork();
	if (pid == 0)
		_exit(serve(name));
	for (int i = 0; i < 200 && r < 0; i++) {
		r = lrpc_client_new(&c, name, NULL);
		if (r < 0)
			nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	}
	if (r < 0 || lrpc_rpc_client_new(&rc, c) < 0)
		return 1;
	lrpc_arena_init(&arena, NULL, 0, LRPC_ARENA_UNLIMITED);
	r = hello_greeter_greet(rc, "world", &greeting, &arena,
				LRPC_TIMEOUT_DEFAULT, NULL);
	printf("greet(world): %d %s\n", r, r == 0 ? greeting : "");
	status = r == 0 && strcmp(greeting, "hello, world") == 0 ? 0 : 1;
	r = hello_greeter_greet(rc, "", &greeting, &arena,
				LRPC_TIMEOUT_DEFAULT, NULL);
	printf("greet(): %d\n", r);
	if (r != HELLO_ERROR_EMPTY_NAME)
		status = 1;
	lrpc_arena_done(&arena);
	lrpc_rpc_client_unref(rc);
	lrpc_client_unref(c);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return status;
}
