/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The connection handshake (docs/wire.md, "Handshake"). */
#ifndef LRPC_IPC_HANDSHAKE_H
#define LRPC_IPC_HANDSHAKE_H

#include <stdbool.h>
#include <stdint.h>

#include "transport/transport.h"

#define LRPC__HELLO_MAGIC 0x4850524cu   /* "LRPH" little-endian */
#define LRPC__WELCOME_MAGIC 0x5750524cu /* "LRPW" little-endian */

typedef struct lrpc__hello {
	uint32_t magic;
	uint16_t version;
	uint16_t transport;
	uint32_t max_msg_size;
	uint32_t flags;
	uint64_t reserved[2];
} lrpc__hello;

typedef struct lrpc__welcome {
	uint32_t magic;
	uint16_t version;
	uint16_t transport;
	int32_t status;
	uint32_t max_msg_size;
	uint32_t n_fds;
	uint32_t flags;
	uint64_t reserved;
} lrpc__welcome;

_Static_assert(sizeof(lrpc__hello) == 32, "hello is 32 bytes on the wire");
_Static_assert(sizeof(lrpc__welcome) == 32, "welcome is 32 bytes on the wire");

/*
 * Capabilities: the hello's reserved[0] is what the client offers, the
 * welcome's reserved what the server accepted (a subset of the offer).
 * Peers that predate them send 0 and ignore the field.
 */
#define LRPC__CAP_FDS (1u << 0) /* fd passing; limits below */
/* Bit 1 is taken by wake coalescing. */
/* Bit 2, LRPC__CAP_RECORDS, is the socket transport's (transport.h). */
/* The hello's reserved[1], bits 0-15: the most fds per message the client
 * takes; the welcome's flags: the server's.  The smaller applies. */
#define LRPC__HELLO_FDS_MASK 0xffffu

/* Options of fd passing are sane (after defaults were applied). */
static inline bool
lrpc__fd_opts_valid(uint32_t per_msg, uint32_t per_conn)
{
	if (per_msg == LRPC_NO_FDS)
		return true;
	return per_msg <= LRPC_MAX_FDS_PER_MSG && per_conn >= per_msg;
}

/* What a limit option means on the wire: 0 for "no fds". */
static inline unsigned
lrpc__fd_offer(uint32_t per_msg)
{
	return per_msg == LRPC_NO_FDS ? 0 : per_msg;
}

/*
 * The server's side of the negotiation: the capabilities it accepts of
 * @h's offer and the fds per message then allowed (0: no fd passing).
 */
uint64_t lrpc__hello_accept_caps(const lrpc__hello *h, uint32_t per_msg,
				 unsigned *ret_fds);
/*
 * The client's: check that @w accepted only what @offered, and give the
 * fds per message both allow.  0 or -EPROTO.
 */
int lrpc__welcome_caps(const lrpc__welcome *w, uint64_t offered,
		       uint32_t per_msg, unsigned *ret_fds);

/* Smallest negotiated size: a header plus a little payload. */
#define LRPC__MIN_MSG_SIZE 64u

/* Check a hello read from a peer: 0 or -EPROTO / -EPROTONOSUPPORT. */
int lrpc__hello_check(const lrpc__hello *h);

/* Send a welcome with @fds attached (non-blocking; 0 or -errno). */
int lrpc__welcome_send(int fd, const lrpc__welcome *w, const lrpc__fdset *fds);

/*
 * Read the welcome: non-blocking, accumulating into @buf/@got across calls.
 * Returns 1 when complete (and @fds filled), 0 if more is needed, or a
 * negative errno (every fd received is closed on error).
 */
int lrpc__welcome_recv(int fd, lrpc__welcome *buf, size_t *got,
		       lrpc__fdset *fds);

/*
 * Validate a complete welcome against what the client asked for; returns
 * 0, the server's refusal errno, or -EPROTO.
 */
int lrpc__welcome_check(const lrpc__welcome *w, lrpc_transport asked,
			const lrpc__fdset *fds);

#endif
