/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Waiting for a service that is not there yet (lrpc_client_opts.wait_usec),
 * with abstract names (bounded retries) and with filesystem sockets
 * (inotify on the runtime directory).  Filesystem mode is switched on
 * through LRPC_FORCE_FS_FILE and LRPC_RUNTIME_DIR before anything is
 * forked, as in test-naming.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* --- Filesystem mode --- */

static struct fs_env {
	bool on;
	char run_dir[64];
	char etc_dir[64];
	char force[96];
} fs;

static void
fs_end(void)
{
	char cmd[200];

	unsetenv("LRPC_FORCE_FS_FILE");
	unsetenv("LRPC_RUNTIME_DIR");
	if (!fs.on)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s' '%s'", fs.run_dir,
		 fs.etc_dir);
	(void)!system(cmd);
	fs = (struct fs_env){ .on = false };
}

static void
fs_begin(void)
{
	int fd;

	fs_end();
	snprintf(fs.run_dir, sizeof(fs.run_dir), "/tmp/lrpc-run-XXXXXX");
	snprintf(fs.etc_dir, sizeof(fs.etc_dir), "/tmp/lrpc-etc-XXXXXX");
	assert_non_null(mkdtemp(fs.run_dir));
	assert_non_null(mkdtemp(fs.etc_dir));
	fs.on = true;
	snprintf(fs.force, sizeof(fs.force), "%s/force", fs.etc_dir);
	fd = open(fs.force, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(setenv("LRPC_FORCE_FS_FILE", fs.force, 1), 0);
	assert_int_equal(setenv("LRPC_RUNTIME_DIR", fs.run_dir, 1), 0);
}

static int
group_teardown(void **state)
{
	fs_end();
	return 0;
}

/* --- Tests --- */

#define LATE_MS 300

/*
 * A client starts connecting (in a child, as it blocks) LATE_MS before the
 * server exists; it must reach it and complete a call.  The child's exit
 * status says how it went: 0 reached and called, 1 the connect failed, 2
 * reached too early (before the server could exist), 3 the call failed.
 */
static void
late_server_reached(void **state)
{
	th_ctx *ctx = *state;
	long t0 = th_now_ms();
	pid_t pid = fork();
	int status = -1;

	assert_true(pid >= 0);
	if (pid == 0) {
		lrpc_client_opts o = { .struct_size = sizeof(o),
				       .transport = ctx->transport,
				       .wait_usec = 10 * LRPC_USEC_PER_SEC };
		lrpc_client *c = NULL;
		char buf[64];
		lrpc_msg_header h = { .size = sizeof(h), .id = TH_ECHO };

		if (lrpc_client_new(&c, ctx->name, &o) < 0)
			_exit(1);
		if (th_now_ms() - t0 < LATE_MS)
			_exit(2);
		if (lrpc_client_call(c, &h, sizeof(h), buf, sizeof(buf),
				     2 * LRPC_USEC_PER_SEC, NULL) < 0)
			_exit(3);
		lrpc_client_unref(c);
		_exit(0);
	}
	th_msleep(LATE_MS);
	th_server *s = th_server_spawn(ctx, NULL, NULL, th_standard_handlers,
				       NULL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* Reached soon after the server listened: well within a second. */
	assert_true(th_now_ms() - t0 < LATE_MS + 1000);
	assert_int_equal(th_server_stop(s), 0);
}

/* Nobody ever serves the name: -ETIMEDOUT at the deadline, not before and
 * not much after. */
static void
never_comes_times_out(void **state)
{
	th_ctx *ctx = *state;
	lrpc_client_opts o = { .struct_size = sizeof(o),
			       .transport = ctx->transport,
			       .wait_usec = 400 * LRPC_USEC_PER_MSEC };
	lrpc_client *c = (lrpc_client *)0x1;
	long t0 = th_now_ms();

	assert_int_equal(lrpc_client_new(&c, ctx->name, &o), -ETIMEDOUT);
	long took = th_now_ms() - t0;
	assert_ptr_equal(c, (lrpc_client *)0x1);
	assert_true(took >= 400);
	assert_true(took < 400 + 150);
}

/* Without the option nothing waits: the error comes at once. */
static void
no_wait_fails_at_once(void **state)
{
	th_ctx *ctx = *state;
	lrpc_client_opts o = { .struct_size = sizeof(o),
			       .transport = ctx->transport };
	lrpc_client *c = NULL;
	long t0 = th_now_ms();
	int r = lrpc_client_new(&c, ctx->name, &o);

	assert_true(r == -ECONNREFUSED || r == -ENOENT);
	assert_true(th_now_ms() - t0 < 100);
}

static void
test_wait_abstract_late_server(void **state)
{
	late_server_reached(state);
}

static void
test_wait_abstract_never(void **state)
{
	never_comes_times_out(state);
	no_wait_fails_at_once(state);
}

static void
test_wait_fs_late_server(void **state)
{
	fs_begin();
	late_server_reached(state);
	fs_end();
}

static void
test_wait_fs_never(void **state)
{
	fs_begin();
	never_comes_times_out(state);
	no_wait_fails_at_once(state);
	fs_end();
}

/* A stale socket file nobody listens on (a crashed server) is waited
 * through too: the new server replaces it and is reached. */
static void
test_wait_fs_stale_socket(void **state)
{
	th_ctx *ctx = *state;
	char path[160];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	fs_begin();
	snprintf(path, sizeof(path), "%s/%s.sock", fs.run_dir, ctx->name);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	late_server_reached(state);
	fs_end();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TH_TEST(test_wait_abstract_late_server),
		TH_TEST(test_wait_abstract_never),
		TH_TEST(test_wait_fs_late_server),
		TH_TEST(test_wait_fs_never),
		TH_TEST(test_wait_fs_stale_socket),
	};
	return cmocka_run_group_tests_name("wait", tests, NULL,
					   group_teardown);
}
