/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: decode -> encode round trip of the RPC codec over every
 * type of tests/integration/rpc-types.idl (HARDENING A12, A13).  The first
 * input byte picks the type, the rest is its encoding.  Whatever decodes
 * must encode again, to bytes that decode to the same value and re-encode
 * to themselves; anything else aborts.
 *
 * Built with -fsanitize=fuzzer when meson's `fuzz` option is on and the
 * compiler is clang; fuzz-replay.c runs the same function over the corpus
 * (tests/fuzz/corpus/rpc-roundtrip/) as an ordinary test.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc-value.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                            \
	do {                                                                \
		if (!(x)) {                                                 \
			fprintf(stderr, "fuzz-rpc-roundtrip: %s:%d: %s\n",  \
				__FILE__, __LINE__, #x);                    \
			abort();                                            \
		}                                                           \
	} while (0)

static uint8_t *
encode_alloc(const lrpc_rpc_type *t, const void *v, size_t *ret_size)
{
	size_t size, n;
	uint8_t *buf;

	CHECK(lrpc_rpc_encode(t, v, NULL, 0, &size) == 0);
	buf = malloc(size ? size : 1);
	CHECK(buf);
	CHECK(lrpc_rpc_encode(t, v, buf, size, &n) == 0 && n == size);
	*ret_size = size;
	return buf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const lrpc_rpc_type *types[64];
	unsigned n = rv_types(types, 64);
	const lrpc_rpc_type *t;
	uint8_t *e1, *e2;
	size_t n1, n2;
	lrpc_arena arena;
	void *x, *y;
	int r;

	if (size == 0)
		return 0;
	t = types[data[0] % n];
	x = calloc(1, t->size);
	y = calloc(1, t->size);
	CHECK(x && y);
	/* Bounded like a server's arena: a hostile count cannot make the
	 * decoder ask for more than the input could describe anyway. */
	lrpc_arena_init(&arena, NULL, 0, 64u << 20);
	r = lrpc_rpc_decode(t, data + 1, size - 1, x, &arena);
	CHECK(r == 0 || r == -EBADMSG);
	if (r == 0) {
		e1 = encode_alloc(t, x, &n1);
		CHECK(lrpc_rpc_decode(t, e1, n1, y, &arena) == 0);
		CHECK(rv_equal(t, x, y));
		e2 = encode_alloc(t, y, &n2);
		CHECK(n1 == n2 && memcmp(e1, e2, n1) == 0);
		free(e1);
		free(e2);
	}
	lrpc_arena_done(&arena);
	free(x);
	free(y);
	return 0;
}
