/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>
#include <sys/socket.h>

#include "ipc-handshake.h"
#include "util.h"

int
lrpc__hello_check(const lrpc__hello *h)
{
	if (h->magic != LRPC__HELLO_MAGIC)
		return -EPROTO;
	if (h->version != LRPC_PROTOCOL_VERSION)
		return -EPROTONOSUPPORT;
	if (h->transport >= _LRPC_TRANSPORT_MAX)
		return -EPROTONOSUPPORT;
	if (h->flags != 0)
		return -EPROTO;
	return 0;
}

int
lrpc__welcome_send(int fd, const lrpc__welcome *w, const lrpc__fdset *fds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * LRPC__MAX_FDS)];
	} cm;
	struct iovec iov = { .iov_base = (void *)w, .iov_len = sizeof(*w) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (fds && fds->n > 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * fds->n);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * fds->n);
		memcpy(CMSG_DATA(c), fds->fds, sizeof(int) * fds->n);
	}
	do
		n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EPIPE ? -ECONNRESET : -errno;
	/* 32 bytes into a fresh socket's empty buffer cannot be short; if it
	 * ever is, the connection is unusable. */
	if ((size_t)n != sizeof(*w))
		return -EPROTO;
	return 0;
}

/* Collect SCM_RIGHTS fds; anything unexpected closes them all. */
static int
welcome_take_fds(struct msghdr *mh, lrpc__fdset *fds)
{
	int r = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			r = -EPROTO;
			continue;
		}
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		const uint8_t *p = CMSG_DATA(c);
		for (size_t i = 0; i < n; i++) {
			int f;
			memcpy(&f, p + i * sizeof(int), sizeof(int));
			if (fds->n < LRPC__MAX_FDS)
				fds->fds[fds->n++] = f;
			else {
				lrpc__safe_close(f);
				r = -EPROTO;
			}
		}
	}
	if (mh->msg_flags & MSG_CTRUNC)
		r = -EPROTO;
	return r;
}

int
lrpc__welcome_recv(int fd, lrpc__welcome *buf, size_t *got, lrpc__fdset *fds)
{
	union {
		struct cmsghdr align;
		/* Room for more than we accept, so that excess is seen as
		 * such (and closed) instead of silently truncated. */
		char buf[CMSG_SPACE(sizeof(int) * (LRPC__MAX_FDS + 4))];
	} cm;
	struct iovec iov = { .iov_base = (uint8_t *)buf + *got,
			     .iov_len = sizeof(*buf) - *got };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cm.buf,
			     .msg_controllen = sizeof(cm.buf) };
	ssize_t n;
	int r;

	do
		n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN)
			return 0;
		r = -errno;
		lrpc__fdset_close(fds);
		return r;
	}
	r = welcome_take_fds(&mh, fds);
	if (r < 0) {
		lrpc__fdset_close(fds);
		return r;
	}
	if (n == 0) {
		lrpc__fdset_close(fds);
		return -ECONNRESET;
	}
	*got += (size_t)n;
	return *got == sizeof(*buf) ? 1 : 0;
}

int
lrpc__welcome_check(const lrpc__welcome *w, lrpc_transport asked,
		    const lrpc__fdset *fds)
{
	if (w->magic != LRPC__WELCOME_MAGIC ||
	    w->version != LRPC_PROTOCOL_VERSION)
		return -EPROTO;
	if (w->status < 0) {
		/* Pass the server's verdict on, but only as a real errno. */
		if (w->status < -4095 || fds->n != 0)
			return -EPROTO;
		return w->status;
	}
	if (w->status != 0)
		return -EPROTO;
	if (w->transport == LRPC_TRANSPORT_BEST ||
	    w->transport >= _LRPC_TRANSPORT_MAX ||
	    (asked != LRPC_TRANSPORT_BEST && w->transport != asked))
		return -EPROTO;
	if (w->max_msg_size < LRPC__MIN_MSG_SIZE ||
	    w->max_msg_size > LRPC_MAX_MSG_SIZE_LIMIT)
		return -EPROTO;
	if (w->n_fds != fds->n)
		return -EPROTO;
	return 0;
}

uint64_t
lrpc__hello_accept_caps(const lrpc__hello *h, uint32_t per_msg,
			unsigned *ret_fds)
{
	uint64_t caps = 0;
	unsigned theirs = (unsigned)(h->reserved[1] & LRPC__HELLO_FDS_MASK);
	unsigned n = LRPC_MIN(theirs, lrpc__fd_offer(per_msg));

	*ret_fds = 0;
	if ((h->reserved[0] & LRPC__CAP_FDS) && n > 0) {
		caps |= LRPC__CAP_FDS;
		*ret_fds = LRPC_MIN(n, LRPC_MAX_FDS_PER_MSG);
	}
	if (h->reserved[0] & LRPC__CAP_RECORDS)
		caps |= LRPC__CAP_RECORDS;
	return caps;
}

int
lrpc__welcome_caps(const lrpc__welcome *w, uint64_t offered,
		   uint32_t per_msg, unsigned *ret_fds)
{
	*ret_fds = 0;
	if (w->reserved & ~offered)
		return -EPROTO;
	if (w->reserved & LRPC__CAP_FDS) {
		unsigned n = LRPC_MIN(w->flags, lrpc__fd_offer(per_msg));
		if (n == 0)
			return -EPROTO;
		*ret_fds = n;
	}
	return 0;
}
