/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The shared-memory ring, both ends in one process. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "transport/shm-ring.h"

struct pair {
	lrpc__ring_shared *sh;
	uint8_t *data;
	lrpc__ring p, c;
	uint64_t cap;
};

static int
setup(void **state)
{
	struct pair *x = calloc(1, sizeof(*x));
	const uint32_t max = 1u << 20;

	x->cap = lrpc__ring_capacity(max);
	x->sh = aligned_alloc(64, sizeof(*x->sh));
	x->data = malloc(x->cap);
	lrpc__ring_attach(&x->p, x->sh, x->data, x->cap, max, true);
	lrpc__ring_attach(&x->c, x->sh, x->data, x->cap, max, false);
	x->p.rewind = true;
	*state = x;
	return 0;
}

static int
teardown(void **state)
{
	struct pair *x = *state;

	free(x->sh);
	free(x->data);
	free(x);
	return 0;
}

static void
put(struct pair *x, uint32_t len, uint8_t fill)
{
	int err = 0;
	uint8_t *w = lrpc__ring_reserve(&x->p, len, &err);

	assert_non_null(w);
	memset(w, fill, len);
	lrpc__ring_commit(&x->p, len);
}

static void
get(struct pair *x, uint32_t len, uint8_t fill)
{
	const uint8_t *v;
	uint32_t l;

	assert_int_equal(lrpc__ring_peek(&x->c, &v, &l), 1);
	assert_int_equal(l, len);
	assert_int_equal(v[0], fill);
	assert_int_equal(v[l - 1], fill);
	assert_int_equal((uintptr_t)v % 8, 0);
	lrpc__ring_release(&x->c);
}

static void
test_shm_ring_capacity_holds_two_max(void **state)
{
	assert_int_equal(lrpc__ring_capacity(16), 64 * 1024);
	assert_int_equal(lrpc__ring_capacity(1u << 20), 4u << 20);
	assert_true(lrpc__ring_capacity((1u << 20) - 100) >= 2u << 20);
}

static void
test_shm_ring_sizes_and_wrap(void **state)
{
	struct pair *x = *state;

	/* Doubling sizes, then many odd sizes: records wrap with padding
	 * and large ones go back to the start of an empty ring. */
	for (uint32_t len = 24, i = 0; len <= (1u << 20); len *= 2, i++) {
		put(x, len, (uint8_t)i);
		get(x, len, (uint8_t)i);
	}
	for (uint32_t i = 0; i < 5000; i++) {
		uint32_t len = 24 + (i * 7919u) % 300000u;
		put(x, len, (uint8_t)i);
		get(x, len, (uint8_t)i);
	}
	/* Back-to-back maximum-size records always fit one at a time. */
	for (uint32_t i = 0; i < 20; i++) {
		put(x, 1u << 20, (uint8_t)i);
		get(x, 1u << 20, (uint8_t)i);
	}
}

static void
test_shm_ring_full_eagain(void **state)
{
	struct pair *x = *state;
	int err = 0, n = 0;
	uint8_t *w;

	while ((w = lrpc__ring_reserve(&x->p, 1000, &err))) {
		memset(w, 0, 1000);
		lrpc__ring_commit(&x->p, 1000);
		n++;
	}
	assert_int_equal(err, -EAGAIN);
	assert_true(n > 4000);
	assert_false(lrpc__ring_writable(&x->p, 1000));
	/* The consumer frees room and says whether the producer waits. */
	assert_false(lrpc__ring_arm_write(&x->p, 1000));
	get(x, 1000, 0);
	assert_true(x->sh->prod_waiting);
	assert_true(lrpc__ring_writable(&x->p, 1000));
	lrpc__ring_disarm_write(&x->p);
	assert_int_equal(lrpc__ring_reserve(&x->p, (1u << 20) + 1, &err), NULL);
	assert_int_equal(err, -EMSGSIZE);
}

static void
test_shm_ring_sleep_protocol(void **state)
{
	struct pair *x = *state;

	/* Empty: arming succeeds, and a commit reports the sleeper. */
	assert_false(lrpc__ring_arm_read(&x->c));
	assert_true(x->sh->cons_waiting);
	int err;
	void *w = lrpc__ring_reserve(&x->p, 24, &err);
	assert_non_null(w);
	memset(w, 1, 24);
	assert_true(lrpc__ring_commit(&x->p, 24));
	lrpc__ring_disarm_read(&x->c);
	/* Not empty: arming says "ready", and leaves no flag behind. */
	assert_true(lrpc__ring_arm_read(&x->c));
	assert_false(x->sh->cons_waiting);
	get(x, 24, 1);
}

/*
 * One wake-up per sleep: the commit that finds the consumer asleep takes
 * the flag back, so a burst of records to a sleeping consumer asks for
 * one wake-up, not one per record; once the consumer has announced its
 * next sleep, the next commit wakes it again.
 */
static void
test_shm_ring_one_wakeup_per_sleep(void **state)
{
	struct pair *x = *state;
	int err;

	assert_false(lrpc__ring_arm_read(&x->c));
	for (int i = 0; i < 5; i++) {
		void *w = lrpc__ring_reserve(&x->p, 24, &err);
		assert_non_null(w);
		memset(w, i + 1, 24);
		/* Only the first record of the burst rings. */
		assert_int_equal(lrpc__ring_commit(&x->p, 24), i == 0);
		assert_false(x->sh->cons_waiting);
	}
	/* Woken: the consumer takes what is there and sleeps again... */
	for (int i = 0; i < 5; i++)
		get(x, 24, (uint8_t)(i + 1));
	assert_false(lrpc__ring_arm_read(&x->c));
	/* ...and the next record rings once more. */
	void *w = lrpc__ring_reserve(&x->p, 24, &err);
	assert_non_null(w);
	memset(w, 9, 24);
	assert_true(lrpc__ring_commit(&x->p, 24));
	lrpc__ring_disarm_read(&x->c);
	get(x, 24, 9);
}

static void
test_shm_ring_bad_producer_index(void **state)
{
	struct pair *x = *state;
	const uint64_t bad[] = { 8 * 1024 * 1024, UINT64_MAX };
	const uint8_t *v;
	uint32_t l;

	for (size_t i = 0; i < 2; i++) {
		lrpc__ring_attach(&x->c, x->sh, x->data, x->cap, 1u << 20,
				  true);
		x->sh->prod = bad[i];
		assert_int_equal(lrpc__ring_peek(&x->c, &v, &l), -EPROTO);
		assert_true(x->c.broken);
		/* Broken stays broken. */
		x->sh->prod = 0;
		assert_int_equal(lrpc__ring_peek(&x->c, &v, &l), -EPROTO);
	}
	/* Behind what was already seen. */
	lrpc__ring_attach(&x->c, x->sh, x->data, x->cap, 1u << 20, true);
	put(x, 24, 3);
	get(x, 24, 3);
	x->sh->prod = 8;
	assert_int_equal(lrpc__ring_peek(&x->c, &v, &l), -EPROTO);
}

static void
test_shm_ring_bad_records(void **state)
{
	struct pair *x = *state;
	const uint64_t bad[] = {
		(uint64_t)((1u << 20) + 1) | (1ull << 32), /* too long */
		(uint64_t)24 | (3ull << 32),               /* unknown type */
		(uint64_t)200 | (1ull << 32),              /* past prod */
		(uint64_t)16 | (2ull << 32),               /* short pad */
	};
	const uint8_t *v;
	uint32_t l;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		lrpc__ring_attach(&x->p, x->sh, x->data, x->cap, 1u << 20,
				  true);
		lrpc__ring_attach(&x->c, x->sh, x->data, x->cap, 1u << 20,
				  false);
		memcpy(x->data, &bad[i], 8);
		x->sh->prod = 32;
		assert_int_equal(lrpc__ring_peek(&x->c, &v, &l), -EPROTO);
	}
	/* A consumer index moving backwards breaks the producer's side. */
	lrpc__ring_attach(&x->p, x->sh, x->data, x->cap, 1u << 20, true);
	lrpc__ring_attach(&x->c, x->sh, x->data, x->cap, 1u << 20, false);
	int err = 0;
	void *w;
	/* (The producer reads the consumer's index only when it needs
	 * room: fill the ring first.) */
	while ((w = lrpc__ring_reserve(&x->p, 1000, &err)))
		lrpc__ring_commit(&x->p, 1000);
	assert_int_equal(err, -EAGAIN);
	x->sh->cons = UINT64_MAX;
	assert_null(lrpc__ring_reserve(&x->p, 1000, &err));
	assert_int_equal(err, -EPROTO);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shm_ring_capacity_holds_two_max),
		cmocka_unit_test_setup_teardown(test_shm_ring_sizes_and_wrap,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_shm_ring_full_eagain,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_shm_ring_sleep_protocol,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_shm_ring_one_wakeup_per_sleep,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_shm_ring_bad_producer_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shm_ring_bad_records,
						setup, teardown),
	};
	return cmocka_run_group_tests_name("shm-ring", tests, NULL, NULL);
}
