/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc_loop signals: one signalfd, created with the first handler, watches
 * every registered signal; the signals are blocked in the calling thread so
 * that they are delivered through the signalfd alone.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>

#include "loop-internal.h"

/* Signals read from the signalfd per iteration. */
#define LOOP_MAX_SIGINFO 16

LRPC_EXPORT int
lrpc_loop_add_signal(lrpc_loop *loop, int signo, lrpc_signal_fn cb,
		     void *userdata)
{
	sigset_t mask, one;
	bool created = false;
	int r;

	lrpc_return_if_fail(loop, -EINVAL);
	lrpc_return_if_fail(cb, -EINVAL);
	lrpc_return_if_fail(signo > 0 && signo < _NSIG, -EINVAL);
	lrpc_return_if_fail(signo != SIGKILL && signo != SIGSTOP, -EINVAL);
	lrpc_return_if_fail(!lrpc__loop_origin_changed(loop), -ECHILD);

	if (loop->signals[signo].cb)
		return -EEXIST;
	/* glibc refuses the signals its threading implementation reserves. */
	sigemptyset(&one);
	if (sigaddset(&one, signo) < 0)
		return -EINVAL;
	mask = loop->sigmask;
	sigaddset(&mask, signo);

	if (loop->signal_fd < 0) {
		int fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

		if (fd < 0)
			return -errno;
		r = lrpc__loop_watch_add(loop, fd, LRPC_POLL_IN, /* gen= */ 0);
		if (r < 0) {
			lrpc__safe_close(fd);
			return r;
		}
		loop->signal_fd = fd;
		created = true;
	} else if (signalfd(loop->signal_fd, &mask, 0) < 0)
		return -errno;

	/*
	 * Block only after the signalfd listens: an instance arriving in
	 * between is handled the way it was before this call, never lost
	 * in a blocked-but-unwatched state.
	 */
	r = pthread_sigmask(SIG_BLOCK, &one, NULL);
	if (r != 0) {
		if (created)
			loop->signal_fd = lrpc__safe_close(loop->signal_fd);
		else
			(void)signalfd(loop->signal_fd, &loop->sigmask, 0);
		return -r;
	}
	loop->sigmask = mask;
	loop->signals[signo] = (loop_signal){ .cb = cb, .userdata = userdata };
	return 0;
}

int
lrpc__loop_signals_dispatch(lrpc_loop *l)
{
	struct signalfd_siginfo si[LOOP_MAX_SIGINFO];
	ssize_t n;
	int count = 0;

	n = read(l->signal_fd, si, sizeof(si));
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			lrpc__log_debug("loop %p: reading signalfd: %m",
					(void *)l);
		return 0;
	}
	for (size_t i = 0; i < (size_t)n / sizeof(si[0]); i++) {
		int signo = (int)si[i].ssi_signo;
		loop_signal s;

		if (signo <= 0 || signo >= _NSIG || !l->signals[signo].cb)
			continue;
		s = l->signals[signo];
		s.cb(l, signo, s.userdata);
		count++;
	}
	return count;
}
