/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * monotonic.h - CLOCK_MONOTONIC in microseconds, for the adapters whose
 * loops time timers on a coarser clock: they keep each timer's deadline
 * on this one and never fire it earlier (loop.h).
 */
#ifndef LRPC_ADAPTER_MONOTONIC_H
#define LRPC_ADAPTER_MONOTONIC_H

#include <stdint.h>
#include <time.h>

static inline uint64_t
mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

#endif
