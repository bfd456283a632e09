/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An in-process server for the fuzz targets that play a client: one per
 * transport, kept across inputs, serving a raw echo on id FZ_ECHO_ID and
 * the RPC interface rt.Types (tests/integration/rpc-types.idl) with simple
 * handlers.  A connection is a socketpair whose server end is handed to
 * the server as if accept() had returned it, so no name is bound.
 */
#ifndef LRPC_FUZZ_SERVER_H
#define LRPC_FUZZ_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lrpc/lrpc.h>

#define FZ_ECHO_ID 1
#define FZ_MAX_MSG 4096u

/* The server of @transport (socket or shm), created at the first use. */
lrpc_server *fz_server_get(lrpc_transport transport);
/* A new pending connection; the client's end (non-blocking) in *ret_fd. */
void fz_server_connect(lrpc_server *s, int *ret_fd);
/* Run the server's loop until it has nothing left to do right now. */
void fz_server_pump(void);
/* After the client's end was closed: every connection is gone. */
void fz_server_check_idle(lrpc_server *s);

/*
 * What the server sent on the client's end: the welcome, and the records
 * after it, each checked as it arrives (a valid welcome; records whole,
 * with a valid response header).  Fds received are closed.
 */
typedef struct fz_reader {
	uint8_t welcome[32];
	size_t welcome_got;
	bool accepted, refused;
	uint32_t max_msg;
	uint8_t *buf; /* records not yet complete */
	size_t len, cap;
	/* Called for each complete record, if set. */
	void (*on_record)(const uint8_t *rec, size_t size, void *userdata);
	void *userdata;
} fz_reader;

void fz_reader_init(fz_reader *r);
/* Read what is there (never blocks); false once the server hung up. */
bool fz_reader_read(fz_reader *r, int fd);
void fz_reader_done(fz_reader *r);

#endif
