/* obs-rate — counter samples -> per-second rate, increase, irate or delta.
 *
 * Without --window every sample after the first of its series yields one line
 * computed from it and its predecessor. With --window the result at time T is
 * computed from the samples in [T - WINDOW, T] following Prometheus (2.x)
 * rate()/increase()/delta()/irate(): the difference between the first and the
 * last sample (plus every value lost in a counter reset) extrapolated to the
 * window's edges when the data reaches them within 1.1 average intervals, and
 * never below the counter's zero point. T is every input sample's time, or
 * every multiple of --step up to the first one at or after the last sample. */
#include <err.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/obstime.h"
#include "core/vec.h"
#include "tool_stream.h"

static const char *prog = "obs-rate";

enum mode { M_RATE, M_INCREASE, M_IRATE, M_DELTA };

struct pt {
	int64_t t;
	double v;
};

/* Per-series state: the previous sample, or the window's samples in a ring. */
struct st {
	int has_prev;
	struct pt prev;
	struct pt *ring;
	size_t cap, head, n;
	size_t resets;       /* adjacent pairs in the ring with a decrease */
	int64_t next_eval;   /* --step: the next evaluation time */
	int eval_set;
	enum obs_time_fmt fmt;
};

static enum mode mode = M_RATE;
static int64_t window_ms, step_ms;
static int time_fmt = -1;
static struct ts_out out;

static void usage(FILE *f)
{
	fprintf(f, "usage: obs-rate [-qh] [-i | -I | -d] [-w window [-s step]] [-T format] "
		   "[file ...]\n");
}

static struct pt *at(struct st *s, size_t i)
{
	return &s->ring[(s->head + i) % s->cap];
}

static void push(struct st *s, int64_t t, double v)
{
	if (s->n == s->cap) {
		size_t nc = s->cap ? 2 * s->cap : 16;
		if (OBS_RING_REGROW(s->ring, s->cap, s->head, s->n, nc))
			err(2, "out of memory");
		s->cap = nc;
		s->head = 0;
	}
	if (s->n && v < at(s, s->n - 1)->v)
		s->resets++;
	s->ring[(s->head + s->n) % s->cap] = (struct pt){ t, v };
	s->n++;
}

/* Drop samples before from. */
static void evict(struct st *s, int64_t from)
{
	while (s->n && s->ring[s->head].t < from) {
		if (s->n > 1 && at(s, 1)->v < s->ring[s->head].v)
			s->resets--;
		s->head = (s->head + 1) % s->cap;
		s->n--;
	}
}

/* The windowed result over the ring for range [T - window, T]; 0 if none. */
static int windowed(struct st *s, int64_t T, double *res)
{
	if (s->n < 2)
		return 0;
	struct pt *first = at(s, 0), *last = at(s, s->n - 1);
	if (mode == M_IRATE) {
		struct pt *prev = at(s, s->n - 2);
		double d = last->v < prev->v ? last->v : last->v - prev->v;
		double dt = (double)(last->t - prev->t) / 1000;
		if (dt == 0)
			return 0;
		*res = d / dt;
		return 1;
	}
	int counter = mode != M_DELTA;
	double result = last->v - first->v;
	if (counter && s->resets) {
		double lastv = 0;
		for (size_t i = 0; i < s->n; i++) {
			double v = at(s, i)->v;
			if (v < lastv)
				result += lastv;
			lastv = v;
		}
	}
	double to_start = (double)(first->t - (T - window_ms)) / 1000;
	double to_end = (double)(T - last->t) / 1000;
	double sampled = (double)(last->t - first->t) / 1000;
	double avg = sampled / (double)(s->n - 1);
	if (counter && result > 0 && first->v >= 0) {
		double to_zero = sampled * (first->v / result);
		if (to_zero < to_start)
			to_start = to_zero;
	}
	double thr = avg * 1.1, ext = sampled;
	ext += to_start < thr ? to_start : avg / 2;
	ext += to_end < thr ? to_end : avg / 2;
	double factor = ext / sampled;
	if (mode == M_RATE)
		factor /= (double)window_ms / 1000;
	*res = result * factor;
	return 1;
}

static void emit(const struct ts_series *ser, int64_t t, enum obs_time_fmt fmt, double v)
{
	ts_out_sample(&out, ser, t, time_fmt >= 0 ? (enum obs_time_fmt)time_fmt : fmt, v);
}

static void eval_at(struct ts_series *ser, struct st *s, int64_t T)
{
	double r;
	evict(s, T - window_ms);
	if (windowed(s, T, &r))
		emit(ser, T, s->fmt, r);
}

static int64_t ceil_step(int64_t t)
{
	int64_t q = t / step_ms;
	if (q * step_ms < t)
		q++;
	return q * step_ms;
}

/* --step: evaluate every pending step time before t. */
static void catch_up(struct ts_series *ser, struct st *s, int64_t t)
{
	if (!s->eval_set) {
		s->next_eval = ceil_step(t);
		s->eval_set = 1;
	}
	while (s->next_eval < t) {
		evict(s, s->next_eval - window_ms);
		if (s->n == 0) { /* gap: jump */
			s->next_eval = ceil_step(t);
			break;
		}
		eval_at(ser, s, s->next_eval);
		s->next_eval += step_ms;
	}
}

static void sample(const struct ts_sample *x)
{
	struct st *s = x->s->priv;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			err(2, "out of memory");
		x->s->priv = s;
	}
	s->fmt = x->fmt;
	if (window_ms) {
		if (step_ms) {
			catch_up(x->s, s, x->t);
			push(s, x->t, x->v);
		} else {
			push(s, x->t, x->v);
			eval_at(x->s, s, x->t);
		}
		return;
	}
	if (s->has_prev) {
		double d = x->v - s->prev.v, r;
		if (mode != M_DELTA && x->v < s->prev.v)
			d = x->v;
		if (mode == M_RATE || mode == M_IRATE)
			r = d / ((double)(x->t - s->prev.t) / 1000);
		else
			r = d;
		emit(x->s, x->t, x->fmt, r);
	}
	s->prev = (struct pt){ x->t, x->v };
	s->has_prev = 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "window", required_argument, NULL, 'w' },
		{ "step", required_argument, NULL, 's' },
		{ "increase", no_argument, NULL, 'i' },
		{ "irate", no_argument, NULL, 'I' },
		{ "delta", no_argument, NULL, 'd' },
		{ "time-format", required_argument, NULL, 'T' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned flags = 0;
	int c;

	while ((c = getopt_long(argc, argv, "w:s:iIdT:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'w':
		case 's': {
			int64_t d;
			if (obs_duration_parse(optarg, strlen(optarg), &d) < 0 || d <= 0)
				errx(2, "invalid duration '%s'", optarg);
			*(c == 'w' ? &window_ms : &step_ms) = d;
			break;
		}
		case 'i': mode = M_INCREASE; break;
		case 'I': mode = M_IRATE; break;
		case 'd': mode = M_DELTA; break;
		case 'T': time_fmt = ts_time_fmt_arg(optarg); break;
		case 'q': flags |= TS_QUIET; break;
		case 'h': usage(stdout); return fclose(stdout) ? 2 : 0;
		default: usage(stderr); return 2;
		}
	}
	if (step_ms && !window_ms)
		errx(2, "--step needs --window");

	struct ts_in *in = ts_in_open(prog, argv + optind, argc - optind, flags);
	ts_out_init(&out, 1, 1 << 20);
	ts_in_set_idle(in, ts_out_flush_cb, &out);
	struct ts_sample x;
	while (ts_in_next(in, &x) == 1)
		sample(&x);
	if (window_ms && step_ms) {
		for (size_t i = 0; i < ts_in_nseries(in); i++) {
			struct ts_series *ser = ts_in_series(in, i);
			struct st *s = ser->priv;
			/* up to the first step time at or after the last sample */
			if (s && s->eval_set && s->next_eval < ser->last_t + step_ms)
				eval_at(ser, s, s->next_eval);
		}
	}
	for (size_t i = 0; i < ts_in_nseries(in); i++) {
		struct st *s = ts_in_series(in, i)->priv;
		if (s)
			free(s->ring);
		free(s);
	}
	return ts_finish(prog, in, &out);
}
