/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where and why an encode or decode failed: "value.data: 300 bytes, longer
 * than @max(256)".  The codec fills an lrpc__codec_err only on failure: the
 * place that finds the fault writes the rule, and each level it unwinds
 * through adds one path segment, so a call that succeeds never touches the
 * struct (callers need not even initialise it).
 */
#ifndef LRPC_RPC_CODEC_ERR_H
#define LRPC_RPC_CODEC_ERR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Path segments kept: the nesting limit (32) plus a map entry's key/value
 * step and some slack; deeper paths lose their outermost segments. */
#define LRPC__CODEC_PATH_MAX 40

typedef enum lrpc__codec_seg_kind {
	LRPC__SEG_FIELD = 1, /* struct field or union case: .name */
	LRPC__SEG_INDEX = 2, /* list or array element: [i] */
	LRPC__SEG_KEY = 3,   /* key of map entry i: [i].key */
	LRPC__SEG_VALUE = 4, /* value of map entry i: [i].value */
} lrpc__codec_seg_kind;

typedef struct lrpc__codec_seg {
	const char *name; /* FIELD: the IDL name, from the static tables */
	uint32_t index;   /* INDEX, KEY, VALUE */
	uint8_t kind;     /* lrpc__codec_seg_kind */
} lrpc__codec_seg;

typedef struct lrpc__codec_err {
	/*
	 * After a failed lrpc__rpc_encode()/lrpc__rpc_decode(): the path and
	 * the rule broken, NUL-terminated, e.g. "entries[3].kind: 7 is not a
	 * value of kv.Kind" (no path for a fault of the top-level value).
	 * Undefined after success.
	 */
	char text[128];
	/* Working state while a failure unwinds, innermost segment first. */
	uint8_t n_path;
	bool path_cut;
	lrpc__codec_seg path[LRPC__CODEC_PATH_MAX];
} lrpc__codec_err;

/*
 * Record the rule broken at the place that found it and return @code.
 * @e may be NULL (then only @code is returned).  Cold: failure path only.
 */
int lrpc__codec_fail(lrpc__codec_err *e, int code, const char *fmt, ...)
	__attribute__((cold, format(printf, 3, 4)));

/* Add a path segment while unwinding a failure; returns @code. */
int lrpc__codec_up(lrpc__codec_err *e, int code, lrpc__codec_seg_kind kind,
		   const char *name, uint32_t index) __attribute__((cold));

/* Join the path and the rule into e->text (the codec's entry points do). */
void lrpc__codec_finish(lrpc__codec_err *e) __attribute__((cold));

/*
 * Format a failure for a person: "<prefix>: <text>", or <text> alone when
 * @prefix is NULL or "".  The caller adds what the codec cannot know, e.g.
 * the method: lrpc__codec_err_format(&e, "kv.Store.put", msg, sizeof(msg))
 * gives "kv.Store.put: value.data: 300 bytes, longer than @max(256)".
 * Truncates to @cap - 1 bytes (NUL-terminated when @cap > 0) and returns
 * the untruncated length, like snprintf(), or -EINVAL.
 */
int lrpc__codec_err_format(const lrpc__codec_err *e, const char *prefix,
			   char *buf, size_t cap);

#endif
