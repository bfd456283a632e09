/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Transport registry and helpers shared by every transport. */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "transport.h"
#include "util.h"

static const lrpc__transport_ops *const transports[] = {
	&lrpc__socket_transport_ops,
	&lrpc__shm_transport_ops,
};

static void
transport_check(const lrpc__transport_ops *o)
{
	/* Checked once per lookup in debug builds: a table with a hole would
	 * crash far from its cause. */
	assert(o->struct_size >= sizeof(lrpc__transport_ops));
	assert(o->name && o->s_new && o->c_new && o->t_free && o->t_send &&
	       o->t_flush && o->t_pending && o->t_recv && o->t_release &&
	       o->t_partial &&
	       o->t_wait_fd && o->t_ctl && o->t_ready && o->t_spin_ok && o->t_arm &&
	       o->t_disarm && o->t_kick && o->t_reserve && o->t_commit &&
	       o->t_cancel);
	(void)o;
}

const lrpc__transport_ops *
lrpc__transport_get(lrpc_transport type)
{
	if (type == LRPC_TRANSPORT_BEST)
		type = lrpc__transport_best();
	for (size_t i = 0; i < LRPC_ELEMENTSOF(transports); i++)
		if (transports[i]->type == type) {
			transport_check(transports[i]);
			return transports[i];
		}
	return NULL;
}

lrpc_transport
lrpc__transport_best(void)
{
	if (lrpc__transport_get(LRPC_TRANSPORT_SHM))
		return LRPC_TRANSPORT_SHM;
	return LRPC_TRANSPORT_SOCKET;
}

bool
lrpc__transport_spin(const lrpc__transport_ops *ops, lrpc__tconn *t,
		     lrpc__chan chan, bool out, uint64_t end)
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

void
lrpc__fdset_close(lrpc__fdset *s)
{
	for (unsigned i = 0; i < s->n; i++)
		lrpc__safe_close(s->fds[i]);
	s->n = 0;
}

size_t
lrpc__iov_length(const struct iovec *iov, size_t n)
{
	size_t total = 0;

	for (size_t i = 0; i < n; i++) {
		if (iov[i].iov_len > SIZE_MAX - total)
			return SIZE_MAX;
		total += iov[i].iov_len;
	}
	return total;
}

int
lrpc__iov_prepare(const struct iovec *in, size_t n_in, lrpc_msg_header *hdr,
		  struct iovec *out, size_t *ret_size)
{
	static const uint8_t zeros[8];
	size_t total, skip = sizeof(*hdr), n_out = 1, copied = 0;

	if (n_in > LRPC_IOV_MAX || (n_in > 0 && !in))
		return -EINVAL;
	total = lrpc__iov_length(in, n_in);
	if (total < sizeof(*hdr) || total == SIZE_MAX)
		return -EINVAL;

	/* The header may itself be split over several entries. */
	for (size_t i = 0; i < n_in && copied < sizeof(*hdr); i++) {
		size_t k = LRPC_MIN(in[i].iov_len, sizeof(*hdr) - copied);
		if (k > 0 && !in[i].iov_base)
			return -EINVAL;
		memcpy((uint8_t *)hdr + copied, in[i].iov_base, k);
		copied += k;
	}
	if (hdr->size != total)
		return -EINVAL;

	out[0].iov_base = hdr;
	out[0].iov_len = sizeof(*hdr);
	for (size_t i = 0; i < n_in; i++) {
		size_t len = in[i].iov_len, off = 0;
		if (skip > 0) {
			off = LRPC_MIN(skip, len);
			skip -= off;
		}
		if (len - off == 0)
			continue;
		if (!in[i].iov_base)
			return -EINVAL;
		out[n_out].iov_base = (uint8_t *)in[i].iov_base + off;
		out[n_out].iov_len = len - off;
		n_out++;
	}
	if (total % 8) {
		out[n_out].iov_base = (void *)zeros;
		out[n_out].iov_len = 8 - total % 8;
		n_out++;
	}
	*ret_size = total;
	return (int)n_out;
}

int
lrpc__memfd_check(int fd, uint64_t size)
{
	const int need = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
	struct stat st;
	int seals;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADF;
	/* F_GET_SEALS fails with EINVAL on anything that is not a memfd (or
	 * another sealable shmem file): exactly what we want to refuse. */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		return -EBADF;
	if ((seals & need) != need)
		return -EPERM;
	if ((uint64_t)st.st_size < size)
		return -EBADF;
	return 0;
}

int
lrpc__ctl_create(int *ret_fd, lrpc__ctl **ret_ctl)
{
	_lrpc_cleanup_close_ int fd = -1;
	lrpc__ctl *ctl;

	fd = memfd_create("lrpc-ctl", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, LRPC__CTL_SIZE) < 0)
		return -errno;
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) <
	    0)
		return -errno;
	ctl = mmap(NULL, LRPC__CTL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		   0);
	if (ctl == MAP_FAILED)
		return -errno;
	ctl->magic = LRPC__CTL_MAGIC;
	ctl->version = 1;
	atomic_store_explicit(&ctl->flags, 0, memory_order_relaxed);
	*ret_fd = LRPC_TAKE_FD(fd);
	*ret_ctl = ctl;
	return 0;
}

int
lrpc__ctl_map_peer(int fd, const lrpc__ctl **ret_ctl)
{
	const lrpc__ctl *ctl;
	int r;

	r = lrpc__memfd_check(fd, LRPC__CTL_SIZE);
	if (r < 0)
		return r;
	/* Read-only: the client has no business writing the server's state,
	 * and the seals guarantee the mapping cannot be truncated under us. */
	ctl = mmap(NULL, LRPC__CTL_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (ctl == MAP_FAILED)
		return -errno;
	if (ctl->magic != LRPC__CTL_MAGIC || ctl->version != 1) {
		munmap((void *)ctl, LRPC__CTL_SIZE);
		return -EPROTO;
	}
	*ret_ctl = ctl;
	return 0;
}

void
lrpc__ctl_unmap(const lrpc__ctl *ctl)
{
	if (ctl)
		munmap((void *)ctl, LRPC__CTL_SIZE);
}
