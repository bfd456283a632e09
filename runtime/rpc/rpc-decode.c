/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Decoding: the wire form of an lrpc_rpc_type to its C value, one function
 * per kind.  Every fault in the bytes is -EBADMSG; errors of the arena
 * (-ENOBUFS, -ENOMEM) pass through unchanged.
 *
 * Decoding is bounded: every length is checked against the bytes left and
 * against the type's @max before anything is allocated, element counts
 * are checked against the smallest possible encoding of an element (so a
 * count cannot ask for more memory than the message could describe), the
 * nesting depth is limited, and nothing may follow the value.
 */
#include <string.h>

#include "rpc-codec.h"
#include "util.h"

/* Smallest number of bytes any value of @t encodes to (at least 1). */
static size_t
min_wire(const lrpc_rpc_type *t)
{
	switch (t->kind) {
	case LRPC_RPC_STRING:
	case LRPC_RPC_BYTES:
	case LRPC_RPC_LIST:
	case LRPC_RPC_MAP:
		return 4;
	case LRPC_RPC_OPTIONAL:
		return 1;
	case LRPC_RPC_ENUM:
		return lrpc__rpc_scalar_size(t->inner->kind);
	case LRPC_RPC_STRUCT:
		return 6;
	case LRPC_RPC_UNION:
		return lrpc__rpc_scalar_size(t->inner->kind);
	case LRPC_RPC_ARRAY: {
		size_t m = min_wire(t->inner);
		/* Saturate: nested arrays could overflow size_t. */
		if (t->max && m > SIZE_MAX / t->max)
			return SIZE_MAX;
		return t->max ? m * t->max : 1;
	}
	default:
		return lrpc__rpc_scalar_size(t->kind);
	}
}

/* Store the low bytes of @v, as many as a @kind takes in memory. */
static void
store_int(uint16_t kind, void *p, uint64_t v)
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

/* Read a @kind-sized pattern, zero-extended to 64 bits. */
static bool
rd_scalar(lrpc__rd *r, uint16_t kind, uint64_t *v)
{
	uint8_t b8;
	uint16_t b16;
	uint32_t b32;

	switch (lrpc__rpc_scalar_size(kind)) {
	case 1:
		if (!lrpc__rd_u8(r, &b8))
			return false;
		*v = b8;
		return true;
	case 2:
		if (!lrpc__rd_u16(r, &b16))
			return false;
		*v = b16;
		return true;
	case 4:
		if (!lrpc__rd_u32(r, &b32))
			return false;
		*v = b32;
		return true;
	default:
		return lrpc__rd_u64(r, v);
	}
}

/* Sign-extend a @kind-sized pattern read from the wire. */
static uint64_t
sign_extend(uint16_t kind, uint64_t v)
{
	switch (kind) {
	case LRPC_RPC_I8:
		return (uint64_t)(int64_t)(int8_t)v;
	case LRPC_RPC_I16:
		return (uint64_t)(int64_t)(int16_t)v;
	case LRPC_RPC_I32:
		return (uint64_t)(int64_t)(int32_t)v;
	default:
		return v;
	}
}

static int decode(lrpc__rd *r, const lrpc_rpc_type *t, void *v,
		  lrpc_arena *arena, unsigned depth);

/* The u32 length or count in front of a string, bytes, list or map. */
static int
decode_len(lrpc__rd *r, const lrpc_rpc_type *t, uint32_t *len)
{
	if (!lrpc__rd_u32(r, len))
		return -EBADMSG;
	if (t->max && *len > t->max)
		return -EBADMSG;
	return 0;
}

/* Room for @count elements of @t: check the wire can hold them and the
 * C size does not overflow, before allocating. */
static int
decode_alloc_elements(lrpc__rd *r, const lrpc_rpc_type *t, uint32_t count,
		      lrpc_arena *arena, void **ret)
{
	size_t mw = min_wire(t);

	if (count == 0) {
		*ret = NULL;
		return 0;
	}
	if (mw == 0 || count > lrpc__rd_left(r) / mw)
		return -EBADMSG;
	if (t->size && count > SIZE_MAX / t->size)
		return -EBADMSG;
	return lrpc_arena_alloc(arena, (size_t)count * t->size,
				t->align ? t->align : 1, ret);
}

/* @count values of @t into @items, each t->size bytes apart. */
static int
decode_elements(lrpc__rd *r, const lrpc_rpc_type *t, uint8_t *items,
		size_t count, lrpc_arena *arena, unsigned depth)
{
	for (size_t i = 0; i < count; i++) {
		int e = decode(r, t, items + i * t->size, arena, depth);
		if (e < 0)
			return e;
	}
	return 0;
}

static int
decode_bool(lrpc__rd *r, void *v)
{
	uint8_t b;

	if (!lrpc__rd_u8(r, &b) || b > 1)
		return -EBADMSG;
	*(bool *)v = b == 1;
	return 0;
}

/* Signed and unsigned alike: the pattern is stored as it came. */
static int
decode_int(lrpc__rd *r, uint16_t kind, void *v)
{
	uint64_t raw;

	if (!rd_scalar(r, kind, &raw))
		return -EBADMSG;
	store_int(kind, v, raw);
	return 0;
}

/* The IEEE 754 bit pattern, stored as it came (NaNs included). */
static int
decode_float(lrpc__rd *r, uint16_t kind, void *v)
{
	if (kind == LRPC_RPC_F32) {
		uint32_t bits;

		if (!lrpc__rd_u32(r, &bits))
			return -EBADMSG;
		memcpy(v, &bits, sizeof(bits));
	} else {
		uint64_t bits;

		if (!lrpc__rd_u64(r, &bits))
			return -EBADMSG;
		memcpy(v, &bits, sizeof(bits));
	}
	return 0;
}

static int
decode_string(lrpc__rd *r, const lrpc_rpc_type *t, void *v,
	      lrpc_arena *arena)
{
	uint32_t len;
	char *s;
	int e;

	e = decode_len(r, t, &len);
	if (e < 0)
		return e;
	if (len > lrpc__rd_left(r))
		return -EBADMSG;
	/* C strings end at the first NUL: refuse embedded ones rather than
	 * silently truncating. */
	if (!lrpc__utf8_valid(r->p, len) || memchr(r->p, 0, len))
		return -EBADMSG;
	e = lrpc_arena_alloc(arena, (size_t)len + 1, 1, (void **)&s);
	if (e < 0)
		return e;
	memcpy(s, r->p, len);
	s[len] = 0;
	r->p += len;
	*(const char **)v = s;
	return 0;
}

static int
decode_bytes(lrpc__rd *r, const lrpc_rpc_type *t, void *v, lrpc_arena *arena)
{
	lrpc_bytes *b = v;
	uint8_t *d = NULL;
	uint32_t len;
	int e;

	e = decode_len(r, t, &len);
	if (e < 0)
		return e;
	if (len > lrpc__rd_left(r))
		return -EBADMSG;
	if (len) {
		e = lrpc_arena_alloc(arena, len, 1, (void **)&d);
		if (e < 0)
			return e;
		memcpy(d, r->p, len);
		r->p += len;
	}
	b->data = d;
	b->len = len;
	return 0;
}

static int
decode_list(lrpc__rd *r, const lrpc_rpc_type *t, void *v, lrpc_arena *arena,
	    unsigned depth)
{
	lrpc_list *l = v;
	void *items;
	uint32_t len;
	int e;

	e = decode_len(r, t, &len);
	if (e < 0)
		return e;
	e = decode_alloc_elements(r, t->inner, len, arena, &items);
	if (e < 0)
		return e;
	e = decode_elements(r, t->inner, items, len, arena, depth + 1);
	if (e < 0)
		return e;
	l->items = items;
	l->count = len;
	return 0;
}

static int
decode_array(lrpc__rd *r, const lrpc_rpc_type *t, void *v, lrpc_arena *arena,
	     unsigned depth)
{
	return decode_elements(r, t->inner, v, t->max, arena, depth + 1);
}

static int
decode_optional(lrpc__rd *r, const lrpc_rpc_type *t, void *v,
		lrpc_arena *arena, unsigned depth)
{
	const lrpc_rpc_type *in = t->inner;
	uint8_t present;
	void *p;
	int e;

	if (!lrpc__rd_u8(r, &present) || present > 1)
		return -EBADMSG;
	*(void **)v = NULL;
	if (!present)
		return 0;
	/* An optional string is its own pointer. */
	if (in->kind == LRPC_RPC_STRING)
		return decode(r, in, v, arena, depth + 1);
	e = lrpc_arena_alloc(arena, in->size, in->align ? in->align : 1, &p);
	if (e < 0)
		return e;
	e = decode(r, in, p, arena, depth + 1);
	if (e < 0)
		return e;
	*(void **)v = p;
	return 0;
}

/* Enum values are compared sign-extended, the way the table holds them. */
static int
decode_enum(lrpc__rd *r, const lrpc_rpc_type *t, void *v)
{
	uint64_t raw;

	if (!rd_scalar(r, t->inner->kind, &raw))
		return -EBADMSG;
	raw = sign_extend(t->inner->kind, raw);
	if (!lrpc__rpc_enum_valid(t, raw))
		return -EBADMSG;
	store_int(t->inner->kind, v, raw);
	return 0;
}

static int
decode_struct(lrpc__rd *r, const lrpc_rpc_type *t, void *v, lrpc_arena *arena,
	      unsigned depth)
{
	uint32_t body;
	uint16_t count;
	int e;

	if (!lrpc__rd_u32(r, &body) || body > lrpc__rd_left(r) || body < 2)
		return -EBADMSG;
	lrpc__rd sub = { .p = r->p, .end = r->p + body };
	r->p += body;
	if (!lrpc__rd_u16(&sub, &count))
		return -EBADMSG;
	/* Fields travel in (since, ordinal) order: an older peer sends a
	 * prefix of ours (the rest stay zero), a newer one sends more,
	 * which are skipped with the rest of the body. */
	uint32_t n = LRPC_MIN((uint32_t)count, t->n_fields);
	for (uint32_t i = 0; i < n; i++) {
		const lrpc_rpc_field *f = &t->fields[i];
		e = decode(&sub, f->type, (uint8_t *)v + f->offset, arena,
			   depth + 1);
		if (e < 0)
			return e;
	}
	if (count <= t->n_fields && lrpc__rd_left(&sub) != 0)
		return -EBADMSG;
	return 0;
}

static int
decode_union(lrpc__rd *r, const lrpc_rpc_type *t, void *v, lrpc_arena *arena,
	     unsigned depth)
{
	const lrpc_rpc_field *c;
	uint64_t raw;
	uint32_t tag;

	if (!rd_scalar(r, t->inner->kind, &raw))
		return -EBADMSG;
	c = lrpc__rpc_union_case(t, (uint32_t)raw);
	if (!c)
		return -EBADMSG;
	tag = (uint32_t)raw;
	memcpy(v, &tag, sizeof(tag));
	return decode(r, c->type, (uint8_t *)v + t->value_offset, arena,
		      depth + 1);
}

static int
decode_map(lrpc__rd *r, const lrpc_rpc_type *t, void *v, lrpc_arena *arena,
	   unsigned depth)
{
	lrpc_map *m = v;
	void *keys, *values;
	uint32_t len;
	int e;

	e = decode_len(r, t, &len);
	if (e < 0)
		return e;
	/* Each entry needs at least a key and a value on the wire. */
	size_t mw = min_wire(t->inner) + min_wire(t->value);
	if (len && len > lrpc__rd_left(r) / mw)
		return -EBADMSG;
	e = decode_alloc_elements(r, t->inner, len, arena, &keys);
	if (e < 0)
		return e;
	e = decode_alloc_elements(r, t->value, len, arena, &values);
	if (e < 0)
		return e;
	for (uint32_t i = 0; i < len; i++) {
		e = decode(r, t->inner,
			   (uint8_t *)keys + (size_t)i * t->inner->size, arena,
			   depth + 1);
		if (e < 0)
			return e;
		e = decode(r, t->value,
			   (uint8_t *)values + (size_t)i * t->value->size,
			   arena, depth + 1);
		if (e < 0)
			return e;
	}
	m->keys = keys;
	m->values = values;
	m->count = len;
	return 0;
}

/* A switch for the reason given at encode() in rpc-encode.c. */
static int
decode(lrpc__rd *r, const lrpc_rpc_type *t, void *v, lrpc_arena *arena,
       unsigned depth)
{
	if (depth > LRPC_RPC_MAX_DEPTH)
		return -EBADMSG;
	switch (t->kind) {
	case LRPC_RPC_BOOL:
		return decode_bool(r, v);
	case LRPC_RPC_I8:
	case LRPC_RPC_I16:
	case LRPC_RPC_I32:
	case LRPC_RPC_I64:
	case LRPC_RPC_U8:
	case LRPC_RPC_U16:
	case LRPC_RPC_U32:
	case LRPC_RPC_U64:
		return decode_int(r, t->kind, v);
	case LRPC_RPC_F32:
	case LRPC_RPC_F64:
		return decode_float(r, t->kind, v);
	case LRPC_RPC_STRING:
		return decode_string(r, t, v, arena);
	case LRPC_RPC_BYTES:
		return decode_bytes(r, t, v, arena);
	case LRPC_RPC_LIST:
		return decode_list(r, t, v, arena, depth);
	case LRPC_RPC_ARRAY:
		return decode_array(r, t, v, arena, depth);
	case LRPC_RPC_OPTIONAL:
		return decode_optional(r, t, v, arena, depth);
	case LRPC_RPC_ENUM:
		return decode_enum(r, t, v);
	case LRPC_RPC_STRUCT:
		return decode_struct(r, t, v, arena, depth);
	case LRPC_RPC_UNION:
		return decode_union(r, t, v, arena, depth);
	case LRPC_RPC_MAP:
		return decode_map(r, t, v, arena, depth);
	default:
		return -EBADMSG;
	}
}

int
lrpc__rpc_decode(lrpc__rd *r, const lrpc_rpc_type *type, void *value,
		 lrpc_arena *arena)
{
	return decode(r, type, value, arena, 0);
}

LRPC_EXPORT int
lrpc_rpc_decode(const lrpc_rpc_type *type, const void *data, size_t size,
		void *value, lrpc_arena *arena)
{
	lrpc__rd r = { .p = data, .end = (const uint8_t *)data + size };
	int e;

	lrpc_return_if_fail(type && value && (data || size == 0), -EINVAL);
	memset(value, 0, type->size);
	e = lrpc__rpc_decode(&r, type, value, arena);
	if (e == 0 && lrpc__rd_left(&r) != 0)
		e = -EBADMSG;
	return e;
}
