/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The spin half of the spin/sleep policy (see ipc-wait.h). */
#include "ipc-wait.h"
#include "util.h"

bool
lrpc__spin(const lrpc__tconn_ops *ops, lrpc__tconn *t, lrpc__chan chan,
	   bool out, uint64_t end)
{
	/* Read the clock only every 64 rounds: it costs more than a check. */
	for (unsigned i = 1;; i++) {
		if (ops->t_ready(t, chan, out))
			return true;
		lrpc__cpu_relax();
		if ((i & 63) == 0 && lrpc__now_usec() >= end)
			return false;
	}
}
