/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The selector: id table, fallback, user hook. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "ipc/ipc-selector.h"

static int
h_a(lrpc_conn *c, const lrpc_msg_header *m, size_t s, void *ud)
{
	return 1;
}

static int
h_b(lrpc_conn *c, const lrpc_msg_header *m, size_t s, void *ud)
{
	return 2;
}

static int
route(lrpc__selector *s, int32_t id, lrpc_handler_fn *fn, void **ud)
{
	lrpc_msg_header m = { .size = sizeof(m), .id = id };
	*fn = NULL;
	*ud = NULL;
	return lrpc__selector_route(s, NULL, &m, fn, ud);
}

static void
test_selector_add_find_remove_many(void **state)
{
	lrpc__selector s = { 0 };
	lrpc_handler_fn fn;
	void *ud;

	/* Enough ids to force several rehashes, including negative ones. */
	for (int32_t id = -500; id < 5000; id += 3)
		assert_int_equal(lrpc__selector_add(&s, id, h_a,
						    (void *)(intptr_t)id),
				 0);
	assert_int_equal(lrpc__selector_add(&s, 1, h_b, NULL), -EEXIST);
	for (int32_t id = -500; id < 5000; id++) {
		int r = route(&s, id, &fn, &ud);
		if ((id + 500) % 3 == 0) {
			assert_int_equal(r, 1);
			assert_ptr_equal(fn, h_a);
			assert_int_equal((intptr_t)ud, id);
		} else {
			assert_int_equal(r, 0);
		}
	}
	for (int32_t id = -500; id < 5000; id += 6)
		assert_int_equal(lrpc__selector_remove(&s, id), 0);
	assert_int_equal(lrpc__selector_remove(&s, -500), -ENOENT);
	assert_int_equal(route(&s, -500, &fn, &ud), 0);
	assert_int_equal(route(&s, -497, &fn, &ud), 1);
	/* Tombstones are reused and re-adding works. */
	assert_int_equal(lrpc__selector_add(&s, -500, h_b, NULL), 0);
	assert_int_equal(route(&s, -500, &fn, &ud), 1);
	assert_ptr_equal(fn, h_b);
	lrpc__selector_done(&s);
}

static void
test_selector_churn_stays_bounded(void **state)
{
	lrpc__selector s = { 0 };

	/* Add/remove cycles must not grow the table without bound. */
	for (int i = 0; i < 100000; i++) {
		assert_int_equal(lrpc__selector_add(&s, i, h_a, NULL), 0);
		assert_int_equal(lrpc__selector_remove(&s, i), 0);
	}
	assert_true(s.n_slots <= 64);
	lrpc__selector_done(&s);
}

static void
test_selector_fallback(void **state)
{
	lrpc__selector s = { 0 };
	lrpc_handler_fn fn;
	void *ud;

	assert_int_equal(route(&s, 3, &fn, &ud), 0);
	s.fallback = h_b;
	assert_int_equal(route(&s, 3, &fn, &ud), 1);
	assert_ptr_equal(fn, h_b);
	lrpc__selector_add(&s, 3, h_a, NULL);
	assert_int_equal(route(&s, 3, &fn, &ud), 1);
	assert_ptr_equal(fn, h_a);
	lrpc__selector_done(&s);
}

static int
hook(lrpc_conn *c, const lrpc_msg_header *m, void *data, lrpc_handler_fn *fn,
     void **ud)
{
	if (m->id == 10)
		return -EACCES;
	if (m->id == 11) {
		*fn = h_b;
		return 1;
	}
	if (m->id == 12)
		return 1; /* claims it but names no handler: unhandled */
	return 0;
}

static void
test_selector_hook_first(void **state)
{
	lrpc__selector s = { 0 };
	lrpc_handler_fn fn;
	void *ud;

	lrpc__selector_add(&s, 11, h_a, NULL);
	lrpc__selector_add(&s, 12, h_a, NULL);
	s.hook = hook;
	assert_int_equal(route(&s, 10, &fn, &ud), -EACCES);
	assert_int_equal(route(&s, 11, &fn, &ud), 1);
	assert_ptr_equal(fn, h_b);
	assert_int_equal(route(&s, 12, &fn, &ud), 0);
	assert_int_equal(route(&s, 13, &fn, &ud), 0);
	lrpc__selector_done(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_selector_add_find_remove_many),
		cmocka_unit_test(test_selector_churn_stays_bounded),
		cmocka_unit_test(test_selector_fallback),
		cmocka_unit_test(test_selector_hook_first),
	};
	return cmocka_run_group_tests_name("selector", tests, NULL, NULL);
}
