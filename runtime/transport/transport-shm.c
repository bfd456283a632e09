/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The shared-memory transport.  Per connection the server creates one memfd,
 * sealed against resizing, holding the control page and three rings
 * (requests, responses, events), and two eventfds, one per side, used only
 * when the other side said it is going to sleep.  The connection's unix
 * socket stays open for its life: its hang-up is the death signal.
 *
 * Layout of the memfd (all offsets fixed, the geometry derived on each side
 * from the negotiated message size, never read back from shared memory):
 *
 *   0      the shared page (t_shared_page: the IPC core's control page)
 *   4096   three ring headers (lrpc__ring_shared, 3 cache lines each)
 *   8192   request ring data, then response ring data, then event ring
 *          data, each lrpc__ring_capacity(max_msg) bytes (a power of two)
 *
 * Pages are touched only when used: a connection that sends small messages
 * costs a few pages of memory however large its maximum is.
 */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "shm-conn.h"
#include "shm-layout.h"
#include "transport.h"
#include "util.h"

/*
 * HARDENING B19: in an ASan build, the server's request ring is poisoned
 * from the copy-in of a request until it is released, that is while its
 * handler runs: a handler (or anything the library does for it) that
 * reads the request where the client can still change it is reported.
 * Elsewhere the macros are no-ops.
 */
#if defined(__has_include)
#if __has_include(<sanitizer/asan_interface.h>)
#include <sanitizer/asan_interface.h>
#endif
#endif
#ifndef ASAN_POISON_MEMORY_REGION
#define ASAN_POISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#define ASAN_UNPOISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#endif

static uint64_t
shm_total(uint32_t max_msg, uint64_t *ret_cap)
{
	uint64_t cap = lrpc__ring_capacity(max_msg);

	*ret_cap = cap;
	return LRPC__SHM_DATA_OFF + LRPC__N_CHAN * cap;
}

static void
shm_attach(lrpc__tconn *t, uint64_t cap, bool init)
{
	lrpc__ring_shared *sh =
		(lrpc__ring_shared *)(void *)(t->map + LRPC__SHM_RINGS_OFF);

	for (int i = 0; i < LRPC__N_CHAN; i++) {
		lrpc__ring_attach(&t->ring[i], &sh[i],
				  t->map + LRPC__SHM_DATA_OFF +
					  (uint64_t)i * cap,
				  cap, t->max_msg, init);
		/* Requests and responses mostly alternate (calls): reusing
		 * the start of the ring keeps large ones cache-hot.  Events
		 * stream, and a stream is better served by the whole ring. */
		t->ring[i].rewind = i != LRPC__CHAN_EVENT;
	}
	t->cpus = (_Atomic uint32_t *)(void *)(t->map + LRPC__SHM_CPUS_OFF);
}

/* The request ring's data area, poisoned while a handler runs (B19). */
static void
shm_poison_requests(lrpc__tconn *t, bool poison)
{
	lrpc__ring *r = &t->ring[LRPC__CHAN_REQUEST];

	if (poison)
		ASAN_POISON_MEMORY_REGION(r->data, r->cap);
	else
		ASAN_UNPOISON_MEMORY_REGION(r->data, r->cap);
}

static void
shm_free(lrpc__tconn *t)
{
	if (!t)
		return;
	/* The address range may be mapped again later, by anyone. */
	if (t->have_copy)
		shm_poison_requests(t, false);
	if (t->map)
		munmap(t->map, t->map_size);
	lrpc__shm_fds_done(&t->fds);
	lrpc__safe_close(t->my_efd);
	lrpc__safe_close(t->peer_efd);
	free(t->copy);
	free(t);
}

static lrpc__tconn *
shm_alloc(lrpc__role role, int sock, uint32_t max_msg)
{
	lrpc__tconn *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->role = role;
	t->fds.sock = sock;
	t->fds.recv_chans = role == LRPC__ROLE_SERVER
				    ? 1u << LRPC__CHAN_REQUEST
				    : (1u << LRPC__CHAN_RESPONSE) |
					      (1u << LRPC__CHAN_EVENT);
	t->my_efd = t->peer_efd = -1;
	t->max_msg = max_msg;
	return t;
}

static int
shm_accept(lrpc__tconn **ret, int sock, uint32_t max_msg, uint64_t *caps,
	   lrpc__fdset *pass)
{
	_lrpc_cleanup_close_ int memfd = -1, s_efd = -1, c_efd = -1;
	uint64_t cap, total = shm_total(max_msg, &cap);
	struct rlimit fsize;
	lrpc__tconn *t;
	void *map;
	int r;

	*caps &= ~(uint64_t)LRPC__CAP_RECORDS;

	t = shm_alloc(LRPC__ROLE_SERVER, sock, max_msg);
	if (!t)
		return -ENOMEM;
	/* Past RLIMIT_FSIZE, ftruncate() fails with EFBIG -- after the
	 * kernel sent this process SIGXFSZ, which ends it unless ignored:
	 * refuse this connection instead (HARDENING C31). */
	if (getrlimit(RLIMIT_FSIZE, &fsize) == 0 &&
	    fsize.rlim_cur != RLIM_INFINITY && total > fsize.rlim_cur) {
		shm_free(t);
		return -EFBIG;
	}
	memfd = memfd_create("lrpc-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (memfd < 0)
		goto fail_errno;
	if (ftruncate(memfd, (off_t)total) < 0)
		goto fail_errno;
	if (fcntl(memfd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto fail_errno;
	map = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (map == MAP_FAILED)
		goto fail_errno;
	t->map = map;
	t->map_size = total;
	shm_attach(t, cap, true);

	s_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	c_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s_efd < 0 || c_efd < 0)
		goto fail_errno;
	/* The client gets its own copies; ours stay open after the welcome
	 * (the caller closes what it passed). */
	t->my_efd = fcntl(s_efd, F_DUPFD_CLOEXEC, 3);
	t->peer_efd = fcntl(c_efd, F_DUPFD_CLOEXEC, 3);
	if (t->my_efd < 0 || t->peer_efd < 0)
		goto fail_errno;

	pass->n = 0;
	pass->fds[pass->n++] = LRPC_TAKE_FD(memfd);
	pass->fds[pass->n++] = LRPC_TAKE_FD(s_efd);
	pass->fds[pass->n++] = LRPC_TAKE_FD(c_efd);
	*ret = t;
	return 0;

fail_errno:
	r = -errno;
	shm_free(t);
	return r;
}

static int
shm_adopt(lrpc__tconn **ret, int sock, uint32_t max_msg, uint64_t caps,
	  lrpc__fdset *fds)
{
	uint64_t cap, total = shm_total(max_msg, &cap);
	lrpc__tconn *t = NULL;
	void *map;
	int r;

	if (fds->n != 3 || (caps & LRPC__CAP_RECORDS)) {
		r = -EPROTO;
		goto fail;
	}
	r = lrpc__memfd_check(fds->fds[0], total);
	if (r < 0)
		goto fail;
	r = lrpc__eventfd_check(fds->fds[1]);
	if (r < 0)
		goto fail;
	r = lrpc__eventfd_check(fds->fds[2]);
	if (r < 0)
		goto fail;
	t = shm_alloc(LRPC__ROLE_CLIENT, sock, max_msg);
	if (!t) {
		r = -ENOMEM;
		goto fail;
	}
	map = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED,
		   fds->fds[0], 0);
	if (map == MAP_FAILED) {
		r = -errno;
		goto fail;
	}
	t->map = map;
	t->map_size = total;
	shm_attach(t, cap, false);
	lrpc__safe_close(fds->fds[0]);
	t->peer_efd = fds->fds[1];
	t->my_efd = fds->fds[2];
	fds->n = 0;
	*ret = t;
	return 0;
fail:
	lrpc__fdset_close(fds);
	shm_free(t);
	return r;
}

static void
shm_hold_wakes(lrpc__tconn *t, bool hold)
{
	bool owed = t->wake_owed;

	if (!(t->hold_wakes = hold) && owed)
		lrpc__shm_wake_peer(t);
}

static int
shm_send(lrpc__tconn *t, lrpc__chan chan, const struct iovec *iov,
	 size_t n_iov, size_t size)
{
	return lrpc__shm_send_fds(t, chan, iov, n_iov, size, NULL, 0);
}

static int
shm_reserve(lrpc__tconn *t, lrpc__chan chan, size_t size, void **ret_buf)
{
	void *p;
	int err;

	if (size > t->max_msg)
		return -EMSGSIZE;
	p = lrpc__ring_reserve(&t->ring[chan], (uint32_t)size, &err);
	if (!p) {
		if (err == -EAGAIN)
			t->want[chan] = (uint32_t)size;
		return err;
	}
	t->want[chan] = 0;
	*ret_buf = p;
	return 0;
}

static int
shm_commit(lrpc__tconn *t, lrpc__chan chan, size_t size)
{
	if (lrpc__ring_commit(&t->ring[chan], (uint32_t)size))
		lrpc__shm_wake_peer(t);
	return 0;
}

static void
shm_cancel(lrpc__tconn *t, lrpc__chan chan)
{
	lrpc__ring_cancel(&t->ring[chan]);
}

static int
shm_flush(lrpc__tconn *t, lrpc__chan chan)
{
	return t->ring[chan].broken ? -EBADMSG : 0;
}

static bool
shm_pending(lrpc__tconn *t, lrpc__chan chan)
{
	return false;
}

static int
shm_check_header(const lrpc__tconn *t, const lrpc_msg_header *h,
		 uint32_t len, uint32_t kind)
{
	if (len < sizeof(*h) || h->size != len ||
	    (h->flags & ~LRPC__MSG_FDS_MASK) != kind ||
	    lrpc__msg_n_fds(h->flags) > t->fds.per_msg)
		return -EBADMSG;
	return 0;
}

static uint32_t
shm_kind(lrpc__chan chan)
{
	switch (chan) {
	case LRPC__CHAN_REQUEST:
		return LRPC__MSG_REQUEST;
	case LRPC__CHAN_RESPONSE:
		return LRPC__MSG_RESPONSE;
	default:
		return LRPC__MSG_EVENT;
	}
}

/*
 * Server side: copy the request out of shared memory before anyone looks
 * at it, free its room at once, then validate the copy.  The client can no
 * longer change what the handler sees.
 */
static int
shm_recv_copy(lrpc__tconn *t, const lrpc_msg_header **ret_msg,
	      size_t *ret_size)
{
	lrpc__ring *r = &t->ring[LRPC__CHAN_REQUEST];
	const uint8_t *p;
	uint32_t len;
	int k;

	if (t->have_copy)
		goto done;
	k = lrpc__ring_peek(r, &p, &len);
	if (k <= 0)
		return k < 0 ? -EBADMSG : 0;
	/* Shorter than a header is broken whatever it says; refusing it
	 * here also means the copy below always has a buffer. */
	if (len < sizeof(lrpc_msg_header))
		return -EBADMSG;
	if (t->copy_cap < len) {
		/* Grow to the maximum at once: at most one reallocation per
		 * connection, whatever the client sends. */
		size_t ncap = LRPC_ALIGN8((size_t)t->max_msg);
		uint8_t *n = realloc(t->copy, ncap);
		if (!n)
			return -ENOMEM;
		t->copy = n;
		t->copy_cap = ncap;
	}
	/* Whole 8-byte words: the record is padded to them, and a copy of an
	 * odd length measured up to 25 % slower for small messages. */
	memcpy(t->copy, p, LRPC_ALIGN8((size_t)len));
	if (lrpc__ring_release(r))
		lrpc__shm_wake_peer(t);
	if (shm_check_header(t, (const lrpc_msg_header *)(void *)t->copy, len,
			     LRPC__MSG_REQUEST) < 0)
		return -EBADMSG;
	k = lrpc__shm_fds_match(
		&t->fds, LRPC__CHAN_REQUEST,
		((const lrpc_msg_header *)(void *)t->copy)->flags);
	if (k < 0)
		return k;
	t->have_copy = true;
	shm_poison_requests(t, true);
done:
	*ret_msg = (const lrpc_msg_header *)(void *)t->copy;
	*ret_size = ((const lrpc_msg_header *)(void *)t->copy)->size;
	return 1;
}

static int
shm_recv(lrpc__tconn *t, lrpc__chan chan, bool fill,
	 const lrpc_msg_header **ret_msg, size_t *ret_size)
{
	const uint8_t *p;
	uint32_t len;
	lrpc_msg_header h;
	int k;

	if (t->role == LRPC__ROLE_SERVER)
		return shm_recv_copy(t, ret_msg, ret_size);

	/* Client side: a view into the ring.  The header is read once into
	 * a local and checked; the size handed out is the ring's record
	 * length, which the server cannot change any more. */
	k = lrpc__ring_peek(&t->ring[chan], &p, &len);
	if (k <= 0)
		return k < 0 ? -EBADMSG : 0;
	if (len < sizeof(h))
		return -EBADMSG;
	memcpy(&h, p, sizeof(h));
	if (shm_check_header(t, &h, len, shm_kind(chan)) < 0)
		return -EBADMSG;
	k = lrpc__shm_fds_match(&t->fds, chan, h.flags);
	if (k < 0)
		return k;
	t->peeked[chan] = true;
	*ret_msg = (const lrpc_msg_header *)(const void *)p;
	*ret_size = len;
	return 1;
}

static bool
shm_partial(lrpc__tconn *t, lrpc__chan chan)
{
	/* Records are published whole: there is never half of one. */
	return false;
}

static void
shm_release(lrpc__tconn *t, lrpc__chan chan)
{
	if (t->role == LRPC__ROLE_SERVER) {
		if (t->have_copy)
			shm_poison_requests(t, false);
		t->have_copy = false;
		lrpc__shm_fds_release(&t->fds, LRPC__CHAN_REQUEST);
		return;
	}
	assert(t->peeked[chan]);
	t->peeked[chan] = false;
	lrpc__shm_fds_release(&t->fds, chan);
	if (lrpc__ring_release(&t->ring[chan]))
		lrpc__shm_wake_peer(t);
}

static int
shm_wait_fd(lrpc__tconn *t, lrpc__chan chan, bool out, uint32_t *ret_events)
{
	if (out && t->main_blocked) {
		*ret_events = LRPC_POLL_OUT;
		return t->fds.sock;
	}
	*ret_events = LRPC_POLL_IN;
	return t->my_efd;
}

static bool
shm_main_blocked(lrpc__tconn *t)
{
	return t->main_blocked;
}

static void *
shm_shared_page(lrpc__tconn *t)
{
	return t->map;
}

static bool
shm_spin_ok(lrpc__tconn *t)
{
	int me = t->role == LRPC__ROLE_SERVER ? 0 : 1;
	int cpu = sched_getcpu();

	if (cpu < 0)
		return true;
	atomic_store_explicit(&t->cpus[me], (uint32_t)cpu + 1,
			      memory_order_relaxed);
	return atomic_load_explicit(&t->cpus[!me], memory_order_relaxed) !=
	       (uint32_t)cpu + 1;
}

static bool
shm_ready(lrpc__tconn *t, lrpc__chan chan, bool out)
{
	if (out && t->main_blocked)
		return false;
	if (out)
		return lrpc__ring_writable(&t->ring[chan],
					   t->want[chan] ? t->want[chan] : 1);
	if (t->role == LRPC__ROLE_SERVER && t->have_copy)
		return true;
	return lrpc__ring_readable(&t->ring[chan]);
}

static int
shm_arm(lrpc__tconn *t, lrpc__chan chan, bool out)
{
	lrpc__ring *r = &t->ring[chan];
	bool ready;

	/* Room in the ring is not what we wait for: the main socket's
	 * POLLOUT ends this sleep (t_main_blocked). */
	if (out && t->main_blocked)
		return r->broken ? -EBADMSG : 0;
	if (out)
		ready = lrpc__ring_arm_write(r, t->want[chan] ? t->want[chan]
							      : 1);
	else
		ready = lrpc__ring_arm_read(r);
	if (r->broken)
		return -EBADMSG;
	return ready ? 1 : 0;
}

static void
shm_disarm(lrpc__tconn *t, lrpc__chan chan, bool out)
{
	uint64_t v;

	if (out)
		lrpc__ring_disarm_write(&t->ring[chan]);
	else
		lrpc__ring_disarm_read(&t->ring[chan]);
	/* Reset the eventfd: whatever woke us is rechecked by the caller. */
	(void)!read(t->my_efd, &v, sizeof(v));
}

static void
shm_kick(lrpc__tconn *t)
{
	uint64_t one = 1;

	(void)!write(t->my_efd, &one, sizeof(one));
}

/* Give back what only large messages needed (docs/shm.md). */
static void
shm_trim(lrpc__tconn *t)
{
	for (int i = 0; i < LRPC__N_CHAN; i++)
		if (!t->peeked[i])
			lrpc__ring_trim(&t->ring[i], (t->role == LRPC__ROLE_CLIENT) ==
							     (i == LRPC__CHAN_REQUEST));
	if (!t->have_copy)
		lrpc__mem_discard(t->copy, t->copy_cap, LRPC__TRIM_KEEP);
}

/* mincore() of a shared mapping tells the pages the memfd holds. */
static void
shm_held(lrpc__tconn *t, uint64_t *ret_ring, uint64_t *ret_buf)
{
	*ret_ring = lrpc__mem_resident(t->map, t->map_size);
	*ret_buf = lrpc__mem_resident(t->copy, t->copy_cap);
}

static const lrpc__listener_ops shm_listener_ops = {
	.struct_size = sizeof(lrpc__listener_ops),
	.l_accept = shm_accept,
};

static const lrpc__connector_ops shm_connector_ops = {
	.struct_size = sizeof(lrpc__connector_ops),
	.c_adopt = shm_adopt,
};

static const lrpc__tconn_ops shm_conn_ops = {
	.struct_size = sizeof(lrpc__tconn_ops),
	.t_free = shm_free,
	.t_send = shm_send,
	.t_flush = shm_flush,
	.t_pending = shm_pending,
	.t_recv = shm_recv,
	.t_partial = shm_partial,
	.t_release = shm_release,
	.t_wait_fd = shm_wait_fd,
	.t_main_blocked = shm_main_blocked,
	.t_shared_page = shm_shared_page,
	.t_spin_ok = shm_spin_ok,
	.t_ready = shm_ready,
	.t_arm = shm_arm,
	.t_disarm = shm_disarm,
	.t_kick = shm_kick,
	.t_reserve = shm_reserve,
	.t_commit = shm_commit,
	.t_cancel = shm_cancel,
	.t_trim = shm_trim,
	.t_held = shm_held,
	.t_hold_wakes = shm_hold_wakes,
	.t_fd_limits = lrpc__shm_fd_limits,
	.t_send_fds = lrpc__shm_send_fds,
	.t_msg_n_fds = lrpc__shm_msg_n_fds,
	.t_take_fd = lrpc__shm_take_fd,
};

const lrpc__transport lrpc__shm_transport = {
	.struct_size = sizeof(lrpc__transport),
	.type = LRPC_TRANSPORT_SHM,
	.name = "shm",
	.caps = LRPC__TCAP_SHARED_PAGE | LRPC__TCAP_WAKEUPS,
	.listener = &shm_listener_ops,
	.connector = &shm_connector_ops,
	.conn = &shm_conn_ops,
};
