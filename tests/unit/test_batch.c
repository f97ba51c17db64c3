/* test_batch.c — agent directives: #obs-batch and #obs-error parsing (and
 * what is not a directive), formatting, and the table that drops the part of
 * a re-sent batch that was taken already (whole, partly, cut only after a
 * newline), with its bound on keys. */
#include <criterion/criterion.h>
#include <string.h>

#include "ingest/batch.h"

static enum obs_directive_kind parse(const char *s, struct obs_directive *d)
{
	return obs_directive_parse(s, strlen(s), d);
}

Test(batch, parse_batch)
{
	struct obs_directive d;
	cr_assert_eq(parse("#obs-batch f:1:2 10 25\nline\n", &d), OBS_DIR_BATCH);
	cr_assert_eq(d.len, 23);
	cr_assert_eq(d.keylen, 5);
	cr_assert_eq(memcmp(d.key, "f:1:2", 5), 0);
	cr_assert_eq(d.start, 10);
	cr_assert_eq(d.end, 25);
}

Test(batch, not_directives)
{
	struct obs_directive d;
	const char *bad[] = {
		"#obs-batch k 1 2",            /* no newline */
		"#obs-batch k 2 1\n",          /* start > end */
		"#obs-batch k 1\n",
		"#obs-batch k 1 2 3\n",
		"#obs-batch  k 1 2\n",
		"#obs-batch k -1 2\n",
		"#obs-batch k 1 99999999999999999999\n",
		"#obs-batchx k 1 2\n",
		"# obs-batch k 1 2\n",
		"#obs-error src\n",
		"#obs-error src subject\n",
		"#obs-error src subject \n",
		"plain log line\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse(bad[i], &d), OBS_DIR_NONE, "%s", bad[i]);
	char longkey[300];
	memset(longkey, 'k', sizeof(longkey));
	memcpy(longkey, "#obs-batch ", 11);
	strcpy(longkey + 250, " 1 2\n");
	cr_assert_eq(parse(longkey, &d), OBS_DIR_NONE);
}

Test(batch, parse_error)
{
	struct obs_directive d;
	cr_assert_eq(parse("#obs-error scrape http://h:1/metrics connection refused\n", &d), OBS_DIR_ERROR);
	cr_assert_eq(d.keylen, 6);
	cr_assert_eq(d.subjectlen, 18);
	cr_assert_eq(d.reasonlen, 18);
	cr_assert_eq(memcmp(d.reason, "connection refused", 18), 0);
}

Test(batch, format_roundtrip)
{
	char buf[OBS_BATCH_KEY_MAX + 64];
	struct obs_directive d;
	size_t n = obs_directive_batch(buf, "spool:host", 10, 7, 9);
	cr_assert_str_eq(buf, "#obs-batch spool:host 7 9\n");
	cr_assert_eq(n, strlen(buf));
	cr_assert_eq(parse(buf, &d), OBS_DIR_BATCH);
	cr_assert_eq(obs_directive_batch(buf, "a b", 3, 1, 2), 0);
	cr_assert_eq(obs_directive_batch(buf, "a", 1, 3, 2), 0);
}

Test(batch, resent_batches_are_dropped)
{
	struct obs_batchtab *t = obs_batchtab_new(8);
	struct obs_directive d;
	const char *pay = "a\nb\nc\n";
	cr_assert_eq(parse("#obs-batch k 0 4\n", &d), OBS_DIR_BATCH);
	cr_assert_eq(obs_batchtab_skip(t, &d, pay), 0);           /* never seen */
	cr_assert_eq(obs_batchtab_commit(t, &d, 4), 0);
	cr_assert_eq(obs_batchtab_skip(t, &d, pay), 4);           /* the same again: all of it */
	cr_assert_eq(parse("#obs-batch k 0 6\n", &d), OBS_DIR_BATCH);
	cr_assert_eq(obs_batchtab_skip(t, &d, pay), 4);           /* re-sent longer: the new part stays */
	cr_assert_eq(obs_batchtab_commit(t, &d, 6), 0);
	cr_assert_eq(parse("#obs-batch k 6 8\n", &d), OBS_DIR_BATCH);
	cr_assert_eq(obs_batchtab_skip(t, &d, "d\n"), 0);         /* the next batch */
	cr_assert_eq(parse("#obs-batch other 0 2\n", &d), OBS_DIR_BATCH);
	cr_assert_eq(obs_batchtab_skip(t, &d, "x\n"), 0);         /* keys are separate */
	obs_batchtab_free(t);
}

Test(batch, cut_only_after_newline)
{
	struct obs_batchtab *t = obs_batchtab_new(8);
	struct obs_directive d;
	cr_assert_eq(parse("#obs-batch k 0 3\n", &d), OBS_DIR_BATCH);
	obs_batchtab_commit(t, &d, 3);
	cr_assert_eq(parse("#obs-batch k 0 6\n", &d), OBS_DIR_BATCH);
	cr_assert_eq(obs_batchtab_skip(t, &d, "abcdef"), 0);   /* byte 3 is not after a newline */
	obs_batchtab_free(t);
}

Test(batch, oldest_key_forgotten)
{
	struct obs_batchtab *t = obs_batchtab_new(2);
	struct obs_directive a, b, c;
	parse("#obs-batch a 0 2\n", &a);
	parse("#obs-batch b 0 2\n", &b);
	parse("#obs-batch c 0 2\n", &c);
	obs_batchtab_commit(t, &a, 2);
	obs_batchtab_commit(t, &b, 2);
	obs_batchtab_commit(t, &c, 2);
	cr_assert_eq(obs_batchtab_skip(t, &a, "x\n"), 0);
	cr_assert_eq(obs_batchtab_skip(t, &b, "x\n"), 2);
	cr_assert_eq(obs_batchtab_skip(t, &c, "x\n"), 2);
	obs_batchtab_free(t);
	obs_batchtab_free(NULL);
}
