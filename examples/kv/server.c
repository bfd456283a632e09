/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The key-value store server: typed handlers generated from
 * idl/example/kv.idl, a sorted array as the store, a change event broadcast
 * after every write.
 *
 *   kv-server [--transport socket|shm|best]
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv-server.h"

struct item {
	char *key;
	uint8_t *value;
	size_t len;
	uint64_t version;
	kv_kind kind;
	bool has_origin;
	common_origin origin;
};

static struct item *items;
static size_t n_items;
static lrpc_server *server;

static struct item *
find(const char *key, size_t *ret_pos)
{
	size_t lo = 0, hi = n_items;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(items[mid].key, key);
		if (c == 0)
			return &items[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (ret_pos)
		*ret_pos = lo;
	return NULL;
}

/* A counter's value is a little-endian i64 (kv.idl), whatever the host. */
static void
store_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
load_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static kv_entry
entry_of(const struct item *it)
{
	return (kv_entry){
		.key = it->key,
		.value = { it->value, it->len },
		.version = it->version,
		.kind = it->kind,
		.origin = it->has_origin ? &it->origin : NULL,
	};
}

/* The writer is whoever is at the other end of the call's connection, as
 * the kernel saw it at connect: the client cannot claim another pid. */
static void
set_origin(struct item *it, lrpc_rpc_call *call)
{
	lrpc_conn *conn = lrpc_rpc_call_get_conn(call);
	lrpc_peer peer;

	it->has_origin = conn && lrpc_conn_get_peer(conn, &peer) == 0;
	if (it->has_origin)
		it->origin = (common_origin){ (uint32_t)peer.pid,
					      (uint32_t)peer.uid };
}

static int
on_get(lrpc_rpc_call *call, void *ud, const char *key, kv_entry *ret_entry)
{
	struct item *it = find(key, NULL);

	if (!it)
		return KV_ERROR_NOT_FOUND;
	*ret_entry = entry_of(it);
	return 0;
}

static int
on_put(lrpc_rpc_call *call, void *ud, const char *key, const kv_value *value,
       uint64_t *ret_version)
{
	lrpc_bytes data = value->u.data;
	kv_kind kind = KV_KIND_PLAIN;
	uint8_t counter[8];
	size_t pos = 0;   /* set by find() when it returns NULL; gcc -O3 cannot tell */
	struct item *it = find(key, &pos);

	/* The decoder let through only the tags kv.idl declares. */
	if (value->tag == KV_VALUE_COUNTER) {
		store_le64(counter, (uint64_t)value->u.counter);
		data = (lrpc_bytes){ counter, sizeof(counter) };
		kind = KV_KIND_COUNTER;
	}
	uint8_t *copy = malloc(data.len ? data.len : 1);
	if (!copy)
		return -ENOMEM;
	if (data.len)
		memcpy(copy, data.data, data.len);
	if (!it) {
		struct item *n = realloc(items, (n_items + 1) * sizeof(*n));
		char *k = strdup(key);
		if (!n || !k) {
			free(copy);
			free(k);
			if (n)
				items = n;
			return -ENOMEM;
		}
		items = n;
		memmove(&items[pos + 1], &items[pos],
			(n_items - pos) * sizeof(*items));
		n_items++;
		it = &items[pos];
		*it = (struct item){ .key = k };
	}
	free(it->value);
	it->value = copy;
	it->len = data.len;
	it->kind = kind;
	set_origin(it, call);
	*ret_version = ++it->version;
	printf("kv-server: put %s (version %llu, %zu bytes)\n", key,
	       (unsigned long long)it->version, data.len);
	fflush(stdout);
	kv_store_broadcast_changed(server, key, it->version);
	return 0;
}

/* Oneway: nobody hears what this returns, so a missing key is only logged. */
static int
on_touch(lrpc_rpc_call *call, void *ud, const char *key)
{
	struct item *it = find(key, NULL);

	if (!it) {
		printf("kv-server: touch %s: no such key\n", key);
		fflush(stdout);
		return KV_ERROR_NOT_FOUND;
	}
	if (it->kind == KV_KIND_COUNTER && it->len == 8)
		store_le64(it->value, load_le64(it->value) + 1);
	set_origin(it, call);
	it->version++;
	printf("kv-server: touch %s (version %llu)\n", key,
	       (unsigned long long)it->version);
	fflush(stdout);
	kv_store_broadcast_changed(server, key, it->version);
	return 0;
}

static int
on_delete(lrpc_rpc_call *call, void *ud, const char *key)
{
	struct item *it = find(key, NULL);

	if (!it)
		return KV_ERROR_NOT_FOUND;
	printf("kv-server: delete %s\n", key);
	fflush(stdout);
	/* Version 0 tells the listeners the key is gone. */
	kv_store_broadcast_changed(server, key, 0);
	free(it->key);
	free(it->value);
	memmove(it, it + 1, (size_t)(&items[n_items] - (it + 1)) * sizeof(*it));
	n_items--;
	return 0;
}

/* The reply is built in the call's arena, which is reset after it is sent;
 * the entries point into the store, which does not change meanwhile. */
static int
on_list(lrpc_rpc_call *call, void *ud, const char *prefix, uint32_t limit,
	kv_entry_list *ret_items)
{
	size_t len = strlen(prefix), max = 1024, n = 0;
	kv_entry *out;
	int r;

	if (limit != 0 && limit < max)
		max = limit;
	if (n_items < max)
		max = n_items;
	r = lrpc_arena_alloc(lrpc_rpc_call_get_arena(call),
			     (max ? max : 1) * sizeof(*out), _Alignof(kv_entry),
			     (void **)&out);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_items && n < max; i++)
		if (strncmp(items[i].key, prefix, len) == 0)
			out[n++] = entry_of(&items[i]);
	*ret_items = (kv_entry_list){ out, n };
	return 0;
}

static int
on_stats(lrpc_rpc_call *call, void *ud, kv_kind_u64_map *ret_counts)
{
	lrpc_arena *arena = lrpc_rpc_call_get_arena(call);
	kv_kind *kinds;
	uint64_t *counts;
	int r;

	r = lrpc_arena_alloc(arena, 2 * sizeof(*kinds), _Alignof(kv_kind),
			     (void **)&kinds);
	if (r == 0)
		r = lrpc_arena_alloc(arena, 2 * sizeof(*counts),
				     _Alignof(uint64_t), (void **)&counts);
	if (r < 0)
		return r;
	kinds[0] = KV_KIND_PLAIN;
	kinds[1] = KV_KIND_COUNTER;
	counts[0] = counts[1] = 0;
	for (size_t i = 0; i < n_items; i++)
		counts[items[i].kind == KV_KIND_COUNTER]++;
	*ret_counts = (kv_kind_u64_map){ kinds, counts, 2 };
	return 0;
}

/* Each member has its generated type: kv_store_get_handler_fn and so on. */
static const struct kv_store_handlers handlers = {
	.get = on_get,
	.put = on_put,
	.touch = on_touch,
	.list = on_list,
	.delete_ = on_delete,
	.stats = on_stats,
};

static void
on_signal(lrpc_loop *loop, int signo, void *ud)
{
	lrpc_loop_quit(loop);
}

static int
parse_transport(int argc, char **argv, lrpc_transport *ret)
{
	*ret = LRPC_TRANSPORT_BEST;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--transport") != 0 || i + 1 >= argc)
			return -EINVAL;
		const char *t = argv[++i];
		if (strcmp(t, "socket") == 0)
			*ret = LRPC_TRANSPORT_SOCKET;
		else if (strcmp(t, "shm") == 0)
			*ret = LRPC_TRANSPORT_SHM;
		else if (strcmp(t, "best") == 0)
			*ret = LRPC_TRANSPORT_BEST;
		else
			return -EINVAL;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	lrpc_server_opts opts = { .struct_size = sizeof(opts) };
	lrpc_loop *loop;
	int r;

	if (parse_transport(argc, argv, &opts.transport) < 0) {
		fprintf(stderr, "usage: kv-server [--transport socket|shm|best]\n");
		return 2;
	}
	r = lrpc_loop_new(&loop);
	if (r < 0) {
		fprintf(stderr, "kv-server: no loop: %s\n", strerror(-r));
		return 1;
	}
	r = lrpc_loop_add_signal(loop, SIGTERM, on_signal, NULL);
	if (r >= 0)
		r = lrpc_loop_add_signal(loop, SIGINT, on_signal, NULL);
	if (r >= 0)
		r = lrpc_server_new(&server, KV_SERVICE, NULL, &opts, NULL);
	if (r >= 0)
		r = lrpc_server_attach_loop(server, loop);
	if (r >= 0)
		r = kv_store_serve(server, &handlers, NULL);
	if (r >= 0)
		r = lrpc_server_start(server);
	if (r < 0) {
		fprintf(stderr, "kv-server: cannot serve %s: %s\n", KV_SERVICE,
			strerror(-r));
		lrpc_server_unref(server);
		lrpc_loop_unref(loop);
		return 1;
	}
	printf("kv-server: serving %s over %s\n", KV_SERVICE,
	       lrpc_transport_name(lrpc_server_get_transport(server)));
	fflush(stdout);
	r = lrpc_loop_run(loop);
	lrpc_server_unref(server);
	lrpc_loop_unref(loop);
	for (size_t i = 0; i < n_items; i++) {
		free(items[i].key);
		free(items[i].value);
	}
	free(items);
	printf("kv-server: stopped\n");
	return r < 0;
}
