/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc_loop behind the lrpc_poll_ops seam, so that servers and clients can
 * be attached to it like to any other loop.  Only the public lrpc_loop_*
 * calls are used: this file does not depend on the back end.
 */
#include <lrpc/loop.h>

static int
loop_ops_fd_add(void *loop_data, int fd, uint32_t events, lrpc_poll_fd_fn cb,
		void *cb_data)
{
	return lrpc_loop_add_fd(loop_data, fd, events, cb, cb_data);
}

static int
loop_ops_fd_mod(void *loop_data, int fd, uint32_t events)
{
	return lrpc_loop_mod_fd(loop_data, fd, events);
}

static int
loop_ops_fd_del(void *loop_data, int fd)
{
	return lrpc_loop_del_fd(loop_data, fd);
}

static int
loop_ops_job_add(void *loop_data, lrpc_poll_fn cb, void *cb_data)
{
	return lrpc_loop_add_job(loop_data, cb, cb_data);
}

static int
loop_ops_timer_add(void *loop_data, uint64_t usec, lrpc_poll_fn cb,
		   void *cb_data, void **ret_handle)
{
	return lrpc_loop_add_timer(loop_data, usec, cb, cb_data, ret_handle);
}

static int
loop_ops_timer_del(void *loop_data, void *handle)
{
	return lrpc_loop_del_timer(loop_data, handle);
}

/* loop_data is the lrpc_loop *; every member has the contract of the
 * lrpc_loop_* call it forwards to. */
static const lrpc_poll_ops loop_poll_ops = {
	.struct_size = sizeof(lrpc_poll_ops),
	.fd_add = loop_ops_fd_add,
	.fd_mod = loop_ops_fd_mod,
	.fd_del = loop_ops_fd_del,
	.job_add = loop_ops_job_add,
	.timer_add = loop_ops_timer_add,
	.timer_del = loop_ops_timer_del,
};

LRPC_EXPORT const lrpc_poll_ops *
lrpc_loop_get_poll_ops(void)
{
	return &loop_poll_ops;
}
