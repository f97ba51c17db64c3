/* test_am_silence.c — Alertmanager matcher lists and the silence store:
 * states, expiry, history, persistence, validation, muting. The clock is the
 * test's, so nothing sleeps. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alert/amatch.h"
#include "alert/silence.h"
#include "core/fault.h"

static int64_t fake_now = 1800000000000LL;
static int64_t tick(void *ctx) { (void)ctx; return fake_now; }
static const struct am_clock clk = { tick, NULL };

static struct obs_labels L(const char *s)
{
	struct obs_labels l;
	const char *why = NULL;
	cr_assert_eq(obs_labels_parse(s, strlen(s), &l, &why), 0, "%s: %s", s, why);
	return l;
}

Test(am_matchers, parse_match_format)
{
	struct am_matchers m;
	const char *why = NULL;
	const char *t = "{alertname=~\"Disk.*\", team=\"db\",sev!=\"info\",inst!~\"x,y|z\"}";
	cr_assert_eq(am_matchers_parse(t, strlen(t), 0, &m, &why), 0, "%s", why);
	cr_assert_eq(m.n, 4);
	struct obs_labels a = L("{alertname=\"DiskFull\",team=\"db\"}");
	struct obs_labels b = L("{alertname=\"xDiskFull\",team=\"db\"}");   /* anchored */
	struct obs_labels c = L("{alertname=\"DiskFull\",team=\"db\",inst=\"z\"}");
	struct obs_labels d = L("{alertname=\"DiskFull\",team=\"db\",sev=\"info\"}");
	cr_assert_eq(am_matchers_match(&m, &a), 1);
	cr_assert_eq(am_matchers_match(&m, &b), 0);
	cr_assert_eq(am_matchers_match(&m, &c), 0);
	cr_assert_eq(am_matchers_match(&m, &d), 0);
	struct obs_buf out;
	obs_buf_init(&out);
	cr_assert_eq(am_matchers_format(&m, &out), 0);
	cr_assert_str_eq(out.data, "{alertname=~\"Disk.*\",team=\"db\",sev!=\"info\",inst!~\"x,y|z\"}");
	/* the canonical form parses back to the same list */
	struct am_matchers m2;
	cr_assert_eq(am_matchers_parse(out.data, out.len, 0, &m2, &why), 0);
	cr_assert_eq(m2.n, 4);
	cr_assert_str_eq(m2.v[3].value, "x,y|z");
	am_matchers_release(&m2);
	obs_buf_release(&out);
	am_matchers_release(&m);
	obs_labels_release(&a), obs_labels_release(&b), obs_labels_release(&c), obs_labels_release(&d);
}

Test(am_matchers, bare_first_is_alertname_and_errors)
{
	struct am_matchers m;
	const char *why = NULL;
	cr_assert_eq(am_matchers_parse("DiskFull team=db", 16, 1, &m, &why), -EINVAL);
	cr_assert_eq(am_matchers_parse("DiskFull,team=db", 16, 1, &m, &why), 0, "%s", why);
	cr_assert_str_eq(m.v[0].name, "alertname");
	cr_assert_str_eq(m.v[0].value, "DiskFull");
	cr_assert_str_eq(m.v[1].value, "db");
	am_matchers_release(&m);
	cr_assert_eq(am_matchers_parse("DiskFull", 8, 0, &m, &why), -EINVAL);
	cr_assert_eq(am_matchers_parse("{a=\"x\"", 6, 0, &m, &why), -EINVAL);
	cr_assert_str_eq(why, "missing closing '}'");
	cr_assert_eq(am_matchers_parse("a=~\"(\"", 6, 0, &m, &why), -EINVAL);
	cr_assert_eq(am_matchers_parse("a=\"x", 4, 0, &m, &why), -EINVAL);
	cr_assert_str_eq(why, "unterminated quoted value");
	cr_assert_eq(am_matchers_parse("a=1,,b=2", 8, 0, &m, &why), -EINVAL);
	cr_assert_eq(m.n, 0);
}

static const char *SPEC = "alertname=~\"Disk.*\",team=\"db\"\nuntil: 2h\nauthor: alice\ncomment: maintenance\n";

Test(am_silence, states_and_expiry)
{
	fake_now = 1800000000000LL;
	struct am_silences *s;
	cr_assert_eq(am_silences_open(NULL, &clk, 0, &s), 0);
	char id[37];
	const char *why = NULL;
	cr_assert_eq(am_silences_set(s, "disk", SPEC, strlen(SPEC), id, &why), 0, "%s", why);
	cr_assert_eq(strlen(id), 36);
	/* a pending one: starts in an hour */
	const char *later = "job=\"x\"\nstarts: +1h\nfor 30m\n";
	cr_assert_eq(am_silences_set(s, "later", later, strlen(later), NULL, &why), 0, "%s", why);

	struct obs_labels hit = L("{alertname=\"DiskFull\",team=\"db\",instance=\"a\"}");
	struct obs_labels miss = L("{alertname=\"DiskFull\",team=\"web\"}");
	struct obs_labels job = L("{alertname=\"X\",job=\"x\"}");
	struct obs_buf ids;
	obs_buf_init(&ids);
	cr_assert_eq(am_silences_mutes(s, &hit, &ids), 1);
	cr_assert_str_eq(ids.data, id);
	cr_assert_eq(am_silences_mutes(s, &miss, NULL), 0);
	cr_assert_eq(am_silences_mutes(s, &job, NULL), 0, "pending silences mute nothing");

	struct obs_buf out;
	obs_buf_init(&out);
	cr_assert_eq(am_silences_list(s, 0, &out), 0);
	cr_assert_str_eq(out.data, "disk\nlater\n");
	obs_buf_reset(&out);
	cr_assert_eq(am_silences_render(s, "disk", &out), 0);
	cr_assert(strstr(out.data, "status: active\n"), "%s", out.data);
	cr_assert(strstr(out.data, "createdBy: alice\n"));
	cr_assert(strstr(out.data, "comment: maintenance\n"));
	cr_assert(strstr(out.data, "endsAt: 2027-01-15T10:00:00.000Z\n"), "%s", out.data);
	cr_assert(strstr(out.data, "matchers: {alertname=~\"Disk.*\",team=\"db\"}\n"));
	obs_buf_reset(&out);
	cr_assert_eq(am_silences_render(s, "later", &out), 0);
	cr_assert(strstr(out.data, "status: pending\n"), "%s", out.data);

	/* an hour and a half later: "later" is active and mutes job x */
	fake_now += 70 * 60 * 1000;
	cr_assert_eq(am_silences_mutes(s, &job, NULL), 1);
	/* two hours and a bit: "disk" ran out by itself */
	fake_now += 51 * 60 * 1000;
	cr_assert_eq(am_silences_mutes(s, &hit, NULL), 0);
	cr_assert_eq(am_silences_mutes(s, &job, NULL), 0);
	obs_buf_reset(&out);
	cr_assert_eq(am_silences_list(s, 0, &out), 0);
	cr_assert_str_eq(out.data, "");
	/* expired ones stay in the history (by id) */
	obs_buf_reset(&out);
	cr_assert_eq(am_silences_list(s, 1, &out), 0);
	cr_assert(strstr(out.data, id));
	cr_assert_eq(am_silences_render(s, "disk", &out), -ENOENT);
	obs_buf_reset(&out);
	cr_assert_eq(am_silences_render(s, id, &out), 0);
	cr_assert(strstr(out.data, "status: expired\n"));
	size_t p, a, e;
	am_silences_count(s, &p, &a, &e);
	cr_assert_eq(p + a, 0);
	cr_assert_eq(e, 2);
	/* retention: dropped only after 120h */
	cr_assert_eq(am_silences_gc(s), 0);
	fake_now += AM_SILENCE_RETENTION_DEFAULT;
	cr_assert_eq(am_silences_gc(s), 2);
	cr_assert_eq(am_silences_render(s, id, &out), -ENOENT);
	obs_buf_release(&out);
	obs_buf_release(&ids);
	obs_labels_release(&hit), obs_labels_release(&miss), obs_labels_release(&job);
	am_silences_free(s);
}

Test(am_silence, expire_and_replace)
{
	fake_now = 1800000000000LL;
	struct am_silences *s;
	cr_assert_eq(am_silences_open(NULL, &clk, 0, &s), 0);
	char id1[37], id2[37];
	cr_assert_eq(am_silences_set(s, "disk", SPEC, strlen(SPEC), id1, NULL), 0);
	struct obs_labels hit = L("{alertname=\"DiskFull\",team=\"db\"}");
	cr_assert_eq(am_silences_mutes(s, &hit, NULL), 1);
	/* replace: the old id expires, a new one is active */
	const char *t2 = "team=\"db\"\nuntil 3h\n";
	cr_assert_eq(am_silences_set(s, "disk", t2, strlen(t2), id2, NULL), 0);
	cr_assert_str_neq(id1, id2);
	struct obs_buf ids;
	obs_buf_init(&ids);
	cr_assert_eq(am_silences_mutes(s, &hit, &ids), 1);
	cr_assert_str_eq(ids.data, id2);
	fake_now += 1000;
	cr_assert_eq(am_silences_expire(s, "disk"), 0);
	cr_assert_eq(am_silences_mutes(s, &hit, NULL), 0);
	cr_assert_eq(am_silences_expire(s, "disk"), -ENOENT);
	cr_assert_eq(am_silences_expire(s, "nothing"), -ENOENT);
	size_t e;
	am_silences_count(s, NULL, NULL, &e);
	cr_assert_eq(e, 2);
	obs_buf_release(&ids);
	obs_labels_release(&hit);
	am_silences_free(s);
}

Test(am_silence, validation)
{
	fake_now = 1800000000000LL;
	struct am_silences *s;
	cr_assert_eq(am_silences_open(NULL, &clk, 0, &s), 0);
	const char *why;
	struct { const char *text, *why; } bad[] = {
		{ "until: 2h\n", "at least one matcher required" },
		{ "team=~\".*\"\n", "at least one matcher must not match the empty string" },
		{ "team=\"db\"\nuntil: 2020-01-01T00:00:00Z\n", "end time can't be in the past" },
		{ "team=\"db\"\nuntil: soon\n", "invalid end time" },
		{ "team=\"db\"\nstarts: +3h\nuntil: 2027-01-15T09:00:00Z\n", "end time must be after start time" },
		{ "team=\"db\"\nfor: 1h\nuntil: 2h\n", "both an end and a duration" },
		{ "team=\"(\"x\n", "unexpected text after the quoted value" },
		{ "team=~\"(\"\n", "missing closing parenthesis" },
		{ "bogus: x\n", "unknown key" },
		{ "team=\"db\"\nbogus: x\n", "unknown key" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		cr_assert_eq(am_silences_set(s, "x", bad[i].text, strlen(bad[i].text), NULL, &why), -EINVAL,
			     "%zu accepted", i);
		cr_assert_str_eq(why, bad[i].why, "%zu: %s", i, why);
	}
	cr_assert_eq(am_silences_set(s, "a/b", SPEC, strlen(SPEC), NULL, &why), -EINVAL);
	size_t p, a, e;
	am_silences_count(s, &p, &a, &e);
	cr_assert_eq(p + a + e, 0);
	am_silences_free(s);
}

Test(am_silence, persistence_and_corruption)
{
	fake_now = 1800000000000LL;
	char dir[] = "/tmp/test_am_silence.XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/alerts/silences", dir);
	struct am_silences *s;
	cr_assert_eq(am_silences_open(path, &clk, 0, &s), 0);
	char id[37];
	const char *t = "team=\"d\\\"b\"\ncomment: tab\there\nauthor: bob\n";
	cr_assert_eq(am_silences_set(s, "one", t, strlen(t), id, NULL), 0);
	cr_assert_eq(am_silences_set(s, "two", SPEC, strlen(SPEC), NULL, NULL), 0);
	cr_assert_eq(am_silences_expire(s, "two"), 0);
	/* a failed save leaves the store as it was */
	obs_fault_arm("am.save.fsync", 0, 1, EIO);
	cr_assert_eq(am_silences_set(s, "three", SPEC, strlen(SPEC), NULL, NULL), -EIO);
	obs_fault_reset();
	struct obs_buf a, b;
	obs_buf_init(&a), obs_buf_init(&b);
	cr_assert_eq(am_silences_list(s, 1, &a), 0);
	am_silences_free(s);

	cr_assert_eq(am_silences_open(path, &clk, 0, &s), 0);
	cr_assert_eq(am_silences_list(s, 1, &b), 0);
	cr_assert_str_eq(a.data, b.data);
	obs_buf_reset(&b);
	cr_assert_eq(am_silences_list(s, 0, &b), 0);
	cr_assert_str_eq(b.data, "one\n");
	obs_buf_reset(&b);
	cr_assert_eq(am_silences_render(s, "one", &b), 0);
	cr_assert(strstr(b.data, "matchers: {team=\"d\\\"b\"}\n"), "%s", b.data);
	cr_assert(strstr(b.data, "comment: tab\\there\n"), "%s", b.data);
	struct obs_labels l = L("{team=\"d\\\"b\"}");
	cr_assert_eq(am_silences_mutes(s, &l, NULL), 1);
	obs_labels_release(&l);
	am_silences_free(s);

	/* flip one byte: refused as corrupt */
	FILE *f = fopen(path, "r+");
	cr_assert_not_null(f);
	fseek(f, 20, SEEK_SET);
	int c = fgetc(f);
	fseek(f, 20, SEEK_SET);
	fputc(c ^ 1, f);
	fclose(f);
	cr_assert_eq(am_silences_open(path, &clk, 0, &s), -EBADMSG);
	/* truncated */
	cr_assert_eq(truncate(path, 30), 0);
	cr_assert_eq(am_silences_open(path, &clk, 0, &s), -EBADMSG);
	obs_buf_release(&a), obs_buf_release(&b);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

Test(am_silence, query_filter)
{
	fake_now = 1800000000000LL;
	struct am_silences *s;
	cr_assert_eq(am_silences_open(NULL, &clk, 0, &s), 0);
	cr_assert_eq(am_silences_set(s, "disk", SPEC, strlen(SPEC), NULL, NULL), 0);
	const char *t = "alertname=\"CPU\"\n";
	cr_assert_eq(am_silences_set(s, "cpu", t, strlen(t), NULL, NULL), 0);
	struct obs_buf out;
	obs_buf_init(&out);
	const char *why;
	cr_assert_eq(am_silences_query(s, "team=db", 0, &out, &why), 0);
	cr_assert(strstr(out.data, "alice"));
	cr_assert_null(strstr(out.data, "CPU"));
	obs_buf_reset(&out);
	cr_assert_eq(am_silences_query(s, "CPU", 0, &out, &why), 0);
	cr_assert(strstr(out.data, "{alertname=\"CPU\"}"), "%s", out.data);
	cr_assert_null(strstr(out.data, "alice"));
	obs_buf_release(&out);
	am_silences_free(s);
}

/* ---- the versioned state-file frame shared with the nflog (am.h) ---- */

struct recs {
	char got[8][32];
	int n;
	int fail_at;   /* refuse the record of this index (1-based), 0: none */
	int fail_rc;
};

static int take_rec(void *ctx, char *line)
{
	struct recs *r = ctx;
	if (++r->n == r->fail_at)
		return r->fail_rc;
	if (r->n <= 8)
		snprintf(r->got[r->n - 1], sizeof r->got[0], "%s", line);
	return 0;
}

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

/* write MAGIC + records + a correct end line for count */
static void put_framed(const char *path, const char *body, size_t count)
{
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(obs_buf_puts(&b, body), 0);
	cr_assert_eq(am_statefile_end(&b, count), 0);
	put_file(path, b.data);
	obs_buf_release(&b);
}

Test(am_statefile, frame_checked_records_delivered_missing_is_empty)
{
	char dir[] = "/tmp/obs-statefile-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof path, "%s/f", dir);
	struct recs r = { .n = 0 };
	cr_assert_eq(am_statefile_load(path, "obsfs-x 1", take_rec, &r), 0);   /* missing */
	cr_assert_eq(r.n, 0);

	put_framed(path, "obsfs-x 1\na\tb\nend of c\n", 2);   /* a record may start with "end" */
	memset(&r, 0, sizeof r);
	cr_assert_eq(am_statefile_load(path, "obsfs-x 1", take_rec, &r), 0);
	cr_assert_eq(r.n, 2);
	cr_assert_str_eq(r.got[0], "a\tb");
	cr_assert_str_eq(r.got[1], "end of c");

	memset(&r, 0, sizeof r);   /* another magic or version */
	cr_assert_eq(am_statefile_load(path, "obsfs-x 2", take_rec, &r), -EBADMSG);
	cr_assert_eq(am_statefile_load(path, "obsfs-x", take_rec, &r), -EBADMSG);
	put_framed(path, "obsfs-x 10\na\n", 2);   /* the magic is the whole first line */
	cr_assert_eq(am_statefile_load(path, "obsfs-x 1", take_rec, &r), -EBADMSG);

	put_framed(path, "obsfs-x 1\na\n", 2);   /* count disagrees */
	memset(&r, 0, sizeof r);
	cr_assert_eq(am_statefile_load(path, "obsfs-x 1", take_rec, &r), -EBADMSG);

	put_file(path, "obsfs-x 1\na\nend 1 00000000\n");   /* checksum disagrees */
	cr_assert_eq(am_statefile_load(path, "obsfs-x 1", take_rec, &r), -EBADMSG);
	put_file(path, "obsfs-x 1\na\n");   /* no end line */
	cr_assert_eq(am_statefile_load(path, "obsfs-x 1", take_rec, &r), -EBADMSG);

	put_framed(path, "obsfs-x 1\na\nb\n", 2);   /* the record's own verdict comes through */
	memset(&r, 0, sizeof r);
	r.fail_at = 2, r.fail_rc = -EBADMSG;
	cr_assert_eq(am_statefile_load(path, "obsfs-x 1", take_rec, &r), -EBADMSG);
	memset(&r, 0, sizeof r);
	r.fail_at = 1, r.fail_rc = -ENOMEM;
	cr_assert_eq(am_statefile_load(path, "obsfs-x 1", take_rec, &r), -ENOMEM);
	cr_assert_eq(r.n, 1, "stops at the first refused record");

	char cmd[160];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}
