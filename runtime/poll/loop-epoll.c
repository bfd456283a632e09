/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc_loop on epoll.
 *
 * Everything the loop waits for is an fd in one level-triggered epoll set:
 * the user's fds, a timerfd armed to the earliest timer deadline, an eventfd
 * that is readable while jobs are queued and, once a signal is registered, a
 * signalfd.  So the epoll fd itself is readable exactly when
 * lrpc_loop_run_once(loop, 0) has work, which is what pull-style users of
 * lrpc_loop_get_fd() rely on.
 *
 * One iteration: epoll_wait(), then the fd callbacks (signals included) in
 * the order epoll returned them, then the expired timers in deadline order,
 * then the jobs that were queued when the job phase started.
 *
 * The loop is single-threaded: every call must come from the thread that
 * drives it.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include <lrpc/loop.h>

#include "util.h"

/* The header promises poll(2) values; the conversions below rely on nothing
 * more than that, but say it loudly if a libc ever disagrees. */
_Static_assert(LRPC_POLL_IN == POLLIN, "LRPC_POLL_IN != POLLIN");
_Static_assert(LRPC_POLL_OUT == POLLOUT, "LRPC_POLL_OUT != POLLOUT");
_Static_assert(LRPC_POLL_ERR == POLLERR, "LRPC_POLL_ERR != POLLERR");
_Static_assert(LRPC_POLL_HUP == POLLHUP, "LRPC_POLL_HUP != POLLHUP");

#define LOOP_POLL_ALL                                                      \
	(LRPC_POLL_IN | LRPC_POLL_OUT | LRPC_POLL_ERR | LRPC_POLL_HUP)

/* Events collected per epoll_wait(); the rest wait for the next round. */
#define LOOP_MAX_EVENTS 64
/* Signals read from the signalfd per iteration. */
#define LOOP_MAX_SIGINFO 16

/*
 * Timer handles are (generation, slot) pairs packed into a pointer-sized
 * integer, never pointers, so that a stale handle (the timer fired or was
 * deleted) is recognised and answered with -ENOENT instead of touching freed
 * memory.  Each half of the integer gets half the bits; the generation is
 * never 0, so a handle is never NULL.
 */
#define TIMER_HALF_BITS (sizeof(uintptr_t) * 4)
#define TIMER_LOW_MASK ((((uintptr_t)1) << TIMER_HALF_BITS) - 1)
#define TIMER_GEN_MAX TIMER_LOW_MASK
#define TIMER_SLOT_MAX ((size_t)LRPC_MIN(TIMER_LOW_MASK, (uintptr_t)UINT32_MAX))
#define TIMER_NONE UINT32_MAX
/* Deadlines past ~68 years of uptime are "never"; this keeps the
 * timerfd_settime() arguments valid with a 32-bit time_t too. */
#define TIMER_MAX_SEC ((uint64_t)INT32_MAX)

typedef struct loop_fd {
	lrpc_poll_fd_fn cb;
	void *cb_data;
	uint32_t events; /* LRPC_POLL_* asked for */
	/*
	 * Copied into the epoll data with the fd.  0 marks a free slot; it is
	 * bumped on every add, so an event collected for an fd that was
	 * deleted (and maybe re-added) since is recognised and dropped.
	 */
	uint32_t gen;
} loop_fd;

typedef struct loop_timer {
	uint64_t deadline; /* CLOCK_MONOTONIC, usec */
	uint64_t seq;      /* insertion order: breaks ties, stops starvation */
	lrpc_poll_fn cb;
	void *cb_data;
	uintptr_t gen;     /* matches the handle while the timer is live */
	uint32_t heap_idx; /* position in loop->heap while live */
	uint32_t next_free;
	bool live;
} loop_timer;

typedef struct loop_job {
	struct loop_job *next;
	lrpc_poll_fn cb;
	void *cb_data;
} loop_job;

typedef struct loop_signal {
	lrpc_signal_fn cb;
	void *userdata;
} loop_signal;

struct lrpc_loop {
	unsigned n_ref;
	pid_t origin_pid;
	bool quit;

	int epoll_fd;
	int timer_fd;
	int event_fd;
	int signal_fd; /* -1 until the first lrpc_loop_add_signal() */

	/* fd watches, indexed by fd. */
	loop_fd *fds;
	size_t n_fds;
	uint32_t fd_gen;

	/*
	 * Timers: slots hold the timers and never move a live timer to
	 * another index, the heap holds slot indices ordered by (deadline,
	 * seq).  Both arrays have timer_cap entries.
	 */
	loop_timer *timers;
	uint32_t *heap;
	size_t timer_cap;
	size_t n_heap;
	uint32_t timer_free; /* free slot list head, or TIMER_NONE */
	uint64_t timer_seq;
	bool timer_armed;
	uint64_t timer_armed_at;

	/* Jobs: FIFO; the eventfd is readable while this is non-empty. */
	loop_job *jobs_head;
	loop_job *jobs_tail;

	sigset_t sigmask;
	loop_signal signals[_NSIG];
};

/*
 * Internal fds are registered with generation 0, which no user watch ever
 * has, so they can be told apart from a user fd in one compare.
 */
static uint64_t
epoll_data_pack(int fd, uint32_t gen)
{
	return (uint64_t)gen << 32 | (uint32_t)fd;
}

static uint32_t
events_to_epoll(uint32_t events)
{
	uint32_t e = 0;

	if (events & LRPC_POLL_IN)
		e |= EPOLLIN;
	if (events & LRPC_POLL_OUT)
		e |= EPOLLOUT;
	if (events & LRPC_POLL_ERR)
		e |= EPOLLERR;
	/*
	 * Peer half-close (EPOLLRDHUP) is only asked for when the caller asks
	 * for HUP explicitly: otherwise a writer waiting for POLLOUT would see
	 * "HUP" while the peer can still read everything it sends.
	 */
	if (events & LRPC_POLL_HUP)
		e |= EPOLLHUP | EPOLLRDHUP;
	return e;
}

static uint32_t
events_from_epoll(uint32_t e)
{
	uint32_t events = 0;

	if (e & EPOLLIN)
		events |= LRPC_POLL_IN;
	if (e & EPOLLOUT)
		events |= LRPC_POLL_OUT;
	if (e & EPOLLERR)
		events |= LRPC_POLL_ERR;
	if (e & (EPOLLHUP | EPOLLRDHUP))
		events |= LRPC_POLL_HUP;
	return events;
}

static bool
loop_origin_changed(const lrpc_loop *l)
{
	/* epoll sets and signalfds are shared with the parent after fork();
	 * touching them from the child would steal the parent's events. */
	return l->origin_pid != lrpc__getpid();
}

/* Read and discard an eventfd/timerfd counter; nothing to read is fine. */
static void
loop_drain(int fd)
{
	uint64_t v;

	(void)!read(fd, &v, sizeof(v));
}

/* ---- timers ------------------------------------------------------------ */

static bool
timer_before(const lrpc_loop *l, uint32_t a, uint32_t b)
{
	const loop_timer *ta = &l->timers[a], *tb = &l->timers[b];

	if (ta->deadline != tb->deadline)
		return ta->deadline < tb->deadline;
	return ta->seq < tb->seq;
}

static void
heap_set(lrpc_loop *l, size_t i, uint32_t slot)
{
	l->heap[i] = slot;
	l->timers[slot].heap_idx = (uint32_t)i;
}

static void
heap_sift_up(lrpc_loop *l, size_t i)
{
	uint32_t slot = l->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!timer_before(l, slot, l->heap[parent]))
			break;
		heap_set(l, i, l->heap[parent]);
		i = parent;
	}
	heap_set(l, i, slot);
}

static void
heap_sift_down(lrpc_loop *l, size_t i)
{
	uint32_t slot = l->heap[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= l->n_heap)
			break;
		if (child + 1 < l->n_heap &&
		    timer_before(l, l->heap[child + 1], l->heap[child]))
			child++;
		if (!timer_before(l, l->heap[child], slot))
			break;
		heap_set(l, i, l->heap[child]);
		i = child;
	}
	heap_set(l, i, slot);
}

static void
heap_remove(lrpc_loop *l, size_t i)
{
	size_t last = --l->n_heap;

	if (i == last)
		return;
	heap_set(l, i, l->heap[last]);
	if (i > 0 && timer_before(l, l->heap[i], l->heap[(i - 1) / 2]))
		heap_sift_up(l, i);
	else
		heap_sift_down(l, i);
}

static int
timer_grow(lrpc_loop *l)
{
	size_t n = l->timer_cap ? l->timer_cap * 2 : 16;
	loop_timer *timers;
	uint32_t *heap;

	n = LRPC_MIN(n, TIMER_SLOT_MAX);
	if (n <= l->timer_cap)
		return -ENOMEM;
	timers = reallocarray(l->timers, n, sizeof(*timers));
	if (!timers)
		return -ENOMEM;
	l->timers = timers;
	/* If this fails the bigger slot array is simply kept unused: the
	 * capacity only grows once both arrays have the room. */
	heap = reallocarray(l->heap, n, sizeof(*heap));
	if (!heap)
		return -ENOMEM;
	l->heap = heap;

	for (size_t i = n; i-- > l->timer_cap;) {
		l->timers[i] = (loop_timer){
			.gen = 1,
			.next_free = l->timer_free,
		};
		l->timer_free = (uint32_t)i;
	}
	l->timer_cap = n;
	return 0;
}

/* Take a live timer out of the heap and give its slot back. */
static void
timer_release(lrpc_loop *l, uint32_t slot)
{
	loop_timer *t = &l->timers[slot];

	assert(t->live);
	heap_remove(l, t->heap_idx);
	t->live = false;
	t->cb = NULL;
	t->cb_data = NULL;
	/* A new generation invalidates every handle given out for it. */
	t->gen = t->gen >= TIMER_GEN_MAX ? 1 : t->gen + 1;
	t->next_free = l->timer_free;
	l->timer_free = slot;
}

static void *
timer_handle(const lrpc_loop *l, uint32_t slot)
{
	uintptr_t h = l->timers[slot].gen << TIMER_HALF_BITS | slot;

	return (void *)h;
}

static int
timer_lookup(const lrpc_loop *l, const void *handle, uint32_t *ret_slot)
{
	uintptr_t h = (uintptr_t)handle;
	uintptr_t gen = h >> TIMER_HALF_BITS;
	uintptr_t slot = h & TIMER_LOW_MASK;

	if (slot >= l->timer_cap || !l->timers[slot].live ||
	    l->timers[slot].gen != gen)
		return -ENOENT;
	*ret_slot = (uint32_t)slot;
	return 0;
}

/* Point the timerfd at the earliest deadline, or disarm it. */
static int
timer_rearm(lrpc_loop *l)
{
	struct itimerspec its = {};
	uint64_t next = 0;

	if (l->n_heap == 0) {
		if (!l->timer_armed)
			return 0;
	} else {
		next = l->timers[l->heap[0]].deadline;
		if (l->timer_armed && l->timer_armed_at == next)
			return 0;
		/* An all-zero it_value would disarm instead of firing now. */
		uint64_t sec = LRPC_MIN(LRPC_MAX(next, 1) / 1000000u,
					TIMER_MAX_SEC);
		its.it_value.tv_sec = (time_t)sec;
		its.it_value.tv_nsec = (long)(LRPC_MAX(next, 1) % 1000000u) *
				       1000;
	}
	if (timerfd_settime(l->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		return -errno;
	l->timer_armed = l->n_heap > 0;
	l->timer_armed_at = next;
	return 0;
}

/* ---- lifetime ---------------------------------------------------------- */

static void
loop_free(lrpc_loop *l)
{
	loop_job *j;

	lrpc__log_debug("loop %p: freed", (void *)l);
	/* Pending jobs and timers are dropped without being called: nobody
	 * is left to run them and their owners hold no reference on us. */
	while ((j = l->jobs_head)) {
		l->jobs_head = j->next;
		free(j);
	}
	free(l->timers);
	free(l->heap);
	free(l->fds);
	/* Blocked signals stay blocked: the mask belongs to the threads that
	 * called lrpc_loop_add_signal(), which may still rely on it. */
	lrpc__safe_close(l->signal_fd);
	lrpc__safe_close(l->event_fd);
	lrpc__safe_close(l->timer_fd);
	lrpc__safe_close(l->epoll_fd);
	free(l);
}

LRPC_DEFINE_REF_UNREF(LRPC_EXPORT, lrpc_loop, lrpc_loop, loop_free)

static void
loop_unrefp(lrpc_loop **p)
{
	lrpc_loop_unref(*p);
}

static int
loop_add_internal_fd(lrpc_loop *l, int fd)
{
	struct epoll_event ev = {
		.events = EPOLLIN,
		.data.u64 = epoll_data_pack(fd, /* gen= */ 0),
	};

	return lrpc__negerrno(epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, fd, &ev));
}

LRPC_EXPORT int
lrpc_loop_new(lrpc_loop **ret)
{
	_lrpc_cleanup_(loop_unrefp) lrpc_loop *l = NULL;
	int r;

	lrpc_return_if_fail(ret, -EINVAL);

	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->n_ref = 1;
	l->origin_pid = lrpc__getpid();
	l->epoll_fd = l->timer_fd = l->event_fd = l->signal_fd = -1;
	l->timer_free = TIMER_NONE;
	sigemptyset(&l->sigmask);

	l->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epoll_fd < 0)
		return -errno;
	l->timer_fd = timerfd_create(CLOCK_MONOTONIC,
				     TFD_CLOEXEC | TFD_NONBLOCK);
	if (l->timer_fd < 0)
		return -errno;
	l->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->event_fd < 0)
		return -errno;
	r = loop_add_internal_fd(l, l->timer_fd);
	if (r < 0)
		return r;
	r = loop_add_internal_fd(l, l->event_fd);
	if (r < 0)
		return r;

	*ret = LRPC_TAKE_PTR(l);
	return 0;
}

LRPC_EXPORT int
lrpc_loop_get_fd(lrpc_loop *loop)
{
	lrpc_return_if_fail(loop, -EINVAL);
	lrpc_return_if_fail(!loop_origin_changed(loop), -ECHILD);
	return loop->epoll_fd;
}

/* ---- fds --------------------------------------------------------------- */

static int
loop_fds_reserve(lrpc_loop *l, int fd)
{
	size_t need = (size_t)fd + 1, n;
	loop_fd *fds;

	if (need <= l->n_fds)
		return 0;
	n = LRPC_MAX(need, LRPC_MAX(l->n_fds * 2, (size_t)64));
	fds = reallocarray(l->fds, n, sizeof(*fds));
	if (!fds)
		return -ENOMEM;
	memset(fds + l->n_fds, 0, (n - l->n_fds) * sizeof(*fds));
	l->fds = fds;
	l->n_fds = n;
	return 0;
}

static loop_fd *
loop_fd_find(lrpc_loop *l, int fd)
{
	if ((size_t)fd >= l->n_fds || l->fds[fd].gen == 0)
		return NULL;
	return &l->fds[fd];
}

LRPC_EXPORT int
lrpc_loop_add_fd(lrpc_loop *loop, int fd, uint32_t events,
		 lrpc_poll_fd_fn cb, void *cb_data)
{
	struct epoll_event ev;
	uint32_t gen;
	int r;

	lrpc_return_if_fail(loop, -EINVAL);
	lrpc_return_if_fail(fd >= 0, -EINVAL);
	lrpc_return_if_fail(cb, -EINVAL);
	lrpc_return_if_fail((events & ~LOOP_POLL_ALL) == 0, -EINVAL);
	lrpc_return_if_fail(!loop_origin_changed(loop), -ECHILD);

	if (loop_fd_find(loop, fd))
		return -EEXIST;

	gen = ++loop->fd_gen;
	if (gen == 0)
		gen = loop->fd_gen = 1;
	ev = (struct epoll_event){
		.events = events_to_epoll(events),
		.data.u64 = epoll_data_pack(fd, gen),
	};
	/*
	 * Register with the kernel before growing the table: a bogus fd
	 * number fails here with -EBADF instead of making us allocate a
	 * table that large.
	 */
	r = lrpc__negerrno(epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &ev));
	if (r < 0)
		return r;
	r = loop_fds_reserve(loop, fd);
	if (r < 0) {
		(void)epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
		return r;
	}
	loop->fds[fd] = (loop_fd){
		.cb = cb,
		.cb_data = cb_data,
		.events = events,
		.gen = gen,
	};
	return 0;
}

LRPC_EXPORT int
lrpc_loop_mod_fd(lrpc_loop *loop, int fd, uint32_t events)
{
	struct epoll_event ev;
	loop_fd *w;
	int r;

	lrpc_return_if_fail(loop, -EINVAL);
	lrpc_return_if_fail(fd >= 0, -EINVAL);
	lrpc_return_if_fail((events & ~LOOP_POLL_ALL) == 0, -EINVAL);
	lrpc_return_if_fail(!loop_origin_changed(loop), -ECHILD);

	w = loop_fd_find(loop, fd);
	if (!w)
		return -ENOENT;
	ev = (struct epoll_event){
		.events = events_to_epoll(events),
		.data.u64 = epoll_data_pack(fd, w->gen),
	};
	r = lrpc__negerrno(epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, fd, &ev));
	if (r < 0)
		return r;
	w->events = events;
	return 0;
}

LRPC_EXPORT int
lrpc_loop_del_fd(lrpc_loop *loop, int fd)
{
	loop_fd *w;

	lrpc_return_if_fail(loop, -EINVAL);
	lrpc_return_if_fail(fd >= 0, -EINVAL);
	lrpc_return_if_fail(!loop_origin_changed(loop), -ECHILD);

	w = loop_fd_find(loop, fd);
	if (!w)
		return -ENOENT;
	/*
	 * Failure is ignored on purpose: if the caller closed the fd first
	 * the kernel already dropped it (EBADF/ENOENT), and if a dup keeps
	 * it in the set, clearing the slot below still stops every future
	 * dispatch because its generation no longer matches.
	 */
	(void)epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
	*w = (loop_fd){};
	return 0;
}

/* ---- jobs -------------------------------------------------------------- */

LRPC_EXPORT int
lrpc_loop_add_job(lrpc_loop *loop, lrpc_poll_fn cb, void *cb_data)
{
	loop_job *j;

	lrpc_return_if_fail(loop, -EINVAL);
	lrpc_return_if_fail(cb, -EINVAL);
	lrpc_return_if_fail(!loop_origin_changed(loop), -ECHILD);

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

/* ---- timers (public) --------------------------------------------------- */

LRPC_EXPORT int
lrpc_loop_add_timer(lrpc_loop *loop, uint64_t usec, lrpc_poll_fn cb,
		    void *cb_data, void **ret_handle)
{
	loop_timer *t;
	uint64_t now;
	uint32_t slot;
	int r;

	lrpc_return_if_fail(loop, -EINVAL);
	lrpc_return_if_fail(cb, -EINVAL);
	lrpc_return_if_fail(!loop_origin_changed(loop), -ECHILD);

	if (loop->timer_free == TIMER_NONE) {
		r = timer_grow(loop);
		if (r < 0)
			return r;
	}
	slot = loop->timer_free;
	t = &loop->timers[slot];
	loop->timer_free = t->next_free;

	now = lrpc__now_usec();
	t->deadline = usec > UINT64_MAX - now ? UINT64_MAX : now + usec;
	t->seq = loop->timer_seq++;
	t->cb = cb;
	t->cb_data = cb_data;
	t->live = true;
	t->next_free = TIMER_NONE;
	heap_set(loop, loop->n_heap++, slot);
	heap_sift_up(loop, loop->n_heap - 1);

	r = timer_rearm(loop);
	if (r < 0) {
		timer_release(loop, slot);
		return r;
	}
	/* NULL is allowed: a timer that is never cancelled needs no handle. */
	if (ret_handle)
		*ret_handle = timer_handle(loop, slot);
	return 0;
}

LRPC_EXPORT int
lrpc_loop_del_timer(lrpc_loop *loop, void *handle)
{
	uint32_t slot;
	int r;

	lrpc_return_if_fail(loop, -EINVAL);
	lrpc_return_if_fail(handle, -EINVAL);
	lrpc_return_if_fail(!loop_origin_changed(loop), -ECHILD);

	r = timer_lookup(loop, handle, &slot);
	if (r < 0)
		return r;
	timer_release(loop, slot);
	/*
	 * The timer is gone whatever happens here.  If the timerfd cannot be
	 * moved it fires early, finds nothing expired and is re-armed then.
	 */
	r = timer_rearm(loop);
	if (r < 0)
		lrpc__log_debug("loop %p: re-arming timerfd: %s", (void *)loop,
				strerror(-r));
	return 0;
}

/* ---- signals ----------------------------------------------------------- */

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
	lrpc_return_if_fail(!loop_origin_changed(loop), -ECHILD);

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
		r = loop_add_internal_fd(loop, fd);
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

/* ---- dispatch ---------------------------------------------------------- */

static int
loop_dispatch_signals(lrpc_loop *l)
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

static int
loop_dispatch_event(lrpc_loop *l, const struct epoll_event *ev)
{
	int fd = (int)(uint32_t)ev->data.u64;
	uint32_t gen = (uint32_t)(ev->data.u64 >> 32);
	uint32_t revents;
	loop_fd *w;

	if (gen == 0) {
		if (fd == l->timer_fd) {
			/* Reading disarms it; make sure the timer phase
			 * re-arms it even if the heap top did not change. */
			loop_drain(l->timer_fd);
			l->timer_armed = false;
		} else if (fd == l->signal_fd)
			return loop_dispatch_signals(l);
		/* The eventfd is drained by the job phase. */
		return 0;
	}

	/*
	 * The event was collected before any callback of this batch ran;
	 * one of them may have deleted this fd, or deleted it, closed it and
	 * added a new fd with the same number.  Only an unchanged
	 * generation proves the watch is the one the event belongs to.
	 */
	w = loop_fd_find(l, fd);
	if (!w || w->gen != gen)
		return 0;
	/* Likewise a fd_mod in this batch may have dropped what fired. */
	revents = events_from_epoll(ev->events) &
		  (w->events | LRPC_POLL_ERR | LRPC_POLL_HUP);
	if (revents == 0)
		return 0;
	/* Copy before the call: the callback may grow (move) the table. */
	lrpc_poll_fd_fn cb = w->cb;
	cb(fd, revents, w->cb_data);
	return 1;
}

static int
loop_dispatch_timers(lrpc_loop *l, int *count)
{
	/*
	 * Only timers that existed when this phase started may run in it: a
	 * callback re-adding itself with usec 0 must wait for the next
	 * iteration or it would starve everything else.
	 */
	uint64_t now = lrpc__now_usec();
	uint64_t seq_limit = l->timer_seq;

	while (l->n_heap > 0) {
		uint32_t slot = l->heap[0];
		loop_timer *t = &l->timers[slot];
		lrpc_poll_fn cb;
		void *cb_data;

		if (t->deadline > now || t->seq >= seq_limit)
			break;
		cb = t->cb;
		cb_data = t->cb_data;
		/* Released before the call, so the handle is already stale
		 * (-ENOENT) inside the callback. */
		timer_release(l, slot);
		cb(cb_data);
		(*count)++;
	}
	return timer_rearm(l);
}

static int
loop_dispatch_jobs(lrpc_loop *l)
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
	loop_drain(l->event_fd);

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

LRPC_EXPORT int
lrpc_loop_run_once(lrpc_loop *loop, uint64_t timeout_usec)
{
	_lrpc_cleanup_(loop_unrefp) lrpc_loop *ref = NULL;
	struct epoll_event evs[LOOP_MAX_EVENTS];
	int n, r, count = 0;

	lrpc_return_if_fail(loop, -EINVAL);
	lrpc_return_if_fail(!loop_origin_changed(loop), -ECHILD);

	n = epoll_wait(loop->epoll_fd, evs, LOOP_MAX_EVENTS,
		       lrpc__timeout_poll_ms(timeout_usec));
	if (n < 0)
		return errno == EINTR ? 0 : -errno;

	/* Any callback may drop the last reference the caller had. */
	ref = lrpc_loop_ref(loop);

	for (int i = 0; i < n; i++)
		count += loop_dispatch_event(loop, &evs[i]);
	r = loop_dispatch_timers(loop, &count);
	if (r < 0)
		return r;
	count += loop_dispatch_jobs(loop);
	return count;
}

LRPC_EXPORT int
lrpc_loop_run(lrpc_loop *loop)
{
	_lrpc_cleanup_(loop_unrefp) lrpc_loop *ref = NULL;
	int r = 0;

	lrpc_return_if_fail(loop, -EINVAL);
	lrpc_return_if_fail(!loop_origin_changed(loop), -ECHILD);

	ref = lrpc_loop_ref(loop);
	/* A quit requested before run() makes it return at once. */
	while (!loop->quit) {
		r = lrpc_loop_run_once(loop, LRPC_TIMEOUT_INFINITE);
		if (r < 0)
			break;
	}
	/* Consumed, so that the loop can be run again. */
	loop->quit = false;
	return r < 0 ? r : 0;
}

LRPC_EXPORT void
lrpc_loop_quit(lrpc_loop *loop)
{
	if (!loop)
		return;
	loop->quit = true;
}

/* ---- poll ops ---------------------------------------------------------- */

static int
loop_ops_fd_add(void *loop_data, int fd, uint32_t events, lrpc_poll_fd_fn cb,
		void *cb_data)
{
	return lrpc_loop_add_fd(loop_data, fd, events, cb, cb_data);
}

static int
loop_ops_fd_mod(void *loop_data, int fd, uint32_t events)
{
	return lrpc_loop_mod_fd(loop_data, fd, events);
}

static int
loop_ops_fd_del(void *loop_data, int fd)
{
	return lrpc_loop_del_fd(loop_data, fd);
}

static int
loop_ops_job_add(void *loop_data, lrpc_poll_fn cb, void *cb_data)
{
	return lrpc_loop_add_job(loop_data, cb, cb_data);
}

static int
loop_ops_timer_add(void *loop_data, uint64_t usec, lrpc_poll_fn cb,
		   void *cb_data, void **ret_handle)
{
	return lrpc_loop_add_timer(loop_data, usec, cb, cb_data, ret_handle);
}

static int
loop_ops_timer_del(void *loop_data, void *handle)
{
	return lrpc_loop_del_timer(loop_data, handle);
}

/* loop_data is the lrpc_loop *; every member has the contract of the
 * lrpc_loop_* call it forwards to. */
static const lrpc_poll_ops loop_poll_ops = {
	.struct_size = sizeof(lrpc_poll_ops),
	.fd_add = loop_ops_fd_add,
	.fd_mod = loop_ops_fd_mod,
	.fd_del = loop_ops_fd_del,
	.job_add = loop_ops_job_add,
	.timer_add = loop_ops_timer_add,
	.timer_del = loop_ops_timer_del,
};

LRPC_EXPORT const lrpc_poll_ops *
lrpc_loop_get_poll_ops(void)
{
	return &loop_poll_ops;
}
