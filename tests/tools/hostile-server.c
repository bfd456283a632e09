/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A server that answers lrpc.Service, and every other interface, with what
 * a broken or hostile peer could send, for the tests of the lrpc command
 * (test_hostile.py):
 *
 *     hostile-server NAME socket|shm MODE TARGET
 *
 * It is written on the core API alone (a handler on the id of lrpc.Service,
 * a fallback for every other id) and builds its RPC messages by hand, so
 * that nothing in the library's server code can tidy them up.  TARGET is
 * the request answered after MODE: info, describe, stats or call (a call
 * of t.I); the others get good answers (info: lrpc.Service and t.I;
 * describe: t.I, one method m(u32 n, string[] names) -> (the same); stats:
 * empty; call: n 7, names ["a"]).  MODE:
 *
 *   silent     nothing is ever answered, not even a hello
 *   frozen     its loop never runs: connections are never accepted
 *   mute       hellos are answered, TARGET never
 *   truncated  the reply is cut in half
 *   trailing   three bytes follow the reply
 *   kind       an event (kind 5) comes instead of the reply
 *   status     an error reply whose status is no errno (-70000)
 *   errlen     an error reply (-EIO) whose message length says 50, of 0
 *   huge       the reply's last list count is 0xffffffff
 *   utf8       a string of the reply is invalid UTF-8
 *   index      describe: a field's type index is out of range
 *   cycle      describe: a struct holds a list of itself
 *
 * Prints "ready" once it listens; SIGTERM stops it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lrpc/lrpc.h>

#include "lrpc-service-types.h"

#define NONE UINT32_MAX
#define KIND_REPLY 2
#define KIND_ERROR 3
#define KIND_EVENT 5
#define KIND_HELLO 6
#define KIND_HELLO_REPLY 7
#define T_ID 0x1234u
#define T_HASH 0x12345678u
/* In utf8 mode the strings to spoil hold this, replaced after encoding. */
#define MARK "~~~~"

static const char *mode, *target, *service;
static lrpc_transport transport;
static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	stop = 1;
}

static bool
is(const char *m)
{
	return strcmp(mode, m) == 0;
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* --- good answers (spoiled per mode when they are the target) ---------- */

static const char *transport_names[] = { "socket" };
static const uint32_t t_hashes[] = { T_HASH };

static size_t
encode_info(bool last_empty, uint8_t *buf, size_t cap)
{
	lrpc_interface_info ifs[] = {
		{ .name = lrpc_service__interface.name,
		  .id = lrpc_service__interface.id,
		  .version = (uint16_t)lrpc_service__interface.version,
		  .hashes = { lrpc_service__interface.hashes,
			      lrpc_service__interface.version } },
		{ .name = "t.I", .id = T_ID, .version = 1,
		  .hashes = { t_hashes, 1 } },
	};
	lrpc_info info = {
		.service = is("utf8") ? MARK : service,
		.pid = (int32_t)getpid(),
		.uid = (uint32_t)geteuid(),
		.gid = (uint32_t)getegid(),
		.version = lrpc_version(),
		.transports = { transport_names, 1 },
		.interfaces = { ifs, last_empty ? 0 : 2 },
	};
	size_t size = 0;

	if (transport == LRPC_TRANSPORT_SHM)
		transport_names[0] = "shm";
	/* The reply's one field is at offset 0 of its C layout. */
	if (lrpc_rpc_encode(lrpc_service__methods[1].reply, &info, buf, cap,
			    &size) < 0 ||
	    size > cap)
		abort();
	return size;
}

/* t.I as describe gives it (a good one unless MODE spoils it). */
static size_t
encode_describe(bool last_empty, bool spoil, uint8_t *buf, size_t cap)
{
	lrpc_field_desc fields[] = {
		{ .type = 1, .ordinal = 0, .since = 1, .name = "n" },
		{ .type = 2, .ordinal = 1, .since = 1, .name = "names" },
	};
	lrpc_type_desc types[] = {
		{ .kind = LRPC_RPC_STRUCT, .inner = NONE, .value = NONE,
		  .fields = { fields, 2 }, .name = "t.S" },
		{ .kind = LRPC_RPC_U32, .inner = NONE, .value = NONE,
		  .name = "" },
		{ .kind = LRPC_RPC_LIST, .inner = 3, .value = NONE, .name = "" },
		{ .kind = LRPC_RPC_STRING, .inner = NONE, .value = NONE,
		  .name = "" },
	};
	lrpc_method_desc method = { .ordinal = 0, .since = 1,
				    .kind = LRPC_RPC_CALL, .name = "m",
				    .request = 0, .reply = 0 };
	lrpc_description d = {
		.iface = { .name = "t.I", .id = T_ID, .version = 1,
			   .hashes = { t_hashes, 1 } },
		.idl = spoil && is("utf8") ? "module t;\n// " MARK "\n"
					   : "module t;\n",
		.types = { types, 4 },
		.methods = { &method, last_empty ? 0 : 1 },
	};
	size_t size = 0;

	if (spoil && is("index"))
		fields[1].type = 99;
	if (spoil && is("cycle"))
		types[2].inner = 0;
	if (lrpc_rpc_encode(lrpc_service__methods[2].reply, &d, buf, cap,
			    &size) < 0 ||
	    size > cap)
		abort();
	return size;
}

static size_t
encode_stats(bool spoil, uint8_t *buf, size_t cap)
{
	lrpc_method_stats ms = { .interface_name = MARK, .method = "m" };
	lrpc_stats st = { .uptime_us = 1 };
	size_t size = 0;

	/* A method only where its name is to be spoiled: the last list
	 * (connections) stays empty for huge. */
	if (spoil && is("utf8"))
		st.methods = (lrpc_method_stats_list){ &ms, 1 };
	if (lrpc_rpc_encode(lrpc_service__methods[3].reply, &st, buf, cap,
			    &size) < 0 ||
	    size > cap)
		abort();
	return size;
}

/* t.S { n = 7, names = [MARK or "a"] }, by hand: u32 body size, u16 field
 * count, u32 n, u32 count, then u32 length and bytes per name. */
static size_t
encode_call(bool last_empty, bool spoil, uint8_t *buf)
{
	const char *name = spoil && is("utf8") ? MARK : "a";
	uint32_t len = (uint32_t)strlen(name);
	uint32_t body = 2 + 4 + 4 + (last_empty ? 0 : 4 + len);

	put32(buf, body);
	put16(buf + 4, 2);
	put32(buf + 6, 7);
	put32(buf + 10, last_empty ? 0 : 1);
	if (!last_empty) {
		put32(buf + 14, len);
		memcpy(buf + 18, name, len);
	}
	return 4 + body;
}

/* --- the handler --------------------------------------------------------- */

static int
on_message(lrpc_conn *c, const lrpc_msg_header *msg, size_t size, void *ud)
{
	const uint8_t *rpc = (const uint8_t *)msg + sizeof(*msg);
	uint8_t out[16384];
	uint8_t *hdr = out + sizeof(lrpc_msg_header);
	uint8_t *payload = hdr + 24;
	size_t cap = sizeof(out) - sizeof(lrpc_msg_header) - 24, n = 0;
	const char *what;
	uint16_t kind, method;
	bool spoil, last_empty;

	if (is("silent") || size < sizeof(*msg) + 24)
		return 0;
	method = get16(rpc + 8);
	kind = get16(rpc + 10);
	/* The RPC header of the answer: the request's, with its call id,
	 * method and version, and kind and status of our own. */
	memcpy(hdr, rpc, 24);
	put32(hdr + 16, 0);
	put32(hdr + 20, 0);
	if (kind == KIND_HELLO) {
		/* Whatever the client's hash, the same: always agreed. */
		put16(hdr + 10, KIND_HELLO_REPLY);
		memcpy(hdr + 20, rpc + 20, 4);
	} else if (kind == 1) {
		if ((uint32_t)msg->id != lrpc_service__interface.id)
			what = "call";
		else if (method == LRPC_SERVICE_INFO_ORDINAL)
			what = "info";
		else if (method == LRPC_SERVICE_DESCRIBE_ORDINAL)
			what = "describe";
		else if (method == LRPC_SERVICE_STATS_ORDINAL)
			what = "stats";
		else
			return 0; /* ping, tap: never answered */
		spoil = strcmp(what, target) == 0;
		if (spoil && is("mute"))
			return 0;
		last_empty = spoil && is("huge");
		if (strcmp(what, "info") == 0)
			n = encode_info(last_empty, payload, cap);
		else if (strcmp(what, "describe") == 0)
			n = encode_describe(last_empty, spoil, payload, cap);
		else if (strcmp(what, "stats") == 0)
			n = encode_stats(spoil, payload, cap);
		else
			n = encode_call(last_empty, spoil, payload);
		put16(hdr + 10, KIND_REPLY);
		if (spoil && is("truncated"))
			n /= 2;
		if (spoil && is("trailing")) {
			memcpy(payload + n, "xyz", 3);
			n += 3;
		}
		if (spoil && is("kind"))
			put16(hdr + 10, KIND_EVENT);
		if (spoil && is("status")) {
			put16(hdr + 10, KIND_ERROR);
			put32(hdr + 16, (uint32_t)-70000);
			put32(payload, 0);
			n = 4;
		}
		if (spoil && is("errlen")) {
			put16(hdr + 10, KIND_ERROR);
			put32(hdr + 16, (uint32_t)-EIO);
			put32(payload, 50);
			n = 4;
		}
		if (last_empty)
			put32(payload + n - 4, 0xffffffffu);
		if (spoil && is("utf8")) {
			uint8_t *m = memmem(payload, n, MARK, strlen(MARK));
			if (!m)
				abort();
			memcpy(m, "\xff\xfe\xc0\x80", strlen(MARK));
		}
	} else {
		return 0; /* oneway, cancel, hello diff */
	}
	size = sizeof(lrpc_msg_header) + 24 + n;
	*(lrpc_msg_header *)out = (lrpc_msg_header){ .size = (uint32_t)size,
						     .id = msg->id };
	return lrpc_conn_send_response(c, out, size);
}

int
main(int argc, char **argv)
{
	lrpc_server_opts o = { .struct_size = sizeof(o) };
	lrpc_server *s;
	int r;

	if (argc != 5)
		return 2;
	service = argv[1];
	mode = argv[3];
	target = argv[4];
	transport = o.transport = strcmp(argv[2], "shm") == 0
					  ? LRPC_TRANSPORT_SHM
					  : LRPC_TRANSPORT_SOCKET;
	signal(SIGTERM, on_term);
	signal(SIGPIPE, SIG_IGN);
	r = lrpc_server_new(&s, service, NULL, &o, NULL);
	if (r == 0)
		r = lrpc_server_add_handler(s,
					    (int32_t)lrpc_service__interface.id,
					    on_message, NULL);
	if (r == 0)
		r = lrpc_server_set_fallback(s, on_message, NULL);
	if (r == 0)
		r = lrpc_server_start(s);
	if (r < 0) {
		fprintf(stderr, "hostile-server: %s\n", strerror(-r));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		if (is("frozen"))
			pause();
		else
			(void)lrpc_server_run_once(s, 100 * 1000);
	}
	lrpc_server_unref(s);
	return 0;
}
