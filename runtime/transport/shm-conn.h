/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The shm transport's connection, shared by the files that make it up:
 * transport-shm.c (rings, waking) and shm-fds.c (fd passing). */
#ifndef LRPC_SHM_CONN_H
#define LRPC_SHM_CONN_H

#include <unistd.h>

#include "shm-fds.h"
#include "shm-ring.h"
#include "transport.h"

struct lrpc__tconn {
	lrpc__role role;
	int my_efd;   /* we sleep on it, the peer writes it */
	int peer_efd; /* we write it to wake the peer */
	bool hold_wakes, wake_owed; /* t_hold_wakes: ring later, once */
	/* An fd packet found the main socket full (t_main_blocked). */
	bool main_blocked;
	uint8_t *map;
	uint64_t map_size;
	_Atomic uint32_t *cpus; /* [0] server, [1] client */
	lrpc__ring ring[LRPC__N_CHAN];
	uint32_t max_msg;
	uint32_t want[LRPC__N_CHAN]; /* size of a send that found no room */
	/* Server: the request being handled, copied out of shared memory. */
	uint8_t *copy;
	size_t copy_cap;
	bool have_copy;
	/* Client: whether a record of the channel is being looked at. */
	bool peeked[LRPC__N_CHAN];
	lrpc__shm_fds fds; /* fd passing (shm-fds.c) */
};

static inline void
lrpc__shm_wake_peer(lrpc__tconn *t)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is saturated: the peer will wake anyway. */
	if (!(t->wake_owed = t->hold_wakes))
		(void)!write(t->peer_efd, &one, sizeof(one));
}

/* The fd passing members of the connection ops (shm-fds.c). */
void lrpc__shm_fd_limits(lrpc__tconn *t, unsigned per_msg, unsigned per_conn);
int lrpc__shm_send_fds(lrpc__tconn *t, lrpc__chan chan,
		       const struct iovec *iov, size_t n_iov, size_t size,
		       const int *fds, unsigned n_fds);
unsigned lrpc__shm_msg_n_fds(lrpc__tconn *t, lrpc__chan chan);
int lrpc__shm_take_fd(lrpc__tconn *t, lrpc__chan chan, unsigned i);

#endif
