/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the decoder does for a struct from a peer at an older version of
 * the interface, which sends a prefix of the fields (docs/wire.md,
 * "Encoding").  Off the common path: peers at the same version send every
 * field.
 */
#include <errno.h>
#include <inttypes.h>
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
static void
fill_default(const lrpc_rpc_type *t, void *v)
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
			fill_default(t->fields[0].type,
				     (uint8_t *)v + t->value_offset);
		}
		break;
	case LRPC_RPC_STRUCT:
		for (uint32_t i = 0; i < t->n_fields; i++)
			fill_default(t->fields[i].type,
				     (uint8_t *)v + t->fields[i].offset);
		break;
	case LRPC_RPC_ARRAY:
		for (uint32_t i = 0; i < t->max; i++)
			fill_default(t->inner,
				     (uint8_t *)v + (size_t)i * t->inner->size);
		break;
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
		memset((uint8_t *)v + f->offset, 0, f->type->size);
		fill_default(f->type, (uint8_t *)v + f->offset);
	}
	return 0;
}

