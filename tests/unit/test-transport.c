/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Transport helpers: iovec preparation, memfd checks, the control page,
 * and the handshake validators. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "ipc/ipc-ctl.h"
#include "ipc/ipc-handshake.h"
#include "ipc/ipc-msg.h"
#include "ipc/ipc-naming.h"
#include "transport/transport.h"

static void
test_iov_prepare_replaces_header_and_pads(void **state)
{
	uint8_t msg[37];
	lrpc_msg_header *h = (lrpc_msg_header *)msg, copy;
	struct iovec in[] = { { msg, 10 }, { msg + 10, 0 }, { msg + 10, 27 } };
	struct iovec out[LRPC_IOV_MAX + 2];
	size_t size;

	memset(msg, 0x11, sizeof(msg));
	h->size = sizeof(msg);
	int n = lrpc__iov_prepare(in, 3, &copy, out, &size);
	assert_int_equal(n, 3); /* header, payload, padding */
	assert_int_equal(size, 37);
	assert_ptr_equal(out[0].iov_base, &copy);
	assert_int_equal(out[0].iov_len, sizeof(copy));
	assert_ptr_equal(out[1].iov_base, msg + 24);
	assert_int_equal(out[1].iov_len, 13);
	assert_int_equal(out[2].iov_len, 3);
	/* The caller's buffer is never written. */
	copy.flags = 3;
	assert_int_equal(h->flags, 0x11111111);
}

static void
test_iov_prepare_inval(void **state)
{
	uint8_t msg[64] = { 0 };
	lrpc_msg_header *h = (lrpc_msg_header *)msg, copy;
	struct iovec in[LRPC_IOV_MAX + 1];
	struct iovec out[LRPC_IOV_MAX + 2];
	size_t size;

	h->size = 64;
	in[0] = (struct iovec){ msg, 63 };
	assert_int_equal(lrpc__iov_prepare(in, 1, &copy, out, &size), -EINVAL);
	in[0] = (struct iovec){ msg, 16 };
	assert_int_equal(lrpc__iov_prepare(in, 1, &copy, out, &size), -EINVAL);
	in[0] = (struct iovec){ NULL, 64 };
	assert_int_equal(lrpc__iov_prepare(in, 1, &copy, out, &size), -EINVAL);
	for (int i = 0; i < LRPC_IOV_MAX + 1; i++)
		in[i] = (struct iovec){ msg, i == 0 ? 64 : 0 };
	assert_int_equal(lrpc__iov_prepare(in, LRPC_IOV_MAX + 1, &copy, out,
					   &size),
			 -EINVAL);
	/* Header copy plus the 40 payload bytes; 64 needs no padding. */
	assert_int_equal(lrpc__iov_prepare(in, LRPC_IOV_MAX, &copy, out, &size),
			 2);
	/* Lengths that overflow size_t when added. */
	in[0] = (struct iovec){ msg, SIZE_MAX };
	in[1] = (struct iovec){ msg, 2 };
	assert_int_equal(lrpc__iov_prepare(in, 2, &copy, out, &size), -EINVAL);
}

static void
test_memfd_check_requires_seals(void **state)
{
	int fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	assert_int_equal(lrpc__memfd_check(fd, 4096), -EPERM);
	assert_int_equal(fcntl(fd, F_ADD_SEALS,
			       F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
			 0);
	assert_int_equal(lrpc__memfd_check(fd, 4096), 0);
	assert_int_equal(lrpc__memfd_check(fd, 8192), -EBADF);
	close(fd);

	/* Not a memfd at all: a pipe, a socket, /dev/null. */
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(lrpc__memfd_check(p[0], 1), -EBADF);
	close(p[0]);
	close(p[1]);
	fd = open("/dev/null", O_RDONLY);
	assert_int_equal(lrpc__memfd_check(fd, 1), -EBADF);
	close(fd);
}

static void
test_ctl_core_page_for_sockets(void **state)
{
	lrpc__ctl_page sp, cp;
	lrpc__fdset pass = { .n = 1 };
	int other, keep;

	/* A transport without a shared page: the core brings a memfd and
	 * puts it before the transport's fds. */
	other = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(other >= 0);
	pass.fds[0] = other;
	assert_int_equal(lrpc__ctl_server_init(&sp, &lrpc__socket_transport,
					       NULL, &pass),
			 0);
	assert_int_equal(pass.n, 2);
	assert_int_equal(pass.fds[1], other);
	keep = dup(pass.fds[0]);
	assert_int_equal(lrpc__ctl_client_take(&cp, &lrpc__socket_transport,
					       &pass),
			 0);
	/* The transport's fd is left for the transport. */
	assert_int_equal(pass.n, 1);
	assert_int_equal(pass.fds[0], other);
	assert_int_equal(lrpc__ctl_client_adopt(&cp, &lrpc__socket_transport,
						NULL),
			 0);
	assert_int_equal(lrpc__ctl_check(&cp), 0);
	lrpc__ctl_publish(&sp, LRPC__CTL_STOP);
	assert_int_equal(lrpc__ctl_check(&cp), -EAGAIN);
	/* Bits the client does not know also mean stop. */
	lrpc__ctl_publish(&sp, 0x100);
	assert_int_equal(lrpc__ctl_check(&cp), -EAGAIN);
	lrpc__ctl_publish(&sp, 0);
	assert_int_equal(lrpc__ctl_check(&cp), 0);
	/* Sealed: nobody can shrink it under the mapping. */
	assert_int_equal(ftruncate(keep, 0), -1);
	assert_int_equal(errno, EPERM);
	lrpc__ctl_done(&cp);
	lrpc__ctl_done(&sp);
	close(keep);
	lrpc__fdset_close(&pass);
}

static void
test_ctl_client_refuses_foreign_page(void **state)
{
	lrpc__ctl_page cp;
	lrpc__fdset none = { .n = 0 }, fds = { .n = 1 };
	int fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	/* No fd at all where the control page must come first. */
	assert_int_equal(lrpc__ctl_client_take(&cp, &lrpc__socket_transport,
					       &none),
			 -EPROTO);
	/* A sealed memfd of the right size without the magic. */
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, LRPC__CTL_SIZE), 0);
	assert_int_equal(fcntl(fd, F_ADD_SEALS,
			       F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
			 0);
	fds.fds[0] = fd;
	assert_int_equal(lrpc__ctl_client_take(&cp, &lrpc__socket_transport,
					       &fds),
			 -EPROTO);
	/* Refused, the fd is left to the caller, which closes it. */
	assert_int_equal(fds.n, 1);
	lrpc__fdset_close(&fds);
	/* A transport with a shared page takes nothing from the fds. */
	fds = (lrpc__fdset){ .n = 0 };
	assert_int_equal(lrpc__ctl_client_take(&cp, &lrpc__shm_transport,
					       &fds),
			 0);
	assert_null(cp.ctl);
}

static void
test_hello_check(void **state)
{
	lrpc__hello h = { .magic = LRPC__HELLO_MAGIC, .version = 1 };

	assert_int_equal(lrpc__hello_check(&h), 0);
	h.magic ^= 1;
	assert_int_equal(lrpc__hello_check(&h), -EPROTO);
	h.magic ^= 1;
	h.version = 2;
	assert_int_equal(lrpc__hello_check(&h), -EPROTONOSUPPORT);
	h.version = 1;
	h.transport = 77;
	assert_int_equal(lrpc__hello_check(&h), -EPROTONOSUPPORT);
	h.transport = 0;
	h.flags = 1;
	assert_int_equal(lrpc__hello_check(&h), -EPROTO);
}

static void
test_welcome_check(void **state)
{
	lrpc__welcome w = { .magic = LRPC__WELCOME_MAGIC,
			    .version = 1,
			    .transport = LRPC_TRANSPORT_SOCKET,
			    .max_msg_size = 4096,
			    .n_fds = 2 };
	lrpc__fdset fds = { .n = 2 };

	assert_int_equal(lrpc__welcome_check(&w, LRPC_TRANSPORT_BEST, &fds), 0);
	assert_int_equal(lrpc__welcome_check(&w, LRPC_TRANSPORT_SHM, &fds),
			 -EPROTO);
	w.n_fds = 3;
	assert_int_equal(lrpc__welcome_check(&w, 0, &fds), -EPROTO);
	w.n_fds = 2;
	w.max_msg_size = 8;
	assert_int_equal(lrpc__welcome_check(&w, 0, &fds), -EPROTO);
	w.max_msg_size = LRPC_MAX_MSG_SIZE_LIMIT + 1;
	assert_int_equal(lrpc__welcome_check(&w, 0, &fds), -EPROTO);
	w.max_msg_size = 4096;
	w.transport = LRPC_TRANSPORT_BEST;
	assert_int_equal(lrpc__welcome_check(&w, 0, &fds), -EPROTO);
	/* Refusals pass the errno on, but only real errnos, and no fds. */
	lrpc__fdset none = { .n = 0 };
	w.status = -EPERM;
	assert_int_equal(lrpc__welcome_check(&w, 0, &none), -EPERM);
	assert_int_equal(lrpc__welcome_check(&w, 0, &fds), -EPROTO);
	w.status = -5000;
	assert_int_equal(lrpc__welcome_check(&w, 0, &none), -EPROTO);
	w.status = 3;
	assert_int_equal(lrpc__welcome_check(&w, 0, &none), -EPROTO);
}

static void
test_name_validate(void **state)
{
	char longname[LRPC_NAME_MAX + 2];

	assert_int_equal(lrpc__name_validate("a"), 0);
	assert_int_equal(lrpc__name_validate("svc.name_1-2"), 0);
	assert_int_equal(lrpc__name_validate(""), -EINVAL);
	assert_int_equal(lrpc__name_validate(NULL), -EINVAL);
	assert_int_equal(lrpc__name_validate(".x"), -EINVAL);
	assert_int_equal(lrpc__name_validate("a/b"), -EINVAL);
	assert_int_equal(lrpc__name_validate("a b"), -EINVAL);
	assert_int_equal(lrpc__name_validate("\xc3\xbc"), -EINVAL);
	memset(longname, 'x', sizeof(longname));
	longname[LRPC_NAME_MAX] = '\0';
	assert_int_equal(lrpc__name_validate(longname), 0);
	longname[LRPC_NAME_MAX] = 'x';
	longname[LRPC_NAME_MAX + 1] = '\0';
	assert_int_equal(lrpc__name_validate(longname), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iov_prepare_replaces_header_and_pads),
		cmocka_unit_test(test_iov_prepare_inval),
		cmocka_unit_test(test_memfd_check_requires_seals),
		cmocka_unit_test(test_ctl_core_page_for_sockets),
		cmocka_unit_test(test_ctl_client_refuses_foreign_page),
		cmocka_unit_test(test_hello_check),
		cmocka_unit_test(test_welcome_check),
		cmocka_unit_test(test_name_validate),
	};
	return cmocka_run_group_tests_name("transport", tests, NULL, NULL);
}
