/* obs-alert — threshold alerting on a value stream: one line per state change.
 *
 * Each sample of each series is evaluated against up to three levels
 * (warning < firing < critical; the positional condition is "firing"). A level
 * must hold for --for consecutive samples (a count) or for a duration before
 * the series enters it; meanwhile it is "pending". Once active, a series
 * returns to "ok" when no level holds any more or, with --clear, only when the
 * clear condition holds (hysteresis); in between it stays where it is or
 * steps down to the highest level still holding. With --nodata, a series
 * with no sample for that long becomes "nodata" (from the data's timestamps,
 * and with --follow also from the wall clock).
 *
 * Output: "[PREFIX]TIME STATE VALUE" per transition. Exit status: 0 when every
 * series ended ok/pending/nodata, 1 when one ended warning/firing/critical,
 * 2 on an error. */
#include <limits.h>
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/num.h"
#include "core/obstime.h"
#include "alert_am.h"
#include "alert_tool.h"
#include "tool_stream.h"

static const char *prog = "obs-alert";

enum state { S_OK, S_WARNING, S_FIRING, S_CRITICAL, S_PENDING, S_NODATA };
static const char *state_name[] = { "ok", "warning", "firing", "critical", "pending", "nodata" };

enum op { OP_GT, OP_GE, OP_LT, OP_LE, OP_EQ, OP_NE, OP_INSIDE, OP_OUTSIDE };

struct cond {
	int set;
	enum op op;
	double a, b;
	const char *text;
};

static struct cond levels[4];  /* [S_WARNING..S_CRITICAL] */
static struct cond clear;
static long for_count;         /* consecutive samples, 0 = immediate */
static int64_t for_ms;         /* or a duration */
static int64_t nodata_ms;
static const char *exec_cmd;
static int follow;
static int time_fmt = -1;
static struct ts_out out;
static int exec_failed;

struct st {
	enum state state;
	long count;            /* consecutive samples with some level holding */
	int64_t since;         /* time of the first of them */
	long esc_count;        /* escalation while active */
	int64_t esc_since;
	int64_t last_t;        /* data time of the last sample */
	int64_t last_wall;     /* wall clock of its arrival (--follow) */
	enum obs_time_fmt fmt;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: obs-alert [-fqh] [-F for] [-w cond] [-c cond] [-C cond] "
		   "[-n duration] [-e command] [-T format] [condition] [file ...]\n"
		   "       obs-alert check-config file ...\n"
		   "       obs-alert silence add -m mnt [-n name] [-d duration | -u until] [-s start] "
		   "[-a author] [-c comment] matcher ...\n"
		   "       obs-alert silence query -m mnt [-q] [--expired] [matcher ...]\n"
		   "       obs-alert silence expire -m mnt name | id ...\n"
		   "       obs-alert rules [-m mnt] [-q]\n"
		   "       obs-alert state [-m mnt] [-s firing | pending | inactive] [matcher ...]\n"
		   "       obs-alert test testfile ...\n"
		   "       obs-alert check rulefile ...\n");
}

static int num(const char *s, size_t n, double *v)
{
	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return obs_num_parse(s, n, v);
}

/* "> 100", ">=1e3", "< 0.5", "== 0", "!= 1", "between 1..5", "outside 1..5". */
static int cond_parse(const char *s, struct cond *c)
{
	static const struct { const char *w; enum op op; } ops[] = {
		{ ">=", OP_GE }, { "<=", OP_LE }, { "==", OP_EQ }, { "!=", OP_NE },
		{ ">", OP_GT }, { "<", OP_LT }, { "=", OP_EQ },
		{ "between", OP_INSIDE }, { "inside", OP_INSIDE }, { "outside", OP_OUTSIDE },
	};
	const char *p = s;
	while (*p == ' ' || *p == '\t')
		p++;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t k = strlen(ops[i].w);
		if (strncmp(p, ops[i].w, k) != 0)
			continue;
		const char *r = p + k;
		c->op = ops[i].op;
		c->text = s;
		if (c->op == OP_INSIDE || c->op == OP_OUTSIDE) {
			const char *dd = strstr(r, "..");
			if (!dd || num(r, (size_t)(dd - r), &c->a) < 0 ||
			    num(dd + 2, strlen(dd + 2), &c->b) < 0 || c->a > c->b)
				return -1;
		} else if (num(r, strlen(r), &c->a) < 0) {
			return -1;
		}
		c->set = 1;
		return 0;
	}
	return -1;
}

static int holds(const struct cond *c, double v)
{
	switch (c->op) {
	case OP_GT: return v > c->a;
	case OP_GE: return v >= c->a;
	case OP_LT: return v < c->a;
	case OP_LE: return v <= c->a;
	case OP_EQ: return v == c->a;
	case OP_NE: return v != c->a && !isnan(v);
	case OP_INSIDE: return v >= c->a && v <= c->b;
	case OP_OUTSIDE: return v < c->a || v > c->b;
	}
	return 0;
}

static enum obs_time_fmt ofmt(enum obs_time_fmt f)
{
	return time_fmt >= 0 ? (enum obs_time_fmt)time_fmt : f;
}

static void run_exec(const struct ts_series *ser, enum state prev, enum state now,
		     const char *tbuf, const char *vbuf, const char *since)
{
	ts_out_flush(&out);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		warn("fork");
		exec_failed = 1;
		return;
	}
	if (pid == 0) {
		const char *cond = "";
		if (now >= S_WARNING && now <= S_CRITICAL)
			cond = levels[now].text;
		else if (now == S_OK && clear.set)
			cond = clear.text;
		setenv("OBS_ALERT_STATE", state_name[now], 1);
		setenv("OBS_ALERT_PREV", state_name[prev], 1);
		setenv("OBS_ALERT_VALUE", vbuf, 1);
		setenv("OBS_ALERT_TIME", tbuf, 1);
		setenv("OBS_ALERT_SERIES", ser->name, 1);
		setenv("OBS_ALERT_COND", cond, 1);
		setenv("OBS_ALERT_SINCE", since, 1);
		execl("/bin/sh", "sh", "-c", exec_cmd, (char *)NULL);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			warn("waitpid");
			return;
		}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		warnx("command failed (%s %d) on transition to %s",
		      WIFEXITED(status) ? "exit status" : "signal",
		      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), state_name[now]);
		exec_failed = 1;
	}
}

static void transition(const struct ts_series *ser, struct st *s, enum state now, int64_t t,
		       double v)
{
	enum state prev = s->state;
	char tbuf[40], vbuf[32], since[40] = "";
	if (prev == now)
		return;
	s->state = now;
	obs_time_format(t, ofmt(s->fmt), tbuf);
	obs_num_format(v, vbuf);
	if (s->count)
		obs_time_format(s->since, ofmt(s->fmt), since);
	ts_out_mem(&out, ser->prefix, ser->prefix_len);
	ts_out_str(&out, tbuf);
	ts_out_char(&out, ' ');
	ts_out_str(&out, state_name[now]);
	ts_out_char(&out, ' ');
	ts_out_str(&out, vbuf);
	ts_out_eol(&out);
	if (exec_cmd)
		run_exec(ser, prev, now, tbuf, vbuf, since);
}

static enum state level_of(double v)
{
	for (int l = S_CRITICAL; l >= S_WARNING; l--)
		if (levels[l].set && holds(&levels[l], v))
			return (enum state)l;
	return S_OK;
}

static int for_done(long count, int64_t since, int64_t t)
{
	if (for_ms)
		return t - since >= for_ms;
	return count >= for_count;
}

static void evaluate(const struct ts_series *ser, struct st *s, int64_t t, double v)
{
	enum state cand = level_of(v);
	int active = s->state >= S_WARNING && s->state <= S_CRITICAL;

	if (active) {
		if (cand > s->state) {
			if (s->esc_count++ == 0)
				s->esc_since = t;
			if (for_done(s->esc_count, s->esc_since, t)) {
				s->esc_count = 0;
				transition(ser, s, cand, t, v);
			}
			return;
		}
		s->esc_count = 0;
		if (cand != S_OK) {
			transition(ser, s, cand, t, v); /* same level or a step down */
			return;
		}
		if (!clear.set || holds(&clear, v)) {
			s->count = 0;
			transition(ser, s, S_OK, t, v);
		}
		return;
	}
	if (cand == S_OK) {
		s->count = 0;
		transition(ser, s, S_OK, t, v);
		return;
	}
	if (s->count++ == 0)
		s->since = t;
	if (for_done(s->count, s->since, t))
		transition(ser, s, cand, t, v);
	else
		transition(ser, s, S_PENDING, t, v);
}

static void go_nodata(const struct ts_series *ser, struct st *s, int64_t t)
{
	s->count = s->esc_count = 0;
	transition(ser, s, S_NODATA, t, NAN);
}

static void sample(const struct ts_sample *x)
{
	struct st *s = x->s->priv;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			err(2, "out of memory");
		x->s->priv = s;
		s->last_t = x->t;
	}
	s->fmt = x->fmt;
	if (nodata_ms && x->t - s->last_t > nodata_ms && s->state != S_NODATA)
		go_nodata(x->s, s, s->last_t + nodata_ms);
	s->last_t = x->t;
	if (follow)
		s->last_wall = obs_time_now();
	evaluate(x->s, s, x->t, x->v);
}

/* --follow: series silent for nodata_ms of wall-clock time. */
static void wall_nodata(struct ts_in *in)
{
	int64_t now = obs_time_now();
	for (size_t i = 0; i < ts_in_nseries(in); i++) {
		struct ts_series *ser = ts_in_series(in, i);
		struct st *s = ser->priv;
		if (s && s->state != S_NODATA && now - s->last_wall >= nodata_ms)
			go_nodata(ser, s, now);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "for", required_argument, NULL, 'F' },
		{ "warn", required_argument, NULL, 'w' },
		{ "crit", required_argument, NULL, 'c' },
		{ "clear", required_argument, NULL, 'C' },
		{ "nodata", required_argument, NULL, 'n' },
		{ "exec", required_argument, NULL, 'e' },
		{ "follow", no_argument, NULL, 'f' },
		{ "time-format", required_argument, NULL, 'T' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned flags = 0;
	int c;

	int am = alert_am_main(argc, argv);   /* check-config, silence ... */
	if (am >= 0)
		return am;
	/* the rule subcommands (promtool's words) */
	if (argc > 1 && !strcmp(argv[1], "test"))
		return alert_cmd_test(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "check"))
		return alert_cmd_check(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "rules"))
		return alert_cmd_rules(getenv("OBS_MOUNT"), argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "state"))
		return alert_cmd_state(getenv("OBS_MOUNT"), argc - 1, argv + 1);

	while ((c = getopt_long(argc, argv, "F:w:c:C:n:e:fT:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'F': {
			unsigned long n = 0;
			if (ts_count_or_duration(optarg, &n, &for_ms) < 0 || n > LONG_MAX)
				errx(2, "invalid --for '%s' (a count or a duration)", optarg);
			for_count = (long)n;
			break;
		}
		case 'w':
		case 'c':
		case 'C': {
			struct cond *cd = c == 'w' ? &levels[S_WARNING] :
					  c == 'c' ? &levels[S_CRITICAL] : &clear;
			if (cond_parse(optarg, cd) < 0)
				errx(2, "invalid condition '%s'", optarg);
			break;
		}
		case 'n':
			if (obs_duration_parse(optarg, strlen(optarg), &nodata_ms) < 0 || !nodata_ms)
				errx(2, "invalid duration '%s'", optarg);
			break;
		case 'e': exec_cmd = optarg; break;
		case 'f': follow = 1; break;
		case 'T': time_fmt = ts_time_fmt_arg(optarg); break;
		case 'q': flags |= TS_QUIET; break;
		case 'h': usage(stdout); return fclose(stdout) ? 2 : 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc && cond_parse(argv[optind], &levels[S_FIRING]) == 0)
		optind++;
	else if (!levels[S_WARNING].set && !levels[S_CRITICAL].set) {
		if (optind < argc)
			errx(2, "invalid condition '%s'", argv[optind]);
		usage(stderr);
		return 2;
	}

	struct ts_in *in = ts_in_open(prog, argv + optind, argc - optind, flags);
	ts_out_init(&out, 1, follow ? 4096 : 1 << 16);
	out.line_buffered = follow;
	ts_in_set_idle(in, ts_out_flush_cb, &out);
	if (follow && nodata_ms)
		ts_in_set_timeout(in, (int)(nodata_ms / 4 > 50 ? (nodata_ms / 4 < 1000 ? nodata_ms / 4 : 1000) : 50));
	struct ts_sample x;
	int r;
	while ((r = ts_in_next(in, &x)) != 0) {
		if (r == 1)
			sample(&x);
		if (follow && nodata_ms)
			wall_nodata(in);
	}
	int firing = 0;
	for (size_t i = 0; i < ts_in_nseries(in); i++) {
		struct st *s = ts_in_series(in, i)->priv;
		if (s && s->state >= S_WARNING && s->state <= S_CRITICAL)
			firing = 1;
		free(s);
	}
	if (ts_finish(prog, in, &out))
		return 2;
	return firing;
}
