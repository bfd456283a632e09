/* The echo example's client: a few calls, a burst of events, timings. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "echo.h"

static double
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	static char buf[LRPC_DEFAULT_MAX_MSG_SIZE];
	lrpc_client *c = NULL;
	lrpc_peer server;
	size_t n = 0;
	int r, tries = 0;
	bool quit = argc > 1 && strcmp(argv[1], "--quit") == 0;

	/* The demo starts the server just before us: give it a moment. */
	while ((r = lrpc_client_new(&c, ECHO_SERVICE, NULL)) ==
		       -ECONNREFUSED && tries++ < 200) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (r < 0) {
		fprintf(stderr, "echo-client: connect: %s\n", strerror(-r));
		return 1;
	}
	lrpc_client_get_peer(c, &server);
	printf("client: connected over %s to pid %d (uid %u), max message "
	       "%u bytes\n",
	       lrpc_transport_name(lrpc_client_get_transport(c)),
	       (int)server.pid, (unsigned)server.uid,
	       lrpc_client_get_max_msg_size(c));

	struct {
		lrpc_msg_header hdr;
		char text[32];
	} req = { .hdr = { .size = sizeof(req), .id = ECHO_MSG_ECHO } };
	snprintf(req.text, sizeof(req.text), "hello, lrpc");
	r = lrpc_client_call(c, &req, sizeof(req), buf, sizeof(buf), 1000 * LRPC_USEC_PER_MSEC, &n);
	if (r < 0)
		goto fail;
	printf("client: echo answered %zu bytes: \"%s\"\n", n,
	       buf + sizeof(lrpc_msg_header));

	/* Round-trip times of a small call. */
	enum { N = 2000 };
	static double t[N];
	for (int i = 0; i < N; i++) {
		double t0 = now_us();
		r = lrpc_client_call(c, &req, sizeof(req), buf, sizeof(buf), 1000 * LRPC_USEC_PER_MSEC, &n);
		if (r < 0)
			goto fail;
		t[i] = now_us() - t0;
	}
	qsort(t, N, sizeof(t[0]), cmp_double);
	printf("client: %d calls of %zu bytes: median %.1f us, p99 %.1f us\n",
	       N, sizeof(req), t[N / 2], t[N * 99 / 100]);

	/* An id nobody handles gets an error response; we stay connected. */
	lrpc_msg_header unknown = { .size = sizeof(unknown), .id = 999 };
	r = lrpc_client_call(c, &unknown, sizeof(unknown), buf, sizeof(buf), 1000 * LRPC_USEC_PER_MSEC, &n);
	if (r < 0)
		goto fail;
	printf("client: unknown id 999 answered with error %d (%s)\n",
	       ((lrpc_msg_header *)buf)->error,
	       strerror(-((lrpc_msg_header *)buf)->error));

	struct echo_subscribe sub = {
		.hdr = { .size = sizeof(sub), .id = ECHO_MSG_SUBSCRIBE },
		.n_events = 5,
	};
	r = lrpc_client_call(c, &sub, sizeof(sub), buf, sizeof(buf), 1000 * LRPC_USEC_PER_MSEC, &n);
	if (r < 0)
		goto fail;
	for (uint32_t i = 0; i < sub.n_events; i++) {
		r = lrpc_client_recv_event(c, buf, sizeof(buf), 1000 * LRPC_USEC_PER_MSEC,
					   &n);
		if (r < 0)
			goto fail;
		printf("client: event #%u\n",
		       ((struct echo_event *)(void *)buf)->seq);
	}
	if (quit) {
		lrpc_msg_header q = { .size = sizeof(q), .id = ECHO_MSG_QUIT };
		r = lrpc_client_call(c, &q, sizeof(q), buf, sizeof(buf), 1000 * LRPC_USEC_PER_MSEC, &n);
		if (r < 0)
			goto fail;
		printf("client: asked the server to stop\n");
	}
	lrpc_client_unref(c);
	return 0;
fail:
	fprintf(stderr, "echo-client: %s\n", strerror(-r));
	lrpc_client_unref(c);
	return 1;
}
