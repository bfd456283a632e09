/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The codec's round-trip property (HARDENING A12) over every type of
 * tests/integration/rpc-types.idl, through its generated tables:
 *
 *  (a) for random valid values x: decode(encode(x)) == x deeply, and
 *      encoding that again gives the same bytes;
 *  (b) for random and mutated bytes b: whatever decodes encodes again
 *      (never "decode accepts, encode refuses"), and that encoding is a
 *      fixed point: it decodes to the same value and re-encodes to itself.
 *      It equals b unless b carried a struct field count of another
 *      version (an older peer's prefix, a newer peer's extra fields),
 *      which the receiver re-encodes at its own version.
 *
 * Seeded and repeatable: the seed is printed, LRPC_TEST_SEED replays it.
 * LRPC_TEST_CORPUS_OUT=DIR writes one valid input per type for the fuzz
 * target's corpus (tests/fuzz/corpus/rpc-roundtrip/).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "rpc-types-types.h"
#include "rpc-value.h"
#include "rpc/rpc-wire.h"

#define ITERATIONS 4000
#define MAX_TYPES 64

static uint64_t seed;

/* Encode @v as @t into a malloc'd buffer; returns the errno. */
static int
encode_alloc(const lrpc_rpc_type *t, const void *v, uint8_t **ret,
	     size_t *ret_size)
{
	size_t size;
	int r = lrpc_rpc_encode(t, v, NULL, 0, &size);

	if (r < 0)
		return r;
	*ret = malloc(size ? size : 1);
	assert_non_null(*ret);
	assert_int_equal(lrpc_rpc_encode(t, v, *ret, size, ret_size), 0);
	assert_int_equal(*ret_size, size);
	return 0;
}

static void *
value_new(const lrpc_rpc_type *t)
{
	void *v = calloc(1, t->size ? t->size : 1);

	assert_non_null(v);
	return v;
}

static void
test_rpc_roundtrip_valid_values(void **state)
{
	const lrpc_rpc_type *types[MAX_TYPES];
	unsigned n = rv_types(types, MAX_TYPES);
	rv_rng g = { seed };
	lrpc_arena a, b;

	lrpc_arena_init(&a, NULL, 0, LRPC_ARENA_UNLIMITED);
	lrpc_arena_init(&b, NULL, 0, LRPC_ARENA_UNLIMITED);
	for (unsigned k = 0; k < n; k++) {
		const lrpc_rpc_type *t = types[k];
		void *x = value_new(t), *y = value_new(t);

		for (unsigned i = 0; i < ITERATIONS; i++) {
			uint8_t *e1, *e2;
			size_t n1, n2;

			memset(x, 0, t->size);
			rv_gen(&g, t, x, &a);
			assert_int_equal(encode_alloc(t, x, &e1, &n1), 0);
			assert_int_equal(lrpc_rpc_decode(t, e1, n1, y, &b), 0);
			if (!rv_equal(t, x, y))
				fail_msg("%s: decode(encode(x)) != x (seed "
					 "%llu)",
					 t->name, (unsigned long long)seed);
			assert_int_equal(encode_alloc(t, y, &e2, &n2), 0);
			assert_int_equal(n1, n2);
			assert_memory_equal(e1, e2, n1);
			free(e1);
			free(e2);
			lrpc_arena_reset(&a);
			lrpc_arena_reset(&b);
		}
		free(x);
		free(y);
	}
	lrpc_arena_done(&a);
	lrpc_arena_done(&b);
}

/* Change @buf (@n bytes, room for @cap) the way a fuzzer would. */
static size_t
mutate(rv_rng *g, uint8_t *buf, size_t n, size_t cap)
{
	unsigned k = rv_next(g) % 6;

	if (n == 0 || k == 0) {
		/* Random bytes altogether. */
		n = rv_next(g) % 64;
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)rv_next(g);
		return n;
	}
	size_t at = rv_next(g) % n;
	switch (k) {
	case 1: /* one bit */
		buf[at] ^= (uint8_t)(1u << (rv_next(g) % 8));
		break;
	case 2: /* one byte to something interesting */
		buf[at] = (uint8_t[]){ 0, 1, 2, 0x7f, 0x80, 0xff }[rv_next(g) %
								   6];
		break;
	case 3: /* cut */
		return at;
	case 4: /* drop a byte */
		memmove(buf + at, buf + at + 1, n - at - 1);
		return n - 1;
	default: /* insert a byte */
		if (n < cap) {
			memmove(buf + at + 1, buf + at, n - at);
			buf[at] = (uint8_t)rv_next(g);
			return n + 1;
		}
		break;
	}
	return n;
}

/* Property (b) for one input; returns true if it decoded. */
static bool
check_bytes(const lrpc_rpc_type *t, const uint8_t *b, size_t n, void *x,
	    void *y, lrpc_arena *arena, bool *same)
{
	uint8_t *e1, *e2;
	size_t n1, n2;
	int r;

	r = lrpc_rpc_decode(t, b, n, x, arena);
	if (r < 0) {
		assert_int_equal(r, -EBADMSG);
		return false;
	}
	r = encode_alloc(t, x, &e1, &n1);
	if (r < 0)
		fail_msg("%s: decode accepts, encode refuses (%d, seed %llu)",
			 t->name, r, (unsigned long long)seed);
	assert_int_equal(lrpc_rpc_decode(t, e1, n1, y, arena), 0);
	assert_true(rv_equal(t, x, y));
	assert_int_equal(encode_alloc(t, y, &e2, &n2), 0);
	assert_int_equal(n1, n2);
	assert_memory_equal(e1, e2, n1);
	*same = n1 == n && memcmp(e1, b, n) == 0;
	free(e1);
	free(e2);
	return true;
}

static void
test_rpc_roundtrip_mutated_bytes(void **state)
{
	const lrpc_rpc_type *types[MAX_TYPES];
	unsigned n = rv_types(types, MAX_TYPES);
	rv_rng g = { seed ^ 0x9e3779b97f4a7c15ull };
	unsigned decoded = 0, same = 0;
	lrpc_arena a;

	lrpc_arena_init(&a, NULL, 0, LRPC_ARENA_UNLIMITED);
	for (unsigned k = 0; k < n; k++) {
		const lrpc_rpc_type *t = types[k];
		void *x = value_new(t), *y = value_new(t);

		for (unsigned i = 0; i < ITERATIONS; i++) {
			uint8_t *enc, buf[4096];
			size_t len;
			bool s;

			memset(x, 0, t->size);
			rv_gen(&g, t, x, &a);
			assert_int_equal(encode_alloc(t, x, &enc, &len), 0);
			if (len > sizeof(buf) - 1)
				len = sizeof(buf) - 1;
			memcpy(buf, enc, len);
			free(enc);
			lrpc_arena_reset(&a);
			/* A few mutations in a row, checking each. */
			for (unsigned m = 1 + rv_next(&g) % 3; m > 0; m--) {
				len = mutate(&g, buf, len, sizeof(buf));
				if (check_bytes(t, buf, len, x, y, &a, &s)) {
					decoded++;
					same += s;
				}
				lrpc_arena_reset(&a);
			}
		}
		free(x);
		free(y);
	}
	print_message("mutated inputs that decoded: %u, re-encoded to the "
		      "same bytes: %u\n",
		      decoded, same);
	lrpc_arena_done(&a);
}

/* Byte @k of the encoding of rt.All lies in field fields[i]: cut there,
 * with the body size made to agree, and the error names that field. */
static void
test_rpc_roundtrip_truncated_every_field(void **state)
{
	const lrpc_rpc_type *t = &rt_all__type;
	rv_rng g = { seed + 1 };
	lrpc__codec_err e;
	lrpc_arena a;
	rt_all x, y;
	uint8_t *enc;
	size_t len, start = 6, ends[64];

	assert_true(t->n_fields <= 64);
	lrpc_arena_init(&a, NULL, 0, LRPC_ARENA_UNLIMITED);
	memset(&x, 0, sizeof(x));
	rv_gen(&g, t, &x, &a);
	assert_int_equal(encode_alloc(t, &x, &enc, &len), 0);
	for (uint32_t i = 0; i < t->n_fields; i++) {
		size_t n;
		const lrpc_rpc_field *f = &t->fields[i];
		assert_int_equal(lrpc_rpc_encode(f->type,
						 (uint8_t *)&x + f->offset,
						 NULL, 0, &n),
				 0);
		ends[i] = (i ? ends[i - 1] : start) + n;
	}
	assert_int_equal(ends[t->n_fields - 1], len);
	for (size_t k = start, i = 0; k < len; k++) {
		uint8_t *cut = malloc(k);
		uint32_t body = (uint32_t)(k - 4);

		while (k >= ends[i])
			i++;
		memcpy(cut, enc, k);
		memcpy(cut, &body, 4);
		lrpc__rd r = { .p = cut, .end = cut + k };
		memset(&y, 0, sizeof(y));
		assert_int_equal(lrpc__rpc_decode(&r, t, &y, &a, &e),
				 -EBADMSG);
		const char *name = t->fields[i].name;
		size_t nl = strlen(name);
		if (strncmp(e.text, name, nl) != 0 ||
		    !strchr(":.[", e.text[nl]))
			fail_msg("cut at %zu of %zu, in field %s: \"%s\"", k,
				 len, name, e.text);
		free(cut);
		lrpc_arena_reset(&a);
	}
	free(enc);
	lrpc_arena_done(&a);
}

/* LRPC_TEST_CORPUS_OUT: one valid input per type, in the fuzz target's
 * format (a type index byte, then the encoding). */
static void
write_corpus(const char *dir)
{
	const lrpc_rpc_type *types[MAX_TYPES];
	unsigned n = rv_types(types, MAX_TYPES);
	rv_rng g = { seed };
	lrpc_arena a;

	lrpc_arena_init(&a, NULL, 0, LRPC_ARENA_UNLIMITED);
	for (unsigned k = 0; k < n; k++) {
		void *x = value_new(types[k]);
		char path[512];
		uint8_t *enc;
		size_t len;
		FILE *f;

		rv_gen(&g, types[k], x, &a);
		assert_int_equal(encode_alloc(types[k], x, &enc, &len), 0);
		snprintf(path, sizeof(path), "%s/valid-%02u", dir, k);
		f = fopen(path, "wb");
		assert_non_null(f);
		fputc((int)k, f);
		fwrite(enc, 1, len, f);
		fclose(f);
		free(enc);
		free(x);
		lrpc_arena_reset(&a);
	}
	lrpc_arena_done(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rpc_roundtrip_valid_values),
		cmocka_unit_test(test_rpc_roundtrip_mutated_bytes),
		cmocka_unit_test(test_rpc_roundtrip_truncated_every_field),
	};
	const char *s = getenv("LRPC_TEST_SEED");

	seed = s && *s ? strtoull(s, NULL, 0)
		       : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	if (seed == 0)
		seed = 1;
	printf("rpc-roundtrip: seed %llu (LRPC_TEST_SEED=%llu replays)\n",
	       (unsigned long long)seed, (unsigned long long)seed);
	s = getenv("LRPC_TEST_CORPUS_OUT");
	if (s && *s) {
		write_corpus(s);
		return 0;
	}
	return cmocka_run_group_tests_name("rpc-roundtrip", tests, NULL, NULL);
}
