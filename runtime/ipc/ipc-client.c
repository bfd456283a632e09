/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The client object: lifetime, options and state. */
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "ipc-client-internal.h"
#include "ipc-naming.h"
#include "ipc-seam.h"

/*
 * End the connection: leave the loop, close every fd.  @notify: tell the
 * closed handler (from the next process) with @reason; never while the
 * client is being freed.
 */
static void
client_disconnect(lrpc_client *c, int reason, bool notify)
{
	bool was_connected = c->state == CLIENT_CONNECTED;

	lrpc__client_watch_clear(c);
	if (c->t) {
		c->tops->t_free(c->t);
		c->t = NULL;
	}
	lrpc__ctl_done(&c->ctl);
	lrpc__fdset_close(&c->fds);
	c->fd = lrpc__safe_close(c->fd);
	c->state = CLIENT_DISCONNECTED;
	if (notify && was_connected && !c->closed_pending) {
		c->closed_pending = true;
		c->closed_reason = reason;
		/* In push style nobody calls process: the loop must. */
		if (c->closed_fn)
			lrpc__client_schedule(c);
	}
}

LRPC_EXPORT void
lrpc_client_close(lrpc_client *c)
{
	if (!c || c->origin_pid != lrpc__getpid())
		return;
	client_disconnect(c, -ECANCELED, true);
}

static void
client_free(lrpc_client *c)
{
	/* A forked child must not shut its parent's connection down:
	 * closing our copies of the fds is harmless (no shutdown() is ever
	 * called), and the private loop is ours alone. */
	client_disconnect(c, 0, false);
	c->own_loop = lrpc_loop_unref(c->own_loop);
	free(c);
}

LRPC_DEFINE_REF_UNREF(LRPC_EXPORT, lrpc_client, lrpc_client, client_free)

int
lrpc__client_broken(lrpc_client *c, int r)
{
	if (r != -ECONNRESET)
		lrpc__log_debug("lrpc client: connection broken: %d", r);
	client_disconnect(c, r == -ECONNRESET ? -ENOTCONN : r, true);
	return -ENOTCONN;
}

int
lrpc__client_check_ready(lrpc_client *c)
{
	CLIENT_CHECK(c);
	if (c->state != CLIENT_CONNECTED)
		return -ENOTCONN;
	if (c->trim_pending)
		lrpc__client_trim_op(c);
	return 0;
}

uint64_t
lrpc__client_deadline(uint64_t timeout_usec)
{
	return lrpc__deadline_from_usec(timeout_usec,
					LRPC_DEFAULT_TIMEOUT_USEC);
}

bool
lrpc__client_main_hung_up(lrpc_client *c)
{
	struct pollfd p = { .fd = c->fd, .events = 0 };

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR));
}

static int
client_opts_init(lrpc_client *c, const lrpc_client_opts *opts)
{
	c->opts.struct_size = sizeof(c->opts);
	if (opts) {
		int r = lrpc__copy_sized(&c->opts, sizeof(c->opts), opts,
					 LRPC__SIZE_UNTIL(lrpc_client_opts,
							  server_uid));
		if (r < 0)
			return r;
	}
	if (c->opts.transport >= _LRPC_TRANSPORT_MAX)
		return -EINVAL;
	if (c->opts.max_msg_size == 0)
		c->opts.max_msg_size = LRPC_DEFAULT_MAX_MSG_SIZE;
	if (c->opts.max_msg_size > LRPC_MAX_MSG_SIZE_LIMIT)
		return -EINVAL;
	/* As every option member, 0 (and LRPC_TIMEOUT_DEFAULT) is the
	 * default. */
	if (c->opts.connect_timeout_usec == 0 ||
	    c->opts.connect_timeout_usec == LRPC_TIMEOUT_DEFAULT)
		c->opts.connect_timeout_usec = 5 * LRPC_USEC_PER_SEC;
	if (c->opts.send_timeout_usec == 0 ||
	    c->opts.send_timeout_usec == LRPC_TIMEOUT_DEFAULT)
		c->opts.send_timeout_usec = 5 * LRPC_USEC_PER_SEC;
	if (c->opts.idle_trim_usec == 0 ||
	    c->opts.idle_trim_usec == LRPC_TIMEOUT_DEFAULT)
		c->opts.idle_trim_usec = 750 * LRPC_USEC_PER_MSEC;
	if (c->opts.wait_usec == LRPC_TIMEOUT_DEFAULT)
		c->opts.wait_usec = 0;
	if (c->opts.max_fds_per_msg == 0)
		c->opts.max_fds_per_msg = LRPC_DEFAULT_MAX_FDS_PER_MSG;
	if (c->opts.max_fds_per_conn == 0)
		c->opts.max_fds_per_conn = LRPC_DEFAULT_MAX_FDS_PER_CONN;
	if (!lrpc__fd_opts_valid(c->opts.max_fds_per_msg,
				 c->opts.max_fds_per_conn))
		return -EINVAL;
	return 0;
}

int
lrpc__client_alloc(lrpc_client **ret, const char *name,
		   const lrpc_client_opts *opts)
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
	c->fd = -1;
	c->state = CLIENT_CONNECTING;
	/* Validated above: it fits. */
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->spin_usec = LRPC__DEFAULT_SPIN_USEC;
	r = client_opts_init(c, opts);
	if (r < 0) {
		free(c);
		return r;
	}
	c->connect_deadline =
		lrpc__deadline_from_usec(c->opts.connect_timeout_usec, 0);
	*ret = c;
	return 0;
}

const char *
lrpc__client_get_name(lrpc_client *c)
{
	return c->name;
}

const lrpc_client_opts *
lrpc__client_get_opts(lrpc_client *c)
{
	return &c->opts;
}

LRPC_EXPORT int
lrpc_client_set_spin(lrpc_client *c, uint64_t usec)
{
	CLIENT_CHECK(c);
	lrpc_return_if_fail(usec <= 1000000, -EINVAL);
	c->spin_usec = (uint32_t)usec;
	return 0;
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
	if (!c || c->origin_pid != lrpc__getpid() ||
	    c->state != CLIENT_CONNECTED)
		return false;
	if (lrpc__client_main_hung_up(c)) {
		lrpc__client_broken(c, -ECONNRESET);
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
	return c && c->tr && c->state == CLIENT_CONNECTED
		       ? c->tr->type
		       : LRPC_TRANSPORT_BEST;
}

LRPC_EXPORT int
lrpc_client_get_peer(lrpc_client *c, lrpc_peer *ret)
{
	CLIENT_CHECK(c);
	lrpc_return_if_fail(ret, -EINVAL);
	if (c->server.pid == 0)
		return -ENOTCONN;
	*ret = c->server;
	return 0;
}
