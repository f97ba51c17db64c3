/* bytes.h — fixed-width integers in byte order, and the bits of a double:
 * the framing of every on-disk format (WAL headers, block and rollup
 * files, log segments). Little-endian unless the name says be; p needs
 * room for the width. Inline: they sit in encoders' and decoders' loops. */
#ifndef OBS_CORE_BYTES_H
#define OBS_CORE_BYTES_H

#include <stdint.h>
#include <string.h>

static inline void obs_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void obs_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void obs_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t obs_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t obs_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t obs_get_le64(const uint8_t *p)
{
	return (uint64_t)obs_get_le32(p) | (uint64_t)obs_get_le32(p + 4) << 32;
}

/* Big-endian 64-bit load/store: the bit streams of chunks and encodings
 * read the most significant bit first. */
static inline uint64_t obs_get_be64(const uint8_t *p)
{
	uint64_t x;
	memcpy(&x, p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	x = __builtin_bswap64(x);
#endif
	return x;
}

static inline void obs_put_be64(uint8_t *p, uint64_t x)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	x = __builtin_bswap64(x);
#endif
	memcpy(p, &x, 8);
}

/* The IEEE-754 bits of a double and back. */
static inline uint64_t obs_f64_bits(double v)
{
	uint64_t u;
	memcpy(&u, &v, 8);
	return u;
}

static inline double obs_bits_f64(uint64_t u)
{
	double v;
	memcpy(&v, &u, 8);
	return v;
}

#endif
