/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fault injection (fault.c): fail the n-th wrapped call once. */
#ifndef LRPC_TEST_FAULT_H
#define LRPC_TEST_FAULT_H

#include <stdbool.h>

/* The functions wrapped are those of fault.c; meson.build lists them
 * again for the linker (fault_wrapped). */

/* From now on count wrapped calls; the @nth (1-based) fails. */
void fault_arm(unsigned long nth);
/* Stop; true if the failure happened, *ret_calls the calls counted. */
bool fault_disarm(unsigned long *ret_calls);
/* The name of the function that failed last. */
const char *fault_last(void);

#endif
