/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An open-addressing hash table keyed by message id: routing a request is
 * one multiply and usually one probe, whatever the number of handlers.
 */
#include <string.h>

#include "ipc-selector.h"
#include "util.h"

static size_t
sel_hash(int32_t id, size_t mask)
{
	/* Fibonacci hashing spreads consecutive ids over the table. */
	return (size_t)(((uint32_t)id * 2654435769u) >> 7) & mask;
}

static lrpc__sel_entry *
sel_find(const lrpc__selector *s, int32_t id)
{
	if (s->n_slots == 0)
		return NULL;
	size_t mask = s->n_slots - 1;
	for (size_t i = sel_hash(id, mask), k = 0; k < s->n_slots;
	     i = (i + 1) & mask, k++) {
		lrpc__sel_entry *e = &s->slots[i];
		if (!e->used)
			return NULL;
		if (!e->removed && e->id == id)
			return e;
	}
	return NULL;
}

static int
sel_rehash(lrpc__selector *s, size_t n_slots)
{
	lrpc__sel_entry *old = s->slots, *slots;
	size_t old_n = s->n_slots;

	slots = calloc(n_slots, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	s->slots = slots;
	s->n_slots = n_slots;
	s->n_used = s->n_live = 0;
	for (size_t i = 0; i < old_n; i++)
		if (old[i].used && !old[i].removed)
			lrpc__selector_add(s, old[i].id, old[i].fn,
					   old[i].userdata);
	free(old);
	return 0;
}

int
lrpc__selector_add(lrpc__selector *s, int32_t id, lrpc_handler_fn fn,
		   void *userdata)
{
	int r;

	if (sel_find(s, id))
		return -EEXIST;
	/* Keep the load (tombstones included) under 1/2. */
	if ((s->n_used + 1) * 2 > s->n_slots) {
		size_t n = 16;
		while (n < 4 * (s->n_live + 1))
			n *= 2;
		r = sel_rehash(s, n);
		if (r < 0)
			return r;
	}
	size_t mask = s->n_slots - 1;
	for (size_t i = sel_hash(id, mask);; i = (i + 1) & mask) {
		lrpc__sel_entry *e = &s->slots[i];
		if (!e->used || e->removed) {
			if (!e->used)
				s->n_used++;
			*e = (lrpc__sel_entry){ .id = id,
						.used = true,
						.fn = fn,
						.userdata = userdata };
			s->n_live++;
			return 0;
		}
	}
}

int
lrpc__selector_remove(lrpc__selector *s, int32_t id)
{
	lrpc__sel_entry *e = sel_find(s, id);

	if (!e)
		return -ENOENT;
	e->removed = true;
	e->fn = NULL;
	s->n_live--;
	return 0;
}

void
lrpc__selector_done(lrpc__selector *s)
{
	free(s->slots);
	memset(s, 0, sizeof(*s));
}

int
lrpc__selector_route(const lrpc__selector *s, lrpc_conn *c,
		     const lrpc_msg_header *msg, lrpc_handler_fn *ret_fn,
		     void **ret_userdata)
{
	const lrpc__sel_entry *e;
	int r;

	if (s->hook) {
		r = s->hook(c, msg, s->hook_data, ret_fn, ret_userdata);
		if (r != 0) {
			if (r > 0 && !*ret_fn)
				return 0;
			return r > 0 ? 1 : r;
		}
	}
	e = sel_find(s, msg->id);
	if (e) {
		*ret_fn = e->fn;
		*ret_userdata = e->userdata;
		return 1;
	}
	if (s->fallback) {
		*ret_fn = s->fallback;
		*ret_userdata = s->fallback_data;
		return 1;
	}
	return 0;
}

int
lrpc__selector_find(const lrpc__selector *s, int32_t id,
		    lrpc_handler_fn *ret_fn, void **ret_userdata)
{
	const lrpc__sel_entry *e = sel_find(s, id);

	if (!e)
		return 0;
	if (ret_fn)
		*ret_fn = e->fn;
	if (ret_userdata)
		*ret_userdata = e->userdata;
	return 1;
}
