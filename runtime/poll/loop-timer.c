/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc_loop timers: a binary heap of deadlines in front of one timerfd that
 * is armed to the earliest of them, so the epoll set wakes up for the next
 * timer and for nothing else.
 */
#include <string.h>
#include <sys/timerfd.h>

#include "loop-internal.h"

/*
 * Timer handles are (generation, slot) pairs packed into a pointer-sized
 * integer, never pointers, so that a stale handle (the timer fired or was
 * deleted) is recognised and answered with -ENOENT instead of touching freed
 * memory.  Each half of the integer gets half the bits; the generation is
 * never 0, so a handle is never NULL.
 */
#define TIMER_HALF_BITS (sizeof(uintptr_t) * 4)
#define TIMER_LOW_MASK ((((uintptr_t)1) << TIMER_HALF_BITS) - 1)
#define TIMER_GEN_MAX TIMER_LOW_MASK
#define TIMER_SLOT_MAX ((size_t)LRPC_MIN(TIMER_LOW_MASK, (uintptr_t)UINT32_MAX))
/* Deadlines past ~68 years of uptime are "never"; this keeps the
 * timerfd_settime() arguments valid with a 32-bit time_t too. */
#define TIMER_MAX_SEC ((uint64_t)INT32_MAX)

struct loop_timer {
	uint64_t deadline; /* CLOCK_MONOTONIC, usec */
	uint64_t seq;      /* insertion order: breaks ties, stops starvation */
	lrpc_poll_fn cb;
	void *cb_data;
	uintptr_t gen;     /* matches the handle while the timer is live */
	uint32_t heap_idx; /* position in loop->heap while live */
	uint32_t next_free;
	bool live;
};

static bool
timer_before(const lrpc_loop *l, uint32_t a, uint32_t b)
{
	const loop_timer *ta = &l->timers[a], *tb = &l->timers[b];

	if (ta->deadline != tb->deadline)
		return ta->deadline < tb->deadline;
	return ta->seq < tb->seq;
}

static void
heap_set(lrpc_loop *l, size_t i, uint32_t slot)
{
	l->heap[i] = slot;
	l->timers[slot].heap_idx = (uint32_t)i;
}

static void
heap_sift_up(lrpc_loop *l, size_t i)
{
	uint32_t slot = l->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!timer_before(l, slot, l->heap[parent]))
			break;
		heap_set(l, i, l->heap[parent]);
		i = parent;
	}
	heap_set(l, i, slot);
}

static void
heap_sift_down(lrpc_loop *l, size_t i)
{
	uint32_t slot = l->heap[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= l->n_heap)
			break;
		if (child + 1 < l->n_heap &&
		    timer_before(l, l->heap[child + 1], l->heap[child]))
			child++;
		if (!timer_before(l, l->heap[child], slot))
			break;
		heap_set(l, i, l->heap[child]);
		i = child;
	}
	heap_set(l, i, slot);
}

static void
heap_remove(lrpc_loop *l, size_t i)
{
	size_t last = --l->n_heap;

	if (i == last)
		return;
	heap_set(l, i, l->heap[last]);
	if (i > 0 && timer_before(l, l->heap[i], l->heap[(i - 1) / 2]))
		heap_sift_up(l, i);
	else
		heap_sift_down(l, i);
}

static int
timer_grow(lrpc_loop *l)
{
	size_t n = l->timer_cap ? l->timer_cap * 2 : 16;
	loop_timer *timers;
	uint32_t *heap;

	n = LRPC_MIN(n, TIMER_SLOT_MAX);
	if (n <= l->timer_cap)
		return -ENOMEM;
	timers = reallocarray(l->timers, n, sizeof(*timers));
	if (!timers)
		return -ENOMEM;
	l->timers = timers;
	/* If this fails the bigger slot array is simply kept unused: the
	 * capacity only grows once both arrays have the room. */
	heap = reallocarray(l->heap, n, sizeof(*heap));
	if (!heap)
		return -ENOMEM;
	l->heap = heap;

	for (size_t i = n; i-- > l->timer_cap;) {
		l->timers[i] = (loop_timer){
			.gen = 1,
			.next_free = l->timer_free,
		};
		l->timer_free = (uint32_t)i;
	}
	l->timer_cap = n;
	return 0;
}

/* Take a live timer out of the heap and give its slot back. */
static void
timer_release(lrpc_loop *l, uint32_t slot)
{
	loop_timer *t = &l->timers[slot];

	assert(t->live);
	heap_remove(l, t->heap_idx);
	t->live = false;
	t->cb = NULL;
	t->cb_data = NULL;
	/* A new generation invalidates every handle given out for it. */
	t->gen = t->gen >= TIMER_GEN_MAX ? 1 : t->gen + 1;
	t->next_free = l->timer_free;
	l->timer_free = slot;
}

static void *
timer_handle(const lrpc_loop *l, uint32_t slot)
{
	uintptr_t h = l->timers[slot].gen << TIMER_HALF_BITS | slot;

	return (void *)h;
}

static int
timer_lookup(const lrpc_loop *l, const void *handle, uint32_t *ret_slot)
{
	uintptr_t h = (uintptr_t)handle;
	uintptr_t gen = h >> TIMER_HALF_BITS;
	uintptr_t slot = h & TIMER_LOW_MASK;

	if (slot >= l->timer_cap || !l->timers[slot].live ||
	    l->timers[slot].gen != gen)
		return -ENOENT;
	*ret_slot = (uint32_t)slot;
	return 0;
}

/* Point the timerfd at the earliest deadline, or disarm it. */
static int
timer_rearm(lrpc_loop *l)
{
	struct itimerspec its = {};
	uint64_t next = 0;

	if (l->n_heap == 0) {
		if (!l->timer_armed)
			return 0;
	} else {
		next = l->timers[l->heap[0]].deadline;
		if (l->timer_armed && l->timer_armed_at == next)
			return 0;
		/* An all-zero it_value would disarm instead of firing now. */
		uint64_t sec = LRPC_MIN(LRPC_MAX(next, 1) / 1000000u,
					TIMER_MAX_SEC);
		its.it_value.tv_sec = (time_t)sec;
		its.it_value.tv_nsec = (long)(LRPC_MAX(next, 1) % 1000000u) *
				       1000;
	}
	if (timerfd_settime(l->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		return -errno;
	l->timer_armed = l->n_heap > 0;
	l->timer_armed_at = next;
	return 0;
}

LRPC_EXPORT int
lrpc_loop_add_timer(lrpc_loop *loop, uint64_t usec, lrpc_poll_fn cb,
		    void *cb_data, void **ret_handle)
{
	loop_timer *t;
	uint64_t now;
	uint32_t slot;
	int r;

	lrpc_return_if_fail(loop, -EINVAL);
	lrpc_return_if_fail(cb, -EINVAL);
	lrpc_return_if_fail(!lrpc__loop_origin_changed(loop), -ECHILD);

	if (loop->timer_free == LOOP_TIMER_NONE) {
		r = timer_grow(loop);
		if (r < 0)
			return r;
	}
	slot = loop->timer_free;
	t = &loop->timers[slot];
	loop->timer_free = t->next_free;

	now = lrpc__now_usec();
	t->deadline = usec > UINT64_MAX - now ? UINT64_MAX : now + usec;
	t->seq = loop->timer_seq++;
	t->cb = cb;
	t->cb_data = cb_data;
	t->live = true;
	t->next_free = LOOP_TIMER_NONE;
	heap_set(loop, loop->n_heap++, slot);
	heap_sift_up(loop, loop->n_heap - 1);

	r = timer_rearm(loop);
	if (r < 0) {
		timer_release(loop, slot);
		return r;
	}
	/* NULL is allowed: a timer that is never cancelled needs no handle. */
	if (ret_handle)
		*ret_handle = timer_handle(loop, slot);
	return 0;
}

LRPC_EXPORT int
lrpc_loop_del_timer(lrpc_loop *loop, void *handle)
{
	uint32_t slot;
	int r;

	lrpc_return_if_fail(loop, -EINVAL);
	lrpc_return_if_fail(handle, -EINVAL);
	lrpc_return_if_fail(!lrpc__loop_origin_changed(loop), -ECHILD);

	r = timer_lookup(loop, handle, &slot);
	if (r < 0)
		return r;
	timer_release(loop, slot);
	/*
	 * The timer is gone whatever happens here.  If the timerfd cannot be
	 * moved it fires early, finds nothing expired and is re-armed then.
	 */
	r = timer_rearm(loop);
	if (r < 0)
		lrpc__log_debug("loop %p: re-arming timerfd: %s", (void *)loop,
				strerror(-r));
	return 0;
}

void
lrpc__loop_timerfd_fired(lrpc_loop *l)
{
	/* Reading disarms it; make sure the timer phase re-arms it even if
	 * the heap top did not change. */
	lrpc__loop_drain(l->timer_fd);
	l->timer_armed = false;
}

int
lrpc__loop_timers_dispatch(lrpc_loop *l, int *count)
{
	/*
	 * Only timers that existed when this phase started may run in it: a
	 * callback re-adding itself with usec 0 must wait for the next
	 * iteration or it would starve everything else.
	 */
	uint64_t now = lrpc__now_usec();
	uint64_t seq_limit = l->timer_seq;

	while (l->n_heap > 0) {
		uint32_t slot = l->heap[0];
		loop_timer *t = &l->timers[slot];
		lrpc_poll_fn cb;
		void *cb_data;

		if (t->deadline > now || t->seq >= seq_limit)
			break;
		cb = t->cb;
		cb_data = t->cb_data;
		/* Released before the call, so the handle is already stale
		 * (-ENOENT) inside the callback. */
		timer_release(l, slot);
		cb(cb_data);
		(*count)++;
	}
	return timer_rearm(l);
}
