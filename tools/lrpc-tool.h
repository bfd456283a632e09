/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The lrpc command's pieces: descriptor tables rebuilt from what a server
 * says about an interface (desc.c), and values converted between JSON and
 * their C representation for the runtime codec (json-value.c).
 */
#ifndef LRPC_TOOL_H
#define LRPC_TOOL_H

#include <stdio.h>

#include <json-c/json.h>
#include <lrpc/rpc.h>

#include "lrpc-service-types.h"

/* An interface rebuilt from lrpc.Service.describe, ready for the codec. */
typedef struct tool_iface {
	lrpc_rpc_interface iface;
	lrpc_rpc_type *types;
	uint32_t n_types;
	lrpc_rpc_method *methods;
	uint32_t *hashes;
	lrpc_rpc_field **fields; /* per type, NULL for none */
	int64_t **values;        /* per type (enums), NULL for none */
} tool_iface;

/*
 * Check @d completely (bounded counts, indices in range, depth at most
 * LRPC_RPC_MAX_DEPTH, no cycles, kinds and sizes consistent) and build the
 * tables, with a C layout of the tool's own.  Strings stay in @d's arena.
 * Returns 0, or -EBADMSG with the reason in @err.
 */
int tool_iface_build(const lrpc_description *d, tool_iface *ret, char *err,
		     size_t err_size);
void tool_iface_free(tool_iface *t);
/* The method named @name, or NULL. */
const lrpc_rpc_method *tool_iface_method(const tool_iface *t,
					 const char *name);

/*
 * Fill @value (zeroed, @type->size bytes) from @json, with variable-size
 * data in @arena.  Returns 0, or -EINVAL with the field path and the
 * problem in @err ("value.list[2]: expected an integer, got a string").
 */
int tool_from_json(const tool_iface *t, const lrpc_rpc_type *type,
		   json_object *json, void *value, lrpc_arena *arena, char *err,
		   size_t err_size);
/* A new JSON object for @value; NULL without memory. */
json_object *tool_to_json(const tool_iface *t, const lrpc_rpc_type *type,
			  const void *value);

/* The interfaces a tapped service serves, for method names (tap.c). */
typedef struct tool_tap_iface {
	uint32_t id;
	lrpc_description d; /* from describe(), untrusted but bounded */
} tool_tap_iface;

typedef struct tool_tap_names {
	tool_tap_iface *ifaces;
	size_t n;
} tool_tap_names;

/*
 * Tap the service on @rc and write what comes to @out: one line per
 * message, or with @capture a pcapng file.  Stops after @count messages
 * (0: no limit), @seconds (0: no limit), SIGINT or SIGTERM, or when the
 * service goes away.  Returns 0, or a negative errno with the reason in
 * @err.
 */
int tool_tap_run(lrpc_rpc_client *rc, const tool_tap_names *names,
		 const char *service, FILE *out, bool capture, uint64_t count,
		 double seconds, uint64_t timeout_usec, char *err,
		 size_t err_size);

#endif
