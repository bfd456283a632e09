/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The tap of lrpc.Service: a connection that called tap() becomes a
 * monitor, and every message of every other connection of the server
 * (requests, responses, events, lrpc.Service's own and those of handlers
 * on the bare core alike) is copied to it as a tapped event, with the
 * connection's id and the time.
 *
 * The copy is taken by the IPC core (lrpc__server_set_tap(), ipc-seam.h),
 * which is the only place that sees every message; what to do with it
 * belongs here, next to the rest of lrpc.Service.  While no monitor is
 * connected the core's tap is off and its message paths pay one branch.
 *
 * A monitor that does not read: its events wait in its connection's
 * queue, bounded like every queue (lrpc_server_opts.max_queued); past
 * that, messages are lost to it and counted (the next tapped event it
 * gets says how many), and once its queue has not moved for the
 * server's stall_timeout_usec the core drops the connection.  The
 * service and its other clients never wait for a monitor.
 */
#include <string.h>
#include <time.h>

#include "lrpc-service-server.h"
#include "rpc-server-internal.h"

/* Room in a tapped event for everything but the copied bytes: the two
 * headers (48 B) and the encoded arguments (well under 80 B). */
#define TAP_OVERHEAD 128u

typedef struct tap_monitor {
	struct tap_monitor *next;
	lrpc_conn *conn; /* no reference: removed by the close hook */
	struct rpc_tap *tap;
	uint32_t snap;
	uint64_t lost; /* since the last event it got */
} tap_monitor;

struct rpc_tap {
	lrpc_server *server;
	rpc_service *builtin; /* lrpc.Service, which sends the events */
	tap_monitor *monitors;
	uint8_t *buf; /* the message, flattened */
	size_t cap;
};

static bool
is_monitor(const rpc_tap *t, const lrpc_conn *c)
{
	for (const tap_monitor *m = t->monitors; m; m = m->next)
		if (m->conn == c)
			return true;
	return false;
}

static void
tap_on_message(lrpc_conn *c, lrpc__tap_dir dir, const struct iovec *iov,
	       size_t n_iov, size_t size, void *data)
{
	rpc_tap *t = data;
	size_t want = 0, got = 0;
	struct timespec ts;

	/* A monitor's own calls (tap() and its reply among them) are not
	 * shown to monitors: watching them would feed on itself. */
	if (is_monitor(t, c))
		return;
	for (tap_monitor *m = t->monitors; m; m = m->next)
		want = LRPC_MAX(want, LRPC_MIN(size, (size_t)m->snap));
	if (want > t->cap) {
		uint8_t *p = realloc(t->buf, want);
		if (!p) {
			for (tap_monitor *m = t->monitors; m; m = m->next)
				m->lost++;
			return;
		}
		t->buf = p;
		t->cap = want;
	}
	for (size_t i = 0; i < n_iov && got < want; i++) {
		size_t k = LRPC_MIN(iov[i].iov_len, want - got);
		if (k)
			memcpy(t->buf + got, iov[i].iov_base, k);
		got += k;
	}
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	/* The send below goes through lrpc.Service, which may be in the
	 * middle of answering a call of its own: keep what it counts. */
	size_t sent = t->builtin->sent;
	for (tap_monitor *m = t->monitors, *next; m; m = next) {
		next = m->next;
		lrpc_bytes msg = { t->buf, LRPC_MIN(got, (size_t)m->snap) };
		int r = lrpc_service_emit_tapped(m->conn, lrpc__conn_get_id(c),
						 ns, (lrpc_direction)dir,
						 (uint32_t)size, m->lost, msg);
		if (r == 0)
			m->lost = 0;
		else
			m->lost++;
	}
	t->builtin->sent = sent;
}

static void
monitor_on_close(void *object, void *data)
{
	tap_monitor *mon = data;
	rpc_tap *t = mon->tap;

	for (tap_monitor **p = &t->monitors; *p; p = &(*p)->next)
		if (*p == mon) {
			*p = mon->next;
			break;
		}
	free(mon);
	if (!t->monitors) {
		(void)lrpc__server_set_tap(t->server, NULL, NULL);
		free(t->buf);
		t->buf = NULL;
		t->cap = 0;
	}
}

int
lrpc__rpcs_tap_add(rpc_tap **tapp, rpc_service *builtin, lrpc_conn *conn,
		   uint32_t want, uint32_t *ret_snap)
{
	uint32_t max = lrpc_conn_get_max_msg_size(conn);
	uint32_t room = max > TAP_OVERHEAD ? max - TAP_OVERHEAD : 0;
	rpc_tap *t = *tapp;
	tap_monitor *mon;

	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t)
			return -ENOMEM;
		t->server = lrpc_conn_get_server(conn);
		t->builtin = builtin;
		*tapp = t;
	}
	if (is_monitor(t, conn)) {
		/* Asked again: a new size, nothing else. */
		for (mon = t->monitors; mon->conn != conn; mon = mon->next)
			;
	} else {
		mon = calloc(1, sizeof(*mon));
		if (!mon)
			return -ENOMEM;
		if (lrpc__conn_add_close_hook(conn, monitor_on_close, mon) < 0) {
			free(mon);
			return -ENOMEM;
		}
		mon->conn = conn;
		mon->tap = t;
		mon->next = t->monitors;
		t->monitors = mon;
	}
	mon->snap = want && want < room ? want : room;
	*ret_snap = mon->snap;
	return lrpc__server_set_tap(t->server, tap_on_message, t);
}

void
lrpc__rpcs_tap_free(rpc_tap *t)
{
	/* The server is gone with its connections: no monitor is left. */
	if (t)
		free(t->buf);
	free(t);
}
