/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * IDL fds in RPC messages (docs/idl.md, "fd"): decoding an index into the
 * fds the message brought, and moving fds between the core and the
 * codec on both sides.  A message with fds is sent from a private copy
 * (a reservation has no way to take fds); received fds are taken from
 * the core before the decode, which hands the used ones to the arena;
 * any left over break the protocol.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "rpc-client-internal.h"
#include "rpc-codec.h"
#include "rpc-internal.h"
#include "rpc-server-internal.h"
#include "util.h"

static const char *const fd_kind_names[] = {
	[LRPC_RPC_FD_ANY] = "any", [LRPC_RPC_FD_MEMFD] = "memfd",
	[LRPC_RPC_FD_SOCKET] = "socket", [LRPC_RPC_FD_PIPE] = "pipe",
	[LRPC_RPC_FD_FILE] = "file",
};

/* Whether @fd is what an `fd @kind(...)` asks for. */
static bool
fd_kind_ok(int fd, uint32_t kind)
{
	struct stat st;

	if (kind == LRPC_RPC_FD_ANY)
		return true;
	if (fstat(fd, &st) < 0)
		return false;
	switch (kind) {
	case LRPC_RPC_FD_MEMFD:
		/* Only shared memory answers F_GET_SEALS. */
		return S_ISREG(st.st_mode) && fcntl(fd, F_GET_SEALS) >= 0;
	case LRPC_RPC_FD_SOCKET:
		return S_ISSOCK(st.st_mode);
	case LRPC_RPC_FD_PIPE:
		return S_ISFIFO(st.st_mode);
	case LRPC_RPC_FD_FILE:
		return S_ISREG(st.st_mode);
	default:
		return false;
	}
}

/*
 * An index into the fds that came with the message, each used once; the
 * fd then belongs to the arena (closed with it unless taken).
 */
int
lrpc__rpc_decode_fd(lrpc__rd *r, const lrpc_rpc_type *t, void *v,
		    lrpc_arena *arena, lrpc__codec_err *e)
{
	lrpc__rd_fds *s = r->fds;
	uint32_t idx;
	int fd, x;

	if (!lrpc__rd_u32(r, &idx))
		return lrpc__codec_fail(e, -EBADMSG, "truncated (an fd index, "
					"%zu bytes left)",
					lrpc__rd_left(r));
	if (idx == LRPC__RPC_NO_FD) {
		fd = -1;
		memcpy(v, &fd, sizeof(fd));
		return 0;
	}
	if (!s || idx >= s->n)
		return lrpc__codec_fail(e, -EBADMSG,
					"fd index %" PRIu32 " of %u fds", idx,
					s ? s->n : 0);
	if (s->used[idx / 64] & (UINT64_C(1) << (idx % 64)))
		return lrpc__codec_fail(e, -EBADMSG,
					"fd index %" PRIu32 " used twice", idx);
	fd = s->fds[idx];
	if (!fd_kind_ok(fd, t->max))
		return lrpc__codec_fail(e, -EBADMSG, "fd that is not a %s",
					t->max < LRPC_ELEMENTSOF(fd_kind_names)
						? fd_kind_names[t->max]
						: "known kind");
	/* Used either way: without an arena to hold it (the caller's
	 * mistake, not the peer's), it is closed here. */
	s->used[idx / 64] |= UINT64_C(1) << (idx % 64);
	x = arena ? lrpc__arena_add_fd(arena, fd) : -EINVAL;
	if (x < 0) {
		lrpc__safe_close(fd);
		return lrpc__codec_fail(e, x, "no arena to hold an fd");
	}
	memcpy(v, &fd, sizeof(fd));
	return 0;
}

unsigned
lrpc__rpc_fds_close_unused(lrpc__rd_fds *s)
{
	unsigned n = 0;

	for (unsigned i = 0; i < s->n; i++)
		if (!(s->used[i / 64] & (UINT64_C(1) << (i % 64)))) {
			lrpc__safe_close(s->fds[i]);
			n++;
		}
	return n;
}

lrpc__rd_fds *
lrpc__rpcc_take_fds(lrpc_rpc_client *rc, const lrpc_msg_header *msg, int *fdv,
		    lrpc__rd_fds *fds)
{
	int n = lrpc_client_get_n_fds(rc->c, msg);

	if (n <= 0)
		return NULL;
	*fds = (lrpc__rd_fds){ .fds = fdv };
	for (int i = 0; i < n; i++)
		fdv[fds->n++] = lrpc_client_take_fd(rc->c, msg, (unsigned)i);
	return fds;
}

void
lrpc__rpcc_fds_done(lrpc_rpc_client *rc, lrpc__rd_fds *fds)
{
	if (!fds || lrpc__rpc_fds_close_unused(fds) == 0)
		return;
	lrpc__log_warning("lrpc rpc: the server sent fds its message has no "
			  "use for, disconnecting");
	lrpc_client_close(rc->c);
}

/*
 * A message with fds goes from a private copy: a reservation has no way
 * to take them.  The fds stay the caller's (borrowed).
 */
int
lrpc__rpcc_send_fds(lrpc_rpc_client *rc, const lrpc_rpc_interface *iface,
		    const lrpc__rpc_header *h, unsigned peer,
		    const lrpc_rpc_type *type, const void *value, void *small,
		    size_t small_cap, size_t size, const lrpc__rpc_fds *fds)
{
	void *buf = small;
	int r = 0;

	if (size > small_cap) {
		buf = malloc(size);
		if (!buf)
			return -ENOMEM;
		r = lrpc__rpc_write(buf, size, iface->id, h, peer, type, value,
				    NULL);
	}
	if (r == 0) {
		struct iovec iov = { .iov_base = buf, .iov_len = size };
		r = lrpc_client_sendv_fds(rc->c, &iov, 1, fds->fd, fds->n);
	}
	if (buf != small)
		free(buf);
	return r;
}

/* As in the client: a message with fds goes from a private copy. */
int
lrpc__rpcs_send_fds(rpc_service *svc, lrpc_conn *conn, bool event,
		    const lrpc__rpc_header *h, unsigned peer,
		    const lrpc_rpc_type *type, const void *value,
		    const char *message, void *small, size_t small_cap,
		    size_t size, const lrpc__rpc_fds *fds)
{
	void *buf = small;
	int n = 0;

	if (size > small_cap) {
		buf = malloc(size);
		if (!buf)
			return -ENOMEM;
		n = lrpc__rpc_write(buf, size, svc->table->iface->id, h, peer,
				    type, value, message);
	}
	if (n == 0) {
		struct iovec iov = { .iov_base = buf, .iov_len = size };
		svc->sent = size;
		n = event ? lrpc_conn_send_eventv_fds(conn, &iov, 1, fds->fd,
						      fds->n)
			  : lrpc_conn_send_responsev_fds(conn, &iov, 1,
							 fds->fd, fds->n);
	}
	if (buf != small)
		free(buf);
	return n;
}

/*
 * The fds that came with a request are taken from the core for the
 * decoder, which hands those the arguments use to the arena (closed after
 * the call unless the handler took them).  Any the request had no use for
 * break the protocol: closed, and the connection dropped.
 */
int
lrpc__rpcs_svc_handle(lrpc_conn *conn, const lrpc_msg_header *msg, size_t size,
		      void *userdata)
{
	int fdv[LRPC_MAX_FDS_PER_MSG];
	lrpc__rd_fds fds = { .fds = fdv };
	int n = lrpc_conn_get_n_fds(conn, msg), r;

	if (n <= 0)
		return lrpc__rpcs_svc_handle_msg(conn, msg, size, userdata,
						 NULL);
	for (int i = 0; i < n; i++)
		fdv[fds.n++] = lrpc_conn_take_fd(conn, msg, (unsigned)i);
	r = lrpc__rpcs_svc_handle_msg(conn, msg, size, userdata, &fds);
	if (lrpc__rpc_fds_close_unused(&fds) > 0) {
		lrpc__log_warning("lrpc rpc: a client sent fds its message "
				  "has no use for, disconnecting");
		lrpc_conn_close(conn);
	}
	return r;
}
