/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A connection's sending side: responses and events go to the transport
 * at once when it has room, else to a bounded per-channel queue sent in
 * order later; flow control and the stall timer watch those queues.
 */
#include <fcntl.h>
#include <string.h>

#include "ipc-internal.h"

static void conn_arm_stall(lrpc_conn *c);

/* Close our duplicates of the fds of a queued message, and free it. */
static void
qmsg_free(lrpc__qmsg *m)
{
	if (!m)
		return;
	for (unsigned i = 0; i < m->n_fds; i++)
		lrpc__safe_close(m->fds[i]);
	free(m->fds);
	free(m);
}

static lrpc__qmsg *
queue_pop(lrpc__queue *q)
{
	lrpc__qmsg *m = q->head;

	if (m) {
		q->head = m->next;
		if (!q->head)
			q->tail = NULL;
		q->bytes -= m->size;
		q->count--;
	}
	return m;
}

void
lrpc__conn_queue_clear(lrpc__queue *q)
{
	lrpc__qmsg *m;

	while ((m = queue_pop(q)))
		qmsg_free(m);
}

void
lrpc__conn_set_ctl(lrpc_conn *c)
{
	uint32_t flags = 0;

	if (!c->t)
		return;
	if (c->server->stop_sending)
		flags |= LRPC__CTL_STOP;
	if (c->flow_control)
		flags |= LRPC__CTL_FLOW;
	lrpc__ctl_publish(&c->ctl, flags);
}

/*
 * Flow control: while responses pile up because the client does not read
 * them, stop reading its requests and tell it (through the control page)
 * to stop sending.  Resume once the queue has drained.
 */
static void
conn_update_flow(lrpc_conn *c)
{
	lrpc__queue *q = &c->q[LRPC__CHAN_RESPONSE];
	bool on;

	if (c->flow_control)
		on = q->count > 0;
	else
		on = q->bytes >= c->max_queued / 2;
	if (on == c->flow_control)
		return;
	c->flow_control = on;
	c->stats.flow_control_state = on;
	if (on)
		c->stats.flow_control_count++;
	lrpc__conn_set_ctl(c);
	lrpc__conn_update_events(c);
	/* Requests already buffered while we stopped reading would wait for
	 * the client's next write; dispatch them from a job instead. */
	if (!on && !c->resume_job_pending) {
		lrpc_server *s = c->server;
		if (s->pops->job_add(s->loop_data, lrpc__conn_on_resume_job,
				     lrpc_conn_ref(c)) == 0)
			c->resume_job_pending = true;
		else
			lrpc_conn_unref(c);
	}
}

/*
 * A client that stops reading must not pin server memory forever: if the
 * queues make no progress for stall_timeout_usec, it is disconnected.
 */
static void
conn_on_stall_timer(void *userdata)
{
	lrpc_conn *c = userdata;
	lrpc_server *s = c->server;

	c->stall_timer = NULL;
	if (c->state != CONN_ACTIVE)
		return;
	if (c->q[LRPC__CHAN_RESPONSE].count == 0 &&
	    c->q[LRPC__CHAN_EVENT].count == 0)
		return;
	if (c->progress == c->progress_at_arm) {
		lrpc__log_warning("lrpc server %s: pid %d reads nothing for "
				  "%llu ms, disconnecting",
				  s->name, (int)c->peer.pid,
				  (unsigned long long)
					  (s->opts.stall_timeout_usec / 1000));
		lrpc__conn_teardown(c);
		return;
	}
	conn_arm_stall(c);
}

static void
conn_arm_stall(lrpc_conn *c)
{
	lrpc_server *s = c->server;

	if (c->stall_timer)
		return;
	if (s->opts.stall_timeout_usec == LRPC_TIMEOUT_INFINITE)
		return;
	c->progress_at_arm = c->progress;
	(void)s->pops->timer_add(s->loop_data, s->opts.stall_timeout_usec,
				 conn_on_stall_timer, c, &c->stall_timer);
}

/* Bookkeeping once a message was taken by the transport or queued. */
static void
conn_sent(lrpc_conn *c, lrpc__chan chan, size_t size)
{
	/* The client's next request comes after it copied this answer
	 * out: wait for it a little longer the larger the answer. */
	if (chan == LRPC__CHAN_RESPONSE)
		c->spin_extra = lrpc__spin_extra_usec(size);
	lrpc__conn_note_bytes(c, size);
	if (chan == LRPC__CHAN_EVENT) {
		c->stats.events++;
	} else {
		c->stats.responses++;
		if (c->in_dispatch)
			c->responded = true;
		conn_update_flow(c);
	}
	lrpc__conn_update_events(c);
}

/* Queue space for a message of @wire bytes, bounded per connection. */
static lrpc__qmsg *
conn_queue_alloc(lrpc_conn *c, lrpc__chan chan, size_t wire, int *ret_err)
{
	lrpc__queue *q = &c->q[chan];
	lrpc__qmsg *m;

	if (q->count > 0 && q->bytes + wire > c->max_queued) {
		*ret_err = -EAGAIN;
		return NULL;
	}
	m = malloc(sizeof(*m) + wire);
	if (!m) {
		*ret_err = -ENOMEM;
		return NULL;
	}
	m->next = NULL;
	m->size = wire;
	m->fds = NULL;
	m->n_fds = 0;
	return m;
}

static void
conn_queue_push(lrpc_conn *c, lrpc__chan chan, lrpc__qmsg *m)
{
	lrpc__queue *q = &c->q[chan];

	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	q->bytes += m->size;
	q->count++;
	c->stats.send_retries++;
	conn_arm_stall(c);
	/*
	 * Ask the client to wake us when it makes room.  Sends from a job or
	 * timer are not followed by lrpc__conn_sleep(), so do it here; if there is
	 * room already, make our own wake-up fd readable so the loop flushes.
	 */
	if (c->t && !(c->armed & (1u << chan))) {
		int r = c->tops->t_arm(c->t, chan, true);
		if (r >= 0)
			c->armed |= 1u << chan;
		if (r > 0)
			c->tops->t_kick(c->t);
	}
}

static void
conn_fill_header(lrpc_conn *c, lrpc__chan chan, lrpc_msg_header *h)
{
	h->flags = chan == LRPC__CHAN_EVENT ? LRPC__MSG_EVENT
					    : LRPC__MSG_RESPONSE;
	h->seq = chan == LRPC__CHAN_RESPONSE && c->in_dispatch ? c->cur_seq
							       : 0;
}

void
lrpc__conn_note_undelivered(lrpc_conn *c, bool event, int err, size_t size)
{
	if (!c)
		return;
	c->stats.undelivered++;
	if (c->undelivered_logged)
		return;
	c->undelivered_logged = true;
	lrpc__log_warning("lrpc server %s: %s of %zu bytes to pid %d not "
			  "sent: %s (max %u bytes); further failures on "
			  "this connection are only counted",
			  c->server->name, event ? "an event" : "a response",
			  size, (int)c->peer.pid, strerror(-err), c->max_msg);
}

/*
 * Events a handler sends wait to ring their client until the handler has
 * returned: a broadcast, or a burst of events to one client, then costs
 * each sleeping client one wake-up instead of one per event (and the
 * server is not handed off the CPU to each client it wakes, event after
 * event).  A response rings at once: its caller is waiting.
 */
static void
conn_hold_wakes(lrpc_conn *c, lrpc__chan chan)
{
	lrpc_server *s = c->server;

	if (chan != LRPC__CHAN_EVENT) {
		if (c->wakes_held)
			lrpc__conn_release_wakes(c);
		return;
	}
	if (c->wakes_held || s->dispatching == 0 || !c->tops->t_hold_wakes)
		return;
	c->tops->t_hold_wakes(c->t, true);
	c->wakes_held = true;
	c->held_next = s->held;
	s->held = c;
}

void
lrpc__conn_release_wakes(lrpc_conn *c)
{
	lrpc_conn **p;

	if (!c->wakes_held)
		return;
	for (p = &c->server->held; *p; p = &(*p)->held_next)
		if (*p == c) {
			*p = c->held_next;
			break;
		}
	c->held_next = NULL;
	c->wakes_held = false;
	if (c->t) {
		c->tops->t_hold_wakes(c->t, false);
		/* What a full socket left behind goes out when there is
		 * room. */
		lrpc__conn_update_events(c);
	}
}

void
lrpc__server_release_wakes(lrpc_server *s)
{
	while (s->held)
		lrpc__conn_release_wakes(s->held);
}

/*
 * A message that waits in the queue must not depend on fds its sender may
 * close once the send returned: it keeps duplicates of its own.
 */
static int
qmsg_dup_fds(lrpc__qmsg *m, const int *fds, unsigned n_fds)
{
	if (n_fds == 0)
		return 0;
	m->fds = malloc(sizeof(int) * n_fds);
	if (!m->fds)
		return -ENOMEM;
	for (m->n_fds = 0; m->n_fds < n_fds; m->n_fds++) {
		int d = fcntl(fds[m->n_fds], F_DUPFD_CLOEXEC, 3);
		if (d < 0)
			return errno == EBADF ? -EBADF : -errno;
		m->fds[m->n_fds] = d;
	}
	return 0;
}

static int
conn_send_msg(lrpc_conn *c, lrpc__chan chan, const struct iovec *iov,
	      size_t n, const int *fds, unsigned n_fds)
{
	struct iovec out[LRPC_IOV_MAX + 2];
	lrpc_msg_header hdr;
	size_t size;
	int n_out, r;

	if (c->state != CONN_ACTIVE || !c->t)
		return -ENOTCONN;
	if (c->resv_chan >= 0)
		return -EBUSY;
	r = lrpc__fds_check(c->fd_per_msg, fds, n_fds);
	if (r < 0)
		return r;
	n_out = lrpc__iov_prepare(iov, n, &hdr, out, &size);
	if (n_out < 0)
		return n_out;
	if (size > c->max_msg)
		return -EMSGSIZE;
	conn_fill_header(c, chan, &hdr);
	conn_hold_wakes(c, chan);
	hdr.flags |= n_fds << LRPC__MSG_FDS_SHIFT;

	/* Messages wait in the queue but the ring has room again (the
	 * client read meanwhile): move them first, rather than let the queue
	 * grow while the client sleeps on an empty ring.  (Only where the
	 * check costs no system call.) */
	if (c->q[chan].count > 0 && c->tops->t_ready(c->t, chan, true))
		lrpc__conn_flush(c, chan);
	if (c->state != CONN_ACTIVE || !c->t)
		return -ENOTCONN;

	if (c->q[chan].count == 0) {
		r = n_fds ? c->tops->t_send_fds(c->t, chan, out, (size_t)n_out,
						size, fds, n_fds)
			  : c->tops->t_send(c->t, chan, out, (size_t)n_out,
					    size);
		if (r == 0) {
			LRPC__CONN_TAP(c, (lrpc__tap_dir)chan, out,
				       (size_t)n_out, size);
			conn_sent(c, chan, size);
			return 0;
		}
		if (r != -EAGAIN) {
			lrpc__log_debug("lrpc server %s: send to pid %d failed: "
					"%d",
					c->server->name, (int)c->peer.pid, r);
			lrpc__conn_close_later(c);
			return -ENOTCONN;
		}
	}
	/* No room: keep a copy. */
	lrpc__qmsg *m = conn_queue_alloc(c, chan, LRPC_ALIGN8(size), &r);
	if (!m)
		return r;
	r = qmsg_dup_fds(m, fds, n_fds);
	if (r < 0) {
		qmsg_free(m);
		return r;
	}
	uint8_t *p = m->data;
	for (int i = 0; i < n_out; i++) {
		memcpy(p, out[i].iov_base, out[i].iov_len);
		p += out[i].iov_len;
	}
	conn_queue_push(c, chan, m);
	LRPC__CONN_TAP(c, (lrpc__tap_dir)chan,
		       (&(struct iovec){ .iov_base = m->data, .iov_len = size }),
		       1, size);
	conn_sent(c, chan, size);
	return 0;
}

/* A send, and the count and log of what it could not deliver. */
int
lrpc__conn_send_fds(lrpc_conn *c, lrpc__chan chan, const struct iovec *iov,
		    size_t n, const int *fds, unsigned n_fds)
{
	int r = conn_send_msg(c, chan, iov, n, fds, n_fds);

	/* -EINVAL, -EBUSY and bad fds are the caller's own mistakes, not
	 * losses. */
	if (r < 0 && r != -EINVAL && r != -EBUSY && r != -EBADF &&
	    r != -E2BIG && r != -EOPNOTSUPP)
		lrpc__conn_note_undelivered(c, chan == LRPC__CHAN_EVENT, r,
					    lrpc__iov_length(iov, n));
	return r;
}

static int
conn_send(lrpc_conn *c, lrpc__chan chan, const struct iovec *iov, size_t n)
{
	return lrpc__conn_send_fds(c, chan, iov, n, NULL, 0);
}

static int
conn_reserve_msg(lrpc_conn *c, lrpc__chan chan, size_t size, void **ret_buf)
{
	int r;

	if (c->state != CONN_ACTIVE || !c->t)
		return -ENOTCONN;
	if (c->resv_chan >= 0)
		return -EBUSY;
	if (size < sizeof(lrpc_msg_header))
		return -EINVAL;
	if (size > c->max_msg)
		return -EMSGSIZE;
	c->resv_q = NULL;
	if (c->q[chan].count == 0) {
		r = c->tops->t_reserve(c->t, chan, size, &c->resv_buf);
		if (r < 0 && r != -EAGAIN) {
			lrpc__conn_close_later(c);
			return -ENOTCONN;
		}
		if (r == 0)
			goto done;
	}
	/* The channel is busy: build the message in a queue entry, to be
	 * sent in order after what is already waiting. */
	c->resv_q = conn_queue_alloc(c, chan, LRPC_ALIGN8(size), &r);
	if (!c->resv_q)
		return r;
	c->resv_buf = c->resv_q->data;
done:
	c->resv_chan = chan;
	c->resv_size = size;
	*ret_buf = c->resv_buf;
	return 0;
}

/* A reservation, and the count and log of what it could not deliver. */
static int
conn_reserve(lrpc_conn *c, lrpc__chan chan, size_t size, void **ret_buf)
{
	int r = conn_reserve_msg(c, chan, size, ret_buf);

	if (r < 0 && r != -EINVAL && r != -EBUSY)
		lrpc__conn_note_undelivered(c, chan == LRPC__CHAN_EVENT, r,
					    size);
	return r;
}

void
lrpc__conn_flush(lrpc_conn *c, lrpc__chan chan)
{
	lrpc__queue *q = &c->q[chan];
	int r;

	r = c->tops->t_flush(c->t, chan);
	while (r == 0 && q->head) {
		lrpc__qmsg *m = q->head;
		const lrpc_msg_header *h = (const lrpc_msg_header *)m->data;
		struct iovec iov = { .iov_base = m->data, .iov_len = m->size };
		r = m->n_fds ? c->tops->t_send_fds(c->t, chan, &iov, 1, h->size,
						   m->fds, m->n_fds)
			     : c->tops->t_send(c->t, chan, &iov, 1, h->size);
		if (r == 0) {
			qmsg_free(queue_pop(q));
			c->progress++;
		}
	}
	if (r < 0 && r != -EAGAIN) {
		lrpc__conn_close_later(c);
		return;
	}
	if (chan == LRPC__CHAN_RESPONSE)
		conn_update_flow(c);
	lrpc__conn_update_events(c);
}

LRPC_EXPORT int
lrpc_conn_send_response(lrpc_conn *c, const void *data, size_t size)
{
	struct iovec iov = { .iov_base = (void *)data, .iov_len = size };

	CONN_CHECK(c, -EINVAL);
	lrpc_return_if_fail(data, -EINVAL);
	return conn_send(c, LRPC__CHAN_RESPONSE, &iov, 1);
}

LRPC_EXPORT int
lrpc_conn_send_responsev(lrpc_conn *c, const struct iovec *iov, size_t n_iov)
{
	CONN_CHECK(c, -EINVAL);
	return conn_send(c, LRPC__CHAN_RESPONSE, iov, n_iov);
}

LRPC_EXPORT int
lrpc_conn_send_event(lrpc_conn *c, const void *data, size_t size)
{
	struct iovec iov = { .iov_base = (void *)data, .iov_len = size };

	CONN_CHECK(c, -EINVAL);
	lrpc_return_if_fail(data, -EINVAL);
	return conn_send(c, LRPC__CHAN_EVENT, &iov, 1);
}

LRPC_EXPORT int
lrpc_conn_send_eventv(lrpc_conn *c, const struct iovec *iov, size_t n_iov)
{
	CONN_CHECK(c, -EINVAL);
	return conn_send(c, LRPC__CHAN_EVENT, iov, n_iov);
}

LRPC_EXPORT int
lrpc_conn_reserve_response(lrpc_conn *c, size_t size, void **ret_buf)
{
	CONN_CHECK(c, -EINVAL);
	lrpc_return_if_fail(ret_buf, -EINVAL);
	return conn_reserve(c, LRPC__CHAN_RESPONSE, size, ret_buf);
}

LRPC_EXPORT int
lrpc_conn_reserve_event(lrpc_conn *c, size_t size, void **ret_buf)
{
	CONN_CHECK(c, -EINVAL);
	lrpc_return_if_fail(ret_buf, -EINVAL);
	return conn_reserve(c, LRPC__CHAN_EVENT, size, ret_buf);
}

LRPC_EXPORT int
lrpc_conn_commit(lrpc_conn *c, size_t size)
{
	lrpc__chan chan;
	lrpc_msg_header *h;
	int r;

	CONN_CHECK(c, -EINVAL);
	if (c->resv_chan < 0 || size > c->resv_size ||
	    size < sizeof(lrpc_msg_header))
		return -EINVAL;
	chan = (lrpc__chan)c->resv_chan;
	c->resv_chan = -1;
	h = c->resv_buf;
	h->size = (uint32_t)size;
	conn_fill_header(c, chan, h);
	/* Copied before the transport has it: after the commit the buffer
	 * may be the client's to read and ours to reuse. */
	LRPC__CONN_TAP(c, (lrpc__tap_dir)chan,
		       (&(struct iovec){ .iov_base = h, .iov_len = size }), 1,
		       size);
	if (c->resv_q) {
		lrpc__qmsg *m = c->resv_q;
		c->resv_q = NULL;
		if (c->state != CONN_ACTIVE) {
			qmsg_free(m);
			return -ENOTCONN;
		}
		memset(m->data + size, 0, LRPC_ALIGN8(size) - size);
		m->size = LRPC_ALIGN8(size);
		conn_queue_push(c, chan, m);
	} else {
		if (c->state != CONN_ACTIVE || !c->t)
			return -ENOTCONN;
		r = c->tops->t_commit(c->t, chan, size);
		if (r < 0) {
			lrpc__conn_close_later(c);
			return -ENOTCONN;
		}
	}
	conn_sent(c, chan, size);
	return 0;
}

LRPC_EXPORT void
lrpc_conn_discard_reservation(lrpc_conn *c)
{
	if (!c || c->resv_chan < 0)
		return;
	if (c->resv_q)
		qmsg_free(c->resv_q);
	else if (c->t)
		c->tops->t_cancel(c->t, (lrpc__chan)c->resv_chan);
	c->resv_q = NULL;
	c->resv_chan = -1;
}

LRPC_EXPORT int
lrpc_conn_send_error(lrpc_conn *c, int32_t id, int error)
{
	lrpc_msg_header h = { .size = sizeof(h), .id = id, .error = error };

	lrpc_return_if_fail(error <= 0, -EINVAL);
	return lrpc_conn_send_response(c, &h, sizeof(h));
}
