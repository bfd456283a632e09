/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

th_ctx th_ctx_current = { .transport = LRPC_TRANSPORT_SOCKET };

struct th_server {
	pid_t pid;
	int report_fd; /* read end in the test process */
	char buf[8192];
	size_t len;
};

/* In the child: the write end of the report pipe. */
static int child_report_fd = -1;
/*
 * Connections whose created callback ran and whose destroyed callback has
 * not yet: must be empty when the server exits.  (destroyed also runs,
 * correctly, for accepted connections whose created never ran.)
 */
static lrpc_conn **child_live;
static size_t child_n_live, child_cap_live;

void
th_msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

long
th_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

uint64_t
th_now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

bool
th_wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do
		n = poll(&p, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	return n > 0;
}

void
th_echo(lrpc_client *c, size_t size, unsigned seed, int timeout_ms)
{
	uint8_t req[4096], resp[4096];

	assert_true(size <= sizeof(req));
	th_fill(req, size, TH_ECHO, seed);
	assert_int_equal(th_call(c, req, size, resp, sizeof(resp),
					  timeout_ms),
			 (int)size);
	assert_int_equal(((const lrpc_msg_header *)resp)->error, 0);
	assert_true(th_check(resp, size, seed));
}

int
th_count_fds(void)
{
	int n = th_proc_count_fds(getpid(), NULL);

	return n < 0 ? n : n - 1; /* the DIR's own fd */
}

int
th_proc_count_fds(pid_t pid, const char *prefix)
{
	char path[64], link[384], target[256];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (!prefix) {
			n++;
			continue;
		}
		snprintf(link, sizeof(link), "%s/%s", path, e->d_name);
		ssize_t k = readlink(link, target, sizeof(target) - 1);
		if (k <= 0)
			continue;
		target[k] = '\0';
		if (strncmp(target, prefix, strlen(prefix)) == 0)
			n++;
	}
	closedir(d);
	return n;
}

long
th_proc_cpu_ms(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long ut = 0, st = 0;
	FILE *f;
	char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	/* The command name may hold spaces: fields count from its ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			 "%lu %lu", &ut, &st) != 2)
		return -1;
	return (long)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

int
th_proc_count_maps(pid_t pid, const char *prefix)
{
	char path[64], line[512];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/');
		if (p && strncmp(p, prefix, strlen(prefix)) == 0)
			n++;
	}
	fclose(f);
	return n;
}

lrpc_transport
th_transport(void)
{
	const char *t = getenv("LRPC_TEST_TRANSPORT");

	if (t && strcmp(t, "shm") == 0)
		return LRPC_TRANSPORT_SHM;
	if (t && strcmp(t, "best") == 0)
		return LRPC_TRANSPORT_BEST;
	return LRPC_TRANSPORT_SOCKET;
}

int
th_run_group(const char *name, const th_test *tests, size_t n)
{
	lrpc_transport t = th_transport();
	/* BEST is the shm transport (docs/api.md). */
	unsigned bit = 1u << (t == LRPC_TRANSPORT_BEST ? LRPC_TRANSPORT_SHM
						       : t);
	struct CMUnitTest *run = calloc(n ? n : 1, sizeof(*run));
	size_t k = 0;
	int r;

	assert_non_null(run);
	for (size_t i = 0; i < n; i++)
		if (tests[i].transports & bit)
			run[k++] = tests[i].test;
	r = _cmocka_run_group_tests(name, run, k, NULL, NULL);
	free(run);
	return r;
}

int
th_setup(void **state)
{
	static unsigned counter;
	th_ctx *ctx = *state;

	/* meson runs every integration test once per transport, naming it
	 * in the environment: the tests themselves never change. */
	ctx->transport = th_transport();
	snprintf(ctx->name, sizeof(ctx->name), "lrpc-test-%d-%u", (int)getpid(),
		 counter++);
	ctx->fds_before = th_count_fds();
	return 0;
}

int
th_teardown(void **state)
{
	th_ctx *ctx = *state;
	int after = th_count_fds();

	if (after != ctx->fds_before) {
		fprintf(stderr, "fd leak: %d fds before the test, %d after\n",
			ctx->fds_before, after);
		return -1;
	}
	return 0;
}

void
th_report(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	if (child_report_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* Lines are short: one write on a pipe is atomic. */
	(void)!write(child_report_fd, line, (size_t)n);
}

static int
rep_accept(lrpc_server *s, const lrpc_peer *p, void *ud)
{
	th_report("accept %d %u", (int)p->pid, (unsigned)p->uid);
	return 0;
}

static void
rep_created(lrpc_conn *c, void *ud)
{
	th_report("created %d", (int)th_conn_peer(c).pid);
}

static int
rep_closed(lrpc_conn *c, void *ud)
{
	th_report("closed %d", (int)th_conn_peer(c).pid);
	return 0;
}

static void
rep_destroyed(lrpc_conn *c, void *ud)
{
	th_report("destroyed %d", (int)th_conn_peer(c).pid);
}

const lrpc_server_callbacks th_reporting_callbacks = {
	.struct_size = sizeof(lrpc_server_callbacks),
	.accept = rep_accept,
	.created = rep_created,
	.closed = rep_closed,
	.destroyed = rep_destroyed,
};

static void
on_term(lrpc_loop *loop, int signo, void *ud)
{
	lrpc_loop_quit(loop);
}

/* Wrap the test's callbacks so the harness can count destroyed calls. */
static lrpc_server_callbacks child_user_cb;

static void
wrap_created(lrpc_conn *c, void *ud)
{
	if (child_n_live == child_cap_live) {
		child_cap_live = child_cap_live ? 2 * child_cap_live : 64;
		child_live = realloc(child_live,
				     child_cap_live * sizeof(*child_live));
		if (!child_live)
			abort();
	}
	child_live[child_n_live++] = c;
	if (child_user_cb.created)
		child_user_cb.created(c, ud);
}

static void
wrap_destroyed(lrpc_conn *c, void *ud)
{
	for (size_t i = 0; i < child_n_live; i++)
		if (child_live[i] == c) {
			child_live[i] = child_live[--child_n_live];
			break;
		}
	if (child_user_cb.destroyed)
		child_user_cb.destroyed(c, ud);
}

static void
server_child(const th_ctx *ctx, const lrpc_server_callbacks *cb,
	     const lrpc_server_opts *opts, th_setup_fn setup, void *arg,
	     int ready_fd)
{
	lrpc_server_opts o = { .struct_size = sizeof(o) };
	lrpc_server_callbacks wcb;
	lrpc_loop *loop = NULL;
	lrpc_server *s = NULL;
	int r;

	if (opts)
		o = *opts;
	o.transport = ctx->transport;
	child_user_cb = cb ? *cb : th_reporting_callbacks;
	wcb = child_user_cb;
	wcb.created = wrap_created;
	wcb.destroyed = wrap_destroyed;

	r = lrpc_loop_new(&loop);
	if (r >= 0)
		r = lrpc_loop_add_signal(loop, SIGTERM, on_term, NULL);
	if (r >= 0)
		r = lrpc_server_new(&s, ctx->name, &wcb, &o, arg);
	if (r >= 0)
		r = lrpc_server_attach_loop(s, loop);
	if (r >= 0 && setup)
		setup(s, loop, arg);
	if (r >= 0)
		r = lrpc_server_start(s);
	(void)!write(ready_fd, &r, sizeof(r));
	close(ready_fd);
	if (r < 0)
		_exit(2);
	r = lrpc_loop_run(loop);
	lrpc_server_close(s);
	lrpc_server_unref(s);
	lrpc_loop_unref(loop);
	if (child_n_live != 0) {
		fprintf(stderr, "server: %zu created connections never "
			"destroyed\n", child_n_live);
		_exit(1);
	}
	free(child_live);
	_exit(r < 0 ? 1 : 0);
}

/* waitpid() that a signal does not cut short (tests run signal storms). */
static pid_t
wait_pid(pid_t pid, int *status)
{
	pid_t r;

	do
		r = waitpid(pid, status, 0);
	while (r < 0 && errno == EINTR);
	return r;
}

th_server *
th_server_spawn(const th_ctx *ctx, const lrpc_server_callbacks *cb,
		const lrpc_server_opts *opts, th_setup_fn setup, void *arg)
{
	int ready[2], rep[2], r = -1;
	th_server *s;

	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(rep, O_CLOEXEC) < 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	fflush(NULL);
	s->pid = fork();
	if (s->pid < 0) {
		free(s);
		return NULL;
	}
	if (s->pid == 0) {
		/* The child never returns: its copy of the parent's
		 * bookkeeping is of no use (and a leak to valgrind). */
		free(s);
		close(ready[0]);
		close(rep[0]);
		child_report_fd = rep[1];
		/* A failed test must not leave its server behind, and a test
		 * that reads its reports late must not block the server. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		(void)fcntl(rep[1], F_SETPIPE_SZ, 1024 * 1024);
		server_child(ctx, cb, opts, setup, arg, ready[1]);
	}
	close(ready[1]);
	close(rep[1]);
	s->report_fd = rep[0];
	if (read(ready[0], &r, sizeof(r)) != sizeof(r) || r < 0) {
		fprintf(stderr, "server failed to start: %s\n", strerror(-r));
		close(ready[0]);
		kill(s->pid, SIGKILL);
		wait_pid(s->pid, NULL);
		close(s->report_fd);
		free(s);
		return NULL;
	}
	close(ready[0]);
	return s;
}

pid_t
th_server_pid(const th_server *s)
{
	return s->pid;
}

int
th_server_stop(th_server *s)
{
	int status = 0, r = -1;

	if (!s)
		return -1;
	kill(s->pid, SIGTERM);
	if (wait_pid(s->pid, &status) == s->pid && WIFEXITED(status))
		r = WEXITSTATUS(status);
	close(s->report_fd);
	free(s);
	return r;
}

void
th_server_kill(th_server *s)
{
	if (!s)
		return;
	kill(s->pid, SIGKILL);
	wait_pid(s->pid, NULL);
	close(s->report_fd);
	free(s);
}

static bool
take_line(th_server *s, char *line, size_t cap)
{
	char *nl = memchr(s->buf, '\n', s->len);
	size_t n;

	if (!nl)
		return false;
	n = (size_t)(nl - s->buf);
	if (line && cap > 0) {
		size_t k = n < cap - 1 ? n : cap - 1;
		memcpy(line, s->buf, k);
		line[k] = '\0';
	}
	memmove(s->buf, nl + 1, s->len - n - 1);
	s->len -= n + 1;
	return true;
}

bool
th_server_expect(th_server *s, const char *prefix, int timeout_ms,
		 char *buf, size_t cap)
{
	struct timespec t0;
	char line[256];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		while (take_line(s, line, sizeof(line)))
			if (strncmp(line, prefix, strlen(prefix)) == 0) {
				if (buf && cap > 0)
					snprintf(buf, cap, "%s", line);
				return true;
			}
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long el = (now.tv_sec - t0.tv_sec) * 1000 +
			  (now.tv_nsec - t0.tv_nsec) / 1000000;
		if (el >= timeout_ms)
			return false;
		struct pollfd p = { .fd = s->report_fd, .events = POLLIN };
		if (poll(&p, 1, (int)(timeout_ms - el)) <= 0)
			continue;
		ssize_t n = read(s->report_fd, s->buf + s->len,
				 sizeof(s->buf) - s->len);
		if (n <= 0)
			return false;
		s->len += (size_t)n;
	}
}

int
th_server_count(th_server *s, const char *prefix, int timeout_ms)
{
	int n = 0;

	while (th_server_expect(s, prefix, timeout_ms, NULL, 0))
		n++;
	return n;
}

int
th_connect(const th_ctx *ctx, lrpc_client **ret, lrpc_client_opts *opts)
{
	lrpc_client_opts o = { .struct_size = sizeof(o) };
	int r;

	if (opts)
		o = *opts;
	o.transport = ctx->transport;
	for (int i = 0; i < 100; i++) {
		r = lrpc_client_new(ret, ctx->name, &o);
		if (r != -ECONNREFUSED && r != -ENOENT)
			return r;
		th_msleep(10);
	}
	return r;
}

void
th_fill(void *buf, size_t size, int32_t id, unsigned seed)
{
	lrpc_msg_header *h = buf;
	unsigned char *p = buf;

	memset(h, 0, sizeof(*h));
	h->size = (uint32_t)size;
	h->id = id;
	for (size_t i = sizeof(*h); i < size; i++)
		p[i] = (unsigned char)(seed + i * 31u);
}

bool
th_check(const void *buf, size_t size, unsigned seed)
{
	const unsigned char *p = buf;

	for (size_t i = sizeof(lrpc_msg_header); i < size; i++)
		if (p[i] != (unsigned char)(seed + i * 31u))
			return false;
	return true;
}

/* --- Standard handlers --- */

struct event_burst {
	lrpc_conn *conn;
	lrpc_loop *loop;
	uint32_t next, n;
};

static void
burst_continue(void *ud)
{
	struct event_burst *b = ud;

	while (b->next < b->n && lrpc_conn_is_connected(b->conn)) {
		struct {
			lrpc_msg_header h;
			uint32_t seq, pad;
		} ev = { .h = { .size = sizeof(ev), .id = TH_EVENTS },
			 .seq = b->next };
		int r = lrpc_conn_send_event(b->conn, &ev, sizeof(ev));
		if (r == -EAGAIN) {
			/* Queue full: the client is slower, try again soon. */
			lrpc_loop_add_timer(b->loop, 1000, burst_continue, b,
					    NULL);
			return;
		}
		if (r < 0)
			break;
		b->next++;
	}
	lrpc_conn_unref(b->conn);
	free(b);
}

static int
h_echo(lrpc_conn *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	return lrpc_conn_send_response(c, m, size);
}

static int
h_no_reply(lrpc_conn *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	return 0;
}

static int
h_events(lrpc_conn *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	lrpc_loop *loop = ud;
	uint32_t n;
	struct event_burst *b;

	if (size < sizeof(*m) + sizeof(n))
		return -EINVAL;
	memcpy(&n, m + 1, sizeof(n));
	int r = lrpc_conn_send_error(c, m->id, 0);
	if (r < 0)
		return r;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->conn = lrpc_conn_ref(c);
	b->loop = loop;
	b->n = n;
	lrpc_loop_add_job(loop, burst_continue, b);
	return 0;
}

static int
h_as_event(lrpc_conn *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	return lrpc_conn_send_event(c, m, size);
}

static int
h_disconnect(lrpc_conn *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	lrpc_conn_close(c);
	return 0;
}

static int
h_stop(lrpc_conn *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	uint32_t on;

	if (size < sizeof(*m) + sizeof(on))
		return -EINVAL;
	memcpy(&on, m + 1, sizeof(on));
	lrpc_server_set_stop_sending(lrpc_conn_get_server(c), on != 0);
	return lrpc_conn_send_error(c, m->id, 0);
}

static int
h_fail(lrpc_conn *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	return -EBADE;
}

static int
h_conn_stats(lrpc_conn *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	th_conn_stats_msg r = { .h = { .size = sizeof(r), .id = m->id } };
	int e = lrpc_conn_get_stats(c, &r.st, sizeof(r.st));

	if (e < 0)
		return e;
	return lrpc_conn_send_response(c, &r, sizeof(r));
}

void
th_standard_handlers(lrpc_server *s, lrpc_loop *loop, void *arg)
{
	lrpc_server_add_handler(s, TH_ECHO, h_echo, NULL);
	lrpc_server_add_handler(s, TH_NO_REPLY, h_no_reply, NULL);
	lrpc_server_add_handler(s, TH_EVENTS, h_events, loop);
	lrpc_server_add_handler(s, TH_AS_EVENT, h_as_event, NULL);
	lrpc_server_add_handler(s, TH_DISCONNECT, h_disconnect, NULL);
	lrpc_server_add_handler(s, TH_STOP, h_stop, NULL);
	lrpc_server_add_handler(s, TH_FAIL, h_fail, NULL);
	lrpc_server_add_handler(s, TH_CONN_STATS, h_conn_stats, NULL);
}

/* --- Report collection (appended) --- */

int
th_server_collect(th_server *s, const char *until, int timeout_ms,
		  char *buf, size_t cap)
{
	struct timespec t0;
	char line[256];
	size_t used = 0;
	int n = 0;

	if (cap > 0)
		buf[0] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		while (take_line(s, line, sizeof(line))) {
			size_t l = strlen(line);
			n++;
			if (cap > 0 && used + l + 2 <= cap) {
				memcpy(buf + used, line, l);
				used += l;
				buf[used++] = '\n';
				buf[used] = '\0';
			}
			if (until && strncmp(line, until, strlen(until)) == 0)
				return n;
		}
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long el = (now.tv_sec - t0.tv_sec) * 1000 +
			  (now.tv_nsec - t0.tv_nsec) / 1000000;
		if (el >= timeout_ms)
			return -1;
		struct pollfd p = { .fd = s->report_fd, .events = POLLIN };
		if (poll(&p, 1, (int)(timeout_ms - el)) <= 0)
			continue;
		ssize_t r = read(s->report_fd, s->buf + s->len,
				 sizeof(s->buf) - s->len);
		if (r <= 0)
			return -1;
		s->len += (size_t)r;
	}
}

int
th_lines_count(const char *buf, const char *prefix)
{
	size_t pl = strlen(prefix);
	int n = 0;

	while (buf && *buf) {
		if (strncmp(buf, prefix, pl) == 0)
			n++;
		buf = strchr(buf, '\n');
		if (buf)
			buf++;
	}
	return n;
}

/* First thing in a forked child: never outlive a test that failed
 * before waiting for it, holding its output pipes open. */
static void
fork_child_begin(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* The test may have died before prctl(), and then no signal comes. */
	if (getppid() != parent)
		_exit(127);
}

pid_t
th_fork_helper(int (*fn)(void *arg), void *arg)
{
	pid_t parent = getpid(), pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		fork_child_begin(parent);
		_exit(fn(arg));
	}
	return pid;
}

pid_t
th_spawn_exec(const char *const argv[], bool quiet_stdout)
{
	pid_t parent = getpid(), pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		fork_child_begin(parent);
		if (quiet_stdout) {
			int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
			if (null >= 0)
				dup2(null, STDOUT_FILENO);
		}
		/* execv() does not write through argv: the cast is safe. */
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

int
th_wait_helper(pid_t pid)
{
	int status;

	if (pid <= 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* --- The core client's sized calls, in test form --- */

uint64_t
th_usec(int timeout_ms)
{
	return timeout_ms < 0 ? LRPC_TIMEOUT_INFINITE
			      : (uint64_t)timeout_ms * LRPC_USEC_PER_MSEC;
}

static int
th_sized(int r, size_t size)
{
	if (r > 0)
		fail_msg("lrpc call returned %d, not 0 or -errno", r);
	if (r == 0 && size > INT32_MAX)
		fail_msg("size %zu out of range", size);
	return r < 0 ? r : (int)size;
}

int
th_call(lrpc_client *c, const void *req, size_t size, void *buf, size_t cap,
	int timeout_ms)
{
	size_t n = SIZE_MAX;
	int r = lrpc_client_call(c, req, size, buf, cap, th_usec(timeout_ms),
				 &n);
	return th_sized(r, n);
}

int
th_callv(lrpc_client *c, const struct iovec *iov, size_t n_iov, void *buf,
	 size_t cap, int timeout_ms)
{
	size_t n = SIZE_MAX;
	int r = lrpc_client_callv(c, iov, n_iov, buf, cap, th_usec(timeout_ms),
				  &n);
	return th_sized(r, n);
}

int
th_recv(lrpc_client *c, void *buf, size_t cap, int timeout_ms)
{
	size_t n = SIZE_MAX;
	int r = lrpc_client_recv(c, buf, cap, th_usec(timeout_ms), &n);
	return th_sized(r, n);
}

int
th_recv_event(lrpc_client *c, void *buf, size_t cap, int timeout_ms)
{
	size_t n = SIZE_MAX;
	int r = lrpc_client_recv_event(c, buf, cap, th_usec(timeout_ms), &n);
	return th_sized(r, n);
}

int
th_recv_view(lrpc_client *c, const lrpc_msg_header **ret_msg,
	     size_t *ret_size, int timeout_ms)
{
	int r = lrpc_client_recv_view(c, th_usec(timeout_ms), ret_msg,
				      ret_size);
	return th_sized(r, r == 0 ? *ret_size : 0);
}

int
th_recv_event_view(lrpc_client *c, const lrpc_msg_header **ret_msg,
		   size_t *ret_size, int timeout_ms)
{
	int r = lrpc_client_recv_event_view(c, th_usec(timeout_ms), ret_msg,
					    ret_size);
	return th_sized(r, r == 0 ? *ret_size : 0);
}

lrpc_peer
th_conn_peer(lrpc_conn *c)
{
	lrpc_peer p = { 0 };

	assert_int_equal(lrpc_conn_get_peer(c, &p), 0);
	return p;
}

/* --- Raw peers --- */

/* How long th_raw_send_all() waits for room each time the socket is full:
 * far longer than any server that still reads needs. */
#define RAW_SEND_WAIT_MS 2000

socklen_t
th_abstract_addr(const char *name, struct sockaddr_un *ret_sa)
{
	int n;

	*ret_sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	n = snprintf(ret_sa->sun_path + 1, sizeof(ret_sa->sun_path) - 1,
		     "lrpc/%s", name);
	if (n <= 0 || (size_t)n >= sizeof(ret_sa->sun_path) - 1)
		return 0;
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
			   (size_t)n);
}

int
th_raw_connect(const th_ctx *ctx, int *ret_fd)
{
	struct sockaddr_un sa;
	socklen_t len = th_abstract_addr(ctx->name, &sa);
	int fd, r;

	if (len == 0)
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* Non-blocking, a connect to a full backlog fails with EAGAIN where
	 * a blocking one would wait without a bound: retry a little. */
	for (int i = 0;; i++) {
		if (connect(fd, (struct sockaddr *)&sa, len) == 0) {
			*ret_fd = fd;
			return 0;
		}
		r = -errno;
		if ((r != -EAGAIN && r != -EINTR) || i == 100)
			break;
		th_msleep(1);
	}
	close(fd);
	return r;
}

void
th_raw_hello_init(lrpc__hello *h, lrpc_transport transport, uint32_t max_msg)
{
	*h = (lrpc__hello){ .magic = LRPC__HELLO_MAGIC,
			    .version = LRPC_PROTOCOL_VERSION,
			    .transport = (uint16_t)transport,
			    .max_msg_size = max_msg };
	if (th_raw_offer_fds > 0) {
		h->reserved[0] = LRPC__CAP_FDS;
		h->reserved[1] = th_raw_offer_fds;
	}
}

unsigned th_raw_offer_fds;

/* Keep the fds of one SCM_RIGHTS message; false if they did not fit (the
 * ones that did not are closed). */
static bool
raw_take_fds(struct msghdr *mh, int *fds, unsigned *n_fds)
{
	bool fit = !(mh->msg_flags & MSG_CTRUNC);

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int f;
			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(f));
			if (*n_fds < TH_RAW_MAX_FDS) {
				fds[(*n_fds)++] = f;
			} else {
				close(f);
				fit = false;
			}
		}
	}
	return fit;
}

int
th_raw_read_welcome(int fd, lrpc__welcome *ret_w, int *fds,
		    unsigned *ret_n_fds, int timeout_ms)
{
	long deadline = th_now_ms() + timeout_ms;
	size_t got = 0;

	*ret_n_fds = 0;
	while (got < sizeof(*ret_w)) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int) * TH_RAW_MAX_FDS)];
		} cm;
		struct iovec iov = { .iov_base = (uint8_t *)ret_w + got,
				     .iov_len = sizeof(*ret_w) - got };
		struct msghdr mh = { .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = cm.buf,
				     .msg_controllen = sizeof(cm.buf) };
		long left = deadline - th_now_ms();

		if (left < 0 || !th_wait_fd(fd, POLLIN, (int)left))
			return -ETIMEDOUT;
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -errno;
		if (!raw_take_fds(&mh, fds, ret_n_fds))
			return -EMSGSIZE;
		if (n == 0)
			return got == 0 ? 0 : -EPIPE;
		got += (size_t)n;
	}
	return 1;
}

/* Send all of @buf, waiting up to @wait_ms whenever the socket is full:
 * 0, -ETIMEDOUT or -errno. */
static int
raw_send_all(int fd, const void *buf, size_t len, int wait_ms)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN) {
			if (!th_wait_fd(fd, POLLOUT, wait_ms))
				return -ETIMEDOUT;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
th_raw_handshake(int fd, lrpc_transport transport, uint32_t max_msg,
		 lrpc__welcome *ret_w, int *fds, unsigned *ret_n_fds,
		 int timeout_ms)
{
	lrpc__hello h;
	int r;

	*ret_n_fds = 0;
	th_raw_hello_init(&h, transport, max_msg);
	r = raw_send_all(fd, &h, sizeof(h), timeout_ms);
	if (r < 0)
		return r;
	return th_raw_read_welcome(fd, ret_w, fds, ret_n_fds, timeout_ms);
}

void
th_raw_send_all(int fd, const void *buf, size_t len)
{
	assert_int_equal(raw_send_all(fd, buf, len, RAW_SEND_WAIT_MS), 0);
}

int
th_raw_recv_exact(int fd, void *buf, size_t len, int timeout_ms)
{
	long deadline = th_now_ms() + timeout_ms;
	size_t got = 0;

	if (len > INT_MAX)
		return -EINVAL;
	while (got < len) {
		long left = deadline - th_now_ms();
		if (left < 0 || !th_wait_fd(fd, POLLIN, (int)left))
			return -ETIMEDOUT;
		ssize_t n = recv(fd, (uint8_t *)buf + got, len - got,
				 MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return got == 0 ? 0 : -EPIPE;
		got += (size_t)n;
	}
	return (int)len;
}

int
th_raw_wait_eof(int fd, int timeout_ms, size_t *ret_bytes)
{
	long deadline = th_now_ms() + timeout_ms;
	uint8_t scratch[4096];
	size_t total = 0;
	int r;

	for (;;) {
		long left = deadline - th_now_ms();
		if (left < 0 || !th_wait_fd(fd, POLLIN, (int)left)) {
			r = -ETIMEDOUT;
			break;
		}
		ssize_t n = recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			r = n == 0 ? 0 : -errno;
			break;
		}
		total += (size_t)n;
	}
	if (ret_bytes)
		*ret_bytes = total;
	return r;
}

bool
th_raw_expect_eof(int fd, int timeout_ms, size_t *ret_bytes)
{
	int r = th_raw_wait_eof(fd, timeout_ms, ret_bytes);

	/* ECONNRESET: the peer closed with bytes we sent unread, which is
	 * as much a drop as an orderly end. */
	return r == 0 || r == -ECONNRESET;
}

void
th_rpc_fixture_start(void **state, th_rpc_fixture *f, th_setup_fn setup)
{
	f->server = th_server_spawn(*state, NULL, NULL, setup, NULL);
	assert_non_null(f->server);
	assert_int_equal(th_connect(*state, &f->c, NULL), 0);
	assert_int_equal(lrpc_rpc_client_new(&f->rc, f->c), 0);
}

void
th_rpc_fixture_stop(th_rpc_fixture *f)
{
	f->rc = lrpc_rpc_client_unref(f->rc);
	f->c = lrpc_client_unref(f->c);
	assert_int_equal(th_server_stop(f->server), 0);
}
