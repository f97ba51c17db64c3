/* test_crc32c.c — CRC-32C against published vectors and a bitwise reference. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/crc32c.h"

/* The definition: reflected polynomial 0x82F63B78, one bit at a time. */
static uint32_t ref_crc32c(uint32_t crc, const unsigned char *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
	}
	return ~crc;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

Test(crc32c, known_vectors)
{
	cr_assert_eq(obs_crc32c(0, "123456789", 9), 0xE3069283u);
	unsigned char z[32] = { 0 };
	cr_assert_eq(obs_crc32c(0, z, 32), 0x8A9136AAu);
	unsigned char ff[32];
	memset(ff, 0xff, sizeof ff);
	cr_assert_eq(obs_crc32c(0, ff, 32), 0x62A8AB43u);   /* RFC 3720 B.4 */
	unsigned char inc[32];
	for (int i = 0; i < 32; i++)
		inc[i] = (unsigned char)i;
	cr_assert_eq(obs_crc32c(0, inc, 32), 0x46DD794Eu);  /* RFC 3720 B.4 */
	cr_assert_eq(obs_crc32c(0, "", 0), 0u);
	cr_assert_eq(obs_crc32c(0, NULL, 0), 0u);
}

Test(crc32c, reference_matches_vectors)
{
	/* the reference itself must be right, or the next test proves nothing */
	cr_assert_eq(ref_crc32c(0, (const unsigned char *)"123456789", 9), 0xE3069283u);
}

Test(crc32c, every_length_and_alignment_matches_reference)
{
	unsigned char buf[300 + 16];
	for (int round = 0; round < 4; round++) {
		for (size_t i = 0; i < sizeof buf; i++)
			buf[i] = (unsigned char)rnd();
		for (size_t len = 0; len <= 300; len++) {
			size_t off = (len + (size_t)round) % 8;  /* vary alignment too */
			uint32_t want = ref_crc32c(0, buf + off, len);
			cr_assert_eq(obs_crc32c(0, buf + off, len), want,
				     "len %zu off %zu", len, off);
		}
	}
}

Test(crc32c, incremental_equals_one_shot)
{
	unsigned char buf[1000];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (unsigned char)rnd();
	uint32_t whole = obs_crc32c(0, buf, sizeof buf);
	cr_assert_eq(whole, ref_crc32c(0, buf, sizeof buf));
	for (size_t cut = 0; cut <= sizeof buf; cut += 37) {
		uint32_t c = obs_crc32c(0, buf, cut);
		c = obs_crc32c(c, buf + cut, sizeof buf - cut);
		cr_assert_eq(c, whole, "cut at %zu", cut);
	}
}

Test(crc32c, detects_single_bit_flips)
{
	unsigned char buf[64];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (unsigned char)rnd();
	uint32_t base = obs_crc32c(0, buf, sizeof buf);
	for (size_t bit = 0; bit < sizeof buf * 8; bit++) {
		buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		cr_assert_neq(obs_crc32c(0, buf, sizeof buf), base, "bit %zu", bit);
		buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	}
}
