/* obs-trace — render a trace as a waterfall; find traces by service,
 * operation, error, duration and attributes.
 *
 * Mount mode (-m MNT, or $OBS_MOUNT when no file is named): the waterfall
 * is drawn from MNT/traces/ID (the kept trace's spans as JSON lines) and
 * find reads the search view MNT/traces/@RANGE?QUERY, which the daemon
 * answers from its index. File mode: the named files (or stdin) hold
 * OTLP/JSON or simple JSON-lines spans; every trace in them is considered
 * (no sampling). Both modes print the same text for the same trace: the
 * renderer is lib/traces/waterfall.c. */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/fileio.h"
#include "core/obstime.h"
#include "traces/otlp.h"
#include "traces/span.h"
#include "traces/tquery.h"
#include "traces/waterfall.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: obs-trace [-jh] [-w width] [-m mount] trace-id [file ...]\n"
		   "       obs-trace find [-m mount] [-s service] [-o operation] [-e] [-d min-duration]\n"
		   "                      [-D max-duration] [-a key=value]... [-t range] [-n limit] [file ...]\n");
}

/* ---- spans in memory (file mode, and a trace read from a mount) ------------------ */

struct spans {
	struct obs_buf blobs;        /* (u32 len, blob)* */
	size_t n;
	int bad;
};

static int keep_span(void *ctx, const struct obs_span *s, const uint8_t *blob, size_t n)
{
	struct spans *sp = ctx;
	uint32_t l = (uint32_t)n;
	if (obs_buf_append(&sp->blobs, &l, 4) || obs_buf_append(&sp->blobs, blob, n))
		return -ENOMEM;
	sp->n++;
	return 0;
}

static const char *cur_file;

static void bad_doc(void *ctx, size_t lineno, const char *line, size_t n, const char *why)
{
	struct spans *sp = ctx;
	warnx("%s:%zu: %s", cur_file, lineno, why);
	sp->bad = 1;
}

static int read_file(const char *name, struct spans *sp)
{
	struct obs_buf b;
	obs_buf_init(&b);
	int e = strcmp(name, "-") ? obs_read_file_buf(name, 0, &b) : obs_read_fd_buf(0, 0, &b);
	if (e == -ENOMEM)
		errx(2, "out of memory");
	if (e) {
		warnx("cannot read '%s': %s", name, strerror(-e));
		obs_buf_release(&b);
		return -1;
	}
	struct obs_otlp_result res;
	cur_file = strcmp(name, "-") ? name : "(stdin)";
	int prc = obs_otlp_parse(b.data ? b.data : "", b.len, 1, 1, keep_span, bad_doc, sp, &res);
	if (prc && prc != -EINVAL)
		errx(2, "cannot parse '%s': %s", cur_file, strerror(-prc));
	obs_buf_release(&b);
	return 0;
}

struct view { struct obs_span *v; size_t n; };

static int by_trace(const void *a, const void *b)
{
	const struct obs_span *x = a, *y = b;
	int c = memcmp(x->trace_id, y->trace_id, 16);
	if (c)
		return c;
	return x->start_ns < y->start_ns ? -1 : x->start_ns > y->start_ns;
}

/* decoded views of every span, grouped by trace id */
static struct view decode_all(struct spans *sp)
{
	struct view v = { calloc(sp->n ? sp->n : 1, sizeof(struct obs_span)), 0 };
	if (!v.v)
		errx(2, "out of memory");
	size_t pos = 0;
	for (size_t i = 0; i < sp->n; i++) {
		uint32_t l;
		memcpy(&l, sp->blobs.data + pos, 4);
		if (!obs_span_decode((const uint8_t *)sp->blobs.data + pos + 4, l, &v.v[v.n]))
			v.n++;
		pos += 4 + l;
	}
	qsort(v.v, v.n, sizeof *v.v, by_trace);
	return v;
}

static int read_inputs(char **files, int nf, struct spans *sp)
{
	int rc = 0;
	if (!nf)
		return read_file("-", sp);
	for (int i = 0; i < nf; i++)
		if (read_file(files[i], sp))
			rc = -1;
	return rc;
}

/* ---- mount mode ----------------------------------------------------------------------- */

static const char *mount_of(const char *m, int nfiles)
{
	if (m)
		return m;
	if (!nfiles && getenv("OBS_MOUNT") && *getenv("OBS_MOUNT"))
		return getenv("OBS_MOUNT");
	return NULL;
}

/* %-encode what a file name cannot hold and what the query syntax uses */
static void enc(struct obs_buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '/' || *s == '%' || *s == '&' || *s == ' ' || *s == '#' || *s == '?' || (unsigned char)*s < 0x20)
			obs_buf_printf(b, "%%%02X", (unsigned char)*s);
		else
			obs_buf_putc(b, *s);
	}
}

/* ---- commands --------------------------------------------------------------------------- */

static int cmd_show(int argc, char **argv)
{
	const char *mnt = NULL;
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' }, { "mount", required_argument, NULL, 'm' },
		{ "width", required_argument, NULL, 'w' }, { "help", no_argument, NULL, 'h' }, { 0 }
	};
	int width = 40, json = 0, c;
	while ((c = getopt_long(argc, argv, "hjm:w:", lo, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'm': mnt = optarg; break;
		case 'w':
			width = atoi(optarg);
			if (width < 1 || width > 400)
				errx(2, "invalid width '%s'", optarg);
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind >= argc) {
		usage(stderr);
		exit(2);
	}
	const char *idt = argv[optind++];
	uint8_t id[16];
	if (obs_unhex(idt, strlen(idt), id, 16))
		errx(2, "invalid trace id '%s' (want 32 hex digits)", idt);
	char *files[argc];
	int nf = 0;
	for (; optind < argc; optind++)
		files[nf++] = argv[optind];
	struct spans sp = { { 0 }, 0, 0 };
	obs_buf_init(&sp.blobs);
	int rc = 0;
	if ((mnt = mount_of(mnt, nf))) {
		struct obs_buf path, text;
		obs_buf_init(&path);
		obs_buf_init(&text);
		obs_buf_printf(&path, "%s/traces/%s", mnt, idt);
		int e = obs_read_file_buf(path.data, 0, &text);
		if (e == -ENOENT) {
			warnx("no trace '%s' in '%s'", idt, mnt);
			exit(1);
		}
		if (e)
			errx(2, "cannot read '%s': %s", path.data, strerror(-e));
		cur_file = path.data;
		struct obs_otlp_result res;
		obs_otlp_parse(text.data ? text.data : "", text.len, 1, 1, keep_span, bad_doc, &sp, &res);
		obs_buf_release(&path);
		obs_buf_release(&text);
	} else if (read_inputs(files, nf, &sp))
		rc = 2;
	struct view v = decode_all(&sp);
	size_t a = 0;
	while (a < v.n && memcmp(v.v[a].trace_id, id, 16))
		a++;
	size_t b = a;
	while (b < v.n && !memcmp(v.v[b].trace_id, id, 16))
		b++;
	if (a == b) {
		warnx("no trace '%s'", idt);
		free(v.v);
		obs_buf_release(&sp.blobs);
		return rc ? rc : 1;
	}
	struct obs_buf out;
	obs_buf_init(&out);
	if (json)
		for (size_t i = a; i < b; i++)
			obs_span_json(&v.v[i], &out);
	else if (obs_waterfall(v.v + a, b - a, width, OBS_TIME_RFC3339, &out))
		errx(2, "out of memory");
	fwrite(out.data, 1, out.len, stdout);
	obs_buf_release(&out);
	free(v.v);
	obs_buf_release(&sp.blobs);
	return rc ? rc : sp.bad ? 2 : 0;
}

struct hit { struct obs_trace_summary s; };

static int hit_cmp(const void *x, const void *y)
{
	const struct hit *a = x, *b = y;
	return a->s.start_ns > b->s.start_ns ? -1 : a->s.start_ns < b->s.start_ns;
}

static int cmd_find(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "mount", required_argument, NULL, 'm' }, { "service", required_argument, NULL, 's' },
		{ "operation", required_argument, NULL, 'o' }, { "error", no_argument, NULL, 'e' },
		{ "min-duration", required_argument, NULL, 'd' }, { "max-duration", required_argument, NULL, 'D' },
		{ "attr", required_argument, NULL, 'a' }, { "time", required_argument, NULL, 't' },
		{ "limit", required_argument, NULL, 'n' }, { "help", no_argument, NULL, 'h' }, { 0 }
	};
	const char *mnt = NULL, *range = NULL;
	struct obs_buf q;
	obs_buf_init(&q);
	int c;
	int64_t ms;
	optind = 1;
	while ((c = getopt_long(argc, argv, "m:s:o:ed:D:a:t:n:h", lo, NULL)) != -1) {
		const char *sep = q.len ? "&" : "";
		switch (c) {
		case 'm': mnt = optarg; break;
		case 's': obs_buf_printf(&q, "%sservice=", sep); enc(&q, optarg); break;
		case 'o': obs_buf_printf(&q, "%soperation=", sep); enc(&q, optarg); break;
		case 'e': obs_buf_printf(&q, "%serror", sep); break;
		case 'd': case 'D':
			if (obs_duration_parse(optarg, strlen(optarg), &ms))
				errx(2, "invalid duration '%s'", optarg);
			obs_buf_printf(&q, "%sduration%s%s", sep, c == 'd' ? ">=" : "<=", optarg);
			break;
		case 'a': {
			const char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg)
				errx(2, "invalid attribute match '%s' (want key=value)", optarg);
			obs_buf_puts(&q, sep);
			char *k = strndup(optarg, (size_t)(eq - optarg));
			enc(&q, k);
			free(k);
			obs_buf_putc(&q, '=');
			enc(&q, eq + 1);
			break;
		}
		case 't': range = optarg; break;
		case 'n': obs_buf_printf(&q, "%slimit=%s", sep, optarg); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	int64_t now = obs_time_now(), from = OBS_TIME_MIN, to = OBS_TIME_MAX;
	if (range && obs_range_parse(range, strlen(range), now, &from, &to))
		errx(2, "invalid time range '%s'", range);
	struct obs_tq tq;
	char err[160];
	if (obs_tq_parse(q.data ? q.data : "", q.len, &tq, err, sizeof err))
		errx(2, "%s", err);
	char **files = argv + optind;
	int nf = argc - optind, rc = 0;
	struct obs_buf out;
	obs_buf_init(&out);
	if ((mnt = mount_of(mnt, nf))) {
		struct obs_buf path;
		obs_buf_init(&path);
		/* without -t: the "?QUERY" view, every kept trace */
		obs_buf_printf(&path, "%s/traces/", mnt);
		if (range) {
			obs_buf_putc(&path, '@');
			enc(&path, range);
		}
		obs_buf_printf(&path, "?%s", q.data ? q.data : "");
		int e = obs_read_file_buf(path.data, 0, &out);
		if (e)
			errx(2, "cannot read '%s': %s", path.data, strerror(-e));
		obs_buf_release(&path);
	} else {
		struct spans sp = { { 0 }, 0, 0 };
		obs_buf_init(&sp.blobs);
		if (read_inputs(files, nf, &sp) || sp.bad)
			rc = 2;
		struct view v = decode_all(&sp);
		struct hit *hits = calloc(v.n ? v.n : 1, sizeof *hits);
		size_t nh = 0;
		for (size_t a = 0, b; a < v.n; a = b) {
			for (b = a + 1; b < v.n && !memcmp(v.v[b].trace_id, v.v[a].trace_id, 16); b++)
				;
			if (!obs_tq_match(&tq, v.v + a, b - a))
				continue;
			obs_trace_summarize(v.v + a, b - a, &hits[nh].s);
			if (hits[nh].s.end_ns / 1000000 < from || hits[nh].s.start_ns / 1000000 > to)
				continue;
			nh++;
		}
		qsort(hits, nh, sizeof *hits, hit_cmp);
		for (size_t i = 0; i < nh && (!tq.limit || i < tq.limit); i++)
			obs_trace_summary_line(&hits[i].s, OBS_TIME_RFC3339, &out);
		free(hits);
		free(v.v);
		obs_buf_release(&sp.blobs);
	}
	fwrite(out.data, 1, out.len, stdout);
	int found = out.len > 0;
	obs_buf_release(&out);
	obs_buf_release(&q);
	obs_tq_release(&tq);
	return rc ? rc : found ? 0 : 1;
}

int main(int argc, char **argv)
{
	int rc;
	/* the mount may come first, as git's -C does: obs-trace -m MNT find ... */
	if (argc > 3 && !strcmp(argv[1], "-m") && !strcmp(argv[3], "find")) {
		char *mnt = argv[2];   /* -m MNT find ... becomes find -m MNT ... */
		argv[1] = "find";
		argv[2] = "-m";
		argv[3] = mnt;
	}
	if (argc > 1 && !strcmp(argv[1], "find"))
		rc = cmd_find(argc - 1, argv + 1);
	else
		rc = cmd_show(argc, argv);
	if (fclose(stdout))
		err(2, "stdout");
	return rc;
}
