/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Every rule of the codec, one table row each: the errno and the detail
 * text (field path and rule) of each kind of failure for each kind of
 * type, in both directions.  A row's value sits in a one-field struct whose
 * field is called "x", so every text starts with the path from there.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <lrpc/rpc.h>

#include "rpc/rpc-wire.h"

#define T(k, ctype)                                                         \
	{ .kind = k, .size = sizeof(ctype), .align = _Alignof(ctype) }
#define TM(k, ctype, m, in)                                                 \
	{ .kind = k, .size = sizeof(ctype), .align = _Alignof(ctype),       \
	  .max = m, .inner = in }

static const lrpc_rpc_type t_bool = T(LRPC_RPC_BOOL, bool);
static const lrpc_rpc_type t_u8 = T(LRPC_RPC_U8, uint8_t);
static const lrpc_rpc_type t_i16 = T(LRPC_RPC_I16, int16_t);
static const lrpc_rpc_type t_u16 = T(LRPC_RPC_U16, uint16_t);
static const lrpc_rpc_type t_u32 = T(LRPC_RPC_U32, uint32_t);
static const lrpc_rpc_type t_i64 = T(LRPC_RPC_I64, int64_t);
static const lrpc_rpc_type t_f64 = T(LRPC_RPC_F64, double);
static const lrpc_rpc_type t_string = T(LRPC_RPC_STRING, const char *);
static const lrpc_rpc_type t_string8 =
	TM(LRPC_RPC_STRING, const char *, 8, NULL);
static const lrpc_rpc_type t_bytes4 = TM(LRPC_RPC_BYTES, lrpc_bytes, 4, NULL);
static const lrpc_rpc_type t_list = TM(LRPC_RPC_LIST, lrpc_list, 0, &t_u32);
static const lrpc_rpc_type t_list4 = TM(LRPC_RPC_LIST, lrpc_list, 4, &t_u32);
static const lrpc_rpc_type t_quad = TM(LRPC_RPC_ARRAY, uint8_t[4], 4, &t_u8);
static const lrpc_rpc_type t_opt_u32 =
	TM(LRPC_RPC_OPTIONAL, void *, 0, &t_u32);
static const lrpc_rpc_type t_opt_string =
	TM(LRPC_RPC_OPTIONAL, void *, 0, &t_string);
static const int64_t color_values[] = { -1, 2, 7 };
static const lrpc_rpc_type t_color = { .kind = LRPC_RPC_ENUM,
				       .size = 2,
				       .align = 2,
				       .inner = &t_i16,
				       .values = color_values,
				       .n_values = 3,
				       .name = "rt.Color" };
static const lrpc_rpc_type t_colors = TM(LRPC_RPC_LIST, lrpc_list, 0,
					 &t_color);
static const lrpc_rpc_type t_color2 = TM(LRPC_RPC_ARRAY, int16_t[2], 2,
					 &t_color);
static const lrpc_rpc_type t_opt_color =
	TM(LRPC_RPC_OPTIONAL, void *, 0, &t_color);
static const lrpc_rpc_type t_map2 = { .kind = LRPC_RPC_MAP,
				      .size = sizeof(lrpc_map),
				      .align = _Alignof(lrpc_map),
				      .max = 2,
				      .inner = &t_string,
				      .value = &t_u32 };
static const lrpc_rpc_type t_map_color = { .kind = LRPC_RPC_MAP,
					   .size = sizeof(lrpc_map),
					   .align = _Alignof(lrpc_map),
					   .inner = &t_string,
					   .value = &t_color };

struct choice {
	uint32_t tag;
	union {
		int64_t num;
		const char *text;
	} u;
};
static const lrpc_rpc_field choice_cases[] = {
	{ &t_i64, 0, 1, 1, "num" },
	{ &t_string, 0, 2, 1, "text" },
};
static const lrpc_rpc_type t_choice = { .kind = LRPC_RPC_UNION,
					.size = sizeof(struct choice),
					.align = _Alignof(struct choice),
					.inner = &t_u16,
					.fields = choice_cases,
					.n_fields = 2,
					.value_offset =
						offsetof(struct choice, u),
					.name = "rt.Choice" };

/* struct Rec { Color kind @0; } and struct Pair { u32 a @0; u32 b @1; } */
static const lrpc_rpc_field rec_fields[] = {
	{ &t_color, 0, 0, 1, "kind" },
};
static const lrpc_rpc_type t_rec = { .kind = LRPC_RPC_STRUCT,
				     .size = 2,
				     .align = 2,
				     .fields = rec_fields,
				     .n_fields = 1,
				     .name = "rt.Rec" };
static const lrpc_rpc_type t_recs = TM(LRPC_RPC_LIST, lrpc_list, 0, &t_rec);
static const lrpc_rpc_field pair_fields[] = {
	{ &t_u32, 0, 0, 1, "a" },
	{ &t_u32, 4, 1, 1, "b" },
};
static const lrpc_rpc_type t_pair = { .kind = LRPC_RPC_STRUCT,
				      .size = 8,
				      .align = 4,
				      .fields = pair_fields,
				      .n_fields = 2,
				      .name = "rt.Pair" };

/* Wire bytes as a string literal: its length without the final NUL. */
#define W(s) .wire = (const uint8_t *)(s), .wire_len = sizeof(s) - 1

struct decode_row {
	const char *rule;
	const lrpc_rpc_type *type;
	const uint8_t *wire;
	size_t wire_len;
	int code;
	const char *text;
};

static const struct decode_row decode_rows[] = {
	{ "bool not 0/1", &t_bool, W("\x02"), -EBADMSG,
	  "x: bool byte 2 is not 0 or 1" },
	{ "bool truncated", &t_bool, W(""), -EBADMSG,
	  "x: truncated (needs 1 byte, 0 left)" },
	{ "u32 truncated", &t_u32, W("\x01\x02\x03"), -EBADMSG,
	  "x: truncated (needs 4 bytes, 3 left)" },
	{ "f64 truncated", &t_f64, W("\x01\x02\x03"), -EBADMSG,
	  "x: truncated (needs 8 bytes, 3 left)" },
	{ "enum value unknown", &t_color, W("\x05\x00"), -EBADMSG,
	  "x: 5 is not a value of rt.Color" },
	{ "enum negative value unknown", &t_color, W("\xfe\xff"), -EBADMSG,
	  "x: -2 is not a value of rt.Color" },
	{ "enum truncated", &t_color, W("\x02"), -EBADMSG,
	  "x: truncated (needs 2 bytes, 1 left)" },
	{ "union tag unknown", &t_choice, W("\x09\x00"), -EBADMSG,
	  "x: union tag 9 is not a case of rt.Choice" },
	{ "union tag truncated", &t_choice, W("\x01"), -EBADMSG,
	  "x: truncated (needs 2 bytes, 1 left)" },
	{ "union case invalid", &t_choice, W("\x02\x00\x02\0\0\0a\xff"),
	  -EBADMSG, "x.text: invalid UTF-8 at byte 1" },
	{ "string invalid UTF-8", &t_string, W("\x03\0\0\0a\xff" "b"),
	  -EBADMSG, "x: invalid UTF-8 at byte 1" },
	{ "string overlong UTF-8", &t_string, W("\x04\0\0\0ab\xc0\x80"),
	  -EBADMSG, "x: invalid UTF-8 at byte 2" },
	{ "string NUL", &t_string, W("\x03\0\0\0a\0b"), -EBADMSG,
	  "x: NUL at byte 1" },
	{ "string over @max", &t_string8, W("\x09\0\0\0" "123456789"),
	  -EBADMSG, "x: 9 bytes, longer than @max(8)" },
	{ "string length truncated", &t_string, W("\x05\0\0"), -EBADMSG,
	  "x: truncated (needs 4 bytes, 3 left)" },
	{ "string truncated", &t_string, W("\x05\0\0\0ab"), -EBADMSG,
	  "x: truncated (needs 5 bytes, 2 left)" },
	{ "bytes over @max", &t_bytes4, W("\x05\0\0\0" "12345"), -EBADMSG,
	  "x: 5 bytes, longer than @max(4)" },
	{ "list over @max", &t_list4, W("\x05\0\0\0"), -EBADMSG,
	  "x: 5 elements, more than @max(4)" },
	{ "list count above the bytes", &t_list, W("\xe8\x03\0\0" "1234"),
	  -EBADMSG, "x: count 1000 cannot fit in the 4 bytes left" },
	{ "list element invalid", &t_colors,
	  W("\x03\0\0\0\x02\0\x07\0\x05\0"), -EBADMSG,
	  "x[2]: 5 is not a value of rt.Color" },
	{ "array wrong count", &t_quad, W("abc"), -EBADMSG,
	  "x[3]: truncated (needs 1 byte, 0 left)" },
	{ "map over @max", &t_map2, W("\x03\0\0\0"), -EBADMSG,
	  "x: 3 entries, more than @max(2)" },
	{ "map key invalid", &t_map2, W("\x01\0\0\0\x01\0\0\0\xff\0\0\0\0"),
	  -EBADMSG, "x[0].key: invalid UTF-8 at byte 0" },
	{ "map value truncated", &t_map2, W("\x01\0\0\0\x04\0\0\0abcd\0\0"),
	  -EBADMSG, "x[0].value: truncated (needs 4 bytes, 2 left)" },
	{ "map value invalid", &t_map_color,
	  W("\x01\0\0\0\x01\0\0\0k\x05\0"), -EBADMSG,
	  "x[0].value: 5 is not a value of rt.Color" },
	{ "optional presence not 0/1", &t_opt_u32, W("\x02"), -EBADMSG,
	  "x: presence byte 2 is not 0 or 1" },
	{ "optional value truncated", &t_opt_u32, W("\x01\x01"), -EBADMSG,
	  "x: truncated (needs 4 bytes, 1 left)" },
	{ "optional string invalid", &t_opt_string, W("\x01\x01\0\0\0\x80"),
	  -EBADMSG, "x: invalid UTF-8 at byte 0" },
	{ "nested struct field", &t_recs,
	  W("\x04\0\0\0"
	    "\x04\0\0\0\x01\0\x02\0"
	    "\x04\0\0\0\x01\0\x07\0"
	    "\x04\0\0\0\x01\0\xff\xff"
	    "\x04\0\0\0\x01\0\x05\0"),
	  -EBADMSG, "x[3].kind: 5 is not a value of rt.Color" },
	{ "struct body above the bytes", &t_pair, W("\x10\0\0\0\x02\0"),
	  -EBADMSG, "x: truncated (struct body of 16 bytes, 2 left)" },
	{ "struct count truncated", &t_pair, W("\x01\0\0\0\x02"), -EBADMSG,
	  "x: truncated (needs 2 bytes, 1 left)" },
	{ "struct field truncated", &t_pair, W("\x08\0\0\0\x02\0\x01\0\0\0ab"),
	  -EBADMSG, "x.b: truncated (needs 4 bytes, 2 left)" },
	{ "struct lacks a version-1 field", &t_pair,
	  W("\x06\0\0\0\x01\0\x01\0\0\0"), -EBADMSG,
	  "x: 1 of 2 fields: b (@since(1)) missing" },
	{ "struct trailing bytes", &t_pair,
	  W("\x0c\0\0\0\x02\0\x01\0\0\0\x02\0\0\0zz"), -EBADMSG,
	  "x: trailing 2 bytes in the struct body" },
};

/* struct Box { T x @0; } around the row's type, at offset 0. */
static void
box_init(lrpc_rpc_type *box, lrpc_rpc_field *f, const lrpc_rpc_type *t)
{
	*f = (lrpc_rpc_field){ t, 0, 0, 1, "x" };
	*box = (lrpc_rpc_type){ .kind = LRPC_RPC_STRUCT,
				.size = t->size,
				.align = t->align,
				.fields = f,
				.n_fields = 1,
				.name = "rt.Box" };
}

static void
test_rpc_codec_errors_decode(void **state)
{
	for (size_t i = 0; i < sizeof(decode_rows) / sizeof(decode_rows[0]);
	     i++) {
		const struct decode_row *row = &decode_rows[i];
		uint8_t msg[256], value[64];
		lrpc_rpc_field f;
		lrpc_rpc_type box;
		lrpc_arena arena;
		lrpc__codec_err e;
		uint32_t body = (uint32_t)row->wire_len + 2;

		print_message("decode: %s\n", row->rule);
		box_init(&box, &f, row->type);
		memcpy(msg, &body, 4);
		memcpy(msg + 4, "\x01\x00", 2);
		memcpy(msg + 6, row->wire, row->wire_len);
		lrpc__rd r = { .p = msg, .end = msg + 6 + row->wire_len };
		lrpc_arena_init(&arena, NULL, 0, LRPC_ARENA_UNLIMITED);
		memset(value, 0, sizeof(value));
		assert_int_equal(lrpc__rpc_decode(&r, &box, value, &arena, &e),
				 row->code);
		assert_string_equal(e.text, row->text);
		/* The public function agrees on the code. */
		assert_int_equal(lrpc_rpc_decode(&box, msg, 6 + row->wire_len,
						 value, &arena),
				 row->code);
		lrpc_arena_done(&arena);
	}
}

struct encode_row {
	const char *rule;
	const lrpc_rpc_type *type;
	const void *value;
	int code;
	const char *text;
};

static const uint16_t colors_bad[] = { 2, 5 };
static const char *const keys_bad[] = { "\xff" };
static const char *const keys_ok[] = { "k" };
static const uint32_t u32s[] = { 1, 2, 3, 4, 5 };
static const int16_t recs_bad[] = { 2, 7, -1, 5 };

static const struct encode_row encode_rows[] = {
	{ "enum value unknown", &t_color, &(const int16_t){ 5 }, -EINVAL,
	  "x: 5 is not a value of rt.Color" },
	{ "union tag unknown", &t_choice, &(const struct choice){ .tag = 9 },
	  -EINVAL, "x: union tag 9 is not a case of rt.Choice" },
	{ "union case invalid", &t_choice,
	  &(const struct choice){ .tag = 2, .u.text = "a\xff" }, -EINVAL,
	  "x.text: invalid UTF-8 at byte 1" },
	{ "string invalid UTF-8", &t_string, &(const char *){ "ab\xe2\x82" },
	  -EINVAL, "x: invalid UTF-8 at byte 2" },
	{ "string over @max", &t_string8, &(const char *){ "123456789" },
	  -EINVAL, "x: 9 bytes, longer than @max(8)" },
	{ "bytes over @max", &t_bytes4,
	  &(const lrpc_bytes){ (const uint8_t *)"12345", 5 }, -EINVAL,
	  "x: 5 bytes, longer than @max(4)" },
	{ "bytes NULL with a length", &t_bytes4, &(const lrpc_bytes){ NULL, 3 },
	  -EINVAL, "x: NULL data, length 3" },
	{ "list over @max", &t_list4, &(const lrpc_list){ u32s, 5 }, -EINVAL,
	  "x: 5 elements, more than @max(4)" },
	{ "list NULL with a count", &t_list, &(const lrpc_list){ NULL, 2 },
	  -EINVAL, "x: NULL items, count 2" },
	{ "list element invalid", &t_colors,
	  &(const lrpc_list){ colors_bad, 2 }, -EINVAL,
	  "x[1]: 5 is not a value of rt.Color" },
	{ "array element invalid", &t_color2, colors_bad, -EINVAL,
	  "x[1]: 5 is not a value of rt.Color" },
	{ "map over @max", &t_map2,
	  &(const lrpc_map){ keys_ok, u32s, 3 }, -EINVAL,
	  "x: 3 entries, more than @max(2)" },
	{ "map NULL with a count", &t_map2, &(const lrpc_map){ NULL, u32s, 1 },
	  -EINVAL, "x: NULL keys or values, count 1" },
	{ "map key invalid", &t_map2, &(const lrpc_map){ keys_bad, u32s, 1 },
	  -EINVAL, "x[0].key: invalid UTF-8 at byte 0" },
	{ "map value invalid", &t_map_color,
	  &(const lrpc_map){ keys_ok, &colors_bad[1], 1 }, -EINVAL,
	  "x[0].value: 5 is not a value of rt.Color" },
	{ "optional value invalid", &t_opt_color,
	  &(const int16_t *){ &(const int16_t){ 3 } }, -EINVAL,
	  "x: 3 is not a value of rt.Color" },
	{ "optional string invalid", &t_opt_string, &(const char *){ "\x80" },
	  -EINVAL, "x: invalid UTF-8 at byte 0" },
	{ "nested struct field", &t_recs, &(const lrpc_list){ recs_bad, 4 },
	  -EINVAL, "x[3].kind: 5 is not a value of rt.Color" },
};

static void
test_rpc_codec_errors_encode(void **state)
{
	for (size_t i = 0; i < sizeof(encode_rows) / sizeof(encode_rows[0]);
	     i++) {
		const struct encode_row *row = &encode_rows[i];
		uint8_t buf[256];
		lrpc_rpc_field f;
		lrpc_rpc_type box;
		lrpc__codec_err e;
		size_t size;

		print_message("encode: %s\n", row->rule);
		box_init(&box, &f, row->type);
		lrpc__wr w = { .buf = buf, .cap = sizeof(buf) };
		assert_int_equal(lrpc__rpc_encode(&w, &box, row->value, &e),
				 row->code);
		assert_string_equal(e.text, row->text);
		assert_int_equal(lrpc_rpc_encode(&box, row->value, buf,
						 sizeof(buf), &size),
				 row->code);
	}
}

/* A chain of @n lists around a u8, built at run time. */
static lrpc_rpc_type *
list_chain(lrpc_rpc_type *types, unsigned n)
{
	types[0] = (lrpc_rpc_type)T(LRPC_RPC_U8, uint8_t);
	for (unsigned i = 1; i <= n; i++)
		types[i] = (lrpc_rpc_type)TM(LRPC_RPC_LIST, lrpc_list, 0,
					     &types[i - 1]);
	return &types[n];
}

/* Nested one element deep at every level: depth 33 fails both ways, with
 * the path down to where it did. */
static void
test_rpc_codec_errors_depth(void **state)
{
	lrpc_rpc_type types[40];
	lrpc_list lists[40];
	uint8_t leaf = 1, buf[512];
	lrpc__codec_err e;
	lrpc_arena arena;
	char want[128];
	size_t size;
	int len = 0;

	lrpc_rpc_type *top = list_chain(types, 33);
	lists[0] = (lrpc_list){ &leaf, 1 };
	for (unsigned i = 1; i < 33; i++)
		lists[i] = (lrpc_list){ &lists[i - 1], 1 };
	/* 33 lists: the leaf is at depth 33. */
	lrpc__wr w = { .buf = buf, .cap = sizeof(buf) };
	assert_int_equal(lrpc__rpc_encode(&w, top, &lists[32], &e), -EINVAL);
	for (unsigned i = 0; i < 33; i++)
		len += snprintf(want + len, sizeof(want) - (size_t)len, "[0]");
	snprintf(want + len, sizeof(want) - (size_t)len, ": depth above 32");
	assert_string_equal(e.text, want);

	/* The same bytes, made with a limit-free chain of counts. */
	for (unsigned i = 0; i < 33; i++)
		memcpy(buf + 4 * i, "\x01\0\0\0", 4);
	buf[4 * 33] = 1;
	lrpc__rd r = { .p = buf, .end = buf + 4 * 33 + 1 };
	lrpc_arena_init(&arena, NULL, 0, LRPC_ARENA_UNLIMITED);
	assert_int_equal(lrpc__rpc_decode(&r, top, &lists[39], &arena, &e),
			 -EBADMSG);
	assert_string_equal(e.text, want);
	/* One level less is fine. */
	assert_int_equal(lrpc_rpc_encode(&types[32], &lists[31], buf,
					 sizeof(buf), &size),
			 0);
	assert_int_equal(lrpc_rpc_decode(&types[32], buf, size, &lists[39],
					 &arena),
			 0);
	lrpc_arena_done(&arena);
}

static void
test_rpc_codec_errors_trailing(void **state)
{
	lrpc__codec_err e;
	lrpc_arena arena;
	uint32_t v;

	lrpc__rd r = { .p = (const uint8_t *)"\x01\0\0\0abcd",
		       .end = (const uint8_t *)"\x01\0\0\0abcd" + 8 };
	lrpc_arena_init(&arena, NULL, 0, 0);
	assert_int_equal(lrpc__rpc_decode(&r, &t_u32, &v, &arena, &e),
			 -EBADMSG);
	assert_string_equal(e.text, "trailing 4 bytes");
	lrpc_arena_done(&arena);
}

/* The arena's errors keep their code and say so. */
static void
test_rpc_codec_errors_arena(void **state)
{
	static const uint8_t msg[] = "\x0a\0\0\0\x01\0\x04\0\0\0abcd";
	lrpc_rpc_field f;
	lrpc_rpc_type box;
	lrpc__codec_err e;
	lrpc_arena arena;
	const char *s;

	box_init(&box, &f, &t_string);
	lrpc__rd r = { .p = msg, .end = msg + sizeof(msg) - 1 };
	lrpc_arena_init(&arena, NULL, 0, 0);
	assert_int_equal(lrpc__rpc_decode(&r, &box, &s, &arena, &e), -ENOBUFS);
	assert_string_equal(e.text, "x: arena: no room for 5 bytes (limit "
				    "reached)");
	lrpc_arena_done(&arena);
}

/* Success leaves the detail alone: nothing is built on that path. */
static void
test_rpc_codec_errors_untouched_on_success(void **state)
{
	static const lrpc_list l = { u32s, 3 };
	lrpc__codec_err e, copy;
	uint8_t buf[64];
	lrpc_arena arena;
	lrpc_list back;

	memset(&e, 0xa5, sizeof(e));
	copy = e;
	lrpc__wr w = { .buf = buf, .cap = sizeof(buf) };
	assert_int_equal(lrpc__rpc_encode(&w, &t_list4, &l, &e), 0);
	assert_memory_equal(&e, &copy, sizeof(e));
	lrpc__rd r = { .p = buf, .end = buf + w.pos };
	lrpc_arena_init(&arena, NULL, 0, LRPC_ARENA_UNLIMITED);
	assert_int_equal(lrpc__rpc_decode(&r, &t_list4, &back, &arena, &e), 0);
	assert_memory_equal(&e, &copy, sizeof(e));
	/* And a NULL detail is fine on failure. */
	r = (lrpc__rd){ .p = buf, .end = buf + 3 };
	assert_int_equal(lrpc__rpc_decode(&r, &t_list4, &back, &arena, NULL),
			 -EBADMSG);
	lrpc_arena_done(&arena);
}

/* What a caller does: its prefix, then the codec's text. */
static void
test_rpc_codec_errors_format(void **state)
{
	lrpc__codec_err e;
	char small[16], msg[128];
	lrpc_rpc_field f;
	lrpc_rpc_type box;

	box_init(&box, &f, &t_bytes4);
	lrpc__wr w = { 0 };
	assert_int_equal(lrpc__rpc_encode(&w, &box,
					  &(const lrpc_bytes){
						  (const uint8_t *)"12345", 5 },
					  &e),
			 -EINVAL);
	int n = lrpc__codec_err_format(&e, "kv.Store.put", msg, sizeof(msg));
	assert_string_equal(msg,
			    "kv.Store.put: x: 5 bytes, longer than @max(4)");
	assert_int_equal(n, (int)strlen(msg));
	assert_int_equal(lrpc__codec_err_format(&e, NULL, msg, sizeof(msg)),
			 (int)strlen("x: 5 bytes, longer than @max(4)"));
	assert_string_equal(msg, "x: 5 bytes, longer than @max(4)");
	/* Truncated like snprintf(), and still terminated. */
	assert_int_equal(lrpc__codec_err_format(&e, "kv.Store.put", small,
						sizeof(small)),
			 n);
	assert_string_equal(small, "kv.Store.put: x");
	assert_int_equal(lrpc__codec_err_format(NULL, "p", msg, sizeof(msg)),
			 -EINVAL);
}

/* An older peer's struct: whole versions only, and its missing fields get
 * values that encode again (an enum without 0 takes its lowest value, a
 * union its lowest tag). */
struct rec2 {
	uint32_t a;
	int16_t color;  /* since 2 */
	struct choice shape; /* since 2 */
	int16_t colors[2]; /* since 3 */
};
static const lrpc_rpc_field rec2_fields[] = {
	{ &t_u32, offsetof(struct rec2, a), 0, 1, "a" },
	{ &t_color, offsetof(struct rec2, color), 1, 2, "color" },
	{ &t_choice, offsetof(struct rec2, shape), 2, 2, "shape" },
	{ &t_color2, offsetof(struct rec2, colors), 3, 3, "colors" },
};
static const lrpc_rpc_type t_rec2 = { .kind = LRPC_RPC_STRUCT,
				      .size = sizeof(struct rec2),
				      .align = _Alignof(struct rec2),
				      .fields = rec2_fields,
				      .n_fields = 4,
				      .name = "rt.Rec2" };

static void
test_rpc_codec_errors_older_peer(void **state)
{
	/* Version 1: a alone. */
	static const uint8_t v1[] = "\x06\0\0\0\x01\0\x2a\0\0\0";
	/* Cut inside version 2: a and color, not shape. */
	static const uint8_t cut[] = "\x08\0\0\0\x02\0\x2a\0\0\0\x02\0";
	struct rec2 v;
	lrpc__codec_err e;
	lrpc_arena arena;
	uint8_t buf[64];
	size_t size;

	lrpc_arena_init(&arena, NULL, 0, LRPC_ARENA_UNLIMITED);
	memset(&v, 0x5a, sizeof(v));
	assert_int_equal(lrpc_rpc_decode(&t_rec2, v1, sizeof(v1) - 1, &v,
					 &arena),
			 0);
	assert_int_equal(v.a, 42);
	assert_int_equal(v.color, -1);
	assert_int_equal(v.shape.tag, 1);
	assert_int_equal(v.shape.u.num, 0);
	assert_int_equal(v.colors[0], -1);
	assert_int_equal(v.colors[1], -1);
	/* What decoded encodes again, now as a version-3 struct. */
	assert_int_equal(lrpc_rpc_encode(&t_rec2, &v, buf, sizeof(buf), &size),
			 0);

	lrpc__rd r = { .p = cut, .end = cut + sizeof(cut) - 1 };
	assert_int_equal(lrpc__rpc_decode(&r, &t_rec2, &v, &arena, &e),
			 -EBADMSG);
	assert_string_equal(e.text, "2 of 4 fields: shape (@since(2)) missing");
	lrpc_arena_done(&arena);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rpc_codec_errors_decode),
		cmocka_unit_test(test_rpc_codec_errors_encode),
		cmocka_unit_test(test_rpc_codec_errors_depth),
		cmocka_unit_test(test_rpc_codec_errors_trailing),
		cmocka_unit_test(test_rpc_codec_errors_arena),
		cmocka_unit_test(test_rpc_codec_errors_untouched_on_success),
		cmocka_unit_test(test_rpc_codec_errors_format),
		cmocka_unit_test(test_rpc_codec_errors_older_peer),
	};

	return cmocka_run_group_tests_name("rpc-codec-errors", tests, NULL,
					   NULL);
}
