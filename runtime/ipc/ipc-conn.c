/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One server-side connection: reading and dispatching requests, sending
 * responses and events with per-channel queues and flow control, and the
 * close/destroy lifecycle.
 */
#include <string.h>
#include <sys/socket.h>

#include "ipc-internal.h"

/* How long to wait before asking a "closed" callback again. */
#define CLOSED_RETRY_USEC (10u * 1000u)

static void conn_flush(lrpc_conn *c, lrpc__chan chan);
static void conn_read(lrpc_conn *c, bool fill);
static void conn_disarm(lrpc_conn *c);
static void conn_sleep(lrpc_conn *c);

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

static void
queue_clear(lrpc__queue *q)
{
	lrpc__qmsg *m;

	while ((m = queue_pop(q)))
		free(m);
}

int
lrpc__hook_add(lrpc__hook **list, lrpc__hook_fn fn, void *data)
{
	lrpc__hook *h = malloc(sizeof(*h));

	if (!h)
		return -ENOMEM;
	*h = (lrpc__hook){ .next = *list, .fn = fn, .data = data };
	*list = h;
	return 0;
}

int
lrpc__hook_remove(lrpc__hook **list, lrpc__hook_fn fn, void *data)
{
	for (lrpc__hook **p = list; *p; p = &(*p)->next)
		if ((*p)->fn == fn && (*p)->data == data) {
			lrpc__hook *h = *p;
			*p = h->next;
			free(h);
			return 0;
		}
	return -ENOENT;
}

/* Run and free every hook; hooks may add or remove others meanwhile. */
void
lrpc__hooks_run(lrpc__hook **list, void *object)
{
	lrpc__hook *h;

	while ((h = *list)) {
		*list = h->next;
		h->fn(object, h->data);
		free(h);
	}
}

int
lrpc__conn_add_close_hook(lrpc_conn *c, lrpc__hook_fn fn, void *data)
{
	if (c->state != CONN_ACTIVE)
		return -ENOTCONN;
	return lrpc__hook_add(&c->close_hooks, fn, data);
}

int
lrpc__conn_remove_close_hook(lrpc_conn *c, lrpc__hook_fn fn, void *data)
{
	return lrpc__hook_remove(&c->close_hooks, fn, data);
}

void
lrpc__conn_list_add(lrpc_conn *c, lrpc_conn **head)
{
	c->prev = NULL;
	c->next = *head;
	if (*head)
		(*head)->prev = c;
	*head = c;
	c->list = head;
}

void
lrpc__conn_list_remove(lrpc_conn *c)
{
	if (!c->list)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		*c->list = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	c->list = NULL;
}

static void
conn_on_timer(void *userdata)
{
	lrpc_conn *c = userdata;

	c->timer = NULL;
	if (c->state == CONN_HANDSHAKE)
		lrpc__log_debug("lrpc server %s: pid %d did not finish the "
				"handshake in time",
				c->server->name, (int)c->peer.pid);
	lrpc__conn_teardown(c);
}

int
lrpc__conn_new(lrpc_server *s, int fd, lrpc_conn **ret)
{
	lrpc_conn *c;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->n_ref = 1; /* owned by the server's list until torn down */
	c->fd = fd;
	c->resv_chan = -1;
	r = lrpc__server_read_peer(fd, &c->peer, &c->groups);
	if (r < 0) {
		free(c);
		return r;
	}
	r = s->pops->fd_add(s->loop_data, fd, LRPC_POLL_IN, lrpc__conn_on_main,
			    c);
	if (r < 0) {
		free(c->groups);
		free(c);
		return r;
	}
	c->wfd[0] = fd;
	c->wev[0] = LRPC_POLL_IN;
	c->n_wfd = 1;
	r = s->pops->timer_add(s->loop_data,
			       s->opts.handshake_timeout_usec,
			       conn_on_timer, c, &c->timer);
	if (r < 0) {
		s->pops->fd_del(s->loop_data, fd);
		free(c->groups);
		free(c);
		return r;
	}
	c->server = lrpc_server_ref(s);
	s->n_conn_refs++;
	s->stats.pending_connections++;
	lrpc__conn_list_add(c, &s->pending);
	*ret = c;
	return 0;
}

static void
conn_free(lrpc_conn *c)
{
	lrpc_server *s = c->server;

	free(c->resv_q);
	if (c->accepted && s->cb.destroyed)
		s->cb.destroyed(c, s->userdata);
	free(c->groups);
	s->n_conn_refs--;
	free(c);
	lrpc_server_unref(s);
}

LRPC_EXPORT lrpc_conn *
lrpc_conn_ref(lrpc_conn *c)
{
	if (!c)
		return NULL;
	assert(c->n_ref > 0);
	c->n_ref++;
	return c;
}

LRPC_EXPORT lrpc_conn *
lrpc_conn_unref(lrpc_conn *c)
{
	if (!c)
		return NULL;
	assert(c->n_ref > 0);
	if (--c->n_ref == 0)
		conn_free(c);
	return NULL;
}

static void
conn_finish(lrpc_conn *c)
{
	c->state = CONN_CLOSED;
	lrpc__conn_list_remove(c);
	lrpc_conn_unref(c); /* the list's reference */
}

static void
conn_on_closed_retry(void *userdata)
{
	lrpc_conn *c = userdata;
	lrpc_server *s = c->server;

	c->timer = NULL;
	if (s->cb.closed(c, s->userdata) != 0 && !s->closed &&
	    s->pops->timer_add(s->loop_data, CLOSED_RETRY_USEC,
			       conn_on_closed_retry, c, &c->timer) == 0)
		return;
	conn_finish(c);
}

/*
 * Release every resource now and run the closed callback.  Must not run
 * while a handler of this connection is on the stack: use
 * lrpc__conn_close_later() there.
 */
void
lrpc__conn_teardown(lrpc_conn *c)
{
	lrpc_server *s = c->server;

	if (c->state == CONN_CLOSED)
		return;
	if (c->t == NULL && c->fd < 0) {
		/* Already torn down, waiting for the closed callback to
		 * agree: the server is going away, so stop waiting. */
		if (c->timer) {
			s->pops->timer_del(s->loop_data, c->timer);
			c->timer = NULL;
		}
		conn_finish(c);
		return;
	}
	lrpc_conn_ref(c);
	c->state = CONN_CLOSING;
	if (c->timer) {
		s->pops->timer_del(s->loop_data, c->timer);
		c->timer = NULL;
	}
	if (c->stall_timer) {
		s->pops->timer_del(s->loop_data, c->stall_timer);
		c->stall_timer = NULL;
	}
	if (c->read_timer) {
		s->pops->timer_del(s->loop_data, c->read_timer);
		c->read_timer = NULL;
	}
	for (unsigned i = 0; i < c->n_wfd; i++)
		s->pops->fd_del(s->loop_data, c->wfd[i]);
	c->n_wfd = 0;
	c->fd = lrpc__safe_close(c->fd);
	for (int i = 0; i < LRPC__N_CHAN; i++)
		queue_clear(&c->q[i]);
	/* A reservation into the transport dies with it; a private one is
	 * freed at commit or abort, which still work (and fail). */
	if (c->resv_chan >= 0 && !c->resv_q)
		c->resv_chan = -1;
	if (c->t) {
		c->tops->t_free(c->t);
		c->t = NULL;
	}
	lrpc__ctl_done(&c->ctl);
	lrpc__hooks_run(&c->close_hooks, c);
	if (c->accepted) {
		s->stats.active_connections--;
		s->stats.closed_connections++;
		lrpc__server_uid_release(s, c->peer.uid);
	} else {
		s->stats.pending_connections--;
	}

	if (c->created_ran && s->cb.closed &&
	    s->cb.closed(c, s->userdata) != 0 && !s->closed &&
	    s->pops->timer_add(s->loop_data, CLOSED_RETRY_USEC,
			       conn_on_closed_retry, c, &c->timer) == 0) {
		lrpc_conn_unref(c);
		return;
	}
	conn_finish(c);
	lrpc_conn_unref(c);
}

static void
conn_on_close_job(void *userdata)
{
	lrpc_conn *c = userdata;

	c->close_job_pending = false;
	lrpc__conn_teardown(c);
	lrpc_conn_unref(c);
}

void
lrpc__conn_close_later(lrpc_conn *c)
{
	lrpc_server *s = c->server;

	if (c->state == CONN_CLOSED || c->close_job_pending)
		return;
	if (c->state == CONN_CLOSING && c->t == NULL)
		return;
	c->state = CONN_CLOSING;
	c->close_job_pending = true;
	if (s->pops->job_add(s->loop_data, conn_on_close_job,
			     lrpc_conn_ref(c)) < 0) {
		/* No way to defer: the connection stays closing (no sends,
		 * no reads) until the server is closed. */
		c->close_job_pending = false;
		lrpc_conn_unref(c);
	}
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

static bool
conn_wants_out(lrpc_conn *c, lrpc__chan chan)
{
	return c->q[chan].count > 0 || c->tops->t_pending(c->t, chan);
}

/* Register exactly the events we need on every watched fd. */
static void
conn_update_events(lrpc_conn *c)
{
	lrpc_server *s = c->server;

	if (c->state != CONN_ACTIVE || !c->t)
		return;
	for (unsigned i = 0; i < c->n_wfd; i++) {
		uint32_t ev = 0;
		int fd = c->wfd[i];

		if (fd == c->chan_fd[LRPC__CHAN_REQUEST] && !c->flow_control)
			ev |= c->chan_ev[LRPC__CHAN_REQUEST];
		if (fd == c->chan_fd[LRPC__CHAN_RESPONSE] &&
		    conn_wants_out(c, LRPC__CHAN_RESPONSE))
			ev |= c->chan_ev[LRPC__CHAN_RESPONSE];
		if (fd == c->chan_fd[LRPC__CHAN_EVENT] &&
		    conn_wants_out(c, LRPC__CHAN_EVENT))
			ev |= c->chan_ev[LRPC__CHAN_EVENT];
		if (ev != c->wev[i] &&
		    s->pops->fd_mod(s->loop_data, fd, ev) == 0)
			c->wev[i] = ev;
	}
}

/* The handshake is done: watch what the transport needs. */
int
lrpc__conn_activate(lrpc_conn *c)
{
	lrpc_server *s = c->server;
	int r;

	for (int ch = 0; ch < LRPC__N_CHAN; ch++) {
		bool out = ch != LRPC__CHAN_REQUEST;
		int fd = c->tops->t_wait_fd(c->t, (lrpc__chan)ch, out,
					    &c->chan_ev[ch]);
		c->chan_fd[ch] = fd < 0 ? c->fd : fd;
		if (fd < 0)
			c->chan_ev[ch] = out ? LRPC_POLL_OUT : LRPC_POLL_IN;
		bool known = false;
		for (unsigned i = 0; i < c->n_wfd; i++)
			known |= c->wfd[i] == c->chan_fd[ch];
		if (known)
			continue;
		r = s->pops->fd_add(s->loop_data, c->chan_fd[ch], 0,
				    lrpc__conn_on_main, c);
		if (r < 0)
			return r;
		c->wfd[c->n_wfd] = c->chan_fd[ch];
		c->wev[c->n_wfd] = 0;
		c->n_wfd++;
	}
	conn_update_events(c);
	return 0;
}

static void
conn_on_resume_job(void *userdata)
{
	lrpc_conn *c = userdata;

	c->resume_job_pending = false;
	if (c->state == CONN_ACTIVE) {
		conn_disarm(c);
		conn_read(c, false);
		if (c->state == CONN_ACTIVE)
			conn_sleep(c);
	}
	lrpc_conn_unref(c);
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
	conn_update_events(c);
	/* Requests already buffered while we stopped reading would wait for
	 * the client's next write; dispatch them from a job instead. */
	if (!on && !c->resume_job_pending) {
		lrpc_server *s = c->server;
		if (s->pops->job_add(s->loop_data, conn_on_resume_job,
				     lrpc_conn_ref(c)) == 0)
			c->resume_job_pending = true;
		else
			lrpc_conn_unref(c);
	}
}

static void conn_arm_stall(lrpc_conn *c);

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
	if (chan == LRPC__CHAN_EVENT) {
		c->stats.events++;
	} else {
		c->stats.responses++;
		if (c->in_dispatch)
			c->responded = true;
		conn_update_flow(c);
	}
	conn_update_events(c);
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
	 * timer are not followed by conn_sleep(), so do it here; if there is
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

static int
conn_send(lrpc_conn *c, lrpc__chan chan, const struct iovec *iov, size_t n)
{
	struct iovec out[LRPC_IOV_MAX + 2];
	lrpc_msg_header hdr;
	size_t size;
	int n_out, r;

	if (c->state != CONN_ACTIVE || !c->t)
		return -ENOTCONN;
	if (c->resv_chan >= 0)
		return -EBUSY;
	n_out = lrpc__iov_prepare(iov, n, &hdr, out, &size);
	if (n_out < 0)
		return n_out;
	if (size > c->max_msg)
		return -EMSGSIZE;
	conn_fill_header(c, chan, &hdr);

	/* Messages wait in the queue but the ring has room again (the
	 * client read meanwhile): move them first, rather than let the queue
	 * grow while the client sleeps on an empty ring.  (Only where the
	 * check costs no system call.) */
	if (c->q[chan].count > 0 && c->tops->t_ready(c->t, chan, true))
		conn_flush(c, chan);
	if (c->state != CONN_ACTIVE || !c->t)
		return -ENOTCONN;

	if (c->q[chan].count == 0) {
		r = c->tops->t_send(c->t, chan, out, (size_t)n_out, size);
		if (r == 0) {
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
	uint8_t *p = m->data;
	for (int i = 0; i < n_out; i++) {
		memcpy(p, out[i].iov_base, out[i].iov_len);
		p += out[i].iov_len;
	}
	conn_queue_push(c, chan, m);
	conn_sent(c, chan, size);
	return 0;
}

static int
conn_reserve(lrpc_conn *c, lrpc__chan chan, size_t size, void **ret_buf)
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

static void
conn_flush(lrpc_conn *c, lrpc__chan chan)
{
	lrpc__queue *q = &c->q[chan];
	int r;

	r = c->tops->t_flush(c->t, chan);
	while (r == 0 && q->head) {
		lrpc__qmsg *m = q->head;
		const lrpc_msg_header *h = (const lrpc_msg_header *)m->data;
		struct iovec iov = { .iov_base = m->data, .iov_len = m->size };
		r = c->tops->t_send(c->t, chan, &iov, 1, h->size);
		if (r == 0) {
			free(queue_pop(q));
			c->progress++;
		}
	}
	if (r < 0 && r != -EAGAIN) {
		lrpc__conn_close_later(c);
		return;
	}
	if (chan == LRPC__CHAN_RESPONSE)
		conn_update_flow(c);
	conn_update_events(c);
}

static void
conn_dispatch(lrpc_conn *c, const lrpc_msg_header *msg, size_t size)
{
	lrpc_server *s = c->server;
	lrpc_handler_fn fn = NULL;
	void *ud = NULL;
	int r;

	c->stats.requests++;
	c->in_dispatch = true;
	c->responded = false;
	c->cur_seq = msg->seq;
	r = lrpc__selector_route(&s->sel, c, msg, &fn, &ud);
	if (r > 0)
		r = fn(c, msg, size, ud);
	else if (r == 0)
		r = -ENOSYS;
	if (r < 0 && !c->responded && c->state == CONN_ACTIVE)
		(void)lrpc_conn_send_error(c, msg->id, r < -4095 ? -EIO : r);
	c->in_dispatch = false;
	c->cur_seq = 0;
}

/*
 * Wait (busy) up to the service's spin budget for the client's next
 * request: a client in a call loop sends it within a microsecond or two,
 * and catching it here saves both sides a sleep and a wake-up.
 */
static bool
conn_spin(lrpc_conn *c, uint64_t limit)
{
	uint64_t end;

	if (!lrpc__spin_worth(c->server->tr, c->t, c->server->spin_usec))
		return false;
	end = lrpc__now_usec() + c->server->spin_usec + c->spin_extra;
	if (end > limit)
		end = limit;
	return lrpc__spin(c->tops, c->t, LRPC__CHAN_REQUEST, false, end);
}

static void conn_check_partial(lrpc_conn *c);

/*
 * A request started but not finished within read_timeout_usec: the client is
 * broken or hostile (it pins up to a maximum-size buffer): drop it.
 */
static void
conn_on_read_timer(void *userdata)
{
	lrpc_conn *c = userdata;
	lrpc_server *s = c->server;

	c->read_timer = NULL;
	if (c->state != CONN_ACTIVE ||
	    !c->tops->t_partial(c->t, LRPC__CHAN_REQUEST))
		return;
	if (c->stats.requests == c->requests_at_read_arm) {
		lrpc__log_warning("lrpc server %s: pid %d left a request half "
				  "sent for %llu ms, disconnecting",
				  s->name, (int)c->peer.pid,
				  (unsigned long long)
					  (s->opts.read_timeout_usec / 1000));
		lrpc__conn_teardown(c);
		return;
	}
	conn_check_partial(c);
}

static void
conn_check_partial(lrpc_conn *c)
{
	lrpc_server *s = c->server;

	if (c->read_timer || c->state != CONN_ACTIVE ||
	    !c->tops->t_partial(c->t, LRPC__CHAN_REQUEST))
		return;
	if (s->opts.read_timeout_usec == LRPC_TIMEOUT_INFINITE)
		return;
	c->requests_at_read_arm = c->stats.requests;
	(void)s->pops->timer_add(s->loop_data, s->opts.read_timeout_usec,
				 conn_on_read_timer, c, &c->read_timer);
}

/* Longest a connection keeps the loop busy in one go, spinning included. */
#define CONN_BUSY_USEC 1000u

static void
conn_read(lrpc_conn *c, bool fill)
{
	const lrpc_msg_header *msg;
	size_t size;
	uint64_t limit = 0;
	int r;

	while (c->state == CONN_ACTIVE && !c->flow_control) {
		r = c->tops->t_recv(c->t, LRPC__CHAN_REQUEST, fill, &msg,
				    &size);
		if (r == 0) {
			if (fill)
				c->stats.recv_retries++;
			conn_check_partial(c);
			if (!(c->server->tr->caps & LRPC__TCAP_WAKEUPS) ||
			    c->server->spin_usec == 0)
				return;
			if (limit == 0)
				limit = lrpc__now_usec() + CONN_BUSY_USEC;
			if (!conn_spin(c, limit))
				return;
			continue;
		}
		if (r < 0) {
			if (r == -EBADMSG)
				lrpc__log_warning("lrpc server %s: pid %d sent "
						  "a malformed message, "
						  "disconnecting",
						  c->server->name,
						  (int)c->peer.pid);
			lrpc__conn_teardown(c);
			return;
		}
		/* One read per wake-up keeps one busy client from starving
		 * the others; what is buffered is dispatched now. */
		fill = false;
		conn_dispatch(c, msg, size);
		if (c->t)
			c->tops->t_release(c->t, LRPC__CHAN_REQUEST);
	}
}

static void
conn_disarm(lrpc_conn *c)
{
	for (int ch = 0; ch < LRPC__N_CHAN; ch++)
		if (c->armed & (1u << ch))
			c->tops->t_disarm(c->t, (lrpc__chan)ch,
					  ch != LRPC__CHAN_REQUEST);
	c->armed = 0;
}

/*
 * Before going back to the loop, tell the client we are going to sleep
 * (so that it wakes us), and check once more that nothing arrived in the
 * meantime.
 */
static void
conn_sleep(lrpc_conn *c)
{
	for (int round = 0; round < 4; round++) {
		bool again = false;

		for (int ch = 0; ch < LRPC__N_CHAN && c->t; ch++) {
			bool out = ch != LRPC__CHAN_REQUEST;
			if (out ? !conn_wants_out(c, (lrpc__chan)ch)
				: c->flow_control)
				continue;
			int r = c->tops->t_arm(c->t, (lrpc__chan)ch, out);
			if (r < 0) {
				lrpc__conn_teardown(c);
				return;
			}
			c->armed |= 1u << ch;
			again |= r > 0;
		}
		if (!again)
			return;
		conn_disarm(c);
		conn_flush(c, LRPC__CHAN_RESPONSE);
		conn_flush(c, LRPC__CHAN_EVENT);
		conn_read(c, false);
		if (c->state != CONN_ACTIVE)
			return;
	}
	/* Still busy: let the loop call us again right away. */
	c->tops->t_kick(c->t);
}

static void
conn_read_hello(lrpc_conn *c)
{
	ssize_t n;

	n = recv(c->fd, (uint8_t *)&c->hello + c->hello_got,
		 sizeof(c->hello) - c->hello_got, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		lrpc__conn_teardown(c);
		return;
	}
	c->hello_got += (size_t)n;
	if (c->hello_got == sizeof(c->hello))
		lrpc__server_handshake(c);
}

void
lrpc__conn_on_main(int fd, uint32_t revents, void *userdata)
{
	lrpc_conn *c = userdata;

	lrpc_conn_ref(c);
	if (c->state == CONN_HANDSHAKE) {
		conn_read_hello(c);
		/* Just accepted: announce that we sleep, or the client's
		 * first request would not wake us. */
		if (c->state == CONN_ACTIVE)
			conn_sleep(c);
	} else if (c->state == CONN_ACTIVE) {
		conn_disarm(c);
		for (int ch = LRPC__CHAN_RESPONSE; ch < LRPC__N_CHAN; ch++)
			if (fd == c->chan_fd[ch] && (revents & c->chan_ev[ch]) &&
			    c->state == CONN_ACTIVE)
				conn_flush(c, (lrpc__chan)ch);
		if (c->state == CONN_ACTIVE &&
		    (fd == c->chan_fd[LRPC__CHAN_REQUEST] ||
		     (revents & (LRPC_POLL_HUP | LRPC_POLL_ERR))))
			conn_read(c, true);
		/*
		 * A hang-up on an fd that carries no requests (the main
		 * socket of the shm transport, the event socket) means the
		 * client is gone.
		 */
		if (c->state == CONN_ACTIVE &&
		    fd != c->chan_fd[LRPC__CHAN_REQUEST] &&
		    (revents & (LRPC_POLL_HUP | LRPC_POLL_ERR)))
			lrpc__conn_teardown(c);
		if (c->state == CONN_ACTIVE)
			conn_sleep(c);
	}
	lrpc_conn_unref(c);
}

/* --- Public connection API --- */

#define CONN_CHECK(c, r)                                                    \
	do {                                                                \
		lrpc_return_if_fail(c, r);                                  \
		lrpc_return_if_fail((c)->server->origin_pid == lrpc__getpid(),    \
				    -ECHILD);                               \
	} while (0)

LRPC_EXPORT lrpc_server *
lrpc_conn_get_server(lrpc_conn *c)
{
	return c ? c->server : NULL;
}

LRPC_EXPORT void *
lrpc_conn_get_userdata(lrpc_conn *c)
{
	return c ? c->userdata : NULL;
}

LRPC_EXPORT void
lrpc_conn_set_userdata(lrpc_conn *c, void *userdata)
{
	if (c)
		c->userdata = userdata;
}

LRPC_EXPORT int
lrpc_conn_get_peer(lrpc_conn *c, lrpc_peer *ret)
{
	lrpc_return_if_fail(c && ret, -EINVAL);
	*ret = c->peer;
	return 0;
}

LRPC_EXPORT uint32_t
lrpc_conn_get_max_msg_size(lrpc_conn *c)
{
	return c ? c->max_msg : 0;
}

LRPC_EXPORT lrpc_transport
lrpc_conn_get_transport(lrpc_conn *c)
{
	return c && c->server->tr ? c->server->tr->type : LRPC_TRANSPORT_BEST;
}

LRPC_EXPORT bool
lrpc_conn_is_connected(lrpc_conn *c)
{
	return c && c->state == CONN_ACTIVE;
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
	if (c->resv_q) {
		lrpc__qmsg *m = c->resv_q;
		c->resv_q = NULL;
		if (c->state != CONN_ACTIVE) {
			free(m);
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
		free(c->resv_q);
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

LRPC_EXPORT void
lrpc_conn_close(lrpc_conn *c)
{
	if (!c || c->server->origin_pid != lrpc__getpid())
		return;
	if (c->state == CONN_ACTIVE || c->state == CONN_HANDSHAKE)
		lrpc__conn_close_later(c);
}

LRPC_EXPORT int
lrpc_conn_get_stats(lrpc_conn *c, lrpc_conn_stats *ret, size_t size)
{
	CONN_CHECK(c, -EINVAL);
	lrpc_return_if_fail(ret && size > 0, -EINVAL);
	c->stats.events_queued = c->q[LRPC__CHAN_EVENT].count;
	c->stats.bytes_queued = (uint32_t)LRPC_MIN(
		c->q[LRPC__CHAN_EVENT].bytes + c->q[LRPC__CHAN_RESPONSE].bytes,
		(size_t)UINT32_MAX);
	memcpy(ret, &c->stats, LRPC_MIN(size, sizeof(c->stats)));
	return 0;
}
