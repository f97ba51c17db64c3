/* obs-spark — sparklines, terminal charts and SVG pictures of value streams.
 *
 * Reads the whole input (every series kept apart), then draws. A sparkline
 * uses one character per sample, or per column of time when there are more
 * samples than columns (each column shows the mean of its samples); NaN is a
 * blank, infinities sit at the edges and do not stretch the scale. A chart (-c) is HEIGHT rows with a value axis on the left and time
 * labels below, drawn in braille dots (2x4 per cell), block elements (-b) or
 * plain ASCII (-a); the width follows -W, COLUMNS or the terminal. No colour
 * is used in the terminal. --svg writes all series into one SVG picture. */
#include <err.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/num.h"
#include "core/obstime.h"
#include "core/vec.h"
#include "tool_stream.h"

static const char *prog = "obs-spark";

struct pt {
	int64_t t;
	double v;
};

struct ser {
	struct pt *p;
	size_t n, cap;
	double min, max;     /* over finite values; NaN if none */
};

static int ascii, chart, blocks, bare;
static int height = 10, width;
static const char *svg_file;
static int time_fmt = -1;
static struct ts_out out;

static const char *spark_utf8[8] = { "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" };
static const char spark_ascii[8] = { '_', '.', '-', ':', '=', '+', '*', '#' };

static void usage(FILE *f)
{
	fprintf(f, "usage: obs-spark [-abcnqh] [-H height] [-W width] [-s file] [-T format] "
		   "[file ...]\n");
}

static int term_width(void)
{
	const char *c = getenv("COLUMNS");
	if (c && atoi(c) > 0)
		return atoi(c);
	struct winsize ws;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

/* Resample s into ncol columns by time: the mean of each column's samples,
 * NaN for a column whose samples are all NaN. An empty column holds the
 * previous column's value when hold is set (charts), else is NaN. With no
 * more samples than columns and !hold, one column per sample (sparklines). */
static void columns(const struct ser *s, int ncol, double *col, int hold)
{
	if (!hold && (size_t)ncol >= s->n) {
		for (int i = 0; i < ncol; i++)
			col[i] = (size_t)i < s->n ? s->p[i].v : NAN;
		return;
	}
	double *sum = calloc((size_t)ncol, sizeof(double));
	int *cnt = calloc((size_t)ncol, sizeof(int)), *seen = calloc((size_t)ncol, sizeof(int));
	if (!sum || !cnt || !seen)
		err(2, "out of memory");
	int64_t t0 = s->p[0].t, span = s->p[s->n - 1].t - t0;
	for (size_t i = 0; i < s->n; i++) {
		int c = span ? (int)((double)(s->p[i].t - t0) / (double)span * (ncol - 1) + 0.5) : 0;
		seen[c] = 1;
		if (!isnan(s->p[i].v)) {
			sum[c] += s->p[i].v;
			cnt[c]++;
		}
	}
	for (int i = 0; i < ncol; i++) {
		if (cnt[i])
			col[i] = sum[i] / cnt[i];
		else if (!seen[i] && hold && i > 0)
			col[i] = col[i - 1];
		else
			col[i] = NAN;
	}
	free(sum);
	free(cnt);
	free(seen);
}

/* Level 0..nlev-1 of v between mn and mx; +Inf and -Inf sit at the edges. */
static int level(double v, double mn, double mx, int nlev)
{
	if (isinf(v))
		return v > 0 ? nlev - 1 : 0;
	double d = (v - mn) / (mx - mn) * (nlev - 1);
	if (mx == mn || isnan(d))
		return nlev / 2;
	int l = (int)floor(fmin(fmax(d + 0.5, -1), nlev));
	return l < 0 ? 0 : l >= nlev ? nlev - 1 : l;
}

static void sparkline(const struct ts_series *ts, const struct ser *s)
{
	char stats[128] = "";
	if (!bare) {
		char a[32], b[32], c[32];
		obs_num_format(s->min, a);
		obs_num_format(s->max, b);
		obs_num_format(s->p[s->n - 1].v, c);
		snprintf(stats, sizeof(stats), "  min=%s max=%s last=%s", a, b, c);
	}
	int label = ts->name[0] ? (int)strlen(ts->name) + 1 : 0;
	int ncol = width - label - (int)strlen(stats);
	if (ncol < 8)
		ncol = 8;
	if ((size_t)ncol > s->n)
		ncol = (int)s->n;
	double *col = malloc((size_t)ncol * sizeof(double));
	if (!col)
		err(2, "out of memory");
	columns(s, ncol, col, 0);
	if (label) {
		ts_out_str(&out, ts->name);
		ts_out_char(&out, ' ');
	}
	for (int i = 0; i < ncol; i++) {
		if (isnan(col[i]))
			ts_out_char(&out, ' ');
		else if (ascii)
			ts_out_char(&out, spark_ascii[level(col[i], s->min, s->max, 8)]);
		else
			ts_out_str(&out, spark_utf8[level(col[i], s->min, s->max, 8)]);
	}
	ts_out_str(&out, stats);
	ts_out_eol(&out);
	free(col);
}

/* UTF-8 of a code point below U+10000. */
static void put_cp(unsigned cp)
{
	char b[3];
	if (cp < 0x80) {
		ts_out_char(&out, (char)cp);
		return;
	}
	if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3f));
		ts_out_mem(&out, b, 2);
		return;
	}
	b[0] = (char)(0xe0 | cp >> 12);
	b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
	b[2] = (char)(0x80 | (cp & 0x3f));
	ts_out_mem(&out, b, 3);
}

/* A short time label: the part of the RFC3339 text that changes over span. */
static void time_label(int64_t t, int64_t span, enum obs_time_fmt fmt, char *buf)
{
	char full[40];
	if (fmt == OBS_TIME_EPOCH) {
		obs_time_format(t, OBS_TIME_EPOCH, buf);
		return;
	}
	obs_time_format(t, OBS_TIME_RFC3339, full);
	if (span < 600000)
		snprintf(buf, 32, "%.8s", full + 11);             /* HH:MM:SS */
	else if (span < 86400000)
		snprintf(buf, 32, "%.5s", full + 11);             /* HH:MM */
	else
		snprintf(buf, 32, "%.5s %.5s", full + 5, full + 11); /* MM-DD HH:MM */
}

static void draw_chart(const struct ts_series *ts, const struct ser *s, enum obs_time_fmt fmt)
{
	char lo[32], hi[32], mid[32];
	double mn = s->min, mx = s->max;
	if (isnan(mn))
		mn = mx = 0;
	obs_num_format(mx, hi);
	obs_num_format(mn, lo);
	obs_num_format(mn + (mx - mn) / 2, mid);
	int lw = (int)strlen(hi);
	if ((int)strlen(lo) > lw)
		lw = (int)strlen(lo);
	if ((int)strlen(mid) > lw)
		lw = (int)strlen(mid);
	int pw = width - lw - 2;
	if (pw < 10)
		pw = 10;
	int H = height < 2 ? 2 : height;
	int xs = ascii || blocks ? 1 : 2, ys = ascii ? 1 : blocks ? 8 : 4;
	int dw = pw * xs, dh = H * ys;
	unsigned char *dots = calloc((size_t)dw * (size_t)dh, 1);
	double *col = malloc((size_t)dw * sizeof(double));
	if (!dots || !col)
		err(2, "out of memory");
	columns(s, dw, col, 1);
	int prev = -1;
	for (int x = 0; x < dw; x++) {
		double v = col[x];
		if (isnan(v)) {
			prev = -1;
			continue;
		}
		int y = level(v, mn, mx, dh);
		if (blocks) {
			for (int k = 0; k <= y; k++)
				dots[(size_t)k * dw + x] = 1;
			continue;
		}
		int a = prev < 0 ? y : prev, b = y;
		if (a > b) {
			int tmp = a;
			a = b, b = tmp;
		}
		if (!ascii)
			for (int k = a; k <= b; k++)
				dots[(size_t)k * dw + x] = 1;
		else
			dots[(size_t)y * dw + x] = 1;
		prev = y;
	}
	if (ts->name[0]) {
		ts_out_str(&out, ts->name);
		ts_out_eol(&out);
	}
	for (int row = H - 1; row >= 0; row--) {
		const char *lab = row == H - 1 ? hi : row == 0 ? lo : row == H / 2 && H > 4 ? mid : "";
		for (int k = (int)strlen(lab); k < lw; k++)
			ts_out_char(&out, ' ');
		ts_out_str(&out, lab);
		ts_out_char(&out, ' ');
		if (ascii)
			ts_out_char(&out, '|');
		else
			put_cp(row == H - 1 || row == 0 || lab[0] ? 0x2524 : 0x2502); /* ┤ │ */
		int end = pw; /* no trailing blanks */
		while (end > 0) {
			int any = 0;
			for (int k = 0; k < ys && !any; k++)
				for (int dx = 0; dx < xs; dx++)
					any |= dots[(size_t)(row * ys + k) * dw + (end - 1) * xs + dx];
			if (any)
				break;
			end--;
		}
		for (int cx = 0; cx < end; cx++) {
			if (ascii) {
				ts_out_char(&out, dots[(size_t)row * dw + cx] ? '*' : ' ');
			} else if (blocks) {
				int fill = 0;
				for (int k = 0; k < 8; k++)
					fill += dots[(size_t)(row * 8 + k) * dw + cx];
				if (fill == 0)
					ts_out_char(&out, ' ');
				else
					ts_out_str(&out, spark_utf8[fill - 1]);
			} else {
				static const unsigned bit[4][2] = {
					{ 0x40, 0x80 }, { 0x04, 0x20 }, { 0x02, 0x10 }, { 0x01, 0x08 },
				};
				unsigned cp = 0;
				for (int dy = 0; dy < 4; dy++)
					for (int dx = 0; dx < 2; dx++)
						if (dots[(size_t)(row * 4 + dy) * dw + cx * 2 + dx])
							cp |= bit[dy][dx];
				if (cp)
					put_cp(0x2800 + cp);
				else
					ts_out_char(&out, ' ');
			}
		}
		ts_out_eol(&out);
	}
	for (int k = 0; k < lw + 1; k++)
		ts_out_char(&out, ' ');
	if (ascii)
		ts_out_char(&out, '+');
	else
		put_cp(0x2514); /* └ */
	for (int cx = 0; cx < pw; cx++) {
		if (ascii)
			ts_out_char(&out, '-');
		else
			put_cp(0x2500);
	}
	ts_out_eol(&out);
	/* time labels: first at the left edge, last at the right, more between */
	int64_t t0 = s->p[0].t, t1 = s->p[s->n - 1].t;
	char line[1024];
	int len = lw + 2 + pw;
	if (len > (int)sizeof(line) - 1)
		len = (int)sizeof(line) - 1;
	memset(line, ' ', (size_t)len);
	char lab[40];
	int64_t span = t1 - t0;
	time_label(t0, span, fmt, lab);
	int lablen = (int)strlen(lab);
	int left = lw + 2, right = len; /* label columns still free: [left, right) */
	memcpy(line + left, lab, (size_t)lablen);
	left += lablen + 2;
	if (span > 0) {
		time_label(t1, span, fmt, lab);
		int l = (int)strlen(lab);
		if (len - l >= left) {
			memcpy(line + len - l, lab, (size_t)l);
			right = len - l - 2;
		}
		int nlab = pw / (lablen + 8);
		for (int k = 1; k < nlab; k++) {
			int x = lw + 2 + (int)((double)k / nlab * (pw - 1));
			int64_t t = t0 + (int64_t)((double)span * k / nlab);
			t -= t % 1000; /* whole seconds */
			time_label(t, span, fmt, lab);
			l = (int)strlen(lab);
			int start = x - l / 2;
			if (start < left || start + l > right)
				continue;
			memcpy(line + start, lab, (size_t)l);
			left = start + l + 2;
		}
	}
	while (len > 0 && line[len - 1] == ' ')
		len--;
	ts_out_mem(&out, line, (size_t)len);
	ts_out_eol(&out);
	free(dots);
	free(col);
}

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '"')
			fputs("&quot;", f);
		else
			fputc(*s, f);
	}
}

static int write_svg(struct ts_in *in, struct ser *ss, size_t n, enum obs_time_fmt fmt)
{
	static const char *colors[] = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
					"#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf" };
	const double W = 800, H = 320, L = 70, R = 20, T = 20, B = 50;
	FILE *f = fopen(svg_file, "w");
	if (!f) {
		warn("%s", svg_file);
		return 1;
	}
	int64_t t0 = INT64_MAX, t1 = INT64_MIN;
	double mn = NAN, mx = NAN;
	for (size_t i = 0; i < n; i++) {
		if (!ss[i].n)
			continue;
		if (ss[i].p[0].t < t0)
			t0 = ss[i].p[0].t;
		if (ss[i].p[ss[i].n - 1].t > t1)
			t1 = ss[i].p[ss[i].n - 1].t;
		if (!isnan(ss[i].min) && !(ss[i].min >= mn))
			mn = ss[i].min;
		if (!isnan(ss[i].max) && !(ss[i].max <= mx))
			mx = ss[i].max;
	}
	if (isnan(mn))
		mn = mx = 0;
	double vr = mx > mn ? mx - mn : 1, tr = t1 > t0 ? (double)(t1 - t0) : 1;
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
		   "viewBox=\"0 0 %g %g\" font-family=\"sans-serif\" font-size=\"12\">\n",
		W, H, W, H);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
	fprintf(f, "<path d=\"M%g %gV%gH%g\" stroke=\"black\" fill=\"none\"/>\n", L, T, H - B,
		W - R);
	char a[40], b[40];
	obs_num_format(mx, a);
	obs_num_format(mn, b);
	fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"end\">%s</text>\n", L - 4, T + 4, a);
	fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"end\">%s</text>\n", L - 4, H - B, b);
	obs_time_format(t0, fmt, a);
	obs_time_format(t1, fmt, b);
	fprintf(f, "<text x=\"%g\" y=\"%g\">%s</text>\n", L, H - B + 16, a);
	fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"end\">%s</text>\n", W - R, H - B + 16, b);
	for (size_t i = 0; i < n; i++) {
		const char *color = colors[i % 10];
		int pen = 0;
		fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" d=\"", color);
		for (size_t k = 0; k < ss[i].n; k++) {
			double v = ss[i].p[k].v;
			if (!isfinite(v)) {
				pen = 0;
				continue;
			}
			double x = L + (double)(ss[i].p[k].t - t0) / tr * (W - L - R);
			double y = H - B - (v - mn) / vr * (H - T - B);
			fprintf(f, "%s%.2f %.2f", pen ? "L" : "M", x, y);
			pen = 1;
		}
		fprintf(f, "\"/>\n");
		const char *name = ts_in_series(in, i)->name;
		if (n > 1 || name[0]) {
			double ly = H - 12, lx = L + (double)i * 130;
			fprintf(f, "<rect x=\"%g\" y=\"%g\" width=\"10\" height=\"10\" fill=\"%s\"/>",
				lx, ly - 9, color);
			fprintf(f, "<text x=\"%g\" y=\"%g\">", lx + 14, ly);
			xml_text(f, name[0] ? name : "(series)");
			fprintf(f, "</text>\n");
		}
	}
	fprintf(f, "</svg>\n");
	if (fclose(f) != 0) {
		warn("%s", svg_file);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ascii", no_argument, NULL, 'a' },
		{ "blocks", no_argument, NULL, 'b' },
		{ "chart", no_argument, NULL, 'c' },
		{ "bare", no_argument, NULL, 'n' },
		{ "height", required_argument, NULL, 'H' },
		{ "width", required_argument, NULL, 'W' },
		{ "svg", required_argument, NULL, 's' },
		{ "time-format", required_argument, NULL, 'T' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned flags = TS_BARE;
	int c;

	while ((c = getopt_long(argc, argv, "abcnH:W:s:T:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'a': ascii = 1; break;
		case 'b': blocks = 1; break;
		case 'c': chart = 1; break;
		case 'n': bare = 1; break;
		case 'H':
			if ((height = atoi(optarg)) < 2 || height > 200)
				errx(2, "invalid height '%s'", optarg);
			break;
		case 'W':
			if ((width = atoi(optarg)) < 10 || width > 1000)
				errx(2, "invalid width '%s'", optarg);
			break;
		case 's': svg_file = optarg; break;
		case 'T': time_fmt = ts_time_fmt_arg(optarg); break;
		case 'q': flags |= TS_QUIET; break;
		case 'h': usage(stdout); return fclose(stdout) ? 2 : 0;
		default: usage(stderr); return 2;
		}
	}
	if (!width)
		width = term_width();
	if (ascii && blocks)
		errx(2, "--ascii and --blocks exclude each other");

	struct ts_in *in = ts_in_open(prog, argv + optind, argc - optind, flags);
	ts_out_init(&out, 1, 1 << 16);
	struct ser *ss = NULL;
	size_t nss = 0;
	enum obs_time_fmt fmt = OBS_TIME_RFC3339;
	struct ts_sample x;
	while (ts_in_next(in, &x) == 1) {
		while (x.s->id >= nss) {
			ss = realloc(ss, (nss + 1) * sizeof(*ss));
			if (!ss)
				err(2, "out of memory");
			memset(&ss[nss], 0, sizeof(*ss));
			ss[nss].min = ss[nss].max = NAN;
			nss++;
		}
		struct ser *s = &ss[x.s->id];
		if (OBS_VEC_RESERVE_FROM(s->p, s->cap, s->n + 1, 256))
			err(2, "out of memory");
		s->p[s->n++] = (struct pt){ x.t, x.v };
		if (isfinite(x.v)) {
			if (!(x.v >= s->min))
				s->min = x.v;
			if (!(x.v <= s->max))
				s->max = x.v;
		}
		fmt = x.fmt;
	}
	if (time_fmt >= 0)
		fmt = (enum obs_time_fmt)time_fmt;
	int rc = 0;
	for (size_t i = 0; i < nss; i++) {
		if (!ss[i].n)
			continue;
		if (chart)
			draw_chart(ts_in_series(in, i), &ss[i], fmt);
		else if (!svg_file || chart)
			sparkline(ts_in_series(in, i), &ss[i]);
	}
	if (svg_file && write_svg(in, ss, nss, fmt))
		rc = 1;
	for (size_t i = 0; i < nss; i++)
		free(ss[i].p);
	free(ss);
	return ts_finish(prog, in, &out) || rc;
}
