/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One server-side connection: its life from accept to destroyed (creation,
 * references, the close/destroy sequence, hooks) and its public state.
 * Sending is in ipc-conn-send.c, reading in ipc-conn-recv.c.
 */
#include <string.h>
#include <sys/socket.h>

#include "ipc-internal.h"

/* How long to wait before asking a "closed" callback again. */
#define CLOSED_RETRY_USEC (10u * 1000u)

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

int
lrpc__conn_count_deferred(lrpc_conn *c, int delta)
{
	if (delta > 0 && c->n_deferred >= c->server->opts.max_deferred_calls)
		return -EBUSY;
	assert(delta > 0 || c->n_deferred > 0);
	c->n_deferred += (uint32_t)delta;
	return 0;
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
	r = lrpc__accept_read_peer(fd, &c->peer, &c->groups);
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

/*
 * The last reference is gone: destroyed runs, and the reference this
 * connection held on its server goes (see server_drop() in ipc-server.c
 * for how that two-way link ends).
 */
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

LRPC_DEFINE_REF_UNREF(LRPC_EXPORT, lrpc_conn, lrpc_conn, conn_free)

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
	lrpc__conn_trim_unlist(c);
	lrpc__conn_release_wakes(c);
	for (unsigned i = 0; i < c->n_wfd; i++)
		s->pops->fd_del(s->loop_data, c->wfd[i]);
	c->n_wfd = 0;
	c->fd = lrpc__safe_close(c->fd);
	for (int i = 0; i < LRPC__N_CHAN; i++)
		lrpc__conn_queue_clear(&c->q[i]);
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
		lrpc__accept_uid_release(s, c->peer.uid);
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

/* --- Public connection API --- */

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
	c->stats.ring_bytes = 0;
	c->stats.buffer_bytes = c->q[LRPC__CHAN_EVENT].bytes +
				c->q[LRPC__CHAN_RESPONSE].bytes;
	if (c->t) {
		uint64_t ring, buf;

		c->tops->t_held(c->t, &ring, &buf);
		c->stats.ring_bytes = ring;
		c->stats.buffer_bytes += buf;
	}
	memcpy(ret, &c->stats, LRPC_MIN(size, sizeof(c->stats)));
	return 0;
}
