/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc_loop fd watches: a table indexed by fd with the callback of each
 * watch and a generation that tells a live watch from one deleted (and
 * maybe re-added) since an event for it was collected.
 */
#include <string.h>

#include "loop-internal.h"

/* Everything a watch may ask for. */
#define LOOP_POLL_ALL                                                      \
	(LRPC_POLL_IN | LRPC_POLL_OUT | LRPC_POLL_ERR | LRPC_POLL_HUP)

struct loop_fd {
	lrpc_poll_fd_fn cb;
	void *cb_data;
	uint32_t events; /* LRPC_POLL_* asked for */
	/*
	 * Travels with the fd's events.  0 marks a free slot; it is
	 * bumped on every add, so an event collected for an fd that was
	 * deleted (and maybe re-added) since is recognised and dropped.
	 */
	uint32_t gen;
};

static int
loop_fds_reserve(lrpc_loop *l, int fd)
{
	size_t need = (size_t)fd + 1, n;
	loop_fd *fds;

	if (need <= l->n_fds)
		return 0;
	n = LRPC_MAX(need, LRPC_MAX(l->n_fds * 2, (size_t)64));
	fds = reallocarray(l->fds, n, sizeof(*fds));
	if (!fds)
		return -ENOMEM;
	memset(fds + l->n_fds, 0, (n - l->n_fds) * sizeof(*fds));
	l->fds = fds;
	l->n_fds = n;
	return 0;
}

static loop_fd *
loop_fd_find(lrpc_loop *l, int fd)
{
	if ((size_t)fd >= l->n_fds || l->fds[fd].gen == 0)
		return NULL;
	return &l->fds[fd];
}

LRPC_EXPORT int
lrpc_loop_add_fd(lrpc_loop *loop, int fd, uint32_t events,
		 lrpc_poll_fd_fn cb, void *cb_data)
{
	uint32_t gen;
	int r;

	lrpc_return_if_fail(loop, -EINVAL);
	lrpc_return_if_fail(fd >= 0, -EINVAL);
	lrpc_return_if_fail(cb, -EINVAL);
	lrpc_return_if_fail((events & ~LOOP_POLL_ALL) == 0, -EINVAL);
	lrpc_return_if_fail(!lrpc__loop_origin_changed(loop), -ECHILD);

	if (loop_fd_find(loop, fd))
		return -EEXIST;

	gen = ++loop->fd_gen;
	if (gen == 0)
		gen = loop->fd_gen = 1;
	/*
	 * Register with the kernel before growing the table: a bogus fd
	 * number fails here with -EBADF instead of making us allocate a
	 * table that large.
	 */
	r = lrpc__loop_watch_add(loop, fd, events, gen);
	if (r < 0)
		return r;
	r = loop_fds_reserve(loop, fd);
	if (r < 0) {
		(void)lrpc__loop_watch_del(loop, fd);
		return r;
	}
	loop->fds[fd] = (loop_fd){
		.cb = cb,
		.cb_data = cb_data,
		.events = events,
		.gen = gen,
	};
	return 0;
}

LRPC_EXPORT int
lrpc_loop_mod_fd(lrpc_loop *loop, int fd, uint32_t events)
{
	loop_fd *w;
	int r;

	lrpc_return_if_fail(loop, -EINVAL);
	lrpc_return_if_fail(fd >= 0, -EINVAL);
	lrpc_return_if_fail((events & ~LOOP_POLL_ALL) == 0, -EINVAL);
	lrpc_return_if_fail(!lrpc__loop_origin_changed(loop), -ECHILD);

	w = loop_fd_find(loop, fd);
	if (!w)
		return -ENOENT;
	r = lrpc__loop_watch_mod(loop, fd, events, w->gen);
	if (r < 0)
		return r;
	w->events = events;
	return 0;
}

LRPC_EXPORT int
lrpc_loop_del_fd(lrpc_loop *loop, int fd)
{
	loop_fd *w;

	lrpc_return_if_fail(loop, -EINVAL);
	lrpc_return_if_fail(fd >= 0, -EINVAL);
	lrpc_return_if_fail(!lrpc__loop_origin_changed(loop), -ECHILD);

	w = loop_fd_find(loop, fd);
	if (!w)
		return -ENOENT;
	/*
	 * Failure is ignored on purpose: if the caller closed the fd first
	 * the kernel already dropped it (EBADF/ENOENT), and if a dup keeps
	 * it in the set, clearing the slot below still stops every future
	 * dispatch because its generation no longer matches.
	 */
	(void)lrpc__loop_watch_del(loop, fd);
	*w = (loop_fd){};
	return 0;
}

int
lrpc__loop_fd_dispatch(lrpc_loop *l, int fd, uint32_t gen, uint32_t revents)
{
	loop_fd *w;

	/*
	 * The event was collected before any callback of this batch ran;
	 * one of them may have deleted this fd, or deleted it, closed it and
	 * added a new fd with the same number.  Only an unchanged
	 * generation proves the watch is the one the event belongs to.
	 */
	w = loop_fd_find(l, fd);
	if (!w || w->gen != gen)
		return 0;
	/* Likewise a fd_mod in this batch may have dropped what fired. */
	revents &= w->events | LRPC_POLL_ERR | LRPC_POLL_HUP;
	if (revents == 0)
		return 0;
	/* Copy before the call: the callback may grow (move) the table. */
	lrpc_poll_fd_fn cb = w->cb;
	cb(fd, revents, w->cb_data);
	return 1;
}
