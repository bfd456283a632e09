/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The RPC client's reading of answers: a reply's results or an error
 * reply's typed error, name and message, each checked before use.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rpc-client-internal.h"

const char *
lrpc__rpcc_error_name(const lrpc_rpc_method *m, int status)
{
	if (status > 0) {
		for (uint32_t i = 0; m && i < m->n_errors; i++)
			if (m->errors[i].value == status)
				return m->errors[i].name;
		return "lrpc.UnknownError";
	}
	switch (status) {
	case -EOPNOTSUPP:
		return "lrpc.NoSuchMethod";
	case -EMSGSIZE:
		return "lrpc.MessageTooLarge";
	case -ETIMEDOUT:
		return "lrpc.Timeout";
	case -ECANCELED:
		return "lrpc.Cancelled";
	case -EPROTO:
		return "lrpc.InterfaceMismatch";
	case -EPROTONOSUPPORT:
		return "lrpc.NewerThanPeer";
	case -EPERM:
		return "lrpc.AccessDenied";
	case -EBUSY:
		return "lrpc.Busy";
	default:
		return "lrpc.Errno";
	}
}

/* An answer that breaks the protocol: lrpc.BadMessage, saying how. */
static int __attribute__((format(printf, 3, 4)))
malformed(lrpc_rpc_error *err, const char **name, const char *fmt, ...)
{
	va_list ap;

	*name = "lrpc.BadMessage";
	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

/* An ERROR's status, and its message into @err. */
static int
decode_error(const lrpc__rpc_header *h, lrpc__rd *r, lrpc_rpc_error *err,
	     const char **name)
{
	uint32_t len;

	if (h->status == 0 || h->status < -4095)
		return malformed(err, name,
				 "an error reply with status %d, neither an "
				 "errno nor a typed error",
				 (int)h->status);
	if (!lrpc__rd_u32(r, &len) || len != lrpc__rd_left(r))
		return malformed(err, name,
				 "an error reply whose message length does "
				 "not match its size");
	/* The server could not decode what we sent. */
	if (h->status == -EBADMSG)
		*name = "lrpc.InvalidArgument";
	if (err) {
		size_t n = LRPC_MIN((size_t)len, sizeof(err->message) - 1);
		memcpy(err->message, r->p, n);
		err->message[n] = 0;
	}
	return h->status;
}

/*
 * Decode a REPLY or ERROR for @m into @rep (zeroed) / @err; returns the
 * call's status (-EBADMSG, saying why in @err, for any other kind: the
 * call id of our call on something else is a broken or hostile server).
 */
int
lrpc__rpcc_decode_reply(const lrpc__rpc_header *h, lrpc__rd *r,
	     const lrpc_rpc_method *m, void *rep, lrpc_arena *arena,
	     lrpc_rpc_error *err)
{
	int status;

	if (err) {
		memset(err, 0, sizeof(*err));
	}
	const char *name = NULL;
	lrpc__codec_err detail;

	if (h->kind != LRPC__RPC_REPLY && h->kind != LRPC__RPC_ERROR) {
		status = malformed(err, &name, "an answer of kind %u, not a "
					       "reply",
				   (unsigned)h->kind);
	} else if (h->kind == LRPC__RPC_ERROR) {
		status = decode_error(h, r, err, &name);
	} else if (h->status != 0) {
		status = malformed(err, &name, "a reply with status %d (only "
					       "an error reply has one)",
				   (int)h->status);
	} else if (m->reply) {
		status = rep ? lrpc__rpc_decode(r, m->reply, rep, arena,
						err ? &detail : NULL)
			     : 0;
		if (status == 0 && rep && lrpc__rd_left(r) != 0)
			status = -EBADMSG;
		if (status < 0 && rep) {
			memset(rep, 0, m->reply->size);
			/* What the server sent does not decode here. */
			if (status == -EBADMSG)
				name = "lrpc.BadMessage";
			if (err)
				(void)lrpc__codec_err_format(
					&detail, m->reply->name, err->message,
					sizeof(err->message));
		}
	} else {
		status = 0;
	}
	if (err) {
		err->code = status;
		err->name = status ? (name ? name
					   : lrpc__rpcc_error_name(m, status))
				   : NULL;
	}
	return status;
}
