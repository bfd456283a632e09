/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The client's zero-copy calls: reservations and views. */
#include "ipc-client-internal.h"

LRPC_EXPORT int
lrpc_client_reserve(lrpc_client *c, size_t size, void **ret_buf)
{
	uint64_t deadline;
	int r = lrpc__client_check_ready(c);

	if (r < 0)
		return r;
	lrpc_return_if_fail(ret_buf && size >= sizeof(lrpc_msg_header),
			    -EINVAL);
	if (c->reserved)
		return -EBUSY;
	if (size > c->max_msg)
		return -EMSGSIZE;
	r = lrpc__client_ctl_check(c);
	if (r < 0)
		return r;
	deadline = lrpc__deadline_from_usec(c->opts.send_timeout_usec, 0);
	for (;;) {
		r = c->tops->t_reserve(c->t, LRPC__CHAN_REQUEST, size,
				       ret_buf);
		if (r != -EAGAIN)
			break;
		r = lrpc__client_wait(c, LRPC__CHAN_REQUEST, true, deadline);
		if (r == -ETIMEDOUT)
			return -EAGAIN;
		if (r < 0)
			return lrpc__client_broken(c, r);
	}
	if (r < 0)
		return r == -EMSGSIZE ? r : lrpc__client_broken(c, r);
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
		return lrpc__client_broken(c, r);
	lrpc__client_watch_update(c);
	c->sent_since_recv = true;
	lrpc__client_note_bytes(c, size);
	/* Its answer takes the server longer the larger it is: spin for it
	 * a little longer (as a sync call does) rather than sleep. */
	c->spin_extra = lrpc__spin_extra_usec(size);
	return 0;
}

LRPC_EXPORT void
lrpc_client_discard_reservation(lrpc_client *c)
{
	if (!c || c->origin_pid != lrpc__getpid() || !c->reserved)
		return;
	c->reserved = false;
	if (c->t)
		c->tops->t_cancel(c->t, LRPC__CHAN_REQUEST);
}

static int
client_recv_view(lrpc_client *c, lrpc__chan chan, uint64_t timeout_usec,
		 const lrpc_msg_header **ret_msg, size_t *ret_size)
{
	uint64_t deadline = 0;
	const lrpc_msg_header *msg;
	size_t size;
	int r = lrpc__client_check_ready(c);

	if (r < 0)
		return r;
	lrpc_return_if_fail(ret_msg && ret_size, -EINVAL);
	if (c->viewing[chan])
		return -EBUSY;
	/* As client_recv(): right after a request its answer cannot be in
	 * a socket yet, so poll before reading. */
	bool fill = !(chan == LRPC__CHAN_RESPONSE && c->sent_since_recv &&
		      !(c->tr->caps & LRPC__TCAP_WAKEUPS));
	for (;; fill = true) {
		r = c->tops->t_recv(c->t, chan, fill, &msg, &size);
		if (r < 0)
			return lrpc__client_broken(c, r);
		if (r > 0)
			break;
		/* The clock is read only when there is something to wait
		 * for: an answer already there costs no reading. */
		if (deadline == 0)
			deadline = lrpc__client_deadline(timeout_usec);
		r = lrpc__client_wait(c, chan, false, deadline);
		if (r == -ETIMEDOUT)
			return timeout_usec == 0 ? -EAGAIN : -ETIMEDOUT;
		if (r < 0)
			return lrpc__client_broken(c, r);
	}
	c->viewing[chan] = true;
	c->fd_msg[chan] = msg;
	lrpc__client_note_bytes(c, size);
	if (chan == LRPC__CHAN_RESPONSE) {
		c->sent_since_recv = false;
		c->spin_extra = 0;
	}
	*ret_msg = msg;
	*ret_size = size;
	return 0;
}

LRPC_EXPORT int
lrpc_client_recv_view(lrpc_client *c, uint64_t timeout_usec,
		      const lrpc_msg_header **ret_msg, size_t *ret_size)
{
	return client_recv_view(c, LRPC__CHAN_RESPONSE, timeout_usec, ret_msg,
				ret_size);
}

LRPC_EXPORT int
lrpc_client_recv_event_view(lrpc_client *c, uint64_t timeout_usec,
			    const lrpc_msg_header **ret_msg, size_t *ret_size)
{
	return client_recv_view(c, LRPC__CHAN_EVENT, timeout_usec, ret_msg,
				ret_size);
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
			c->fd_msg[ch] = NULL;
			c->tops->t_release(c->t, (lrpc__chan)ch);
			return 0;
		}
	}
	return -EINVAL;
}
