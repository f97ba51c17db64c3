// sources: lib/core/obstime.c
/* fuzz_obstime.c — libFuzzer harness for time points, durations and ranges.
 *
 * The whole input goes to every parser (with a fixed "now"). Invariants:
 *  - a failed parse returns -EINVAL (or, for times, -ERANGE) and leaves the
 *    outputs untouched; a parsed time is within OBS_TIME_VALID_MIN..MAX;
 *  - a parsed time formats and parses back to the same ms: epoch form for any
 *    time whose seconds fit the parser (and that is not a 13+ digit whole
 *    number, which the contract reads as ms), RFC3339 form for years
 *    0000..9999;
 *  - a parsed duration is >= 0 and its compact form parses back to it;
 *  - a parsed range has from <= to, and to == now when there is no "..";
 *  - "now" and "-D" relative forms agree with obs_duration_parse. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/obstime.h"

#define NOW 1795236131643LL            /* 2026-11-21T04:42:11.643Z */
#define SENT ((int64_t)0x5a5a5a5a5a5a5a5aLL)
#define YEAR10000_MS 253402300800000LL  /* 10000-01-01T00:00:00Z */

static void roundtrip_time(int64_t ms)
{
	char buf[64];
	int64_t back = SENT;
	uint64_t secs = ms < 0 ? ((uint64_t)0 - (uint64_t)ms) / 1000 : (uint64_t)ms / 1000;
	int whole = ms % 1000 == 0;
	/* epoch: seconds must fit the parser's bound, and a whole number of
	 * seconds with 13+ digits means ms by contract */
	if (secs <= (uint64_t)(INT64_MAX - 1000) / 1000 && !(whole && secs >= 1000000000000ULL)) {
		int n = obs_time_format(ms, OBS_TIME_EPOCH, buf);
		if (n <= 0 || n >= 32 || (size_t)n != strlen(buf))
			abort();
		if (obs_time_parse(buf, (size_t)n, &back) || back != ms)
			abort();
	}
	if (ms >= -62167219200000LL && ms < YEAR10000_MS) {   /* 0000-01-01 .. 9999-12-31 */
		int n = obs_time_format(ms, OBS_TIME_RFC3339, buf);
		if (n != 24 || (size_t)n != strlen(buf))
			abort();
		back = SENT;
		if (obs_time_parse(buf, (size_t)n, &back) || back != ms)
			abort();
	} else {
		int n = obs_time_format(ms, OBS_TIME_RFC3339, buf);   /* must not overflow buf */
		if (n <= 0 || n >= 40 || (size_t)n != strlen(buf))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 256)
		return 0;
	const char *s = (const char *)data;
	int64_t t = SENT, d = SENT, r = SENT, from = SENT, to = SENT;

	int rc = obs_time_parse(s, size, &t);
	if (rc) {
		if ((rc != -EINVAL && rc != -ERANGE) || t != SENT)
			abort();
	} else {
		if (!obs_time_valid(t))
			abort();   /* a time outside years 0..9999 must be -ERANGE */
		roundtrip_time(t);
	}

	rc = obs_duration_parse(s, size, &d);
	if (rc) {
		if (rc != -EINVAL || d != SENT)
			abort();
	} else {
		if (d < 0)
			abort();
		char buf[64];
		int n = obs_duration_format(d, buf);
		if (n <= 0 || n >= 32 || (size_t)n != strlen(buf))
			abort();
		int64_t back = SENT;
		if (obs_duration_parse(buf, (size_t)n, &back) || back != d)
			abort();
	}

	rc = obs_time_parse_rel(s, size, NOW, &r);
	if (rc) {
		if ((rc != -EINVAL && rc != -ERANGE) || r != SENT)
			abort();
	} else {
		if (!obs_time_valid(r))
			abort();
		if (size == 3 && !memcmp(s, "now", 3) && r != NOW)
			abort();
		int relform = (size > 1 && (s[0] == '-' || s[0] == '+')) || (size >= 3 && !memcmp(s, "now", 3));
		if (!relform && r != t)
			abort();   /* an absolute time means the same thing relative or not */
		if (size > 1 && (s[0] == '-' || s[0] == '+')) {
			int64_t dd = SENT, want;
			if (obs_duration_parse(s + 1, size - 1, &dd))
				abort();   /* a signed form is accepted only with a duration */
			if (s[0] == '-' ? __builtin_sub_overflow(NOW, dd, &want) : __builtin_add_overflow(NOW, dd, &want))
				abort();   /* durations are bounded: NOW +- one always fits */
			/* relative times saturate at the ends of the valid times */
			want = want < OBS_TIME_VALID_MIN ? OBS_TIME_VALID_MIN
			     : want > OBS_TIME_VALID_MAX ? OBS_TIME_VALID_MAX : want;
			if (r != want)
				abort();
		}
	}

	rc = obs_range_parse(s, size, NOW, &from, &to);
	if (rc) {
		if (rc != -EINVAL || from != SENT || to != SENT)
			abort();
	} else {
		if (from > to)
			abort();
		if (!memmem(s, size, "..", 2) && to != NOW)
			abort();
	}
	return 0;
}
