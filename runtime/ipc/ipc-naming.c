/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "lrpc-config.h"
#include "ipc-naming.h"
#include "util.h"

/* Abstract names live in one namespace shared by the whole network
 * namespace; the prefix keeps lrpc's names apart from everyone else's. */
#define ABSTRACT_PREFIX "lrpc/"
#define LISTEN_BACKLOG 128

int
lrpc__name_validate(const char *name)
{
	size_t len;

	if (!name)
		return -EINVAL;
	len = strnlen(name, LRPC_NAME_MAX + 1);
	if (len == 0 || len > LRPC_NAME_MAX || name[0] == '.')
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		      ch == '-'))
			return -EINVAL;
	}
	return 0;
}

static const char *
naming_force_file(void)
{
	/* secure_getenv: a setuid program must not be steered by its caller. */
	const char *e = secure_getenv("LRPC_FORCE_FS_FILE");
	return e && *e ? e : LRPC_FORCE_FS_FILE;
}

static const char *
naming_runtime_dir(void)
{
	const char *e = secure_getenv("LRPC_RUNTIME_DIR");
	return e && *e ? e : LRPC_DEFAULT_RUNTIME_DIR;
}

bool
lrpc__naming_force_fs(void)
{
	return access(naming_force_file(), F_OK) == 0;
}

static int
naming_address(const char *name, bool fs, struct sockaddr_un *sa,
	       socklen_t *ret_len)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (fs) {
		n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s.sock",
			     naming_runtime_dir(), name);
		if (n < 0 || (size_t)n >= sizeof(sa->sun_path))
			return -ENAMETOOLONG;
		*ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				       (size_t)n + 1);
	} else {
		n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1,
			     ABSTRACT_PREFIX "%s", name);
		if (n < 0 || (size_t)n >= sizeof(sa->sun_path) - 1)
			return -ENAMETOOLONG;
		*ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				       1 + (size_t)n);
	}
	return 0;
}

/*
 * The socket directory must be a real directory (not a symlink), owned by
 * root or by us, and writable by nobody else: otherwise another user could
 * swap our socket for theirs.
 */
static int
naming_check_dir(const char *dir, bool create)
{
	struct stat st;

	if (lstat(dir, &st) < 0) {
		if (errno != ENOENT || !create)
			return -errno;
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
		if (lstat(dir, &st) < 0)
			return -errno;
	}
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return -EPERM;
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return -EPERM;
	return 0;
}

/* Is someone listening on the filesystem socket @sa? */
static bool
naming_is_live(const struct sockaddr_un *sa, socklen_t len)
{
	_lrpc_cleanup_close_ int fd = -1;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return true; /* cannot tell: be safe, do not remove it */
	if (connect(fd, (const struct sockaddr *)sa, len) == 0)
		return true;
	return errno != ECONNREFUSED;
}

int
lrpc__naming_listen(const char *name, mode_t mode, lrpc__bound *ret)
{
	_lrpc_cleanup_close_ int fd = -1;
	struct sockaddr_un sa;
	socklen_t len;
	bool fs = lrpc__naming_force_fs();
	struct stat st;
	int r;

	r = naming_address(name, fs, &sa, &len);
	if (r < 0)
		return r;
	if (fs) {
		r = naming_check_dir(naming_runtime_dir(), true);
		if (r < 0)
			return r;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* The file mode of a bound socket comes from its inode mode, masked
	 * by the umask: setting it here avoids a chmod window after bind. */
	if (fs && fchmod(fd, mode) < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, len) < 0) {
		if (errno != EADDRINUSE || !fs)
			return -errno;
		/* A filesystem path may be left over from a crash.  Remove it
		 * only if it is a socket nobody listens on; never follow or
		 * remove anything else. */
		if (lstat(sa.sun_path, &st) < 0)
			return -errno;
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		if (naming_is_live(&sa, len))
			return -EADDRINUSE;
		if (unlink(sa.sun_path) < 0 && errno != ENOENT)
			return -errno;
		if (bind(fd, (struct sockaddr *)&sa, len) < 0)
			return -errno;
	}
	if (listen(fd, LISTEN_BACKLOG) < 0)
		return -errno;

	*ret = (lrpc__bound){ .fd = -1 };
	if (fs) {
		if (lstat(sa.sun_path, &st) < 0)
			return -errno;
		ret->path = strdup(sa.sun_path);
		if (!ret->path) {
			unlink(sa.sun_path);
			return -ENOMEM;
		}
		ret->dev = st.st_dev;
		ret->ino = st.st_ino;
	}
	ret->fd = LRPC_TAKE_FD(fd);
	return 0;
}

void
lrpc__naming_unlisten(lrpc__bound *b)
{
	struct stat st;

	if (b->path) {
		/* Only remove the socket we created: after a restart race the
		 * path may already belong to a new server. */
		if (lstat(b->path, &st) == 0 && st.st_dev == b->dev &&
		    st.st_ino == b->ino)
			unlink(b->path);
		free(b->path);
		b->path = NULL;
	}
	b->fd = lrpc__safe_close(b->fd);
}

int
lrpc__naming_connect(const char *name, int *ret_fd)
{
	_lrpc_cleanup_close_ int fd = -1;
	struct sockaddr_un sa;
	socklen_t len;
	int r;

	r = naming_address(name, lrpc__naming_force_fs(), &sa, &len);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, len) < 0)
		return -errno;
	*ret_fd = LRPC_TAKE_FD(fd);
	return 0;
}

/* --- Waiting for a service ------------------------------------------- */

/*
 * Backoff between attempts: from 1 ms, doubling, to a cap.  With inotify a
 * change in the runtime directory wakes us at once and the timed retry only
 * covers the moment between a server's bind and its listen (refused, and
 * nothing more to see in the directory), so it may be slow; an abstract
 * name has no such signal and is retried more often.
 */
#define WAIT_BACKOFF_MIN_USEC 1000
#define WAIT_BACKOFF_ABSTRACT_USEC 50000
#define WAIT_BACKOFF_FS_USEC 250000

static bool
naming_absent(int r)
{
	/* -EAGAIN: the backlog is full, the server is there but busy. */
	return r == -ENOENT || r == -ECONNREFUSED || r == -EAGAIN;
}

/* Read and drop what inotify queued: only "something changed" matters. */
static void
inotify_drain(int fd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

int
lrpc__naming_connect_wait(const char *name, uint64_t deadline, int *ret_fd)
{
	_lrpc_cleanup_close_ int ino = -1;
	uint64_t backoff = WAIT_BACKOFF_MIN_USEC, cap = WAIT_BACKOFF_ABSTRACT_USEC;
	int r;

	if (lrpc__naming_force_fs()) {
		/* Watch before the first attempt, so that a server binding
		 * in between is not missed.  A runtime directory that does
		 * not exist yet cannot be watched: timed retries then. */
		ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
		if (ino >= 0 &&
		    inotify_add_watch(ino, naming_runtime_dir(),
				      IN_CREATE | IN_MOVED_TO | IN_ATTRIB) < 0)
			ino = lrpc__safe_close(ino);
		if (ino >= 0)
			cap = WAIT_BACKOFF_FS_USEC;
	}
	for (;;) {
		r = lrpc__naming_connect(name, ret_fd);
		if (!naming_absent(r))
			return r;
		uint64_t left = lrpc__deadline_left_usec(deadline);
		if (left == 0)
			return -ETIMEDOUT;
		uint64_t t = LRPC_MIN(backoff, left);
		struct pollfd p = { .fd = ino, .events = POLLIN };
		int n = poll(&p, 1, lrpc__timeout_poll_ms(t));
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0) {
			inotify_drain(ino);
			backoff = WAIT_BACKOFF_MIN_USEC;
		} else {
			backoff = LRPC_MIN(backoff * 2, cap);
		}
	}
}

/* --- Sockets handed over by a service manager ------------------------- */

/*
 * The protocol of sd_listen_fds(3), without libsystemd: LISTEN_PID is our
 * pid, LISTEN_FDS the number of sockets from fd 3 on, LISTEN_FDNAMES
 * their names separated by ':'.  The variables stay in the environment,
 * so that each server of the process can find its own socket; a socket
 * taken once is never handed out again.
 */
#define ACTIVATION_FD_START 3
#define ACTIVATION_FDS_MAX 64

static pthread_mutex_t activation_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t activation_taken; /* bit i: fd 3 + i */

/* LISTEN_FDS if the sockets are for this process, else 0. */
static unsigned
activation_count(void)
{
	const char *pid = secure_getenv("LISTEN_PID");
	const char *fds = secure_getenv("LISTEN_FDS");
	char *end;

	if (!pid || !fds)
		return 0;
	errno = 0;
	unsigned long p = strtoul(pid, &end, 10);
	if (errno || *end || end == pid || p != (unsigned long)getpid())
		return 0;
	unsigned long n = strtoul(fds, &end, 10);
	if (errno || *end || end == fds)
		return 0;
	return (unsigned)LRPC_MIN(n, (unsigned long)ACTIVATION_FDS_MAX);
}

/* Entry @i of LISTEN_FDNAMES is @name. */
static bool
activation_named(unsigned i, const char *name)
{
	const char *names = secure_getenv("LISTEN_FDNAMES");
	size_t len = strlen(name);

	for (const char *p = names; p && i < ACTIVATION_FDS_MAX; i--) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (i == 0)
			return n == len && memcmp(p, name, len) == 0;
		if (!end)
			break;
		p = end + 1;
	}
	return false;
}

/* A listening AF_UNIX stream socket, and where it is bound. */
static bool
activation_socket(int fd, struct sockaddr_un *sa, socklen_t *len)
{
	int v;
	socklen_t vl = sizeof(v);
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
		return false;
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &vl) < 0 ||
	    v != AF_UNIX)
		return false;
	vl = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &vl) < 0 ||
	    v != SOCK_STREAM)
		return false;
	vl = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl) < 0 || !v)
		return false;
	*len = sizeof(*sa);
	memset(sa, 0, sizeof(*sa));
	return getsockname(fd, (struct sockaddr *)sa, len) == 0;
}

static bool
address_is(const struct sockaddr_un *sa, socklen_t len, const char *name,
	   bool fs)
{
	struct sockaddr_un want;
	socklen_t want_len;

	if (naming_address(name, fs, &want, &want_len) < 0)
		return false;
	/* A filesystem address may come back with or without its NUL. */
	if (fs && len == want_len - 1)
		len = want_len;
	return len == want_len && memcmp(sa, &want, (size_t)len) == 0;
}

int
lrpc__naming_adopt(const char *name, lrpc__bound *ret)
{
	unsigned n = activation_count();
	int r = 0;

	if (n == 0)
		return 0;
	pthread_mutex_lock(&activation_lock);
	for (unsigned i = 0; i < n && r == 0; i++) {
		int fd = ACTIVATION_FD_START + (int)i;
		struct sockaddr_un sa;
		socklen_t len;

		if (activation_taken & (UINT64_C(1) << i))
			continue;
		if (!activation_socket(fd, &sa, &len))
			continue;
		if (!activation_named(i, name) &&
		    !address_is(&sa, len, name, false) &&
		    !address_is(&sa, len, name, true))
			continue;
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
			r = -errno;
			break;
		}
		activation_taken |= UINT64_C(1) << i;
		/* The manager owns the socket's path: never unlinked here. */
		*ret = (lrpc__bound){ .fd = fd };
		r = 1;
	}
	pthread_mutex_unlock(&activation_lock);
	return r;
}
