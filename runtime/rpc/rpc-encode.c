/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Encoding: a C value described by an lrpc_rpc_type to its wire form, one
 * function per kind.  The writer measures as it goes, so one pass both
 * sizes the message and, if the buffer is large enough, writes it.
 *
 * Every value a decoder would refuse (above its @max, invalid UTF-8, an
 * enum value or union tag the type does not have, a NULL where data is
 * required, nested too deep) is refused here first with -EINVAL, so a bad
 * argument fails in the caller's process instead of in the peer's.
 *
 * A refusal also says where and why in an lrpc__codec_err (may be NULL):
 * the function that finds the fault calls lrpc__codec_fail() and each
 * level it returns through adds its path segment with lrpc__codec_up().
 * Both are cold calls on the failure branches only, so a value that
 * encodes costs no formatting and no path building.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "rpc-codec.h"
#include "util.h"

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
	switch (lrpc__rpc_scalar_size(kind)) {
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

/* Write the low bytes of @v, as many as a @kind takes on the wire. */
static void
wr_scalar(lrpc__wr *w, uint16_t kind, uint64_t v)
{
	switch (lrpc__rpc_scalar_size(kind)) {
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

static int encode(lrpc__wr *w, const lrpc_rpc_type *t, const void *v,
		  unsigned depth, lrpc__codec_err *e);

static int
encode_bool(lrpc__wr *w, const void *v)
{
	lrpc__wr_u8(w, *(const bool *)v ? 1 : 0);
	return 0;
}

static int
encode_int(lrpc__wr *w, uint16_t kind, const void *v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* In memory it is already its wire form: one copy, no shifts. */
	lrpc__wr_bytes(w, v, lrpc__rpc_scalar_size(kind));
#else
	wr_scalar(w, kind, load_int(kind, v));
#endif
	return 0;
}

/* Floats travel as their IEEE 754 bit pattern, little-endian like the
 * integers of the same size. */
static int
encode_float(lrpc__wr *w, uint16_t kind, const void *v)
{
	if (kind == LRPC_RPC_F32) {
		uint32_t bits;

		memcpy(&bits, v, sizeof(bits));
		lrpc__wr_u32(w, bits);
	} else {
		uint64_t bits;

		memcpy(&bits, v, sizeof(bits));
		lrpc__wr_u64(w, bits);
	}
	return 0;
}

/* A u32 length, then the bytes: the shared form of strings and bytes. */
static int
encode_blob(lrpc__wr *w, const lrpc_rpc_type *t, const void *data, size_t len,
	    lrpc__codec_err *e)
{
	if (len > UINT32_MAX || (t->max && len > t->max))
		return lrpc__rpc_fail_max(e, -EINVAL, t, len);
	lrpc__wr_u32(w, (uint32_t)len);
	lrpc__wr_bytes(w, data, len);
	return 0;
}

/* A NULL string encodes as the empty one. */
static int
encode_string(lrpc__wr *w, const lrpc_rpc_type *t, const void *v,
	      lrpc__codec_err *e)
{
	const char *s = *(const char *const *)v;
	size_t len = s ? strlen(s) : 0;
	size_t bad = s ? lrpc__utf8_check((const uint8_t *)s, len) : 0;

	if (bad != len)
		return lrpc__codec_fail(e, -EINVAL, "invalid UTF-8 at byte %zu",
					bad);
	return encode_blob(w, t, s, len, e);
}

static int
encode_bytes(lrpc__wr *w, const lrpc_rpc_type *t, const void *v,
	     lrpc__codec_err *e)
{
	const lrpc_bytes *b = v;

	if (!b->data && b->len)
		return lrpc__codec_fail(e, -EINVAL, "NULL data, length %zu",
					b->len);
	return encode_blob(w, t, b->data, b->len, e);
}

/* @count values of @t, each t->size bytes apart in @items. */
static int
encode_elements(lrpc__wr *w, const lrpc_rpc_type *t, const uint8_t *items,
		size_t count, unsigned depth, lrpc__codec_err *e)
{
	for (size_t i = 0; i < count; i++) {
		int r = encode(w, t, items + i * t->size, depth, e);
		if (r < 0)
			return lrpc__codec_up(e, r, LRPC__SEG_INDEX, NULL,
					      (uint32_t)i);
	}
	return 0;
}

static int
encode_list(lrpc__wr *w, const lrpc_rpc_type *t, const void *v,
	    unsigned depth, lrpc__codec_err *e)
{
	const lrpc_list *l = v;

	if (!l->items && l->count)
		return lrpc__codec_fail(e, -EINVAL, "NULL items, count %zu",
					l->count);
	if (l->count > UINT32_MAX || (t->max && l->count > t->max))
		return lrpc__rpc_fail_max(e, -EINVAL, t, l->count);
	lrpc__wr_u32(w, (uint32_t)l->count);
	return encode_elements(w, t->inner, l->items, l->count, depth + 1, e);
}

/* An array's length is in its type, so only the elements travel. */
static int
encode_array(lrpc__wr *w, const lrpc_rpc_type *t, const void *v,
	     unsigned depth, lrpc__codec_err *e)
{
	return encode_elements(w, t->inner, v, t->max, depth + 1, e);
}

static int
encode_optional(lrpc__wr *w, const lrpc_rpc_type *t, const void *v,
		unsigned depth, lrpc__codec_err *e)
{
	const void *p = *(const void *const *)v;

	lrpc__wr_u8(w, p ? 1 : 0);
	if (!p)
		return 0;
	/* An optional string is its own pointer. */
	return encode(w, t->inner, t->inner->kind == LRPC_RPC_STRING ? v : p,
		      depth + 1, e);
}

static int
encode_enum(lrpc__wr *w, const lrpc_rpc_type *t, const void *v,
	    lrpc__codec_err *e)
{
	uint64_t raw = load_int(t->inner->kind, v);
	uint32_t at;

	if (!lrpc__rpc_enum_find(t, raw, &at))
		return lrpc__rpc_fail_enum(e, -EINVAL, t, raw);
	/* Values of a later version than the receiver's would be rejected
	 * there: refuse them here, where the caller can be told. */
	if (w->peer && t->fields && at < t->n_fields &&
	    t->fields[at].since > w->peer)
		return lrpc__rpc_fail_newer(e, t, t->fields[at].name,
					    t->fields[at].since, w->peer);
	wr_scalar(w, t->inner->kind, raw);
	return 0;
}

/*
 * A retired field still takes its place on the wire: its type's default,
 * built where it has room (on the stack for small types).
 */
static int
encode_retired(lrpc__wr *w, const lrpc_rpc_type *t, unsigned depth,
	       lrpc__codec_err *e)
{
	_Alignas(16) uint8_t small[256];
	void *v = small;
	int r;

	if (t->size > sizeof(small)) {
		v = calloc(1, t->size);
		if (!v)
			return lrpc__codec_fail(e, -ENOMEM, "no memory for the "
							     "default of a "
							     "retired field");
	} else {
		memset(small, 0, sizeof(small));
	}
	lrpc__rpc_fill_default(t, v);
	r = encode(w, t, v, depth, e);
	if (v != small)
		free(v);
	return r;
}

/*
 * An fd travels as its index among the fds attached to the message (the
 * caller attaches them in the order met here).  -1, the default (what a
 * struct from an older peer has for a field it did not know), travels as
 * LRPC__RPC_NO_FD.
 */
static int
encode_fd(lrpc__wr *w, const void *v, lrpc__codec_err *e)
{
	int fd;

	memcpy(&fd, v, sizeof(fd));
	if (fd == -1) {
		lrpc__wr_u32(w, LRPC__RPC_NO_FD);
		return 0;
	}
	if (fd < 0)
		return lrpc__codec_fail(e, -EINVAL, "fd %d", fd);
	if (w->n_fds >= LRPC_MAX_FDS_PER_MSG)
		return lrpc__codec_fail(e, -EINVAL, "more than %u fds",
					LRPC_MAX_FDS_PER_MSG);
	if (w->fds && w->n_fds < w->cap_fds)
		w->fds[w->n_fds] = fd;
	lrpc__wr_u32(w, w->n_fds++);
	return 0;
}

/*
 * The body size (patched in at the end, once known), the field count,
 * then the fields in wire order.
 */
static int
encode_struct(lrpc__wr *w, const lrpc_rpc_type *t, const void *v,
	      unsigned depth, lrpc__codec_err *e)
{
	size_t at = w->pos;
	int r;

	lrpc__wr_u32(w, 0);
	lrpc__wr_u16(w, (uint16_t)t->n_fields);
	for (uint32_t i = 0; i < t->n_fields; i++) {
		const lrpc_rpc_field *f = &t->fields[i];
		if (f->offset == LRPC_RPC_FIELD_RETIRED)
			r = encode_retired(w, f->type, depth + 1, e);
		else
			r = encode(w, f->type, (const uint8_t *)v + f->offset,
				   depth + 1, e);
		if (r < 0)
			return lrpc__codec_up(e, r, LRPC__SEG_FIELD, f->name,
					      0);
	}
	size_t body = w->pos - at - 4;
	if (body > UINT32_MAX)
		return lrpc__codec_fail(e, -EMSGSIZE,
					"struct body of %zu bytes, above "
					"2^32-1",
					body);
	lrpc__wr_patch_u32(w, at, (uint32_t)body);
	return 0;
}

static int
encode_union(lrpc__wr *w, const lrpc_rpc_type *t, const void *v,
	     unsigned depth, lrpc__codec_err *e)
{
	const lrpc_rpc_field *c;
	uint32_t tag;
	int r;

	memcpy(&tag, v, sizeof(tag));
	c = lrpc__rpc_union_case(t, tag);
	if (!c)
		return lrpc__rpc_fail_tag(e, -EINVAL, t, tag);
	if (w->peer && c->since > w->peer)
		return lrpc__rpc_fail_newer(e, t, c->name, c->since, w->peer);
	wr_scalar(w, t->inner->kind, tag);
	r = encode(w, c->type, (const uint8_t *)v + t->value_offset,
		   depth + 1, e);
	if (r < 0)
		return lrpc__codec_up(e, r, LRPC__SEG_FIELD, c->name, 0);
	return 0;
}

/* The count, then each key followed by its value. */
static int
encode_map(lrpc__wr *w, const lrpc_rpc_type *t, const void *v, unsigned depth,
	   lrpc__codec_err *e)
{
	const lrpc_map *m = v;
	const uint8_t *keys = m->keys, *values = m->values;

	if ((!keys || !values) && m->count)
		return lrpc__codec_fail(e, -EINVAL,
					"NULL keys or values, count %zu",
					m->count);
	if (m->count > UINT32_MAX || (t->max && m->count > t->max))
		return lrpc__rpc_fail_max(e, -EINVAL, t, m->count);
	lrpc__wr_u32(w, (uint32_t)m->count);
	for (size_t i = 0; i < m->count; i++) {
		int r = encode(w, t->inner, keys + i * t->inner->size,
			       depth + 1, e);
		if (r < 0)
			return lrpc__codec_up(e, r, LRPC__SEG_KEY, NULL,
					      (uint32_t)i);
		r = encode(w, t->value, values + i * t->value->size,
			   depth + 1, e);
		if (r < 0)
			return lrpc__codec_up(e, r, LRPC__SEG_VALUE, NULL,
					      (uint32_t)i);
	}
	return 0;
}

/*
 * A switch, not a table of function pointers: each function above is
 * static and called from here alone, so the compiler inlines it and the
 * fields of a generated stub's request cost no indirect call.
 */
static int
encode(lrpc__wr *w, const lrpc_rpc_type *t, const void *v, unsigned depth,
       lrpc__codec_err *e)
{
	if (depth > LRPC_RPC_MAX_DEPTH)
		return lrpc__codec_fail(e, -EINVAL, "depth above %d",
					LRPC_RPC_MAX_DEPTH);
	switch (t->kind) {
	case LRPC_RPC_BOOL:
		return encode_bool(w, v);
	case LRPC_RPC_I8:
	case LRPC_RPC_I16:
	case LRPC_RPC_I32:
	case LRPC_RPC_I64:
	case LRPC_RPC_U8:
	case LRPC_RPC_U16:
	case LRPC_RPC_U32:
	case LRPC_RPC_U64:
		return encode_int(w, t->kind, v);
	case LRPC_RPC_F32:
	case LRPC_RPC_F64:
		return encode_float(w, t->kind, v);
	case LRPC_RPC_STRING:
		return encode_string(w, t, v, e);
	case LRPC_RPC_BYTES:
		return encode_bytes(w, t, v, e);
	case LRPC_RPC_LIST:
		return encode_list(w, t, v, depth, e);
	case LRPC_RPC_ARRAY:
		return encode_array(w, t, v, depth, e);
	case LRPC_RPC_OPTIONAL:
		return encode_optional(w, t, v, depth, e);
	case LRPC_RPC_ENUM:
		return encode_enum(w, t, v, e);
	case LRPC_RPC_STRUCT:
		return encode_struct(w, t, v, depth, e);
	case LRPC_RPC_UNION:
		return encode_union(w, t, v, depth, e);
	case LRPC_RPC_MAP:
		return encode_map(w, t, v, depth, e);
	case LRPC_RPC_FD:
		return encode_fd(w, v, e);
	default:
		return lrpc__codec_fail(e, -EINVAL, "unknown type kind %u",
					t->kind);
	}
}

int
lrpc__rpc_encode(lrpc__wr *w, const lrpc_rpc_type *type, const void *value,
		 lrpc__codec_err *err)
{
	int r = encode(w, type, value, 0, err);
	if (r == 0 && w->pos > UINT32_MAX)
		r = lrpc__codec_fail(err, -EMSGSIZE,
				     "encoding of %zu bytes, above 2^32-1",
				     w->pos);
	if (r < 0)
		lrpc__codec_finish(err);
	return r;
}

LRPC_EXPORT int
lrpc_rpc_encode(const lrpc_rpc_type *type, const void *value, void *buf,
		size_t cap, size_t *ret_size)
{
	lrpc__wr w = { .buf = buf, .cap = buf ? cap : 0 };
	int r;

	lrpc_return_if_fail(type && value && ret_size, -EINVAL);
	r = lrpc__rpc_encode(&w, type, value, /* err= */ NULL);
	if (r < 0)
		return r;
	*ret_size = w.pos;
	return 0;
}
