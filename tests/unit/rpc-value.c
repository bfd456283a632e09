/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <string.h>

#include "rpc-types-types.h"
#include "rpc-value.h"

uint64_t
rv_next(rv_rng *g)
{
	g->s ^= g->s >> 12;
	g->s ^= g->s << 25;
	g->s ^= g->s >> 27;
	return g->s * 0x2545f4914f6cdd1dull;
}

static void *
rv_alloc(lrpc_arena *arena, size_t size, size_t align)
{
	void *p = NULL;
	int r = lrpc_arena_alloc(arena, size ? size : 1, align ? align : 1, &p);

	assert(r == 0);
	(void)r;
	return p;
}

/* Up to @n bytes of random UTF-8 without NUL: ASCII mostly, and each of
 * the longer forms (never a surrogate). */
static char *
rv_string(rv_rng *g, size_t n, lrpc_arena *arena)
{
	char *s = rv_alloc(arena, n + 1, 1);
	size_t len = 0, want = rv_next(g) % (n + 1);

	while (len < want) {
		uint32_t cp, k = rv_next(g) % 8;
		uint8_t b[4];
		size_t bl;

		if (k < 5) {
			b[0] = (uint8_t)(1 + rv_next(g) % 127);
			bl = 1;
		} else if (k == 5) {
			cp = 0x80 + rv_next(g) % (0x800 - 0x80);
			b[0] = (uint8_t)(0xc0 | cp >> 6);
			b[1] = (uint8_t)(0x80 | (cp & 0x3f));
			bl = 2;
		} else if (k == 6) {
			do
				cp = 0x800 + rv_next(g) % (0x10000 - 0x800);
			while (cp >= 0xd800 && cp <= 0xdfff);
			b[0] = (uint8_t)(0xe0 | cp >> 12);
			b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
			b[2] = (uint8_t)(0x80 | (cp & 0x3f));
			bl = 3;
		} else {
			cp = 0x10000 + rv_next(g) % (0x110000 - 0x10000);
			b[0] = (uint8_t)(0xf0 | cp >> 18);
			b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
			b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
			b[3] = (uint8_t)(0x80 | (cp & 0x3f));
			bl = 4;
		}
		if (len + bl > want)
			break;
		memcpy(s + len, b, bl);
		len += bl;
	}
	s[len] = 0;
	return s;
}

/* A count for a list, map, string or bytes: small, and within @max. */
static size_t
rv_count(rv_rng *g, const lrpc_rpc_type *t, size_t cap)
{
	size_t n = t->max && t->max < cap ? t->max : cap;

	/* Now and then exactly the limit, where off-by-ones live. */
	if (t->max && t->max <= cap && rv_next(g) % 8 == 0)
		return t->max;
	return rv_next(g) % (n + 1);
}

static void
rv_store(uint16_t kind, void *v, uint64_t x)
{
	switch (kind) {
	case LRPC_RPC_I8:
	case LRPC_RPC_U8:
		*(uint8_t *)v = (uint8_t)x;
		break;
	case LRPC_RPC_I16:
	case LRPC_RPC_U16:
		memcpy(v, &(uint16_t){ (uint16_t)x }, 2);
		break;
	case LRPC_RPC_I32:
	case LRPC_RPC_U32:
	case LRPC_RPC_F32:
		memcpy(v, &(uint32_t){ (uint32_t)x }, 4);
		break;
	default:
		memcpy(v, &x, 8);
		break;
	}
}

static void
rv_elements(rv_rng *g, const lrpc_rpc_type *t, uint8_t *items, size_t n,
	    lrpc_arena *arena)
{
	for (size_t i = 0; i < n; i++)
		rv_gen(g, t, items + i * t->size, arena);
}

static void
rv_gen_container(rv_rng *g, const lrpc_rpc_type *t, void *v,
		 lrpc_arena *arena)
{
	size_t n;

	switch (t->kind) {
	case LRPC_RPC_LIST: {
		lrpc_list *l = v;
		n = rv_count(g, t, 4);
		l->items = n ? rv_alloc(arena, n * t->inner->size,
					t->inner->align)
			     : NULL;
		l->count = n;
		rv_elements(g, t->inner, (uint8_t *)l->items, n, arena);
		break;
	}
	case LRPC_RPC_MAP: {
		lrpc_map *m = v;
		n = rv_count(g, t, 3);
		m->keys = n ? rv_alloc(arena, n * t->inner->size,
				       t->inner->align)
			    : NULL;
		m->values = n ? rv_alloc(arena, n * t->value->size,
					 t->value->align)
			      : NULL;
		m->count = n;
		rv_elements(g, t->inner, (uint8_t *)m->keys, n, arena);
		rv_elements(g, t->value, (uint8_t *)m->values, n, arena);
		break;
	}
	case LRPC_RPC_ARRAY:
		rv_elements(g, t->inner, v, t->max, arena);
		break;
	case LRPC_RPC_OPTIONAL:
		*(void **)v = NULL;
		if (rv_next(g) % 2)
			break;
		if (t->inner->kind == LRPC_RPC_STRING) {
			rv_gen(g, t->inner, v, arena);
			break;
		}
		void *p = rv_alloc(arena, t->inner->size, t->inner->align);
		rv_gen(g, t->inner, p, arena);
		*(void **)v = p;
		break;
	case LRPC_RPC_STRUCT:
		for (uint32_t i = 0; i < t->n_fields; i++)
			rv_gen(g, t->fields[i].type,
			       (uint8_t *)v + t->fields[i].offset, arena);
		break;
	case LRPC_RPC_UNION: {
		const lrpc_rpc_field *c =
			&t->fields[rv_next(g) % t->n_fields];
		uint32_t tag = c->ordinal;
		memcpy(v, &tag, sizeof(tag));
		rv_gen(g, c->type, (uint8_t *)v + t->value_offset, arena);
		break;
	}
	default:
		assert(!"unknown kind");
	}
}

void
rv_gen(rv_rng *g, const lrpc_rpc_type *t, void *v, lrpc_arena *arena)
{
	switch (t->kind) {
	case LRPC_RPC_BOOL:
		*(bool *)v = rv_next(g) & 1;
		break;
	case LRPC_RPC_STRING:
		*(const char **)v = rv_string(g, rv_count(g, t, 12), arena);
		break;
	case LRPC_RPC_BYTES: {
		lrpc_bytes *b = v;
		size_t n = rv_count(g, t, 12);
		uint8_t *d = n ? rv_alloc(arena, n, 1) : NULL;
		for (size_t i = 0; i < n; i++)
			d[i] = (uint8_t)rv_next(g);
		b->data = d;
		b->len = n;
		break;
	}
	case LRPC_RPC_ENUM:
		rv_store(t->inner->kind, v,
			 (uint64_t)t->values[rv_next(g) % t->n_values]);
		break;
	default:
		if (t->kind >= LRPC_RPC_I8 && t->kind <= LRPC_RPC_F64)
			rv_store(t->kind, v, rv_next(g));
		else
			rv_gen_container(g, t, v, arena);
		break;
	}
}

static bool
rv_elements_equal(const lrpc_rpc_type *t, const uint8_t *a, const uint8_t *b,
		  size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!rv_equal(t, a + i * t->size, b + i * t->size))
			return false;
	return true;
}

static bool
rv_equal_container(const lrpc_rpc_type *t, const void *a, const void *b)
{
	switch (t->kind) {
	case LRPC_RPC_LIST: {
		const lrpc_list *x = a, *y = b;
		return x->count == y->count &&
		       rv_elements_equal(t->inner, x->items, y->items,
					 x->count);
	}
	case LRPC_RPC_MAP: {
		const lrpc_map *x = a, *y = b;
		return x->count == y->count &&
		       rv_elements_equal(t->inner, x->keys, y->keys,
					 x->count) &&
		       rv_elements_equal(t->value, x->values, y->values,
					 x->count);
	}
	case LRPC_RPC_ARRAY:
		return rv_elements_equal(t->inner, a, b, t->max);
	case LRPC_RPC_OPTIONAL: {
		const void *p = *(const void *const *)a;
		const void *q = *(const void *const *)b;
		if (!p || !q)
			return !p && !q;
		if (t->inner->kind == LRPC_RPC_STRING)
			return rv_equal(t->inner, a, b);
		return rv_equal(t->inner, p, q);
	}
	case LRPC_RPC_STRUCT:
		for (uint32_t i = 0; i < t->n_fields; i++) {
			uint32_t o = t->fields[i].offset;
			if (!rv_equal(t->fields[i].type, (const uint8_t *)a + o,
				      (const uint8_t *)b + o))
				return false;
		}
		return true;
	case LRPC_RPC_UNION: {
		uint32_t ta, tb;
		memcpy(&ta, a, 4);
		memcpy(&tb, b, 4);
		if (ta != tb)
			return false;
		for (uint32_t i = 0; i < t->n_fields; i++)
			if (t->fields[i].ordinal == ta)
				return rv_equal(
					t->fields[i].type,
					(const uint8_t *)a + t->value_offset,
					(const uint8_t *)b + t->value_offset);
		return false;
	}
	default:
		return false;
	}
}

bool
rv_equal(const lrpc_rpc_type *t, const void *a, const void *b)
{
	switch (t->kind) {
	case LRPC_RPC_BOOL:
		return *(const bool *)a == *(const bool *)b;
	case LRPC_RPC_STRING: {
		const char *x = *(const char *const *)a;
		const char *y = *(const char *const *)b;
		return strcmp(x ? x : "", y ? y : "") == 0;
	}
	case LRPC_RPC_BYTES: {
		const lrpc_bytes *x = a, *y = b;
		return x->len == y->len &&
		       (!x->len || memcmp(x->data, y->data, x->len) == 0);
	}
	case LRPC_RPC_ENUM:
		return memcmp(a, b, t->inner->size) == 0;
	default:
		if (t->kind >= LRPC_RPC_I8 && t->kind <= LRPC_RPC_F64)
			return memcmp(a, b, t->size) == 0;
		return rv_equal_container(t, a, b);
	}
}

unsigned
rv_types(const lrpc_rpc_type **out, unsigned cap)
{
	static const lrpc_rpc_type *const named[] = {
		&rt_color__type, &rt_inner__type, &rt_choice__type,
		&rt_empty__type, &rt_all__type,
	};
	unsigned n = 0;

	for (unsigned i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (n < cap)
			out[n++] = named[i];
	for (uint32_t i = 0; i < rt_types__interface.n_methods; i++) {
		const lrpc_rpc_method *m = &rt_types__interface.methods[i];
		if (n < cap)
			out[n++] = m->request;
		if (m->reply && n < cap)
			out[n++] = m->reply;
	}
	return n;
}
