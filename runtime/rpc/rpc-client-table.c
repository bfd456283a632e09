/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The RPC client's table of async calls in flight: an open-addressing hash
 * keyed by call id, grown by doubling, with backward-shift deletion.
 */
#include <string.h>

#include "rpc-client-internal.h"

static size_t
slot_of(const lrpc_rpc_client *rc, uint64_t id)
{
	return (size_t)((id * UINT64_C(0x9e3779b97f4a7c15)) >> 32) &
	       (rc->tab_cap - 1);
}

pending *
lrpc__rpcc_tab_find(lrpc_rpc_client *rc, uint64_t id)
{
	if (!rc->tab_cap)
		return NULL;
	for (size_t i = slot_of(rc, id);; i = (i + 1) & (rc->tab_cap - 1)) {
		if (rc->tab[i].id == id)
			return &rc->tab[i];
		if (rc->tab[i].id == 0)
			return NULL;
	}
}

int
lrpc__rpcc_tab_grow(lrpc_rpc_client *rc)
{
	size_t cap = rc->tab_cap ? rc->tab_cap * 2 : 64;
	pending *old = rc->tab, *tab = calloc(cap, sizeof(*tab));
	size_t old_cap = rc->tab_cap;

	if (!tab)
		return -ENOMEM;
	rc->tab = tab;
	rc->tab_cap = cap;
	rc->n_pending = 0;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].id)
			(void)lrpc__rpcc_tab_insert(rc, &old[i]);
	free(old);
	return 0;
}

int
lrpc__rpcc_tab_insert(lrpc_rpc_client *rc, const pending *p)
{
	if ((rc->n_pending + 1) * 2 > rc->tab_cap) {
		int r = lrpc__rpcc_tab_grow(rc);
		if (r < 0)
			return r;
	}
	size_t i = slot_of(rc, p->id);
	while (rc->tab[i].id)
		i = (i + 1) & (rc->tab_cap - 1);
	rc->tab[i] = *p;
	rc->n_pending++;
	return 0;
}

/* Remove by backward shifting, so lookups never need tombstones. */
void
lrpc__rpcc_tab_remove(lrpc_rpc_client *rc, pending *p)
{
	size_t mask = rc->tab_cap - 1;
	size_t i = (size_t)(p - rc->tab), j = i;

	for (;;) {
		j = (j + 1) & mask;
		if (!rc->tab[j].id)
			break;
		size_t k = slot_of(rc, rc->tab[j].id);
		/* Move j into the hole at i unless its home k lies
		 * cyclically in (i, j]. */
		bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
		if (!stays) {
			rc->tab[i] = rc->tab[j];
			i = j;
		}
	}
	rc->tab[i].id = 0;
	rc->n_pending--;
}
