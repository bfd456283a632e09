/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc.Service, the interface every RPC server answers (runtime/rpc/
 * rpc-introspect.c), on every transport, against a server process serving
 * rt.Types (rpc-types.idl):
 *
 *  - ping and info: the service, its process and every interface served
 *    with its version, id and hashes;
 *  - describe: the embedded IDL text and a descriptor graph whose indices
 *    all resolve, methods with their request and reply types; an unknown
 *    interface is the typed error NO_SUCH_INTERFACE;
 *  - stats: calls, errors by status, bytes and latency buckets that match
 *    the calls made, and the asking connection;
 *  - errors of more than 8 statuses: the rest counted in other_errors;
 *  - an interface taken off with lrpc_server_remove_handler() is gone
 *    from info, describe and stats;
 *  - tap: two monitors get every message of the other connection (hello,
 *    requests, replies, error replies, events) in order, decoded by their
 *    headers, one of them cut to the size it asked for; a monitor's own
 *    calls are not shown; a monitor that stops reading loses messages,
 *    counted exactly, while the other client's calls go on; a peer of
 *    another uid is refused (-EPERM);
 *  - LRPC_SERVER_NO_INTROSPECTION: not served at all;
 *  - LRPC_SERVER_INTROSPECTION_SAME_UID: describe and stats refused
 *    (-EPERM) to a peer of another uid, ping and info still answered.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "lrpc-service-client.h"
#include "rpc-types-client.h"
#include "rpc-types-server.h"

#define TIMEOUT (20 * LRPC_USEC_PER_SEC)

static int
h_add(lrpc_rpc_call *call, void *ud, int32_t a, int32_t b, int32_t *ret_sum)
{
	*ret_sum = a + b;
	return 0;
}

static int
h_fail(lrpc_rpc_call *call, void *ud, uint32_t code)
{
	return (int)code;
}

static int
h_emit(lrpc_rpc_call *call, void *ud, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		int r = rt_types_emit_tick(lrpc_rpc_call_get_conn(call), i,
					   "tick");
		if (r < 0)
			return r;
	}
	return 0;
}

static const struct rt_types_handlers handlers = {
	.add = h_add,
	.fail = h_fail,
	.emit = h_emit,
};

static void
types_setup(lrpc_server *s, lrpc_loop *loop, void *arg)
{
	assert_int_equal(rt_types_serve(s, &handlers, NULL), 0);
}

typedef struct fixture {
	th_rpc_fixture f;
	lrpc_arena arena;
	uint8_t buf[4096];
} fixture;

static void
start(void **state, fixture *x, uint32_t flags)
{
	lrpc_server_opts o = { .struct_size = sizeof(o), .flags = flags };

	x->f.server = th_server_spawn(*state, NULL, &o, types_setup, NULL);
	assert_non_null(x->f.server);
	assert_int_equal(th_connect(*state, &x->f.c, NULL), 0);
	assert_int_equal(lrpc_rpc_client_new(&x->f.rc, x->f.c), 0);
	lrpc_arena_init(&x->arena, x->buf, sizeof(x->buf),
			LRPC_ARENA_UNLIMITED);
}

static void
stop(fixture *x)
{
	lrpc_arena_done(&x->arena);
	th_rpc_fixture_stop(&x->f);
}

static void
test_introspect_ping_info(void **state)
{
	const th_ctx *ctx = *state;
	fixture x;
	lrpc_info info;

	start(state, &x, 0);
	assert_int_equal(lrpc_service_ping(x.f.rc, TIMEOUT, NULL), 0);
	assert_int_equal(lrpc_service_info(x.f.rc, &info, &x.arena, TIMEOUT,
					   NULL),
			 0);
	assert_string_equal(info.service, ctx->name);
	assert_int_equal(info.pid, th_server_pid(x.f.server));
	assert_int_equal(info.uid, geteuid());
	assert_string_equal(info.version, lrpc_version());
	assert_int_equal(info.transports.count, 1);
	assert_string_equal(info.transports.items[0],
			    ctx->transport == LRPC_TRANSPORT_SHM ? "shm"
								 : "socket");
	/* The built-in first, then what the application serves. */
	assert_int_equal(info.interfaces.count, 2);
	const lrpc_interface_info *svc = &info.interfaces.items[0];
	const lrpc_interface_info *rt = &info.interfaces.items[1];
	assert_string_equal(svc->name, "lrpc.Service");
	assert_int_equal(svc->id, LRPC_SERVICE_INTERFACE_ID);
	assert_string_equal(rt->name, "rt.Types");
	assert_int_equal(rt->id, RT_TYPES_INTERFACE_ID);
	assert_int_equal(rt->version, RT_TYPES_VERSION);
	assert_int_equal(rt->hashes.count, RT_TYPES_VERSION);
	assert_int_equal(rt->hashes.items[RT_TYPES_VERSION - 1],
			 RT_TYPES_HASH);
	stop(&x);
}

static void
test_introspect_describe(void **state)
{
	fixture x;
	lrpc_description d;
	lrpc_rpc_error err;

	start(state, &x, 0);
	assert_int_equal(lrpc_service_describe(x.f.rc, "rt.Types", &d,
					       &x.arena, TIMEOUT, NULL),
			 0);
	assert_string_equal(d.iface.name, "rt.Types");
	assert_non_null(strstr(d.idl, "module rt;"));
	assert_non_null(strstr(d.idl, "interface Types {"));
	assert_non_null(strstr(d.idl, "struct All {"));
	assert_int_equal(d.canonical.count, RT_TYPES_VERSION);
	assert_int_equal(d.methods.count, 12);
	/* Every index resolves; requests are structs, replies of calls too. */
	for (size_t i = 0; i < d.types.count; i++) {
		const lrpc_type_desc *t = &d.types.items[i];
		assert_true(t->kind >= LRPC_RPC_BOOL &&
			    t->kind < _LRPC_RPC_KIND_MAX);
		assert_true(t->inner == UINT32_MAX ||
			    t->inner < d.types.count);
		assert_true(t->value == UINT32_MAX ||
			    t->value < d.types.count);
		for (size_t k = 0; k < t->fields.count; k++)
			assert_true(t->kind == LRPC_RPC_ENUM
					    ? t->fields.items[k].type ==
						      UINT32_MAX
					    : t->fields.items[k].type <
						      d.types.count);
		if (t->kind == LRPC_RPC_ENUM)
			assert_true(t->values.count > 0);
	}
	for (size_t i = 0; i < d.methods.count; i++) {
		const lrpc_method_desc *m = &d.methods.items[i];
		assert_true(m->request < d.types.count);
		assert_int_equal(d.types.items[m->request].kind,
				 LRPC_RPC_STRUCT);
		assert_true((m->kind == LRPC_RPC_CALL) ==
			    (m->reply != UINT32_MAX));
	}
	const lrpc_method_desc *fail = &d.methods.items[2];
	assert_string_equal(fail->name, "fail");
	assert_int_equal(fail->errors.count, 2);
	assert_string_equal(fail->errors.items[1].name, "rt.RtError.WORSE");
	assert_int_equal(fail->errors.items[1].value, 7);

	assert_int_equal(lrpc_service_describe(x.f.rc, "rt.Nothing", &d,
					       &x.arena, TIMEOUT, &err),
			 LRPC_SERVICE_ERROR_NO_SUCH_INTERFACE);
	assert_string_equal(err.name,
			    "lrpc.ServiceError.NO_SUCH_INTERFACE");
	stop(&x);
}

static const lrpc_method_stats *
find_method(const lrpc_stats *st, const char *iface, const char *name)
{
	for (size_t i = 0; i < st->methods.count; i++)
		if (strcmp(st->methods.items[i].interface_name, iface) == 0 &&
		    strcmp(st->methods.items[i].method, name) == 0)
			return &st->methods.items[i];
	return NULL;
}

static void
test_introspect_stats(void **state)
{
	fixture x;
	lrpc_stats st;
	int32_t sum;

	start(state, &x, 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(rt_types_add(x.f.rc, i, 1, &sum, TIMEOUT,
					      NULL),
				 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(rt_types_fail(x.f.rc, RT_ERROR_WORSE,
					       TIMEOUT, NULL),
				 RT_ERROR_WORSE);
	assert_int_equal(rt_types_fail(x.f.rc, RT_ERROR_BAD, TIMEOUT, NULL),
			 RT_ERROR_BAD);
	assert_int_equal(lrpc_service_stats(x.f.rc, &st, &x.arena, TIMEOUT,
					    NULL),
			 0);

	const lrpc_method_stats *add = find_method(&st, "rt.Types", "add");
	const lrpc_method_stats *fail = find_method(&st, "rt.Types", "fail");
	const lrpc_method_stats *echo = find_method(&st, "rt.Types", "echo");
	assert_non_null(add);
	assert_non_null(fail);
	assert_non_null(echo);
	/* Events are no calls. */
	assert_null(find_method(&st, "rt.Types", "tick"));
	assert_int_equal(add->calls, 5);
	assert_int_equal(add->errors, 0);
	assert_int_equal(add->errors_by_status.count, 0);
	/* Core header + RPC header + body size + count + two i32. */
	assert_int_equal(add->bytes_in, 5 * (24 + 24 + 4 + 2 + 8));
	assert_int_equal(add->bytes_out, 5 * (24 + 24 + 4 + 2 + 4));
	uint64_t n = 0;
	for (unsigned i = 0; i < LRPC_HISTOGRAM_BUCKETS; i++)
		n += add->latency_us_log2[i];
	assert_int_equal(n, 5);
	assert_int_equal(fail->calls, 4);
	assert_int_equal(fail->errors, 4);
	assert_int_equal(fail->errors_by_status.count, 2);
	for (size_t i = 0; i < 2; i++) {
		int32_t k = ((const int32_t *)fail->errors_by_status.keys)[i];
		uint64_t v = ((const uint64_t *)fail->errors_by_status.values)[i];
		assert_int_equal(v, k == RT_ERROR_WORSE ? 3 : 1);
	}
	assert_int_equal(echo->calls, 0);
	/* Totals hold the calls so far, the stats call itself not yet
	 * answered: 9 calls of rt.Types, the stats call counted in. */
	assert_int_equal(st.calls, 10);
	assert_int_equal(st.errors, 4);
	assert_true(st.uptime_us > 0);
	assert_int_equal(st.active_connections, 1);
	assert_int_equal(st.connections.count, 1);
	assert_int_equal(st.connections.items[0].pid, getpid());
	/* The core counts the two hellos as requests too. */
	assert_int_equal(st.connections.items[0].requests, 12);
	stop(&x);
}

static void
types_setup_removed(lrpc_server *s, lrpc_loop *loop, void *arg)
{
	assert_int_equal(rt_types_serve(s, &handlers, NULL), 0);
	assert_int_equal(lrpc_server_remove_handler(s, RT_TYPES_INTERFACE_ID),
			 0);
}

static void
test_introspect_removed(void **state)
{
	fixture x;
	lrpc_info info;
	lrpc_description d;
	lrpc_stats st;
	int32_t sum;

	x.f.server = th_server_spawn(*state, NULL, NULL, types_setup_removed,
				     NULL);
	assert_non_null(x.f.server);
	assert_int_equal(th_connect(*state, &x.f.c, NULL), 0);
	assert_int_equal(lrpc_rpc_client_new(&x.f.rc, x.f.c), 0);
	lrpc_arena_init(&x.arena, x.buf, sizeof(x.buf), LRPC_ARENA_UNLIMITED);
	assert_int_not_equal(rt_types_add(x.f.rc, 1, 2, &sum, TIMEOUT, NULL),
			     0);
	assert_int_equal(lrpc_service_info(x.f.rc, &info, &x.arena, TIMEOUT,
					   NULL),
			 0);
	assert_int_equal(info.interfaces.count, 1);
	assert_string_equal(info.interfaces.items[0].name, "lrpc.Service");
	assert_int_equal(lrpc_service_describe(x.f.rc, "rt.Types", &d,
					       &x.arena, TIMEOUT, NULL),
			 LRPC_SERVICE_ERROR_NO_SUCH_INTERFACE);
	assert_int_equal(lrpc_service_stats(x.f.rc, &st, &x.arena, TIMEOUT,
					    NULL),
			 0);
	assert_null(find_method(&st, "rt.Types", "add"));
	assert_non_null(find_method(&st, "lrpc.Service", "stats"));
	stop(&x);
}

/* What a monitor got. */
#define MAX_TAPPED 64
typedef struct tapped {
	uint64_t conn;
	uint64_t time_ns;
	lrpc_direction dir;
	uint32_t size;
	uint32_t len;
	int32_t id;     /* core header */
	uint16_t kind;  /* RPC header */
	uint16_t method;
} tapped;

typedef struct monitor {
	lrpc_client *c;
	lrpc_rpc_client *rc;
	tapped t[MAX_TAPPED]; /* those of rt.Types */
	size_t n_rt;
	size_t n;     /* events received */
	uint64_t lost; /* sum of their lost counts */
} monitor;

static void
on_tapped(void *userdata, uint64_t connection, uint64_t time_ns,
	  lrpc_direction direction, uint32_t size, uint64_t lost,
	  lrpc_bytes message)
{
	monitor *m = userdata;

	tapped t = {
		.conn = connection,
		.time_ns = time_ns,
		.dir = direction,
		.size = size,
		.len = (uint32_t)message.len,
	};

	m->lost += lost;
	m->n++;
	if (message.len >= 8)
		memcpy(&t.id, message.data + 4, 4);
	if (message.len >= 36) {
		memcpy(&t.method, message.data + 32, 2);
		memcpy(&t.kind, message.data + 34, 2);
	}
	/* Only rt.Types: the other monitor's hello and tap() are shown
	 * too (it was no monitor yet). */
	if (t.id == (int32_t)RT_TYPES_INTERFACE_ID && m->n_rt < MAX_TAPPED)
		m->t[m->n_rt++] = t;
}

static const struct lrpc_service_events monitor_events = {
	.tapped = on_tapped,
};

static void
monitor_start(void **state, monitor *m, uint32_t max_message,
	      uint32_t *ret_snap)
{
	memset(m, 0, sizeof(*m));
	assert_int_equal(th_connect(*state, &m->c, NULL), 0);
	assert_int_equal(lrpc_rpc_client_new(&m->rc, m->c), 0);
	assert_int_equal(lrpc_service_listen(m->rc, &monitor_events, m), 0);
	assert_int_equal(lrpc_service_tap(m->rc, max_message, ret_snap,
					  TIMEOUT, NULL),
			 0);
}

/* Read events until @n (of rt.Types: @rt) have come, or 10 s passed. */
static void
monitor_read(monitor *m, size_t n, bool rt)
{
	uint64_t end = th_now_usec() + 10 * LRPC_USEC_PER_SEC;

	while ((rt ? m->n_rt : m->n) < n && th_now_usec() < end)
		(void)lrpc_rpc_client_run_once(m->rc, 100 * 1000);
}

static void
monitor_stop(monitor *m)
{
	lrpc_rpc_client_unref(m->rc);
	lrpc_client_unref(m->c);
}

static void
test_introspect_tap(void **state)
{
	fixture x;
	monitor m, cut;
	uint32_t snap, cut_snap;
	int32_t sum;
	struct timespec now;

	start(state, &x, 0);
	monitor_start(state, &m, 0, &snap);
	monitor_start(state, &cut, 30, &cut_snap);
	assert_true(snap > 1000);
	assert_int_equal(cut_snap, 30);
	/* The monitor's own calls are not shown. */
	assert_int_equal(lrpc_service_ping(m.rc, TIMEOUT, NULL), 0);
	assert_int_equal(rt_types_add(x.f.rc, 1, 2, &sum, TIMEOUT, NULL), 0);
	assert_int_equal(rt_types_fail(x.f.rc, RT_ERROR_WORSE, TIMEOUT, NULL),
			 RT_ERROR_WORSE);
	assert_int_equal(rt_types_emit(x.f.rc, 2, TIMEOUT, NULL), 0);
	static const struct {
		lrpc_direction dir;
		uint16_t kind, method;
	} want[] = {
		{ LRPC_DIRECTION_REQUEST, 6, 0 },  /* hello */
		{ LRPC_DIRECTION_RESPONSE, 7, 0 }, /* hello reply */
		{ LRPC_DIRECTION_REQUEST, 1, 1 },  /* add */
		{ LRPC_DIRECTION_RESPONSE, 2, 1 },
		{ LRPC_DIRECTION_REQUEST, 1, 2 },  /* fail */
		{ LRPC_DIRECTION_RESPONSE, 3, 2 }, /* error reply */
		{ LRPC_DIRECTION_REQUEST, 1, 6 },  /* emit */
		{ LRPC_DIRECTION_EVENT, 5, 7 },    /* tick */
		{ LRPC_DIRECTION_EVENT, 5, 7 },
		{ LRPC_DIRECTION_RESPONSE, 2, 6 },
	};
	size_t n = sizeof(want) / sizeof(want[0]);
	monitor_read(&m, n, true);
	monitor_read(&cut, n, true);
	assert_int_equal(m.n_rt, n);
	assert_int_equal(cut.n_rt, n);
	assert_int_equal(m.lost + cut.lost, 0);
	clock_gettime(CLOCK_REALTIME, &now);
	uint64_t now_ns = (uint64_t)now.tv_sec * 1000000000u +
			  (uint64_t)now.tv_nsec;
	for (size_t i = 0; i < n; i++) {
		const tapped *t = &m.t[i];
		assert_int_equal(t->dir, want[i].dir);
		assert_int_equal(t->id, RT_TYPES_INTERFACE_ID);
		assert_int_equal(t->kind, want[i].kind);
		assert_int_equal(t->method, want[i].method);
		assert_int_equal(t->len, t->size);
		assert_int_equal(t->conn, m.t[0].conn);
		assert_true(t->conn > 0);
		assert_true(t->time_ns <= now_ns &&
			    t->time_ns > now_ns - 60 * UINT64_C(1000000000));
		assert_true(i == 0 || t->time_ns >= m.t[i - 1].time_ns);
		/* The other monitor's copies are cut, its sizes are not. */
		assert_int_equal(cut.t[i].len, t->size < 30 ? t->size : 30);
		assert_int_equal(cut.t[i].size, t->size);
	}
	/* Once the monitors are gone nothing is tapped any more. */
	monitor_stop(&cut);
	monitor_stop(&m);
	assert_int_equal(rt_types_add(x.f.rc, 1, 2, &sum, TIMEOUT, NULL), 0);
	stop(&x);
}

/*
 * A monitor that stops reading: its queue fills, the rest is lost to it
 * and counted, and the client being watched is not held up.
 */
static void
test_introspect_tap_slow(void **state)
{
	lrpc_server_opts o = { .struct_size = sizeof(o),
			       .max_queued_bytes = 16384 };
	fixture x;
	monitor m;
	uint32_t snap;
	int32_t sum;
	enum { CALLS = 20000 };

	x.f.server = th_server_spawn(*state, NULL, &o, types_setup, NULL);
	assert_non_null(x.f.server);
	assert_int_equal(th_connect(*state, &x.f.c, NULL), 0);
	assert_int_equal(lrpc_rpc_client_new(&x.f.rc, x.f.c), 0);
	lrpc_arena_init(&x.arena, x.buf, sizeof(x.buf), LRPC_ARENA_UNLIMITED);
	/* The hello out of the way: from here on two messages a call. */
	assert_int_equal(rt_types_add(x.f.rc, 0, 0, &sum, TIMEOUT, NULL), 0);
	monitor_start(state, &m, 0, &snap);
	uint64_t t0 = th_now_usec();
	for (int i = 0; i < CALLS; i++)
		assert_int_equal(rt_types_add(x.f.rc, i, 1, &sum, TIMEOUT,
					      NULL),
				 0);
	uint64_t took = th_now_usec() - t0;
	print_message("%d calls watched by a monitor that does not read: "
		      "%llu us\n", CALLS, (unsigned long long)took);
	assert_true(took < 15 * LRPC_USEC_PER_SEC);
	/* Now read all that waits, then one more call: its first event
	 * tells how many were lost since. */
	assert_int_equal(lrpc_service_ping(m.rc, TIMEOUT, NULL), 0);
	while (lrpc_rpc_client_run_once(m.rc, 200 * 1000) > 0)
		;
	assert_true(m.n < 2 * CALLS);
	assert_int_equal(rt_types_add(x.f.rc, 1, 1, &sum, TIMEOUT, NULL), 0);
	/* What was still on its way (a busy machine can hold some back past
	 * the drain above) arrives, then the last call's two messages:
	 * every message is either seen or counted as lost, exactly once. */
	uint64_t end = th_now_usec() + 10 * LRPC_USEC_PER_SEC;
	while (m.n + m.lost < 2 * CALLS + 2 && th_now_usec() < end)
		(void)lrpc_rpc_client_run_once(m.rc, 100 * 1000);
	assert_int_equal(m.n + m.lost, 2 * CALLS + 2);
	assert_int_equal(lrpc_rpc_client_run_once(m.rc, 100 * 1000), 0);
	assert_int_equal(m.n + m.lost, 2 * CALLS + 2);
	monitor_stop(&m);
	stop(&x);
}

/* In a child of another uid: tap refused, whatever the flags. */
static int
tap_other_uid_child(void *arg)
{
	const th_ctx *ctx = arg;
	lrpc_client *c;
	lrpc_rpc_client *rc;
	lrpc_rpc_error err;
	uint32_t snap;

	if (setresgid(65534, 65534, 65534) < 0 ||
	    setresuid(65534, 65534, 65534) < 0)
		return 10;
	if (th_connect(ctx, &c, NULL) < 0 || lrpc_rpc_client_new(&rc, c) < 0)
		return 11;
	if (lrpc_service_ping(rc, TIMEOUT, NULL) != 0)
		return 12;
	if (lrpc_service_tap(rc, 0, &snap, TIMEOUT, &err) != -EPERM ||
	    !strstr(err.message, "server's user"))
		return 13;
	lrpc_rpc_client_unref(rc);
	lrpc_client_unref(c);
	return 0;
}

static void
test_introspect_tap_refused(void **state)
{
	fixture x;

	if (geteuid() != 0)
		skip();
	start(state, &x, 0);
	pid_t pid = th_fork_helper(tap_other_uid_child, *state);
	assert_int_equal(th_wait_helper(pid), 0);
	stop(&x);
}

/* Past 8 distinct statuses a method's errors go in other_errors. */
static void
test_introspect_stats_other(void **state)
{
	fixture x;
	lrpc_stats st;

	start(state, &x, 0);
	for (uint32_t code = 100; code < 111; code++)
		assert_int_equal(rt_types_fail(x.f.rc, code, TIMEOUT, NULL),
				 (int)code);
	assert_int_equal(rt_types_fail(x.f.rc, 100, TIMEOUT, NULL), 100);
	assert_int_equal(lrpc_service_stats(x.f.rc, &st, &x.arena, TIMEOUT,
					    NULL),
			 0);
	const lrpc_method_stats *fail = find_method(&st, "rt.Types", "fail");
	assert_non_null(fail);
	assert_int_equal(fail->errors, 12);
	assert_int_equal(fail->errors_by_status.count, 8);
	assert_int_equal(fail->other_errors, 3);
	uint64_t sum = 0;
	for (size_t i = 0; i < 8; i++) {
		int32_t k = ((const int32_t *)fail->errors_by_status.keys)[i];
		uint64_t v = ((const uint64_t *)fail->errors_by_status.values)[i];
		assert_true(k >= 100 && k < 108);
		assert_int_equal(v, k == 100 ? 2 : 1);
		sum += v;
	}
	assert_int_equal(sum + fail->other_errors, fail->errors);
	stop(&x);
}

static void
test_introspect_off(void **state)
{
	fixture x;
	int32_t sum;
	lrpc_rpc_error err;

	start(state, &x, LRPC_SERVER_NO_INTROSPECTION);
	assert_int_equal(rt_types_add(x.f.rc, 1, 2, &sum, TIMEOUT, NULL), 0);
	assert_int_equal(lrpc_service_ping(x.f.rc, TIMEOUT, &err), -EOPNOTSUPP);
	stop(&x);
}

/* In a child of another uid: ping and info answered, the rest refused. */
static int
other_uid_child(void *arg)
{
	const th_ctx *ctx = arg;
	lrpc_client *c;
	lrpc_rpc_client *rc;
	lrpc_arena arena;
	lrpc_info info;
	lrpc_stats st;
	lrpc_description d;
	lrpc_rpc_error err;

	if (setresgid(65534, 65534, 65534) < 0 ||
	    setresuid(65534, 65534, 65534) < 0)
		return 10;
	if (th_connect(ctx, &c, NULL) < 0 || lrpc_rpc_client_new(&rc, c) < 0)
		return 11;
	lrpc_arena_init(&arena, NULL, 0, LRPC_ARENA_UNLIMITED);
	if (lrpc_service_ping(rc, TIMEOUT, NULL) != 0)
		return 12;
	if (lrpc_service_info(rc, &info, &arena, TIMEOUT, NULL) != 0)
		return 13;
	if (lrpc_service_stats(rc, &st, &arena, TIMEOUT, &err) != -EPERM)
		return 14;
	if (lrpc_service_describe(rc, "rt.Types", &d, &arena, TIMEOUT,
				  &err) != -EPERM ||
	    !strstr(err.message, "server's user"))
		return 15;
	lrpc_arena_done(&arena);
	lrpc_rpc_client_unref(rc);
	lrpc_client_unref(c);
	return 0;
}

static void
test_introspect_same_uid(void **state)
{
	fixture x;
	lrpc_stats st;

	if (geteuid() != 0)
		skip();
	start(state, &x, LRPC_SERVER_INTROSPECTION_SAME_UID);
	/* Root (and the server's uid) may read. */
	assert_int_equal(lrpc_service_stats(x.f.rc, &st, &x.arena, TIMEOUT,
					    NULL),
			 0);
	pid_t pid = th_fork_helper(other_uid_child, *state);
	assert_int_equal(th_wait_helper(pid), 0);
	stop(&x);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TH_TEST(test_introspect_ping_info),
		TH_TEST(test_introspect_describe),
		TH_TEST(test_introspect_stats),
		TH_TEST(test_introspect_stats_other),
		TH_TEST(test_introspect_removed),
		TH_TEST(test_introspect_tap),
		TH_TEST(test_introspect_tap_slow),
		TH_TEST(test_introspect_tap_refused),
		TH_TEST(test_introspect_off),
		TH_TEST(test_introspect_same_uid),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("introspect", tests, NULL, NULL);
}
