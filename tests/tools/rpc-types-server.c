/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A server of rt.Types (tests/integration/rpc-types.idl) for the tests of
 * the lrpc command: rpc-types-server NAME socket|shm [fds].  With "fds"
 * it serves rfd.Files (tests/integration/rpc-fds.idl) too.  Prints
 * "ready" once it listens; SIGTERM stops it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rpc-fds-server.h"
#include "rpc-types-server.h"

static int
h_echo(lrpc_rpc_call *call, void *ud, const rt_all *value, rt_all *ret_result)
{
	*ret_result = *value;
	return 0;
}

static int
h_add(lrpc_rpc_call *call, void *ud, int32_t a, int32_t b, int32_t *ret_sum)
{
	*ret_sum = a + b;
	return 0;
}

static int
h_fail(lrpc_rpc_call *call, void *ud, uint32_t code)
{
	(void)lrpc_rpc_call_set_error_message(call, "failed as asked");
	return (int)code;
}

static int
h_blob(lrpc_rpc_call *call, void *ud, lrpc_bytes data, lrpc_bytes *ret_back)
{
	*ret_back = data;
	return 0;
}

static const struct rt_types_handlers handlers = {
	.echo = h_echo,
	.add = h_add,
	.fail = h_fail,
	.blob = h_blob,
};

static int
h_open(lrpc_rpc_call *call, void *ud, const char *path, int *ret_f,
       uint64_t *ret_size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	off_t end;

	if (fd < 0)
		return -errno;
	end = lseek(fd, 0, SEEK_END);
	*ret_f = fd;
	*ret_size = end > 0 ? (uint64_t)end : 0;
	/* Closed with the call's arena, once the reply is sent. */
	return lrpc_arena_add_fd(lrpc_rpc_call_get_arena(call), fd);
}

static int
h_pass(lrpc_rpc_call *call, void *ud, rfd_fd_list fds, const int *extra,
       const rfd_handle *h, rfd_fd_list *ret_back)
{
	*ret_back = fds;
	return 0;
}

static const struct rfd_files_handlers fd_handlers = {
	.open = h_open,
	.pass = h_pass,
};

static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	stop = 1;
}

int
main(int argc, char **argv)
{
	lrpc_server_opts o = { .struct_size = sizeof(o) };
	lrpc_server *s;
	int r;

	if (argc != 3 && !(argc == 4 && strcmp(argv[3], "fds") == 0))
		return 2;
	o.transport = strcmp(argv[2], "shm") == 0 ? LRPC_TRANSPORT_SHM
						  : LRPC_TRANSPORT_SOCKET;
	signal(SIGTERM, on_term);
	signal(SIGPIPE, SIG_IGN);
	r = lrpc_server_new(&s, argv[1], NULL, &o, NULL);
	if (r == 0)
		r = rt_types_serve(s, &handlers, NULL);
	if (r == 0 && argc == 4)
		r = rfd_files_serve(s, &fd_handlers, NULL);
	if (r == 0)
		r = lrpc_server_start(s);
	if (r < 0) {
		fprintf(stderr, "rpc-types-server: %s\n", strerror(-r));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (!stop)
		(void)lrpc_server_run_once(s, 100 * 1000);
	lrpc_server_unref(s);
	return 0;
}
