/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The event channel: single events and long bursts, events sent from the
 * created callback, responses sent as events, events never mistaken for a
 * call's response, receive timeouts, dispatch through callbacks, event
 * sizes, and a flood to a client that does not read.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

enum {
	EV_SANDWICH = 200,   /* 3 events, the response, 3 more events */
	EV_FLOOD = 201,      /* payload u32 size: events until -EAGAIN */
	EV_HELLO = 202,      /* the event sent from the created callback */
	EV_SIZED = 204,      /* payload u32 size: one event of that size */
	EV_PACED = 205,      /* payload u32 n: n events 5 ms apart, then the
			      * response */
};

/* An event as sent by th_standard_handlers' TH_EVENTS burst. */
typedef struct seq_event {
	lrpc_msg_header h;
	uint32_t seq, pad;
} seq_event;

typedef struct u32_req {
	lrpc_msg_header h;
	uint32_t v, pad;
} u32_req;

typedef struct flood_resp {
	lrpc_msg_header h;
	uint32_t sent;
	int32_t last_error;
	int32_t again_error; /* one more send after the first -EAGAIN */
	uint32_t events_queued;
	uint32_t bytes_queued;
	uint32_t pad;
	uint64_t events;
	uint64_t send_retries;
} flood_resp;

#define FLOOD_QUEUE (64u * 1024u)

/* --- Server side (runs in the forked server) --- */

static uint32_t sandwich_seq; /* events sent by EV_SANDWICH so far */

static int
send_seq_event(lrpc_conn *c, int32_t id, uint32_t seq)
{
	seq_event ev = { .h = { .size = sizeof(ev), .id = id }, .seq = seq };

	return lrpc_conn_send_event(c, &ev, sizeof(ev));
}

static int
h_sandwich(lrpc_conn *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	struct {
		lrpc_msg_header h;
		char text[8];
	} resp = { .h = { .size = sizeof(resp), .id = m->id },
		   .text = "answer" };
	int r;

	for (int i = 0; i < 3; i++)
		if ((r = send_seq_event(c, EV_SANDWICH, sandwich_seq++)) < 0)
			return r;
	if ((r = lrpc_conn_send_response(c, &resp, sizeof(resp))) < 0)
		return r;
	for (int i = 0; i < 3; i++)
		if ((r = send_seq_event(c, EV_SANDWICH, sandwich_seq++)) < 0)
			return r;
	return 0;
}

static int
h_flood(lrpc_conn *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	flood_resp resp = { .h = { .size = sizeof(resp), .id = m->id } };
	lrpc_conn_stats st;
	uint32_t ev_size;
	uint8_t *ev;
	int r = 0;

	if (size < sizeof(*m) + sizeof(ev_size))
		return -EINVAL;
	memcpy(&ev_size, m + 1, sizeof(ev_size));
	if (ev_size < sizeof(seq_event) || ev_size > 65536)
		return -EINVAL;
	ev = calloc(1, ev_size);
	if (!ev)
		return -ENOMEM;
	/* Never read by the client: this ends with -EAGAIN, or fails. */
	while (resp.sent < 1000000) {
		seq_event *h = (seq_event *)ev;
		h->h.size = ev_size;
		h->h.id = EV_FLOOD;
		h->seq = resp.sent;
		r = lrpc_conn_send_event(c, ev, ev_size);
		if (r < 0)
			break;
		resp.sent++;
	}
	resp.last_error = r;
	resp.again_error = lrpc_conn_send_event(c, ev, ev_size);
	free(ev);
	r = lrpc_conn_get_stats(c, &st, sizeof(st));
	if (r < 0)
		return r;
	resp.events_queued = st.events_queued;
	resp.bytes_queued = st.bytes_queued;
	resp.events = st.events;
	resp.send_retries = st.send_retries;
	th_report("flood sent=%u last=%d queued=%u bytes=%u", resp.sent,
		  resp.last_error, st.events_queued, st.bytes_queued);
	return lrpc_conn_send_response(c, &resp, sizeof(resp));
}

static int
h_sized(lrpc_conn *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	uint32_t ev_size;
	uint8_t *ev;
	int r;

	if (size < sizeof(*m) + sizeof(ev_size))
		return -EINVAL;
	memcpy(&ev_size, m + 1, sizeof(ev_size));
	if (ev_size < sizeof(lrpc_msg_header) || ev_size > 512u * 1024 * 1024)
		return -EINVAL;
	ev = malloc(ev_size);
	if (!ev)
		return -ENOMEM;
	th_fill(ev, ev_size, EV_SIZED, ev_size);
	r = lrpc_conn_send_event(c, ev, ev_size);
	free(ev);
	/* The event's fate is the answer. */
	return lrpc_conn_send_error(c, m->id, r);
}

static int
h_paced(lrpc_conn *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	seq_event ev = { .h = { .size = sizeof(ev), .id = EV_PACED } };
	uint32_t n;

	if (size < sizeof(*m) + sizeof(n))
		return -EINVAL;
	memcpy(&n, m + 1, sizeof(n));
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			th_msleep(5);
		ev.seq = i;
		int r = lrpc_conn_send_event(c, &ev, sizeof(ev));
		if (r < 0)
			return r;
	}
	return lrpc_conn_send_error(c, m->id, 0);
}

static void
ev_handlers(lrpc_server *s, lrpc_loop *loop, void *arg)
{
	th_standard_handlers(s, loop, arg);
	lrpc_server_add_handler(s, EV_SANDWICH, h_sandwich, NULL);
	lrpc_server_add_handler(s, EV_FLOOD, h_flood, NULL);
	lrpc_server_add_handler(s, EV_SIZED, h_sized, NULL);
	lrpc_server_add_handler(s, EV_PACED, h_paced, NULL);
}

static void
hello_created(lrpc_conn *c, void *ud)
{
	struct {
		lrpc_msg_header h;
		int32_t pid;
		char text[12];
	} ev = { .h = { .size = sizeof(ev), .id = EV_HELLO },
		 .pid = (int32_t)th_conn_peer(c).pid,
		 .text = "welcome" };
	int r = lrpc_conn_send_event(c, &ev, sizeof(ev));

	/* Not th_reporting_callbacks.created: the harness would count the
	 * connection twice. */
	th_report("hello sent %d", r);
	th_report("created %d", (int)th_conn_peer(c).pid);
}

/* --- Client side helpers --- */

static th_server *
spawn_ev(void **state, const lrpc_server_callbacks *cb,
	 const lrpc_server_opts *opts)
{
	th_server *s = th_server_spawn(*state, cb, opts, ev_handlers, NULL);
	assert_non_null(s);
	return s;
}

/* Ask the standard handler for @n events; its answer comes first. */
static void
request_events(lrpc_client *c, uint32_t n)
{
	u32_req req = { .h = { .size = sizeof(req), .id = TH_EVENTS }, .v = n };
	lrpc_msg_header resp;

	assert_int_equal(th_call(c, &req, sizeof(req), &resp,
					  sizeof(resp), 5000),
			 (int)sizeof(resp));
	assert_int_equal(resp.id, TH_EVENTS);
	assert_int_equal(resp.error, 0);
}

static void
expect_seq_event(lrpc_client *c, int32_t id, uint32_t seq)
{
	seq_event ev;

	memset(&ev, 0xa5, sizeof(ev));
	assert_int_equal(th_recv_event(c, &ev, sizeof(ev), 5000),
			 (int)sizeof(ev));
	assert_int_equal(ev.h.size, sizeof(ev));
	assert_int_equal(ev.h.id, id);
	assert_int_equal(ev.h.error, 0);
	assert_int_equal(ev.seq, seq);
}

/* --- Tests --- */

static void
test_events_single(void **state)
{
	th_server *s = spawn_ev(state, NULL, NULL);
	lrpc_client *c;
	uint8_t buf[256];

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	/* Nothing before it was asked for. */
	assert_int_equal(th_recv_event(c, buf, sizeof(buf), 0),
			 -EAGAIN);
	request_events(c, 1);
	expect_seq_event(c, TH_EVENTS, 0);
	/* Exactly one, and no stray response either. */
	assert_int_equal(th_recv_event(c, buf, sizeof(buf), 0),
			 -EAGAIN);
	assert_int_equal(th_recv(c, buf, sizeof(buf), 0), -EAGAIN);
	/* A buffer too small for it leaves the event queued. */
	request_events(c, 1);
	assert_int_equal(th_recv_event(c, buf, 8, 5000), -EMSGSIZE);
	expect_seq_event(c, TH_EVENTS, 0);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

/*
 * A handler's events leave together when it returns: over sockets they
 * gather and go out in one write (no event can arrive before the handler
 * is done), over shm they are in the ring at once and ring the sleeping
 * client once.  Either way they all arrive, in order, events before the
 * response that followed them.
 */
static void
test_events_from_a_handler_leave_together(void **state)
{
	th_server *s = spawn_ev(state, NULL, NULL);
	u32_req req = { .h = { .size = sizeof(req), .id = EV_PACED },
			.v = 10 };
	seq_event ev;
	uint8_t buf[64];
	lrpc_client *c;

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	long t0 = th_now_ms();
	assert_int_equal(lrpc_client_send(c, &req, sizeof(req)), 0);
	assert_int_equal(th_recv_event(c, &ev, sizeof(ev), 5000),
			 (int)sizeof(ev));
	long first = th_now_ms() - t0;
	assert_int_equal(ev.seq, 0);
	for (uint32_t i = 1; i < req.v; i++) {
		assert_int_equal(th_recv_event(c, &ev, sizeof(ev), 5000),
			 (int)sizeof(ev));
		assert_int_equal(ev.seq, i);
	}
	assert_true(th_recv(c, buf, sizeof(buf), 5000) >= 0);
	print_message("first of 10 events after %ld ms\n", first);
	/* The handler takes 45 ms; uncorked, the first event would arrive
	 * at once. */
	if (th_transport() == LRPC_TRANSPORT_SOCKET)
		assert_true(first >= 40);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

#define N_STRESS 30000

static void
test_events_stress_30000(void **state)
{
	th_server *s = spawn_ev(state, NULL, NULL);
	lrpc_client *c;
	seq_event ev;
	uint8_t buf[256];

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	request_events(c, N_STRESS);
	for (uint32_t i = 0; i < N_STRESS; i++) {
		int r = th_recv_event(c, &ev, sizeof(ev), 5000);
		if (r != (int)sizeof(ev) || ev.h.id != TH_EVENTS || ev.seq != i)
			fail_msg("event %u: r=%d id=%d seq=%u", i, r, ev.h.id,
				 ev.seq);
	}
	assert_int_equal(th_recv_event(c, buf, sizeof(buf), 0),
			 -EAGAIN);
	/* The connection is healthy afterwards. */
	th_fill(buf, 100, TH_ECHO, 1);
	assert_int_equal(th_call(c, buf, 100, buf, sizeof(buf), 5000),
			 100);
	assert_true(th_check(buf, 100, 1));
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

static void
test_events_sent_from_created(void **state)
{
	lrpc_server_callbacks cb = th_reporting_callbacks;
	cb.created = hello_created;
	th_server *s = spawn_ev(state, &cb, NULL);
	lrpc_client *c;
	struct {
		lrpc_msg_header h;
		int32_t pid;
		char text[12];
	} hello;

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	assert_true(th_server_expect(s, "hello sent 0", 2000, NULL, 0));
	request_events(c, 2);
	/* The created callback's event is the first one. */
	assert_int_equal(th_recv_event(c, &hello, sizeof(hello),
						5000),
			 (int)sizeof(hello));
	assert_int_equal(hello.h.id, EV_HELLO);
	assert_int_equal(hello.pid, getpid());
	assert_string_equal(hello.text, "welcome");
	expect_seq_event(c, TH_EVENTS, 0);
	expect_seq_event(c, TH_EVENTS, 1);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

static void
test_events_response_as_event(void **state)
{
	th_server *s = spawn_ev(state, NULL, NULL);
	lrpc_client *c;
	const size_t sizes[] = { sizeof(lrpc_msg_header), 25, 100, 4096,
				 65536, 300000 };
	uint8_t *req = malloc(300000), *ev = malloc(300000);

	assert_non_null(req);
	assert_non_null(ev);
	assert_int_equal(th_connect(*state, &c, NULL), 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		th_fill(req, sizes[i], TH_AS_EVENT, (unsigned)i);
		assert_int_equal(lrpc_client_send(c, req, sizes[i]), 0);
		assert_int_equal(th_recv_event(c, ev, 300000, 5000),
				 (int)sizes[i]);
		const lrpc_msg_header *h = (const void *)ev;
		assert_int_equal(h->id, TH_AS_EVENT);
		assert_int_equal(h->size, sizes[i]);
		assert_true(th_check(ev, sizes[i], (unsigned)i));
		/* Nothing came on the response channel. */
		assert_int_equal(th_recv(c, ev, 300000, 0), -EAGAIN);
	}
	/* A sync call of it gets no response: it times out, and the event
	 * is still delivered. */
	th_fill(req, 64, TH_AS_EVENT, 99);
	assert_int_equal(th_call(c, req, 64, ev, 300000, 100),
			 -ETIMEDOUT);
	assert_int_equal(th_recv_event(c, ev, 300000, 5000), 64);
	assert_true(th_check(ev, 64, 99));
	free(req);
	free(ev);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

static void
test_events_not_taken_for_response(void **state)
{
	th_server *s = spawn_ev(state, NULL, NULL);
	lrpc_client *c;
	struct {
		lrpc_msg_header h;
		char text[8];
	} resp;
	lrpc_msg_header req = { .size = sizeof(req), .id = EV_SANDWICH };
	uint8_t buf[64];

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	/* Several calls while the events pile up unread. */
	for (int round = 0; round < 4; round++) {
		memset(&resp, 0, sizeof(resp));
		assert_int_equal(th_call(c, &req, sizeof(req), &resp,
						  sizeof(resp), 5000),
				 (int)sizeof(resp));
		assert_int_equal(resp.h.id, EV_SANDWICH);
		assert_int_equal(resp.h.error, 0);
		assert_string_equal(resp.text, "answer");
	}
	/* Then every event, in order: none was eaten by a call. */
	for (uint32_t i = 0; i < 24; i++)
		expect_seq_event(c, EV_SANDWICH, i);
	assert_int_equal(th_recv_event(c, buf, sizeof(buf), 0),
			 -EAGAIN);
	assert_int_equal(th_recv(c, buf, sizeof(buf), 0), -EAGAIN);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

static void
test_events_recv_timeouts(void **state)
{
	th_server *s = spawn_ev(state, NULL, NULL);
	lrpc_client *c;
	uint8_t buf[64];

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	long t0 = th_now_ms();
	assert_int_equal(th_recv_event(c, buf, sizeof(buf), 0),
			 -EAGAIN);
	assert_true(th_now_ms() - t0 < 50);
	t0 = th_now_ms();
	assert_int_equal(th_recv_event(c, buf, sizeof(buf), 100),
			 -ETIMEDOUT);
	long el = th_now_ms() - t0;
	assert_true(el >= 95);
	assert_true(el < 1000);
	/* A timeout does not break anything. */
	assert_true(lrpc_client_is_connected(c));
	request_events(c, 1);
	expect_seq_event(c, TH_EVENTS, 0);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

typedef struct dispatch_state {
	unsigned events, responses, bad;
	uint32_t next_seq;
	int32_t last_response_id, last_response_error;
} dispatch_state;

static void
on_event(lrpc_client *c, const lrpc_msg_header *msg, size_t size, void *ud)
{
	dispatch_state *d = ud;
	const seq_event *ev = (const void *)msg;

	if (size != sizeof(*ev) || msg->size != size || msg->id != TH_EVENTS ||
	    ev->seq != d->next_seq)
		d->bad++;
	d->next_seq++;
	d->events++;
}

static void
on_response(lrpc_client *c, const lrpc_msg_header *msg, size_t size,
	    void *ud)
{
	dispatch_state *d = ud;

	if (size != msg->size)
		d->bad++;
	d->responses++;
	d->last_response_id = msg->id;
	d->last_response_error = msg->error;
}

static void
dispatch_until(lrpc_client *c, dispatch_state *d, unsigned events,
	       unsigned responses)
{
	int fd = lrpc_client_get_fd(c);
	long t0 = th_now_ms();

	assert_true(fd >= 0);
	while (d->events < events || d->responses < responses) {
		struct pollfd p = { .fd = fd,
				    .events = (short)lrpc_client_get_events(c) };
		int r = poll(&p, 1, 1000);
		assert_true(r >= 0);
		assert_true(lrpc_client_process(c) >= 0);
		assert_true(th_now_ms() - t0 < 5000);
	}
}

static void
test_events_dispatch_callbacks(void **state)
{
	th_server *s = spawn_ev(state, NULL, NULL);
	lrpc_client *c;
	dispatch_state d = { 0 };
	u32_req req = { .h = { .size = sizeof(req), .id = TH_EVENTS },
			.v = 50 };
	uint8_t buf[64];

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	lrpc_client_set_event_handler(c, on_event, &d);
	lrpc_client_set_response_handler(c, on_response, &d);
	/* Nothing to do yet. */
	assert_int_equal(lrpc_client_process(c), 0);
	assert_int_equal(lrpc_client_send(c, &req, sizeof(req)), 0);
	dispatch_until(c, &d, 50, 1);
	assert_int_equal(d.bad, 0);
	assert_int_equal(d.events, 50);
	assert_int_equal(d.responses, 1);
	assert_int_equal(d.last_response_id, TH_EVENTS);
	assert_int_equal(d.last_response_error, 0);
	/* Handed over, so not queued for recv any more. */
	assert_int_equal(th_recv(c, buf, sizeof(buf), 0), -EAGAIN);
	assert_int_equal(th_recv_event(c, buf, sizeof(buf), 0),
			 -EAGAIN);

	/* Without an event handler, dispatch leaves events for
	 * recv_event (the response still goes to its handler). */
	lrpc_client_set_event_handler(c, NULL, NULL);
	req.v = 3;
	assert_int_equal(lrpc_client_send(c, &req, sizeof(req)), 0);
	dispatch_until(c, &d, 50, 2);
	th_msleep(50);
	assert_true(lrpc_client_process(c) >= 0);
	assert_int_equal(d.events, 50);
	for (uint32_t i = 0; i < 3; i++)
		expect_seq_event(c, TH_EVENTS, i);
	assert_int_equal(d.bad, 0);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

static void
test_events_sizes(void **state)
{
	th_server *s = spawn_ev(state, NULL, NULL);
	lrpc_client *c;
	u32_req req = { .h = { .size = sizeof(req), .id = EV_SIZED } };
	lrpc_msg_header resp;

	assert_int_equal(th_connect(*state, &c, NULL), 0);
	uint32_t max = lrpc_client_get_max_msg_size(c);
	uint8_t *ev = malloc(max);
	assert_non_null(ev);
	for (uint32_t size = 32;; size *= 2) {
		if (size > max)
			size = max;
		req.v = size;
		assert_int_equal(th_call(c, &req, sizeof(req), &resp,
						  sizeof(resp), 5000),
				 (int)sizeof(resp));
		assert_int_equal(resp.error, 0);
		assert_int_equal(th_recv_event(c, ev, max, 5000),
				 (int)size);
		assert_true(th_check(ev, size, size));
		if (size == max)
			break;
	}
	/* Above the negotiated size the server's send fails with
	 * -EMSGSIZE and nothing is delivered. */
	req.v = max + 1;
	assert_int_equal(th_call(c, &req, sizeof(req), &resp,
					  sizeof(resp), 5000),
			 (int)sizeof(resp));
	assert_int_equal(resp.error, -EMSGSIZE);
	assert_int_equal(th_recv_event(c, ev, max, 100),
			 -ETIMEDOUT);
	assert_true(lrpc_client_is_connected(c));
	free(ev);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

static void
flood(void **state, uint32_t ev_size)
{
	lrpc_server_opts so = { .struct_size = sizeof(so),
				.max_queued_bytes = FLOOD_QUEUE };
	th_server *s = spawn_ev(state, NULL, &so);
	lrpc_client *c;
	u32_req req = { .h = { .size = sizeof(req), .id = EV_FLOOD },
			.v = ev_size };
	flood_resp fr;
	th_conn_stats_msg cs;
	uint8_t *ev = malloc(ev_size), buf[128];
	char line[128];

	assert_non_null(ev);
	assert_int_equal(th_connect(*state, &c, NULL), 0);
	assert_int_equal(th_call(c, &req, sizeof(req), &fr,
					  sizeof(fr), 5000),
			 (int)sizeof(fr));
	assert_int_equal(fr.h.error, 0);
	/* The server was told to stop, not allowed to grow. */
	assert_int_equal(fr.last_error, -EAGAIN);
	assert_int_equal(fr.again_error, -EAGAIN);
	assert_true(fr.events_queued > 0);
	assert_true(fr.bytes_queued > 0);
	assert_true(fr.bytes_queued <= FLOOD_QUEUE);
	assert_int_equal(fr.bytes_queued,
			 fr.events_queued * ((ev_size + 7u) & ~7u));
	assert_int_equal(fr.events, fr.sent);
	assert_int_equal(fr.send_retries, fr.events_queued);
	assert_true(fr.sent > fr.events_queued);
	snprintf(line, sizeof(line), "flood sent=%u last=%d queued=%u bytes=%u",
		 fr.sent, -EAGAIN, fr.events_queued, fr.bytes_queued);
	assert_true(th_server_expect(s, line, 2000, NULL, 0));

	/* Calls still work while events are stuck. */
	th_fill(buf, 80, TH_ECHO, 3);
	assert_int_equal(th_call(c, buf, 80, buf, sizeof(buf), 5000),
			 80);
	assert_true(th_check(buf, 80, 3));

	/* Now read them all, in order, nothing lost or repeated. */
	for (uint32_t i = 0; i < fr.sent; i++) {
		const seq_event *h = (const void *)ev;
		int r = th_recv_event(c, ev, ev_size, 5000);
		if (r != (int)ev_size || h->h.id != EV_FLOOD || h->seq != i)
			fail_msg("event %u of %u: r=%d seq=%u", i, fr.sent, r,
				 r > 0 ? h->seq : 0);
	}
	assert_int_equal(th_recv_event(c, ev, ev_size, 0), -EAGAIN);
	/* The server's queue drained. */
	lrpc_msg_header sreq = { .size = sizeof(sreq), .id = TH_CONN_STATS };
	assert_int_equal(th_call(c, &sreq, sizeof(sreq), &cs,
					  sizeof(cs), 5000),
			 (int)sizeof(cs));
	assert_int_equal(cs.st.events_queued, 0);
	assert_int_equal(cs.st.bytes_queued, 0);
	assert_int_equal(cs.st.events, fr.sent);
	/* And it takes events again. */
	request_events(c, 2);
	expect_seq_event(c, TH_EVENTS, 0);
	expect_seq_event(c, TH_EVENTS, 1);
	free(ev);
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

static void
test_events_flood_bounded(void **state)
{
	flood(state, 1024);
}

static void
test_events_flood_bounded_odd_size(void **state)
{
	flood(state, 1001);
}

/* Regression: with shm, events that arrive before the first dispatch (or
 * after a blocking call) must still make the client's fd readable; and a
 * dead server must be reported by dispatch even with both handlers set. */
static unsigned wake_events;

static void
count_event(lrpc_client *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	wake_events++;
}

static void
count_response(lrpc_client *c, const lrpc_msg_header *m, size_t size,
	       void *ud)
{
}

static void
test_events_fd_wakes_before_first_dispatch(void **state)
{
	th_server *s = th_server_spawn(*state, NULL, NULL,
				       th_standard_handlers, NULL);
	struct {
		lrpc_msg_header h;
		uint32_t n, pad;
	} req = { .h = { .size = sizeof(req), .id = TH_EVENTS }, .n = 3 };
	uint8_t resp[256];
	lrpc_client *c;

	assert_non_null(s);
	assert_int_equal(th_connect(*state, &c, NULL), 0);
	lrpc_client_set_event_handler(c, count_event, NULL);
	int fd = lrpc_client_get_fd(c);
	assert_true(fd >= 0);
	/* The request itself is a blocking call on the same client. */
	assert_true(th_call(c, &req, sizeof(req), resp, sizeof(resp),
				     2000) > 0);
	wake_events = 0;
	for (int i = 0; i < 50 && wake_events < 3; i++) {
		assert_true(th_wait_fd(fd, POLLIN, 2000));
		assert_true(lrpc_client_process(c) >= 0);
	}
	assert_int_equal(wake_events, 3);

	/* Both handlers set, server killed: the fd wakes and dispatch says
	 * so instead of spinning. */
	lrpc_client_set_response_handler(c, count_response, NULL);
	th_server_kill(s);
	assert_true(th_wait_fd(fd, POLLIN, 2000));
	int r = 0;
	for (int i = 0; i < 10 && r >= 0; i++)
		r = lrpc_client_process(c);
	assert_int_equal(r, -ENOTCONN);
	assert_false(lrpc_client_is_connected(c));
	lrpc_client_unref(c);
}

/*
 * Regression: large events sent from a job (outside any handler) that do
 * not fit the channel are queued in the server; it must ask to be woken
 * when the client makes room, or they wait for the stall timeout.
 */
struct big_burst {
	lrpc_conn *conn;
	lrpc_loop *loop;
	uint32_t next, n, size;
};

static void
big_burst_run(void *ud)
{
	struct big_burst *b = ud;
	static uint8_t buf[70000];

	/* Fill once: the producer must be faster than the consumer for the
	 * channel to fill up. */
	if (b->next == 0)
		th_fill(buf, b->size, 0, 7);
	while (b->next < b->n && lrpc_conn_is_connected(b->conn)) {
		((lrpc_msg_header *)(void *)buf)->id = (int32_t)b->next;
		int r = lrpc_conn_send_event(b->conn, buf, b->size);
		if (r == -EAGAIN) {
			lrpc_loop_add_timer(b->loop, 1000, big_burst_run, b,
					    NULL);
			return;
		}
		if (r < 0)
			break;
		b->next++;
	}
	lrpc_conn_unref(b->conn);
	free(b);
}

static int
h_big_burst(lrpc_conn *c, const lrpc_msg_header *m, size_t size, void *ud)
{
	struct big_burst *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->conn = lrpc_conn_ref(c);
	b->loop = ud;
	b->n = 400;
	b->size = 64 * 1024;
	lrpc_loop_add_job(b->loop, big_burst_run, b);
	return lrpc_conn_send_error(c, m->id, 0);
}

static void
big_burst_setup(lrpc_server *s, lrpc_loop *loop, void *arg)
{
	lrpc_server_add_handler(s, 61, h_big_burst, loop);
}

static void
test_events_large_burst_from_job(void **state)
{
	th_server *s = th_server_spawn(*state, NULL, NULL, big_burst_setup,
				       NULL);
	lrpc_msg_header req = { .size = sizeof(req), .id = 61 };
	static uint8_t buf[70000];
	lrpc_client *c;

	assert_non_null(s);
	assert_int_equal(th_connect(*state, &c, NULL), 0);
	assert_int_equal(th_call(c, &req, sizeof(req), buf,
					  sizeof(buf), 2000),
			 (int)sizeof(req));
	for (uint32_t i = 0; i < 400; i++) {
		int r = th_recv_event(c, buf, sizeof(buf), 5000);
		assert_int_equal(r, 64 * 1024);
		assert_int_equal(((lrpc_msg_header *)(void *)buf)->id, i);
		assert_true(th_check(buf, 64 * 1024, 7));
	}
	lrpc_client_unref(c);
	assert_int_equal(th_server_stop(s), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TH_TEST(test_events_single),
		TH_TEST(test_events_from_a_handler_leave_together),
		TH_TEST(test_events_large_burst_from_job),
		TH_TEST(test_events_fd_wakes_before_first_dispatch),
		TH_TEST(test_events_stress_30000),
		TH_TEST(test_events_sent_from_created),
		TH_TEST(test_events_response_as_event),
		TH_TEST(test_events_not_taken_for_response),
		TH_TEST(test_events_recv_timeouts),
		TH_TEST(test_events_dispatch_callbacks),
		TH_TEST(test_events_sizes),
		TH_TEST(test_events_flood_bounded),
		TH_TEST(test_events_flood_bounded_odd_size),
	};
	return cmocka_run_group_tests_name("events", tests, NULL, NULL);
}
