/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Version negotiation payloads and refusal messages (rpc-hello.c). */
#ifndef LRPC_RPC_HELLO_H
#define LRPC_RPC_HELLO_H

#include "rpc-wire.h"
#include "util.h"

/* The longest canonical form a peer sends or accepts. */
#define LRPC__RPC_FORM_MAX (64u * 1024u)

/* hello: list<u32>, the sender's hash for each version from 1. */
extern const lrpc_rpc_type lrpc__rpc_hello_hashes_type;
/* hello reply (on -EPROTO) and hello diff: string, a canonical form. */
extern const lrpc_rpc_type lrpc__rpc_hello_form_type;

/*
 * The canonical form a refused hello or a hello diff carries, checked by
 * the codec, as a malloc'd string; NULL when missing or broken (the
 * refusal is then explained without it).
 */
char *lrpc__rpc_read_form(lrpc__rd *r);

/* @iface's canonical form at @version, or NULL (an older table). */
const char *lrpc__rpc_form(const lrpc_rpc_interface *iface,
			   unsigned version);

/*
 * "kv.Store version 2 differs from the server's at line 3 (method list):
 * ours "...", the server's "..."": the first line where @theirs, the
 * @peer's canonical form at @version (NULL: not known), differs from
 * @iface's.  snprintf() semantics.
 */
int lrpc__rpc_form_diff(const lrpc_rpc_interface *iface, unsigned version,
			const char *theirs, const char *peer, char *out,
			size_t cap);

#endif
