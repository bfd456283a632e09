/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Streamed replies through generated stubs (rpc-stream.idl), on every
 * transport, with real server processes:
 *
 *  - streams of 0, 1 and 10^6 items, async and through the iterator, and
 *    ends with a typed error or an errno;
 *  - several streams at once, push style (a loop), deadline by its timer;
 *  - a slow reader: the server's send sees -EAGAIN once the window is
 *    used, nothing queues, and the writable handler resumes it;
 *  - items held by an async client are consumed when it says so;
 *  - cancel (and closing an iterator) mid-stream reaches the handler's
 *    abandon handler; the deadline covers the whole stream;
 *  - the server dying mid-stream ends it with -ENOTCONN at once;
 *  - a hostile server (items beyond the credit, items for a call id that
 *    is not a stream) and a hostile client (credit for unknown calls,
 *    absurd credit, an absurd initial window).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "rpc-stream-client.h"
#include "rpc-stream-server.h"
#include "rpc/rpc-client-internal.h"
#include "rpc/rpc-server-internal.h"

#define TIMEOUT (20 * LRPC_USEC_PER_SEC)
#define MILLION 1000000u

/* --- The server ------------------------------------------------------------ */

enum prod_kind { P_LIST, P_TICKS, P_FOREVER };

/* One stream being produced: sends until the window is full, resumed by
 * the writable handler; ends itself, or when abandoned. */
typedef struct prod {
	lrpc_rpc_stream *s;
	enum prod_kind kind;
	uint64_t next, count;
	int32_t fail;
	uint32_t again; /* sends that found the window full */
	bool pumping;
	bool dead;      /* abandoned while pumping */
} prod;

static unsigned n_open;

static void
prod_free(prod *p)
{
	n_open--;
	free(p);
}

static int
prod_send(prod *p)
{
	char name[32];

	switch (p->kind) {
	case P_LIST:
		snprintf(name, sizeof(name), "e%llu",
			 (unsigned long long)p->next);
		return st_lister_list_send(p->s,
					   &(st_entry){ .name = name,
							.size = p->next },
					   p->next + 1);
	case P_TICKS:
		return st_lister_ticks_send(p->s, p->next, ~p->next);
	default:
		return st_lister_forever_send(p->s, (uint32_t)p->next);
	}
}

static void
pump(prod *p)
{
	int r;

	p->pumping = true;
	while (!p->dead) {
		if (p->kind != P_FOREVER && p->next == p->count) {
			r = p->fail ? lrpc_rpc_stream_fail(p->s, p->fail)
				    : lrpc_rpc_stream_end(p->s);
			th_report("ended %d again=%u", r, p->again);
			prod_free(p);
			return;
		}
		r = prod_send(p);
		if (r == -EAGAIN) {
			/* Nothing queued: the credit is the bound.  Told
			 * the 1st, 2nd, 4th, 8th... time (the report pipe
			 * is not read while a stream runs). */
			p->again++;
			if ((p->again & (p->again - 1)) == 0)
				th_report("again at %llu credit %u",
					  (unsigned long long)p->next,
					  lrpc_rpc_stream_get_credit(p->s));
			break;
		}
		if (r < 0) {
			th_report("send-failed %d", r);
			(void)lrpc_rpc_stream_end(p->s);
			prod_free(p);
			return;
		}
		p->next++;
	}
	p->pumping = false;
	if (p->dead)
		prod_free(p);
}

static void
on_writable(lrpc_rpc_stream *s, void *ud)
{
	/* More than any window of these tests: a hostile client's. */
	if (lrpc_rpc_stream_get_credit(s) > LRPC_RPC_STREAM_WINDOW)
		th_report("writable credit %u", lrpc_rpc_stream_get_credit(s));
	pump(ud);
}

static void
on_abandoned(lrpc_rpc_call *call, void *ud)
{
	prod *p = ud;

	th_report("abandoned reason=%d sent=%llu",
		  lrpc_rpc_call_get_abandon_reason(call),
		  (unsigned long long)p->next);
	/* Ending an abandoned stream frees it and says why nothing went. */
	th_report("end-after-abandon %d", lrpc_rpc_stream_end(p->s));
	if (p->pumping)
		p->dead = true;
	else
		prod_free(p);
}

static int
prod_start(lrpc_rpc_stream *s, enum prod_kind kind, uint64_t count,
	   int32_t fail)
{
	prod *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	*p = (prod){ .s = s, .kind = kind, .count = count, .fail = fail };
	n_open++;
	lrpc_rpc_stream_set_writable_handler(s, on_writable, p);
	lrpc_rpc_call_set_abandon_handler(lrpc_rpc_stream_get_call(s),
					  on_abandoned, p);
	/* From inside the handler: the first window goes out now. */
	pump(p);
	return 0;
}

static int
h_list(lrpc_rpc_stream *s, void *ud, uint32_t count, int32_t fail)
{
	if (count == 0 && fail != 0)
		return fail; /* the handler's own error fails the stream */
	return prod_start(s, P_LIST, count, fail);
}

static int
h_ticks(lrpc_rpc_stream *s, void *ud, uint64_t count)
{
	return prod_start(s, P_TICKS, count, 0);
}

static int
h_forever(lrpc_rpc_stream *s, void *ud)
{
	return prod_start(s, P_FOREVER, 0, 0);
}

/* A broken server: ITEM messages built by hand, past any credit. */
static int
h_flood(lrpc_rpc_stream *s, void *ud, uint32_t n, uint64_t id_delta)
{
	lrpc_rpc_call *call = lrpc_rpc_stream_get_call(s);
	lrpc_conn *conn = lrpc_rpc_call_get_conn(call);
	uint64_t id = call->call_id;
	lrpc__rpc_buf b = { 0 };

	for (uint32_t i = 0; i < n; i++) {
		lrpc__rpc_header h = { .call_id = id + id_delta,
				       .method = ST_LISTER_FLOOD_ORDINAL,
				       .kind = LRPC__RPC_ITEM,
				       .version = 2 };
		struct st_lister_flood__rep item = { .seq = i };
		int size = lrpc__rpc_build(&b, st_lister__interface.id, &h, 0,
					   st_lister__methods[3].reply, &item,
					   NULL, 65536);
		assert_true(size > 0);
		if (lrpc_conn_send_response(conn, b.data, (size_t)size) < 0)
			break;
	}
	lrpc__rpc_buf_done(&b);
	return st_lister_flood_end(s);
}

static int
h_open_streams(lrpc_rpc_call *call, void *ud, uint32_t *ret_n)
{
	*ret_n = n_open;
	return 0;
}

static const struct st_lister_handlers handlers = {
	.list = h_list,
	.ticks = h_ticks,
	.forever = h_forever,
	.flood = h_flood,
	.open_streams = h_open_streams,
};

static void
stream_setup(lrpc_server *s, lrpc_loop *loop, void *arg)
{
	assert_int_equal(st_lister_serve(s, &handlers, NULL), 0);
}

/* --- The client ------------------------------------------------------------ */

typedef th_rpc_fixture fixture;

static void
fixture_start(void **state, fixture *f)
{
	th_rpc_fixture_start(state, f, stream_setup);
}

static uint32_t
open_streams(fixture *f)
{
	uint32_t n = UINT32_MAX;

	assert_int_equal(st_lister_open_streams(f->rc, &n, TIMEOUT, NULL), 0);
	return n;
}

/* What an async stream delivered. */
typedef struct col {
	lrpc_rpc_client *rc;
	uint64_t items;
	uint64_t bad;      /* items out of order or wrong */
	int ends;
	int status;
	char name[64];
	char message[128];
	uint64_t cancel_after; /* cancel @id after this many items (0: no) */
	uint64_t id;
} col;

static void
col_end(lrpc_rpc_client *rc, int status, const lrpc_rpc_error *err,
	void *ud)
{
	col *c = ud;

	c->ends++;
	c->status = status;
	snprintf(c->name, sizeof(c->name), "%s",
		 err && err->name ? err->name : "");
	snprintf(c->message, sizeof(c->message), "%s",
		 err ? err->message : "");
}

static void
col_count(col *c)
{
	if (++c->items == c->cancel_after)
		assert_int_equal(lrpc_rpc_client_cancel(c->rc, c->id), 0);
}

static void
on_list_item(lrpc_rpc_client *rc, const st_entry *e, uint64_t done,
	     void *ud)
{
	col *c = ud;
	char want[32];

	snprintf(want, sizeof(want), "e%llu", (unsigned long long)c->items);
	if (strcmp(e->name, want) != 0 || e->size != c->items ||
	    done != c->items + 1)
		c->bad++;
	col_count(c);
}

static void
on_tick(lrpc_rpc_client *rc, uint64_t seq, uint64_t stamp, void *ud)
{
	col *c = ud;

	if (seq != c->items || stamp != ~seq)
		c->bad++;
	col_count(c);
}

static void
on_u32(lrpc_rpc_client *rc, uint32_t seq, void *ud)
{
	col *c = ud;

	if (seq != (uint32_t)c->items)
		c->bad++;
	col_count(c);
}

static void
run_until_end(fixture *f, col *c, int max_ms)
{
	long t0 = th_now_ms();

	while (c->ends == 0) {
		int r = lrpc_rpc_client_run_once(f->rc,
						 100 * LRPC_USEC_PER_MSEC);
		if (r == -ENOTCONN)
			break;
		assert_true(r >= 0);
		assert_true(th_now_ms() - t0 < max_ms);
	}
}

static void
async_list(fixture *f, uint32_t count, int32_t fail, col *c)
{
	*c = (col){ .rc = f->rc };
	assert_int_equal(st_lister_list_async(f->rc, count, fail, on_list_item,
					      col_end, c, TIMEOUT, &c->id),
			 0);
	run_until_end(f, c, 20000);
	assert_int_equal(c->ends, 1);
	assert_int_equal(c->items, count);
	assert_int_equal(c->bad, 0);
}

/* Every item of a list stream through the iterator; returns the end. */
static int
iter_list(fixture *f, uint32_t count, int32_t fail, lrpc_rpc_error *err)
{
	lrpc_rpc_iter *it = NULL;
	uint8_t buf[256];
	lrpc_arena arena;
	st_entry e;
	uint64_t done, n = 0;
	int r;

	lrpc_arena_init(&arena, buf, sizeof(buf), 0);
	assert_int_equal(st_lister_list_open(f->rc, count, fail, TIMEOUT, &it,
					     err),
			 0);
	while ((r = st_lister_list_next(it, &e, &done, &arena, err)) == 1) {
		char want[32];

		snprintf(want, sizeof(want), "e%llu", (unsigned long long)n);
		assert_string_equal(e.name, want);
		assert_int_equal(e.size, n);
		assert_int_equal(done, n + 1);
		n++;
		/* Each item's data lives in the arena until it is reset:
		 * a reader of any length needs no more than one item's. */
		lrpc_arena_reset(&arena);
	}
	assert_int_equal(n, count);
	/* The end is sticky. */
	assert_int_equal(st_lister_list_next(it, &e, &done, &arena, NULL), r);
	st_lister_list_close(it);
	lrpc_arena_done(&arena);
	return r;
}

static void
test_stream_sizes(void **state)
{
	lrpc_rpc_error err;
	fixture f;
	col c;

	fixture_start(state, &f);
	async_list(&f, 0, 0, &c);
	assert_int_equal(c.status, 0);
	assert_string_equal(c.name, "");
	async_list(&f, 1, 0, &c);
	assert_int_equal(c.status, 0);
	async_list(&f, 1000, 0, &c);
	assert_int_equal(c.status, 0);
	assert_int_equal(iter_list(&f, 0, 0, &err), 0);
	assert_int_equal(iter_list(&f, 1, 0, &err), 0);
	assert_int_equal(iter_list(&f, 1000, 0, &err), 0);
	assert_int_equal(err.code, 0);
	/* Every stream ended on the server too. */
	assert_int_equal(open_streams(&f), 0);
	assert_int_equal(lrpc_rpc_client_get_n_pending(f.rc), 0);
	th_rpc_fixture_stop(&f);
}

static void
test_stream_errors(void **state)
{
	lrpc_rpc_error err;
	fixture f;
	col c;

	fixture_start(state, &f);
	/* Items, then a typed error. */
	async_list(&f, 3, ST_STREAM_ERROR_NOT_FOUND, &c);
	assert_int_equal(c.status, ST_STREAM_ERROR_NOT_FOUND);
	assert_string_equal(c.name, "st.StreamError.NOT_FOUND");
	assert_int_equal(iter_list(&f, 3, ST_STREAM_ERROR_NOT_FOUND, &err),
			 -EREMOTEIO);
	assert_int_equal(err.code, ST_STREAM_ERROR_NOT_FOUND);
	assert_string_equal(err.name, "st.StreamError.NOT_FOUND");
	/* An errno, from the stream and from the handler's return. */
	async_list(&f, 2, -EIO, &c);
	assert_int_equal(c.status, -EIO);
	async_list(&f, 0, -ENOENT, &c);
	assert_int_equal(c.status, -ENOENT);
	assert_int_equal(iter_list(&f, 0, -ENOENT, &err), -ENOENT);
	assert_int_equal(err.code, -ENOENT);
	/* A stream method is not a call, and the other way round. */
	uint32_t n;
	assert_int_equal(lrpc_rpc_client_call(f.rc, &st_lister__interface,
					      &st_lister__methods[0],
					      &(struct st_lister_list__req){ 0 },
					      &(struct st_lister_list__rep){ 0 },
					      NULL, TIMEOUT, NULL),
			 -EINVAL);
	lrpc_rpc_iter *it = NULL;
	assert_int_equal(lrpc_rpc_iter_new(
				 &it, f.rc, &st_lister__interface,
				 &st_lister__methods[4],
				 &(struct st_lister_open_streams__req){ 0 },
				 TIMEOUT, NULL),
			 -EINVAL);
	assert_null(it);
	assert_int_equal(st_lister_open_streams(f.rc, &n, TIMEOUT, NULL), 0);
	assert_int_equal(n, 0);
	th_rpc_fixture_stop(&f);
}

/* 10^6 items async (10^5 through the iterator): seconds, not minutes. */
static void
test_stream_million(void **state)
{
	fixture f;
	col c = { 0 };

	fixture_start(state, &f);
	c.rc = f.rc;
	long t0 = th_now_ms();
	assert_int_equal(st_lister_ticks_async(f.rc, MILLION, on_tick,
					       col_end, &c, TIMEOUT, &c.id),
			 0);
	run_until_end(&f, &c, 30000);
	long async_ms = th_now_ms() - t0;
	assert_int_equal(c.status, 0);
	assert_int_equal(c.items, MILLION);
	assert_int_equal(c.bad, 0);

	/* The iterator: a tenth as many (the same path per item). */
	lrpc_rpc_iter *it;
	uint64_t seq, stamp, n = 0;
	t0 = th_now_ms();
	assert_int_equal(st_lister_ticks_open(f.rc, MILLION / 10, TIMEOUT, &it,
					      NULL),
			 0);
	while (st_lister_ticks_next(it, &seq, &stamp, NULL) == 1) {
		if (seq != n || stamp != ~n)
			c.bad++;
		n++;
	}
	st_lister_ticks_close(it);
	long iter_ms = th_now_ms() - t0;
	assert_int_equal(n, MILLION / 10);
	assert_int_equal(c.bad, 0);
	print_message("10^6 items async: %ld ms; 10^5 through the iterator: "
		      "%ld ms\n",
		      async_ms, iter_ms);
	assert_true(async_ms < 30000 && iter_ms < 30000);
	th_rpc_fixture_stop(&f);
}

/*
 * Push style, several streams at once on one connection: the loop
 * delivers the items of each to its own callbacks, in order; a stream's
 * deadline is kept by the loop's timer; freeing the RPC client ends a
 * stream still running with -ECANCELED.
 */
static void
test_stream_push(void **state)
{
	lrpc_loop *loop;
	fixture f;
	col a = { 0 }, b = { 0 }, d = { 0 }, e = { 0 };

	fixture_start(state, &f);
	assert_int_equal(lrpc_loop_new(&loop), 0);
	assert_int_equal(lrpc_rpc_client_attach_loop(f.rc, loop), 0);
	a.rc = b.rc = d.rc = e.rc = f.rc;
	assert_int_equal(st_lister_list_async(f.rc, 5000, 0, on_list_item,
					      col_end, &a, TIMEOUT, &a.id),
			 0);
	assert_int_equal(st_lister_ticks_async(f.rc, 20000, on_tick, col_end,
					       &b, TIMEOUT, &b.id),
			 0);
	assert_int_equal(st_lister_forever_async(f.rc, on_u32, col_end, &d,
						 200 * LRPC_USEC_PER_MSEC,
						 &d.id),
			 0);
	long t0 = th_now_ms();
	while ((a.ends == 0 || b.ends == 0 || d.ends == 0) &&
	       th_now_ms() - t0 < 20000)
		assert_true(lrpc_loop_run_once(loop, 100 * LRPC_USEC_PER_MSEC) >=
			    0);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.items, 5000);
	assert_int_equal(a.bad, 0);
	assert_int_equal(b.status, 0);
	assert_int_equal(b.items, 20000);
	assert_int_equal(b.bad, 0);
	assert_int_equal(d.status, -ETIMEDOUT);
	assert_int_equal(d.bad, 0);
	/* A stream still running when the RPC client goes. */
	assert_int_equal(st_lister_forever_async(f.rc, on_u32, col_end, &e,
						 TIMEOUT, &e.id),
			 0);
	while (e.items < 10)
		assert_true(lrpc_loop_run_once(loop, 100 * LRPC_USEC_PER_MSEC) >=
			    0);
	f.rc = lrpc_rpc_client_unref(f.rc);
	assert_int_equal(e.ends, 1);
	assert_int_equal(e.status, -ECANCELED);
	f.c = lrpc_client_unref(f.c);
	loop = lrpc_loop_unref(loop);
	assert_int_equal(th_server_stop(f.server), 0);
}

/*
 * An iterator read between other traffic on the same connection: an
 * async stream's items and sync calls arrive while it waits, and its own
 * items while a sync call waits; each goes where it belongs, in order.
 */
static void
test_stream_iterator_among_calls(void **state)
{
	lrpc_rpc_iter *it;
	uint8_t buf[256];
	lrpc_arena arena;
	st_entry e;
	uint64_t done, n = 0;
	fixture f;
	col c = { 0 };
	int r;

	fixture_start(state, &f);
	c.rc = f.rc;
	lrpc_arena_init(&arena, buf, sizeof(buf), 0);
	assert_int_equal(lrpc_rpc_client_set_stream_window(f.rc, 16), 0);
	assert_int_equal(st_lister_list_open(f.rc, 3000, 0, TIMEOUT, &it, NULL),
			 0);
	assert_int_equal(st_lister_ticks_async(f.rc, 3000, on_tick, col_end,
					       &c, TIMEOUT, &c.id),
			 0);
	while ((r = st_lister_list_next(it, &e, &done, &arena, NULL)) == 1) {
		char want[32];

		snprintf(want, sizeof(want), "e%llu", (unsigned long long)n);
		assert_string_equal(e.name, want);
		assert_int_equal(done, n + 1);
		n++;
		lrpc_arena_reset(&arena);
		/* The server may be done sending before we read it all. */
		if (n % 250 == 0)
			assert_true(open_streams(&f) <= 2);
	}
	assert_int_equal(r, 0);
	assert_int_equal(n, 3000);
	st_lister_list_close(it);
	run_until_end(&f, &c, 20000);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.items, 3000);
	assert_int_equal(c.bad, 0);
	lrpc_arena_done(&arena);
	th_rpc_fixture_stop(&f);
}

/*
 * A reader that does not read: the server sends one window and then sees
 * -EAGAIN, with nothing queued; every item the reader takes lets one more
 * out, never more than the window.
 */
static void
test_stream_slow_reader(void **state)
{
	lrpc_rpc_iter *it;
	char line[128];
	unsigned at, credit;
	fixture f;
	uint32_t seq;

	fixture_start(state, &f);
	assert_int_equal(lrpc_rpc_client_set_stream_window(f.rc, 8), 0);
	assert_int_equal(lrpc_rpc_client_set_stream_window(
				 f.rc, LRPC_RPC_STREAM_MAX_WINDOW + 1),
			 -EINVAL);
	assert_int_equal(st_lister_forever_open(f.rc, TIMEOUT, &it, NULL), 0);
	assert_true(th_server_expect(f.server, "again at", 5000, line,
				     sizeof(line)));
	assert_int_equal(sscanf(line, "again at %u credit %u", &at, &credit),
			 2);
	assert_int_equal(at, 8);
	assert_int_equal(credit, 0);
	/* Nothing more while nobody reads. */
	usleep(100 * 1000);
	for (uint32_t i = 0; i < 1000; i++) {
		assert_int_equal(st_lister_forever_next(it, &seq, NULL), 1);
		assert_int_equal(seq, i);
	}
	st_lister_forever_close(it);
	assert_true(th_server_expect(f.server, "abandoned", 5000, line,
				     sizeof(line)));
	unsigned long long sent;
	int reason;
	assert_int_equal(sscanf(line, "abandoned reason=%d sent=%llu",
				&reason, &sent),
			 2);
	assert_int_equal(reason, -ECANCELED);
	/* Read 1000: at most a window more went out. */
	assert_true(sent >= 1000 && sent <= 1008);
	assert_true(th_server_expect(f.server, "end-after-abandon", 5000, line,
				     sizeof(line)));
	assert_string_equal(line, "end-after-abandon -125");
	assert_int_equal(open_streams(&f), 0);
	th_rpc_fixture_stop(&f);
}

/* Items held by the client (lrpc_rpc_client_set_stream_hold(), for a
 * client that passes them on) are not consumed when their callback
 * returns: the server stops at the window until the client consumes. */
static void
test_stream_held_items(void **state)
{
	char line[128];
	fixture f;
	col c = { 0 };

	fixture_start(state, &f);
	c.rc = f.rc;
	assert_int_equal(lrpc_rpc_client_set_stream_window(f.rc, 8), 0);
	assert_int_equal(st_lister_forever_async(f.rc, on_u32, col_end, &c,
						 TIMEOUT, &c.id),
			 0);
	assert_int_equal(lrpc_rpc_client_set_stream_hold(f.rc, c.id + 1),
			 -ENOENT);
	assert_int_equal(lrpc_rpc_client_release_stream_items(f.rc, c.id, 1),
			 -ENOENT);
	assert_int_equal(lrpc_rpc_client_set_stream_hold(f.rc, c.id), 0);
	long t0 = th_now_ms();
	while (c.items < 8) {
		assert_true(lrpc_rpc_client_run_once(
				    f.rc, 100 * LRPC_USEC_PER_MSEC) >= 0);
		assert_true(th_now_ms() - t0 < 5000);
	}
	assert_true(th_server_expect(f.server, "again at", 5000, line,
				     sizeof(line)));
	/* Nothing more while the items are held. */
	for (int i = 0; i < 10; i++)
		assert_true(lrpc_rpc_client_run_once(
				    f.rc, 10 * LRPC_USEC_PER_MSEC) >= 0);
	assert_int_equal(c.items, 8);
	assert_int_equal(lrpc_rpc_client_release_stream_items(f.rc, c.id, 9),
			 -EINVAL);
	/* Consumed: the server sends again, a window at most. */
	assert_int_equal(lrpc_rpc_client_release_stream_items(f.rc, c.id, 8), 0);
	while (c.items < 16) {
		assert_true(lrpc_rpc_client_run_once(
				    f.rc, 100 * LRPC_USEC_PER_MSEC) >= 0);
		assert_true(th_now_ms() - t0 < 5000);
	}
	for (int i = 0; i < 10; i++)
		assert_true(lrpc_rpc_client_run_once(
				    f.rc, 10 * LRPC_USEC_PER_MSEC) >= 0);
	assert_int_equal(c.items, 16);
	assert_int_equal(c.bad, 0);
	assert_int_equal(lrpc_rpc_client_cancel(f.rc, c.id), 0);
	assert_true(th_server_expect(f.server, "abandoned reason=-125", 5000,
				     line, sizeof(line)));
	assert_int_equal(c.ends, 0);
	assert_int_equal(open_streams(&f), 0);
	th_rpc_fixture_stop(&f);
}

/* Cancel from an item callback: the handler's abandon handler hears it,
 * the end callback never runs, late items are dropped. */
static void
test_stream_cancel(void **state)
{
	char line[128];
	fixture f;
	col c = { 0 };

	fixture_start(state, &f);
	c.rc = f.rc;
	c.cancel_after = 10;
	assert_int_equal(st_lister_forever_async(f.rc, on_u32, col_end, &c,
						 TIMEOUT, &c.id),
			 0);
	long t0 = th_now_ms();
	while (c.items < 10)
		assert_true(lrpc_rpc_client_run_once(
				    f.rc, 100 * LRPC_USEC_PER_MSEC) >= 0);
	assert_true(th_server_expect(f.server, "abandoned reason=-125", 5000,
				     line, sizeof(line)));
	assert_true(th_now_ms() - t0 < 5000);
	/* Items already on their way are dropped: no callback. */
	for (int i = 0; i < 5; i++)
		assert_true(lrpc_rpc_client_run_once(
				    f.rc, 10 * LRPC_USEC_PER_MSEC) >= 0);
	assert_int_equal(c.items, 10);
	assert_int_equal(c.ends, 0);
	assert_int_equal(lrpc_rpc_client_cancel(f.rc, c.id), -ENOENT);
	assert_int_equal(lrpc_rpc_client_get_n_pending(f.rc), 0);
	assert_int_equal(open_streams(&f), 0);
	th_rpc_fixture_stop(&f);
}

/* The deadline covers the whole stream: it ends with -ETIMEDOUT there,
 * and the server is told. */
static void
test_stream_deadline(void **state)
{
	char line[128];
	fixture f;
	col c = { 0 };

	fixture_start(state, &f);
	c.rc = f.rc;
	long t0 = th_now_ms();
	assert_int_equal(st_lister_forever_async(f.rc, on_u32, col_end, &c,
						 300 * LRPC_USEC_PER_MSEC,
						 &c.id),
			 0);
	run_until_end(&f, &c, 5000);
	long took = th_now_ms() - t0;
	assert_int_equal(c.status, -ETIMEDOUT);
	assert_string_equal(c.name, "lrpc.Timeout");
	assert_true(took >= 290 && took < 3000);
	assert_true(c.items > 0);
	assert_int_equal(c.bad, 0);
	assert_true(th_server_expect(f.server, "abandoned reason=-125", 5000,
				     line, sizeof(line)));

	/* The iterator: next returns -ETIMEDOUT at the deadline. */
	lrpc_rpc_iter *it;
	lrpc_rpc_error err;
	uint32_t seq;
	int r;
	t0 = th_now_ms();
	assert_int_equal(st_lister_forever_open(f.rc, 300 * LRPC_USEC_PER_MSEC,
						&it, NULL),
			 0);
	while ((r = st_lister_forever_next(it, &seq, &err)) == 1)
		;
	took = th_now_ms() - t0;
	assert_int_equal(r, -ETIMEDOUT);
	assert_string_equal(err.name, "lrpc.Timeout");
	assert_true(took >= 290 && took < 3000);
	assert_int_equal(st_lister_forever_next(it, &seq, NULL), -ETIMEDOUT);
	st_lister_forever_close(it);
	assert_true(th_server_expect(f.server, "abandoned reason=-125", 5000,
				     line, sizeof(line)));
	assert_int_equal(open_streams(&f), 0);
	th_rpc_fixture_stop(&f);
}

/* The server dies mid-stream: the end callback and the iterator learn it
 * at once. */
static void
test_stream_server_death(void **state)
{
	fixture f;
	col c = { 0 };

	for (int iter = 0; iter < 2; iter++) {
		fixture_start(state, &f);
		c = (col){ .rc = f.rc };
		lrpc_rpc_iter *it = NULL;
		uint32_t seq;
		if (iter) {
			assert_int_equal(st_lister_forever_open(
						 f.rc, LRPC_TIMEOUT_INFINITE,
						 &it, NULL),
					 0);
			assert_int_equal(st_lister_forever_next(it, &seq, NULL),
					 1);
		} else {
			assert_int_equal(st_lister_forever_async(
						 f.rc, on_u32, col_end, &c,
						 LRPC_TIMEOUT_INFINITE, &c.id),
					 0);
			while (c.items < 100)
				assert_true(lrpc_rpc_client_run_once(
						    f.rc,
						    100 * LRPC_USEC_PER_MSEC) >=
					    0);
		}
		th_server_kill(f.server);
		long t0 = th_now_ms();
		if (iter) {
			int r;
			while ((r = st_lister_forever_next(it, &seq, NULL)) ==
			       1)
				;
			assert_int_equal(r, -ENOTCONN);
			st_lister_forever_close(it);
		} else {
			run_until_end(&f, &c, 5000);
			assert_int_equal(c.ends, 1);
			assert_int_equal(c.status, -ENOTCONN);
		}
		assert_true(th_now_ms() - t0 < 2000);
		f.rc = lrpc_rpc_client_unref(f.rc);
		f.c = lrpc_client_unref(f.c);
	}
}

/*
 * A server that sends past the credit breaks the protocol: the stream
 * fails with lrpc.BadMessage and the connection is dropped.  (Items that
 * arrive while the iterator waits unread, during another call: an async
 * reader consumes and grants as it goes, so it cannot tell.)
 */
static void
test_stream_hostile_server_beyond_credit(void **state)
{
	lrpc_rpc_error err;
	lrpc_rpc_iter *it;
	fixture f;
	uint32_t seq, n;
	int r;

	fixture_start(state, &f);
	assert_int_equal(lrpc_rpc_client_set_stream_window(f.rc, 4), 0);
	assert_int_equal(st_lister_flood_open(f.rc, 20, 0, TIMEOUT, &it, NULL),
			 0);
	assert_int_equal(st_lister_open_streams(f.rc, &n, TIMEOUT, NULL),
			 -ENOTCONN);
	assert_false(lrpc_client_is_connected(f.c));
	/* What was granted is there, then the verdict. */
	for (uint32_t i = 0; i < 4; i++) {
		assert_int_equal(st_lister_flood_next(it, &seq, &err), 1);
		assert_int_equal(seq, i);
	}
	r = st_lister_flood_next(it, &seq, &err);
	assert_int_equal(r, -EBADMSG);
	assert_string_equal(err.name, "lrpc.BadMessage");
	assert_non_null(strstr(err.message, "more items than"));
	st_lister_flood_close(it);
	th_rpc_fixture_stop(&f);
}

/* Items for a call id that is no stream of ours are dropped; the stream
 * and the connection go on. */
static void
test_stream_hostile_server_unknown_id(void **state)
{
	fixture f;
	col c = { 0 };

	fixture_start(state, &f);
	c.rc = f.rc;
	assert_int_equal(st_lister_flood_async(f.rc, 100, 1000, on_u32,
					       col_end, &c, TIMEOUT, &c.id),
			 0);
	run_until_end(&f, &c, 5000);
	assert_int_equal(c.items, 0);
	assert_int_equal(c.status, 0);
	async_list(&f, 5, 0, &c);
	assert_int_equal(open_streams(&f), 0);
	th_rpc_fixture_stop(&f);
}

/* Send a raw CREDIT for @call_id granting @items. */
static void
send_credit(lrpc_client *c, uint64_t call_id, uint32_t items)
{
	uint8_t buf[LRPC__RPC_HDR_SIZE] = { 0 };
	lrpc_msg_header *h = (lrpc_msg_header *)buf;
	lrpc__wr w = { .buf = buf + sizeof(*h),
		       .cap = sizeof(buf) - sizeof(*h) };
	lrpc__rpc_header rh = { .call_id = call_id,
				.method = ST_LISTER_FOREVER_ORDINAL,
				.kind = LRPC__RPC_CREDIT, .version = 2,
				.hash = items };

	lrpc__rpc_header_write(&w, &rh);
	h->size = (uint32_t)LRPC__RPC_HDR_SIZE;
	h->id = (int32_t)st_lister__interface.id;
	assert_int_equal(lrpc_client_send(c, buf, h->size), 0);
}

/*
 * A client's credit for calls that are not its streams is ignored, and
 * absurd credit is capped at LRPC_RPC_STREAM_MAX_WINDOW: the server never
 * has more than that outstanding for one stream.
 */
static void
test_stream_hostile_client_credit(void **state)
{
	lrpc_rpc_iter *it;
	char line[128];
	unsigned credit;
	uint32_t n, seq;
	fixture f;

	fixture_start(state, &f);
	assert_int_equal(lrpc_rpc_client_set_stream_window(f.rc, 2), 0);
	/* An iterator nobody reads: it grants nothing. */
	assert_int_equal(st_lister_forever_open(f.rc, TIMEOUT, &it, NULL), 0);
	assert_true(th_server_expect(f.server, "again at", 5000, line,
				     sizeof(line)));
	assert_string_equal(line, "again at 2 credit 0");
	uint64_t id = f.rc->next_call_id;
	/* Credit for ids that are not streams here: nothing moves. */
	send_credit(f.c, id + 1000, 100);
	send_credit(f.c, 0, 100);
	send_credit(f.c, id, 0);
	assert_int_equal(open_streams(&f), 1);
	assert_int_equal(th_server_count(f.server, "again", 200), 0);
	/* Absurd credit: capped.  The server sends what it may, up to the
	 * cap; we receive more than we granted and drop the connection. */
	send_credit(f.c, id, UINT32_MAX);
	send_credit(f.c, id, UINT32_MAX);
	assert_int_equal(st_lister_open_streams(f.rc, &n, TIMEOUT, NULL),
			 -ENOTCONN);
	for (uint32_t i = 0; i < 2; i++)
		assert_int_equal(st_lister_forever_next(it, &seq, NULL), 1);
	assert_int_equal(st_lister_forever_next(it, &seq, NULL), -EBADMSG);
	st_lister_forever_close(it);
	/* Capped: the credit outstanding never passes the maximum. */
	assert_true(th_server_expect(f.server, "writable credit", 5000, line,
				     sizeof(line)));
	do {
		assert_int_equal(sscanf(line, "writable credit %u", &credit),
				 1);
		assert_true(credit <= LRPC_RPC_STREAM_MAX_WINDOW);
	} while (th_server_expect(f.server, "writable credit", 200, line,
				  sizeof(line)));
	th_rpc_fixture_stop(&f);
}

/*
 * A request asking for an absurd initial window gets the largest: the
 * server stops at LRPC_RPC_STREAM_MAX_WINDOW items.  (Its items, for a
 * call id our RPC client does not know, are dropped there.)
 */
static void
test_stream_hostile_client_window(void **state)
{
	char line[128];
	unsigned at, credit;
	lrpc__rpc_buf b = { 0 };
	fixture f;

	fixture_start(state, &f);
	assert_int_equal(lrpc_rpc_client_negotiate(f.rc, &st_lister__interface,
						   TIMEOUT),
			 2);
	lrpc__rpc_header h = { .call_id = 1u << 30,
			       .method = ST_LISTER_FOREVER_ORDINAL,
			       .kind = LRPC__RPC_REQUEST, .version = 2,
			       .reserved = UINT16_MAX };
	struct st_lister_forever__req req = { 0 };
	int size = lrpc__rpc_build(&b, st_lister__interface.id, &h, 2,
				   st_lister__methods[2].request, &req, NULL,
				   65536);
	assert_true(size > 0);
	assert_int_equal(lrpc_client_send(f.c, b.data, (size_t)size), 0);
	lrpc__rpc_buf_done(&b);
	assert_true(th_server_expect(f.server, "again at", 5000, line,
				     sizeof(line)));
	assert_int_equal(sscanf(line, "again at %u credit %u", &at, &credit),
			 2);
	assert_int_equal(at, LRPC_RPC_STREAM_MAX_WINDOW);
	assert_int_equal(credit, 0);
	/* The connection is fine for our own calls meanwhile. */
	assert_int_equal(open_streams(&f), 1);
	th_rpc_fixture_stop(&f);
}

int
main(void)
{
	static const th_test tests[] = {
		TH_TEST_ON(test_stream_sizes, TH_ON_ALL),
		TH_TEST_ON(test_stream_errors, TH_ON_ALL),
		TH_TEST_ON(test_stream_million, TH_ON_ALL),
		TH_TEST_ON(test_stream_push, TH_ON_ALL),
		TH_TEST_ON(test_stream_iterator_among_calls, TH_ON_ALL),
		TH_TEST_ON(test_stream_slow_reader, TH_ON_ALL),
		TH_TEST_ON(test_stream_held_items, TH_ON_ALL),
		TH_TEST_ON(test_stream_cancel, TH_ON_ALL),
		TH_TEST_ON(test_stream_deadline, TH_ON_ALL),
		TH_TEST_ON(test_stream_server_death, TH_ON_ALL),
		TH_TEST_ON(test_stream_hostile_server_beyond_credit, TH_ON_ALL),
		TH_TEST_ON(test_stream_hostile_server_unknown_id, TH_ON_ALL),
		TH_TEST_ON(test_stream_hostile_client_credit, TH_ON_ALL),
		TH_TEST_ON(test_stream_hostile_client_window, TH_ON_ALL),
	};

	signal(SIGPIPE, SIG_IGN);
	return th_run_group("rpc-stream", tests,
			    sizeof(tests) / sizeof(tests[0]));
}
