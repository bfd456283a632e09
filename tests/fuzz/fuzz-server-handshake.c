/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: what a server does with the bytes a connecting client
 * sends -- the hello, read a few bytes at a time, and on the socket
 * transport the records after it (core messages and RPC messages to the
 * served rt.Types interface).
 *
 * Input: a set-up byte (bit 0: the server's transport, socket or shm),
 * then chunks (a length byte and that many bytes) sent one by one on a
 * fresh connection, the server's loop run after each.  Whatever comes,
 * the server answers with nothing, one valid welcome (a refusal without
 * fds, or an acceptance with them), and after an acceptance only whole
 * records with a valid response header; once the client hangs up, the
 * server holds no connection (nothing pending, nothing active).
 */
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz-common.h"
#include "fuzz-server.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_in in = { data, size };
	uint8_t setup = fz_u8(&in);
	lrpc_server *s = fz_server_get(setup & 1 ? LRPC_TRANSPORT_SHM
						 : LRPC_TRANSPORT_SOCKET);
	fz_reader rd;
	int fd;

	fz_reader_init(&rd);
	fz_server_connect(s, &fd);
	while (in.left > 0) {
		const uint8_t *chunk;
		size_t n = fz_chunk(&in, &chunk);

		if (n > 0 && send(fd, chunk, n, MSG_NOSIGNAL) != (ssize_t)n)
			break; /* the server hung up */
		fz_server_pump();
		if (!fz_reader_read(&rd, fd))
			break;
	}
	fz_server_pump();
	(void)fz_reader_read(&rd, fd);
	close(fd);
	fz_server_check_idle(s);
	fz_reader_done(&rd);
	return 0;
}
