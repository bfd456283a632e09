/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A connection's reading side: the hello, requests read and dispatched
 * through the selector, spinning for the next one, the read timeout, and
 * what the connection asks of the poll loop before it sleeps.
 */
#include <string.h>
#include <sys/socket.h>

#include "ipc-internal.h"

static void conn_check_partial(lrpc_conn *c);
static int conn_read(lrpc_conn *c, bool fill);
static void conn_disarm(lrpc_conn *c);

static bool
conn_wants_out(lrpc_conn *c, lrpc__chan chan)
{
	return c->q[chan].count > 0 || c->tops->t_pending(c->t, chan);
}

/* Register exactly the events we need on every watched fd. */
void
lrpc__conn_update_events(lrpc_conn *c)
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
		if (fd == c->fd && c->tops->t_main_blocked &&
		    c->tops->t_main_blocked(c->t))
			ev |= LRPC_POLL_OUT;
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
	lrpc__conn_update_events(c);
	return 0;
}

void
lrpc__conn_on_resume_job(void *userdata)
{
	lrpc_conn *c = userdata;

	c->resume_job_pending = false;
	if (c->state == CONN_ACTIVE) {
		conn_disarm(c);
		conn_read(c, false);
		if (c->state == CONN_ACTIVE)
			lrpc__conn_sleep(c);
	}
	lrpc_conn_unref(c);
}

static void
conn_dispatch(lrpc_conn *c, const lrpc_msg_header *msg, size_t size)
{
	lrpc_server *s = c->server;
	lrpc_handler_fn fn = NULL;
	void *ud = NULL;
	int r;

	c->stats.requests++;
	lrpc__conn_note_bytes(c, size);
	LRPC__CONN_TAP(c, LRPC__TAP_REQUEST,
		       (&(struct iovec){ .iov_base = (void *)msg,
					 .iov_len = size }),
		       1, size);
	c->in_dispatch = true;
	c->responded = false;
	c->cur_seq = msg->seq;
	c->cur_msg = msg;
	r = lrpc__selector_route(&s->sel, c, msg, &fn, &ud);
	s->dispatching++;
	if (r > 0)
		r = fn(c, msg, size, ud);
	else if (r == 0)
		r = -ENOSYS;
	if (r < 0 && !c->responded && c->state == CONN_ACTIVE)
		(void)lrpc_conn_send_error(c, msg->id, r < -4095 ? -EIO : r);
	if (--s->dispatching == 0)
		lrpc__server_release_wakes(s);
	c->in_dispatch = false;
	c->cur_seq = 0;
	c->cur_msg = NULL;
}

/*
 * Wait (busy) up to the service's spin budget for the client's next
 * request: a client in a call loop sends it within a microsecond or two,
 * and catching it here saves both sides a sleep and a wake-up.
 */
/*
 * Spins in a row that found no request, after which a connection gets
 * none until a request comes so soon after the last one gave up that
 * spinning would have caught it: a client that pauses between calls
 * would otherwise cost the server its whole budget after every one,
 * time the other connections wait for.
 */
#define CONN_SPIN_MISSES_MAX 2u

static bool
conn_spin(lrpc_conn *c, uint64_t limit)
{
	uint64_t now, end;

	if (!lrpc__spin_worth(c->server->tr, c->t, c->server->spin_usec))
		return false;
	now = lrpc__now_usec();
	if (c->spin_misses >= CONN_SPIN_MISSES_MAX) {
		c->spin_gave_up = now; /* where a spin would have started */
		return false;
	}
	end = now + c->server->spin_usec + c->spin_extra;
	if (end > limit)
		end = limit;
	if (lrpc__spin(c->tops, c->t, LRPC__CHAN_REQUEST, false, end)) {
		c->spin_misses = 0;
		return true;
	}
	c->spin_misses++;
	c->spin_gave_up = lrpc__now_usec();
	return false;
}

/* A request arrived while the connection slept: would a spin have seen
 * it? */
static void
conn_spin_judge(lrpc_conn *c)
{
	if (c->spin_misses >= CONN_SPIN_MISSES_MAX &&
	    lrpc__now_usec() - c->spin_gave_up <=
		    c->server->spin_usec + c->spin_extra)
		c->spin_misses = 0;
}

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
/* Empty doorbells in a row after which a connection gets no spinning... */
#define CONN_IDLE_RINGS_NO_SPIN 16u
/* ...and after which it is taken for a doorbell storm and dropped. */
#define CONN_IDLE_RINGS_MAX 10000u

/* Read and dispatch what is there; returns the number of requests. */
static int
conn_read(lrpc_conn *c, bool fill)
{
	const lrpc_msg_header *msg;
	size_t size;
	uint64_t limit = 0;
	int r, n = 0;

	while (c->state == CONN_ACTIVE && !c->flow_control) {
		r = c->tops->t_recv(c->t, LRPC__CHAN_REQUEST, fill, &msg,
				    &size);
		if (r == 0) {
			if (fill)
				c->stats.recv_retries++;
			conn_check_partial(c);
			/* A connection whose doorbell keeps ringing for
			 * nothing costs no spinning. */
			if (!(c->server->tr->caps & LRPC__TCAP_WAKEUPS) ||
			    c->server->spin_usec == 0 ||
			    c->idle_rings >= CONN_IDLE_RINGS_NO_SPIN)
				return n;
			if (limit == 0)
				limit = lrpc__now_usec() + CONN_BUSY_USEC;
			if (!conn_spin(c, limit))
				return n;
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
			return n;
		}
		/* One read per wake-up keeps one busy client from starving
		 * the others; what is buffered is dispatched now. */
		if (n == 0 && limit == 0)
			conn_spin_judge(c);
		fill = false;
		n++;
		conn_dispatch(c, msg, size);
		if (c->t)
			c->tops->t_release(c->t, LRPC__CHAN_REQUEST);
	}
	return n;
}

/*
 * HARDENING B25: a peer that rings the doorbell without data would keep
 * the server waking (and spinning) for nothing.  Count empty rings in a
 * row -- those no send of ours waited for (a client making room for our
 * responses rings legitimately) -- stop spinning for such a connection,
 * and drop it when the count shows a storm, not a race.
 */
static void
conn_note_ring(lrpc_conn *c, int n_requests)
{
	uint64_t sent = c->stats.responses + c->stats.events;

	/* A client reading what we send rings to make room, and a ring can
	 * arrive after we found the room ourselves: any traffic since the
	 * last ring makes the rings honest. */
	if (n_requests > 0 || sent != c->sent_at_ring) {
		c->idle_rings = 0;
		c->sent_at_ring = sent;
		return;
	}
	for (int ch = LRPC__CHAN_RESPONSE; ch < LRPC__N_CHAN; ch++)
		if (conn_wants_out(c, (lrpc__chan)ch))
			return;
	if (++c->idle_rings < CONN_IDLE_RINGS_MAX)
		return;
	lrpc__log_warning("lrpc server %s: pid %d rang %u times in a row "
			  "without a request, disconnecting",
			  c->server->name, (int)c->peer.pid, c->idle_rings);
	lrpc__conn_teardown(c);
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
void
lrpc__conn_sleep(lrpc_conn *c)
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
		lrpc__conn_flush(c, LRPC__CHAN_RESPONSE);
		lrpc__conn_flush(c, LRPC__CHAN_EVENT);
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
		lrpc__accept_hello(c);
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
			lrpc__conn_sleep(c);
	} else if (c->state == CONN_ACTIVE) {
		conn_disarm(c);
		/* (Room on the main socket is room for the transport's
		 * sends blocked there: t_main_blocked.) */
		bool main_out = fd == c->fd && (revents & LRPC_POLL_OUT);
		for (int ch = LRPC__CHAN_RESPONSE; ch < LRPC__N_CHAN; ch++)
			if (((fd == c->chan_fd[ch] &&
			      (revents & c->chan_ev[ch])) ||
			     main_out) &&
			    c->state == CONN_ACTIVE)
				lrpc__conn_flush(c, (lrpc__chan)ch);
		if (c->state == CONN_ACTIVE &&
		    (fd == c->chan_fd[LRPC__CHAN_REQUEST] ||
		     (revents & (LRPC_POLL_HUP | LRPC_POLL_ERR)))) {
			int n = conn_read(c, true);
			if (c->state == CONN_ACTIVE &&
			    fd == c->chan_fd[LRPC__CHAN_REQUEST] &&
			    (c->server->tr->caps & LRPC__TCAP_WAKEUPS))
				conn_note_ring(c, n);
		}
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
			lrpc__conn_sleep(c);
	}
	lrpc_conn_unref(c);
}
