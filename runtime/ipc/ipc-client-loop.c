/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The client's side of the poll seam.  A client is attached to a loop
 * through an lrpc_poll_ops table, exactly as a server is: push style with
 * the caller's table, or pull style with a private lrpc_loop whose epoll fd
 * lrpc_client_get_fd() hands out.  Either way the fd, timer and job
 * callbacks below run lrpc_client_process()'s work.
 */
#include <poll.h>

#include "ipc-client-internal.h"
#include "ipc-seam.h"
#include "poll/poll-internal.h"

static int client_process(lrpc_client *c);

/* What the loop's callbacks saw, for a pull-style lrpc_client_process(). */
static void
client_note(lrpc_client *c, int r)
{
	c->proc_ran = true;
	if (r < 0)
		c->proc_err = r;
	else
		c->proc_count += r;
}

static void
client_on_fd(int fd, uint32_t revents, void *userdata)
{
	lrpc_client *c = lrpc_client_ref(userdata);

	client_note(c, client_process(c));
	lrpc_client_unref(c);
}

static void
client_on_connect_timer(void *userdata)
{
	lrpc_client *c = lrpc_client_ref(userdata);

	c->connect_timer = NULL;
	client_note(c, client_process(c));
	lrpc_client_unref(c);
}

static void
client_on_job(void *userdata)
{
	lrpc_client *c = userdata;

	/* A job on the caller's loop holds a reference (jobs cannot be
	 * cancelled), dropped here; one on the private loop needs none:
	 * that loop dies with the client and drops its jobs. */
	if (c->own_loop)
		lrpc_client_ref(c);
	c->job_pending = false;
	client_note(c, client_process(c));
	lrpc_client_unref(c);
}

void
lrpc__client_schedule(lrpc_client *c)
{
	int r;

	if (!c->pops || c->job_pending)
		return;
	if (!c->own_loop)
		lrpc_client_ref(c);
	r = c->pops->job_add(c->loop_data, client_on_job, c);
	if (r < 0) {
		lrpc__log_warning("lrpc client: cannot queue a job: %d", r);
		if (!c->own_loop)
			lrpc_client_unref(c);
		return;
	}
	c->job_pending = true;
}

static int
watch_find(const int *fds, unsigned n, int fd)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] == fd)
			return (int)i;
	return -1;
}

/* Watch @fd for @ev too: merged into its entry if it has one. */
static void
watch_add(int *fds, uint32_t *evs, unsigned *n, int fd, uint32_t ev)
{
	int i = watch_find(fds, *n, fd);

	if (i < 0) {
		i = (int)(*n)++;
		fds[i] = fd;
		evs[i] = 0;
	}
	evs[i] |= ev;
}

/* Whether process has a handler for what arrives on @chan. */
static bool
client_handles(lrpc_client *c, int chan)
{
	return chan == LRPC__CHAN_EVENT ? c->event_fn != NULL
					: c->response_fn != NULL;
}

/*
 * The fds the connection needs watched now: the main socket (the death
 * signal always; its input while connecting), then the transport's
 * distinct wait fds: for room while request data waits, for input of the
 * channels that have a handler (the main socket again where they use it).
 * Input nobody handles is left to the blocking calls: watching it would
 * keep a level-triggered loop busy for as long as it sits there.
 */
static unsigned
watch_wanted(lrpc_client *c, int *fds, uint32_t *evs)
{
	unsigned n = 0;

	if (c->fd < 0 || c->state == CLIENT_DISCONNECTED)
		return 0;
	fds[n] = c->fd;
	evs[n++] = c->state == CLIENT_CONNECTING ? LRPC_POLL_IN : 0;
	if (c->state != CLIENT_CONNECTED || !c->t)
		return n;
	for (int ch = 0; ch < LRPC__N_CHAN; ch++) {
		bool out = ch == LRPC__CHAN_REQUEST; /* room for our data */
		uint32_t ev;
		int fd = c->tops->t_wait_fd(c->t, (lrpc__chan)ch, out, &ev);

		if (out ? c->tops->t_pending(c->t, LRPC__CHAN_REQUEST)
			: client_handles(c, ch))
			watch_add(fds, evs, &n, fd < 0 ? c->fd : fd, ev);
	}
	return n;
}

static int
client_watch_sync(lrpc_client *c)
{
	int fds[CLIENT_MAX_WATCH];
	uint32_t evs[CLIENT_MAX_WATCH];
	unsigned n = watch_wanted(c, fds, evs);
	int r;

	for (unsigned i = 0; i < c->n_watch;) {
		if (watch_find(fds, n, c->watch_fd[i]) >= 0) {
			i++;
			continue;
		}
		(void)c->pops->fd_del(c->loop_data, c->watch_fd[i]);
		c->n_watch--;
		c->watch_fd[i] = c->watch_fd[c->n_watch];
		c->watch_ev[i] = c->watch_ev[c->n_watch];
	}
	for (unsigned i = 0; i < n; i++) {
		int k = watch_find(c->watch_fd, c->n_watch, fds[i]);
		if (k < 0) {
			r = c->pops->fd_add(c->loop_data, fds[i], evs[i],
					    client_on_fd, c);
			if (r < 0)
				return r;
			c->watch_fd[c->n_watch] = fds[i];
			c->watch_ev[c->n_watch++] = evs[i];
		} else if (c->watch_ev[k] != evs[i]) {
			r = c->pops->fd_mod(c->loop_data, fds[i], evs[i]);
			if (r < 0)
				return r;
			c->watch_ev[k] = evs[i];
		}
	}
	return 0;
}

void
lrpc__client_watch_update(lrpc_client *c)
{
	int r;

	if (!c->pops)
		return;
	r = client_watch_sync(c);
	if (r < 0) {
		/* A connection the loop cannot watch would wait forever:
		 * say so and end it. */
		lrpc__log_warning("lrpc client: the loop refused an fd: %d",
				  r);
		lrpc__client_broken(c, r);
	}
}

void
lrpc__client_watch_clear(lrpc_client *c)
{
	if (!c->pops)
		return;
	for (unsigned i = 0; i < c->n_watch; i++)
		(void)c->pops->fd_del(c->loop_data, c->watch_fd[i]);
	c->n_watch = 0;
	if (c->connect_timer) {
		(void)c->pops->timer_del(c->loop_data, c->connect_timer);
		c->connect_timer = NULL;
	}
	lrpc__client_trim_detach(c);
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
 * that loop: announce it for the channels process serves.  Returns 1 if a
 * message arrived meanwhile (process again instead of sleeping).
 */
static int
client_arm(lrpc_client *c)
{
	bool ready = false;

	if (!c->pops || c->state != CLIENT_CONNECTED)
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

void
lrpc__client_rearm(lrpc_client *c)
{
	if (c->tr && (c->tr->caps & LRPC__TCAP_WAKEUPS) && client_arm(c) > 0)
		lrpc__client_schedule(c);
}

static int
client_attach(lrpc_client *c, const lrpc_poll_ops *ops, void *loop_data)
{
	int r;

	c->pops = ops;
	c->loop_data = loop_data;
	r = client_watch_sync(c);
	if (r == 0 && c->state == CLIENT_CONNECTING &&
	    c->connect_deadline != UINT64_MAX) {
		uint64_t left = lrpc__deadline_left_usec(c->connect_deadline);

		r = ops->timer_add(loop_data, left, client_on_connect_timer, c,
				   &c->connect_timer);
	}
	if (r < 0) {
		lrpc__client_watch_clear(c);
		c->pops = NULL;
		c->loop_data = NULL;
		return r;
	}
	lrpc__client_rearm(c);
	lrpc__client_trim_attach(c);
	/* Whatever the transport already holds would not wake the loop. */
	lrpc__client_schedule(c);
	return 0;
}

LRPC_EXPORT int
lrpc_client_set_poll(lrpc_client *c, const lrpc_poll_ops *ops,
		     void *loop_data)
{
	CLIENT_CHECK(c);
	lrpc_return_if_fail(lrpc__poll_ops_check(ops) == 0, -EINVAL);
	if (c->pops)
		return -EBUSY;
	if (c->state == CLIENT_DISCONNECTED)
		return -ENOTCONN;
	return client_attach(c, ops, loop_data);
}

LRPC_EXPORT int
lrpc_client_attach_loop(lrpc_client *c, lrpc_loop *loop)
{
	lrpc_return_if_fail(loop, -EINVAL);
	return lrpc_client_set_poll(c, lrpc_loop_get_poll_ops(), loop);
}

/* Pull style: attach to a private loop, created on first use. */
static int
client_ensure_own_loop(lrpc_client *c)
{
	int r;

	if (c->own_loop)
		return 0;
	if (c->pops)
		return -EBUSY;
	if (c->state == CLIENT_DISCONNECTED)
		return -ENOTCONN;
	r = lrpc_loop_new(&c->own_loop);
	if (r < 0)
		return r;
	r = client_attach(c, lrpc_loop_get_poll_ops(), c->own_loop);
	if (r < 0)
		c->own_loop = lrpc_loop_unref(c->own_loop);
	return r;
}

LRPC_EXPORT int
lrpc_client_get_fd(lrpc_client *c)
{
	int r;

	CLIENT_CHECK(c);
	r = client_ensure_own_loop(c);
	if (r < 0)
		return r;
	return lrpc_loop_get_fd(c->own_loop);
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
	if (c->state != CLIENT_CONNECTING) {
		*ret_usec = LRPC_TIMEOUT_INFINITE;
		return 0;
	}
	*ret_usec = lrpc__deadline_left_usec(c->connect_deadline);
	return 0;
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
			return lrpc__client_broken(c, r);
		fill = false;
		lrpc__client_note_bytes(c, size);
		lrpc_client_ref(c);
		c->fd_msg[chan] = msg;
		fn(c, msg, size, data);
		c->fd_msg[chan] = NULL;
		if (c->t)
			c->tops->t_release(c->t, chan);
		lrpc_client_unref(c);
		n++;
	}
	return n;
}

/* The end of an async connect: tell the connect callback. */
static int
client_process_connect(lrpc_client *c)
{
	int r = lrpc__client_handshake_step(c);

	if (r == 0 && lrpc__now_usec() >= c->connect_deadline)
		r = -ETIMEDOUT;
	if (r == 0)
		return 0;
	if (r < 0) {
		lrpc_client_close(c);
	} else {
		if (c->connect_timer) {
			(void)c->pops->timer_del(c->loop_data,
						 c->connect_timer);
			c->connect_timer = NULL;
		}
		lrpc__client_watch_update(c);
		lrpc__client_rearm(c);
		r = 0;
	}
	lrpc_client_connect_fn cb = c->connect_cb;
	c->connect_cb = NULL;
	if (cb)
		cb(c, r, c->connect_data);
	return 1;
}

/* One round of delivering events and responses to their handlers. */
static int
client_deliver_all(lrpc_client *c)
{
	int n = 0, r;

	if (c->event_fn && !c->viewing[LRPC__CHAN_EVENT]) {
		r = client_deliver(c, LRPC__CHAN_EVENT, c->event_fn,
				   c->event_data);
		if (r < 0)
			return r;
		n += r;
	}
	if (c->response_fn && c->state == CLIENT_CONNECTED &&
	    !c->viewing[LRPC__CHAN_RESPONSE]) {
		r = client_deliver(c, LRPC__CHAN_RESPONSE, c->response_fn,
				   c->response_data);
		if (r < 0)
			return r;
		n += r;
	}
	return n;
}

static int
client_process_connected(lrpc_client *c)
{
	int r, n = 0;

	if (c->tops->t_pending(c->t, LRPC__CHAN_REQUEST)) {
		r = c->tops->t_flush(c->t, LRPC__CHAN_REQUEST);
		if (r < 0 && r != -EAGAIN)
			return lrpc__client_broken(c, r);
	}
	for (int round = 0;; round++) {
		client_disarm(c);
		r = client_deliver_all(c);
		if (r < 0)
			return r;
		n += r;
		if (c->state != CLIENT_CONNECTED)
			return -ENOTCONN;
		r = client_arm(c);
		if (r < 0)
			return lrpc__client_broken(c, r);
		if (r == 0)
			break;
		if (round == 16) {
			/* A steady stream: come back through the loop so
			 * that the caller's other sources get their turn. */
			lrpc__client_schedule(c);
			break;
		}
	}
	/* Woken with nothing to deliver: the server may be gone (with shm
	 * nothing is ever read from the socket that would tell us). */
	if (n == 0 && lrpc__client_main_hung_up(c))
		return lrpc__client_broken(c, -ECONNRESET);
	if (n > 0 && c->trim_pending)
		c->trim_last = lrpc__now_coarse_usec();
	lrpc__client_watch_update(c);
	return n;
}

/* The closed handler, once, after the connection ended. */
static void
client_notify_closed(lrpc_client *c)
{
	lrpc_client_closed_fn fn = c->closed_fn;

	if (!c->closed_pending)
		return;
	c->closed_pending = false;
	if (fn)
		fn(c, c->closed_reason, c->closed_data);
}

static int
client_process(lrpc_client *c)
{
	int r;

	lrpc_client_ref(c);
	if (c->state == CLIENT_CONNECTING)
		r = client_process_connect(c);
	else if (c->state == CLIENT_CONNECTED)
		r = client_process_connected(c);
	else
		r = -ENOTCONN;
	if (c->state == CLIENT_DISCONNECTED && c->closed_pending) {
		client_notify_closed(c);
		r = -ENOTCONN;
	}
	lrpc_client_unref(c);
	return r;
}

LRPC_EXPORT int
lrpc_client_process(lrpc_client *c)
{
	int r;

	CLIENT_CHECK(c);
	if (!c->own_loop)
		return client_process(c);
	/* Pull style: the private loop runs the callbacks of whatever is
	 * ready; with nothing ready, do the work anyway (messages already
	 * buffered, a connect deadline passed). */
	lrpc_client_ref(c);
	c->proc_count = 0;
	c->proc_err = 0;
	c->proc_ran = false;
	r = lrpc_loop_run_once(c->own_loop, 0);
	if (r >= 0)
		r = c->proc_ran ? (c->proc_err ? c->proc_err : c->proc_count)
				: client_process(c);
	lrpc_client_unref(c);
	return r;
}

int
lrpc__client_wait_readable(lrpc_client *c, uint64_t timeout_usec)
{
	struct pollfd p = { .fd = lrpc_client_get_fd(c), .events = POLLIN };
	int r;

	if (p.fd < 0)
		return p.fd;
	r = poll(&p, 1, lrpc__timeout_poll_ms(timeout_usec));
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	return r > 0;
}

LRPC_EXPORT int
lrpc_client_run_once(lrpc_client *c, uint64_t timeout_usec)
{
	int r;

	CLIENT_CHECK(c);
	/* Messages already buffered do not make the fd readable. */
	r = lrpc_client_process(c);
	if (r != 0)
		return r;
	r = lrpc__client_wait_readable(c, timeout_usec);
	if (r <= 0)
		return r;
	return lrpc_client_process(c);
}

LRPC_EXPORT void
lrpc_client_set_event_handler(lrpc_client *c, lrpc_client_msg_fn fn,
			      void *userdata)
{
	if (!c)
		return;
	c->event_fn = fn;
	c->event_data = userdata;
	lrpc__client_watch_update(c);
	lrpc__client_rearm(c);
	if (fn)
		lrpc__client_schedule(c);
}

LRPC_EXPORT void
lrpc_client_set_response_handler(lrpc_client *c, lrpc_client_msg_fn fn,
				 void *userdata)
{
	if (!c)
		return;
	c->response_fn = fn;
	c->response_data = userdata;
	lrpc__client_watch_update(c);
	lrpc__client_rearm(c);
	if (fn)
		lrpc__client_schedule(c);
}

LRPC_EXPORT void
lrpc_client_set_closed_handler(lrpc_client *c, lrpc_client_closed_fn fn,
			       void *userdata)
{
	if (!c)
		return;
	c->closed_fn = fn;
	c->closed_data = userdata;
}
