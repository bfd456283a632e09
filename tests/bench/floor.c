/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The floors under lrpc-bench's rows on this machine (docs/benchmarks.md):
 *
 * - a round trip of N bytes each way between two processes on two CPUs
 *   over a bare socketpair, with non-blocking I/O and poll() as lrpc and
 *   libqb use them, for a stream and for a SOCK_SEQPACKET pair: no
 *   framing, no validation, no copies beyond the kernel's -- the floor of
 *   any unix-socket IPC;
 * - messages of N bytes through a ring of slots in memory two threads
 *   share, on two CPUs: the producer copies each in, the consumer copies
 *   it out, a flag per slot hands it over.  No framing, no validation, no
 *   sleeping: the rate of any shm IPC that copies a message in and out.
 *
 * Usage: lrpc-floor [--time SECONDS] [--sizes 16,64K,1M]
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
wait_fd(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };

	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
}

/* Send @n bytes: a stream takes them in as many writes as it needs, a
 * record socket in one. */
static int
xsend(int fd, const uint8_t *b, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t r = send(fd, b + off, n - off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r < 0 && errno == EAGAIN) {
			wait_fd(fd, POLLOUT);
			continue;
		}
		if (r < 0)
			return -errno;
		off += (size_t)r;
	}
	return 0;
}

static int
xrecv(int fd, uint8_t *b, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t r = recv(fd, b + off, n - off, MSG_DONTWAIT);
		if (r < 0 && errno == EAGAIN) {
			wait_fd(fd, POLLIN);
			continue;
		}
		if (r <= 0)
			return r < 0 ? -errno : -EPIPE;
		off += (size_t)r;
	}
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Run the calling thread on @cpu (when the machine has it): the two
 * sides of the pipe must not share one. */
static void
pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void)sched_setaffinity(0, sizeof(set), &set);
}

/* Round trips for @secs seconds; median and p99 in ns. */
static int
run(int type, size_t size, double secs, uint64_t *ret_med, uint64_t *ret_p99)
{
	int sv[2], v = (int)(2 * size + 65536), r = 0;
	size_t cap = 1 << 20, n = 0;
	uint64_t *lat = malloc(cap * sizeof(*lat));
	uint8_t *buf = calloc(1, size), *rbuf = calloc(1, size);
	pid_t pid;

	if (!lat || !buf || !rbuf ||
	    socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0)
		return -ENOMEM;
	for (int i = 0; i < 2; i++) {
		(void)setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
		(void)setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	}
	/* Client on CPU 0, server on CPU 1, as lrpc-bench --pin=split: a
	 * wake-up crosses CPUs as it does between two busy processes. */
	cpu_set_t old;
	bool split = sched_getaffinity(0, sizeof(old), &old) == 0 &&
		     CPU_COUNT(&old) >= 2;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (split)
			pin(1);
		close(sv[0]);
		while (xrecv(sv[1], rbuf, size) == 0 &&
		       xsend(sv[1], rbuf, size) == 0)
			;
		_exit(0);
	}
	close(sv[1]);
	if (split)
		pin(0);
	uint64_t end = now_ns() + (uint64_t)(secs * 1e9);
	for (int i = 0; i < 20 && r == 0; i++)
		r = xsend(sv[0], buf, size) ?: xrecv(sv[0], rbuf, size);
	while (r == 0 && n < cap) {
		uint64_t t0 = now_ns();
		r = xsend(sv[0], buf, size) ?: xrecv(sv[0], rbuf, size);
		uint64_t t1 = now_ns();
		lat[n++] = t1 - t0;
		if (t1 > end)
			break;
	}
	close(sv[0]);
	waitpid(pid, NULL, 0);
	if (split)
		(void)sched_setaffinity(0, sizeof(old), &old);
	if (r == 0 && n > 0) {
		qsort(lat, n, sizeof(*lat), cmp_u64);
		*ret_med = lat[n / 2];
		*ret_p99 = lat[n * 99 / 100];
	}
	free(lat);
	free(buf);
	free(rbuf);
	return r;
}

#define RING_SLOTS 16

struct pipe_ring {
	uint8_t *slot[RING_SLOTS];
	_Atomic uint64_t head, tail; /* produced, consumed */
	size_t size;
	uint64_t count;
};

static void *
consumer(void *arg)
{
	struct pipe_ring *p = arg;

	pin(1);
	uint8_t *out = malloc(p->size);
	volatile uint8_t sink = 0;

	for (uint64_t i = 0; out && i < p->count; i++) {
		while (atomic_load_explicit(&p->head, memory_order_acquire) == i)
			;
		memcpy(out, p->slot[i % RING_SLOTS], p->size);
		sink += out[p->size - 1];
		atomic_store_explicit(&p->tail, i + 1, memory_order_release);
	}
	(void)sink;
	free(out);
	return NULL;
}

/* Messages of @size bytes per second through a shared ring between two
 * threads, copied in and out, for about @secs / 2 seconds. */
static double
pipe_rate(size_t size, double secs)
{
	struct pipe_ring p = { .size = size };
	uint8_t *in = malloc(size);
	pthread_t th;
	uint64_t t0, t1;
	bool ok = in != NULL;

	for (int i = 0; i < RING_SLOTS; i++)
		ok &= (p.slot[i] = calloc(1, size)) != NULL;
	/* Size the run from one copy's time: about @secs / 2 seconds. */
	p.count = 1000;
	if (ok) {
		memset(in, 3, size);
		t0 = now_ns();
		for (int i = 0; i < 100; i++)
			memcpy(p.slot[i % RING_SLOTS], in, size);
		double one = (double)(now_ns() - t0) / 100.0;
		p.count = (uint64_t)(secs * 0.5e9 / (2 * one + 50)) + 1000;
	}
	cpu_set_t old;
	bool split = sched_getaffinity(0, sizeof(old), &old) == 0 &&
		     CPU_COUNT(&old) >= 2;
	if (split)
		pin(0);
	if (ok && pthread_create(&th, NULL, consumer, &p) == 0) {
		t0 = now_ns();
		for (uint64_t i = 0; i < p.count; i++) {
			while (i - atomic_load_explicit(&p.tail,
							memory_order_acquire) >=
			       RING_SLOTS)
				;
			memcpy(p.slot[i % RING_SLOTS], in, size);
			atomic_store_explicit(&p.head, i + 1,
					      memory_order_release);
		}
		pthread_join(th, NULL);
		t1 = now_ns();
	} else {
		ok = false;
	}
	if (split)
		(void)sched_setaffinity(0, sizeof(old), &old);
	for (int i = 0; i < RING_SLOTS; i++)
		free(p.slot[i]);
	free(in);
	return ok ? (double)p.count * 1e9 / (double)(t1 - t0) : -1;
}

static size_t
parse_size(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*end == 'K')
		v *= 1024;
	else if (*end == 'M')
		v *= 1024 * 1024;
	return v;
}

int
main(int argc, char **argv)
{
	const char *sizes = "16,64K,1M";
	double secs = 1.0;
	char list[256], *save = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--time") && i + 1 < argc) {
			secs = atof(argv[++i]);
		} else if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
			sizes = argv[++i];
		} else {
			fprintf(stderr,
				"Usage: %s [--time SECONDS] [--sizes LIST]\n",
				argv[0]);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	printf("Bare socketpair round trips (the floor of any unix-socket "
	       "IPC here; client on CPU 0, server on CPU 1), median / p99 in "
	       "us:\n\n");
	printf("| size | SOCK_STREAM | SOCK_SEQPACKET |\n|---|---|---|\n");
	snprintf(list, sizeof(list), "%s", sizes);
	for (char *tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		size_t size = parse_size(tok);
		uint64_t med[2] = { 0 }, p99[2] = { 0 };
		int types[2] = { SOCK_STREAM, SOCK_SEQPACKET };

		if (size == 0)
			continue;
		for (int k = 0; k < 2; k++) {
			int r = run(types[k], size, secs, &med[k], &p99[k]);
			if (r < 0) {
				fprintf(stderr, "lrpc-floor: %s: %s\n", tok,
					strerror(-r));
				return 1;
			}
		}
		printf("| %s | %.2f / %.2f | %.2f / %.2f |\n", tok,
		       med[0] / 1e3, p99[0] / 1e3, med[1] / 1e3, p99[1] / 1e3);
	}
	printf("\nMessages through a shared ring between two threads, copied "
	       "in and out, no sleeping (the floor of any copying shm "
	       "IPC here):\n\n");
	printf("| size | messages/s | GB/s one way |\n|---|---|---|\n");
	snprintf(list, sizeof(list), "%s", sizes);
	save = NULL;
	for (char *tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		size_t size = parse_size(tok);
		if (size == 0)
			continue;
		double rate = pipe_rate(size, secs);
		if (rate <= 0) {
			fprintf(stderr, "lrpc-floor: out of memory\n");
			return 1;
		}
		printf("| %s | %.0f | %.2f |\n", tok, rate, rate * size / 1e9);
	}
	return 0;
}
