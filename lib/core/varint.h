/* varint.h — LEB128 varints and zigzag, the integer encoding of every
 * on-disk format (WAL payloads, chunks, blocks, rollups, log segments).
 * Inline: they sit in decoders' hot loops. */
#ifndef OBS_CORE_VARINT_H
#define OBS_CORE_VARINT_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define OBS_VARINT_MAX 10   /* bytes of the longest uint64 varint */

static inline uint64_t obs_zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t obs_unzigzag(uint64_t u) { return (int64_t)(u >> 1) ^ -(int64_t)(u & 1); }

static inline size_t obs_varint_len(uint64_t u)
{
	size_t n = 1;
	while (u >= 0x80) {
		u >>= 7;
		n++;
	}
	return n;
}

/* Write u at p (room for OBS_VARINT_MAX bytes); returns the bytes written. */
static inline size_t obs_varint_put(uint8_t *p, uint64_t u)
{
	size_t n = 0;
	while (u >= 0x80) {
		p[n++] = (uint8_t)(u | 0x80);
		u >>= 7;
	}
	p[n++] = (uint8_t)u;
	return n;
}

/* Read a varint from p[*pos..len): 0 and *pos advanced, or -EBADMSG when it
 * is truncated or longer than a uint64 (*pos and *out unchanged). */
static inline int obs_varint_get(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
{
	uint64_t u = 0;
	for (size_t i = 0; i < OBS_VARINT_MAX && *pos + i < len; i++) {
		uint64_t b = p[*pos + i];
		if (i == 9 && b > 1)
			return -EBADMSG;
		u |= (b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*pos += i + 1;
			*out = u;
			return 0;
		}
	}
	return -EBADMSG;
}

/* Append a varint to a buffer: 0 or -ENOMEM. */
static inline int obs_buf_varint(struct obs_buf *b, uint64_t u)
{
	uint8_t tmp[OBS_VARINT_MAX];
	return obs_buf_append(b, tmp, obs_varint_put(tmp, u));
}

#endif
