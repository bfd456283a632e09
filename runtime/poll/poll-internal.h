/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal helpers around lrpc_poll_ops, shared by the server and client. */
#ifndef LRPC_RUNTIME_POLL_INTERNAL_H
#define LRPC_RUNTIME_POLL_INTERNAL_H

#include <lrpc/loop.h>

/*
 * Check a caller-supplied ops table once, when it is handed to us, so that
 * later calls through it need no NULL checks.  Returns 0, or -EINVAL if @ops
 * is NULL, its struct_size is smaller than lrpc_poll_ops had in 1.0, or any
 * member of 1.0 is NULL.  A larger struct_size is accepted: the caller was
 * built against a newer header and we only use what we know; members added
 * after 1.0 are used only when struct_size covers them.
 */
int lrpc__poll_ops_check(const lrpc_poll_ops *ops);

#endif
