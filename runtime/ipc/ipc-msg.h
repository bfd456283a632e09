/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Message headers on their way out: the library-owned fields. */
#ifndef LRPC_IPC_MSG_H
#define LRPC_IPC_MSG_H

#include <stddef.h>
#include <sys/uio.h>

#include <lrpc/types.h>

/*
 * Build the wire iovec for a user message: a private copy of the header
 * (the caller stamps its library-owned fields), the rest of @in after the
 * header, and zero padding to 8 bytes.  @hdr receives the copy.  Returns
 * the number of entries written to @out (capacity LRPC_IOV_MAX + 2) or
 * -EINVAL (too many entries, a NULL base, shorter than a header, or a
 * header whose size is not the message's).  *ret_size is the message size
 * (without padding).
 */
int lrpc__iov_prepare(const struct iovec *in, size_t n_in,
		      lrpc_msg_header *hdr, struct iovec *out,
		      size_t *ret_size);

/*
 * Check fds a caller wants to attach: 0, -EINVAL (NULL array),
 * -EOPNOTSUPP (the peer takes none: @per_msg 0), -E2BIG (more than
 * @per_msg), -EBADF (one is not an open fd).
 */
int lrpc__fds_check(unsigned per_msg, const int *fds, unsigned n_fds);

#endif
