/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Error detail of the codec (rpc-codec-err.h).  Everything here runs only
 * once a value has been refused, so it may format freely.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rpc-codec.h"

int
lrpc__codec_fail(lrpc__codec_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return code;
	e->n_path = 0;
	e->path_cut = false;
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
	return code;
}

int
lrpc__codec_up(lrpc__codec_err *e, int code, lrpc__codec_seg_kind kind,
	       const char *name, uint32_t index)
{
	if (!e)
		return code;
	if (e->n_path >= LRPC__CODEC_PATH_MAX) {
		/* Keep the innermost segments: they say what broke. */
		e->path_cut = true;
		return code;
	}
	e->path[e->n_path++] = (lrpc__codec_seg){ .name = name,
						  .index = index,
						  .kind = (uint8_t)kind };
	return code;
}

/* Append one segment to @buf (of @cap bytes, @len used so far). */
static size_t
seg_format(const lrpc__codec_seg *s, bool first, char *buf, size_t cap,
	   size_t len)
{
	size_t room = cap - len;
	int n;

	if (len + 1 >= cap)
		return len;
	switch (s->kind) {
	case LRPC__SEG_FIELD:
		n = snprintf(buf + len, room, "%s%s", first ? "" : ".",
			     s->name ? s->name : "?");
		break;
	case LRPC__SEG_KEY:
		n = snprintf(buf + len, room, "[%u].key", s->index);
		break;
	case LRPC__SEG_VALUE:
		n = snprintf(buf + len, room, "[%u].value", s->index);
		break;
	default:
		n = snprintf(buf + len, room, "[%u]", s->index);
		break;
	}
	if (n < 0)
		return len;
	return (size_t)n < room ? len + (size_t)n : cap - 1;
}

/* Append @s to @buf (of @cap bytes, @len used), truncating. */
static size_t
append(char *buf, size_t cap, size_t len, const char *s)
{
	size_t n = strlen(s);

	if (len + 1 >= cap)
		return len;
	n = n < cap - 1 - len ? n : cap - 1 - len;
	memcpy(buf + len, s, n);
	buf[len + n] = 0;
	return len + n;
}

void
lrpc__codec_finish(lrpc__codec_err *e)
{
	char path[sizeof(e->text)], rule[sizeof(e->text)];
	size_t len = 0;

	if (!e || (e->n_path == 0 && !e->path_cut))
		return;
	path[0] = 0;
	if (e->path_cut)
		len = append(path, sizeof(path), len, "(...)");
	for (unsigned i = e->n_path; i-- > 0;) {
		bool first = i + 1 == e->n_path && !e->path_cut;
		len = seg_format(&e->path[i], first, path, sizeof(path), len);
	}
	memcpy(rule, e->text, sizeof(rule));
	len = append(e->text, sizeof(e->text), 0, path);
	len = append(e->text, sizeof(e->text), len, ": ");
	append(e->text, sizeof(e->text), len, rule);
	e->n_path = 0;
	e->path_cut = false;
}

int
lrpc__codec_err_format(const lrpc__codec_err *e, const char *prefix,
		       char *buf, size_t cap)
{
	if (!e || (!buf && cap))
		return -EINVAL;
	if (prefix && *prefix)
		return snprintf(buf, cap, "%s: %s", prefix, e->text);
	return snprintf(buf, cap, "%s", e->text);
}

int
lrpc__rpc_fail_enum(lrpc__codec_err *e, int code, const lrpc_rpc_type *t,
		    uint64_t raw)
{
	const char *name = t->name ? t->name : "the enum";

	switch (t->inner->kind) {
	case LRPC_RPC_I8:
	case LRPC_RPC_I16:
	case LRPC_RPC_I32:
	case LRPC_RPC_I64:
		return lrpc__codec_fail(e, code, "%" PRId64
					" is not a value of %s",
					(int64_t)raw, name);
	default:
		return lrpc__codec_fail(e, code, "%" PRIu64
					" is not a value of %s",
					raw, name);
	}
}

int
lrpc__rpc_fail_tag(lrpc__codec_err *e, int code, const lrpc_rpc_type *t,
		   uint64_t tag)
{
	return lrpc__codec_fail(e, code, "union tag %" PRIu64
				" is not a case of %s",
				tag, t->name ? t->name : "the union");
}

int
lrpc__rpc_fail_newer(lrpc__codec_err *e, const lrpc_rpc_type *t,
		     const char *what, unsigned since, unsigned peer)
{
	return lrpc__codec_fail(e, -EPROTONOSUPPORT,
				"%s of %s is @since(%u), newer than the "
				"receiver's version %u",
				what ? what : "?", t->name ? t->name : "?",
				since, peer);
}

int
lrpc__rpc_fail_max(lrpc__codec_err *e, int code, const lrpc_rpc_type *t,
		   size_t n)
{
	const char *unit = t->kind == LRPC_RPC_LIST  ? "elements"
			   : t->kind == LRPC_RPC_MAP ? "entries"
						     : "bytes";

	if (n > UINT32_MAX || !t->max)
		return lrpc__codec_fail(e, code, "%zu %s, above 2^32-1", n,
					unit);
	return lrpc__codec_fail(e, code, "%zu %s, %s than @max(%" PRIu32 ")",
				n, unit,
				t->kind == LRPC_RPC_LIST ||
						t->kind == LRPC_RPC_MAP
					? "more"
					: "longer",
				t->max);
}
