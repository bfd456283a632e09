/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Admission: what happens between accept(2) and a working connection.  The
 * peer's credentials from the kernel, the hello, the built-in policy
 * (flags, connection limits overall and per uid), the service's accept
 * callback, the negotiated size, and the welcome with the transport's fds
 * or a refusal.  Calls go one way: the connection's reading side hands the
 * hello here; this file drives the connection (activate or tear down).
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc-internal.h"

int
lrpc__accept_read_peer(int fd, lrpc_peer *peer, gid_t **ret_groups)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	gid_t *groups = NULL;

	/* The credentials are the kernel's, taken when the peer called
	 * connect(); if they cannot be read the peer is refused, never
	 * given a default identity. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -errno;
	if (len != sizeof(uc) || uc.pid <= 0)
		return -EPROTO;
	peer->pid = uc.pid;
	peer->uid = uc.uid;
	peer->gid = uc.gid;
	peer->n_groups = 0;
	peer->groups = NULL;

	len = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, NULL, &len) < 0 &&
	    errno != ERANGE)
		return -errno;
	if (len > 0) {
		groups = malloc(len);
		if (!groups)
			return -ENOMEM;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) <
		    0) {
			free(groups);
			return -errno;
		}
		peer->n_groups = len / sizeof(gid_t);
		peer->groups = groups;
	}
	*ret_groups = groups;
	return 0;
}

static uint32_t *
accept_uid_slot(lrpc_server *s, uid_t uid, bool create)
{
	for (size_t i = 0; i < s->n_uids; i++)
		if (s->uids[i].uid == uid)
			return &s->uids[i].count;
	if (!create)
		return NULL;
	lrpc__uid_count *n = realloc(s->uids, (s->n_uids + 1) * sizeof(*n));
	if (!n)
		return NULL;
	s->uids = n;
	s->uids[s->n_uids] = (lrpc__uid_count){ .uid = uid };
	return &s->uids[s->n_uids++].count;
}

void
lrpc__accept_uid_release(lrpc_server *s, uid_t uid)
{
	for (size_t i = 0; i < s->n_uids; i++) {
		if (s->uids[i].uid != uid)
			continue;
		if (s->uids[i].count > 0)
			s->uids[i].count--;
		/* Drop empty slots so a stream of distinct uids cannot grow
		 * the table without bound. */
		if (s->uids[i].count == 0)
			s->uids[i] = s->uids[--s->n_uids];
		return;
	}
}

/*
 * The uid the kernel reports for an id not mapped into our user namespace
 * (/proc/sys/kernel/overflowuid, 65534 unless changed).  Read once.
 */
static uid_t
overflow_uid(void)
{
	static _Atomic long cached = -1;
	long v = atomic_load_explicit(&cached, memory_order_relaxed);

	if (v < 0) {
		char buf[32];
		int fd = open("/proc/sys/kernel/overflowuid",
			      O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		char *end;

		if (fd >= 0)
			close(fd);
		v = 65534;
		if (n > 0) {
			buf[n] = '\0';
			long x = strtol(buf, &end, 10);
			if (end != buf && x >= 0 && x <= 0x7fffffffL)
				v = x;
		}
		atomic_store_explicit(&cached, v, memory_order_relaxed);
	}
	return (uid_t)v;
}

/* The built-in policy, then the application's accept callback. */
static int
accept_decide(lrpc_server *s, lrpc_conn *c)
{
	uint32_t *cnt;

	if ((s->opts.flags & LRPC_SERVER_ROOT_ONLY) && c->peer.uid != 0)
		return -EPERM;
	/* A server in a user namespace that does not map the peer's uid
	 * sees the overflow uid -- and, if its own uid is unmapped too, has
	 * it as its own: "same" would admit anybody. */
	if ((s->opts.flags & LRPC_SERVER_SAME_UID) &&
	    (c->peer.uid != geteuid() || c->peer.uid == overflow_uid()))
		return -EPERM;
	if (s->stats.active_connections >= s->opts.max_connections)
		return -EBUSY;
	cnt = accept_uid_slot(s, c->peer.uid, false);
	if (s->opts.max_connections_per_uid && cnt &&
	    *cnt >= s->opts.max_connections_per_uid)
		return -EUSERS;
	if (s->cb.accept) {
		int r = s->cb.accept(s, &c->peer, s->userdata);
		if (r > 0 || r < -4095)
			r = -EACCES; /* only real errnos reach the client */
		if (r < 0)
			return r;
	}
	return 0;
}

static uint32_t
accept_negotiate(const lrpc_server *s, uint32_t asked)
{
	if (asked < s->opts.min_msg_size)
		return s->opts.min_msg_size;
	if (asked > s->opts.max_msg_size)
		return s->opts.max_msg_size;
	return asked;
}

static void
accept_refuse(lrpc_conn *c, int status)
{
	lrpc__welcome w = { .magic = LRPC__WELCOME_MAGIC,
			    .version = LRPC_PROTOCOL_VERSION,
			    .status = status };

	c->server->stats.refused_connections++;
	(void)lrpc__welcome_send(c->fd, &w, NULL);
	lrpc__log_debug("lrpc server %s: refused pid %d uid %u: %d",
			c->server->name, (int)c->peer.pid,
			(unsigned)c->peer.uid, status);
	lrpc__conn_teardown(c);
}

/* The hello is complete: decide, set up the transport, answer. */
/* The hello is well-formed and the peer allowed: 0, or the errno to
 * refuse it with. */
static int
accept_check_hello(lrpc_server *s, lrpc_conn *c)
{
	int r = lrpc__hello_check(&c->hello);

	if (r < 0) {
		/* Garbage is not worth an answer, a version skew is. */
		if (r == -EPROTONOSUPPORT)
			return r;
		s->stats.refused_connections++;
		lrpc__conn_teardown(c);
		return 1;
	}
	if (c->hello.transport != LRPC_TRANSPORT_BEST &&
	    c->hello.transport != s->tr->type)
		return -EPROTONOSUPPORT;
	return accept_decide(s, c);
}

/* Build the connection's transport and control page; the fds for the
 * client go to @pass. */
static int
accept_build(lrpc_server *s, lrpc_conn *c, uint64_t *caps, lrpc__fdset *pass)
{
	int r;

	c->max_msg = accept_negotiate(s, c->hello.max_msg_size);
	c->max_queued = s->opts.max_queued_bytes
				? s->opts.max_queued_bytes
				: LRPC_MAX(4 * (size_t)c->max_msg,
					   (size_t)1024 * 1024);
	c->tops = s->tr->conn;
	*caps = lrpc__hello_accept_caps(&c->hello, s->opts.max_fds_per_msg,
					&c->fd_per_msg);
	if (!lrpc__socket_records_enabled())
		*caps &= ~(uint64_t)LRPC__CAP_RECORDS;
	r = s->tr->listener->l_accept(&c->t, c->fd, c->max_msg, caps, pass);
	if (r < 0)
		return r;
	r = lrpc__ctl_server_init(&c->ctl, s->tr, c->t, pass);
	if (r < 0)
		lrpc__fdset_close(pass);
	return r;
}

/* Move the connection from the pending list to the active one. */
static void
accept_admit(lrpc_server *s, lrpc_conn *c, uint32_t *cnt)
{
	/* From here on the connection is accepted: destroyed will run. */
	(*cnt)++;
	c->accepted = true;
	c->stats.client_pid = c->peer.pid;
	s->stats.pending_connections--;
	s->stats.active_connections++;
	lrpc__conn_list_remove(c);
	c->state = CONN_ACTIVE;
	c->id = ++s->last_conn_id;
	lrpc__conn_list_add(c, &s->conns);
	if (c->timer) {
		s->pops->timer_del(s->loop_data, c->timer);
		c->timer = NULL;
	}
	lrpc__conn_set_ctl(c);
}

void
lrpc__accept_hello(lrpc_conn *c)
{
	lrpc_server *s = c->server;
	lrpc__fdset pass = { .n = 0 };
	lrpc__welcome w = { .magic = LRPC__WELCOME_MAGIC,
			    .version = LRPC_PROTOCOL_VERSION };
	uint64_t caps = 0;
	uint32_t *cnt;
	int r;

	r = accept_check_hello(s, c);
	if (r > 0)
		return; /* torn down without an answer */
	if (r < 0) {
		accept_refuse(c, r);
		return;
	}
	cnt = accept_uid_slot(s, c->peer.uid, true);
	if (!cnt) {
		accept_refuse(c, -ENOMEM);
		return;
	}
	r = accept_build(s, c, &caps, &pass);
	if (r < 0) {
		if (*cnt == 0)
			lrpc__accept_uid_release(s, c->peer.uid);
		accept_refuse(c, r);
		return;
	}
	accept_admit(s, c, cnt);

	w.reserved = caps;
	if (c->fd_per_msg > 0) {
		w.flags = c->fd_per_msg;
		c->tops->t_fd_limits(c->t, c->fd_per_msg,
				     s->opts.max_fds_per_conn);
	}
	w.transport = (uint16_t)s->tr->type;
	w.max_msg_size = c->max_msg;
	w.n_fds = pass.n;
	r = lrpc__welcome_send(c->fd, &w, &pass);
	lrpc__fdset_close(&pass);
	if (r < 0 || lrpc__conn_activate(c) < 0) {
		lrpc__conn_teardown(c);
		return;
	}
	c->created_ran = true;
	if (s->cb.created) {
		lrpc_conn_ref(c);
		s->cb.created(c, s->userdata);
		lrpc_conn_unref(c);
	}
}
