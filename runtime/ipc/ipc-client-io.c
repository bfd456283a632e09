/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The client's sends and receives, and the waiting between them. */
#include <poll.h>
#include <string.h>

#include "ipc-client-internal.h"

/*
 * Spins in a row that found nothing before a channel stops spinning.  A
 * client waiting for events that come seldom, or for a server that takes
 * long to answer, would otherwise burn its whole budget before every
 * sleep -- with many clients on few CPUs, time taken from the server
 * that is to send what they wait for.
 */
#define SPIN_MISSES_MAX 2

/* Spin up to the client's budget for @chan to become ready. */
static bool
client_spin(lrpc_client *c, lrpc__chan chan, bool out, uint64_t deadline)
{
	uint64_t end;

	if (!lrpc__spin_worth(c->tr, c->t, c->spin_usec))
		return false;
	if (c->spin_misses[chan] >= SPIN_MISSES_MAX) {
		/* Where a spin would have started: the wait is judged from
		 * here (a wake-up soon after a late poll proves nothing). */
		c->spin_skipped = lrpc__now_usec();
		return false;
	}
	/* A large request takes the server longer to copy and answer: wait
	 * for it a little longer rather than sleep and be woken. */
	end = lrpc__now_usec() + c->spin_usec + c->spin_extra;
	if (end > deadline)
		end = deadline;
	if (lrpc__spin(c->tops, c->t, chan, out, end)) {
		c->spin_misses[chan] = 0;
		return true;
	}
	if (end < deadline)
		c->spin_misses[chan]++;
	return false;
}

/*
 * Spin first, then announce we sleep and poll.  Pending request data is
 * pushed out meanwhile.
 */
int
lrpc__client_wait(lrpc_client *c, lrpc__chan chan, bool out,
		  uint64_t deadline)
{
	struct pollfd p[3];
	uint32_t ev;
	int n = 0, fd, r, main_i = 0;

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
	if (fd != c->fd) {
		/* Watch the main socket only for hang-up: its data is not
		 * what we wait for. */
		main_i = n;
		p[n++] = (struct pollfd){ .fd = c->fd, .events = 0 };
	}
	if (pending) {
		/* And room for our pending request data, on whichever socket
		 * requests travel. */
		uint32_t rev;
		int rfd = c->tops->t_wait_fd(c->t, LRPC__CHAN_REQUEST, true,
					     &rev);
		int k = 0;

		if (rfd < 0)
			rfd = c->fd;
		while (k < n && p[k].fd != rfd)
			k++;
		if (k == n)
			p[n++] = (struct pollfd){ .fd = rfd };
		p[k].events |= POLLOUT;
	}
	int ms = lrpc__timeout_poll_ms(lrpc__deadline_left_usec(deadline));
	r = ms == 0 ? 0 : poll(p, (nfds_t)n, ms);
	/* What we waited for came within the budget: spinning would have
	 * caught it, so the channel spins again next time.  (A wake-up
	 * left over from earlier traffic proves nothing.) */
	if (r > 0 && c->spin_misses[chan] >= SPIN_MISSES_MAX &&
	    lrpc__now_usec() - c->spin_skipped <=
		    c->spin_usec + c->spin_extra &&
	    c->tops->t_ready(c->t, chan, out))
		c->spin_misses[chan] = 0;
	/* Taken before disarming: that reads the wake-up fd and may set
	 * errno (a signal must stay an EINTR, not become an error). */
	int err = r < 0 ? errno : 0;
	c->tops->t_disarm(c->t, chan, out);
	/* The wake-up fd is shared by all channels: process's announcement
	 * may just have been withdrawn, or its wake-up consumed, here. */
	lrpc__client_rearm(c);
	if (r < 0)
		return err == EINTR ? 0 : -err;
	if (r == 0)
		return lrpc__deadline_left_usec(deadline) == 0 ? -ETIMEDOUT
							       : 0;
	if (main_i > 0 && (p[main_i].revents & (POLLHUP | POLLERR)) &&
	    !(p[0].revents & POLLIN))
		return -ECONNRESET;
	if (pending) {
		r = c->tops->t_flush(c->t, LRPC__CHAN_REQUEST);
		if (r < 0 && r != -EAGAIN)
			return r;
	}
	return 0;
}

int
lrpc__client_ctl_check(lrpc_client *c)
{
	/* Any bit, even one we do not know, means stop. */
	return lrpc__ctl_check(&c->ctl);
}

static int
client_send(lrpc_client *c, const struct iovec *iov, size_t n_iov,
	    uint64_t deadline, uint64_t *ret_seq, const int *fds,
	    unsigned n_fds)
{
	struct iovec out[LRPC_IOV_MAX + 2];
	lrpc_msg_header hdr;
	size_t size;
	int n_out, r;

	r = lrpc__fds_check(c->fd_per_msg, fds, n_fds);
	if (r < 0)
		return r;
	n_out = lrpc__iov_prepare(iov, n_iov, &hdr, out, &size);
	if (n_out < 0)
		return n_out;
	if (size > c->max_msg)
		return -EMSGSIZE;
	r = lrpc__client_ctl_check(c);
	if (r < 0)
		return r;
	hdr.flags = LRPC__MSG_REQUEST | n_fds << LRPC__MSG_FDS_SHIFT;
	hdr.error = 0;
	hdr.seq = ++c->next_seq;
	for (;;) {
		r = n_fds ? c->tops->t_send_fds(c->t, LRPC__CHAN_REQUEST, out,
						(size_t)n_out, size, fds,
						n_fds)
			  : c->tops->t_send(c->t, LRPC__CHAN_REQUEST, out,
					    (size_t)n_out, size);
		if (r != -EAGAIN)
			break;
		r = lrpc__client_wait(c, LRPC__CHAN_REQUEST, true, deadline);
		if (r == -ETIMEDOUT)
			return -EAGAIN;
		if (r < 0)
			break;
	}
	if (r < 0)
		return lrpc__client_broken(c, r);
	lrpc__client_watch_update(c);
	c->sent_since_recv = true;
	lrpc__client_note_bytes(c, size);
	if (ret_seq)
		*ret_seq = hdr.seq;
	return 0;
}

LRPC_EXPORT int
lrpc_client_sendv_fds(lrpc_client *c, const struct iovec *iov, size_t n_iov,
		      const int *fds, unsigned n_fds)
{
	int r = lrpc__client_check_ready(c);

	if (r < 0)
		return r;
	return client_send(
		c, iov, n_iov,
		lrpc__deadline_from_usec(c->opts.send_timeout_usec, 0), NULL,
		fds, n_fds);
}

LRPC_EXPORT int
lrpc_client_sendv(lrpc_client *c, const struct iovec *iov, size_t n_iov)
{
	return lrpc_client_sendv_fds(c, iov, n_iov, NULL, 0);
}

/* The channel whose current message (a view, a callback's) is @msg. */
static int
client_fd_chan(lrpc_client *c, const lrpc_msg_header *msg)
{
	for (int ch = LRPC__CHAN_RESPONSE; ch < LRPC__N_CHAN; ch++)
		if (c->fd_msg[ch] == msg)
			return ch;
	return -ENOENT;
}

LRPC_EXPORT int
lrpc_client_get_n_fds(lrpc_client *c, const lrpc_msg_header *msg)
{
	int ch;

	CLIENT_CHECK(c);
	lrpc_return_if_fail(msg, -EINVAL);
	ch = client_fd_chan(c, msg);
	if (ch < 0 || !c->t)
		return -ENOENT;
	return (int)c->tops->t_msg_n_fds(c->t, (lrpc__chan)ch);
}

LRPC_EXPORT int
lrpc_client_take_fd(lrpc_client *c, const lrpc_msg_header *msg, unsigned i)
{
	int ch;

	CLIENT_CHECK(c);
	lrpc_return_if_fail(msg, -EINVAL);
	ch = client_fd_chan(c, msg);
	if (ch < 0 || !c->t)
		return -ENOENT;
	return c->tops->t_take_fd(c->t, (lrpc__chan)ch, i);
}

LRPC_EXPORT unsigned
lrpc_client_get_max_fds(lrpc_client *c)
{
	return c && c->state == CLIENT_CONNECTED ? c->fd_per_msg : 0;
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
	    uint64_t deadline, uint64_t timeout_usec, bool poll_only,
	    uint64_t min_seq, size_t *ret_size)
{
	const lrpc_msg_header *msg;
	size_t size;
	int r;

	/* Right after sending a request its answer cannot be in a socket
	 * yet: poll before reading instead of paying for a read that finds
	 * nothing. */
	bool fill = !(chan == LRPC__CHAN_RESPONSE && c->sent_since_recv &&
		      !(c->tr->caps & LRPC__TCAP_WAKEUPS));

	if (c->viewing[chan])
		return -EBUSY;
	for (;; fill = true) {
		/* A read straight into @buf where the transport can: the
		 * message is then copied by the kernel only. */
		if (fill && c->tops->t_recv_into)
			r = c->tops->t_recv_into(c->t, chan, buf, cap, &msg,
						 &size);
		else
			r = c->tops->t_recv(c->t, chan, fill, &msg, &size);
		if (r < 0)
			return lrpc__client_broken(c, r);
		if (r == 2) {
			msg = buf; /* already where it goes */
			if (min_seq && msg->seq != 0 && msg->seq < min_seq)
				continue;
		} else if (r > 0) {
			if (min_seq && msg->seq != 0 && msg->seq < min_seq) {
				c->tops->t_release(c->t, chan);
				continue;
			}
			if (size > cap)
				return -EMSGSIZE;
			memcpy(buf, msg, size);
			c->tops->t_release(c->t, chan);
		}
		if (r > 0) {
			lrpc__client_note_bytes(c, size);
			if (chan == LRPC__CHAN_RESPONSE)
				c->sent_since_recv = false;
			if (ret_size)
				*ret_size = size;
			return 0;
		}
		/* Deadline 0: from @timeout_usec, taken only now that there
		 * is something to wait for -- reading the clock costs more
		 * than taking a message that is already there. */
		if (deadline == 0)
			deadline = lrpc__client_deadline(timeout_usec);
		r = lrpc__client_wait(c, chan, false, deadline);
		if (r == -ETIMEDOUT)
			return poll_only ? -EAGAIN : -ETIMEDOUT;
		if (r < 0)
			return lrpc__client_broken(c, r);
	}
}

LRPC_EXPORT int
lrpc_client_recv(lrpc_client *c, void *buf, size_t cap,
		 uint64_t timeout_usec, size_t *ret_size)
{
	int r = lrpc__client_check_ready(c);

	if (r < 0)
		return r;
	lrpc_return_if_fail(buf || cap == 0, -EINVAL);
	return client_recv(c, LRPC__CHAN_RESPONSE, buf, cap,
			   0, timeout_usec, timeout_usec == 0, 0, ret_size);
}

LRPC_EXPORT int
lrpc_client_recv_event(lrpc_client *c, void *buf, size_t cap,
		       uint64_t timeout_usec, size_t *ret_size)
{
	int r = lrpc__client_check_ready(c);

	if (r < 0)
		return r;
	lrpc_return_if_fail(buf || cap == 0, -EINVAL);
	return client_recv(c, LRPC__CHAN_EVENT, buf, cap,
			   0, timeout_usec, timeout_usec == 0, 0, ret_size);
}

LRPC_EXPORT int
lrpc_client_callv(lrpc_client *c, const struct iovec *iov, size_t n_iov,
		  void *buf, size_t cap, uint64_t timeout_usec,
		  size_t *ret_size)
{
	uint64_t deadline, seq = 0;
	int r = lrpc__client_check_ready(c);

	if (r < 0)
		return r;
	lrpc_return_if_fail(buf || cap == 0, -EINVAL);
	deadline = lrpc__client_deadline(timeout_usec);
	r = client_send(c, iov, n_iov, deadline, &seq, NULL, 0);
	if (r < 0)
		return r;
	c->spin_extra = lrpc__spin_extra_usec(lrpc__iov_length(iov, n_iov));
	r = client_recv(c, LRPC__CHAN_RESPONSE, buf, cap, deadline, 0, false,
			seq, ret_size);
	c->spin_extra = 0;
	return r;
}

LRPC_EXPORT int
lrpc_client_call(lrpc_client *c, const void *req, size_t size, void *buf,
		 size_t cap, uint64_t timeout_usec, size_t *ret_size)
{
	struct iovec iov = { .iov_base = (void *)req, .iov_len = size };

	lrpc_return_if_fail(req, -EINVAL);
	return lrpc_client_callv(c, &iov, 1, buf, cap, timeout_usec,
				 ret_size);
}
