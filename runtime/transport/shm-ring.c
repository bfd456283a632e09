/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>
#include <sys/mman.h>

#include "shm-ring.h"
#include "util.h"

uint64_t
lrpc__ring_capacity(uint32_t max_len)
{
	uint64_t need = 2 * lrpc__ring_rec_size(max_len), cap = 64 * 1024;

	while (cap < need)
		cap <<= 1;
	return cap;
}

void
lrpc__ring_attach(lrpc__ring *r, lrpc__ring_shared *sh, uint8_t *data,
		  uint64_t cap, uint32_t max_len, bool init)
{
	*r = (lrpc__ring){ .sh = sh,
			   .data = data,
			   .cap = cap,
			   .max_len = max_len,
			   .res_pos = UINT64_MAX };
	if (init) {
		atomic_store_explicit(&sh->prod, 0, memory_order_relaxed);
		atomic_store_explicit(&sh->cons, 0, memory_order_relaxed);
		atomic_store_explicit(&sh->prod_waiting, 0,
				      memory_order_relaxed);
		atomic_store_explicit(&sh->cons_waiting, 0,
				      memory_order_relaxed);
	}
}

/* Producer: refresh and validate the consumer's index. */
static bool
ring_load_cons(lrpc__ring *r)
{
	uint64_t c = atomic_load_explicit(&r->sh->cons, memory_order_acquire);

	/* The consumer can only move forward, and never past us. */
	if (c < r->cons_seen || c > r->prod) {
		r->broken = true;
		return false;
	}
	r->cons_seen = c;
	return true;
}

/* Bytes a record of @len needs at the current producer position. */
static uint64_t
ring_need(const lrpc__ring *r, uint32_t len, uint64_t *ret_skip)
{
	uint64_t pos = r->prod & (r->cap - 1), tail = r->cap - pos;
	uint64_t need = lrpc__ring_rec_size(len);

	*ret_skip = need <= tail ? 0 : tail;
	return need + *ret_skip;
}

void *
lrpc__ring_reserve(lrpc__ring *r, uint32_t len, int *ret_err)
{
	uint64_t skip, total;

	if (r->broken) {
		*ret_err = -EPROTO;
		return NULL;
	}
	if (len > r->max_len) {
		*ret_err = -EMSGSIZE;
		return NULL;
	}
	assert(r->res_pos == UINT64_MAX);
	total = ring_need(r, len, &skip);
	/*
	 * A large record written into an empty ring goes to the start of the
	 * data area (padding the rest): the same memory is reused call after
	 * call and stays in the caches of both CPUs, instead of the record
	 * walking through the whole ring.
	 */
	/* (The padding and the record at the start only fit together in an
	 * empty ring if the record is no larger than the padded-over
	 * part.) */
	if (r->rewind && len >= LRPC__RING_REWIND_MIN && skip == 0 &&
	    lrpc__ring_rec_size(len) <= (r->prod & (r->cap - 1))) {
		if (!ring_load_cons(r)) {
			*ret_err = -EPROTO;
			return NULL;
		}
		if (r->cons_seen == r->prod) {
			skip = r->cap - (r->prod & (r->cap - 1));
			total = skip + lrpc__ring_rec_size(len);
		}
	}
	if (r->cap - (r->prod - r->cons_seen) < total) {
		if (!ring_load_cons(r)) {
			*ret_err = -EPROTO;
			return NULL;
		}
		if (r->cap - (r->prod - r->cons_seen) < total) {
			*ret_err = -EAGAIN;
			return NULL;
		}
	}
	r->res_skip = skip;
	r->res_pos = r->prod + skip;
	return r->data + (r->res_pos & (r->cap - 1)) + LRPC__RING_REC_HDR;
}

bool
lrpc__ring_commit(lrpc__ring *r, uint32_t len)
{
	assert(r->res_pos != UINT64_MAX && len <= r->max_len);
	if (r->res_skip)
		lrpc__ring_rec_write(
			r->data + (r->prod & (r->cap - 1)),
			(uint32_t)(r->res_skip - LRPC__RING_REC_HDR),
			LRPC__RING_REC_PAD);
	lrpc__ring_rec_write(r->data + (r->res_pos & (r->cap - 1)), len,
			     LRPC__RING_REC_DATA);
	r->prod = r->res_pos + lrpc__ring_rec_size(len);
	r->res_pos = UINT64_MAX;
	atomic_store_explicit(&r->sh->prod, r->prod, memory_order_release);
	/* Pairs with the fence in lrpc__ring_arm_read(). */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&r->sh->cons_waiting, memory_order_relaxed) ==
	    0)
		return false;
	/*
	 * Ring once per sleep: taking the flag back means the records that
	 * follow, until the consumer has woken and announced its next sleep
	 * (every consumer stores the flag again before each sleep and looks
	 * at the ring once more after that), cost no wake-up each.  A
	 * burst of events to a sleeping client is then one system call, not
	 * one per event.
	 */
	return atomic_exchange_explicit(&r->sh->cons_waiting, 0,
					memory_order_relaxed) != 0;
}

void
lrpc__ring_cancel(lrpc__ring *r)
{
	r->res_pos = UINT64_MAX;
}

/* Consumer: refresh and validate the producer's index. */
static bool
ring_load_prod(lrpc__ring *r)
{
	uint64_t p = atomic_load_explicit(&r->sh->prod, memory_order_acquire);

	if (p < r->prod_seen || p < r->cons || p - r->cons > r->cap) {
		r->broken = true;
		return false;
	}
	r->prod_seen = p;
	return true;
}

int
lrpc__ring_peek(lrpc__ring *r, const uint8_t **ret, uint32_t *ret_len)
{
	if (r->broken)
		return -EPROTO;
	for (int pass = 0; pass < 2; pass++) {
		uint64_t avail = r->prod_seen - r->cons;
		if (avail == 0) {
			if (!ring_load_prod(r))
				return -EPROTO;
			avail = r->prod_seen - r->cons;
			if (avail == 0)
				return 0;
		}
		uint64_t pos = r->cons & (r->cap - 1), tail = r->cap - pos;
		/* Read the record header once; from here on only the local
		 * copy is used. */
		uint32_t len, type;

		lrpc__ring_rec_read(r->data + pos, &len, &type);

		if (avail < LRPC__RING_REC_HDR)
			goto bad;
		if (type == LRPC__RING_REC_PAD) {
			/* Padding always runs to the end of the area, and
			 * only the first pass may meet it. */
			if (pass > 0 || avail < tail ||
			    len != tail - LRPC__RING_REC_HDR)
				goto bad;
			r->cons += tail;
			continue;
		}
		if (type != LRPC__RING_REC_DATA || len > r->max_len)
			goto bad;
		uint64_t size = lrpc__ring_rec_size(len);
		if (size > avail || size > tail)
			goto bad;
		r->cur = size;
		*ret = r->data + pos + LRPC__RING_REC_HDR;
		*ret_len = len;
		return 1;
	}
bad:
	r->broken = true;
	return -EPROTO;
}

bool
lrpc__ring_release(lrpc__ring *r)
{
	assert(r->cur > 0);
	r->cons += r->cur;
	r->cur = 0;
	atomic_store_explicit(&r->sh->cons, r->cons, memory_order_release);
	/* Pairs with the fence in lrpc__ring_arm_write(). */
	atomic_thread_fence(memory_order_seq_cst);
	/*
	 * The producer said how much room it waits for: wake it only once
	 * that much is free, so that it refills in bulk instead of being
	 * woken for every record.  (The value is the peer's: at worst it
	 * delays the peer's own progress.)
	 */
	uint32_t want = atomic_load_explicit(&r->sh->prod_waiting,
					     memory_order_relaxed);
	if (want == 0)
		return false;
	return r->cap - (r->prod_seen - r->cons) >= want;
}

bool
lrpc__ring_readable(lrpc__ring *r)
{
	if (r->broken || r->prod_seen != r->cons)
		return true; /* broken: let the caller find out */
	return atomic_load_explicit(&r->sh->prod, memory_order_relaxed) !=
	       r->cons;
}

bool
lrpc__ring_writable(lrpc__ring *r, uint32_t len)
{
	uint64_t skip, total = ring_need(r, len, &skip);
	uint64_t c;

	if (r->broken)
		return true;
	c = atomic_load_explicit(&r->sh->cons, memory_order_relaxed);
	if (c < r->cons_seen || c > r->prod)
		return true;
	return r->cap - (r->prod - c) >= total;
}

bool
lrpc__ring_arm_read(lrpc__ring *r)
{
	atomic_store_explicit(&r->sh->cons_waiting, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	if (lrpc__ring_readable(r)) {
		atomic_store_explicit(&r->sh->cons_waiting, 0,
				      memory_order_relaxed);
		return true;
	}
	return false;
}

bool
lrpc__ring_arm_write(lrpc__ring *r, uint32_t len)
{
	/* Wait for a quarter of the ring at least (see lrpc__ring_release);
	 * the consumer drains what it reads, so that much always comes. */
	uint64_t want = LRPC_MAX(lrpc__ring_rec_size(len), r->cap / 4);

	want = LRPC_MIN(want, r->cap);
	atomic_store_explicit(&r->sh->prod_waiting, (uint32_t)want,
			      memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	if (lrpc__ring_writable(r, len)) {
		atomic_store_explicit(&r->sh->prod_waiting, 0,
				      memory_order_relaxed);
		return true;
	}
	return false;
}

void
lrpc__ring_disarm_read(lrpc__ring *r)
{
	atomic_store_explicit(&r->sh->cons_waiting, 0, memory_order_relaxed);
}

void
lrpc__ring_disarm_write(lrpc__ring *r)
{
	atomic_store_explicit(&r->sh->prod_waiting, 0, memory_order_relaxed);
}

bool
lrpc__ring_prod_idle(lrpc__ring *r)
{
	if (r->broken || r->res_pos != UINT64_MAX || !ring_load_cons(r))
		return false;
	return r->cons_seen == r->prod;
}

bool
lrpc__ring_cons_idle(lrpc__ring *r)
{
	if (r->broken || r->cur != 0 || r->prod_seen != r->cons)
		return false;
	return atomic_load_explicit(&r->sh->prod, memory_order_acquire) ==
	       r->cons;
}

void
lrpc__ring_trim(lrpc__ring *r, bool ours)
{
	if (ours && lrpc__ring_prod_idle(r))
		(void)madvise(r->data + LRPC__RING_TRIM_KEEP,
			      r->cap - LRPC__RING_TRIM_KEEP, MADV_REMOVE);
	else if (!ours && lrpc__ring_cons_idle(r))
		(void)madvise(r->data, r->cap, MADV_DONTNEED);
}
