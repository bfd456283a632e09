/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* RPC events: to one connection, or to every connection of a server. */
#include <string.h>

#include "rpc-server-internal.h"

/* --- Events ------------------------------------------------------------- */

static int
emit_one(rpc_service *svc, lrpc_conn *conn, const lrpc_rpc_method *m,
	 const void *args, bool skip_old)
{
	rpc_peer *p = lrpc__rpcs_peer_find(svc, conn);

	/* A peer that negotiated an older version would drop the event. */
	if (p && p->version < m->since)
		return -EPROTONOSUPPORT;
	lrpc__rpc_header h = {
		.method = m->ordinal,
		.kind = LRPC__RPC_EVENT,
		.version = svc->table->version,
	};
	/* Without a hello the peer's version is not known: nothing to
	 * check against (a listener attached to the raw client). */
	return lrpc__rpcs_svc_send(svc, conn, true, &h,
				   p ? LRPC_MIN(p->version, svc->table->version)
				     : 0,
				   m->request, args, NULL);
}

static int
emit_check(const lrpc_rpc_interface *iface, const lrpc_rpc_method *m,
	   const void *args)
{
	if (!iface || !m || !args || m < iface->methods ||
	    m >= iface->methods + iface->n_methods ||
	    m->kind != LRPC_RPC_EVENT)
		return -EINVAL;
	return 0;
}

LRPC_EXPORT int
lrpc_conn_emit(lrpc_conn *conn, const lrpc_rpc_interface *iface,
	      const lrpc_rpc_method *method, const void *args)
{
	rpc_service *svc;
	int r;

	lrpc_return_if_fail(conn, -EINVAL);
	r = emit_check(iface, method, args);
	if (r < 0)
		return r;
	if (!lrpc_conn_is_connected(conn))
		return -ENOTCONN;
	svc = lrpc__rpcs_svc_lookup(lrpc_conn_get_server(conn), iface);
	if (!svc)
		return -EINVAL;
	return emit_one(svc, conn, method, args, false);
}

LRPC_EXPORT int
lrpc_server_broadcast(lrpc_server *s, const lrpc_rpc_interface *iface,
		   const lrpc_rpc_method *method, const void *args)
{
	rpc_service *svc;
	int r, n = 0;

	lrpc_return_if_fail(s, -EINVAL);
	r = emit_check(iface, method, args);
	if (r < 0)
		return r;
	svc = lrpc__rpcs_svc_lookup(s, iface);
	if (!svc)
		return -EINVAL;
	for (lrpc_conn *c = lrpc_server_get_first_conn(s); c;
	     c = lrpc_conn_get_next(c)) {
		r = emit_one(svc, c, method, args, true);
		if (r == -EINVAL || r == -EMSGSIZE || r == -ENOMEM)
			return r;
		if (r == 0)
			n++;
	}
	return n;
}
