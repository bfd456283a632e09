/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The client's connect and handshake, blocking and asynchronous. */
#include <poll.h>
#include <sys/socket.h>

#include "ipc-client-internal.h"
#include "ipc-naming.h"

/*
 * Connect, check who we reached, say hello.  Nothing is sent before the
 * server's credentials passed the check.
 */
/* The capabilities this client offers in its hello. */
static uint64_t
client_caps(const lrpc_client *c)
{
	uint64_t caps = 0;

	if (lrpc__fd_offer(c->opts.max_fds_per_msg) > 0)
		caps |= LRPC__CAP_FDS;
	if (lrpc__socket_records_enabled())
		caps |= LRPC__CAP_RECORDS;
	return caps;
}

static int
client_start(lrpc_client *c, const char *name, bool wait)
{
	lrpc__hello h = { .magic = LRPC__HELLO_MAGIC,
			  .version = LRPC_PROTOCOL_VERSION };
	struct ucred uc;
	socklen_t len = sizeof(uc);
	ssize_t n;
	int r;

	if (wait) {
		r = lrpc__naming_connect_wait(
			name, lrpc__deadline_from_usec(c->opts.wait_usec, 0),
			&c->fd);
		if (r < 0)
			return r;
		/* The handshake gets the whole connect timeout. */
		c->connect_deadline =
			lrpc__deadline_from_usec(c->opts.connect_timeout_usec, 0);
	}
	while (!wait) {
		r = lrpc__naming_connect(name, &c->fd);
		if (r != -EAGAIN)
			break;
		/* Backlog full: the server is busy accepting, retry. */
		if (lrpc__now_usec() >= c->connect_deadline)
			return -ETIMEDOUT;
		usleep(1000);
	}
	if (r < 0)
		return r;
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -errno;
	if (len != sizeof(uc))
		return -EPROTO;
	c->server = (lrpc_peer){ .pid = uc.pid, .uid = uc.uid, .gid = uc.gid };
	if (c->opts.require_server_uid && uc.uid != c->opts.server_uid) {
		lrpc__log_warning("lrpc client: %s is served by uid %u, not "
				  "%u: refusing",
				  name, (unsigned)uc.uid,
				  (unsigned)c->opts.server_uid);
		return -EACCES;
	}
	c->tr = lrpc__transport_get(c->opts.transport);
	if (!c->tr)
		return -EPROTONOSUPPORT;
	c->tops = c->tr->conn;
	h.transport = (uint16_t)c->opts.transport;
	h.max_msg_size = c->opts.max_msg_size;
	h.reserved[0] = c->caps_offered = client_caps(c);
	if (lrpc__fd_offer(c->opts.max_fds_per_msg) > 0)
		h.reserved[1] = lrpc__fd_offer(c->opts.max_fds_per_msg);
	do
		n = send(c->fd, &h, sizeof(h), MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EPIPE ? -ECONNRESET : -errno;
	if ((size_t)n != sizeof(h))
		return -EPROTO;
	return 0;
}

int
lrpc__client_handshake_step(lrpc_client *c)
{
	int r;

	r = lrpc__welcome_recv(c->fd, &c->welcome, &c->welcome_got, &c->fds);
	if (r <= 0)
		return r;
	r = lrpc__welcome_check(&c->welcome, c->opts.transport, &c->fds);
	if (r < 0) {
		lrpc__fdset_close(&c->fds);
		return r;
	}
	r = lrpc__welcome_caps(&c->welcome, c->caps_offered,
			       c->opts.max_fds_per_msg, &c->fd_per_msg);
	if (r < 0) {
		lrpc__fdset_close(&c->fds);
		return r;
	}
	/* The server names the transport; we must have it too. */
	c->tr = lrpc__transport_get((lrpc_transport)c->welcome.transport);
	if (!c->tr) {
		lrpc__fdset_close(&c->fds);
		return -EPROTONOSUPPORT;
	}
	c->tops = c->tr->conn;
	c->max_msg = c->welcome.max_msg_size;
	/* The control page comes first where the core brings its own, the
	 * transport's fds after it. */
	r = lrpc__ctl_client_take(&c->ctl, c->tr, &c->fds);
	if (r < 0) {
		lrpc__fdset_close(&c->fds);
		return r == -ENOMEM ? r : -EPROTO;
	}
	r = c->tr->connector->c_adopt(&c->t, c->fd, c->max_msg,
				      c->welcome.reserved, &c->fds);
	if (r == 0)
		r = lrpc__ctl_client_adopt(&c->ctl, c->tr, c->t);
	if (r < 0)
		return r == -ENOMEM ? r : -EPROTO;
	if (c->fd_per_msg > 0)
		c->tops->t_fd_limits(c->t, c->fd_per_msg,
				     c->opts.max_fds_per_conn);
	c->state = CLIENT_CONNECTED;
	return 1;
}

LRPC_EXPORT int
lrpc_client_new(lrpc_client **ret, const char *name,
		const lrpc_client_opts *opts)
{
	lrpc_client *c;
	int r;

	r = lrpc__client_alloc(&c, name, opts);
	if (r < 0)
		return r;
	r = client_start(c, name, c->opts.wait_usec != 0);
	while (r == 0) {
		r = lrpc__client_handshake_step(c);
		if (r != 0)
			break;
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		uint64_t left = lrpc__deadline_left_usec(c->connect_deadline);
		if (left == 0) {
			r = -ETIMEDOUT;
			break;
		}
		if (poll(&p, 1, lrpc__timeout_poll_ms(left)) < 0 &&
		    errno != EINTR)
			r = -errno;
	}
	if (r < 0) {
		lrpc_client_unref(c);
		return r;
	}
	*ret = c;
	return 0;
}

LRPC_EXPORT int
lrpc_client_new_async(lrpc_client **ret, const char *name,
		      const lrpc_client_opts *opts, lrpc_client_connect_fn cb,
		      void *userdata)
{
	lrpc_client *c;
	int r;

	lrpc_return_if_fail(cb, -EINVAL);
	r = lrpc__client_alloc(&c, name, opts);
	if (r < 0)
		return r;
	r = client_start(c, name, false);
	if (r < 0) {
		lrpc_client_unref(c);
		return r;
	}
	c->connect_cb = cb;
	c->connect_data = userdata;
	*ret = c;
	return 0;
}
