/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Service names and addresses (HARDENING F49, F51, D38): name validation,
 * no takeover of a served name, filesystem-socket mode (mode bits, stale
 * sockets, symlinks, unsafe directories) and squatters on the abstract
 * name.
 *
 * Filesystem mode is switched on through LRPC_FORCE_FS_FILE and
 * LRPC_RUNTIME_DIR, set in the test process before a server is forked, so
 * that the server and the clients agree.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

/* --- Helpers --- */

/* A copy of the test context serving another (derived) name. */
static th_ctx
ctx_with_suffix(const th_ctx *ctx, const char *suffix)
{
	th_ctx c = *ctx;
	int n = snprintf(c.name, sizeof(c.name), "%s%s", ctx->name, suffix);

	assert_true(n > 0 && (size_t)n < sizeof(c.name));
	return c;
}

/* 0 if something listens on the abstract name of ctx->name, else -errno. */
static int
abstract_probe(const th_ctx *ctx)
{
	int fd = -1, r = th_raw_connect(ctx, &fd);

	if (r == 0)
		close(fd);
	return r;
}

/* A plain listener, not lrpc, on @sa. */
static int
plain_listener(const struct sockaddr_un *sa, socklen_t len)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (const struct sockaddr *)sa, len), 0);
	assert_int_equal(listen(fd, 16), 0);
	return fd;
}

/* Start a server in this process; returns lrpc_server_start()'s result
 * and frees the server again. */
static int
try_start(const char *name, const lrpc_server_opts *opts)
{
	lrpc_server *s = NULL;
	int r;

	r = lrpc_server_new(&s, name, NULL, opts, NULL);
	assert_int_equal(r, 0);
	r = lrpc_server_start(s);
	lrpc_server_unref(s);
	return r;
}

/* --- Filesystem mode environment --- */

static struct fs_env {
	bool on;
	char run_dir[64];   /* LRPC_RUNTIME_DIR, 0700 */
	char other_dir[64]; /* the force file, symlink targets */
	char force[96];
} fs;

static void
path_in(char *buf, size_t cap, const char *dir, const char *name,
	const char *suffix)
{
	int n = snprintf(buf, cap, "%s/%s%s", dir, name, suffix);
	assert_true(n > 0 && (size_t)n < cap);
}

/* Remove what a test may have left in @dir, then @dir. */
static void
rm_dir(const char *dir)
{
	char cmd[160];

	if (!dir[0])
		return;
	/* Undo a test's chmod so that the files can go. */
	chmod(dir, 0700);
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	(void)!system(cmd);
}

static void
fs_end(void)
{
	unsetenv("LRPC_FORCE_FS_FILE");
	unsetenv("LRPC_RUNTIME_DIR");
	if (!fs.on)
		return;
	rm_dir(fs.run_dir);
	rm_dir(fs.other_dir);
	fs = (struct fs_env){ .on = false };
}

static void
fs_begin(void)
{
	int fd;

	fs_end(); /* whatever a failed test left behind */
	snprintf(fs.run_dir, sizeof(fs.run_dir), "/tmp/lrpc-run-XXXXXX");
	snprintf(fs.other_dir, sizeof(fs.other_dir), "/tmp/lrpc-etc-XXXXXX");
	assert_non_null(mkdtemp(fs.run_dir));
	assert_non_null(mkdtemp(fs.other_dir));
	fs.on = true;
	path_in(fs.force, sizeof(fs.force), fs.other_dir, "force", "");
	fd = open(fs.force, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(setenv("LRPC_FORCE_FS_FILE", fs.force, 1), 0);
	assert_int_equal(setenv("LRPC_RUNTIME_DIR", fs.run_dir, 1), 0);
}

static void
sock_path(char *buf, size_t cap, const char *name)
{
	path_in(buf, cap, fs.run_dir, name, ".sock");
}

/* In the server child: the umask given in @arg, then the handlers. */
static void
umask_setup(lrpc_server *s, lrpc_loop *loop, void *arg)
{
	umask((mode_t)(uintptr_t)arg);
	th_standard_handlers(s, loop, arg);
}

/* --- Names --- */

static void
test_naming_invalid_names_einval(void **state)
{
	char long65[LRPC_NAME_MAX + 2];
	const char *bad[] = { "", long65, "/", "a/b", "a b", ".hidden", ".",
			      "..", "\xc3\xbc", "caf\xc3\xa9", "a\tb", "a:b",
			      "a\\b", "*" };
	lrpc_client_opts co = { .struct_size = sizeof(co),
				.connect_timeout_usec = 500 * LRPC_USEC_PER_MSEC};
	lrpc_server *srv = (lrpc_server *)0x1;
	lrpc_client *cl = (lrpc_client *)0x1;

	memset(long65, 'a', LRPC_NAME_MAX + 1);
	long65[LRPC_NAME_MAX + 1] = '\0';
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(lrpc_server_new(&srv, bad[i], NULL, NULL,
						 NULL),
				 -EINVAL);
		assert_int_equal(lrpc_client_new(&cl, bad[i], &co),
				 -EINVAL);
		/* ret_* untouched on failure. */
		assert_ptr_equal(srv, (lrpc_server *)0x1);
		assert_ptr_equal(cl, (lrpc_client *)0x1);
	}
	assert_int_equal(lrpc_server_new(&srv, NULL, NULL, NULL, NULL),
			 -EINVAL);
	assert_int_equal(lrpc_client_new(&cl, NULL, &co), -EINVAL);

	/* Valid names are accepted (not started: nothing is bound). */
	const char *good[] = { "a", "Z", "0", "a.b", "a-b_c.d", "x.", "_" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		srv = NULL;
		assert_int_equal(lrpc_server_new(&srv, good[i], NULL, NULL,
						 NULL),
				 0);
		srv = lrpc_server_unref(srv);
	}
}

static void
test_naming_64_chars_served(void **state)
{
	th_ctx c64 = *(th_ctx *)*state;
	size_t len = strlen(c64.name);
	lrpc_client *c;

	memset(c64.name + len, 'x', LRPC_NAME_MAX - len);
	c64.name[LRPC_NAME_MAX] = '\0';
	assert_int_equal(strlen(c64.name), LRPC_NAME_MAX);
	th_server *s = th_server_spawn(&c64, NULL, NULL, th_standard_handlers,
				       NULL);
	assert_non_null(s);
	assert_int_equal(th_connect(&c64, &c, NULL), 0);
	th_echo(c, 200, 1, 2000);
	lrpc_client_unref(c);
	/* One character less is another service, not served. */
	c64.name[LRPC_NAME_MAX - 1] = '\0';
	assert_int_equal(abstract_probe(&c64), -ECONNREFUSED);
	assert_int_equal(th_server_stop(s), 0);
}

/* F49: a served name is never taken over. */
static void
test_naming_in_use_no_takeover(void **state)
{
	const th_ctx *ctx = *state;
	/* umask 0: the socket file's default mode, 0666, lets 4321 in. */
	th_server *s = th_server_spawn(ctx, NULL, NULL, umask_setup,
				       (void *)(uintptr_t)0);
	lrpc_client *c, *c2;

	assert_non_null(s);
	assert_int_equal(th_connect(ctx, &c, NULL), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(try_start(ctx->name, NULL), -EADDRINUSE);
	/* The first server still works, for old and new clients. */
	th_echo(c, 200, 2, 2000);
	assert_int_equal(th_connect(ctx, &c2, NULL), 0);
	th_echo(c2, 200, 3, 2000);
	lrpc_peer p;
	assert_int_equal(lrpc_client_get_peer(c2, &p), 0);
	assert_int_equal(p.pid, th_server_pid(s));
	lrpc_client_unref(c2);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
	/* Once it is gone the name is free again. */
	assert_int_equal(abstract_probe(ctx), -ECONNREFUSED);
}

/* require_server_uid against the real server: the right uid connects. */
static void
test_naming_require_server_uid(void **state)
{
	const th_ctx *ctx = *state;
	/* umask 0: the socket file's default mode, 0666, lets 4321 in. */
	th_server *s = th_server_spawn(ctx, NULL, NULL, umask_setup,
				       (void *)(uintptr_t)0);
	lrpc_client_opts o = { .struct_size = sizeof(o),
			       .require_server_uid = true,
			       .server_uid = geteuid() };
	lrpc_client *c = NULL;

	assert_non_null(s);
	assert_int_equal(th_connect(ctx, &c, &o), 0);
	th_echo(c, 200, 4, 2000);
	lrpc_client_unref(c);
	c = NULL;
	o.server_uid = geteuid() + 1;
	assert_int_equal(th_connect(ctx, &c, &o), -EACCES);
	assert_null(c);
	/* Refused before the hello: the server never saw a peer to accept
	 * (only the first client's). */
	assert_int_equal(th_server_count(s, "accept", 200), 1);
	assert_int_equal(th_server_stop(s), 0);
}

/* F49: a squatter, a plain listener on the abstract name. */
static void
test_naming_abstract_squatter(void **state)
{
	const th_ctx *ctx = *state;
	struct sockaddr_un sa;
	socklen_t len = th_abstract_addr(ctx->name, &sa);
	lrpc_client_opts o = { .struct_size = sizeof(o),
			       .require_server_uid = true,
			       .server_uid = geteuid() + 1,
			       .connect_timeout_usec = 300 * LRPC_USEC_PER_MSEC};
	lrpc_client *c = NULL;
	lrpc__hello h;
	size_t extra = 1;
	int sq, fd;

	assert_true(len > 0);
	sq = plain_listener(&sa, len);
	/* The server refuses to start; it does not take the name over. */
	assert_int_equal(try_start(ctx->name, NULL), -EADDRINUSE);
	assert_int_equal(try_start(ctx->name, NULL), -EADDRINUSE);

	/* A client that requires another uid refuses before sending. */
	assert_int_equal(lrpc_client_new(&c, ctx->name, &o), -EACCES);
	assert_null(c);
	fd = accept4(sq, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(th_raw_wait_eof(fd, 1000, &extra), 0);
	assert_int_equal(extra, 0);
	close(fd);

	/* Control: without the uid check the client does talk to it (the
	 * squatter sees the hello) and then times out without a welcome. */
	o.require_server_uid = false;
	assert_int_equal(lrpc_client_new(&c, ctx->name, &o), -ETIMEDOUT);
	assert_null(c);
	fd = accept4(sq, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(th_raw_recv_exact(fd, &h, sizeof(h), 1000),
			 (int)sizeof(h));
	assert_int_equal(h.magic, LRPC__HELLO_MAGIC);
	/* The hello and nothing after it. */
	extra = 1;
	assert_int_equal(th_raw_wait_eof(fd, 1000, &extra), 0);
	assert_int_equal(extra, 0);
	close(fd);
	close(sq);
}

/* --- Filesystem sockets --- */

static void
test_naming_fs_socket_mode_and_switch(void **state)
{
	const th_ctx *ctx = *state;
	const struct {
		uint32_t opt;
		mode_t mask, expect;
	} cases[] = {
		{ 0660, 0, 0660 },
		{ 0600, 0, 0600 },
		{ 0, 0, 0666 },    /* the default */
		{ 0666, 022, 0644 }, /* the server's umask applies */
	};
	char path[160];
	struct stat st;

	fs_begin();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char sfx[8];
		snprintf(sfx, sizeof(sfx), "-m%zu", i);
		th_ctx ci = ctx_with_suffix(ctx, sfx);
		lrpc_server_opts o = { .struct_size = sizeof(o),
				       .socket_mode = cases[i].opt };
		th_server *s = th_server_spawn(&ci, NULL, &o, umask_setup,
					       (void *)(uintptr_t)cases[i].mask);
		lrpc_client *c;

		assert_non_null(s);
		sock_path(path, sizeof(path), ci.name);
		assert_int_equal(lstat(path, &st), 0);
		assert_true(S_ISSOCK(st.st_mode));
		assert_int_equal(st.st_uid, geteuid());
		assert_int_equal(st.st_mode & 07777, cases[i].expect);
		/* Served through the file, not the abstract name. */
		assert_int_equal(abstract_probe(&ci), -ECONNREFUSED);
		assert_int_equal(th_connect(&ci, &c, NULL), 0);
		th_echo(c, 200, (unsigned)i, 2000);
		lrpc_client_unref(c);
		assert_int_equal(th_server_stop(s), 0);
		/* The server removes its socket file when it stops. */
		assert_int_equal(lstat(path, &st), -1);
		assert_int_equal(errno, ENOENT);
	}

	/* A server in fs mode; then the force file goes away. */
	/* umask 0: the socket file's default mode, 0666, lets 4321 in. */
	th_server *s = th_server_spawn(ctx, NULL, NULL, umask_setup,
				       (void *)(uintptr_t)0);
	lrpc_client *c, *c2;
	assert_non_null(s);
	assert_int_equal(th_connect(ctx, &c, NULL), 0);
	assert_int_equal(unlink(fs.force), 0);
	/* New connections look for the abstract name now... */
	lrpc_client_opts co = { .struct_size = sizeof(co),
				.connect_timeout_usec = 500 * LRPC_USEC_PER_MSEC};
	c2 = NULL;
	int r = lrpc_client_new(&c2, ctx->name, &co);
	assert_true(r == -ECONNREFUSED || r == -ENOENT);
	assert_null(c2);
	/* ...the existing one keeps working... */
	th_echo(c, 200, 10, 2000);
	/* ...and a new server binds the abstract name, no file. */
	th_ctx ca = ctx_with_suffix(ctx, "-abs");
	th_server *sa = th_server_spawn(&ca, NULL, NULL, th_standard_handlers,
					NULL);
	assert_non_null(sa);
	sock_path(path, sizeof(path), ca.name);
	assert_int_equal(lstat(path, &st), -1);
	assert_int_equal(abstract_probe(&ca), 0);
	assert_int_equal(th_connect(&ca, &c2, NULL), 0);
	th_echo(c2, 200, 11, 2000);
	lrpc_client_unref(c2);
	assert_int_equal(th_server_stop(sa), 0);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
	sock_path(path, sizeof(path), ctx->name);
	assert_int_equal(lstat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
	fs_end();
}

/* In a forked child: listen on the path in @arg and exit, leaving the socket
 * file of a dead server behind. */
static int
stale_listener_main(void *arg)
{
	const struct sockaddr_un *sa = arg;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 ||
	    listen(fd, 1) < 0)
		return 1;
	return 0;
}

/* D38: a socket file left by a process that died is replaced. */
static void
test_naming_fs_stale_socket_replaced(void **state)
{
	const th_ctx *ctx = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st0, st;
	lrpc_client *c;
	pid_t pid;

	fs_begin();
	sock_path(sa.sun_path, sizeof(sa.sun_path), ctx->name);
	pid = th_fork_helper(stale_listener_main, &sa);
	assert_true(pid > 0);
	assert_int_equal(th_wait_helper(pid), 0);
	assert_int_equal(lstat(sa.sun_path, &st0), 0);
	assert_true(S_ISSOCK(st0.st_mode));

	/* umask 0: the socket file's default mode, 0666, lets 4321 in. */
	th_server *s = th_server_spawn(ctx, NULL, NULL, umask_setup,
				       (void *)(uintptr_t)0);
	assert_non_null(s);
	assert_int_equal(lstat(sa.sun_path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(th_connect(ctx, &c, NULL), 0);
	th_echo(c, 200, 1, 2000);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
	assert_int_equal(lstat(sa.sun_path, &st), -1);
	fs_end();
}

/* A live socket of someone else at the path is neither removed nor used. */
static void
test_naming_fs_live_squatter(void **state)
{
	const th_ctx *ctx = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st0, st;
	int sq;

	fs_begin();
	sock_path(sa.sun_path, sizeof(sa.sun_path), ctx->name);
	sq = plain_listener(&sa, sizeof(sa));
	assert_int_equal(lstat(sa.sun_path, &st0), 0);
	assert_int_equal(try_start(ctx->name, NULL), -EADDRINUSE);
	assert_int_equal(lstat(sa.sun_path, &st), 0);
	assert_int_equal(st.st_ino, st0.st_ino);
	/* The squatter is still reachable through its file. */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	close(sq);
	fs_end();
}

static void
write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void
expect_file(const char *path, const char *text)
{
	char buf[64] = { 0 };
	struct stat st;
	int fd;

	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), (ssize_t)strlen(text));
	close(fd);
	assert_string_equal(buf, text);
}

/* F51/D38: never follow or remove a symlink (or a file) at the path. */
static void
test_naming_fs_symlink_not_followed(void **state)
{
	const th_ctx *ctx = *state;
	char path[160], target[160], link[160];
	struct stat st;

	fs_begin();
	sock_path(path, sizeof(path), ctx->name);

	/* A symlink to a victim file. */
	path_in(target, sizeof(target), fs.other_dir, "victim", "");
	write_file(target, "precious");
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(try_start(ctx->name, NULL), -EEXIST);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(readlink(path, link, sizeof(link) - 1),
			 (ssize_t)strlen(target));
	expect_file(target, "precious");
	assert_int_equal(unlink(path), 0);

	/* A dangling symlink: nothing is created at its target. */
	path_in(target, sizeof(target), fs.other_dir, "nothing", "");
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(try_start(ctx->name, NULL), -EEXIST);
	assert_int_equal(lstat(target, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(unlink(path), 0);

	/* A regular file at the path. */
	write_file(path, "mine");
	assert_int_equal(try_start(ctx->name, NULL), -EEXIST);
	expect_file(path, "mine");
	assert_int_equal(unlink(path), 0);

	/* With the path clear the same name starts. */
	/* umask 0: the socket file's default mode, 0666, lets 4321 in. */
	th_server *s = th_server_spawn(ctx, NULL, NULL, umask_setup,
				       (void *)(uintptr_t)0);
	lrpc_client *c;
	assert_non_null(s);
	assert_int_equal(th_connect(ctx, &c, NULL), 0);
	th_echo(c, 200, 1, 2000);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
	fs_end();
}

/* F51: the socket directory must be ours (or root's) and private. */
static void
test_naming_fs_unsafe_runtime_dir(void **state)
{
	const th_ctx *ctx = *state;
	const mode_t bad_modes[] = { 0770, 0720, 0702, 0777, 01777 };
	char other[160], sub[160];
	struct stat st;

	fs_begin();
	for (size_t i = 0; i < sizeof(bad_modes) / sizeof(bad_modes[0]); i++) {
		assert_int_equal(chmod(fs.run_dir, bad_modes[i]), 0);
		assert_int_equal(try_start(ctx->name, NULL), -EPERM);
	}
	assert_int_equal(chmod(fs.run_dir, 0755), 0);
	assert_int_equal(try_start(ctx->name, NULL), 0);
	assert_int_equal(chmod(fs.run_dir, 0700), 0);

	/* A symlink to a good directory is refused too. */
	path_in(other, sizeof(other), fs.other_dir, "rundir-link", "");
	assert_int_equal(symlink(fs.run_dir, other), 0);
	assert_int_equal(setenv("LRPC_RUNTIME_DIR", other, 1), 0);
	assert_int_equal(try_start(ctx->name, NULL), -ENOTDIR);
	/* So is a file. */
	assert_int_equal(setenv("LRPC_RUNTIME_DIR", fs.force, 1), 0);
	assert_int_equal(try_start(ctx->name, NULL), -ENOTDIR);
	/* A missing one is created, private enough. */
	path_in(sub, sizeof(sub), fs.other_dir, "new-rundir", "");
	assert_int_equal(setenv("LRPC_RUNTIME_DIR", sub, 1), 0);
	assert_int_equal(try_start(ctx->name, NULL), 0);
	assert_int_equal(lstat(sub, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & (S_IWGRP | S_IWOTH), 0);
	/* Nothing was bound in the refused directories. */
	assert_int_equal(chmod(fs.run_dir, 0700), 0);
	char path[160];
	sock_path(path, sizeof(path), ctx->name);
	assert_int_equal(lstat(path, &st), -1);
	fs_end();
}

static int
group_teardown(void **state)
{
	fs_end();
	return 0;
}

/*
 * Containers (docs/api.md, "Containers"): a client in its own user and
 * mount namespaces, where the runtime directory is bind-mounted at
 * another path and uid 0 maps to uid 4321 outside, connects to a server
 * outside through the filesystem socket (the handshake completes), and the
 * server authenticates it as 4321: the uid the kernel maps, not the one
 * the client believes in.
 */
struct container {
	const th_ctx *ctx;
	int ready[2], mapped[2];
	char mnt[64];
};

static int
container_client(void *arg)
{
	struct container *k = arg;
	lrpc_client *c = NULL;
	char ch = 0;

	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		return 77;
	/* The parent, still outside, writes our maps. */
	if (write(k->ready[1], "u", 1) != 1 || read(k->mapped[0], &ch, 1) != 1 ||
	    ch != 'm')
		return 10;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(fs.run_dir, k->mnt, NULL, MS_BIND, NULL) < 0)
		return 11;
	if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		return 12;
	if (setenv("LRPC_RUNTIME_DIR", k->mnt, 1) < 0)
		return 13;
	if (th_connect(k->ctx, &c, NULL) < 0)
		return 14;
	lrpc_client_unref(c);
	return 0;
}

static bool
proc_write(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	bool ok = fd >= 0 && write(fd, text, strlen(text)) ==
				     (ssize_t)strlen(text);

	if (fd >= 0)
		close(fd);
	return ok;
}

static void
test_naming_fs_container(void **state)
{
	const th_ctx *ctx = *state;
	struct container k = { .ctx = ctx };
	char line[128], path[64];
	unsigned pid = 0, uid = 0;
	char ch;

	if (geteuid() != 0) {
		print_message("needs root to map uid 4321: skipped\n");
		skip();
	}
	fs_begin();
	/* Reachable by uid 4321: the runtime directory and the force file's
	 * directory searchable by others. */
	assert_int_equal(chmod(fs.run_dir, 0755), 0);
	assert_int_equal(chmod(fs.other_dir, 0755), 0);
	snprintf(k.mnt, sizeof(k.mnt), "/tmp/lrpc-mnt-XXXXXX");
	assert_non_null(mkdtemp(k.mnt));
	/* umask 0: the socket file's default mode, 0666, lets 4321 in. */
	th_server *s = th_server_spawn(ctx, NULL, NULL, umask_setup,
				       (void *)(uintptr_t)0);
	assert_non_null(s);
	assert_int_equal(pipe2(k.ready, O_CLOEXEC), 0);
	assert_int_equal(pipe2(k.mapped, O_CLOEXEC), 0);
	pid_t child = th_fork_helper(container_client, &k);
	assert_true(child > 0);
	if (read(k.ready[0], &ch, 1) != 1) {
		/* unshare failed: no user namespaces here. */
		int st = th_wait_helper(child);
		th_server_stop(s);
		rmdir(k.mnt);
		fs_end();
		print_message("no user namespace here (%d): skipped\n", st);
		skip();
	}
	snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)child);
	assert_true(proc_write(path, "deny"));
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)child);
	assert_true(proc_write(path, "0 4321 1"));
	snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)child);
	assert_true(proc_write(path, "0 4321 1"));
	assert_int_equal(write(k.mapped[1], "m", 1), 1);
	assert_int_equal(th_wait_helper(child), 0);
	assert_true(th_server_expect(s, "accept", 2000, line, sizeof(line)));
	assert_int_equal(sscanf(line, "accept %u %u", &pid, &uid), 2);
	assert_int_equal(pid, (unsigned)child);
	assert_int_equal(uid, 4321);
	assert_int_equal(th_server_stop(s), 0);
	for (int i = 0; i < 2; i++) {
		close(k.ready[i]);
		close(k.mapped[i]);
	}
	rmdir(k.mnt);
	fs_end();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TH_TEST(test_naming_invalid_names_einval),
		TH_TEST(test_naming_64_chars_served),
		TH_TEST(test_naming_in_use_no_takeover),
		TH_TEST(test_naming_require_server_uid),
		TH_TEST(test_naming_abstract_squatter),
		TH_TEST(test_naming_fs_socket_mode_and_switch),
		TH_TEST(test_naming_fs_stale_socket_replaced),
		TH_TEST(test_naming_fs_live_squatter),
		TH_TEST(test_naming_fs_symlink_not_followed),
		TH_TEST(test_naming_fs_unsafe_runtime_dir),
		TH_TEST(test_naming_fs_container),
	};
	return cmocka_run_group_tests_name("naming", tests, NULL,
					   group_teardown);
}
