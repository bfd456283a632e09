/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by rpc-client.c and rpc-server.c: building RPC messages. */
#ifndef LRPC_RPC_INTERNAL_H
#define LRPC_RPC_INTERNAL_H

#include "rpc-wire.h"

/* A growable, reused message buffer: no malloc per call once warm. */
typedef struct lrpc__rpc_buf {
	uint8_t *data;
	size_t cap;
} lrpc__rpc_buf;

void lrpc__rpc_buf_done(lrpc__rpc_buf *b);

/*
 * Build core header (id = @iface_id) + RPC header @h + the encoding of
 * @value as @type (nothing if @type is NULL) + the error message @message
 * (only for LRPC__RPC_ERROR) in @b.  Returns the message size, or -EINVAL
 * (value not encodable), -EMSGSIZE (above @max_size), -ENOMEM.
 */
int lrpc__rpc_build(lrpc__rpc_buf *b, uint32_t iface_id,
		    const lrpc__rpc_header *h, unsigned peer,
		    const lrpc_rpc_type *type,
		    const void *value, const char *message, size_t max_size);

/*
 * The same message in two steps, to build it straight into memory the
 * transport lends (lrpc_client_reserve(), lrpc_conn_reserve_response()):
 * measure gives its size (errors as lrpc__rpc_build), write fills @buf of
 * exactly that size.  When measuring fails, @detail (may be NULL) says
 * where and why, without the method: the caller adds that as the prefix
 * (lrpc__codec_err_format(&detail, "kv.Store.put", ...)).
 *
 * @peer is the version the message is written for, the one negotiated
 * with the receiver (0: unknown): a value newer than it is refused with
 * -EPROTONOSUPPORT, and a request's parameters newer than it must hold
 * their default (docs/wire.md, "Encoding").
 */
int lrpc__rpc_measure(uint32_t iface_id, const lrpc__rpc_header *h,
		      unsigned peer, const lrpc_rpc_type *type, const void *value,
		      const char *message, size_t max_size, size_t *ret_size,
		      lrpc__codec_err *detail);
/*
 * Measure, writing the message into @buf on the way when it fits in @cap
 * (then complete, size included): a small message is built in one pass
 * and copied where it goes, a large one measured, then written in place.
 */
#define LRPC__RPC_SMALL 256
/* The fds of IDL `fd` values met while encoding, to attach to the
 * message in this order. */
typedef struct lrpc__rpc_fds {
	int fd[LRPC_MAX_FDS_PER_MSG];
	unsigned n;
} lrpc__rpc_fds;
int lrpc__rpc_measure_into(void *buf, size_t cap, uint32_t iface_id,
			   const lrpc__rpc_header *h, unsigned peer,
			   const lrpc_rpc_type *type, const void *value,
			   const char *message, size_t max_size,
			   size_t *ret_size, lrpc__codec_err *detail,
			   lrpc__rpc_fds *fds);
int lrpc__rpc_write(void *buf, size_t size, uint32_t iface_id,
		    const lrpc__rpc_header *h, unsigned peer,
		    const lrpc_rpc_type *type,
		    const void *value, const char *message);
/*
 * The fds a decode did not use: closed; returns how many.  A message with
 * fds its receiver has no use for breaks the protocol (the caller drops
 * the connection).
 */
unsigned lrpc__rpc_fds_close_unused(lrpc__rd_fds *s);

/* The method with @ordinal, or NULL. */
const lrpc_rpc_method *lrpc__rpc_find_method(const lrpc_rpc_interface *iface,
					     uint16_t ordinal);

/* Validate a generated interface table once. */
bool lrpc__rpc_interface_valid(const lrpc_rpc_interface *iface);

#endif
