/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The file service example (examples/files), as its users run it: the
 * real files-server program (FILES_SERVER in the environment) over a
 * directory made for each test, called through the stubs generated from
 * idl/example/files.idl.  Sealed memfds and the fd counts of both
 * processes, streamed listings of 0, 1 and many entries with their
 * progress, cancels and a client that goes away mid-stream, paths that
 * try to leave the root, and delete's @access(owner).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "files-client.h"

#define TIMEOUT (5 * LRPC_USEC_PER_SEC)
#define MAX_SIZE 1048576
#define N_MANY 1000
#define SEALS (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL)

typedef struct fx {
	th_ctx *ctx;
	char dir[64];           /* the test's directory; the root is dir/root */
	pid_t pid;              /* files-server */
	int out;                /* its stdout */
	char lines[8192];
	size_t len;
	lrpc_client *c;
	lrpc_rpc_client *rc;
	uint8_t buf[4096];
	lrpc_arena arena;
} fx;

static int
rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(path);
}

/* The test's directory, removed by fx_stop(); after a test that failed
 * before it got there, by the next test or at the end. */
static char left_dir[64];

static void
remove_left_dir(void)
{
	if (left_dir[0])
		nftw(left_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	left_dir[0] = '\0';
}

static void
put_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void
put_dir(const char *dir, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(mkdir(path, 0755), 0);
}

static bool
exists(const fx *f, const char *rel)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
	return lstat(path, &st) == 0;
}

static void
pattern(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 131u + (i >> 8));
}

/*
 * root/: a.txt, empty, big (300 kB), huge (above --max-size), fifo,
 * ok -> a.txt, esc -> ../outside, abs -> /<dir>/outside, del.txt,
 * victim.txt, sub/inner.txt, none/ (empty), one/only, many/ (N_MANY
 * files made in reverse order, f<i> of i % 13 bytes); and dir/outside.
 */
static void
make_tree(fx *f)
{
	static uint8_t big[300000];
	char root[128], path[256];

	/* tmpfs where there is one: a thousand files on a disk cost
	 * seconds per test. */
	strcpy(f->dir, "/dev/shm/lrpc-files-XXXXXX");
	remove_left_dir();
	if (!mkdtemp(f->dir)) {
		strcpy(f->dir, "/tmp/lrpc-files-XXXXXX");
		assert_non_null(mkdtemp(f->dir));
	}
	strcpy(left_dir, f->dir);
	snprintf(root, sizeof(root), "%s/root", f->dir);
	assert_int_equal(mkdir(root, 0755), 0);
	put_file(f->dir, "outside", "secret\n", 7);
	put_file(root, "a.txt", "hello, files\n", 13);
	put_file(root, "empty", "", 0);
	pattern(big, sizeof(big));
	put_file(root, "big", big, sizeof(big));
	put_file(root, "huge", "", 0);
	snprintf(path, sizeof(path), "%s/huge", root);
	assert_int_equal(truncate(path, MAX_SIZE + 1), 0);
	snprintf(path, sizeof(path), "%s/fifo", root);
	assert_int_equal(mkfifo(path, 0644), 0);
	snprintf(path, sizeof(path), "%s/ok", root);
	assert_int_equal(symlink("a.txt", path), 0);
	snprintf(path, sizeof(path), "%s/esc", root);
	assert_int_equal(symlink("../outside", path), 0);
	snprintf(path, sizeof(path), "%s/abs", root);
	char target[128];
	snprintf(target, sizeof(target), "%s/outside", f->dir);
	assert_int_equal(symlink(target, path), 0);
	put_file(root, "del.txt", "x", 1);
	put_file(root, "victim.txt", "y", 1);
	put_dir(root, "sub");
	put_file(root, "sub/inner.txt", "inner\n", 6);
	put_dir(root, "none");
	put_dir(root, "one");
	put_file(root, "one/only", "1", 1);
	put_dir(root, "many");
	for (int i = N_MANY - 1; i >= 0; i--) {
		snprintf(path, sizeof(path), "many/f%04d", i);
		put_file(root, path, "0123456789abc", (size_t)(i % 13));
	}
}


/* The next line of the server's output starting with @prefix, within
 * @timeout_ms; other lines are skipped. */
static bool
expect_line(fx *f, const char *prefix, int timeout_ms, char *line, size_t cap)
{
	long end = th_now_ms() + timeout_ms;

	for (;;) {
		char *nl;
		while ((nl = memchr(f->lines, '\n', f->len))) {
			size_t n = (size_t)(nl - f->lines);
			bool match = strncmp(f->lines, prefix,
					     strlen(prefix)) == 0;
			if (match && line)
				snprintf(line, cap, "%.*s", (int)n, f->lines);
			memmove(f->lines, nl + 1, f->len - n - 1);
			f->len -= n + 1;
			if (match)
				return true;
		}
		long left = end - th_now_ms();
		/* Past the deadline, one last look at what is there. */
		if (left < 0)
			left = 0;
		if (f->len == sizeof(f->lines) ||
		    !th_wait_fd(f->out, POLLIN, (int)left))
			return false;
		ssize_t k = read(f->out, f->lines + f->len,
				 sizeof(f->lines) - f->len);
		if (k <= 0)
			return false;
		f->len += (size_t)k;
	}
}

/* Start files-server (@walk: with --no-openat2) and connect to it. */
static void
fx_start_server(void **state, fx *f, bool walk)
{
	const char *server = getenv("FILES_SERVER");
	char root[128], max[32], line[256];
	int p[2];

	*f = (fx){ .ctx = *state, .out = -1 };
	assert_non_null(server);
	make_tree(f);
	snprintf(root, sizeof(root), "%s/root", f->dir);
	snprintf(max, sizeof(max), "%d", MAX_SIZE);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	const char *argv[] = {
		server, "--name", f->ctx->name, "--transport",
		f->ctx->transport == LRPC_TRANSPORT_SHM ? "shm" : "socket",
		"--max-size", max, walk ? "--no-openat2" : root,
		walk ? root : NULL, NULL,
	};
	pid_t parent = getpid();
	fflush(NULL);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent || dup2(p[1], STDOUT_FILENO) < 0)
			_exit(127);
		execv(server, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	f->out = p[0];
	assert_true(expect_line(f, "files-server: serving", 5000, line,
				sizeof(line)));
	assert_non_null(strstr(line, f->ctx->transport == LRPC_TRANSPORT_SHM ?
					     "over shm" : "over socket"));
	assert_int_equal(th_connect(f->ctx, &f->c, NULL), 0);
	assert_int_equal(lrpc_rpc_client_new(&f->rc, f->c), 0);
	lrpc_arena_init(&f->arena, f->buf, sizeof(f->buf),
			LRPC_ARENA_UNLIMITED);
}

static void
fx_start(void **state, fx *f)
{
	fx_start_server(state, f, false);
}

/* Stop the server: it must exit 0 (under ASan, also without leaks). */
static void
fx_stop(fx *f)
{
	int status;

	lrpc_arena_done(&f->arena);
	lrpc_rpc_client_unref(f->rc);
	lrpc_client_unref(f->c);
	assert_int_equal(kill(f->pid, SIGTERM), 0);
	assert_int_equal(waitpid(f->pid, &status, 0), f->pid);
	close(f->out);
	remove_left_dir();
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* open(@path) must give a sealed memfd holding @want. */
static void
check_open(fx *f, const char *path, const void *want, size_t len)
{
	char link[64], target[128];
	lrpc_rpc_error err;
	struct stat st;
	uint64_t size = 0;
	int fd = -1;

	assert_int_equal(files_open(f->rc, path, &fd, &size, &f->arena,
				    TIMEOUT, &err), 0);
	assert_true(fd >= 0);
	assert_int_equal(size, len);
	assert_int_equal(fcntl(fd, F_GET_SEALS), SEALS);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, (off_t)len);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t k = readlink(link, target, sizeof(target) - 1);
	assert_true(k > 0);
	target[k] = '\0';
	assert_true(strncmp(target, "/memfd:", 7) == 0);
	/* Read-only for good: no write, no resize, no unsealing. */
	assert_int_equal(write(fd, "x", 1), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(fd, (off_t)len + 1), -1);
	if (len > 0)
		assert_int_equal(ftruncate(fd, (off_t)len - 1), -1);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, 0), -1);
	assert_int_equal(errno, EPERM);
	if (len > 0) {
		assert_true(mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
				 fd, 0) == MAP_FAILED);
		void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
		assert_true(p != MAP_FAILED);
		assert_memory_equal(p, want, len);
		munmap(p, len);
	}
	/* The arena owns the fd until reset. */
	lrpc_arena_reset(&f->arena);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
}

static void
test_files_open_sealed_memfd(void **state)
{
	static uint8_t big[300000];
	fx f;

	fx_start(state, &f);
	pattern(big, sizeof(big));
	check_open(&f, "a.txt", "hello, files\n", 13);
	check_open(&f, "empty", "", 0);
	check_open(&f, "big", big, sizeof(big));
	check_open(&f, "sub/inner.txt", "inner\n", 6);
	check_open(&f, "./sub//inner.txt", "inner\n", 6);
	/* A symbolic link that stays below the root is followed. */
	check_open(&f, "ok", "hello, files\n", 13);
	fx_stop(&f);
}

/* The server's copies of files: it closes each right after the reply
 * that carries it is sent, so the client may see the reply first. */
static int
server_memfds(const fx *f)
{
	int n = th_proc_count_fds(f->pid, "/memfd:files:");

	for (int i = 0; i < 100 && n > 0; i++) {
		th_msleep(10);
		n = th_proc_count_fds(f->pid, "/memfd:files:");
	}
	return n;
}

/* Many opens: neither process keeps an fd, whether the client closes
 * its memfd through the arena or takes it and closes it itself. */
static void
test_files_open_fd_counts(void **state)
{
	lrpc_rpc_error err;
	uint64_t size;
	int client_fds, server_fds, fd;
	fx f;

	fx_start(state, &f);
	/* One call first: the connection's own fds are made by then. */
	assert_int_equal(files_open(f.rc, "a.txt", &fd, &size, &f.arena,
				    TIMEOUT, &err), 0);
	lrpc_arena_reset(&f.arena);
	client_fds = th_count_fds();
	assert_int_equal(server_memfds(&f), 0);
	server_fds = th_proc_count_fds(f.pid, NULL);
	assert_true(server_fds > 0);
	for (int i = 0; i < 3000; i++) {
		/* The server logs each open: keep its pipe from filling. */
		if (i % 500 == 0)
			while (expect_line(&f, "", 0, NULL, 0))
				;
		assert_int_equal(files_open(f.rc, i % 3 ? "a.txt" : "big", &fd,
					    &size, &f.arena, TIMEOUT, &err),
				 0);
		if (i % 2) {
			int got = lrpc_arena_take_fd(&f.arena, &fd);
			assert_true(got >= 0);
			assert_int_equal(fd, -1);
			assert_int_equal(fcntl(got, F_GET_SEALS), SEALS);
			assert_int_equal(close(got), 0);
		} else {
			lrpc_arena_reset(&f.arena);
			assert_int_equal(fcntl(fd, F_GETFD), -1);
		}
	}
	assert_int_equal(th_count_fds(), client_fds);
	assert_int_equal(server_memfds(&f), 0);
	assert_int_equal(th_proc_count_fds(f.pid, NULL), server_fds);
	fx_stop(&f);
}

static void
expect_open_error(fx *f, const char *path, int code, const char *name)
{
	lrpc_rpc_error err;
	uint64_t size = 77;
	int fd = -7;

	assert_int_equal(files_open(f->rc, path, &fd, &size, &f->arena,
				    TIMEOUT, &err), code);
	assert_string_equal(err.name, name);
	/* Results are written only on success. */
	assert_int_equal(fd, -7);
	assert_int_equal(size, 77);
}

/* Paths that leave the root, and the other refusals of open(). */
static void
test_files_open_refused(void **state)
{
	char abs[128];
	int fds;
	fx f;

	fx_start(state, &f);
	fds = th_count_fds();
	snprintf(abs, sizeof(abs), "%s/outside", f.dir);
	static const char *const escapes[] = {
		"../outside", "sub/../../outside", "..", "sub/..",
		"/etc/hostname", "esc", "abs", "./../outside",
	};
	for (size_t i = 0; i < sizeof(escapes) / sizeof(*escapes); i++)
		expect_open_error(&f, escapes[i], FILES_ERROR_NOT_ALLOWED,
				  "files.FilesError.NOT_ALLOWED");
	expect_open_error(&f, abs, FILES_ERROR_NOT_ALLOWED,
			  "files.FilesError.NOT_ALLOWED");
	expect_open_error(&f, "nope", FILES_ERROR_NOT_FOUND,
			  "files.FilesError.NOT_FOUND");
	expect_open_error(&f, "sub/nope", FILES_ERROR_NOT_FOUND,
			  "files.FilesError.NOT_FOUND");
	expect_open_error(&f, "huge", FILES_ERROR_TOO_LARGE,
			  "files.FilesError.TOO_LARGE");
	expect_open_error(&f, "sub", FILES_ERROR_WRONG_TYPE,
			  "files.FilesError.WRONG_TYPE");
	expect_open_error(&f, "", FILES_ERROR_WRONG_TYPE,
			  "files.FilesError.WRONG_TYPE");
	/* Not opened for reading in earnest: no wait for a writer. */
	expect_open_error(&f, "fifo", FILES_ERROR_WRONG_TYPE,
			  "files.FilesError.WRONG_TYPE");
	assert_int_equal(th_count_fds(), fds);
	fx_stop(&f);
}

/* The whole listing of @dir through the iterator: @n entries. */
static void
check_list(fx *f, const char *dir, uint32_t n)
{
	lrpc_rpc_error err;
	lrpc_rpc_iter *it;
	files_entry e;
	uint32_t done, total, seen = 0;
	char prev[64] = "";
	int r;

	assert_int_equal(files_list_open(f->rc, dir, TIMEOUT, &it, &err), 0);
	while ((r = files_list_next(it, &e, &done, &total, &f->arena,
				    &err)) == 1) {
		seen++;
		assert_int_equal(done, seen);
		assert_int_equal(total, n);
		assert_true(strcmp(prev, e.name) < 0);
		snprintf(prev, sizeof(prev), "%s", e.name);
		if (strcmp(dir, "many") == 0) {
			char want[16];
			snprintf(want, sizeof(want), "f%04u", seen - 1);
			assert_string_equal(e.name, want);
			assert_int_equal(e.type, FILES_TYPE_FILE);
			assert_int_equal(e.size, (seen - 1) % 13);
		}
		lrpc_arena_reset(&f->arena);
	}
	assert_int_equal(r, 0);
	assert_int_equal(seen, n);
	files_list_close(it);
}

/* The async stubs: items to one callback, then the end to another. */
struct collect {
	uint32_t items, last_done, total;
	int status;
	bool ended;
};

static void
on_item(lrpc_rpc_client *rc, const files_entry *e, uint32_t done,
	uint32_t total, void *userdata)
{
	struct collect *c = userdata;

	c->items++;
	c->last_done = done;
	c->total = total;
}

static void
on_end(lrpc_rpc_client *rc, int status, const lrpc_rpc_error *err,
       void *userdata)
{
	struct collect *c = userdata;

	c->status = status;
	c->ended = true;
}

static void
test_files_list(void **state)
{
	struct collect c = { 0 };
	lrpc_rpc_error err;
	lrpc_rpc_iter *it;
	files_entry e;
	uint32_t done, total;
	uint64_t id;
	char line[256];
	fx f;

	fx_start(state, &f);
	check_list(&f, "none", 0);
	assert_true(expect_line(&f, "files-server: list none: 0 entries",
				5000, NULL, 0));
	check_list(&f, "one", 1);
	check_list(&f, "sub", 1);
	check_list(&f, "", 14);
	check_list(&f, ".", 14);
	/* Many times the window: the server waits for credit each time. */
	check_list(&f, "many", N_MANY);
	assert_int_equal(lrpc_rpc_client_set_stream_window(f.rc, 3), 0);
	check_list(&f, "many", N_MANY);
	assert_true(expect_line(&f, "files-server: list many: 1000 entries",
				5000, line, sizeof(line)));

	assert_int_equal(files_list_async(f.rc, "many", on_item, on_end, &c,
					  TIMEOUT, &id), 0);
	while (!c.ended)
		assert_true(lrpc_rpc_client_run_once(f.rc, TIMEOUT) >= 0);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.items, N_MANY);
	assert_int_equal(c.last_done, N_MANY);
	assert_int_equal(c.total, N_MANY);

	/* Refusals end the stream with the typed error. */
	static const struct { const char *dir; int code; } bad[] = {
		{ "a.txt", FILES_ERROR_WRONG_TYPE },
		{ "nope", FILES_ERROR_NOT_FOUND },
		{ "..", FILES_ERROR_NOT_ALLOWED },
		{ "/", FILES_ERROR_NOT_ALLOWED },
		{ "esc", FILES_ERROR_NOT_ALLOWED },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		int r = files_list_open(f.rc, bad[i].dir, TIMEOUT, &it, &err);
		if (r == 0) {
			r = files_list_next(it, &e, &done, &total, &f.arena,
					    &err);
			files_list_close(it);
		}
		assert_int_equal(r, -EREMOTEIO);
		assert_int_equal(err.code, bad[i].code);
	}
	fx_stop(&f);
}

/* Reads one entry of a listing and dies. */
static int
list_and_die(void *arg)
{
	fx *f = arg;
	lrpc_rpc_client *rc = NULL;
	lrpc_client *c = NULL;
	lrpc_rpc_error err;
	lrpc_rpc_iter *it;
	files_entry e;
	uint32_t done, total;
	uint8_t buf[512];
	lrpc_arena arena;

	lrpc_arena_init(&arena, buf, sizeof(buf), LRPC_ARENA_UNLIMITED);
	if (th_connect(f->ctx, &c, NULL) < 0 || lrpc_rpc_client_new(&rc, c) < 0)
		return 10;
	if (files_list_open(rc, "many", TIMEOUT, &it, &err) != 0 ||
	    files_list_next(it, &e, &done, &total, &arena, &err) != 1)
		return 11;
	raise(SIGKILL);
	return 12;
}

/* A client that stops reading: the server learns it and frees the
 * listing, whether the client cancels or goes away. */
static void
test_files_list_cancel(void **state)
{
	lrpc_rpc_error err;
	lrpc_rpc_iter *it;
	files_entry e;
	uint32_t done, total;
	char line[256];
	unsigned sent = 0, of = 0;
	uint64_t size;
	int fd;
	fx f;

	fx_start(state, &f);
	assert_int_equal(lrpc_rpc_client_set_stream_window(f.rc, 4), 0);
	assert_int_equal(files_list_open(f.rc, "many", TIMEOUT, &it, &err), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(files_list_next(it, &e, &done, &total,
						 &f.arena, &err), 1);
	lrpc_arena_reset(&f.arena);
	files_list_close(it);
	assert_true(expect_line(&f, "files-server: list many: cancelled",
				5000, line, sizeof(line)));
	assert_int_equal(sscanf(line, "files-server: list many: cancelled "
				      "after %u of %u", &sent, &of), 2);
	assert_int_equal(of, N_MANY);
	assert_true(sent < 16);
	/* The connection goes on. */
	assert_int_equal(files_open(f.rc, "a.txt", &fd, &size, &f.arena,
				    TIMEOUT, &err), 0);
	lrpc_arena_reset(&f.arena);

	/* A client process dies in the middle of a listing. */
	pid_t pid = th_fork_helper(list_and_die, &f);
	assert_int_equal(th_wait_helper(pid), -1); /* killed */
	/* Told by its abandon handler, or by a send that failed first. */
	assert_true(expect_line(&f, "files-server: list many: ", 5000, line,
				sizeof(line)));
	assert_non_null(strstr(line, "client gone after"));
	fx_stop(&f);
}

/* A client of uid 4321 (the test runs as root) may open, not delete. */
static int
delete_as_other_uid(void *arg)
{
	fx *f = arg;
	lrpc_rpc_client *rc = NULL;
	lrpc_client *c = NULL;
	lrpc_rpc_error err;
	uint8_t buf[512];
	lrpc_arena arena;
	uint64_t size;
	int fd, r;

	if (setgroups(0, NULL) < 0 || setgid(4321) < 0 || setuid(4321) < 0)
		return 10;
	if (th_connect(f->ctx, &c, NULL) < 0 || lrpc_rpc_client_new(&rc, c) < 0)
		return 11;
	r = files_delete(rc, "victim.txt", TIMEOUT, &err);
	if (r != -EPERM || strcmp(err.name, "lrpc.AccessDenied") != 0 ||
	    !strstr(err.message, "files.Files.delete is @access(owner): "
				 "uid 4321 may not call it"))
		return 12;
	lrpc_arena_init(&arena, buf, sizeof(buf), LRPC_ARENA_UNLIMITED);
	r = files_open(rc, "victim.txt", &fd, &size, &arena, TIMEOUT, &err);
	lrpc_arena_done(&arena);
	if (r != 0 || size != 1)
		return 13;
	lrpc_rpc_client_unref(rc);
	lrpc_client_unref(c);
	return 0;
}

static void
test_files_delete(void **state)
{
	lrpc_rpc_error err;
	fx f;

	fx_start(state, &f);
	/* The test runs as the server's uid: the owner may. */
	assert_int_equal(files_delete(f.rc, "del.txt", TIMEOUT, &err), 0);
	assert_false(exists(&f, "root/del.txt"));
	assert_true(expect_line(&f, "files-server: deleted del.txt", 5000,
				NULL, 0));
	assert_int_equal(files_delete(f.rc, "del.txt", TIMEOUT, &err),
			 FILES_ERROR_NOT_FOUND);
	assert_string_equal(err.name, "files.FilesError.NOT_FOUND");
	assert_int_equal(files_delete(f.rc, "sub", TIMEOUT, &err),
			 FILES_ERROR_WRONG_TYPE);
	assert_int_equal(files_delete(f.rc, "", TIMEOUT, &err),
			 FILES_ERROR_WRONG_TYPE);
	assert_int_equal(files_delete(f.rc, "../outside", TIMEOUT, &err),
			 FILES_ERROR_NOT_ALLOWED);
	assert_int_equal(files_delete(f.rc, "sub/../../outside", TIMEOUT,
				      &err), FILES_ERROR_NOT_ALLOWED);
	assert_int_equal(files_delete(f.rc, "/etc/hostname", TIMEOUT, &err),
			 FILES_ERROR_NOT_ALLOWED);
	/* A link is removed, not what it points to. */
	assert_int_equal(files_delete(f.rc, "esc", TIMEOUT, &err), 0);
	assert_false(exists(&f, "root/esc"));
	assert_true(exists(&f, "outside"));
	assert_true(exists(&f, "root/sub"));
	if (getuid() == 0) {
		pid_t pid = th_fork_helper(delete_as_other_uid, &f);
		assert_int_equal(th_wait_helper(pid), 0);
		assert_true(exists(&f, "root/victim.txt"));
	} else {
		printf("test_files_delete: not root, another uid not tried\n");
	}
	assert_int_equal(files_delete(f.rc, "victim.txt", TIMEOUT, &err), 0);
	fx_stop(&f);
}

/* Where openat2() is missing the server walks the path itself and
 * refuses every symbolic link, also one that stays below the root. */
static void
test_files_without_openat2(void **state)
{
	static const char *const escapes[] = {
		"../outside", "sub/../../outside", "/etc/hostname", "esc",
		"abs", "ok",
	};
	lrpc_rpc_error err;
	fx f;

	fx_start_server(state, &f, true);
	check_open(&f, "a.txt", "hello, files\n", 13);
	check_open(&f, "./sub//inner.txt", "inner\n", 6);
	for (size_t i = 0; i < sizeof(escapes) / sizeof(*escapes); i++)
		expect_open_error(&f, escapes[i], FILES_ERROR_NOT_ALLOWED,
				  "files.FilesError.NOT_ALLOWED");
	expect_open_error(&f, "sub/nope", FILES_ERROR_NOT_FOUND,
			  "files.FilesError.NOT_FOUND");
	expect_open_error(&f, "", FILES_ERROR_WRONG_TYPE,
			  "files.FilesError.WRONG_TYPE");
	check_list(&f, "", 14);
	check_list(&f, "sub/", 1);
	assert_int_equal(files_delete(f.rc, "sub/inner.txt", TIMEOUT, &err), 0);
	assert_int_equal(files_delete(f.rc, "del.txt", TIMEOUT, &err), 0);
	assert_false(exists(&f, "root/del.txt"));
	assert_int_equal(files_delete(f.rc, "esc/x", TIMEOUT, &err),
			 FILES_ERROR_NOT_ALLOWED);
	assert_true(exists(&f, "outside"));
	fx_stop(&f);
}

int
main(void)
{
	static const th_test tests[] = {
		TH_TEST_ON(test_files_open_sealed_memfd, TH_ON_ALL),
		TH_TEST_ON(test_files_open_fd_counts, TH_ON_ALL),
		TH_TEST_ON(test_files_open_refused, TH_ON_ALL),
		TH_TEST_ON(test_files_list, TH_ON_ALL),
		TH_TEST_ON(test_files_list_cancel, TH_ON_ALL),
		TH_TEST_ON(test_files_delete, TH_ON_ALL),
		TH_TEST_ON(test_files_without_openat2, TH_ON_ALL),
	};

	int r = th_run_group("example-files", tests,
			     sizeof(tests) / sizeof(*tests));

	remove_left_dir();
	return r;
}
