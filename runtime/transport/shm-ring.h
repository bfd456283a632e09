/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Single-producer single-consumer rings in shared memory.
 *
 * The shared part holds only the two free-running 64-bit indices (each on its
 * own cache line), the two "I am waiting" flags and the records.  Geometry
 * (capacity, mask, largest message) lives in private memory on each side and
 * is never read back from shared memory.  Every value read from shared
 * memory is read once into a local and validated; anything out of range
 * marks the ring broken, and the connection is dropped.
 *
 * Records are 8-byte aligned: an 8-byte record header {u32 len, u32 type}
 * then len bytes padded to 8.  A record never wraps: when it does not fit
 * before the end of the data area, a PAD record fills the tail and the
 * record starts at offset 0.
 */
#ifndef LRPC_SHM_RING_H
#define LRPC_SHM_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LRPC__CACHELINE 64

typedef struct lrpc__ring_shared {
	alignas(LRPC__CACHELINE) _Atomic uint64_t prod;
	/* Set by the producer while it waits for room: how many bytes. */
	_Atomic uint32_t prod_waiting;
	alignas(LRPC__CACHELINE) _Atomic uint64_t cons;
	/* Set by the consumer while it sleeps (or is about to). */
	_Atomic uint32_t cons_waiting;
	alignas(LRPC__CACHELINE) uint8_t pad_[LRPC__CACHELINE];
} lrpc__ring_shared;

#define LRPC__RING_REC_DATA 1u
#define LRPC__RING_REC_PAD 2u
#define LRPC__RING_REC_HDR 8u
/* Records from this size on are placed at the start of an empty ring. */
#define LRPC__RING_REWIND_MIN (16u * 1024u)
/* What a producer's trim keeps of its ring: where small records and large
 * ones placed at the start go. */
#define LRPC__RING_TRIM_KEEP (16u * 1024u)

/*
 * The record layout, here and not in shm-ring.c so that tests writing
 * records by hand (hostile peers) use the same rules.  A record header is
 * one 64-bit word, the length in its low half and the type in its high
 * half, stored and loaded whole: the other side never sees half of one.
 */
static inline uint64_t
lrpc__ring_rec_size(uint32_t len)
{
	return LRPC__RING_REC_HDR + (((uint64_t)len + 7u) & ~(uint64_t)7u);
}

static inline void
lrpc__ring_rec_write(uint8_t *p, uint32_t len, uint32_t type)
{
	uint64_t v = (uint64_t)len | ((uint64_t)type << 32);

	__atomic_store_n((uint64_t *)(void *)p, v, __ATOMIC_RELAXED);
}

/* Load a header once; the caller checks both values before using them. */
static inline void
lrpc__ring_rec_read(const uint8_t *p, uint32_t *ret_len, uint32_t *ret_type)
{
	uint64_t v = __atomic_load_n((const uint64_t *)(const void *)p,
				     __ATOMIC_RELAXED);

	*ret_len = (uint32_t)v;
	*ret_type = (uint32_t)(v >> 32);
}

typedef struct lrpc__ring {
	lrpc__ring_shared *sh;
	uint8_t *data;
	uint64_t cap;  /* private copy: bytes in the data area, power of 2 */
	uint32_t max_len; /* private copy: largest record payload */
	bool broken;
	bool rewind; /* producer: put large records at the start when empty */
	/* Producer side. */
	uint64_t prod;      /* our index; the shared one is only written */
	uint64_t cons_seen; /* last validated consumer index */
	uint64_t res_pos;   /* reserved record start (absolute), or UINT64_MAX */
	uint64_t res_skip;  /* bytes of padding before it */
	/* Consumer side. */
	uint64_t cons;      /* our index */
	uint64_t prod_seen; /* last validated producer index */
	uint64_t cur;       /* size of the record being looked at, 0: none */
} lrpc__ring;

/* Data-area size for messages of up to @max_len bytes: room for two of
 * the largest records, so that one always fits when the ring is empty,
 * wherever the indices stand. */
uint64_t lrpc__ring_capacity(uint32_t max_len);

/* Attach to a ring; @init (only the creator) zeroes the shared indices. */
void lrpc__ring_attach(lrpc__ring *r, lrpc__ring_shared *sh, uint8_t *data,
		       uint64_t cap, uint32_t max_len, bool init);

/*
 * Producer: reserve room for a record of @len bytes.  Returns a pointer to
 * write the payload at, or NULL with *ret_err -EAGAIN (no room), -EMSGSIZE,
 * or -EPROTO (the consumer's index is invalid: the ring is broken).
 */
void *lrpc__ring_reserve(lrpc__ring *r, uint32_t len, int *ret_err);
/*
 * Publish the reserved record with its final length (<= reserved).
 * Returns true if the consumer said it is waiting and must be woken.
 */
bool lrpc__ring_commit(lrpc__ring *r, uint32_t len);
/* Drop a reservation without publishing anything. */
void lrpc__ring_cancel(lrpc__ring *r);

/*
 * Consumer: look at the next record.  1 and a view of the payload (in
 * shared memory: copy before trusting it), 0 if the ring is empty,
 * -EPROTO if the producer wrote something invalid (ring broken).
 */
int lrpc__ring_peek(lrpc__ring *r, const uint8_t **ret, uint32_t *ret_len);
/* Consume the record last peeked.  True if the producer waits for room. */
bool lrpc__ring_release(lrpc__ring *r);

/* Cheap checks without side effects (spinning). */
bool lrpc__ring_readable(lrpc__ring *r);
bool lrpc__ring_writable(lrpc__ring *r, uint32_t len);

/*
 * Sleep protocol.  The side about to sleep sets its flag, then re-checks
 * (with a full barrier in between, paired with the one in commit and
 * release); the other side, after publishing, checks the flag.  One of the
 * two always sees the other's write, so no wake-up is lost.
 * Returns true if the condition already holds (do not sleep).
 */
bool lrpc__ring_arm_read(lrpc__ring *r);
bool lrpc__ring_arm_write(lrpc__ring *r, uint32_t len);
void lrpc__ring_disarm_read(lrpc__ring *r);
void lrpc__ring_disarm_write(lrpc__ring *r);

/*
 * Giving memory back (docs/shm.md, "Giving memory back").  The producer
 * may free the pages of its data area (for both mappings: the consumer
 * then reads zeros there) only when nothing it published is still unread
 * and no reservation is open: the consumer reads only between its index
 * and ours.  lrpc__ring_prod_idle() refreshes the consumer's index to
 * decide.  The consumer may always drop its own mapping of the pages (the
 * data stays in the memfd); lrpc__ring_cons_idle() says whether it has
 * read everything, so that it does not fault the pages straight back.
 */
bool lrpc__ring_prod_idle(lrpc__ring *r);
bool lrpc__ring_cons_idle(lrpc__ring *r);
/*
 * Give back the data pages of @r: as its producer (@ours), those beyond
 * the first LRPC__RING_TRIM_KEEP bytes when it is idle, punched out of the
 * memfd (MADV_REMOVE); as its consumer, only our own mapping of them
 * (MADV_DONTNEED) once we read everything: the peer may be writing a
 * record into its ring this very moment, and punching would lose its
 * bytes, while dropping our mapping loses nothing (the pages stay in the
 * memfd until the peer's own trim).
 */
void lrpc__ring_trim(lrpc__ring *r, bool ours);

#endif
