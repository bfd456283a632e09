/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The server: options, listening and accept(2), the pull/push loop
 * integration, the selector and the service-wide API.  What happens to an
 * accepted socket until it is a connection is in ipc-accept.c.
 */
#include <string.h>
#include <sys/socket.h>

#include "ipc-internal.h"
#include "poll/poll-internal.h"

/* A full fd table must not turn the accept loop into a busy loop. */
#define ACCEPT_PAUSE_USEC (100u * 1000u)
#define ACCEPT_BATCH 32

static void
server_apply_defaults(lrpc_server_opts *o)
{
	if (o->min_msg_size == 0)
		o->min_msg_size = 4096;
	if (o->max_msg_size == 0)
		o->max_msg_size = 64u * LRPC_DEFAULT_MAX_MSG_SIZE;
	if (o->max_connections == 0)
		o->max_connections = 1024;
	if (o->max_pending == 0)
		o->max_pending = 64;
	/* LRPC_TIMEOUT_DEFAULT is accepted as "default" as well as 0. */
	if (o->handshake_timeout_usec == 0 ||
	    o->handshake_timeout_usec == LRPC_TIMEOUT_DEFAULT)
		o->handshake_timeout_usec = 5 * LRPC_USEC_PER_SEC;
	if (o->socket_mode == 0)
		o->socket_mode = 0666;
	if (o->stall_timeout_usec == 0 ||
	    o->stall_timeout_usec == LRPC_TIMEOUT_DEFAULT)
		o->stall_timeout_usec = 30 * LRPC_USEC_PER_SEC;
	if (o->read_timeout_usec == 0 ||
	    o->read_timeout_usec == LRPC_TIMEOUT_DEFAULT)
		o->read_timeout_usec = 10 * LRPC_USEC_PER_SEC;
	if (o->max_deferred_calls == 0)
		o->max_deferred_calls = 1024;
	if (o->idle_trim_usec == 0 ||
	    o->idle_trim_usec == LRPC_TIMEOUT_DEFAULT)
		o->idle_trim_usec = 750 * LRPC_USEC_PER_MSEC;
	/* The check runs every quarter of it: at least 1 ms apart. */
	if (o->idle_trim_usec < 4000)
		o->idle_trim_usec = 4000;
	if (o->max_fds_per_msg == 0)
		o->max_fds_per_msg = LRPC_DEFAULT_MAX_FDS_PER_MSG;
	if (o->max_fds_per_conn == 0)
		o->max_fds_per_conn = LRPC_DEFAULT_MAX_FDS_PER_CONN;
}

LRPC_EXPORT int
lrpc_server_new(lrpc_server **ret, const char *name,
		const lrpc_server_callbacks *cb, const lrpc_server_opts *opts,
		void *userdata)
{
	lrpc_server_callbacks cbs = { .struct_size = sizeof(cbs) };
	lrpc_server_opts o = { .struct_size = sizeof(o) };
	lrpc_server *s;
	int r;

	lrpc_return_if_fail(ret, -EINVAL);
	lrpc_return_if_fail(lrpc__name_validate(name) == 0, -EINVAL);
	if (cb) {
		r = lrpc__copy_sized(&cbs, sizeof(cbs), cb,
				     LRPC__SIZE_UNTIL(lrpc_server_callbacks,
						      destroyed));
		if (r < 0)
			return r;
	}
	if (opts) {
		r = lrpc__copy_sized(&o, sizeof(o), opts,
				     LRPC__SIZE_UNTIL(lrpc_server_opts,
						      read_timeout_usec));
		if (r < 0)
			return r;
	}
	lrpc_return_if_fail(o.transport < _LRPC_TRANSPORT_MAX, -EINVAL);

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->n_ref = 1;
	s->origin_pid = lrpc__getpid();
	strcpy(s->name, name);
	s->cb = cbs;
	s->opts = o;
	server_apply_defaults(&s->opts);
	s->userdata = userdata;
	s->bound.fd = -1;
	s->spin_usec = LRPC__DEFAULT_SPIN_USEC;
	s->start_usec = lrpc__now_usec();
	if (s->opts.min_msg_size > s->opts.max_msg_size ||
	    !lrpc__fd_opts_valid(s->opts.max_fds_per_msg,
				 s->opts.max_fds_per_conn) ||
	    s->opts.max_msg_size > LRPC_MAX_MSG_SIZE_LIMIT ||
	    s->opts.min_msg_size < LRPC__MIN_MSG_SIZE) {
		free(s);
		return -EINVAL;
	}
	s->tr = lrpc__transport_get(s->opts.transport);
	if (!s->tr) {
		free(s);
		return -EPROTONOSUPPORT;
	}
	*ret = s;
	return 0;
}

static int
server_ensure_poll(lrpc_server *s)
{
	int r;

	if (s->pops)
		return 0;
	r = lrpc_loop_new(&s->own_loop);
	if (r < 0)
		return r;
	s->pops = lrpc_loop_get_poll_ops();
	s->loop_data = s->own_loop;
	return 0;
}

LRPC_EXPORT int
lrpc_server_set_poll(lrpc_server *s, const lrpc_poll_ops *ops, void *loop_data)
{
	SERVER_CHECK(s, -EINVAL);
	lrpc_return_if_fail(lrpc__poll_ops_check(ops) == 0, -EINVAL);
	lrpc_return_if_fail(!s->started && !s->pops, -EBUSY);
	s->pops = ops;
	s->loop_data = loop_data;
	return 0;
}

LRPC_EXPORT int
lrpc_server_attach_loop(lrpc_server *s, lrpc_loop *loop)
{
	lrpc_return_if_fail(loop, -EINVAL);
	return lrpc_server_set_poll(s, lrpc_loop_get_poll_ops(), loop);
}

static void
server_on_pause_end(void *userdata)
{
	lrpc_server *s = userdata;

	s->pause_timer = NULL;
	if (s->closed || s->bound.fd < 0)
		return;
	s->listen_paused = false;
	s->pops->fd_mod(s->loop_data, s->bound.fd, LRPC_POLL_IN);
}

static void
server_pause_accept(lrpc_server *s)
{
	if (s->listen_paused)
		return;
	if (s->pops->timer_add(s->loop_data, ACCEPT_PAUSE_USEC,
			       server_on_pause_end, s, &s->pause_timer) < 0)
		return; /* keep accepting: better busy than deaf */
	s->listen_paused = true;
	s->pops->fd_mod(s->loop_data, s->bound.fd, 0);
	lrpc__log_warning("lrpc server %s: out of fds, pausing accept",
			  s->name);
}

/*
 * Fair admission.  The handshake slots (max_pending) are full: rather than
 * refuse the newcomer -- which lets anyone who keeps re-opening silent
 * connections lock everybody out -- close the oldest pending connection of
 * the uid that holds the most slots.  A flood from one uid then only ever
 * pushes out its own connections (the newest, honest client of any uid
 * gets a slot and has the handshake timeout to finish), and a flooder's
 * connections live just as long as the flood is slow.  Returns true if a
 * slot was freed.
 */
static bool
server_evict_pending(lrpc_server *s)
{
	lrpc_conn *victim = NULL;
	uint32_t most = 0;

	/* The list is newest first: the last one of a uid is its oldest.
	 * At most max_pending entries, so counting per entry is cheap. */
	for (lrpc_conn *c = s->pending; c; c = c->next) {
		uint32_t n = 0;
		lrpc_conn *oldest = c;

		for (lrpc_conn *d = s->pending; d; d = d->next)
			if (d->peer.uid == c->peer.uid) {
				n++;
				oldest = d;
			}
		if (n > most) {
			most = n;
			victim = oldest;
		}
	}
	if (!victim)
		return false;
	lrpc__log_debug("lrpc server %s: handshake slots full: closing the "
			"oldest pending connection of uid %u (%u pending)",
			s->name, (unsigned)victim->peer.uid, most);
	s->stats.refused_connections++;
	lrpc__conn_teardown(victim);
	return true;
}

static void
server_on_listen(int fd, uint32_t revents, void *userdata)
{
	lrpc_server *s = userdata;

	for (int i = 0; i < ACCEPT_BATCH; i++) {
		lrpc_conn *c;
		int cfd, r;

		cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (cfd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				server_pause_accept(s);
			return;
		}
		if (s->stats.pending_connections >= s->opts.max_pending &&
		    !server_evict_pending(s)) {
			s->stats.refused_connections++;
			close(cfd);
			continue;
		}
		r = lrpc__conn_new(s, cfd, &c);
		if (r < 0) {
			s->stats.refused_connections++;
			close(cfd);
			continue;
		}
	}
}

LRPC_EXPORT int
lrpc_server_start(lrpc_server *s)
{
	int r;

	SERVER_CHECK(s, -EINVAL);
	lrpc_return_if_fail(!s->started && !s->closed, -EBUSY);
	r = server_ensure_poll(s);
	if (r < 0)
		return r;
	r = 0;
	if (!(s->opts.flags & LRPC_SERVER_NO_ACTIVATION))
		r = lrpc__naming_adopt(s->name, &s->bound);
	if (r == 0)
		r = lrpc__naming_listen(s->name, s->opts.socket_mode,
					&s->bound);
	if (r < 0)
		return r;
	r = s->pops->fd_add(s->loop_data, s->bound.fd, LRPC_POLL_IN,
			    server_on_listen, s);
	if (r < 0) {
		lrpc__naming_unlisten(&s->bound);
		return r;
	}
	s->started = true;
	return 0;
}

LRPC_EXPORT void
lrpc_server_close(lrpc_server *s)
{
	if (!s || s->closed || s->origin_pid != lrpc__getpid())
		return;
	s->closed = true;
	lrpc_server_ref(s);
	if (s->bound.fd >= 0) {
		if (s->started)
			s->pops->fd_del(s->loop_data, s->bound.fd);
		lrpc__naming_unlisten(&s->bound);
	}
	if (s->pause_timer) {
		s->pops->timer_del(s->loop_data, s->pause_timer);
		s->pause_timer = NULL;
	}
	while (s->pending)
		lrpc__conn_teardown(s->pending);
	while (s->conns)
		lrpc__conn_teardown(s->conns);
	lrpc__server_trim_stop(s);
	/* With our own loop nobody else would run the jobs that still hold
	 * connection references: drain them here. */
	if (s->own_loop)
		while (lrpc_loop_run_once(s->own_loop, 0) > 0)
			;
	lrpc_server_unref(s);
}

int
lrpc__server_find_handler(lrpc_server *s, int32_t id, lrpc_handler_fn *ret_fn,
			  void **ret_userdata)
{
	lrpc_return_if_fail(s, -EINVAL);
	return lrpc__selector_find(&s->sel, id, ret_fn, ret_userdata);
}

uint32_t
lrpc__server_get_flags(lrpc_server *s)
{
	return s ? s->opts.flags : 0;
}

int
lrpc__server_set_tap(lrpc_server *s, lrpc__tap_fn fn, void *data)
{
	if (!s)
		return -EINVAL;
	s->tap = fn;
	s->tap_data = data;
	return 0;
}

void
lrpc__conn_run_tap(lrpc_conn *c, lrpc__tap_dir dir, const struct iovec *iov,
		   size_t n_iov, size_t size)
{
	lrpc_server *s = c->server;

	/* What the tap sends (to its monitors) is not tapped again. */
	if (s->in_tap)
		return;
	s->in_tap = true;
	s->tap(c, dir, iov, n_iov, size, s->tap_data);
	s->in_tap = false;
}

uint64_t
lrpc__conn_get_id(lrpc_conn *c)
{
	return c ? c->id : 0;
}

uint64_t
lrpc__server_get_uptime_usec(lrpc_server *s)
{
	return s && s->start_usec ? lrpc__now_usec() - s->start_usec : 0;
}

int
lrpc__server_add_free_hook(lrpc_server *s, lrpc__hook_fn fn, void *data)
{
	return lrpc__hook_add(&s->free_hooks, fn, data);
}

static void
server_free(lrpc_server *s)
{
	lrpc__hooks_run(&s->free_hooks, s);
	lrpc__selector_done(&s->sel);
	free(s->uids);
	lrpc_loop_unref(s->own_loop);
	free(s);
}

/*
 * The one place the server/connection cycle is broken.  Every connection
 * holds a reference on its server (n_conn_refs of them), and the server
 * lists its connections.  When a reference is about to go and only the
 * connections' would be left -- nobody outside can reach the server any
 * more, this includes the very last reference of a server without
 * connections -- the server closes: that stops listening (no socket fd or
 * file left behind, as server.h promises) and closes every connection,
 * whose teardown then drops the references that kept the server.  The
 * reference being dropped is still held during the close.
 */
static void
server_drop(lrpc_server *s)
{
	if (s->n_ref - 1 == s->n_conn_refs && !s->closed &&
	    s->origin_pid == lrpc__getpid())
		lrpc_server_close(s);
}

LRPC_DEFINE_REF_UNREF_WITH_DROP(LRPC_EXPORT, lrpc_server, lrpc_server,
				server_drop, server_free)

LRPC_EXPORT int
lrpc_server_get_fd(lrpc_server *s)
{
	int r;

	SERVER_CHECK(s, -EINVAL);
	if (s->pops && !s->own_loop)
		return -EBUSY;
	r = server_ensure_poll(s);
	if (r < 0)
		return r;
	return lrpc_loop_get_fd(s->own_loop);
}

LRPC_EXPORT int
lrpc_server_get_events(lrpc_server *s)
{
	SERVER_CHECK(s, -EINVAL);
	return LRPC_POLL_IN;
}

LRPC_EXPORT int
lrpc_server_get_timeout(lrpc_server *s, uint64_t *ret_usec)
{
	SERVER_CHECK(s, -EINVAL);
	lrpc_return_if_fail(ret_usec, -EINVAL);
	*ret_usec = UINT64_MAX;
	return 0;
}

LRPC_EXPORT int
lrpc_server_run_once(lrpc_server *s, uint64_t timeout_usec)
{
	int r;

	SERVER_CHECK(s, -EINVAL);
	if (s->pops && !s->own_loop)
		return -EBUSY;
	r = server_ensure_poll(s);
	if (r < 0)
		return r;
	return lrpc_loop_run_once(s->own_loop, timeout_usec);
}

LRPC_EXPORT int
lrpc_server_process(lrpc_server *s)
{
	return lrpc_server_run_once(s, 0);
}

LRPC_EXPORT int
lrpc_server_add_handler(lrpc_server *s, int32_t id, lrpc_handler_fn fn,
			void *userdata)
{
	SERVER_CHECK(s, -EINVAL);
	lrpc_return_if_fail(fn, -EINVAL);
	return lrpc__selector_add(&s->sel, id, fn, userdata);
}

LRPC_EXPORT int
lrpc_server_remove_handler(lrpc_server *s, int32_t id)
{
	SERVER_CHECK(s, -EINVAL);
	return lrpc__selector_remove(&s->sel, id);
}

LRPC_EXPORT int
lrpc_server_set_fallback(lrpc_server *s, lrpc_handler_fn fn, void *userdata)
{
	SERVER_CHECK(s, -EINVAL);
	s->sel.fallback = fn;
	s->sel.fallback_data = userdata;
	return 0;
}

LRPC_EXPORT int
lrpc_server_set_selector(lrpc_server *s, lrpc_selector_fn fn,
			 void *selector_data)
{
	SERVER_CHECK(s, -EINVAL);
	s->sel.hook = fn;
	s->sel.hook_data = selector_data;
	return 0;
}

LRPC_EXPORT void *
lrpc_server_get_userdata(lrpc_server *s)
{
	return s ? s->userdata : NULL;
}

LRPC_EXPORT void
lrpc_server_set_userdata(lrpc_server *s, void *userdata)
{
	if (s)
		s->userdata = userdata;
}

LRPC_EXPORT const char *
lrpc_server_get_name(lrpc_server *s)
{
	return s ? s->name : NULL;
}

LRPC_EXPORT lrpc_transport
lrpc_server_get_transport(lrpc_server *s)
{
	return s ? s->tr->type : LRPC_TRANSPORT_BEST;
}

LRPC_EXPORT int
lrpc_server_set_stop_sending(lrpc_server *s, bool stop)
{
	SERVER_CHECK(s, -EINVAL);
	s->stop_sending = stop;
	for (lrpc_conn *c = s->conns; c; c = c->next)
		lrpc__conn_set_ctl(c);
	return 0;
}

LRPC_EXPORT int
lrpc_server_set_spin(lrpc_server *s, uint64_t usec)
{
	SERVER_CHECK(s, -EINVAL);
	lrpc_return_if_fail(usec <= 1000000, -EINVAL);
	s->spin_usec = (uint32_t)usec;
	return 0;
}

LRPC_EXPORT int
lrpc_server_get_stats(lrpc_server *s, lrpc_server_stats *ret, size_t size)
{
	SERVER_CHECK(s, -EINVAL);
	lrpc_return_if_fail(ret && size > 0, -EINVAL);
	memcpy(ret, &s->stats, LRPC_MIN(size, sizeof(s->stats)));
	return 0;
}

LRPC_EXPORT lrpc_conn *
lrpc_server_get_first_conn(lrpc_server *s)
{
	if (!s)
		return NULL;
	for (lrpc_conn *c = s->conns; c; c = c->next)
		if (c->state == CONN_ACTIVE)
			return c;
	return NULL;
}

LRPC_EXPORT lrpc_conn *
lrpc_conn_get_next(lrpc_conn *c)
{
	if (!c)
		return NULL;
	for (c = c->next; c; c = c->next)
		if (c->state == CONN_ACTIVE)
			return c;
	return NULL;
}
