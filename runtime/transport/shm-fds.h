/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fd passing for the shm transport: records travel in the rings, their
 * fds on the connection's main socket, one packet per message, tagged
 * with its channel and its rank among that channel's messages with fds
 * (docs/wire.md, "Fds of messages").
 */
#ifndef LRPC_SHM_FDS_H
#define LRPC_SHM_FDS_H

#include <stdbool.h>
#include <stdint.h>

#include "transport.h"

/* A packet read ahead of its record (another channel's came first). */
typedef struct lrpc__shm_fd_packet {
	struct lrpc__shm_fd_packet *next;
	lrpc__msg_fds fds;
} lrpc__shm_fd_packet;

typedef struct lrpc__shm_fds {
	int sock; /* the main socket, not owned */
	unsigned recv_chans; /* 1 << chan of the channels we receive on */
	unsigned per_msg, per_conn; /* limits; per_msg 0: no fds */
	unsigned held;              /* received, not taken or closed */
	uint32_t seq_out[LRPC__N_CHAN], seq_in[LRPC__N_CHAN];
	bool matched[LRPC__N_CHAN]; /* cur[] holds the record's fds */
	lrpc__msg_fds cur[LRPC__N_CHAN];
	lrpc__shm_fd_packet *stash[LRPC__N_CHAN]; /* oldest first */
} lrpc__shm_fds;

/* The bytes that carry a message's fds on the main socket. */
typedef struct lrpc__shm_fd_tag {
	uint8_t chan;
	uint8_t n_fds;
	uint16_t zero;
	uint32_t seq;
} lrpc__shm_fd_tag;

/*
 * Send the packet with the @n_fds fds of @chan's next record: before the
 * record is published, so that when the peer sees it they are there.
 * 0, -EAGAIN (socket full), or a fatal errno.
 */
int lrpc__shm_fds_send(lrpc__shm_fds *s, lrpc__chan chan, const int *fds,
		       unsigned n_fds);
/*
 * Fetch the fds a record of @chan declares (@flags, from our private
 * copy of its header); a no-op once done for that record.  -EBADMSG
 * (every fd received closed) unless the channel's next packet, read
 * now or earlier (behind another channel's), has exactly that many fds.
 */
int lrpc__shm_fds_match(lrpc__shm_fds *s, lrpc__chan chan, uint32_t flags);
/* The record of @chan is released: close its fds nobody took. */
void lrpc__shm_fds_release(lrpc__shm_fds *s, lrpc__chan chan);
void lrpc__shm_fds_done(lrpc__shm_fds *s);

#endif
