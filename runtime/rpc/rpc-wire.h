/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The RPC header that follows the core lrpc_msg_header, and the bounded
 * little-endian reader and writer the codec is built on.  See docs/wire.md,
 * "RPC messages".
 */
#ifndef LRPC_RPC_WIRE_H
#define LRPC_RPC_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lrpc/rpc.h>

#include "rpc-codec-err.h"

/* Message kinds (lrpc__rpc_header.kind). */
typedef enum lrpc__rpc_msg_kind {
	LRPC__RPC_REQUEST = 1,    /* client -> server, expects a reply */
	LRPC__RPC_REPLY = 2,      /* results of a request */
	LRPC__RPC_ERROR = 3,      /* status != 0, payload: message */
	LRPC__RPC_ONEWAY = 4,     /* client -> server, no reply */
	LRPC__RPC_EVENT = 5,      /* server -> client, event channel */
	LRPC__RPC_HELLO = 6,      /* version negotiation request */
	LRPC__RPC_HELLO_REPLY = 7,
	LRPC__RPC_CANCEL = 8,     /* client -> server: stop work on call_id */
	LRPC__RPC_HELLO_DIFF = 9, /* client -> server, after a refused hello:
				   * the client's canonical form */
	LRPC__RPC_ITEM = 10,      /* server -> client: one item of a stream */
	LRPC__RPC_END = 11,       /* server -> client: the stream's end */
	LRPC__RPC_CREDIT = 12,    /* client -> server: @hash more items */
} lrpc__rpc_msg_kind;

/*
 * 24 bytes after the 24-byte core header; the core header's id is the
 * interface id.  All fields little-endian.
 */
typedef struct lrpc__rpc_header {
	uint64_t call_id;  /* per connection; echoed in the reply; 0: none */
	uint16_t method;   /* method or event ordinal */
	uint16_t kind;     /* lrpc__rpc_msg_kind */
	uint16_t version;  /* sender's interface version */
	uint16_t reserved; /* 0; a REQUEST of a stream method: the initial
			    * window (0: LRPC_RPC_STREAM_WINDOW) */
	int32_t status;    /* 0, a positive typed error or a negative errno */
	uint32_t hash;     /* HELLO: sender's hash at @version; HELLO_REPLY:
			    * server's hash at min(versions); REQUEST and
			    * ONEWAY: the caller's time left, milliseconds
			    * rounded up (0: no deadline); CREDIT: the
			    * items granted; else 0 */
} lrpc__rpc_header;

/* The time left until @deadline (µs, UINT64_MAX: none) for a request. */
static inline uint32_t
lrpc__rpc_time_left_ms(uint64_t deadline, uint64_t now)
{
	if (deadline == UINT64_MAX)
		return 0;
	if (deadline <= now)
		return 1; /* already due: the least a deadline can say */
	uint64_t ms = (deadline - now + 999) / 1000;
	return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

_Static_assert(sizeof(lrpc__rpc_header) == 24, "RPC header layout");

#define LRPC__RPC_HDR_SIZE (sizeof(lrpc_msg_header) + sizeof(lrpc__rpc_header))

/*
 * Bounded reader: every read checks the bytes left.  With @borrow, decoded
 * `bytes` point into the message instead of being copied into the arena
 * (the caller keeps the message as long as the values are used); strings
 * are always copied, because they are checked, and the check must hold
 * for what is kept.
 */
/*
 * The fds that came with a message being decoded: an IDL `fd` is an
 * index into them, each used at most once (@used).
 */
/* The index of "no fd" (-1 in C). */
#define LRPC__RPC_NO_FD UINT32_MAX

typedef struct lrpc__rd_fds {
	const int *fds;
	unsigned n;
	uint64_t used[(LRPC_MAX_FDS_PER_MSG + 63) / 64];
} lrpc__rd_fds;

typedef struct lrpc__rd {
	const uint8_t *p;
	const uint8_t *end;
	bool borrow;
	lrpc__rd_fds *fds; /* NULL: the message carries none */
} lrpc__rd;

static inline size_t
lrpc__rd_left(const lrpc__rd *r)
{
	return (size_t)(r->end - r->p);
}

static inline bool
lrpc__rd_bytes(lrpc__rd *r, void *out, size_t n)
{
	if (lrpc__rd_left(r) < n)
		return false;
	memcpy(out, r->p, n);
	r->p += n;
	return true;
}

static inline bool
lrpc__rd_u8(lrpc__rd *r, uint8_t *v)
{
	return lrpc__rd_bytes(r, v, 1);
}

static inline bool
lrpc__rd_u16(lrpc__rd *r, uint16_t *v)
{
	uint8_t b[2];
	if (!lrpc__rd_bytes(r, b, 2))
		return false;
	*v = (uint16_t)(b[0] | (unsigned)b[1] << 8);
	return true;
}

static inline bool
lrpc__rd_u32(lrpc__rd *r, uint32_t *v)
{
	uint8_t b[4];
	if (!lrpc__rd_bytes(r, b, 4))
		return false;
	*v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	     (uint32_t)b[3] << 24;
	return true;
}

static inline bool
lrpc__rd_u64(lrpc__rd *r, uint64_t *v)
{
	uint32_t lo, hi;
	if (!lrpc__rd_u32(r, &lo) || !lrpc__rd_u32(r, &hi))
		return false;
	*v = (uint64_t)hi << 32 | lo;
	return true;
}

/*
 * Writer that measures: bytes go to @buf only while they fit in @cap, and
 * @pos always advances, so one pass both measures and (if it fits) writes.
 */
typedef struct lrpc__wr {
	uint8_t *buf;
	size_t cap;
	size_t pos;
	/* The interface version the receiver speaks (0: not known, no
	 * check): enum values and union cases newer than it are refused,
	 * because the receiver would reject them (docs/wire.md). */
	uint16_t peer;
	/* IDL fds met while encoding, in order: their index on the wire.
	 * Counted always; kept in @fds (when set) up to @cap_fds. */
	int *fds;
	unsigned n_fds, cap_fds;
} lrpc__wr;

static inline void
lrpc__wr_bytes(lrpc__wr *w, const void *data, size_t n)
{
	if (n && w->pos <= w->cap && w->cap - w->pos >= n)
		memcpy(w->buf + w->pos, data, n);
	w->pos += n;
}

static inline void
lrpc__wr_u8(lrpc__wr *w, uint8_t v)
{
	lrpc__wr_bytes(w, &v, 1);
}

static inline void
lrpc__wr_u16(lrpc__wr *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	lrpc__wr_bytes(w, b, 2);
}

static inline void
lrpc__wr_u32(lrpc__wr *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 24) };
	lrpc__wr_bytes(w, b, 4);
}

static inline void
lrpc__wr_u64(lrpc__wr *w, uint64_t v)
{
	lrpc__wr_u32(w, (uint32_t)v);
	lrpc__wr_u32(w, (uint32_t)(v >> 32));
}

/* Patch a u32 written earlier at @at (if it was written). */
static inline void
lrpc__wr_patch_u32(lrpc__wr *w, size_t at, uint32_t v)
{
	if (at <= w->cap && w->cap - at >= 4) {
		uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8),
				 (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
		memcpy(w->buf + at, b, 4);
	}
}

/*
 * Offset of the first byte of @s[0..len) that does not start a valid UTF-8
 * sequence (overlongs and surrogates are invalid), or @len if all is valid.
 */
size_t lrpc__utf8_check(const uint8_t *s, size_t len);

static inline bool
lrpc__utf8_valid(const uint8_t *s, size_t len)
{
	return lrpc__utf8_check(s, len) == len;
}

/* Read / write the RPC header (after the core header). */
bool lrpc__rpc_header_read(lrpc__rd *r, lrpc__rpc_header *h);
void lrpc__rpc_header_write(lrpc__wr *w, const lrpc__rpc_header *h);

/*
 * Encode / decode with a writer or reader (rpc-encode.c, rpc-decode.c); the
 * public lrpc_rpc_encode()/lrpc_rpc_decode() wrap these.  Decoding consumes
 * the reader to its end: bytes after the value are refused.  On failure
 * @err (may be NULL) says where and why (rpc-codec-err.h); on success it is
 * not touched.  Errors: encode -EINVAL, -EMSGSIZE; decode -EBADMSG,
 * -ENOBUFS, -ENOMEM (arena).
 */
int lrpc__rpc_encode(lrpc__wr *w, const lrpc_rpc_type *type,
		     const void *value, lrpc__codec_err *err);
/*
 * A request's parameters (@type, a STRUCT) for a receiver at version
 * @peer: every parameter newer than @peer must hold its default, since
 * the receiver skips it.  0, or -EPROTONOSUPPORT with @err filled
 * (rpc-evolve.c).
 */
int lrpc__rpc_params_fit(const lrpc_rpc_type *type, const void *value,
			 unsigned peer, lrpc__codec_err *err);
/* lrpc_arena_alloc() without zeroing (rpc-arena.c). */
/* Hand a received fd to @a, which closes it at reset or done. */
int lrpc__arena_add_fd(lrpc_arena *a, int fd);
int lrpc__arena_alloc_uninit(lrpc_arena *a, size_t size, size_t align,
			     void **ret);

int lrpc__rpc_decode(lrpc__rd *r, const lrpc_rpc_type *type, void *value,
		     lrpc_arena *arena, lrpc__codec_err *err);

#endif
