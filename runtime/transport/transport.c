/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Transport registry and helpers shared by every transport. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "transport.h"
#include "util.h"

static const lrpc__transport *const transports[] = {
	&lrpc__socket_transport,
	&lrpc__shm_transport,
};

static void
transport_check(const lrpc__transport *tr)
{
	/* Checked at lookup in debug builds: a table with a hole would
	 * crash far from its cause. */
	const lrpc__listener_ops *l = tr->listener;
	const lrpc__connector_ops *c = tr->connector;
	const lrpc__tconn_ops *o = tr->conn;

	assert(tr->struct_size >= sizeof(*tr) && tr->name && l && c && o);
	assert(l->struct_size >= sizeof(*l) && l->l_accept);
	assert(c->struct_size >= sizeof(*c) && c->c_adopt);
	assert(o->struct_size >= sizeof(*o));
	assert(o->t_free && o->t_send && o->t_flush && o->t_pending &&
	       o->t_recv && o->t_release && o->t_partial && o->t_wait_fd &&
	       o->t_shared_page && o->t_ready && o->t_spin_ok && o->t_arm &&
	       o->t_disarm && o->t_kick && o->t_reserve && o->t_commit &&
	       o->t_cancel && o->t_trim && o->t_held && o->t_fd_limits &&
	       o->t_send_fds && o->t_msg_n_fds && o->t_take_fd);
	(void)l;
	(void)c;
	(void)o;
}

const lrpc__transport *
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

void
lrpc__fdset_close(lrpc__fdset *s)
{
	for (unsigned i = 0; i < s->n; i++)
		lrpc__safe_close(s->fds[i]);
	s->n = 0;
}

void
lrpc__cmsg_put_fds(struct msghdr *mh, void *ctl, const int *fds, unsigned n)
{
	struct cmsghdr *c;

	memset(ctl, 0, CMSG_SPACE(sizeof(int) * n));
	mh->msg_control = ctl;
	mh->msg_controllen = CMSG_SPACE(sizeof(int) * n);
	c = CMSG_FIRSTHDR(mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
}

int
lrpc__cmsg_take_fds(struct msghdr *mh, unsigned max, int **ret,
		    unsigned *ret_n)
{
	unsigned total = 0, n = 0;
	int *fds = NULL, r = 0;

	*ret = NULL;
	*ret_n = 0;
	if (mh->msg_controllen == 0 && !(mh->msg_flags & MSG_CTRUNC))
		return 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			total += (unsigned)((c->cmsg_len - CMSG_LEN(0)) /
					    sizeof(int));
		else
			r = -EBADMSG;
	if (mh->msg_flags & MSG_CTRUNC)
		r = -EBADMSG;
	if (total > max)
		r = -EBADMSG;
	if (r == 0 && total > 0) {
		fds = malloc(sizeof(int) * total);
		if (!fds)
			r = -ENOMEM;
	}
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c;
	     c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int f;
			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(f));
			if (r < 0)
				lrpc__safe_close(f);
			else
				fds[n++] = f;
		}
	}
	if (r < 0) {
		free(fds);
		return r;
	}
	*ret = fds;
	*ret_n = n;
	return 0;
}

void
lrpc__msg_fds_clear(lrpc__msg_fds *m, unsigned *held)
{
	for (unsigned i = 0; i < m->n; i++)
		if (m->fds[i] >= 0) {
			lrpc__safe_close(m->fds[i]);
			(*held)--;
		}
	free(m->fds);
	m->fds = NULL;
	m->n = 0;
}

int
lrpc__msg_fds_take(lrpc__msg_fds *m, unsigned i, unsigned *held)
{
	int fd;

	if (i >= m->n)
		return -ENXIO;
	fd = m->fds[i];
	if (fd < 0)
		return -EBADF;
	m->fds[i] = -1;
	(*held)--;
	return fd;
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

/* An fd is an eventfd if the kernel says so; a hostile server could pass a
 * file instead, and we would write into it. */
int
lrpc__eventfd_check(int fd)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	if (strcmp(target, "anon_inode:[eventfd]") != 0)
		return -EBADF;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || !(fl & O_NONBLOCK))
		return -EBADF;
	return 0;
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

static size_t
page_size(void)
{
	static size_t ps;

	if (!ps) {
		long v = sysconf(_SC_PAGESIZE);
		ps = v > 0 ? (size_t)v : 4096;
	}
	return ps;
}

void
lrpc__mem_discard(void *p, size_t len, size_t keep)
{
	size_t ps = page_size();
	uintptr_t start, end;

	if (!p || len <= keep)
		return;
	start = ((uintptr_t)p + keep + ps - 1) & ~(uintptr_t)(ps - 1);
	end = ((uintptr_t)p + len) & ~(uintptr_t)(ps - 1);
	if (end > start)
		(void)madvise((void *)start, end - start, MADV_DONTNEED);
}

uint64_t
lrpc__mem_resident(const void *p, size_t len)
{
	size_t ps = page_size();
	unsigned char vec[1024];
	uintptr_t start, end;
	uint64_t n = 0;

	if (!p || len == 0)
		return 0;
	start = (uintptr_t)p & ~(uintptr_t)(ps - 1);
	end = ((uintptr_t)p + len + ps - 1) & ~(uintptr_t)(ps - 1);
	while (start < end) {
		size_t pages = LRPC_MIN((end - start) / ps, sizeof(vec));

		if (mincore((void *)start, pages * ps, vec) < 0)
			break;
		for (size_t i = 0; i < pages; i++)
			n += vec[i] & 1;
		start += pages * ps;
	}
	return n * ps;
}
