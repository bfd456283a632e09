/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Command-line client of the key-value store, through the stubs generated
 * from kv.idl:
 *
 *   kv-client [--transport socket|shm|best] put KEY VALUE
 *   kv-client [...] get KEY | delete KEY | list [PREFIX] | watch [COUNT]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv-client.h"

#define TIMEOUT_USEC (5 * LRPC_USEC_PER_SEC)

static void
usage(void)
{
	fprintf(stderr,
		"usage: kv-client [--transport socket|shm|best] COMMAND\n"
		"  put KEY VALUE | get KEY | delete KEY | list [PREFIX] |"
		" watch [COUNT]\n");
}

static int
report(const char *what, int r, const lrpc_rpc_error *err)
{
	if (r > 0)
		printf("%s: %s%s%s\n", what, err->name,
		       err->message[0] ? ": " : "", err->message);
	else
		printf("%s: failed: %s\n", what, strerror(-r));
	return 1;
}

static unsigned watched, watch_max;
static lrpc_loop *watch_loop;

static void
on_changed(void *userdata, const char *key, uint64_t version, bool deleted)
{
	if (deleted)
		printf("changed: %s deleted\n", key);
	else
		printf("changed: %s is now version %llu\n", key,
		       (unsigned long long)version);
	fflush(stdout);
	if (++watched == watch_max)
		lrpc_loop_quit(watch_loop);
}

static void
on_closed(lrpc_rpc_client *rc, int reason, void *userdata)
{
	printf("watch: the service went away (%s)\n", strerror(-reason));
	*(int *)userdata = 1;
	lrpc_loop_quit(watch_loop);
}

/*
 * Events arrive through an event loop: the RPC client is attached to it
 * (push style) and the loop runs until enough of them came or the service
 * went away.  Nothing here polls.
 */
static int
watch(lrpc_rpc_client *rc)
{
	static const struct kv_store_events events = {
		.changed = on_changed,
	};
	int failed = 0, r;

	r = lrpc_loop_new(&watch_loop);
	if (r < 0)
		return report("watch", r, NULL);
	lrpc_rpc_client_set_closed_handler(rc, on_closed, &failed);
	r = kv_store_listen(rc, &events, NULL);
	if (r == 0)
		r = lrpc_rpc_client_attach_loop(rc, watch_loop);
	if (r < 0) {
		watch_loop = lrpc_loop_unref(watch_loop);
		return report("watch", r, NULL);
	}
	printf("watching %s%s\n", KV_SERVICE,
	       watch_max ? "" : " (Ctrl-C to stop)");
	fflush(stdout);
	r = lrpc_loop_run(watch_loop);
	/* The client leaves the loop before the loop goes; the job that
	 * reports the close holds a reference until it ran. */
	lrpc_rpc_client_set_closed_handler(rc, NULL, NULL);
	lrpc_client_close(lrpc_rpc_client_get_client(rc));
	lrpc_loop_run_once(watch_loop, 0);
	watch_loop = lrpc_loop_unref(watch_loop);
	return r < 0 || failed;
}

int
main(int argc, char **argv)
{
	lrpc_client_opts opts = { .struct_size = sizeof(opts) };
	lrpc_rpc_error err;
	lrpc_rpc_client *rc;
	lrpc_client *c;
	uint8_t buf[4096];
	lrpc_arena arena;
	int i = 1, r, ret = 0;

	if (argc > 2 && strcmp(argv[1], "--transport") == 0) {
		const char *t = argv[2];
		if (strcmp(t, "socket") == 0)
			opts.transport = LRPC_TRANSPORT_SOCKET;
		else if (strcmp(t, "shm") == 0)
			opts.transport = LRPC_TRANSPORT_SHM;
		else if (strcmp(t, "best") != 0)
			return usage(), 2;
		i = 3;
	}
	if (i >= argc)
		return usage(), 2;
	const char *cmd = argv[i++];
	r = lrpc_client_new(&c, KV_SERVICE, &opts);
	if (r < 0) {
		fprintf(stderr, "kv-client: cannot connect to %s: %s\n",
			KV_SERVICE, strerror(-r));
		return 1;
	}
	r = lrpc_rpc_client_new(&rc, c);
	if (r < 0)
		return 1;
	/* Decoded strings and lists land here; the buffer grows into the
	 * heap only for large answers. */
	lrpc_arena_init(&arena, buf, sizeof(buf), LRPC_ARENA_UNLIMITED);

	if (strcmp(cmd, "put") == 0 && argc - i == 2) {
		uint64_t version;
		lrpc_bytes value = { (const uint8_t *)argv[i + 1],
				     strlen(argv[i + 1]) };
		r = kv_store_put(rc, argv[i], value, &version, TIMEOUT_USEC,
				 &err);
		if (r != 0)
			ret = report("put", r, &err);
		else
			printf("put %s: version %llu\n", argv[i],
			       (unsigned long long)version);
	} else if (strcmp(cmd, "get") == 0 && argc - i == 1) {
		kv_entry e;
		r = kv_store_get(rc, argv[i], &e, &arena, TIMEOUT_USEC, &err);
		if (r != 0)
			ret = report("get", r, &err);
		else
			printf("get %s: \"%.*s\" (version %llu)\n", e.key,
			       (int)e.value.len, (const char *)e.value.data,
			       (unsigned long long)e.version);
	} else if (strcmp(cmd, "delete") == 0 && argc - i == 1) {
		r = kv_store_delete(rc, argv[i], TIMEOUT_USEC, &err);
		if (r != 0)
			ret = report("delete", r, &err);
		else
			printf("delete %s: done\n", argv[i]);
	} else if (strcmp(cmd, "list") == 0 && argc - i <= 1) {
		kv_entry_list items;
		r = kv_store_list(rc, argc - i ? argv[i] : "", &items, &arena,
				  TIMEOUT_USEC, &err);
		if (r != 0) {
			ret = report("list", r, &err);
		} else {
			const kv_entry *e = items.items;
			printf("list: %zu entries\n", items.count);
			for (size_t k = 0; k < items.count; k++)
				printf("  %s = \"%.*s\" (version %llu)\n",
				       e[k].key, (int)e[k].value.len,
				       (const char *)e[k].value.data,
				       (unsigned long long)e[k].version);
		}
	} else if (strcmp(cmd, "watch") == 0 && argc - i <= 1) {
		watch_max = argc - i ? (unsigned)atoi(argv[i]) : 0;
		ret = watch(rc);
	} else {
		usage();
		ret = 2;
	}
	lrpc_arena_done(&arena);
	lrpc_rpc_client_unref(rc);
	lrpc_client_unref(c);
	return ret;
}
