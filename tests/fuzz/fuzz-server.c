/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz-common.h"
#include "fuzz-server.h"
#include "ipc/ipc-internal.h"
#include "rpc-types-server.h"

static lrpc_loop *fz_loop;
static lrpc_server *fz_servers[_LRPC_TRANSPORT_MAX];

static int
fz_echo(lrpc_conn *c, const lrpc_msg_header *msg, size_t size, void *ud)
{
	return lrpc_conn_send_response(c, msg, size);
}

static int
h_echo(lrpc_rpc_call *call, void *ud, const rt_all *value, rt_all *ret)
{
	*ret = *value;
	return 0;
}

static int
h_add(lrpc_rpc_call *call, void *ud, int32_t a, int32_t b, int32_t *ret)
{
	*ret = (int32_t)((uint32_t)a + (uint32_t)b);
	return 0;
}

static int
h_fail(lrpc_rpc_call *call, void *ud, uint32_t code)
{
	if (code == RT_ERROR_BAD || code == RT_ERROR_WORSE)
		return (int)code;
	if (code >= 1 && code <= 4095)
		return -(int)code;
	(void)lrpc_rpc_call_set_error_message(call, "no such code");
	return -EINVAL;
}

static int
h_seq(lrpc_rpc_call *call, void *ud, uint64_t n, uint64_t *ret)
{
	*ret = n;
	return 0;
}

static int
h_poke(lrpc_rpc_call *call, void *ud, uint32_t n)
{
	return 0;
}

static int
h_emit(lrpc_rpc_call *call, void *ud, uint32_t n)
{
	lrpc_conn *c = lrpc_rpc_call_get_conn(call);

	for (uint32_t i = 0; i < n && i < 4; i++)
		(void)rt_types_emit_tick(c, i, "tick");
	return 0;
}

static int
h_counters(lrpc_rpc_call *call, void *ud, uint32_t *pokes, uint32_t *ab)
{
	*pokes = 1;
	*ab = 2;
	return 0;
}

static int
h_bounded(lrpc_rpc_call *call, void *ud, const char *s)
{
	return 0;
}

static int
h_blob(lrpc_rpc_call *call, void *ud, lrpc_bytes data, lrpc_bytes *ret)
{
	*ret = data;
	return 0;
}

/* later and hold would keep calls past the input: not served. */
static const struct rt_types_handlers fz_handlers = {
	.echo = h_echo,
	.add = h_add,
	.fail = h_fail,
	.seq = h_seq,
	.poke = h_poke,
	.emit = h_emit,
	.counters = h_counters,
	.bounded = h_bounded,
	.blob = h_blob,
};

lrpc_server *
fz_server_get(lrpc_transport transport)
{
	lrpc_server_opts opts = { .struct_size = sizeof(opts),
				  .transport = transport,
				  .min_msg_size = 64,
				  .max_msg_size = FZ_MAX_MSG };
	lrpc_server *s;

	if (fz_servers[transport])
		return fz_servers[transport];
	if (!fz_loop)
		FZ_CHECK(lrpc_loop_new(&fz_loop) == 0);
	FZ_CHECK(lrpc_server_new(&s, transport == LRPC_TRANSPORT_SHM
					     ? "fuzz-shm"
					     : "fuzz-socket",
				 NULL, &opts, NULL) == 0);
	FZ_CHECK(lrpc_server_attach_loop(s, fz_loop) == 0);
	FZ_CHECK(lrpc_server_add_handler(s, FZ_ECHO_ID, fz_echo, NULL) == 0);
	FZ_CHECK(rt_types_serve(s, &fz_handlers, NULL) == 0);
	/* Spinning waits for a client that is this very process. */
	FZ_CHECK(lrpc_server_set_spin(s, 0) == 0);
	fz_servers[transport] = s;
	return s;
}

void
fz_server_connect(lrpc_server *s, int *ret_fd)
{
	lrpc_conn *c;
	int sv[2];

	FZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    0, sv) == 0);
	FZ_CHECK(lrpc__conn_new(s, sv[0], &c) == 0);
	*ret_fd = sv[1];
}

void
fz_server_pump(void)
{
	for (int i = 0; i < 64; i++)
		if (lrpc_loop_run_once(fz_loop, 0) <= 0)
			return;
}

void
fz_server_check_idle(lrpc_server *s)
{
	lrpc_server_stats st;

	fz_server_pump();
	FZ_CHECK(lrpc_server_get_stats(s, &st, sizeof(st)) == 0);
	FZ_CHECK(st.pending_connections == 0);
	FZ_CHECK(st.active_connections == 0);
}

void
fz_reader_init(fz_reader *r)
{
	*r = (fz_reader){ .welcome_got = 0 };
}

void
fz_reader_done(fz_reader *r)
{
	free(r->buf);
}

static void
reader_check_welcome(fz_reader *r, unsigned n_fds)
{
	lrpc__welcome w;

	memcpy(&w, r->welcome, sizeof(w));
	FZ_CHECK(w.magic == LRPC__WELCOME_MAGIC);
	FZ_CHECK(w.version == LRPC_PROTOCOL_VERSION);
	/* Capabilities: fd passing, with its count of fds per message, and
	 * record sockets for the socket transport only; nothing on a
	 * refusal. */
	FZ_CHECK((w.reserved &
		  ~(uint64_t)(LRPC__CAP_FDS | LRPC__CAP_RECORDS)) == 0);
	FZ_CHECK(!(w.reserved & LRPC__CAP_RECORDS) ||
		 w.transport == LRPC_TRANSPORT_SOCKET);
	FZ_CHECK((w.reserved & LRPC__CAP_FDS)
			 ? w.flags >= 1 && w.flags <= LRPC_MAX_FDS_PER_MSG
			 : w.flags == 0);
	if (w.status != 0) {
		FZ_CHECK(w.flags == 0 && w.reserved == 0);
		FZ_CHECK(w.status < 0 && w.status >= -4095);
		FZ_CHECK(w.n_fds == 0 && n_fds == 0);
		r->refused = true;
		return;
	}
	FZ_CHECK(w.transport == LRPC_TRANSPORT_SOCKET ||
		 w.transport == LRPC_TRANSPORT_SHM);
	FZ_CHECK(w.max_msg_size >= 64 && w.max_msg_size <= FZ_MAX_MSG);
	FZ_CHECK(w.n_fds == n_fds && n_fds > 0);
	r->accepted = true;
	r->max_msg = w.max_msg_size;
}

/* Whole records, each with a valid response header. */
static void
reader_records(fz_reader *r)
{
	size_t pos = 0;

	while (r->len - pos >= sizeof(lrpc_msg_header)) {
		lrpc_msg_header h;
		memcpy(&h, r->buf + pos, sizeof(h));
		FZ_CHECK(h.size >= sizeof(h) && h.size <= r->max_msg);
		FZ_CHECK(h.flags == LRPC__MSG_RESPONSE);
		size_t padded = ((size_t)h.size + 7u) & ~(size_t)7u;
		if (r->len - pos < padded)
			break;
		if (r->on_record)
			r->on_record(r->buf + pos, h.size, r->userdata);
		pos += padded;
	}
	memmove(r->buf, r->buf + pos, r->len - pos);
	r->len -= pos;
}

bool
fz_reader_read(fz_reader *r, int fd)
{
	for (;;) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int) * 16)];
		} cm;
		uint8_t tmp[8192];
		struct iovec iov = { .iov_base = tmp, .iov_len = sizeof(tmp) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cm.buf,
				     .msg_controllen = sizeof(cm.buf) };
		unsigned n_fds = 0;
		ssize_t n;

		/* The welcome alone first: its fds come with it. */
		if (r->welcome_got < sizeof(r->welcome))
			iov.iov_len = sizeof(r->welcome) - r->welcome_got;
		n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0)
			return false;
		FZ_CHECK(!(mh.msg_flags & MSG_CTRUNC));
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c;
		     c = CMSG_NXTHDR(&mh, c)) {
			FZ_CHECK(c->cmsg_level == SOL_SOCKET &&
				 c->cmsg_type == SCM_RIGHTS);
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int got;
				memcpy(&got, CMSG_DATA(c) + i * sizeof(int),
				       sizeof(got));
				close(got);
				n_fds++;
			}
		}
		if (r->welcome_got < sizeof(r->welcome)) {
			/* One sendmsg() into an empty socket: it arrives
			 * whole, with its fds. */
			FZ_CHECK((size_t)n == sizeof(r->welcome));
			memcpy(r->welcome, tmp, sizeof(r->welcome));
			r->welcome_got = sizeof(r->welcome);
			reader_check_welcome(r, n_fds);
			continue;
		}
		FZ_CHECK(n_fds == 0);
		/* After a refusal the server sends nothing more. */
		FZ_CHECK(r->accepted);
		if (r->cap - r->len < (size_t)n) {
			r->cap = r->len + (size_t)n + 8192;
			r->buf = realloc(r->buf, r->cap);
			FZ_CHECK(r->buf);
		}
		memcpy(r->buf + r->len, tmp, (size_t)n);
		r->len += (size_t)n;
		reader_records(r);
	}
}
