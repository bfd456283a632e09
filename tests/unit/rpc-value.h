/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Values of any lrpc_rpc_type, made and compared by walking the descriptor
 * tables: random valid values (within @max, declared enum values and union
 * tags) and deep equality.  Shared by the round-trip property test and the
 * fuzz target.
 */
#ifndef LRPC_TEST_RPC_VALUE_H
#define LRPC_TEST_RPC_VALUE_H

#include <stdbool.h>
#include <stdint.h>

#include <lrpc/rpc.h>

/* xorshift64*: small, seedable, the same sequence everywhere. */
typedef struct rv_rng {
	uint64_t s;
} rv_rng;

uint64_t rv_next(rv_rng *g);

/* Fill @v (t->size bytes, zeroed) with a random valid value of @t; the
 * variable-size parts go into @arena (no limit). */
void rv_gen(rv_rng *g, const lrpc_rpc_type *t, void *v, lrpc_arena *arena);

/* Deep equality: contents, not pointers; floats by their bits; a NULL
 * string equals "". */
bool rv_equal(const lrpc_rpc_type *t, const void *a, const void *b);

/* Every type of tests/integration/rpc-types.idl: the named ones and every
 * method's request and reply. */
unsigned rv_types(const lrpc_rpc_type **out, unsigned cap);

#endif
