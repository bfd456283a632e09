/*
 * feed-client.c - an lrpc client of feed.Feed for the gRPC gateway's
 * stream tests through the import direction (test_grpc_stream.py): it
 * reads with the generated stubs as a client of a local server would.
 *
 *   feed-client NAME count N [fail]   read, check seq and text, print
 *                                     "items <k>" and "end ok" or
 *                                     "end <status> <error name> <message>"
 *   feed-client NAME hold N cancel    read N items, print "got N",
 *                                     close the iterator (a cancel),
 *                                     print "closed"
 *   feed-client NAME hold N wait      read N items, print "got N", wait
 *                                     (the test kills the process)
 *   feed-client NAME hold N deadline MS
 *                                     with a deadline of MS ms: read N
 *                                     items, print "got N", then
 *                                     "end <status>"
 *   feed-client NAME forever SIZE K SECONDS
 *                                     read K items of SIZE bytes, print
 *                                     "got K", stop reading SECONDS, close
 *
 * Exit status 0 when what it read was as expected, 1 otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lrpc/lrpc.h>

#include "feed-client.h"

#define TIMEOUT (30 * LRPC_USEC_PER_SEC)

static void
say(const char *fmt, unsigned long v)
{
	printf(fmt, v);
	fflush(stdout);
}

static int
run_count(lrpc_rpc_client *rc, uint32_t n, bool fail)
{
	lrpc_rpc_error err = { 0 };
	lrpc_rpc_iter *it;
	lrpc_arena arena;
	uint32_t k = 0, seq;
	const char *text;
	char want[32];
	int r;

	r = feed_count_open(rc, n, fail, TIMEOUT, &it, &err);
	if (r < 0) {
		printf("open: %s\n", strerror(-r));
		return 1;
	}
	lrpc_arena_init(&arena, NULL, 0, LRPC_ARENA_UNLIMITED);
	while ((r = feed_count_next(it, &seq, &text, &arena, &err)) == 1) {
		snprintf(want, sizeof(want), "item %u", k);
		if (seq != k || strcmp(text, want) != 0) {
			printf("item %u: seq %u text \"%s\"\n", k, seq, text);
			r = -EBADMSG;
			break;
		}
		k++;
		lrpc_arena_reset(&arena);
	}
	lrpc_arena_done(&arena);
	feed_count_close(it);
	say("items %lu\n", k);
	if (r == 0) {
		printf("end ok\n");
		return k == n && !fail ? 0 : 1;
	}
	printf("end %d %s %s\n", r == -EREMOTEIO ? err.code : r,
	       err.name ? err.name : "-", err.message);
	return 1;
}

static int
run_hold(lrpc_rpc_client *rc, uint32_t n, const char *how, uint64_t ms)
{
	uint64_t timeout = strcmp(how, "deadline") == 0 ?
			   ms * LRPC_USEC_PER_MSEC : TIMEOUT;
	lrpc_rpc_error err = { 0 };
	lrpc_rpc_iter *it;
	uint32_t seq;
	int r;

	r = feed_hold_open(rc, n, timeout, &it, &err);
	if (r < 0) {
		printf("open: %s\n", strerror(-r));
		return 1;
	}
	for (uint32_t k = 0; k < n; k++) {
		r = feed_hold_next(it, &seq, &err);
		if (r != 1 || seq != k) {
			printf("item %u: %d seq %u\n", k, r, seq);
			feed_hold_close(it);
			return 1;
		}
	}
	say("got %lu\n", n);
	if (strcmp(how, "wait") == 0)
		pause();
	if (strcmp(how, "deadline") == 0) {
		r = feed_hold_next(it, &seq, &err);
		printf("end %s\n", r < 0 ? strerror(-r) : "an item");
		feed_hold_close(it);
		return r == -ETIMEDOUT ? 0 : 1;
	}
	feed_hold_close(it);
	printf("closed\n");
	return 0;
}

static int
run_forever(lrpc_rpc_client *rc, uint32_t size, uint32_t n,
	    unsigned seconds)
{
	lrpc_rpc_error err = { 0 };
	lrpc_rpc_iter *it;
	lrpc_arena arena;
	lrpc_bytes data;
	uint32_t seq;
	int r;

	r = feed_forever_open(rc, size, TIMEOUT, &it, &err);
	if (r < 0) {
		printf("open: %s\n", strerror(-r));
		return 1;
	}
	lrpc_arena_init(&arena, NULL, 0, LRPC_ARENA_UNLIMITED);
	for (uint32_t k = 0; k < n; k++) {
		r = feed_forever_next(it, &seq, &data, &arena, &err);
		if (r != 1 || seq != k || data.len != size) {
			printf("item %u: %d seq %u len %zu\n", k, r, seq,
			       data.len);
			break;
		}
		lrpc_arena_reset(&arena);
	}
	lrpc_arena_done(&arena);
	if (r == 1) {
		say("got %lu\n", n);
		sleep(seconds);
	}
	feed_forever_close(it);
	printf("closed\n");
	return r == 1 ? 0 : 1;
}

static int
usage(void)
{
	fprintf(stderr, "usage: feed-client NAME count N [fail]\n"
			"       feed-client NAME hold N cancel|wait\n"
			"       feed-client NAME hold N deadline MS\n"
			"       feed-client NAME forever SIZE K SECONDS\n");
	return 2;
}

int
main(int argc, char **argv)
{
	lrpc_client *c;
	lrpc_rpc_client *rc;
	int r, status;

	if (argc < 4)
		return usage();
	r = lrpc_client_new(&c, argv[1], NULL);
	if (r < 0) {
		fprintf(stderr, "feed-client: %s: %s\n", argv[1], strerror(-r));
		return 1;
	}
	r = lrpc_rpc_client_new(&rc, c);
	lrpc_client_unref(c);
	if (r < 0)
		return 1;
	uint32_t n = (uint32_t)strtoul(argv[3], NULL, 10);
	if (strcmp(argv[2], "count") == 0 && argc <= 5)
		status = run_count(rc, n,
				   argc == 5 && strcmp(argv[4], "fail") == 0);
	else if (strcmp(argv[2], "hold") == 0 && argc == 5)
		status = run_hold(rc, n, argv[4], 0);
	else if (strcmp(argv[2], "hold") == 0 && argc == 6)
		status = run_hold(rc, n, argv[4], strtoull(argv[5], NULL, 10));
	else if (strcmp(argv[2], "forever") == 0 && argc == 6)
		status = run_forever(rc, n, (uint32_t)strtoul(argv[4], NULL, 10),
				     (unsigned)strtoul(argv[5], NULL, 10));
	else
		status = usage();
	lrpc_rpc_client_unref(rc);
	return status;
}
