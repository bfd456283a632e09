/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Descriptor tables rebuilt from lrpc.Service.describe.  The server is
 * untrusted: the runtime codec walks these tables without checks of its
 * own, so every count, index, kind and bound is checked here first, and
 * the C layout (sizes, alignments, offsets) is computed by the tool, never
 * taken from the peer.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lrpc-tool.h"

#define NONE UINT32_MAX
/* Bounds on what a description may hold (the generator's limits). */
#define MAX_TYPES 4096
#define MAX_FIELDS 65536
#define MAX_VALUES 65536
#define MAX_METHODS 65536
#define MAX_ARRAY 65536
/* Largest C representation of one value: far above real interfaces. */
#define MAX_SIZE (64u << 20)

enum { UNSEEN, VISITING, DONE };

typedef struct builder {
	const lrpc_description *d;
	tool_iface *t;
	uint8_t *state;
	uint8_t *depth;
	char *err;
	size_t err_size;
} builder;

static int __attribute__((format(printf, 2, 3)))
fail(builder *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->err, b->err_size, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

static bool
is_integer(uint16_t kind)
{
	return kind >= LRPC_RPC_I8 && kind <= LRPC_RPC_U64;
}

static uint32_t
align_up(uint32_t n, uint32_t a)
{
	return (n + a - 1) / a * a;
}

static const char *
tname(builder *b, uint32_t i)
{
	const char *n = b->d->types.items[i].name;
	return n && *n ? n : "(anonymous)";
}

static int layout(builder *b, uint32_t i);

/* Index @i must name a type; lay it out first. */
static int
child(builder *b, uint32_t parent, uint32_t i, const char *what,
      lrpc_rpc_type **ret)
{
	int r;

	if (i == NONE || i >= b->d->types.count)
		return fail(b, "type %u (%s): %s index %u out of range", parent,
			    tname(b, parent), what, i);
	r = layout(b, i);
	if (r < 0)
		return r;
	if (b->depth[i] + 1 > LRPC_RPC_MAX_DEPTH)
		return fail(b, "type %u (%s): nested deeper than %d", parent,
			    tname(b, parent), LRPC_RPC_MAX_DEPTH);
	if (b->depth[i] + 1 > b->depth[parent])
		b->depth[parent] = (uint8_t)(b->depth[i] + 1);
	*ret = &b->t->types[i];
	return 0;
}

static int
scalar(lrpc_rpc_type *t, uint32_t size)
{
	t->size = t->align = size;
	return 0;
}

static int
layout_fields(builder *b, uint32_t i, const lrpc_type_desc *d,
	      lrpc_rpc_type *t)
{
	lrpc_rpc_field *fs;
	uint32_t off = 0, align = 1, max_size = 0;
	bool is_union = d->kind == LRPC_RPC_UNION;

	if (d->fields.count > MAX_FIELDS)
		return fail(b, "type %u (%s): %zu fields", i, tname(b, i),
			    d->fields.count);
	if (is_union && d->fields.count == 0)
		return fail(b, "type %u (%s): a union without cases", i,
			    tname(b, i));
	fs = calloc(d->fields.count ? d->fields.count : 1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	b->t->fields[i] = fs;
	for (size_t k = 0; k < d->fields.count; k++) {
		const lrpc_field_desc *f = &d->fields.items[k];
		lrpc_rpc_type *ft;
		int r;

		if (f->since == 0)
			return fail(b, "type %u (%s): field %zu of version 0",
				    i, tname(b, i), k);
		r = child(b, i, f->type, "field", &ft);
		if (r < 0)
			return r;
		if (is_union) {
			for (size_t j = 0; j < k; j++)
				if (fs[j].ordinal == f->ordinal)
					return fail(b, "type %u (%s): union "
						    "tag %u twice", i,
						    tname(b, i), f->ordinal);
		} else if (k && (fs[k - 1].since > f->since ||
				 (fs[k - 1].since == f->since &&
				  fs[k - 1].ordinal >= f->ordinal))) {
			return fail(b, "type %u (%s): fields not in wire "
				    "order", i, tname(b, i));
		}
		fs[k] = (lrpc_rpc_field){
			.type = ft,
			.ordinal = f->ordinal,
			.since = f->since,
			.name = f->name,
		};
		if (ft->align > align)
			align = ft->align;
		if (is_union) {
			if (ft->size > max_size)
				max_size = ft->size;
		} else if (f->retired) {
			fs[k].offset = LRPC_RPC_FIELD_RETIRED;
		} else {
			off = align_up(off, ft->align);
			fs[k].offset = off;
			off += ft->size;
			if (off > MAX_SIZE)
				return fail(b, "type %u (%s): too large", i,
					    tname(b, i));
		}
	}
	t->fields = fs;
	t->n_fields = (uint32_t)d->fields.count;
	if (is_union) {
		if (align < 4)
			align = 4;
		t->value_offset = align_up(4, align);
		off = t->value_offset + max_size;
	}
	t->align = align;
	t->size = align_up(off ? off : 1, align);
	return 0;
}

static int
layout_enum(builder *b, uint32_t i, const lrpc_type_desc *d, lrpc_rpc_type *t)
{
	lrpc_rpc_type *in;
	int64_t *vs;
	int r = child(b, i, d->inner, "base", &in);

	if (r < 0)
		return r;
	if (!is_integer(in->kind))
		return fail(b, "type %u (%s): enum base is not an integer", i,
			    tname(b, i));
	if (d->values.count == 0 || d->values.count > MAX_VALUES)
		return fail(b, "type %u (%s): %zu enum values", i, tname(b, i),
			    d->values.count);
	if (d->fields.count && d->fields.count != d->values.count)
		return fail(b, "type %u (%s): %zu names for %zu values", i,
			    tname(b, i), d->fields.count, d->values.count);
	vs = malloc(d->values.count * sizeof(*vs));
	if (!vs)
		return -ENOMEM;
	b->t->values[i] = vs;
	memcpy(vs, d->values.items, d->values.count * sizeof(*vs));
	for (size_t k = 1; k < d->values.count; k++)
		if (vs[k - 1] >= vs[k])
			return fail(b, "type %u (%s): enum values not sorted",
				    i, tname(b, i));
	if (d->fields.count) {
		lrpc_rpc_field *fs = calloc(d->fields.count, sizeof(*fs));
		if (!fs)
			return -ENOMEM;
		b->t->fields[i] = fs;
		for (size_t k = 0; k < d->fields.count; k++) {
			fs[k].since = d->fields.items[k].since;
			fs[k].name = d->fields.items[k].name;
			if (fs[k].since == 0)
				return fail(b, "type %u (%s): value of "
					    "version 0", i, tname(b, i));
		}
		t->fields = fs;
		t->n_fields = (uint32_t)d->fields.count;
	}
	t->inner = in;
	t->values = vs;
	t->n_values = (uint32_t)d->values.count;
	t->size = in->size;
	t->align = in->align;
	return 0;
}

static int
layout(builder *b, uint32_t i)
{
	const lrpc_type_desc *d = &b->d->types.items[i];
	lrpc_rpc_type *t = &b->t->types[i];
	lrpc_rpc_type *in = NULL, *val = NULL;
	int r = 0;

	if (b->state[i] == DONE)
		return 0;
	if (b->state[i] == VISITING)
		return fail(b, "type %u (%s) contains itself", i, tname(b, i));
	b->state[i] = VISITING;
	b->depth[i] = 1;
	t->kind = d->kind;
	t->max = d->max;
	t->name = d->name;
	if (d->kind != LRPC_RPC_ENUM && d->kind != LRPC_RPC_STRUCT &&
	    d->kind != LRPC_RPC_UNION &&
	    (d->fields.count || d->values.count))
		return fail(b, "type %u (%s): fields on a %u", i, tname(b, i),
			    d->kind);
	if (d->value != NONE && d->kind != LRPC_RPC_MAP)
		return fail(b, "type %u (%s): a value type on a %u", i,
			    tname(b, i), d->kind);
	switch (d->kind) {
	case LRPC_RPC_BOOL:
	case LRPC_RPC_I8:
	case LRPC_RPC_U8:
		r = scalar(t, 1);
		break;
	case LRPC_RPC_I16:
	case LRPC_RPC_U16:
		r = scalar(t, 2);
		break;
	case LRPC_RPC_I32:
	case LRPC_RPC_U32:
	case LRPC_RPC_F32:
		r = scalar(t, 4);
		break;
	case LRPC_RPC_I64:
	case LRPC_RPC_U64:
	case LRPC_RPC_F64:
		r = scalar(t, 8);
		break;
	case LRPC_RPC_STRING:
		t->size = sizeof(const char *);
		t->align = _Alignof(const char *);
		break;
	case LRPC_RPC_FD:
		t->size = sizeof(int);
		t->align = _Alignof(int);
		break;
	case LRPC_RPC_BYTES:
		t->size = sizeof(lrpc_bytes);
		t->align = _Alignof(lrpc_bytes);
		break;
	case LRPC_RPC_LIST:
		r = child(b, i, d->inner, "element", &in);
		t->size = sizeof(lrpc_list);
		t->align = _Alignof(lrpc_list);
		break;
	case LRPC_RPC_OPTIONAL:
		r = child(b, i, d->inner, "inner", &in);
		t->size = sizeof(void *);
		t->align = _Alignof(void *);
		break;
	case LRPC_RPC_MAP:
		r = child(b, i, d->inner, "key", &in);
		if (r == 0)
			r = child(b, i, d->value, "value", &val);
		if (r == 0 && !is_integer(in->kind) &&
		    in->kind != LRPC_RPC_STRING && in->kind != LRPC_RPC_ENUM &&
		    in->kind != LRPC_RPC_BOOL)
			r = fail(b, "type %u (%s): map key of kind %u", i,
				 tname(b, i), in->kind);
		t->size = sizeof(lrpc_map);
		t->align = _Alignof(lrpc_map);
		break;
	case LRPC_RPC_ARRAY:
		r = child(b, i, d->inner, "element", &in);
		if (r == 0 && (d->max == 0 || d->max > MAX_ARRAY ||
			       (uint64_t)d->max * in->size > MAX_SIZE))
			r = fail(b, "type %u (%s): array of %u", i,
				 tname(b, i), d->max);
		if (r == 0) {
			t->size = d->max * in->size;
			t->align = in->align;
		}
		break;
	case LRPC_RPC_ENUM:
		r = layout_enum(b, i, d, t);
		break;
	case LRPC_RPC_UNION:
		r = child(b, i, d->inner, "tag", &in);
		if (r == 0 && !is_integer(in->kind))
			r = fail(b, "type %u (%s): union tag is not an "
				 "integer", i, tname(b, i));
		if (r == 0)
			r = layout_fields(b, i, d, t);
		break;
	case LRPC_RPC_STRUCT:
		if (d->inner != NONE)
			return fail(b, "type %u (%s): a struct with an inner "
				    "type", i, tname(b, i));
		r = layout_fields(b, i, d, t);
		break;
	default:
		return fail(b, "type %u: unknown kind %u", i, d->kind);
	}
	if (r < 0)
		return r;
	if (d->kind != LRPC_RPC_ENUM) {
		if (d->inner != NONE && !in)
			return fail(b, "type %u (%s): an inner type on a %u", i,
				    tname(b, i), d->kind);
		t->inner = in;
		t->value = val;
	}
	b->state[i] = DONE;
	return 0;
}

static int
build_methods(builder *b)
{
	const lrpc_description *d = b->d;
	tool_iface *t = b->t;

	if (d->methods.count > MAX_METHODS)
		return fail(b, "%zu methods", d->methods.count);
	t->methods = calloc(d->methods.count ? d->methods.count : 1,
			    sizeof(*t->methods));
	if (!t->methods)
		return -ENOMEM;
	for (size_t k = 0; k < d->methods.count; k++) {
		const lrpc_method_desc *m = &d->methods.items[k];
		lrpc_rpc_method *out = &t->methods[k];

		if (k && d->methods.items[k - 1].ordinal >= m->ordinal)
			return fail(b, "methods not in ordinal order");
		if (m->kind < LRPC_RPC_CALL || m->kind > LRPC_RPC_STREAM)
			return fail(b, "method %s: kind %u", m->name, m->kind);
		if (m->since == 0 || m->since > d->iface.version)
			return fail(b, "method %s: version %u", m->name,
				    m->since);
		if (m->request >= d->types.count ||
		    t->types[m->request].kind != LRPC_RPC_STRUCT)
			return fail(b, "method %s: request is no struct",
				    m->name);
		if ((m->kind == LRPC_RPC_CALL || m->kind == LRPC_RPC_STREAM) !=
		    (m->reply != NONE))
			return fail(b, "method %s: reply does not match its "
				    "kind", m->name);
		if (m->reply != NONE &&
		    (m->reply >= d->types.count ||
		     t->types[m->reply].kind != LRPC_RPC_STRUCT))
			return fail(b, "method %s: reply is no struct",
				    m->name);
		*out = (lrpc_rpc_method){
			.ordinal = m->ordinal,
			.since = m->since,
			.kind = m->kind,
			.name = m->name,
			.request = &t->types[m->request],
			.reply = m->reply == NONE ? NULL : &t->types[m->reply],
		};
		if (m->errors.count > MAX_VALUES)
			return fail(b, "method %s: %zu errors", m->name,
				    m->errors.count);
		if (m->errors.count) {
			lrpc_rpc_error_code *es =
				calloc(m->errors.count, sizeof(*es));
			if (!es)
				return -ENOMEM;
			for (size_t e = 0; e < m->errors.count; e++)
				es[e] = (lrpc_rpc_error_code){
					m->errors.items[e].value,
					m->errors.items[e].name,
				};
			out->errors = es;
			out->n_errors = (uint32_t)m->errors.count;
		}
		/* Counted as built, so that a failure frees what was. */
		t->iface.n_methods = (uint32_t)k + 1;
	}
	return 0;
}

int
tool_iface_build(const lrpc_description *d, tool_iface *t, char *err,
		 size_t err_size)
{
	builder b = { .d = d, .t = t, .err = err, .err_size = err_size };
	uint32_t n = (uint32_t)d->types.count;
	int r;

	memset(t, 0, sizeof(*t));
	err[0] = '\0';
	if (d->types.count > MAX_TYPES)
		return fail(&b, "%zu types", d->types.count);
	if (d->iface.version == 0 || d->iface.hashes.count != d->iface.version)
		return fail(&b, "version %u with %zu hashes", d->iface.version,
			    d->iface.hashes.count);
	t->types = calloc(n ? n : 1, sizeof(*t->types));
	t->fields = calloc(n ? n : 1, sizeof(*t->fields));
	t->values = calloc(n ? n : 1, sizeof(*t->values));
	t->hashes = calloc(d->iface.version, sizeof(*t->hashes));
	b.state = calloc(n ? n : 1, 1);
	b.depth = calloc(n ? n : 1, 1);
	t->n_types = n;
	r = -ENOMEM;
	if (t->types && t->fields && t->values && t->hashes && b.state &&
	    b.depth) {
		r = 0;
		for (uint32_t i = 0; r == 0 && i < n; i++)
			r = layout(&b, i);
		if (r == 0)
			r = build_methods(&b);
	}
	free(b.state);
	free(b.depth);
	if (r < 0) {
		if (r == -ENOMEM)
			snprintf(err, err_size, "out of memory");
		tool_iface_free(t);
		return r;
	}
	memcpy(t->hashes, d->iface.hashes.items,
	       d->iface.version * sizeof(*t->hashes));
	t->iface = (lrpc_rpc_interface){
		.struct_size = sizeof(lrpc_rpc_interface),
		.abi_version = LRPC_RPC_ABI_VERSION,
		.id = d->iface.id,
		.version = d->iface.version,
		.hashes = t->hashes,
		.name = d->iface.name,
		.methods = t->methods,
		.n_methods = (uint32_t)d->methods.count,
	};
	return 0;
}

void
tool_iface_free(tool_iface *t)
{
	for (uint32_t i = 0; t->fields && i < t->n_types; i++)
		free(t->fields[i]);
	for (uint32_t i = 0; t->values && i < t->n_types; i++)
		free(t->values[i]);
	for (uint32_t k = 0; t->methods && k < t->iface.n_methods; k++)
		free((void *)t->methods[k].errors);
	free(t->fields);
	free(t->values);
	free(t->types);
	free(t->methods);
	free(t->hashes);
	memset(t, 0, sizeof(*t));
}

const lrpc_rpc_method *
tool_iface_method(const tool_iface *t, const char *name)
{
	for (uint32_t k = 0; k < t->iface.n_methods; k++)
		if (strcmp(t->methods[k].name, name) == 0)
			return &t->methods[k];
	return NULL;
}
