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
 * NaN: min and max skip it (NaN only when every value is NaN), quantiles skip
 * it, sum/avg/stddev propagate it, count counts it. */
#include <err.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/obstime.h"
#include "core/vec.h"
#include "tool_stream.h"

static const char *prog = "obs-agg";

enum fn { F_AVG, F_MIN, F_MAX, F_SUM, F_COUNT, F_LAST, F_FIRST, F_STDDEV, F_STDVAR, F_QUANT };
enum comb { C_NONE, C_SUM, C_AVG, C_MIN, C_MAX, C_COUNT };

static enum fn fn;
static double quant;           /* F_QUANT: 0..1 */
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

/* ---- accumulator ----------------------------------------------------------- */

struct acc {
	size_t n, nnum;            /* values, non-NaN values */
	double sum, min, max, first, last, mean, m2;
	double *vals;              /* F_QUANT only */
	size_t cap;
};

static void acc_reset(struct acc *a)
{
	a->n = a->nnum = 0;
	a->sum = a->mean = a->m2 = 0;
	a->min = a->max = NAN;
}

static void acc_add(struct acc *a, double v)
{
	if (a->n == 0)
		a->first = v;
	a->n++;
	a->last = v;
	switch (fn) {
	case F_AVG:
	case F_SUM:
		a->sum += v;
		break;
	case F_MIN:
		if (!isnan(v) && !(v >= a->min))
			a->min = v;
		break;
	case F_MAX:
		if (!isnan(v) && !(v <= a->max))
			a->max = v;
		break;
	case F_STDDEV:
	case F_STDVAR: {
		double d = v - a->mean;
		a->mean += d / (double)a->n;
		a->m2 += d * (v - a->mean);
		break;
	}
	case F_QUANT:
		if (isnan(v))
			break;
		if (OBS_VEC_RESERVE_FROM(a->vals, a->cap, a->nnum + 1, 64))
			err(2, "out of memory");
		a->vals[a->nnum++] = v;
		break;
	default:
		break;
	}
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

/* Prometheus' quantile: linear interpolation between closest ranks. */
static double quantile(double q, double *v, size_t n)
{
	if (n == 0)
		return NAN;
	qsort(v, n, sizeof(double), cmp_double);
	double rank = q * (double)(n - 1);
	size_t lo = (size_t)floor(rank), hi = lo + 1 < n ? lo + 1 : n - 1;
	double w = rank - floor(rank);
	return v[lo] * (1 - w) + v[hi] * w;
}

static double acc_result(struct acc *a)
{
	switch (fn) {
	case F_AVG: return a->sum / (double)a->n;
	case F_MIN: return a->min;
	case F_MAX: return a->max;
	case F_SUM: return a->sum;
	case F_COUNT: return (double)a->n;
	case F_LAST: return a->last;
	case F_FIRST: return a->first;
	case F_STDDEV: return sqrt(a->m2 / (double)a->n);
	case F_STDVAR: return a->m2 / (double)a->n;
	case F_QUANT: return quantile(quant, a->vals, a->nnum);
	}
	return NAN;
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
	struct acc acc;
	struct pt *ring;          /* --moving */
	size_t cap, head, n;
};

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
	double r = acc_result(&s->acc);
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
		struct pt *r = malloc(nc * sizeof(*r));
		if (!r)
			err(2, "out of memory");
		for (size_t i = 0; i < s->n; i++)
			r[i] = s->ring[(s->head + i) % s->cap];
		free(s->ring);
		s->ring = r;
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
	acc_reset(&s->acc);
	for (size_t i = 0; i < s->n; i++)
		acc_add(&s->acc, s->ring[(s->head + i) % s->cap].v);
	ts_out_sample(&out, ser, t, ofmt(s->fmt), acc_result(&s->acc));
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
		acc_reset(&s->acc);
		s->bucket = b;
		s->open = 1;
	}
	acc_add(&s->acc, x->v);
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
	struct acc a = { 0 };
	for (size_t i = 0; i < npool;) {
		int64_t b = merge ? bucket_of(pool[i].t) : pool[i].t;
		double r;
		if (merge) {
			acc_reset(&a);
			for (; i < npool && bucket_of(pool[i].t) == b; i++)
				acc_add(&a, pool[i].v);
			r = acc_result(&a);
		} else {
			double sum = 0, mn = NAN, mx = NAN;
			size_t n = 0;
			for (; i < npool && pool[i].t == b; i++, n++) {
				double v = pool[i].v;
				sum += v;
				if (!isnan(v) && !(v >= mn))
					mn = v;
				if (!isnan(v) && !(v <= mx))
					mx = v;
			}
			switch (by) {
			case C_SUM: r = sum; break;
			case C_AVG: r = sum / (double)n; break;
			case C_MIN: r = mn; break;
			case C_MAX: r = mx; break;
			default: r = (double)n; break;
			}
		}
		ts_out_sample(&out, NULL, b, ofmt(pool_fmt), r);
	}
	free(a.vals);
}

static int parse_fn(const char *s)
{
	static const struct { const char *name; enum fn fn; } names[] = {
		{ "avg", F_AVG }, { "mean", F_AVG }, { "min", F_MIN }, { "max", F_MAX },
		{ "sum", F_SUM }, { "count", F_COUNT }, { "last", F_LAST }, { "first", F_FIRST },
		{ "stddev", F_STDDEV }, { "stdvar", F_STDVAR },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i].name) == 0) {
			fn = names[i].fn;
			return 0;
		}
	if (strcmp(s, "median") == 0) {
		fn = F_QUANT, quant = 0.5;
		return 0;
	}
	if (s[0] == 'p' && s[1]) {
		char *end;
		double q = strtod(s + 1, &end);
		if (*end || !(q >= 0 && q <= 100) || s[1] == '-' || s[1] == '+' || s[1] == ' ')
			return -1;
		fn = F_QUANT, quant = q / 100;
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
		free(s->acc.vals);
		free(s->ring);
		free(s);
	}
	if (merge || by)
		finish_pool();
	free(pool);
	return ts_finish(prog, in, &out);
}
