/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the RPC message header (docs/wire.md, "RPC messages")
 * and the payload behind it, on both sides.
 *
 * Server side: on an accepted socket-transport connection of the
 * in-process server (fuzz-server.h), each message of the input goes out
 * as a request: the core header is the harness's (its id picks rt.Types,
 * the unserved rt.Unserved, the raw echo or a random id), everything after
 * it is the input's: RPC header and payload.  Every answer must be a
 * valid record; an RPC answer must be a reply, an error reply or a hello
 * reply, a reply must decode with the method's reply type, and an error
 * reply must carry a well-formed message.
 *
 * Client side: the same bytes are decoded as a reply by the RPC client's
 * decoder (lrpc__rpcc_decode_reply) for the method the header names: its
 * status is 0, a typed error, or a negative errno, the error text is
 * terminated, and results that decoded encode again.
 *
 * Input: messages, each a byte choosing the interface id, a u16 length
 * and that many bytes.
 */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz-common.h"
#include "fuzz-server.h"
#include "ipc/ipc-handshake.h"
#include "rpc/rpc-client-internal.h"
#include "rpc/rpc-internal.h"
#include "rpc-types-types.h"

/* An answer from the server, checked as the client would read it. */
static void
check_answer(const uint8_t *rec, size_t size, void *userdata)
{
	lrpc__rd r = { .p = rec + sizeof(lrpc_msg_header), .end = rec + size };
	lrpc_msg_header core;
	lrpc__rpc_header h;

	memcpy(&core, rec, sizeof(core));
	if ((uint32_t)core.id != rt_types__interface.id)
		return; /* the echo, or a core error */
	if (size == sizeof(core)) {
		/* A core-level error: no RPC header to answer with. */
		FZ_CHECK(core.error < 0);
		return;
	}
	FZ_CHECK(lrpc__rpc_header_read(&r, &h));
	FZ_CHECK(h.reserved == 0);
	if (h.kind == LRPC__RPC_HELLO_REPLY) {
		/* Empty, or with a refusal the server's canonical form. */
		if (lrpc__rd_left(&r) != 0) {
			FZ_CHECK(h.status == -EPROTO);
			char *form = lrpc__rpc_read_form(&r);
			FZ_CHECK(form != NULL && lrpc__rd_left(&r) == 0);
			free(form);
		}
		return;
	}
	FZ_CHECK(h.kind == LRPC__RPC_REPLY || h.kind == LRPC__RPC_ERROR);
	const lrpc_rpc_method *m =
		lrpc__rpc_find_method(&rt_types__interface, h.method);
	if (h.kind == LRPC__RPC_ERROR) {
		uint32_t len;
		FZ_CHECK(h.status != 0 && h.status >= -4095);
		FZ_CHECK(lrpc__rd_u32(&r, &len) && len <= 127 &&
			 len == lrpc__rd_left(&r));
		return;
	}
	/* A reply: the method exists, is a call, and its results decode. */
	FZ_CHECK(h.status == 0);
	FZ_CHECK(m && m->kind == LRPC_RPC_CALL);
	lrpc_arena arena;
	void *rep = calloc(1, m->reply->size);
	FZ_CHECK(rep);
	lrpc_arena_init(&arena, NULL, 0, 64u << 20);
	FZ_CHECK(lrpc__rpc_decode(&r, m->reply, rep, &arena, NULL) == 0);
	lrpc_arena_done(&arena);
	free(rep);
}

/* The same bytes as a reply reaching the RPC client. */
static void
client_decode(const uint8_t *p, size_t n)
{
	lrpc__rd r = { .p = p, .end = p + n };
	lrpc__rpc_header h;
	lrpc_rpc_error err;
	lrpc_arena arena;
	void *rep = NULL;
	int status;

	if (!lrpc__rpc_header_read(&r, &h))
		return;
	const lrpc_rpc_method *m =
		lrpc__rpc_find_method(&rt_types__interface, h.method);
	if (!m || m->kind != LRPC_RPC_CALL ||
	    (h.kind != LRPC__RPC_REPLY && h.kind != LRPC__RPC_ERROR))
		return;
	rep = calloc(1, m->reply->size);
	FZ_CHECK(rep);
	lrpc_arena_init(&arena, NULL, 0, 64u << 20);
	status = lrpc__rpcc_decode_reply(&h, &r, m, rep, &arena, &err);
	FZ_CHECK(err.code == status);
	FZ_CHECK(memchr(err.message, 0, sizeof(err.message)));
	FZ_CHECK(status >= -4095);
	FZ_CHECK((status == 0) == (err.name == NULL));
	if (status == 0) {
		size_t need;
		FZ_CHECK(h.kind == LRPC__RPC_REPLY);
		FZ_CHECK(lrpc_rpc_encode(m->reply, rep, NULL, 0, &need) == 0);
	}
	lrpc_arena_done(&arena);
	free(rep);
}

static int32_t
pick_id(uint8_t b)
{
	switch (b & 3) {
	case 0:
		return (int32_t)rt_types__interface.id;
	case 1:
		return (int32_t)rt_unserved__interface.id;
	case 2:
		return FZ_ECHO_ID;
	default:
		return (int32_t)((uint32_t)b * 0x9e3779b1u);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t msg[FZ_MAX_MSG + 8];
	fz_in in = { data, size };
	lrpc_server *s = fz_server_get(LRPC_TRANSPORT_SOCKET);
	lrpc__hello hello = { .magic = LRPC__HELLO_MAGIC,
			      .version = LRPC_PROTOCOL_VERSION,
			      .transport = LRPC_TRANSPORT_SOCKET,
			      .max_msg_size = FZ_MAX_MSG };
	fz_reader rd;
	uint64_t seq = 0;
	int fd;

	fz_reader_init(&rd);
	rd.on_record = check_answer;
	fz_server_connect(s, &fd);
	FZ_CHECK(send(fd, &hello, sizeof(hello), MSG_NOSIGNAL) ==
		 sizeof(hello));
	fz_server_pump();
	FZ_CHECK(fz_reader_read(&rd, fd) && rd.accepted);
	while (in.left > 0) {
		int32_t id = pick_id(fz_u8(&in));
		size_t n = fz_u16(&in);
		lrpc_msg_header h = { .id = id,
				      .flags = 1, /* request */
				      .seq = ++seq };

		if (n > in.left)
			n = in.left;
		if (n > rd.max_msg - sizeof(h))
			n = rd.max_msg - sizeof(h);
		client_decode(in.p, n);
		h.size = (uint32_t)(sizeof(h) + n);
		memcpy(msg, &h, sizeof(h));
		memcpy(msg + sizeof(h), in.p, n);
		memset(msg + h.size, 0, 7);
		in.p += n;
		in.left -= n;
		size_t padded = ((size_t)h.size + 7u) & ~(size_t)7u;
		if (send(fd, msg, padded, MSG_NOSIGNAL) != (ssize_t)padded)
			break;
		fz_server_pump();
		if (!fz_reader_read(&rd, fd))
			break;
	}
	close(fd);
	fz_server_check_idle(s);
	fz_reader_done(&rd);
	return 0;
}
