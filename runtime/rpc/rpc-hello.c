/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the version negotiation carries besides the header, and how a
 * refusal is explained (docs/wire.md, "Version negotiation"):
 *
 *   hello        the client's hashes for versions 1..v_c (list<u32>)
 *   hello reply  on -EPROTO: the server's canonical form at the version
 *                both would speak (string), when its table has it;
 *                forms travel without their first line, "interface
 *                <name> <version>", which both sides know
 *   hello diff   after such a refusal, once: the client's form at that
 *                version (string), so that the server can name the first
 *                difference in its log as the client does in its error
 *
 * Payloads are encoded with the codec, through the descriptors below, so
 * the hostile-input rules of every other message apply to them too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc-hello.h"

static const lrpc_rpc_type u32_type = {
	.kind = LRPC_RPC_U32,
	.size = sizeof(uint32_t),
	.align = _Alignof(uint32_t),
	.name = "u32",
};

const lrpc_rpc_type lrpc__rpc_hello_hashes_type = {
	.kind = LRPC_RPC_LIST,
	.size = sizeof(lrpc_list),
	.align = _Alignof(lrpc_list),
	.max = 65535,
	.inner = &u32_type,
	.name = "lrpc.HelloHashes",
};

const lrpc_rpc_type lrpc__rpc_hello_form_type = {
	.kind = LRPC_RPC_STRING,
	.size = sizeof(const char *),
	.align = _Alignof(const char *),
	.max = LRPC__RPC_FORM_MAX,
	.name = "lrpc.CanonicalForm",
};

char *
lrpc__rpc_read_form(lrpc__rd *r)
{
	uint8_t buf[1024];
	lrpc_arena arena;
	const char *form = NULL;
	char *copy = NULL;

	lrpc_arena_init(&arena, buf, sizeof(buf), LRPC__RPC_FORM_MAX + 64);
	if (lrpc__rpc_decode(r, &lrpc__rpc_hello_form_type, &form, &arena,
			     NULL) == 0 &&
	    form)
		copy = strdup(form);
	lrpc_arena_done(&arena);
	return copy;
}

const char *
lrpc__rpc_form(const lrpc_rpc_interface *iface, unsigned version)
{
	if (iface->struct_size < offsetof(lrpc_rpc_interface, canonical) +
					 sizeof(iface->canonical) ||
	    !iface->canonical || version == 0 || version > iface->version)
		return NULL;
	return iface->canonical[version - 1];
}

/* Line @n (0-based) of @text as [*ret, *ret + *ret_len); false past the
 * end. */
static bool
nth_line(const char *text, unsigned n, const char **ret, size_t *ret_len)
{
	const char *p = text;

	for (unsigned i = 0; i < n; i++) {
		p = strchr(p, '\n');
		if (!p || !*++p)
			return false;
	}
	if (!*p)
		return false;
	const char *end = strchr(p, '\n');
	*ret = p;
	*ret_len = end ? (size_t)(end - p) : strlen(p);
	return true;
}

/* The method a canonical line describes ("@3 call ..."), or NULL. */
static const char *
line_method(const lrpc_rpc_interface *iface, const char *line, size_t len)
{
	unsigned ordinal = 0;
	size_t i = 1;

	if (len < 2 || line[0] != '@')
		return NULL;
	for (; i < len && line[i] >= '0' && line[i] <= '9' && i < 7; i++)
		ordinal = ordinal * 10 + (unsigned)(line[i] - '0');
	for (uint32_t k = 0; k < iface->n_methods; k++)
		if (iface->methods[k].ordinal == ordinal)
			return iface->methods[k].name;
	return NULL;
}

int
lrpc__rpc_form_diff(const lrpc_rpc_interface *iface, unsigned version,
		    const char *theirs, const char *peer, char *out,
		    size_t cap)
{
	const char *ours = lrpc__rpc_form(iface, version);

	if (!ours || !theirs)
		return snprintf(out, cap,
				"%s version %u differs from the %s's (its "
				"canonical form is not available to compare)",
				iface->name, version, peer);
	for (unsigned n = 0;; n++) {
		const char *a = NULL, *b = NULL;
		size_t al = 0, bl = 0;
		bool ha = nth_line(ours, n, &a, &al);
		bool hb = nth_line(theirs, n, &b, &bl);

		if (!ha && !hb)
			break;
		if (ha && hb && al == bl && memcmp(a, b, al) == 0)
			continue;
		const char *name = ha ? line_method(iface, a, al) : NULL;
		/* Lines are ASCII (the form holds no names but the
		 * interface's); a peer's line is shown as it came, bounded
		 * by %.*s, after the codec checked it is UTF-8 without
		 * NUL. */
		return snprintf(out, cap,
				"%s version %u differs from the %s's at line "
				"%u%s%s%s: ours \"%.*s\", the %s's \"%.*s\"",
				iface->name, version, peer, n + 2,
				name ? " (method " : "", name ? name : "",
				name ? ")" : "", ha ? (int)LRPC_MIN(al, 400) : 0,
				ha ? a : "", peer,
				hb ? (int)LRPC_MIN(bl, 400) : 0, hb ? b : "");
	}
	return snprintf(out, cap,
			"%s version %u: the %s's hash differs but its "
			"canonical form is the same",
			iface->name, version, peer);
}
