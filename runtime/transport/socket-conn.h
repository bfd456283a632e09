/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The socket transport's connection, shared by the files that make it up:
 * transport-socket.c (set-up, receiving) and socket-send.c (sending). */
#ifndef LRPC_SOCKET_CONN_H
#define LRPC_SOCKET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "framer.h"
#include "transport.h"

/* Socket buffer size asked for; the kernel caps it at wmem_max/rmem_max
 * for unprivileged processes, which is fine: it only saves syscalls. */
#define SOCK_BUF_SIZE (1024 * 1024)

struct sock_out {
	/* The unsent tail of a message the transport already took. */
	uint8_t *buf;
	size_t cap;
	size_t len;
	size_t off;
};

struct lrpc__tconn {
	lrpc__role role;
	int main_fd;  /* not owned */
	int event_fd; /* owned */
	int rpc_fd;   /* owned; record sockets only, else -1 */
	bool records;
	/* Record sockets: the largest record we send on each channel (what
	 * the socket's buffer takes, at most a whole message). */
	size_t chunk[LRPC__N_CHAN];
	uint32_t max_msg;
	lrpc__framer in[LRPC__N_CHAN];
	struct sock_out out[LRPC__N_CHAN];
	/* t_reserve buffers: private memory, sent at t_commit. */
	uint8_t *resv[LRPC__N_CHAN];
	size_t resv_cap[LRPC__N_CHAN];
	/* t_hold_wakes: events gather in out[] and leave in one write. */
	bool corked;
	unsigned fds_held; /* received fds not yet taken or closed */
};

/* Most bytes corked events gather before they are written anyway (on
 * record sockets, never more than one record). */
#define CORK_MAX (64 * 1024)

static inline int
sock_chan_fd(lrpc__tconn *t, lrpc__chan chan)
{
	if (chan == LRPC__CHAN_EVENT)
		return t->event_fd;
	return t->records ? t->rpc_fd : t->main_fd;
}

/* The connection ops of sending (socket-send.c); see lrpc__tconn_ops. */
int lrpc__sock_flush(lrpc__tconn *t, lrpc__chan chan);
int lrpc__sock_send(lrpc__tconn *t, lrpc__chan chan, const struct iovec *iov,
		    size_t n_iov, size_t size);
int lrpc__sock_send_fds(lrpc__tconn *t, lrpc__chan chan,
			const struct iovec *iov, size_t n_iov, size_t size,
			const int *fds, unsigned n_fds);
void lrpc__sock_hold_wakes(lrpc__tconn *t, bool hold);
int lrpc__sock_reserve(lrpc__tconn *t, lrpc__chan chan, size_t size,
		       void **ret_buf);
int lrpc__sock_commit(lrpc__tconn *t, lrpc__chan chan, size_t size);
void lrpc__sock_cancel(lrpc__tconn *t, lrpc__chan chan);
bool lrpc__sock_pending(lrpc__tconn *t, lrpc__chan chan);

#endif
