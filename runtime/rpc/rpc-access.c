/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Who may call a method: the IDL's per-method access policy (@access) and
 * the server's access hook, checked before anything of a request is
 * decoded or its handler runs; and the caller's credentials for the
 * code that runs inside a handler.
 */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rpc-server-internal.h"

/* The policy table of @iface, or NULL for tables that predate it. */
static const lrpc_rpc_policy *const *
policy_table(const lrpc_rpc_interface *iface)
{
	if (iface->struct_size < offsetof(lrpc_rpc_interface, policy) +
					 sizeof(iface->policy))
		return NULL;
	return iface->policy;
}

/*
 * A group name to its gid.  getgrnam_r() wants a buffer it may ask to be
 * larger; a name the system does not know gives -ENOENT.
 */
static int
group_lookup(const char *name, gid_t *ret)
{
	struct group gr, *found = NULL;
	size_t cap = 1024;
	char *buf = NULL;
	int r;

	for (;;) {
		char *nbuf = realloc(buf, cap);
		if (!nbuf) {
			free(buf);
			return -ENOMEM;
		}
		buf = nbuf;
		r = getgrnam_r(name, &gr, buf, cap, &found);
		if (r != ERANGE || cap >= 1u << 20)
			break;
		cap *= 2;
	}
	if (r == 0 && found)
		*ret = found->gr_gid;
	free(buf);
	if (r != 0 && r != ENOENT && r != ESRCH)
		return -r;
	return found ? 0 : -ENOENT;
}

int
lrpc__rpcs_access_setup(rpc_service *svc)
{
	const lrpc_rpc_interface *iface = svc->table->iface;
	const lrpc_rpc_policy *const *pol = policy_table(iface);
	bool any = false;

	if (!pol)
		return 0;
	for (uint32_t i = 0; i < iface->n_methods; i++)
		any |= pol[i] && pol[i]->n_groups > 0;
	if (!any)
		return 0;
	svc->group_gids = calloc(iface->n_methods, sizeof(*svc->group_gids));
	if (!svc->group_gids)
		return -ENOMEM;
	for (uint32_t i = 0; i < iface->n_methods; i++) {
		rpc_group_gids *g = &svc->group_gids[i];

		if (!pol[i] || pol[i]->n_groups == 0)
			continue;
		g->gids = calloc(pol[i]->n_groups, sizeof(*g->gids));
		if (!g->gids)
			return -ENOMEM; /* the caller frees what was made */
		for (uint32_t k = 0; k < pol[i]->n_groups; k++) {
			gid_t gid = (gid_t)-1;
			int r = group_lookup(pol[i]->groups[k], &gid);

			if (r == -ENOMEM)
				return r;
			/* Matching nobody is the safe reading of a group
			 * this system does not have; say so once. */
			if (r < 0) {
				lrpc__log_warning(
					"lrpc rpc: %s.%s: group \"%s\" is not "
					"known here (%s); it lets nobody in",
					iface->name, iface->methods[i].name,
					pol[i]->groups[k], strerror(-r));
				continue;
			}
			g->gids[g->n++] = gid;
		}
	}
	return 0;
}

void
lrpc__rpcs_access_done(rpc_service *svc)
{
	if (!svc->group_gids)
		return;
	for (uint32_t i = 0; i < svc->table->iface->n_methods; i++)
		free(svc->group_gids[i].gids);
	free(svc->group_gids);
	svc->group_gids = NULL;
}

static bool
has_id(const uint32_t *ids, uint32_t n, uint32_t id)
{
	for (uint32_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* Whether @who is in the group @gid: as its primary or supplementary. */
static bool
in_group(const lrpc_peer *who, gid_t gid)
{
	if (who->gid == gid)
		return true;
	for (uint32_t i = 0; i < who->n_groups; i++)
		if (who->groups[i] == gid)
			return true;
	return false;
}

static bool
policy_allows(rpc_service *svc, size_t index, const lrpc_rpc_policy *p,
	      const lrpc_peer *who)
{
	if (p->flags & LRPC_RPC_POLICY_ROOT)
		return false; /* root was let in before */
	if ((p->flags & LRPC_RPC_POLICY_OWNER) && who->uid == geteuid())
		return true;
	if (has_id(p->uids, p->n_uids, who->uid))
		return true;
	for (uint32_t i = 0; i < p->n_gids; i++)
		if (in_group(who, p->gids[i]))
			return true;
	if (svc->group_gids) {
		const rpc_group_gids *g = &svc->group_gids[index];
		for (uint32_t i = 0; i < g->n; i++)
			if (in_group(who, g->gids[i]))
				return true;
	}
	return false;
}

/* Append to @buf what fits of @text (always terminated). */
static void
append(char *buf, size_t cap, size_t *len, const char *text)
{
	int n = snprintf(buf + *len, cap - *len, "%s%s", *len ? ", " : "",
			 text);

	if (n > 0)
		*len = *len + (size_t)n < cap ? *len + (size_t)n : cap - 1;
}

/* @p in the IDL's spelling, as much as fits into @buf. */
static void
policy_format(const lrpc_rpc_policy *p, char *buf, size_t cap)
{
	char item[48];
	size_t len = 0;

	buf[0] = '\0';
	if (p->flags & LRPC_RPC_POLICY_ROOT)
		append(buf, cap, &len, "root");
	if (p->flags & LRPC_RPC_POLICY_OWNER)
		append(buf, cap, &len, "owner");
	for (uint32_t i = 0; i < p->n_uids; i++) {
		snprintf(item, sizeof(item), "uid: %u", (unsigned)p->uids[i]);
		append(buf, cap, &len, item);
	}
	for (uint32_t i = 0; i < p->n_gids; i++) {
		snprintf(item, sizeof(item), "gid: %u", (unsigned)p->gids[i]);
		append(buf, cap, &len, item);
	}
	for (uint32_t i = 0; i < p->n_groups; i++) {
		snprintf(item, sizeof(item), "group: \"%.32s\"", p->groups[i]);
		append(buf, cap, &len, item);
	}
}

/*
 * 0 if the IDL's policy lets the caller @who call @m, else -EPERM with
 * the reason in @msg.
 */
static int
idl_check(rpc_service *svc, const lrpc_rpc_method *m, const lrpc_peer *who,
	  char *msg, size_t cap)
{
	const lrpc_rpc_interface *iface = svc->table->iface;
	const lrpc_rpc_policy *const *pol = policy_table(iface);
	size_t index = (size_t)(m - iface->methods);
	uint8_t need;

	/* Root can read and write the server's memory anyway: refusing it
	 * would protect nothing. */
	if (who->uid == 0)
		return 0;
	if (pol) {
		if (!pol[index] || policy_allows(svc, index, pol[index], who))
			return 0;
		char rules[96];

		policy_format(pol[index], rules, sizeof(rules));
		snprintf(msg, cap, "%s.%s is @access(%s): uid %u may not call it",
			 iface->name, m->name, rules, (unsigned)who->uid);
		return -EPERM;
	}
	/* Tables from older generators end before @access. */
	if (iface->struct_size < offsetof(lrpc_rpc_interface, access) +
					 sizeof(iface->access) ||
	    !iface->access)
		return 0;
	need = iface->access[index];
	if (need == LRPC_RPC_ACCESS_ANY ||
	    (need == LRPC_RPC_ACCESS_OWNER && who->uid == geteuid()))
		return 0;
	snprintf(msg, cap, "%s.%s is @access(%s): uid %u may not call it",
		 iface->name, m->name,
		 need == LRPC_RPC_ACCESS_OWNER ? "owner" : "root",
		 (unsigned)who->uid);
	return -EPERM;
}

/* The access hook's verdict, as a status to answer with. */
static int
hook_check(rpc_service *svc, lrpc_conn *conn, const lrpc_rpc_method *m,
	   const lrpc_peer *who, char *msg, size_t cap)
{
	const lrpc_peer *saved;
	int r;

	if (!svc->access_fn)
		return 0;
	saved = lrpc__rpcs_caller_enter(who);
	r = svc->access_fn(conn, who, svc->table->iface, m, svc->access_data);
	lrpc__rpcs_caller_leave(saved);
	if (r == 0)
		return 0;
	if (r < -4095 || r > 0 || r == LRPC_RPC_LATER)
		r = -EPERM;
	snprintf(msg, cap, "%s.%s: the service's access policy refused uid %u",
		 svc->table->iface->name, m->name, (unsigned)who->uid);
	return r;
}

bool
lrpc__rpcs_access_refused(rpc_service *svc, lrpc_conn *conn,
			  const lrpc_rpc_method *m, const lrpc__rpc_header *h,
			  bool oneway)
{
	char denied[128];
	lrpc_peer who;
	int r;

	/* Without the kernel's word on who is calling, nobody is let in
	 * where a policy applies. */
	if (lrpc_conn_get_peer(conn, &who) < 0)
		who = (lrpc_peer){ .uid = (uid_t)-1, .gid = (gid_t)-1 };
	r = idl_check(svc, m, &who, denied, sizeof(denied));
	if (r == 0)
		r = hook_check(svc, conn, m, &who, denied, sizeof(denied));
	if (r == 0)
		return false;
	svc->access_denied++;
	lrpc__log_debug("lrpc rpc: %s", denied);
	/* A oneway call has nobody to tell: it is dropped. */
	if (!oneway)
		(void)lrpc__rpcs_send_status(svc, conn, h->call_id, h->method,
					     r, denied);
	return true;
}

LRPC_EXPORT int
lrpc_server_set_access_hook(lrpc_server *s, const lrpc_rpc_interface *iface,
			    lrpc_rpc_access_fn fn, void *userdata)
{
	rpc_service *svc;

	lrpc_return_if_fail(s && iface, -EINVAL);
	svc = lrpc__rpcs_svc_lookup(s, iface);
	if (!svc)
		return -ENOENT;
	svc->access_fn = fn;
	svc->access_data = fn ? userdata : NULL;
	return 0;
}

/*
 * The caller of the handler running on this thread.  A handler may run
 * a nested loop that dispatches another request: enter and leave nest.
 */
static _Thread_local const lrpc_peer *current_caller;

const lrpc_peer *
lrpc__rpcs_caller_enter(const lrpc_peer *peer)
{
	const lrpc_peer *saved = current_caller;

	current_caller = peer;
	return saved;
}

void
lrpc__rpcs_caller_leave(const lrpc_peer *saved)
{
	current_caller = saved;
}

LRPC_EXPORT int
lrpc_rpc_get_caller(lrpc_peer *ret)
{
	lrpc_return_if_fail(ret, -EINVAL);
	if (!current_caller)
		return -ESRCH;
	*ret = *current_caller;
	return 0;
}

LRPC_EXPORT int
lrpc_rpc_call_get_peer(lrpc_rpc_call *call, lrpc_peer *ret)
{
	lrpc_return_if_fail(call && ret, -EINVAL);
	if (!call->conn)
		return -ENOTCONN;
	return lrpc_conn_get_peer(call->conn, ret);
}
