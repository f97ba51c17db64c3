// sources: lib/index/postings.c lib/index/postings_select.c lib/index/matcher.c lib/core/regex.c
/* fuzz_select.c — libFuzzer differential harness for obs_index_select: the
 * input is up to four matchers, one per line; the index's answer over a fixed
 * set of series must equal a brute-force scan (every matcher applied to the
 * series' value, "" for an absent label). Exercises the index's fast paths
 * (literal alternations, literal prefixes, ".*"/".+", empty-value rules)
 * against the plain PCRE2 definition. Link with -lroaring -lxxhash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/postings.h"

#define NSER 240
static const char *const names[] = { "__name__", "a", "b", "c" };
static const char *const vals[] = {
	"", "x", "xy", "xyz", "y", "x.y", "x|y", "\xc3\xa9", "\xc3\xa9x", "xx", "m_1", "m_12",
};
#define NNAMES (sizeof(names) / sizeof(names[0]))
#define NVALS (sizeof(vals) / sizeof(vals[0]))

static struct obs_index *ix;
static const char *sv[NSER][NNAMES];   /* value per series per name ("" = absent) */

static void setup(void)
{
	ix = obs_index_new();
	if (!ix)
		abort();
	uint32_t r = 12345;
	for (uint32_t i = 0; i < NSER; i++) {
		struct obs_label l[NNAMES];
		size_t n = 0;
		for (size_t k = 0; k < NNAMES; k++) {
			r = r * 1103515245u + 12345u;
			sv[i][k] = vals[(r >> 16) % NVALS];
			if (sv[i][k][0]) {
				l[n].name = names[k];   /* names[] is sorted */
				l[n++].value = sv[i][k];
			}
		}
		struct obs_labels ls = { l, n };
		if (obs_index_add(ix, i, &ls))
			abort();
	}
	/* remove a few so postings shrink back to singletons and empties */
	for (uint32_t i = 0; i < NSER; i += 7) {
		struct obs_label l[NNAMES];
		size_t n = 0;
		for (size_t k = 0; k < NNAMES; k++)
			if (sv[i][k][0]) {
				l[n].name = names[k];
				l[n++].value = sv[i][k];
			}
		struct obs_labels ls = { l, n };
		obs_index_remove(ix, i, &ls);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ix)
		setup();
	struct obs_matcher m[4];
	size_t nm = 0, off = 0;
	while (off <= size && nm < 4) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t len = nl ? (size_t)(nl - (data + off)) : size - off;
		const char *why;
		if (obs_matcher_parse((const char *)data + off, len, &m[nm], &why) == 0) {
			size_t k;
			for (k = 0; k < NNAMES; k++)
				if (strcmp(m[nm].name, names[k]) == 0)
					break;
			if (k < NNAMES || m[nm].name[0] == 'z')   /* keep unknown names rare */
				nm++;
			else
				obs_matcher_release(&m[nm]);
		}
		if (!nl)
			break;
		off += len + 1;
	}
	roaring_bitmap_t *got = obs_index_select(ix, m, nm);
	if (!got)
		abort();
	uint64_t nwant = 0;
	for (uint32_t i = 0; i < NSER; i++) {
		int want = i % 7 != 0;
		for (size_t j = 0; j < nm && want; j++) {
			const char *v = "";
			for (size_t k = 0; k < NNAMES; k++)
				if (strcmp(m[j].name, names[k]) == 0)
					v = sv[i][k];
			want = obs_matcher_match(&m[j], v);
		}
		if (want != roaring_bitmap_contains(got, i)) {
			fprintf(stderr, "series %u: index %d brute %d\n", i, !want, want);
			abort();
		}
		nwant += want;
	}
	if (roaring_bitmap_get_cardinality(got) != nwant)   /* nothing beyond NSER */
		abort();
	roaring_bitmap_free(got);
	for (size_t j = 0; j < nm; j++)
		obs_matcher_release(&m[j]);
	return 0;
}
