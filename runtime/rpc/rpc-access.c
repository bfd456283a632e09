/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The IDL's per-method access policy (@access), checked by the server
 * before anything of a request is decoded or its handler runs.
 */
#include <stdio.h>
#include <unistd.h>

#include "rpc-server-internal.h"

/*
 * 0 if the caller on @conn may call @m, else -EPERM with the reason in
 * @msg.  The credentials are the kernel's, taken at connect.
 */
static int
access_check(rpc_service *svc, lrpc_conn *conn, const lrpc_rpc_method *m,
	     char *msg, size_t cap)
{
	const lrpc_rpc_interface *iface = svc->table->iface;
	lrpc_peer who = { .uid = (uid_t)-1 };
	uint8_t need;

	/* Tables from older generators end before @access. */
	if (iface->struct_size < offsetof(lrpc_rpc_interface, access) +
					 sizeof(iface->access) ||
	    !iface->access)
		return 0;
	need = iface->access[m - iface->methods];
	if (need == LRPC_RPC_ACCESS_ANY)
		return 0;
	(void)lrpc_conn_get_peer(conn, &who);
	if (who.uid == 0 ||
	    (need == LRPC_RPC_ACCESS_OWNER && who.uid == geteuid()))
		return 0;
	snprintf(msg, cap, "%s.%s is @access(%s): uid %u may not call it",
		 iface->name, m->name,
		 need == LRPC_RPC_ACCESS_OWNER ? "owner" : "root",
		 (unsigned)who.uid);
	return -EPERM;
}

bool
lrpc__rpcs_access_refused(rpc_service *svc, lrpc_conn *conn,
			  const lrpc_rpc_method *m, const lrpc__rpc_header *h,
			  bool oneway)
{
	char denied[128];

	if (access_check(svc, conn, m, denied, sizeof(denied)) == 0)
		return false;
	svc->access_denied++;
	lrpc__log_debug("lrpc rpc: %s", denied);
	/* A oneway call has nobody to tell: it is dropped. */
	if (!oneway)
		(void)lrpc__rpcs_send_status(svc, conn, h->call_id, h->method,
					     -EPERM, denied);
	return true;
}
