/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Command-line client of the file service, through the stubs generated
 * from idl/example/files.idl:
 *
 *   files-client [--name NAME] [--transport socket|shm|best] COMMAND
 *     open PATH          the file's contents on stdout, from a sealed memfd
 *     list DIR [COUNT]   the entries with progress; after COUNT of them the
 *                        rest of the stream is cancelled
 *     delete PATH        only the server's own uid (and root) may
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files-client.h"

#define TIMEOUT_USEC (5 * LRPC_USEC_PER_SEC)
#define SEALED_READ_ONLY \
	(F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL)

static void
usage(void)
{
	fprintf(stderr,
		"usage: files-client [--name NAME] "
		"[--transport socket|shm|best] COMMAND\n"
		"  open PATH | list DIR [COUNT] | delete PATH\n");
}

/* Typed errors and the server's refusals come with a name (such as
 * "files.FilesError.NOT_FOUND" or "lrpc.AccessDenied") and a message. */
static int
report(const char *what, int r, const lrpc_rpc_error *err)
{
	if (err && err->name[0] && (r > 0 || err->message[0]))
		fprintf(stderr, "%s: %s%s%s\n", what, err->name,
			err->message[0] ? ": " : "", err->message);
	else if (err && err->name[0])
		fprintf(stderr, "%s: %s (%s)\n", what, err->name,
			strerror(-r));
	else
		fprintf(stderr, "%s: failed: %s\n", what,
			r > 0 ? "unknown error" : strerror(-r));
	return 1;
}

/*
 * The memfd is a snapshot the server can no longer change: check that it
 * is sealed as promised before trusting its size, then map it.
 */
static int
show(int fd, uint64_t size)
{
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);
	void *p;

	if (seals < 0 || (seals & SEALED_READ_ONLY) != SEALED_READ_ONLY) {
		fprintf(stderr, "open: the memfd is not sealed read-only\n");
		return 1;
	}
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != size) {
		fprintf(stderr, "open: the memfd does not hold %llu bytes\n",
			(unsigned long long)size);
		return 1;
	}
	if (size == 0)
		return 0;
	p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "open: mmap: %s\n", strerror(errno));
		return 1;
	}
	size_t n = fwrite(p, 1, size, stdout);
	munmap(p, size);
	return n == size && fflush(stdout) == 0 ? 0 : 1;
}

static const char *
type_name(files_type type)
{
	switch (type) {
	case FILES_TYPE_FILE:
		return "file";
	case FILES_TYPE_DIR:
		return "dir";
	case FILES_TYPE_LINK:
		return "link";
	default:
		return "other";
	}
}

/* The iterator hands out one item at a time and grants the server more
 * as they are read; closing it early cancels the rest of the stream. */
static int
list(lrpc_rpc_client *rc, lrpc_arena *arena, const char *dir, uint32_t max)
{
	lrpc_rpc_error err = { 0 };
	lrpc_rpc_iter *it;
	files_entry e;
	uint32_t done, total, seen = 0;
	int r;

	r = files_list_open(rc, dir, TIMEOUT_USEC, &it, &err);
	if (r != 0)
		return report("list", r, &err);
	while ((r = files_list_next(it, &e, &done, &total, arena, &err)) == 1) {
		printf("[%u/%u] %-5s %10llu %s\n", done, total,
		       type_name(e.type), (unsigned long long)e.size, e.name);
		lrpc_arena_reset(arena);
		if (++seen == max)
			break;
	}
	files_list_close(it);
	if (r == 1) {
		printf("list %s: stopped after %u entries\n",
		       dir[0] ? dir : ".", seen);
		return 0;
	}
	if (r != 0)
		return report("list", r, &err);
	printf("list %s: %u entries\n", dir[0] ? dir : ".", seen);
	return 0;
}

static int
run(lrpc_rpc_client *rc, lrpc_arena *arena, const char *cmd, char **args,
    int n)
{
	lrpc_rpc_error err = { 0 };
	int r;

	if (strcmp(cmd, "open") == 0 && n == 1) {
		uint64_t size;
		int fd;
		/* The fd belongs to the arena, which closes it when done. */
		r = files_open(rc, args[0], &fd, &size, arena, TIMEOUT_USEC,
			       &err);
		if (r != 0)
			return report("open", r, &err);
		return show(fd, size);
	} else if (strcmp(cmd, "list") == 0 && (n == 1 || n == 2)) {
		unsigned long max = 0;
		if (n == 2) {
			char *end;
			errno = 0;
			max = strtoul(args[1], &end, 10);
			if (errno || end == args[1] || *end ||
			    args[1][0] == '-' || max == 0 || max > UINT32_MAX)
				return usage(), 2;
		}
		return list(rc, arena, args[0], (uint32_t)max);
	} else if (strcmp(cmd, "delete") == 0 && n == 1) {
		r = files_delete(rc, args[0], TIMEOUT_USEC, &err);
		if (r != 0)
			return report("delete", r, &err);
		printf("delete %s: done\n", args[0]);
		return 0;
	}
	return usage(), 2;
}

int
main(int argc, char **argv)
{
	lrpc_client_opts opts = { .struct_size = sizeof(opts) };
	const char *name = FILES_SERVICE;
	lrpc_rpc_client *rc;
	lrpc_client *c;
	uint8_t buf[4096];
	lrpc_arena arena;
	int i = 1, r;

	for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		const char *v = argv[i + 1];
		if (strcmp(argv[i], "--name") == 0)
			name = v;
		else if (strcmp(argv[i], "--transport") != 0)
			return usage(), 2;
		else if (strcmp(v, "socket") == 0)
			opts.transport = LRPC_TRANSPORT_SOCKET;
		else if (strcmp(v, "shm") == 0)
			opts.transport = LRPC_TRANSPORT_SHM;
		else if (strcmp(v, "best") != 0)
			return usage(), 2;
	}
	if (i >= argc || (strcmp(argv[i], "open") != 0 &&
			  strcmp(argv[i], "list") != 0 &&
			  strcmp(argv[i], "delete") != 0))
		return usage(), 2;
	r = lrpc_client_new(&c, name, &opts);
	if (r < 0) {
		fprintf(stderr, "files-client: cannot connect to %s: %s\n",
			name, strerror(-r));
		return 1;
	}
	r = lrpc_rpc_client_new(&rc, c);
	lrpc_client_unref(c);
	if (r < 0) {
		fprintf(stderr, "files-client: %s\n", strerror(-r));
		return 1;
	}
	/* Decoded strings and received fds land here: the buffer grows
	 * into the heap only for large answers. */
	lrpc_arena_init(&arena, buf, sizeof(buf), LRPC_ARENA_UNLIMITED);
	r = run(rc, &arena, argv[i], argv + i + 1, argc - i - 1);
	lrpc_arena_done(&arena);
	lrpc_rpc_client_unref(rc);
	return r;
}
