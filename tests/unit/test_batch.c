/* test_batch.c — agent directives: #obs-batch and #obs-error parsing (and
 * what is not a directive), formatting, and the table that drops the part of
 * a re-sent batch that was taken already (whole, partly, cut only after a
 * newline), with its bound on keys; its journal file across an unclosed
 * table (kill -9), torn lines, rewrites. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* the journal (obs_batchtab_open): what a table committed is known to the
 * next one opened on the same file, without a clean close (kill -9) */
static char jdir[32];
static char jpath[64];

static void jsetup(void)
{
	/* afresh per test: mkdtemp fills the XXXXXX in, and the tsan stand-in
	 * (tests/tsan/criterion) runs every test in one process */
	snprintf(jdir, sizeof jdir, "/tmp/obs-batchj.XXXXXX");
	cr_assert(mkdtemp(jdir));
	snprintf(jpath, sizeof jpath, "%s/agent-batches", jdir);
}

static void jteardown(void)
{
	unlink(jpath);
	rmdir(jdir);
}

static uint64_t skip_of(struct obs_batchtab *t, const char *directive, const char *pay)
{
	struct obs_directive d;
	cr_assert_eq(parse(directive, &d), OBS_DIR_BATCH);
	return obs_batchtab_skip(t, &d, pay);
}

static void commit(struct obs_batchtab *t, const char *directive, uint64_t end)
{
	struct obs_directive d;
	cr_assert_eq(parse(directive, &d), OBS_DIR_BATCH);
	cr_assert_eq(obs_batchtab_commit(t, &d, end), 0);
}

Test(batch_journal, survives_an_unclosed_table, .init = jsetup, .fini = jteardown)
{
	struct obs_batchtab *t = obs_batchtab_new(8);
	cr_assert_eq(obs_batchtab_open(t, jpath), 0);   /* no file yet: empty */
	commit(t, "#obs-batch k 0 4\n", 4);
	commit(t, "#obs-batch k 4 6\n", 6);
	commit(t, "#obs-batch other 0 2\n", 2);
	/* t is not freed: the process was killed; a new daemon opens the file */
	struct obs_batchtab *u = obs_batchtab_new(8);
	cr_assert_eq(obs_batchtab_open(u, jpath), 0);
	cr_assert_eq(skip_of(u, "#obs-batch k 0 6\n", "a\nb\nc\n"), 6);   /* all of it was taken */
	cr_assert_eq(skip_of(u, "#obs-batch k 4 8\n", "c\nd\n"), 2);      /* the part past 6 stays */
	cr_assert_eq(skip_of(u, "#obs-batch other 0 2\n", "x\n"), 2);
	cr_assert_eq(skip_of(u, "#obs-batch new 0 2\n", "x\n"), 0);
	obs_batchtab_free(u);
	obs_batchtab_free(t);
}

Test(batch_journal, torn_and_malformed_lines_are_skipped, .init = jsetup, .fini = jteardown)
{
	FILE *f = fopen(jpath, "w");
	cr_assert(f);
	fputs("k 10\nbad\nsp ace 3 4\nx 99999999999999999999\n\nk2 7\nk3 5", f);   /* k3: torn */
	fclose(f);
	struct obs_batchtab *t = obs_batchtab_new(8);
	cr_assert_eq(obs_batchtab_open(t, jpath), 0);
	cr_assert_eq(skip_of(t, "#obs-batch k 0 10\n", "123456789\n"), 10);
	cr_assert_eq(skip_of(t, "#obs-batch k2 0 7\n", "123456\n"), 7);
	cr_assert_eq(skip_of(t, "#obs-batch k3 0 5\n", "1234\n"), 0);
	cr_assert_eq(skip_of(t, "#obs-batch x 0 2\n", "1\n"), 0);
	obs_batchtab_free(t);
	/* the open rewrote the file from the table: only valid lines are left */
	f = fopen(jpath, "r");
	char buf[256] = { 0 };
	cr_assert(fread(buf, 1, sizeof buf - 1, f) > 0);
	fclose(f);
	cr_assert_str_eq(buf, "k 10\nk2 7\n");
}

Test(batch_journal, rewritten_when_it_grows, .init = jsetup, .fini = jteardown)
{
	struct obs_batchtab *t = obs_batchtab_new(2);
	cr_assert_eq(obs_batchtab_open(t, jpath), 0);
	char dir[64];
	for (int i = 0; i < 50; i++) {
		snprintf(dir, sizeof dir, "#obs-batch k 0 %d\n", 2 * (i + 1));
		commit(t, dir, (uint64_t)(2 * (i + 1)));
	}
	struct stat st;
	cr_assert_eq(stat(jpath, &st), 0);
	cr_assert_lt(st.st_size, 9 * 10, "journal of %lld bytes", (long long)st.st_size);   /* <= 8 lines + 1 */
	struct obs_batchtab *u = obs_batchtab_new(2);
	cr_assert_eq(obs_batchtab_open(u, jpath), 0);
	cr_assert_eq(skip_of(u, "#obs-batch k 0 100\n", "x\n"), 100);
	obs_batchtab_free(u);
	obs_batchtab_free(t);
}

Test(batch_journal, unwritable_journal_is_an_error, .init = jsetup, .fini = jteardown)
{
	struct obs_batchtab *t = obs_batchtab_new(2);
	char bad[96];
	snprintf(bad, sizeof bad, "%s/missing/dir/agent-batches", jdir);
	cr_assert_eq(obs_batchtab_open(t, bad), -ENOENT);
	commit(t, "#obs-batch k 0 2\n", 2);   /* still a table in memory */
	cr_assert_eq(skip_of(t, "#obs-batch k 0 2\n", "x\n"), 2);
	obs_batchtab_free(t);
}
