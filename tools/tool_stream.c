/* tool_stream.c — the "TIME VALUE" line stream shared by the pipeline tools.
 *
 * Input is read in large blocks with read(2) and parsed in place: a line is
 * located with memchr, split from the right (VALUE, then TIME, then the
 * prefix), and handed out as a ts_sample; no per-line allocation. Output is
 * collected in one large buffer and written with write(2). See tool_stream.h
 * for the format. */
#include "tool_stream.h"

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/num.h"
#include "core/strmap.h"
#include "core/vec.h"

#define IN_BLOCK (1u << 20)

struct ts_in {
	const char *prog;
	char **files;
	int nfiles, next_file;
	unsigned flags;
	int fd;                 /* -1: open the next file */
	int fd_regular;
	int eof;
	const char *fname;
	unsigned long line;
	char *buf;
	size_t cap, start, len; /* unparsed bytes are buf[start..len) */
	int timeout_ms;
	void (*idle)(void *);
	void *idle_arg;
	unsigned long errors;
	int keyed;
	struct obs_strmap *map;
	struct ts_series **series;
	size_t nseries, series_cap;
	struct ts_series *last;
};

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		err(2, "out of memory");
	return p;
}

struct ts_in *ts_in_open(const char *prog, char **files, int nfiles, unsigned flags)
{
	struct ts_in *in = xmalloc(sizeof(*in));
	memset(in, 0, sizeof(*in));
	in->prog = prog;
	in->files = files;
	in->nfiles = nfiles;
	in->flags = flags;
	in->fd = -1;
	in->timeout_ms = -1;
	in->cap = IN_BLOCK;
	in->buf = xmalloc(in->cap);
	in->map = obs_strmap_new();
	if (!in->map)
		err(2, "out of memory");
	return in;
}

void ts_in_set_timeout(struct ts_in *in, int ms)
{
	in->timeout_ms = ms;
}

void ts_in_set_idle(struct ts_in *in, void (*fn)(void *), void *arg)
{
	in->idle = fn;
	in->idle_arg = arg;
}

unsigned long ts_in_errors(const struct ts_in *in)
{
	return in->errors;
}

size_t ts_in_nseries(const struct ts_in *in)
{
	return in->nseries;
}

struct ts_series *ts_in_series(const struct ts_in *in, size_t id)
{
	return id < in->nseries ? in->series[id] : NULL;
}

int ts_in_keyed(const struct ts_in *in)
{
	return in->keyed;
}

void ts_in_close(struct ts_in *in)
{
	if (!in)
		return;
	if (in->fd > 0)
		close(in->fd);
	for (size_t i = 0; i < in->nseries; i++) {
		free(in->series[i]->prefix);
		free(in->series[i]->name);
		free(in->series[i]);
	}
	free(in->series);
	obs_strmap_free(in->map);
	free(in->buf);
	free(in);
}

/* Open the next input; 0 when there is none left. */
static int next_file(struct ts_in *in)
{
	for (;;) {
		if (in->next_file >= in->nfiles && !(in->nfiles == 0 && in->next_file == 0))
			return 0;
		const char *f = in->nfiles ? in->files[in->next_file] : "-";
		in->next_file++;
		if (strcmp(f, "-") == 0) {
			in->fd = 0;
			in->fname = "stdin";
		} else {
			in->fd = open(f, O_RDONLY | O_CLOEXEC);
			if (in->fd < 0) {
				warn("%s", f);
				in->errors++;
				continue;
			}
			in->fname = f;
		}
		struct stat st;
		in->fd_regular = fstat(in->fd, &st) == 0 && S_ISREG(st.st_mode);
		in->line = 0;
		in->eof = 0;
		return 1;
	}
}

static void bad(struct ts_in *in, const char *what, const char *p, size_t n)
{
	in->errors++;
	if (in->flags & TS_QUIET)
		return;
	if (n > 80)
		n = 80;
	fprintf(stderr, "%s: %s:%lu: %s '%.*s'\n", in->prog, in->fname, in->line, what,
		(int)n, p);
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static struct ts_series *series_get(struct ts_in *in, const char *p, size_t n)
{
	struct ts_series *s = in->last;
	if (s && s->prefix_len == n && memcmp(s->prefix, p, n) == 0)
		return s;
	uint64_t h = obs_strmap_hash(p, n);
	s = obs_strmap_get(in->map, h, p, n);
	if (!s) {
		s = xmalloc(sizeof(*s));
		memset(s, 0, sizeof(*s));
		s->prefix = xmalloc(n + 1);
		memcpy(s->prefix, p, n);
		s->prefix[n] = '\0';
		s->prefix_len = n;
		size_t k = n;
		while (k > 0 && (is_blank(p[k - 1]) || p[k - 1] == ':'))
			k--;
		s->name = xmalloc(k + 1);
		memcpy(s->name, p, k);
		s->name[k] = '\0';
		s->id = in->nseries;
		if (OBS_VEC_RESERVE_FROM(in->series, in->series_cap, in->nseries + 1, 16))
			err(2, "out of memory");
		in->series[in->nseries++] = s;
		if (obs_strmap_put(in->map, h, s->prefix, n, s) < 0)
			err(2, "out of memory");
		if (n)
			in->keyed = 1;
	}
	in->last = s;
	return s;
}

/* Parse one line (no newline). 1: *out filled, 0: skipped. */
static int parse_line(struct ts_in *in, char *p, size_t n, struct ts_sample *out)
{
	char *b = p, *e = p + n;
	if (e > b && e[-1] == '\r')
		e--;
	while (b < e && is_blank(*b))
		b++;
	while (e > b && is_blank(e[-1]))
		e--;
	if (b == e || *b == '#')
		return 0;
	char *ve = e, *vb = e;
	while (vb > b && !is_blank(vb[-1]))
		vb--;
	char *te = vb;
	while (te > b && is_blank(te[-1]))
		te--;
	if (te == b && !(in->flags & TS_BARE)) {
		bad(in, "missing time in", b, (size_t)(e - b));
		return 0;
	}
	double v;
	if (obs_num_parse_sample(vb, (size_t)(ve - vb), &v) < 0) {
		bad(in, "invalid value", vb, (size_t)(ve - vb));
		return 0;
	}
	if (obs_is_stale(v))
		return 0;   /* a staleness marker (export's `stale`): no sample */
	if (te == b) {
		out->s = series_get(in, "", 0);
		out->t = (int64_t)in->line * 1000;
		out->v = v;
		out->fmt = OBS_TIME_EPOCH;
		goto check;
	}
	char *tb = te;
	while (tb > b && !is_blank(tb[-1]))
		tb--;
	int64_t t;
	/* RFC3339 with a blank between date and time: "2026-11-21 10:00:00Z" */
	if (tb - b >= 11 && tb[-1] == ' ' && tb[-7] == '-' && tb[-4] == '-' &&
	    (tb - 11 == b || is_blank(tb[-12]) || tb[-12] == ':') &&
	    obs_time_parse(tb - 11, (size_t)(te - tb + 11), &t) == 0) {
		tb -= 11;
	} else if (obs_time_parse(tb, (size_t)(te - tb), &t) < 0) {
		/* "FILE:TIME": the leftmost ':' after which a time parses */
		char *c = tb;
		for (;;) {
			c = memchr(c, ':', (size_t)(te - c));
			if (!c) {
				bad(in, "invalid time", tb, (size_t)(te - tb));
				return 0;
			}
			c++;
			if (c < te && obs_time_parse(c, (size_t)(te - c), &t) == 0)
				break;
		}
		tb = c;
	}
	out->fmt = (te - tb >= 10 && tb[4] == '-') ? OBS_TIME_RFC3339 : OBS_TIME_EPOCH;
	out->s = series_get(in, b, (size_t)(tb - b));
	out->t = t;
	out->v = v;
check:
	out->file = in->fname;
	out->line = in->line;
	if (out->s->has_last && out->t <= out->s->last_t && !(in->flags & TS_UNSORTED)) {
		bad(in, out->t == out->s->last_t ? "duplicate timestamp" : "out-of-order sample",
		    b, (size_t)(e - b));
		return 0;
	}
	out->s->last_t = out->t;
	out->s->has_last = 1;
	return 1;
}

/* Fill the buffer: 1 more data, 0 end of this file, 2 timeout. */
static int fill(struct ts_in *in)
{
	if (in->start > 0) {
		memmove(in->buf, in->buf + in->start, in->len - in->start);
		in->len -= in->start;
		in->start = 0;
	}
	if (in->len == in->cap && OBS_VEC_RESERVE(in->buf, in->cap, 2 * in->cap))
		err(2, "out of memory");
	if (!in->fd_regular) {
		if (in->idle)
			in->idle(in->idle_arg);
		if (in->timeout_ms >= 0) {
			struct pollfd pfd = { .fd = in->fd, .events = POLLIN };
			int r;
			do
				r = poll(&pfd, 1, in->timeout_ms);
			while (r < 0 && errno == EINTR);
			if (r == 0)
				return 2;
		}
	}
	ssize_t r;
	do
		r = read(in->fd, in->buf + in->len, in->cap - in->len);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		warn("%s", in->fname);
		in->errors++;
		return 0;
	}
	if (r == 0)
		return 0;
	in->len += (size_t)r;
	return 1;
}

int ts_in_next(struct ts_in *in, struct ts_sample *out)
{
	for (;;) {
		if (in->fd < 0) {
			if (!next_file(in))
				return 0;
		}
		while (in->start < in->len) {
			char *p = in->buf + in->start;
			size_t avail = in->len - in->start;
			char *nl = memchr(p, '\n', avail);
			if (!nl) {
				if (!in->eof)
					break;
				nl = p + avail; /* last line without a newline */
			}
			size_t n = (size_t)(nl - p);
			in->start += n + (nl < in->buf + in->len);
			in->line++;
			if (parse_line(in, p, n, out))
				return 1;
		}
		if (in->eof) {
			if (in->fd > 0)
				close(in->fd);
			in->fd = -1;
			in->start = in->len = 0;
			continue;
		}
		int r = fill(in);
		if (r == 2)
			return 2;
		if (r == 0)
			in->eof = 1;
	}
}


/* ---- output ---------------------------------------------------------------- */

void ts_out_init(struct ts_out *o, int fd, size_t cap)
{
	o->fd = fd;
	o->err = 0;
	o->line_buffered = 0;
	o->len = 0;
	o->cap = cap < 256 ? 256 : cap;
	o->buf = xmalloc(o->cap);
}

void ts_out_flush(struct ts_out *o)
{
	size_t off = 0;
	while (off < o->len && !o->err) {
		ssize_t w = write(o->fd, o->buf + off, o->len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			o->err = errno;
			break;
		}
		off += (size_t)w;
	}
	o->len = 0;
}

void ts_out_flush_cb(void *o)
{
	ts_out_flush(o);
}

int ts_out_release(struct ts_out *o)
{
	ts_out_flush(o);
	free(o->buf);
	o->buf = NULL;
	return o->err;
}

static inline void room(struct ts_out *o, size_t n)
{
	if (o->len + n > o->cap)
		ts_out_flush(o);
	if (n > o->cap) {
		o->cap = n;
		o->buf = realloc(o->buf, n);
		if (!o->buf)
			err(2, "out of memory");
	}
}

void ts_out_mem(struct ts_out *o, const char *p, size_t n)
{
	room(o, n);
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

void ts_out_str(struct ts_out *o, const char *s)
{
	ts_out_mem(o, s, strlen(s));
}

void ts_out_char(struct ts_out *o, char c)
{
	room(o, 1);
	o->buf[o->len++] = c;
}

void ts_out_num(struct ts_out *o, double v)
{
	room(o, 32);
	o->len += (size_t)obs_num_format(v, o->buf + o->len);
}

void ts_out_time(struct ts_out *o, int64_t t, enum obs_time_fmt fmt)
{
	room(o, 40);
	o->len += (size_t)obs_time_format(t, fmt, o->buf + o->len);
}

void ts_out_eol(struct ts_out *o)
{
	ts_out_char(o, '\n');
	if (o->line_buffered)
		ts_out_flush(o);
}

void ts_out_sample(struct ts_out *o, const struct ts_series *s, int64_t t,
		   enum obs_time_fmt fmt, double v)
{
	size_t pl = s ? s->prefix_len : 0;
	room(o, pl + 80);
	if (pl) {
		memcpy(o->buf + o->len, s->prefix, pl);
		o->len += pl;
	}
	o->len += (size_t)obs_time_format(t, fmt, o->buf + o->len);
	o->buf[o->len++] = ' ';
	o->len += (size_t)obs_num_format(v, o->buf + o->len);
	o->buf[o->len++] = '\n';
	if (o->line_buffered)
		ts_out_flush(o);
}

int ts_time_fmt_arg(const char *s)
{
	if (strcmp(s, "rfc3339") == 0)
		return OBS_TIME_RFC3339;
	if (strcmp(s, "epoch") == 0)
		return OBS_TIME_EPOCH;
	errx(2, "invalid time format '%s' (rfc3339 or epoch)", s);
}

int ts_count_or_duration(const char *s, unsigned long *count, int64_t *ms)
{
	size_t k = strspn(s, "0123456789");
	if (k && !s[k]) {
		errno = 0;
		unsigned long v = strtoul(s, NULL, 10);
		if (errno)
			return -1;
		*count = v;
		return 0;
	}
	return obs_duration_parse(s, strlen(s), ms) < 0 ? -1 : 0;
}

int ts_finish(const char *prog, struct ts_in *in, struct ts_out *o)
{
	int rc = 0;
	int e = ts_out_release(o);
	if (e) {
		if (e != EPIPE)
			fprintf(stderr, "%s: write error: %s\n", prog, strerror(e));
		rc = 1;
	}
	if (fclose(stdout) != 0 && !rc) {
		fprintf(stderr, "%s: write error: %s\n", prog, strerror(errno));
		rc = 1;
	}
	if (in && ts_in_errors(in))
		rc = 1;
	ts_in_close(in);
	return rc;
}
