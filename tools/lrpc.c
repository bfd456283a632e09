/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc - find the lrpc services on this machine, ask them what they serve,
 * call their methods with JSON and read their statistics, through the
 * built-in interface lrpc.Service (docs/tools.md, lrpc(1)).
 *
 * Exit status: 0 success, 1 failure (including a typed error from the
 * called method), 2 bad usage.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <lrpc/lrpc.h>

#include "lrpc-config.h"

#include "lrpc-service-client.h"
#include "lrpc-tool.h"

#define EXIT_USAGE 2
#define ABSTRACT_PREFIX "lrpc/"

static struct {
	uint64_t timeout_usec;
	lrpc_transport transport;
	bool json;
	double watch; /* seconds; 0: once */
	const char *write; /* capture: the file */
	uint64_t count;    /* monitor, capture: stop after so many */
	double duration;   /* monitor, capture: stop after so long */
} opt = { .timeout_usec = 10 * LRPC_USEC_PER_SEC };

static void
usage(FILE *f)
{
	fprintf(f,
		"Usage: lrpc [OPTIONS] COMMAND [ARGS]\n"
		"\n"
		"Commands:\n"
		"  list                         services on this machine\n"
		"  info SERVICE                 what a service is and serves\n"
		"  introspect SERVICE [IFACE]   its interfaces as IDL\n"
		"  call SERVICE IFACE.METHOD JSON|-\n"
		"                               call a method, results as JSON\n"
		"  stats SERVICE                call statistics\n"
		"  monitor SERVICE              every message, one line each\n"
		"  capture SERVICE -w FILE      every message, to a pcapng "
		"file\n"
		"\n"
		"Options:\n"
		"  --json               machine-readable output (list, info, "
		"stats)\n"
		"  --timeout SECONDS    per call (default 10)\n"
		"  --transport socket|shm\n"
		"  --watch[=SECONDS]    stats: again every SECONDS (1)\n"
		"  -w, --write FILE     capture: the pcapng file (- for "
		"stdout)\n"
		"  -c, --count N        monitor, capture: stop after N "
		"messages\n"
		"  --duration SECONDS   monitor, capture: stop after so long\n"
		"  -h, --help           this text\n"
		"  --version            lrpc's version\n");
}

static int
failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int
failf(const char *fmt, ...)
{
	va_list ap;

	fputs("lrpc: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_FAILURE;
}

static void
print_json(json_object *j)
{
	puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY |
						       JSON_C_TO_STRING_SPACED |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
}

/* --- list ----------------------------------------------------------------- */

typedef struct entry {
	char name[LRPC_NAME_MAX + 1];
	char address[256];
	bool abstract;
	long pid;
	long uid;
} entry;

static bool
valid_name(const char *s, size_t n)
{
	if (n == 0 || n > LRPC_NAME_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '.' || s[i] == '_' || s[i] == '-' ||
		      (s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z')))
			return false;
	return true;
}

/* The listener's pid and uid, as the kernel recorded them at listen(). */
static void
peer_of(entry *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	int fd;

	e->pid = e->uid = -1;
	if (e->abstract) {
		size_t n = strlen(ABSTRACT_PREFIX) + strlen(e->name);
		memcpy(sa.sun_path + 1, ABSTRACT_PREFIX, strlen(ABSTRACT_PREFIX));
		memcpy(sa.sun_path + 1 + strlen(ABSTRACT_PREFIX), e->name,
		       strlen(e->name));
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	} else {
		if (strlen(e->address) >= sizeof(sa.sun_path))
			return;
		memcpy(sa.sun_path, e->address, strlen(e->address) + 1);
		len = sizeof(sa);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return;
	if (connect(fd, (struct sockaddr *)&sa, len) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0) {
		e->pid = cred.pid;
		e->uid = cred.uid;
	}
	close(fd);
}

static int
add_entry(entry **list, size_t *n, const entry *e)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*list)[i].address, e->address) == 0)
			return 0;
	entry *p = realloc(*list, (*n + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	*list = p;
	p[(*n)++] = *e;
	return 0;
}

/* Listening sockets named "@lrpc/<name>" in /proc/net/unix. */
static void
list_abstract(entry **list, size_t *n)
{
	FILE *f = fopen("/proc/net/unix", "re");
	char line[512];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long flags, type, st;
		char path[300] = "";
		entry e = { .abstract = true };

		/* Num RefCount Protocol Flags Type St Inode Path */
		if (sscanf(line, "%*s %*s %*s %lx %lx %lx %*s %299s", &flags,
			   &type, &st, path) != 4)
			continue;
		/* __SO_ACCEPTCON: listening; SOCK_STREAM. */
		if (!(flags & 0x10000) || type != 1)
			continue;
		if (strncmp(path, "@" ABSTRACT_PREFIX,
			    strlen("@" ABSTRACT_PREFIX)) != 0)
			continue;
		const char *name = path + strlen("@" ABSTRACT_PREFIX);
		if (!valid_name(name, strlen(name)))
			continue;
		snprintf(e.name, sizeof(e.name), "%s", name);
		snprintf(e.address, sizeof(e.address), "%s", path);
		(void)add_entry(list, n, &e);
	}
	fclose(f);
}

static const char *
runtime_dir(void)
{
	const char *e = secure_getenv("LRPC_RUNTIME_DIR");
	return e && *e ? e : LRPC_DEFAULT_RUNTIME_DIR;
}

/* <runtime_dir>/<name>.sock that something listens on. */
static void
list_filesystem(entry **list, size_t *n)
{
	const char *dir = runtime_dir();
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		entry e = { .abstract = false };

		if (len < 6 || strcmp(de->d_name + len - 5, ".sock") != 0 ||
		    !valid_name(de->d_name, len - 5))
			continue;
		memcpy(e.name, de->d_name, len - 5);
		snprintf(e.address, sizeof(e.address), "%s/%s", dir,
			 de->d_name);
		peer_of(&e);
		if (e.pid < 0)
			continue; /* a leftover: nobody listens */
		(void)add_entry(list, n, &e);
	}
	closedir(d);
}

static int
cmp_entry(const void *a, const void *b)
{
	return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

static int
cmd_list(int argc, char **argv)
{
	entry *list = NULL;
	size_t n = 0;

	if (argc != 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	list_abstract(&list, &n);
	for (size_t i = 0; i < n; i++)
		peer_of(&list[i]);
	list_filesystem(&list, &n);
	/* qsort(NULL, 0, ...) is undefined, even with nothing to sort. */
	if (n > 1)
		qsort(list, n, sizeof(*list), cmp_entry);
	if (opt.json) {
		json_object *a = json_object_new_array();
		for (size_t i = 0; i < n; i++) {
			json_object *o = json_object_new_object();
			json_object_object_add(o, "name",
					       json_object_new_string(list[i].name));
			json_object_object_add(
				o, "address",
				json_object_new_string(list[i].address));
			json_object_object_add(
				o, "pid",
				list[i].pid < 0
					? NULL
					: json_object_new_int64(list[i].pid));
			json_object_object_add(
				o, "uid",
				list[i].uid < 0
					? NULL
					: json_object_new_int64(list[i].uid));
			json_object_array_add(a, o);
		}
		print_json(a);
	} else {
		printf("%-32s %8s %6s  %s\n", "SERVICE", "PID", "UID",
		       "ADDRESS");
		for (size_t i = 0; i < n; i++) {
			char pid[24] = "-", uid[24] = "-";
			if (list[i].pid >= 0)
				snprintf(pid, sizeof(pid), "%ld", list[i].pid);
			if (list[i].uid >= 0)
				snprintf(uid, sizeof(uid), "%ld", list[i].uid);
			printf("%-32s %8s %6s  %s\n", list[i].name, pid, uid,
			       list[i].address);
		}
	}
	free(list);
	return EXIT_SUCCESS;
}

/* --- connecting ----------------------------------------------------------- */

typedef struct session {
	lrpc_client *c;
	lrpc_rpc_client *rc;
	lrpc_arena arena;
} session;

static void
quiet_log(lrpc_log_level level, const char *msg, void *ud)
{
	if (level <= LRPC_LOG_ERR)
		fprintf(stderr, "lrpc: %s\n", msg);
}

static int
session_open(session *s, const char *service)
{
	lrpc_client_opts o = {
		.struct_size = sizeof(o),
		.transport = opt.transport,
		.connect_timeout_usec = opt.timeout_usec,
	};
	int r;

	memset(s, 0, sizeof(*s));
	lrpc_arena_init(&s->arena, NULL, 0, 64u << 20);
	r = lrpc_client_new(&s->c, service, &o);
	if (r == 0)
		r = lrpc_rpc_client_new(&s->rc, s->c);
	if (r < 0) {
		lrpc_client_unref(s->c);
		lrpc_arena_done(&s->arena);
		return failf("%s: cannot connect: %s", service, strerror(-r));
	}
	return 0;
}

static void
session_close(session *s)
{
	lrpc_rpc_client_unref(s->rc);
	lrpc_client_unref(s->c);
	lrpc_arena_done(&s->arena);
}

/* A failed call: its typed name, message, and status 1. */
static int
call_failed(const char *what, int r, const lrpc_rpc_error *err)
{
	const char *name = err->name ? err->name : "lrpc.Errno";

	if (r == -EOPNOTSUPP && strncmp(what, "lrpc.Service", 12) == 0)
		return failf("%s: the service does not answer lrpc.Service "
			     "(an older lrpc, or introspection turned off)",
			     what);
	if (r > 0)
		return failf("%s: %s (%d)%s%s", what, name, r,
			     err->message[0] ? ": " : "", err->message);
	return failf("%s: %s: %s%s%s", what, name, strerror(-r),
		     err->message[0] ? ": " : "", err->message);
}

/* --- info and introspect -------------------------------------------------- */

static json_object *
hashes_json(const lrpc_u32_list *h)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < h->count; i++) {
		char buf[16];
		snprintf(buf, sizeof(buf), "%08" PRIx32, h->items[i]);
		json_object_array_add(a, json_object_new_string(buf));
	}
	return a;
}

static int
cmd_info(int argc, char **argv)
{
	session s;
	lrpc_info info;
	lrpc_rpc_error err;
	int r;

	if (argc != 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (session_open(&s, argv[0]))
		return EXIT_FAILURE;
	r = lrpc_service_info(s.rc, &info, &s.arena, opt.timeout_usec, &err);
	if (r != 0) {
		session_close(&s);
		return call_failed("lrpc.Service.info", r, &err);
	}
	if (opt.json) {
		json_object *o = json_object_new_object();
		json_object *tr = json_object_new_array();
		json_object *ifs = json_object_new_array();
		json_object_object_add(o, "service",
				       json_object_new_string(info.service));
		json_object_object_add(o, "pid", json_object_new_int(info.pid));
		json_object_object_add(o, "uid", json_object_new_int64(info.uid));
		json_object_object_add(o, "gid", json_object_new_int64(info.gid));
		json_object_object_add(o, "version",
				       json_object_new_string(info.version));
		for (size_t i = 0; i < info.transports.count; i++)
			json_object_array_add(
				tr, json_object_new_string(
					    info.transports.items[i]));
		json_object_object_add(o, "transports", tr);
		for (size_t i = 0; i < info.interfaces.count; i++) {
			const lrpc_interface_info *f = &info.interfaces.items[i];
			json_object *x = json_object_new_object();
			char id[16];
			snprintf(id, sizeof(id), "%08" PRIx32, f->id);
			json_object_object_add(x, "name",
					       json_object_new_string(f->name));
			json_object_object_add(x, "version",
					       json_object_new_int(f->version));
			json_object_object_add(x, "id", json_object_new_string(id));
			json_object_object_add(x, "hashes",
					       hashes_json(&f->hashes));
			json_object_array_add(ifs, x);
		}
		json_object_object_add(o, "interfaces", ifs);
		print_json(o);
	} else {
		printf("service:    %s\n", info.service);
		printf("pid:        %d\n", info.pid);
		printf("uid:        %u\n", info.uid);
		printf("gid:        %u\n", info.gid);
		printf("lrpc:       %s\n", info.version);
		printf("transports:");
		for (size_t i = 0; i < info.transports.count; i++)
			printf(" %s", info.transports.items[i]);
		printf("\ninterfaces:\n");
		for (size_t i = 0; i < info.interfaces.count; i++) {
			const lrpc_interface_info *f = &info.interfaces.items[i];
			printf("  %-28s version %u  id %08" PRIx32 "  hash %08" PRIx32
			       "\n",
			       f->name, f->version, f->id,
			       f->hashes.count ? f->hashes.items[f->hashes.count - 1]
					       : 0);
		}
	}
	session_close(&s);
	return EXIT_SUCCESS;
}

static int
describe(session *s, const char *name, lrpc_description *d)
{
	lrpc_rpc_error err;
	int r = lrpc_service_describe(s->rc, name, d, &s->arena,
				      opt.timeout_usec, &err);
	if (r != 0)
		return call_failed("lrpc.Service.describe", r, &err);
	return 0;
}

static int
cmd_introspect(int argc, char **argv)
{
	session s;
	lrpc_info info;
	lrpc_description d;
	lrpc_rpc_error err;
	int r, status = EXIT_SUCCESS;

	if (argc < 1 || argc > 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (session_open(&s, argv[0]))
		return EXIT_FAILURE;
	if (argc == 2) {
		status = describe(&s, argv[1], &d);
		if (status == 0)
			fputs(d.idl, stdout);
		session_close(&s);
		return status;
	}
	r = lrpc_service_info(s.rc, &info, &s.arena, opt.timeout_usec, &err);
	if (r != 0) {
		session_close(&s);
		return call_failed("lrpc.Service.info", r, &err);
	}
	/* Every interface but the built-in one, which lrpc documents. */
	bool first = true;
	for (size_t i = 0; i < info.interfaces.count && !status; i++) {
		if (strcmp(info.interfaces.items[i].name, "lrpc.Service") == 0)
			continue;
		status = describe(&s, info.interfaces.items[i].name, &d);
		if (status == 0) {
			if (!first)
				fputs("\n", stdout);
			fputs(d.idl, stdout);
			first = false;
		}
	}
	session_close(&s);
	return status;
}

/* --- call ----------------------------------------------------------------- */

static char *
read_all(FILE *f)
{
	size_t n = 0, cap = 4096;
	char *buf = malloc(cap);

	while (buf) {
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
		if (n + 1 == cap) {
			char *p = realloc(buf, cap * 2);
			if (!p) {
				free(buf);
				return NULL;
			}
			buf = p;
			cap *= 2;
		}
	}
	if (buf)
		buf[n] = '\0';
	return buf;
}

static json_object *
parse_json(const char *text)
{
	json_tokener *tok = json_tokener_new();
	json_object *j;
	size_t len = strlen(text);

	if (!tok)
		return NULL;
	j = json_tokener_parse_ex(tok, text, (int)len);
	if (!j || json_tokener_get_error(tok) != json_tokener_success ||
	    tok->char_offset != (int)len) {
		/* Trailing white space is fine, anything else is not. */
		size_t at = (size_t)tok->char_offset;
		enum json_tokener_error e = json_tokener_get_error(tok);
		if (j && e == json_tokener_success &&
		    strspn(text + at, " \t\r\n") == len - at) {
			json_tokener_free(tok);
			return j;
		}
		failf("bad JSON at character %zu: %s", at,
		      e == json_tokener_success ? "trailing data"
						: json_tokener_error_desc(e));
		json_object_put(j);
		j = NULL;
	}
	json_tokener_free(tok);
	return j;
}

/*
 * A stream method: each item printed as it comes (one JSON value each),
 * then the end; a typed error or -errno at the end fails as a call would.
 */
static int
call_stream(session *s, const tool_iface *t, const lrpc_rpc_method *m,
	    const char *what, const void *req, void *item)
{
	lrpc_rpc_error err = { 0 };
	lrpc_rpc_iter *it;
	lrpc_arena arena; /* one item's data at a time */
	int r;

	r = lrpc_rpc_iter_new(&it, s->rc, &t->iface, m, req, opt.timeout_usec,
			      &err);
	if (r < 0)
		return call_failed(what, r, &err);
	lrpc_arena_init(&arena, NULL, 0, 64u << 20);
	while ((r = lrpc_rpc_iter_next(it, item, &arena, &err)) == 1) {
		json_object *j = tool_to_json(t, m->reply, item);

		if (!j) {
			r = -ENOMEM;
			break;
		}
		print_json(j);
		fflush(stdout);
		lrpc_arena_reset(&arena);
	}
	lrpc_arena_done(&arena);
	lrpc_rpc_iter_unref(it);
	if (r == -EREMOTEIO && err.code > 0)
		r = err.code;
	return r == 0 ? EXIT_SUCCESS : call_failed(what, r, &err);
}

static int
cmd_call(int argc, char **argv)
{
	const char *dot;
	char iname[256];
	session s;
	lrpc_description d;
	tool_iface t;
	const lrpc_rpc_method *m;
	json_object *args;
	char msg[512];
	char *text;
	void *req = NULL, *rep = NULL;
	lrpc_rpc_error err = { 0 };
	int r, status;

	if (argc != 3) {
		usage(stderr);
		return EXIT_USAGE;
	}
	dot = strrchr(argv[1], '.');
	if (!dot || dot == argv[1] || (size_t)(dot - argv[1]) >= sizeof(iname)) {
		fprintf(stderr, "lrpc: \"%s\" is not Interface.method (e.g. "
				"kv.Store.get)\n",
			argv[1]);
		return EXIT_USAGE;
	}
	memcpy(iname, argv[1], (size_t)(dot - argv[1]));
	iname[dot - argv[1]] = '\0';
	text = strcmp(argv[2], "-") == 0 ? read_all(stdin) : strdup(argv[2]);
	if (!text)
		return failf("out of memory");
	args = parse_json(text);
	free(text);
	if (!args)
		return EXIT_FAILURE;
	if (session_open(&s, argv[0])) {
		json_object_put(args);
		return EXIT_FAILURE;
	}
	status = describe(&s, iname, &d);
	if (status) {
		json_object_put(args);
		session_close(&s);
		return status;
	}
	r = tool_iface_build(&d, &t, msg, sizeof(msg));
	if (r < 0) {
		json_object_put(args);
		session_close(&s);
		return failf("%s: the server's description of %s is unusable: "
			     "%s",
			     argv[0], iname, msg);
	}
	m = tool_iface_method(&t, dot + 1);
	if (!m || m->kind == LRPC_RPC_EVENT) {
		status = failf("%s has no method %s", iname, dot + 1);
		goto out;
	}
	if (lrpc_arena_alloc(&s.arena, m->request->size, 16, &req) < 0 ||
	    (m->reply &&
	     lrpc_arena_alloc(&s.arena, m->reply->size, 16, &rep) < 0)) {
		status = failf("out of memory");
		goto out;
	}
	r = tool_from_json(&t, m->request, args, req, &s.arena, msg,
			   sizeof(msg));
	if (r < 0) {
		status = failf("%s: %s", argv[1], msg);
		goto out;
	}
	if (m->kind == LRPC_RPC_ONEWAY) {
		r = lrpc_rpc_client_call_async(s.rc, &t.iface, m, req, NULL,
					       NULL, NULL, opt.timeout_usec,
					       NULL);
		if (r < 0)
			status = call_failed(argv[1], r, &err);
		else
			print_json(json_object_new_object());
		goto out;
	}
	if (m->kind == LRPC_RPC_STREAM) {
		status = call_stream(&s, &t, m, argv[1], req, rep);
		goto out;
	}
	r = lrpc_rpc_client_call(s.rc, &t.iface, m, req, rep, &s.arena,
				 opt.timeout_usec, &err);
	if (r != 0) {
		status = call_failed(argv[1], r, &err);
		goto out;
	}
	json_object *res = tool_to_json(&t, m->reply, rep);
	if (!res) {
		status = failf("out of memory");
		goto out;
	}
	print_json(res);
out:
	json_object_put(args);
	session_close(&s);
	tool_iface_free(&t);
	return status;
}

/* --- stats ---------------------------------------------------------------- */

/* The latency below which @q of the calls were answered, in µs (bucket
 * upper bound). */
static uint64_t
quantile(const lrpc_method_stats *m, double q)
{
	uint64_t n = 0, seen = 0;

	for (unsigned i = 0; i < LRPC_HISTOGRAM_BUCKETS; i++)
		n += m->latency_us_log2[i];
	for (unsigned i = 0; n && i < LRPC_HISTOGRAM_BUCKETS; i++) {
		seen += m->latency_us_log2[i];
		if ((double)seen >= q * (double)n)
			return i ? (uint64_t)1 << i : 1;
	}
	return 0;
}

static json_object *
u64(uint64_t v)
{
	return json_object_new_uint64(v);
}

static json_object *
stats_json(const lrpc_stats *st)
{
	json_object *o = json_object_new_object();
	json_object *ms = json_object_new_array();
	json_object *cs = json_object_new_array();

	json_object_object_add(o, "uptime_us", u64(st->uptime_us));
	json_object_object_add(o, "calls", u64(st->calls));
	json_object_object_add(o, "errors", u64(st->errors));
	json_object_object_add(o, "bytes_in", u64(st->bytes_in));
	json_object_object_add(o, "bytes_out", u64(st->bytes_out));
	json_object_object_add(o, "active_connections",
			       u64(st->active_connections));
	json_object_object_add(o, "closed_connections",
			       u64(st->closed_connections));
	json_object_object_add(o, "refused_connections",
			       u64(st->refused_connections));
	for (size_t i = 0; i < st->methods.count; i++) {
		const lrpc_method_stats *m = &st->methods.items[i];
		json_object *x = json_object_new_object();
		json_object *h = json_object_new_array();
		json_object *e = json_object_new_object();
		json_object_object_add(x, "interface",
				       json_object_new_string(m->interface_name));
		json_object_object_add(x, "method",
				       json_object_new_string(m->method));
		json_object_object_add(x, "calls", u64(m->calls));
		json_object_object_add(x, "errors", u64(m->errors));
		for (size_t k = 0; k < m->errors_by_status.count; k++) {
			char key[16];
			snprintf(key, sizeof(key), "%" PRId32,
				 ((const int32_t *)m->errors_by_status.keys)[k]);
			json_object_object_add(
				e, key,
				u64(((const uint64_t *)
					     m->errors_by_status.values)[k]));
		}
		json_object_object_add(x, "errors_by_status", e);
		json_object_object_add(x, "other_errors", u64(m->other_errors));
		json_object_object_add(x, "bytes_in", u64(m->bytes_in));
		json_object_object_add(x, "bytes_out", u64(m->bytes_out));
		for (unsigned k = 0; k < LRPC_HISTOGRAM_BUCKETS; k++)
			json_object_array_add(h, u64(m->latency_us_log2[k]));
		json_object_object_add(x, "latency_us_log2", h);
		json_object_array_add(ms, x);
	}
	json_object_object_add(o, "methods", ms);
	for (size_t i = 0; i < st->connections.count; i++) {
		const lrpc_connection_stats *c = &st->connections.items[i];
		json_object *x = json_object_new_object();
		json_object_object_add(x, "pid", json_object_new_int(c->pid));
		json_object_object_add(x, "uid", u64(c->uid));
		json_object_object_add(x, "transport",
				       json_object_new_string(c->transport));
		json_object_object_add(x, "requests", u64(c->requests));
		json_object_object_add(x, "responses", u64(c->responses));
		json_object_object_add(x, "events", u64(c->events));
		json_object_object_add(x, "undelivered", u64(c->undelivered));
		json_object_object_add(x, "bytes_queued", u64(c->bytes_queued));
		json_object_object_add(x, "id", u64(c->id));
		json_object_array_add(cs, x);
	}
	json_object_object_add(o, "connections", cs);
	return o;
}

static void
stats_text(const lrpc_stats *st)
{
	printf("uptime %.1f s, %" PRIu64 " calls, %" PRIu64 " errors, %" PRIu64
	       " bytes in, %" PRIu64 " bytes out, %u connections\n",
	       (double)st->uptime_us / 1e6, st->calls, st->errors,
	       st->bytes_in, st->bytes_out, st->active_connections);
	printf("%-36s %10s %8s %12s %12s %9s %9s\n", "METHOD", "CALLS",
	       "ERRORS", "BYTES IN", "BYTES OUT", "P50 us<", "P99 us<");
	for (size_t i = 0; i < st->methods.count; i++) {
		const lrpc_method_stats *m = &st->methods.items[i];
		char name[256];
		snprintf(name, sizeof(name), "%s.%s", m->interface_name,
			 m->method);
		printf("%-36s %10" PRIu64 " %8" PRIu64 " %12" PRIu64
		       " %12" PRIu64 " %9" PRIu64 " %9" PRIu64 "\n",
		       name, m->calls, m->errors, m->bytes_in, m->bytes_out,
		       quantile(m, 0.5), quantile(m, 0.99));
	}
	printf("%8s %6s %-7s %10s %10s %8s\n", "PID", "UID", "TRANSP",
	       "REQUESTS", "RESPONSES", "EVENTS");
	for (size_t i = 0; i < st->connections.count; i++) {
		const lrpc_connection_stats *c = &st->connections.items[i];
		printf("%8d %6u %-7s %10" PRIu64 " %10" PRIu64 " %8" PRIu64 "\n",
		       c->pid, c->uid, c->transport, c->requests, c->responses,
		       c->events);
	}
}

static int
cmd_stats(int argc, char **argv)
{
	session s;
	lrpc_stats st;
	lrpc_rpc_error err;
	int r;

	if (argc != 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (session_open(&s, argv[0]))
		return EXIT_FAILURE;
	for (;;) {
		r = lrpc_service_stats(s.rc, &st, &s.arena, opt.timeout_usec,
				       &err);
		if (r != 0) {
			session_close(&s);
			return call_failed("lrpc.Service.stats", r, &err);
		}
		if (opt.json)
			print_json(stats_json(&st));
		else
			stats_text(&st);
		lrpc_arena_reset(&s.arena);
		if (opt.watch <= 0)
			break;
		fflush(stdout);
		struct timespec ts = {
			.tv_sec = (time_t)opt.watch,
			.tv_nsec = (long)((opt.watch - floor(opt.watch)) * 1e9),
		};
		nanosleep(&ts, NULL);
		if (!opt.json)
			putchar('\n');
	}
	session_close(&s);
	return EXIT_SUCCESS;
}

/* --- monitor and capture -------------------------------------------------- */

static int
tap_command(int argc, char **argv, bool capture)
{
	session s;
	lrpc_info info;
	lrpc_rpc_error err;
	tool_tap_names names = { 0 };
	char why[256] = "";
	FILE *out = stdout;
	int r;

	if (argc != 1 || (capture && !opt.write) || (!capture && opt.write)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (session_open(&s, argv[0]))
		return EXIT_FAILURE;
	r = lrpc_service_info(s.rc, &info, &s.arena, opt.timeout_usec, &err);
	if (r != 0) {
		session_close(&s);
		return call_failed("lrpc.Service.info", r, &err);
	}
	names.ifaces = calloc(info.interfaces.count ? info.interfaces.count : 1,
			      sizeof(*names.ifaces));
	if (!names.ifaces) {
		session_close(&s);
		return failf("out of memory");
	}
	/* Names of what the service serves now; one it refuses to
	 * describe shows as its id. */
	for (size_t i = 0; i < info.interfaces.count; i++) {
		tool_tap_iface *f = &names.ifaces[names.n];
		if (lrpc_service_describe(s.rc, info.interfaces.items[i].name,
					  &f->d, &s.arena, opt.timeout_usec,
					  &err) == 0) {
			f->id = f->d.iface.id;
			names.n++;
		}
	}
	if (capture && strcmp(opt.write, "-") != 0) {
		out = fopen(opt.write, "wb");
		if (!out) {
			r = failf("%s: %s", opt.write, strerror(errno));
			free(names.ifaces);
			session_close(&s);
			return r;
		}
	}
	r = tool_tap_run(s.rc, &names, argv[0], out, capture, opt.count,
			 opt.duration, opt.timeout_usec, why, sizeof(why));
	if (out != stdout && fclose(out) != 0 && r == 0) {
		snprintf(why, sizeof(why), "%s: %s", opt.write, strerror(errno));
		r = -EIO;
	}
	free(names.ifaces);
	session_close(&s);
	if (r < 0)
		return failf("%s: %s", argv[0], why);
	return EXIT_SUCCESS;
}

static int
cmd_monitor(int argc, char **argv)
{
	return tap_command(argc, argv, false);
}

static int
cmd_capture(int argc, char **argv)
{
	return tap_command(argc, argv, true);
}

/* --- main ----------------------------------------------------------------- */

static bool
parse_seconds(const char *s, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0) || v > 86400.0 * 365)
		return false;
	*ret = v;
	return true;
}

int
main(int argc, char **argv)
{
	enum { OPT_JSON = 256, OPT_TIMEOUT, OPT_TRANSPORT, OPT_WATCH,
	       OPT_VERSION, OPT_DURATION };
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "transport", required_argument, NULL, OPT_TRANSPORT },
		{ "watch", optional_argument, NULL, OPT_WATCH },
		{ "write", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} cmds[] = {
		{ "list", cmd_list },
		{ "info", cmd_info },
		{ "introspect", cmd_introspect },
		{ "call", cmd_call },
		{ "stats", cmd_stats },
		{ "monitor", cmd_monitor },
		{ "capture", cmd_capture },
	};
	double secs;
	int c;

	while ((c = getopt_long(argc, argv, "hw:c:", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON:
			opt.json = true;
			break;
		case OPT_TIMEOUT:
			if (!parse_seconds(optarg, &secs)) {
				fprintf(stderr, "lrpc: --timeout: \"%s\" is "
						"not a number of seconds\n",
					optarg);
				return EXIT_USAGE;
			}
			opt.timeout_usec = (uint64_t)(secs * 1e6);
			break;
		case OPT_TRANSPORT:
			if (strcmp(optarg, "socket") == 0) {
				opt.transport = LRPC_TRANSPORT_SOCKET;
			} else if (strcmp(optarg, "shm") == 0) {
				opt.transport = LRPC_TRANSPORT_SHM;
			} else {
				fprintf(stderr, "lrpc: --transport: socket "
						"or shm, not \"%s\"\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_WATCH:
			opt.watch = 1;
			if (optarg && (!parse_seconds(optarg, &opt.watch) ||
				       opt.watch < 0.01)) {
				fprintf(stderr, "lrpc: --watch: \"%s\" is "
						"not a number of seconds\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'w':
			opt.write = optarg;
			break;
		case 'c': {
			char *end;
			errno = 0;
			unsigned long long n = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-') {
				fprintf(stderr, "lrpc: --count: \"%s\" is not "
						"a number\n",
					optarg);
				return EXIT_USAGE;
			}
			opt.count = n;
			break;
		}
		case OPT_DURATION:
			if (!parse_seconds(optarg, &opt.duration)) {
				fprintf(stderr, "lrpc: --duration: \"%s\" is "
						"not a number of seconds\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case OPT_VERSION:
			printf("lrpc %s\n", lrpc_version());
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	lrpc_set_log_hook(quiet_log, LRPC_LOG_ERR, NULL);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[optind], cmds[i].name) == 0) {
			if (opt.watch > 0 && cmds[i].fn != cmd_stats) {
				fprintf(stderr, "lrpc: --watch is for "
						"stats\n");
				return EXIT_USAGE;
			}
			return cmds[i].fn(argc - optind - 1,
					  argv + optind + 1);
		}
	fprintf(stderr, "lrpc: unknown command \"%s\"\n", argv[optind]);
	usage(stderr);
	return EXIT_USAGE;
}
