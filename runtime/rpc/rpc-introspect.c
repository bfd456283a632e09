/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc.Service (idl/lrpc-service.idl), served by every server that serves
 * an RPC interface unless its flags say LRPC_SERVER_NO_INTROSPECTION:
 * ping, info, describe (the IDL text and the descriptor graph of an
 * interface, enough to call it without generated code) and stats (the
 * counters kept per method while lrpc.Service is there to read them).
 *
 * The built-in is an ordinary served interface, with the generated
 * server code of idl/lrpc-service.idl; the list of the server's
 * interfaces is threaded through their rpc_service (intro_next).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lrpc-service-server.h"
#include "rpc-server-internal.h"

#define NONE UINT32_MAX
/* Types in one description: far above any real interface, and bounded
 * so that a pathological table cannot make a reply of any size. */
#define MAX_TYPES 4096

typedef struct introspect {
	lrpc_server *server;
	rpc_service *first; /* every served interface, lrpc.Service first */
	rpc_tap *tap;       /* NULL until the first tap() */
} introspect;

static introspect *
svc_introspect(rpc_service *svc)
{
	return svc->handlers == NULL ? NULL : svc->userdata;
}

/*
 * Whether @svc is still served: an interface taken off with
 * lrpc_server_remove_handler() stays on the list (the server holds it
 * until it is freed) but is no longer what its id routes to.
 */
static bool
served(const introspect *in, rpc_service *svc)
{
	return lrpc__rpcs_svc_lookup(in->server, svc->table->iface) == svc;
}

/* Peers may read describe and stats unless the server restricts them. */
static int
check_reader(lrpc_rpc_call *call, introspect *in)
{
	lrpc_peer who;

	if (!(lrpc__server_get_flags(in->server) &
	      LRPC_SERVER_INTROSPECTION_SAME_UID))
		return 0;
	if (lrpc_conn_get_peer(lrpc_rpc_call_get_conn(call), &who) < 0)
		return -EPERM;
	if (who.uid == 0 || who.uid == geteuid())
		return 0;
	(void)lrpc_rpc_call_set_error_message(
		call, "introspection is for the server's user and root");
	return -EPERM;
}

static int
alloc(lrpc_rpc_call *call, size_t size, void *ret)
{
	return lrpc_arena_alloc(lrpc_rpc_call_get_arena(call), size ? size : 1,
				16, ret);
}

static const char *
transport_name(lrpc_transport t)
{
	return t == LRPC_TRANSPORT_SHM ? "shm" : "socket";
}

static int
on_ping(lrpc_rpc_call *call, void *userdata)
{
	return 0;
}

static void
fill_iface(const lrpc_rpc_dispatch *table, lrpc_interface_info *ret)
{
	ret->name = table->iface->name;
	ret->id = table->iface->id;
	ret->version = table->version;
	ret->hashes.items = table->iface->hashes;
	ret->hashes.count = table->version;
}

static int
on_info(lrpc_rpc_call *call, void *userdata, lrpc_info *ret)
{
	introspect *in = userdata;
	lrpc_interface_info *ifs;
	const char **tr;
	size_t n = 0;
	int r;

	for (rpc_service *s = in->first; s; s = s->intro_next)
		n += served(in, s);
	r = alloc(call, n * sizeof(*ifs), &ifs);
	if (r == 0)
		r = alloc(call, sizeof(*tr), &tr);
	if (r < 0)
		return r;
	n = 0;
	for (rpc_service *s = in->first; s; s = s->intro_next)
		if (served(in, s))
			fill_iface(s->table, &ifs[n++]);
	tr[0] = transport_name(lrpc_server_get_transport(in->server));
	ret->service = lrpc_server_get_name(in->server);
	ret->pid = (int32_t)getpid();
	ret->uid = (uint32_t)geteuid();
	ret->gid = (uint32_t)getegid();
	ret->version = lrpc_version();
	ret->transports.items = tr;
	ret->transports.count = 1;
	ret->interfaces.items = ifs;
	ret->interfaces.count = n;
	return 0;
}

/* --- describe: the descriptor graph as a table of indices ---------------- */

typedef struct graph {
	const lrpc_rpc_type **types;
	uint32_t n;
	uint32_t cap;
} graph;

/*
 * The index of @t, adding it and what it reaches.  Generated tables have
 * no cycles, but the walk needs none to end: a type is indexed before its
 * children are visited.
 */
static int
graph_add(graph *g, const lrpc_rpc_type *t, uint32_t *ret)
{
	int r;

	if (!t) {
		*ret = NONE;
		return 0;
	}
	for (uint32_t i = 0; i < g->n; i++)
		if (g->types[i] == t) {
			*ret = i;
			return 0;
		}
	if (g->n == MAX_TYPES)
		return -E2BIG;
	if (g->n == g->cap) {
		uint32_t cap = g->cap ? g->cap * 2 : 32;
		const lrpc_rpc_type **p = realloc(g->types, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		g->types = p;
		g->cap = cap;
	}
	*ret = g->n;
	g->types[g->n++] = t;
	uint32_t skip;
	r = graph_add(g, t->inner, &skip);
	if (r == 0)
		r = graph_add(g, t->value, &skip);
	if (t->kind == LRPC_RPC_ENUM)
		return r;
	for (uint32_t i = 0; r == 0 && i < t->n_fields; i++)
		r = graph_add(g, t->fields[i].type, &skip);
	return r;
}

static uint32_t
graph_index(const graph *g, const lrpc_rpc_type *t)
{
	for (uint32_t i = 0; t && i < g->n; i++)
		if (g->types[i] == t)
			return i;
	return NONE;
}

static int
describe_type(lrpc_rpc_call *call, const graph *g, const lrpc_rpc_type *t,
	      lrpc_type_desc *d)
{
	lrpc_field_desc *fields = NULL;
	int r;

	d->kind = t->kind;
	d->max = t->max;
	d->inner = graph_index(g, t->inner);
	d->value = graph_index(g, t->value);
	d->name = t->name ? t->name : "";
	if (t->n_fields && t->fields) {
		r = alloc(call, t->n_fields * sizeof(*fields), &fields);
		if (r < 0)
			return r;
		for (uint32_t i = 0; i < t->n_fields; i++) {
			const lrpc_rpc_field *f = &t->fields[i];
			fields[i] = (lrpc_field_desc){
				.type = t->kind == LRPC_RPC_ENUM
						? NONE
						: graph_index(g, f->type),
				.ordinal = f->ordinal,
				.since = f->since,
				.name = f->name ? f->name : "",
				.retired = t->kind == LRPC_RPC_STRUCT &&
					   f->offset ==
						   LRPC_RPC_FIELD_RETIRED,
			};
		}
		d->fields.items = fields;
		d->fields.count = t->n_fields;
	}
	if (t->kind == LRPC_RPC_ENUM) {
		d->values.items = t->values;
		d->values.count = t->n_values;
	}
	return 0;
}

static int
describe_methods(lrpc_rpc_call *call, const graph *g,
		 const lrpc_rpc_interface *iface, lrpc_description *ret)
{
	lrpc_method_desc *ms;
	int r = alloc(call, iface->n_methods * sizeof(*ms), &ms);

	if (r < 0)
		return r;
	for (uint32_t i = 0; i < iface->n_methods; i++) {
		const lrpc_rpc_method *m = &iface->methods[i];
		lrpc_error_desc *es = NULL;

		if (m->n_errors) {
			r = alloc(call, m->n_errors * sizeof(*es), &es);
			if (r < 0)
				return r;
			for (uint32_t k = 0; k < m->n_errors; k++)
				es[k] = (lrpc_error_desc){
					.value = m->errors[k].value,
					.name = m->errors[k].name
							? m->errors[k].name
							: "",
				};
		}
		ms[i] = (lrpc_method_desc){
			.ordinal = m->ordinal,
			.since = m->since,
			.kind = m->kind,
			.name = m->name ? m->name : "",
			.request = graph_index(g, m->request),
			.reply = graph_index(g, m->reply),
			.errors = { es, m->n_errors },
		};
	}
	ret->methods.items = ms;
	ret->methods.count = iface->n_methods;
	return 0;
}

static int
on_describe(lrpc_rpc_call *call, void *userdata, const char *name,
	    lrpc_description *ret)
{
	introspect *in = userdata;
	const lrpc_rpc_interface *iface = NULL;
	const lrpc_rpc_dispatch *table = NULL;
	graph g = { 0 };
	lrpc_type_desc *types;
	int r = check_reader(call, in);

	if (r < 0)
		return r;
	for (rpc_service *s = in->first; s; s = s->intro_next)
		if (served(in, s) && strcmp(s->table->iface->name, name) == 0) {
			table = s->table;
			iface = table->iface;
		}
	if (!iface) {
		char msg[128];
		snprintf(msg, sizeof(msg), "no interface named \"%.80s\"", name);
		(void)lrpc_rpc_call_set_error_message(call, msg);
		return LRPC_SERVICE_ERROR_NO_SUCH_INTERFACE;
	}
	fill_iface(table, &ret->iface);
	ret->idl = "";
	if (iface->struct_size >= offsetof(lrpc_rpc_interface, idl) +
					  sizeof(iface->idl) &&
	    iface->idl)
		ret->idl = iface->idl;
	if (iface->canonical) {
		ret->canonical.items = (const char *const *)iface->canonical;
		ret->canonical.count = table->version;
	}
	uint32_t skip;
	for (uint32_t i = 0; r == 0 && i < iface->n_methods; i++) {
		r = graph_add(&g, iface->methods[i].request, &skip);
		if (r == 0)
			r = graph_add(&g, iface->methods[i].reply, &skip);
	}
	if (r == 0)
		r = alloc(call, g.n * sizeof(*types), &types);
	for (uint32_t i = 0; r == 0 && i < g.n; i++)
		r = describe_type(call, &g, g.types[i], &types[i]);
	if (r == 0) {
		ret->types.items = types;
		ret->types.count = g.n;
		r = describe_methods(call, &g, iface, ret);
	}
	free(g.types);
	return r;
}

/* --- stats ---------------------------------------------------------------- */

static int
method_stats(lrpc_rpc_call *call, rpc_service *s, uint32_t i,
	     lrpc_method_stats *ms, lrpc_stats *ret)
{
	const rpc_method_stats *st = &s->stats[i];
	int32_t *keys;
	uint64_t *values;
	size_t n = 0;
	int r;

	r = alloc(call, (RPC_STATS_STATUSES + 1) * sizeof(*keys), &keys);
	if (r == 0)
		r = alloc(call, (RPC_STATS_STATUSES + 1) * sizeof(*values),
			  &values);
	if (r < 0)
		return r;
	for (unsigned k = 0; k < RPC_STATS_STATUSES && st->status[k]; k++) {
		keys[n] = st->status[k];
		values[n++] = st->by_status[k];
	}
	ms->interface_name = s->table->iface->name;
	ms->method = s->table->iface->methods[i].name;
	ms->calls = st->calls;
	ms->errors = st->errors;
	ms->errors_by_status = (lrpc_i32_u64_map){ keys, values, n };
	ms->other_errors = st->other_errors;
	ms->bytes_in = st->bytes_in;
	ms->bytes_out = st->bytes_out;
	memcpy(ms->latency_us_log2, st->latency, sizeof(st->latency));
	ret->calls += st->calls;
	ret->errors += st->errors;
	ret->bytes_in += st->bytes_in;
	ret->bytes_out += st->bytes_out;
	return 0;
}

static int
conn_stats(lrpc_rpc_call *call, introspect *in, lrpc_stats *ret)
{
	lrpc_connection_stats *cs;
	size_t n = 0;
	int r;

	for (lrpc_conn *c = lrpc_server_get_first_conn(in->server); c;
	     c = lrpc_conn_get_next(c))
		n++;
	r = alloc(call, n * sizeof(*cs), &cs);
	if (r < 0)
		return r;
	n = 0;
	for (lrpc_conn *c = lrpc_server_get_first_conn(in->server); c;
	     c = lrpc_conn_get_next(c)) {
		lrpc_conn_stats st = { 0 };
		lrpc_peer who = { 0 };

		(void)lrpc_conn_get_stats(c, &st, sizeof(st));
		(void)lrpc_conn_get_peer(c, &who);
		cs[n++] = (lrpc_connection_stats){
			.pid = (int32_t)who.pid,
			.uid = (uint32_t)who.uid,
			.transport = transport_name(lrpc_conn_get_transport(c)),
			.requests = st.requests,
			.responses = st.responses,
			.events = st.events,
			.undelivered = st.undelivered,
			.bytes_queued = st.bytes_queued,
			.id = lrpc__conn_get_id(c),
		};
	}
	ret->connections.items = cs;
	ret->connections.count = n;
	return 0;
}

static int
on_stats(lrpc_rpc_call *call, void *userdata, lrpc_stats *ret)
{
	introspect *in = userdata;
	lrpc_server_stats ss = { 0 };
	lrpc_method_stats *ms;
	size_t n = 0;
	int r = check_reader(call, in);

	if (r < 0)
		return r;
	for (rpc_service *s = in->first; s; s = s->intro_next)
		n += s->stats && served(in, s) ? s->table->iface->n_methods
					       : 0;
	r = alloc(call, n * sizeof(*ms), &ms);
	if (r < 0)
		return r;
	n = 0;
	for (rpc_service *s = in->first; s; s = s->intro_next)
		for (uint32_t i = 0; s->stats && served(in, s) &&
				     i < s->table->iface->n_methods;
		     i++) {
			if (s->table->iface->methods[i].kind ==
			    LRPC_RPC_EVENT)
				continue;
			r = method_stats(call, s, i, &ms[n++], ret);
			if (r < 0)
				return r;
		}
	ret->methods.items = ms;
	ret->methods.count = n;
	(void)lrpc_server_get_stats(in->server, &ss, sizeof(ss));
	ret->uptime_us = lrpc__server_get_uptime_usec(in->server);
	ret->active_connections = ss.active_connections;
	ret->closed_connections = ss.closed_connections;
	ret->refused_connections = ss.refused_connections;
	return conn_stats(call, in, ret);
}

/* --- tap ------------------------------------------------------------------ */

static int
on_tap(lrpc_rpc_call *call, void *userdata, uint32_t max_message,
       uint32_t *ret_snap)
{
	introspect *in = userdata;
	lrpc_conn *conn = lrpc_rpc_call_get_conn(call);
	lrpc_peer who;

	/* Whatever the flags: a monitor sees every client's data. */
	if (lrpc_conn_get_peer(conn, &who) < 0 ||
	    (who.uid != 0 && who.uid != geteuid())) {
		(void)lrpc_rpc_call_set_error_message(
			call, "tapping is for the server's user and root");
		return -EPERM;
	}
	return lrpc__rpcs_tap_add(&in->tap, in->first, conn, max_message,
				  ret_snap);
}

static const struct lrpc_service_handlers handlers = {
	.ping = on_ping,
	.info = on_info,
	.describe = on_describe,
	.stats = on_stats,
	.tap = on_tap,
};

void
lrpc__rpcs_stats_answer(lrpc_rpc_call *call, int status, int r)
{
	rpc_service *svc = call->svc;
	rpc_method_stats *st;
	uint64_t us;
	unsigned b = 0;

	if (!svc->stats)
		return;
	st = &svc->stats[call->method - svc->table->iface->methods];
	st->bytes_out += svc->sent;
	/* Results that could not go out went as an error reply. */
	if (status == 0 && r < 0)
		status = r;
	if (status != 0) {
		unsigned k;

		st->errors++;
		for (k = 0; k < RPC_STATS_STATUSES; k++)
			if (st->status[k] == status || st->status[k] == 0)
				break;
		if (k == RPC_STATS_STATUSES) {
			st->other_errors++;
		} else {
			st->status[k] = status;
			st->by_status[k]++;
		}
	}
	us = lrpc__now_usec() - call->start;
	while (us && b < RPC_STATS_BUCKETS - 1) {
		us >>= 1;
		b++;
	}
	st->latency[b]++;
}

static void
introspect_on_server_free(void *object, void *data)
{
	introspect *in = data;

	lrpc__rpcs_tap_free(in->tap);
	free(in);
}

int
lrpc__rpcs_introspect_add(rpc_service *svc)
{
	lrpc_server *s = svc->server;
	rpc_service *builtin;
	introspect *in;
	int r;

	if (svc->table->iface == &lrpc_service__interface &&
	    svc->handlers == &handlers)
		return 0; /* the built-in itself: lrpc_service_serve() below */
	if (lrpc__server_get_flags(s) & LRPC_SERVER_NO_INTROSPECTION)
		return 0;
	builtin = lrpc__rpcs_svc_lookup(s, &lrpc_service__interface);
	if (builtin && builtin->handlers != &handlers)
		return 0; /* the application serves lrpc.Service itself */
	if (!builtin) {
		in = calloc(1, sizeof(*in));
		if (!in)
			goto fail;
		in->server = s;
		r = lrpc__server_add_free_hook(s, introspect_on_server_free, in);
		if (r < 0) {
			free(in);
			goto fail;
		}
		r = lrpc_service_serve(s, &handlers, in);
		builtin = r < 0 ? NULL
				: lrpc__rpcs_svc_lookup(s,
							&lrpc_service__interface);
		if (!builtin)
			goto fail;
		builtin->stats = calloc(lrpc_service__interface.n_methods,
					sizeof(*builtin->stats));
		in->first = builtin;
	}
	in = svc_introspect(builtin);
	svc->stats = calloc(svc->table->iface->n_methods
				    ? svc->table->iface->n_methods
				    : 1,
			    sizeof(*svc->stats));
	if (!svc->stats)
		goto fail;
	/* Appended, so that info lists interfaces in the order added. */
	rpc_service **p = &in->first;
	while (*p)
		p = &(*p)->intro_next;
	*p = svc;
	return 0;
fail:
	lrpc__log_warning("lrpc rpc: %s: no memory for lrpc.Service; served "
			  "without it",
			  lrpc_server_get_name(s));
	return -ENOMEM;
}
