/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control page: the server publishes the "stop sending" switch and
 * flow control here so that a client checks them without a syscall per
 * message.  It is the IPC core's, made the same way for every transport:
 * in the transport's shared page where it has one (LRPC__TCAP_SHARED_PAGE),
 * else in a sealed memfd of its own passed as the first fd of the welcome
 * (docs/wire.md).  The client maps it read-only where it can, reads each
 * field once into a local and treats any value it does not know as "stop".
 */
#ifndef LRPC_IPC_CTL_H
#define LRPC_IPC_CTL_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "transport/transport.h"

#define LRPC__CTL_MAGIC 0x4c43544cu /* "LCTL" */
#define LRPC__CTL_VERSION 1u
#define LRPC__CTL_STOP 0x1u         /* service-wide stop-sending switch */
#define LRPC__CTL_FLOW 0x2u         /* this connection is flow-controlled */
#define LRPC__CTL_KNOWN (LRPC__CTL_STOP | LRPC__CTL_FLOW)
#define LRPC__CTL_SIZE LRPC__SHARED_PAGE_SIZE

typedef struct lrpc__ctl {
	uint32_t magic;
	uint32_t version;
	_Atomic uint32_t flags;
} lrpc__ctl;

/*
 * The server's control page of a connection: where it lives, and the fd to
 * pass when it is the core's own memfd (-1 when it is the transport's).
 */
typedef struct lrpc__ctl_page {
	lrpc__ctl *ctl;
	bool own_map; /* a mapping of our own, unmapped by done */
} lrpc__ctl_page;

/*
 * Server: set up the control page of a new connection whose transport is
 * @tr/@t.  When the core brings its own page, its memfd is put first in
 * @pass (the fds of the welcome), before the transport's.  Errors: -ENOMEM,
 * -E2BIG (no room in @pass), or the errno of memfd_create/mmap.
 */
int lrpc__ctl_server_init(lrpc__ctl_page *p, const lrpc__transport *tr,
			  lrpc__tconn *t, lrpc__fdset *pass);
/*
 * Client, before the transport adopts its fds: when the transport has no
 * shared page, take the control page's memfd from the front of @fds and map
 * it read-only.  Errors: -EPROTO (missing or not a page of ours), -EBADF,
 * -EPERM (not a sealed memfd).  @fds is left for the transport.
 */
int lrpc__ctl_client_take(lrpc__ctl_page *p, const lrpc__transport *tr,
			  lrpc__fdset *fds);
/*
 * Client, after the transport adopted its fds: with a shared page, check
 * it is the server's control page.  -EPROTO otherwise.
 */
int lrpc__ctl_client_adopt(lrpc__ctl_page *p, const lrpc__transport *tr,
			   lrpc__tconn *t);
/* Unmap what lrpc__ctl_*() mapped; the page may be half set up. */
void lrpc__ctl_done(lrpc__ctl_page *p);

/* Server: publish @flags (LRPC__CTL_*). */
static inline void
lrpc__ctl_publish(lrpc__ctl_page *p, uint32_t flags)
{
	if (p->ctl)
		atomic_store_explicit(&p->ctl->flags, flags,
				      memory_order_release);
}

/* Client: -EAGAIN while the server says stop (any bit at all), else 0. */
static inline int
lrpc__ctl_check(const lrpc__ctl_page *p)
{
	/* One read of memory the server controls. */
	if (p->ctl && atomic_load_explicit(&p->ctl->flags,
					   memory_order_acquire) != 0)
		return -EAGAIN;
	return 0;
}

#endif
