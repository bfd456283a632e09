/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fault injection for test-faults.c: the test executable is linked with
 * -Wl,--wrap=<fn> for each function below, so that every call the library
 * (linked statically into it) makes to one of them comes here first.
 * Armed with n, the n-th such call fails -- once -- with the errno a
 * real failure would set; the others go through.  Calls made inside libc
 * or other shared libraries are not seen, only the library's own.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/epoll.h>

#include "fault.h"

static unsigned long fault_calls, fault_nth;
static bool fault_armed, fault_fired;
static char fault_what[32];

void
fault_arm(unsigned long nth)
{
	fault_calls = 0;
	fault_nth = nth;
	fault_fired = false;
	fault_what[0] = '\0';
	fault_armed = true;
}

bool
fault_disarm(unsigned long *ret_calls)
{
	fault_armed = false;
	if (ret_calls)
		*ret_calls = fault_calls;
	return fault_fired;
}

const char *
fault_last(void)
{
	return fault_what;
}

/* True if this call is the one to fail. */
static bool
fault_now(const char *what)
{
	if (!fault_armed)
		return false;
	if (getenv("FAULT_TRACE"))
		fprintf(stderr, "fault: %lu %s\n", fault_calls + 1, what);
	if (++fault_calls != fault_nth)
		return false;
	fault_fired = true;
	strncpy(fault_what, what, sizeof(fault_what) - 1);
	return true;
}

#define WRAP(ret, name, params, args, fail_value, err)                     \
	ret __real_##name params;                                          \
	ret __wrap_##name params;                                          \
	ret __wrap_##name params                                           \
	{                                                                  \
		if (fault_now(#name)) {                                    \
			errno = (err);                                     \
			return (fail_value);                               \
		}                                                          \
		return __real_##name args;                                 \
	}

WRAP(void *, malloc, (size_t n), (n), NULL, ENOMEM)
WRAP(void *, calloc, (size_t n, size_t size), (n, size), NULL, ENOMEM)
WRAP(void *, realloc, (void *p, size_t n), (p, n), NULL, ENOMEM)
WRAP(char *, strdup, (const char *s), (s), NULL, ENOMEM)
WRAP(void *, mmap,
     (void *addr, size_t len, int prot, int flags, int fd, off_t off),
     (addr, len, prot, flags, fd, off), MAP_FAILED, ENOMEM)
/* What mmap() is with _FILE_OFFSET_BITS=64 (meson's default). */
WRAP(void *, mmap64,
     (void *addr, size_t len, int prot, int flags, int fd, off_t off),
     (addr, len, prot, flags, fd, off), MAP_FAILED, ENOMEM)
WRAP(int, memfd_create, (const char *name, unsigned flags), (name, flags),
     -1, EMFILE)
WRAP(int, eventfd, (unsigned initval, int flags), (initval, flags), -1,
     EMFILE)
WRAP(int, socket, (int domain, int type, int proto), (domain, type, proto),
     -1, EMFILE)
WRAP(int, socketpair, (int domain, int type, int proto, int sv[2]),
     (domain, type, proto, sv), -1, EMFILE)
WRAP(int, accept4,
     (int fd, struct sockaddr *addr, socklen_t *len, int flags),
     (fd, addr, len, flags), -1, EMFILE)
WRAP(int, connect, (int fd, const struct sockaddr *addr, socklen_t len),
     (fd, addr, len), -1, ENOMEM)
WRAP(ssize_t, sendmsg, (int fd, const struct msghdr *msg, int flags),
     (fd, msg, flags), -1, ENOBUFS)
WRAP(ssize_t, send, (int fd, const void *buf, size_t len, int flags),
     (fd, buf, len, flags), -1, ENOBUFS)
WRAP(int, epoll_create1, (int flags), (flags), -1, EMFILE)
WRAP(int, timerfd_create, (int clockid, int flags), (clockid, flags), -1,
     EMFILE)
