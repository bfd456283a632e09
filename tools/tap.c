/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc monitor and lrpc capture: the monitoring side of lrpc.Service.tap.
 * Method names come from describe() of every interface the service
 * serves; each tapped message is read as untrusted bytes (it may be cut,
 * or anything a client sent) and decoded only as far as it goes.
 *
 * Capture file: pcapng, one interface of link type LINKTYPE_USER0 (147),
 * nanosecond timestamps; each packet is a 24-byte pseudo-header, the
 * method's name, then the message as tapped (docs/tools.md, decoded by
 * share/lrpc/lrpc.lua).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lrpc-service-client.h"
#include "lrpc-tool.h"

#define CORE_HDR 24
#define RPC_HDR 24
#define LINKTYPE_LRPC 147 /* LINKTYPE_USER0 */
#define PSEUDO_MAGIC 0x5450524cu /* "LRPT" */

typedef struct tap_ctx {
	const tool_tap_names *names;
	FILE *out;
	bool capture;
	uint64_t count;
	uint64_t seen, lost, write_errors;
} tap_ctx;

static volatile sig_atomic_t stop_asked;

static void
on_signal(int sig)
{
	stop_asked = 1;
}

static const tool_tap_iface *
find_iface(const tool_tap_names *n, uint32_t id)
{
	for (size_t i = 0; i < n->n; i++)
		if (n->ifaces[i].id == id)
			return &n->ifaces[i];
	return NULL;
}

static const lrpc_method_desc *
find_method(const tool_tap_iface *f, uint16_t ordinal)
{
	for (size_t i = 0; f && i < f->d.methods.count; i++)
		if (f->d.methods.items[i].ordinal == ordinal)
			return &f->d.methods.items[i];
	return NULL;
}

static const char *const kinds[] = {
	[1] = "call", [2] = "reply", [3] = "error", [4] = "oneway",
	[5] = "event", [6] = "hello", [7] = "hello-reply", [8] = "cancel",
	[9] = "hello-diff",
};

/* What a tapped message is, as far as its bytes say. */
typedef struct decoded {
	bool core, rpc;
	uint32_t id;
	int32_t core_error;
	uint16_t method, kind;
	int32_t status;
	const tool_tap_iface *iface;
	const lrpc_method_desc *m;
	char name[160];
} decoded;

static void
decode(const tool_tap_names *n, const uint8_t *p, size_t len, decoded *d)
{
	memset(d, 0, sizeof(*d));
	if (len >= CORE_HDR) {
		d->core = true;
		memcpy(&d->id, p + 4, 4);
		memcpy(&d->core_error, p + 8, 4);
	}
	d->iface = d->core ? find_iface(n, d->id) : NULL;
	if (d->iface && len >= CORE_HDR + RPC_HDR) {
		d->rpc = true;
		memcpy(&d->method, p + 32, 2);
		memcpy(&d->kind, p + 34, 2);
		memcpy(&d->status, p + 40, 4);
		/* Hellos name the interface, no method. */
		if (d->kind <= 5 || d->kind == 8)
			d->m = find_method(d->iface, d->method);
	}
	if (d->m)
		snprintf(d->name, sizeof(d->name), "%s.%s", d->iface->d.iface.name,
			 d->m->name);
	else if (d->rpc && (d->kind == 6 || d->kind == 7 || d->kind == 9))
		snprintf(d->name, sizeof(d->name), "%s", d->iface->d.iface.name);
	else if (d->rpc)
		snprintf(d->name, sizeof(d->name), "%s.#%u",
			 d->iface->d.iface.name, d->method);
	else if (d->core)
		snprintf(d->name, sizeof(d->name), "id %08" PRIx32, d->id);
	else
		snprintf(d->name, sizeof(d->name), "?");
}

static void
status_text(const decoded *d, char *buf, size_t size)
{
	const char *kind = d->rpc && d->kind < sizeof(kinds) / sizeof(kinds[0]) &&
					   kinds[d->kind]
				   ? kinds[d->kind]
				   : (d->rpc ? "?" : "core");
	int32_t st = d->rpc ? d->status : d->core_error;

	if (st == 0) {
		snprintf(buf, size, "%s", kind);
		return;
	}
	for (size_t i = 0; d->m && st > 0 && i < d->m->errors.count; i++)
		if (d->m->errors.items[i].value == st) {
			snprintf(buf, size, "%s %s (%d)", kind,
				 d->m->errors.items[i].name, (int)st);
			return;
		}
	if (st < 0 && st > -4096)
		snprintf(buf, size, "%s %s (%d)", kind, strerror(-st), (int)st);
	else
		snprintf(buf, size, "%s status %d", kind, (int)st);
}

static void
print_line(tap_ctx *c, uint64_t conn, uint64_t ns, lrpc_direction dir,
	   uint32_t size, const decoded *d)
{
	static const char *const dirs[] = { "->", "<-", "<=" };
	time_t secs = (time_t)(ns / 1000000000u);
	struct tm tm;
	char when[32], st[200];

	localtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	status_text(d, st, sizeof(st));
	fprintf(c->out, "%s.%06u  conn %-4" PRIu64 " %s %-32s %6" PRIu32 " B  %s\n",
		when, (unsigned)(ns % 1000000000u / 1000u), conn,
		(unsigned)dir < 3 ? dirs[dir] : "??", d->name, size, st);
}

/* --- pcapng ----------------------------------------------------------- */

static void
put(tap_ctx *c, const void *p, size_t n)
{
	if (fwrite(p, 1, n, c->out) != n)
		c->write_errors++;
}

static void
put32(tap_ctx *c, uint32_t v)
{
	put(c, &v, 4);
}

static void
put_option(tap_ctx *c, uint16_t code, const void *p, uint16_t len)
{
	static const uint8_t zero[4];

	put(c, &code, 2);
	put(c, &len, 2);
	put(c, p, len);
	put(c, zero, (4u - len % 4u) % 4u);
}

static uint32_t
option_size(size_t len)
{
	return 4u + (uint32_t)((len + 3u) & ~(size_t)3u);
}

static void
pcapng_header(tap_ctx *c, const char *service, uint32_t snap)
{
	static const char app[] = "lrpc capture";
	char ifname[128];
	uint8_t tsresol = 9;
	uint64_t section = UINT64_MAX;

	/* Section header block, with the writing application. */
	uint32_t len = 28 + option_size(sizeof(app) - 1) + 4;
	put32(c, 0x0a0d0d0a);
	put32(c, len);
	put32(c, 0x1a2b3c4d);
	put(c, &(uint16_t){ 1 }, 2);
	put(c, &(uint16_t){ 0 }, 2);
	put(c, &section, 8);
	put_option(c, 4, app, sizeof(app) - 1); /* shb_userappl */
	put32(c, 0);                            /* opt_endofopt */
	put32(c, len);
	/* Interface description block: the service. */
	snprintf(ifname, sizeof(ifname), "lrpc:%s", service);
	len = 20 + option_size(strlen(ifname)) + option_size(1) + 4;
	put32(c, 1);
	put32(c, len);
	put(c, &(uint16_t){ LINKTYPE_LRPC }, 2);
	put(c, &(uint16_t){ 0 }, 2);
	put32(c, snap + 24 + 256);
	put_option(c, 2, ifname, (uint16_t)strlen(ifname)); /* if_name */
	put_option(c, 9, &tsresol, 1);                      /* if_tsresol */
	put32(c, 0);
	put32(c, len);
}

static void
pcapng_packet(tap_ctx *c, uint64_t conn, uint64_t ns, lrpc_direction dir,
	      uint32_t size, uint64_t lost, const decoded *d, lrpc_bytes msg)
{
	static const uint8_t zero[8];
	size_t name_len = d->m || d->rpc ? strlen(d->name) : 0;
	size_t name_pad = (name_len + 7u) & ~(size_t)7u;
	uint32_t cap = (uint32_t)(24 + name_pad + msg.len);
	uint32_t orig = (uint32_t)(24 + name_pad + size);
	uint32_t len = 28 + ((cap + 3u) & ~3u) + 4;

	put32(c, 6);
	put32(c, len);
	put32(c, 0);
	put32(c, (uint32_t)(ns >> 32));
	put32(c, (uint32_t)ns);
	put32(c, cap);
	put32(c, orig);
	/* Pseudo-header: magic, direction, name length, reserved,
	 * connection, size of the message, messages lost before it. */
	put32(c, PSEUDO_MAGIC);
	put(c, &(uint8_t){ (uint8_t)dir }, 1);
	put(c, &(uint8_t){ (uint8_t)name_len }, 1);
	put(c, zero, 2);
	put(c, &conn, 8);
	put32(c, size);
	put32(c, lost > UINT32_MAX ? UINT32_MAX : (uint32_t)lost);
	put(c, d->name, name_len);
	put(c, zero, name_pad - name_len);
	put(c, msg.data, msg.len);
	put(c, zero, (4u - cap % 4u) % 4u);
	put32(c, len);
}

static void
on_tapped(void *userdata, uint64_t connection, uint64_t time_ns,
	  lrpc_direction direction, uint32_t size, uint64_t lost,
	  lrpc_bytes message)
{
	tap_ctx *c = userdata;
	decoded d;

	/* Several may come in one read: stop at the count asked for. */
	if (c->count && c->seen >= c->count)
		return;
	c->seen++;
	c->lost += lost;
	decode(c->names, message.data, message.len, &d);
	if (c->capture) {
		pcapng_packet(c, connection, time_ns, direction, size, lost, &d,
			      message);
		return;
	}
	if (lost)
		fprintf(c->out, "-- %" PRIu64 " messages lost (this monitor "
				"did not keep up) --\n",
			lost);
	print_line(c, connection, time_ns, direction, size, &d);
	fflush(c->out);
}

static const struct lrpc_service_events tap_events = {
	.tapped = on_tapped,
};

int
tool_tap_run(lrpc_rpc_client *rc, const tool_tap_names *names,
	     const char *service, FILE *out, bool capture, uint64_t count,
	     double seconds, uint64_t timeout_usec, char *err, size_t err_size)
{
	tap_ctx c = { .names = names, .out = out, .capture = capture,
		      .count = count };
	lrpc_rpc_error rerr;
	uint32_t snap = 0;
	struct sigaction sa = { .sa_handler = on_signal };
	int r;

	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
	r = lrpc_service_listen(rc, &tap_events, &c);
	if (r == 0)
		r = lrpc_service_tap(rc, 0, &snap, timeout_usec, &rerr);
	if (r != 0) {
		if (r == -EOPNOTSUPP)
			snprintf(err, err_size, "lrpc.Service.tap: the service "
				 "does not offer a tap (an lrpc older than 1.1, "
				 "or introspection turned off)");
		else if (r < 0)
			snprintf(err, err_size, "lrpc.Service.tap: %s%s%s",
				 strerror(-r), rerr.message[0] ? ": " : "",
				 rerr.message);
		else
			snprintf(err, err_size, "lrpc.Service.tap: error %d", r);
		return r < 0 ? r : -EPROTO;
	}
	if (capture) {
		pcapng_header(&c, service, snap);
		fflush(out);
	}
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop_asked && (!count || c.seen < count)) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		double el = (double)(now.tv_sec - t0.tv_sec) +
			    (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
		if (seconds > 0 && el >= seconds)
			break;
		r = lrpc_rpc_client_run_once(rc, 200 * 1000);
		if (r == -ENOTCONN) {
			snprintf(err, err_size, "the service went away");
			break;
		}
		if (capture)
			fflush(out);
	}
	fflush(out);
	if (c.lost)
		fprintf(stderr, "lrpc: %" PRIu64 " messages lost (the monitor "
				"did not keep up)\n",
			c.lost);
	if (c.write_errors) {
		snprintf(err, err_size, "cannot write the capture: %s",
			 strerror(errno));
		return -EIO;
	}
	if (capture)
		fprintf(stderr, "lrpc: %" PRIu64 " messages captured\n", c.seen);
	return r == -ENOTCONN ? r : 0;
}
