/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test harness for multi-process tests: real server processes (forked, with
 * their own lrpc_loop), a report pipe from server to test, fd-leak checks,
 * and the list of transports every test runs on.
 */
#ifndef LRPC_TEST_HARNESS_H
#define LRPC_TEST_HARNESS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <lrpc/lrpc.h>

/* Per-test state handed to cmocka tests through *state. */
typedef struct th_ctx {
	lrpc_transport transport;
	char name[LRPC_NAME_MAX + 1]; /* unique service name for this test */
	int fds_before;
} th_ctx;

/*
 * Every integration test runs once per transport: meson registers each test
 * executable once per transport with LRPC_TEST_TRANSPORT=socket|shm in the
 * environment, and th_setup() puts it in ctx->transport.  To add a
 * transport, add it to the list in tests/integration/meson.build; tests need
 * no change.  test-shm.c, about the shm transport itself, runs on shm only.
 */
extern th_ctx th_ctx_current;
#define TH_TEST(fn)                                                         \
	cmocka_unit_test_prestate_setup_teardown(fn, th_setup, th_teardown, \
						 &th_ctx_current)

/* cmocka group/test setup and teardown: unique name, fd-leak check. */
int th_setup(void **state);
int th_teardown(void **state);
int th_count_fds(void);

/* --- Server processes --- */

typedef struct th_server th_server;

/* Runs in the server child after lrpc_server_new() and before start. */
typedef void (*th_setup_fn)(lrpc_server *s, lrpc_loop *loop, void *arg);

/*
 * Fork a server process serving ctx->name over ctx->transport with @cb and
 * @opts (NULL: defaults); @setup (may be NULL) adds handlers.  Returns once
 * the server listens.  The child exits 0 after SIGTERM if every accepted
 * connection was destroyed exactly once, else 1.  Its userdata for the
 * callbacks is @arg.
 */
th_server *th_server_spawn(const th_ctx *ctx, const lrpc_server_callbacks *cb,
			   const lrpc_server_opts *opts, th_setup_fn setup,
			   void *arg);
pid_t th_server_pid(const th_server *s);
/* SIGTERM, wait; returns the exit status (0 = clean) or -1. */
int th_server_stop(th_server *s);
/* SIGKILL, wait. */
void th_server_kill(th_server *s);

/*
 * In the server child: send one line to the test process (e.g.
 * "destroyed 1234").  In the test process: wait up to @timeout_ms for a line
 * starting with @prefix; returns true and copies the line into @buf.
 * Lines not matching are skipped.
 */
void th_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool th_server_expect(th_server *s, const char *prefix, int timeout_ms,
		      char *buf, size_t cap);
/* Count lines starting with @prefix arriving within @timeout_ms. */
int th_server_count(th_server *s, const char *prefix, int timeout_ms);

/* The counting callbacks the harness installs when @cb is NULL, and that a
 * test's own callbacks may call: they report "accept", "created",
 * "closed", "destroyed" lines with the peer pid. */
extern const lrpc_server_callbacks th_reporting_callbacks;

/* --- Client helpers --- */

/* Connect with ctx->transport, retrying briefly while the server starts. */
int th_connect(const th_ctx *ctx, lrpc_client **ret, lrpc_client_opts *opts);

/* Build a message: header + @payload_len bytes of pattern starting at @seed. */
void th_fill(void *buf, size_t size, int32_t id, unsigned seed);
bool th_check(const void *buf, size_t size, unsigned seed);

/* Message ids the standard test handlers (th_standard_handlers) serve. */
enum {
	TH_ECHO = 1,        /* respond with the same bytes */
	TH_NO_REPLY = 2,    /* never respond */
	TH_EVENTS = 3,      /* payload u32 n: respond, then send n events */
	TH_AS_EVENT = 4,    /* send the request back as an event, no response */
	TH_DISCONNECT = 5,  /* disconnect the client from inside the handler */
	TH_STOP = 6,        /* payload u32 on/off: the stop-sending switch */
	TH_FAIL = 7,        /* handler returns -EBADE */
};
void th_standard_handlers(lrpc_server *s, lrpc_loop *loop, void *arg);

/* Sleep helper. */
void th_msleep(int ms);
/* CLOCK_MONOTONIC in milliseconds. */
long th_now_ms(void);
/* poll() one fd for @events, retrying on EINTR: true if it became ready. */
bool th_wait_fd(int fd, short events, int timeout_ms);
/*
 * An echo call (TH_ECHO) of @size bytes (at most 4096) with pattern @seed,
 * asserting the answer is the same bytes with status 0.
 */
void th_echo(lrpc_client *c, size_t size, unsigned seed, int timeout_ms);

/* --- The core client's sized calls, in test form --- */

/*
 * The tests were written when the sized client calls returned the size;
 * these wrappers keep them short: @timeout_ms in milliseconds (negative:
 * no limit), the result is the size or the negative errno, and they fail
 * the test if the library returns anything but 0 or a negative errno.
 */
uint64_t th_usec(int timeout_ms);
int th_call(lrpc_client *c, const void *req, size_t size, void *buf,
	    size_t cap, int timeout_ms);
int th_callv(lrpc_client *c, const struct iovec *iov, size_t n_iov,
	     void *buf, size_t cap, int timeout_ms);
int th_recv(lrpc_client *c, void *buf, size_t cap, int timeout_ms);
int th_recv_event(lrpc_client *c, void *buf, size_t cap, int timeout_ms);
int th_recv_view(lrpc_client *c, const lrpc_msg_header **ret_msg,
		 size_t *ret_size, int timeout_ms);
int th_recv_event_view(lrpc_client *c, const lrpc_msg_header **ret_msg,
		       size_t *ret_size, int timeout_ms);
/* The peer of @c (asserting lrpc_conn_get_peer() succeeds). */
lrpc_peer th_conn_peer(lrpc_conn *c);

/* --- Report collection (appended) --- */

/*
 * Read report lines into @buf (NUL-terminated, one line per '\n') until a
 * line starting with @until arrives (it is included) or @timeout_ms passes.
 * Returns the number of lines collected, or -1 if @until never came (what
 * arrived is still in @buf).  Lines that do not fit in @buf are counted
 * but dropped.
 */
int th_server_collect(th_server *s, const char *until, int timeout_ms,
		      char *buf, size_t cap);
/* Count the lines of @buf (as filled by th_server_collect) starting with
 * @prefix. */
int th_lines_count(const char *buf, const char *prefix);

/* Fork a helper process running @fn(@arg); its return value is the exit
 * code.  Returns the pid (waited for with th_wait_helper). */
pid_t th_fork_helper(int (*fn)(void *arg), void *arg);
/* Wait for a helper; returns its exit code, or -1 if it did not exit
 * normally. */
int th_wait_helper(pid_t pid);

#endif
