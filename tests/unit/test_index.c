/* test_index.c — inverted label index: select semantics against a brute-force
 * scan, listing, removal, concurrency and a 100k-series scale check. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index/postings.h"

/* ---- hand-built label sets (sorted array of name/value) -------------------- */

#define MAXL 8
struct ser {
	struct obs_label v[MAXL];
	size_t n;
	char buf[256];
};

static int lab_cmp(const void *a, const void *b)
{
	return strcmp(((const struct obs_label *)a)->name, ((const struct obs_label *)b)->name);
}

/* "name{k=v,k=v}" shorthand without quotes; "{k=v}" for no name. */
static void ser_make(struct ser *s, const char *text)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->buf, sizeof(s->buf), "%s", text);
	char *p = s->buf, *brace = strchr(p, '{');
	if (brace)
		*brace = 0;
	if (*p) {
		s->v[s->n].name = "__name__";
		s->v[s->n++].value = p;
	}
	if (brace) {
		char *q = brace + 1, *end = strchr(q, '}');
		cr_assert_not_null(end);
		*end = 0;
		while (*q) {
			char *comma = strchr(q, ',');
			if (comma)
				*comma = 0;
			char *eq = strchr(q, '=');
			cr_assert_not_null(eq);
			*eq = 0;
			s->v[s->n].name = q;
			s->v[s->n++].value = eq + 1;
			q = comma ? comma + 1 : q + strlen(q);
		}
	}
	qsort(s->v, s->n, sizeof(s->v[0]), lab_cmp);
}

static struct obs_labels ser_labels(struct ser *s)
{
	struct obs_labels l = { s->v, s->n };
	return l;
}

static const char *ser_get(const struct ser *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].name, name) == 0)
			return s->v[i].value;
	return "";
}

/* ---- matchers --------------------------------------------------------------- */

struct mset {
	struct obs_matcher m[8];
	size_t n;
};

/* Matchers separated by '/' as in the select/ directory. */
static void mset_parse(struct mset *ms, const char *spec)
{
	memset(ms, 0, sizeof(*ms));
	const char *p = spec;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		const char *why = NULL;
		int rc = obs_matcher_parse(p, len, &ms->m[ms->n], &why);
		cr_assert_eq(rc, 0, "matcher '%.*s': %s", (int)len, p, why ? why : "");
		ms->n++;
		p += len + (e ? 1 : 0);
	}
}

static void mset_release(struct mset *ms)
{
	for (size_t i = 0; i < ms->n; i++)
		obs_matcher_release(&ms->m[i]);
}

/* The definition: a series matches when every matcher matches its value of
 * the label, an absent label being "". */
static roaring_bitmap_t *brute(struct ser *ss, const char *alive, size_t n, const struct mset *ms)
{
	roaring_bitmap_t *r = roaring_bitmap_create();
	for (size_t i = 0; i < n; i++) {
		if (alive && !alive[i])
			continue;
		size_t k;
		for (k = 0; k < ms->n; k++)
			if (!obs_matcher_match(&ms->m[k], ser_get(&ss[i], ms->m[k].name)))
				break;
		if (k == ms->n)
			roaring_bitmap_add(r, (uint32_t)i);
	}
	return r;
}

static char *bm_text(const roaring_bitmap_t *b)
{
	static char out[4096];
	size_t o = 0;
	roaring_uint32_iterator_t *it = roaring_create_iterator(b);
	out[0] = 0;
	while (it->has_value && o < sizeof(out) - 16) {
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%u ", it->current_value);
		roaring_advance_uint32_iterator(it);
	}
	roaring_free_uint32_iterator(it);
	return out;
}

/* ---- small fixture ------------------------------------------------------------ */

static const char *fixture[] = {
	"up{job=api,instance=a}",                 /* 0 */
	"up{job=api,instance=b}",                 /* 1 */
	"up{job=db,instance=c}",                  /* 2 */
	"http_requests{job=api,code=200}",        /* 3 */
	"http_requests{job=api,code=500}",        /* 4 */
	"http_requests{job=web}",                 /* 5 */
	"{env=prod}",                             /* 6: no metric name */
};
#define NFIX (sizeof(fixture) / sizeof(fixture[0]))
static struct ser fx[NFIX];
static struct obs_index *ix;

static void fx_setup(void)
{
	ix = obs_index_new();
	cr_assert_not_null(ix);
	for (size_t i = 0; i < NFIX; i++) {
		ser_make(&fx[i], fixture[i]);
		struct obs_labels l = ser_labels(&fx[i]);
		cr_assert_eq(obs_index_add(ix, (uint32_t)i, &l), 0);
	}
}

static void fx_teardown(void)
{
	obs_index_free(ix);
	ix = NULL;
}

/* select(spec) must equal the listed ids and the brute-force scan. */
static void expect(const char *spec, const char *alive, const char *want)
{
	struct mset ms;
	mset_parse(&ms, spec);
	roaring_bitmap_t *got = obs_index_select(ix, ms.m, ms.n);
	cr_assert_not_null(got);
	roaring_bitmap_t *ref = brute(fx, alive, NFIX, &ms);
	char g[4096];
	snprintf(g, sizeof(g), "%s", bm_text(got));
	cr_assert(roaring_bitmap_equals(got, ref), "'%s': index {%s} brute {%s}", spec, g, bm_text(ref));
	roaring_bitmap_t *w = roaring_bitmap_create();
	for (const char *p = want; *p; p++)
		if (*p >= '0' && *p <= '9')
			roaring_bitmap_add(w, (uint32_t)(*p - '0'));
	cr_assert(roaring_bitmap_equals(got, w), "'%s': got {%s} want {%s}", spec, g, want);
	roaring_bitmap_free(w);
	roaring_bitmap_free(ref);
	roaring_bitmap_free(got);
	mset_release(&ms);
}

TestSuite(index, .init = fx_setup, .fini = fx_teardown);

Test(index, equality)
{
	expect("up", NULL, "012");
	expect("__name__=up", NULL, "012");
	expect("job=api", NULL, "0134");
	expect("instance=c", NULL, "2");
	expect("job=nope", NULL, "");
	expect("nolabel=x", NULL, "");
	expect("env=prod", NULL, "6");
}

Test(index, not_equal)
{
	expect("job!=api", NULL, "256");           /* 6 has no job: "" != api */
	expect("nolabel!=x", NULL, "0123456");
	expect("up/instance!=a", NULL, "12");
}

Test(index, regex)
{
	expect("job=~api|db", NULL, "01234");
	expect("job=~a.*", NULL, "0134");
	expect("job=~\"[dw].*\"", NULL, "25");
	expect("job!~api|db", NULL, "56");
	expect("job!~a.*", NULL, "256");
	expect("instance=~b|c|zz", NULL, "12");
	expect("instance=~\"\\\\w\"", NULL, "012");
	expect("nolabel=~x.*", NULL, "");
	expect("nolabel!~x.*", NULL, "0123456");
}

Test(index, regex_is_anchored)
{
	expect("job=~ap", NULL, "");
	expect("job=~pi", NULL, "");
	expect("job=~.p.", NULL, "0134");
	expect("job!~ap", NULL, "0123456");
	expect("code=~20", NULL, "");
	expect("code=~2", NULL, "");
}

Test(index, empty_value_rules)
{
	expect("code=", NULL, "01256");           /* without the label */
	expect("code!=", NULL, "34");             /* only with the label */
	expect("code=~.*", NULL, "0123456");
	expect("code=~.+", NULL, "34");
	expect("code!~.*", NULL, "");
	expect("code!~.+", NULL, "01256");
	expect("code!~200", NULL, "012456");
	expect("code=~200|", NULL, "012356");     /* alternation with an empty branch */
	expect("code=~\"(200)?\"", NULL, "012356");
	expect("code=~5.*|", NULL, "012456");
	expect("code!~200|", NULL, "4");
	expect("code!~\"2.*|\"", NULL, "4");
	expect("__name__=", NULL, "6");
	expect("__name__!=", NULL, "012345");
}

Test(index, combinations)
{
	expect("up/job!=db", NULL, "01");
	expect("job=~api|web/code!=500", NULL, "0135");
	expect("http_requests/code=", NULL, "5");
	expect("job=api/code=~.+/code!~5..", NULL, "3");
	expect("job=api/job=db", NULL, "");
	expect("code=/env=", NULL, "0125");
	expect("code!~.+/env!~p.*/job!=api", NULL, "25");
	expect("instance=~a|b/instance!=b", NULL, "0");
	expect("job=~.*/instance=~.*", NULL, "0123456");
}

Test(index, no_matchers_is_all)
{
	roaring_bitmap_t *r = obs_index_select(ix, NULL, 0);
	cr_assert_not_null(r);
	cr_assert_eq(roaring_bitmap_get_cardinality(r), NFIX);
	roaring_bitmap_free(r);
	r = obs_index_all(ix);
	cr_assert_eq(roaring_bitmap_get_cardinality(r), NFIX);
	roaring_bitmap_free(r);
}

struct listing {
	char s[16][32];
	uint64_t c[16];
	int n;
	int stop_at;
};

static int collect(void *ctx, const char *s, uint64_t count)
{
	struct listing *l = ctx;
	if (l->n == l->stop_at)
		return 42;
	cr_assert_lt(l->n, 16);
	snprintf(l->s[l->n], sizeof(l->s[0]), "%s", s);
	l->c[l->n++] = count;
	return 0;
}

static void expect_listing(const struct listing *l, const char *const *want, const uint64_t *cnt, int n)
{
	cr_assert_eq(l->n, n, "listed %d, want %d", l->n, n);
	for (int i = 0; i < n; i++) {
		cr_assert_str_eq(l->s[i], want[i]);
		cr_assert_eq(l->c[i], cnt[i], "%s: count %llu want %llu", want[i],
			     (unsigned long long)l->c[i], (unsigned long long)cnt[i]);
	}
}

Test(index, label_names_and_values_sorted_with_counts)
{
	struct listing l = { .stop_at = -1 };
	cr_assert_eq(obs_index_label_names(ix, collect, &l), 0);
	const char *names[] = { "__name__", "code", "env", "instance", "job" };
	const uint64_t ncnt[] = { 6, 2, 1, 3, 6 };
	expect_listing(&l, names, ncnt, 5);

	memset(&l, 0, sizeof(l));
	l.stop_at = -1;
	cr_assert_eq(obs_index_label_values(ix, "job", collect, &l), 0);
	const char *jobs[] = { "api", "db", "web" };
	const uint64_t jcnt[] = { 4, 1, 1 };
	expect_listing(&l, jobs, jcnt, 3);

	memset(&l, 0, sizeof(l));
	l.stop_at = -1;
	cr_assert_eq(obs_index_label_values(ix, "__name__", collect, &l), 0);
	const char *mn[] = { "http_requests", "up" };
	const uint64_t mcnt[] = { 3, 3 };
	expect_listing(&l, mn, mcnt, 2);

	memset(&l, 0, sizeof(l));
	l.stop_at = -1;
	cr_assert_eq(obs_index_label_values(ix, "nolabel", collect, &l), 0);
	cr_assert_eq(l.n, 0);

	memset(&l, 0, sizeof(l));
	l.stop_at = 2;                       /* callback stops the walk */
	cr_assert_eq(obs_index_label_names(ix, collect, &l), 42);
	cr_assert_eq(l.n, 2);

	cr_assert_eq(obs_index_count(ix, "job", "api"), 4);
	cr_assert_eq(obs_index_count(ix, "instance", "a"), 1);
	cr_assert_eq(obs_index_count(ix, "job", "x"), 0);
	cr_assert_eq(obs_index_count(ix, "x", "x"), 0);

	struct obs_index_stats st;
	obs_index_get_stats(ix, &st);
	cr_assert_eq(st.names, 5);
	cr_assert_eq(st.pairs, 2 + 2 + 1 + 3 + 3);
	cr_assert_eq(st.series, NFIX);
	cr_assert_gt(st.bytes, 0);
}

Test(index, remove)
{
	char alive[NFIX];
	memset(alive, 1, sizeof(alive));
	struct obs_labels l = ser_labels(&fx[3]);
	cr_assert_eq(obs_index_remove(ix, 3, &l), 0);
	alive[3] = 0;
	expect("job=api", alive, "014");
	expect("code!=", alive, "4");
	expect("code=", alive, "01256");
	cr_assert_eq(obs_index_count(ix, "code", "200"), 0);
	cr_assert_eq(obs_index_count(ix, "job", "api"), 3);

	struct listing ls = { .stop_at = -1 };
	obs_index_label_values(ix, "code", collect, &ls);
	const char *codes[] = { "500" };
	const uint64_t ccnt[] = { 1 };
	expect_listing(&ls, codes, ccnt, 1);

	l = ser_labels(&fx[4]);
	obs_index_remove(ix, 4, &l);
	alive[4] = 0;
	memset(&ls, 0, sizeof(ls));
	ls.stop_at = -1;
	obs_index_label_names(ix, collect, &ls);
	const char *names[] = { "__name__", "env", "instance", "job" };
	const uint64_t ncnt[] = { 4, 1, 3, 4 };
	expect_listing(&ls, names, ncnt, 4);   /* "code" is gone */
	expect("code!=", alive, "");
	expect("code=~.*", alive, "01256");
	expect("http_requests", alive, "5");

	roaring_bitmap_t *all = obs_index_all(ix);
	cr_assert_eq(roaring_bitmap_get_cardinality(all), NFIX - 2);
	cr_assert(!roaring_bitmap_contains(all, 3));
	roaring_bitmap_free(all);

	/* removing again is harmless; re-adding restores */
	obs_index_remove(ix, 4, &l);
	cr_assert_eq(obs_index_add(ix, 4, &l), 0);
	alive[4] = 1;
	expect("code!=", alive, "4");
	expect("job=api", alive, "014");
	struct obs_index_stats st;
	obs_index_get_stats(ix, &st);
	cr_assert_eq(st.series, NFIX - 1);
	cr_assert_eq(st.pairs, 2 + 1 + 1 + 3 + 3);
}

Test(index, add_is_idempotent_and_posting_grows_from_single)
{
	struct obs_labels l = ser_labels(&fx[0]);
	cr_assert_eq(obs_index_add(ix, 0, &l), 0);
	cr_assert_eq(obs_index_count(ix, "instance", "a"), 1);
	cr_assert_eq(obs_index_add(ix, 100, &l), 0);   /* same labels, second id */
	cr_assert_eq(obs_index_count(ix, "instance", "a"), 2);
	struct mset ms;
	mset_parse(&ms, "instance=a");
	roaring_bitmap_t *r = obs_index_select(ix, ms.m, ms.n);
	cr_assert_eq(roaring_bitmap_get_cardinality(r), 2);
	cr_assert(roaring_bitmap_contains(r, 0) && roaring_bitmap_contains(r, 100));
	roaring_bitmap_free(r);
	obs_index_remove(ix, 0, &l);
	r = obs_index_select(ix, ms.m, ms.n);
	cr_assert_eq(roaring_bitmap_get_cardinality(r), 1);
	cr_assert(roaring_bitmap_contains(r, 100));
	roaring_bitmap_free(r);
	mset_release(&ms);
}

Test(index_empty, empty_index)
{
	struct obs_index *e = obs_index_new();
	struct mset ms;
	mset_parse(&ms, "a!=b");
	roaring_bitmap_t *r = obs_index_select(e, ms.m, ms.n);
	cr_assert_not_null(r);
	cr_assert(roaring_bitmap_is_empty(r));
	roaring_bitmap_free(r);
	mset_release(&ms);
	struct obs_index_stats st;
	obs_index_get_stats(e, &st);
	cr_assert_eq(st.names + st.pairs + st.series, 0);
	obs_index_free(e);
	obs_index_free(NULL);
}

/* Regexes with a literal prefix are prefiltered by the index; the answer
 * must not change, including quantified and multi-byte last characters. */
Test(index_empty, regex_literal_prefix)
{
	static const char *vals[] = {
		"\xc3\xa9", "\xc3\xa9\x61", "\xc3\xa9\xc3\xa9", "e", "ab", "abc", "abd", "b", "a",
		"x.y", "xzy", "a+", "aaa",
	};
	enum { NV = sizeof(vals) / sizeof(vals[0]) };
	static const char *specs[] = {
		"k=~\"\xc3\xa9?\"", "k=~\"\xc3\xa9+\"", "k=~\"\xc3\xa9\x61\"", "k!~\"\xc3\xa9*\"",
		"k=~ab?", "k=~abc?", "k=~ab.", "k!~ab.", "k=~ab(c|d)", "k=~ab|b", "k=~a*",
		"k=~a{2,}", "k!~a{1}", "k=~\"x\\\\.y\"", "k=~x.y", "k=~\"a\\\\+\"",
	};
	struct obs_index *e = obs_index_new();
	struct ser ss[NV + 1];
	for (size_t i = 0; i < NV; i++) {
		char t[64];
		snprintf(t, sizeof(t), "m{k=%s}", vals[i]);
		ser_make(&ss[i], t);
		struct obs_labels l = ser_labels(&ss[i]);
		cr_assert_eq(obs_index_add(e, (uint32_t)i, &l), 0);
	}
	ser_make(&ss[NV], "m");   /* no k */
	struct obs_labels l = ser_labels(&ss[NV]);
	cr_assert_eq(obs_index_add(e, NV, &l), 0);
	for (size_t k = 0; k < sizeof(specs) / sizeof(specs[0]); k++) {
		struct mset ms;
		mset_parse(&ms, specs[k]);
		roaring_bitmap_t *got = obs_index_select(e, ms.m, ms.n);
		roaring_bitmap_t *ref = brute(ss, NULL, NV + 1, &ms);
		char g[4096];
		snprintf(g, sizeof(g), "%s", bm_text(got));
		cr_assert(roaring_bitmap_equals(got, ref), "'%s': index {%s} brute {%s}", specs[k], g, bm_text(ref));
		cr_assert(!roaring_bitmap_is_empty(ref) || k == 0, "'%s' selects nothing", specs[k]);
		roaring_bitmap_free(got);
		roaring_bitmap_free(ref);
		mset_release(&ms);
	}
	obs_index_free(e);
}

/* ---- concurrency --------------------------------------------------------------- */

#define CW 2
#define CPER 20000
static struct obs_index *cix;
static volatile int writers_done;

static void conc_labels(uint32_t id, struct ser *s)
{
	char t[128];
	snprintf(t, sizeof(t), "m{job=j%u,instance=i%u}", id % 10, id);
	ser_make(s, t);
}

static void *conc_writer(void *arg)
{
	long w = (long)arg;
	for (uint32_t k = 0; k < CPER; k++) {
		uint32_t id = (uint32_t)w * CPER + k;
		struct ser s;
		conc_labels(id, &s);
		struct obs_labels l = ser_labels(&s);
		if (obs_index_add(cix, id, &l))
			return (void *)1;
	}
	return NULL;
}

static void *conc_reader(void *arg)
{
	struct obs_matcher m[2];
	const char *why;
	long bad = 0, rounds = 0;
	obs_matcher_parse("job=j3", 6, &m[0], &why);
	obs_matcher_parse("instance=~i.*3", 14, &m[1], &why);
	while (!__atomic_load_n(&writers_done, __ATOMIC_SEQ_CST) || rounds < 3) {
		roaring_bitmap_t *r = obs_index_select(cix, m, 2);
		if (!r)
			return (void *)-1;
		roaring_uint32_iterator_t *it = roaring_create_iterator(r);
		for (; it->has_value; roaring_advance_uint32_iterator(it))
			if (it->current_value % 10 != 3)
				bad++;
		roaring_free_uint32_iterator(it);
		roaring_bitmap_free(r);
		rounds++;
	}
	obs_matcher_release(&m[0]);
	obs_matcher_release(&m[1]);
	return (void *)bad;
}

Test(index_conc, writers_and_readers, .timeout = 60)
{
	cix = obs_index_new();
	writers_done = 0;
	pthread_t w[CW], r[3];
	for (long i = 0; i < 3; i++)
		pthread_create(&r[i], NULL, conc_reader, NULL);
	for (long i = 0; i < CW; i++)
		pthread_create(&w[i], NULL, conc_writer, (void *)i);
	for (int i = 0; i < CW; i++) {
		void *rv;
		pthread_join(w[i], &rv);
		cr_assert_null(rv);
	}
	__atomic_store_n(&writers_done, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < 3; i++) {
		void *rv;
		pthread_join(r[i], &rv);
		cr_assert_eq((long)rv, 0, "reader %d: %ld wrong ids", i, (long)rv);
	}
	struct obs_index_stats st;
	obs_index_get_stats(cix, &st);
	cr_assert_eq(st.series, CW * CPER);
	cr_assert_eq(obs_index_count(cix, "job", "j3"), CW * CPER / 10);
	struct obs_matcher m;
	const char *why;
	obs_matcher_parse("job=j3", 6, &m, &why);
	roaring_bitmap_t *res = obs_index_select(cix, &m, 1);
	cr_assert_eq(roaring_bitmap_get_cardinality(res), CW * CPER / 10);
	roaring_bitmap_free(res);
	obs_matcher_release(&m);
	obs_index_free(cix);
}

/* ---- scale: 100k series against brute force ------------------------------------ */

#define NS 100000
static const char *scale_specs[] = {
	"__name__=metric_7",
	"job=job_3",
	"job=~job_1.*",
	"job=~job_1|job_2|job_19",
	"job!~job_1.*",
	"zone=",
	"zone!=",
	"zone=~a|b|",
	"code=~5..",
	"code!~5..",
	"code=~.+/zone=b",
	"__name__=metric_7/job=job_3",
	"__name__=metric_7/job!=job_3/zone!~a",
	"__name__=~metric_(1|2)/code=~\"[24]0.\"",
	"instance=~inst_99.*",
	"instance=~inst_12345",
	"instance=~\"inst_1234?\"",
	"instance!~inst_99.*",
	"instance=~\"inst_(1|2)0\"",
	"instance=~\"inst_\\\\d{2}\"",
	"instance!~inst_[0-8].*",
	"job=~.*",
	"job=~.+/code!~.+",
	"nolabel!=x/job=job_0",
};
#define NSPEC (sizeof(scale_specs) / sizeof(scale_specs[0]))

static struct ser *big;
static char *big_alive;

static void big_labels(uint32_t i, struct ser *s)
{
	static const char *codes[] = { "200", "404", "500", "503", "201" };
	char t[200];
	int o = snprintf(t, sizeof(t), "metric_%u{job=job_%u,instance=inst_%u", i % 50, (i / 3) % 20, i);
	if (i % 7 != 0)
		o += snprintf(t + o, sizeof(t) - (size_t)o, ",zone=%c", "abc"[i % 3]);
	if (i % 4 == 1)
		o += snprintf(t + o, sizeof(t) - (size_t)o, ",code=%s", codes[(i / 4) % 5]);
	snprintf(t + o, sizeof(t) - (size_t)o, "}");
	ser_make(s, t);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void scale_check(struct obs_index *bix, int report)
{
	for (size_t k = 0; k < NSPEC; k++) {
		struct mset ms;
		mset_parse(&ms, scale_specs[k]);
		double t0 = now_ms();
		roaring_bitmap_t *got = obs_index_select(bix, ms.m, ms.n);
		double t1 = now_ms();
		cr_assert_not_null(got);
		roaring_bitmap_t *ref = brute(big, big_alive, NS, &ms);
		cr_assert(roaring_bitmap_equals(got, ref), "'%s': index %llu series, brute %llu",
			  scale_specs[k], (unsigned long long)roaring_bitmap_get_cardinality(got),
			  (unsigned long long)roaring_bitmap_get_cardinality(ref));
		if (report)
			fprintf(stderr, "# select %-40s %7llu series %8.3f ms\n", scale_specs[k],
				(unsigned long long)roaring_bitmap_get_cardinality(got), t1 - t0);
		roaring_bitmap_free(got);
		roaring_bitmap_free(ref);
		mset_release(&ms);
	}
}

Test(index_scale, select_matches_brute_force_100k, .timeout = 120)
{
	big = calloc(NS, sizeof(*big));
	big_alive = malloc(NS);
	memset(big_alive, 1, NS);
	struct obs_index *bix = obs_index_new();
	double t0 = now_ms();
	for (uint32_t i = 0; i < NS; i++) {
		big_labels(i, &big[i]);
		struct obs_labels l = ser_labels(&big[i]);
		cr_assert_eq(obs_index_add(bix, i, &l), 0);
	}
	double t1 = now_ms();
	struct obs_index_stats st;
	obs_index_get_stats(bix, &st);
	fprintf(stderr, "# add %d series: %.1f ms; names %llu pairs %llu bytes %llu\n", NS, t1 - t0,
		(unsigned long long)st.names, (unsigned long long)st.pairs, (unsigned long long)st.bytes);
	cr_assert_eq(st.series, NS);
	cr_assert_eq(st.names, 5);
	/* every instance is its own pair; plus metrics, jobs, zones, codes */
	cr_assert_eq(st.pairs, NS + 50 + 20 + 3 + 5);
	scale_check(bix, 1);

	/* drop every 3rd series and check again */
	for (uint32_t i = 0; i < NS; i += 3) {
		struct obs_labels l = ser_labels(&big[i]);
		obs_index_remove(bix, i, &l);
		big_alive[i] = 0;
	}
	scale_check(bix, 0);
	obs_index_get_stats(bix, &st);
	cr_assert_eq(st.series, NS - (NS + 2) / 3);

	obs_index_free(bix);
	free(big);
	free(big_alive);
}
