/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * errset.h - watches for errors only, for adapters whose loop cannot
 * express them.
 *
 * lrpc_poll_ops lets lrpc watch an fd for nothing but errors and hang-ups
 * (events 0), and lrpc relies on it: a client of the shm transport hears
 * of a server that went away through its main socket, watched that way.
 * libuv and libevent report EPOLLHUP and EPOLLERR only as the readiness
 * that was asked for, so with nothing asked for they say nothing.  Their
 * adapters keep such fds in an epoll set of their own, registered for no
 * events (epoll always reports EPOLLHUP and EPOLLERR), and watch that
 * set's fd for input in the loop: it is readable, level-triggered, while
 * one of its fds is in error or hung up.
 *
 * Each entry carries the fd and a watch id, so that an event collected for
 * a watch that was deleted (or replaced by a new watch of the same fd)
 * before it was dispatched is recognised and dropped.
 */
#ifndef LRPC_ADAPTER_ERRSET_H
#define LRPC_ADAPTER_ERRSET_H

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <lrpc/loop.h>

#define ERRSET_BATCH 32

static inline int
errset_open(void)
{
	int fd = epoll_create1(EPOLL_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static inline int
errset_add(int epfd, int fd, uint32_t id)
{
	struct epoll_event e = {
		.events = 0,
		.data.u64 = (uint64_t)(uint32_t)fd << 32 | id,
	};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

static inline void
errset_del(int epfd, int fd)
{
	(void)epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* Collect what is ready now; returns the number of entries in @evs. */
static inline int
errset_collect(int epfd, struct epoll_event *evs)
{
	int n = epoll_wait(epfd, evs, ERRSET_BATCH, 0);

	return n < 0 ? 0 : n;
}

static inline int
errset_fd(const struct epoll_event *e)
{
	return (int)(uint32_t)(e->data.u64 >> 32);
}

static inline uint32_t
errset_id(const struct epoll_event *e)
{
	return (uint32_t)e->data.u64;
}

static inline uint32_t
errset_revents(const struct epoll_event *e)
{
	uint32_t ev = 0;

	if (e->events & EPOLLERR)
		ev |= LRPC_POLL_ERR;
	if (e->events & EPOLLHUP)
		ev |= LRPC_POLL_HUP;
	return ev;
}

#endif
