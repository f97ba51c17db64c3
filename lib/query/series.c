/* series.c — series descriptions as promqltest and promtool write them:
 * labels in PromQL selector syntax followed by values in the expanding
 * notation (`0+10x100`, `_x3`, `stale`, `{{...}}` histograms). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/num.h"
#include "core/vec.h"
#include "query/q.h"

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static size_t skip_ws(const char *s, size_t n, size_t i)
{
	while (i < n && isspace((unsigned char)s[i]))
		i++;
	return i;
}

/* A quoted string at s[i]: decoded into out; returns the index after it or 0. */
static size_t quoted(const char *s, size_t n, size_t i, struct obs_buf *out)
{
	char q = s[i];
	size_t j = i + 1;
	while (j < n && s[j] != q) {
		if (s[j] == '\\' && q != '`')
			j++;
		j++;
	}
	if (j >= n)
		return 0;
	const char *why;
	if (q_unquote(s + i, j - i + 1, out, &why) != 0)
		return 0;
	return j + 1;
}

static int parse_number(const char *s, size_t n, size_t *used, double *v, int hex)
{
	size_t i = 0;
	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	if (n - i >= 3 && (strncasecmp(s + i, "inf", 3) == 0 || strncasecmp(s + i, "nan", 3) == 0)) {
		i += 3;
	} else if (hex && n - i >= 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X') && n - i > 2 && isxdigit((unsigned char)s[i + 2])) {
		i += 2;
		while (i < n && isxdigit((unsigned char)s[i]))
			i++;
	} else {
		size_t d = 0;
		while (i < n && (isdigit((unsigned char)s[i]) || s[i] == '.')) {
			i++;
			d++;
		}
		if (!d)
			return -EINVAL;
		i = q_exponent_end(s, n, i);
	}
	char tmp[64];
	if (i >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, i);
	tmp[i] = 0;
	char *end;
	if (hex && i > 2 && (tmp[i - 1] | 0x20) != 'f' && strchr(tmp, 'x')) {
		int neg = tmp[0] == '-';
		*v = (double)strtoull(tmp + (tmp[0] == '+' || tmp[0] == '-'), &end, 16);
		if (neg)
			*v = -*v;
	} else if (obs_num_parse(tmp, i, v) != 0) {
		return -EINVAL;
	}
	*used = i;
	return 0;
}

static int push(struct obs_query_seqval **v, size_t *n, size_t *cap, struct obs_query_seqval x)
{
	if (*n == *cap && *cap > 50000000)   /* at most 10^8 values */
		return -E2BIG;
	if (OBS_VEC_RESERVE_FROM(*v, *cap, *n + 1, 16))
		return -ENOMEM;
	(*v)[(*n)++] = x;
	return 0;
}

static int parse_count(const char *s, size_t n, unsigned long *c)
{
	if (!n)
		return -EINVAL;
	unsigned long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]) || v > 10000000)
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	*c = v;
	return 0;
}

/* One value token (no whitespace inside, except within {{ }}). */
static int parse_item(const char *s, size_t n, struct obs_query_seqval **v, size_t *nv, size_t *cap)
{
	unsigned long c;
	if (n >= 2 && s[0] == '{' && s[1] == '{') {
		/* histogram: {{...}}, {{...}}xN, {{...}}+{{...}}xN */
		const char *x = NULL;
		for (size_t i = n; i > 0; i--)
			if (s[i - 1] == 'x' && i >= 3 && s[i - 2] == '}') {
				x = s + i - 1;
				break;
			}
		unsigned long reps = 1;
		if (x && parse_count(x + 1, (size_t)(s + n - x - 1), &c) == 0)
			reps = c + 1;
		for (unsigned long i = 0; i < reps; i++)
			if (push(v, nv, cap, (struct obs_query_seqval){ .histogram = 1 }))
				return -ENOMEM;
		return 0;
	}
	if (s[0] == '_') {
		unsigned long reps = 1;
		if (n > 1) {
			if (s[1] != 'x' || parse_count(s + 2, n - 2, &c) != 0)
				return -EINVAL;
			reps = c;
		}
		for (unsigned long i = 0; i < reps; i++)
			if (push(v, nv, cap, (struct obs_query_seqval){ .omitted = 1 }))
				return -ENOMEM;
		return 0;
	}
	double a, b = 0;
	size_t used;
	if (n >= 5 && strncmp(s, "stale", 5) == 0) {
		a = obs_query_stale_nan();
		used = 5;
	} else if (parse_number(s, n, &used, &a, 0) != 0) {
		return -EINVAL;
	}
	if (used == n)
		return push(v, nv, cap, (struct obs_query_seqval){ .v = a });
	size_t i = used;
	int step = 0;
	if (s[i] == '+' || s[i] == '-') {
		size_t u2;
		if (parse_number(s + i, n - i, &u2, &b, 0) != 0)
			return -EINVAL;
		i += u2;
		step = 1;
	}
	if (i >= n || s[i] != 'x' || parse_count(s + i + 1, n - i - 1, &c) != 0)
		return -EINVAL;
	double cur = a;
	for (unsigned long k = 0; k <= c; k++) {
		if (push(v, nv, cap, (struct obs_query_seqval){ .v = cur }))
			return -ENOMEM;
		if (step)
			cur += b;
	}
	return 0;
}

int obs_query_parse_series_desc(const char *s, size_t n, struct obs_labels *l,
				struct obs_query_seqval **vals, size_t *nvals, char *err, size_t errlen)
{
	obs_labels_init(l);
	*vals = NULL;
	*nvals = 0;
	struct obs_label lv[OBS_MAX_LABELS + 1];
	char *owned[2 * (OBS_MAX_LABELS + 1)];
	size_t nl = 0, no = 0;
	struct obs_buf b;
	obs_buf_init(&b);
	int rc = 0;
	size_t i = skip_ws(s, n, 0);
	size_t st = i;
	if (i < n && (isalpha((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
		while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
			i++;
	if (i > st) {
		owned[no] = strndup(s + st, i - st);
		if (!owned[no]) {
			rc = -ENOMEM;
			goto out;
		}
		lv[nl++] = (struct obs_label){ "__name__", owned[no++] };
	}
	if (i < n && s[i] == '{') {
		i++;
		for (;;) {
			i = skip_ws(s, n, i);
			if (i < n && s[i] == '}') {
				i++;
				break;
			}
			if (nl >= OBS_MAX_LABELS) {
				rc = fail(err, errlen, "too many labels");
				goto out;
			}
			char *name;
			if (i < n && (s[i] == '"' || s[i] == '\'' || s[i] == '`')) {
				size_t e = quoted(s, n, i, &b);
				if (!e) {
					rc = fail(err, errlen, "bad quoted label name at %zu", i);
					goto out;
				}
				name = strdup(b.data ? b.data : "");
				i = e;
			} else {
				st = i;
				while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '_'))
					i++;
				if (i == st) {
					rc = fail(err, errlen, "expected a label name at %zu", i);
					goto out;
				}
				name = strndup(s + st, i - st);
			}
			if (!name) {
				rc = -ENOMEM;
				goto out;
			}
			owned[no++] = name;
			i = skip_ws(s, n, i);
			if (i < n && (s[i] == ',' || s[i] == '}') && !nl) {
				/* {"metric.name"} */
				lv[nl++] = (struct obs_label){ "__name__", name };
				if (s[i] == ',')
					i++;
				continue;
			}
			if (i >= n || s[i] != '=') {
				rc = fail(err, errlen, "expected '=' after label '%s'", name);
				goto out;
			}
			i = skip_ws(s, n, i + 1);
			if (i >= n || (s[i] != '"' && s[i] != '\'' && s[i] != '`')) {
				rc = fail(err, errlen, "expected a quoted value for label '%s'", name);
				goto out;
			}
			size_t e = quoted(s, n, i, &b);
			if (!e) {
				rc = fail(err, errlen, "bad quoted value for label '%s'", name);
				goto out;
			}
			if (!(owned[no] = strdup(b.data ? b.data : ""))) {
				rc = -ENOMEM;
				goto out;
			}
			lv[nl++] = (struct obs_label){ name, owned[no++] };
			i = skip_ws(s, n, e);
			if (i < n && s[i] == ',')
				i++;
		}
	}
	if (i < n && !isspace((unsigned char)s[i])) {
		rc = fail(err, errlen, "unexpected '%c' in series description", s[i]);
		goto out;
	}
	for (size_t a = 0; a < nl; a++)
		for (size_t c = a + 1; c < nl; c++)
			if (strcmp(lv[a].name, lv[c].name) == 0) {
				rc = fail(err, errlen, "duplicate label '%s'", lv[a].name);
				goto out;
			}
	if ((rc = q_labels_from(l, lv, nl)) != 0)
		goto out;
	size_t cap = 0;
	for (;;) {
		i = skip_ws(s, n, i);
		if (i >= n)
			break;
		st = i;
		if (i + 1 < n && s[i] == '{' && s[i + 1] == '{') {
			/* to the }} that ends the token (histograms may be joined by + and x) */
			for (;;) {
				const char *e = strstr(s + i, "}}");
				if (!e || (size_t)(e - s) >= n) {
					i = n;
					break;
				}
				i = (size_t)(e - s) + 2;
				if (i + 1 < n && (s[i] == '+' || s[i] == '-') && s[i + 1] == '{')
					continue;
				break;
			}
			while (i < n && !isspace((unsigned char)s[i]))
				i++;
		} else {
			while (i < n && !isspace((unsigned char)s[i]))
				i++;
		}
		rc = parse_item(s + st, i - st, vals, nvals, &cap);
		if (rc) {
			fail(err, errlen, "bad value '%.*s'", (int)(i - st > 40 ? 40 : i - st), s + st);
			rc = -EINVAL;
			goto out;
		}
	}
out:
	for (size_t k = 0; k < no; k++)
		free(owned[k]);
	obs_buf_release(&b);
	if (rc) {
		obs_labels_release(l);
		free(*vals);
		*vals = NULL;
		*nvals = 0;
	}
	return rc;
}
