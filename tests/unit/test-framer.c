/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The stream framer: reassembly, validation and bounded buffering. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "transport/framer.h"
#include "transport/transport.h"

static int sv[2];

static int
setup(void **state)
{
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
}

static int
teardown(void **state)
{
	close(sv[0]);
	close(sv[1]);
	return 0;
}

static void
put_record(int fd, uint32_t size, uint32_t flags, uint8_t fill)
{
	size_t wire = (size + 7u) & ~7u;
	uint8_t *buf = calloc(1, wire < 24 ? 24 : wire);
	lrpc_msg_header *h = (lrpc_msg_header *)buf;

	assert_non_null(buf);
	h->size = size;
	h->id = 7;
	h->flags = flags;
	if (size > sizeof(*h))
		memset(buf + sizeof(*h), fill, size - sizeof(*h));
	assert_int_equal(write(fd, buf, wire < 24 ? 24 : wire),
			 (ssize_t)(wire < 24 ? 24 : wire));
	free(buf);
}

static void
test_framer_reassembles_byte_by_byte(void **state)
{
	lrpc__framer f;
	const lrpc_msg_header *m;
	size_t size;
	uint8_t rec[40] = { 0 };
	lrpc_msg_header *h = (lrpc_msg_header *)rec;

	h->size = 37;
	h->flags = LRPC__MSG_REQUEST;
	memset(rec + 24, 0xab, 13);
	lrpc__framer_init(&f, 1024, LRPC__MSG_REQUEST);
	for (size_t i = 0; i < sizeof(rec); i++) {
		assert_int_equal(lrpc__framer_peek(&f, &m, &size), 0);
		assert_int_equal(write(sv[0], rec + i, 1), 1);
		assert_int_equal(lrpc__framer_fill(&f, sv[1]), 1);
	}
	assert_int_equal(lrpc__framer_peek(&f, &m, &size), 1);
	assert_int_equal(size, 37);
	assert_int_equal((uintptr_t)m % 8, 0);
	assert_int_equal(((const uint8_t *)m)[36], 0xab);
	lrpc__framer_consume(&f);
	assert_int_equal(lrpc__framer_buffered(&f), 0);
	lrpc__framer_done(&f);
}

static void
test_framer_two_records_one_read(void **state)
{
	lrpc__framer f;
	const lrpc_msg_header *m;
	size_t size;

	put_record(sv[0], 30, LRPC__MSG_REQUEST, 1);
	put_record(sv[0], 24, LRPC__MSG_REQUEST, 2);
	lrpc__framer_init(&f, 1024, LRPC__MSG_REQUEST);
	assert_true(lrpc__framer_fill(&f, sv[1]) > 0);
	assert_int_equal(lrpc__framer_peek(&f, &m, &size), 1);
	assert_int_equal(size, 30);
	/* Peeking again returns the same record until consumed. */
	assert_int_equal(lrpc__framer_peek(&f, &m, &size), 1);
	assert_int_equal(size, 30);
	lrpc__framer_consume(&f);
	assert_int_equal(lrpc__framer_peek(&f, &m, &size), 1);
	assert_int_equal(size, 24);
	assert_int_equal((uintptr_t)m % 8, 0);
	lrpc__framer_consume(&f);
	assert_int_equal(lrpc__framer_peek(&f, &m, &size), 0);
	lrpc__framer_done(&f);
}

static void
test_framer_rejects_bad_sizes(void **state)
{
	const uint32_t bad[] = { 0, 1, 23, 1025, INT32_MAX, UINT32_MAX };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		lrpc__framer f;
		const lrpc_msg_header *m;
		size_t size;
		lrpc_msg_header h = { .size = bad[i],
				      .flags = LRPC__MSG_REQUEST };

		lrpc__framer_init(&f, 1024, LRPC__MSG_REQUEST);
		assert_int_equal(write(sv[0], &h, sizeof(h)), sizeof(h));
		assert_int_equal(lrpc__framer_fill(&f, sv[1]), sizeof(h));
		assert_int_equal(lrpc__framer_peek(&f, &m, &size), -EBADMSG);
		/* Filling more never allocates for the bogus size. */
		assert_int_equal(lrpc__framer_fill(&f, sv[1]), -EBADMSG);
		assert_true(f.cap <= 64 * 1024);
		lrpc__framer_done(&f);
	}
}

static void
test_framer_rejects_wrong_kind_and_flags(void **state)
{
	const uint32_t bad[] = { LRPC__MSG_RESPONSE, LRPC__MSG_EVENT, 0,
				 LRPC__MSG_REQUEST | 0x100 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		lrpc__framer f;
		const lrpc_msg_header *m;
		size_t size;

		lrpc__framer_init(&f, 1024, LRPC__MSG_REQUEST);
		put_record(sv[0], 24, bad[i], 0);
		assert_int_equal(lrpc__framer_fill(&f, sv[1]), 24);
		assert_int_equal(lrpc__framer_peek(&f, &m, &size), -EBADMSG);
		lrpc__framer_done(&f);
	}
}

static void
test_framer_grows_for_large_record(void **state)
{
	lrpc__framer f;
	const lrpc_msg_header *m;
	size_t size;
	const uint32_t big = 200 * 1024 + 3;
	int sndbuf = 1024 * 1024;
	uint8_t *rec = calloc(1, big + 5);
	lrpc_msg_header *h = (lrpc_msg_header *)rec;

	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	h->size = big;
	h->flags = LRPC__MSG_REQUEST;
	memset(rec + 24, 0x5a, big - 24);
	lrpc__framer_init(&f, 1024 * 1024, LRPC__MSG_REQUEST);
	size_t off = 0, wire = (big + 7u) & ~7u;
	while (lrpc__framer_peek(&f, &m, &size) == 0) {
		if (off < wire) {
			ssize_t n = write(sv[0], rec + off, wire - off);
			if (n > 0)
				off += (size_t)n;
		}
		int r = lrpc__framer_fill(&f, sv[1]);
		assert_true(r > 0 || r == -EAGAIN);
	}
	assert_int_equal(size, big);
	assert_int_equal(((const uint8_t *)m)[big - 1], 0x5a);
	lrpc__framer_consume(&f);
	lrpc__framer_done(&f);
	free(rec);
}

static void
test_framer_eof_is_connreset(void **state)
{
	lrpc__framer f;

	lrpc__framer_init(&f, 1024, 0);
	close(sv[0]);
	sv[0] = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(lrpc__framer_fill(&f, sv[1]), -ECONNRESET);
	lrpc__framer_done(&f);
}

static int
count_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

/* A record sent with @n_fds fds (dups of stdin) attached. */
static void
put_record_with_fds(int fd, unsigned n_fds)
{
	uint8_t rec[32] = { 0 };
	lrpc_msg_header *h = (lrpc_msg_header *)rec;
	int fds[64];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(fds))];
	} ctl;
	struct iovec iov = { .iov_base = rec, .iov_len = sizeof(rec) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = ctl.buf,
			     .msg_controllen = CMSG_SPACE(n_fds * sizeof(int)) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

	assert_true(n_fds <= 64);
	memset(&ctl, 0, sizeof(ctl));
	h->size = sizeof(rec);
	h->flags = LRPC__MSG_REQUEST;
	for (unsigned i = 0; i < n_fds; i++)
		fds[i] = dup(0);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(n_fds * sizeof(int));
	memcpy(CMSG_DATA(c), fds, n_fds * sizeof(int));
	assert_int_equal(sendmsg(fd, &mh, 0), (ssize_t)sizeof(rec));
	for (unsigned i = 0; i < n_fds; i++)
		close(fds[i]);
}

/*
 * HARDENING A14/A15: records never carry fds.  Fds attached to one are
 * closed by the reader, which reports the stream broken (the connection is
 * dropped); with more fds than the reader has room for (MSG_CTRUNC) the
 * same.  Either way no fd is left behind.
 */
static void
test_framer_refuses_attached_fds(void **state)
{
	const unsigned counts[] = { 1, 3, 8, 9, 40 };

	for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
		lrpc__framer f;
		int before, pair[2];

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
		before = count_fds();
		put_record_with_fds(pair[0], counts[k]);
		lrpc__framer_init(&f, 1024, LRPC__MSG_REQUEST);
		assert_int_equal(lrpc__framer_fill(&f, pair[1]), -EBADMSG);
		assert_int_equal(count_fds(), before);
		lrpc__framer_done(&f);
		close(pair[0]);
		close(pair[1]);
	}
}

/* A 32-byte request declaring @decl fds, sent with @n_fds attached. */
static void
put_declaring(int fd, unsigned decl, unsigned n_fds)
{
	uint8_t rec[32] = { 0 };
	lrpc_msg_header *h = (lrpc_msg_header *)rec;
	int fds[8];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(fds))];
	} ctl;
	struct iovec iov = { .iov_base = rec, .iov_len = sizeof(rec) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	h->size = sizeof(rec);
	h->flags = LRPC__MSG_REQUEST | decl << LRPC__MSG_FDS_SHIFT;
	for (unsigned i = 0; i < n_fds; i++)
		fds[i] = dup(0);
	if (n_fds)
		lrpc__cmsg_put_fds(&mh, ctl.buf, fds, n_fds);
	assert_int_equal(sendmsg(fd, &mh, 0), (ssize_t)sizeof(rec));
	for (unsigned i = 0; i < n_fds; i++)
		close(fds[i]);
}

/*
 * With fd passing negotiated: records with and without fds, several per
 * read, each gets exactly the fds sent with its first byte; fds not taken
 * are closed as each record is consumed.  Fds sent with a record declaring
 * none, next to one that declares some but came without, break the stream.
 */
static void
test_framer_pairs_fds_with_records(void **state)
{
	static const unsigned decl[] = { 0, 2, 0, 1, 3 };
	lrpc__framer f;
	const lrpc_msg_header *m;
	unsigned held = 0;
	int before, pair[2];
	size_t size;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
	before = count_fds();
	for (size_t k = 0; k < sizeof(decl) / sizeof(decl[0]); k++)
		put_declaring(pair[0], decl[k], decl[k]);
	lrpc__framer_init(&f, 1024, LRPC__MSG_REQUEST);
	lrpc__framer_set_fds(&f, 4, 16, &held);
	for (size_t k = 0; k < sizeof(decl) / sizeof(decl[0]); k++) {
		int r;
		while ((r = lrpc__framer_peek(&f, &m, &size)) == 0)
			assert_true(lrpc__framer_fill(&f, pair[1]) > 0);
		assert_int_equal(r, 1);
		assert_int_equal(f.cur_fds.n, decl[k]);
		if (decl[k]) {
			int fd = lrpc__msg_fds_take(&f.cur_fds, 0, &held);
			assert_true(fd >= 0);
			close(fd);
		}
		lrpc__framer_consume(&f);
	}
	assert_int_equal(held, 0);
	assert_int_equal(count_fds(), before);
	/* Declared but none came, then one came with a record declaring
	 * none: one read brings both. */
	put_declaring(pair[0], 1, 0);
	put_declaring(pair[0], 0, 1);
	assert_int_equal(lrpc__framer_fill(&f, pair[1]), 64);
	assert_int_equal(lrpc__framer_peek(&f, &m, &size), -EBADMSG);
	lrpc__framer_done(&f);
	assert_int_equal(held, 0);
	assert_int_equal(count_fds(), before);
	close(pair[0]);
	close(pair[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_framer_reassembles_byte_by_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_framer_two_records_one_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_framer_rejects_bad_sizes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_framer_rejects_wrong_kind_and_flags, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_framer_grows_for_large_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_framer_eof_is_connreset,
						setup, teardown),
		cmocka_unit_test(test_framer_refuses_attached_fds),
		cmocka_unit_test(test_framer_pairs_fds_with_records),
	};
	return cmocka_run_group_tests_name("framer", tests, NULL, NULL);
}
