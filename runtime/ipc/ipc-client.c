/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The client: connect and handshake, blocking calls with timeouts, events,
 * and the fd + dispatch pair for living in any loop. */
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <lrpc/client.h>

#include "ipc-handshake.h"
#include "ipc-naming.h"
#include "transport/transport.h"
#include "util.h"

typedef enum client_state {
	CLIENT_CONNECTING,
	CLIENT_CONNECTED,
	CLIENT_DISCONNECTED,
} client_state;

struct lrpc_client {
	unsigned n_ref;
	pid_t origin_pid;
	client_state state;
	int fd;
	int epfd;
	int epfd_event_fd; /* event fd already added to epfd, or -1 */
	uint32_t epfd_main_events;
	lrpc_client_opts opts;
	const lrpc__transport_ops *tops;
	lrpc__tconn *t;
	uint32_t max_msg;
	lrpc_peer server;
	uint64_t next_seq;
	void *userdata;

	lrpc_client_connect_fn connect_cb;
	void *connect_data;
	uint64_t connect_deadline;
	lrpc__welcome welcome;
	size_t welcome_got;
	lrpc__fdset fds;

	lrpc_client_msg_fn event_fn;
	void *event_data;
	lrpc_client_msg_fn response_fn;
	void *response_data;

	uint32_t spin_usec;
	uint32_t spin_extra; /* for the call in progress, by its size */
	bool sent_since_recv; /* a request went out since the last response */
	unsigned armed;      /* channels announced as sleeping (1 << chan) */
	bool viewing[LRPC__N_CHAN]; /* a *_view() message not released yet */
	bool reserved;       /* lrpc_client_reserve() not committed yet */
	size_t reserved_size;
	void *reserved_buf;
};

#define CLIENT_CHECK(c)                                                     \
	do {                                                                \
		lrpc_return_if_fail(c, -EINVAL);                            \
		lrpc_return_if_fail((c)->origin_pid == lrpc__getpid(), -ECHILD);  \
	} while (0)

static void
client_close_fds(lrpc_client *c)
{
	if (c->t) {
		c->tops->t_free(c->t);
		c->t = NULL;
	}
	lrpc__fdset_close(&c->fds);
	c->fd = lrpc__safe_close(c->fd);
	c->epfd = lrpc__safe_close(c->epfd);
	c->epfd_event_fd = -1;
}

LRPC_EXPORT void
lrpc_client_disconnect(lrpc_client *c)
{
	if (!c || c->origin_pid != lrpc__getpid())
		return;
	client_close_fds(c);
	c->state = CLIENT_DISCONNECTED;
}

static void
client_free(lrpc_client *c)
{
	/* A forked child must not close fds it shares with its parent's
	 * connection in a way that shuts the parent's down; closing our
	 * copies is harmless (no shutdown() is ever called). */
	client_close_fds(c);
	free(c);
}

LRPC_EXPORT lrpc_client *
lrpc_client_ref(lrpc_client *c)
{
	if (!c)
		return NULL;
	assert(c->n_ref > 0);
	c->n_ref++;
	return c;
}

LRPC_EXPORT lrpc_client *
lrpc_client_unref(lrpc_client *c)
{
	if (!c)
		return NULL;
	assert(c->n_ref > 0);
	if (--c->n_ref == 0)
		client_free(c);
	return NULL;
}

/* A fatal error on the connection: everything after it is -ENOTCONN. */
static int
client_broken(lrpc_client *c, int r)
{
	if (r != -ECONNRESET)
		lrpc__log_debug("lrpc client: connection broken: %d", r);
	lrpc_client_disconnect(c);
	return -ENOTCONN;
}

static int
client_opts_init(lrpc_client *c, const lrpc_client_opts *opts)
{
	if (opts) {
		if (opts->struct_size < sizeof(*opts))
			return -EINVAL;
		c->opts = *opts;
	}
	c->opts.struct_size = sizeof(c->opts);
	if (c->opts.transport >= _LRPC_TRANSPORT_MAX)
		return -EINVAL;
	if (c->opts.max_msg_size == 0)
		c->opts.max_msg_size = LRPC_DEFAULT_MAX_MSG_SIZE;
	if (c->opts.max_msg_size > LRPC_MAX_MSG_SIZE_LIMIT)
		return -EINVAL;
	if (c->opts.connect_timeout_ms == 0)
		c->opts.connect_timeout_ms = 5000;
	if (c->opts.send_timeout_ms == 0)
		c->opts.send_timeout_ms = 5000;
	return 0;
}

/*
 * Connect, check who we reached, say hello.  Nothing is sent before the
 * server's credentials passed the check.
 */
static int
client_start(lrpc_client *c, const char *name)
{
	lrpc__hello h = { .magic = LRPC__HELLO_MAGIC,
			  .version = LRPC_PROTOCOL_VERSION };
	struct ucred uc;
	socklen_t len = sizeof(uc);
	ssize_t n;
	int r;

	for (;;) {
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
	c->tops = lrpc__transport_get(c->opts.transport);
	if (!c->tops)
		return -EPROTONOSUPPORT;
	h.transport = (uint16_t)c->opts.transport;
	h.max_msg_size = c->opts.max_msg_size;
	do
		n = send(c->fd, &h, sizeof(h), MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EPIPE ? -ECONNRESET : -errno;
	if ((size_t)n != sizeof(h))
		return -EPROTO;
	return 0;
}

/* Progress the handshake: 1 done, 0 not yet, <0 failed. */
static int
client_handshake_step(lrpc_client *c)
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
	/* The server names the transport; we must have it too. */
	c->tops = lrpc__transport_get((lrpc_transport)c->welcome.transport);
	if (!c->tops) {
		lrpc__fdset_close(&c->fds);
		return -EPROTONOSUPPORT;
	}
	c->max_msg = c->welcome.max_msg_size;
	r = c->tops->c_new(&c->t, c->fd, c->max_msg, &c->fds);
	if (r < 0)
		return r == -ENOMEM ? r : -EPROTO;
	c->state = CLIENT_CONNECTED;
	return 1;
}

static int
client_alloc(lrpc_client **ret, const char *name, const lrpc_client_opts *opts)
{
	lrpc_client *c;
	int r;

	lrpc_return_if_fail(ret, -EINVAL);
	lrpc_return_if_fail(lrpc__name_validate(name) == 0, -EINVAL);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->n_ref = 1;
	c->origin_pid = lrpc__getpid();
	c->fd = c->epfd = c->epfd_event_fd = -1;
	c->state = CLIENT_CONNECTING;
	c->spin_usec = LRPC__DEFAULT_SPIN_USEC;
	r = client_opts_init(c, opts);
	if (r < 0) {
		free(c);
		return r;
	}
	c->connect_deadline = lrpc__deadline_from_ms(c->opts.connect_timeout_ms);
	*ret = c;
	return 0;
}

LRPC_EXPORT int
lrpc_client_connect(lrpc_client **ret, const char *name,
		    const lrpc_client_opts *opts)
{
	lrpc_client *c;
	int r;

	r = client_alloc(&c, name, opts);
	if (r < 0)
		return r;
	r = client_start(c, name);
	while (r == 0) {
		r = client_handshake_step(c);
		if (r != 0)
			break;
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int ms = lrpc__deadline_poll_ms(c->connect_deadline);
		if (ms == 0) {
			r = -ETIMEDOUT;
			break;
		}
		if (poll(&p, 1, ms) < 0 && errno != EINTR)
			r = -errno;
	}
	if (r < 0) {
		client_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

LRPC_EXPORT int
lrpc_client_connect_async(lrpc_client **ret, const char *name,
			  const lrpc_client_opts *opts,
			  lrpc_client_connect_fn cb, void *userdata)
{
	lrpc_client *c;
	int r;

	lrpc_return_if_fail(cb, -EINVAL);
	r = client_alloc(&c, name, opts);
	if (r < 0)
		return r;
	r = client_start(c, name);
	if (r < 0) {
		client_free(c);
		return r;
	}
	c->connect_cb = cb;
	c->connect_data = userdata;
	*ret = c;
	return 0;
}

/* Keep the client's epoll set in line with what dispatch needs. */
static void
client_update_epfd(lrpc_client *c)
{
	struct epoll_event ev = { 0 };

	if (c->epfd < 0 || c->fd < 0)
		return;
	if (c->t) {
		uint32_t pev;
		int efd = c->tops->t_wait_fd(c->t, LRPC__CHAN_EVENT, false,
					     &pev);
		if (efd >= 0 && efd != c->fd && c->epfd_event_fd != efd) {
			ev.events = EPOLLIN;
			ev.data.fd = efd;
			if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, efd, &ev) == 0)
				c->epfd_event_fd = efd;
		}
	}
	uint32_t want = EPOLLIN;
	if (c->t && c->tops->t_pending(c->t, LRPC__CHAN_REQUEST))
		want |= EPOLLOUT;
	if (want != c->epfd_main_events) {
		ev.events = want;
		ev.data.fd = c->fd;
		if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
			c->epfd_main_events = want;
	}
}

/*
 * Re-announce the channels dispatch serves after a blocking wait used (and
 * withdrew) the shared wake-up; if something arrived meanwhile, make the fd
 * readable so the caller's loop calls dispatch.
 */
static int client_arm_dispatch(lrpc_client *c);

static void
client_rearm(lrpc_client *c)
{
	if (c->tops && c->tops->spin && client_arm_dispatch(c) > 0)
		c->tops->t_kick(c->t);
}
static void
client_disarm(lrpc_client *c)
{
	for (int ch = 0; ch < LRPC__N_CHAN; ch++)
		if (c->armed & (1u << ch))
			c->tops->t_disarm(c->t, (lrpc__chan)ch,
					  ch == LRPC__CHAN_REQUEST);
	c->armed = 0;
}

/*
 * A client living in a poll loop is asleep whenever control is back in
 * that loop: announce it for the channels dispatch serves.  Returns true if
 * a message arrived meanwhile (dispatch again instead of sleeping).
 */
static int
client_arm_dispatch(lrpc_client *c)
{
	bool ready = false;

	if (c->epfd < 0 || c->state != CLIENT_CONNECTED)
		return 0;
	for (int ch = LRPC__CHAN_RESPONSE; ch < LRPC__N_CHAN; ch++) {
		if (!(ch == LRPC__CHAN_EVENT ? c->event_fn : c->response_fn))
			continue;
		int r = c->tops->t_arm(c->t, (lrpc__chan)ch, false);
		if (r < 0)
			return r;
		c->armed |= 1u << ch;
		ready |= r > 0;
	}
	return ready;
}

LRPC_EXPORT int
lrpc_client_get_fd(lrpc_client *c)
{
	struct epoll_event ev = { .events = EPOLLIN };

	CLIENT_CHECK(c);
	if (c->state == CLIENT_DISCONNECTED || c->fd < 0)
		return -ENOTCONN;
	if (c->epfd >= 0)
		return c->epfd;
	/* Two fds (responses and events) become one for the caller's loop;
	 * only clients that ask pay for the epoll instance. */
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (c->epfd < 0)
		return -errno;
	ev.data.fd = c->fd;
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		int r = -errno;
		c->epfd = lrpc__safe_close(c->epfd);
		return r;
	}
	c->epfd_main_events = EPOLLIN;
	client_update_epfd(c);
	client_rearm(c);
	return c->epfd;
}

LRPC_EXPORT int
lrpc_client_get_events(lrpc_client *c)
{
	CLIENT_CHECK(c);
	return LRPC_POLL_IN;
}

LRPC_EXPORT int
lrpc_client_get_timeout(lrpc_client *c, uint64_t *ret_usec)
{
	CLIENT_CHECK(c);
	lrpc_return_if_fail(ret_usec, -EINVAL);
	if (c->state != CLIENT_CONNECTING ||
	    c->connect_deadline == UINT64_MAX) {
		*ret_usec = UINT64_MAX;
		return 0;
	}
	uint64_t now = lrpc__now_usec();
	*ret_usec = now >= c->connect_deadline ? 0 : c->connect_deadline - now;
	return 0;
}

static bool
client_main_hung_up(lrpc_client *c)
{
	struct pollfd p = { .fd = c->fd, .events = 0 };

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR));
}

/* Hand complete messages of @chan to @fn; returns the count or <0. */
static int
client_deliver(lrpc_client *c, lrpc__chan chan, lrpc_client_msg_fn fn,
	       void *data)
{
	const lrpc_msg_header *msg;
	size_t size;
	bool fill = true;
	int n = 0, r;

	while (c->state == CLIENT_CONNECTED) {
		r = c->tops->t_recv(c->t, chan, fill, &msg, &size);
		if (r == 0)
			break;
		if (r < 0)
			return client_broken(c, r);
		fill = false;
		lrpc_client_ref(c);
		fn(c, msg, size, data);
		if (c->t)
			c->tops->t_release(c->t, chan);
		lrpc_client_unref(c);
		n++;
	}
	return n;
}

LRPC_EXPORT int
lrpc_client_dispatch(lrpc_client *c)
{
	int r, n = 0;

	CLIENT_CHECK(c);
	if (c->state == CLIENT_CONNECTING) {
		r = client_handshake_step(c);
		if (r == 0 && lrpc__now_usec() >= c->connect_deadline)
			r = -ETIMEDOUT;
		if (r == 0)
			return 0;
		if (r < 0) {
			lrpc_client_disconnect(c);
		} else {
			client_update_epfd(c);
			client_rearm(c);
			r = 0;
		}
		lrpc_client_connect_fn cb = c->connect_cb;
		c->connect_cb = NULL;
		lrpc_client_ref(c);
		if (cb)
			cb(c, r, c->connect_data);
		lrpc_client_unref(c);
		return 1;
	}
	if (c->state != CLIENT_CONNECTED)
		return -ENOTCONN;

	if (c->tops->t_pending(c->t, LRPC__CHAN_REQUEST)) {
		r = c->tops->t_flush(c->t, LRPC__CHAN_REQUEST);
		if (r < 0 && r != -EAGAIN)
			return client_broken(c, r);
	}
	for (int round = 0;; round++) {
		client_disarm(c);
		if (c->event_fn && !c->viewing[LRPC__CHAN_EVENT]) {
			r = client_deliver(c, LRPC__CHAN_EVENT, c->event_fn,
					   c->event_data);
			if (r < 0)
				return r;
			n += r;
		}
		if (c->response_fn && c->state == CLIENT_CONNECTED &&
		    !c->viewing[LRPC__CHAN_RESPONSE]) {
			r = client_deliver(c, LRPC__CHAN_RESPONSE,
					   c->response_fn, c->response_data);
			if (r < 0)
				return r;
			n += r;
		}
		if (c->state != CLIENT_CONNECTED)
			return -ENOTCONN;
		r = client_arm_dispatch(c);
		if (r < 0)
			return client_broken(c, r);
		if (r == 0)
			break;
		if (round == 16) {
			/* A steady stream: come back through the loop so
			 * that the caller's other sources get their turn. */
			c->tops->t_kick(c->t);
			break;
		}
	}
	/* Woken with nothing to deliver: the server may be gone (with shm
	 * nothing is ever read from the socket that would tell us). */
	if (n == 0 && client_main_hung_up(c))
		return client_broken(c, -ECONNRESET);
	client_update_epfd(c);
	return n;
}

LRPC_EXPORT void
lrpc_client_set_event_handler(lrpc_client *c, lrpc_client_msg_fn fn,
			      void *userdata)
{
	if (!c)
		return;
	c->event_fn = fn;
	c->event_data = userdata;
	client_rearm(c);
}

LRPC_EXPORT void
lrpc_client_set_response_handler(lrpc_client *c, lrpc_client_msg_fn fn,
				 void *userdata)
{
	if (!c)
		return;
	c->response_fn = fn;
	c->response_data = userdata;
	client_rearm(c);
}

/* Spin up to the client's budget for @chan to become ready. */
static bool
client_spin(lrpc_client *c, lrpc__chan chan, bool out, uint64_t deadline)
{
	uint64_t end;

	if (!c->tops->spin || c->spin_usec == 0 || !c->tops->t_spin_ok(c->t))
		return false;
	/* A large request takes the server longer to copy and answer: wait
	 * for it a little longer rather than sleep and be woken. */
	end = lrpc__now_usec() + c->spin_usec + c->spin_extra;
	if (end > deadline)
		end = deadline;
	return lrpc__transport_spin(c->tops, c->t, chan, out, end);
}

/*
 * Wait until @chan may have data (or, with @out, the request channel has
 * room), the main socket hangs up, or the deadline passes: spin first,
 * then announce we sleep and poll.  Pending request data is pushed out
 * meanwhile.
 */
static int
client_wait(lrpc_client *c, lrpc__chan chan, bool out, uint64_t deadline)
{
	struct pollfd p[2];
	uint32_t ev;
	int n = 0, fd, r;

	if (client_spin(c, chan, out, deadline))
		return 0;
	r = c->tops->t_arm(c->t, chan, out);
	if (r != 0)
		return r > 0 ? 0 : r;
	fd = c->tops->t_wait_fd(c->t, chan, out, &ev);
	bool pending = c->tops->t_pending(c->t, LRPC__CHAN_REQUEST);
	if (fd < 0)
		fd = c->fd;
	p[n++] = (struct pollfd){ .fd = fd, .events = (short)ev };
	if (fd == c->fd) {
		if (pending)
			p[0].events |= POLLOUT;
	} else {
		/* Watch the main socket only for hang-up (and room for our
		 * pending data): its responses are not what we wait for. */
		p[n++] = (struct pollfd){ .fd = c->fd,
					  .events = pending ? POLLOUT : 0 };
	}
	int ms = lrpc__deadline_poll_ms(deadline);
	r = ms == 0 ? 0 : poll(p, (nfds_t)n, ms);
	c->tops->t_disarm(c->t, chan, out);
	/* The wake-up fd is shared by all channels: dispatch's announcement
	 * may just have been withdrawn, or its wake-up consumed, here. */
	client_rearm(c);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (r == 0)
		return lrpc__deadline_poll_ms(deadline) == 0 ? -ETIMEDOUT : 0;
	if (n == 2 && (p[1].revents & (POLLHUP | POLLERR)) &&
	    !(p[0].revents & POLLIN))
		return -ECONNRESET;
	if (pending) {
		r = c->tops->t_flush(c->t, LRPC__CHAN_REQUEST);
		if (r < 0 && r != -EAGAIN)
			return r;
	}
	return 0;
}

static int
client_ctl_check(lrpc_client *c)
{
	const lrpc__ctl *ctl = c->tops->t_ctl(c->t);

	if (ctl) {
		/* One read of memory the server controls; any bit we do not
		 * know also means stop. */
		uint32_t flags = atomic_load_explicit(
			&((lrpc__ctl *)ctl)->flags, memory_order_acquire);
		if (flags != 0)
			return -EAGAIN;
	}
	return 0;
}

static int
client_check_ready(lrpc_client *c)
{
	CLIENT_CHECK(c);
	if (c->state != CLIENT_CONNECTED)
		return -ENOTCONN;
	return 0;
}

static int
client_send(lrpc_client *c, const struct iovec *iov, size_t n_iov,
	    uint64_t deadline, uint64_t *ret_seq)
{
	struct iovec out[LRPC_IOV_MAX + 2];
	lrpc_msg_header hdr;
	size_t size;
	int n_out, r;

	n_out = lrpc__iov_prepare(iov, n_iov, &hdr, out, &size);
	if (n_out < 0)
		return n_out;
	if (size > c->max_msg)
		return -EMSGSIZE;
	r = client_ctl_check(c);
	if (r < 0)
		return r;
	hdr.flags = LRPC__MSG_REQUEST;
	hdr.error = 0;
	hdr.seq = ++c->next_seq;
	for (;;) {
		r = c->tops->t_send(c->t, LRPC__CHAN_REQUEST, out,
				    (size_t)n_out, size);
		if (r != -EAGAIN)
			break;
		r = client_wait(c, LRPC__CHAN_REQUEST, true, deadline);
		if (r == -ETIMEDOUT)
			return -EAGAIN;
		if (r < 0)
			break;
	}
	if (r < 0)
		return client_broken(c, r);
	client_update_epfd(c);
	c->sent_since_recv = true;
	if (ret_seq)
		*ret_seq = hdr.seq;
	return 0;
}

LRPC_EXPORT int
lrpc_client_sendv(lrpc_client *c, const struct iovec *iov, size_t n_iov)
{
	int r = client_check_ready(c);

	if (r < 0)
		return r;
	return client_send(c, iov, n_iov,
			   lrpc__deadline_from_ms(c->opts.send_timeout_ms),
			   NULL);
}

LRPC_EXPORT int
lrpc_client_send(lrpc_client *c, const void *data, size_t size)
{
	struct iovec iov = { .iov_base = (void *)data, .iov_len = size };

	lrpc_return_if_fail(data, -EINVAL);
	return lrpc_client_sendv(c, &iov, 1);
}

/*
 * Receive on @chan.  With @min_seq, responses to requests older than it
 * (left over from calls that timed out) are dropped.
 */
static int
client_recv(lrpc_client *c, lrpc__chan chan, void *buf, size_t cap,
	    uint64_t deadline, bool poll_only, uint64_t min_seq)
{
	const lrpc_msg_header *msg;
	size_t size;
	int r;

	/* Right after sending a request its answer cannot be in a socket
	 * yet: poll before reading instead of paying for a read that finds
	 * nothing. */
	bool fill = !(chan == LRPC__CHAN_RESPONSE && c->sent_since_recv &&
		      !c->tops->spin);

	if (c->viewing[chan])
		return -EBUSY;
	for (;; fill = true) {
		r = c->tops->t_recv(c->t, chan, fill, &msg, &size);
		if (r < 0)
			return client_broken(c, r);
		if (r > 0) {
			if (min_seq && msg->seq != 0 && msg->seq < min_seq) {
				c->tops->t_release(c->t, chan);
				continue;
			}
			if (size > cap)
				return -EMSGSIZE;
			memcpy(buf, msg, size);
			c->tops->t_release(c->t, chan);
			if (chan == LRPC__CHAN_RESPONSE)
				c->sent_since_recv = false;
			return (int)size;
		}
		r = client_wait(c, chan, false, deadline);
		if (r == -ETIMEDOUT)
			return poll_only ? -EAGAIN : -ETIMEDOUT;
		if (r < 0)
			return client_broken(c, r);
	}
}

LRPC_EXPORT int
lrpc_client_recv(lrpc_client *c, void *buf, size_t cap, int timeout_ms)
{
	int r = client_check_ready(c);

	if (r < 0)
		return r;
	lrpc_return_if_fail(buf || cap == 0, -EINVAL);
	return client_recv(c, LRPC__CHAN_RESPONSE, buf, cap,
			   lrpc__deadline_from_ms(timeout_ms), timeout_ms == 0,
			   0);
}

LRPC_EXPORT int
lrpc_client_recv_event(lrpc_client *c, void *buf, size_t cap, int timeout_ms)
{
	int r = client_check_ready(c);

	if (r < 0)
		return r;
	lrpc_return_if_fail(buf || cap == 0, -EINVAL);
	return client_recv(c, LRPC__CHAN_EVENT, buf, cap,
			   lrpc__deadline_from_ms(timeout_ms), timeout_ms == 0,
			   0);
}

LRPC_EXPORT int
lrpc_client_sendv_recv(lrpc_client *c, const struct iovec *iov, size_t n_iov,
		       void *buf, size_t cap, int timeout_ms)
{
	uint64_t deadline, seq = 0;
	int r = client_check_ready(c);

	if (r < 0)
		return r;
	lrpc_return_if_fail(buf || cap == 0, -EINVAL);
	deadline = lrpc__deadline_from_ms(timeout_ms);
	r = client_send(c, iov, n_iov, deadline, &seq);
	if (r < 0)
		return r;
	c->spin_extra = lrpc__spin_extra_usec(lrpc__iov_length(iov, n_iov));
	r = client_recv(c, LRPC__CHAN_RESPONSE, buf, cap, deadline, false,
			seq);
	c->spin_extra = 0;
	return r;
}

LRPC_EXPORT int
lrpc_client_call(lrpc_client *c, const void *req, size_t size, void *buf,
		 size_t cap, int timeout_ms)
{
	struct iovec iov = { .iov_base = (void *)req, .iov_len = size };

	lrpc_return_if_fail(req, -EINVAL);
	return lrpc_client_sendv_recv(c, &iov, 1, buf, cap, timeout_ms);
}

LRPC_EXPORT int
lrpc_client_set_spin(lrpc_client *c, uint32_t usec)
{
	CLIENT_CHECK(c);
	lrpc_return_if_fail(usec <= 1000000, -EINVAL);
	c->spin_usec = usec;
	return 0;
}

LRPC_EXPORT int
lrpc_client_reserve(lrpc_client *c, size_t size, void **ret_buf)
{
	uint64_t deadline;
	int r = client_check_ready(c);

	if (r < 0)
		return r;
	lrpc_return_if_fail(ret_buf && size >= sizeof(lrpc_msg_header),
			    -EINVAL);
	if (c->reserved)
		return -EBUSY;
	if (size > c->max_msg)
		return -EMSGSIZE;
	r = client_ctl_check(c);
	if (r < 0)
		return r;
	deadline = lrpc__deadline_from_ms(c->opts.send_timeout_ms);
	for (;;) {
		r = c->tops->t_reserve(c->t, LRPC__CHAN_REQUEST, size,
				       ret_buf);
		if (r != -EAGAIN)
			break;
		r = client_wait(c, LRPC__CHAN_REQUEST, true, deadline);
		if (r == -ETIMEDOUT)
			return -EAGAIN;
		if (r < 0)
			return client_broken(c, r);
	}
	if (r < 0)
		return r == -EMSGSIZE ? r : client_broken(c, r);
	c->reserved = true;
	c->reserved_size = size;
	c->reserved_buf = *ret_buf;
	return 0;
}

LRPC_EXPORT int
lrpc_client_commit(lrpc_client *c, size_t size)
{
	lrpc_msg_header *h;
	int r;

	CLIENT_CHECK(c);
	if (!c->reserved || size > c->reserved_size ||
	    size < sizeof(lrpc_msg_header))
		return -EINVAL;
	c->reserved = false;
	if (c->state != CLIENT_CONNECTED)
		return -ENOTCONN;
	h = c->reserved_buf;
	h->size = (uint32_t)size;
	h->error = 0;
	h->flags = LRPC__MSG_REQUEST;
	h->seq = ++c->next_seq;
	r = c->tops->t_commit(c->t, LRPC__CHAN_REQUEST, size);
	if (r < 0)
		return client_broken(c, r);
	client_update_epfd(c);
	c->sent_since_recv = true;
	return 0;
}

LRPC_EXPORT void
lrpc_client_abort(lrpc_client *c)
{
	if (!c || c->origin_pid != lrpc__getpid() || !c->reserved)
		return;
	c->reserved = false;
	if (c->t)
		c->tops->t_cancel(c->t, LRPC__CHAN_REQUEST);
}

static int
client_recv_view(lrpc_client *c, lrpc__chan chan,
		 const lrpc_msg_header **ret_msg, size_t *ret_size,
		 int timeout_ms)
{
	uint64_t deadline = lrpc__deadline_from_ms(timeout_ms);
	const lrpc_msg_header *msg;
	size_t size;
	int r = client_check_ready(c);

	if (r < 0)
		return r;
	lrpc_return_if_fail(ret_msg && ret_size, -EINVAL);
	if (c->viewing[chan])
		return -EBUSY;
	for (;;) {
		r = c->tops->t_recv(c->t, chan, true, &msg, &size);
		if (r < 0)
			return client_broken(c, r);
		if (r > 0)
			break;
		r = client_wait(c, chan, false, deadline);
		if (r == -ETIMEDOUT)
			return timeout_ms == 0 ? -EAGAIN : -ETIMEDOUT;
		if (r < 0)
			return client_broken(c, r);
	}
	c->viewing[chan] = true;
	*ret_msg = msg;
	*ret_size = size;
	return (int)size;
}

LRPC_EXPORT int
lrpc_client_recv_view(lrpc_client *c, const lrpc_msg_header **ret_msg,
		      size_t *ret_size, int timeout_ms)
{
	return client_recv_view(c, LRPC__CHAN_RESPONSE, ret_msg, ret_size,
				timeout_ms);
}

LRPC_EXPORT int
lrpc_client_recv_event_view(lrpc_client *c, const lrpc_msg_header **ret_msg,
			    size_t *ret_size, int timeout_ms)
{
	return client_recv_view(c, LRPC__CHAN_EVENT, ret_msg, ret_size,
				timeout_ms);
}

LRPC_EXPORT int
lrpc_client_release(lrpc_client *c, const lrpc_msg_header *msg)
{
	const lrpc_msg_header *cur;
	size_t size;

	CLIENT_CHECK(c);
	lrpc_return_if_fail(msg, -EINVAL);
	for (int ch = LRPC__CHAN_RESPONSE; ch < LRPC__N_CHAN; ch++) {
		if (!c->viewing[ch] || !c->t)
			continue;
		/* The view is the message t_recv keeps returning until it
		 * is released: compare to find the channel. */
		if (c->tops->t_recv(c->t, (lrpc__chan)ch, false, &cur,
				    &size) == 1 &&
		    cur == msg) {
			c->viewing[ch] = false;
			c->tops->t_release(c->t, (lrpc__chan)ch);
			return 0;
		}
	}
	return -EINVAL;
}

LRPC_EXPORT void *
lrpc_client_get_userdata(lrpc_client *c)
{
	return c ? c->userdata : NULL;
}

LRPC_EXPORT void
lrpc_client_set_userdata(lrpc_client *c, void *userdata)
{
	if (c)
		c->userdata = userdata;
}

LRPC_EXPORT bool
lrpc_client_is_connected(lrpc_client *c)
{
	if (!c || c->origin_pid != lrpc__getpid() || c->state != CLIENT_CONNECTED)
		return false;
	if (client_main_hung_up(c)) {
		client_broken(c, -ECONNRESET);
		return false;
	}
	return true;
}

LRPC_EXPORT uint32_t
lrpc_client_get_max_msg_size(lrpc_client *c)
{
	return c && c->state == CLIENT_CONNECTED ? c->max_msg : 0;
}

LRPC_EXPORT lrpc_transport
lrpc_client_get_transport(lrpc_client *c)
{
	return c && c->tops && c->state == CLIENT_CONNECTED ? c->tops->type
							   : LRPC_TRANSPORT_BEST;
}

LRPC_EXPORT int
lrpc_client_get_server(lrpc_client *c, lrpc_peer *ret)
{
	CLIENT_CHECK(c);
	lrpc_return_if_fail(ret, -EINVAL);
	if (c->server.pid == 0)
		return -ENOTCONN;
	*ret = c->server;
	return 0;
}
