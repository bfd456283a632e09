/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the decoder does for a struct from a peer at an older version of
 * the interface, which sends a prefix of the fields (docs/wire.md,
 * "Encoding").  Off the common path: peers at the same version send every
 * field.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "rpc-codec.h"

/*
 * The value a field an older peer did not send gets: zero, empty and
 * absent, except that an enum without a zero value takes its lowest value
 * and a union takes its lowest tag (with that case's default).  Zero there
 * would be a value the encoder refuses, so echoing or forwarding such a
 * struct would fail far from its cause.  Types have no cycles and bounded
 * depth (the generator checks), so the recursion ends.
 */
void
lrpc__rpc_fill_default(const lrpc_rpc_type *t, void *v)
{
	switch (t->kind) {
	case LRPC_RPC_ENUM:
		if (t->n_values && !lrpc__rpc_enum_valid(t, 0))
			lrpc__rpc_store_int(t->inner->kind, v,
					    (uint64_t)t->values[0]);
		break;
	case LRPC_RPC_UNION:
		if (t->n_fields) {
			uint32_t tag = t->fields[0].ordinal;
			memcpy(v, &tag, sizeof(tag));
			lrpc__rpc_fill_default(t->fields[0].type,
				     (uint8_t *)v + t->value_offset);
		}
		break;
	case LRPC_RPC_STRUCT:
		for (uint32_t i = 0; i < t->n_fields; i++)
			if (t->fields[i].offset != LRPC_RPC_FIELD_RETIRED)
				lrpc__rpc_fill_default(t->fields[i].type,
						       (uint8_t *)v +
							       t->fields[i]
								       .offset);
		break;
	case LRPC_RPC_ARRAY:
		for (uint32_t i = 0; i < t->max; i++)
			lrpc__rpc_fill_default(t->inner,
				     (uint8_t *)v + (size_t)i * t->inner->size);
		break;
	case LRPC_RPC_FD: {
		int none = -1; /* 0 would be stdin */
		memcpy(v, &none, sizeof(none));
		break;
	}
	default:
		break;
	}
}

/*
 * Fields travel in (since, ordinal) order, so a peer at version v sends
 * the fields of versions 1..v: a count that stops inside one version's
 * fields, or before the version-1 fields end, is not what any peer sends.
 */
int
lrpc__rpc_fields_missing(const lrpc_rpc_type *t, uint32_t count, void *v,
			 lrpc__codec_err *e)
{
	const lrpc_rpc_field *f = &t->fields[count];
	unsigned sent = count ? t->fields[count - 1].since : 1;

	if (f->since <= sent)
		return lrpc__codec_fail(e, -EBADMSG,
					"%" PRIu32 " of %" PRIu32 " fields: %s "
					"(@since(%u)) missing",
					count, t->n_fields,
					f->name ? f->name : "?", f->since);
	for (uint32_t i = count; i < t->n_fields; i++) {
		f = &t->fields[i];
		if (f->offset == LRPC_RPC_FIELD_RETIRED)
			continue;
		memset((uint8_t *)v + f->offset, 0, f->type->size);
		lrpc__rpc_fill_default(f->type, (uint8_t *)v + f->offset);
	}
	return 0;
}


/*
 * True if @v holds what fill_default() gives a field of type @t: what a
 * receiver that does not know the field assumes.  A string may be NULL or
 * "" (both travel as empty).
 */
static bool
is_default(const lrpc_rpc_type *t, const void *v)
{
	const uint8_t *p = v;

	switch (t->kind) {
	case LRPC_RPC_STRING: {
		const char *s = *(const char *const *)v;
		return !s || !*s;
	}
	case LRPC_RPC_ENUM: {
		uint64_t raw = 0;
		uint64_t want = 0;
		if (t->n_values && !lrpc__rpc_enum_valid(t, 0))
			want = (uint64_t)t->values[0];
		lrpc__rpc_store_int(t->inner->kind, &raw, want);
		return memcmp(v, &raw, t->size) == 0;
	}
	case LRPC_RPC_UNION: {
		uint32_t tag;
		memcpy(&tag, v, sizeof(tag));
		return t->n_fields && tag == t->fields[0].ordinal &&
		       is_default(t->fields[0].type, p + t->value_offset);
	}
	case LRPC_RPC_STRUCT:
		for (uint32_t i = 0; i < t->n_fields; i++)
			if (t->fields[i].offset != LRPC_RPC_FIELD_RETIRED &&
			    !is_default(t->fields[i].type,
					p + t->fields[i].offset))
				return false;
		return true;
	case LRPC_RPC_ARRAY:
		for (uint32_t i = 0; i < t->max; i++)
			if (!is_default(t->inner,
					p + (size_t)i * t->inner->size))
				return false;
		return true;
	case LRPC_RPC_BYTES:
		return ((const lrpc_bytes *)v)->len == 0;
	case LRPC_RPC_LIST:
		return ((const lrpc_list *)v)->count == 0;
	case LRPC_RPC_MAP:
		return ((const lrpc_map *)v)->count == 0;
	case LRPC_RPC_OPTIONAL:
		return *(const void *const *)v == NULL;
	case LRPC_RPC_FD: {
		int fd;
		memcpy(&fd, v, sizeof(fd));
		return fd == -1;
	}
	case LRPC_RPC_F32: {
		float f;
		memcpy(&f, v, sizeof(f));
		return f == 0.0f && !signbit(f);
	}
	case LRPC_RPC_F64: {
		double d;
		memcpy(&d, v, sizeof(d));
		return d == 0.0 && !signbit(d);
	}
	default: {
		/* bool and integers: all bytes zero. */
		for (uint32_t i = 0; i < t->size; i++)
			if (p[i])
				return false;
		return true;
	}
	}
}

int
lrpc__rpc_params_fit(const lrpc_rpc_type *type, const void *value,
		     unsigned peer, lrpc__codec_err *err)
{
	/* Parameters of later versions come last (the generator checks). */
	for (uint32_t i = type->n_fields; i-- > 0;) {
		const lrpc_rpc_field *f = &type->fields[i];
		if (f->since <= peer)
			break;
		if (!is_default(f->type, (const uint8_t *)value + f->offset)) {
			lrpc__codec_fail(err, -EPROTONOSUPPORT,
					 "%s is @since(%u), newer than the "
					 "receiver's version %u, which would "
					 "ignore it: only its default can be "
					 "sent",
					 f->name ? f->name : "?", f->since,
					 peer);
			lrpc__codec_finish(err);
			return -EPROTONOSUPPORT;
		}
	}
	return 0;
}
