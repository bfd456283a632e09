/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Generated stubs end to end, through real server processes: every IDL
 * type round trip (nested, empty, at the maximum sizes), typed errors,
 * "no such method", deferred replies, cancellation and timeouts, a client
 * going away while its call is deferred, events, oneway calls, 100,000
 * pipelined async calls, and version skew in both directions (against a
 * helper built from the version-1 IDL).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "rpc-skew-client.h"
#include "rpc-skew-server.h"
#include "rpc-types-client.h"
#include "rpc-types-server.h"

#define TIMEOUT (5u * 1000u * 1000u)

/* --- The server ----------------------------------------------------------- */

static lrpc_loop *srv_loop;
static uint32_t srv_pokes, srv_abandoned;
static lrpc_rpc_call *srv_held;

static int
h_echo(lrpc_rpc_call *call, void *ud, const rt_all *value, rt_all *ret_result)
{
	*ret_result = *value;
	return 0;
}

static int
h_add(lrpc_rpc_call *call, void *ud, int32_t a, int32_t b, int32_t *ret_sum)
{
	*ret_sum = a + b;
	return 0;
}

static int
h_fail(lrpc_rpc_call *call, void *ud, uint32_t code)
{
	if (code == 0)
		return 0;
	lrpc_rpc_call_set_error_message(call, "it failed on purpose");
	return (int)code;
}

struct later {
	lrpc_rpc_call *call;
	uint32_t value;
};

static void
later_fire(void *data)
{
	struct later *l = data;
	int r = rt_types_later_reply(l->call, l->value + 1);
	if (r < 0)
		th_report("later-reply %d", r);
	free(l);
}

static int
h_later(lrpc_rpc_call *call, void *ud, uint32_t value, uint32_t delay_ms,
	uint32_t *ret_next)
{
	struct later *l = malloc(sizeof(*l));
	void *handle;

	if (!l)
		return -ENOMEM;
	l->call = call;
	l->value = value;
	if (lrpc_loop_add_timer(srv_loop, (uint64_t)delay_ms * 1000 + 1,
				later_fire, l, &handle) < 0) {
		free(l);
		return -ENOMEM;
	}
	return LRPC_RPC_LATER;
}

static int
h_seq(lrpc_rpc_call *call, void *ud, uint64_t n, uint64_t *ret_n_back)
{
	*ret_n_back = n;
	return 0;
}

static int
h_poke(lrpc_rpc_call *call, void *ud, uint32_t n)
{
	srv_pokes += n;
	return 0;
}

static int
h_emit(lrpc_rpc_call *call, void *ud, uint32_t n)
{
	char note[32];

	for (uint32_t i = 0; i < n; i++) {
		snprintf(note, sizeof(note), "tick %u", i);
		int r = rt_types_emit_tick(lrpc_rpc_call_get_conn(call), i,
					   note);
		if (r < 0)
			return r;
	}
	return 0;
}

static void
on_abandon(lrpc_rpc_call *call, void *ud)
{
	srv_abandoned++;
	srv_held = NULL;
	/* Answering an abandoned call frees it and reports -ENOTCONN. */
	th_report("abandoned reply=%d", rt_types_hold_reply(call));
}

static int
h_hold(lrpc_rpc_call *call, void *ud)
{
	srv_held = call;
	lrpc_rpc_call_set_abandon_handler(call, on_abandon, NULL);
	th_report("holding");
	return LRPC_RPC_LATER;
}

static int
h_counters(lrpc_rpc_call *call, void *ud, uint32_t *ret_pokes,
	   uint32_t *ret_abandoned)
{
	*ret_pokes = srv_pokes;
	*ret_abandoned = srv_abandoned;
	return 0;
}

static int
h_bounded(lrpc_rpc_call *call, void *ud, const char *s)
{
	return 0;
}

static int
h_blob(lrpc_rpc_call *call, void *ud, lrpc_bytes data, lrpc_bytes *ret_back)
{
	*ret_back = data;
	return 0;
}

static const struct rt_types_handlers handlers = {
	.echo = h_echo,
	.add = h_add,
	.fail = h_fail,
	.later = h_later,
	.seq = h_seq,
	.poke = h_poke,
	.emit = h_emit,
	.hold = h_hold,
	.counters = h_counters,
	.bounded = h_bounded,
	.blob = h_blob,
};

/* Version 2 of the skew interface. */
static int
h_skew_put(lrpc_rpc_call *call, void *ud, const skew_item *item,
	   skew_item *ret_echoed)
{
	*ret_echoed = *item;
	if (lrpc_rpc_call_get_peer_version(call) >= 2)
		ret_echoed->weight = item->weight + 1;
	else
		ret_echoed->weight = 42; /* a v1 peer never sees it */
	/* Events to the caller: the v2-only one is refused for a v1 peer. */
	int r = skew_evolving_emit_loud(lrpc_rpc_call_get_conn(call), "LOUD");
	th_report("loud %d", r);
	skew_evolving_emit_note(lrpc_rpc_call_get_conn(call), item->name);
	return 0;
}

/* 100 when asked for an exact match: a v1 caller cannot ask (1). */
static int
h_skew_find(lrpc_rpc_call *call, void *ud, const char *pattern, bool exact,
	    uint32_t *ret_count)
{
	*ret_count = exact ? 100 : 1;
	return 0;
}

static int
h_skew_old(lrpc_rpc_call *call, void *ud, uint32_t x, uint32_t *ret_y)
{
	*ret_y = x + 100;
	return 0;
}

/* Always answers BLUE (v2 only): a v1 caller gets an error reply. */
static int
h_skew_paint(lrpc_rpc_call *call, void *ud, skew_color color,
	     skew_color *ret_was)
{
	*ret_was = SKEW_COLOR_BLUE;
	return 0;
}

static int
h_skew_draw(lrpc_rpc_call *call, void *ud, const skew_shape *shape,
	    skew_shape *ret_drawn)
{
	*ret_drawn = *shape;
	return 0;
}

static int
h_skew_twice(lrpc_rpc_call *call, void *ud, uint32_t n, uint32_t *ret_doubled)
{
	*ret_doubled = 2 * n;
	return 0;
}

static const struct skew_evolving_handlers skew_handlers = {
	.put = h_skew_put,
	.twice = h_skew_twice,
	.find = h_skew_find,
	.paint = h_skew_paint,
	.draw = h_skew_draw,
	.old = h_skew_old,
};

static void
rpc_setup(lrpc_server *s, lrpc_loop *loop, void *arg)
{
	srv_loop = loop;
	assert_int_equal(rt_types_serve(s, &handlers, NULL), 0);
	assert_int_equal(rt_types_serve(s, &handlers, NULL), -EEXIST);
	assert_int_equal(skew_evolving_serve(s, &skew_handlers, NULL), 0);
}

/* --- Client helpers ------------------------------------------------------- */

typedef th_rpc_fixture fixture;

static void
fixture_start(void **state, fixture *f)
{
	th_rpc_fixture_start(state, f, rpc_setup);
}

static void
fill_all(rt_all *a, rt_inner *inners, uint32_t *list, rt_inner *maybe,
	 const char **keys, uint32_t *vals, rt_color *ncolors,
	 rt_inner_list *nlists)
{
	static const uint8_t blob[] = { 0, 1, 2, 0xff };
	static uint32_t count = 77;

	memset(a, 0, sizeof(*a));
	memset(inners, 0, 2 * sizeof(*inners));
	memset(maybe, 0, sizeof(*maybe));
	a->b = true;
	a->s8 = -128;
	a->s16 = -32768;
	a->s32 = INT32_MIN;
	a->s64 = INT64_MIN;
	a->u8v = 255;
	a->u16v = 65535;
	a->u32v = UINT32_MAX;
	a->u64v = UINT64_MAX;
	a->f = 1.5f;
	a->d = -2.25e300;
	a->text = "grüße, 世界";
	a->blob = (lrpc_bytes){ blob, sizeof(blob) };
	for (uint32_t i = 0; i < 100; i++)
		list[i] = i * 3;
	a->list = (rt_u32_list){ list, 100 };
	memcpy(a->quad, "\x01\x02\x03\x04", 4);
	a->note = "a note";
	maybe->name = "maybe";
	maybe->count = &count;
	a->maybe = maybe;
	a->color = RT_COLOR_RED;
	a->inner.name = "inner";
	a->choice.tag = RT_CHOICE_INNER;
	a->choice.u.inner.name = "in a union";
	keys[0] = "one";
	keys[1] = "two";
	vals[0] = 1;
	vals[1] = 2;
	a->counts = (rt_string_u32_map){ keys, vals, 2 };
	inners[0].name = "first";
	inners[1].name = "second";
	inners[1].count = &count;
	a->inners = (rt_inner_list){ inners, 2 };
	a->short_text = "12345678"; /* exactly @max(8) */
	a->short_list = (rt_u32_list){ list, 8 };
	ncolors[0] = RT_COLOR_BLUE;
	nlists[0] = (rt_inner_list){ inners, 2 };
	a->nested = (rt_color_inner_list_map){ ncolors, nlists, 1 };
}

static void
check_inner(const rt_inner *a, const rt_inner *b)
{
	assert_string_equal(a->name ? a->name : "", b->name);
	if (a->count) {
		assert_non_null(b->count);
		assert_int_equal(*a->count, *b->count);
	} else {
		assert_null(b->count);
	}
}

static void
check_all(const rt_all *a, const rt_all *b)
{
	assert_int_equal(a->b, b->b);
	assert_int_equal(a->s8, b->s8);
	assert_int_equal(a->s16, b->s16);
	assert_int_equal(a->s32, b->s32);
	assert_true(a->s64 == b->s64);
	assert_int_equal(a->u8v, b->u8v);
	assert_int_equal(a->u16v, b->u16v);
	assert_int_equal(a->u32v, b->u32v);
	assert_true(a->u64v == b->u64v);
	assert_true(a->f == b->f);
	assert_true(a->d == b->d);
	assert_string_equal(a->text ? a->text : "", b->text);
	assert_int_equal(a->blob.len, b->blob.len);
	if (a->blob.len)
		assert_memory_equal(a->blob.data, b->blob.data, a->blob.len);
	assert_int_equal(a->list.count, b->list.count);
	if (a->list.count)
		assert_memory_equal(a->list.items, b->list.items,
				    a->list.count * 4);
	assert_memory_equal(a->quad, b->quad, 4);
	if (a->note)
		assert_string_equal(a->note, b->note);
	else
		assert_null(b->note);
	if (a->maybe) {
		assert_non_null(b->maybe);
		check_inner(a->maybe, b->maybe);
	} else {
		assert_null(b->maybe);
	}
	assert_int_equal(a->color, b->color);
	check_inner(&a->inner, &b->inner);
	assert_int_equal(a->choice.tag, b->choice.tag);
	if (a->choice.tag == RT_CHOICE_INNER)
		check_inner(&a->choice.u.inner, &b->choice.u.inner);
	else if (a->choice.tag == RT_CHOICE_NUM)
		assert_true(a->choice.u.num == b->choice.u.num);
	assert_int_equal(a->counts.count, b->counts.count);
	for (size_t i = 0; i < a->counts.count; i++) {
		assert_string_equal(a->counts.keys[i], b->counts.keys[i]);
		assert_int_equal(a->counts.values[i], b->counts.values[i]);
	}
	assert_int_equal(a->inners.count, b->inners.count);
	for (size_t i = 0; i < a->inners.count; i++)
		check_inner(&a->inners.items[i], &b->inners.items[i]);
	assert_string_equal(a->short_text ? a->short_text : "", b->short_text);
	assert_int_equal(a->short_list.count, b->short_list.count);
	assert_int_equal(a->nested.count, b->nested.count);
	for (size_t i = 0; i < a->nested.count; i++) {
		const rt_inner_list *la = &a->nested.values[i];
		const rt_inner_list *lb = &b->nested.values[i];
		assert_int_equal(a->nested.keys[i], b->nested.keys[i]);
		assert_int_equal(la->count, lb->count);
		for (size_t k = 0; k < la->count; k++)
			check_inner(&la->items[k], &lb->items[k]);
	}
}

/* --- Tests ---------------------------------------------------------------- */

static void
test_rpc_roundtrip_all_types(void **state)
{
	fixture f;
	rt_all in, out;
	rt_inner inners[2], maybe;
	uint32_t list[100], vals[2];
	const char *keys[2];
	rt_color ncolors[1];
	rt_inner_list nlists[1];
	uint8_t buf[256];
	lrpc_arena arena;

	fixture_start(state, &f);
	/* A small stack buffer that must grow for this message. */
	lrpc_arena_init(&arena, buf, sizeof(buf), LRPC_ARENA_UNLIMITED);
	fill_all(&in, inners, list, &maybe, keys, vals, ncolors, nlists);
	assert_int_equal(rt_types_echo(f.rc, &in, &out, &arena, TIMEOUT, NULL),
			 0);
	check_all(&in, &out);
	/* Empty: every field zero, every container empty, options absent. */
	memset(&in, 0, sizeof(in));
	in.color = RT_COLOR_GREEN;
	in.choice.tag = RT_CHOICE_NUM;
	in.choice.u.num = -1;
	lrpc_arena_reset(&arena);
	assert_int_equal(rt_types_echo(f.rc, &in, &out, &arena, TIMEOUT, NULL),
			 0);
	check_all(&in, &out);
	assert_string_equal(out.text, "");
	lrpc_arena_done(&arena);
	th_rpc_fixture_stop(&f);
}

static void
test_rpc_max_sizes(void **state)
{
	fixture f;
	lrpc_arena arena;
	lrpc_bytes back;
	uint32_t max;

	fixture_start(state, &f);
	lrpc_arena_init(&arena, NULL, 0, LRPC_ARENA_UNLIMITED);
	max = lrpc_client_get_max_msg_size(f.c);
	/* The largest bytes value that fits in a message: 48 bytes of
	 * headers, 6 of parameter list, 4 of length. */
	size_t n = max - 48 - 6 - 4;
	uint8_t *data = malloc(n + 1);
	assert_non_null(data);
	for (size_t i = 0; i <= n; i++)
		data[i] = (uint8_t)(i * 7);
	assert_int_equal(rt_types_blob(f.rc, (lrpc_bytes){ data, n }, &back,
				       &arena, TIMEOUT, NULL),
			 0);
	assert_int_equal(back.len, n);
	assert_memory_equal(back.data, data, n);
	/* One more byte does not fit: refused locally. */
	assert_int_equal(rt_types_blob(f.rc, (lrpc_bytes){ data, n + 1 },
				       &back, &arena, TIMEOUT, NULL),
			 -EMSGSIZE);
	/* A @max bound is checked before sending. */
	assert_int_equal(rt_types_bounded(f.rc, "12345678", TIMEOUT, NULL), 0);
	assert_int_equal(rt_types_bounded(f.rc, "123456789", TIMEOUT, NULL),
			 -EINVAL);
	/* And the error says which field broke which rule. */
	lrpc_rpc_error err;
	assert_int_equal(rt_types_bounded(f.rc, "123456789", TIMEOUT, &err),
			 -EINVAL);
	print_message("local refusal: %s\n", err.message);
	assert_non_null(strstr(err.message, "rt.Types.bounded"));
	assert_non_null(strstr(err.message, "s: "));
	assert_non_null(strstr(err.message, "@max(8)"));
	free(data);
	lrpc_arena_done(&arena);
	th_rpc_fixture_stop(&f);
}

static void
test_rpc_typed_error(void **state)
{
	fixture f;
	lrpc_rpc_error err;

	fixture_start(state, &f);
	assert_int_equal(rt_types_fail(f.rc, 0, TIMEOUT, &err), 0);
	assert_int_equal(err.code, 0);
	assert_int_equal(rt_types_fail(f.rc, RT_ERROR_WORSE, TIMEOUT, &err),
			 RT_ERROR_WORSE);
	assert_int_equal(err.code, RT_ERROR_WORSE);
	assert_string_equal(err.name, "rt.RtError.WORSE");
	assert_string_equal(err.message, "it failed on purpose");
	th_rpc_fixture_stop(&f);
}

static void
test_rpc_no_such_method(void **state)
{
	fixture f;
	lrpc_rpc_error err;
	int32_t sum;

	fixture_start(state, &f);
	/* An interface the server does not serve. */
	assert_int_equal(rt_unserved_ping(f.rc, TIMEOUT, &err), -EOPNOTSUPP);
	/* A method ordinal it does not know, sent by hand. */
	uint8_t msg[48 + 6], resp[256];
	lrpc_msg_header *h = (void *)msg;
	memset(msg, 0, sizeof(msg));
	h->size = sizeof(msg);
	h->id = (int32_t)RT_TYPES_INTERFACE_ID;
	uint64_t call_id = 999;
	memcpy(msg + 24, &call_id, 8);
	uint16_t ord = 4000, kind = 1, version = 1;
	memcpy(msg + 32, &ord, 2);
	memcpy(msg + 34, &kind, 2);
	memcpy(msg + 36, &version, 2);
	msg[48] = 2; /* parameter list: 2 bytes, 0 fields */
	int n = th_call(f.c, msg, sizeof(msg), resp, sizeof(resp),
				 5000);
	assert_true(n >= 48);
	int32_t status;
	uint16_t rkind;
	memcpy(&rkind, resp + 34, 2);
	memcpy(&status, resp + 40, 4);
	assert_int_equal(rkind, 3);
	assert_int_equal(status, -EOPNOTSUPP);
	/* The connection is still up. */
	assert_int_equal(rt_types_add(f.rc, 2, 3, &sum, TIMEOUT, NULL), 0);
	assert_int_equal(sum, 5);
	th_rpc_fixture_stop(&f);
}

static void
test_rpc_deferred_reply(void **state)
{
	fixture f;
	uint32_t next = 0;

	fixture_start(state, &f);
	assert_int_equal(rt_types_later(f.rc, 41, 20, &next, TIMEOUT, NULL),
			 0);
	assert_int_equal(next, 42);
	th_rpc_fixture_stop(&f);
}

struct async_state {
	unsigned calls;
	int status;
	uint32_t last;
	uint64_t expect;
	uint64_t done;
	bool order_ok;
};

static void
on_add(lrpc_rpc_client *rc, int status, int32_t sum,
       const lrpc_rpc_error *err, void *ud)
{
	struct async_state *s = ud;
	s->calls++;
	s->status = status;
	s->last = (uint32_t)sum;
}

static void
on_later(lrpc_rpc_client *rc, int status, uint32_t next,
	 const lrpc_rpc_error *err, void *ud)
{
	struct async_state *s = ud;
	s->calls++;
	s->status = status;
	s->last = next;
}

static void
test_rpc_sync_while_async_pending(void **state)
{
	fixture f;
	struct async_state s = { 0 };
	int32_t sum;

	fixture_start(state, &f);
	for (int i = 0; i < 10; i++)
		assert_int_equal(rt_types_add_async(f.rc, i, 1, on_add, &s, LRPC_TIMEOUT_DEFAULT,
						    NULL),
				 0);
	assert_int_equal(lrpc_rpc_client_get_n_pending(f.rc), 10);
	/* The replies to the earlier calls come first and are handed to
	 * their callbacks while the sync call waits. */
	assert_int_equal(rt_types_add(f.rc, 100, 1, &sum, TIMEOUT, NULL), 0);
	assert_int_equal(sum, 101);
	assert_int_equal(s.calls, 10);
	assert_int_equal(s.last, 10);
	assert_int_equal(lrpc_rpc_client_get_n_pending(f.rc), 0);
	th_rpc_fixture_stop(&f);
}

static void
test_rpc_cancel_and_timeout(void **state)
{
	fixture f;
	struct async_state s = { 0 };
	uint64_t id;
	uint32_t next = 0;

	fixture_start(state, &f);
	assert_int_equal(rt_types_later_async(f.rc, 1, 50, on_later, &s, LRPC_TIMEOUT_DEFAULT, &id),
			 0);
	assert_int_equal(lrpc_rpc_client_cancel(f.rc, id), 0);
	assert_int_equal(lrpc_rpc_client_cancel(f.rc, id), -ENOENT);
	/* A sync call that times out; its reply comes later and is
	 * dropped, as is the cancelled call's. */
	assert_int_equal(rt_types_later(f.rc, 5, 300, &next, 50 * 1000, NULL),
			 -ETIMEDOUT);
	assert_int_equal(next, 0);
	assert_int_equal(rt_types_later(f.rc, 7, 400, &next, TIMEOUT, NULL),
			 0);
	assert_int_equal(next, 8);
	for (int i = 0; i < 5; i++)
		lrpc_rpc_client_run_once(f.rc, 10 * LRPC_USEC_PER_MSEC);
	assert_int_equal(s.calls, 0);
	th_rpc_fixture_stop(&f);
}

struct ticks {
	unsigned n;
	bool ok;
};

static void
on_tick(void *ud, uint32_t i, const char *note)
{
	struct ticks *t = ud;
	char want[32];

	snprintf(want, sizeof(want), "tick %u", i);
	if (i != t->n || strcmp(note, want) != 0)
		t->ok = false;
	t->n++;
}

static void
test_rpc_events_and_oneway(void **state)
{
	fixture f;
	struct ticks t = { .ok = true };
	static const struct rt_types_events events = { .tick = on_tick };
	uint32_t pokes = 0, abandoned = 0;

	fixture_start(state, &f);
	assert_int_equal(rt_types_listen(f.rc, &events, &t), 0);
	assert_int_equal(rt_types_emit(f.rc, 50, TIMEOUT, NULL), 0);
	for (int i = 0; i < 100 && t.n < 50; i++)
		assert_true(lrpc_rpc_client_run_once(f.rc, 100 * LRPC_USEC_PER_MSEC) >= 0);
	assert_int_equal(t.n, 50);
	assert_true(t.ok);
	for (uint32_t i = 1; i <= 3; i++)
		assert_int_equal(rt_types_poke(f.rc, i), 0);
	assert_int_equal(rt_types_counters(f.rc, &pokes, &abandoned, TIMEOUT,
					   NULL),
			 0);
	assert_int_equal(pokes, 6);
	th_rpc_fixture_stop(&f);
}

static void
on_seq(lrpc_rpc_client *rc, int status, uint64_t n, const lrpc_rpc_error *err,
       void *ud)
{
	struct async_state *s = ud;
	if (status != 0 || n != s->expect)
		s->order_ok = false;
	s->expect++;
	s->done++;
}

static void
test_rpc_pipelined_100k(void **state)
{
	enum { N = 100000, WINDOW = 4096 };
	fixture f;
	struct async_state s = { .order_ok = true };
	uint64_t sent = 0;

	fixture_start(state, &f);
	uint64_t t0 = th_now_usec();
	while (s.done < N) {
		while (sent < N && sent - s.done < WINDOW) {
			int r = rt_types_seq_async(f.rc, sent, on_seq, &s, LRPC_TIMEOUT_DEFAULT,
						   NULL);
			if (r == -EAGAIN)
				break;
			assert_int_equal(r, 0);
			sent++;
		}
		assert_true(lrpc_rpc_client_run_once(f.rc, 1000 * LRPC_USEC_PER_MSEC) >= 0);
	}
	uint64_t t1 = th_now_usec();
	assert_true(s.order_ok);
	assert_int_equal(s.done, N);
	assert_int_equal(lrpc_rpc_client_get_n_pending(f.rc), 0);
	print_message("100000 pipelined async calls: %.1f ms (%.2f us/call)\n",
		      (t1 - t0) / 1000.0, (double)(t1 - t0) / N);
	th_rpc_fixture_stop(&f);
}

static void
on_hold(lrpc_rpc_client *rc, int status, const lrpc_rpc_error *err, void *ud)
{
	*(int *)ud = status;
}

static void
test_rpc_disconnect_while_deferred(void **state)
{
	fixture f;
	char line[128];
	int status = 1;

	fixture_start(state, &f);
	assert_int_equal(rt_types_hold_async(f.rc, on_hold, &status, LRPC_TIMEOUT_DEFAULT, NULL), 0);
	assert_true(th_server_expect(f.server, "holding", 5000, line,
				     sizeof(line)));
	/* Going away fails the pending call locally, exactly once. */
	f.rc = lrpc_rpc_client_unref(f.rc);
	assert_int_equal(status, -ECANCELED);
	f.c = lrpc_client_unref(f.c);
	assert_true(th_server_expect(f.server, "abandoned", 5000, line,
				     sizeof(line)));
	char want[64];
	snprintf(want, sizeof(want), "abandoned reply=%d", -ENOTCONN);
	assert_string_equal(line, want);
	/* The server is fine and leaks nothing (checked at its exit). */
	assert_int_equal(th_connect(*state, &f.c, NULL), 0);
	assert_int_equal(lrpc_rpc_client_new(&f.rc, f.c), 0);
	uint32_t pokes, abandoned;
	assert_int_equal(rt_types_counters(f.rc, &pokes, &abandoned, TIMEOUT,
					   NULL),
			 0);
	assert_int_equal(abandoned, 1);
	th_rpc_fixture_stop(&f);
}

static void
test_rpc_server_gone_fails_pending(void **state)
{
	fixture f;
	struct async_state s = { 0 };

	fixture_start(state, &f);
	assert_int_equal(rt_types_later_async(f.rc, 1, 10000, on_later, &s, LRPC_TIMEOUT_DEFAULT,
					      NULL),
			 0);
	th_server_kill(f.server);
	for (int i = 0; i < 50 && s.calls == 0; i++)
		lrpc_rpc_client_run_once(f.rc, 100 * LRPC_USEC_PER_MSEC);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.status, -ENOTCONN);
	f.rc = lrpc_rpc_client_unref(f.rc);
	f.c = lrpc_client_unref(f.c);
}

/*
 * A peer whose IDL disagrees (here: no @max on `bounded`'s string) sends
 * what the server cannot decode: the caller gets lrpc.InvalidArgument at
 * once, with the field and the rule the server found broken.
 */
static void
test_rpc_server_decode_error_says_where(void **state)
{
	const lrpc_rpc_interface *iface = &rt_types__interface;
	lrpc_rpc_method methods[32];
	lrpc_rpc_interface loose = *iface;
	const lrpc_rpc_method *bounded = NULL;
	lrpc_rpc_type req_type, str_type;
	lrpc_rpc_field field;
	lrpc_rpc_error err;
	fixture f;

	assert_true(iface->n_methods <= 32);
	memcpy(methods, iface->methods,
	       iface->n_methods * sizeof(methods[0]));
	for (uint32_t i = 0; i < iface->n_methods; i++)
		if (strcmp(methods[i].name, "bounded") == 0) {
			/* The same request, its string without @max. */
			req_type = *methods[i].request;
			assert_int_equal(req_type.n_fields, 1);
			field = req_type.fields[0];
			str_type = *field.type;
			str_type.max = 0;
			field.type = &str_type;
			req_type.fields = &field;
			methods[i].request = &req_type;
			bounded = &methods[i];
		}
	assert_non_null(bounded);
	loose.methods = methods;

	fixture_start(state, &f);
	const char *arg = "123456789";
	long t0 = th_now_ms();
	assert_int_equal(lrpc_rpc_client_call(f.rc, &loose, bounded, &arg,
					      NULL, NULL, TIMEOUT, &err),
			 -EBADMSG);
	assert_true(th_now_ms() - t0 < 5000);
	print_message("server refusal: %s: %s\n", err.name, err.message);
	assert_string_equal(err.name, "lrpc.InvalidArgument");
	assert_non_null(strstr(err.message, "rt.Types.bounded"));
	assert_non_null(strstr(err.message, "@max(8)"));
	/* The connection is fine. */
	assert_int_equal(rt_types_bounded(f.rc, "1234", TIMEOUT, NULL), 0);
	th_rpc_fixture_stop(&f);
}

/*
 * Borrowed bytes: a sync reply's bytes point into the received message, not
 * the arena, until the next call or a release; async replies that came
 * meanwhile are delivered after it.
 */
static void
test_rpc_borrowed_bytes(void **state)
{
	struct async_state s = { 0 };
	uint8_t data[40000];
	lrpc_arena arena;
	lrpc_bytes back;
	fixture f;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13);
	fixture_start(state, &f);
	lrpc_arena_init(&arena, NULL, 0, LRPC_ARENA_UNLIMITED);
	assert_int_equal(lrpc_rpc_client_set_borrow_bytes(f.rc, true), 0);
	assert_int_equal(rt_types_blob(f.rc, (lrpc_bytes){ data, sizeof(data) },
				       &back, &arena, TIMEOUT, NULL),
			 0);
	assert_int_equal(back.len, sizeof(data));
	assert_memory_equal(back.data, data, sizeof(data));
	/* Nothing of it was copied into the arena. */
	assert_true(lrpc_arena_get_used(&arena) < 1024);
	/* An async call answered while the reply is held is delivered once
	 * it is released. */
	assert_int_equal(rt_types_add_async(f.rc, 1, 2, on_add, &s,
					    LRPC_TIMEOUT_DEFAULT, NULL),
			 0);
	assert_int_equal(lrpc_rpc_client_release_reply(f.rc), 0);
	for (int i = 0; i < 50 && s.calls == 0; i++)
		assert_true(lrpc_rpc_client_run_once(
				    f.rc, 100 * LRPC_USEC_PER_MSEC) >= 0);
	assert_int_equal(s.calls, 1);
	/* The next call gives the held reply back by itself. */
	assert_int_equal(rt_types_blob(f.rc, (lrpc_bytes){ data, 100 }, &back,
				       &arena, TIMEOUT, NULL),
			 0);
	assert_int_equal(rt_types_blob(f.rc, (lrpc_bytes){ data, 200 }, &back,
				       &arena, TIMEOUT, NULL),
			 0);
	assert_memory_equal(back.data, data, 200);
	/* Off again: copies into the arena, nothing held. */
	assert_int_equal(lrpc_rpc_client_set_borrow_bytes(f.rc, false), 0);
	assert_int_equal(rt_types_blob(f.rc, (lrpc_bytes){ data, 3000 }, &back,
				       &arena, TIMEOUT, NULL),
			 0);
	assert_true(lrpc_arena_get_used(&arena) >= 3000);
	assert_memory_equal(back.data, data, 3000);
	lrpc_arena_done(&arena);
	th_rpc_fixture_stop(&f);
}

/* --- Push style: an RPC client driven by an lrpc_loop -------------------- */

struct push_state {
	lrpc_loop *loop;
	int adds, add_status;
	int ticks;
	int later_calls, later_status;
	int closed, closed_reason, pending_at_close;
};

static void
push_on_closed(lrpc_rpc_client *rc, int reason, void *ud)
{
	struct push_state *p = ud;

	p->closed++;
	p->closed_reason = reason;
	p->pending_at_close = (int)lrpc_rpc_client_get_n_pending(rc);
}

static void
push_on_add(lrpc_rpc_client *rc, int status, int32_t sum,
	    const lrpc_rpc_error *err, void *ud)
{
	struct push_state *p = ud;

	if (status != 0 || sum != p->adds + 1)
		p->add_status = status ? status : -EBADMSG;
	p->adds++;
}

static void
push_on_tick(void *ud, uint32_t i, const char *note)
{
	struct push_state *p = ud;

	if ((int)i == p->ticks)
		p->ticks++;
}

static void
push_on_later(lrpc_rpc_client *rc, int status, uint32_t next,
	      const lrpc_rpc_error *err, void *ud)
{
	struct push_state *p = ud;

	p->later_calls++;
	p->later_status = status;
}

static void
push_run_until(struct push_state *p, const int *counter, int want)
{
	long end = th_now_ms() + 10000;

	while (*counter < want && th_now_ms() < end)
		assert_true(lrpc_loop_run_once(p->loop,
					       100 * LRPC_USEC_PER_MSEC) >= 0);
	assert_int_equal(*counter, want);
}

/*
 * Async replies, events and the server going away all reach an attached
 * RPC client through the loop alone: the test never calls process.
 */
static void
test_rpc_push_style_loop(void **state)
{
	static const struct rt_types_events events = { .tick = push_on_tick };
	struct push_state p = { 0 };
	fixture f;

	fixture_start(state, &f);
	assert_int_equal(lrpc_loop_new(&p.loop), 0);
	assert_int_equal(lrpc_rpc_client_attach_loop(f.rc, p.loop), 0);
	assert_int_equal(lrpc_rpc_client_get_fd(f.rc), -EBUSY);
	assert_int_equal(lrpc_rpc_client_get_events(f.rc), LRPC_POLL_IN);
	assert_int_equal(rt_types_listen(f.rc, &events, &p), 0);
	lrpc_rpc_client_set_closed_handler(f.rc, push_on_closed, &p);
	for (int32_t i = 0; i < 200; i++)
		assert_int_equal(rt_types_add_async(f.rc, i, 1, push_on_add, &p, LRPC_TIMEOUT_DEFAULT,
						    NULL),
				 0);
	push_run_until(&p, &p.adds, 200);
	assert_int_equal(p.add_status, 0);
	assert_int_equal(rt_types_emit(f.rc, 30, TIMEOUT, NULL), 0);
	push_run_until(&p, &p.ticks, 30);

	assert_int_equal(rt_types_later_async(f.rc, 1, 10000, push_on_later,
					      &p, LRPC_TIMEOUT_DEFAULT, NULL),
			 0);
	th_server_kill(f.server);
	push_run_until(&p, &p.later_calls, 1);
	assert_int_equal(p.later_status, -ENOTCONN);
	/* The application hears of it once, after the calls failed. */
	push_run_until(&p, &p.closed, 1);
	assert_true(p.closed_reason < 0);
	assert_int_equal(p.pending_at_close, 0);
	assert_int_equal(lrpc_rpc_client_get_n_pending(f.rc), 0);
	f.rc = lrpc_rpc_client_unref(f.rc);
	f.c = lrpc_client_unref(f.c);
	p.loop = lrpc_loop_unref(p.loop);
}

/* --- Version skew ---------------------------------------------------------- */

static pid_t
spawn_peer(const char *env, const char *mode, const th_ctx *ctx)
{
	const char *helper = getenv(env);
	char transport[16];
	pid_t pid;

	snprintf(transport, sizeof(transport), "%d", (int)ctx->transport);

	assert_non_null(helper);
	const char *const argv[] = { helper, mode, ctx->name, transport,
				     NULL };
	pid = th_spawn_exec(argv, /* quiet_stdout= */ false);
	assert_true(pid > 0);
	return pid;
}

static pid_t
spawn_v1(const char *mode, const th_ctx *ctx)
{
	return spawn_peer("RPC_SKEW_V1", mode, ctx);
}

/* An RPC client of a server a peer program just started (it may still be
 * starting). */
static lrpc_client *
connect_to_peer(const th_ctx *ctx, lrpc_rpc_client **ret_rc)
{
	lrpc_client *c = NULL;
	int r = -1;

	for (int i = 0; i < 200 && r < 0; i++) {
		r = th_connect(ctx, &c, NULL);
		if (r < 0)
			th_msleep(10);
	}
	assert_int_equal(r, 0);
	assert_int_equal(lrpc_rpc_client_new(ret_rc, c), 0);
	return c;
}

struct notes {
	unsigned note, loud;
};

static void
on_note(void *ud, const char *text)
{
	((struct notes *)ud)->note++;
}

static void
on_loud(void *ud, const char *text)
{
	((struct notes *)ud)->loud++;
}

/* A version-2 client against a version-1 server. */
static void
test_rpc_skew_new_client_old_server(void **state)
{
	th_ctx *ctx = *state;
	pid_t pid = spawn_v1("server", ctx);
	lrpc_client *c;
	lrpc_rpc_client *rc;
	skew_item item = { .name = "apple", .weight = 5 }, back;
	lrpc_arena arena;
	uint32_t doubled = 0;

	c = connect_to_peer(ctx, &rc);
	lrpc_arena_init(&arena, NULL, 0, LRPC_ARENA_UNLIMITED);
	assert_int_equal(lrpc_rpc_client_negotiate(rc, &skew_evolving__interface,
						   TIMEOUT),
			 1);
	/* The v1 server never saw "weight": it comes back as 0. */
	assert_int_equal(skew_evolving_put(rc, &item, &back, &arena, TIMEOUT,
					   NULL),
			 0);
	assert_string_equal(back.name, "apple");
	assert_int_equal(back.weight, 0);
	/* A deprecated method still works; only its callers are warned. */
	uint32_t y = 0;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	assert_int_equal(skew_evolving_old(rc, 5, &y, TIMEOUT, NULL), 0);
#pragma GCC diagnostic pop
	assert_int_equal(y, 6);
	/* A method the server's version does not have fails locally. */
	assert_int_equal(skew_evolving_twice(rc, 3, &doubled, TIMEOUT, NULL),
			 -EPROTONOSUPPORT);

	/* Values of version 2 cannot reach a version-1 peer, which would
	 * reject them: the call fails here, saying which and why. */
	lrpc_rpc_error err;
	skew_color was = SKEW_COLOR_RED;
	item.color = SKEW_COLOR_BLUE;
	assert_int_equal(skew_evolving_put(rc, &item, &back, &arena, TIMEOUT,
					   &err),
			 -EPROTONOSUPPORT);
	assert_non_null(strstr(err.message, "item.color: BLUE of skew.Color "
					    "is @since(2)"));
	assert_string_equal(err.name, "lrpc.NewerThanPeer");
	assert_non_null(strstr(err.message, "version 1"));
	skew_shape shape = { .tag = SKEW_SHAPE_LABEL, .u.label = "x" }, drawn;
	assert_int_equal(skew_evolving_draw(rc, &shape, &drawn, &arena,
					    TIMEOUT, &err),
			 -EPROTONOSUPPORT);
	assert_non_null(strstr(err.message, "shape: label of skew.Shape is "
					    "@since(2)"));
	/* What version 1 has goes through, on the same connection. */
	shape = (skew_shape){ .tag = SKEW_SHAPE_CIRCLE, .u.circle = 7 };
	assert_int_equal(skew_evolving_draw(rc, &shape, &drawn, &arena,
					    TIMEOUT, &err),
			 0);
	assert_int_equal(drawn.tag, SKEW_SHAPE_CIRCLE);
	assert_int_equal(drawn.u.circle, 7);
	assert_int_equal(skew_evolving_paint(rc, SKEW_COLOR_GREEN, &was,
					     TIMEOUT, &err),
			 0);
	assert_int_equal(was, SKEW_COLOR_GREEN);

	/* A parameter of version 2 is ignored by a version-1 server: its
	 * default is what that server assumes anyway, anything else would
	 * silently mean another call. */
	uint32_t count = 0;
	assert_int_equal(skew_evolving_find(rc, "a", false, &count, TIMEOUT,
					    &err),
			 0);
	assert_int_equal(count, 7);
	assert_int_equal(skew_evolving_find(rc, "a", true, &count, TIMEOUT,
					    &err),
			 -EPROTONOSUPPORT);
	assert_non_null(strstr(err.message, "exact is @since(2)"));
	lrpc_arena_done(&arena);
	lrpc_rpc_client_unref(rc);
	lrpc_client_unref(c);
	kill(pid, SIGTERM);
	assert_int_equal(th_wait_helper(pid), 0);
}

/* A version-1 client (the helper) against a version-2 server. */
static void
test_rpc_skew_old_client_new_server(void **state)
{
	th_server *s = th_server_spawn(*state, NULL, NULL, rpc_setup, NULL);
	th_ctx *ctx = *state;
	char line[64];

	assert_non_null(s);
	assert_int_equal(th_wait_helper(spawn_v1("client", ctx)), 0);
	/* The server could not send the v2-only event to the v1 peer. */
	assert_true(th_server_expect(s, "loud", 5000, line, sizeof(line)));
	char want[32];
	snprintf(want, sizeof(want), "loud %d", -EPROTONOSUPPORT);
	assert_string_equal(line, want);
	assert_int_equal(th_server_stop(s), 0);
}

/* Both v2: the v2-only event and field arrive. */
static void
test_rpc_skew_same_version(void **state)
{
	fixture f;
	skew_item item = { .name = "pear", .weight = 9 }, back;
	lrpc_arena arena;
	struct notes n = { 0 };
	static const struct skew_evolving_events ev = { .note = on_note,
							.loud = on_loud };
	uint32_t doubled = 0;

	fixture_start(state, &f);
	lrpc_arena_init(&arena, NULL, 0, LRPC_ARENA_UNLIMITED);
	assert_int_equal(skew_evolving_listen(f.rc, &ev, &n), 0);
	assert_int_equal(skew_evolving_put(f.rc, &item, &back, &arena, TIMEOUT,
					   NULL),
			 0);
	assert_int_equal(back.weight, 10);
	assert_int_equal(skew_evolving_twice(f.rc, 3, &doubled, TIMEOUT, NULL),
			 0);
	assert_int_equal(doubled, 6);
	/* Everything of version 2 travels between two version-2 peers. */
	skew_color was = SKEW_COLOR_RED;
	uint32_t count = 0;
	skew_shape shape = { .tag = SKEW_SHAPE_LABEL, .u.label = "hi" }, drawn;
	item.color = SKEW_COLOR_BLUE;
	assert_int_equal(skew_evolving_put(f.rc, &item, &back, &arena, TIMEOUT,
					   NULL),
			 0);
	assert_int_equal(back.color, SKEW_COLOR_BLUE);
	assert_int_equal(skew_evolving_paint(f.rc, SKEW_COLOR_RED, &was,
					     TIMEOUT, NULL),
			 0);
	assert_int_equal(was, SKEW_COLOR_BLUE);
	assert_int_equal(skew_evolving_draw(f.rc, &shape, &drawn, &arena,
					    TIMEOUT, NULL),
			 0);
	assert_string_equal(drawn.u.label, "hi");
	assert_int_equal(skew_evolving_find(f.rc, "a", true, &count, TIMEOUT,
					    NULL),
			 0);
	assert_int_equal(count, 100);
	/* Each put emitted both events. */
	for (int i = 0; i < 50 && n.note + n.loud < 4; i++)
		lrpc_rpc_client_run_once(f.rc, 100 * LRPC_USEC_PER_MSEC);
	assert_int_equal(n.note, 2);
	assert_int_equal(n.loud, 2);
	lrpc_arena_done(&arena);
	th_rpc_fixture_stop(&f);
}

/* The server's log lines about negotiation, for the test to read. */
static void
report_rpc_log(lrpc_log_level level, const char *msg, void *ud)
{
	if (strncmp(msg, "lrpc rpc: ", 10) == 0)
		th_report("%s", msg);
}

static void
rpc_setup_logged(lrpc_server *s, lrpc_loop *loop, void *arg)
{
	lrpc_set_log_hook(report_rpc_log, LRPC_LOG_WARNING, NULL);
	rpc_setup(s, loop, arg);
}

/* A client built from a diverging fork of version 1: both sides name the
 * first difference, the client in its calls' error, the server in its
 * log. */
static void
test_rpc_skew_diverging_client(void **state)
{
	th_server *s = th_server_spawn(*state, NULL, NULL, rpc_setup_logged,
				       NULL);
	char line[256];

	assert_non_null(s);
	assert_int_equal(th_wait_helper(spawn_peer("RPC_SKEW_BAD",
						   "diverging-client",
						   *state)),
			 0);
	assert_true(th_server_expect(s, "lrpc rpc: skew.Evolving: refused a "
					"client",
				     5000, line, sizeof(line)));
	assert_non_null(strstr(line, "at version 1: its interface differs"));
	assert_true(th_server_expect(s, "lrpc rpc: client pid", 5000, line,
				     sizeof(line)));
	assert_non_null(strstr(line, "skew.Evolving version 1 differs from "
				     "the client's at line 2 (method put)"));
	assert_int_equal(th_server_stop(s), 0);
}

/* The same against a server built from the fork. */
static void
test_rpc_skew_diverging_server(void **state)
{
	th_ctx *ctx = *state;
	pid_t pid = spawn_peer("RPC_SKEW_BAD", "server", ctx);
	lrpc_client *c;
	lrpc_rpc_client *rc;
	skew_item item = { .name = "apple" }, back;
	lrpc_rpc_error err;
	lrpc_arena arena;

	c = connect_to_peer(ctx, &rc);
	lrpc_arena_init(&arena, NULL, 0, LRPC_ARENA_UNLIMITED);
	assert_int_equal(lrpc_rpc_client_negotiate(rc, &skew_evolving__interface,
						   TIMEOUT),
			 -EPROTO);
	assert_int_equal(skew_evolving_put(rc, &item, &back, &arena, TIMEOUT,
					   &err),
			 -EPROTO);
	assert_non_null(strstr(err.message, "skew.Evolving version 1 differs "
					    "from the server's at line 2 "
					    "(method put): ours"));
	assert_string_equal(err.name, "lrpc.InterfaceMismatch");
	lrpc_arena_done(&arena);
	lrpc_rpc_client_unref(rc);
	lrpc_client_unref(c);
	kill(pid, SIGTERM);
	assert_int_equal(th_wait_helper(pid), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TH_TEST(test_rpc_roundtrip_all_types),
		TH_TEST(test_rpc_max_sizes),
		TH_TEST(test_rpc_typed_error),
		TH_TEST(test_rpc_no_such_method),
		TH_TEST(test_rpc_deferred_reply),
		TH_TEST(test_rpc_sync_while_async_pending),
		TH_TEST(test_rpc_cancel_and_timeout),
		TH_TEST(test_rpc_push_style_loop),
		TH_TEST(test_rpc_server_decode_error_says_where),
		TH_TEST(test_rpc_borrowed_bytes),
		TH_TEST(test_rpc_events_and_oneway),
		TH_TEST(test_rpc_pipelined_100k),
		TH_TEST(test_rpc_disconnect_while_deferred),
		TH_TEST(test_rpc_server_gone_fails_pending),
		TH_TEST(test_rpc_skew_new_client_old_server),
		TH_TEST(test_rpc_skew_old_client_new_server),
		TH_TEST(test_rpc_skew_same_version),
		TH_TEST(test_rpc_skew_diverging_client),
		TH_TEST(test_rpc_skew_diverging_server),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("rpc", tests, NULL, NULL);
}
