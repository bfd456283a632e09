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
 *
 * A refusal also says where and why in an lrpc__codec_err (may be NULL),
 * built only on the failure branches, as in rpc-encode.c.
 *
 * What decodes must encode again (HARDENING A12): the decoder yields only
 * values the encoder accepts, so a server can echo what it was given and
 * a proxy can forward it.  The one place this needs care is a struct from
 * an older peer, whose missing fields get their default (rpc-evolve.c).
 */
#include <inttypes.h>
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
	case LRPC_RPC_FD:
		return 4;
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
		  lrpc_arena *arena, unsigned depth, lrpc__codec_err *e);

/* "truncated (needs 8 bytes, 3 left)": @need bytes were wanted. */
static int
fail_short(lrpc__codec_err *e, const lrpc__rd *r, size_t need)
{
	return lrpc__codec_fail(e, -EBADMSG,
				"truncated (needs %zu byte%s, %zu left)", need,
				need == 1 ? "" : "s", lrpc__rd_left(r));
}

/* The arena's own errors pass through, with what was asked of it. */
static int
fail_arena(lrpc__codec_err *e, int code, size_t size)
{
	return lrpc__codec_fail(e, code, "arena: no room for %zu bytes (%s)",
				size, code == -ENOMEM ? "out of memory"
						      : "limit reached");
}

static int
arena_alloc(lrpc_arena *arena, size_t size, size_t align, void **ret,
	    lrpc__codec_err *e)
{
	int r = lrpc_arena_alloc(arena, size, align, ret);
	return r < 0 ? fail_arena(e, r, size) : 0;
}

/* For bytes and strings, which are copied over whole at once. */
static int
arena_alloc_uninit(lrpc_arena *arena, size_t size, void **ret,
		   lrpc__codec_err *e)
{
	int r = arena ? lrpc__arena_alloc_uninit(arena, size, 1, ret)
		      : -EINVAL;
	return r < 0 ? fail_arena(e, r, size) : 0;
}

/* The u32 length or count in front of a string, bytes, list or map. */
static int
decode_len(lrpc__rd *r, const lrpc_rpc_type *t, uint32_t *len,
	   lrpc__codec_err *e)
{
	if (!lrpc__rd_u32(r, len))
		return fail_short(e, r, 4);
	if (t->max && *len > t->max)
		return lrpc__rpc_fail_max(e, -EBADMSG, t, *len);
	return 0;
}

/* Room for @count elements of @t: check the wire can hold them and the
 * C size does not overflow, before allocating. */
static int
decode_alloc_elements(lrpc__rd *r, const lrpc_rpc_type *t, uint32_t count,
		      lrpc_arena *arena, void **ret, lrpc__codec_err *e)
{
	size_t mw = min_wire(t);

	if (count == 0) {
		*ret = NULL;
		return 0;
	}
	if (mw == 0 || count > lrpc__rd_left(r) / mw ||
	    (t->size && count > SIZE_MAX / t->size))
		return lrpc__codec_fail(e, -EBADMSG,
					"count %" PRIu32 " cannot fit in the "
					"%zu bytes left",
					count, lrpc__rd_left(r));
	return arena_alloc(arena, (size_t)count * t->size,
			   t->align ? t->align : 1, ret, e);
}

/* @count values of @t into @items, each t->size bytes apart. */
static int
decode_elements(lrpc__rd *r, const lrpc_rpc_type *t, uint8_t *items,
		size_t count, lrpc_arena *arena, unsigned depth,
		lrpc__codec_err *e)
{
	for (size_t i = 0; i < count; i++) {
		int x = decode(r, t, items + i * t->size, arena, depth, e);
		if (x < 0)
			return lrpc__codec_up(e, x, LRPC__SEG_INDEX, NULL,
					      (uint32_t)i);
	}
	return 0;
}

static int
decode_bool(lrpc__rd *r, void *v, lrpc__codec_err *e)
{
	uint8_t b;

	if (!lrpc__rd_u8(r, &b))
		return fail_short(e, r, 1);
	if (b > 1)
		return lrpc__codec_fail(e, -EBADMSG,
					"bool byte %u is not 0 or 1", b);
	*(bool *)v = b == 1;
	return 0;
}

/* Signed and unsigned alike: the pattern is stored as it came. */
static int
decode_int(lrpc__rd *r, uint16_t kind, void *v, lrpc__codec_err *e)
{
	uint64_t raw;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* The wire form is the memory form: one bounded copy. */
	size_t n = lrpc__rpc_scalar_size(kind);
	if (lrpc__rd_bytes(r, v, n))
		return 0;
	return fail_short(e, r, n);
#endif

	if (!rd_scalar(r, kind, &raw))
		return fail_short(e, r, lrpc__rpc_scalar_size(kind));
	lrpc__rpc_store_int(kind, v, raw);
	return 0;
}

/* The IEEE 754 bit pattern, stored as it came (NaNs included): floats are
 * integers of the same size to the codec. */
static int
decode_float(lrpc__rd *r, uint16_t kind, void *v, lrpc__codec_err *e)
{
	return decode_int(r, kind == LRPC_RPC_F32 ? LRPC_RPC_U32 : LRPC_RPC_U64,
			  v, e);
}

/* The length and the bytes after it, which must all be there. */
static int
decode_blob(lrpc__rd *r, const lrpc_rpc_type *t, uint32_t *len,
	    lrpc__codec_err *e)
{
	int x = decode_len(r, t, len, e);

	if (x < 0)
		return x;
	if (*len > lrpc__rd_left(r))
		return fail_short(e, r, *len);
	return 0;
}

static int
decode_string(lrpc__rd *r, const lrpc_rpc_type *t, void *v,
	      lrpc_arena *arena, lrpc__codec_err *e)
{
	const uint8_t *nul;
	uint32_t len = 0;
	size_t bad;
	char *s;
	int x;

	x = decode_blob(r, t, &len, e);
	if (x < 0)
		return x;
	/* Copy first, then check the copy: the message may lie in memory
	 * the peer can still write (a client decodes replies and events in
	 * the shm ring), and what was checked must be what is kept. */
	x = arena_alloc_uninit(arena, (size_t)len + 1, (void **)&s, e);
	if (x < 0)
		return x;
	memcpy(s, r->p, len);
	s[len] = 0;
	r->p += len;
	bad = lrpc__utf8_check((const uint8_t *)s, len);
	if (bad != len)
		return lrpc__codec_fail(e, -EBADMSG,
					"invalid UTF-8 at byte %zu", bad);
	/* C strings end at the first NUL: refuse embedded ones rather than
	 * silently truncating. */
	nul = memchr(s, 0, len);
	if (nul)
		return lrpc__codec_fail(e, -EBADMSG, "NUL at byte %zu",
					(size_t)(nul - (const uint8_t *)s));
	*(const char **)v = s;
	return 0;
}

static int
decode_bytes(lrpc__rd *r, const lrpc_rpc_type *t, void *v, lrpc_arena *arena,
	     lrpc__codec_err *e)
{
	lrpc_bytes *b = v;
	uint8_t *d = NULL;
	uint32_t len = 0;
	int x;

	x = decode_blob(r, t, &len, e);
	if (x < 0)
		return x;
	if (len && r->borrow) {
		d = (uint8_t *)r->p;
		r->p += len;
	} else if (len) {
		x = arena_alloc_uninit(arena, len, (void **)&d, e);
		if (x < 0)
			return x;
		memcpy(d, r->p, len);
		r->p += len;
	}
	b->data = d;
	b->len = len;
	return 0;
}

static int
decode_list(lrpc__rd *r, const lrpc_rpc_type *t, void *v, lrpc_arena *arena,
	    unsigned depth, lrpc__codec_err *e)
{
	lrpc_list *l = v;
	void *items;
	uint32_t len = 0;
	int x;

	x = decode_len(r, t, &len, e);
	if (x < 0)
		return x;
	x = decode_alloc_elements(r, t->inner, len, arena, &items, e);
	if (x < 0)
		return x;
	x = decode_elements(r, t->inner, items, len, arena, depth + 1, e);
	if (x < 0)
		return x;
	l->items = items;
	l->count = len;
	return 0;
}

static int
decode_optional(lrpc__rd *r, const lrpc_rpc_type *t, void *v,
		lrpc_arena *arena, unsigned depth, lrpc__codec_err *e)
{
	const lrpc_rpc_type *in = t->inner;
	uint8_t present;
	void *p;
	int x;

	if (!lrpc__rd_u8(r, &present))
		return fail_short(e, r, 1);
	if (present > 1)
		return lrpc__codec_fail(e, -EBADMSG,
					"presence byte %u is not 0 or 1",
					present);
	*(void **)v = NULL;
	if (!present)
		return 0;
	/* An optional string is its own pointer. */
	if (in->kind == LRPC_RPC_STRING)
		return decode(r, in, v, arena, depth + 1, e);
	x = arena_alloc(arena, in->size, in->align ? in->align : 1, &p, e);
	if (x < 0)
		return x;
	x = decode(r, in, p, arena, depth + 1, e);
	if (x < 0)
		return x;
	*(void **)v = p;
	return 0;
}

/* Enum values are compared sign-extended, the way the table holds them. */
static int
decode_enum(lrpc__rd *r, const lrpc_rpc_type *t, void *v, lrpc__codec_err *e)
{
	uint64_t raw;

	if (!rd_scalar(r, t->inner->kind, &raw))
		return fail_short(e, r, lrpc__rpc_scalar_size(t->inner->kind));
	raw = sign_extend(t->inner->kind, raw);
	if (!lrpc__rpc_enum_valid(t, raw))
		return lrpc__rpc_fail_enum(e, -EBADMSG, t, raw);
	lrpc__rpc_store_int(t->inner->kind, v, raw);
	return 0;
}

/*
 * Field count and fields inside the body @sub.  Fields a newer peer knows
 * and we do not are skipped with the rest of the body; fields an older one
 * did not send get their default.
 */
static int
decode_fields(lrpc__rd *sub, const lrpc_rpc_type *t, void *v,
	      lrpc_arena *arena, unsigned depth, lrpc__codec_err *e)
{
	uint16_t count;
	int x;

	if (!lrpc__rd_u16(sub, &count))
		return fail_short(e, sub, 2);
	if (count < t->n_fields) {
		x = lrpc__rpc_fields_missing(t, count, v, e);
		if (x < 0)
			return x;
	}
	uint32_t n = LRPC_MIN((uint32_t)count, t->n_fields);
	for (uint32_t i = 0; i < n; i++) {
		const lrpc_rpc_field *f = &t->fields[i];
		void *at = (uint8_t *)v + f->offset;
		/* A retired field is checked like any other (an older peer
		 * still sends it) and dropped: decoded into the arena. */
		if (f->offset == LRPC_RPC_FIELD_RETIRED) {
			x = arena ? lrpc__arena_alloc_uninit(arena,
							     f->type->size,
							     f->type->align,
							     &at)
				  : -EINVAL;
			if (x < 0)
				return lrpc__codec_up(e, fail_arena(e, x,
								    f->type->size),
						      LRPC__SEG_FIELD, f->name,
						      0);
		}
		x = decode(sub, f->type, at, arena, depth + 1, e);
		if (x < 0)
			return lrpc__codec_up(e, x, LRPC__SEG_FIELD, f->name,
					      0);
	}
	if (count <= t->n_fields && lrpc__rd_left(sub) != 0)
		return lrpc__codec_fail(e, -EBADMSG,
					"trailing %zu bytes in the struct body",
					lrpc__rd_left(sub));
	return 0;
}

static int
decode_struct(lrpc__rd *r, const lrpc_rpc_type *t, void *v, lrpc_arena *arena,
	      unsigned depth, lrpc__codec_err *e)
{
	uint32_t body;

	if (!lrpc__rd_u32(r, &body))
		return fail_short(e, r, 4);
	if (body > lrpc__rd_left(r))
		return lrpc__codec_fail(e, -EBADMSG,
					"truncated (struct body of %" PRIu32
					" bytes, %zu left)",
					body, lrpc__rd_left(r));
	lrpc__rd sub = { .p = r->p, .end = r->p + body, .borrow = r->borrow,
			 .fds = r->fds };
	r->p += body;
	return decode_fields(&sub, t, v, arena, depth, e);
}

static int
decode_union(lrpc__rd *r, const lrpc_rpc_type *t, void *v, lrpc_arena *arena,
	     unsigned depth, lrpc__codec_err *e)
{
	const lrpc_rpc_field *c;
	uint64_t raw;
	uint32_t tag;
	int x;

	if (!rd_scalar(r, t->inner->kind, &raw))
		return fail_short(e, r, lrpc__rpc_scalar_size(t->inner->kind));
	c = lrpc__rpc_union_case(t, (uint32_t)raw);
	if (!c)
		return lrpc__rpc_fail_tag(e, -EBADMSG, t, raw);
	tag = (uint32_t)raw;
	memcpy(v, &tag, sizeof(tag));
	x = decode(r, c->type, (uint8_t *)v + t->value_offset, arena,
		   depth + 1, e);
	if (x < 0)
		return lrpc__codec_up(e, x, LRPC__SEG_FIELD, c->name, 0);
	return 0;
}

/* The entries after the count: each key, then its value. */
static int
decode_entries(lrpc__rd *r, const lrpc_rpc_type *t, uint8_t *keys,
	       uint8_t *values, uint32_t len, lrpc_arena *arena,
	       unsigned depth, lrpc__codec_err *e)
{
	for (uint32_t i = 0; i < len; i++) {
		int x = decode(r, t->inner, keys + (size_t)i * t->inner->size,
			       arena, depth + 1, e);
		if (x < 0)
			return lrpc__codec_up(e, x, LRPC__SEG_KEY, NULL, i);
		x = decode(r, t->value, values + (size_t)i * t->value->size,
			   arena, depth + 1, e);
		if (x < 0)
			return lrpc__codec_up(e, x, LRPC__SEG_VALUE, NULL, i);
	}
	return 0;
}

static int
decode_map(lrpc__rd *r, const lrpc_rpc_type *t, void *v, lrpc_arena *arena,
	   unsigned depth, lrpc__codec_err *e)
{
	lrpc_map *m = v;
	void *keys, *values;
	uint32_t len = 0;
	int x;

	x = decode_len(r, t, &len, e);
	if (x < 0)
		return x;
	/* Each entry needs at least a key and a value on the wire. */
	size_t mw = min_wire(t->inner) + min_wire(t->value);
	if (len && len > lrpc__rd_left(r) / mw)
		return lrpc__codec_fail(e, -EBADMSG,
					"count %" PRIu32 " cannot fit in the "
					"%zu bytes left",
					len, lrpc__rd_left(r));
	x = decode_alloc_elements(r, t->inner, len, arena, &keys, e);
	if (x < 0)
		return x;
	x = decode_alloc_elements(r, t->value, len, arena, &values, e);
	if (x < 0)
		return x;
	x = decode_entries(r, t, keys, values, len, arena, depth, e);
	if (x < 0)
		return x;
	m->keys = keys;
	m->values = values;
	m->count = len;
	return 0;
}

/* A switch for the reason given at encode() in rpc-encode.c. */
static int
decode(lrpc__rd *r, const lrpc_rpc_type *t, void *v, lrpc_arena *arena,
       unsigned depth, lrpc__codec_err *e)
{
	if (depth > LRPC_RPC_MAX_DEPTH)
		return lrpc__codec_fail(e, -EBADMSG, "depth above %d",
					LRPC_RPC_MAX_DEPTH);
	switch (t->kind) {
	case LRPC_RPC_BOOL:
		return decode_bool(r, v, e);
	case LRPC_RPC_I8:
	case LRPC_RPC_I16:
	case LRPC_RPC_I32:
	case LRPC_RPC_I64:
	case LRPC_RPC_U8:
	case LRPC_RPC_U16:
	case LRPC_RPC_U32:
	case LRPC_RPC_U64:
		return decode_int(r, t->kind, v, e);
	case LRPC_RPC_F32:
	case LRPC_RPC_F64:
		return decode_float(r, t->kind, v, e);
	case LRPC_RPC_STRING:
		return decode_string(r, t, v, arena, e);
	case LRPC_RPC_BYTES:
		return decode_bytes(r, t, v, arena, e);
	case LRPC_RPC_LIST:
		return decode_list(r, t, v, arena, depth, e);
	case LRPC_RPC_ARRAY:
		return decode_elements(r, t->inner, v, t->max, arena,
				       depth + 1, e);
	case LRPC_RPC_OPTIONAL:
		return decode_optional(r, t, v, arena, depth, e);
	case LRPC_RPC_ENUM:
		return decode_enum(r, t, v, e);
	case LRPC_RPC_STRUCT:
		return decode_struct(r, t, v, arena, depth, e);
	case LRPC_RPC_UNION:
		return decode_union(r, t, v, arena, depth, e);
	case LRPC_RPC_MAP:
		return decode_map(r, t, v, arena, depth, e);
	case LRPC_RPC_FD:
		return lrpc__rpc_decode_fd(r, t, v, arena, e);
	default:
		return lrpc__codec_fail(e, -EBADMSG, "unknown type kind %u",
					t->kind);
	}
}

int
lrpc__rpc_decode(lrpc__rd *r, const lrpc_rpc_type *type, void *value,
		 lrpc_arena *arena, lrpc__codec_err *err)
{
	int x = decode(r, type, value, arena, 0, err);

	if (x == 0 && lrpc__rd_left(r) != 0)
		x = lrpc__codec_fail(err, -EBADMSG, "trailing %zu bytes",
				     lrpc__rd_left(r));
	if (x < 0)
		lrpc__codec_finish(err);
	return x;
}

LRPC_EXPORT int
lrpc_rpc_decode(const lrpc_rpc_type *type, const void *data, size_t size,
		void *value, lrpc_arena *arena)
{
	lrpc__rd r = { .p = data, .end = (const uint8_t *)data + size };

	lrpc_return_if_fail(type && value && (data || size == 0), -EINVAL);
	memset(value, 0, type->size);
	return lrpc__rpc_decode(&r, type, value, arena, /* err= */ NULL);
}
