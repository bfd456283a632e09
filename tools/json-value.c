/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Values between JSON and the C representation the runtime codec reads
 * (laid out by desc.c).  The JSON form:
 *
 *   bool, integers, floats   true, 42, 1.5 (u64 and i64 in full range)
 *   string                   "text"
 *   bytes                    "base64"
 *   T[], T[N]                [ ... ] (exactly N elements for T[N])
 *   optional T               null or T
 *   enum                     "NAME" (or its number)
 *   struct, parameters       {"field": value, ...}; missing fields take
 *                            their default
 *   union                    {"case": value}
 *   map<string, V>           {"key": value, ...}
 *   map<K, V>                [[key, value], ...]
 *   fd                       in: {"open": "/path"} (opened read-only for
 *                            the call) or a number (an fd of this
 *                            process, 0 for stdin); out: {"fd": N,
 *                            "kind": "file", "target": "/path"}
 *
 * Errors name the field path the way the runtime does: a.b[3].key.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lrpc-tool.h"

typedef struct conv {
	const tool_iface *t;
	lrpc_arena *arena;
	char path[512];
	char *err;
	size_t err_size;
} conv;

static const char *
json_kind(json_object *j)
{
	switch (json_object_get_type(j)) {
	case json_type_null:
		return "null";
	case json_type_boolean:
		return "a boolean";
	case json_type_double:
		return "a number";
	case json_type_int:
		return "an integer";
	case json_type_object:
		return "an object";
	case json_type_array:
		return "an array";
	case json_type_string:
		return "a string";
	}
	return "something else";
}

static int __attribute__((format(printf, 2, 3)))
fail(conv *c, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->err_size, "%s%s%s", c->path,
		 c->path[0] ? ": " : "", msg);
	return -EINVAL;
}

static int
expected(conv *c, const char *what, json_object *j)
{
	return fail(c, "expected %s, got %s", what, json_kind(j));
}

/* Path segments: pushed before a child, cut back after. */
static size_t
push(conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t
push(conv *c, const char *fmt, ...)
{
	size_t len = strlen(c->path);
	va_list ap;

	va_start(ap, fmt);
	if (len < sizeof(c->path))
		vsnprintf(c->path + len, sizeof(c->path) - len, fmt, ap);
	va_end(ap);
	return len;
}

static void
pop(conv *c, size_t len)
{
	c->path[len] = '\0';
}

static int
alloc(conv *c, size_t n, size_t size, size_t align, void **ret)
{
	if (size && n > SIZE_MAX / size)
		return fail(c, "too many elements");
	if (lrpc_arena_alloc(c->arena, n * size != 0 ? n * size : 1, align,
			     ret) < 0)
		return fail(c, "out of memory");
	return 0;
}

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
b64_val(char ch)
{
	const char *p = ch ? strchr(b64, ch) : NULL;
	return p ? (int)(p - b64) : -1;
}

static int
from_base64(conv *c, const char *s, size_t len, lrpc_bytes *ret)
{
	uint8_t *out;
	size_t n = 0;
	uint32_t acc = 0;
	int bits = 0, r;

	while (len && s[len - 1] == '=')
		len--;
	r = alloc(c, len * 3 / 4 + 1, 1, 1, (void **)&out);
	if (r < 0)
		return r;
	for (size_t i = 0; i < len; i++) {
		int v = b64_val(s[i]);
		if (v < 0)
			return fail(c, "bytes: invalid base64 at character "
				    "%zu",
				    i);
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	*ret = (lrpc_bytes){ out, n };
	return 0;
}

static int from_json(conv *c, const lrpc_rpc_type *t, json_object *j, void *v);

static int
int_from_json(conv *c, const lrpc_rpc_type *t, json_object *j, void *v)
{
	static const struct {
		int64_t lo;
		uint64_t hi;
	} range[] = {
		[LRPC_RPC_I8] = { INT8_MIN, INT8_MAX },
		[LRPC_RPC_I16] = { INT16_MIN, INT16_MAX },
		[LRPC_RPC_I32] = { INT32_MIN, INT32_MAX },
		[LRPC_RPC_I64] = { INT64_MIN, INT64_MAX },
		[LRPC_RPC_U8] = { 0, UINT8_MAX },
		[LRPC_RPC_U16] = { 0, UINT16_MAX },
		[LRPC_RPC_U32] = { 0, UINT32_MAX },
		[LRPC_RPC_U64] = { 0, UINT64_MAX },
	};
	int64_t s = 0;
	uint64_t u = 0;
	bool neg;

	if (!json_object_is_type(j, json_type_int))
		return expected(c, "an integer", j);
	errno = 0;
	s = json_object_get_int64(j);
	neg = s < 0;
	if (!neg) {
		u = json_object_get_uint64(j);
		if (errno == EINVAL || errno == ERANGE)
			return fail(c, "integer out of range");
	}
	if (neg ? s < range[t->kind].lo : u > range[t->kind].hi)
		return fail(c, "%s%" PRIu64 " does not fit in %s",
			    neg ? "-" : "", neg ? (uint64_t)-(s + 1) + 1 : u,
			    t->name && *t->name ? t->name : "the field");
	switch (t->kind) {
	case LRPC_RPC_I8:
	case LRPC_RPC_U8: {
		uint8_t x = neg ? (uint8_t)s : (uint8_t)u;
		memcpy(v, &x, 1);
		break;
	}
	case LRPC_RPC_I16:
	case LRPC_RPC_U16: {
		uint16_t x = neg ? (uint16_t)s : (uint16_t)u;
		memcpy(v, &x, 2);
		break;
	}
	case LRPC_RPC_I32:
	case LRPC_RPC_U32: {
		uint32_t x = neg ? (uint32_t)s : (uint32_t)u;
		memcpy(v, &x, 4);
		break;
	}
	default: {
		uint64_t x = neg ? (uint64_t)s : u;
		memcpy(v, &x, 8);
		break;
	}
	}
	return 0;
}

static int64_t
load_int(uint16_t kind, const void *v)
{
	switch (kind) {
	case LRPC_RPC_I8:
		return *(const int8_t *)v;
	case LRPC_RPC_U8:
		return *(const uint8_t *)v;
	case LRPC_RPC_I16:
		return *(const int16_t *)v;
	case LRPC_RPC_U16:
		return *(const uint16_t *)v;
	case LRPC_RPC_I32:
		return *(const int32_t *)v;
	case LRPC_RPC_U32:
		return *(const uint32_t *)v;
	default:
		return *(const int64_t *)v;
	}
}

static int
enum_from_json(conv *c, const lrpc_rpc_type *t, json_object *j, void *v)
{
	if (json_object_is_type(j, json_type_string)) {
		const char *s = json_object_get_string(j);
		for (uint32_t i = 0; t->fields && i < t->n_fields; i++)
			if (strcmp(t->fields[i].name, s) == 0) {
				json_object *n =
					json_object_new_int64(t->values[i]);
				int r = int_from_json(c, t->inner, n, v);
				json_object_put(n);
				return r;
			}
		return fail(c, "\"%s\" is not a value of %s", s, t->name);
	}
	int r = int_from_json(c, t->inner, j, v);
	if (r < 0)
		return r;
	int64_t x = load_int(t->inner->kind, v);
	for (uint32_t i = 0; i < t->n_values; i++)
		if (t->values[i] == x)
			return 0;
	return fail(c, "%" PRId64 " is not a value of %s", x, t->name);
}

/* What a field the JSON leaves out holds: as an older peer's (runtime). */
static void
fill_default(const lrpc_rpc_type *t, void *v)
{
	if (t->kind == LRPC_RPC_ENUM) {
		json_object *n = json_object_new_int64(t->values[0]);
		conv c = { 0 };
		char err[8];
		c.err = err;
		c.err_size = sizeof(err);
		(void)int_from_json(&c, t->inner, n, v);
		json_object_put(n);
	} else if (t->kind == LRPC_RPC_UNION) {
		const lrpc_rpc_field *low = &t->fields[0];
		for (uint32_t i = 1; i < t->n_fields; i++)
			if (t->fields[i].ordinal < low->ordinal)
				low = &t->fields[i];
		uint32_t tag = low->ordinal;
		memcpy(v, &tag, sizeof(tag));
		fill_default(low->type, (uint8_t *)v + t->value_offset);
	} else if (t->kind == LRPC_RPC_STRUCT) {
		for (uint32_t i = 0; i < t->n_fields; i++)
			if (t->fields[i].offset != LRPC_RPC_FIELD_RETIRED)
				fill_default(t->fields[i].type,
					     (uint8_t *)v + t->fields[i].offset);
	} else if (t->kind == LRPC_RPC_ARRAY) {
		for (uint32_t i = 0; i < t->max; i++)
			fill_default(t->inner,
				     (uint8_t *)v + (size_t)i * t->inner->size);
	} else if (t->kind == LRPC_RPC_STRING) {
		*(const char **)v = "";
	}
}

static int
struct_from_json(conv *c, const lrpc_rpc_type *t, json_object *j, void *v)
{
	if (!json_object_is_type(j, json_type_object))
		return expected(c, "an object", j);
	fill_default(t, v);
	json_object_object_foreach(j, key, val) {
		const lrpc_rpc_field *f = NULL;
		for (uint32_t i = 0; i < t->n_fields; i++)
			if (strcmp(t->fields[i].name, key) == 0 &&
			    t->fields[i].offset != LRPC_RPC_FIELD_RETIRED)
				f = &t->fields[i];
		size_t len = push(c, c->path[0] ? ".%s" : "%s", key);
		if (!f)
			return fail(c, "no such field in %s", t->name);
		int r = from_json(c, f->type, val, (uint8_t *)v + f->offset);
		if (r < 0)
			return r;
		pop(c, len);
	}
	return 0;
}

static int
union_from_json(conv *c, const lrpc_rpc_type *t, json_object *j, void *v)
{
	if (!json_object_is_type(j, json_type_object) ||
	    json_object_object_length(j) != 1)
		return fail(c, "expected an object with one case of %s",
			    t->name);
	json_object_object_foreach(j, key, val) {
		size_t len = push(c, c->path[0] ? ".%s" : "%s", key);
		for (uint32_t i = 0; i < t->n_fields; i++)
			if (strcmp(t->fields[i].name, key) == 0) {
				uint32_t tag = t->fields[i].ordinal;
				memcpy(v, &tag, sizeof(tag));
				int r = from_json(c, t->fields[i].type, val,
						  (uint8_t *)v +
							  t->value_offset);
				if (r == 0)
					pop(c, len);
				return r;
			}
		return fail(c, "no such case in %s", t->name);
	}
	return 0;
}

static int
list_from_json(conv *c, const lrpc_rpc_type *t, json_object *j, void *v)
{
	size_t n;
	uint8_t *items;
	int r;

	if (!json_object_is_type(j, json_type_array))
		return expected(c, "an array", j);
	n = json_object_array_length(j);
	if (t->kind == LRPC_RPC_ARRAY && n != t->max)
		return fail(c, "expected %u elements, got %zu", t->max, n);
	if (t->kind == LRPC_RPC_ARRAY) {
		items = v;
	} else {
		r = alloc(c, n, t->inner->size, t->inner->align, (void **)&items);
		if (r < 0)
			return r;
		*(lrpc_list *)v = (lrpc_list){ items, n };
	}
	for (size_t i = 0; i < n; i++) {
		size_t len = push(c, "[%zu]", i);
		r = from_json(c, t->inner, json_object_array_get_idx(j, i),
			      items + i * t->inner->size);
		if (r < 0)
			return r;
		pop(c, len);
	}
	return 0;
}

static int
map_from_json(conv *c, const lrpc_rpc_type *t, json_object *j, void *v)
{
	bool by_name = t->inner->kind == LRPC_RPC_STRING;
	uint8_t *keys, *values;
	size_t n, i = 0;
	int r;

	if (by_name ? !json_object_is_type(j, json_type_object)
		    : !json_object_is_type(j, json_type_array))
		return expected(c, by_name ? "an object" : "an array of "
					     "[key, value] pairs", j);
	n = by_name ? (size_t)json_object_object_length(j)
		    : json_object_array_length(j);
	r = alloc(c, n, t->inner->size, t->inner->align, (void **)&keys);
	if (r == 0)
		r = alloc(c, n, t->value->size, t->value->align,
			  (void **)&values);
	if (r < 0)
		return r;
	*(lrpc_map *)v = (lrpc_map){ keys, values, n };
	if (by_name) {
		json_object_object_foreach(j, key, val) {
			size_t len = push(c, "[%zu]", i);
			char *k = NULL;
			r = alloc(c, strlen(key) + 1, 1, 1, (void **)&k);
			if (r < 0)
				return r;
			strcpy(k, key);
			memcpy(keys + i * t->inner->size, &k, sizeof(k));
			pop(c, len);
			len = push(c, "[%zu].value", i);
			r = from_json(c, t->value, val,
				      values + i * t->value->size);
			if (r < 0)
				return r;
			pop(c, len);
			i++;
		}
		return 0;
	}
	for (i = 0; i < n; i++) {
		json_object *pair = json_object_array_get_idx(j, i);
		size_t len = push(c, "[%zu]", i);
		if (!json_object_is_type(pair, json_type_array) ||
		    json_object_array_length(pair) != 2)
			return expected(c, "a [key, value] pair", pair);
		pop(c, len);
		len = push(c, "[%zu].key", i);
		r = from_json(c, t->inner, json_object_array_get_idx(pair, 0),
			      keys + i * t->inner->size);
		if (r < 0)
			return r;
		pop(c, len);
		len = push(c, "[%zu].value", i);
		r = from_json(c, t->value, json_object_array_get_idx(pair, 1),
			      values + i * t->value->size);
		if (r < 0)
			return r;
		pop(c, len);
	}
	return 0;
}

/*
 * An fd to send: {"open": "/path"}, opened read-only here and closed with
 * the arena once the call is done, or the number of one of our own fds.
 */
static int
fd_from_json(conv *c, json_object *j, void *v)
{
	json_object *path;
	int fd;

	if (json_object_is_type(j, json_type_int)) {
		int64_t n = json_object_get_int64(j);
		if (n < 0 || n > INT32_MAX || fcntl((int)n, F_GETFD) < 0)
			return fail(c, "%" PRId64 " is not an open fd", n);
		fd = (int)n;
	} else if (json_object_is_type(j, json_type_object) &&
		   json_object_object_length(j) == 1 &&
		   json_object_object_get_ex(j, "open", &path) &&
		   json_object_is_type(path, json_type_string)) {
		fd = open(json_object_get_string(path),
			  O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return fail(c, "cannot open %s: %s",
				    json_object_get_string(path),
				    strerror(errno));
		if (lrpc_arena_add_fd(c->arena, fd) < 0) {
			close(fd);
			return -ENOMEM;
		}
	} else {
		return expected(c, "{\"open\": \"/path\"} or an fd number", j);
	}
	memcpy(v, &fd, sizeof(fd));
	return 0;
}

static int
from_json(conv *c, const lrpc_rpc_type *t, json_object *j, void *v)
{
	int r;

	switch (t->kind) {
	case LRPC_RPC_BOOL:
		if (!json_object_is_type(j, json_type_boolean))
			return expected(c, "true or false", j);
		*(bool *)v = json_object_get_boolean(j);
		return 0;
	case LRPC_RPC_I8:
	case LRPC_RPC_I16:
	case LRPC_RPC_I32:
	case LRPC_RPC_I64:
	case LRPC_RPC_U8:
	case LRPC_RPC_U16:
	case LRPC_RPC_U32:
	case LRPC_RPC_U64:
		return int_from_json(c, t, j, v);
	case LRPC_RPC_F32:
	case LRPC_RPC_F64:
		if (!json_object_is_type(j, json_type_double) &&
		    !json_object_is_type(j, json_type_int))
			return expected(c, "a number", j);
		if (t->kind == LRPC_RPC_F32)
			*(float *)v = (float)json_object_get_double(j);
		else
			*(double *)v = json_object_get_double(j);
		return 0;
	case LRPC_RPC_STRING: {
		if (!json_object_is_type(j, json_type_string))
			return expected(c, "a string", j);
		size_t n = (size_t)json_object_get_string_len(j);
		char *s;
		if (t->max && n > t->max)
			return fail(c, "%zu bytes, longer than @max(%u)", n,
				    t->max);
		if (memchr(json_object_get_string(j), '\0', n))
			return fail(c, "a string with a NUL character");
		r = alloc(c, n + 1, 1, 1, (void **)&s);
		if (r < 0)
			return r;
		memcpy(s, json_object_get_string(j), n + 1);
		*(const char **)v = s;
		return 0;
	}
	case LRPC_RPC_BYTES:
		if (!json_object_is_type(j, json_type_string))
			return expected(c, "a base64 string", j);
		r = from_base64(c, json_object_get_string(j),
				(size_t)json_object_get_string_len(j), v);
		if (r == 0 && t->max && ((lrpc_bytes *)v)->len > t->max)
			return fail(c, "%zu bytes, longer than @max(%u)",
				    ((lrpc_bytes *)v)->len, t->max);
		return r;
	case LRPC_RPC_LIST:
	case LRPC_RPC_ARRAY:
		r = list_from_json(c, t, j, v);
		if (r == 0 && t->kind == LRPC_RPC_LIST && t->max &&
		    ((lrpc_list *)v)->count > t->max)
			return fail(c, "%zu elements, more than @max(%u)",
				    ((lrpc_list *)v)->count, t->max);
		return r;
	case LRPC_RPC_OPTIONAL: {
		void *p;
		if (json_object_is_type(j, json_type_null)) {
			*(void **)v = NULL;
			return 0;
		}
		if (t->inner->kind == LRPC_RPC_STRING)
			return from_json(c, t->inner, j, v);
		r = alloc(c, 1, t->inner->size, t->inner->align, &p);
		if (r == 0)
			r = from_json(c, t->inner, j, p);
		if (r == 0)
			*(void **)v = p;
		return r;
	}
	case LRPC_RPC_ENUM:
		return enum_from_json(c, t, j, v);
	case LRPC_RPC_STRUCT:
		return struct_from_json(c, t, j, v);
	case LRPC_RPC_UNION:
		return union_from_json(c, t, j, v);
	case LRPC_RPC_MAP:
		r = map_from_json(c, t, j, v);
		if (r == 0 && t->max && ((lrpc_map *)v)->count > t->max)
			return fail(c, "%zu entries, more than @max(%u)",
				    ((lrpc_map *)v)->count, t->max);
		return r;
	case LRPC_RPC_FD:
		return fd_from_json(c, j, v);
	}
	return fail(c, "unknown type kind %u", t->kind);
}

int
tool_from_json(const tool_iface *t, const lrpc_rpc_type *type,
	       json_object *json, void *value, lrpc_arena *arena, char *err,
	       size_t err_size)
{
	conv c = { .t = t, .arena = arena, .err = err, .err_size = err_size };

	err[0] = '\0';
	return from_json(&c, type, json, value);
}

/* --- C -> JSON ------------------------------------------------------------ */

static json_object *
to_base64(const lrpc_bytes *b)
{
	size_t n = (b->len + 2) / 3 * 4;
	char *out = malloc(n + 1), *p = out;
	json_object *j;

	if (!out)
		return NULL;
	for (size_t i = 0; i < b->len; i += 3) {
		uint32_t acc = (uint32_t)b->data[i] << 16;
		if (i + 1 < b->len)
			acc |= (uint32_t)b->data[i + 1] << 8;
		if (i + 2 < b->len)
			acc |= b->data[i + 2];
		*p++ = b64[acc >> 18 & 63];
		*p++ = b64[acc >> 12 & 63];
		*p++ = i + 1 < b->len ? b64[acc >> 6 & 63] : '=';
		*p++ = i + 2 < b->len ? b64[acc & 63] : '=';
	}
	*p = '\0';
	j = json_object_new_string_len(out, (int)n);
	free(out);
	return j;
}

static json_object *
int_to_json(uint16_t kind, const void *v)
{
	if (kind == LRPC_RPC_U64)
		return json_object_new_uint64(*(const uint64_t *)v);
	return json_object_new_int64(load_int(kind, v));
}

static json_object *to_json(const lrpc_rpc_type *t, const void *v);

/* A NULL @child is JSON's null (json-c has no object for it). */
static json_object *
add(json_object *parent, const char *key, json_object *child)
{
	if (key)
		json_object_object_add(parent, key, child);
	else
		json_object_array_add(parent, child);
	return parent;
}

/* A received fd as what it is: {"fd": N, "kind": ..., "target": ...}. */
static json_object *
fd_to_json(int fd)
{
	char link[64], target[512];
	struct stat st;
	const char *kind = "other";
	json_object *j;
	ssize_t n;

	if (fd < 0)
		return json_object_new_null();
	if (fstat(fd, &st) == 0) {
		if (S_ISREG(st.st_mode))
			kind = fcntl(fd, F_GET_SEALS) >= 0 ? "memfd" : "file";
		else if (S_ISSOCK(st.st_mode))
			kind = "socket";
		else if (S_ISFIFO(st.st_mode))
			kind = "pipe";
		else if (S_ISDIR(st.st_mode))
			kind = "directory";
		else if (S_ISCHR(st.st_mode))
			kind = "device";
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = '\0';
	j = json_object_new_object();
	j = add(j, "fd", json_object_new_int(fd));
	j = add(j, "kind", json_object_new_string(kind));
	return add(j, "target", json_object_new_string(target));
}

static json_object *
to_json(const lrpc_rpc_type *t, const void *v)
{
	json_object *j;

	switch (t->kind) {
	case LRPC_RPC_BOOL:
		return json_object_new_boolean(*(const bool *)v);
	case LRPC_RPC_I8:
	case LRPC_RPC_I16:
	case LRPC_RPC_I32:
	case LRPC_RPC_I64:
	case LRPC_RPC_U8:
	case LRPC_RPC_U16:
	case LRPC_RPC_U32:
	case LRPC_RPC_U64:
		return int_to_json(t->kind, v);
	case LRPC_RPC_F32:
		return json_object_new_double(*(const float *)v);
	case LRPC_RPC_F64:
		return json_object_new_double(*(const double *)v);
	case LRPC_RPC_STRING:
		return json_object_new_string(*(const char *const *)v);
	case LRPC_RPC_BYTES:
		return to_base64(v);
	case LRPC_RPC_LIST:
	case LRPC_RPC_ARRAY: {
		const lrpc_list *l = v;
		const uint8_t *items = t->kind == LRPC_RPC_LIST ? l->items : v;
		size_t n = t->kind == LRPC_RPC_LIST ? l->count : t->max;
		j = json_object_new_array();
		for (size_t i = 0; j && i < n; i++)
			j = add(j, NULL,
				to_json(t->inner, items + i * t->inner->size));
		return j;
	}
	case LRPC_RPC_OPTIONAL: {
		const void *p = *(const void *const *)v;
		if (!p)
			return json_object_new_null();
		return to_json(t->inner,
			       t->inner->kind == LRPC_RPC_STRING ? v : p);
	}
	case LRPC_RPC_ENUM: {
		int64_t x = load_int(t->inner->kind, v);
		for (uint32_t i = 0; t->fields && i < t->n_values; i++)
			if (t->values[i] == x)
				return json_object_new_string(t->fields[i].name);
		return int_to_json(t->inner->kind, v);
	}
	case LRPC_RPC_STRUCT:
		j = json_object_new_object();
		for (uint32_t i = 0; j && i < t->n_fields; i++) {
			const lrpc_rpc_field *f = &t->fields[i];
			if (f->offset == LRPC_RPC_FIELD_RETIRED)
				continue;
			j = add(j, f->name,
				to_json(f->type, (const uint8_t *)v + f->offset));
		}
		return j;
	case LRPC_RPC_UNION: {
		uint32_t tag;
		memcpy(&tag, v, sizeof(tag));
		j = json_object_new_object();
		for (uint32_t i = 0; j && i < t->n_fields; i++)
			if (t->fields[i].ordinal == tag)
				return add(j, t->fields[i].name,
					   to_json(t->fields[i].type,
						   (const uint8_t *)v +
							   t->value_offset));
		return j;
	}
	case LRPC_RPC_FD: {
		int fd;
		memcpy(&fd, v, sizeof(fd));
		return fd_to_json(fd);
	}
	case LRPC_RPC_MAP: {
		const lrpc_map *m = v;
		const uint8_t *keys = m->keys, *values = m->values;
		bool by_name = t->inner->kind == LRPC_RPC_STRING;
		j = by_name ? json_object_new_object() : json_object_new_array();
		for (size_t i = 0; j && i < m->count; i++) {
			const void *k = keys + i * t->inner->size;
			json_object *val =
				to_json(t->value, values + i * t->value->size);
			if (by_name) {
				j = add(j, *(const char *const *)k, val);
				continue;
			}
			json_object *pair = json_object_new_array();
			if (!pair) {
				json_object_put(val);
				json_object_put(j);
				return NULL;
			}
			add(pair, NULL, to_json(t->inner, k));
			add(pair, NULL, val);
			j = add(j, NULL, pair);
		}
		return j;
	}
	}
	return NULL;
}

json_object *
tool_to_json(const tool_iface *t, const lrpc_rpc_type *type, const void *value)
{
	return to_json(type, value);
}
