/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The control page, made once for every transport (see ipc-ctl.h). */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>

#include "ipc-ctl.h"
#include "util.h"

static void
ctl_init(lrpc__ctl *ctl)
{
	ctl->magic = LRPC__CTL_MAGIC;
	ctl->version = LRPC__CTL_VERSION;
	atomic_store_explicit(&ctl->flags, 0, memory_order_relaxed);
}

static int
ctl_create(int *ret_fd, lrpc__ctl **ret_ctl)
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
	ctl_init(ctl);
	*ret_fd = LRPC_TAKE_FD(fd);
	*ret_ctl = ctl;
	return 0;
}

int
lrpc__ctl_server_init(lrpc__ctl_page *p, const lrpc__transport *tr,
		      lrpc__tconn *t, lrpc__fdset *pass)
{
	int fd = -1, r;

	*p = (lrpc__ctl_page){ 0 };
	if (tr->caps & LRPC__TCAP_SHARED_PAGE) {
		p->ctl = tr->conn->t_shared_page(t);
		if (!p->ctl)
			return -ENOMEM;
		ctl_init(p->ctl);
		return 0;
	}
	if (pass->n >= LRPC__MAX_FDS)
		return -E2BIG;
	r = ctl_create(&fd, &p->ctl);
	if (r < 0)
		return r;
	p->own_map = true;
	memmove(&pass->fds[1], &pass->fds[0], pass->n * sizeof(int));
	pass->fds[0] = fd;
	pass->n++;
	return 0;
}

static int
ctl_check(const lrpc__ctl *ctl)
{
	/* Read once: the page is the server's, and only what it says at
	 * the start matters for recognising it. */
	uint32_t magic = ctl->magic, version = ctl->version;

	if (magic != LRPC__CTL_MAGIC || version != LRPC__CTL_VERSION)
		return -EPROTO;
	return 0;
}

int
lrpc__ctl_client_take(lrpc__ctl_page *p, const lrpc__transport *tr,
		      lrpc__fdset *fds)
{
	const lrpc__ctl *ctl;
	int r;

	*p = (lrpc__ctl_page){ 0 };
	if (tr->caps & LRPC__TCAP_SHARED_PAGE)
		return 0;
	if (fds->n < 1)
		return -EPROTO;
	r = lrpc__memfd_check(fds->fds[0], LRPC__CTL_SIZE);
	if (r < 0)
		return r;
	/* Read-only: the client has no business writing the server's state,
	 * and the seals guarantee the mapping cannot be truncated under us. */
	ctl = mmap(NULL, LRPC__CTL_SIZE, PROT_READ, MAP_SHARED, fds->fds[0],
		   0);
	if (ctl == MAP_FAILED)
		return -errno;
	if (ctl_check(ctl) < 0) {
		munmap((void *)ctl, LRPC__CTL_SIZE);
		return -EPROTO;
	}
	/* The mapping outlives the fd. */
	lrpc__safe_close(fds->fds[0]);
	fds->n--;
	memmove(&fds->fds[0], &fds->fds[1], fds->n * sizeof(int));
	p->ctl = (lrpc__ctl *)ctl;
	p->own_map = true;
	return 0;
}

int
lrpc__ctl_client_adopt(lrpc__ctl_page *p, const lrpc__transport *tr,
		       lrpc__tconn *t)
{
	if (!(tr->caps & LRPC__TCAP_SHARED_PAGE))
		return p->ctl ? 0 : -EPROTO;
	p->ctl = tr->conn->t_shared_page(t);
	if (!p->ctl || ctl_check(p->ctl) < 0) {
		p->ctl = NULL;
		return -EPROTO;
	}
	return 0;
}

void
lrpc__ctl_done(lrpc__ctl_page *p)
{
	if (p->own_map && p->ctl)
		munmap(p->ctl, LRPC__CTL_SIZE);
	*p = (lrpc__ctl_page){ 0 };
}
