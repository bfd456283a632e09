/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The selector: message id -> handler, plus fallback and a user hook. */
#ifndef LRPC_IPC_SELECTOR_H
#define LRPC_IPC_SELECTOR_H

#include <lrpc/server.h>

typedef struct lrpc__sel_entry {
	int32_t id;
	bool used;
	bool removed;
	lrpc_handler_fn fn;
	void *userdata;
} lrpc__sel_entry;

typedef struct lrpc__selector {
	lrpc__sel_entry *slots;
	size_t n_slots; /* power of two or 0 */
	size_t n_used;  /* live + tombstones */
	size_t n_live;
	lrpc_handler_fn fallback;
	void *fallback_data;
	lrpc_selector_fn hook;
	void *hook_data;
} lrpc__selector;

void lrpc__selector_done(lrpc__selector *s);
int lrpc__selector_add(lrpc__selector *s, int32_t id, lrpc_handler_fn fn,
		       void *userdata);
int lrpc__selector_remove(lrpc__selector *s, int32_t id);
/* The id table's handler of @id: 1 and the handler, or 0. */
int lrpc__selector_find(const lrpc__selector *s, int32_t id,
			lrpc_handler_fn *ret_fn, void **ret_userdata);
/*
 * Find the handler for @msg: 1 and the handler, 0 if nobody handles it,
 * or the negative errno a user hook asked to answer with.
 */
int lrpc__selector_route(const lrpc__selector *s, lrpc_conn *c,
			 const lrpc_msg_header *msg, lrpc_handler_fn *ret_fn,
			 void **ret_userdata);

#endif
