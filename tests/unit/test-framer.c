/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The stream framer: reassembly, validation and bounded buffering. */
#include <errno.h>
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
	};
	return cmocka_run_group_tests_name("framer", tests, NULL, NULL);
}
