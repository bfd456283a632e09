/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one table-driven encoder and decoder for every IDL type.  Generated
 * code only describes types (lrpc_rpc_type); all validation lives here:
 *
 *   rpc-encode.c  C value -> wire, one function per kind
 *   rpc-decode.c  wire -> C value, one function per kind, bounded
 *
 * This header holds what both directions need to agree on.  The helpers are
 * static inline because they sit on the path of every scalar and every
 * enum or union value of a generated stub's call.
 */
#ifndef LRPC_RPC_CODEC_H
#define LRPC_RPC_CODEC_H

#include "rpc-wire.h"

/* Bytes of the fixed-size encoding of an integer or float kind, else 0. */
static inline size_t
lrpc__rpc_scalar_size(uint16_t kind)
{
	switch (kind) {
	case LRPC_RPC_BOOL:
	case LRPC_RPC_I8:
	case LRPC_RPC_U8:
		return 1;
	case LRPC_RPC_I16:
	case LRPC_RPC_U16:
		return 2;
	case LRPC_RPC_I32:
	case LRPC_RPC_U32:
	case LRPC_RPC_F32:
		return 4;
	case LRPC_RPC_I64:
	case LRPC_RPC_U64:
	case LRPC_RPC_F64:
		return 8;
	default:
		return 0;
	}
}

/* Store the low bytes of @v, as many as a @kind takes in memory. */
static inline void
lrpc__rpc_store_int(uint16_t kind, void *p, uint64_t v)
{
	switch (lrpc__rpc_scalar_size(kind)) {
	case 1: {
		uint8_t x = (uint8_t)v;
		memcpy(p, &x, 1);
		break;
	}
	case 2: {
		uint16_t x = (uint16_t)v;
		memcpy(p, &x, 2);
		break;
	}
	case 4: {
		uint32_t x = (uint32_t)v;
		memcpy(p, &x, 4);
		break;
	}
	default:
		memcpy(p, &v, 8);
		break;
	}
}

/*
 * True if @raw (sign-extended to 64 bits) is one of the values of enum @t;
 * its index in @t->values goes to @ret_at.
 */
static inline bool
lrpc__rpc_enum_find(const lrpc_rpc_type *t, uint64_t raw, uint32_t *ret_at)
{
	int64_t v = (int64_t)raw;
	uint32_t lo = 0, hi = t->n_values;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (t->values[mid] == v) {
			*ret_at = mid;
			return true;
		}
		/* u64 enums above INT64_MAX are stored as their bit pattern;
		 * the generator sorts by that signed view too. */
		if (t->values[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static inline bool
lrpc__rpc_enum_valid(const lrpc_rpc_type *t, uint64_t raw)
{
	uint32_t at;

	return lrpc__rpc_enum_find(t, raw, &at);
}

/*
 * "7 is not a value of kv.Kind" (@raw sign-extended for signed bases) and
 * "union tag 9 is not a case of rt.Choice": the two rules both directions
 * share.  Record the rule in @e and return @code (rpc-codec-err.c).
 */
int lrpc__rpc_fail_enum(lrpc__codec_err *e, int code, const lrpc_rpc_type *t,
			uint64_t raw) __attribute__((cold));
int lrpc__rpc_fail_tag(lrpc__codec_err *e, int code, const lrpc_rpc_type *t,
		       uint64_t tag) __attribute__((cold));
/*
 * "LOUD of kv.Kind is @since(2), newer than the receiver's version 1":
 * a value the receiver could only reject.  Returns -EPROTONOSUPPORT.
 */
int lrpc__rpc_fail_newer(lrpc__codec_err *e, const lrpc_rpc_type *t,
			 const char *what, unsigned since, unsigned peer)
	__attribute__((cold));
/* "300 bytes, longer than @max(256)", "9 elements, more than @max(8)". */
int lrpc__rpc_fail_max(lrpc__codec_err *e, int code, const lrpc_rpc_type *t,
		       size_t n) __attribute__((cold));

/*
 * A struct from an older peer sent only @count of @t's fields: check that
 * it sent whole versions, then give the missing fields of @v their
 * defaults (rpc-evolve.c).  Returns 0 or -EBADMSG.
 */
int lrpc__rpc_fields_missing(const lrpc_rpc_type *t, uint32_t count, void *v,
			     lrpc__codec_err *e);

/*
 * Store in @v (@t->size bytes, zeroed by the caller) the value a field an
 * older peer did not send gets (rpc-evolve.c).
 */
void lrpc__rpc_fill_default(const lrpc_rpc_type *t, void *v);

/* The case of union @t with @tag, or NULL. */
static inline const lrpc_rpc_field *
lrpc__rpc_union_case(const lrpc_rpc_type *t, uint32_t tag)
{
	for (uint32_t i = 0; i < t->n_fields; i++)
		if (t->fields[i].ordinal == tag)
			return &t->fields[i];
	return NULL;
}

/* An IDL `fd` (rpc-fds.c): an index into the message's fds, each used
 * once, of the kind asked; the fd then belongs to @arena. */
int lrpc__rpc_decode_fd(lrpc__rd *r, const lrpc_rpc_type *t, void *v,
			lrpc_arena *arena, lrpc__codec_err *e);

#endif
