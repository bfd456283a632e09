/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The log hook: the only way the library ever says anything. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "util.h"

static lrpc_log_fn log_fn;
static void *log_userdata;
static lrpc_log_level log_max = LRPC_LOG_WARNING;

LRPC_EXPORT void
lrpc_set_log_hook(lrpc_log_fn fn, lrpc_log_level max_level, void *userdata)
{
	log_fn = fn;
	log_userdata = userdata;
	log_max = max_level;
}

bool
lrpc__log_enabled(lrpc_log_level level)
{
	return log_fn && level <= log_max;
}

void
lrpc__log(lrpc_log_level level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (!lrpc__log_enabled(level))
		return;
	/* Save errno: callers log on error paths and then return -errno. */
	int saved = errno;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_fn(level, buf, log_userdata);
	errno = saved;
}

LRPC_EXPORT const char *
lrpc_transport_name(lrpc_transport t)
{
	switch (t) {
	case LRPC_TRANSPORT_BEST:
		return "best";
	case LRPC_TRANSPORT_SOCKET:
		return "socket";
	case LRPC_TRANSPORT_SHM:
		return "shm";
	default:
		return NULL;
	}
}

LRPC_EXPORT const char *
lrpc_version(void)
{
	return LRPC_VERSION_STRING;
}

static _Atomic pid_t cached_pid;

static void
pid_atfork_child(void)
{
	cached_pid = getpid();
}

static void
pid_init(void)
{
	(void)pthread_atfork(NULL, NULL, pid_atfork_child);
	cached_pid = getpid();
}

pid_t
lrpc__getpid(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pid_t p = cached_pid;

	if (_lrpc_likely_(p != 0))
		return p;
	pthread_once(&once, pid_init);
	return cached_pid;
}
