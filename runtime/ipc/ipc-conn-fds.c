/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fds with a connection's messages (docs/api.md, "Passing fds"): the
 * sends that attach them, and taking those of the request being handled.
 */
#include "ipc-internal.h"

LRPC_EXPORT int
lrpc_conn_send_responsev_fds(lrpc_conn *c, const struct iovec *iov,
			     size_t n_iov, const int *fds, unsigned n_fds)
{
	CONN_CHECK(c, -EINVAL);
	return lrpc__conn_send_fds(c, LRPC__CHAN_RESPONSE, iov, n_iov, fds,
				   n_fds);
}

LRPC_EXPORT int
lrpc_conn_send_eventv_fds(lrpc_conn *c, const struct iovec *iov,
			  size_t n_iov, const int *fds, unsigned n_fds)
{
	CONN_CHECK(c, -EINVAL);
	return lrpc__conn_send_fds(c, LRPC__CHAN_EVENT, iov, n_iov, fds, n_fds);
}

LRPC_EXPORT int
lrpc_conn_get_n_fds(lrpc_conn *c, const lrpc_msg_header *msg)
{
	CONN_CHECK(c, -EINVAL);
	lrpc_return_if_fail(msg, -EINVAL);
	if (!c->cur_msg || c->cur_msg != msg || !c->t)
		return -ENOENT;
	return (int)c->tops->t_msg_n_fds(c->t, LRPC__CHAN_REQUEST);
}

LRPC_EXPORT int
lrpc_conn_take_fd(lrpc_conn *c, const lrpc_msg_header *msg, unsigned i)
{
	CONN_CHECK(c, -EINVAL);
	lrpc_return_if_fail(msg, -EINVAL);
	if (!c->cur_msg || c->cur_msg != msg || !c->t)
		return -ENOENT;
	return c->tops->t_take_fd(c->t, LRPC__CHAN_REQUEST, i);
}

LRPC_EXPORT unsigned
lrpc_conn_get_max_fds(lrpc_conn *c)
{
	return c && c->state == CONN_ACTIVE ? c->fd_per_msg : 0;
}
