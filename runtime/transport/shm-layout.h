/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where things lie in the shared-memory transport's memfd (docs/shm.md,
 * "One memfd per connection").  A header of its own so that the tests that
 * play a hostile peer map the memfd with the offsets the transport uses
 * instead of copies that could drift from them.
 *
 *   0                   the shared page (t_shared_page: the IPC core's
 *                       control page)
 *   LRPC__SHM_RINGS_OFF three ring headers (lrpc__ring_shared), one per
 *                       channel in lrpc__chan order, then the CPU hints
 *   LRPC__SHM_DATA_OFF  the data areas of the three rings, in the same
 *                       order, lrpc__ring_capacity(max_msg) bytes each
 */
#ifndef LRPC_SHM_LAYOUT_H
#define LRPC_SHM_LAYOUT_H

#include <stdint.h>

#include "shm-ring.h"
#include "transport.h"

#define LRPC__SHM_RINGS_OFF 4096u
#define LRPC__SHM_DATA_OFF 8192u

/* After the ring headers: the CPU each side last ran on (a hint only:
 * whatever the peer writes there can at worst make us spin or not). */
#define LRPC__SHM_CPUS_OFF \
	(LRPC__SHM_RINGS_OFF + LRPC__N_CHAN * sizeof(lrpc__ring_shared))

_Static_assert(LRPC__SHARED_PAGE_SIZE <= LRPC__SHM_RINGS_OFF,
	       "shared page fits");
_Static_assert(LRPC__SHM_CPUS_OFF + 2 * sizeof(uint32_t) <= LRPC__SHM_DATA_OFF,
	       "ring headers fit");

#endif
