/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Version negotiation pieces (runtime/rpc/rpc-hello.c): which tables carry
 * a canonical form, how a difference is named, and what a peer's form must
 * look like to be used at all.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rpc/rpc-hello.h"
#include "rpc/rpc-internal.h"

static const lrpc_rpc_type empty_req = {
	.kind = LRPC_RPC_STRUCT,
	.size = 1,
	.align = 1,
	.name = "t.I.f.req",
};

static const lrpc_rpc_method methods[] = {
	{ .ordinal = 0, .since = 1, .kind = LRPC_RPC_ONEWAY, .name = "first",
	  .request = &empty_req },
	{ .ordinal = 3, .since = 1, .kind = LRPC_RPC_ONEWAY, .name = "put",
	  .request = &empty_req },
};

static const uint32_t hashes[] = { 1, 2 };
/* Without their first line, "interface t.I <v>", as generated. */
static const char *const forms[] = {
	"@0 oneway (v1:u32)->() raises{}\n",
	"@0 oneway (v1:u32)->() raises{}\n"
	"@3 oneway (v2:string)->() raises{}\n",
};

static lrpc_rpc_interface
iface(size_t struct_size)
{
	return (lrpc_rpc_interface){
		.struct_size = struct_size,
		.abi_version = LRPC_RPC_ABI_VERSION,
		.id = 7,
		.version = 2,
		.hashes = hashes,
		.name = "t.I",
		.methods = methods,
		.n_methods = 2,
		.canonical = forms,
	};
}

/* A table from a 1.0 generator ends before .canonical: still served, and
 * nothing past its end is read. */
static void
test_old_tables_have_no_form(void **state)
{
	lrpc_rpc_interface old = iface(offsetof(lrpc_rpc_interface,
						canonical));
	lrpc_rpc_interface cur = iface(sizeof(lrpc_rpc_interface));

	assert_true(lrpc__rpc_interface_valid(&old));
	assert_null(lrpc__rpc_form(&old, 1));
	assert_true(lrpc__rpc_interface_valid(&cur));
	assert_string_equal(lrpc__rpc_form(&cur, 2), forms[1]);
	assert_null(lrpc__rpc_form(&cur, 3));
	assert_null(lrpc__rpc_form(&cur, 0));
	old.struct_size -= 1;
	assert_false(lrpc__rpc_interface_valid(&old));
}

static void
test_first_difference_names_line_and_method(void **state)
{
	lrpc_rpc_interface cur = iface(sizeof(lrpc_rpc_interface));
	char out[512];

	lrpc__rpc_form_diff(&cur, 2,
			    "@0 oneway (v1:u32)->() raises{}\n"
			    "@3 oneway (v2:bytes)->() raises{}\n",
			    "server", out, sizeof(out));
	assert_string_equal(out,
			    "t.I version 2 differs from the server's at line 3 "
			    "(method put): ours \"@3 oneway (v2:string)->() "
			    "raises{}\", the server's \"@3 oneway (v2:bytes)->"
			    "() raises{}\"");
	/* A line the peer lacks, and a peer that sent nothing. */
	lrpc__rpc_form_diff(&cur, 2, "@0 oneway (v1:u32)->() raises{}\n",
			    "client", out, sizeof(out));
	assert_non_null(strstr(out, "at line 3 (method put)"));
	assert_non_null(strstr(out, "the client's \"\""));
	lrpc__rpc_form_diff(&cur, 1, NULL, "server", out, sizeof(out));
	assert_non_null(strstr(out, "t.I version 1 differs from the server's"));
	lrpc__rpc_form_diff(&cur, 1, forms[0], "server", out, sizeof(out));
	assert_non_null(strstr(out, "canonical form is the same"));
}

/* A form from the peer passes the codec's string rules or is dropped. */
static void
test_peer_form_is_checked(void **state)
{
	static const uint8_t good[] = { 3, 0, 0, 0, 'a', 'b', '\n' };
	static const uint8_t bad_utf8[] = { 2, 0, 0, 0, 0xff, 'a' };
	static const uint8_t nul[] = { 2, 0, 0, 0, 'a', 0 };
	static const uint8_t short_[] = { 9, 0, 0, 0, 'a' };
	uint8_t *huge = calloc(1, 4 + LRPC__RPC_FORM_MAX + 1);
	uint32_t n = LRPC__RPC_FORM_MAX + 1;

	lrpc__rd r = { .p = good, .end = good + sizeof(good) };
	char *s = lrpc__rpc_read_form(&r);
	assert_string_equal(s, "ab\n");
	free(s);
	r = (lrpc__rd){ .p = bad_utf8, .end = bad_utf8 + sizeof(bad_utf8) };
	assert_null(lrpc__rpc_read_form(&r));
	r = (lrpc__rd){ .p = nul, .end = nul + sizeof(nul) };
	assert_null(lrpc__rpc_read_form(&r));
	r = (lrpc__rd){ .p = short_, .end = short_ + sizeof(short_) };
	assert_null(lrpc__rpc_read_form(&r));
	assert_non_null(huge);
	memcpy(huge, &n, 4);
	memset(huge + 4, 'a', n);
	r = (lrpc__rd){ .p = huge, .end = huge + 4 + n };
	assert_null(lrpc__rpc_read_form(&r));
	free(huge);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_old_tables_have_no_form),
		cmocka_unit_test(test_first_difference_names_line_and_method),
		cmocka_unit_test(test_peer_form_is_checked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
