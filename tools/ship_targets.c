/* ship_targets.c — obs-ship's targets file (--targets FILE), a pure parser:
 *
 *   # comment
 *   URL [JOB] [NAME=VALUE ...]
 *
 * URL is http:// or https://. JOB is a token without '=' (default: the
 * --job value, else "scrape"). NAME=VALUE pairs are target labels, except
 * interval=DUR, timeout=DUR, honor_labels=true|false and
 * honor_timestamps=true|false, which set that target's scrape options.
 * VALUE may be "double-quoted" to hold blanks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/labels.h"
#include "core/obstime.h"
#include "ship.h"

void target_def_release(struct target_def *d)
{
	free(d->url);
	free(d->job);
	for (int i = 0; i < d->nlabels; i++) {
		free(d->lname[i]);
		free(d->lvalue[i]);
	}
	memset(d, 0, sizeof(*d));
}

static int boolean(const char *v, size_t n)
{
	if (n == 4 && !memcmp(v, "true", 4))
		return 1;
	if (n == 5 && !memcmp(v, "false", 5))
		return 0;
	return -1;
}

/* the next token of [*p, e): blanks skipped; a "..." part is kept whole */
static int next_token(const char **p, const char *e, const char **ts, size_t *tl)
{
	const char *s = *p;
	while (s < e && (*s == ' ' || *s == '\t' || *s == '\r'))
		s++;
	if (s == e || *s == '#')
		return 0;
	const char *t = s;
	int q = 0;
	while (t < e && (q || (*t != ' ' && *t != '\t' && *t != '\r'))) {
		if (*t == '"')
			q = !q;
		t++;
	}
	if (q)
		return -1;
	*ts = s;
	*tl = (size_t)(t - s);
	*p = t;
	return 1;
}

static int parse_line(const char *s, const char *e, const char *default_job, struct target_def *d,
		      const char **why)
{
	const char *t;
	size_t tl;
	int r = next_token(&s, e, &t, &tl);
	memset(d, 0, sizeof(*d));
	d->honor_labels = d->honor_timestamps = -1;
	if (r <= 0) {
		*why = "unterminated quote";
		return r;
	}
	if (!((tl > 7 && !memcmp(t, "http://", 7)) || (tl > 8 && !memcmp(t, "https://", 8)))) {
		*why = "target URL must start with http:// or https://";
		return -1;
	}
	d->url = strndup(t, tl);
	while ((r = next_token(&s, e, &t, &tl)) > 0) {
		const char *eq = memchr(t, '=', tl);
		if (!eq) {
			if (d->job) {
				*why = "expected NAME=VALUE";
				return -1;
			}
			d->job = strndup(t, tl);
			continue;
		}
		size_t nl = (size_t)(eq - t), vl = tl - nl - 1;
		const char *v = eq + 1;
		if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
			v++;
			vl -= 2;
		}
		if (memchr(v, '"', vl)) {
			*why = "invalid quoting";
			return -1;
		}
		if ((nl == 8 && !memcmp(t, "interval", 8)) || (nl == 7 && !memcmp(t, "timeout", 7))) {
			int64_t ms;
			if (obs_duration_parse(v, vl, &ms) || ms <= 0) {
				*why = "invalid duration";
				return -1;
			}
			if (nl == 8)
				d->interval_ms = ms;
			else
				d->timeout_ms = ms;
		} else if ((nl == 12 && !memcmp(t, "honor_labels", 12)) ||
			   (nl == 16 && !memcmp(t, "honor_timestamps", 16))) {
			int b = boolean(v, vl);
			if (b < 0) {
				*why = "expected true or false";
				return -1;
			}
			if (nl == 12)
				d->honor_labels = b;
			else
				d->honor_timestamps = b;
		} else {
			if (!obs_label_name_valid(t, nl)) {
				*why = "invalid label name";
				return -1;
			}
			if (d->nlabels == SHIP_MAX_TLABELS) {
				*why = "too many labels";
				return -1;
			}
			for (int i = 0; i < d->nlabels; i++)
				if (strlen(d->lname[i]) == nl && !memcmp(d->lname[i], t, nl)) {
					*why = "duplicate label name";
					return -1;
				}
			d->lname[d->nlabels] = strndup(t, nl);
			d->lvalue[d->nlabels] = strndup(v, vl);
			d->nlabels++;
		}
	}
	if (r < 0) {
		*why = "unterminated quote";
		return -1;
	}
	if (!d->job)
		d->job = strdup(default_job ? default_job : "scrape");
	return 1;
}

int targets_parse(const char *text, size_t len, const char *default_job, struct target_def **defs, size_t *n,
		  size_t *lineno, const char **why)
{
	size_t ln = 0;
	for (const char *s = text, *e = text + len; s < e;) {
		const char *nl = memchr(s, '\n', (size_t)(e - s));
		const char *le = nl ? nl : e;
		struct target_def d;
		ln++;
		if (memchr(s, 0, (size_t)(le - s))) {
			*why = "NUL byte in line";
			*lineno = ln;
			return -EINVAL;
		}
		int r = parse_line(s, le, default_job, &d, why);
		s = nl ? nl + 1 : e;
		if (r < 0) {
			target_def_release(&d);
			*lineno = ln;
			return -EINVAL;
		}
		if (r == 0)
			continue;
		struct target_def *nd = realloc(*defs, (*n + 1) * sizeof(*nd));
		if (!nd) {
			target_def_release(&d);
			*why = "out of memory";
			*lineno = ln;
			return -ENOMEM;
		}
		*defs = nd;
		(*defs)[(*n)++] = d;
	}
	return 0;
}
