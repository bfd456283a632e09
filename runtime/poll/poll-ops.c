/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Validation of user-supplied lrpc_poll_ops tables. */
#include <lrpc/loop.h>

#include "poll/poll-internal.h"
#include "util.h"

int
lrpc__poll_ops_check(const lrpc_poll_ops *ops)
{
	lrpc_return_if_fail(ops, -EINVAL);
	/*
	 * struct_size comes first so that it can be read whatever the size of
	 * the caller's table; only once it is known to be big enough may the
	 * members below be touched.
	 */
	lrpc_return_if_fail(ops->struct_size >= sizeof(lrpc_poll_ops), -EINVAL);
	lrpc_return_if_fail(ops->fd_add, -EINVAL);
	lrpc_return_if_fail(ops->fd_mod, -EINVAL);
	lrpc_return_if_fail(ops->fd_del, -EINVAL);
	lrpc_return_if_fail(ops->job_add, -EINVAL);
	lrpc_return_if_fail(ops->timer_add, -EINVAL);
	lrpc_return_if_fail(ops->timer_del, -EINVAL);
	return 0;
}
