/* obs-grep — structured log search.
 *
 * Filter mode (no mount): reads log lines (JSON, logfmt, nginx/apache,
 * plain) from files or stdin and prints those matching the query language of
 * lib/logs/logquery.h, with an optional time range on the time each line
 * carries. Mount mode (a mount path as first operand, or $OBS_MOUNT with -s):
 * opens MOUNT/logs/STREAM@RANGE?QUERY[#count|#by=F] — the daemon answers from
 * its index — and prints what it serves, reformatted by -o. Both modes print
 * the same records for the same data. */
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/obstime.h"
#include "logs/logline.h"
#include "logs/logquery.h"


enum ofmt { O_RAW, O_JSON, O_LOGFMT };

static enum ofmt ofmt = O_RAW;
static int count_only;
static const char *by;
static struct obs_logquery *query;
static int64_t t_from = OBS_TIME_MIN, t_to = OBS_TIME_MAX;
static int ranged;
static int with_time;
static int status = 1;

static void usage(FILE *f)
{
	fprintf(f, "usage: obs-grep [-cTh] [-s stream] [-t range | -a time [-w window]] [-b field]\n"
		   "                [-o raw|json|logfmt] [-f file]... [mount] query ...\n");
}

static void json_str(FILE *o, const char *s, size_t n)
{
	fputc('"', o);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			fprintf(o, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", o);
		else if (c == '\t')
			fputs("\\t", o);
		else if (c < 0x20)
			fprintf(o, "\\u%04x", c);
		else
			fputc(c, o);
	}
	fputc('"', o);
}

static void logfmt_val(FILE *o, const char *s, size_t n)
{
	int q = n == 0;
	for (size_t i = 0; i < n && !q; i++)
		q = s[i] == ' ' || s[i] == '"' || s[i] == '=' || s[i] == '\t';
	if (!q) {
		fwrite(s, 1, n, o);
		return;
	}
	fputc('"', o);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			fputc('\\', o);
		fputc(s[i], o);
	}
	fputc('"', o);
}

struct emit_ctx {
	FILE *o;
	int first;
	const char *line;
	size_t n;
	int json_src;
};

static int emit_field(void *ctx, const char *k, size_t kn, const char *v, size_t vn)
{
	struct emit_ctx *e = ctx;
	if ((kn == 4 && !memcmp(k, "line", 4)) || (kn == 4 && !memcmp(k, "time", 4)))
		return 0;
	if (ofmt == O_JSON) {
		fputc(',', e->o);
		json_str(e->o, k, kn);
		fputc(':', e->o);
		if (e->json_src) {   /* value keeps its JSON escapes */
			fputc('"', e->o);
			fwrite(v, 1, vn, e->o);
			fputc('"', e->o);
		} else
			json_str(e->o, v, vn);
	} else {
		fputc(' ', e->o);
		fwrite(k, 1, kn, e->o);
		fputc('=', e->o);
		logfmt_val(e->o, v, vn);
	}
	return 0;
}

/* print one record; tstr is the record's time text (may be NULL: none) */
static void emit(const char *stream, const char *tstr, size_t tn, const char *line, size_t n)
{
	FILE *o = stdout;
	if (ofmt == O_RAW) {
		if (stream)
			fprintf(o, "%s:", stream);
		if (tstr) {
			fwrite(tstr, 1, tn, o);
			fputc(' ', o);
		}
		fwrite(line, 1, n, o);
		fputc('\n', o);
		return;
	}
	enum obs_logline_fmt lf;
	struct emit_ctx e = { o, 1, line, n, 0 };
	if (ofmt == O_JSON) {
		fputc('{', o);
		fputs("\"time\":", o);
		if (tstr)
			json_str(o, tstr, tn);
		else
			fputs("null", o);
		if (stream) {
			fputs(",\"stream\":", o);
			json_str(o, stream, strlen(stream));
		}
		e.json_src = n && line[0] == '{';
		obs_logline_fields(line, n, emit_field, &e, &lf);
		fputs(",\"line\":", o);
		json_str(o, line, n);
		fputs("}\n", o);
	} else {
		fputs("time=", o);
		if (tstr)
			fwrite(tstr, 1, tn, o);
		if (stream) {
			fputs(" stream=", o);
			logfmt_val(o, stream, strlen(stream));
		}
		obs_logline_fields(line, n, emit_field, &e, &lf);
		fputs(" line=", o);
		logfmt_val(o, line, n);
		fputc('\n', o);
	}
}

/* ---- filter mode --------------------------------------------------------- */

struct byc {
	char *v;
	size_t vn;
	unsigned long long c;
};

static struct byc *byv;
static size_t nby;
static unsigned long long total;

static void by_add(const char *v, size_t vn)
{
	const char *ln = v && obs_logfield_is_level(by, strlen(by)) ? obs_loglevel_name(obs_loglevel_rank(v, vn)) : NULL;
	if (ln) {
		v = ln;
		vn = strlen(ln);
	}
	for (size_t i = 0; i < nby; i++)
		if ((!v && !byv[i].v) || (v && byv[i].v && byv[i].vn == vn && !memcmp(byv[i].v, v, vn))) {
			byv[i].c++;
			return;
		}
	byv = realloc(byv, (nby + 1) * sizeof(*byv));
	if (!byv)
		err(2, "out of memory");
	byv[nby].v = v ? strndup(v, vn) : NULL;
	byv[nby].vn = vn;
	byv[nby].c = 1;
	nby++;
}

static int cmp_byc(const void *a, const void *b)
{
	const struct byc *x = a, *y = b;
	if (x->c != y->c)
		return x->c < y->c ? 1 : -1;
	if (!x->v || !y->v)
		return !x->v - !y->v;
	return strcmp(x->v, y->v);
}

static void filter_file(FILE *f, int64_t now)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] == '\n')
			n--;
		if (n && line[n - 1] == '\r')
			n--;
		int64_t ts;
		int has_t = obs_logline_time(line, (size_t)n, now, &ts) == 0;
		if (ranged && (!has_t || ts < t_from || ts > t_to))
			continue;
		if (!obs_logquery_match(query, line, (size_t)n))
			continue;
		status = 0;
		total++;
		if (by) {
			const char *v;
			size_t vn;
			if (obs_logline_field(line, (size_t)n, by, &v, &vn))
				by_add(v, vn);
			else
				by_add(NULL, 0);
		} else if (!count_only) {
			char t[40] = "-";
			int tl = has_t ? obs_time_format(ts, OBS_TIME_RFC3339, t) : 1;
			if (ofmt == O_RAW && !with_time)
				emit(NULL, NULL, 0, line, (size_t)n);
			else
				emit(NULL, has_t || ofmt == O_RAW ? t : NULL, (size_t)tl, line, (size_t)n);
		}
	}
	free(line);
}

/* ---- mount mode ------------------------------------------------------------ */

static int mount_stream(const char *mnt, const char *stream, const char *range, const char *qtext, int prefix)
{
	struct obs_buf p;
	obs_buf_init(&p);
	obs_buf_printf(&p, "%s/logs/%s", mnt, stream);
	if (range)
		obs_buf_printf(&p, "@%s", range);
	if (qtext && *qtext) {
		obs_buf_putc(&p, '?');
		for (const char *c = qtext; *c; c++) {
			if (*c == '/' || *c == '%' || *c == '#' || *c == '?')
				obs_buf_printf(&p, "%%%02X", (unsigned char)*c);
			else
				obs_buf_putc(&p, *c);
		}
	}
	if (by)
		obs_buf_printf(&p, "#by=%s", by);
	else if (count_only)
		obs_buf_puts(&p, "#count");
	const char *base = strrchr(p.data, '/') + 1;
	if (strlen(base) > 255) {
		warnx("search name too long for the mount (%zu bytes > 255)", strlen(base));
		obs_buf_release(&p);
		return -1;
	}
	FILE *f = fopen(p.data, "r");
	if (!f) {
		warn("cannot open '%s'", p.data);
		obs_buf_release(&p);
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] == '\n')
			line[--n] = 0;
		if (by || count_only) {
			unsigned long long c = strtoull(line, NULL, 10);
			if (count_only && !by) {
				total += c;
				if (c)
					status = 0;
				continue;
			}
			if (c)
				status = 0;
			if (prefix)
				printf("%s:", stream);
			puts(line);
			continue;
		}
		status = 0;
		char *sp = memchr(line, ' ', (size_t)n);
		if (!sp) {
			emit(prefix ? stream : NULL, NULL, 0, line, (size_t)n);
			continue;
		}
		emit(prefix ? stream : NULL, ofmt == O_RAW && !with_time ? NULL : line,
		     ofmt == O_RAW && !with_time ? 0 : (size_t)(sp - line), sp + 1, (size_t)(n - (sp + 1 - line)));
	}
	int e = ferror(f);
	fclose(f);
	free(line);
	obs_buf_release(&p);
	if (e) {
		warnx("read error on '%s/logs/%s'", mnt, stream);
		return -1;
	}
	return 0;
}

static int is_mount(const char *p)
{
	char b[4096];
	struct stat st;
	snprintf(b, sizeof(b), "%s/logs", p);
	return stat(b, &st) == 0 && S_ISDIR(st.st_mode);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "stream", required_argument, 0, 's' }, { "time", required_argument, 0, 't' },
		{ "count", no_argument, 0, 'c' }, { "by", required_argument, 0, 'b' },
		{ "output", required_argument, 0, 'o' }, { "file", required_argument, 0, 'f' },
		{ "around", required_argument, 0, 'a' }, { "window", required_argument, 0, 'w' },
		{ "with-time", no_argument, 0, 'T' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	const char *stream = NULL, *range = NULL, *around = NULL, *window = NULL;
	static char **files;   /* static: still reachable when errx() exits */
	int nfiles = 0, c;
	while ((c = getopt_long(argc, argv, "s:t:cb:o:f:a:w:Th", lo, NULL)) != -1) {
		switch (c) {
		case 's': stream = optarg; break;
		case 't': range = optarg; break;
		case 'c': count_only = 1; break;
		case 'T': with_time = 1; break;
		case 'b': by = optarg; break;
		case 'a': around = optarg; break;
		case 'w': window = optarg; break;
		case 'f':
			files = realloc(files, (size_t)(nfiles + 1) * sizeof(*files));
			if (!files)
				err(2, "out of memory");
			files[nfiles++] = optarg;
			break;
		case 'o':
			if (!strcmp(optarg, "raw")) ofmt = O_RAW;
			else if (!strcmp(optarg, "json")) ofmt = O_JSON;
			else if (!strcmp(optarg, "logfmt")) ofmt = O_LOGFMT;
			else {
				warnx("invalid output format '%s'", optarg);
				usage(stderr);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	int64_t now = obs_time_now();
	char rbuf[160];
	if (around) {
		int64_t at, w = 5 * 60000;
		if (obs_time_parse_rel(around, strlen(around), now, &at) < 0)
			errx(2, "invalid time '%s'", around);
		if (window && obs_duration_parse(window, strlen(window), &w) < 0)
			errx(2, "invalid duration '%s'", window);
		char a[40], b[40];
		obs_time_format(at - w, OBS_TIME_RFC3339, a);
		obs_time_format(at + w, OBS_TIME_RFC3339, b);
		snprintf(rbuf, sizeof(rbuf), "%s..%s", a, b);
		range = rbuf;
	} else if (window)
		errx(2, "-w needs -a");
	if (range) {
		if (obs_range_parse(range, strlen(range), now, &t_from, &t_to) < 0)
			errx(2, "invalid range '%s'", range);
		ranged = 1;
	}
	const char *mnt = NULL;
	if (optind < argc && is_mount(argv[optind]))
		mnt = argv[optind++];
	else if (stream && getenv("OBS_MOUNT") && *getenv("OBS_MOUNT"))
		mnt = getenv("OBS_MOUNT");
	if (stream && !mnt)
		errx(2, "-s needs a mount path (or OBS_MOUNT)");
	if (mnt && nfiles)
		errx(2, "-f cannot be used with a mount");
	struct obs_buf qt;
	obs_buf_init(&qt);
	for (int i = optind; i < argc; i++) {
		if (qt.len)
			obs_buf_putc(&qt, ' ');
		obs_buf_puts(&qt, argv[i]);
	}
	char emsg[200];
	if (obs_logquery_parse(qt.data ? qt.data : "", qt.len, &query, emsg, sizeof(emsg)) < 0)
		errx(2, "invalid query: %s", emsg);
	if (query->count)
		count_only = 1;
	if (query->by)
		by = query->by;

	int failed = 0;
	if (mnt) {
		if (stream) {
			failed = mount_stream(mnt, stream, range, qt.data, 0) < 0;
		} else {
			char d[4096];
			snprintf(d, sizeof(d), "%s/logs", mnt);
			DIR *dir = opendir(d);
			if (!dir)
				err(2, "cannot open '%s'", d);
			struct dirent *de;
			while ((de = readdir(dir)))
				if (de->d_name[0] != '.' && mount_stream(mnt, de->d_name, range, qt.data, 1) < 0)
					failed = 1;
			closedir(dir);
		}
	} else if (!nfiles) {
		filter_file(stdin, now);
	} else {
		for (int i = 0; i < nfiles; i++) {
			FILE *f = strcmp(files[i], "-") ? fopen(files[i], "r") : stdin;
			if (!f) {
				warn("cannot open '%s'", files[i]);
				failed = 1;
				continue;
			}
			filter_file(f, now);
			if (f != stdin)
				fclose(f);
		}
	}
	if (!mnt && by) {
		qsort(byv, nby, sizeof(*byv), cmp_byc);
		for (size_t i = 0; i < nby; i++) {
			printf("%llu %s\n", byv[i].c, byv[i].v ? byv[i].v : "-");
			free(byv[i].v);
		}
		free(byv);
	} else if (count_only && !by)
		printf("%llu\n", total);
	if (count_only && !by && total == 0)
		status = 1;
	obs_logquery_free(query);
	obs_buf_release(&qt);
	free(files);
	if (fclose(stdout) != 0) {
		warn("write error");
		return 2;
	}
	return failed ? 2 : status;
}
