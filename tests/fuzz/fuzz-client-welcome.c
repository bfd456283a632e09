/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the client's side of the handshake -- the welcome a
 * server (or whoever listens on the name) sends, with the fds attached to
 * it (docs/wire.md, "Handshake"; lrpc__client_handshake_step()).
 *
 * Input: a set-up byte (the transport the client asks for), then up to
 * four sends from the "server": a length byte and that many welcome bytes,
 * a byte giving how many fds to attach and a byte per fd choosing its kind
 * (a proper control page or shm memfd for the size the welcome names, one
 * of the wrong size, unsealed, or holding a bad control page, eventfds
 * blocking or not, a socket, a pipe, /dev/null).  The client must end in
 * exactly one of: connected, refused with the server's errno, or failed
 * with -EPROTO (or another errno) -- and in every case, once it is freed,
 * the process holds exactly the fds it held before.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz-common.h"
#include "ipc/ipc-client-internal.h"
#include "ipc/ipc-ctl.h"
#include "transport/shm-layout.h"
#include "transport/shm-ring.h"

static unsigned
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	FZ_CHECK(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static int
make_memfd(uint64_t size, bool seal, bool good_ctl)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	FZ_CHECK(fd >= 0);
	FZ_CHECK(ftruncate(fd, (off_t)size) == 0);
	if (size >= sizeof(lrpc__ctl)) {
		uint32_t ctl[3] = { good_ctl ? LRPC__CTL_MAGIC : 0x12345678u,
				    LRPC__CTL_VERSION, 0 };
		FZ_CHECK(pwrite(fd, ctl, sizeof(ctl), 0) == sizeof(ctl));
	}
	if (seal)
		FZ_CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
						    F_SEAL_SEAL) == 0);
	return fd;
}

/* An fd of the kind @k for a welcome naming @max_msg. */
static int
make_fd(uint8_t k, uint32_t max_msg)
{
	uint64_t shm = LRPC__SHM_DATA_OFF +
		       LRPC__N_CHAN * lrpc__ring_capacity(max_msg);
	int sv[2], fd;

	/* Proper shm memfds only for sizes a test can afford. */
	if (max_msg > (1u << 20))
		shm = 3 * 4096;
	switch (k % 12) {
	case 0:
		return make_memfd(LRPC__CTL_SIZE, true, true);
	case 1:
		return make_memfd(shm, true, true);
	case 2:
		return make_memfd(shm - 4096, true, true);
	case 3:
		return make_memfd(LRPC__CTL_SIZE, false, true);
	case 4:
		return make_memfd(LRPC__CTL_SIZE, true, false);
	case 5:
		return make_memfd(shm, true, false);
	case 6:
		return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	case 7:
		return eventfd(0, EFD_CLOEXEC);
	case 8:
		FZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				    sv) == 0);
		close(sv[1]);
		return sv[0];
	case 9:
		FZ_CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0,
				    sv) == 0);
		close(sv[1]);
		return sv[0];
	case 10:
		FZ_CHECK(pipe2(sv, O_CLOEXEC) == 0);
		close(sv[1]);
		return sv[0];
	default:
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		FZ_CHECK(fd >= 0);
		return fd;
	}
}

/* One send of the "server": bytes of the welcome with fds attached. */
static bool
server_send(int sock, fz_in *in, size_t welcome_got)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} cm;
	const uint8_t *bytes;
	size_t n = fz_chunk(in, &bytes);
	unsigned n_fds = fz_u8(in) % 9;
	int fds[8];
	struct iovec iov = { .iov_base = (void *)bytes, .iov_len = n };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	uint32_t max_msg = 4096;
	bool ok;

	if (n == 0)
		return false; /* nothing to carry fds */
	/* The size the welcome names, for fds that fit it. */
	if (welcome_got <= 12 && n >= 16 - welcome_got)
		memcpy(&max_msg, bytes + 12 - welcome_got, 4);
	for (unsigned i = 0; i < n_fds; i++)
		fds[i] = make_fd(fz_u8(in), max_msg);
	if (n_fds > 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
	}
	ok = sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)n;
	/* Ours are closed; the copies in flight are the client's now. */
	for (unsigned i = 0; i < n_fds; i++)
		close(fds[i]);
	return ok;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const lrpc_transport asked[] = {
		LRPC_TRANSPORT_BEST, LRPC_TRANSPORT_SOCKET, LRPC_TRANSPORT_SHM,
		LRPC_TRANSPORT_SOCKET,
	};
	fz_in in = { data, size };
	uint8_t setup = fz_u8(&in);
	lrpc_client_opts opts = { .struct_size = sizeof(opts),
				  .transport = asked[setup & 3] };
	unsigned before = count_fds();
	lrpc_client *c;
	int sv[2], r = 0;

	FZ_CHECK(lrpc__client_alloc(&c, "fuzz", &opts) == 0);
	FZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	FZ_CHECK(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0);
	c->fd = sv[0];
	for (int i = 0; i < 4 && r == 0 && in.left > 0; i++) {
		if (!server_send(sv[1], &in, c->welcome_got))
			break;
		r = lrpc__client_handshake_step(c);
	}
	if (r == 0 && in.left == 0) {
		/* The server hangs up before finishing. */
		close(sv[1]);
		sv[1] = -1;
		r = lrpc__client_handshake_step(c);
		FZ_CHECK(r < 0);
	}
	if (r == 1) {
		FZ_CHECK(c->state == CLIENT_CONNECTED);
		FZ_CHECK(c->fds.n == 0);
		FZ_CHECK(c->max_msg >= 64 && c->max_msg <= (256u << 20));
	} else if (r < 0) {
		/* Nothing received is kept. */
		FZ_CHECK(c->fds.n == 0);
	}
	lrpc_client_unref(c);
	if (sv[1] >= 0)
		close(sv[1]);
	FZ_CHECK(count_fds() == before);
	return 0;
}
