/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc_arena: a bump allocator over a caller's buffer with an optional,
 * bounded malloc fallback.  Decoded data is never freed piecewise, so the
 * common case (everything fits in the caller's buffer) costs no malloc.
 */
#include <string.h>

#include <lrpc/rpc.h>

#include "rpc-wire.h"
#include "util.h"

typedef struct arena_chunk {
	struct arena_chunk *next;
	size_t cap;
	_Alignas(16) uint8_t data[];
} arena_chunk;

#define ARENA_MIN_CHUNK 4096u

/*
 * Received fds the arena owns live in a chunk of their own, told apart by
 * its cap of 0 (a data chunk is never empty); it counts for no heap limit,
 * so that an arena over a caller's buffer alone can hold fds too.
 */
typedef struct arena_fds {
	unsigned n, cap;
	int fd[];
} arena_fds;

static arena_chunk **
arena_fd_chunk(lrpc_arena *a)
{
	for (arena_chunk **pc = (arena_chunk **)&a->chunks; *pc;
	     pc = &(*pc)->next)
		if ((*pc)->cap == 0)
			return pc;
	return NULL;
}

int
lrpc__arena_add_fd(lrpc_arena *a, int fd)
{
	arena_chunk **pc = arena_fd_chunk(a), *c = pc ? *pc : NULL;
	arena_fds *f = c ? (arena_fds *)(void *)c->data : NULL;

	if (!c || f->n == f->cap) {
		unsigned ncap = c ? f->cap * 2 : 8;
		arena_chunk *n = realloc(c, sizeof(*n) + sizeof(arena_fds) +
						    ncap * sizeof(int));
		if (!n)
			return -ENOMEM;
		f = (arena_fds *)(void *)n->data;
		if (!c) {
			n->cap = 0;
			n->next = a->chunks;
			a->chunks = n;
			f->n = 0;
		} else {
			*pc = n;
		}
		f->cap = ncap;
	}
	f->fd[f->n++] = fd;
	return 0;
}

LRPC_EXPORT int
lrpc_arena_add_fd(lrpc_arena *a, int fd)
{
	lrpc_return_if_fail(a && fd >= 0, -EINVAL);
	return lrpc__arena_add_fd(a, fd);
}

LRPC_EXPORT int
lrpc_arena_take_fd(lrpc_arena *a, int *fd)
{
	arena_chunk **pc;
	arena_fds *f;

	lrpc_return_if_fail(a && fd, -EINVAL);
	if (*fd < 0)
		return -EBADF;
	pc = arena_fd_chunk(a);
	if (!pc)
		return -ENOENT;
	f = (arena_fds *)(void *)(*pc)->data;
	for (unsigned i = 0; i < f->n; i++)
		if (f->fd[i] == *fd) {
			int r = *fd;
			f->fd[i] = -1;
			*fd = -1;
			return r;
		}
	return -ENOENT;
}

LRPC_EXPORT void
lrpc_arena_init(lrpc_arena *a, void *buf, size_t size, size_t max_heap)
{
	if (!a)
		return;
	memset(a, 0, sizeof(*a));
	a->first = buf;
	a->first_cap = buf ? size : 0;
	a->buf = a->first;
	a->cap = a->first_cap;
	a->max_heap = max_heap;
}

static void
arena_free_chunks(lrpc_arena *a)
{
	arena_chunk *c = a->chunks;

	while (c) {
		arena_chunk *next = c->next;
		if (c->cap == 0) {
			arena_fds *f = (arena_fds *)(void *)c->data;
			for (unsigned i = 0; i < f->n; i++)
				lrpc__safe_close(f->fd[i]);
		}
		free(c);
		c = next;
	}
	a->chunks = NULL;
	a->heap = 0;
}

LRPC_EXPORT void
lrpc_arena_reset(lrpc_arena *a)
{
	if (!a)
		return;
	/* Keep the newest chunk if it is the only one: a client decoding
	 * similar replies over and over then stops calling malloc. */
	arena_chunk *c = a->chunks;
	if (c && !c->next && a->first_cap < c->cap) {
		a->buf = c->data;
		a->cap = c->cap;
		a->used = 0;
		return;
	}
	arena_free_chunks(a);
	a->buf = a->first;
	a->cap = a->first_cap;
	a->used = 0;
}

LRPC_EXPORT void
lrpc_arena_done(lrpc_arena *a)
{
	if (!a)
		return;
	arena_free_chunks(a);
	a->buf = a->first;
	a->cap = a->first_cap;
	a->used = 0;
}

LRPC_EXPORT size_t
lrpc_arena_get_used(const lrpc_arena *a)
{
	return a ? a->used : 0;
}

LRPC_EXPORT int
lrpc_arena_alloc(lrpc_arena *a, size_t size, size_t align, void **ret)
{
	void *p;
	int r;

	lrpc_return_if_fail(a && ret, -EINVAL);
	lrpc_return_if_fail(align && align <= 16 && !(align & (align - 1)),
			    -EINVAL);
	r = lrpc__arena_alloc_uninit(a, size, align, &p);
	if (r < 0)
		return r;
	memset(p, 0, size ? size : 1);
	*ret = p;
	return 0;
}

/*
 * As lrpc_arena_alloc(), without zeroing: for a decoder that overwrites
 * every byte at once (a large bytes value would otherwise be written
 * twice).  @align is valid (the callers' own constants).
 */
int
lrpc__arena_alloc_uninit(lrpc_arena *a, size_t size, size_t align, void **ret)
{
	if (size == 0)
		size = 1;
	if (a->buf) {
		uintptr_t base = (uintptr_t)a->buf + a->used;
		size_t pad = (align - (base & (align - 1))) & (align - 1);
		if (a->cap - a->used >= pad && a->cap - a->used - pad >= size) {
			uint8_t *p = a->buf + a->used + pad;
			a->used += pad + size;
			*ret = p;
			return 0;
		}
	}
	if (size > SIZE_MAX / 2 - sizeof(arena_chunk))
		return -ENOBUFS;
	size_t want = LRPC_MAX(size, ARENA_MIN_CHUNK);
	if (a->chunks)
		want = LRPC_MAX(want, LRPC_MIN(((arena_chunk *)a->chunks)->cap * 2,
					       (size_t)1 << 24));
	if (a->max_heap - a->heap < want) {
		if (a->max_heap - a->heap < size)
			return -ENOBUFS;
		want = a->max_heap - a->heap;
	}
	arena_chunk *c = malloc(sizeof(*c) + want);
	if (!c)
		return -ENOMEM;
	c->cap = want;
	c->next = a->chunks;
	a->chunks = c;
	a->heap += want;
	a->buf = c->data;
	a->cap = want;
	a->used = size;
	*ret = c->data;
	return 0;
}
