/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc_loop jobs: a FIFO of callbacks run after the fd and timer phases of
 * an iteration, with an eventfd that keeps the epoll set readable while the
 * queue is not empty.
 */
#include "loop-internal.h"

struct loop_job {
	struct loop_job *next;
	lrpc_poll_fn cb;
	void *cb_data;
};

LRPC_EXPORT int
lrpc_loop_add_job(lrpc_loop *loop, lrpc_poll_fn cb, void *cb_data)
{
	loop_job *j;

	lrpc_return_if_fail(loop, -EINVAL);
	lrpc_return_if_fail(cb, -EINVAL);
	lrpc_return_if_fail(!lrpc__loop_origin_changed(loop), -ECHILD);

	j = malloc(sizeof(*j));
	if (!j)
		return -ENOMEM;
	*j = (loop_job){ .cb = cb, .cb_data = cb_data };

	/* Only the empty -> non-empty edge needs a write: the eventfd stays
	 * readable until the job phase drains it together with the queue. */
	if (!loop->jobs_head) {
		uint64_t one = 1;

		if (write(loop->event_fd, &one, sizeof(one)) < 0) {
			int r = -errno;

			free(j);
			return r;
		}
		loop->jobs_head = j;
	} else
		loop->jobs_tail->next = j;
	loop->jobs_tail = j;
	return 0;
}

int
lrpc__loop_jobs_dispatch(lrpc_loop *l)
{
	loop_job *j = l->jobs_head;
	int count = 0;

	if (!j)
		return 0;
	/*
	 * Detach the queue: jobs queued by these callbacks go to a fresh
	 * queue, write the eventfd again and run in the next iteration.
	 */
	l->jobs_head = l->jobs_tail = NULL;
	lrpc__loop_drain(l->event_fd);

	while (j) {
		loop_job *next = j->next;
		lrpc_poll_fn cb = j->cb;
		void *cb_data = j->cb_data;

		free(j);
		j = next;
		cb(cb_data);
		count++;
	}
	return count;
}

void
lrpc__loop_jobs_done(lrpc_loop *l)
{
	loop_job *j;

	while ((j = l->jobs_head)) {
		l->jobs_head = j->next;
		free(j);
	}
	l->jobs_tail = NULL;
}
