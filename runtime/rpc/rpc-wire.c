/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The RPC header and UTF-8 validation. */
#include "rpc-wire.h"

size_t
lrpc__utf8_check(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		uint32_t cp, min;
		if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return i;
		}
		if (len - i - 1 < n)
			return i;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return i;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		/* Overlong forms, UTF-16 surrogates and values above the
		 * Unicode range are all invalid UTF-8. */
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		i += n + 1;
	}
	return len;
}

/* On a little-endian host the header's C layout is its wire layout. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define RPC_HEADER_IS_WIRE 1
_Static_assert(offsetof(lrpc__rpc_header, method) == 8 &&
		       offsetof(lrpc__rpc_header, kind) == 10 &&
		       offsetof(lrpc__rpc_header, version) == 12 &&
		       offsetof(lrpc__rpc_header, reserved) == 14 &&
		       offsetof(lrpc__rpc_header, status) == 16 &&
		       offsetof(lrpc__rpc_header, hash) == 20,
	       "RPC header is its wire layout");
#else
#define RPC_HEADER_IS_WIRE 0
#endif

bool
lrpc__rpc_header_read(lrpc__rd *r, lrpc__rpc_header *h)
{
	uint32_t status;

	if (RPC_HEADER_IS_WIRE)
		return lrpc__rd_bytes(r, h, sizeof(*h));

	if (!lrpc__rd_u64(r, &h->call_id) || !lrpc__rd_u16(r, &h->method) ||
	    !lrpc__rd_u16(r, &h->kind) || !lrpc__rd_u16(r, &h->version) ||
	    !lrpc__rd_u16(r, &h->reserved) || !lrpc__rd_u32(r, &status) ||
	    !lrpc__rd_u32(r, &h->hash))
		return false;
	h->status = (int32_t)status;
	return true;
}

void
lrpc__rpc_header_write(lrpc__wr *w, const lrpc__rpc_header *h)
{
	if (RPC_HEADER_IS_WIRE) {
		lrpc__wr_bytes(w, h, sizeof(*h));
		return;
	}
	lrpc__wr_u64(w, h->call_id);
	lrpc__wr_u16(w, h->method);
	lrpc__wr_u16(w, h->kind);
	lrpc__wr_u16(w, h->version);
	lrpc__wr_u16(w, h->reserved);
	lrpc__wr_u32(w, (uint32_t)h->status);
	lrpc__wr_u32(w, h->hash);
}

/* --- Message building (rpc-internal.h) ---------------------------------- */

#include "rpc-internal.h"
#include "util.h"

void
lrpc__rpc_buf_done(lrpc__rpc_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->cap = 0;
}

static void
build_into(lrpc__wr *w, uint32_t iface_id, const lrpc__rpc_header *h,
	   unsigned peer, const lrpc_rpc_type *type, const void *value,
	   const char *message, int *err, lrpc__codec_err *detail)
{
	lrpc_msg_header core = { .id = (int32_t)iface_id };

	/* The core header's size is patched in by the caller. */
	lrpc__wr_bytes(w, &core, sizeof(core));
	lrpc__rpc_header_write(w, h);
	w->peer = (uint16_t)peer;
	*err = 0;
	/* A parameter the receiver's version does not have is skipped
	 * there: only its default may be sent, or the call would silently
	 * mean something else. */
	if (type && peer && (h->kind == LRPC__RPC_REQUEST ||
			     h->kind == LRPC__RPC_ONEWAY))
		*err = lrpc__rpc_params_fit(type, value, peer, detail);
	if (type && *err == 0)
		*err = lrpc__rpc_encode(w, type, value, detail);
	if (h->kind == LRPC__RPC_ERROR) {
		size_t len = message ? strnlen(message, 127) : 0;
		lrpc__wr_u32(w, (uint32_t)len);
		lrpc__wr_bytes(w, message, len);
	}
}

int
lrpc__rpc_build(lrpc__rpc_buf *b, uint32_t iface_id,
		const lrpc__rpc_header *h, unsigned peer, const lrpc_rpc_type *type,
		const void *value, const char *message, size_t max_size)
{
	lrpc__wr w = { .buf = b->data, .cap = b->cap };
	int err;

	build_into(&w, iface_id, h, peer, type, value, message, &err, NULL);
	if (err < 0)
		return err;
	if (w.pos > max_size || w.pos > INT32_MAX)
		return -EMSGSIZE;
	if (w.pos > b->cap) {
		size_t cap = LRPC_MAX(w.pos, (size_t)256);
		uint8_t *d = realloc(b->data, cap);
		if (!d)
			return -ENOMEM;
		b->data = d;
		b->cap = cap;
		w = (lrpc__wr){ .buf = b->data, .cap = b->cap };
		build_into(&w, iface_id, h, peer, type, value, message, &err,
			   NULL);
		if (err < 0)
			return err;
	}
	uint32_t size = (uint32_t)w.pos;
	memcpy(b->data, &size, sizeof(size));
	return (int)size;
}

int
lrpc__rpc_measure_into(void *buf, size_t cap, uint32_t iface_id,
		       const lrpc__rpc_header *h, unsigned peer,
		       const lrpc_rpc_type *type,
		       const void *value, const char *message,
		       size_t max_size, size_t *ret_size,
		       lrpc__codec_err *detail, lrpc__rpc_fds *fds)
{
	lrpc__wr w = { .buf = buf, .cap = buf ? cap : 0 };
	int err;

	if (fds) {
		w.fds = fds->fd;
		w.cap_fds = LRPC_MAX_FDS_PER_MSG;
	}
	build_into(&w, iface_id, h, peer, type, value, message, &err, detail);
	if (err < 0)
		return err;
	if (fds)
		fds->n = w.n_fds;
	if (w.pos > max_size || w.pos > INT32_MAX)
		return lrpc__codec_fail(detail, -EMSGSIZE,
					"message of %zu bytes, above the "
					"limit of %zu",
					w.pos, LRPC_MIN(max_size,
							(size_t)INT32_MAX));
	if (w.pos <= w.cap) {
		uint32_t size32 = (uint32_t)w.pos;
		memcpy(buf, &size32, sizeof(size32));
	}
	*ret_size = w.pos;
	return 0;
}

int
lrpc__rpc_measure(uint32_t iface_id, const lrpc__rpc_header *h,
		  unsigned peer, const lrpc_rpc_type *type, const void *value,
		  const char *message, size_t max_size, size_t *ret_size,
		  lrpc__codec_err *detail)
{
	return lrpc__rpc_measure_into(NULL, 0, iface_id, h, peer, type, value,
				      message, max_size, ret_size, detail,
				      /* fds: counted only */ NULL);
}

int
lrpc__rpc_write(void *buf, size_t size, uint32_t iface_id,
		const lrpc__rpc_header *h, unsigned peer, const lrpc_rpc_type *type,
		const void *value, const char *message)
{
	lrpc__wr w = { .buf = buf, .cap = size };
	uint32_t size32 = (uint32_t)size;
	int err;

	/* Refusals were explained by lrpc__rpc_measure() already. */
	build_into(&w, iface_id, h, peer, type, value, message, &err, NULL);
	if (err < 0)
		return err;
	/* The value was measured a moment ago; anything else is a caller
	 * that changed it meanwhile. */
	if (w.pos != size)
		return -EINVAL;
	memcpy(buf, &size32, sizeof(size32));
	return 0;
}

const lrpc_rpc_method *
lrpc__rpc_find_method(const lrpc_rpc_interface *iface, uint16_t ordinal)
{
	uint32_t lo = 0, hi = iface->n_methods;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		uint16_t o = iface->methods[mid].ordinal;
		if (o == ordinal)
			return &iface->methods[mid];
		if (o < ordinal)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

bool
lrpc__rpc_interface_valid(const lrpc_rpc_interface *iface)
{
	/* Tables from a 1.0 generator end before @canonical. */
	if (!iface ||
	    iface->struct_size < offsetof(lrpc_rpc_interface, canonical) ||
	    iface->abi_version != LRPC_RPC_ABI_VERSION || iface->version == 0 ||
	    !iface->hashes || (iface->n_methods && !iface->methods))
		return false;
	for (uint32_t i = 0; i < iface->n_methods; i++) {
		const lrpc_rpc_method *m = &iface->methods[i];
		if (!m->request || m->request->kind != LRPC_RPC_STRUCT)
			return false;
		bool replies = m->kind == LRPC_RPC_CALL ||
			       m->kind == LRPC_RPC_STREAM;
		if (replies != (m->reply != NULL) ||
		    (m->kind == LRPC_RPC_STREAM &&
		     m->reply->kind != LRPC_RPC_STRUCT))
			return false;
		if (i && iface->methods[i - 1].ordinal >= m->ordinal)
			return false;
	}
	/* A policy that names more ids than it points to cannot be read. */
	if (iface->struct_size >= offsetof(lrpc_rpc_interface, policy) +
					  sizeof(iface->policy) &&
	    iface->policy)
		for (uint32_t i = 0; i < iface->n_methods; i++) {
			const lrpc_rpc_policy *p = iface->policy[i];
			if (p && ((p->n_uids && !p->uids) ||
				  (p->n_gids && !p->gids) ||
				  (p->n_groups && !p->groups)))
				return false;
			for (uint32_t k = 0; p && k < p->n_groups; k++)
				if (!p->groups[k])
					return false;
		}
	return true;
}
