/* obs-agg — bucket a value stream by STEP and aggregate each bucket.
 *
 * Buckets are aligned to multiples of STEP since the epoch (as Prometheus
 * aligns range-query steps) and stamped with their start; every non-empty
 * bucket of every series gives one line. A series' bucket is emitted as soon
 * as a later bucket starts, so the tool streams. --by combines the series'
 * results per bucket, --merge pools all series' samples per bucket (both
 * need the whole input). --moving replaces buckets by a sliding window over
 * the last N samples or the last DURATION, one line per input sample.
 *
 * The aggregation is the views' (obs_agg_acc, tsdb/downsample.h), NaN rule
 * included: min and max skip it (NaN only when every value is NaN),
 * quantiles skip it, sum/avg/stddev/stdvar propagate it, count counts it.
 * --by combines with the same rule. */
#include <err.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/obstime.h"
#include "core/vec.h"
#include "tsdb/downsample.h"
#include "tool_stream.h"

static const char *prog = "obs-agg";

enum comb { C_NONE, C_SUM, C_AVG, C_MIN, C_MAX, C_COUNT };

static struct obs_aggfn afn;   /* the bucket function (tsdb/downsample.h) */
static int64_t step_ms;
static enum comb by = C_NONE;
static int merge;
static int64_t moving_ms;      /* --moving DURATION */
static size_t moving_n;        /* --moving N */
static int time_fmt = -1;
static struct ts_out out;

static void usage(FILE *f)
{
	fprintf(f, "usage: obs-agg [-mqh] [-b op] [-T format] step function [file ...]\n"
		   "       obs-agg [-qh] -M window [-T format] function [file ...]\n");
}

/* ---- per-series state ------------------------------------------------------ */

struct pt {
	int64_t t;
	double v;
};

struct st {
	int open;
	int64_t bucket;
	enum obs_time_fmt fmt;
	struct obs_agg_acc acc;
	struct pt *ring;          /* --moving */
	size_t cap, head, n;
};

static void add(struct obs_agg_acc *a, double v)
{
	if (obs_agg_acc_add(a, v))
		err(2, "out of memory");
}

/* --by and --merge collect (bucket, value) pairs and combine at the end. */
static struct pt *pool;
static size_t npool, pool_cap;
static enum obs_time_fmt pool_fmt;

static void pool_add(int64_t t, double v)
{
	if (OBS_VEC_RESERVE_FROM(pool, pool_cap, npool + 1, 4096))
		err(2, "out of memory");
	pool[npool++] = (struct pt){ t, v };
}

static enum obs_time_fmt ofmt(enum obs_time_fmt f)
{
	return time_fmt >= 0 ? (enum obs_time_fmt)time_fmt : f;
}

static int64_t bucket_of(int64_t t)
{
	int64_t q = t / step_ms;
	if (q * step_ms > t)
		q--;
	return q * step_ms;
}

static void close_bucket(struct ts_series *ser, struct st *s)
{
	if (!s->open)
		return;
	double r = obs_agg_acc_result(&s->acc);
	if (by != C_NONE)
		pool_add(s->bucket, r);
	else
		ts_out_sample(&out, ser, s->bucket, ofmt(s->fmt), r);
	s->open = 0;
}

static void moving_sample(struct ts_series *ser, struct st *s, int64_t t, double v)
{
	if (s->n == s->cap) {
		size_t nc = s->cap ? 2 * s->cap : 16;
		if (OBS_RING_REGROW(s->ring, s->cap, s->head, s->n, nc))
			err(2, "out of memory");
		s->cap = nc;
		s->head = 0;
	}
	s->ring[(s->head + s->n) % s->cap] = (struct pt){ t, v };
	s->n++;
	while (s->n > 1 && ((moving_n && s->n > moving_n) ||
			    (moving_ms && s->ring[s->head].t < t - moving_ms))) {
		s->head = (s->head + 1) % s->cap;
		s->n--;
	}
	obs_agg_acc_reset(&s->acc);
	for (size_t i = 0; i < s->n; i++)
		add(&s->acc, s->ring[(s->head + i) % s->cap].v);
	ts_out_sample(&out, ser, t, ofmt(s->fmt), obs_agg_acc_result(&s->acc));
}

static void sample(const struct ts_sample *x)
{
	if (merge) {
		pool_add(x->t, x->v);
		pool_fmt = x->fmt;
		return;
	}
	struct st *s = x->s->priv;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			err(2, "out of memory");
		obs_agg_acc_init(&s->acc, afn);
		x->s->priv = s;
	}
	s->fmt = x->fmt;
	pool_fmt = x->fmt;
	if (moving_n || moving_ms) {
		moving_sample(x->s, s, x->t, x->v);
		return;
	}
	int64_t b = bucket_of(x->t);
	if (s->open && b != s->bucket)
		close_bucket(x->s, s);
	if (!s->open) {
		obs_agg_acc_reset(&s->acc);
		s->bucket = b;
		s->open = 1;
	}
	add(&s->acc, x->v);
}

static int cmp_pt(const void *x, const void *y)
{
	const struct pt *a = x, *b = y;
	return (a->t > b->t) - (a->t < b->t);
}

/* --merge: pool holds raw samples; --by: per-series bucket results. */
static void finish_pool(void)
{
	if (npool)
		qsort(pool, npool, sizeof(*pool), cmp_pt);
	struct obs_agg_acc a;
	obs_agg_acc_init(&a, afn);
	struct obs_agg_acc c;   /* --by: the combination of the series' results */
	obs_agg_acc_init(&c, (struct obs_aggfn){ by == C_SUM ? OBS_AGG_SUM : by == C_AVG ? OBS_AGG_AVG
						  : by == C_MIN ? OBS_AGG_MIN : by == C_MAX ? OBS_AGG_MAX
						  : OBS_AGG_COUNT, 0 });
	for (size_t i = 0; i < npool;) {
		int64_t b = merge ? bucket_of(pool[i].t) : pool[i].t;
		double r;
		if (merge) {
			obs_agg_acc_reset(&a);
			for (; i < npool && bucket_of(pool[i].t) == b; i++)
				add(&a, pool[i].v);
			r = obs_agg_acc_result(&a);
		} else {
			obs_agg_acc_reset(&c);
			for (; i < npool && pool[i].t == b; i++)
				add(&c, pool[i].v);
			r = obs_agg_acc_result(&c);
		}
		ts_out_sample(&out, NULL, b, ofmt(pool_fmt), r);
	}
	obs_agg_acc_release(&a);
	obs_agg_acc_release(&c);
}

static int parse_fn(const char *s)
{
	static const struct { const char *name; enum obs_agg fn; } names[] = {
		{ "avg", OBS_AGG_AVG }, { "mean", OBS_AGG_AVG }, { "min", OBS_AGG_MIN }, { "max", OBS_AGG_MAX },
		{ "sum", OBS_AGG_SUM }, { "count", OBS_AGG_COUNT }, { "last", OBS_AGG_LAST },
		{ "first", OBS_AGG_FIRST }, { "stddev", OBS_AGG_STDDEV }, { "stdvar", OBS_AGG_STDVAR },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i].name) == 0) {
			afn = (struct obs_aggfn){ names[i].fn, 0 };
			return 0;
		}
	if (strcmp(s, "median") == 0) {
		afn = (struct obs_aggfn){ OBS_AGG_QUANTILE, 0.5 };
		return 0;
	}
	if (s[0] == 'p' && s[1]) {
		char *end;
		double q = strtod(s + 1, &end);
		if (*end || !(q >= 0 && q <= 100) || s[1] == '-' || s[1] == '+' || s[1] == ' ')
			return -1;
		afn = (struct obs_aggfn){ OBS_AGG_QUANTILE, q / 100 };
		return 0;
	}
	return -1;
}

static int parse_comb(const char *s)
{
	static const char *names[] = { "", "sum", "avg", "min", "max", "count" };
	for (int i = 1; i < 6; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "by", required_argument, NULL, 'b' },
		{ "merge", no_argument, NULL, 'm' },
		{ "moving", required_argument, NULL, 'M' },
		{ "time-format", required_argument, NULL, 'T' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned flags = 0;
	int c;

	while ((c = getopt_long(argc, argv, "b:mM:T:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if ((c = parse_comb(optarg)) < 0)
				errx(2, "invalid combination '%s' (sum, avg, min, max or count)",
				     optarg);
			by = (enum comb)c;
			break;
		case 'm': merge = 1; break;
		case 'M': {
			unsigned long n = 0;
			if (ts_count_or_duration(optarg, &n, &moving_ms) < 0 || (!n && !moving_ms))
				errx(2, "invalid window '%s'", optarg);
			moving_n = n;
			break;
		}
		case 'T': time_fmt = ts_time_fmt_arg(optarg); break;
		case 'q': flags |= TS_QUIET; break;
		case 'h': usage(stdout); return fclose(stdout) ? 2 : 0;
		default: usage(stderr); return 2;
		}
	}
	int moving = moving_n || moving_ms;
	if (argc - optind < (moving ? 1 : 2)) {
		usage(stderr);
		return 2;
	}
	if (!moving) {
		const char *a = argv[optind++];
		if (obs_duration_parse(a, strlen(a), &step_ms) < 0 || step_ms <= 0)
			errx(2, "invalid step '%s'", a);
	} else if (merge || by) {
		errx(2, "--moving cannot be combined with --merge or --by");
	}
	if (merge && by)
		errx(2, "--merge and --by exclude each other");
	if (parse_fn(argv[optind]) < 0)
		errx(2, "invalid function '%s' (avg, min, max, sum, count, last, first, "
			"stddev, stdvar, median, pNN)", argv[optind]);
	optind++;

	struct ts_in *in = ts_in_open(prog, argv + optind, argc - optind, flags);
	ts_out_init(&out, 1, 1 << 20);
	ts_in_set_idle(in, ts_out_flush_cb, &out);
	struct ts_sample x;
	while (ts_in_next(in, &x) == 1)
		sample(&x);
	for (size_t i = 0; i < ts_in_nseries(in); i++) {
		struct ts_series *ser = ts_in_series(in, i);
		struct st *s = ser->priv;
		if (!s)
			continue;
		close_bucket(ser, s);
		obs_agg_acc_release(&s->acc);
		free(s->ring);
		free(s);
	}
	if (merge || by)
		finish_pool();
	free(pool);
	return ts_finish(prog, in, &out);
}
