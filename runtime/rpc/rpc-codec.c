/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one table-driven encoder and decoder for every IDL type.  Generated
 * code only describes types (lrpc_rpc_type); all validation lives here.
 *
 * Decoding is bounded: every length is checked against the bytes left and
 * against the type's @max before anything is allocated, element counts
 * are checked against the smallest possible encoding of an element (so a
 * count cannot ask for more memory than the message could describe), the
 * nesting depth is limited, and nothing may follow the value.
 */
#include <string.h>

#include "rpc-wire.h"
#include "util.h"

/* Bytes of the fixed-size encoding of an integer or float kind, else 0. */
static size_t
scalar_size(uint16_t kind)
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
		return scalar_size(t->inner->kind);
	case LRPC_RPC_STRUCT:
		return 6;
	case LRPC_RPC_UNION:
		return scalar_size(t->inner->kind);
	case LRPC_RPC_ARRAY: {
		size_t m = min_wire(t->inner);
		/* Saturate: nested arrays could overflow size_t. */
		if (t->max && m > SIZE_MAX / t->max)
			return SIZE_MAX;
		return t->max ? m * t->max : 1;
	}
	default:
		return scalar_size(t->kind);
	}
}

/* Read an integer of @kind (1..8 bytes) as a 64-bit pattern from memory. */
static uint64_t
load_int(uint16_t kind, const void *p)
{
	switch (kind) {
	case LRPC_RPC_BOOL:
		return *(const bool *)p ? 1 : 0;
	case LRPC_RPC_I8:
		return (uint64_t)(int64_t)*(const int8_t *)p;
	case LRPC_RPC_I16:
		return (uint64_t)(int64_t)*(const int16_t *)p;
	case LRPC_RPC_I32:
		return (uint64_t)(int64_t)*(const int32_t *)p;
	default:
		break;
	}
	switch (scalar_size(kind)) {
	case 1:
		return *(const uint8_t *)p;
	case 2: {
		uint16_t v;
		memcpy(&v, p, 2);
		return v;
	}
	case 4: {
		uint32_t v;
		memcpy(&v, p, 4);
		return v;
	}
	default: {
		uint64_t v;
		memcpy(&v, p, 8);
		return v;
	}
	}
}

static void
store_int(uint16_t kind, void *p, uint64_t v)
{
	switch (scalar_size(kind)) {
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

static bool
enum_valid(const lrpc_rpc_type *t, uint64_t raw)
{
	int64_t v = (int64_t)raw;
	uint32_t lo = 0, hi = t->n_values;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (t->values[mid] == v)
			return true;
		/* u64 enums above INT64_MAX are stored as their bit pattern;
		 * the generator sorts by that signed view too. */
		if (t->values[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static const lrpc_rpc_field *
union_case(const lrpc_rpc_type *t, uint32_t tag)
{
	for (uint32_t i = 0; i < t->n_fields; i++)
		if (t->fields[i].ordinal == tag)
			return &t->fields[i];
	return NULL;
}

static void
wr_scalar(lrpc__wr *w, uint16_t kind, uint64_t v)
{
	switch (scalar_size(kind)) {
	case 1:
		lrpc__wr_u8(w, (uint8_t)v);
		break;
	case 2:
		lrpc__wr_u16(w, (uint16_t)v);
		break;
	case 4:
		lrpc__wr_u32(w, (uint32_t)v);
		break;
	default:
		lrpc__wr_u64(w, v);
		break;
	}
}

static bool
rd_scalar(lrpc__rd *r, uint16_t kind, uint64_t *v)
{
	uint8_t b8;
	uint16_t b16;
	uint32_t b32;

	switch (scalar_size(kind)) {
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

/* --- Encoding ------------------------------------------------------------ */

static int encode(lrpc__wr *w, const lrpc_rpc_type *t, const void *v,
		  unsigned depth);

static int
encode_blob(lrpc__wr *w, const lrpc_rpc_type *t, const void *data, size_t len)
{
	if (len > UINT32_MAX || (t->max && len > t->max))
		return -EINVAL;
	lrpc__wr_u32(w, (uint32_t)len);
	lrpc__wr_bytes(w, data, len);
	return 0;
}

static int
encode_string(lrpc__wr *w, const lrpc_rpc_type *t, const char *s)
{
	size_t len = s ? strlen(s) : 0;

	if (s && !lrpc__utf8_valid((const uint8_t *)s, len))
		return -EINVAL;
	return encode_blob(w, t, s, len);
}

static int
encode_elements(lrpc__wr *w, const lrpc_rpc_type *t, const uint8_t *items,
		size_t count, unsigned depth)
{
	for (size_t i = 0; i < count; i++) {
		int r = encode(w, t, items + i * t->size, depth);
		if (r < 0)
			return r;
	}
	return 0;
}

static int
encode_struct(lrpc__wr *w, const lrpc_rpc_type *t, const uint8_t *v,
	      unsigned depth)
{
	size_t at = w->pos;
	int r;

	lrpc__wr_u32(w, 0);
	lrpc__wr_u16(w, (uint16_t)t->n_fields);
	for (uint32_t i = 0; i < t->n_fields; i++) {
		const lrpc_rpc_field *f = &t->fields[i];
		r = encode(w, f->type, v + f->offset, depth);
		if (r < 0)
			return r;
	}
	size_t body = w->pos - at - 4;
	if (body > UINT32_MAX)
		return -EMSGSIZE;
	lrpc__wr_patch_u32(w, at, (uint32_t)body);
	return 0;
}

static int
encode(lrpc__wr *w, const lrpc_rpc_type *t, const void *v, unsigned depth)
{
	if (depth > LRPC_RPC_MAX_DEPTH)
		return -EINVAL;
	switch (t->kind) {
	case LRPC_RPC_BOOL:
	case LRPC_RPC_I8:
	case LRPC_RPC_I16:
	case LRPC_RPC_I32:
	case LRPC_RPC_I64:
	case LRPC_RPC_U8:
	case LRPC_RPC_U16:
	case LRPC_RPC_U32:
	case LRPC_RPC_U64:
	case LRPC_RPC_F32:
	case LRPC_RPC_F64:
		wr_scalar(w, t->kind, load_int(t->kind, v));
		return 0;
	case LRPC_RPC_STRING:
		return encode_string(w, t, *(const char *const *)v);
	case LRPC_RPC_BYTES: {
		const lrpc_bytes *b = v;
		if (!b->data && b->len)
			return -EINVAL;
		return encode_blob(w, t, b->data, b->len);
	}
	case LRPC_RPC_LIST: {
		const lrpc_list *l = v;
		if ((!l->items && l->count) || l->count > UINT32_MAX ||
		    (t->max && l->count > t->max))
			return -EINVAL;
		lrpc__wr_u32(w, (uint32_t)l->count);
		return encode_elements(w, t->inner, l->items, l->count,
				       depth + 1);
	}
	case LRPC_RPC_ARRAY:
		return encode_elements(w, t->inner, v, t->max, depth + 1);
	case LRPC_RPC_OPTIONAL: {
		const void *p = *(const void *const *)v;
		lrpc__wr_u8(w, p ? 1 : 0);
		if (!p)
			return 0;
		/* An optional string is its own pointer. */
		return encode(w, t->inner,
			      t->inner->kind == LRPC_RPC_STRING ? v : p,
			      depth + 1);
	}
	case LRPC_RPC_ENUM: {
		uint64_t raw = load_int(t->inner->kind, v);
		if (!enum_valid(t, raw))
			return -EINVAL;
		wr_scalar(w, t->inner->kind, raw);
		return 0;
	}
	case LRPC_RPC_STRUCT:
		return encode_struct(w, t, v, depth + 1);
	case LRPC_RPC_UNION: {
		uint32_t tag;
		memcpy(&tag, v, sizeof(tag));
		const lrpc_rpc_field *c = union_case(t, tag);
		if (!c)
			return -EINVAL;
		wr_scalar(w, t->inner->kind, tag);
		return encode(w, c->type, (const uint8_t *)v + t->value_offset,
			      depth + 1);
	}
	case LRPC_RPC_MAP: {
		const lrpc_map *m = v;
		if ((!m->keys || !m->values) && m->count)
			return -EINVAL;
		if (m->count > UINT32_MAX || (t->max && m->count > t->max))
			return -EINVAL;
		lrpc__wr_u32(w, (uint32_t)m->count);
		for (size_t i = 0; i < m->count; i++) {
			int r = encode(w, t->inner,
				       (const uint8_t *)m->keys +
					       i * t->inner->size,
				       depth + 1);
			if (r < 0)
				return r;
			r = encode(w, t->value,
				   (const uint8_t *)m->values +
					   i * t->value->size,
				   depth + 1);
			if (r < 0)
				return r;
		}
		return 0;
	}
	default:
		return -EINVAL;
	}
}

int
lrpc__rpc_encode(lrpc__wr *w, const lrpc_rpc_type *type, const void *value)
{
	int r = encode(w, type, value, 0);
	if (r == 0 && w->pos > UINT32_MAX)
		return -EMSGSIZE;
	return r;
}

LRPC_EXPORT int
lrpc_rpc_encode(const lrpc_rpc_type *type, const void *value, void *buf,
		size_t cap, size_t *ret_size)
{
	lrpc__wr w = { .buf = buf, .cap = buf ? cap : 0 };
	int r;

	lrpc_return_if_fail(type && value && ret_size, -EINVAL);
	r = lrpc__rpc_encode(&w, type, value);
	if (r < 0)
		return r;
	*ret_size = w.pos;
	return 0;
}

/* --- Decoding ------------------------------------------------------------ */

static int decode(lrpc__rd *r, const lrpc_rpc_type *t, void *v,
		  lrpc_arena *arena, unsigned depth);

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
decode_len(lrpc__rd *r, const lrpc_rpc_type *t, uint32_t *len)
{
	if (!lrpc__rd_u32(r, len))
		return -EBADMSG;
	if (t->max && *len > t->max)
		return -EBADMSG;
	return 0;
}

static int
decode_struct(lrpc__rd *r, const lrpc_rpc_type *t, uint8_t *v,
	      lrpc_arena *arena, unsigned depth)
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
		e = decode(&sub, f->type, v + f->offset, arena, depth);
		if (e < 0)
			return e;
	}
	if (count <= t->n_fields && lrpc__rd_left(&sub) != 0)
		return -EBADMSG;
	return 0;
}

static int
decode(lrpc__rd *r, const lrpc_rpc_type *t, void *v, lrpc_arena *arena,
       unsigned depth)
{
	uint64_t raw;
	uint32_t len;
	int e;

	if (depth > LRPC_RPC_MAX_DEPTH)
		return -EBADMSG;
	switch (t->kind) {
	case LRPC_RPC_BOOL:
		if (!rd_scalar(r, t->kind, &raw) || raw > 1)
			return -EBADMSG;
		*(bool *)v = raw == 1;
		return 0;
	case LRPC_RPC_I8:
	case LRPC_RPC_I16:
	case LRPC_RPC_I32:
	case LRPC_RPC_I64:
	case LRPC_RPC_U8:
	case LRPC_RPC_U16:
	case LRPC_RPC_U32:
	case LRPC_RPC_U64:
	case LRPC_RPC_F32:
	case LRPC_RPC_F64:
		if (!rd_scalar(r, t->kind, &raw))
			return -EBADMSG;
		store_int(t->kind, v, raw);
		return 0;
	case LRPC_RPC_STRING: {
		char *s;
		e = decode_len(r, t, &len);
		if (e < 0)
			return e;
		if (len > lrpc__rd_left(r))
			return -EBADMSG;
		/* C strings end at the first NUL: refuse embedded ones
		 * rather than silently truncating. */
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
	case LRPC_RPC_BYTES: {
		lrpc_bytes *b = v;
		uint8_t *d = NULL;
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
	case LRPC_RPC_LIST: {
		lrpc_list *l = v;
		void *items;
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
	case LRPC_RPC_ARRAY:
		return decode_elements(r, t->inner, v, t->max, arena,
				       depth + 1);
	case LRPC_RPC_OPTIONAL: {
		uint8_t present;
		void *p;
		if (!lrpc__rd_u8(r, &present) || present > 1)
			return -EBADMSG;
		*(void **)v = NULL;
		if (!present)
			return 0;
		if (t->inner->kind == LRPC_RPC_STRING)
			return decode(r, t->inner, v, arena, depth + 1);
		e = lrpc_arena_alloc(arena, t->inner->size,
				     t->inner->align ? t->inner->align : 1,
				     &p);
		if (e < 0)
			return e;
		e = decode(r, t->inner, p, arena, depth + 1);
		if (e < 0)
			return e;
		*(void **)v = p;
		return 0;
	}
	case LRPC_RPC_ENUM:
		if (!rd_scalar(r, t->inner->kind, &raw))
			return -EBADMSG;
		raw = sign_extend(t->inner->kind, raw);
		if (!enum_valid(t, raw))
			return -EBADMSG;
		store_int(t->inner->kind, v, raw);
		return 0;
	case LRPC_RPC_STRUCT:
		return decode_struct(r, t, v, arena, depth + 1);
	case LRPC_RPC_UNION: {
		const lrpc_rpc_field *c;
		uint32_t tag;
		if (!rd_scalar(r, t->inner->kind, &raw))
			return -EBADMSG;
		c = union_case(t, (uint32_t)raw);
		if (!c)
			return -EBADMSG;
		tag = (uint32_t)raw;
		memcpy(v, &tag, sizeof(tag));
		return decode(r, c->type, (uint8_t *)v + t->value_offset,
			      arena, depth + 1);
	}
	case LRPC_RPC_MAP: {
		lrpc_map *m = v;
		void *keys, *values;
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
				   (uint8_t *)keys + (size_t)i * t->inner->size,
				   arena, depth + 1);
			if (e < 0)
				return e;
			e = decode(r, t->value,
				   (uint8_t *)values +
					   (size_t)i * t->value->size,
				   arena, depth + 1);
			if (e < 0)
				return e;
		}
		m->keys = keys;
		m->values = values;
		m->count = len;
		return 0;
	}
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
