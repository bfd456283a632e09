/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The table-driven codec against hand-written descriptors: round trips,
 * evolution in both directions, and hostile input (HARDENING A6-A12): every
 * bad message must end in a clean -EBADMSG, never a crash or an allocation
 * sized by the attacker.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <stdatomic.h>
#include <pthread.h>
#include <cmocka.h>

#include <lrpc/rpc.h>

#include "rpc/rpc-wire.h"

#define T(k, ctype)                                                         \
	{ .kind = k, .size = sizeof(ctype), .align = _Alignof(ctype) }

static const lrpc_rpc_type t_bool = T(LRPC_RPC_BOOL, bool);
static const lrpc_rpc_type t_u8 = T(LRPC_RPC_U8, uint8_t);
static const lrpc_rpc_type t_i16 = T(LRPC_RPC_I16, int16_t);
static const lrpc_rpc_type t_u32 = T(LRPC_RPC_U32, uint32_t);
static const lrpc_rpc_type t_i64 = T(LRPC_RPC_I64, int64_t);
static const lrpc_rpc_type t_f64 = T(LRPC_RPC_F64, double);
static const lrpc_rpc_type t_string = T(LRPC_RPC_STRING, const char *);
static const lrpc_rpc_type t_string8 = { .kind = LRPC_RPC_STRING,
					 .size = sizeof(char *),
					 .align = _Alignof(char *),
					 .max = 8 };
static const lrpc_rpc_type t_u32_list = { .kind = LRPC_RPC_LIST,
					  .size = sizeof(lrpc_list),
					  .align = _Alignof(lrpc_list),
					  .inner = &t_u32 };
static const lrpc_rpc_type t_u32_list4 = { .kind = LRPC_RPC_LIST,
					   .size = sizeof(lrpc_list),
					   .align = _Alignof(lrpc_list),
					   .max = 4,
					   .inner = &t_u32 };
static const lrpc_rpc_type t_opt_string = { .kind = LRPC_RPC_OPTIONAL,
					    .size = sizeof(void *),
					    .align = _Alignof(void *),
					    .inner = &t_string };
static const lrpc_rpc_type t_opt_u32 = { .kind = LRPC_RPC_OPTIONAL,
					 .size = sizeof(void *),
					 .align = _Alignof(void *),
					 .inner = &t_u32 };
static const int64_t color_values[] = { -1, 2, 7 };
static const lrpc_rpc_type t_color = { .kind = LRPC_RPC_ENUM,
				       .size = 2,
				       .align = 2,
				       .inner = &t_i16,
				       .values = color_values,
				       .n_values = 3 };
static const lrpc_rpc_type t_map = { .kind = LRPC_RPC_MAP,
				     .size = sizeof(lrpc_map),
				     .align = _Alignof(lrpc_map),
				     .inner = &t_string,
				     .value = &t_u32 };

/* A struct at version 2: fields travel in (since, ordinal) order. */
struct rec2 {
	uint32_t a;
	const char *b;
	int64_t c; /* since 2 */
};
static const lrpc_rpc_field rec2_fields[] = {
	{ &t_u32, offsetof(struct rec2, a), 0, 1, "a" },
	{ &t_string, offsetof(struct rec2, b), 1, 1, "b" },
	{ &t_i64, offsetof(struct rec2, c), 2, 2, "c" },
};
static const lrpc_rpc_type t_rec2 = { .kind = LRPC_RPC_STRUCT,
				      .size = sizeof(struct rec2),
				      .align = _Alignof(struct rec2),
				      .fields = rec2_fields,
				      .n_fields = 3 };
/* The same struct as a version-1 peer knows it. */
struct rec1 {
	uint32_t a;
	const char *b;
};
static const lrpc_rpc_type t_rec1 = { .kind = LRPC_RPC_STRUCT,
				      .size = sizeof(struct rec1),
				      .align = _Alignof(struct rec1),
				      .fields = rec2_fields,
				      .n_fields = 2 };

struct shape {
	uint32_t tag;
	union {
		double circle;
		const char *label;
	} u;
};
static const lrpc_rpc_field shape_cases[] = {
	{ &t_f64, 0, 1, 1, "circle" },
	{ &t_string, 0, 9, 1, "label" },
};
static const lrpc_rpc_type t_shape = { .kind = LRPC_RPC_UNION,
				       .size = sizeof(struct shape),
				       .align = _Alignof(struct shape),
				       .inner = &t_u8,
				       .fields = shape_cases,
				       .n_fields = 2,
				       .value_offset =
					       offsetof(struct shape, u) };

static uint8_t arena_buf[8192];
static lrpc_arena arena;

static int
setup(void **state)
{
	lrpc_arena_init(&arena, arena_buf, sizeof(arena_buf), 1 << 20);
	return 0;
}

static int
teardown(void **state)
{
	lrpc_arena_done(&arena);
	return 0;
}

static int
dec(const lrpc_rpc_type *t, const void *data, size_t size, void *out)
{
	lrpc_arena_reset(&arena);
	return lrpc_rpc_decode(t, data, size, out, &arena);
}

/* The size out-parameter of encodes expected to fail. */
static size_t unused;

static size_t
enc(const lrpc_rpc_type *t, const void *v, uint8_t *buf, size_t cap)
{
	size_t n = SIZE_MAX;
	assert_int_equal(lrpc_rpc_encode(t, v, buf, cap, &n), 0);
	assert_true(n <= cap);
	return n;
}

static void
test_rpc_codec_roundtrip_struct(void **state)
{
	struct rec2 in = { .a = 7, .b = "héllo", .c = -5 }, out;
	uint8_t buf[64];
	size_t n = enc(&t_rec2, &in, buf, sizeof(buf));

	/* u32 body size, u16 count, u32, u32 len + 6 bytes, i64 */
	assert_int_equal(n, 4 + 2 + 4 + 4 + 6 + 8);
	assert_int_equal(dec(&t_rec2, buf, n, &out), 0);
	assert_int_equal(out.a, 7);
	assert_string_equal(out.b, "héllo");
	assert_int_equal(out.c, -5);
	/* Measuring: NULL buffer gives the size. */
	size_t measured = 0;
	assert_int_equal(lrpc_rpc_encode(&t_rec2, &in, NULL, 0, &measured), 0);
	assert_int_equal(measured, n);
}

static void
test_rpc_codec_newer_peer_fields_skipped(void **state)
{
	struct rec2 in = { .a = 1, .b = "x", .c = 99 };
	struct rec1 out;
	uint8_t buf[64];
	size_t n = enc(&t_rec2, &in, buf, sizeof(buf));

	assert_int_equal(dec(&t_rec1, buf, n, &out), 0);
	assert_int_equal(out.a, 1);
	assert_string_equal(out.b, "x");
}

static void
test_rpc_codec_older_peer_fields_default(void **state)
{
	struct rec1 in = { .a = 3, .b = "y" };
	struct rec2 out;
	uint8_t buf[64];
	size_t n = enc(&t_rec1, &in, buf, sizeof(buf));

	memset(&out, 0xff, sizeof(out));
	assert_int_equal(dec(&t_rec2, buf, n, &out), 0);
	assert_int_equal(out.a, 3);
	assert_string_equal(out.b, "y");
	assert_int_equal(out.c, 0);
}

static void
test_rpc_codec_truncated_ebadmsg(void **state)
{
	struct rec2 in = { .a = 7, .b = "hello", .c = -5 }, out;
	uint8_t buf[64];
	size_t n = enc(&t_rec2, &in, buf, sizeof(buf));

	for (size_t k = 0; k < n; k++)
		assert_int_equal(dec(&t_rec2, buf, k, &out), -EBADMSG);
}

static void
test_rpc_codec_trailing_garbage_ebadmsg(void **state)
{
	uint8_t buf[8] = { 5, 0, 0, 0, 0xaa };
	uint32_t v;

	assert_int_equal(dec(&t_u32, buf, 4, &v), 0);
	assert_int_equal(v, 5);
	assert_int_equal(dec(&t_u32, buf, 5, &v), -EBADMSG);
	/* Inside a struct that says it has all our fields, too. */
	struct rec1 in = { .a = 1, .b = "" }, out;
	uint8_t sbuf[32];
	size_t n = enc(&t_rec1, &in, sbuf, sizeof(sbuf));
	sbuf[0]++; /* body one byte longer */
	sbuf[n] = 0;
	assert_int_equal(dec(&t_rec1, sbuf, n + 1, &out), -EBADMSG);
}

static void
test_rpc_codec_string_length_overflow_ebadmsg(void **state)
{
	uint8_t buf[8] = { 0xff, 0xff, 0xff, 0xff, 'a', 'b' };
	const char *s;

	assert_int_equal(dec(&t_string, buf, 6, &s), -EBADMSG);
	buf[0] = 3; buf[1] = buf[2] = buf[3] = 0;
	assert_int_equal(dec(&t_string, buf, 6, &s), -EBADMSG);
	buf[0] = 2;
	assert_int_equal(dec(&t_string, buf, 6, &s), 0);
	assert_string_equal(s, "ab");
}

static void
test_rpc_codec_invalid_utf8_ebadmsg(void **state)
{
	static const char *bad[] = {
		"\xff", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
		"\xf4\x90\x80\x80", "\xc3", "a\xe2\x82",
	};
	uint8_t buf[16];
	const char *s;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t len = (uint32_t)strlen(bad[i]);
		memcpy(buf, &len, 4);
		memcpy(buf + 4, bad[i], len);
		assert_int_equal(dec(&t_string, buf, 4 + len, &s), -EBADMSG);
		/* And the encoder refuses it. */
		assert_int_equal(lrpc_rpc_encode(&t_string, &bad[i], buf,
						 sizeof(buf), &unused),
				 -EINVAL);
	}
	/* An embedded NUL cannot become a C string. */
	uint8_t nul[] = { 3, 0, 0, 0, 'a', 0, 'b' };
	assert_int_equal(dec(&t_string, nul, sizeof(nul), &s), -EBADMSG);
	/* 4-byte sequences are fine. */
	uint8_t ok[] = { 4, 0, 0, 0, 0xf0, 0x9f, 0x98, 0x80 };
	assert_int_equal(dec(&t_string, ok, sizeof(ok), &s), 0);
}

static void
test_rpc_codec_max_enforced(void **state)
{
	uint8_t buf[32] = { 9, 0, 0, 0, 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a' };
	const char *s = "aaaaaaaaa";
	lrpc_list l;
	uint32_t items[5] = { 1, 2, 3, 4, 5 };

	assert_int_equal(dec(&t_string8, buf, 13, &s), -EBADMSG);
	s = "aaaaaaaaa";
	assert_int_equal(lrpc_rpc_encode(&t_string8, &s, buf, sizeof(buf), &unused),
			 -EINVAL);
	l = (lrpc_list){ .items = items, .count = 5 };
	assert_int_equal(lrpc_rpc_encode(&t_u32_list4, &l, buf, sizeof(buf), &unused),
			 -EINVAL);
	l.count = 4;
	size_t n = enc(&t_u32_list4, &l, buf, sizeof(buf));
	assert_int_equal(dec(&t_u32_list4, buf, n, &l), 0);
	assert_int_equal(l.count, 4);
	buf[0] = 5;
	assert_int_equal(dec(&t_u32_list4, buf, n, &l), -EBADMSG);
}

static void
test_rpc_codec_enum_out_of_range_ebadmsg(void **state)
{
	uint8_t buf[2];
	int16_t v;

	int16_t good[] = { -1, 2, 7 }, bad[] = { 0, 1, 3, 8, -2 };
	for (size_t i = 0; i < 3; i++) {
		memcpy(buf, &good[i], 2);
		assert_int_equal(dec(&t_color, buf, 2, &v), 0);
		assert_int_equal(v, good[i]);
	}
	for (size_t i = 0; i < 5; i++) {
		memcpy(buf, &bad[i], 2);
		assert_int_equal(dec(&t_color, buf, 2, &v), -EBADMSG);
		assert_int_equal(lrpc_rpc_encode(&t_color, &bad[i], buf, 2, &unused),
				 -EINVAL);
	}
}

static void
test_rpc_codec_union_unknown_tag_ebadmsg(void **state)
{
	struct shape in = { .tag = 9, .u.label = "hi" }, out;
	uint8_t buf[32];
	size_t n = enc(&t_shape, &in, buf, sizeof(buf));

	assert_int_equal(dec(&t_shape, buf, n, &out), 0);
	assert_int_equal(out.tag, 9);
	assert_string_equal(out.u.label, "hi");
	buf[0] = 2;
	assert_int_equal(dec(&t_shape, buf, n, &out), -EBADMSG);
	in.tag = 3;
	assert_int_equal(lrpc_rpc_encode(&t_shape, &in, buf, sizeof(buf), &unused),
			 -EINVAL);
}

static void
test_rpc_codec_bool_two_ebadmsg(void **state)
{
	uint8_t buf[1] = { 2 };
	bool b;

	assert_int_equal(dec(&t_bool, buf, 1, &b), -EBADMSG);
	buf[0] = 1;
	assert_int_equal(dec(&t_bool, buf, 1, &b), 0);
	assert_true(b);
	/* Optional presence bytes are booleans too. */
	uint8_t opt[] = { 2, 1, 0, 0, 0 };
	uint32_t *p;
	assert_int_equal(dec(&t_opt_u32, opt, sizeof(opt), &p), -EBADMSG);
	opt[0] = 1;
	assert_int_equal(dec(&t_opt_u32, opt, sizeof(opt), &p), 0);
	assert_int_equal(*p, 1);
}

static void
test_rpc_codec_optional(void **state)
{
	const char *s = "abc", *out = (const char *)1;
	uint8_t buf[16];
	size_t n = enc(&t_opt_string, &s, buf, sizeof(buf));

	assert_int_equal(dec(&t_opt_string, buf, n, &out), 0);
	assert_string_equal(out, "abc");
	s = NULL;
	n = enc(&t_opt_string, &s, buf, sizeof(buf));
	assert_int_equal(n, 1);
	assert_int_equal(dec(&t_opt_string, buf, n, &out), 0);
	assert_null(out);
}

static void
test_rpc_codec_count_overflow_ebadmsg(void **state)
{
	/* 2^32-1 elements of 4 bytes: would be 16 GiB; must be refused
	 * before any allocation, from the bytes actually present. */
	uint8_t buf[12] = { 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0 };
	lrpc_list l;
	lrpc_map m;

	lrpc_arena_init(&arena, NULL, 0, 0); /* any allocation fails */
	assert_int_equal(lrpc_rpc_decode(&t_u32_list, buf, sizeof(buf), &l,
					 &arena),
			 -EBADMSG);
	assert_int_equal(lrpc_rpc_decode(&t_map, buf, sizeof(buf), &m, &arena),
			 -EBADMSG);
	buf[0] = 3; buf[1] = buf[2] = buf[3] = 0;
	assert_int_equal(lrpc_rpc_decode(&t_u32_list, buf, sizeof(buf), &l,
					 &arena),
			 -EBADMSG);
	/* Two elements fit on the wire, but not in an arena that may not
	 * grow: a clean -ENOBUFS. */
	buf[0] = 2;
	assert_int_equal(lrpc_rpc_decode(&t_u32_list, buf, sizeof(buf), &l,
					 &arena),
			 -ENOBUFS);
	lrpc_arena_init(&arena, arena_buf, sizeof(arena_buf), 1 << 20);
	assert_int_equal(dec(&t_u32_list, buf, sizeof(buf), &l), 0);
	assert_int_equal(l.count, 2);
}

static void
test_rpc_codec_map_roundtrip(void **state)
{
	const char *keys[] = { "a", "bb" };
	uint32_t values[] = { 1, 2 };
	lrpc_map in = { .keys = keys, .values = values, .count = 2 }, out;
	uint8_t buf[64];
	size_t n = enc(&t_map, &in, buf, sizeof(buf));

	assert_int_equal(dec(&t_map, buf, n, &out), 0);
	assert_int_equal(out.count, 2);
	assert_string_equal(((const char *const *)out.keys)[1], "bb");
	assert_int_equal(((const uint32_t *)out.values)[1], 2);
}

/* A chain of lists 40 deep, built at run time: deeper than the limit. */
static void
test_rpc_codec_depth_limit_ebadmsg(void **state)
{
	enum { DEPTH = 40 };
	lrpc_rpc_type chain[DEPTH + 1];
	uint8_t buf[4 * (DEPTH + 1)];
	lrpc_list out;

	chain[0] = t_u8;
	for (int i = 1; i <= DEPTH; i++)
		chain[i] = (lrpc_rpc_type){ .kind = LRPC_RPC_LIST,
					    .size = sizeof(lrpc_list),
					    .align = _Alignof(lrpc_list),
					    .inner = &chain[i - 1] };
	/* Every level holds one element; the innermost list is empty. */
	for (int i = 0; i < DEPTH; i++) {
		uint32_t one = i == DEPTH - 1 ? 0 : 1;
		memcpy(buf + 4 * i, &one, 4);
	}
	assert_int_equal(dec(&chain[DEPTH], buf, 4 * DEPTH, &out), -EBADMSG);
	/* The same shape within the limit decodes. */
	for (int i = 0; i < 20; i++) {
		uint32_t one = i == 19 ? 0 : 1;
		memcpy(buf + 4 * i, &one, 4);
	}
	assert_int_equal(dec(&chain[20], buf, 4 * 20, &out), 0);
}

static void
test_rpc_codec_struct_body_lies_ebadmsg(void **state)
{
	/* Body size beyond the message, below the count, and a count of
	 * more fields than the body holds. */
	uint8_t a[] = { 0xff, 0xff, 0xff, 0x7f, 2, 0 };
	uint8_t b[] = { 1, 0, 0, 0, 2 };
	uint8_t c[] = { 6, 0, 0, 0, 2, 0, 1, 0, 0, 0 };
	struct rec1 out;

	assert_int_equal(dec(&t_rec1, a, sizeof(a), &out), -EBADMSG);
	assert_int_equal(dec(&t_rec1, b, sizeof(b), &out), -EBADMSG);
	assert_int_equal(dec(&t_rec1, c, sizeof(c), &out), -EBADMSG);
}

static void
test_rpc_codec_arena_growth(void **state)
{
	lrpc_arena a;
	uint8_t small[64];
	void *p, *q;

	lrpc_arena_init(&a, small, sizeof(small), 0);
	assert_int_equal(lrpc_arena_alloc(&a, 48, 8, &p), 0);
	assert_ptr_equal(p, small);
	assert_int_equal(lrpc_arena_alloc(&a, 48, 8, &q), -ENOBUFS);
	lrpc_arena_init(&a, small, sizeof(small), LRPC_ARENA_UNLIMITED);
	assert_int_equal(lrpc_arena_alloc(&a, 48, 8, &p), 0);
	assert_int_equal(lrpc_arena_alloc(&a, 100000, 16, &q), 0);
	assert_int_equal((uintptr_t)q % 16, 0);
	memset(q, 1, 100000);
	assert_int_equal(lrpc_arena_alloc(&a, 1, 3, &q), -EINVAL);
	lrpc_arena_reset(&a);
	assert_int_equal(lrpc_arena_get_used(&a), 0);
	lrpc_arena_done(&a);
}

static void
test_rpc_codec_utf8(void **state)
{
	assert_true(lrpc__utf8_valid((const uint8_t *)"", 0));
	assert_true(lrpc__utf8_valid((const uint8_t *)"\xf4\x8f\xbf\xbf", 4));
	assert_false(lrpc__utf8_valid((const uint8_t *)"\x80", 1));
	assert_false(lrpc__utf8_valid((const uint8_t *)"\xf8\x88\x80\x80\x80", 5));
}

/*
 * A client decodes replies and events where they lie in the shm ring, which
 * the server can still write.  A string must be checked in the copy that is
 * kept, not where it lies: with a thread flipping the bytes between valid
 * and invalid UTF-8, every string that decodes is valid (and has no NUL).
 */
struct flipper {
	volatile uint8_t *bytes;
	size_t n;
	atomic_bool stop;
};

static void *
flip_run(void *arg)
{
	struct flipper *f = arg;

	while (!atomic_load(&f->stop))
		for (size_t i = 0; i < f->n; i++)
			f->bytes[i] = f->bytes[i] == 'a' ? 0xff : 'a';
	return NULL;
}

static void
test_rpc_codec_string_checked_in_the_copy(void **state)
{
	uint8_t buf[4 + 64];
	struct flipper f = { .bytes = buf + 4, .n = 64 };
	uint64_t bad = 0, ok = 0;
	pthread_t th;
	uint32_t len = 64;

	memcpy(buf, &len, 4);
	memset(buf + 4, 'a', 64);
	assert_int_equal(pthread_create(&th, NULL, flip_run, &f), 0);
	uint64_t end = 0;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	end = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + 300;
	for (;;) {
		uint8_t abuf[256];
		lrpc_arena ar;
		const char *out = NULL;

		lrpc_arena_init(&ar, abuf, sizeof(abuf), 0);
		if (lrpc_rpc_decode(&t_string, buf, sizeof(buf), &out,
				    &ar) == 0) {
			ok++;
			if (!lrpc__utf8_valid((const uint8_t *)out,
					      strlen(out)) ||
			    strlen(out) != 64)
				bad++;
		}
		lrpc_arena_done(&ar);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		if ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 >
		    end)
			break;
	}
	atomic_store(&f.stop, true);
	pthread_join(th, NULL);
	print_message("%llu strings decoded, %llu of them invalid\n",
		      (unsigned long long)ok, (unsigned long long)bad);
	assert_int_equal(bad, 0);
}

/*
 * IDL fds: an index into the message's fds, in the order met; -1 is "no
 * fd".  The public decoder has no fds to index, so any index is -EBADMSG,
 * and what decodes (-1) encodes again.
 */
static const lrpc_rpc_type t_fd = T(LRPC_RPC_FD, int);
static const lrpc_rpc_type t_fd_list = { .kind = LRPC_RPC_LIST,
					 .size = sizeof(lrpc_list),
					 .align = _Alignof(lrpc_list),
					 .inner = &t_fd };

static void
test_rpc_codec_fd_indexes(void **state)
{
	const int fds[3] = { 7, -1, 9 };
	lrpc_list l = { .items = fds, .count = 3 };
	uint8_t buf[64], ab[256];
	uint32_t idx[3];
	lrpc_arena a;
	lrpc_list out;
	size_t size;
	int one, bad = -2;

	assert_int_equal(lrpc_rpc_encode(&t_fd_list, &l, buf, sizeof(buf),
					 &size),
			 0);
	assert_int_equal(size, 4 + 3 * 4);
	memcpy(idx, buf + 4, sizeof(idx));
	assert_int_equal(idx[0], 0);
	assert_int_equal(idx[1], UINT32_MAX);
	assert_int_equal(idx[2], 1);
	assert_int_equal(lrpc_rpc_encode(&t_fd, &bad, buf, sizeof(buf), &size),
			 -EINVAL);
	lrpc_arena_init(&a, ab, sizeof(ab), 0);
	/* No fds came with these bytes: index 0 is out of range. */
	assert_int_equal(lrpc_rpc_decode(&t_fd_list, buf, 16, &out, &a),
			 -EBADMSG);
	/* "No fd" decodes to -1. */
	memset(buf, 0xff, 4);
	assert_int_equal(lrpc_rpc_decode(&t_fd, buf, 4, &one, &a), 0);
	assert_int_equal(one, -1);
	assert_int_equal(lrpc_arena_take_fd(&a, &one), -EBADF);
	lrpc_arena_done(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rpc_codec_roundtrip_struct),
		cmocka_unit_test(test_rpc_codec_newer_peer_fields_skipped),
		cmocka_unit_test(test_rpc_codec_older_peer_fields_default),
		cmocka_unit_test(test_rpc_codec_truncated_ebadmsg),
		cmocka_unit_test(test_rpc_codec_trailing_garbage_ebadmsg),
		cmocka_unit_test(test_rpc_codec_string_length_overflow_ebadmsg),
		cmocka_unit_test(test_rpc_codec_string_checked_in_the_copy),
		cmocka_unit_test(test_rpc_codec_invalid_utf8_ebadmsg),
		cmocka_unit_test(test_rpc_codec_max_enforced),
		cmocka_unit_test(test_rpc_codec_enum_out_of_range_ebadmsg),
		cmocka_unit_test(test_rpc_codec_union_unknown_tag_ebadmsg),
		cmocka_unit_test(test_rpc_codec_bool_two_ebadmsg),
		cmocka_unit_test(test_rpc_codec_optional),
		cmocka_unit_test(test_rpc_codec_count_overflow_ebadmsg),
		cmocka_unit_test(test_rpc_codec_map_roundtrip),
		cmocka_unit_test(test_rpc_codec_depth_limit_ebadmsg),
		cmocka_unit_test(test_rpc_codec_struct_body_lies_ebadmsg),
		cmocka_unit_test(test_rpc_codec_arena_growth),
		cmocka_unit_test(test_rpc_codec_utf8),
		cmocka_unit_test(test_rpc_codec_fd_indexes),
	};
	return cmocka_run_group_tests_name("rpc-codec", tests, setup,
					   teardown);
}
