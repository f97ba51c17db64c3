// sources: lib/alert/silence.c lib/alert/amatch.c lib/alert/am.c lib/index/matcher.c lib/core/regex.c lib/core/labels.c lib/core/buf.c lib/core/obstime.c lib/core/utf8.c lib/core/crc32c.c lib/core/fileio.c lib/core/fault.c
/* fuzz_silence.c — libFuzzer harness: arbitrary bytes as a silence file
 * written to alerts/silences/NAME, and as a matcher list. An accepted
 * silence renders, lists and expires; its canonical matchers parse back to
 * the same text. A rejected one leaves the store empty with a reason. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alert/amatch.h"
#include "alert/silence.h"

static int64_t fixed(void *ctx) { (void)ctx; return 1800000000000LL; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct am_clock clk = { fixed, NULL };
	struct am_silences *s;
	if (am_silences_open(NULL, &clk, 0, &s))
		abort();
	const char *why = NULL;
	char id[37];
	int rc = am_silences_set(s, "f", (const char *)data, size, id, &why);
	size_t p, a, e;
	am_silences_count(s, &p, &a, &e);
	struct obs_buf b;
	obs_buf_init(&b);
	if (rc) {
		if ((rc != -EINVAL && rc != -ENOMEM) || !why || p + a + e)
			abort();
	} else {
		if (p + a != 1 || am_silences_render(s, "f", &b) || am_silences_render(s, id, &b))
			abort();
		if (am_silences_expire(s, "f") || am_silences_expire(s, "f") != -ENOENT)
			abort();
	}
	am_silences_free(s);

	struct am_matchers m, m2;
	if (am_matchers_parse((const char *)data, size, 1, &m, &why) == 0) {
		obs_buf_reset(&b);
		if (am_matchers_format(&m, &b))
			abort();
		if (am_matchers_parse(b.data, b.len, 0, &m2, &why))
			abort();
		struct obs_buf b2;
		obs_buf_init(&b2);
		if (am_matchers_format(&m2, &b2) || strcmp(b.data, b2.data))
			abort();
		obs_buf_release(&b2);
		am_matchers_release(&m2);
		am_matchers_release(&m);
	}
	obs_buf_release(&b);
	return 0;
}
