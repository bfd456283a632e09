/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The key-value store server: typed handlers generated from kv.idl, a
 * sorted array as the store, a change event broadcast after every write.
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

static int
on_get(lrpc_rpc_call *call, void *ud, const char *key, kv_entry *ret_entry)
{
	struct item *it = find(key, NULL);

	if (!it)
		return KV_ERROR_NOT_FOUND;
	ret_entry->key = it->key;
	ret_entry->value = (lrpc_bytes){ it->value, it->len };
	ret_entry->version = it->version;
	return 0;
}

static int
on_put(lrpc_rpc_call *call, void *ud, const char *key, lrpc_bytes value,
       uint64_t *ret_version)
{
	size_t pos;
	struct item *it = find(key, &pos);
	uint8_t *copy = malloc(value.len ? value.len : 1);

	if (!copy)
		return -ENOMEM;
	memcpy(copy, value.data, value.len);
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
	it->len = value.len;
	*ret_version = ++it->version;
	printf("kv-server: put %s (version %llu, %zu bytes)\n", key,
	       (unsigned long long)it->version, value.len);
	fflush(stdout);
	kv_store_broadcast_changed(server, key, it->version, false);
	return 0;
}

static int
on_delete(lrpc_rpc_call *call, void *ud, const char *key)
{
	struct item *it = find(key, NULL);

	if (!it)
		return KV_ERROR_NOT_FOUND;
	uint64_t version = it->version;
	printf("kv-server: delete %s\n", key);
	fflush(stdout);
	kv_store_broadcast_changed(server, key, version, true);
	free(it->key);
	free(it->value);
	memmove(it, it + 1, (size_t)(&items[n_items] - (it + 1)) * sizeof(*it));
	n_items--;
	return 0;
}

static int
on_list(lrpc_rpc_call *call, void *ud, const char *prefix,
	kv_entry_list *ret_items)
{
	lrpc_arena *arena = lrpc_rpc_call_get_arena(call);
	size_t len = strlen(prefix), n = 0;
	kv_entry *out;
	int r;

	r = lrpc_arena_alloc(arena, (n_items ? n_items : 1) * sizeof(*out),
			     _Alignof(kv_entry), (void **)&out);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_items && n < 1024; i++) {
		if (strncmp(items[i].key, prefix, len) != 0)
			continue;
		out[n++] = (kv_entry){
			.key = items[i].key,
			.value = { items[i].value, items[i].len },
			.version = items[i].version,
		};
	}
	*ret_items = (kv_entry_list){ out, n };
	return 0;
}

static const struct kv_store_handlers handlers = {
	.get = on_get,
	.put = on_put,
	.delete_ = on_delete,
	.list = on_list,
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
	if (lrpc_loop_new(&loop) < 0 ||
	    lrpc_loop_add_signal(loop, SIGTERM, on_signal, NULL) < 0 ||
	    lrpc_loop_add_signal(loop, SIGINT, on_signal, NULL) < 0)
		return 1;
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
		return 1;
	}
	printf("kv-server: serving %s over %s\n", KV_SERVICE,
	       lrpc_transport_name(lrpc_server_get_transport(server)));
	fflush(stdout);
	lrpc_loop_run(loop);
	lrpc_server_unref(server);
	lrpc_loop_unref(loop);
	for (size_t i = 0; i < n_items; i++) {
		free(items[i].key);
		free(items[i].value);
	}
	free(items);
	printf("kv-server: stopped\n");
	return 0;
}
