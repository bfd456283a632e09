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
#include <sys/socket.h>
#include <sys/un.h>
#include <cmocka.h>

#include <lrpc/lrpc.h>

#include "ipc/ipc-handshake.h"

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

/*
 * A test that applies to some transports only (requests that travel as
 * records on the main socket, say) is listed with the transports it
 * applies to, and th_run_group() leaves it out of the other runs: it is
 * not registered there, rather than registered and skipped.
 */
#define TH_ON_SOCKET (1u << LRPC_TRANSPORT_SOCKET)
#define TH_ON_SHM (1u << LRPC_TRANSPORT_SHM)
#define TH_ON_ALL (~0u)
typedef struct th_test {
	struct CMUnitTest test;
	unsigned transports; /* TH_ON_* */
} th_test;
#define TH_TEST_ON(fn, mask) { TH_TEST(fn), (mask) }
/* The transport of this run, from LRPC_TEST_TRANSPORT (default socket). */
lrpc_transport th_transport(void);
/* Run the tests of @tests that apply to this run's transport. */
int th_run_group(const char *name, const th_test *tests, size_t n);

/* cmocka group/test setup and teardown: unique name, fd-leak check. */
int th_setup(void **state);
int th_teardown(void **state);
int th_count_fds(void);
/* The fds of process @pid whose target starts with @prefix (NULL: all of
 * them), and its mappings whose path starts with @prefix; -1 if /proc
 * cannot tell. */
int th_proc_count_fds(pid_t pid, const char *prefix);
int th_proc_count_maps(pid_t pid, const char *prefix);
/* CPU time (user + system) process @pid used so far, in ms; -1 if
 * unknown. */
long th_proc_cpu_ms(pid_t pid);

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

/* A server process serving @setup's handlers, and an RPC client on a
 * connection to it. */
typedef struct th_rpc_fixture {
	th_server *server;
	lrpc_client *c;
	lrpc_rpc_client *rc;
} th_rpc_fixture;
void th_rpc_fixture_start(void **state, th_rpc_fixture *f, th_setup_fn setup);
/* Unref the clients, stop the server and check it stopped cleanly. */
void th_rpc_fixture_stop(th_rpc_fixture *f);

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
	TH_CONN_STATS = 8,  /* respond with a th_conn_stats_msg */
};
/* The response to TH_CONN_STATS: the asking connection's statistics. */
typedef struct th_conn_stats_msg {
	lrpc_msg_header h;
	lrpc_conn_stats st;
} th_conn_stats_msg;
void th_standard_handlers(lrpc_server *s, lrpc_loop *loop, void *arg);

/* Sleep helper. */
void th_msleep(int ms);
/* CLOCK_MONOTONIC in milliseconds, and in microseconds. */
long th_now_ms(void);
uint64_t th_now_usec(void);
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

/* --- Raw peers --- */

/*
 * A raw peer speaks the wire protocol by hand (docs/wire.md), to show what
 * a server does with a peer that breaks its rules.  Apart from
 * th_raw_send_all(), these functions do not assert: they return a result, so
 * that forked children and threads, where a cmocka assertion must not run,
 * can use them as well as tests.
 */

/* Room for more fds than a welcome may carry, so that an excess is seen
 * as such instead of being cut off by the kernel. */
#define TH_RAW_MAX_FDS (LRPC__MAX_FDS + 4)

/*
 * The abstract address of @name as docs/wire.md spells it ("\0lrpc/<name>",
 * exact length, no NUL).  Written out here, not taken from the library, so
 * that the tests hold the library to the documented address.  Returns the
 * address length, or 0 if @name does not fit.
 */
socklen_t th_abstract_addr(const char *name, struct sockaddr_un *ret_sa);

/*
 * Connect a non-blocking stream socket to the abstract address of
 * ctx->name and send nothing.  Filesystem mode is not followed.  While the
 * server's backlog is full the connect is retried for about 100 ms.
 * Returns 0 or -errno (-ECONNREFUSED: nobody listens there).
 */
int th_raw_connect(const th_ctx *ctx, int *ret_fd);

/* Fds per message the raw hellos offer (0, the start: no fd passing, as
 * a peer that predates it). */
extern unsigned th_raw_offer_fds;

/* A valid hello asking for @transport and messages of up to @max_msg. */
void th_raw_hello_init(lrpc__hello *h, lrpc_transport transport,
		       uint32_t max_msg);

/*
 * Read a welcome and the fds attached to it, within @timeout_ms in all.
 * The fds go to @fds (TH_RAW_MAX_FDS entries) and are counted in
 * *ret_n_fds; they belong to the caller whatever the result.  Returns 1
 * once the welcome is complete, 0 at end of stream before its first byte,
 * -EPIPE at end of stream in the middle, -EMSGSIZE if more fds came than
 * @fds holds, -ETIMEDOUT or -errno.  Nothing in the welcome is checked.
 */
int th_raw_read_welcome(int fd, lrpc__welcome *ret_w, int *fds,
			unsigned *ret_n_fds, int timeout_ms);

/*
 * The handshake on a connected @fd: a hello from th_raw_hello_init(), then
 * th_raw_read_welcome(), whose results it returns (or the send's -errno).
 */
int th_raw_handshake(int fd, lrpc_transport transport, uint32_t max_msg,
		     lrpc__welcome *ret_w, int *fds, unsigned *ret_n_fds,
		     int timeout_ms);

/* Send all of @buf; fails the test unless, whenever the socket is full,
 * room comes within 2 s. */
void th_raw_send_all(int fd, const void *buf, size_t len);

/*
 * Receive exactly @len bytes within @timeout_ms.  Returns @len, 0 at end
 * of stream before the first byte, -EPIPE at end of stream in the middle,
 * -ETIMEDOUT, or -errno (-ECONNRESET: the peer closed with bytes we sent
 * unread).
 */
int th_raw_recv_exact(int fd, void *buf, size_t len, int timeout_ms);

/*
 * Wait up to @timeout_ms for the peer to close @fd, reading and dropping
 * whatever arrives first (counted in *ret_bytes if not NULL).  Returns 0 at
 * an orderly end of stream, -ECONNRESET if the peer closed with bytes we
 * sent unread, -ETIMEDOUT, or -errno.
 */
int th_raw_wait_eof(int fd, int timeout_ms, size_t *ret_bytes);
/* True if the peer dropped @fd within @timeout_ms, in either of the two
 * ways th_raw_wait_eof() tells apart. */
bool th_raw_expect_eof(int fd, int timeout_ms, size_t *ret_bytes);

/* Fork a helper process running @fn(@arg); its return value is the exit
 * code.  Returns the pid (waited for with th_wait_helper). */
pid_t th_fork_helper(int (*fn)(void *arg), void *arg);
/*
 * Fork and exec @argv[0] with @argv (NULL-terminated), with its stdout on
 * /dev/null if @quiet_stdout.  Like a th_fork_helper() child it dies with
 * the test process, and an exec that fails exits 127.  Returns the pid
 * (waited for with th_wait_helper), or -1.
 */
pid_t th_spawn_exec(const char *const argv[], bool quiet_stdout);
/* Wait for a helper; returns its exit code, or -1 if it did not exit
 * normally. */
int th_wait_helper(pid_t pid);

#endif
