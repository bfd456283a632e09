/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Service names and socket addresses: abstract sockets by default,
 * filesystem sockets while the "force" file exists.
 */
#ifndef LRPC_IPC_NAMING_H
#define LRPC_IPC_NAMING_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* 0 if @name is a valid service name, else -EINVAL. */
int lrpc__name_validate(const char *name);

/* Checked at every new server and connection, as the file may come and go. */
bool lrpc__naming_force_fs(void);

/*
 * Bind and listen on @name.  For filesystem sockets *ret_path receives the
 * path (to unlink with lrpc__naming_unlink), else NULL.
 */
typedef struct lrpc__bound {
	int fd;
	char *path;
	dev_t dev;
	ino_t ino;
} lrpc__bound;

int lrpc__naming_listen(const char *name, mode_t mode, lrpc__bound *ret);
/*
 * Take the listening socket for @name a service manager passed to this
 * process (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES: sd_listen_fds(3)), if
 * there is one: bound to @name's abstract or filesystem address, or named
 * @name in LISTEN_FDNAMES.  1 and *ret filled (no path: the manager owns
 * it), 0 if none, or -errno.
 */
int lrpc__naming_adopt(const char *name, lrpc__bound *ret);
void lrpc__naming_unlisten(lrpc__bound *b);

/*
 * Connect a non-blocking stream socket to @name.  -EAGAIN when the
 * server's backlog is full (try again), -ECONNREFUSED/-ENOENT when nobody
 * serves the name.
 */
int lrpc__naming_connect(const char *name, int *ret_fd);

/*
 * As lrpc__naming_connect(), but while nobody serves @name (or the backlog
 * is full) keep trying until @deadline (UINT64_MAX: none), then
 * -ETIMEDOUT.  Filesystem sockets: woken by inotify on the runtime
 * directory; abstract names: retried with a growing backoff.
 */
int lrpc__naming_connect_wait(const char *name, uint64_t deadline,
			      int *ret_fd);

#endif
