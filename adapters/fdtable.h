/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fdtable.h - the adapters' watches, indexed by fd.
 *
 * lrpc_poll_ops names a watch by its fd, so each adapter keeps a table
 * from fd to its own watch type; the table grows by doubling to cover the
 * highest fd seen.  Slots are void *: each adapter stores and reads its
 * own type.
 */
#ifndef LRPC_ADAPTER_FDTABLE_H
#define LRPC_ADAPTER_FDTABLE_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct fdtable {
	void **slot;
	size_t cap;
} fdtable;

/* The watch of @fd, or NULL. */
static inline void *
fdtable_get(const fdtable *t, int fd)
{
	if (fd < 0 || (size_t)fd >= t->cap)
		return NULL;
	return t->slot[fd];
}

/* Make room for @fd (new slots empty).  0 or -ENOMEM. */
static inline int
fdtable_reserve(fdtable *t, int fd)
{
	size_t cap = t->cap ? t->cap : 64;
	void **p;

	if ((size_t)fd < t->cap)
		return 0;
	while (cap <= (size_t)fd)
		cap *= 2;
	p = realloc(t->slot, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	memset(p + t->cap, 0, (cap - t->cap) * sizeof(*p));
	t->slot = p;
	t->cap = cap;
	return 0;
}

#endif
