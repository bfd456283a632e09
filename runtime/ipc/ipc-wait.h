/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The spin/sleep policy, one for the server and the client, whatever the
 * transport: after finding nothing to do, spin on the transport's t_ready
 * for a short budget when the transport has wake-ups (LRPC__TCAP_WAKEUPS)
 * and the peer runs on another CPU, then announce the sleep (t_arm) and
 * sleep in poll.  docs/shm.md explains the figures.
 */
#ifndef LRPC_IPC_WAIT_H
#define LRPC_IPC_WAIT_H

#include <stdbool.h>
#include <stdint.h>

#include "transport/transport.h"

/* Default spin budget, microseconds: about one sleep/wake-up cycle. */
#define LRPC__DEFAULT_SPIN_USEC 20u

/*
 * Extra spinning (µs) for a call or answer of @size bytes: about the time
 * the peer needs to copy it and answer (2 KiB per µs), at most 1 ms.
 */
static inline uint32_t
lrpc__spin_extra_usec(size_t size)
{
	size_t us = size / 2048;
	return (uint32_t)(us < 1000 ? us : 1000);
}

/* Whether spinning can help at all on @tr's connection @t right now. */
static inline bool
lrpc__spin_worth(const lrpc__transport *tr, lrpc__tconn *t, uint32_t budget)
{
	return (tr->caps & LRPC__TCAP_WAKEUPS) && budget > 0 &&
	       tr->conn->t_spin_ok(t);
}

/*
 * Busy-wait until @chan of @t is ready (t_ready) or the monotonic clock
 * passes @end (µs): true if it became ready.
 */
bool lrpc__spin(const lrpc__tconn_ops *ops, lrpc__tconn *t, lrpc__chan chan,
		bool out, uint64_t end);

#endif
