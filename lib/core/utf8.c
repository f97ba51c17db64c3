/* utf8.c — strict UTF-8 sequence checks. */
#include "core/utf8.h"

int obs_utf8_seq(const char *p, const char *e)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t left = (size_t)(e - p);
	unsigned char c0 = u[0], lo = 0x80, hi = 0xbf;
	int len, i;

	if (c0 >= 0xc2 && c0 <= 0xdf)
		len = 2;
	else if (c0 >= 0xe0 && c0 <= 0xef) {
		len = 3;
		if (c0 == 0xe0)
			lo = 0xa0;
		else if (c0 == 0xed)
			hi = 0x9f;
	} else if (c0 >= 0xf0 && c0 <= 0xf4) {
		len = 4;
		if (c0 == 0xf0)
			lo = 0x90;
		else if (c0 == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (left < (size_t)len)
		return 0;
	if (u[1] < lo || u[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if ((u[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

int obs_utf8_valid(const char *s, size_t n)
{
	const char *p = s, *e = s + n;

	while (p < e) {
		unsigned char c = (unsigned char)*p;
		int k;

		if (c >= 0x80) {
			k = obs_utf8_seq(p, e);
			if (!k)
				return 0;
			p += k;
		} else {
			if (!c)
				return 0;
			p++;
		}
	}
	return 1;
}
