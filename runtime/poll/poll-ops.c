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
	/* A table from a caller built against an older header is shorter
	 * than ours once members are added: only what 1.0 had is required
	 * (members added later are looked at only when struct_size covers
	 * them). */
	lrpc_return_if_fail(ops->struct_size >=
				    LRPC__SIZE_UNTIL(lrpc_poll_ops, timer_del),
			    -EINVAL);
	lrpc_return_if_fail(ops->fd_add, -EINVAL);
	lrpc_return_if_fail(ops->fd_mod, -EINVAL);
	lrpc_return_if_fail(ops->fd_del, -EINVAL);
	lrpc_return_if_fail(ops->job_add, -EINVAL);
	lrpc_return_if_fail(ops->timer_add, -EINVAL);
	lrpc_return_if_fail(ops->timer_del, -EINVAL);
	return 0;
}
