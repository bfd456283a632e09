/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Option structs and tables that begin with struct_size grow at their end:
 * a caller built against an older header (a smaller struct) still works, a
 * newer one (a larger struct) works as long as it asks for nothing this
 * library lacks, and everything else is refused, never quietly dropped.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <lrpc/lrpc.h>

#include "poll/poll-internal.h"
#include "util.h"

/* An lrpc_server_opts as a newer header might declare it. */
typedef struct newer_server_opts {
	lrpc_server_opts v1;
	uint64_t future_member;
} newer_server_opts;

typedef struct newer_client_opts {
	lrpc_client_opts v1;
	uint32_t future_member;
} newer_client_opts;

static void
test_options_server_sizes(void **state)
{
	newer_server_opts o;
	lrpc_server *s = NULL;

	/* Exactly this header's struct. */
	memset(&o, 0, sizeof(o));
	o.v1.struct_size = sizeof(o.v1);
	assert_int_equal(lrpc_server_new(&s, "opts-a", NULL, &o.v1, NULL), 0);
	s = lrpc_server_unref(s);
	/* An older, shorter struct: what it lacks takes defaults. */
	o.v1.struct_size = LRPC__SIZE_UNTIL(lrpc_server_opts,
					    read_timeout_usec);
	assert_int_equal(lrpc_server_new(&s, "opts-b", NULL, &o.v1, NULL), 0);
	s = lrpc_server_unref(s);
	/* Shorter than 1.0: refused. */
	o.v1.struct_size = offsetof(lrpc_server_opts, read_timeout_usec);
	assert_int_equal(lrpc_server_new(&s, "opts-c", NULL, &o.v1, NULL),
			 -EINVAL);
	assert_null(s);
	/* A newer, larger struct whose new member is unset: fine. */
	o.v1.struct_size = sizeof(o);
	assert_int_equal(lrpc_server_new(&s, "opts-d", NULL, &o.v1, NULL), 0);
	s = lrpc_server_unref(s);
	/* ... and with the new member set: this library cannot honour it. */
	o.future_member = 7;
	assert_int_equal(lrpc_server_new(&s, "opts-e", NULL, &o.v1, NULL),
			 -E2BIG);
	assert_null(s);
}

static void
test_options_callbacks_sizes(void **state)
{
	struct {
		lrpc_server_callbacks v1;
		void (*future)(void);
	} cb;
	lrpc_server *s = NULL;

	memset(&cb, 0, sizeof(cb));
	cb.v1.struct_size = sizeof(cb);
	assert_int_equal(lrpc_server_new(&s, "cb-a", &cb.v1, NULL, NULL), 0);
	s = lrpc_server_unref(s);
	cb.future = (void (*)(void))test_options_callbacks_sizes;
	assert_int_equal(lrpc_server_new(&s, "cb-b", &cb.v1, NULL, NULL),
			 -E2BIG);
	cb.v1.struct_size = sizeof(size_t);
	assert_int_equal(lrpc_server_new(&s, "cb-c", &cb.v1, NULL, NULL),
			 -EINVAL);
	assert_null(s);
}

static void
test_options_client_sizes(void **state)
{
	newer_client_opts o;
	lrpc_client *c = NULL;

	/* Option checks come before any connect: nobody serves this name, so
	 * accepted options end in -ECONNREFUSED or -ENOENT. */
	memset(&o, 0, sizeof(o));
	o.v1.struct_size = sizeof(o);
	o.future_member = 1;
	assert_int_equal(lrpc_client_new(&c, "nobody-serves-this", &o.v1),
			 -E2BIG);
	o.future_member = 0;
	int r = lrpc_client_new(&c, "nobody-serves-this", &o.v1);
	assert_true(r == -ECONNREFUSED || r == -ENOENT);
	o.v1.struct_size = LRPC__SIZE_UNTIL(lrpc_client_opts, server_uid);
	r = lrpc_client_new(&c, "nobody-serves-this", &o.v1);
	assert_true(r == -ECONNREFUSED || r == -ENOENT);
	o.v1.struct_size = offsetof(lrpc_client_opts, server_uid);
	assert_int_equal(lrpc_client_new(&c, "nobody-serves-this", &o.v1),
			 -EINVAL);
	assert_null(c);
}

static void
test_options_poll_ops_sizes(void **state)
{
	lrpc_poll_ops ops = *lrpc_loop_get_poll_ops();

	assert_int_equal(lrpc__poll_ops_check(&ops), 0);
	ops.struct_size = LRPC__SIZE_UNTIL(lrpc_poll_ops, timer_del);
	assert_int_equal(lrpc__poll_ops_check(&ops), 0);
	ops.struct_size = offsetof(lrpc_poll_ops, timer_del);
	assert_int_equal(lrpc__poll_ops_check(&ops), -EINVAL);
	ops.struct_size = sizeof(ops);
	ops.timer_del = NULL;
	assert_int_equal(lrpc__poll_ops_check(&ops), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options_server_sizes),
		cmocka_unit_test(test_options_callbacks_sizes),
		cmocka_unit_test(test_options_client_sizes),
		cmocka_unit_test(test_options_poll_ops_sizes),
	};
	return cmocka_run_group_tests_name("options", tests, NULL, NULL);
}
