/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc-bench: lrpc against libqb, same cases, same machine, same run.
 *
 * For every (system, transport) pair the program forks a server process
 * (an lrpc_loop or a qb_loop serving one service) and measures from the
 * parent, which is the client:
 *
 *   sync           request of N payload bytes, response of N payload bytes;
 *                  median and p99 round trip
 *   rpc_sync       the sync echo through generated stubs (bench.idl:
 *                  bench_echo(), a bytes argument and result) on a second
 *                  connection to the same server, measured in turns with
 *                  the raw sync call so that the stub overhead compares
 *                  figures taken in the same seconds
 *   rpc_add        a scalar-only stub call, bench_add(): two u64 (16 B)
 *                  in, one out; no arena, no malloc
 *   rpc_fd         a stub call passing one fd, bench_count(&fd), in turns
 *                  with the same call passing none, bench_count(NULL)
 *   rpc_borrow     rpc_sync with the bytes result borrowed from the
 *                  received reply (lrpc_rpc_client_set_borrow_bytes()),
 *                  read once and released: no copy into the arena
 *   sync_zerocopy  the same over lrpc shm with reserve/commit and
 *                  recv_view/release: the payload is written in place and
 *                  the response read once where it lies (libqb has no
 *                  zero-copy client API)
 *   oneway         the client sends a batch without waiting (retrying on
 *                  -EAGAIN), then one sync call so all were processed;
 *                  messages per second
 *   events         the client asks for a batch of events, the server sends
 *                  them, going back to its loop on -EAGAIN and retrying
 *                  from the next iteration (lrpc: a job; libqb: a timer
 *                  already due, see q_pump()), so it never blocks its loop;
 *                  the client receives them all; messages per second
 *   stream         lrpc only: a streamed reply of 16-byte items through
 *                  generated stubs (bench.idl: bench_ticks()), the client
 *                  consuming them in its item callback and granting credit
 *                  as it goes (window: --stream-window, default the
 *                  library's), the server sending from its writable
 *                  handler; items per second
 *   connect        connect + disconnect with a 1 MiB maximum; median
 *
 * "Size" is always the payload after each system's own header (lrpc: 24 B
 * both ways; libqb: 16 B request header, 24 B response/event header).  Both
 * systems get the same maximum message size, 1 MiB + 4 KiB.
 *
 * The libqb half is compiled only when meson found libqb (HAVE_LIBQB).
 * This is not a meson test, except for the "bench-smoke" run.  The table
 * goes to stdout, progress and failures to stderr; the exit status is 1 if
 * any case failed.  docs/benchmarks.md has the figures and how to read them.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lrpc/lrpc.h>
#include <lrpc/rpc.h>

#include "bench-client.h"
#include "bench-server.h"

#ifdef HAVE_LIBQB
#include <qb/qbipc_common.h>
#include <qb/qbipcc.h>
#include <qb/qbipcs.h>
#include <qb/qbloop.h>
#endif

#define KIB 1024u
#define MIB (1024u * 1024u)
/* Maximum message size given to both systems. */
#define MAX_MSG (MIB + 4 * KIB)
/* Maximum message size for the connect case. */
#define CONNECT_MAX MIB
/* Receive buffers: room for any message either system may send. */
#define BUF_CAP (MAX_MSG + 4 * KIB)
#define CALL_TIMEOUT_MS 10000
#define CALL_TIMEOUT_USEC (CALL_TIMEOUT_MS * UINT64_C(1000))
/* An event that does not come within this is lost: the case fails. */
#define EVENT_TIMEOUT_MS 3000
#define MAX_SAMPLES (1u << 20)

enum { MSG_ECHO = 1, MSG_ONEWAY = 2, MSG_FLUSH = 3, MSG_EVENTS = 4,
       MSG_FANOUT = 5 };

/* The scale case's fan-out: rounds of one FANOUT_SIZE-byte event to every
 * other connection; the reply carries the server's time and failures. */
#define FANOUT_SIZE 64
struct fanout_reply {
	uint64_t ns;
	uint32_t failed;
	uint32_t pad_;
};

/* Payload of MSG_EVENTS: send @count events of @size payload bytes. */
struct events_req {
	uint32_t count;
	uint32_t size;
};

enum sys { SYS_LRPC, SYS_LIBQB, N_SYS };
/* --pin: client on CPU 0 and server on CPU 1, and/or both on CPU 0. */
enum { PIN_SPLIT = 1, PIN_SAME = 2 };
enum tr { TR_SHM, TR_SOCKET, N_TR };
enum case_id {
	C_SYNC,
	C_RPC_SYNC,
	C_RPC_ADD,
	C_RPC_BORROW,
	C_SYNC_ZC,
	C_ONEWAY,
	C_EVENTS,
	C_CONNECT,
	C_MEMORY,
	C_SCALE,
	C_STREAM,
	C_RPC_FD,
	N_CASES
};

static const char *const sys_names[N_SYS] = { "lrpc", "libqb" };
static const char *const tr_names[N_TR] = { "shm", "socket" };
static const char *const case_names[N_CASES] = {
	"sync", "rpc_sync", "rpc_add", "rpc_borrow", "sync_zerocopy", "oneway",
	"events", "connect", "memory", "scale", "stream", "rpc_fd"
};
static const bool case_is_rate[N_CASES] = {
	[C_ONEWAY] = true, [C_EVENTS] = true, [C_STREAM] = true
};

static const size_t lat_sizes[] = { 16, KIB, 64 * KIB, MIB };
static const size_t rate_sizes[] = { 16, 64 * KIB };
static const size_t zc_sizes[] = { 16, 64 * KIB };
/* rpc_sync sizes; rpc_add is always 16 B (two u64). */
static const size_t rpc_sizes[] = { 16, 64 * KIB, MIB };
#define RPC_ADD_SIZE 16
/* The rpc cases and the raw call take turns in blocks of this many calls;
 * the first call of a block is not timed (the server may still be spinning
 * on the other connection). */
#define TURN_CALLS 500
/* The raw call and the three rpc cases. */
#define MAX_TURN_OPS 6

/* The memory case: this many connections to one server, each idle, then
 * after one 16 B call, then 1 s after one 1 MiB call. */
#define MEM_CONNS 1000
#define MEM_BIG MIB

/* ---- options ----------------------------------------------------------- */

static struct {
	bool quick;
	unsigned pin;         /* PIN_* bits */
	double secs;          /* measuring time per case */
	unsigned cases;       /* bit per case_id */
	unsigned systems;     /* bit per sys */
	unsigned transports;  /* bit per tr */
	size_t sizes[16];     /* filter; n_sizes == 0: all */
	unsigned n_sizes;
	const char *json;
	unsigned connect_cycles;
	unsigned batch;       /* messages per one-way/events batch; 0: auto */
	unsigned iters;       /* fixed count per case (syscall counting) */
	long spin_usec;       /* lrpc spin budget for both sides; <0: default */
	unsigned repeat;      /* runs of everything; each figure their median */
	unsigned stream_window; /* the stream case's window; 0: default */
} opt;

/* ---- results ----------------------------------------------------------- */

typedef struct result {
	int sys, tr, cid;
	bool one_cpu;
	size_t size;
	bool ok;
	double median_us, p99_us, ops;
	uint64_t retries; /* sends or calls retried after -EAGAIN */
	/* rpc cases: median of the raw sync call measured in turns with it */
	bool has_raw;
	double raw_us;
} result;

static result results[4096];
static unsigned n_results;
static bool any_failed;

static result *
find_result(int sys, int tr, int cid, size_t size, bool one_cpu)
{
	for (unsigned i = 0; i < n_results; i++) {
		result *r = &results[i];
		if (r->sys == sys && r->tr == tr && r->cid == cid &&
		    r->size == size && r->one_cpu == one_cpu)
			return r;
	}
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of @n values (sorted in place). */
static double
median_of(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * --repeat: every case ran opt.repeat times, each run adding its own
 * result; keep one per case whose figures are the medians of its runs, so
 * that a ratio is not one noisy run.
 */
static void
reduce_repeats(void)
{
	static result out[sizeof(results) / sizeof(*results)];
	double med[64], p99[64], ops[64], raw[64];
	unsigned n_out = 0;
	bool used[sizeof(results) / sizeof(*results)] = { false };

	for (unsigned i = 0; i < n_results; i++) {
		if (used[i])
			continue;
		result r = results[i];
		unsigned n = 0;
		for (unsigned j = i; j < n_results && n < 64; j++) {
			const result *o = &results[j];
			if (used[j] || o->sys != r.sys || o->tr != r.tr ||
			    o->cid != r.cid || o->size != r.size ||
			    o->one_cpu != r.one_cpu)
				continue;
			used[j] = true;
			r.ok = r.ok && o->ok;
			med[n] = o->median_us;
			p99[n] = o->p99_us;
			ops[n] = o->ops;
			raw[n] = o->raw_us;
			n++;
		}
		r.median_us = median_of(med, n);
		r.p99_us = median_of(p99, n);
		r.ops = median_of(ops, n);
		r.raw_us = median_of(raw, n);
		out[n_out++] = r;
	}
	memcpy(results, out, n_out * sizeof(*out));
	n_results = n_out;
}

static result *
add_result(int sys, int tr, int cid, size_t size, bool one_cpu)
{
	if (n_results == sizeof(results) / sizeof(*results)) {
		fprintf(stderr, "lrpc-bench: too many results\n");
		exit(1);
	}
	result *r = &results[n_results++];

	*r = (result){ .sys = sys, .tr = tr, .cid = cid, .size = size,
		       .one_cpu = one_cpu };
	return r;
}

/* ---- small helpers ----------------------------------------------------- */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void
percentiles(uint32_t *ns, size_t n, double *med, double *p99)
{
	size_t i99;

	qsort(ns, n, sizeof(*ns), cmp_u32);
	i99 = n * 99 / 100;
	if (i99 >= n)
		i99 = n - 1;
	*med = (n % 2) ? ns[n / 2] / 1e3 : (ns[n / 2 - 1] + ns[n / 2]) / 2e3;
	*p99 = ns[i99] / 1e3;
}

static void
size_str(size_t size, char *buf, size_t cap)
{
	if (size >= MIB && size % MIB == 0)
		snprintf(buf, cap, "%zu MiB", size / MIB);
	else if (size >= KIB && size % KIB == 0)
		snprintf(buf, cap, "%zu KiB", size / KIB);
	else
		snprintf(buf, cap, "%zu B", size);
}

static cpu_set_t all_cpus;

static void
pin_to(int cpu)
{
	cpu_set_t set;

	if (cpu < 0) {
		sched_setaffinity(0, sizeof(all_cpus), &all_cpus);
		return;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		fprintf(stderr, "lrpc-bench: cannot pin to CPU %d: %s\n", cpu,
			strerror(errno));
}

static void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Event payload, shared by both servers (read-only after start). */
static uint8_t *event_buf;

/* ---- lrpc server ------------------------------------------------------- */

static lrpc_loop *l_loop;

static struct {
	lrpc_conn *conn;
	uint32_t left;
	uint32_t size;
} l_pump_state;

static int
l_on_echo(lrpc_conn *c, const lrpc_msg_header *msg, size_t size, void *ud)
{
	return lrpc_conn_send_response(c, msg, size);
}

static int
l_on_fanout(lrpc_conn *c, const lrpc_msg_header *msg, size_t size, void *ud)
{
	uint8_t ev[sizeof(lrpc_msg_header) + FANOUT_SIZE] = { 0 };
	struct {
		lrpc_msg_header h;
		struct fanout_reply r;
	} rep = { .h = { .size = sizeof(rep), .id = msg->id } };
	lrpc_server *s = lrpc_conn_get_server(c);
	uint32_t rounds;

	if (size < sizeof(*msg) + sizeof(rounds))
		return -EINVAL;
	memcpy(&rounds, (const uint8_t *)msg + sizeof(*msg), sizeof(rounds));
	*(lrpc_msg_header *)(void *)ev = (lrpc_msg_header){
		.size = sizeof(ev), .id = MSG_FANOUT };
	uint64_t t0 = now_ns();
	for (uint32_t i = 0; i < rounds; i++)
		for (lrpc_conn *k = lrpc_server_get_first_conn(s); k;
		     k = lrpc_conn_get_next(k))
			if (k != c && lrpc_conn_send_event(k, ev, sizeof(ev)) < 0)
				rep.r.failed++;
	rep.r.ns = now_ns() - t0;
	return lrpc_conn_send_response(c, &rep, sizeof(rep));
}

static int
l_on_oneway(lrpc_conn *c, const lrpc_msg_header *msg, size_t size, void *ud)
{
	return 0;
}

static int
l_on_flush(lrpc_conn *c, const lrpc_msg_header *msg, size_t size, void *ud)
{
	lrpc_msg_header h = { .size = sizeof(h), .id = msg->id };

	return lrpc_conn_send_response(c, &h, sizeof(h));
}

static void
l_pump(void *ud)
{
	lrpc_msg_header *h = (lrpc_msg_header *)(void *)event_buf;
	size_t total = sizeof(*h) + l_pump_state.size;
	int r = 0;

	h->size = (uint32_t)total;
	h->id = MSG_EVENTS;
	while (l_pump_state.left > 0) {
		r = lrpc_conn_send_event(l_pump_state.conn, event_buf, total);
		if (r == -EAGAIN) {
			/* Full: try again from the next loop iteration. */
			if (lrpc_loop_add_job(l_loop, l_pump, NULL) == 0)
				return;
		}
		if (r < 0)
			break;
		l_pump_state.left--;
	}
	l_pump_state.conn = lrpc_conn_unref(l_pump_state.conn);
	l_pump_state.left = 0;
}

static int
l_on_events(lrpc_conn *c, const lrpc_msg_header *msg, size_t size, void *ud)
{
	struct events_req req;
	lrpc_msg_header ok = { .size = sizeof(ok), .id = msg->id };
	int r;

	if (size < sizeof(*msg) + sizeof(req))
		return -EINVAL;
	memcpy(&req, (const uint8_t *)msg + sizeof(*msg), sizeof(req));
	if (req.size > MAX_MSG - sizeof(*msg) || l_pump_state.conn)
		return -EINVAL;
	r = lrpc_conn_send_response(c, &ok, sizeof(ok));
	if (r < 0)
		return r;
	l_pump_state.conn = lrpc_conn_ref(c);
	l_pump_state.left = req.count;
	l_pump_state.size = req.size;
	l_pump(NULL);
	return 0;
}

/* Generated-stub handlers (bench.idl), served next to the raw ones. */
static int
l_rpc_echo(lrpc_rpc_call *call, void *ud, lrpc_bytes data,
	   lrpc_bytes *ret_back)
{
	*ret_back = data;
	return 0;
}

static int
l_rpc_add(lrpc_rpc_call *call, void *ud, uint64_t a, uint64_t b,
	  uint64_t *ret_sum)
{
	*ret_sum = a + b;
	return 0;
}

/* The stream case: one stream at a time, sent from the writable
 * handler whenever the client's window has room. */
static struct {
	lrpc_rpc_stream *s;
	uint64_t next, count;
} l_ticks;

static void
l_ticks_pump(lrpc_rpc_stream *s, void *ud)
{
	while (l_ticks.next < l_ticks.count) {
		int r = bench_ticks_send(s, l_ticks.next, l_ticks.next ^ 0x5a);
		if (r == -EAGAIN)
			return; /* the writable handler resumes */
		if (r < 0)
			break;
		l_ticks.next++;
	}
	(void)bench_ticks_end(s);
	l_ticks.s = NULL;
}

static int
l_rpc_ticks(lrpc_rpc_stream *s, void *ud, uint64_t count)
{
	if (l_ticks.s)
		return -EBUSY;
	l_ticks.s = s;
	l_ticks.next = 0;
	l_ticks.count = count;
	lrpc_rpc_stream_set_writable_handler(s, l_ticks_pump, NULL);
	l_ticks_pump(s, NULL);
	return 0;
}

static int
l_rpc_count(lrpc_rpc_call *call, void *ud, const int *f, uint64_t *ret_n)
{
	/* The fd is the call arena's: closed after the reply. */
	*ret_n = f ? 1 : 0;
	return 0;
}

static const struct bench_handlers l_rpc_handlers = {
	.echo = l_rpc_echo,
	.add = l_rpc_add,
	.ticks = l_rpc_ticks,
	.count = l_rpc_count,
};

static void
l_on_signal(lrpc_loop *l, int signo, void *userdata)
{
	lrpc_loop_quit(l);
}

static int
lrpc_serve(const char *name, int tr, int ready_fd)
{
	lrpc_server_opts so = {
		.struct_size = sizeof(so),
		.transport = tr == TR_SHM ? LRPC_TRANSPORT_SHM
					  : LRPC_TRANSPORT_SOCKET,
		.max_msg_size = MAX_MSG,
	};
	lrpc_server *s = NULL;
	int r;

	r = lrpc_loop_new(&l_loop);
	if (r < 0)
		goto out;
	if ((r = lrpc_loop_add_signal(l_loop, SIGTERM, l_on_signal, NULL)) < 0 ||
	    (r = lrpc_server_new(&s, name, NULL, &so, NULL)) < 0 ||
	    (r = lrpc_server_attach_loop(s, l_loop)) < 0 ||
	    (r = lrpc_server_add_handler(s, MSG_ECHO, l_on_echo, NULL)) < 0 ||
	    (r = lrpc_server_add_handler(s, MSG_ONEWAY, l_on_oneway, NULL)) < 0 ||
	    (r = lrpc_server_add_handler(s, MSG_FLUSH, l_on_flush, NULL)) < 0 ||
	    (r = lrpc_server_add_handler(s, MSG_EVENTS, l_on_events, NULL)) < 0 ||
	    (r = lrpc_server_add_handler(s, MSG_FANOUT, l_on_fanout, NULL)) < 0 ||
	    (r = bench_serve(s, &l_rpc_handlers, NULL)) < 0 ||
	    (opt.spin_usec >= 0 &&
	     (r = lrpc_server_set_spin(s, (uint32_t)opt.spin_usec)) < 0) ||
	    (r = lrpc_server_start(s)) < 0)
		goto out;
	(void)!write(ready_fd, "R", 1);
	close(ready_fd);
	r = lrpc_loop_run(l_loop);
out:
	if (r < 0)
		fprintf(stderr, "lrpc-bench: lrpc server: %s\n", strerror(-r));
	lrpc_conn_unref(l_pump_state.conn);
	lrpc_server_unref(s);
	lrpc_loop_unref(l_loop);
	return r < 0 ? 1 : 0;
}

/* ---- libqb server ------------------------------------------------------ */

#ifdef HAVE_LIBQB
static qb_loop_t *q_loop;
static qb_ipcs_service_t *q_service;

static struct {
	qb_ipcs_connection_t *conn;
	uint32_t left;
	uint32_t size;
} q_pump_state;

static int32_t
q_job_add(enum qb_loop_priority p, void *data, qb_loop_job_dispatch_fn fn)
{
	return qb_loop_job_add(q_loop, p, data, fn);
}

static int32_t
q_dispatch_add(enum qb_loop_priority p, int32_t fd, int32_t evts, void *data,
	       qb_ipcs_dispatch_fn_t fn)
{
	return qb_loop_poll_add(q_loop, p, fd, evts, data, fn);
}

static int32_t
q_dispatch_mod(enum qb_loop_priority p, int32_t fd, int32_t evts, void *data,
	       qb_ipcs_dispatch_fn_t fn)
{
	return qb_loop_poll_mod(q_loop, p, fd, evts, data, fn);
}

static int32_t
q_dispatch_del(int32_t fd)
{
	return qb_loop_poll_del(q_loop, fd);
}

static int32_t
q_accept(qb_ipcs_connection_t *c, uid_t uid, gid_t gid)
{
	return 0;
}

static int32_t
q_closed(qb_ipcs_connection_t *c)
{
	return 0;
}

static void
q_pump(void *data)
{
	struct qb_ipc_response_header *h = (void *)event_buf;
	size_t total = sizeof(*h) + q_pump_state.size;
	ssize_t r = 0;

	h->id = MSG_EVENTS;
	h->size = (int32_t)total;
	h->error = 0;
	while (q_pump_state.left > 0) {
		r = qb_ipcs_event_send(q_pump_state.conn, event_buf, total);
		if (r == -EAGAIN || r == -ENOBUFS) {
			/* Full: try again from the next loop iteration.  Not
			 * with qb_loop_job_add(): a job queued from a job does
			 * not keep qb_loop from sleeping in epoll_wait() until
			 * some other fd or timer fires (tens of ms).  A timer
			 * already due makes that epoll_wait() return at once. */
			qb_loop_timer_handle th;
			if (qb_loop_timer_add(q_loop, QB_LOOP_LOW, 0, NULL,
					      q_pump, &th) == 0)
				return;
		}
		if (r < 0)
			break;
		q_pump_state.left--;
	}
	qb_ipcs_connection_unref(q_pump_state.conn);
	q_pump_state.conn = NULL;
	q_pump_state.left = 0;
}

static int32_t
q_msg(qb_ipcs_connection_t *c, void *data, size_t size)
{
	const struct qb_ipc_request_header *req = data;
	struct qb_ipc_response_header rh = { .id = req->id, .error = 0 };
	struct iovec iov[2];
	struct events_req ev;

	switch (req->id) {
	case MSG_ECHO:
		rh.size = (int32_t)(sizeof(rh) + size - sizeof(*req));
		iov[0] = (struct iovec){ &rh, sizeof(rh) };
		iov[1] = (struct iovec){ (uint8_t *)data + sizeof(*req),
					 size - sizeof(*req) };
		qb_ipcs_response_sendv(c, iov, 2);
		break;
	case MSG_FANOUT: {
		uint8_t fev[sizeof(struct qb_ipc_response_header) +
			   FANOUT_SIZE] = { 0 };
		struct {
			struct qb_ipc_response_header h;
			struct fanout_reply r;
		} rep = { .h = { .id = req->id, .size = sizeof(rep) } };
		uint32_t rounds = 0;

		if (size >= sizeof(*req) + sizeof(rounds))
			memcpy(&rounds, (uint8_t *)data + sizeof(*req),
			       sizeof(rounds));
		*(struct qb_ipc_response_header *)(void *)fev =
			(struct qb_ipc_response_header){ .id = MSG_FANOUT,
							 .size = sizeof(fev) };
		uint64_t t0 = now_ns();
		for (uint32_t i = 0; i < rounds; i++) {
			qb_ipcs_connection_t *k =
				qb_ipcs_connection_first_get(q_service);
			while (k) {
				if (k != c &&
				    qb_ipcs_event_send(k, fev, sizeof(fev)) < 0)
					rep.r.failed++;
				qb_ipcs_connection_t *next =
					qb_ipcs_connection_next_get(q_service,
								    k);
				qb_ipcs_connection_unref(k);
				k = next;
			}
		}
		rep.r.ns = now_ns() - t0;
		qb_ipcs_response_send(c, &rep, sizeof(rep));
		break;
	}
	case MSG_ONEWAY:
		break;
	case MSG_FLUSH:
		rh.size = sizeof(rh);
		qb_ipcs_response_send(c, &rh, sizeof(rh));
		break;
	case MSG_EVENTS:
		rh.size = sizeof(rh);
		if (size < sizeof(*req) + sizeof(ev) || q_pump_state.conn) {
			rh.error = -EINVAL;
			qb_ipcs_response_send(c, &rh, sizeof(rh));
			break;
		}
		memcpy(&ev, (uint8_t *)data + sizeof(*req), sizeof(ev));
		if (ev.size > MAX_MSG - sizeof(rh)) {
			rh.error = -EINVAL;
			qb_ipcs_response_send(c, &rh, sizeof(rh));
			break;
		}
		qb_ipcs_response_send(c, &rh, sizeof(rh));
		qb_ipcs_connection_ref(c);
		q_pump_state.conn = c;
		q_pump_state.left = ev.count;
		q_pump_state.size = ev.size;
		q_pump(NULL);
		break;
	default:
		rh.size = sizeof(rh);
		rh.error = -ENOSYS;
		qb_ipcs_response_send(c, &rh, sizeof(rh));
		break;
	}
	return 0;
}

static int32_t
q_on_signal(int32_t sig, void *data)
{
	qb_loop_stop(q_loop);
	return 0;
}

static int
libqb_serve(const char *name, int tr, int ready_fd)
{
	struct qb_ipcs_service_handlers sh = {
		.connection_accept = q_accept,
		.msg_process = q_msg,
		.connection_closed = q_closed,
	};
	struct qb_ipcs_poll_handlers ph = {
		.job_add = q_job_add,
		.dispatch_add = q_dispatch_add,
		.dispatch_mod = q_dispatch_mod,
		.dispatch_del = q_dispatch_del,
	};
	qb_loop_signal_handle sig;
	qb_ipcs_service_t *s;
	int r;

	q_loop = qb_loop_create();
	if (!q_loop)
		return 1;
	s = qb_ipcs_create(name, 0, tr == TR_SHM ? QB_IPC_SHM : QB_IPC_SOCKET,
			   &sh);
	if (!s) {
		fprintf(stderr, "lrpc-bench: qb_ipcs_create failed\n");
		return 1;
	}
	qb_ipcs_enforce_buffer_size(s, MAX_MSG);
	q_service = s;
	qb_ipcs_poll_handlers_set(s, &ph);
	qb_loop_signal_add(q_loop, QB_LOOP_HIGH, SIGTERM, NULL, q_on_signal,
			   &sig);
	r = qb_ipcs_run(s);
	if (r < 0) {
		fprintf(stderr, "lrpc-bench: qb_ipcs_run: %s\n", strerror(-r));
		qb_ipcs_destroy(s);
		return 1;
	}
	(void)!write(ready_fd, "R", 1);
	close(ready_fd);
	qb_loop_run(q_loop);
	if (q_pump_state.conn)
		qb_ipcs_connection_unref(q_pump_state.conn);
	qb_ipcs_destroy(s);
	qb_loop_destroy(q_loop);
	return 0;
}
#endif

/* ---- server process ---------------------------------------------------- */

static pid_t
server_start(int sys, int tr, const char *name, int cpu)
{
	int p[2];
	char c;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		int r = 1;

		close(p[0]);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		pin_to(cpu);
		if (sys == SYS_LRPC)
			r = lrpc_serve(name, tr, p[1]);
#ifdef HAVE_LIBQB
		else
			r = libqb_serve(name, tr, p[1]);
#endif
		_exit(r);
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1) {
		close(p[0]);
		waitpid(pid, NULL, 0);
		return -1;
	}
	close(p[0]);
	return pid;
}

static void
server_stop(pid_t pid)
{
	int st;

	kill(pid, SIGTERM);
	if (waitpid(pid, &st, 0) == pid &&
	    !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		fprintf(stderr, "lrpc-bench: server exited abnormally (%#x)\n",
			st);
}

/* ---- client side ------------------------------------------------------- */

typedef struct bclient {
	int sys, tr;
	const char *name;
	lrpc_client *lc;
#ifdef HAVE_LIBQB
	qb_ipcc_connection_t *qc;
#endif
	uint8_t *req;
	uint8_t *resp;
	/* rpc cases: a second connection wrapped for generated stubs, and the
	 * arena their results are decoded into */
	lrpc_client *rpc_lc;
	lrpc_rpc_client *rc;
	lrpc_arena arena;
	uint8_t *arena_buf;
	uint64_t add_n;
	uint64_t call_retries; /* sync calls that found no room */
	uint64_t send_retries; /* one-way sends that found no room */
} bclient;

static int
bc_connect(bclient *b, uint32_t max)
{
	if (b->sys == SYS_LRPC) {
		lrpc_client_opts co = {
			.struct_size = sizeof(co),
			.transport = b->tr == TR_SHM ? LRPC_TRANSPORT_SHM
						     : LRPC_TRANSPORT_SOCKET,
			.max_msg_size = max,
		};
		int r = lrpc_client_new(&b->lc, b->name, &co);
		if (r == 0 && opt.spin_usec >= 0)
			r = lrpc_client_set_spin(b->lc, (uint32_t)opt.spin_usec);
		return r;
	}
#ifdef HAVE_LIBQB
	b->qc = qb_ipcc_connect(b->name, max);
	return b->qc ? 0 : -errno ? -errno : -EIO;
#else
	return -ENOTSUP;
#endif
}

static void
bc_disconnect(bclient *b)
{
	if (b->sys == SYS_LRPC) {
		b->lc = lrpc_client_unref(b->lc);
		return;
	}
#ifdef HAVE_LIBQB
	if (b->qc)
		qb_ipcc_disconnect(b->qc);
	b->qc = NULL;
#endif
}

/* Build a request of @id with @payload bytes in b->req; returns its size. */
static size_t
bc_build(bclient *b, int32_t id, size_t payload)
{
	if (b->sys == SYS_LRPC) {
		lrpc_msg_header *h = (lrpc_msg_header *)(void *)b->req;
		*h = (lrpc_msg_header){ .size = (uint32_t)(sizeof(*h) + payload),
					.id = id };
		return sizeof(*h) + payload;
	}
#ifdef HAVE_LIBQB
	struct qb_ipc_request_header *h = (void *)b->req;
	h->id = id;
	h->size = (int32_t)(sizeof(*h) + payload);
	return sizeof(*h) + payload;
#else
	return 0;
#endif
}

static size_t
bc_resp_hdr(bclient *b)
{
#ifdef HAVE_LIBQB
	if (b->sys == SYS_LIBQB)
		return sizeof(struct qb_ipc_response_header);
#endif
	return sizeof(lrpc_msg_header);
}

/*
 * One synchronous call of b->req (already built, @size bytes).  -EAGAIN
 * means nothing was sent (no room yet): try again.  libqb needs this for
 * back-to-back 1 MiB calls, as its server frees a request's room in the
 * ring only after the handler has sent the response, and one such request
 * fills the 1 MiB + 4 KiB ring.  The retries count in the time measured.
 */
static int
bc_call_raw(bclient *b, size_t size)
{
	for (;;) {
		int r;

		if (b->sys == SYS_LRPC) {
			size_t got = 0;

			r = lrpc_client_call(b->lc, b->req, size, b->resp,
					     BUF_CAP, CALL_TIMEOUT_USEC, &got);
			if (r == 0)
				r = (int)got;
		} else {
#ifdef HAVE_LIBQB
			struct iovec iov = { b->req, size };
			ssize_t n = qb_ipcc_sendv_recv(b->qc, &iov, 1, b->resp,
						       BUF_CAP,
						       CALL_TIMEOUT_MS);
			const struct qb_ipc_response_header *h =
				(const void *)b->resp;
			r = n >= 0 && h->error < 0 ? h->error : (int)n;
			if (r == -ENOBUFS)
				r = -EAGAIN;
#else
			r = -ENOTSUP;
#endif
		}
		if (r != -EAGAIN)
			return r;
		b->call_retries++;
		cpu_relax();
	}
}

static int
op_sync(bclient *b, size_t payload)
{
	size_t size = bc_build(b, MSG_ECHO, payload);
	int r = bc_call_raw(b, size);

	if (r < 0)
		return r;
	return (size_t)r == bc_resp_hdr(b) + payload ? 0 : -EBADMSG;
}

/* ---- generated stubs (bench.idl) --------------------------------------- */

/* A second connection to the lrpc server, wrapped for the stubs. */
static int
rpc_open(bclient *b)
{
	lrpc_client *raw = b->lc;
	int r;

	b->lc = NULL;
	r = bc_connect(b, MAX_MSG);
	b->rpc_lc = b->lc;
	b->lc = raw;
	if (r == 0)
		r = lrpc_rpc_client_new(&b->rc, b->rpc_lc);
	/* The version handshake, so that no timed call includes it. */
	if (r == 0)
		r = lrpc_rpc_client_negotiate(b->rc, &bench__interface,
					      CALL_TIMEOUT_USEC);
	if (r < 0)
		return r;
	/* Results of up to BUF_CAP bytes, never a malloc. */
	lrpc_arena_init(&b->arena, b->arena_buf, BUF_CAP, 0);
	return 0;
}

static void
rpc_close(bclient *b)
{
	b->rc = lrpc_rpc_client_unref(b->rc);
	b->rpc_lc = lrpc_client_unref(b->rpc_lc);
}

/* A positive return of a stub is a typed IDL error: none is declared. */
static int
rpc_status(int r)
{
	return r > 0 ? -EPROTO : r;
}

static int
op_rpc_sync(bclient *b, size_t payload)
{
	lrpc_bytes back;
	int r;

	lrpc_arena_reset(&b->arena);
	r = bench_echo(b->rc, (lrpc_bytes){ b->req, payload }, &back,
		       &b->arena, CALL_TIMEOUT_USEC, NULL);
	if (r != 0)
		return rpc_status(r);
	return back.len == payload ? 0 : -EBADMSG;
}

static int
op_rpc_add(bclient *b, size_t payload)
{
	uint64_t a = ++b->add_n, sum = 0;
	int r;

	r = bench_add(b->rc, a, 7, &sum, CALL_TIMEOUT_USEC, NULL);
	if (r != 0)
		return rpc_status(r);
	return sum == a + 7 ? 0 : -EBADMSG;
}

/* The fd rpc_fd passes: a memfd of the client's, opened once. */
static int bench_fd = -1;

static int
op_rpc_count(bclient *b, bool with_fd)
{
	uint64_t n = 0;
	int r;

	if (bench_fd < 0) {
		bench_fd = memfd_create("lrpc-bench", MFD_CLOEXEC);
		if (bench_fd < 0)
			return -errno;
	}
	r = bench_count(b->rc, with_fd ? &bench_fd : NULL, &n,
			CALL_TIMEOUT_USEC, NULL);
	if (r != 0)
		return rpc_status(r);
	return n == (with_fd ? 1u : 0u) ? 0 : -EBADMSG;
}

static int
op_rpc_fd(bclient *b, size_t payload)
{
	return op_rpc_count(b, true);
}

static int
op_rpc_nofd(bclient *b, size_t payload)
{
	return op_rpc_count(b, false);
}

/* Keeps the compiler from dropping the read of a zero-copy response. */
static volatile uint64_t zc_sink;

/* The echo with its result borrowed: read where it lies, then released. */
static int
op_rpc_borrow(bclient *b, size_t payload)
{
	lrpc_bytes back;
	uint64_t first = 0, last = 0;
	int r;

	r = lrpc_rpc_client_set_borrow_bytes(b->rc, true);
	if (r < 0)
		return r;
	lrpc_arena_reset(&b->arena);
	r = bench_echo(b->rc, (lrpc_bytes){ b->req, payload }, &back,
		       &b->arena, CALL_TIMEOUT_USEC, NULL);
	if (r == 0 && back.len == payload && payload >= 16) {
		memcpy(&first, back.data, 8);
		memcpy(&last, (const uint8_t *)back.data + payload - 8, 8);
		zc_sink = first ^ last;
	}
	lrpc_rpc_client_release_reply(b->rc);
	lrpc_rpc_client_set_borrow_bytes(b->rc, false);
	if (r != 0)
		return rpc_status(r);
	return back.len == payload ? 0 : -EBADMSG;
}

static int
op_sync_zc(bclient *b, size_t payload)
{
	size_t size = sizeof(lrpc_msg_header) + payload;
	const lrpc_msg_header *resp;
	lrpc_msg_header *h;
	void *buf;
	size_t rsize;
	int r;

	r = lrpc_client_reserve(b->lc, size, &buf);
	if (r < 0)
		return r;
	/* Build the message in place: header id and the payload bytes. */
	h = buf;
	h->id = MSG_ECHO;
	memset((uint8_t *)buf + sizeof(*h), 0x5a, payload);
	r = lrpc_client_commit(b->lc, size);
	if (r < 0)
		return r;
	r = lrpc_client_recv_view(b->lc, CALL_TIMEOUT_USEC, &resp, &rsize);
	if (r < 0)
		return r;
	r = rsize == size && resp->size == size ? 0 : -EBADMSG;
	/* Use the payload where it lies, as an application would: read all
	 * of it once (the copying path reads it too, into b->resp). */
	const uint64_t *w = (const uint64_t *)(const void *)(resp + 1);
	uint64_t x = 0;
	for (size_t i = 0; i < payload / sizeof(*w); i++)
		x ^= w[i];
	zc_sink ^= x;
	lrpc_client_release(b->lc, resp);
	return r;
}

/* Send b->req (built, @size bytes) one-way; retry while the system says
 * there is no room. */
static int
bc_send(bclient *b, size_t size)
{
	for (;;) {
		int r;

		if (b->sys == SYS_LRPC) {
			r = lrpc_client_send(b->lc, b->req, size);
		} else {
#ifdef HAVE_LIBQB
			ssize_t n = qb_ipcc_send(b->qc, b->req, size);
			r = n < 0 ? (int)n : 0;
			if (r == -ENOBUFS)
				r = -EAGAIN;
#else
			r = -ENOTSUP;
#endif
		}
		if (r != -EAGAIN)
			return r < 0 ? r : 0;
		b->send_retries++;
		cpu_relax();
	}
}

static int
op_oneway_batch(bclient *b, size_t payload, unsigned n)
{
	size_t size = bc_build(b, MSG_ONEWAY, payload);
	int r;

	for (unsigned i = 0; i < n; i++) {
		r = bc_send(b, size);
		if (r < 0)
			return r;
	}
	size = bc_build(b, MSG_FLUSH, 0);
	r = bc_call_raw(b, size);
	return r < 0 ? r : 0;
}

static int
op_events_batch(bclient *b, size_t payload, unsigned n)
{
	struct events_req ev = { .count = n, .size = (uint32_t)payload };
	size_t size = bc_build(b, MSG_EVENTS, sizeof(ev));
	size_t want = bc_resp_hdr(b) + payload;
	int r;

	memcpy(b->req + size - sizeof(ev), &ev, sizeof(ev));
	r = bc_call_raw(b, size);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < n; i++) {
		if (b->sys == SYS_LRPC) {
			size_t got = 0;

			r = lrpc_client_recv_event(b->lc, b->resp, BUF_CAP,
						   EVENT_TIMEOUT_MS *
							   LRPC_USEC_PER_MSEC,
						   &got);
			if (r == 0)
				r = (int)got;
		} else {
#ifdef HAVE_LIBQB
			r = (int)qb_ipcc_event_recv(b->qc, b->resp, BUF_CAP,
						    EVENT_TIMEOUT_MS);
#endif
		}
		if (r < 0)
			return r;
		if ((size_t)r != want)
			return -EBADMSG;
	}
	return 0;
}

/* The stream case: the generated iterator, as a client that reads a
 * listing in order would (like the events case's blocking receive). */
static int
op_stream_batch(bclient *b, size_t payload, unsigned n)
{
	lrpc_rpc_iter *it;
	uint64_t seq, stamp, items = 0, bad = 0;
	int r;

	r = bench_ticks_open(b->rc, n, CALL_TIMEOUT_USEC, &it, NULL);
	if (r < 0)
		return r;
	while ((r = bench_ticks_next(it, &seq, &stamp, NULL)) == 1) {
		bad += seq != items || stamp != (seq ^ 0x5a);
		items++;
	}
	bench_ticks_close(it);
	if (r != 0)
		return r < 0 ? r : -EPROTO;
	return items == n && bad == 0 ? 0 : -EBADMSG;
}

/* ---- measurements ------------------------------------------------------ */

static uint32_t *samples;

static int
measure_latency(bclient *b, int (*op)(bclient *, size_t), size_t payload,
		result *res)
{
	double warm = opt.secs * 0.2, t0, end;
	size_t n = 0;
	int r;

	/* Warm-up: fault in the buffers and ring pages, settle caches. */
	t0 = now_s();
	for (unsigned i = 0; i < 2000 && (i < 5 || now_s() - t0 < warm); i++) {
		if (opt.iters && i == 5)
			break;
		r = op(b, payload);
		if (r < 0)
			return r;
	}
	end = now_s() + opt.secs;
	while (opt.iters ? n < opt.iters
			 : n < MAX_SAMPLES && (n < 20 || now_s() < end)) {
		uint64_t s = now_ns();
		r = op(b, payload);
		uint64_t e = now_ns();
		if (r < 0)
			return r;
		samples[n++] = (uint32_t)min_u64(e - s, UINT32_MAX);
	}
	percentiles(samples, n, &res->median_us, &res->p99_us);
	return 0;
}

/*
 * Latency of @n ops (at most MAX_TURN_OPS) that take turns: TURN_CALLS calls of one,
 * then of the next, and so on, each op's samples kept apart, until each
 * had its share of (n + 1) / 2 case times.  What the machine does meanwhile
 * (the host moving vCPUs changes cross-CPU figures from one second to the
 * next) then affects all alike, and their ratio holds.  With --iters each
 * op runs its N calls alone, one after the other.
 */
static int
measure_turns(bclient *b, int (*const *ops)(bclient *, size_t), unsigned n,
	      size_t payload, result *const *res)
{
	static uint32_t *turn_samples[MAX_TURN_OPS];
	size_t count[MAX_TURN_OPS] = { 0 };
	double warm = opt.secs * 0.2 / n, t0, end;
	int r;

	if (n > MAX_TURN_OPS)
		return -EINVAL;
	for (unsigned k = 0; k < n; k++) {
		if (!turn_samples[k]) {
			turn_samples[k] = malloc(MAX_SAMPLES *
						 sizeof(*turn_samples[k]));
			if (!turn_samples[k])
				return -ENOMEM;
		}
		t0 = now_s();
		for (unsigned i = 0;
		     i < 2000 && (i < 5 || now_s() - t0 < warm); i++) {
			if (opt.iters && i == 5)
				break;
			r = ops[k](b, payload);
			if (r < 0)
				return r;
		}
	}
	end = now_s() + opt.secs * (n + 1) / 2;
	for (unsigned k = 0; opt.iters && k < n; k++)
		while (count[k] < opt.iters) {
			uint64_t s = now_ns();
			r = ops[k](b, payload);
			uint64_t e = now_ns();
			if (r < 0)
				return r;
			turn_samples[k][count[k]++] =
				(uint32_t)min_u64(e - s, UINT32_MAX);
		}
	while (!opt.iters) {
		bool more = false;

		for (unsigned k = 0; k < n; k++) {
			r = ops[k](b, payload); /* not timed: see TURN_CALLS */
			if (r < 0)
				return r;
			for (unsigned i = 0;
			     i < TURN_CALLS && count[k] < MAX_SAMPLES; i++) {
				uint64_t s = now_ns();
				r = ops[k](b, payload);
				uint64_t e = now_ns();
				if (r < 0)
					return r;
				turn_samples[k][count[k]++] =
					(uint32_t)min_u64(e - s, UINT32_MAX);
			}
			more |= count[k] < 20 ||
				(count[k] < MAX_SAMPLES && now_s() < end);
		}
		if (!more)
			break;
	}
	for (unsigned k = 0; k < n; k++)
		percentiles(turn_samples[k], count[k], &res[k]->median_us,
			    &res[k]->p99_us);
	return 0;
}

static int
measure_rate(bclient *b, int (*batch)(bclient *, size_t, unsigned),
	     size_t payload, result *res)
{
	unsigned n = payload <= 1024 ? 20000 : 1000;
	double t0, el;
	uint64_t total = 0;
	int r;

	if (opt.quick)
		n /= 10;
	if (opt.batch)
		n = opt.batch;
	if (!opt.iters) {
		r = batch(b, payload, n); /* warm-up */
		if (r < 0)
			return r;
	}
	t0 = now_s();
	do {
		r = batch(b, payload, n);
		if (r < 0)
			return r;
		total += n;
		el = now_s() - t0;
	} while (opt.iters ? total < opt.iters : el < opt.secs);
	res->ops = (double)total / el;
	return 0;
}

static int
measure_connect(bclient *b, result *res)
{
	unsigned n = 0;
	double end;
	int r;

	for (unsigned i = 0; i < 5; i++) {
		r = bc_connect(b, CONNECT_MAX);
		if (r < 0)
			return r;
		bc_disconnect(b);
	}
	/* Up to connect_cycles, time-boxed to 3 x the case time. */
	end = now_s() + 3 * opt.secs;
	while (opt.iters ? n < opt.iters
			 : n < opt.connect_cycles && (n < 10 || now_s() < end)) {
		uint64_t s = now_ns();
		r = bc_connect(b, CONNECT_MAX);
		if (r < 0)
			return r;
		bc_disconnect(b);
		samples[n++] = (uint32_t)min_u64(now_ns() - s, UINT32_MAX);
	}
	percentiles(samples, n, &res->median_us, &res->p99_us);
	return 0;
}

static bool
size_wanted(size_t size)
{
	if (opt.n_sizes == 0)
		return true;
	for (unsigned i = 0; i < opt.n_sizes; i++)
		if (opt.sizes[i] == size)
			return true;
	return false;
}

static void
report(bclient *b, result *r, int err)
{
	char sz[32], extra[64] = "";

	r->retries = b->call_retries + b->send_retries;
	b->call_retries = b->send_retries = 0;
	size_str(r->size, sz, sizeof(sz));
	r->ok = err == 0;
	if (err < 0) {
		any_failed = true;
		fprintf(stderr, "  %-5s %-6s %-14s %7s: FAILED: %s\n",
			sys_names[r->sys], tr_names[r->tr], case_names[r->cid],
			sz, strerror(-err));
		return;
	}
	if (r->retries)
		snprintf(extra, sizeof(extra), " (%llu retries after -EAGAIN)",
			 (unsigned long long)r->retries);
	if (case_is_rate[r->cid])
		fprintf(stderr, "  %-5s %-6s %-14s %7s: %.0f msgs/s%s\n",
			sys_names[r->sys], tr_names[r->tr], case_names[r->cid],
			sz, r->ops, extra);
	else
		fprintf(stderr,
			"  %-5s %-6s %-14s %7s: median %.2f us, p99 %.2f us%s%s\n",
			sys_names[r->sys], tr_names[r->tr], case_names[r->cid],
			sz, r->median_us, r->p99_us,
			r->one_cpu ? " (one CPU)" : "", extra);
}

#define RPC_CASES \
	((1u << C_RPC_SYNC) | (1u << C_RPC_ADD) | (1u << C_RPC_BORROW) | \
	 (1u << C_RPC_FD))

/*
 * The generated-stub cases of lrpc on a second connection, each size in
 * turns with the raw sync call of the same size (see measure_turns()).
 */
static void
run_rpc(bclient *b, bool one_cpu)
{
	int r = rpc_open(b);

	for (size_t i = 0; i < sizeof(rpc_sizes) / sizeof(*rpc_sizes); i++) {
		size_t size = rpc_sizes[i];
		int (*ops[MAX_TURN_OPS])(bclient *, size_t);
		result *res[MAX_TURN_OPS], raw = { .sys = b->sys, .tr = b->tr,
					.cid = C_SYNC, .size = size,
					.one_cpu = one_cpu },
			    nofd = { .sys = b->sys, .tr = b->tr,
				     .cid = C_RPC_FD, .size = size,
				     .one_cpu = one_cpu };
		unsigned n = 0, first;

		if (!size_wanted(size))
			continue;
		if (!opt.iters) {
			ops[n] = op_sync;
			res[n++] = &raw;
		}
		first = n;
		if (opt.cases & (1u << C_RPC_SYNC)) {
			ops[n] = op_rpc_sync;
			res[n++] = add_result(b->sys, b->tr, C_RPC_SYNC, size,
					      one_cpu);
		}
		if (opt.cases & (1u << C_RPC_BORROW)) {
			ops[n] = op_rpc_borrow;
			res[n++] = add_result(b->sys, b->tr, C_RPC_BORROW, size,
					      one_cpu);
		}
		if ((opt.cases & (1u << C_RPC_ADD)) && size == RPC_ADD_SIZE) {
			ops[n] = op_rpc_add;
			res[n++] = add_result(b->sys, b->tr, C_RPC_ADD, size,
					      one_cpu);
		}
		unsigned fd_at = 0;
		if ((opt.cases & (1u << C_RPC_FD)) && size == RPC_ADD_SIZE &&
		    b->sys == SYS_LRPC) {
			ops[n] = op_rpc_nofd;
			res[n++] = &nofd;
			fd_at = n;
			ops[n] = op_rpc_fd;
			res[n++] = add_result(b->sys, b->tr, C_RPC_FD, size,
					      one_cpu);
		}
		if (n == first)
			continue;
		int err = r < 0 ? r : measure_turns(b, ops, n, size, res);
		if (first && err == 0) {
			char sz[32];

			size_str(size, sz, sizeof(sz));
			fprintf(stderr,
				"  %-5s %-6s %-14s %7s: median %.2f us, p99 "
				"%.2f us (raw call in turns with the stubs)\n",
				sys_names[b->sys], tr_names[b->tr], "sync", sz,
				raw.median_us, raw.p99_us);
		}
		for (unsigned k = first; k < n; k++) {
			if (fd_at && k == fd_at - 1)
				continue; /* reported with rpc_fd below */
			res[k]->has_raw = first && err == 0;
			res[k]->raw_us = raw.median_us;
			report(b, res[k], err);
		}
		if (fd_at && err == 0)
			fprintf(stderr,
				"  %-5s %-6s %-14s %7s: median %.2f us, p99 "
				"%.2f us (the same call without the fd)\n",
				sys_names[b->sys], tr_names[b->tr], "rpc_nofd",
				"16 B", nofd.median_us, nofd.p99_us);
	}
	if (r < 0)
		fprintf(stderr, "lrpc-bench: %s %s: stub client: %s\n",
			sys_names[b->sys], tr_names[b->tr], strerror(-r));
	rpc_close(b);
}

/*
 * Run the wanted cases for one system and transport against a fresh server.
 * @one_cpu: the same-CPU note (sync cases only, both processes on CPU 0).
 */
static void
run_pair(int sys, int tr, bool one_cpu)
{
	int scpu = -1, ccpu = -1;
	char name[64];
	bclient b = { .sys = sys, .tr = tr, .name = name };
	pid_t pid;
	int r;

	if (opt.pin) {
		ccpu = 0;
		scpu = one_cpu ? 0 : 1;
	}
	snprintf(name, sizeof(name), "lrpc-bench-%d-%s-%s", (int)getpid(),
		 sys_names[sys], tr_names[tr]);
	b.req = calloc(1, BUF_CAP);
	b.resp = calloc(1, BUF_CAP);
	if (sys == SYS_LRPC)
		b.arena_buf = malloc(BUF_CAP);
	if (!b.req || !b.resp || (sys == SYS_LRPC && !b.arena_buf))
		goto oom;
	pid = server_start(sys, tr, name, scpu);
	if (pid < 0) {
		fprintf(stderr, "lrpc-bench: cannot start the %s %s server\n",
			sys_names[sys], tr_names[tr]);
		any_failed = true;
		goto out;
	}
	pin_to(ccpu);

	r = bc_connect(&b, MAX_MSG);
	if (r < 0) {
		fprintf(stderr, "lrpc-bench: %s %s: connect: %s\n",
			sys_names[sys], tr_names[tr], strerror(-r));
		any_failed = true;
		goto stop;
	}
	if (opt.cases & (1u << C_SYNC)) {
		for (size_t i = 0; i < sizeof(lat_sizes) / sizeof(*lat_sizes);
		     i++) {
			if (!size_wanted(lat_sizes[i]) ||
			    (one_cpu && lat_sizes[i] != 16 &&
			     lat_sizes[i] != 64 * KIB))
				continue;
			result *res = add_result(sys, tr, C_SYNC, lat_sizes[i],
						 one_cpu);
			report(&b, res, measure_latency(&b, op_sync, lat_sizes[i],
						    res));
		}
	}
	if ((opt.cases & RPC_CASES) && sys == SYS_LRPC)
		run_rpc(&b, one_cpu);
	if ((opt.cases & (1u << C_SYNC_ZC)) && sys == SYS_LRPC &&
	    tr == TR_SHM) {
		for (size_t i = 0; i < sizeof(zc_sizes) / sizeof(*zc_sizes);
		     i++) {
			if (!size_wanted(zc_sizes[i]))
				continue;
			result *res = add_result(sys, tr, C_SYNC_ZC,
						 zc_sizes[i], one_cpu);
			report(&b, res, measure_latency(&b, op_sync_zc, zc_sizes[i],
						    res));
		}
	}
	if (one_cpu)
		goto disconnect;
	if (opt.cases & (1u << C_ONEWAY)) {
		for (size_t i = 0; i < sizeof(rate_sizes) / sizeof(*rate_sizes);
		     i++) {
			if (!size_wanted(rate_sizes[i]))
				continue;
			result *res = add_result(sys, tr, C_ONEWAY,
						 rate_sizes[i], false);
			report(&b, res, measure_rate(&b, op_oneway_batch,
						 rate_sizes[i], res));
		}
	}
	if (opt.cases & (1u << C_EVENTS)) {
		for (size_t i = 0; i < sizeof(rate_sizes) / sizeof(*rate_sizes);
		     i++) {
			if (!size_wanted(rate_sizes[i]))
				continue;
			result *res = add_result(sys, tr, C_EVENTS,
						 rate_sizes[i], false);
			report(&b, res, measure_rate(&b, op_events_batch,
						 rate_sizes[i], res));
		}
	}
	if ((opt.cases & (1u << C_STREAM)) && sys == SYS_LRPC &&
	    size_wanted(16)) {
		result *res = add_result(sys, tr, C_STREAM, 16, false);
		r = rpc_open(&b);
		if (r == 0 && opt.stream_window)
			r = lrpc_rpc_client_set_stream_window(b.rc,
							      opt.stream_window);
		report(&b, res, r < 0 ? r : measure_rate(&b, op_stream_batch,
							  16, res));
		rpc_close(&b);
	}
disconnect:
	bc_disconnect(&b);
	if ((opt.cases & (1u << C_CONNECT)) && !one_cpu) {
		result *res = add_result(sys, tr, C_CONNECT, CONNECT_MAX, false);
		report(&b, res, measure_connect(&b, res));
	}
stop:
	pin_to(-1);
	server_stop(pid);
out:
	free(b.req);
	free(b.resp);
	free(b.arena_buf);
	return;
oom:
	fprintf(stderr, "lrpc-bench: out of memory\n");
	exit(1);
}

/* ---- output ------------------------------------------------------------ */

static void
cell(char *buf, size_t cap, const result *r)
{
	if (!r) {
		snprintf(buf, cap, "-");
		return;
	}
	if (!r->ok) {
		snprintf(buf, cap, "failed");
		return;
	}
	if (case_is_rate[r->cid]) {
		if (r->ops >= 1e6)
			snprintf(buf, cap, "%.2f M/s", r->ops / 1e6);
		else
			snprintf(buf, cap, "%.1f k/s", r->ops / 1e3);
	} else if (r->median_us >= 1000) {
		snprintf(buf, cap, "%.0f / %.0f", r->median_us, r->p99_us);
	} else if (r->median_us >= 100) {
		snprintf(buf, cap, "%.1f / %.1f", r->median_us, r->p99_us);
	} else {
		snprintf(buf, cap, "%.2f / %.2f", r->median_us, r->p99_us);
	}
}

static void
ratio(char *buf, size_t cap, const result *a, const result *b)
{
	if (!a || !b || !a->ok || !b->ok) {
		snprintf(buf, cap, "-");
		return;
	}
	if (case_is_rate[a->cid])
		snprintf(buf, cap, "%.2f", a->ops / b->ops);
	else
		snprintf(buf, cap, "%.3f", a->median_us / b->median_us);
}

/* Cases whose libqb cell is libqb's plain sync call of the same size. */
static bool
vs_qb_sync(int cid)
{
	return cid == C_SYNC_ZC || cid == C_RPC_SYNC || cid == C_RPC_ADD ||
	       cid == C_RPC_BORROW;
}

static void
print_table(bool one_cpu)
{
	static const int order[] = { C_SYNC, C_RPC_SYNC, C_RPC_ADD,
				     C_RPC_BORROW, C_SYNC_ZC, C_ONEWAY,
				     C_EVENTS, C_STREAM, C_CONNECT };
	bool footnote = false;

	printf("%-14s %7s | %-18s %-18s %7s | %-18s %-18s %7s\n", "case",
	       "size", "lrpc-shm", "libqb-shm", "ratio", "lrpc-socket",
	       "libqb-socket", "ratio");
	printf("%.*s\n", 117,
	       "-----------------------------------------------------------"
	       "-----------------------------------------------------------");
	for (size_t o = 0; o < sizeof(order) / sizeof(*order); o++) {
		int cid = order[o];
		size_t sizes[8];
		unsigned n = 0;

		/* The sizes measured for this case, in order of first use. */
		for (unsigned i = 0; i < n_results; i++) {
			const result *r = &results[i];
			bool seen = false;

			if (r->cid != cid || r->one_cpu != one_cpu)
				continue;
			for (unsigned k = 0; k < n; k++)
				seen |= sizes[k] == r->size;
			if (!seen && n < 8)
				sizes[n++] = r->size;
		}
		for (unsigned i = 1; i < n; i++)
			for (unsigned k = i; k > 0 && sizes[k] < sizes[k - 1];
			     k--) {
				size_t t = sizes[k];
				sizes[k] = sizes[k - 1];
				sizes[k - 1] = t;
			}
		for (unsigned i = 0; i < n; i++) {
			char sz[32], c[4][40], rt[2][16];
			const result *r[4];

			size_str(sizes[i], sz, sizeof(sz));
			for (int t = 0; t < N_TR; t++) {
				r[2 * t] = find_result(SYS_LRPC, t, cid,
						       sizes[i], one_cpu);
				r[2 * t + 1] = find_result(SYS_LIBQB, t, cid,
							   sizes[i], one_cpu);
				if (vs_qb_sync(cid)) {
					/* libqb has no zero-copy client API
					 * and no stubs: compare with its plain
					 * sync call. */
					bool qb = t == TR_SHM ||
						  cid != C_SYNC_ZC;
					r[2 * t + 1] = qb ?
						find_result(SYS_LIBQB, t,
							    C_SYNC, sizes[i],
							    one_cpu) : NULL;
					footnote |= r[2 * t + 1] != NULL;
				}
				cell(c[2 * t], sizeof(c[0]), r[2 * t]);
				cell(c[2 * t + 1], sizeof(c[0]), r[2 * t + 1]);
				if (vs_qb_sync(cid) && r[2 * t + 1])
					strcat(c[2 * t + 1], " *");
				ratio(rt[t], sizeof(rt[0]), r[2 * t],
				      r[2 * t + 1]);
			}
			printf("%-14s %7s | %-18s %-18s %7s | %-18s %-18s "
			       "%7s\n",
			       case_names[cid], sz, c[0], c[1], rt[0], c[2],
			       c[3], rt[1]);
		}
	}
	printf("\nLatency cells: median / p99 in microseconds, ratio of "
	       "medians (lower is better).\n"
	       "Throughput cells: messages per second, ratio of messages per "
	       "second (higher is better).\n");
	if (footnote)
		printf("* libqb has no zero-copy client API and no generated "
		       "stubs: its cell repeats libqb's\n  plain sync call of "
		       "that size.\n");
}

/*
 * "<what> <size>: shm +x.x% (raw a µs, stub b µs), socket ..." for @cid (an
 * rpc case) at @size, against the raw call measured in turns with it (or,
 * with --iters, the sync row).  16 B as a percentage, larger sizes as a
 * ratio.
 */
static void
print_overhead(int cid, size_t size, const char *what, bool one_cpu)
{
	bool any = false;
	char sz[32];

	size_str(size, sz, sizeof(sz));
	for (int t = 0; t < N_TR; t++) {
		const result *rpc = find_result(SYS_LRPC, t, cid, size,
						one_cpu);
		const result *raw = find_result(SYS_LRPC, t, C_SYNC, size,
						one_cpu);
		double raw_us;

		if (!rpc || !rpc->ok)
			continue;
		if (rpc->has_raw)
			raw_us = rpc->raw_us;
		else if (raw && raw->ok)
			raw_us = raw->median_us;
		else
			continue;
		if (!any)
			printf("%s %s: ", what, sz);
		if (size <= 16)
			printf("%s%s %+.1f%%", any ? ", " : "", tr_names[t],
			       (rpc->median_us / raw_us - 1) * 100);
		else
			printf("%s%s %.2fx", any ? ", " : "", tr_names[t],
			       rpc->median_us / raw_us);
		printf(" (raw %.2f µs, stub %.2f µs)", raw_us,
		       rpc->median_us);
		any = true;
	}
	if (any)
		printf("\n");
}

static void
print_overheads(bool one_cpu)
{
	printf("\n");
	for (size_t i = 0; i < sizeof(rpc_sizes) / sizeof(*rpc_sizes); i++)
		print_overhead(C_RPC_SYNC, rpc_sizes[i], "stub echo at",
			       one_cpu);
	print_overhead(C_RPC_ADD, RPC_ADD_SIZE, "scalar stub (add) at",
		       one_cpu);
	for (size_t i = 0; i < sizeof(rpc_sizes) / sizeof(*rpc_sizes); i++)
		print_overhead(C_RPC_BORROW, rpc_sizes[i],
			       "stub echo, borrowed result, at", one_cpu);
	printf("Stub against raw call: medians of the stub call and of the "
	       "raw sync call of the same\npayload, measured in turns "
	       "(blocks of %d calls) on two connections to the same "
	       "server.\n", TURN_CALLS);
}

static void
json_num(FILE *f, const char *key, double v, bool valid, bool last)
{
	if (valid)
		fprintf(f, "\"%s\": %.3f%s", key, v, last ? "" : ", ");
	else
		fprintf(f, "\"%s\": null%s", key, last ? "" : ", ");
}

static int
write_json(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		fprintf(stderr, "lrpc-bench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (unsigned i = 0; i < n_results; i++) {
		const result *r = &results[i];
		bool rate = case_is_rate[r->cid];

		/* A failed case is written with every figure null. */
		fprintf(f,
			"{\"system\": \"%s\", \"transport\": \"%s\", "
			"\"case\": \"%s%s\", \"size\": %zu, ",
			sys_names[r->sys], tr_names[r->tr], case_names[r->cid],
			r->one_cpu ? "_1cpu" : "", r->size);
		json_num(f, "median_us", r->median_us, r->ok && !rate, false);
		json_num(f, "p99_us", r->p99_us, r->ok && !rate, false);
		json_num(f, "ops_per_s", r->ops, r->ok && rate, true);
		fprintf(f, "}\n");
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "lrpc-bench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- the memory case ---------------------------------------------------- */

/* Resident memory of @pid (0: this process) in kB, from smaps_rollup. */
static long
rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/smaps_rollup");
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Rss: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

enum { MEM_IDLE, MEM_SMALL, MEM_BIG_IDLE, N_MEM };
static const char *const mem_names[N_MEM] = {
	"idle", "after one 16 B call", "1 s after one 1 MiB call"
};

typedef struct mem_result {
	int sys, tr;
	bool ok;
	unsigned conns;
	double server_kb[N_MEM], client_kb[N_MEM]; /* per connection */
} mem_result;

static mem_result mem_results[N_SYS * N_TR];
static unsigned n_mem_results;

/* Let a loop of lrpc clients (or, with libqb, time) run for @secs. */
static void
mem_idle(lrpc_loop *loop, double secs)
{
	double end = now_s() + secs;

	while (now_s() < end) {
		if (loop)
			(void)lrpc_loop_run_once(
				loop, (uint64_t)((end - now_s()) * 1e6) + 1);
		else
			usleep(10000);
	}
}

static int
mem_call(int sys, void *conn, uint8_t *req, uint8_t *resp, size_t payload)
{
	bclient b = { .sys = sys, .req = req, .resp = resp };
	size_t size;

	if (sys == SYS_LRPC)
		b.lc = conn;
#ifdef HAVE_LIBQB
	else
		b.qc = conn;
#endif
	size = bc_build(&b, MSG_ECHO, payload);
	int r = bc_call_raw(&b, size);
	return r < 0 ? r : 0;
}

/*
 * Resident memory per connection on each side, from /proc/PID/smaps_rollup
 * before and after: MEM_CONNS connections to one server, idle; after one
 * 16 B call each; 1 s after one 1 MiB call each (the lrpc clients sit in
 * an lrpc_loop meanwhile, which runs their give-back timers; a plain
 * synchronous client gives back at its next call instead).  The buffers
 * the calls use are shared and touched before the baseline.
 */
static void
run_memory(int sys, int tr)
{
	mem_result *m = &mem_results[n_mem_results++];
	void **conns = calloc(MEM_CONNS, sizeof(*conns));
	uint8_t *req = malloc(BUF_CAP), *resp = malloc(BUF_CAP);
	lrpc_loop *loop = NULL;
	char name[64];
	long s0, c0;
	unsigned n = 0;
	pid_t pid;
	int r = 0;

	*m = (mem_result){ .sys = sys, .tr = tr };
	snprintf(name, sizeof(name), "lrpc-bench-mem-%d", (int)getpid());
	if (!conns || !req || !resp)
		goto out;
	memset(req, 0x5a, BUF_CAP);
	memset(resp, 0, BUF_CAP);
	if (sys == SYS_LRPC && lrpc_loop_new(&loop) < 0)
		goto out;
	pid = server_start(sys, tr, name, -1);
	if (pid < 0)
		goto out;
	fprintf(stderr, "lrpc-bench: memory, %s %s, %u connections\n",
		sys_names[sys], tr_names[tr], MEM_CONNS);
	mem_idle(NULL, 0.2);
	s0 = rss_kb(pid);
	c0 = rss_kb(0);
	for (; n < MEM_CONNS && r == 0; n++) {
		bclient b = { .sys = sys, .tr = tr, .name = name };

		r = bc_connect(&b, MAX_MSG);
		if (sys == SYS_LRPC) {
			conns[n] = b.lc;
			if (r == 0)
				r = lrpc_client_attach_loop(b.lc, loop);
		}
#ifdef HAVE_LIBQB
		else
			conns[n] = b.qc;
#endif
		if (r < 0 || !conns[n])
			break;
	}
	if (r < 0 || n < MEM_CONNS) {
		fprintf(stderr, "lrpc-bench: memory: connection %u: %s\n", n,
			strerror(-r));
		goto stop;
	}
	for (int phase = 0; phase < N_MEM && r == 0; phase++) {
		if (phase == MEM_SMALL)
			for (unsigned i = 0; i < n && r == 0; i++)
				r = mem_call(sys, conns[i], req, resp, 16);
		if (phase == MEM_BIG_IDLE)
			for (unsigned i = 0; i < n && r == 0; i++)
				r = mem_call(sys, conns[i], req, resp,
					     MEM_BIG - bc_resp_hdr(
						&(bclient){ .sys = sys }));
		mem_idle(loop, phase == MEM_BIG_IDLE ? 1.0 : 0.2);
		m->server_kb[phase] = (double)(rss_kb(pid) - s0) / n;
		m->client_kb[phase] = (double)(rss_kb(0) - c0) / n;
	}
	m->ok = r == 0;
	m->conns = n;
	if (r < 0)
		fprintf(stderr, "lrpc-bench: memory: call: %s\n", strerror(-r));
stop:
	for (unsigned i = 0; i < n; i++) {
		bclient b = { .sys = sys };

		if (sys == SYS_LRPC)
			b.lc = conns[i];
#ifdef HAVE_LIBQB
		else
			b.qc = conns[i];
#endif
		bc_disconnect(&b);
	}
	server_stop(pid);
out:
	if (!m->ok)
		any_failed = true;
	lrpc_loop_unref(loop);
	free(conns);
	free(req);
	free(resp);
}

static void
print_memory(void)
{
	if (n_mem_results == 0)
		return;
	printf("\nResident memory per connection (kB, smaps_rollup; %u "
	       "connections to one server; targets: idle <= 16, 1 s after "
	       "a 1 MiB call <= 64, each side):\n\n",
	       MEM_CONNS);
	printf("| transport | system | state | server | client |\n");
	printf("|---|---|---|---|---|\n");
	for (unsigned i = 0; i < n_mem_results; i++) {
		const mem_result *m = &mem_results[i];

		for (int p = 0; p < N_MEM; p++) {
			if (!m->ok) {
				printf("| %s | %s | %s | failed | failed |\n",
				       tr_names[m->tr], sys_names[m->sys],
				       mem_names[p]);
				continue;
			}
			printf("| %s | %s | %s | %.1f | %.1f |\n",
			       tr_names[m->tr], sys_names[m->sys],
			       mem_names[p], m->server_kb[p], m->client_kb[p]);
		}
	}
}

/* ---- scale: many clients of one server -------------------------------- */

/*
 * (a) 1, 8 and 64 client processes doing 16 B sync calls against one
 * server, all at once for opt.secs: aggregate calls per second and the
 * p99 of every call.  (c) One client's 16 B call latency alone, then with
 * SCALE_IDLE idle connections open to the same server: the loop must not
 * pay for connections that do nothing.
 */
static const unsigned scale_clients[] = { 1, 8, 64 };
#define N_SCALE (sizeof(scale_clients) / sizeof(*scale_clients))
#define SCALE_SAMPLES 200000u
#define SCALE_IDLE 1000u

typedef struct scale_result {
	int sys, tr;
	bool ok;
	double calls_per_s[N_SCALE], p99_us[N_SCALE];
	double busy_alone_us, busy_idle_us; /* medians, (c) */
	/* (b): the server's time to send every round, events per second
	 * until the last client had all, and events lost */
	double fanout_send_us, fanout_rate;
	uint64_t fanout_lost;
} scale_result;

#define FANOUT_CLIENTS 100u
#define FANOUT_ROUNDS 100u

static scale_result scale_results[2 * N_TR];
static unsigned n_scale_results;

/* One client process of (a): calls until @secs pass, then its count. */
static void
scale_child(int sys, int tr, const char *name, int ready_fd, int go_fd,
	    uint32_t *lat, uint64_t *count)
{
	bclient b = { .sys = sys, .tr = tr, .name = name,
		      .req = malloc(BUF_CAP), .resp = malloc(BUF_CAP) };
	char c;
	uint64_t n = 0;

	if (!b.req || !b.resp || bc_connect(&b, MAX_MSG) < 0)
		_exit(1);
	memset(b.req, 0x5a, BUF_CAP);
	(void)!write(ready_fd, "r", 1);
	/* Everyone starts when the parent closes the pipe. */
	(void)!read(go_fd, &c, 1);
	double end = now_s() + opt.secs;
	while (now_s() < end) {
		uint64_t t0 = now_ns();
		if (op_sync(&b, 16) < 0)
			_exit(1);
		uint64_t dt = now_ns() - t0;
		if (n < SCALE_SAMPLES)
			lat[n] = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
		n++;
	}
	*count = n;
	bc_disconnect(&b);
	_exit(0);
}

static int
scale_run(int sys, int tr, const char *name, unsigned n, double *ret_rate,
	  double *ret_p99)
{
	size_t per = sizeof(uint64_t) + SCALE_SAMPLES * sizeof(uint32_t);
	uint8_t *shared = mmap(NULL, per * n, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int ready[2], go[2], r = 0;
	pid_t pids[64];
	char c;

	if (shared == MAP_FAILED)
		return -errno;
	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0)
		return -errno;
	fflush(stdout);
	fflush(stderr);
	for (unsigned i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			close(ready[0]);
			close(go[1]);
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			scale_child(sys, tr, name, ready[1], go[0],
				    (uint32_t *)(void *)(shared + i * per +
							 sizeof(uint64_t)),
				    (uint64_t *)(void *)(shared + i * per));
		}
	}
	close(ready[1]);
	close(go[0]);
	for (unsigned i = 0; i < n; i++)
		if (read(ready[0], &c, 1) != 1)
			r = -EIO;
	close(ready[0]);
	close(go[1]); /* go */
	uint64_t total = 0, kept = 0;
	for (unsigned i = 0; i < n; i++) {
		int st;
		if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			r = -EIO;
		uint64_t cnt;
		memcpy(&cnt, shared + i * per, sizeof(cnt));
		total += cnt;
		kept += min_u64(cnt, SCALE_SAMPLES);
	}
	uint32_t *all = malloc(kept * sizeof(*all) + 1);
	if (r == 0 && all && kept) {
		uint64_t k = 0;
		for (unsigned i = 0; i < n; i++) {
			uint64_t cnt;
			memcpy(&cnt, shared + i * per, sizeof(cnt));
			cnt = min_u64(cnt, SCALE_SAMPLES);
			memcpy(all + k, shared + i * per + sizeof(uint64_t),
			       cnt * sizeof(*all));
			k += cnt;
		}
		qsort(all, kept, sizeof(*all), cmp_u32);
		*ret_p99 = all[kept * 99 / 100] / 1000.0;
		*ret_rate = (double)total / opt.secs;
	} else if (r == 0) {
		r = -ENOMEM;
	}
	free(all);
	munmap(shared, per * n);
	return r;
}

/* A client of (b): count the fan-out's events, then say when it was done. */
static void
fanout_child(int sys, int tr, const char *name, int ready_fd,
	     uint64_t *done_ns, uint64_t *got)
{
	bclient b = { .sys = sys, .tr = tr, .name = name,
		      .resp = malloc(BUF_CAP) };
	double deadline;
	uint64_t n = 0;

	if (!b.resp || bc_connect(&b, 64 * KIB) < 0)
		_exit(1);
	(void)!write(ready_fd, "r", 1);
	deadline = now_s() + 20;
	while (n < FANOUT_ROUNDS && now_s() < deadline) {
		int r;
		if (sys == SYS_LRPC) {
			size_t size;
			r = lrpc_client_recv_event(b.lc, b.resp, BUF_CAP,
						   100 * 1000, &size);
		} else {
#ifdef HAVE_LIBQB
			ssize_t m = qb_ipcc_event_recv(b.qc, b.resp, BUF_CAP,
						       100);
			r = m > 0 ? 0 : m == -EAGAIN ? -ETIMEDOUT : (int)m;
#else
			r = -ENOTSUP;
#endif
		}
		if (r == 0)
			n++;
		else if (r != -ETIMEDOUT)
			break;
	}
	*done_ns = now_ns();
	*got = n;
	bc_disconnect(&b);
	_exit(0);
}

/* (b): one 64 B event to FANOUT_CLIENTS clients, FANOUT_ROUNDS times. */
static int
fanout_run(int sys, int tr, const char *name, scale_result *sr)
{
	size_t per = 2 * sizeof(uint64_t);
	uint8_t *shared = mmap(NULL, per * FANOUT_CLIENTS,
			       PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	bclient t = { .sys = sys, .tr = tr, .name = name,
		      .req = malloc(BUF_CAP), .resp = malloc(BUF_CAP) };
	pid_t pids[FANOUT_CLIENTS];
	int ready[2], r = 0;
	char c;

	if (shared == MAP_FAILED || !t.req || !t.resp ||
	    pipe2(ready, O_CLOEXEC) < 0) {
		r = -ENOMEM;
		goto out;
	}
	fflush(stdout);
	fflush(stderr);
	for (unsigned i = 0; i < FANOUT_CLIENTS; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			close(ready[0]);
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			fanout_child(sys, tr, name, ready[1],
				     (uint64_t *)(void *)(shared + i * per),
				     (uint64_t *)(void *)(shared + i * per +
							  8));
		}
	}
	close(ready[1]);
	for (unsigned i = 0; i < FANOUT_CLIENTS; i++)
		if (read(ready[0], &c, 1) != 1)
			r = -EIO;
	close(ready[0]);
	if (r == 0)
		r = bc_connect(&t, MAX_MSG);
	uint64_t t0 = now_ns();
	if (r == 0) {
		uint32_t rounds = FANOUT_ROUNDS;
		size_t size = bc_build(&t, MSG_FANOUT, sizeof(rounds));
		memcpy(t.req + size - sizeof(rounds), &rounds,
		       sizeof(rounds));
		r = bc_call_raw(&t, size);
		if (r >= 0 && (size_t)r >= bc_resp_hdr(&t) +
					      sizeof(struct fanout_reply)) {
			struct fanout_reply rep;
			memcpy(&rep, t.resp + bc_resp_hdr(&t), sizeof(rep));
			sr->fanout_send_us = (double)rep.ns / 1000.0;
			r = 0;
		} else if (r >= 0) {
			r = -EBADMSG;
		}
	}
	uint64_t got = 0, last = t0;
	for (unsigned i = 0; i < FANOUT_CLIENTS; i++) {
		int st;
		uint64_t done, n;
		if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			r = r ? r : -EIO;
		memcpy(&done, shared + i * per, sizeof(done));
		memcpy(&n, shared + i * per + 8, sizeof(n));
		got += n;
		if (n && done > last)
			last = done;
	}
	sr->fanout_lost = (uint64_t)FANOUT_CLIENTS * FANOUT_ROUNDS - got;
	if (last > t0)
		sr->fanout_rate = (double)got / ((double)(last - t0) * 1e-9);
	bc_disconnect(&t);
out:
	if (shared != MAP_FAILED)
		munmap(shared, per * FANOUT_CLIENTS);
	free(t.req);
	free(t.resp);
	return r;
}

/* (c): the median of @b's 16 B calls for opt.secs. */
static int
scale_busy(bclient *b, double *ret_median)
{
	unsigned n = 0;
	double end = now_s() + opt.secs;

	while (now_s() < end && n < MAX_SAMPLES) {
		uint64_t t0 = now_ns();
		int r = op_sync(b, 16);
		if (r < 0)
			return r;
		samples[n++] = (uint32_t)min_u64(now_ns() - t0, UINT32_MAX);
	}
	if (n == 0)
		return -EIO;
	qsort(samples, n, sizeof(*samples), cmp_u32);
	*ret_median = samples[n / 2] / 1000.0;
	return 0;
}

static int
scale_idle(int sys, int tr, const char *name, scale_result *sr)
{
	bclient busy = { .sys = sys, .tr = tr, .name = name,
			 .req = malloc(BUF_CAP), .resp = malloc(BUF_CAP) };
	bclient *idle = calloc(SCALE_IDLE, sizeof(*idle));
	unsigned n = 0;
	int r = -ENOMEM;

	if (!busy.req || !busy.resp || !idle)
		goto out;
	memset(busy.req, 0x5a, BUF_CAP);
	r = bc_connect(&busy, MAX_MSG);
	if (r == 0)
		r = scale_busy(&busy, &sr->busy_alone_us);
	for (; r == 0 && n < SCALE_IDLE; n++) {
		idle[n] = (bclient){ .sys = sys, .tr = tr, .name = name };
		r = bc_connect(&idle[n], 64 * KIB);
	}
	if (r == 0)
		r = scale_busy(&busy, &sr->busy_idle_us);
	for (unsigned i = 0; i < n; i++)
		bc_disconnect(&idle[i]);
	bc_disconnect(&busy);
out:
	free(idle);
	free(busy.req);
	free(busy.resp);
	return r;
}

static void
run_scale(int sys, int tr)
{
	scale_result *sr = &scale_results[n_scale_results++];
	struct rlimit rl;
	char name[64];
	pid_t pid;
	int r = 0;

	*sr = (scale_result){ .sys = sys, .tr = tr };
	/* A few fds per idle connection, on both sides. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	snprintf(name, sizeof(name), "lrpc-bench-scale-%d", (int)getpid());
	pid = server_start(sys, tr, name, -1);
	if (pid < 0) {
		any_failed = true;
		return;
	}
	for (unsigned i = 0; i < N_SCALE && r == 0; i++) {
		fprintf(stderr, "lrpc-bench: scale, %s %s, %u clients\n",
			sys_names[sys], tr_names[tr], scale_clients[i]);
		r = scale_run(sys, tr, name, scale_clients[i],
			      &sr->calls_per_s[i], &sr->p99_us[i]);
	}
	if (r == 0) {
		fprintf(stderr, "lrpc-bench: scale, %s %s, one event to %u "
				"clients, %u times\n",
			sys_names[sys], tr_names[tr], FANOUT_CLIENTS,
			FANOUT_ROUNDS);
		r = fanout_run(sys, tr, name, sr);
	}
	if (r == 0) {
		fprintf(stderr, "lrpc-bench: scale, %s %s, one busy client "
				"and %u idle\n",
			sys_names[sys], tr_names[tr], SCALE_IDLE);
		r = scale_idle(sys, tr, name, sr);
	}
	server_stop(pid);
	sr->ok = r == 0;
	if (r < 0) {
		fprintf(stderr, "lrpc-bench: scale, %s %s: %s\n",
			sys_names[sys], tr_names[tr], strerror(-r));
		any_failed = true;
	}
}

static const scale_result *
find_scale(int sys, int tr)
{
	for (unsigned i = 0; i < n_scale_results; i++)
		if (scale_results[i].sys == sys && scale_results[i].tr == tr &&
		    scale_results[i].ok)
			return &scale_results[i];
	return NULL;
}

static void
print_scale(void)
{
	if (n_scale_results == 0)
		return;
	printf("\nMany clients of one server (16 B sync calls; aggregate "
	       "calls/s and p99 of every call in us; ratio of calls/s, "
	       "target >= 3x libqb at 8 and 64 clients):\n\n");
	printf("| transport | clients | lrpc calls/s | lrpc p99 | libqb "
	       "calls/s | libqb p99 | ratio |\n|---|---|---|---|---|---|---|\n");
	for (int t = 0; t < N_TR; t++) {
		const scale_result *l = find_scale(SYS_LRPC, t);
		const scale_result *q = find_scale(SYS_LIBQB, t);
		if (!l && !q)
			continue;
		for (unsigned i = 0; i < N_SCALE; i++) {
			printf("| %s | %u |", tr_names[t], scale_clients[i]);
			if (l)
				printf(" %.0f | %.1f |", l->calls_per_s[i],
				       l->p99_us[i]);
			else
				printf(" - | - |");
			if (q)
				printf(" %.0f | %.1f |", q->calls_per_s[i],
				       q->p99_us[i]);
			else
				printf(" - | - |");
			if (l && q && q->calls_per_s[i] > 0)
				printf(" %.2fx |\n",
				       l->calls_per_s[i] / q->calls_per_s[i]);
			else
				printf(" - |\n");
		}
	}
	printf("\nOne 64 B event to %u clients, %u times (server's time to "
	       "send them all in us; events per second until the last client "
	       "had all; events lost; target: >= 3x libqb):\n\n",
	       FANOUT_CLIENTS, FANOUT_ROUNDS);
	printf("| transport | system | send us | events/s | lost |\n"
	       "|---|---|---|---|---|\n");
	for (unsigned i = 0; i < n_scale_results; i++) {
		const scale_result *s = &scale_results[i];
		if (!s->ok) {
			printf("| %s | %s | failed | failed | - |\n",
			       tr_names[s->tr], sys_names[s->sys]);
			continue;
		}
		printf("| %s | %s | %.0f | %.0f | %llu |\n", tr_names[s->tr],
		       sys_names[s->sys], s->fanout_send_us, s->fanout_rate,
		       (unsigned long long)s->fanout_lost);
	}
	printf("\nOne busy client with %u idle connections to the same "
	       "server (median 16 B call in us; target: within 10 %%):\n\n",
	       SCALE_IDLE);
	printf("| transport | system | alone | with idle | change |\n"
	       "|---|---|---|---|---|\n");
	for (unsigned i = 0; i < n_scale_results; i++) {
		const scale_result *s = &scale_results[i];
		if (!s->ok) {
			printf("| %s | %s | failed | failed | - |\n",
			       tr_names[s->tr], sys_names[s->sys]);
			continue;
		}
		printf("| %s | %s | %.2f | %.2f | %+.1f %% |\n",
		       tr_names[s->tr], sys_names[s->sys], s->busy_alone_us,
		       s->busy_idle_us,
		       100.0 * (s->busy_idle_us / s->busy_alone_us - 1.0));
	}
}

/* ---- main -------------------------------------------------------------- */

static void
usage(FILE *f)
{
	fprintf(f,
		"Usage: lrpc-bench [OPTIONS]\n"
		"Benchmark lrpc against libqb, server and client in separate "
		"processes.\n\n"
		"  --json FILE        also write one JSON object per result line\n"
		"  --quick            short runs (smoke test)\n"
		"  --cases LIST       sync,rpc_sync,rpc_add,rpc_borrow,rpc_fd,"
		"zerocopy,oneway,events,\n"
		"                     connect,memory,scale,stream (default: all; "
		"rpc: the four rpc\n"
		"                     cases)\n"
		"  --stream-window N  items the stream case's client grants at "
		"once (default:\n"
		"                     the library's)\n"
		"  --sizes LIST       payload sizes to run, e.g. 16,1K,64K,1M "
		"(default: all)\n"
		"  --systems LIST     lrpc,libqb (default: both when built "
		"with libqb)\n"
		"  --transports LIST  shm,socket (default: both)\n"
		"  --time SECONDS     measuring time per case (default 1.5)\n"
		"  --batch N          messages per one-way/events batch "
		"(default: 20000\n"
		"                     up to 1 KiB, 1000 above)\n"
		"  --iters N          exactly N calls/messages/cycles per case "
		"after 5\n"
		"                     warm-up calls, no time limit (for "
		"counting syscalls;\n"
		"                     the rpc cases then run alone, not in "
		"turns with raw calls)\n"
		"  --spin USEC        lrpc spin budget of client and server "
		"(default:\n"
		"                     the library's)\n"
		"  --pin[=MODE]       split: client on CPU 0, server on CPU 1;"
		"\n"
		"                     same: both on CPU 0 (sync cases only);\n"
		"                     both (default): split, then the sync "
		"cases again\n"
		"                     with both on CPU 0, as a separate note\n"
		"  --repeat N         run everything N times and report the "
		"median of the\n"
		"                     N figures of each case (default 1)\n"
		"  -h, --help         this text\n");
}

static int
parse_size(const char *s, size_t *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s)
		return -1;
	if (*end == 'K' || *end == 'k')
		v *= KIB, end++;
	else if (*end == 'M' || *end == 'm')
		v *= MIB, end++;
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end != '\0')
		return -1;
	*ret = v;
	return 0;
}

static int
parse_list(char *arg, const char *const *names, unsigned n_names,
	   unsigned *ret)
{
	char *save = NULL;

	*ret = 0;
	for (char *t = strtok_r(arg, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		unsigned i;

		if (strcmp(t, "all") == 0) {
			*ret = (1u << n_names) - 1;
			continue;
		}
		if (strcmp(t, "zerocopy") == 0 && names == case_names)
			t = "sync_zerocopy";
		if (strcmp(t, "rpc") == 0 && names == case_names) {
			*ret |= RPC_CASES;
			continue;
		}
		for (i = 0; i < n_names; i++)
			if (strcmp(t, names[i]) == 0)
				break;
		if (i == n_names) {
			fprintf(stderr, "lrpc-bench: unknown name '%s'\n", t);
			return -1;
		}
		*ret |= 1u << i;
	}
	return *ret ? 0 : -1;
}

int
main(int argc, char **argv)
{
	enum { O_JSON = 256, O_QUICK, O_CASES, O_SIZES, O_SYSTEMS,
	       O_TRANSPORTS, O_TIME, O_PIN, O_BATCH,
	       O_ITERS, O_SPIN, O_REPEAT, O_STREAM_WINDOW };
	static const struct option longopts[] = {
		{ "json", required_argument, NULL, O_JSON },
		{ "quick", no_argument, NULL, O_QUICK },
		{ "cases", required_argument, NULL, O_CASES },
		{ "sizes", required_argument, NULL, O_SIZES },
		{ "systems", required_argument, NULL, O_SYSTEMS },
		{ "transports", required_argument, NULL, O_TRANSPORTS },
		{ "time", required_argument, NULL, O_TIME },
		{ "pin", optional_argument, NULL, O_PIN },
		{ "batch", required_argument, NULL, O_BATCH },
		{ "iters", required_argument, NULL, O_ITERS },
		{ "spin", required_argument, NULL, O_SPIN },
		{ "repeat", required_argument, NULL, O_REPEAT },
		{ "stream-window", required_argument, NULL, O_STREAM_WINDOW },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool have_time = false;
	double t_start;
	int c;

	opt.secs = 1.5;
	opt.cases = (1u << N_CASES) - 1;
	opt.systems = (1u << N_SYS) - 1;
	opt.transports = (1u << N_TR) - 1;
	opt.connect_cycles = 200;
	opt.spin_usec = -1;
	opt.repeat = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_JSON:
			opt.json = optarg;
			break;
		case O_QUICK:
			opt.quick = true;
			break;
		case O_CASES:
			if (parse_list(optarg, case_names, N_CASES,
				       &opt.cases) < 0)
				return 2;
			break;
		case O_SIZES: {
			char *save = NULL;
			opt.n_sizes = 0;
			for (char *t = strtok_r(optarg, ",", &save); t;
			     t = strtok_r(NULL, ",", &save)) {
				if (opt.n_sizes == 16 ||
				    parse_size(t, &opt.sizes[opt.n_sizes]) < 0) {
					fprintf(stderr,
						"lrpc-bench: bad size '%s'\n",
						t);
					return 2;
				}
				opt.n_sizes++;
			}
			break;
		}
		case O_SYSTEMS:
			if (parse_list(optarg, sys_names, N_SYS,
				       &opt.systems) < 0)
				return 2;
			break;
		case O_TRANSPORTS:
			if (parse_list(optarg, tr_names, N_TR,
				       &opt.transports) < 0)
				return 2;
			break;
		case O_TIME:
			opt.secs = strtod(optarg, NULL);
			if (!(opt.secs > 0 && opt.secs < 60)) {
				fprintf(stderr, "lrpc-bench: bad --time\n");
				return 2;
			}
			have_time = true;
			break;
		case O_PIN:
			if (!optarg || strcmp(optarg, "both") == 0) {
				opt.pin = PIN_SPLIT | PIN_SAME;
			} else if (strcmp(optarg, "split") == 0) {
				opt.pin = PIN_SPLIT;
			} else if (strcmp(optarg, "same") == 0) {
				opt.pin = PIN_SAME;
			} else {
				fprintf(stderr, "lrpc-bench: bad --pin\n");
				return 2;
			}
			break;
		case O_ITERS:
			opt.iters = (unsigned)strtoul(optarg, NULL, 10);
			if (opt.iters == 0 || opt.iters > MAX_SAMPLES) {
				fprintf(stderr, "lrpc-bench: bad --iters\n");
				return 2;
			}
			break;
		case O_STREAM_WINDOW:
			opt.stream_window = (unsigned)strtoul(optarg, NULL, 10);
			if (opt.stream_window > LRPC_RPC_STREAM_MAX_WINDOW) {
				fprintf(stderr,
					"lrpc-bench: bad --stream-window\n");
				return 2;
			}
			break;
		case O_SPIN:
			opt.spin_usec = strtol(optarg, NULL, 10);
			if (opt.spin_usec < 0 || opt.spin_usec > 1000000) {
				fprintf(stderr, "lrpc-bench: bad --spin\n");
				return 2;
			}
			break;
		case O_BATCH:
			opt.batch = (unsigned)strtoul(optarg, NULL, 10);
			if (opt.batch == 0 || opt.batch > 10000000) {
				fprintf(stderr, "lrpc-bench: bad --batch\n");
				return 2;
			}
			break;
		case O_REPEAT:
			opt.repeat = (unsigned)strtoul(optarg, NULL, 10);
			if (opt.repeat == 0 || opt.repeat > 64) {
				fprintf(stderr, "lrpc-bench: --repeat needs "
						"1..64\n");
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (opt.quick) {
		if (!have_time)
			opt.secs = 0.1;
		opt.connect_cycles = 20;
	}
#ifndef HAVE_LIBQB
	if (opt.systems & (1u << SYS_LIBQB))
		fprintf(stderr, "lrpc-bench: built without libqb: measuring "
				"lrpc only\n");
	opt.systems &= ~(1u << SYS_LIBQB);
#endif
	if (!opt.systems)
		return 2;

	signal(SIGPIPE, SIG_IGN);
	sched_getaffinity(0, sizeof(all_cpus), &all_cpus);
	if (opt.pin && sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		fprintf(stderr, "lrpc-bench: --pin needs 2 CPUs\n");
		return 2;
	}
	samples = malloc(MAX_SAMPLES * sizeof(*samples));
	event_buf = calloc(1, BUF_CAP);
	if (!samples || !event_buf) {
		fprintf(stderr, "lrpc-bench: out of memory\n");
		return 1;
	}
	/* Fail on an unwritable JSON path before spending minutes. */
	if (opt.json && write_json(opt.json) < 0)
		return 1;

	t_start = now_s();
	fprintf(stderr, "lrpc-bench: lrpc %s%s, %ld CPUs, %.2f s per case%s\n",
		lrpc_version(),
#ifdef HAVE_LIBQB
		(opt.systems & (1u << SYS_LIBQB)) ? " vs libqb" : "",
#else
		"",
#endif
		sysconf(_SC_NPROCESSORS_ONLN), opt.secs,
		opt.pin ? ", pinned" : "");
	for (unsigned rep = 0; rep < opt.repeat; rep++) {
		if (opt.repeat > 1)
			fprintf(stderr, "lrpc-bench: run %u of %u\n", rep + 1,
				opt.repeat);
		if (opt.pin != PIN_SAME)
			for (int t = 0; t < N_TR; t++)
				for (int s = 0; s < N_SYS; s++)
					if ((opt.transports & (1u << t)) &&
					    (opt.systems & (1u << s)))
						run_pair(s, t, false);
		if ((opt.pin & PIN_SAME) &&
		    (opt.cases & ((1u << C_SYNC) | (1u << C_SYNC_ZC) |
				  RPC_CASES))) {
			fprintf(stderr, "lrpc-bench: sync cases with both "
					"processes on CPU 0\n");
			for (int t = 0; t < N_TR; t++)
				for (int s = 0; s < N_SYS; s++)
					if ((opt.transports & (1u << t)) &&
					    (opt.systems & (1u << s)))
						run_pair(s, t, true);
		}
	}
	if (opt.repeat > 1)
		reduce_repeats();
	if (opt.cases & (1u << C_SCALE))
		for (int t = 0; t < N_TR; t++)
			for (int s = 0; s < N_SYS; s++)
				if ((opt.transports & (1u << t)) &&
				    (opt.systems & (1u << s)))
					run_scale(s, t);
	if (opt.cases & (1u << C_MEMORY))
		for (int t = 0; t < N_TR; t++)
			for (int s = 0; s < N_SYS; s++)
				if ((opt.transports & (1u << t)) &&
				    (opt.systems & (1u << s)))
					run_memory(s, t);

	printf("\nlrpc-bench: %ld CPUs, %s, %.2f s per case%s, total %.0f s\n\n",
	       sysconf(_SC_NPROCESSORS_ONLN),
	       opt.pin & PIN_SPLIT ? "client pinned to CPU 0, server to CPU 1"
	       : opt.pin ? "both processes pinned to CPU 0"
			 : "not pinned",
	       opt.secs,
	       opt.repeat > 1 ? ", each figure the median of the runs" : "",
	       now_s() - t_start);
	bool stubs = (opt.cases & RPC_CASES) && (opt.systems & 1u << SYS_LRPC);

	if (opt.pin != PIN_SAME) {
		print_table(false);
		if (stubs)
			print_overheads(false);
	}
	if (opt.pin == PIN_SAME) {
		print_table(true);
		if (stubs)
			print_overheads(true);
	} else if (opt.pin & PIN_SAME) {
		printf("\nNote: the sync cases again with client and server "
		       "both pinned to CPU 0:\n\n");
		print_table(true);
		if (stubs)
			print_overheads(true);
	}
	print_memory();
	print_scale();
	if (opt.json && write_json(opt.json) < 0)
		return 1;
	return any_failed ? 1 : 0;
}
