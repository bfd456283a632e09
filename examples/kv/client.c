/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Command-line client of the key-value store, through the stubs generated
 * from idl/example/kv.idl:
 *
 *   kv-client [--transport socket|shm|best] put KEY VALUE
 *   kv-client [...] put-counter KEY N | touch KEY | get KEY | delete KEY
 *   kv-client [...] list [PREFIX [LIMIT]] | stats | watch [COUNT]
 *   kv-client [...] get-first KEY...
 *
 * Most commands are one synchronous call with a timeout.  get-first and
 * watch run an event loop: get-first asks for every key at once, with a
 * deadline, and cancels the calls it no longer needs; watch prints the
 * change events.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv-client.h"

#define TIMEOUT_USEC (5 * LRPC_USEC_PER_SEC)
#define FIRST_DEADLINE_SEC 2

static void
usage(void)
{
	fprintf(stderr,
		"usage: kv-client [--transport socket|shm|best] COMMAND\n"
		"  put KEY VALUE | put-counter KEY N | touch KEY | get KEY |\n"
		"  get-first KEY... | delete KEY | list [PREFIX [LIMIT]] |"
		" stats |\n"
		"  watch [COUNT]\n");
}

static int
report(const char *what, int r, const lrpc_rpc_error *err)
{
	if (r > 0 && err)
		printf("%s: %s%s%s\n", what, err->name,
		       err->message[0] ? ": " : "", err->message);
	else if (r > 0)
		printf("%s: failed: error %d\n", what, r);
	else
		printf("%s: failed: %s\n", what, strerror(-r));
	return 1;
}

static int
parse_u32(const char *s, uint32_t *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static const char *
kind_name(kv_kind kind)
{
	return kind == KV_KIND_COUNTER ? "counter" : "plain";
}

static void
print_entry(const char *what, const kv_entry *e)
{
	printf("%s%s ", what, e->key);
	if (e->kind == KV_KIND_COUNTER && e->value.len == 8) {
		uint64_t v = 0;
		for (int i = 0; i < 8; i++)
			v |= (uint64_t)e->value.data[i] << (8 * i);
		printf("= %lld", (long long)(int64_t)v);
	} else {
		printf("= \"%.*s\"", (int)e->value.len,
		       (const char *)e->value.data);
	}
	printf(" (%s, version %llu", kind_name(e->kind),
	       (unsigned long long)e->version);
	/* Absent when the writer spoke version 1 of the interface. */
	if (e->origin)
		printf(", by pid %u uid %u", e->origin->pid, e->origin->uid);
	printf(")\n");
}

/* get-first: one async get per key; the first entry wins. */
struct first;

struct first_call {
	struct first *f;
	const char *key;
	uint64_t id; /* 0 once the call completed or was cancelled */
};

struct first {
	lrpc_loop *loop;
	struct first_call *calls;
	size_t n_calls, n_pending;
	bool found;
	int status; /* why no entry came, when none did */
};

/* The answers still to come are not needed: their callbacks will not run,
 * and the server learns that it may stop working on them. */
static void
cancel_pending(lrpc_rpc_client *rc, struct first *f)
{
	for (size_t i = 0; i < f->n_calls; i++) {
		struct first_call *fc = &f->calls[i];
		if (!fc->id || lrpc_rpc_client_cancel(rc, fc->id) < 0)
			continue;
		fc->id = 0;
		f->n_pending--;
		printf("get-first %s: cancelled\n", fc->key);
	}
}

/* A kv_store_get_complete_fn: runs once per call not cancelled. */
static void
on_first(lrpc_rpc_client *rc, int status, const kv_entry *entry,
	 const lrpc_rpc_error *err, void *userdata)
{
	struct first_call *fc = userdata;
	struct first *f = fc->f;

	fc->id = 0;
	f->n_pending--;
	if (status != 0) {
		/* A failure to reach the server outweighs NOT_FOUND: that
		 * key may exist after all. */
		char what[300];
		if (f->status >= 0)
			f->status = status;
		snprintf(what, sizeof(what), "get-first %s", fc->key);
		report(what, status, err);
	} else {
		print_entry("get-first ", entry);
		f->found = true;
		cancel_pending(rc, f);
	}
	if (f->found || f->n_pending == 0)
		lrpc_loop_quit(f->loop);
}

static int
get_first(lrpc_rpc_client *rc, lrpc_loop *loop, char **keys, size_t n)
{
	struct first f = { .loop = loop, .n_calls = n };
	int r;

	f.calls = calloc(n, sizeof(*f.calls));
	if (!f.calls)
		return report("get-first", -ENOMEM, NULL);
	/* Attached before the calls go out, so the loop keeps their
	 * deadlines. */
	r = lrpc_rpc_client_attach_loop(rc, loop);
	for (size_t i = 0; r == 0 && i < n; i++) {
		f.calls[i] = (struct first_call){ &f, keys[i], 0 };
		r = kv_store_get_async(rc, keys[i], on_first, &f.calls[i],
				       FIRST_DEADLINE_SEC * LRPC_USEC_PER_SEC,
				       &f.calls[i].id);
		if (r == 0)
			f.n_pending++;
	}
	if (r < 0) {
		report("get-first", r, NULL);
	} else {
		r = lrpc_loop_run(loop);
		if (r < 0)
			report("get-first", r, NULL);
		else if (f.found)
			r = 0;
		else if (f.status > 0)
			printf("get-first: none of the keys exists\n");
		else if (f.status == -ETIMEDOUT)
			printf("get-first: no answer within %d s\n",
			       FIRST_DEADLINE_SEC);
		else
			printf("get-first: failed: %s\n", strerror(-f.status));
	}
	/* None is left unless something failed: the callbacks' userdata
	 * goes now. */
	cancel_pending(rc, &f);
	free(f.calls);
	return r != 0 || !f.found;
}

/* watch: change events, pushed by the server, until COUNT came. */
struct watch {
	lrpc_loop *loop;
	unsigned seen, max;
	bool closed;
};

/* A kv_store_changed_listener_fn. */
static void
on_changed(void *userdata, const char *key, uint64_t version)
{
	struct watch *w = userdata;

	if (version == 0)
		printf("changed: %s deleted\n", key);
	else
		printf("changed: %s is now version %llu\n", key,
		       (unsigned long long)version);
	fflush(stdout);
	if (++w->seen == w->max)
		lrpc_loop_quit(w->loop);
}

static void
on_closed(lrpc_rpc_client *rc, int reason, void *userdata)
{
	struct watch *w = userdata;

	printf("watch: the service went away (%s)\n", strerror(-reason));
	w->closed = true;
	lrpc_loop_quit(w->loop);
}

static int
watch(lrpc_rpc_client *rc, lrpc_loop *loop, unsigned max)
{
	static const struct kv_store_events events = {
		.changed = on_changed,
	};
	struct watch w = { .loop = loop, .max = max };
	int r;

	lrpc_rpc_client_set_closed_handler(rc, on_closed, &w);
	r = kv_store_listen(rc, &events, &w);
	if (r == 0)
		r = lrpc_rpc_client_attach_loop(rc, loop);
	if (r == 0) {
		printf("watching %s%s\n", KV_SERVICE,
		       max ? "" : " (Ctrl-C to stop)");
		fflush(stdout);
		r = lrpc_loop_run(loop);
	}
	if (r < 0)
		report("watch", r, NULL);
	/* w is gone once this returns. */
	lrpc_rpc_client_set_closed_handler(rc, NULL, NULL);
	(void)kv_store_listen(rc, NULL, NULL);
	return r < 0 || w.closed;
}

static int
run(lrpc_rpc_client *rc, lrpc_loop *loop, lrpc_arena *arena, const char *cmd,
    char **args, int n)
{
	lrpc_rpc_error err;
	uint32_t u32 = 0;
	int r;

	if (strcmp(cmd, "put") == 0 && n == 2) {
		kv_value value = { .tag = KV_VALUE_DATA };
		uint64_t version;
		value.u.data = (lrpc_bytes){ (const uint8_t *)args[1],
					     strlen(args[1]) };
		r = kv_store_put(rc, args[0], &value, &version, TIMEOUT_USEC,
				 &err);
		if (r != 0)
			return report("put", r, &err);
		printf("put %s: version %llu\n", args[0],
		       (unsigned long long)version);
	} else if (strcmp(cmd, "put-counter") == 0 && n == 2) {
		kv_value value = { .tag = KV_VALUE_COUNTER };
		uint64_t version;
		char *end;
		errno = 0;
		value.u.counter = strtoll(args[1], &end, 10);
		if (errno || end == args[1] || *end)
			return usage(), 2;
		r = kv_store_put(rc, args[0], &value, &version, TIMEOUT_USEC,
				 &err);
		if (r != 0)
			return report("put-counter", r, &err);
		printf("put-counter %s: version %llu\n", args[0],
		       (unsigned long long)version);
	} else if (strcmp(cmd, "touch") == 0 && n == 1) {
		/* Oneway: done once sent, and no word back, not even
		 * NOT_FOUND. */
		r = kv_store_touch(rc, args[0]);
		if (r != 0)
			return report("touch", r, NULL);
		printf("touch %s: sent\n", args[0]);
	} else if (strcmp(cmd, "get") == 0 && n == 1) {
		kv_entry e;
		r = kv_store_get(rc, args[0], &e, arena, TIMEOUT_USEC, &err);
		if (r != 0)
			return report("get", r, &err);
		print_entry("get ", &e);
	} else if (strcmp(cmd, "get-first") == 0 && n >= 1) {
		return get_first(rc, loop, args, (size_t)n);
	} else if (strcmp(cmd, "delete") == 0 && n == 1) {
		r = kv_store_delete(rc, args[0], TIMEOUT_USEC, &err);
		if (r != 0)
			return report("delete", r, &err);
		printf("delete %s: done\n", args[0]);
	} else if (strcmp(cmd, "list") == 0 && n <= 2) {
		kv_entry_list items;
		if (n == 2 && parse_u32(args[1], &u32) < 0)
			return usage(), 2;
		r = kv_store_list(rc, n ? args[0] : "", u32, &items, arena,
				  TIMEOUT_USEC, &err);
		if (r != 0)
			return report("list", r, &err);
		printf("list: %zu entries\n", items.count);
		for (size_t i = 0; i < items.count; i++)
			print_entry("  ", &items.items[i]);
	} else if (strcmp(cmd, "stats") == 0 && n == 0) {
		kv_kind_u64_map counts;
		r = kv_store_stats(rc, &counts, arena, TIMEOUT_USEC, &err);
		if (r != 0)
			return report("stats", r, &err);
		printf("stats:");
		for (size_t i = 0; i < counts.count; i++)
			printf(" %llu %s", (unsigned long long)counts.values[i],
			       kind_name(counts.keys[i]));
		printf("\n");
	} else if (strcmp(cmd, "watch") == 0 && n <= 1) {
		if (n == 1 && parse_u32(args[0], &u32) < 0)
			return usage(), 2;
		return watch(rc, loop, u32);
	} else {
		return usage(), 2;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	lrpc_client_opts opts = { .struct_size = sizeof(opts) };
	lrpc_rpc_client *rc;
	lrpc_loop *loop;
	lrpc_client *c;
	uint8_t buf[4096];
	lrpc_arena arena;
	int i = 1, r;

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
	r = lrpc_client_new(&c, KV_SERVICE, &opts);
	if (r < 0) {
		fprintf(stderr, "kv-client: cannot connect to %s: %s\n",
			KV_SERVICE, strerror(-r));
		return 1;
	}
	r = lrpc_rpc_client_new(&rc, c);
	lrpc_client_unref(c);
	if (r < 0) {
		fprintf(stderr, "kv-client: %s\n", strerror(-r));
		return 1;
	}
	/* get-first and watch run it; the other commands wait in their
	 * synchronous call. */
	r = lrpc_loop_new(&loop);
	if (r < 0) {
		fprintf(stderr, "kv-client: %s\n", strerror(-r));
		lrpc_rpc_client_unref(rc);
		return 1;
	}
	/* Decoded strings and lists land here; the buffer grows into the
	 * heap only for large answers. */
	lrpc_arena_init(&arena, buf, sizeof(buf), LRPC_ARENA_UNLIMITED);
	r = run(rc, loop, &arena, argv[i], argv + i + 1, argc - i - 1);
	lrpc_arena_done(&arena);
	/* The loop goes last: the client may still hold its fds and a
	 * timer. */
	lrpc_rpc_client_unref(rc);
	lrpc_loop_unref(loop);
	return r;
}
