/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The lrpc command checks every description a server sends before the
 * codec walks it (tools/desc.c): indices out of range, a type containing
 * itself, nesting deeper than LRPC_RPC_MAX_DEPTH, unsorted enum values,
 * methods whose request is no struct, hashes that do not match the
 * version.  A good description gets a layout the codec round-trips.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lrpc-tool.h"

#define NONE UINT32_MAX
#define MAX_T 40

typedef struct fixture {
	lrpc_type_desc types[MAX_T];
	lrpc_field_desc fields[MAX_T];
	lrpc_method_desc method;
	uint32_t hash;
	lrpc_description d;
} fixture;

/* A struct (0) of a u32 (1) and a string list (2 -> 3), one method. */
static void
good(fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->types[0] = (lrpc_type_desc){ .kind = LRPC_RPC_STRUCT,
					.inner = NONE, .value = NONE,
					.fields = { f->fields, 2 },
					.name = "t.S" };
	f->types[1] = (lrpc_type_desc){ .kind = LRPC_RPC_U32, .inner = NONE,
					.value = NONE, .name = "" };
	f->types[2] = (lrpc_type_desc){ .kind = LRPC_RPC_LIST, .inner = 3,
					.value = NONE, .name = "" };
	f->types[3] = (lrpc_type_desc){ .kind = LRPC_RPC_STRING, .inner = NONE,
					.value = NONE, .name = "" };
	f->fields[0] = (lrpc_field_desc){ .type = 1, .ordinal = 0, .since = 1,
					  .name = "n" };
	f->fields[1] = (lrpc_field_desc){ .type = 2, .ordinal = 1, .since = 1,
					  .name = "names" };
	f->method = (lrpc_method_desc){ .ordinal = 0, .since = 1,
					.kind = LRPC_RPC_CALL, .name = "m",
					.request = 0, .reply = 0 };
	f->hash = 0x12345678;
	f->d = (lrpc_description){
		.iface = { .name = "t.I", .id = 1, .version = 1,
			   .hashes = { &f->hash, 1 } },
		.idl = "",
		.types = { f->types, 4 },
		.methods = { &f->method, 1 },
	};
}

static void
refused(fixture *f, const char *reason)
{
	tool_iface t;
	char err[256];

	assert_int_equal(tool_iface_build(&f->d, &t, err, sizeof(err)),
			 -EBADMSG);
	if (!strstr(err, reason))
		fail_msg("\"%s\" does not say \"%s\"", err, reason);
}

static void
test_good_round_trips(void **state)
{
	fixture f;
	tool_iface t;
	char err[256];
	uint8_t buf[256], arena_buf[256];
	lrpc_arena arena;
	size_t size;

	good(&f);
	assert_int_equal(tool_iface_build(&f.d, &t, err, sizeof(err)), 0);
	const lrpc_rpc_method *m = tool_iface_method(&t, "m");
	assert_non_null(m);
	json_object *in = json_tokener_parse("{\"n\": 7, \"names\": [\"a\"]}");
	uint8_t v[64] = { 0 }, back[64] = { 0 };
	lrpc_arena_init(&arena, arena_buf, sizeof(arena_buf), 0);
	assert_true(m->request->size <= sizeof(v));
	assert_int_equal(tool_from_json(&t, m->request, in, v, &arena, err,
					sizeof(err)),
			 0);
	assert_int_equal(lrpc_rpc_encode(m->request, v, buf, sizeof(buf),
					 &size),
			 0);
	assert_int_equal(lrpc_rpc_decode(m->request, buf, size, back, &arena),
			 0);
	json_object *out = tool_to_json(&t, m->request, back);
	assert_string_equal(json_object_to_json_string(out),
			    json_object_to_json_string(in));
	json_object_put(in);
	json_object_put(out);
	lrpc_arena_done(&arena);
	tool_iface_free(&t);
}

static void
test_bad_index(void **state)
{
	fixture f;

	good(&f);
	f.fields[1].type = 99;
	refused(&f, "field index 99 out of range");
	good(&f);
	f.types[2].inner = NONE;
	refused(&f, "element index");
	good(&f);
	f.method.request = 9;
	refused(&f, "request is no struct");
}

static void
test_cycle(void **state)
{
	fixture f;

	good(&f);
	f.types[2].inner = 0; /* S contains a list of S */
	refused(&f, "contains itself");
}

static void
test_too_deep(void **state)
{
	fixture f;

	good(&f);
	/* 3 -> optional -> optional ... 36 levels. */
	for (uint32_t i = 3; i < MAX_T - 1; i++)
		f.types[i] = (lrpc_type_desc){ .kind = LRPC_RPC_OPTIONAL,
					       .inner = i + 1, .value = NONE,
					       .name = "" };
	f.types[MAX_T - 1] = (lrpc_type_desc){ .kind = LRPC_RPC_U8,
					       .inner = NONE, .value = NONE,
					       .name = "" };
	f.d.types.count = MAX_T;
	refused(&f, "nested deeper than 32");
}

static void
test_inconsistent(void **state)
{
	fixture f;
	int64_t values[] = { 3, 1 };

	good(&f);
	f.types[3] = (lrpc_type_desc){ .kind = LRPC_RPC_ENUM, .inner = 1,
				       .value = NONE,
				       .values = { values, 2 }, .name = "E" };
	refused(&f, "enum values not sorted");
	good(&f);
	f.types[3].kind = 99;
	refused(&f, "unknown kind 99");
	good(&f);
	f.types[1].fields = (lrpc_field_desc_list){ f.fields, 1 };
	refused(&f, "fields on a");
	good(&f);
	f.d.iface.version = 2;
	refused(&f, "version 2 with 1 hashes");
	good(&f);
	f.types[2] = (lrpc_type_desc){ .kind = LRPC_RPC_ARRAY, .inner = 3,
				       .value = NONE, .max = 1u << 30 };
	refused(&f, "array of");
	good(&f);
	f.method.kind = LRPC_RPC_ONEWAY;
	refused(&f, "reply does not match its kind");
	good(&f);
	f.fields[1].ordinal = 0;
	refused(&f, "not in wire order");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_round_trips),
		cmocka_unit_test(test_bad_index),
		cmocka_unit_test(test_cycle),
		cmocka_unit_test(test_too_deep),
		cmocka_unit_test(test_inconsistent),
	};
	return cmocka_run_group_tests_name("tool-desc", tests, NULL, NULL);
}
