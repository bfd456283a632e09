/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sync calls, sizes, timeouts, the selector and the stop switch. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static th_server *
spawn_standard(void **state)
{
	th_server *s = th_server_spawn(*state, NULL, NULL,
				       th_standard_handlers, NULL);
	assert_non_null(s);
	return s;
}

static void
test_core_sizes_doubling(void **state)
{
	th_server *s = spawn_standard(state);
	lrpc_client *c;
	uint32_t max;

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	max = lrpc_client_get_max_msg_size(c);
	assert_int_equal(max, LRPC_DEFAULT_MAX_MSG_SIZE);
	uint8_t *req = malloc(max), *resp = malloc(max);
	assert_non_null(req);
	assert_non_null(resp);
	/* Header only, then doubling up to the maximum, then the maximum. */
	size_t size = sizeof(lrpc_msg_header);
	for (unsigned i = 0;; i++) {
		th_fill(req, size, TH_ECHO, i);
		int r = th_call(c, req, size, resp, max, 5000);
		assert_int_equal(r, (int)size);
		const lrpc_msg_header *h = (const void *)resp;
		assert_int_equal(h->id, TH_ECHO);
		assert_int_equal(h->error, 0);
		assert_true(th_check(resp, size, i));
		if (size == max)
			break;
		size = size * 2 > max ? max : size * 2;
	}
	free(req);
	free(resp);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

static void
test_core_max_plus_one_emsgsize(void **state)
{
	th_server *s = spawn_standard(state);
	lrpc_client *c;

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	uint32_t max = lrpc_client_get_max_msg_size(c);
	uint8_t *req = malloc(max + 1), resp[64];
	th_fill(req, max + 1, TH_ECHO, 1);
	assert_int_equal(lrpc_client_send(c, req, max + 1), -EMSGSIZE);
	assert_int_equal(th_call(c, req, max + 1, resp, sizeof(resp),
					  1000),
			 -EMSGSIZE);
	/* Still usable afterwards. */
	th_fill(req, 100, TH_ECHO, 2);
	assert_int_equal(th_call(c, req, 100, req, max, 1000), 100);
	free(req);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

static void
test_core_header_size_mismatch_einval(void **state)
{
	th_server *s = spawn_standard(state);
	lrpc_client *c;
	uint8_t req[128];

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	th_fill(req, 64, TH_ECHO, 1);
	assert_int_equal(lrpc_client_send(c, req, 65), -EINVAL);
	assert_int_equal(lrpc_client_send(c, req, 8), -EINVAL);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

static void
test_core_no_reply_times_out(void **state)
{
	th_server *s = spawn_standard(state);
	lrpc_client *c;
	uint8_t req[64], resp[256];

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	th_fill(req, sizeof(req), TH_NO_REPLY, 0);
	assert_int_equal(th_call(c, req, sizeof(req), resp,
					  sizeof(resp), 200),
			 -ETIMEDOUT);
	/* Polling with timeout 0 finds nothing either. */
	assert_int_equal(th_recv(c, resp, sizeof(resp), 0), -EAGAIN);
	assert_true(lrpc_client_is_connected(c));
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

static void
test_core_unknown_id_enosys(void **state)
{
	th_server *s = spawn_standard(state);
	lrpc_client *c;
	uint8_t req[64], resp[256];
	const lrpc_msg_header *h = (const void *)resp;

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	th_fill(req, sizeof(req), 4242, 0);
	assert_int_equal(th_call(c, req, sizeof(req), resp,
					  sizeof(resp), 1000),
			 (int)sizeof(lrpc_msg_header));
	assert_int_equal(h->id, 4242);
	assert_int_equal(h->error, -ENOSYS);
	/* A handler's error becomes an error response too. */
	th_fill(req, sizeof(req), TH_FAIL, 0);
	assert_int_equal(th_call(c, req, sizeof(req), resp,
					  sizeof(resp), 1000),
			 (int)sizeof(lrpc_msg_header));
	assert_int_equal(h->error, -EBADE);
	/* And the connection is still up. */
	th_fill(req, sizeof(req), TH_ECHO, 3);
	assert_int_equal(th_call(c, req, sizeof(req), resp,
					  sizeof(resp), 1000),
			 (int)sizeof(req));
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

static int
fallback(lrpc_conn *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	lrpc_msg_header h = { .size = sizeof(h), .id = m->id, .error = -ERANGE };
	return lrpc_conn_send_response(c, &h, sizeof(h));
}

static int
selector(lrpc_conn *c, const lrpc_msg_header *m, void *data,
	 lrpc_handler_fn *fn, void **ud)
{
	if (m->id == 1000)
		return -EDOM;
	if (m->id >= 2000 && m->id < 3000) {
		*fn = fallback;
		*ud = NULL;
		return 1;
	}
	return 0;
}

static void
selector_setup(lrpc_server *s, lrpc_loop *loop, void *arg)
{
	th_standard_handlers(s, loop, arg);
	lrpc_server_set_fallback(s, fallback, NULL);
	lrpc_server_set_selector(s, selector, NULL);
}

static void
test_core_selector_routes(void **state)
{
	th_server *s = th_server_spawn(*state, NULL, NULL, selector_setup,
				       NULL);
	lrpc_client *c;
	uint8_t req[64], resp[256];
	const lrpc_msg_header *h = (const void *)resp;

	assert_non_null(s);
	assert_int_equal(th_connect(*state, &c, NULL), 0);
	struct {
		int32_t id;
		int expect_error;
	} cases[] = { { TH_ECHO, 0 }, { 1000, -EDOM }, { 2500, -ERANGE },
		      { 77, -ERANGE } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		th_fill(req, sizeof(req), cases[i].id, 0);
		int r = th_call(c, req, sizeof(req), resp,
					 sizeof(resp), 1000);
		assert_true(r >= (int)sizeof(lrpc_msg_header));
		assert_int_equal(h->id, cases[i].id);
		assert_int_equal(h->error, cases[i].expect_error);
	}
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

static void
test_core_stop_sending_eagain(void **state)
{
	th_server *s = spawn_standard(state);
	lrpc_client *c, *c2;
	struct {
		lrpc_msg_header h;
		uint32_t on, pad;
	} stop = { .h = { .size = sizeof(stop), .id = TH_STOP }, .on = 1 };
	uint8_t req[64], resp[256];

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	assert_int_equal(th_call(c, &stop, sizeof(stop), resp,
					  sizeof(resp), 1000),
			 (int)sizeof(lrpc_msg_header));
	th_fill(req, sizeof(req), TH_ECHO, 0);
	assert_int_equal(lrpc_client_send(c, req, sizeof(req)), -EAGAIN);
	assert_int_equal(th_call(c, req, sizeof(req), resp,
					  sizeof(resp), 100),
			 -EAGAIN);
	/* A client connecting now is told too. */
	assert_int_equal(th_connect(*state, &c2, NULL), 0);
	assert_int_equal(lrpc_client_send(c2, req, sizeof(req)), -EAGAIN);
	lrpc_client_unref(c2);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

static void
test_core_sendv_gathers(void **state)
{
	th_server *s = spawn_standard(state);
	lrpc_client *c;
	uint8_t req[300], resp[512];

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	th_fill(req, sizeof(req), TH_ECHO, 9);
	/* The header split across entries, empty entries in between. */
	struct iovec iov[] = {
		{ req, 5 }, { req + 5, 0 }, { req + 5, 20 }, { req + 25, 275 },
	};
	assert_int_equal(th_callv(c, iov, 4, resp, sizeof(resp),
						1000),
			 (int)sizeof(req));
	assert_true(th_check(resp, sizeof(req), 9));
	/* A response bigger than the buffer stays queued: -EMSGSIZE. */
	assert_int_equal(lrpc_client_send(c, req, sizeof(req)), 0);
	assert_int_equal(th_recv(c, resp, 100, 1000), -EMSGSIZE);
	assert_int_equal(th_recv(c, resp, sizeof(resp), 1000),
			 (int)sizeof(req));
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

static void
test_core_late_response_dropped(void **state)
{
	th_server *s = spawn_standard(state);
	lrpc_client *c;
	uint8_t req[64], resp[256];

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	/* A call that times out, whose answer then arrives late, must not be
	 * taken for the answer of the next call. */
	th_fill(req, sizeof(req), TH_NO_REPLY, 0);
	assert_int_equal(th_call(c, req, sizeof(req), resp,
					  sizeof(resp), 50),
			 -ETIMEDOUT);
	th_fill(req, sizeof(req), TH_ECHO, 1);
	assert_int_equal(lrpc_client_send(c, req, sizeof(req)), 0);
	th_msleep(50);
	th_fill(req, sizeof(req), TH_ECHO, 2);
	assert_int_equal(th_call(c, req, sizeof(req), resp,
					  sizeof(resp), 1000),
			 (int)sizeof(req));
	assert_true(th_check(resp, sizeof(req), 2));
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

static int
h_zero_copy(lrpc_conn *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	void *buf, *buf2;
	int r;

	/* A reservation blocks other sends until committed or aborted. */
	r = lrpc_conn_reserve_response(c, size, &buf);
	if (r < 0)
		return r;
	if (lrpc_conn_reserve_event(c, size, &buf2) != -EBUSY ||
	    lrpc_conn_send_response(c, m, size) != -EBUSY)
		return -EILSEQ;
	lrpc_conn_discard_reservation(c);
	r = lrpc_conn_reserve_response(c, size + 64, &buf);
	if (r < 0)
		return r;
	memcpy(buf, m, size);
	/* The library fills size, flags and seq: scribble on them. */
	((lrpc_msg_header *)buf)->size = 1;
	((lrpc_msg_header *)buf)->flags = 0xff;
	return lrpc_conn_commit(c, size);
}

static void
zero_copy_setup(lrpc_server *s, lrpc_loop *loop, void *arg)
{
	lrpc_server_add_handler(s, 50, h_zero_copy, NULL);
}

static void
test_core_server_reserve_commit(void **state)
{
	th_server *s = th_server_spawn(*state, NULL, NULL, zero_copy_setup,
				       NULL);
	lrpc_client *c;
	uint8_t req[1000], resp[2000];

	assert_non_null(s);
	assert_int_equal(th_connect(*state, &c, NULL), 0);
	for (unsigned i = 0; i < 200; i++) {
		size_t size = 24 + (i * 37) % 900;
		th_fill(req, size, 50, i);
		assert_int_equal(th_call(c, req, size, resp,
						  sizeof(resp), 1000),
				 (int)size);
		assert_int_equal(((lrpc_msg_header *)resp)->error, 0);
		assert_true(th_check(resp, size, i));
	}
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

/* The client's zero-copy calls: reserve and commit to send in place,
 * recv_view and release to read in place. */
static void
test_core_client_zero_copy(void **state)
{
	th_server *s = spawn_standard(state);
	lrpc_client *c;
	const lrpc_msg_header *m = NULL, *m2 = NULL;
	lrpc_msg_header local = { .size = sizeof(local) };
	uint8_t resp[4096];
	size_t size = 0;
	void *buf = NULL, *buf2 = NULL;

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	/* Reserve, fill in place, commit; read back through a view. */
	assert_int_equal(lrpc_client_reserve(c, 256, &buf), 0);
	assert_non_null(buf);
	assert_int_equal(lrpc_client_reserve(c, 256, &buf2), -EBUSY);
	th_fill(buf, 256, TH_ECHO, 5);
	assert_int_equal(lrpc_client_commit(c, 256), 0);
	assert_int_equal(th_recv_view(c, &m, &size, 2000), 256);
	assert_int_equal(size, 256);
	assert_non_null(m);
	assert_int_equal(m->size, 256);
	assert_int_equal(m->id, TH_ECHO);
	assert_int_equal(m->error, 0);
	assert_true(th_check(m, 256, 5));
	/* One view at a time. */
	assert_int_equal(th_recv_view(c, &m2, &size, 0), -EBUSY);
	assert_int_equal(th_recv(c, resp, sizeof(resp), 0), -EBUSY);
	/* Only the view itself can be given back. */
	assert_int_equal(lrpc_client_release(c, &local), -EINVAL);
	assert_int_equal(lrpc_client_release(
				 c, (const lrpc_msg_header *)(const void *)
					    ((const uint8_t *)m + 8)),
			 -EINVAL);
	assert_int_equal(lrpc_client_release(c, m), 0);
	assert_int_equal(lrpc_client_release(c, m), -EINVAL);
	/* Nothing left to view. */
	assert_int_equal(th_recv_view(c, &m2, &size, 0), -EAGAIN);

	/* No reservation: nothing to commit. */
	assert_int_equal(lrpc_client_commit(c, 256), -EINVAL);
	/* Abort, then reserve again; commit less than reserved. */
	assert_int_equal(lrpc_client_reserve(c, 1000, &buf), 0);
	lrpc_client_discard_reservation(c);
	assert_int_equal(lrpc_client_commit(c, 100), -EINVAL);
	assert_int_equal(lrpc_client_reserve(c, 1000, &buf), 0);
	th_fill(buf, 200, TH_ECHO, 6);
	assert_int_equal(lrpc_client_commit(c, 1001), -EINVAL);
	assert_int_equal(lrpc_client_commit(c, 200), 0);
	assert_int_equal(th_recv(c, resp, sizeof(resp), 2000), 200);
	assert_true(th_check(resp, 200, 6));
	/* An aborted reservation sent nothing. */
	assert_int_equal(th_recv(c, resp, sizeof(resp), 100),
			 -ETIMEDOUT);

	/* Many round trips, each through a view, sizes up to 64 KiB. */
	for (unsigned i = 0; i < 200; i++) {
		size_t n = 24 + (i * 331u) % (64u * 1024u - 24u);
		assert_int_equal(lrpc_client_reserve(c, n, &buf), 0);
		th_fill(buf, n, TH_ECHO, i);
		assert_int_equal(lrpc_client_commit(c, n), 0);
		assert_int_equal(th_recv_view(c, &m, &size, 2000),
				 (int)n);
		assert_int_equal(m->size, n);
		assert_true(th_check(m, n, i));
		assert_int_equal(lrpc_client_release(c, m), 0);
	}
	th_echo(c, 100, 7, 2000);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TH_TEST(test_core_sizes_doubling),
		TH_TEST(test_core_max_plus_one_emsgsize),
		TH_TEST(test_core_header_size_mismatch_einval),
		TH_TEST(test_core_no_reply_times_out),
		TH_TEST(test_core_unknown_id_enosys),
		TH_TEST(test_core_selector_routes),
		TH_TEST(test_core_stop_sending_eagain),
		TH_TEST(test_core_sendv_gathers),
		TH_TEST(test_core_late_response_dropped),
		TH_TEST(test_core_server_reserve_commit),
		TH_TEST(test_core_client_zero_copy),
	};
	return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
