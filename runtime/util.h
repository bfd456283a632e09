/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small helpers shared by every runtime module. */
#ifndef LRPC_RUNTIME_UTIL_H
#define LRPC_RUNTIME_UTIL_H

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lrpc/types.h>

#define _lrpc_unused_ __attribute__((unused))
#define _lrpc_likely_(x) __builtin_expect(!!(x), 1)
#define _lrpc_unlikely_(x) __builtin_expect(!!(x), 0)
#define _lrpc_cleanup_(f) __attribute__((cleanup(f)))
#define _lrpc_printf_(a, b) __attribute__((format(printf, a, b)))

#define LRPC_ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define LRPC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define LRPC_MAX(a, b) ((a) > (b) ? (a) : (b))
#define LRPC_ALIGN8(x) (((x) + 7u) & ~(size_t)7u)

/* Validate a public argument: return instead of aborting. */
#define lrpc_return_if_fail(expr, r)                                        \
	do {                                                                \
		if (_lrpc_unlikely_(!(expr)))                               \
			return (r);                                         \
	} while (0)

/* Move ownership out of a cleanup-managed variable. */
#define LRPC_TAKE_PTR(p)                                                    \
	({                                                                  \
		__typeof__(p) _ptr_ = (p);                                  \
		(p) = NULL;                                                 \
		_ptr_;                                                      \
	})
#define LRPC_TAKE_FD(fd)                                                    \
	({                                                                  \
		int _fd_ = (fd);                                            \
		(fd) = -1;                                                  \
		_fd_;                                                       \
	})

/*
 * The calling process's pid without a system call (glibc does not cache
 * it): every public call compares it with its object's creator to refuse
 * use from a forked child, so it must be cheap.  Refreshed in the child by
 * a pthread_atfork() handler; a raw clone() or vfork() child that calls
 * into lrpc is not supported.
 */
pid_t lrpc__getpid(void);

/* Turn a libc "-1 and errno" result into 0/positive or -errno. */
static inline int
lrpc__negerrno(int r)
{
	return r < 0 ? -errno : r;
}

static inline int
lrpc__safe_close(int fd)
{
	if (fd >= 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return -1;
}

static inline void
lrpc__closep(int *fd)
{
	lrpc__safe_close(*fd);
}

static inline void
lrpc__freep(void *p)
{
	free(*(void **)p);
}

#define _lrpc_cleanup_close_ _lrpc_cleanup_(lrpc__closep)
#define _lrpc_cleanup_free_ _lrpc_cleanup_(lrpc__freep)

/* A hint to the CPU that we are spinning. */
static inline void
lrpc__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/*
 * Option structs and callback tables begin with size_t struct_size so that
 * they can grow.  Copy the caller's @src into @dst (of @dst_size, zeroed
 * first): a caller built against an older header passes a smaller struct,
 * at least @min_size (the size in 1.0: LRPC__SIZE_UNTIL() of its last
 * member then), and gets defaults for what it does not know; a caller
 * built against a newer header may pass a larger one, but only if every
 * byte this library does not know is 0 -- a setting we cannot honour is
 * refused (-E2BIG), never quietly dropped.  -EINVAL below @min_size.
 */
#define LRPC__SIZE_UNTIL(type, member)                                     \
	(offsetof(type, member) + sizeof(((type *)0)->member))

static inline int
lrpc__copy_sized(void *dst, size_t dst_size, const void *src,
		 size_t min_size)
{
	const unsigned char *p = src;
	size_t n;

	memcpy(&n, src, sizeof(n));
	if (n < min_size)
		return -EINVAL;
	for (size_t i = dst_size; i < n; i++)
		if (p[i] != 0)
			return -E2BIG;
	memset(dst, 0, dst_size);
	memcpy(dst, src, n < dst_size ? n : dst_size);
	memcpy(dst, &dst_size, sizeof(dst_size));
	return 0;
}

/*
 * The monotonic clock, coarse (the last tick: a few milliseconds old at
 * most) and much cheaper to read: for millisecond deadlines on hot paths.
 */
static inline uint64_t
lrpc__now_coarse_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Monotonic clock in microseconds. */
static inline uint64_t
lrpc__now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * Deadline of a public timeout (types.h: 0 = do not wait,
 * LRPC_TIMEOUT_INFINITE = none, LRPC_TIMEOUT_DEFAULT = @def_usec).
 * UINT64_MAX means no deadline; far-away deadlines saturate to it.
 */
static inline uint64_t
lrpc__deadline_from_usec(uint64_t timeout_usec, uint64_t def_usec)
{
	if (timeout_usec == LRPC_TIMEOUT_DEFAULT)
		timeout_usec = def_usec;
	if (timeout_usec >= LRPC_TIMEOUT_DEFAULT)
		return UINT64_MAX;
	uint64_t now = lrpc__now_usec();
	return timeout_usec >= UINT64_MAX - now ? UINT64_MAX
						: now + timeout_usec;
}

/* Remaining microseconds until @deadline: 0 when passed, UINT64_MAX: none. */
static inline uint64_t
lrpc__deadline_left_usec(uint64_t deadline)
{
	if (deadline == UINT64_MAX)
		return UINT64_MAX;
	uint64_t now = lrpc__now_usec();
	return now >= deadline ? 0 : deadline - now;
}

/* A public timeout as poll(2)'s milliseconds, rounded up; -1: forever. */
static inline int
lrpc__timeout_poll_ms(uint64_t timeout_usec)
{
	if (timeout_usec >= LRPC_TIMEOUT_DEFAULT)
		return -1;
	uint64_t ms = timeout_usec / 1000u + (timeout_usec % 1000u != 0);
	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* Remaining time for poll(2): -1 (forever), 0 (expired) or ms rounded up. */
static inline int
lrpc__deadline_poll_ms(uint64_t deadline)
{
	if (deadline == UINT64_MAX)
		return -1;
	uint64_t now = lrpc__now_usec();
	if (now >= deadline)
		return 0;
	uint64_t ms = (deadline - now + 999u) / 1000u;
	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* Logging through the user's hook; never printed by the library itself. */
void lrpc__log(lrpc_log_level level, const char *fmt, ...) _lrpc_printf_(2, 3);
bool lrpc__log_enabled(lrpc_log_level level);

#define lrpc__log_debug(...) lrpc__log(LRPC_LOG_DEBUG, __VA_ARGS__)
#define lrpc__log_info(...) lrpc__log(LRPC_LOG_INFO, __VA_ARGS__)
#define lrpc__log_warning(...) lrpc__log(LRPC_LOG_WARNING, __VA_ARGS__)
#define lrpc__log_err(...) lrpc__log(LRPC_LOG_ERR, __VA_ARGS__)

/*
 * Reference counting in the systemd style, the one way objects are counted
 * here: unref accepts NULL and returns NULL so that "x = x_unref(x);" is
 * the idiom.  The struct has an "unsigned n_ref" member; @free_fn runs when
 * the last reference goes.  @scope is LRPC_EXPORT for public objects,
 * static for private ones.  The _WITH_DROP form also runs @drop_fn(p)
 * before each reference goes, while it is still held: the place for an
 * object that others point back to to break that cycle (the server).
 */
#define LRPC_DEFINE_REF_UNREF_WITH_DROP(scope, type, name, drop_fn,       \
					free_fn)                            \
	scope type *name##_ref(type *p)                                     \
	{                                                                   \
		if (!p)                                                     \
			return NULL;                                        \
		assert(p->n_ref > 0);                                       \
		p->n_ref++;                                                 \
		return p;                                                   \
	}                                                                   \
	scope type *name##_unref(type *p)                                   \
	{                                                                   \
		if (!p)                                                     \
			return NULL;                                        \
		assert(p->n_ref > 0);                                       \
		drop_fn(p);                                                 \
		if (--p->n_ref == 0)                                        \
			free_fn(p);                                         \
		return NULL;                                                \
	}

#define LRPC__NO_DROP(p) ((void)(p))
#define LRPC_DEFINE_REF_UNREF(scope, type, name, free_fn)                  \
	LRPC_DEFINE_REF_UNREF_WITH_DROP(scope, type, name, LRPC__NO_DROP,   \
					free_fn)

#endif
