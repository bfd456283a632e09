/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The file service: typed handlers generated from idl/example/files.idl
 * over the files below one root directory.
 *
 *   files-server [--name NAME] [--transport socket|shm|best]
 *                [--max-size BYTES] [--no-openat2] ROOT
 *
 * --no-openat2 resolves paths the way the server does where openat2()
 * is missing (for its tests).
 *
 * open() copies a file into a memfd and seals it read-only, so the client
 * maps a snapshot that neither side can change; list() streams a sorted
 * listing under the client's credit; delete() is @access(owner) in the
 * IDL, so the generated dispatch refuses other uids before it runs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "files-server.h"

/* Default for --max-size: what open() copies at most. */
#define DEFAULT_MAX_SIZE (64u << 20)
/* Most entries one listing holds in the server's memory. */
#define MAX_ENTRIES 1000000u

static int root_fd = -1;
static uint64_t max_size = DEFAULT_MAX_SIZE;

/* @path as the log shows it: a client's control characters (a newline
 * that would forge a line, say) become '?'.  Truncated to 255 bytes. */
static const char *
shown(const char *path, char buf[static 256])
{
	size_t i;

	for (i = 0; path[i] && i < 255; i++)
		buf[i] = (unsigned char)path[i] < 0x20 || path[i] == 0x7f ?
				 '?' : path[i];
	buf[i] = '\0';
	return i ? buf : ".";
}

/* The message of a refusal, for the client's lrpc_rpc_error. */
static int
refuse(lrpc_rpc_call *call, int code, const char *what, const char *path)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "%s: %s", path[0] ? path : ".", what);
	(void)lrpc_rpc_call_set_error_message(call, msg);
	return code;
}

/*
 * Paths are relative to the root and never climb: an absolute path or a
 * ".." component is refused before the file system is asked, and
 * symbolic links are resolved by the kernel below the root only
 * (RESOLVE_BENEATH), so a link pointing out of it fails too.
 */
static bool
path_stays_below(const char *path)
{
	if (path[0] == '/')
		return false;
	for (const char *p = path; *p;) {
		size_t len = strcspn(p, "/");
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return false;
		p += len;
		p += *p == '/';
	}
	return true;
}

/* The kernel's refusals, as the IDL's errors. */
static int
error_of_errno(lrpc_rpc_call *call, int err, const char *path)
{
	switch (err) {
	case ENOENT:
		return refuse(call, FILES_ERROR_NOT_FOUND, "no such file",
			      path);
	case ENOTDIR:
		return refuse(call, FILES_ERROR_WRONG_TYPE, "not a directory",
			      path);
	case EISDIR:
		return refuse(call, FILES_ERROR_WRONG_TYPE, "a directory",
			      path);
	case EXDEV:
		return refuse(call, FILES_ERROR_NOT_ALLOWED,
			      "leaves the root", path);
	case ELOOP:
		return refuse(call, FILES_ERROR_NOT_ALLOWED,
			      "a symbolic link not followed", path);
	case EACCES:
	case EPERM:
		return refuse(call, FILES_ERROR_NOT_ALLOWED,
			      "permission denied", path);
	default:
		return -err;
	}
}

/*
 * Without openat2() (kernels before 5.6, seccomp filters, valgrind):
 * one component at a time from the root, refusing every symbolic link,
 * also one that would stay below the root.  Returns an fd or -errno.
 */
static int
open_walk(const char *path, int flags)
{
	int dfd = fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
	const char *p = path;

	if (dfd < 0)
		return -errno;
	for (;;) {
		char comp[256];
		size_t len = strcspn(p, "/");
		const char *next = p + len + strspn(p + len, "/");
		struct stat st;
		int fd, err = 0;

		if (len >= sizeof(comp)) {
			close(dfd);
			return -ENAMETOOLONG;
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		if (*next && (len == 0 || strcmp(comp, ".") == 0)) {
			p = next;
			continue;
		}
		/* The component itself, never what a link points to. */
		fd = openat(dfd, len ? comp : ".",
			    O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0)
			err = errno;
		else if (S_ISLNK(st.st_mode))
			err = ELOOP;
		else if (!S_ISDIR(st.st_mode) && (*next || flags & O_DIRECTORY))
			err = ENOTDIR;
		if (err == 0 && !*next && !(flags & O_PATH)) {
			/* Opened for real; O_NOFOLLOW: should it have
			 * become a link meanwhile, this fails. */
			int o = openat(dfd, len ? comp : ".",
				       flags | O_NOFOLLOW | O_CLOEXEC);
			err = o < 0 ? errno : 0;
			close(fd);
			fd = o;
		}
		close(dfd);
		if (err) {
			if (fd >= 0)
				close(fd);
			return -err;
		}
		if (!*next)
			return fd;
		dfd = fd;
		p = next;
	}
}

static bool use_openat2 = true;

/* Open @path below the root; returns 0, a FILES_ERROR_* or -errno. */
static int
open_below(lrpc_rpc_call *call, const char *path, int flags, int *ret_fd)
{
	struct open_how how = {
		/* openat2() refuses O_NOCTTY beside O_PATH. */
		.flags = (uint64_t)(flags | O_CLOEXEC |
				    (flags & O_PATH ? 0 : O_NOCTTY)),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long fd = -1;

	if (!path_stays_below(path))
		return refuse(call, FILES_ERROR_NOT_ALLOWED, "leaves the root",
			      path);
	/* EAGAIN: a rename raced with the lookup, which the kernel refuses
	 * to judge; a few more tries settle it. */
	for (int i = 0; use_openat2 && i < 8; i++) {
		fd = syscall(SYS_openat2, root_fd, path[0] ? path : ".", &how,
			     sizeof(how));
		if (fd >= 0 || errno != EAGAIN)
			break;
	}
	if (fd < 0 && (!use_openat2 || errno == ENOSYS)) {
		use_openat2 = false;
		fd = open_walk(path, (int)how.flags);
		errno = (int)-fd;
	}
	if (fd < 0)
		return error_of_errno(call, errno, path);
	*ret_fd = (int)fd;
	return 0;
}

/* Copy @fd's contents (at most max_size bytes) into a new memfd. */
static int
copy_to_memfd(int fd, const char *path, int *ret_memfd, uint64_t *ret_size)
{
	char buf[65536], name[64];
	uint64_t total = 0;
	int m;

	/* The name only shows in /proc (as "/memfd:files:<path>"). */
	snprintf(name, sizeof(name), "files:%s", path);
	m = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (m < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;
			close(m);
			return r;
		}
		if (n == 0)
			break;
		/* The file grew after fstat(). */
		if ((uint64_t)n > max_size - total) {
			close(m);
			return -EFBIG;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(m, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				int r = -errno;
				close(m);
				return r;
			}
			off += w;
		}
		total += (uint64_t)n;
	}
	*ret_memfd = m;
	*ret_size = total;
	return 0;
}

static int
on_open(lrpc_rpc_call *call, void *ud, const char *path, int *ret_data,
	uint64_t *ret_size)
{
	char shown_buf[256];
	struct stat st;
	uint64_t size;
	int fd, m, r;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer; it is
	 * refused below anyway. */
	r = open_below(call, path, O_RDONLY | O_NONBLOCK, &fd);
	if (r != 0)
		return r;
	if (fstat(fd, &st) < 0) {
		r = -errno;
	} else if (S_ISDIR(st.st_mode)) {
		r = refuse(call, FILES_ERROR_WRONG_TYPE, "a directory", path);
	} else if (!S_ISREG(st.st_mode)) {
		r = refuse(call, FILES_ERROR_WRONG_TYPE, "not a regular file",
			   path);
	} else if ((uint64_t)st.st_size > max_size) {
		r = refuse(call, FILES_ERROR_TOO_LARGE, "too large", path);
	} else {
		r = copy_to_memfd(fd, path, &m, &size);
		if (r == -EFBIG)
			r = refuse(call, FILES_ERROR_TOO_LARGE, "too large",
				   path);
	}
	close(fd);
	if (r != 0)
		return r;
	/* From now on nobody can change the copy: the client may map it
	 * and trust what it reads, and cannot write back through it. */
	if (fcntl(m, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK |
				      F_SEAL_SEAL) < 0) {
		r = -errno;
		close(m);
		return r;
	}
	/* Results' fds are borrowed: the call's arena closes this one
	 * once the reply (which carries a duplicate) is sent. */
	r = lrpc_arena_add_fd(lrpc_rpc_call_get_arena(call), m);
	if (r < 0) {
		close(m);
		return r;
	}
	printf("files-server: open %s (%llu bytes)\n",
	       shown(path, shown_buf), (unsigned long long)size);
	fflush(stdout);
	*ret_data = m;
	*ret_size = size;
	return 0;
}

/* --- list: a stream under the client's credit --- */

struct listing {
	char *dir;
	files_entry *entries;
	uint32_t n, next;
};

static void
listing_free(struct listing *l)
{
	for (uint32_t i = 0; i < l->n; i++)
		free((char *)l->entries[i].name);
	free(l->entries);
	free(l->dir);
	free(l);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(((const files_entry *)a)->name,
		      ((const files_entry *)b)->name);
}

static files_type
type_of(mode_t mode)
{
	if (S_ISREG(mode))
		return FILES_TYPE_FILE;
	if (S_ISDIR(mode))
		return FILES_TYPE_DIR;
	if (S_ISLNK(mode))
		return FILES_TYPE_LINK;
	return FILES_TYPE_OTHER;
}

/* Whether @s is UTF-8 (no overlong forms, surrogates or values above
 * U+10FFFF): the IDL's strings must be, and file names need not. */
static bool
is_utf8(const unsigned char *s)
{
	while (*s) {
		unsigned c = *s++, n, min, v;
		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, min = 0x80, v = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, min = 0x800, v = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, min = 0x10000, v = c & 0x07;
		else
			return false;
		for (; n; n--, s++) {
			if ((*s & 0xc0) != 0x80)
				return false;
			v = (v << 6) | (*s & 0x3f);
		}
		if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
			return false;
	}
	return true;
}

/* A name that is not UTF-8 is listed with '?' for its non-ASCII bytes
 * (opening it by that name then fails, as it should). */
static void
make_utf8(char *name)
{
	if (is_utf8((unsigned char *)name))
		return;
	for (unsigned char *p = (unsigned char *)name; *p; p++)
		if (*p >= 0x80)
			*p = '?';
}

/* Read the whole directory, sorted: the stream then only sends. */
static int
read_dir(lrpc_rpc_call *call, int fd, struct listing *l)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	size_t cap = 0;
	int r = 0;

	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	while ((errno = 0, de = readdir(d))) {
		struct stat st;
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (l->n == MAX_ENTRIES) {
			r = refuse(call, FILES_ERROR_TOO_LARGE,
				   "too many entries", l->dir);
			break;
		}
		if (l->n == cap) {
			size_t c = cap ? 2 * cap : 64;
			files_entry *e = reallocarray(l->entries, c,
						      sizeof(*e));
			if (!e) {
				r = -ENOMEM;
				break;
			}
			l->entries = e;
			cap = c;
		}
		files_entry *e = &l->entries[l->n];
		/* An entry removed meanwhile is still listed, as OTHER. */
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			st = (struct stat){ .st_mode = 0 };
		*e = (files_entry){
			.name = strdup(de->d_name),
			.type = type_of(st.st_mode),
			.size = (uint64_t)st.st_size,
		};
		if (!e->name) {
			r = -ENOMEM;
			break;
		}
		make_utf8((char *)e->name);
		l->n++;
	}
	if (r == 0 && errno != 0)
		r = -errno;
	closedir(d);
	if (r == 0 && l->n > 1)
		qsort(l->entries, l->n, sizeof(*l->entries), by_name);
	return r;
}

/* Why a listing ended before its last entry. */
static void
log_stopped(const struct listing *l, int reason)
{
	printf("files-server: list %s: %s after %u of %u\n", l->dir,
	       reason == -ECANCELED ? "cancelled" :
	       reason == -ENOTCONN  ? "client gone" : strerror(-reason),
	       l->next, l->n);
	fflush(stdout);
}

/* Send what the window allows; the writable handler calls again. */
static void
pump(lrpc_rpc_stream *s, void *userdata)
{
	struct listing *l = userdata;
	int r = 0;

	for (; l->next < l->n; l->next++) {
		r = files_list_send(s, &l->entries[l->next], l->next + 1, l->n);
		if (r == -EAGAIN)
			return;      /* nothing queued: back on credit */
		if (r < 0)
			break;
	}
	if (r < 0) {
		/* A send can find the client gone before the abandon
		 * handler has run: failing the stream frees it, and the
		 * handler never runs. */
		log_stopped(l, r);
		(void)files_list_fail(s, r);
	} else {
		printf("files-server: list %s: %u entries\n", l->dir, l->n);
		fflush(stdout);
		(void)files_list_end(s);
	}
	listing_free(l);
}

/* The client cancelled, its deadline passed, or it went away. */
static void
abandoned(lrpc_rpc_call *call, void *userdata)
{
	struct listing *l = userdata;

	log_stopped(l, lrpc_rpc_call_get_abandon_reason(call));
	(void)files_list_end(lrpc_rpc_call_get_stream(call));
	listing_free(l);
}

static int
on_list(lrpc_rpc_stream *s, void *ud, const char *dir)
{
	char shown_buf[256];
	lrpc_rpc_call *call = lrpc_rpc_stream_get_call(s);
	struct listing *l;
	int fd, r;

	r = open_below(call, dir, O_RDONLY | O_DIRECTORY, &fd);
	if (r != 0)
		return r;        /* fails the stream */
	l = calloc(1, sizeof(*l));
	if (!l || !(l->dir = strdup(shown(dir, shown_buf)))) {
		free(l);
		close(fd);
		return -ENOMEM;
	}
	r = read_dir(call, fd, l);
	if (r != 0) {
		listing_free(l);
		return r;
	}
	lrpc_rpc_stream_set_writable_handler(s, pump, l);
	lrpc_rpc_call_set_abandon_handler(call, abandoned, l);
	pump(s, l);              /* the first window, now */
	return 0;
}

/* --- delete: only for the owner, which the IDL's @access checks --- */

static int
on_delete(lrpc_rpc_call *call, void *ud, const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	char *parent = strndup(path, slash ? (size_t)(slash - path) : 0);
	char shown_buf[256];
	struct stat st;
	int dfd, r;

	if (!parent)
		return -ENOMEM;
	if (!path_stays_below(path))
		r = refuse(call, FILES_ERROR_NOT_ALLOWED, "leaves the root",
			   path);
	else if (!name[0] || strcmp(name, ".") == 0)
		r = refuse(call, FILES_ERROR_WRONG_TYPE, "a directory", path);
	else
		r = open_below(call, parent, O_PATH | O_DIRECTORY, &dfd);
	free(parent);
	if (r != 0)
		return r;
	/* The name itself is not followed: a symbolic link is removed,
	 * not what it points to. */
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		r = error_of_errno(call, errno, path);
	else if (S_ISDIR(st.st_mode))
		r = refuse(call, FILES_ERROR_WRONG_TYPE, "a directory", path);
	else if (unlinkat(dfd, name, 0) < 0)
		r = error_of_errno(call, errno, path);
	close(dfd);
	if (r == 0) {
		printf("files-server: deleted %s\n", shown(path, shown_buf));
		fflush(stdout);
	}
	return r;
}

static const struct files_handlers handlers = {
	.open = on_open,
	.list = on_list,
	.delete_ = on_delete,
};

static void
on_signal(lrpc_loop *loop, int signo, void *ud)
{
	lrpc_loop_quit(loop);
}

static void
usage(void)
{
	fprintf(stderr, "usage: files-server [--name NAME] "
			"[--transport socket|shm|best] [--max-size BYTES]\n"
			"                    [--no-openat2] ROOT\n");
}

static int
parse_args(int argc, char **argv, const char **ret_name,
	   lrpc_transport *ret_transport, const char **ret_root)
{
	int i;

	for (i = 1; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		const char *v = argv[i + 1];
		if (strcmp(argv[i], "--no-openat2") == 0) {
			use_openat2 = false;
			i--;
		} else if (strcmp(argv[i], "--name") == 0) {
			*ret_name = v;
		} else if (strcmp(argv[i], "--transport") == 0) {
			if (strcmp(v, "socket") == 0)
				*ret_transport = LRPC_TRANSPORT_SOCKET;
			else if (strcmp(v, "shm") == 0)
				*ret_transport = LRPC_TRANSPORT_SHM;
			else if (strcmp(v, "best") == 0)
				*ret_transport = LRPC_TRANSPORT_BEST;
			else
				return -EINVAL;
		} else if (strcmp(argv[i], "--max-size") == 0) {
			char *end;
			errno = 0;
			max_size = strtoull(v, &end, 10);
			if (errno || end == v || *end || v[0] == '-')
				return -EINVAL;
		} else {
			return -EINVAL;
		}
	}
	if (i + 1 != argc)
		return -EINVAL;
	*ret_root = argv[i];
	return 0;
}

int
main(int argc, char **argv)
{
	lrpc_server_opts opts = { .struct_size = sizeof(opts) };
	const char *name = FILES_SERVICE, *root = NULL;
	lrpc_server *server = NULL;
	lrpc_loop *loop;
	int r;

	if (parse_args(argc, argv, &name, &opts.transport, &root) < 0) {
		usage();
		return 2;
	}
	root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		fprintf(stderr, "files-server: %s: %s\n", root,
			strerror(errno));
		return 1;
	}
	r = lrpc_loop_new(&loop);
	if (r < 0) {
		fprintf(stderr, "files-server: no loop: %s\n", strerror(-r));
		close(root_fd);
		return 1;
	}
	r = lrpc_loop_add_signal(loop, SIGTERM, on_signal, NULL);
	if (r >= 0)
		r = lrpc_loop_add_signal(loop, SIGINT, on_signal, NULL);
	if (r >= 0)
		r = lrpc_server_new(&server, name, NULL, &opts, NULL);
	if (r >= 0)
		r = lrpc_server_attach_loop(server, loop);
	if (r >= 0)
		r = files_serve(server, &handlers, NULL);
	if (r >= 0)
		r = lrpc_server_start(server);
	if (r < 0) {
		fprintf(stderr, "files-server: cannot serve %s: %s\n", name,
			strerror(-r));
		lrpc_server_unref(server);
		lrpc_loop_unref(loop);
		close(root_fd);
		return 1;
	}
	printf("files-server: serving %s from %s over %s\n", name, root,
	       lrpc_transport_name(lrpc_server_get_transport(server)));
	fflush(stdout);
	r = lrpc_loop_run(loop);
	/* Streams still open are ended, and their abandon handlers free
	 * their listings, as the connections go. */
	lrpc_server_unref(server);
	lrpc_loop_unref(loop);
	close(root_fd);
	printf("files-server: stopped\n");
	return r < 0;
}
