/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Message headers on their way out (see ipc-msg.h). */
#include <fcntl.h>
#include <string.h>

#include "ipc-msg.h"
#include "transport/transport.h"
#include "util.h"

int
lrpc__iov_prepare(const struct iovec *in, size_t n_in, lrpc_msg_header *hdr,
		  struct iovec *out, size_t *ret_size)
{
	static const uint8_t zeros[8];
	size_t total, skip = sizeof(*hdr), n_out = 1, copied = 0;

	if (n_in > LRPC_IOV_MAX || (n_in > 0 && !in))
		return -EINVAL;
	total = lrpc__iov_length(in, n_in);
	if (total < sizeof(*hdr) || total == SIZE_MAX)
		return -EINVAL;

	/* The header may itself be split over several entries. */
	for (size_t i = 0; i < n_in && copied < sizeof(*hdr); i++) {
		size_t k = LRPC_MIN(in[i].iov_len, sizeof(*hdr) - copied);
		if (k > 0 && !in[i].iov_base)
			return -EINVAL;
		memcpy((uint8_t *)hdr + copied, in[i].iov_base, k);
		copied += k;
	}
	if (hdr->size != total)
		return -EINVAL;

	out[0].iov_base = hdr;
	out[0].iov_len = sizeof(*hdr);
	for (size_t i = 0; i < n_in; i++) {
		size_t len = in[i].iov_len, off = 0;
		if (skip > 0) {
			off = LRPC_MIN(skip, len);
			skip -= off;
		}
		if (len - off == 0)
			continue;
		if (!in[i].iov_base)
			return -EINVAL;
		out[n_out].iov_base = (uint8_t *)in[i].iov_base + off;
		out[n_out].iov_len = len - off;
		n_out++;
	}
	if (total % 8) {
		out[n_out].iov_base = (void *)zeros;
		out[n_out].iov_len = 8 - total % 8;
		n_out++;
	}
	*ret_size = total;
	return (int)n_out;
}

/* Fds to attach: allowed on this connection, and valid fds of ours. */
int
lrpc__fds_check(unsigned per_msg, const int *fds, unsigned n_fds)
{
	if (n_fds == 0)
		return 0;
	if (!fds)
		return -EINVAL;
	if (per_msg == 0)
		return -EOPNOTSUPP;
	if (n_fds > per_msg)
		return -E2BIG;
	/* A closed fd would fail the sendmsg with EBADF: say so before
	 * anything is sent, rather than break the connection. */
	for (unsigned i = 0; i < n_fds; i++)
		if (fds[i] < 0 || fcntl(fds[i], F_GETFD) < 0)
			return -EBADF;
	return 0;
}
