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
 *  - an interface taken off with lrpc_server_remove_handler() is gone
 *    from info, describe and stats;
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

static const struct rt_types_handlers handlers = {
	.add = h_add,
	.fail = h_fail,
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
		TH_TEST(test_introspect_removed),
		TH_TEST(test_introspect_off),
		TH_TEST(test_introspect_same_uid),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("introspect", tests, NULL, NULL);
}
