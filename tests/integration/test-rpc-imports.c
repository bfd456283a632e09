/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Two IDL modules that import one common module, linked into one program
 * with no build rule for the common module: each importer's generated files
 * carry its types.  Calls through both importers carry the imported types,
 * and both importers' tables reach one descriptor per imported type.
 */
#include <signal.h>
#include <string.h>

#include "harness.h"
#include "imp-a-client.h"
#include "imp-a-server.h"
#include "imp-b-client.h"
#include "imp-b-server.h"

#define TIMEOUT (5u * 1000u * 1000u)

/* --- The server ----------------------------------------------------------- */

static shared_stamp srv_twice[2];

static int
h_stamp(lrpc_rpc_call *call, void *ud, const shared_stamp *s,
	shared_stamp *ret_echoed, imp_a_shared_stamp_list *ret_twice)
{
	if (s->level == SHARED_LEVEL_HIGH && s->tags.count == 0)
		return SHARED_ERROR_BUSY;
	*ret_echoed = *s;
	srv_twice[0] = *s;
	srv_twice[1] = *s;
	*ret_twice = (imp_a_shared_stamp_list){ srv_twice, 2 };
	return 0;
}

static int
h_levels(lrpc_rpc_call *call, void *ud, imp_b_string_shared_stamp_map stamps,
	 uint32_t *ret_n, shared_level *ret_top)
{
	*ret_n = (uint32_t)stamps.count;
	*ret_top = SHARED_LEVEL_LOW;
	for (size_t i = 0; i < stamps.count; i++)
		if (stamps.values[i].level > *ret_top)
			*ret_top = stamps.values[i].level;
	return 0;
}

static const struct imp_a_alpha_handlers alpha = { .stamp = h_stamp };
static const struct imp_b_beta_handlers beta = { .levels = h_levels };

static void
imports_setup(lrpc_server *s, lrpc_loop *loop, void *arg)
{
	assert_int_equal(imp_a_alpha_serve(s, &alpha, NULL), 0);
	assert_int_equal(imp_b_beta_serve(s, &beta, NULL), 0);
}

/* --- Tests ---------------------------------------------------------------- */

static const char *const tags[] = { "x", "yz" };

static void
check_stamp(const shared_stamp *a, const shared_stamp *b)
{
	assert_int_equal(a->at.sec, b->at.sec);
	assert_int_equal(a->at.nsec, b->at.nsec);
	assert_int_equal(a->level, b->level);
	assert_int_equal(a->tags.count, b->tags.count);
	for (size_t i = 0; i < a->tags.count; i++)
		assert_string_equal(a->tags.items[i], b->tags.items[i]);
}

static void
test_rpc_imports_roundtrip(void **state)
{
	th_server *server;
	lrpc_client *c;
	lrpc_rpc_client *rc;
	lrpc_arena arena;
	uint8_t buf[512];
	shared_stamp in = {
		.at = { .sec = 1700000000, .nsec = 42 },
		.tags = { tags, 2 },
		.level = SHARED_LEVEL_HIGH,
	}, echoed, other = in;
	imp_a_shared_stamp_list twice;
	const char *keys[] = { "in", "other" };
	shared_stamp values[2];
	uint32_t n = 0;
	shared_level top = SHARED_LEVEL_LOW;

	server = th_server_spawn(*state, NULL, NULL, imports_setup, NULL);
	assert_non_null(server);
	assert_int_equal(th_connect(*state, &c, NULL), 0);
	assert_int_equal(lrpc_rpc_client_new(&rc, c), 0);
	lrpc_arena_init(&arena, buf, sizeof(buf), LRPC_ARENA_UNLIMITED);

	/* Through the first importer: the imported type, a list of it, and
	 * the imported error. */
	assert_int_equal(imp_a_alpha_stamp(rc, &in, &echoed, &twice, &arena,
					   TIMEOUT, NULL),
			 0);
	check_stamp(&in, &echoed);
	assert_int_equal(twice.count, 2);
	check_stamp(&in, &twice.items[0]);
	check_stamp(&in, &twice.items[1]);
	other.tags.count = 0;
	assert_int_equal(imp_a_alpha_stamp(rc, &other, &echoed, &twice,
					   &arena, TIMEOUT, NULL),
			 SHARED_ERROR_BUSY);

	/* Through the second: the imported type as a map value. */
	other.level = SHARED_LEVEL_LOW;
	values[0] = in;
	values[1] = other;
	assert_int_equal(imp_b_beta_levels(rc,
					   (imp_b_string_shared_stamp_map){
						   keys, values, 2 },
					   &n, &top, TIMEOUT, NULL),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(top, SHARED_LEVEL_HIGH);

	lrpc_arena_done(&arena);
	rc = lrpc_rpc_client_unref(rc);
	c = lrpc_client_unref(c);
	assert_int_equal(th_server_stop(server), 0);
}

static void
test_rpc_imports_one_descriptor(void **state)
{
	/* imp-a-types.c and imp-b-types.c both define shared's descriptors
	 * (weak); the linker keeps one, which both importers' tables use. */
	const lrpc_rpc_type *a = imp_a_alpha__methods[0].request->fields[0].type;
	const lrpc_rpc_type *b =
		imp_b_beta__methods[0].request->fields[0].type->value;
	uint8_t wire[256], buf[256];
	size_t size;
	shared_stamp in = {
		.at = { .sec = 7, .nsec = 8 },
		.tags = { tags, 1 },
		.level = SHARED_LEVEL_HIGH,
	}, out;
	lrpc_arena arena;

	(void)state;
	assert_ptr_equal(a, &shared_stamp__type);
	assert_ptr_equal(b, &shared_stamp__type);
	assert_ptr_equal(a->fields[0].type, &base_time__type);
	/* Encode and decode the imported type with the shared descriptor. */
	assert_int_equal(lrpc_rpc_encode(a, &in, wire, sizeof(wire), &size), 0);
	lrpc_arena_init(&arena, buf, sizeof(buf), 0);
	assert_int_equal(lrpc_rpc_decode(b, wire, size, &out, &arena), 0);
	check_stamp(&in, &out);
	lrpc_arena_done(&arena);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TH_TEST(test_rpc_imports_roundtrip),
		TH_TEST(test_rpc_imports_one_descriptor),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("rpc-imports", tests, NULL, NULL);
}
