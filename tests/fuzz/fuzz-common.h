/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the fuzz targets share: a reader that takes the input apart
 * without ever failing (a short input reads as zeros), and a check that
 * aborts, which libFuzzer reports as a crash and fuzz-replay.c as a
 * failed test.
 */
#ifndef LRPC_FUZZ_COMMON_H
#define LRPC_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(x)                                                         \
	do {                                                                \
		if (!(x)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n",        \
				__FILE__, __LINE__, #x);                    \
			abort();                                            \
		}                                                           \
	} while (0)

typedef struct fz_in {
	const uint8_t *p;
	size_t left;
} fz_in;

static inline void
fz_take(fz_in *in, void *out, size_t n)
{
	size_t k = n < in->left ? n : in->left;

	memcpy(out, in->p, k);
	memset((uint8_t *)out + k, 0, n - k);
	in->p += k;
	in->left -= k;
}

static inline uint8_t
fz_u8(fz_in *in)
{
	uint8_t v;
	fz_take(in, &v, 1);
	return v;
}

static inline uint16_t
fz_u16(fz_in *in)
{
	uint16_t v;
	fz_take(in, &v, 2);
	return v;
}

static inline uint32_t
fz_u32(fz_in *in)
{
	uint32_t v;
	fz_take(in, &v, 4);
	return v;
}

static inline uint64_t
fz_u64(fz_in *in)
{
	uint64_t v;
	fz_take(in, &v, 8);
	return v;
}

/* The next chunk: a length byte, then up to that many bytes (a view). */
static inline size_t
fz_chunk(fz_in *in, const uint8_t **ret)
{
	size_t n = fz_u8(in);

	if (n > in->left)
		n = in->left;
	*ret = in->p;
	in->p += n;
	in->left -= n;
	return n;
}

#endif
